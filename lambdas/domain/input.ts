import { z } from 'zod';
import { PreconditionFailed } from './errors';
import { MAX_INPUT_CHARS } from './truncate';
import {
  durationProblems,
  EVENTS_PER_POLL,
  HISTORY_EVENT_LIMIT,
  MAX_POLLS,
  MAX_POLLS_RULE,
  maxPollsFor,
  pollLoopsFor,
} from './limits';

/**
 * The approval waits while blue's writes are blocked: every second of it is downtime. So its
 * timeout is capped (12 hours); the default is 1 hour (DEFAULT_EXECUTION_DEFAULTS).
 */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 43_200;
const APPROVAL_CAP_MESSAGE = `at most ${MAX_APPROVAL_TIMEOUT_SECONDS} seconds (12 hours): writes to blue are blocked while the approval waits`;

/**
 * The execution input (docs/architecture.md): one strict zod schema. Defaults come from the
 * deployed configuration and reach `ValidateInput` in its task parameters, so a schedule can
 * pass a tiny input. Every message names the field and the rule.
 */

export const CLUSTER_ID_RULE =
  'an RDS cluster identifier is 1 to 63 letters, digits or hyphens, starts with a letter, has no two hyphens in a row and does not end with a hyphen';

export function isClusterId(value: string): boolean {
  return /^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,62}$/.test(value) && !value.endsWith('-') && value.length <= 63;
}

const clusterId = z.string().refine(isClusterId, { message: CLUSTER_ID_RULE });

/** A check runs in a Lambda with a 60 s timeout: its window leaves 15 s for the calls themselves. */
export const CHECK_WINDOW_MAX_SECONDS = 45;
const CHECK_WINDOW_RULE = `at most ${CHECK_WINDOW_MAX_SECONDS} seconds (a check's Lambda times out at 60 s)`;

/** Defaults taken from the deployed configuration (cdk.json), embedded in the state machine definition. */
export const defaultsSchema = z.strictObject({
  pollIntervalSeconds: z.number().int().min(1).max(3600),
  maxPolls: z.number().int().min(1).max(MAX_POLLS, MAX_POLLS_RULE),
  checkWindowSeconds: z.number().int().min(0).max(CHECK_WINDOW_MAX_SECONDS, CHECK_WINDOW_RULE),
  checkEveryMs: z.number().int().min(10, 'at least 10 ms').max(60_000, 'at most 60000 ms'),
  approvalTimeoutSeconds: z.number().int().min(60).max(MAX_APPROVAL_TIMEOUT_SECONDS, APPROVAL_CAP_MESSAGE),
  blueRetentionSeconds: z.number().int().min(0).max(31_536_000),
  cutoverTtlSeconds: z.number().int().min(0).max(86_400),
  replicaCount: z.number().int().min(0).max(15),
  lockTimeoutMs: z.number().int().min(0),
  statementTimeoutMs: z.number().int().min(0),
  clusterIdPrefix: z.string().min(1),
  adminSecurityGroupId: z.string().min(1),
  allowDeletionProtectionOff: z.boolean(),
  hostedZoneId: z.string().min(1),
  recordName: z.string().min(1),
  /** Whether the deployment was given an Enhanced Monitoring role to pass to green's instances. */
  monitoringRoleConfigured: z.boolean().default(false),
  /** IAM roles the workflow may associate with green (blue's `AssociatedRoles`): it must pass them to RDS. */
  clusterRoleArns: z.array(z.string().min(1)).default([]),
});
export type Defaults = z.infer<typeof defaultsSchema>;

const smokeExpectation = z.string().refine((v) => v === 'nonzero' || v === 'zero' || /^equals:.+$/s.test(v), {
  message: 'expect is one of "nonzero", "zero" or "equals:<value>"',
});

export const smokeTestSchema = z.strictObject({
  name: z.string().min(1, 'a smoke test needs a name').max(200),
  database: z.string().min(1).max(63),
  sql: z.string().min(1, 'a smoke test needs its SQL').max(10_000),
  expect: smokeExpectation,
});
export type SmokeTestSpec = z.infer<typeof smokeTestSchema>;

/** Online mode's default lag bound before the smoke tests and the approval: 1 MiB of WAL. */
export const DEFAULT_MAX_LAG_BYTES = 1_048_576;

export const rawInputSchema = z.strictObject({
  /** Absent: blue is the cluster, within the prefix, whose endpoint the CNAME points at (schedules). */
  blueClusterId: clusterId.optional(),
  greenClusterId: clusterId.optional(),
  targetEngineVersion: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'an Aurora PostgreSQL engine version is MAJOR.MINOR, for example 16.4')
    .optional(),
  clusterParameterGroupName: z.string().min(1).max(255).optional(),
  instanceParameterGroupName: z.string().min(1).max(255).optional(),
  writerInstanceClass: z
    .string()
    .regex(/^db\.(?:serverless|[a-z0-9-]+\.[a-z0-9]+)$/, 'an instance class looks like db.r6g.large or db.serverless')
    .optional(),
  replicaCount: z.number().int('replicaCount is a whole number').min(0).max(15, 'at most 15 replicas').optional(),
  migrations: z
    .strictObject({
      s3Prefix: z
        .string()
        .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'an S3 prefix looks like s3://bucket/path/'),
      database: z.string().min(1).max(63),
      phase: z.enum(['before-upgrade', 'after-upgrade']).default('before-upgrade'),
      lockTimeoutMs: z.number().int().min(0).optional(),
      statementTimeoutMs: z.number().int().min(0).optional(),
    })
    .optional(),
  smokeTests: z.array(smokeTestSchema).max(50, 'at most 50 smoke tests').default([]),
  cname: z
    .strictObject({
      hostedZoneId: z.string().min(1).optional(),
      recordName: z.string().min(1).optional(),
      cutoverTtlSeconds: z.number().int().min(0).max(86_400).optional(),
    })
    .default({}),
  approval: z
    .strictObject({
      timeoutSeconds: z
        .number()
        .int()
        .min(60, 'at least 60 seconds')
        .max(MAX_APPROVAL_TIMEOUT_SECONDS, APPROVAL_CAP_MESSAGE)
        .optional(),
    })
    .default({}),
  blueRetentionSeconds: z.number().int().min(0).max(31_536_000).optional(),
  pollIntervalSeconds: z.number().int().min(1).max(3600).optional(),
  maxPolls: z.number().int().min(1).max(MAX_POLLS, MAX_POLLS_RULE).optional(),
  checkWindowSeconds: z.number().int().min(0).max(CHECK_WINDOW_MAX_SECONDS, CHECK_WINDOW_RULE).optional(),
  checkEveryMs: z.number().int().min(10, 'at least 10 ms').max(60_000, 'at most 60000 ms').optional(),
  writeBlock: z.enum(['security-group', 'read-only']).default('security-group'),
  keepGreenOnFailure: z.boolean().default(false),
  dryRun: z.boolean().default(false),
  /**
   * offline: blue's writes are blocked from the fence to the CNAME swap (the clone, the upgrade and
   * the approval happen meanwhile). online: logical replication from the clone's LSN keeps green
   * in step while blue serves; writes freeze only for the switchover (docs/online-mode.md).
   */
  mode: z.enum(['offline', 'online']).default('offline'),
  /** Start replication from green back to blue at cutover, so that blue can take over again during retention. */
  failback: z.boolean().default(false),
  replication: z
    .strictObject({
      /** Online mode waits, before the smoke tests and the approval, until green is this close to blue. */
      maxLagBytes: z.number().int().min(0).max(1_073_741_824, 'at most 1 GiB').optional(),
    })
    .default({}),
});
export type RawInput = z.input<typeof rawInputSchema>;

/** The validated input with every default filled in: `$.input` of the execution document. */
export interface DeploymentInput {
  executionId: string;
  executionName: string;
  startedAt: string;
  blueClusterId: string;
  greenClusterId: string;
  targetEngineVersion?: string;
  clusterParameterGroupName?: string;
  instanceParameterGroupName?: string;
  writerInstanceClass?: string;
  replicaCount: number;
  migrations?: {
    s3Prefix: string;
    database: string;
    phase: 'before-upgrade' | 'after-upgrade';
    lockTimeoutMs: number;
    statementTimeoutMs: number;
  };
  smokeTests: SmokeTestSpec[];
  cname: { hostedZoneId: string; recordName: string; cutoverTtlSeconds: number };
  approval: { timeoutSeconds: number };
  blueRetentionSeconds: number;
  pollIntervalSeconds: number;
  maxPolls: number;
  /** How long one Check keeps looking (every `checkEveryMs`) before it hands back to its Wait loop. */
  checkWindowSeconds: number;
  checkEveryMs: number;
  writeBlock: 'security-group' | 'read-only';
  keepGreenOnFailure: boolean;
  dryRun: boolean;
  mode: 'offline' | 'online';
  failback: boolean;
  replication: { maxLagBytes: number };
  adminSecurityGroupId: string;
  allowDeletionProtectionOff: boolean;
  /** The configured prefix: Preflight checks every member instance of blue against it. */
  clusterIdPrefix: string;
  /** Whether a monitoring role is configured (Preflight refuses a monitored blue without one). */
  monitoringRoleConfigured: boolean;
  /** Roles the deployment may pass to RDS; Preflight refuses a blue with an associated role outside them. */
  clusterRoleArns: string[];
}

/** Formats zod issues as "field: rule" sentences. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length ? issue.path.join('.') : '(input)';
      if (issue.code === 'unrecognized_keys') {
        const where = issue.path.length ? `${field}.` : '';
        return issue.keys.map((k) => `${where}${k}: unknown field (check the spelling)`).join('; ');
      }
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

/** The suffix a derived green id carries: `-g` and the execution's start, YYMMDDHHMMSS. */
const GREEN_SUFFIX = /-g\d{12}$/;

/**
 * A green id derived from blue's id and the execution start, never random, at most 63 characters.
 * A blue that was itself a derived green loses its suffix first, so a recurring schedule's ids do
 * not grow run after run (`orders-g261205020000` → `orders-g270105020000`).
 */
export function deriveGreenClusterId(blueClusterId: string, startedAt: string): string {
  const base = blueClusterId.replace(GREEN_SUFFIX, '');
  const d = new Date(startedAt);
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${String(d.getUTCFullYear()).slice(2)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  const suffix = `-g${stamp}`;
  return `${base.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
}

export interface ValidateRequest {
  raw: unknown;
  defaults: unknown;
  execution: { id: string; name: string; startTime: string };
}

/** Parses and completes the execution input; throws PreconditionFailed naming every bad field. */
export function parseInput(request: ValidateRequest): DeploymentInput {
  const defaultsResult = defaultsSchema.safeParse(request.defaults);
  if (!defaultsResult.success) {
    throw new PreconditionFailed(`The deployed configuration is invalid: ${describeIssues(defaultsResult.error)}`);
  }
  const defaults = defaultsResult.data;
  const size = JSON.stringify(request.raw ?? null).length;
  if (size > MAX_INPUT_CHARS) {
    throw new PreconditionFailed(
      `Invalid execution input: (input): ${size} characters of JSON; at most ${MAX_INPUT_CHARS}, so that the execution document stays far below Step Functions' 256 KB`,
    );
  }
  const parsed = rawInputSchema.safeParse(request.raw);
  if (!parsed.success) throw new PreconditionFailed(`Invalid execution input: ${describeIssues(parsed.error)}`);
  const { blueClusterId, ...raw } = parsed.data;
  if (blueClusterId === undefined) {
    // ValidateInput resolves an absent blue from the CNAME before it parses (steps/validate-input.ts).
    throw new PreconditionFailed('Invalid execution input: blueClusterId: required (or resolved from the CNAME)');
  }
  const problems: string[] = [];
  if (!blueClusterId.startsWith(defaults.clusterIdPrefix)) {
    problems.push(
      `blueClusterId: must start with the configured prefix "${defaults.clusterIdPrefix}" (the workflow may only touch those clusters)`,
    );
  }
  const greenClusterId = raw.greenClusterId ?? deriveGreenClusterId(blueClusterId, request.execution.startTime);
  if (greenClusterId === blueClusterId) problems.push('greenClusterId: must differ from blueClusterId');
  if (!greenClusterId.startsWith(defaults.clusterIdPrefix)) {
    problems.push(`greenClusterId: must start with the configured prefix "${defaults.clusterIdPrefix}"`);
  }
  const hostedZoneId = raw.cname.hostedZoneId ?? defaults.hostedZoneId;
  const recordName = raw.cname.recordName ?? defaults.recordName;
  if (hostedZoneId !== defaults.hostedZoneId) {
    problems.push(`cname.hostedZoneId: must be the configured hosted zone ${defaults.hostedZoneId}`);
  }
  // IAM lets the workflow change only the configured record: another name would fail at cutover.
  if (normalizedName(recordName) !== normalizedName(defaults.recordName)) {
    problems.push(`cname.recordName: must be the configured record ${defaults.recordName}`);
  }
  if (!raw.targetEngineVersion && (raw.clusterParameterGroupName || raw.instanceParameterGroupName)) {
    problems.push('clusterParameterGroupName: parameter groups are only used with targetEngineVersion');
  }
  // Online mode and failback have more loops: without its own maxPolls a run takes the configured one, capped.
  const maxPollsBound = maxPollsFor(raw);
  const maxPolls = raw.maxPolls ?? Math.min(defaults.maxPolls, maxPollsBound);
  problems.push(
    ...durationProblems({
      pollIntervalSeconds: raw.pollIntervalSeconds ?? defaults.pollIntervalSeconds,
      maxPolls,
      approvalTimeoutSeconds: raw.approval.timeoutSeconds ?? defaults.approvalTimeoutSeconds,
      blueRetentionSeconds: raw.blueRetentionSeconds ?? defaults.blueRetentionSeconds,
      pollLoops: pollLoopsFor(raw),
      ...(raw.writeBlock === 'read-only'
        ? { cutoverTtlSeconds: raw.cname.cutoverTtlSeconds ?? defaults.cutoverTtlSeconds }
        : {}),
    }),
  );
  if (raw.maxPolls !== undefined && raw.maxPolls > maxPollsBound) {
    const shape = `${raw.mode === 'online' ? 'online' : 'offline'} mode${raw.failback ? ' with failback' : ''}`;
    problems.push(
      `maxPolls: at most ${maxPollsBound} in ${shape}: its ${pollLoopsFor(raw)} poll loops of ${EVENTS_PER_POLL} events a poll, run to their limit, must stay under Step Functions' ${HISTORY_EVENT_LIMIT} events of history`,
    );
  }
  if (raw.failback && raw.dryRun) problems.push('failback: a dry run has no cutover to fail back from');
  // In read-only mode blue stays reachable through the retention. A session that turned read-only
  // off could write there, and with failback nothing could tell that write from green's replicated
  // ones (no statistics proof: blue changes on purpose), so deleting blue would lose it silently.
  if (raw.failback && raw.writeBlock === 'read-only') {
    problems.push(
      "failback: needs writeBlock 'security-group' (in 'read-only' mode blue stays reachable during the retention, and a write made there could not be told from green's replicated ones)",
    );
  }
  const retention = raw.blueRetentionSeconds ?? defaults.blueRetentionSeconds;
  if (raw.failback && retention < 60) {
    problems.push('failback: needs blueRetentionSeconds of at least 60 (failback is offered while blue is retained)');
  }
  if (problems.length) throw new PreconditionFailed(`Invalid execution input: ${problems.join('; ')}`);

  return {
    executionId: request.execution.id,
    executionName: request.execution.name,
    startedAt: request.execution.startTime,
    blueClusterId,
    greenClusterId,
    ...(raw.targetEngineVersion ? { targetEngineVersion: raw.targetEngineVersion } : {}),
    ...(raw.clusterParameterGroupName ? { clusterParameterGroupName: raw.clusterParameterGroupName } : {}),
    ...(raw.instanceParameterGroupName ? { instanceParameterGroupName: raw.instanceParameterGroupName } : {}),
    ...(raw.writerInstanceClass ? { writerInstanceClass: raw.writerInstanceClass } : {}),
    replicaCount: raw.replicaCount ?? defaults.replicaCount,
    ...(raw.migrations
      ? {
          migrations: {
            s3Prefix: raw.migrations.s3Prefix.endsWith('/') ? raw.migrations.s3Prefix : `${raw.migrations.s3Prefix}/`,
            database: raw.migrations.database,
            phase: raw.migrations.phase,
            lockTimeoutMs: raw.migrations.lockTimeoutMs ?? defaults.lockTimeoutMs,
            statementTimeoutMs: raw.migrations.statementTimeoutMs ?? defaults.statementTimeoutMs,
          },
        }
      : {}),
    smokeTests: raw.smokeTests,
    cname: { hostedZoneId, recordName, cutoverTtlSeconds: raw.cname.cutoverTtlSeconds ?? defaults.cutoverTtlSeconds },
    approval: { timeoutSeconds: raw.approval.timeoutSeconds ?? defaults.approvalTimeoutSeconds },
    blueRetentionSeconds: raw.blueRetentionSeconds ?? defaults.blueRetentionSeconds,
    pollIntervalSeconds: raw.pollIntervalSeconds ?? defaults.pollIntervalSeconds,
    maxPolls,
    checkWindowSeconds: raw.checkWindowSeconds ?? defaults.checkWindowSeconds,
    checkEveryMs: raw.checkEveryMs ?? defaults.checkEveryMs,
    writeBlock: raw.writeBlock,
    keepGreenOnFailure: raw.keepGreenOnFailure,
    dryRun: raw.dryRun,
    mode: raw.mode,
    failback: raw.failback,
    replication: { maxLagBytes: raw.replication.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES },
    adminSecurityGroupId: defaults.adminSecurityGroupId,
    allowDeletionProtectionOff: defaults.allowDeletionProtectionOff,
    clusterIdPrefix: defaults.clusterIdPrefix,
    monitoringRoleConfigured: defaults.monitoringRoleConfigured,
    clusterRoleArns: defaults.clusterRoleArns,
  };
}

/** DNS names compare without case and without the trailing dot. */
function normalizedName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
