import type { Call, PortMethod, TaskSpec } from '../lambdas/steps/catalog';
import { EXECUTION_TAG, ROLE_TAG } from '../lambdas/domain/document';

/**
 * What each port method needs from IAM: the actions its AWS adapter sends and the resources AWS's
 * Service Authorization Reference checks for them, including the implicit ones (the default option
 * group of a restore, the final snapshot of a delete). A step's role is the union of the rows of
 * the methods its catalog entry lists (lambdas/steps/catalog.ts), so the construct, the local
 * executor (local/workflow/permissions.ts) and the IAM simulation test (test/infra/iam-simulation)
 * all read this one table. Adding a port method is adding one row here (the `Record` below makes
 * the compiler ask for it) and listing it in the catalog entries of the steps that call it.
 */

/**
 * A resource a permission applies to; the construct turns each into ARNs of this deployment.
 * - `cluster`, `db`, `cluster-snapshot`: identifiers starting with the configured clusterIdPrefix;
 * - `subgrp`, `cluster-pg`, `pg`: any name (blue's own groups and the input's new-family groups,
 *   known only at run time);
 * - `og-default`: the engine's default option groups `default:aurora-postgresql-NN`;
 * - `hostedzone`, `change`: the one hosted zone, any change id;
 * - `monitoring-role`: the configured Enhanced Monitoring role; `cluster-keys`: the clusters' KMS keys;
 * - `lock-table`, `topic`, `approvers-topic` (approval requests only), `topic-key`, `migrations-bucket`, `migrations-objects`, `migrations-key`,
 *   `database-secret`, `database-secret-key` (its customer managed key, when configured);
 * - `cluster-roles`: the IAM roles associated with blue (configured), which green gets at OpenGreen;
 * - `rds-managed-secrets`: the secrets RDS creates for a managed master password (`rds!cluster-*`);
 * - `deployment-executions`: the executions of this deployment's state machine (never another's);
 * - `*`: actions that support no resource-level permission.
 */
export type IamResource =
  | 'cluster'
  | 'db'
  | 'cluster-snapshot'
  | 'subgrp'
  | 'cluster-pg'
  | 'pg'
  | 'og-default'
  | 'hostedzone'
  | 'change'
  | 'monitoring-role'
  | 'cluster-keys'
  | 'lock-table'
  | 'topic'
  | 'approvers-topic'
  | 'topic-key'
  | 'migrations-bucket'
  | 'migrations-objects'
  | 'migrations-key'
  | 'database-secret'
  | 'database-secret-key'
  | 'cluster-roles'
  | 'rds-managed-secrets'
  | 'deployment-executions'
  | '*';

/**
 * A condition the construct attaches:
 * - `creates-green`: the request carries the execution tag and `bluegreen:role=green`
 *   (`aws:RequestTag`), so a create can only make tagged green resources;
 * - `green-cluster` / `green-db`: the existing cluster / instance carries `bluegreen:role=green`;
 * - `the-record`: a Route 53 change UPSERTs exactly the configured CNAME;
 * - `passed-to-rds`: iam:PassRole only to RDS (`iam:PassedToService`);
 * - `via-rds`: a KMS key used only through RDS (`kms:ViaService`);
 * - `via-secrets-manager`: a KMS key used only through Secrets Manager;
 * - `via-secrets-manager-or-rds`: through Secrets Manager, or RDS creating a managed secret.
 */
export type IamCondition =
  | 'creates-green'
  | 'green-cluster'
  | 'green-db'
  | 'the-record'
  | 'passed-to-rds'
  | 'via-rds'
  | 'via-secrets-manager'
  | 'via-secrets-manager-or-rds';

export interface IamPermission {
  readonly actions: readonly string[];
  readonly resources: readonly IamResource[];
  readonly when?: IamCondition;
  /** Only when the construct has the resource (a monitoring role, cluster keys). */
  readonly optional?: boolean;
}

/** The tag conditions' keys and values; creates send them (lambdas/steps/common.ts greenTags). */
export const GREEN_TAG = { key: ROLE_TAG, value: 'green' } as const;
export const EXECUTION_TAG_KEY = EXECUTION_TAG;

const READ_CLUSTER: IamPermission = { actions: ['rds:DescribeDBClusters'], resources: ['cluster'] };
const READ_INSTANCE: IamPermission = { actions: ['rds:DescribeDBInstances'], resources: ['db'] };
const KMS_THROUGH_RDS: IamPermission = {
  actions: ['kms:CreateGrant', 'kms:DescribeKey'],
  resources: ['cluster-keys'],
  when: 'via-rds',
  optional: true,
};

/** One row per port method: adding a method to lambdas/ports.ts fails to compile until it has one. */
export const METHOD_PERMISSIONS: Record<PortMethod, readonly IamPermission[]> = {
  'clusters.describeCluster': [READ_CLUSTER],
  'clusters.describeInstance': [READ_INSTANCE],
  'clusters.validUpgradeTargets': [{ actions: ['rds:DescribeDBEngineVersions'], resources: ['*'] }],
  'clusters.parameterGroupFamilyOf': [{ actions: ['rds:DescribeDBEngineVersions'], resources: ['*'] }],
  'clusters.clusterParameterGroupFamily': [
    { actions: ['rds:DescribeDBClusterParameterGroups'], resources: ['cluster-pg'] },
  ],
  // Preflight: is rds.logical_replication on in blue's cluster parameter group (online mode)?
  'clusters.clusterParameterValue': [{ actions: ['rds:DescribeDBClusterParameters'], resources: ['cluster-pg'] }],
  'clusters.instanceParameterGroupFamily': [{ actions: ['rds:DescribeDBParameterGroups'], resources: ['pg'] }],
  // No resource type in the reference: DescribeEvents is authorized on "*".
  'clusters.clusterEvents': [{ actions: ['rds:DescribeEvents'], resources: ['*'] }],
  'clusters.describeClusterSnapshot': [
    { actions: ['rds:DescribeDBClusterSnapshots'], resources: ['cluster-snapshot'] },
  ],
  // RestoreDBClusterToPointInTime checks the source (blue) and the target (green) cluster, the subnet
  // group, the cluster parameter group and the option group (the engine's default for Aurora).
  'clusters.cloneCopyOnWrite': [
    {
      actions: ['rds:RestoreDBClusterToPointInTime', 'rds:AddTagsToResource'],
      resources: ['cluster'],
      when: 'creates-green',
    },
    {
      actions: ['rds:RestoreDBClusterToPointInTime'],
      resources: ['subgrp', 'cluster-pg', 'og-default'],
      when: 'creates-green',
    },
    KMS_THROUGH_RDS,
  ],
  'clusters.createInstance': [
    { actions: ['rds:CreateDBInstance', 'rds:AddTagsToResource'], resources: ['db'], when: 'creates-green' },
    // The instance joins green (the cluster must carry the green tag) with a parameter group and
    // the default option group.
    { actions: ['rds:CreateDBInstance'], resources: ['cluster'], when: 'green-cluster' },
    { actions: ['rds:CreateDBInstance'], resources: ['pg', 'og-default'], when: 'creates-green' },
    { actions: ['iam:PassRole'], resources: ['monitoring-role'], when: 'passed-to-rds', optional: true },
    KMS_THROUGH_RDS,
  ],
  'clusters.setSecurityGroups': [{ actions: ['rds:ModifyDBCluster'], resources: ['cluster'] }],
  'clusters.upgradeEngine': [
    { actions: ['rds:ModifyDBCluster'], resources: ['cluster'] },
    // A major upgrade sets the new family's parameter groups and moves to its default option group.
    { actions: ['rds:ModifyDBCluster'], resources: ['cluster-pg', 'pg', 'og-default'] },
  ],
  'clusters.setDeletionProtection': [{ actions: ['rds:ModifyDBCluster'], resources: ['cluster'] }],
  // OpenGreen gives green blue's associated roles: RDS checks PassRole of each, passed to RDS.
  'clusters.addRole': [
    { actions: ['rds:AddRoleToDBCluster'], resources: ['cluster'] },
    { actions: ['iam:PassRole'], resources: ['cluster-roles'], when: 'passed-to-rds', optional: true },
  ],
  // After cutover green gets its own RDS-managed master secret: RDS creates it on the caller's
  // behalf (Aurora User Guide, "Required permissions for Secrets Manager integration").
  'clusters.manageMasterUserPassword': [
    { actions: ['rds:ModifyDBCluster'], resources: ['cluster'] },
    { actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'], resources: ['rds-managed-secrets'] },
    {
      actions: ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'],
      resources: ['database-secret-key'],
      when: 'via-secrets-manager-or-rds',
      optional: true,
    },
  ],
  'clusters.deleteInstance': [{ actions: ['rds:DeleteDBInstance'], resources: ['db'] }],
  // DeleteDBCluster checks the final snapshot's ARN too (the reference lists cluster-snapshot as required).
  'clusters.deleteCluster': [{ actions: ['rds:DeleteDBCluster'], resources: ['cluster', 'cluster-snapshot'] }],
  // Wildcard-only in the reference: EC2 has no resource-level permission for Describe*.
  'network.describeSecurityGroups': [{ actions: ['ec2:DescribeSecurityGroups'], resources: ['*'] }],
  'dns.getRecord': [{ actions: ['route53:ListResourceRecordSets'], resources: ['hostedzone'] }],
  'dns.upsertCname': [{ actions: ['route53:ChangeResourceRecordSets'], resources: ['hostedzone'], when: 'the-record' }],
  'dns.changeStatus': [{ actions: ['route53:GetChange'], resources: ['change'] }],
  'database.connect': [
    { actions: ['secretsmanager:GetSecretValue'], resources: ['database-secret'] },
    // A secret encrypted with a customer managed key (an RDS-managed master secret may be).
    { actions: ['kms:Decrypt'], resources: ['database-secret-key'], when: 'via-secrets-manager', optional: true },
  ],
  // The subscriber's connection string carries the same secret's user and password.
  'database.replicationConninfo': [
    { actions: ['secretsmanager:GetSecretValue'], resources: ['database-secret'] },
    { actions: ['kms:Decrypt'], resources: ['database-secret-key'], when: 'via-secrets-manager', optional: true },
  ],
  'migrations.list': [
    { actions: ['s3:ListBucket'], resources: ['migrations-bucket'] },
    { actions: ['s3:GetObject'], resources: ['migrations-objects'] },
    // A bucket brought by the user may be encrypted with its own key.
    { actions: ['kms:Decrypt'], resources: ['migrations-key'], optional: true },
  ],
  'lock.acquire': [{ actions: ['dynamodb:PutItem', 'dynamodb:GetItem'], resources: ['lock-table'] }],
  'lock.release': [{ actions: ['dynamodb:DeleteItem'], resources: ['lock-table'] }],
  'notifier.publish': [
    { actions: ['sns:Publish'], resources: ['topic'] },
    // What SNS documents for an encrypted topic (and topic.grantPublish grants).
    // (A topic brought by the user carries its own key policy: nothing to grant here.)
    { actions: ['kms:Decrypt', 'kms:GenerateDataKey*'], resources: ['topic-key'], optional: true },
  ],
  // Preflight: is at least one approver confirmed, with AuthenticateOnUnsubscribe? (lambdas/aws/approvers-sns.ts)
  // GetSubscriptionAttributes is authorized on the subscription's topic (the reference's only type).
  'approvers.count': [
    { actions: ['sns:ListSubscriptionsByTopic', 'sns:GetSubscriptionAttributes'], resources: ['approvers-topic'] },
  ],
  // The recovery of a stopped execution reads it: status, input and history.
  'executions.describe': [
    { actions: ['states:DescribeExecution', 'states:GetExecutionHistory'], resources: ['deployment-executions'] },
  ],
  // The approval endpoint's own function stores approvals (infra/approval-endpoint.ts grants it).
  'approvals.store': [],
};

/** The method of a catalog call, and whether it is made only on green. */
export function parseCall(call: Call): { method: PortMethod; greenOnly: boolean } {
  const [method, target] = call.split('@') as [PortMethod, string | undefined];
  return { method, greenOnly: target === 'green' };
}

/**
 * The permissions of one call. On a green-only call, a permission on an existing cluster or
 * instance additionally requires the green tag on it, so that the step cannot touch blue.
 */
export function permissionsOfCall(call: Call): IamPermission[] {
  const { method, greenOnly } = parseCall(call);
  const rows = METHOD_PERMISSIONS[method];
  if (!greenOnly) return [...rows];
  return rows.flatMap((p): IamPermission[] => {
    if (p.when !== undefined) return [p];
    const tagged = (type: 'cluster' | 'db', when: IamCondition): IamPermission[] =>
      p.resources.includes(type) ? [{ ...p, resources: [type], when }] : [];
    const rest = p.resources.filter((r) => r !== 'cluster' && r !== 'db');
    return [
      ...tagged('cluster', 'green-cluster'),
      ...tagged('db', 'green-db'),
      ...(rest.length ? [{ ...p, resources: rest }] : []),
    ];
  });
}

/** The union of the permissions of every call of a step. */
export function permissionsOfTask(spec: Pick<TaskSpec, 'calls'>): IamPermission[] {
  return spec.calls.flatMap(permissionsOfCall);
}

/** Whether a step calls a method (in any form): what the local executor lets it do. */
export function taskMayCall(spec: Pick<TaskSpec, 'calls'>, method: string): boolean {
  return spec.calls.some((call) => parseCall(call).method === method);
}

/** Whether a step needs a resource at all (for its environment: table name, topic, bucket, secret). */
export function taskUses(spec: Pick<TaskSpec, 'calls'>, resource: IamResource): boolean {
  return permissionsOfTask(spec).some((p) => p.resources.includes(resource));
}
