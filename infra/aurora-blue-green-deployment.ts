import * as path from 'node:path';
import {
  Annotations,
  ArnFormat,
  Aspects,
  type IAspect,
  Duration,
  RemovalPolicy,
  Stack,
  TimeZone,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaNodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as route53 from 'aws-cdk-lib/aws-route53';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import { z } from 'zod';
import { defaultsSchema, describeIssues, rawInputSchema, type Defaults } from '../lambdas/domain/input';
import { METRICS_NAMESPACE, WRITES_BLOCKED_NOW_METRIC } from '../lambdas/domain/metrics';
import { TASK_LIST, type TaskSpec } from '../lambdas/steps/catalog';
import { ApprovalEndpoint, type ApproverIdentity } from './approval-endpoint';
import type { ApprovalWafOptions } from './approval-waf';
import { DeploymentDashboard } from './dashboard';
import { buildDefinition, buildRecoveryDefinition } from './definition';
import { handlerFunction } from './lambda-code';
import {
  EXECUTION_TAG_KEY,
  GREEN_TAG,
  permissionsOfTask,
  taskUses,
  type IamCondition,
  type IamPermission,
  type IamResource,
} from './iam-table';
import { wildcardActions } from './wildcard-acknowledgements';

/**
 * esbuild settings of every Lambda, shared with `scripts/bench-lambdas.ts` so that the benchmark
 * measures exactly what is deployed. Local esbuild only (never Docker); the AWS SDK is bundled
 * (`externalModules: []`) so each function runs the SDK version this repository pinned and tested,
 * not whatever the Lambda runtime happens to ship; `module` first lets esbuild tree-shake the SDK's
 * ES module builds. `npm run build:lib` prebuilds the package's bundles with these settings too.
 */
export const LAMBDA_BUNDLING = {
  forceDockerBundling: false,
  minify: true,
  sourceMap: true,
  target: 'node22',
  format: lambdaNodejs.OutputFormat.CJS,
  mainFields: ['module', 'main'],
  externalModules: [] as string[],
} satisfies lambdaNodejs.BundlingOptions;

/**
 * libpg-query (the real PostgreSQL parser) is WebAssembly: esbuild bundles its JavaScript but not
 * `libpg-query.wasm`, which the bundle loads from its own folder (`__dirname`). The steps that parse
 * SQL get it copied next to their bundle; `test/infra/parser-bundling.test.ts` runs such a bundle.
 */
export function pgParserWasm(): string {
  // Resolved only when bundling from source: the installed package ships prebuilt bundles with
  // the .wasm already beside them (scripts/build-lib.ts), and no libpg-query of its own.
  return require.resolve('libpg-query/wasm/libpg-query.wasm');
}

/** Handlers (`lambdas/handlers/<step>.ts`) whose bundle contains libpg-query. */
export const SQL_PARSER_STEPS: ReadonlySet<string> = new Set(['validate-input', 'validate-migrations', 'smoke-test']);

/** The esbuild settings of one step's Lambda: LAMBDA_BUNDLING, plus the parser's .wasm where it is used. */
export function bundlingFor(step: string): lambdaNodejs.BundlingOptions {
  if (!SQL_PARSER_STEPS.has(step)) return LAMBDA_BUNDLING;
  return {
    ...LAMBDA_BUNDLING,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) => [
        `node -e "require('fs').copyFileSync(process.argv[1], process.argv[2])" "${pgParserWasm()}" "${path.join(outputDir, 'libpg-query.wasm')}"`,
      ],
    },
  };
}

/** What writes a migration file: only `migrationUploaderArns` may. */
export const MIGRATION_WRITE_ACTIONS = [
  's3:PutObject',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:PutObjectAcl',
  's3:PutObjectVersionAcl',
  's3:RestoreObject',
];

/** `NODE_OPTIONS` of every Lambda: stack traces point into the TypeScript sources. */
export const LAMBDA_NODE_OPTIONS = '--enable-source-maps';

/**
 * Tunable defaults of an execution; an execution's input may override each one (there in seconds
 * and milliseconds: docs/configuration.md).
 */
export interface ExecutionDefaults {
  /**
   * Time between two polls of an asynchronous AWS operation (whole seconds, 1 s to 1 h).
   * @default Duration.seconds(30)
   */
  readonly pollInterval?: Duration;
  /**
   * Polls before a wait loop gives up with a named error.
   * @default 720
   */
  readonly maxPolls?: number;
  /**
   * How long one Check keeps looking, inside its Lambda, before it hands back to its Wait loop
   * (zero: one look per check). Shortens the time between an operation ending and the workflow
   * noticing it, which is downtime while writes are blocked. Whole seconds, at most 45.
   * @default Duration.seconds(20)
   */
  readonly checkWindow?: Duration;
  /**
   * How often a Check looks during its window (whole milliseconds, 10 ms to 60 s).
   * @default Duration.seconds(2)
   */
  readonly checkEvery?: Duration;
  /**
   * How long the approval waits for a decision before rolling back (whole seconds, at least 1 min).
   * @default Duration.days(1)
   */
  readonly approvalTimeout?: Duration;
  /**
   * How long blue is kept (stopped from taking traffic) after cutover before it is deleted.
   * @default Duration.days(1)
   */
  readonly blueRetention?: Duration;
  /**
   * The CNAME's TTL during cutover; a higher TTL is lowered early in the run (whole seconds).
   * @default Duration.seconds(5)
   */
  readonly cutoverTtl?: Duration;
  /**
   * Readers created on green (0 to 15).
   * @default 1
   */
  readonly replicaCount?: number;
  /**
   * `lock_timeout` of SQL migrations (whole milliseconds).
   * @default Duration.seconds(5)
   */
  readonly lockTimeout?: Duration;
  /**
   * `statement_timeout` of SQL migrations (whole milliseconds).
   * @default Duration.minutes(10)
   */
  readonly statementTimeout?: Duration;
}

/** The tunable defaults as an execution's input and the configuration file spell them. */
export type ExecutionDefaultValues = Pick<
  Defaults,
  | 'pollIntervalSeconds'
  | 'maxPolls'
  | 'checkWindowSeconds'
  | 'checkEveryMs'
  | 'approvalTimeoutSeconds'
  | 'blueRetentionSeconds'
  | 'cutoverTtlSeconds'
  | 'replicaCount'
  | 'lockTimeoutMs'
  | 'statementTimeoutMs'
>;

/** The defaults documented in docs/configuration.md. */
export const DEFAULT_EXECUTION_DEFAULTS: ExecutionDefaultValues = {
  pollIntervalSeconds: 30,
  maxPolls: 240,
  checkWindowSeconds: 20,
  checkEveryMs: 2_000,
  // Writes are blocked while the approval waits: an hour of downtime at most, by default.
  approvalTimeoutSeconds: 3_600,
  blueRetentionSeconds: 86_400,
  cutoverTtlSeconds: 5,
  replicaCount: 1,
  lockTimeoutMs: 5_000,
  statementTimeoutMs: 600_000,
};

/** Each field of ExecutionDefaults: the value it stands for and how a Duration converts to it. */
const EXECUTION_DEFAULT_FIELDS = {
  pollInterval: ['pollIntervalSeconds', 's'],
  maxPolls: ['maxPolls', 'count'],
  checkWindow: ['checkWindowSeconds', 's'],
  checkEvery: ['checkEveryMs', 'ms'],
  approvalTimeout: ['approvalTimeoutSeconds', 's'],
  blueRetention: ['blueRetentionSeconds', 's'],
  cutoverTtl: ['cutoverTtlSeconds', 's'],
  replicaCount: ['replicaCount', 'count'],
  lockTimeout: ['lockTimeoutMs', 'ms'],
  statementTimeout: ['statementTimeoutMs', 'ms'],
} as const satisfies Record<keyof ExecutionDefaults, readonly [keyof ExecutionDefaultValues, 's' | 'ms' | 'count']>;

/**
 * The values of the given ExecutionDefaults, in the execution input's units. A Duration that is not
 * a whole number of the unit is rejected with the prop's name.
 */
export function executionDefaultValues(defaults: ExecutionDefaults = {}): Partial<ExecutionDefaultValues> {
  const values: Partial<Record<keyof ExecutionDefaultValues, number>> = {};
  for (const [prop, [key, unit]] of Object.entries(EXECUTION_DEFAULT_FIELDS)) {
    const value = defaults[prop as keyof ExecutionDefaults];
    if (value === undefined) continue;
    const problem = (rule: string) => new Error(`AuroraBlueGreenDeployment: executionDefaults.${prop}: ${rule}`);
    if (unit === 'count') {
      if (typeof value !== 'number') throw problem('is a number');
      values[key] = value;
      continue;
    }
    // Not instanceof: the app may load another copy of aws-cdk-lib than this package.
    if (typeof value !== 'object' || typeof value.toSeconds !== 'function') throw problem('is a Duration');
    try {
      values[key] = unit === 'ms' ? value.toMilliseconds() : value.toSeconds();
    } catch (e) {
      throw problem((e as Error).message);
    }
  }
  return values;
}

/** The ExecutionDefaults of values in the execution input's units (the configuration file's). */
export function executionDefaultsOf(values: ExecutionDefaultValues): Required<ExecutionDefaults> {
  return {
    pollInterval: Duration.seconds(values.pollIntervalSeconds),
    maxPolls: values.maxPolls,
    checkWindow: Duration.seconds(values.checkWindowSeconds),
    checkEvery: Duration.millis(values.checkEveryMs),
    approvalTimeout: Duration.seconds(values.approvalTimeoutSeconds),
    blueRetention: Duration.seconds(values.blueRetentionSeconds),
    cutoverTtl: Duration.seconds(values.cutoverTtlSeconds),
    replicaCount: values.replicaCount,
    lockTimeout: Duration.millis(values.lockTimeoutMs),
    statementTimeout: Duration.millis(values.statementTimeoutMs),
  };
}

export const DEFAULT_STATE_MACHINE_NAME = 'aurora-bluegreen';
export const DEFAULT_DB_CONNECT_TIMEOUT = Duration.seconds(10);
export const POWERTOOLS_SERVICE_NAME = 'aurora-bluegreen';
export const DEFAULT_WRITES_BLOCKED_ALARM_AFTER = Duration.minutes(30);
/** Lambdas of the construct that are not a task of the catalog (`lambdas/handlers/<name>.ts`). */
export const WATCH_HANDLERS = ['writes-blocked-watch'] as const;

/**
 * Actions a role may hold on `Resource: *` because AWS offers them no resource-level permission
 * (Service Authorization Reference): X-Ray, the ENI management of a Lambda in a VPC, and reads.
 * A role's `AwsSolutions-IAM5[Resource::*]` finding is acknowledged only when every action it has
 * on `*` is in this list, and the reason names them: a wildcard on anything else is reported.
 */
export const WILDCARD_ONLY_ACTIONS: ReadonlySet<string> = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
  'ec2:DescribeSecurityGroups',
  'rds:DescribeDBEngineVersions',
  'rds:DescribeEvents',
  // Step Functions' log delivery to CloudWatch Logs (what the state machine role is granted).
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
]);

export { wildcardActions };

/**
 * Acknowledges `AwsSolutions-IAM5[Resource::*]` on each registered role once the tree is complete
 * (an aspect: grants added later are seen too), naming the exact actions, and only when all of
 * them are in WILDCARD_ONLY_ACTIONS; otherwise cdk-nag reports the finding.
 */
class WildcardAcknowledgements implements IAspect {
  private readonly roles = new Set<iam.Role>();
  register(role: iam.Role): void {
    this.roles.add(role);
  }
  visit(node: IConstruct): void {
    if (!(node instanceof iam.Role) || !this.roles.has(node)) return;
    const actions = wildcardActions(node);
    if (actions.length === 0 || actions.some((a) => !WILDCARD_ONLY_ACTIONS.has(a))) return;
    Validations.of(node).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `Resource "*" only for actions without resource-level permissions (Service Authorization Reference): ${actions.join(', ')}`,
    });
  }
}

/** When and with what input EventBridge Scheduler starts the state machine. */
export interface DeploymentSchedule {
  /**
   * `cron(minutes hours day-of-month month day-of-week year)`, a one-time `at(yyyy-mm-ddThh:mm:ss)`
   * (a maintenance window) or `rate(value unit)`, in the syntax of EventBridge Scheduler.
   */
  readonly expression: string;
  /**
   * IANA time zone in which the expression is read.
   * @default 'UTC'
   */
  readonly timeZone?: string;
  /**
   * Whether the schedule fires. A disabled schedule is deployed but starts nothing.
   * @default true
   */
  readonly enabled?: boolean;
  /** The execution input; it must name `blueClusterId`. Defaults fill in the rest. */
  readonly input: Readonly<Record<string, unknown>>;
}

/**
 * Why a schedule expression is invalid, or undefined when it is valid. Checks the three forms
 * EventBridge Scheduler accepts, including that an `at(...)` timestamp is a real date and that a
 * cron expression leaves day-of-month or day-of-week as `?`.
 */
export function scheduleExpressionProblem(expression: string): string | undefined {
  const at = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/.exec(expression);
  if (at) {
    const [y, mo, d, h, mi, s] = at.slice(1).map(Number) as [number, number, number, number, number, number];
    const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    const real =
      date.getUTCFullYear() === y &&
      date.getUTCMonth() === mo - 1 &&
      date.getUTCDate() === d &&
      date.getUTCHours() === h &&
      date.getUTCMinutes() === mi &&
      date.getUTCSeconds() === s;
    return real ? undefined : `at(...) names a date and time that does not exist: ${expression}`;
  }
  if (expression.startsWith('at('))
    return 'a one-time schedule is at(yyyy-mm-ddThh:mm:ss), for example at(2026-12-05T02:00:00)';
  const cron = /^cron\(([^)]*)\)$/.exec(expression);
  if (cron) {
    const fields = (cron[1] ?? '').trim().split(/\s+/);
    if (fields.length !== 6) {
      return 'a cron expression has six fields: cron(minutes hours day-of-month month day-of-week year)';
    }
    if (fields[2] !== '?' && fields[4] !== '?') {
      return 'a cron expression sets day-of-month or day-of-week to "?" (EventBridge Scheduler does not accept both)';
    }
    return undefined;
  }
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (value < 1) return 'a rate is at least 1';
    if ((value === 1) !== !unit.endsWith('s'))
      return 'a rate of 1 uses the singular unit (rate(1 day)), more the plural (rate(7 days))';
    return undefined;
  }
  return 'a schedule expression is cron(...), at(yyyy-mm-ddThh:mm:ss) or rate(...)';
}

/** Whether `name` is an IANA time zone this Node.js knows. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** What the database Lambdas may reach when the construct creates their security group. */
export interface DatabaseEgressOptions {
  /**
   * Security groups of the interface VPC endpoints the database Lambdas call on 443: Secrets
   * Manager, RDS (and S3, when it is an interface endpoint).
   * @default - none
   */
  readonly endpointSecurityGroups?: readonly ec2.ISecurityGroup[];
  /**
   * Prefix lists reached on 443, e.g. the S3 gateway endpoint's `com.amazonaws.<region>.s3` (`pl-…`).
   * @default - none
   */
  readonly endpointPrefixListIds?: readonly string[];
  /**
   * The clusters' PostgreSQL port.
   * @default 5432
   */
  readonly databasePort?: number;
}

export interface AuroraBlueGreenDeploymentProps {
  /** The VPC of the Aurora clusters; the database Lambdas run in it. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of the database Lambdas. They need a route to the clusters and to the Secrets
   * Manager, RDS and S3 APIs (NAT gateway or VPC endpoints).
   * @default - the VPC's private subnets
   */
  readonly databaseSubnets?: ec2.SubnetSelection;
  /**
   * The workflow's own security group on the clusters: the database Lambdas use it, and it is the
   * only group left on blue while writes are blocked and the only group on green until cutover.
   */
  readonly adminSecurityGroup: ec2.ISecurityGroup;
  /**
   * The secret with the clusters' admin credentials (RDS-managed shape: username, password). It
   * may be the secret RDS manages for blue's master user (`rds!cluster-…`); then green gets a
   * secret of its own after cutover and the report names it.
   */
  readonly databaseSecret: secretsmanager.ISecret;
  /**
   * The customer managed KMS key that encrypts `databaseSecret` (for an RDS-managed secret: the
   * `MasterUserSecret.KmsKeyId` of blue). The database Lambdas get kms:Decrypt on it through
   * Secrets Manager; the step that has RDS manage green's password may use it for green's secret.
   * @default - the secret is encrypted with the AWS managed key `aws/secretsmanager`
   */
  readonly databaseSecretKey?: kms.IKey;
  /** The hosted zone of the CNAME that applications connect to. */
  readonly hostedZone: route53.IHostedZone;
  /** The CNAME (fully qualified, inside `hostedZone`) that cutover moves from blue to green. */
  readonly recordName: string;
  /**
   * The workflow may only touch clusters, instances and snapshots whose identifier starts with this
   * prefix; IAM enforces it. Blue, green, their instances and final snapshots must all match.
   */
  readonly clusterIdPrefix: string;
  /**
   * The notification topic (approval requests, reports, failures, alarms), instead of one this
   * construct creates. Its key policy, if it is encrypted, must let CloudWatch
   * (`cloudwatch.amazonaws.com`) use the key for the failed-executions alarm to publish.
   * @default - a topic encrypted with `encryptionKey`
   */
  readonly existingTopic?: sns.ITopic;
  /**
   * The KMS key that encrypts the topic this construct creates; CloudWatch is granted its use so that
   * alarms can publish. Not with `existingTopic`.
   * @default - a new customer managed key with rotation (the AWS managed `aws/sns` key cannot be
   * used by CloudWatch alarms)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * The bucket that holds SQL migration sets (`s3://bucket/prefix/NNN_name.sql`), instead of one this
   * construct creates. The migration Lambdas are granted read access to it.
   * @default - a versioned, SSL-only, S3-encrypted bucket with server access logs
   */
  readonly existingMigrationsBucket?: s3.IBucket;
  /**
   * Email addresses subscribed to the approvers' topic, the one that carries approval requests
   * (and nothing else). Each must confirm its subscription (docs/approval.md, "Approvers");
   * Preflight refuses to start while no approver has.
   * @default - no approver subscription: Preflight refuses every run that is not a dry run
   */
  readonly approvalEmails?: readonly string[];
  /**
   * Principals (ARNs; `*` wildcards allowed) that may subscribe to the approvers' topic. Its
   * resource policy denies `sns:Subscribe` to everyone else, whatever their IAM policies say,
   * so that nobody in the account can add themselves as an approver.
   * @default - the CDK bootstrap's CloudFormation execution role (`cdk-*-cfn-exec-role-<account>-<region>`), i.e. this stack's own deployment
   */
  readonly approverSubscriberArns?: readonly string[];
  /**
   * IAM principals (role or user ARNs; `*` wildcards allowed) that may upload, change or delete
   * migration files. The bucket policy denies those writes to every other principal, whatever
   * its IAM policies say; reading is unaffected.
   * @default - no bucket-policy restriction: whoever IAM lets write to the bucket can change a migration set
   */
  readonly migrationUploaderArns?: readonly string[];
  /**
   * Email addresses subscribed to the notification topic: success and failure reports and alarms,
   * never approval requests (those go to the approvers' topic only).
   * @default - none
   */
  readonly notificationEmails?: readonly string[];
  /**
   * Defaults of every execution; each may be overridden in an execution's input.
   * @default - each field's own default (poll every 30 s, 720 polls, each check looking every 2 s for 20 s, approval 1 hour, blue kept 1 day, TTL 5 s, 1 replica, lock 5 s, statement 10 min)
   */
  readonly executionDefaults?: ExecutionDefaults;
  /**
   * Whether `DeleteBlue` may turn off blue's deletion protection before deleting it.
   * @default false - a protected blue is kept and the run reports it
   */
  readonly allowDeletionProtectionOff?: boolean;
  /**
   * Connect timeout of the database Lambdas' PostgreSQL sessions.
   * @default Duration.seconds(10)
   */
  readonly dbConnectTimeout?: Duration;
  /**
   * The Enhanced Monitoring role that blue's instances use; green's instances are created with the
   * same one, so the workflow may pass exactly this role to RDS.
   * @default - no iam:PassRole (instances without Enhanced Monitoring only)
   */
  readonly monitoringRole?: iam.IRole;
  /**
   * IAM roles associated with blue (`AssociatedRoles`: S3 import/export, Lambda, …). OpenGreen
   * associates them with green (AddRoleToDBCluster), which passes each to RDS; Preflight refuses a
   * blue with a role not listed here.
   * @default - none (a blue with associated roles is refused)
   */
  readonly clusterRoles?: readonly iam.IRole[];
  /**
   * Customer managed KMS keys that encrypt the clusters; cloning and creating instances need
   * kms:CreateGrant and kms:DescribeKey on them (through RDS only).
   * @default - none (clusters encrypted with the AWS managed key `aws/rds`)
   */
  readonly clusterEncryptionKeys?: readonly kms.IKey[];
  /**
   * An EventBridge Scheduler schedule that starts the state machine.
   * @default - no schedule
   */
  readonly schedule?: DeploymentSchedule;
  /**
   * The state machine's name. It is fixed (not generated) so that the approval endpoint can be
   * given the state machine's ARN without a dependency cycle.
   * @default 'aurora-bluegreen'
   */
  readonly stateMachineName?: string;
  /**
   * The writes-blocked alarm fires when a running execution has kept blue's writes blocked this
   * long (BlockWrites until the CNAME is in sync on green or a rollback restored blue). Blocked
   * writes are downtime; the approval wait is part of it.
   * @default Duration.minutes(30)
   */
  readonly writesBlockedAlarmAfter?: Duration;
  /**
   * Who may assume the emergency approver role `bluegreen-emergency-approver`, allowed only
   * `states:SendTaskSuccess`/`SendTaskFailure` on this state machine: the CLI path for when the
   * approval page cannot be reached (docs/approval.md). Not with `approvalFunction`.
   * @default - no emergency role
   */
  readonly emergencyApprover?: iam.IPrincipal;
  /**
   * CloudFront with a WAF web ACL (per-IP rate limit) in front of the approval page; approval
   * links then use CloudFront's domain (docs/approval.md, "WAF in front of the page"). Outside
   * us-east-1 it needs `webAclArn`. Not with `approvalFunction`.
   * @default - no WAF: the approval API's own throttling only
   */
  readonly approvalWaf?: ApprovalWafOptions;
  /**
   * Have the construct create the database Lambdas' own security group, with no egress but
   * PostgreSQL to `adminSecurityGroup` and HTTPS to the VPC endpoints (docs/iam.md, "Network").
   * The clusters' admin group must then allow PostgreSQL in from `databaseSecurityGroup`.
   * @default - the database Lambdas use `adminSecurityGroup`, and the construct creates no group
   */
  readonly databaseEgress?: DatabaseEgressOptions;
  /**
   * Approvers sign in with this OpenID Connect issuer (Cognito or a company IdP) to decide: the
   * deciding POST gets a JWT authorizer, and the decision records who decided
   * (docs/approval.md, "Approver identity"). Not with `approvalFunction`.
   * @default - no sign-in: whoever holds the emailed link decides
   */
  readonly approverIdentity?: ApproverIdentity;
  /**
   * The Lambda function that runs `RequestApproval`.
   * @default - an `ApprovalEndpoint` (infra/approval-endpoint.ts) is created and its function used
   */
  readonly approvalFunction?: lambda.IFunction;
  /**
   * The folder of the Lambda entry files `<step>.ts`, always bundled from source. For tests only.
   * @default - the package's prebuilt bundles, else lambdas/handlers of this repository
   * @internal
   */
  readonly handlersDir?: string;
}

/**
 * The deployable blue/green workflow (docs/architecture.md): the Step Functions state machine, one
 * Lambda per step with least-privilege IAM, the lock table, the notification topic, the migrations
 * bucket, logs, X-Ray, an alarm on failed executions and an optional schedule.
 */
export class AuroraBlueGreenDeployment extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  /** Notifications: success reports, failures with their cause, alarms. Never an approval request. */
  public readonly topic: sns.ITopic;
  /**
   * Approval requests only. Its policy denies `sns:Subscribe` to all but `approverSubscriberArns`,
   * and Preflight requires a confirmed subscription on it.
   */
  public readonly approversTopic: sns.Topic;
  /** The key of the topic, when this construct created the topic. */
  public readonly encryptionKey?: kms.IKey;
  /** The state machine's execution log. */
  public readonly logGroup: logs.LogGroup;
  /** One deployment per blue cluster at a time: partition key `lockKey`, TTL `expiresAtEpoch`. */
  public readonly lockTable: dynamodb.Table;
  /** SQL migration sets (`s3://bucket/prefix/NNN_name.sql`). */
  public readonly migrationsBucket: s3.IBucket;
  /** In alarm when an execution failed in the last 5 minutes. */
  public readonly failedExecutionsAlarm: cloudwatch.Alarm;
  /**
   * In alarm while a running execution has kept blue's writes blocked for `writesBlockedAlarmAfter`
   * or longer (metric `WritesBlockedNowSeconds`, published every minute by the writes-blocked watch).
   */
  public readonly writesBlockedAlarm: cloudwatch.Alarm;
  /** Executions, writes blocked, downtime and phase durations (docs/observability.md). */
  public readonly dashboard: cloudwatch.Dashboard;
  /**
   * Recovers an execution that ended without its Catch running (stopped by hand, timed out, or
   * failed before its failure path): started by `stoppedExecutionsRule`.
   */
  public readonly recoveryStateMachine: sfn.StateMachine;
  /** EventBridge: this state machine's executions that end ABORTED, TIMED_OUT or FAILED. */
  public readonly stoppedExecutionsRule: events.Rule;
  /** In alarm when a recovery failed in the last 5 minutes. */
  public readonly failedRecoveriesAlarm: cloudwatch.Alarm;
  /** The defaults embedded in the definition and handed to `ValidateInput`. */
  public readonly defaults: Defaults;
  /** The Lambda function of each task state, by state name. */
  public readonly functions: ReadonlyMap<string, lambda.IFunction>;
  /** The schedule, when one was asked for. */
  public readonly schedule?: scheduler.Schedule;
  /** The approval endpoint, unless `approvalFunction` was given. */
  public readonly approvalEndpoint?: ApprovalEndpoint;
  /** The approval page's base URL, when this construct created the approval endpoint. */
  public readonly approvalUrl?: string;
  /** The database Lambdas' own security group, with `databaseEgress`. */
  public readonly databaseSecurityGroup?: ec2.SecurityGroup;

  private readonly wildcards = new WildcardAcknowledgements();

  constructor(scope: Construct, id: string, props: AuroraBlueGreenDeploymentProps) {
    super(scope, id);
    validateProps(props);
    const stack = Stack.of(this);
    const stateMachineName = props.stateMachineName ?? DEFAULT_STATE_MACHINE_NAME;
    const stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.defaults = definitionDefaults({
      ...props,
      executionDefaults: executionDefaultValues(props.executionDefaults),
      fieldName: (key) => {
        const prop = Object.entries(EXECUTION_DEFAULT_FIELDS).find(([, [value]]) => value === key)?.[0];
        return prop ? `executionDefaults.${prop}` : key;
      },
      hostedZoneId: props.hostedZone.hostedZoneId,
      adminSecurityGroupId: props.adminSecurityGroup.securityGroupId,
      // Preflight refuses a blue with Enhanced Monitoring when there is no role to pass for green.
      monitoringRoleConfigured: props.monitoringRole !== undefined,
      clusterRoleArns: (props.clusterRoles ?? []).map((r) => r.roleArn),
    });

    // ---- notifications -------------------------------------------------------------------
    // A customer managed key: CloudWatch alarms cannot publish to a topic encrypted with the AWS
    // managed key aws/sns, whose key policy cannot be changed.
    if (props.existingTopic) {
      this.topic = props.existingTopic;
    } else {
      const topicKey =
        props.encryptionKey ??
        new kms.Key(this, 'TopicKey', {
          description: 'Encrypts the Aurora blue/green notification topic',
          enableKeyRotation: true,
        });
      // Only this account's alarms: without aws:SourceAccount, CloudWatch acting for any account
      // could use the key (the confused-deputy guard AWS recommends for service principals).
      topicKey.grant(
        new iam.ServicePrincipal('cloudwatch.amazonaws.com').withConditions({
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        }),
        'kms:Decrypt',
        'kms:GenerateDataKey*',
      );
      this.encryptionKey = topicKey;
      this.topic = new sns.Topic(this, 'Topic', {
        displayName: 'Aurora blue/green deployments',
        masterKey: topicKey,
        enforceSSL: true,
      });
    }
    for (const email of new Set(props.notificationEmails ?? [])) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    this.approversTopic = this.newApproversTopic(props);

    // ---- lock, migrations ------------------------------------------------------------------
    this.lockTable = new dynamodb.Table(this, 'LockTable', {
      partitionKey: { name: 'lockKey', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAtEpoch',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.migrationsBucket = props.existingMigrationsBucket ?? this.newMigrationsBucket();
    if (props.migrationUploaderArns?.length) {
      // A deny in the bucket's own policy: an admin's broad IAM grant cannot change a migration set.
      const added = this.migrationsBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyConfiguredUploaders',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: MIGRATION_WRITE_ACTIONS,
          resources: [this.migrationsBucket.arnForObjects('*')],
          conditions: { ArnNotLike: { 'aws:PrincipalArn': [...props.migrationUploaderArns] } },
        }),
      );
      if (!added.statementAdded) {
        Annotations.of(this).addWarningV2(
          'bluegreen:migrationUploaders',
          'migrationUploaderArns cannot be enforced on an existing migrations bucket: add the OnlyConfiguredUploaders deny (docs/migrations.md) to its policy yourself',
        );
      }
    }

    Aspects.of(this).add(this.wildcards);

    // ---- one Lambda per task -----------------------------------------------------------------
    const functions = new Map<string, lambda.IFunction>();
    const dbConnectTimeout = props.dbConnectTimeout ?? DEFAULT_DB_CONNECT_TIMEOUT;
    const access = new StepAccess(this, props, stateMachineName);
    if (props.databaseEgress) this.databaseSecurityGroup = this.newDatabaseSecurityGroup(props, props.databaseEgress);
    for (const spec of TASK_LIST) {
      if (spec.kind === 'approval') continue; // below: the approval endpoint's own function
      functions.set(spec.state, this.stepFunction(spec, dbConnectTimeout, access, props));
    }

    // ---- approval ---------------------------------------------------------------------------------
    let approvalFunction = props.approvalFunction;
    if (approvalFunction && props.approverIdentity) {
      throw new Error(
        'approverIdentity configures the approval endpoint this construct creates: not with approvalFunction',
      );
    }
    if (!approvalFunction) {
      this.approvalEndpoint = new ApprovalEndpoint(this, 'Approval', {
        topic: this.approversTopic,
        stateMachineArn,
        ...(props.emergencyApprover ? { emergencyApprover: props.emergencyApprover } : {}),
        ...(props.approvalWaf ? { waf: props.approvalWaf } : {}),
        ...(props.approverIdentity ? { approverIdentity: props.approverIdentity } : {}),
      });
      approvalFunction = this.approvalEndpoint.requestApprovalFunction;
      this.approvalUrl = this.approvalEndpoint.url;
      Validations.of(this.approvalEndpoint).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason:
          "Publishing approval requests to the encrypted topic needs the topic key's GenerateDataKey* (what topic.grantPublish grants)",
      });
    }
    for (const spec of TASK_LIST.filter((t) => t.kind === 'approval')) functions.set(spec.state, approvalFunction);
    this.functions = functions;

    // ---- the state machine -----------------------------------------------------------------------
    // Each state machine may invoke exactly the functions its definition asked for.
    const functionFor = (invokes: Set<lambda.IFunction>) => (task: TaskSpec) => {
      const fn = functions.get(task.state);
      if (!fn) throw new Error(`No Lambda function for task state ${task.state}`);
      invokes.add(fn);
      return fn;
    };
    const invoked = new Set<lambda.IFunction>();
    const recoveryInvokes = new Set<lambda.IFunction>();
    this.logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      // The vended-logs prefix keeps CloudWatch's resource policy small (AWS recommendation).
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: logs.RetentionDays.ONE_YEAR,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: 'Aurora PostgreSQL blue/green deployment with fast cloning, a write fence and rollback',
      definitionBody: sfn.DefinitionBody.fromChainable(
        buildDefinition(this, {
          functionFor: functionFor(invoked),
          defaults: this.defaults,
        }),
      ),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });

    this.failedExecutionsAlarm = this.alarmOnFailedExecutions(
      'ExecutionsFailedAlarm',
      this.stateMachine,
      `An Aurora blue/green deployment (${stateMachineName}) failed: read the failure email and the execution's history`,
    );
    this.writesBlockedAlarm = this.newWritesBlockedAlarm(
      stateMachineArn,
      stateMachineName,
      props.writesBlockedAlarmAfter ?? DEFAULT_WRITES_BLOCKED_ALARM_AFTER,
      props.handlersDir,
    );
    this.dashboard = new DeploymentDashboard(this, 'Dashboard', {
      stateMachine: this.stateMachine,
      dashboardName: stateMachineName,
    }).dashboard;

    this.acknowledgeStateMachineFindings(this.stateMachine, invoked);

    // ---- recovery of a stopped execution ---------------------------------------------------------
    // "Stop execution" (and an execution timeout) skips every Catch: blue would stay fenced,
    // detached and locked. The recovery reads the stopped run's history and runs the same
    // rollback, lock and report states on its document (docs/state-machine.md).
    const recoveryName = `${stateMachineName}-recovery`;
    const recoveryLogs = new logs.LogGroup(this, 'RecoveryStateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${recoveryName}`,
      retention: logs.RetentionDays.ONE_YEAR,
    });
    this.recoveryStateMachine = new sfn.StateMachine(this, 'RecoveryStateMachine', {
      stateMachineName: recoveryName,
      // Standard: the rollback's poll loop outlasts an Express workflow's 5 minutes.
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: `Recovers a stopped execution of ${stateMachineName}: rollback before OpenGreen, instructions after`,
      definitionBody: sfn.DefinitionBody.fromChainable(
        buildRecoveryDefinition(new Construct(this, 'Recovery'), { functionFor: functionFor(recoveryInvokes) }),
      ),
      tracingEnabled: true,
      logs: { destination: recoveryLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    this.acknowledgeStateMachineFindings(this.recoveryStateMachine, recoveryInvokes);
    this.stoppedExecutionsRule = new events.Rule(this, 'StoppedExecutionsRule', {
      description: `Starts ${recoveryName} when an execution of ${stateMachineName} ends without its own rollback`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [this.stateMachine.stateMachineArn],
          status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
        },
      },
      targets: [new eventsTargets.SfnStateMachine(this.recoveryStateMachine)],
    });
    this.failedRecoveriesAlarm = this.alarmOnFailedExecutions(
      'RecoveriesFailedAlarm',
      this.recoveryStateMachine,
      `The recovery of a stopped deployment (${recoveryName}) failed: blue may still be fenced; read its history`,
    );

    // ---- schedule ------------------------------------------------------------------------------
    if (props.schedule) {
      this.schedule = new scheduler.Schedule(this, 'Schedule', {
        description: `Starts the Aurora blue/green deployment of ${String(props.schedule.input['blueClusterId'])}`,
        schedule: scheduler.ScheduleExpression.expression(
          props.schedule.expression,
          TimeZone.of(props.schedule.timeZone ?? 'UTC'),
        ),
        target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject(props.schedule.input),
          // A maintenance window that has passed is not a time to start a deployment.
          maxEventAge: Duration.hours(1),
          retryAttempts: 3,
        }),
        enabled: props.schedule.enabled ?? true,
        timeWindow: scheduler.TimeWindow.off(),
      });
    }
  }

  /**
   * Step Functions' metrics cannot say that writes are blocked now, and during the approval wait
   * no step runs to say it either. So a watch reads every running execution's latest document
   * once a minute and publishes the longest block as a gauge (0 when none): the alarm compares
   * that with the threshold, and goes back to OK when writes come back (docs/observability.md).
   */
  /** In alarm, and notifying the topic, when an execution of `stateMachine` failed in the last 5 minutes. */
  private alarmOnFailedExecutions(id: string, stateMachine: sfn.StateMachine, description: string): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: description,
      metric: stateMachine.metricFailed({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.topic));
    return alarm;
  }

  private newWritesBlockedAlarm(
    stateMachineArn: string,
    stateMachineName: string,
    after: Duration,
    handlersDir: string | undefined,
  ): cloudwatch.Alarm {
    const name: (typeof WATCH_HANDLERS)[number] = 'writes-blocked-watch';
    const logGroup = new logs.LogGroup(this, 'WritesBlockedWatchLogs', { retention: logs.RetentionDays.ONE_MONTH });
    const role = new iam.Role(this, 'WritesBlockedWatchRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Reads running executions of the Aurora blue/green deployment to measure blocked writes',
    });
    logGroup.grantWrite(role);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListRunningExecutions',
        actions: ['states:ListExecutions'],
        resources: [stateMachineArn],
      }),
    );
    const executions = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadExecutionHistory',
        actions: ['states:GetExecutionHistory'],
        resources: [executions],
      }),
    );
    const fn = handlerFunction(this, 'WritesBlockedWatchFunction', {
      description: 'Aurora blue/green: publishes how long writes have been blocked (every minute)',
      handlerName: name,
      ...(handlersDir !== undefined ? { handlersDir } : {}),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(50),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      role,
      environment: {
        POWERTOOLS_SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: LAMBDA_NODE_OPTIONS,
        STATE_MACHINE_ARN: stateMachineArn,
      },
      bundling: LAMBDA_BUNDLING,
    });
    new events.Rule(this, 'WritesBlockedWatchSchedule', {
      description: 'Every minute: how long has a running blue/green deployment blocked writes?',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new eventsTargets.LambdaFunction(fn, { retryAttempts: 0 })],
    });
    this.wildcards.register(role);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagString(Stack.of(this).resolve(executions))}]`,
      reason: 'GetExecutionHistory (read-only) of any execution of this one state machine: execution names are per run',
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the runtime this project bundles for (esbuild target node22) and tests on',
    });
    const alarm = new cloudwatch.Alarm(this, 'WritesBlockedAlarm', {
      alarmDescription: `Writes have been blocked for ${after.toHumanString()} or longer by an Aurora blue/green deployment (${stateMachineName}): approve or reject the pending approval, or find the stuck step (the watch's log names the execution)`,
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: WRITES_BLOCKED_NOW_METRIC,
        dimensionsMap: { service: POWERTOOLS_SERVICE_NAME },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(1),
      }),
      threshold: after.toSeconds(),
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No value means the watch did not run: say so rather than claim writes are fine.
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.topic));
    alarm.addOkAction(new cloudwatchActions.SnsAction(this.topic));
    return alarm;
  }

  /**
   * The approvers' topic: whoever receives its mail can approve a cutover, so only the deployment
   * subscribes to it (a deny in its own policy outranks any IAM allow in the account).
   */
  private newApproversTopic(props: AuroraBlueGreenDeploymentProps): sns.Topic {
    const stack = Stack.of(this);
    const key =
      this.encryptionKey ??
      new kms.Key(this, 'ApproversTopicKey', {
        description: "Encrypts the Aurora blue/green approvers' topic",
        enableKeyRotation: true,
      });
    const topic = new sns.Topic(this, 'ApproversTopic', {
      displayName: 'Aurora blue/green approvals',
      masterKey: key,
      enforceSSL: true,
    });
    const subscribers = props.approverSubscriberArns?.length
      ? [...props.approverSubscriberArns]
      : [`arn:${stack.partition}:iam::${stack.account}:role/cdk-*-cfn-exec-role-${stack.account}-${stack.region}`];
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheDeploymentSubscribes',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sns:Subscribe'],
        resources: [topic.topicArn],
        conditions: { ArnNotLike: { 'aws:PrincipalArn': subscribers } },
      }),
    );
    for (const email of new Set(props.approvalEmails ?? [])) {
      topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    return topic;
  }

  /**
   * The database Lambdas' own group: no egress but PostgreSQL to the admin group (on the clusters)
   * and HTTPS to the VPC endpoints. DNS to the VPC resolver is not governed by security groups.
   */
  private newDatabaseSecurityGroup(
    props: AuroraBlueGreenDeploymentProps,
    egress: DatabaseEgressOptions,
  ): ec2.SecurityGroup {
    const group = new ec2.SecurityGroup(this, 'DatabaseFunctionsSecurityGroup', {
      vpc: props.vpc,
      description: 'Aurora blue/green database Lambdas: PostgreSQL to the admin group, HTTPS to VPC endpoints',
      allowAllOutbound: false,
      allowAllIpv6Outbound: false,
    });
    const port = egress.databasePort ?? 5432;
    group.addEgressRule(props.adminSecurityGroup, ec2.Port.tcp(port), 'PostgreSQL to the clusters (admin group)');
    for (const endpoints of egress.endpointSecurityGroups ?? []) {
      group.addEgressRule(endpoints, ec2.Port.HTTPS, 'HTTPS to VPC endpoints (Secrets Manager, RDS)');
    }
    for (const prefixList of egress.endpointPrefixListIds ?? []) {
      group.addEgressRule(ec2.Peer.prefixList(prefixList), ec2.Port.HTTPS, 'HTTPS to a gateway endpoint (S3)');
    }
    // Every rule above is a resource of its own, and EC2 gives a group created without an egress
    // rule an allow-all one. An inline rule that matches nothing (CDK's own "disallow all") keeps
    // the group from ever having it.
    (group.node.defaultChild as ec2.CfnSecurityGroup).addPropertyOverride('SecurityGroupEgress', [
      {
        CidrIp: '255.255.255.255/32',
        Description: 'Disallow all traffic',
        IpProtocol: 'icmp',
        FromPort: 252,
        ToPort: 86,
      },
    ]);
    return group;
  }

  private newMigrationsBucket(): s3.Bucket {
    const accessLogs = new s3.Bucket(this, 'MigrationsAccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    // cdk-nag recognises a log-destination bucket and does not ask it to log itself (S1).
    return new s3.Bucket(this, 'MigrationsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'migrations/',
    });
  }

  /**
   * The Lambda of one task: its own role, log group, environment and the IAM rows of `spec.calls`;
   * its code prebuilt in the package or bundled from source (infra/lambda-code.ts).
   */
  private stepFunction(
    spec: TaskSpec,
    dbConnectTimeout: Duration,
    access: StepAccess,
    props: AuroraBlueGreenDeploymentProps,
  ): lambda.Function {
    const inVpc = spec.kind === 'database';
    const logGroup = new logs.LogGroup(this, `${spec.state}Logs`, { retention: logs.RetentionDays.ONE_MONTH });
    const role = new iam.Role(this, `${spec.state}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${spec.state} step of the Aurora blue/green deployment`,
    });
    logGroup.grantWrite(role);
    const environment: Record<string, string> = {
      POWERTOOLS_SERVICE_NAME,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: LAMBDA_NODE_OPTIONS,
    };
    if (inVpc) {
      // The Lambda runtime's CA bundle includes the RDS certificate authorities: pg verifies TLS.
      environment['NODE_EXTRA_CA_CERTS'] = '/var/runtime/ca-cert.pem';
      environment['DB_SECRET_ARN'] = props.databaseSecret.secretArn;
      environment['DB_CONNECT_TIMEOUT_MS'] = String(dbConnectTimeout.toMilliseconds());
    }
    const fn = handlerFunction(this, `${spec.state}Function`, {
      description: `Aurora blue/green: ${spec.state}`,
      handlerName: spec.step,
      ...(props.handlersDir !== undefined ? { handlersDir: props.handlersDir } : {}),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(spec.timeoutSeconds),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      role,
      environment,
      bundling: bundlingFor(spec.step),
      ...(inVpc
        ? {
            vpc: props.vpc,
            vpcSubnets: props.databaseSubnets ?? { subnets: props.vpc.privateSubnets },
            securityGroups: [this.databaseSecurityGroup ?? props.adminSecurityGroup],
          }
        : {}),
    });
    if (inVpc) access.grantVpcNetworking(role);
    access.grant(spec, fn, role);
    this.wildcards.register(role);
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime this project bundles for (esbuild target node22) and tests on; moving to 24 is a deliberate upgrade',
    });
    return fn;
  }

  private acknowledgeStateMachineFindings(machine: sfn.StateMachine, invoked: ReadonlySet<lambda.IFunction>): void {
    const stack = Stack.of(this);
    // On the role, so that they also cover the overflow policies CDK splits a long policy into.
    const target = machine.role;
    if (target instanceof iam.Role) this.wildcards.register(target);
    for (const fn of invoked) {
      const cfn = fn.node.defaultChild;
      if (!(cfn instanceof lambda.CfnFunction)) continue;
      Validations.of(target).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(cfn)}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on the versions and aliases of a function this state machine invokes',
      });
    }
  }
}

/** The Defaults for buildDefinition, validated with the same schema `ValidateInput` uses. */
export function definitionDefaults(source: {
  executionDefaults?: Partial<ExecutionDefaultValues>;
  /** The name of a defaults field in error messages. */
  fieldName?: (key: string) => string;
  clusterIdPrefix: string;
  adminSecurityGroupId: string;
  allowDeletionProtectionOff?: boolean;
  hostedZoneId: string;
  recordName: string;
  monitoringRoleConfigured?: boolean;
  clusterRoleArns?: readonly string[];
}): Defaults {
  const candidate = {
    ...DEFAULT_EXECUTION_DEFAULTS,
    ...source.executionDefaults,
    clusterIdPrefix: source.clusterIdPrefix,
    adminSecurityGroupId: source.adminSecurityGroupId,
    allowDeletionProtectionOff: source.allowDeletionProtectionOff ?? false,
    hostedZoneId: source.hostedZoneId,
    recordName: source.recordName,
    monitoringRoleConfigured: source.monitoringRoleConfigured ?? false,
    clusterRoleArns: [...(source.clusterRoleArns ?? [])],
  };
  const parsed = defaultsSchema.safeParse(candidate);
  if (!parsed.success) {
    const fieldName = source.fieldName ?? ((key: string) => key);
    const issues = parsed.error.issues.map((issue) => {
      const [first, ...rest] = issue.path;
      return first === undefined ? issue : { ...issue, path: [fieldName(String(first)), ...rest] };
    });
    throw new Error(`AuroraBlueGreenDeployment: invalid defaults: ${describeIssues(new z.ZodError(issues))}`);
  }
  return parsed.data;
}

function validateProps(props: AuroraBlueGreenDeploymentProps): void {
  const problems: string[] = [];
  if (props.approvalWaf && props.approvalFunction) {
    problems.push(
      'approvalWaf: protects the approval endpoint this construct creates, so it cannot go with approvalFunction',
    );
  }
  if (props.databaseEgress) {
    const { endpointSecurityGroups = [], endpointPrefixListIds = [], databasePort = 5432 } = props.databaseEgress;
    if (endpointSecurityGroups.length + endpointPrefixListIds.length === 0) {
      problems.push(
        'databaseEgress: give endpointSecurityGroups or endpointPrefixListIds: the database Lambdas call Secrets Manager and RDS on 443',
      );
    }
    for (const id of endpointPrefixListIds) {
      if (!Token.isUnresolved(id) && !/^pl-[0-9a-f]{8,17}$/.test(id)) {
        problems.push(`databaseEgress.endpointPrefixListIds: "${id}" is not a prefix list id (pl-…)`);
      }
    }
    if (!Number.isInteger(databasePort) || databasePort < 1150 || databasePort > 65535) {
      problems.push(`databaseEgress.databasePort: ${databasePort} is not a port Aurora accepts (1150-65535)`);
    }
  }
  if (props.existingTopic && props.encryptionKey) {
    problems.push('encryptionKey: encrypts the topic this construct creates, so it cannot go with existingTopic');
  }
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(props.clusterIdPrefix) || props.clusterIdPrefix.includes('--')) {
    problems.push(
      `clusterIdPrefix "${props.clusterIdPrefix}" is not the start of an RDS identifier (a letter, then letters, digits or single hyphens)`,
    );
  }
  if (props.schedule) {
    const problem = scheduleExpressionProblem(props.schedule.expression);
    if (problem) problems.push(`schedule.expression: ${problem}`);
    const timeZone = props.schedule.timeZone ?? 'UTC';
    if (!isTimeZone(timeZone)) problems.push(`schedule.timeZone: "${timeZone}" is not an IANA time zone`);
    // The execution input's own schema, at synth: a schedule must not fail at 2 a.m. on a typo.
    const parsed = rawInputSchema.safeParse(props.schedule.input);
    if (!parsed.success) {
      problems.push(
        ...describeIssues(parsed.error)
          .split('; ')
          .map((issue) => `schedule.input.${issue}`),
      );
    }
    const blue = props.schedule.input['blueClusterId'];
    if (typeof blue === 'string' && !blue.startsWith(props.clusterIdPrefix)) {
      problems.push(
        `schedule.input.blueClusterId: "${blue}" does not start with clusterIdPrefix "${props.clusterIdPrefix}"`,
      );
    }
  }
  if (problems.length) throw new Error(`AuroraBlueGreenDeployment: ${problems.join('; ')}`);
}

/**
 * A step's IAM policy and environment, from the rows (infra/iam-table.ts) of the port methods its
 * catalog entry lists: one statement per row, with the row's resources as this deployment's ARNs.
 */
class StepAccess {
  private readonly prefix: string;
  constructor(
    private readonly owner: AuroraBlueGreenDeployment,
    private readonly props: AuroraBlueGreenDeploymentProps,
    private readonly stateMachineName: string,
  ) {
    this.prefix = props.clusterIdPrefix;
  }

  private rdsArn(resource: string, name: string): string {
    return Stack.of(this.owner).formatArn({
      service: 'rds',
      resource,
      resourceName: name,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /** The ARNs of a table resource in this deployment; empty when the deployment has none. */
  private arns(resource: IamResource): string[] {
    const p = this.prefix;
    const stack = Stack.of(this.owner);
    switch (resource) {
      case 'cluster':
      case 'db':
      case 'cluster-snapshot':
        return [this.rdsArn(resource, `${p}*`)];
      case 'subgrp':
      case 'cluster-pg':
      case 'pg':
        return [this.rdsArn(resource, '*')];
      case 'og-default':
        return [this.rdsArn('og', 'default:aurora-postgresql-*')];
      case 'hostedzone':
        return [this.props.hostedZone.hostedZoneArn];
      case 'change':
        return [
          stack.formatArn({
            service: 'route53',
            region: '',
            account: '',
            resource: 'change',
            resourceName: '*',
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ];
      case 'monitoring-role':
        return this.props.monitoringRole ? [this.props.monitoringRole.roleArn] : [];
      case 'cluster-keys':
        return (this.props.clusterEncryptionKeys ?? []).map((k) => k.keyArn);
      case 'lock-table':
        return [this.owner.lockTable.tableArn];
      case 'topic':
        return [this.owner.topic.topicArn];
      case 'approvers-topic':
        return [this.owner.approversTopic.topicArn];
      case 'topic-key':
        return this.owner.encryptionKey ? [this.owner.encryptionKey.keyArn] : [];
      case 'migrations-bucket':
        return [this.owner.migrationsBucket.bucketArn];
      case 'migrations-objects':
        return [this.owner.migrationsBucket.arnForObjects('*')];
      case 'migrations-key':
        return this.owner.migrationsBucket.encryptionKey ? [this.owner.migrationsBucket.encryptionKey.keyArn] : [];
      case 'database-secret':
        // A secret's full ARN ends in a random suffix: the partial ARN is matched with `-??????`.
        return [this.props.databaseSecret.secretFullArn ?? `${this.props.databaseSecret.secretArn}-??????`];
      case 'database-secret-key':
        return this.props.databaseSecretKey ? [this.props.databaseSecretKey.keyArn] : [];
      case 'cluster-roles':
        return (this.props.clusterRoles ?? []).map((r) => r.roleArn);
      case 'rds-managed-secrets':
        return [
          stack.formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: 'rds!cluster-*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ];
      case 'deployment-executions':
        return [
          stack.formatArn({
            service: 'states',
            resource: 'execution',
            resourceName: `${this.stateMachineName}:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ];
      case '*':
        return ['*'];
    }
  }

  private conditions(when: IamCondition | undefined): Record<string, Record<string, unknown>> | undefined {
    switch (when) {
      case undefined:
        return undefined;
      case 'creates-green':
        return {
          StringEquals: { [`aws:RequestTag/${GREEN_TAG.key}`]: GREEN_TAG.value },
          Null: { [`aws:RequestTag/${EXECUTION_TAG_KEY}`]: 'false' },
        };
      case 'green-cluster':
        return { StringEquals: { [`rds:cluster-tag/${GREEN_TAG.key}`]: GREEN_TAG.value } };
      case 'green-db':
        return { StringEquals: { [`rds:db-tag/${GREEN_TAG.key}`]: GREEN_TAG.value } };
      case 'the-record':
        return {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': [normalizedRecordName(this.props.recordName)],
            'route53:ChangeResourceRecordSetsRecordTypes': ['CNAME'],
            'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
          },
        };
      case 'passed-to-rds':
        // RDS checks the Enhanced Monitoring role's PassRole as passed to RDS itself
        // (rds.amazonaws.com), not to the role's trusted principal monitoring.rds.amazonaws.com.
        return { StringEquals: { 'iam:PassedToService': 'rds.amazonaws.com' } };
      case 'via-rds':
        return { StringEquals: { 'kms:ViaService': `rds.${Stack.of(this.owner).region}.amazonaws.com` } };
      case 'via-secrets-manager':
        return { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this.owner).region}.amazonaws.com` } };
      case 'via-secrets-manager-or-rds': {
        const region = Stack.of(this.owner).region;
        return {
          StringEquals: { 'kms:ViaService': [`secretsmanager.${region}.amazonaws.com`, `rds.${region}.amazonaws.com`] },
        };
      }
    }
  }

  grant(spec: TaskSpec, fn: lambda.Function, role: iam.Role): void {
    const seen = new Set<string>();
    for (const permission of permissionsOfTask(spec)) {
      const resources = permission.resources.flatMap((r) => this.arns(r));
      if (resources.length === 0) {
        if (permission.optional) continue;
        throw new Error(`${spec.state}: no resource for ${permission.resources.join(', ')}`);
      }
      const key = JSON.stringify([permission.actions, permission.resources, permission.when]);
      if (seen.has(key)) continue;
      seen.add(key);
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: [...permission.actions],
          resources,
          conditions: this.conditions(permission.when),
        }),
      );
      this.acknowledge(role, permission);
    }
    if (taskUses(spec, 'lock-table')) fn.addEnvironment('LOCK_TABLE_NAME', this.owner.lockTable.tableName);
    if (taskUses(spec, 'topic')) fn.addEnvironment('TOPIC_ARN', this.owner.topic.topicArn);
    if (taskUses(spec, 'approvers-topic')) fn.addEnvironment('APPROVERS_TOPIC_ARN', this.owner.approversTopic.topicArn);
    if (taskUses(spec, 'migrations-bucket')) {
      fn.addEnvironment('MIGRATIONS_BUCKET', this.owner.migrationsBucket.bucketName);
    }
  }

  /** The exact reason of each wildcard cdk-nag reports on a table row. */
  private acknowledge(role: iam.Role, permission: IamPermission): void {
    const reasons: Partial<Record<IamResource, string>> = {
      cluster: `Clusters whose identifier starts with the configured prefix "${this.prefix}": blue and green are named per execution`,
      db: `Instances whose identifier starts with the configured prefix "${this.prefix}": green's instances are named per execution`,
      'cluster-snapshot': `Final snapshots whose identifier starts with the configured prefix "${this.prefix}": named per execution`,
      subgrp: "A clone is created in blue's DB subnet group, whose name is read from blue at run time",
      'cluster-pg':
        "A clone keeps blue's cluster parameter group and an upgrade sets the one named in the input: names known only at run time",
      pg: "Green's instances keep blue's instance parameter group and an upgrade sets the one named in the input: names known only at run time",
      'og-default':
        'RDS checks the engine default option group (default:aurora-postgresql-NN) of the major version, which the input chooses',
      change: 'GetChange takes the id Route 53 returns for each change: change ids cannot be known in advance',
      'migrations-objects': 'A migration set is any prefix of the migrations bucket, chosen per execution',
      'rds-managed-secrets':
        'RDS names the secret it creates for a managed master password rds!cluster-<uuid>: the uuid is not known before RDS creates it',
      'deployment-executions':
        'Any execution of this deployment state machine may be stopped; execution names are chosen at start',
    };
    for (const resource of permission.resources) {
      const reason = reasons[resource];
      if (!reason) continue;
      for (const arn of this.arns(resource)) {
        Validations.of(role).acknowledge({ id: this.nagId(arn), reason });
      }
    }
    if (permission.actions.includes('kms:GenerateDataKey*')) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason: "Publishing to the encrypted topic needs the topic key's GenerateDataKey* (the grant SNS documents)",
      });
    }
  }

  /** ENI management of a Lambda in a VPC: what AWSLambdaVPCAccessExecutionRole allows, inline. */
  grantVpcNetworking(role: iam.Role): void {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ManageVpcNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
  }

  /** The id cdk-nag gives the wildcard finding of `arn` (tokens rendered as `<Ref>`). */
  private nagId(arn: string): string {
    return `AwsSolutions-IAM5[Resource::${nagString(Stack.of(this.owner).resolve(arn))}]`;
  }
}

/** A resolved CloudFormation string as cdk-nag prints it: `Ref`s as `<Name>`, `GetAtt`s as `<Name.Attr>`. */
function nagString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(nagString).join(sep);
    }
    if (typeof o['Ref'] === 'string') return `<${o['Ref']}>`;
    if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
  }
  throw new Error(`Cannot render ${JSON.stringify(value)} as cdk-nag does`);
}

/** Route 53's normalized form of a record name: lower case, no trailing dot. */
export function normalizedRecordName(recordName: string): string {
  return recordName.toLowerCase().replace(/\.$/, '');
}
