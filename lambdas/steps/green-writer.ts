import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { assertNotFailed, greenTags, greenWriterId, isOurs, poll, settle, requireBlue } from './common';

/**
 * The instance parameter group of green's instances when they are created. A major upgrade
 * moves the writer to the input's group itself (ModifyDBCluster DBInstanceParameterGroupName),
 * so the writer starts with blue's. RDS accepts that parameter only with a major upgrade, so on
 * a minor upgrade the input's group (same family, Preflight checked) is given at creation, or
 * the writer would keep blue's while the readers got the input's.
 */
export function greenInstanceParameterGroup(doc: ExecutionDocument, forReader = false): string | undefined {
  const blueGroup = doc.blue?.writer.parameterGroupName;
  const asked = doc.input.targetEngineVersion ? doc.input.instanceParameterGroupName : undefined;
  if (!asked) return blueGroup;
  const isMajor = doc.blue?.upgrade?.isMajor ?? false;
  // Readers are created after the upgrade: the new group, whether major or minor.
  return forReader || !isMajor ? asked : blueGroup;
}

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
  const parameterGroupName = greenInstanceParameterGroup(doc);
  await clusters.createInstance({
    instanceId,
    clusterId: doc.input.greenClusterId,
    instanceClass: doc.input.writerInstanceClass ?? w.instanceClass,
    ...(w.availabilityZone ? { availabilityZone: w.availabilityZone } : {}),
    ...(parameterGroupName ? { parameterGroupName } : {}),
    ...(w.monitoringInterval ? { monitoringInterval: w.monitoringInterval } : {}),
    ...(w.monitoringRoleArn ? { monitoringRoleArn: w.monitoringRoleArn } : {}),
    performanceInsights: w.performanceInsights,
    ...(w.performanceInsightsKmsKeyId ? { performanceInsightsKmsKeyId: w.performanceInsightsKmsKeyId } : {}),
    ...(w.performanceInsightsRetentionPeriod
      ? { performanceInsightsRetentionPeriod: w.performanceInsightsRetentionPeriod }
      : {}),
    // CreateDBInstance defaults the CA to the region's current default and the tier to 1.
    ...(w.caCertificateIdentifier ? { caCertificateIdentifier: w.caCertificateIdentifier } : {}),
    ...(w.promotionTier !== undefined ? { promotionTier: w.promotionTier } : {}),
    tags: { ...greenTags(doc, w.tags), 'bluegreen:instance-role': 'writer' },
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
