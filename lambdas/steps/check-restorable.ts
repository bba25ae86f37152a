import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { poll, settle, requireBlue } from './common';

/**
 * CheckRestorable: the clone uses the latest restorable time, so wait until blue's
 * LatestRestorableTime is later than the fence. Then the clone holds every write committed
 * before the fence (VerifyClone proves it with the fence row).
 */
export async function checkRestorable(
  doc: ExecutionDocument,
  { clusters, clock, notifier }: Pick<Ports, 'clusters' | 'clock' | 'notifier'>,
): Promise<PollState> {
  const blue = requireBlue(doc);
  // The first look after the fence is the moment applications lose their writes: say so, once.
  if (doc.fence && !doc.wait?.['restorable']) {
    await notifier.publish(
      `Writes to ${blue.id} are blocked now`,
      [
        `Execution ${doc.input.executionName} fenced ${blue.id} at ${doc.fence.fencedAt}: applications cannot write to it until the cutover to ${doc.input.greenClusterId} or a rollback.`,
        'Cloning, migrations, upgrade, readers, smoke tests and the approval happen while writes are blocked.',
      ].join('\n'),
    );
  }
  // Online mode: the clone must be from after the replication slots existed (they hold what follows).
  const fencedAt = doc.fence
    ? Date.parse(doc.fence.fencedAt)
    : Date.parse(doc.replication?.preparedAt ?? doc.input.startedAt);
  const seen = await settle(doc, clock, async () => {
    const current = await clusters.describeCluster(blue.id);
    if (!current) throw new PreconditionFailed(`Blue cluster ${blue.id} disappeared before it could be cloned.`);
    const restorable = current.latestRestorableTime ? Date.parse(current.latestRestorableTime) : Number.NaN;
    return {
      done: Number.isFinite(restorable) && restorable > fencedAt,
      status: current.latestRestorableTime ?? 'unknown',
    };
  });
  return poll(doc, 'restorable', clock, seen, "blue's latest restorable time to pass the fence");
}
