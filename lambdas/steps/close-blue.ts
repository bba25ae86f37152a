import type { ExecutionDocument } from '../domain/document';
import { WritesAfterFence } from '../domain/errors';
import type { Ports } from '../ports';
import { ADMIN_DATABASE, blueTarget, withSession } from './db';
import { endOtherBlueSessions } from './end-blue-sessions';
import { dropPublication, dropSlot, localChanges, preparedTransactions, replicationPrefix } from './replication';

export type CloseBlueResult = NonNullable<ExecutionDocument['blueClosed']>;

/**
 * CloseBlue, once no client can reach blue any more: blue's application security groups are
 * detached and in effect (`security-group`), or the CNAME's TTL has passed since it was in sync
 * on green, so no resolver still holds blue's address (`read-only`). EndBlueSessions ran at the
 * swap; a pool that reconnected through a cached answer since then holds a read-only session on
 * blue and fails every write. Ended now, it reconnects to green.
 *
 * Online mode: CatchUpGreen proved green has everything blue committed up to its peek, and
 * kept blue's slots. Blue's application groups stayed attached through the freeze (docs/online-mode.md),
 * so a session that reached blue after the fence and turned read-only off for itself could have
 * written since. Every such write is in the slots, in commit order: they are read once more, up
 * to now, leaving out what failback's reverse stream applied (it has a replication origin). Then
 * the slots and publications go. A local change is `WritesAfterFence`: green serves, so nothing
 * is undone, blue is kept with its slots as the evidence, and the error names the tables to copy.
 */
export async function closeBlue(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
): Promise<CloseBlueResult> {
  const blue = blueTarget(doc);
  const { ended, prepared } = await withSession(ports.database, blue, ADMIN_DATABASE, async (session) => ({
    ended: await endOtherBlueSessions(session, doc),
    prepared: await preparedTransactions(session),
  }));
  const endedAt = ports.clock.now().toISOString();
  const databases = doc.input.mode === 'online' ? (doc.replication?.databases ?? []) : [];
  const found: string[] = [];
  const gone: string[] = [];
  let changes = 0;
  for (const entry of databases) {
    const local = await withSession(ports.database, blue, entry.database, (session) =>
      localChanges(session, entry, ports.clock),
    );
    if (!local) gone.push(entry.slot);
    else if (local.changes > 0) {
      changes += local.changes;
      found.push(`database ${entry.database}: ${local.changes} row change(s) in ${local.tables.join(', ')}`);
    }
  }
  if (prepared.length) {
    found.push(
      `prepared transaction(s) ${prepared.join(', ')}: COMMIT PREPARED would write on blue what green lacks; ROLLBACK PREPARED them (or copy their rows to green and commit)`,
    );
  }
  if (found.length) {
    // The slots stay, as the evidence (ReportFailure says how to read and drop them).
    const failback = doc.failbackReplication
      ? ` Failback's reverse replication still runs into blue: when you are done, drop the subscriptions on blue and the slots and publications on green whose names start with ${replicationPrefix(doc.input.executionId, 'green-to-blue')}.`
      : '';
    throw new WritesAfterFence(
      `Blue ${blue.clusterId} took writes after green caught up with it (a session that reached blue after the fence and turned read-only off): ${found.join('; ')}. Green serves and does not have them. Blue is kept, not deleted: copy those rows to green by hand, then delete blue.${failback}`,
    );
  }
  // Only this step drops them after CatchUpGreen, and only once every slot was found quiet: a slot
  // already gone was dropped by an earlier attempt of this step that got that far.
  const removed: string[] = [];
  for (const entry of databases) {
    await withSession(ports.database, blue, entry.database, async (session) => {
      if (await dropSlot(session, entry.slot, ports.clock)) removed.push(`slot ${entry.slot}`);
      if (await dropPublication(session, entry.publication)) removed.push(`publication ${entry.publication}`);
    });
  }
  return { ended, endedAt, localChanges: changes, removed, ...(gone.length ? { alreadyGone: gone } : {}) };
}
