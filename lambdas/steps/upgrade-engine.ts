import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed, RetryableAwsError } from '../domain/errors';
import type { Ports } from '../ports';
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
  const alreadyAsked = green.status === 'upgrading' || green.pendingModifications;
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

/** Done only when green is available, runs the target version and nothing is pending. */
export async function checkUpgrade(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const id = doc.input.greenClusterId;
  const seen = await settle(doc, clock, async () => {
    const green = await describeGreen(clusters, doc);
    assertNotFailed('Green cluster', id, green.status);
    const writer = await clusters.describeInstance(greenWriterId(id));
    if (writer) assertNotFailed('Green writer instance', writer.id, writer.status);
    const done =
      green.status === 'available' &&
      green.engineVersion === doc.input.targetEngineVersion &&
      !green.pendingModifications &&
      writer?.status === 'available';
    const status = `${green.status} ${green.engineVersion}${green.pendingModifications ? ' (pending)' : ''}; writer ${writer?.status ?? 'missing'}`;
    return { done, status };
  });
  return poll(doc, 'upgrade', clock, seen, `green's upgrade to ${doc.input.targetEngineVersion}`);
}
