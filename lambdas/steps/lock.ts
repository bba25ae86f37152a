import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';

/** How long a lock outlives its execution if nothing releases it (a crashed account, say). */
function lockExpiry(doc: ExecutionDocument, now: Date): string {
  const seconds = doc.input.approval.timeoutSeconds + doc.input.blueRetentionSeconds + 2 * 86_400;
  return new Date(now.getTime() + seconds * 1000).toISOString();
}

/**
 * AcquireLock: one deployment per blue cluster at a time, taken with a conditional write. Once it
 * holds the lock, the run has started for real: it says so, and what will happen to writes.
 */
export async function acquireLock(
  doc: ExecutionDocument,
  { lock, clock, notifier }: Pick<Ports, 'lock' | 'clock' | 'notifier'>,
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
  await notifier.publish(`Deployment of ${key} started`, startedMessage(doc));
  return { key, owner, acquiredAt: now.toISOString() };
}

function startedMessage(doc: ExecutionDocument): string {
  const i = doc.input;
  return [
    `Execution ${i.executionName} started a ${i.dryRun ? 'dry run' : 'blue/green deployment'} of ${i.blueClusterId}.`,
    `Green will be ${i.greenClusterId}${i.targetEngineVersion ? `, upgraded to ${i.targetEngineVersion}` : ''}${i.migrations ? `, with the migrations of ${i.migrations.s3Prefix}` : ''}.`,
    i.dryRun
      ? 'A dry run never blocks writes on blue and deletes green at the end.'
      : `Writes to ${i.blueClusterId} will be blocked from the fence until the cutover (or a rollback); another message says when they are. The approval request follows the smoke tests.`,
    `To stop it before the fence, stop execution ${i.executionName} in the Step Functions console.`,
  ].join('\n');
}

/** ReleaseLock: every ending passes here; releasing a lock we do not hold is a no-op. */
export async function releaseLock(
  doc: ExecutionDocument,
  { lock }: Pick<Ports, 'lock'>,
): Promise<NonNullable<ExecutionDocument['release']>> {
  await lock.release(doc.input.blueClusterId, doc.input.executionId);
  return { released: true };
}
