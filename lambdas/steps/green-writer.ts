import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { assertNotFailed, greenTags, greenWriterId, isOurs, poll, settle, requireBlue } from './common';

/** CreateGreenWriter: a clone has no instances; create the writer like blue's. */
export async function createGreenWriter(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['writer']>> {
  const blue = requireBlue(doc);
  const instanceId = greenWriterId(doc.input.greenClusterId);
  const requestedAt = clock.now().toISOString();
  const existing = await clusters.describeInstance(instanceId);
  if (existing) {
    if (!isOurs(existing.tags, doc) || existing.clusterId !== doc.input.greenClusterId) {
      throw new PreconditionFailed(`Instance ${instanceId} already exists and was not created by this execution.`);
    }
    return { instanceId, requestedAt, reused: true };
  }
  const w = blue.writer;
  await clusters.createInstance({
    instanceId,
    clusterId: doc.input.greenClusterId,
    instanceClass: doc.input.writerInstanceClass ?? w.instanceClass,
    ...(w.availabilityZone ? { availabilityZone: w.availabilityZone } : {}),
    ...(w.parameterGroupName ? { parameterGroupName: w.parameterGroupName } : {}),
    ...(w.monitoringInterval ? { monitoringInterval: w.monitoringInterval } : {}),
    ...(w.monitoringRoleArn ? { monitoringRoleArn: w.monitoringRoleArn } : {}),
    performanceInsights: w.performanceInsights,
    ...(w.performanceInsightsKmsKeyId ? { performanceInsightsKmsKeyId: w.performanceInsightsKmsKeyId } : {}),
    ...(w.performanceInsightsRetentionPeriod
      ? { performanceInsightsRetentionPeriod: w.performanceInsightsRetentionPeriod }
      : {}),
    tags: { ...greenTags(doc), 'bluegreen:instance-role': 'writer' },
  });
  return { instanceId, requestedAt, reused: false };
}

export async function checkGreenWriter(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const instanceId = greenWriterId(doc.input.greenClusterId);
  const seen = await settle(doc, clock, async () => {
    const instance = await clusters.describeInstance(instanceId);
    const status = instance?.status ?? 'not-visible-yet';
    assertNotFailed('Green writer instance', instanceId, status);
    return { done: status === 'available', status };
  });
  return poll(doc, 'writer', clock, seen, `green's writer ${instanceId}`);
}
