import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed, RetryableAwsError, UpgradeFailed } from '../domain/errors';
import type { Cluster, ClusterEvent, Ports } from '../ports';
import { assertNotFailed, describeGreen, greenWriterId, poll, settle, requireBlue } from './common';

/** UpgradeEngine: modify-db-cluster to the target version on green (Preflight checked it is a valid target). */
export async function upgradeEngine(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['upgrade']>> {
  const blue = requireBlue(doc);
  const to = doc.input.targetEngineVersion;
  if (!to) throw new PreconditionFailed('UpgradeEngine ran without targetEngineVersion.');
  const isMajor = blue.upgrade?.isMajor ?? false;
  const green = await describeGreen(clusters, doc);
  const requestedAt = clock.now().toISOString();
  // A re-run finds the upgrade already asked for (or done): asking again would fail as "busy".
  // Only a pending engine version counts: another pending change (a parameter group, say) is
  // not this upgrade, and taking it for one would leave CheckUpgrade waiting for nothing.
  const alreadyAsked = green.status === 'upgrading' || green.pendingEngineVersion === to;
  if (green.engineVersion !== to && !alreadyAsked && green.status !== 'available') {
    throw new RetryableAwsError(
      `Green cluster ${green.id} is "${green.status}"; the upgrade is asked for once it is available.`,
    );
  }
  if (green.engineVersion !== to && !alreadyAsked) {
    await clusters.upgradeEngine({
      clusterId: green.id,
      engineVersion: to,
      allowMajorVersionUpgrade: isMajor,
      ...(doc.input.clusterParameterGroupName
        ? { clusterParameterGroupName: doc.input.clusterParameterGroupName }
        : {}),
      ...(doc.input.instanceParameterGroupName
        ? { instanceParameterGroupName: doc.input.instanceParameterGroupName }
        : {}),
    });
  }
  return { requested: true, from: blue.engineVersion, to, isMajor, requestedAt };
}

/**
 * RDS reports a failed upgrade only as an event: the cluster itself just goes back to
 * `available` on its old version. Aurora's messages read "Database cluster is in a state that
 * cannot be upgraded: …" or "… upgrade failed …", in the `maintenance` or `failure` category.
 */
export function isUpgradeFailureEvent(event: ClusterEvent): boolean {
  if (!/upgrad/i.test(event.message)) return false;
  return (
    event.categories.includes('failure') || /\b(fail|failed|failure|cannot|could not|unable)\b/i.test(event.message)
  );
}

const REASON_MAX = 1000;

function upgradeFailed(green: Cluster, to: string, how: string, events: ClusterEvent[]): UpgradeFailed {
  const said = events.map((e) => `${e.date} ${e.message}`).join(' | ');
  const reason = said ? `RDS said: ${said}` : 'RDS published no event about it since the request';
  const message = `RDS did not upgrade green cluster ${green.id} to ${to}: ${how}. ${reason}`;
  return new UpgradeFailed(message.length > REASON_MAX ? `${message.slice(0, REASON_MAX - 1)}…` : message);
}

/**
 * Done only when green is available, runs the target version and nothing is pending. A failed
 * upgrade ends the loop at once with UpgradeFailed (rolled back like any failure), seen either way:
 * - an RDS event since the request says the upgrade failed (while green may still show `upgrading`);
 * - green is `available` on another version with no engine version pending: RDS gave up on it.
 */
export async function checkUpgrade(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const id = doc.input.greenClusterId;
  const to = doc.input.targetEngineVersion ?? '';
  const since = doc.upgrade?.requestedAt;
  const seen = await settle(doc, clock, async () => {
    const green = await describeGreen(clusters, doc);
    assertNotFailed('Green cluster', id, green.status);
    const writer = await clusters.describeInstance(greenWriterId(id));
    if (writer) assertNotFailed('Green writer instance', writer.id, writer.status);
    const done =
      green.status === 'available' &&
      green.engineVersion === to &&
      !green.pendingModifications &&
      writer?.status === 'available';
    if (!done) {
      const failures = since ? (await clusters.clusterEvents(id, since)).filter(isUpgradeFailureEvent) : [];
      if (failures.length > 0)
        throw upgradeFailed(green, to, `green is ${green.status} on ${green.engineVersion}`, failures);
      const gaveUp = green.status === 'available' && green.engineVersion !== to && green.pendingEngineVersion !== to;
      if (gaveUp) {
        const events = since ? await clusters.clusterEvents(id, since) : [];
        throw upgradeFailed(
          green,
          to,
          `green is available on ${green.engineVersion} with no engine version pending`,
          events,
        );
      }
    }
    const pending = green.pendingEngineVersion
      ? ` (pending ${green.pendingEngineVersion})`
      : green.pendingModifications
        ? ' (pending)'
        : '';
    const status = `${green.status} ${green.engineVersion}${pending}; writer ${writer?.status ?? 'missing'}`;
    return { done, status };
  });
  return poll(doc, 'upgrade', clock, seen, `green's upgrade to ${doc.input.targetEngineVersion}`);
}
