import type { BlueSnapshot, ExecutionDocument } from '../domain/document';
import { EXECUTION_TAG, rdsTagValue } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { greenTags, normalizeHost, ownTags } from './common';
import { networkProblems } from './preflight-network';
import { logicalReplicationProblems } from './preflight-replication';

/** RDS's limit of tags on one resource. */
const MAX_TAGS = 50;

/**
 * Preflight: the guard rails (docs/architecture.md), all checked before any side effect.
 * Each failure is a PreconditionFailed with a sentence a DBA understands.
 */
export async function preflight(
  doc: ExecutionDocument,
  { clusters, dns, network, approvers }: Pick<Ports, 'clusters' | 'dns' | 'network' | 'approvers'>,
): Promise<BlueSnapshot> {
  const { input } = doc;
  const problems: string[] = [];
  const blue = await clusters.describeCluster(input.blueClusterId);
  if (!blue) {
    throw new PreconditionFailed(`Blue cluster ${input.blueClusterId} does not exist in this account and region.`);
  }
  if (blue.engine !== 'aurora-postgresql') {
    throw new PreconditionFailed(
      `Blue cluster ${blue.id} runs engine "${blue.engine}"; this workflow deploys aurora-postgresql clusters only.`,
    );
  }
  if (blue.status !== 'available') {
    throw new PreconditionFailed(
      `Blue cluster ${blue.id} is "${blue.status}", not "available"; wait until the current operation ends.`,
    );
  }
  const writerMember = blue.members.find((m) => m.isWriter);
  const writer = writerMember ? await clusters.describeInstance(writerMember.instanceId) : undefined;
  if (!writer) throw new PreconditionFailed(`Blue cluster ${blue.id} has no writer instance.`);

  // IAM allows the workflow only resources of the prefix: deleting blue (its instances first)
  // would be denied half-way, after cutover, for an instance named otherwise.
  const outside = blue.members.filter((m) => !m.instanceId.startsWith(input.clusterIdPrefix));
  if (outside.length) {
    problems.push(
      `blue cluster ${blue.id} has instances outside the configured prefix "${input.clusterIdPrefix}" (${outside.map((m) => m.instanceId).join(', ')}); the workflow may not touch them, so it could not delete blue after cutover`,
    );
  }
  if ((writer.monitoringInterval ?? 0) > 0 && !input.monitoringRoleConfigured) {
    problems.push(
      `blue's writer ${writer.id} has Enhanced Monitoring (every ${writer.monitoringInterval} s) but the deployment has no monitoringRoleArn configured, so green's instances could not be created like it; configure monitoringRoleArn (the role ${writer.monitoringRoleArn ?? 'blue uses'})`,
    );
  }
  // AddRoleToDBCluster at OpenGreen passes each role to RDS: IAM allows only the configured ones.
  const unpassable = (blue.associatedRoles ?? []).filter((r) => !input.clusterRoleArns.includes(r.roleArn));
  if (unpassable.length) {
    problems.push(
      `blue cluster ${blue.id} has IAM roles that green must get at OpenGreen but the deployment may not pass (${unpassable.map((r) => r.roleArn).join(', ')}); add them to clusterRoleArns`,
    );
  }
  const writerClass = input.writerInstanceClass ?? writer.instanceClass;
  if (writerClass === 'db.serverless' && !blue.serverlessV2Scaling) {
    problems.push(
      `writerInstanceClass: db.serverless needs a ServerlessV2ScalingConfiguration, and blue cluster ${blue.id} has none`,
    );
  }
  const tagCount = Object.keys(greenTags(doc, blue.tags)).length;
  if (tagCount > MAX_TAGS) {
    problems.push(
      `blue cluster ${blue.id} has ${Object.keys(ownTags(blue.tags)).length} tags of its own; with the workflow's that is ${tagCount}, more than RDS's ${MAX_TAGS} per resource`,
    );
  }

  // The approval email goes to the approvers' topic: with nobody confirmed on it, nobody could
  // approve, and the wait would be downtime ending in a rollback. A subscription confirmed by
  // clicking the link (not authenticated) is removed by anyone who follows the email's unsubscribe
  // link, a mail scanner included, so at least one must be authenticated. A dry run asks nobody.
  if (!input.dryRun) {
    const { topicArn, confirmed, pending, authenticated } = await approvers.count();
    if (confirmed === 0) {
      problems.push(
        `the approvers' topic has no confirmed subscription${pending ? ` (${pending} awaiting confirmation)` : ''}, so nobody would receive the approval request; an approver must confirm the subscription email first, from the CLI with --authenticate-on-unsubscribe true (docs/approval.md, "Approvers")`,
      );
    } else if (authenticated === 0) {
      problems.push(
        `none of the approvers' topic's ${confirmed} confirmed subscription${confirmed === 1 ? ' is' : 's are'} authenticated (${confirmed} confirmed but unauthenticated, by clicking the confirmation link), so a mail scanner following the email's unsubscribe link could remove ${confirmed === 1 ? 'it' : 'them'}; confirm with the token from the confirmation link instead of clicking it: aws sns confirm-subscription --topic-arn ${topicArn} --token <token> --authenticate-on-unsubscribe true; an address already confirmed by the link needs a new confirmation email first: remove it from approvalEmails and deploy, then add it back and deploy (docs/approval.md, "Approvers")`,
      );
    }
  }

  const groupIds = blue.securityGroups.map((g) => g.id);
  if (!groupIds.includes(input.adminSecurityGroupId)) {
    problems.push(
      `blue cluster ${blue.id} does not carry the workflow's admin security group ${input.adminSecurityGroupId}; attach it first (it is how the workflow reaches blue once the application groups are detached)`,
    );
  }
  problems.push(...(await networkProblems(blue, input.adminSecurityGroupId, { network })));
  const accessSecurityGroupIds = groupIds.filter((id) => id !== input.adminSecurityGroupId);
  if (input.writeBlock === 'security-group' && !input.dryRun && accessSecurityGroupIds.length === 0) {
    problems.push(
      `blue cluster ${blue.id} has no application security group besides the admin group, so there is nothing to detach; use writeBlock "read-only" or attach the application groups`,
    );
  }

  let upgrade: BlueSnapshot['upgrade'];
  if (input.targetEngineVersion) {
    const target = input.targetEngineVersion;
    if (target === blue.engineVersion) {
      problems.push(`targetEngineVersion: blue already runs ${target}; leave targetEngineVersion out for no upgrade`);
    } else {
      const targets = await clusters.validUpgradeTargets(blue.engineVersion);
      const match = targets.find((t) => t.engineVersion === target);
      if (!match) {
        const offered = targets.map((t) => t.engineVersion).join(', ') || 'none';
        problems.push(
          `targetEngineVersion: ${target} is not a valid upgrade target of blue's version ${blue.engineVersion} (valid targets: ${offered})`,
        );
      } else {
        const family = await clusters.parameterGroupFamilyOf(target);
        upgrade = { isMajor: match.isMajorVersionUpgrade, ...(family ? { targetFamily: family } : {}) };
        if (match.isMajorVersionUpgrade) {
          if (!input.clusterParameterGroupName) {
            problems.push(
              `clusterParameterGroupName: required for a major version upgrade to ${target} (family ${family})`,
            );
          }
          if (!input.instanceParameterGroupName) {
            problems.push(
              `instanceParameterGroupName: required for a major version upgrade to ${target} (family ${family})`,
            );
          }
        }
        if (input.clusterParameterGroupName) {
          const f = await clusters.clusterParameterGroupFamily(input.clusterParameterGroupName);
          if (!f)
            problems.push(
              `clusterParameterGroupName: cluster parameter group ${input.clusterParameterGroupName} does not exist`,
            );
          else if (family && f !== family) {
            problems.push(
              `clusterParameterGroupName: ${input.clusterParameterGroupName} is of family ${f}, but ${target} needs ${family}`,
            );
          }
        }
        if (input.instanceParameterGroupName) {
          const f = await clusters.instanceParameterGroupFamily(input.instanceParameterGroupName);
          if (!f)
            problems.push(
              `instanceParameterGroupName: parameter group ${input.instanceParameterGroupName} does not exist`,
            );
          else if (family && f !== family) {
            problems.push(
              `instanceParameterGroupName: ${input.instanceParameterGroupName} is of family ${f}, but ${target} needs ${family}`,
            );
          }
        }
      }
    }
  }

  // Online mode and failback: rds.logical_replication (InspectBlue then reads blue's wal_level).
  problems.push(...(await logicalReplicationProblems(blue, input, { clusters })));

  const record = await dns.getRecord(input.cname.hostedZoneId, input.cname.recordName);
  let cname: BlueSnapshot['cname'] = { target: '', ttl: 0 };
  if (!record) {
    problems.push(
      `cname.recordName: ${input.cname.recordName} does not exist in hosted zone ${input.cname.hostedZoneId}`,
    );
  } else if (record.routingPolicy || record.setIdentifier) {
    // The swap UPSERTs a simple record; with a routing policy it would add a second record set
    // beside the first (or be refused), and applications would not all follow the cutover.
    problems.push(
      `cname.recordName: ${input.cname.recordName} has a ${record.routingPolicy ?? 'routing'} policy (SetIdentifier ${record.setIdentifier ?? 'set'}); the workflow swaps only a simple CNAME record`,
    );
  } else if (record.type !== 'CNAME' || record.values.length !== 1) {
    problems.push(`cname.recordName: ${input.cname.recordName} is a record of type ${record.type}, not a single CNAME`);
  } else {
    cname = { target: record.values[0] ?? '', ttl: record.ttl };
    if (!input.dryRun && normalizeHost(cname.target) !== normalizeHost(blue.endpoint)) {
      problems.push(
        `cname.recordName: ${input.cname.recordName} points at ${cname.target}, not at blue's endpoint ${blue.endpoint}; applications would not follow the cutover`,
      );
    }
  }

  const green = await clusters.describeCluster(input.greenClusterId);
  if (green && green.tags[EXECUTION_TAG] !== rdsTagValue(input.executionId)) {
    problems.push(
      `greenClusterId: cluster ${input.greenClusterId} already exists and was not created by this execution; choose another id`,
    );
  }

  if (problems.length) {
    throw new PreconditionFailed(
      `Preflight found ${problems.length} problem(s), nothing was changed: ${problems.join('; ')}.`,
    );
  }

  return {
    id: blue.id,
    ...(blue.arn ? { arn: blue.arn } : {}),
    endpoint: blue.endpoint,
    port: blue.port,
    engineVersion: blue.engineVersion,
    accessSecurityGroupIds,
    originalSecurityGroupIds: groupIds,
    ...(blue.subnetGroupName ? { subnetGroupName: blue.subnetGroupName } : {}),
    ...(blue.clusterParameterGroupName ? { clusterParameterGroupName: blue.clusterParameterGroupName } : {}),
    ...(blue.kmsKeyId ? { kmsKeyId: blue.kmsKeyId } : {}),
    iamAuth: blue.iamAuth,
    logExports: blue.logExports,
    deletionProtection: blue.deletionProtection,
    ...(blue.storageType ? { storageType: blue.storageType } : {}),
    ...(blue.serverlessV2Scaling ? { serverlessV2Scaling: blue.serverlessV2Scaling } : {}),
    ...(blue.engineLifecycleSupport ? { engineLifecycleSupport: blue.engineLifecycleSupport } : {}),
    copyTagsToSnapshot: blue.copyTagsToSnapshot ?? false,
    tags: ownTags(blue.tags),
    associatedRoles: (blue.associatedRoles ?? []).map((r) => ({
      roleArn: r.roleArn,
      ...(r.featureName ? { featureName: r.featureName } : {}),
    })),
    ...(blue.masterUserSecret
      ? {
          masterUserSecret: {
            secretArn: blue.masterUserSecret.secretArn,
            ...(blue.masterUserSecret.kmsKeyId ? { kmsKeyId: blue.masterUserSecret.kmsKeyId } : {}),
          },
        }
      : {}),
    writer: {
      instanceId: writer.id,
      instanceClass: writer.instanceClass,
      ...(writer.availabilityZone ? { availabilityZone: writer.availabilityZone } : {}),
      ...(writer.parameterGroupName ? { parameterGroupName: writer.parameterGroupName } : {}),
      ...(writer.monitoringInterval ? { monitoringInterval: writer.monitoringInterval } : {}),
      ...(writer.monitoringRoleArn ? { monitoringRoleArn: writer.monitoringRoleArn } : {}),
      performanceInsights: writer.performanceInsights,
      ...(writer.performanceInsightsKmsKeyId
        ? { performanceInsightsKmsKeyId: writer.performanceInsightsKmsKeyId }
        : {}),
      ...(writer.performanceInsightsRetentionPeriod
        ? { performanceInsightsRetentionPeriod: writer.performanceInsightsRetentionPeriod }
        : {}),
      ...(writer.caCertificateIdentifier ? { caCertificateIdentifier: writer.caCertificateIdentifier } : {}),
      ...(writer.promotionTier !== undefined ? { promotionTier: writer.promotionTier } : {}),
      tags: ownTags(writer.tags),
    },
    readerInstanceIds: blue.members.filter((m) => !m.isWriter).map((m) => m.instanceId),
    readerPromotionTiers: blue.members.filter((m) => !m.isWriter).flatMap((m) => m.promotionTier ?? []),
    availabilityZones: blue.availabilityZones,
    ...(upgrade ? { upgrade } : {}),
    cname,
  };
}
