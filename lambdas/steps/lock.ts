import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';

/** How long a lock outlives its execution if nothing releases it (a crashed account, say). */
function lockExpiry(doc: ExecutionDocument, now: Date): string {
  const seconds = doc.input.approval.timeoutSeconds + doc.input.blueRetentionSeconds + 2 * 86_400;
  return new Date(now.getTime() + seconds * 1000).toISOString();
}

/** AcquireLock: one deployment per blue cluster at a time, taken with a conditional write. */
export async function acquireLock(
  doc: ExecutionDocument,
  { lock, clock }: Pick<Ports, 'lock' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['lock']>> {
  const key = doc.input.blueClusterId;
  const owner = doc.input.executionId;
  const now = clock.now();
  const result = await lock.acquire(key, owner, lockExpiry(doc, now));
  if (!result.acquired) {
    throw new PreconditionFailed(
      `Another deployment is already running on blue cluster ${key} (execution ${result.heldBy}); one at a time.`,
    );
  }
  return { key, owner, acquiredAt: now.toISOString() };
}

/** ReleaseLock: every ending passes here; releasing a lock we do not hold is a no-op. */
export async function releaseLock(
  doc: ExecutionDocument,
  { lock }: Pick<Ports, 'lock'>,
): Promise<NonNullable<ExecutionDocument['release']>> {
  await lock.release(doc.input.blueClusterId, doc.input.executionId);
  return { released: true };
}
