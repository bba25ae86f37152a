import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { assertNotFailed, greenReaderId, greenTags, isOurs, poll, settle, requireBlue } from './common';
import { greenInstanceParameterGroup } from './green-writer';

/** AddReplicas: `replicaCount` readers on green, in availability zones other than the writer's. */
export async function addReplicas(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['replicas']>> {
  const blue = requireBlue(doc);
  const writerAz = blue.writer.availabilityZone;
  const otherAzs = blue.availabilityZones.filter((az) => az !== writerAz);
  const instanceIds: string[] = [];
  const parameterGroupName = greenInstanceParameterGroup(doc, true);
  for (let i = 0; i < doc.input.replicaCount; i++) {
    const instanceId = greenReaderId(doc.input.greenClusterId, i);
    instanceIds.push(instanceId);
    const existing = await clusters.describeInstance(instanceId);
    if (existing) {
      if (!isOurs(existing.tags, doc) || existing.clusterId !== doc.input.greenClusterId) {
        throw new PreconditionFailed(`Instance ${instanceId} already exists and was not created by this execution.`);
      }
      continue;
    }
    const az = otherAzs.length ? otherAzs[i % otherAzs.length] : undefined;
    // Blue's readers' failover order, reader by reader (CreateDBInstance would give each tier 1).
    const promotionTier = blue.readerPromotionTiers?.[i];
    await clusters.createInstance({
      instanceId,
      clusterId: doc.input.greenClusterId,
      instanceClass: doc.input.writerInstanceClass ?? blue.writer.instanceClass,
      ...(az ? { availabilityZone: az } : {}),
      ...(parameterGroupName ? { parameterGroupName } : {}),
      ...(blue.writer.monitoringInterval ? { monitoringInterval: blue.writer.monitoringInterval } : {}),
      ...(blue.writer.monitoringRoleArn ? { monitoringRoleArn: blue.writer.monitoringRoleArn } : {}),
      performanceInsights: blue.writer.performanceInsights,
      ...(blue.writer.performanceInsightsKmsKeyId
        ? { performanceInsightsKmsKeyId: blue.writer.performanceInsightsKmsKeyId }
        : {}),
      ...(blue.writer.performanceInsightsRetentionPeriod
        ? { performanceInsightsRetentionPeriod: blue.writer.performanceInsightsRetentionPeriod }
        : {}),
      ...(blue.writer.caCertificateIdentifier ? { caCertificateIdentifier: blue.writer.caCertificateIdentifier } : {}),
      ...(promotionTier !== undefined ? { promotionTier } : {}),
      tags: { ...greenTags(doc, blue.writer.tags), 'bluegreen:instance-role': 'reader' },
    });
  }
  return { instanceIds, requestedAt: clock.now().toISOString() };
}

export async function checkReplicas(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const ids = doc.replicas?.instanceIds ?? [];
  const seen = await settle(doc, clock, async () => {
    const statuses: string[] = [];
    for (const id of ids) {
      const instance = await clusters.describeInstance(id);
      const status = instance?.status ?? 'not-visible-yet';
      assertNotFailed('Green reader instance', id, status);
      statuses.push(status);
    }
    return { done: statuses.every((s) => s === 'available'), status: statuses.join(',') || 'no replicas' };
  });
  return poll(doc, 'replicas', clock, seen, "green's readers");
}
