import './polyfills';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { ExecutionDocument } from '../lambdas/domain/document';
import type { Approvals, Ports } from '../lambdas/ports';
import { TASK_LIST, type StepId } from '../lambdas/steps/catalog';
import { STEPS, type StepFunction } from '../lambdas/steps/index';
import { userDatabases } from '../lambdas/steps/db';
import { recordProof } from '../lambdas/steps/fence-proof';
import { startApprovalServer, submitDecision, type ApprovalServer } from './approval-server';
import { createLocalCloud, LOCAL_MIGRATIONS_PREFIX, type LocalCloud, type ModelledBehaviour } from './cloud';
import { leakedRows, startLoad, type LoadClients, type LoadGenerator } from './load';
import { copyStoppedDataDir, freePort, PgServer, SUPERUSER } from './postgres';
import { startLagSampler, type Followed, type LagSample, type LagSampler } from './replication-lag';
import { renderReportHtml } from './report-html';
import { failbackWindow, FREEZE_STATES, switchoverWindow, writeFreeze, type Interval } from './report-metrics';
import {
  SAMPLE_MIGRATIONS_DIR,
  SAMPLE_REPLICABLE_MIGRATIONS_DIR,
  sampleReplicationReadySql,
  sampleSchemaSql,
  sampleSeedSql,
} from './sample';
import { executeDefinition, runRecovery, type EventLog, type ExecutionOutcome, type Fault } from './workflow/execute';
import { synthesizeDefinitions } from './workflow/synth';
import { LocalTaskTokens } from './workflow/task-tokens';

/**
 * One local rehearsal (docs/rehearsal.md): blue on real PostgreSQL, a live write load through
 * the CNAME, the synthesized state machine run with the real steps on local adapters, and a
 * report of what the application saw: lost writes, downtime, the phase timeline.
 */

export const BLUE_ID = 'app-blue';
export const ZONE_ID = 'ZLOCAL';
export const ZONE_NAME = 'rehearsal.internal';
export const RECORD_NAME = 'db.rehearsal.internal';
export const ADMIN_SG = 'sg-00000000000000ad0';
export const ACCESS_SG = 'sg-000000000000000a1';
export const DEFAULT_FROM = '16.13';
export const DEFAULT_TO = '16.14';

export type ApprovalMode = 'auto-approve' | 'reject' | 'manual';
/**
 * Blue's retention with failback when none is given, and the least the input accepts with it
 * (lambdas/domain/input.ts): the rehearsal decides "fail back" long before it ends.
 */
export const FAILBACK_RETENTION_SECONDS = 60;

export interface RehearsalOptions {
  workdir: string;
  from?: string;
  to?: string;
  migrationsDir?: string;
  /** Replaces the default execution input. */
  input?: Record<string, unknown>;
  approval?: ApprovalMode;
  /** The reason `reject` gives. @default 'rejected by the rehearsal (--reject)' */
  rejectReason?: string;
  loadRate?: number;
  faults?: Fault[];
  crashAfter?: string[];
  /**
   * Stops the execution as this state starts ("Stop execution" in the console), then runs the
   * recovery state machine as the EventBridge rule would.
   */
  abortAt?: string;
  dryRun?: boolean;
  /** The input's `mode` (on top of `input` when both are given). @default the input's default, offline */
  mode?: 'offline' | 'online';
  /**
   * The input's `failback` (on top of `input` when both are given); after cutover, the rehearsal
   * decides "fail back" over HTTP during blue's retention.
   */
  failback?: boolean;
  reportFile?: string;
  keep?: boolean;
  /** Seconds between polls (the definition's loops are the real ones). @default 1 */
  pollIntervalSeconds?: number;
  /** The CNAME's TTL before the run (lowered to 1 s, then waited out before the block). @default 3 */
  blueCnameTtlSeconds?: number;
  /** With `failback`: how long after the failback offer the rehearsal decides "fail back". @default 3000 */
  failbackAfterMs?: number;
  /** How long blue is retained after cutover (on top of `input` when both are given). @default 2, or 60 with failback */
  blueRetentionSeconds?: number;
  /** Milliseconds between retries instead of the definition's backoff (tests). */
  retryDelayMs?: number;
  /** Minimum time each local operation shows its intermediate state. @default 300 */
  operationDelayMs?: number;
  /** How far LatestRestorableTime trails the present. @default 2000 */
  restorableLagMs?: number;
  /** The local cloud fails green's engine upgrade as RDS does (an event, back on the old version). */
  upgradeFails?: boolean;
  /**
   * TEST ONLY: replaces the fence with a bare fence row, so pooled connections keep writing to
   * blue after the clone. Proves that the lost-writes detector can fail.
   */
  unsafeSkipFence?: boolean;
  /**
   * Adds the rogue clients to the load (docs/rehearsal.md): a job on blue's admin path that turns
   * read-only off in its own session, and a `replication=database` connection, both writing past
   * the fence. The fence cannot stop them; CheckFenceHeld must detect them (`WritesAfterFence`).
   */
  hostile?: boolean;
  /** One line per event for the terminal. @default silent */
  log?: (line: string) => void;
  /**
   * TEST HOOK (programmatic only, no CLI flag): runs once, before the first run of this task
   * state's step, which waits for it; a hook that throws fails that state, as its Lambda would.
   * It gets blue's writer and the CNAME, so a test can be a client at a known point of the run:
   * DDL on blue while it replicates, for example (test/rehearsal).
   */
  beforeState?: { state: string; run: (endpoints: RehearsalEndpoints) => Promise<void> };
}

/** Where a hook reaches the servers: blue's writer on its own port (the admin path), and the CNAME. */
export interface RehearsalEndpoints {
  blueWriter: { host: string; port: number };
  cname: { host: string; port: number };
}

export interface RehearsalReport {
  /** FAILED_BACK: deployed, then failed back to blue during its retention (`--failback`). */
  status: 'SUCCEEDED' | 'FAILED_BACK' | 'ROLLED_BACK' | 'ABORTED' | 'FAILED';
  /** The execution's error, and the task state that raised it first (the one whose Catch rolled back). */
  error?: { name: string; cause: string; state?: string };
  /** The recovery state machine's run, when the execution ended without its own failure path. */
  recovery?: { action: string; outcome?: string; status: string };
  /** Whether the deployment lock on blue is still held after the run (and its recovery). */
  lock: { held: boolean };
  dryRun: boolean;
  /** The input's mode: offline (writes blocked fence to swap) or online (logical replication, a short freeze). */
  mode: 'offline' | 'online';
  from: string;
  to: string;
  upgradeMethod: string;
  upgradeNote?: string;
  phases: { state: string; startedAt: string; endedAt?: string; attempts: number }[];
  downtimeMs: number | null;
  /** The longest gap in the application's writes (the downtime), as the charts shade it. */
  downtimeWindow: { from: string; to: string } | null;
  /** A dry run's estimate of a real run's downtime: clone to smoke tests, as they took here. */
  dryRunDowntimeEstimateMs?: number;
  fenceToInSyncMs: number | null;
  /**
   * The longest gap between two writes acknowledged to the application (through the CNAME) that
   * overlaps the switchover: from the write block (or fence) to the end of the CNAME swap, or of
   * the run when there was no swap. Null when blue was never frozen (a dry run).
   */
  writeFreezeMs: number | null;
  /**
   * Green's lag behind blue (online mode), then blue's behind green (failback), sampled every
   * 250 ms while the follower has an enabled subscription: at each sample, how long the oldest
   * write acknowledged by the source and not yet on the follower has been waiting (0: none).
   */
  replicationLagMs: LagSample[];
  /** A failback run (`--failback`): whether it failed back, and the write freeze of the failback. Null otherwise. */
  failback: { done: boolean; freezeMs: number | null } | null;
  /** Where the two freezes lie on the time axis (ISO), as the page draws them. */
  freezeWindows: { switchover: { from: string; to: string } | null; failback: { from: string; to: string } | null };
  operationsMs: number;
  writes: {
    acknowledged: number;
    /** Of those, the ones green's writer acknowledged (through the CNAME, after the cutover). */
    acknowledgedOnGreen: number;
    presentBehindCname: number;
    /** Acknowledged writes missing behind the CNAME. */
    lost: number;
    /** Rows on blue's final state (or final snapshot) missing behind the CNAME, acknowledged or not. */
    leaked: number;
    /**
     * Where the final rows of the cluster the application left were read and how many rows the
     * load's tables had: blue's writer or final snapshot; after a failback, green's writer.
     */
    blueFinal: { from: 'writer' | 'final snapshot' | 'green writer' | 'none'; rows: number };
    /** Connections the load opened. */
    sessions: number;
    /** Every sticky pool connection had a write acknowledged after the execution ended. */
    resumed: boolean;
    rejectedDuringDowntime: number;
  };
  /** Leaked rows by table (the first 50 ids of each). */
  leakedRows: Record<string, number[]>;
  /** Unlogged tables on blue as the fence recorded them (`database: schema.table`), and what the local clone does with them. */
  unlogged: { tables: string[]; note: string };
  lostWriteIds: number[];
  migrationsApplied: string[];
  blue: { state: 'deleted' | 'fenced' | 'writable' | 'unreachable'; finalSnapshot?: string };
  green: { id: string; engineVersion: string } | null;
  cname: { target: string | null };
  writesPerSecond: { second: number; at: string; acknowledged: number; rejected: number }[];
  notifications: { subject: string; at: string }[];
  /** Every local operation (clone, instances, upgrade, deletions) with its duration. */
  operations: { operation: string; resource: string; ms: number | null; error?: string }[];
  /** Every delay and AWS behaviour the local cloud modelled in this run, with its figure. */
  modelled: ModelledBehaviour[];
  startedAt: string;
  endedAt: string;
  totalMs: number;
  workdir: string;
  reportFile: string;
  htmlFile: string;
  kept?: {
    servers: { clusterId: string; role: string; connect: string; stop: string }[];
    stopAll: string;
    note: string;
  };
}

/**
 * The migration set a run applies: the given one, else the sample's. A run that replicates (online
 * mode, failback) gets the sample's replicable set, which changes no replicated table's shape:
 * the sample's own set adds a column and a table, which Preflight refuses for failback.
 */
export function migrationsDirFor(options: Pick<RehearsalOptions, 'migrationsDir' | 'mode' | 'failback'>): string {
  if (options.migrationsDir) return path.resolve(options.migrationsDir);
  return options.mode === 'online' || options.failback ? SAMPLE_REPLICABLE_MIGRATIONS_DIR : SAMPLE_MIGRATIONS_DIR;
}

function usesSampleMigrations(dir: string): boolean {
  return path.resolve(dir) === path.resolve(SAMPLE_MIGRATIONS_DIR);
}

export function defaultInput(
  options: Pick<
    RehearsalOptions,
    'to' | 'from' | 'dryRun' | 'pollIntervalSeconds' | 'blueRetentionSeconds' | 'migrationsDir' | 'mode' | 'failback'
  >,
) {
  const from = options.from ?? DEFAULT_FROM;
  const to = options.to ?? DEFAULT_TO;
  const major = from.split('.')[0] !== to.split('.')[0];
  return {
    blueClusterId: BLUE_ID,
    ...(to !== from ? { targetEngineVersion: to } : {}),
    ...(major
      ? {
          clusterParameterGroupName: `app-pg${majorOf(to)}-cluster`,
          instanceParameterGroupName: `app-pg${majorOf(to)}-instance`,
        }
      : {}),
    replicaCount: 1,
    migrations: { s3Prefix: LOCAL_MIGRATIONS_PREFIX, database: 'app' },
    // The sample's seed holds whatever the migrations are; "orders have a status" holds only
    // after the sample's own 001_order_status.sql, so another migration set runs without it
    // (the replicable set's view has its own test).
    smokeTests: [
      { name: 'customers are there', database: 'app', sql: 'select count(*) from app.customers', expect: 'nonzero' },
      ...(usesSampleMigrations(migrationsDirFor(options))
        ? [
            {
              name: 'orders have a status',
              database: 'app',
              sql: 'select count(*) from app.orders where status is null',
              expect: 'zero',
            },
          ]
        : []),
      ...(path.resolve(migrationsDirFor(options)) === path.resolve(SAMPLE_REPLICABLE_MIGRATIONS_DIR)
        ? [
            {
              name: 'order totals per customer',
              database: 'app',
              sql: 'select count(*) from app.customer_order_totals',
              expect: 'nonzero',
            },
          ]
        : []),
    ],
    cname: { cutoverTtlSeconds: 1 },
    pollIntervalSeconds: options.pollIntervalSeconds ?? 1,
    blueRetentionSeconds: options.blueRetentionSeconds ?? (options.failback ? FAILBACK_RETENTION_SECONDS : 2),
    // Nobody deciding within 15 minutes rolls back, as an approval timeout does in AWS.
    approval: { timeoutSeconds: 900 },
    // Within the bound ValidateInput enforces (the 25,000-event history; online mode's is 197,
    // online mode with failback's 171): with 1 s Waits and 10 s checks, 171 polls still allow a
    // local operation 30 minutes.
    maxPolls: 171,
    // Each check looks every 20 ms for up to 10 s before it hands back to its 1 s Wait: local
    // operations take well under 10 s, so the workflow notices their end within a few ms.
    checkWindowSeconds: 10,
    checkEveryMs: 20,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.mode ? { mode: options.mode } : {}),
    ...(options.failback ? { failback: true } : {}),
  };
}

/**
 * The execution input: the given one (`--input`) or the default, with the options that were given
 * explicitly (mode, failback, retention) on top, so `--input f.json --mode online` does what it says.
 */
export function rehearsalInput(
  options: Parameters<typeof defaultInput>[0] & Pick<RehearsalOptions, 'input'>,
): Record<string, unknown> {
  if (!options.input) return defaultInput(options);
  return {
    ...options.input,
    ...(options.mode ? { mode: options.mode } : {}),
    ...(options.failback ? { failback: true } : {}),
    ...(options.blueRetentionSeconds !== undefined
      ? { blueRetentionSeconds: options.blueRetentionSeconds }
      : options.failback && options.input['blueRetentionSeconds'] === undefined
        ? { blueRetentionSeconds: FAILBACK_RETENTION_SECONDS }
        : {}),
  };
}

function majorOf(version: string): string {
  return version.split('.')[0] ?? version;
}

/** The definition of the real stack, configured for the local cloud's names. */
export function rehearsalDefinition() {
  return rehearsalDefinitions().deployment;
}

/** Both state machines of the real stack (the deployment and the recovery), for the local cloud. */
export function rehearsalDefinitions() {
  return synthesizeDefinitions({
    clusterIdPrefix: 'app-',
    adminSecurityGroupId: ADMIN_SG,
    hostedZoneId: ZONE_ID,
    hostedZoneName: ZONE_NAME,
    recordName: RECORD_NAME,
    schedule: undefined,
    defaults: { pollIntervalSeconds: 1, blueRetentionSeconds: 2, checkWindowSeconds: 10, checkEveryMs: 20 },
  });
}

export async function runRehearsal(options: RehearsalOptions): Promise<RehearsalReport> {
  const log = options.log ?? (() => undefined);
  const startedAt = new Date();
  const workdir = path.resolve(options.workdir);
  fs.mkdirSync(workdir, { recursive: true });
  const from = options.from ?? DEFAULT_FROM;
  const to = options.to ?? DEFAULT_TO;
  const input = rehearsalInput(options);
  const reportFile = path.resolve(options.reportFile ?? path.join(workdir, 'report.json'));
  const mode: RehearsalReport['mode'] = input['mode'] === 'online' ? 'online' : 'offline';
  const failbackRequested = input['failback'] === true;
  const replicates = mode === 'online' || failbackRequested;

  let cloud: LocalCloud | undefined;
  let load: LoadGenerator | undefined;
  let approvals: ApprovalServer | undefined;
  let lag: LagSampler | undefined;
  /** When the rehearsal decided "fail back" over HTTP (epoch ms). */
  let failbackDecidedAt: number | undefined;
  let kept: RehearsalReport['kept'];
  try {
    log(`work folder ${workdir} (server logs go there)`);
    cloud = await createLocalCloud({
      workdir,
      accessSecurityGroupId: ACCESS_SG,
      adminSecurityGroupId: ADMIN_SG,
      hostedZoneId: ZONE_ID,
      recordName: RECORD_NAME,
      migrationsDir: migrationsDirFor({ ...options, mode, failback: failbackRequested }),
      ...(options.operationDelayMs !== undefined ? { operationDelayMs: options.operationDelayMs } : {}),
      ...(options.restorableLagMs !== undefined ? { restorableLagMs: options.restorableLagMs } : {}),
      ...(options.upgradeFails ? { upgradeFails: true } : {}),
      onNotify: (subject) => log(`notification: ${subject}`),
    });
    const major = majorOf(to);
    // Blue's cluster parameter group has logical replication on (online mode and failback need
    // it), and so has the one a major upgrade moves green to.
    for (const m of new Set([majorOf(from), major])) {
      cloud.addParameterGroup('cluster', `app-pg${m}-cluster`, `aurora-postgresql${m}`, {
        'rds.logical_replication': '1',
      });
    }
    cloud.addParameterGroup('instance', `app-pg${major}-instance`, `aurora-postgresql${major}`);
    log(`starting blue ${BLUE_ID}: PostgreSQL ${from}, a writer and a streaming reader`);
    await cloud.createBlue({
      id: BLUE_ID,
      engineVersion: from,
      readers: 1,
      schemaSql: sampleSchemaSql(),
      // A replicating run's blue has what Preflight asks for: no unlogged table, no large object.
      seedSql: replicates ? `${sampleSeedSql()}\n${sampleReplicationReadySql()}` : sampleSeedSql(),
      securityGroupIds: [ACCESS_SG, ADMIN_SG],
      clusterParameterGroupName: `app-pg${majorOf(from)}-cluster`,
      // Above the input's cutover TTL, so the run lowers it and waits the old TTL out, as in AWS.
      cnameTtl: options.blueCnameTtlSeconds ?? 3,
    });
    const blueWriterPort = cloud.writerAddress(BLUE_ID)?.port;

    const taskTokens = new LocalTaskTokens();
    approvals = await startApprovalServer({ decisions: taskTokens });
    const approvalMode = options.approval ?? 'manual';
    const server = approvals;
    const approvalsPort: Approvals = {
      async store(record) {
        const { url } = await server.approvals.store(record);
        if (record.evidence['kind'] === 'failback') {
          // The failback offer (RetainBlueForFailback): with --failback, decide "fail back" over
          // HTTP once the application has written on green for a while, so blue has to follow.
          log(`failback offered: open ${url}`);
          if (failbackRequested) {
            setTimeout(() => {
              failbackDecidedAt = Date.now();
              void submitDecision(url, 'failback', 'failed back by the rehearsal (--failback)').then(
                (r) => log(`failback decided over HTTP (${r.status})`),
                (e: unknown) => log(`failback submission failed: ${String(e)}`),
              );
            }, options.failbackAfterMs ?? 3000);
          }
          return { url };
        }
        log(`approval requested: open ${url}`);
        if (approvalMode !== 'manual') {
          setTimeout(() => {
            void submitDecision(
              url,
              approvalMode === 'auto-approve' ? 'approve' : 'reject',
              options.rejectReason ?? 'rejected by the rehearsal (--reject)',
            ).then(
              (r) =>
                log(`approval ${approvalMode === 'auto-approve' ? 'approved' : 'rejected'} over HTTP (${r.status})`),
              (e: unknown) => log(`approval submission failed: ${String(e)}`),
            );
          }, 300);
        } else {
          log(
            'waiting for you: open that link in a browser and Approve or Reject (no decision in 15 minutes rolls back; --auto-approve decides for you)',
          );
        }
        return { url };
      },
    };

    // Synthesize before the load starts: synth holds this process's event loop for a second or
    // more, which the load (in the same process) would record as a gap in the application's writes.
    const t0 = Date.now();
    const { deployment: definition, recovery: recoveryDefinition } = rehearsalDefinitions();
    log(`synthesized the stack in-process (${Date.now() - t0} ms): ${Object.keys(definition.States).length} states`);

    const cname = cloud.cname();
    const rate = options.loadRate ?? 50;
    const localCloud = cloud;
    const blueWriter = cloud.writerAddress(BLUE_ID);
    const clients: LoadClients = {
      // One sticky connection per 100 writes/s: one connection's round trips cap its rate.
      poolSize: Math.min(5, Math.max(1, Math.ceil(rate / 100))),
      sequenceIds: true,
      spanningTransaction: true,
      idleInTransaction: { idleMs: 1500 },
      ...(options.hostile && blueWriter ? { adminPath: blueWriter, replication: blueWriter } : {}),
    };
    load = startLoad({
      host: cname.host,
      port: cname.port,
      // The application's resolver caches the CNAME's answer for its TTL, as real ones do.
      resolve: () => localCloud.resolveCname(),
      ratePerSecond: rate,
      clients,
      logFile: path.join(workdir, 'writes.jsonl'),
    });
    log(
      `load: ${rate} writes/s through ${RECORD_NAME} (${cname.host}:${cname.port}) on ${clients.poolSize} sticky connection(s), a spanning transaction, an idle-in-transaction session, sequence ids${options.hostile ? '; ROGUE: an admin-path writer with read-only off and a replication-mode writer on blue' : ''}`,
    );
    const appLoad = load;
    lag = startLagSampler({
      acknowledged: () => appLoad.acknowledged(),
      follow: replicationFollower(localCloud, mode, failbackRequested),
    });
    await sleep(1000);

    const ports: Ports = {
      clusters: cloud.clusters,
      network: cloud.network,
      dns: cloud.dns,
      database: cloud.database,
      migrations: cloud.migrations,
      approvals: approvalsPort,
      notifier: cloud.notifier,
      approvers: cloud.approvers,
      lock: cloud.lock,
      executions: cloud.executions,
      clock: cloud.clock,
    };

    const progress = progressPrinter(
      log,
      load,
      () => fenceStart,
      () => downtimeEnd,
    );
    let fenceStart: number | undefined;
    let downtimeEnd: number | undefined;
    let upgradeSeen: UpgradeSeen | undefined;
    const stepOverrides: Partial<Record<StepId, StepFunction>> = {};
    if (options.unsafeSkipFence) stepOverrides['fence-writes'] = bareFenceRow;
    if (options.beforeState) {
      const hook = options.beforeState;
      const spec = TASK_LIST.find((t) => t.state === hook.state);
      if (!spec) throw new Error(`beforeState: ${hook.state} is not a task state of the definition`);
      if (!blueWriter) throw new Error(`beforeState: blue ${BLUE_ID} has no writer`);
      const stepId = spec.step as StepId;
      const step = stepOverrides[stepId] ?? STEPS[stepId];
      if (!step) throw new Error(`beforeState: no step is registered for ${hook.state}`);
      const endpoints: RehearsalEndpoints = { blueWriter, cname: { host: cname.host, port: cname.port } };
      let ran = false;
      stepOverrides[stepId] = async (event, stepPorts) => {
        if (!ran) {
          ran = true;
          log(`test hook: before ${hook.state}`);
          await hook.run(endpoints);
        }
        return step(event, stepPorts);
      };
    }
    const onEvent = (event: EventLog): void => {
      if (event.type === 'StateEntered' && (FREEZE_STATES as readonly string[]).includes(event.state?.name ?? '')) {
        fenceStart ??= event.timestamp;
      }
      // The clock stops when green serves (CNAME in sync) or blue is given back (rollback done).
      if (
        event.type === 'StateEntered' &&
        (event.state?.name === 'RetainBlue' || event.state?.name === 'ReleaseLock')
      ) {
        downtimeEnd ??= event.timestamp;
      }
      if (event.type === 'StateEntered' && event.state?.name === 'PostUpgrade' && cloud) {
        // A dry run deletes green afterwards: remember how it was upgraded while it exists.
        upgradeSeen ??= cloud.describeState().clusters.find((c) => c.upgrade)?.upgrade;
      }
      progress(event);
    };
    const outcome = await executeDefinition({
      definition,
      ports,
      input,
      executionName: `rehearsal-${startedAt.toISOString().replace(/[:.]/g, '-')}`,
      taskTokens,
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.crashAfter ? { crashAfter: options.crashAfter } : {}),
      ...(options.abortAt ? { abortAt: options.abortAt } : {}),
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      stepOverrides,
      onEvent,
    });
    if (outcome.status === 'ABORTED') log(`execution stopped as ${options.abortAt} started: no Catch runs`);
    // What the EventBridge rule does when an execution ends ABORTED, TIMED_OUT or FAILED.
    const recovery = await runRecovery({
      recovery: recoveryDefinition,
      ports: { ...ports, executions: cloud.executions },
      ended: outcome,
      taskTokens,
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      onEvent,
    });
    // Let the application reconnect and write on whatever the CNAME now leads to: at least
    // 1.5 s, until every sticky connection writes again or 10 s have passed.
    const executionEnded = Date.now();
    await sleep(1500);
    while (!load.poolResumedSince(executionEnded) && Date.now() - executionEnded < 10_000) await sleep(100);
    const resumed = load.poolResumedSince(executionEnded);
    await load.stop();
    await lag.stop();

    const report = await buildReport({
      upgradeSeen,
      outcome,
      recovery,
      cloud,
      load,
      blueWriterPort,
      from,
      to,
      dryRun: Boolean((input as { dryRun?: boolean }).dryRun),
      mode,
      failbackRequested,
      ...(failbackDecidedAt !== undefined ? { failbackDecidedAt } : {}),
      replicationLag: lag.samples(),
      startedAt,
      workdir,
      reportFile,
      resumed,
    });
    if (options.keep) {
      const k = cloud.keep();
      kept = {
        servers: k.servers.map((s) => ({ clusterId: s.clusterId, role: s.role, connect: s.connect, stop: s.stop })),
        stopAll: k.stopAll,
        note: k.note,
      };
      report.kept = kept;
    }
    fs.mkdirSync(path.dirname(reportFile), { recursive: true });
    fs.writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(report.htmlFile, renderReportHtml(report));
    return report;
  } finally {
    await lag?.stop().catch(() => undefined);
    await load?.stop().catch(() => undefined);
    await approvals?.close().catch(() => undefined);
    await cloud?.stopAll().catch(() => undefined);
  }
}

/**
 * The replication the lag sampler watches now: blue to green in online mode until the CNAME leads
 * to green; then, for failback, green back to blue while the CNAME leads to green; nothing after
 * a failback (green is fenced then and left alone). Each follower is read on its own writer's
 * address; the sampler itself checks that a subscription is enabled there.
 */
export function replicationFollower(
  cloud: Pick<LocalCloud, 'describeState' | 'writerAddress'>,
  mode: RehearsalReport['mode'],
  failback: boolean,
): () => Followed | undefined {
  let cutOver = false;
  return () => {
    const state = cloud.describeState();
    const green = state.clusters.find((c) => c.id !== BLUE_ID && c.status !== 'deleting');
    if (!green) return undefined;
    const onGreen = state.cname.targetClusterId === green.id;
    cutOver ||= onGreen;
    const blueWriter = cloud.writerAddress(BLUE_ID);
    const greenWriter = cloud.writerAddress(green.id);
    if (!blueWriter || !greenWriter) return undefined;
    if (onGreen) {
      return failback ? { direction: 'green-to-blue', sourcePort: greenWriter.port, follower: blueWriter } : undefined;
    }
    return mode === 'online' && !cutOver
      ? { direction: 'blue-to-green', sourcePort: blueWriter.port, follower: greenWriter }
      : undefined;
  };
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * TEST ONLY (`unsafeSkipFence`): writes the fence row and nothing else, as a deployment that
 * trusted the security group alone would. Established connections keep writing to blue.
 */
const bareFenceRow: StepFunction = async (event, ports) => {
  const doc = event as ExecutionDocument;
  const blue = doc.blue;
  if (!blue) throw new Error('no blue');
  const session = await ports.database.connect(
    { clusterId: blue.id, host: blue.endpoint, port: blue.port },
    'postgres',
  );
  try {
    await session.query('CREATE SCHEMA IF NOT EXISTS bluegreen');
    await session.query(
      'CREATE TABLE IF NOT EXISTS bluegreen.fence (execution_id text PRIMARY KEY, lsn pg_lsn, fenced_at timestamptz, databases text[], changed_databases text[], terminated_sessions int)',
    );
    const r = await session.query<{ lsn: string; fenced_at: Date }>(
      `INSERT INTO bluegreen.fence (execution_id, lsn, fenced_at, databases, changed_databases, terminated_sessions)
       VALUES ($1, pg_current_wal_lsn(), clock_timestamp(), '{}', '{}', 0)
       ON CONFLICT (execution_id) DO UPDATE SET execution_id = EXCLUDED.execution_id RETURNING lsn::text, fenced_at`,
      [doc.input.executionId],
    );
    // The write proof as the real fence records it, so that CheckFenceHeld still looks.
    const target = { clusterId: blue.id, host: blue.endpoint, port: blue.port };
    const proof = await recordProof(ports.database, target, await userDatabases(session));
    await session.query('ALTER TABLE bluegreen.fence ADD COLUMN IF NOT EXISTS proof jsonb');
    await session.query('UPDATE bluegreen.fence SET proof = $2 WHERE execution_id = $1', [
      doc.input.executionId,
      JSON.stringify(proof),
    ]);
    const row = r.rows[0];
    return {
      fencedAt: new Date(row?.fenced_at ?? Date.now()).toISOString(),
      lsn: row?.lsn ?? '0/0',
      databases: [],
      changedDatabases: [],
      terminatedSessions: 0,
    };
  } finally {
    await session.close();
  }
};

function progressPrinter(
  log: (line: string) => void,
  load: LoadGenerator,
  fenceStart: () => number | undefined,
  downtimeEnd: () => number | undefined,
) {
  const t0 = Date.now();
  const entered = new Map<string, number>();
  const rate = () => {
    const series = load.stats().series;
    const last = series.at(-2) ?? series.at(-1);
    return last ? last.acknowledged : 0;
  };
  const clock = () => {
    const f = fenceStart();
    if (!f) return '';
    const end = downtimeEnd();
    return ` | downtime ${(((end ?? Date.now()) - f) / 1000).toFixed(1)} s${end ? ' (over)' : ''}`;
  };
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`;
  return (event: EventLog) => {
    const name = event.state?.name;
    if (!name || event.state?.type === 'Choice') return;
    const quiet = /^(WaitFor|Check)/.test(name);
    if (event.type === 'StateEntered') {
      entered.set(name, event.timestamp);
      if (!quiet) log(`${elapsed()}  ▶ ${name}  | ${rate()} writes/s${clock()}`);
    } else if (event.type === 'StateExited' && !quiet) {
      const ms = event.timestamp - (entered.get(name) ?? event.timestamp);
      log(`${elapsed()}  ✔ ${name} (${ms} ms)  | ${rate()} writes/s${clock()}`);
    } else if (event.type === 'StateRetried') {
      log(`${elapsed()}  ↻ ${name} retried`);
    } else if (event.type === 'StateFailed' || event.type === 'StateCaught') {
      const err = event.Error ? `: ${event.Error}` : '';
      log(`${elapsed()}  ✖ ${name} ${event.type === 'StateCaught' ? 'failed, caught' : 'failed'}${err}`);
    }
  };
}

type UpgradeSeen = { method: string; description: string };

export interface BuildReportArgs {
  upgradeSeen: UpgradeSeen | undefined;
  outcome: ExecutionOutcome;
  /** The recovery state machine's run, when the rule started one. */
  recovery: ExecutionOutcome | undefined;
  cloud: LocalCloud;
  load: LoadGenerator;
  blueWriterPort: number | undefined;
  from: string;
  to: string;
  dryRun: boolean;
  /** The input's mode. @default 'offline' */
  mode?: RehearsalReport['mode'];
  /** The input asked for failback. @default false */
  failbackRequested?: boolean;
  /** When the rehearsal decided "fail back" over HTTP (epoch ms). */
  failbackDecidedAt?: number;
  /** The lag sampler's samples. @default none */
  replicationLag?: LagSample[];
  startedAt: Date;
  workdir: string;
  reportFile: string;
  resumed: boolean;
}

export async function buildReport(a: BuildReportArgs): Promise<RehearsalReport> {
  const { outcome, cloud, load } = a;
  const state = cloud.describeState();
  const lastDoc = (outcome.output ??
    [...outcome.taskInputs].reverse().find((t) => (t.input as ExecutionDocument | undefined)?.input)?.input) as
    (ExecutionDocument & Record<string, unknown>) | undefined;
  const docOf = (t: { input: unknown }) => t.input as ExecutionDocument & Record<string, unknown>;
  const finalDoc =
    lastDoc ?? (outcome.taskInputs.at(-1) ? docOf(outcome.taskInputs.at(-1) as { input: unknown }) : undefined);

  // Phases: every task or RetainBlue with the poll loop that follows it (Wait/Check/Is…Done),
  // so each phase spans from its start to the start of the next: that is where the time went.
  const loopState = /^(WaitFor|Check|Is|Outcome$)/;
  const phases: RehearsalReport['phases'] = [];
  let lastEnd: string | undefined;
  for (const e of outcome.events) {
    const name = e.state?.name;
    if (!name || e.state?.type === 'Choice' || loopState.test(name)) {
      if (name && (e.type === 'StateExited' || e.type === 'StateFailed')) lastEnd = new Date(e.timestamp).toISOString();
      continue;
    }
    if (e.type === 'StateEntered') {
      const at = new Date(e.timestamp).toISOString();
      const previous = phases.at(-1);
      if (previous && !previous.endedAt) previous.endedAt = at;
      phases.push({ state: name, startedAt: at, attempts: outcome.attempts[name] ?? 1 });
    } else if (e.type === 'StateExited' || e.type === 'StateFailed') {
      lastEnd = new Date(e.timestamp).toISOString();
    }
  }
  const finalPhase = phases.at(-1);
  if (finalPhase && !finalPhase.endedAt) finalPhase.endedAt = lastEnd ?? finalPhase.startedAt;

  const failureReportOf = (run: ExecutionOutcome | undefined) =>
    run?.events
      .filter((e) => e.type === 'StateExited' && e.state?.name === 'ReportFailure')
      .map((e) => (e.state?.output as { failureReport?: { outcome?: string } } | undefined)?.failureReport)
      .at(-1);
  const failureReport = failureReportOf(outcome);
  // Where the CNAME leads now. A successful deployment that ends with it on blue failed back.
  const targetClusterId = state.cname.targetClusterId ?? null;
  // The workflow says it failed back (`$.failback`: the CNAME swap back) and the CNAME is on blue.
  const failedBack =
    outcome.status === 'SUCCEEDED' &&
    Boolean(a.failbackRequested) &&
    isRecord(finalDoc?.['failback']) &&
    targetClusterId === BLUE_ID;
  const status: RehearsalReport['status'] =
    outcome.status === 'SUCCEEDED'
      ? failedBack
        ? 'FAILED_BACK'
        : 'SUCCEEDED'
      : outcome.status === 'ABORTED'
        ? 'ABORTED'
        : failureReport?.outcome === 'ROLLED_BACK'
          ? 'ROLLED_BACK'
          : 'FAILED';
  const recoveryRead = a.recovery?.events.find(
    (e) => e.type === 'StateExited' && e.state?.name === 'ReadStoppedExecution',
  )?.state?.output as { recovery?: { action?: string } } | undefined;
  const recovery: RehearsalReport['recovery'] = a.recovery
    ? {
        action: recoveryRead?.recovery?.action ?? 'unknown',
        status: a.recovery.status,
        ...(failureReportOf(a.recovery)?.outcome ? { outcome: failureReportOf(a.recovery)?.outcome } : {}),
      }
    : undefined;

  // Whether every acknowledged write is behind the CNAME (after a failback: on blue).
  const behind = targetClusterId ? cloud.writerAddress(targetClusterId) : undefined;
  const acked = load.acknowledged();
  let present = 0;
  let lostIds: number[] = acked.map((w) => w.id);
  if (behind) {
    const verified = await load.verify({ host: behind.host, port: behind.port });
    present = verified.present;
    lostIds = verified.missing;
  }

  // Application-observed downtime: the last write acknowledged before the block, to the first
  // acknowledged on green (after a rollback: on blue again).
  // What the application saw through the CNAME: the rogue clients (--hostile) bypass it.
  const throughCname = acked.filter((w) => !ROGUE_CLIENTS.has(w.client));
  const blueAcks = throughCname.filter((w) => w.serverPort === a.blueWriterPort);
  const greenAcks = throughCname.filter((w) => w.serverPort !== a.blueWriterPort);
  const stats = load.stats();
  let downtimeMs: number | null = null;
  let window: { from: number; to: number } | undefined;
  if (greenAcks.length && blueAcks.length) {
    const firstGreen = Date.parse(greenAcks[0]?.at ?? '');
    const lastBlue = Math.max(...blueAcks.map((w) => Date.parse(w.at)).filter((t) => t <= firstGreen));
    window = { from: lastBlue, to: firstGreen };
  } else if (!a.dryRun) {
    let gap: { from: number; to: number } | undefined;
    for (let i = 1; i < throughCname.length; i++) {
      const from = Date.parse(throughCname[i - 1]?.at ?? '');
      const to = Date.parse(throughCname[i]?.at ?? '');
      if (to - from > 1000 && (!gap || to - from > gap.to - gap.from)) gap = { from, to };
    }
    window = gap;
  }
  if (window) downtimeMs = window.to - window.from;

  // The write freezes the application saw: across the switchover, and across the failback (from
  // the decision to the end of the run).
  const ackTimes = throughCname.map((w) => Date.parse(w.at));
  const observedUntil = stats.stoppedAt ? Date.parse(stats.stoppedAt) : Date.now();
  const switchover = a.dryRun ? null : switchoverWindow(outcome.events);
  const switchoverFreeze = writeFreeze(ackTimes, switchover, observedUntil);
  const failback = failbackWindow(outcome.events, a.failbackDecidedAt ?? failbackDecidedAtOf(finalDoc));
  const failbackFreeze = writeFreeze(ackTimes, failback, observedUntil);
  const iso = (w: Interval | null) =>
    w ? { from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString() } : null;
  const rejectedDuringDowntime = window
    ? load.rejected().filter((r) => Date.parse(r.at) >= (window?.from ?? 0) && Date.parse(r.at) <= (window?.to ?? 0))
        .length
    : 0;

  // Time the local operations themselves took inside the downtime: clone, instances, upgrade,
  // migrations, replicas, smoke tests and the approval (states that do work, not orchestration).
  const workStates = new Set([
    'FenceWrites',
    'CheckFenceHeld',
    'VerifyClone',
    'ApplySql',
    'PostUpgrade',
    'SmokeTest',
    'RequestApproval',
  ]);
  // The union of their intervals (operations nest and overlap: a clone's copy runs inside the
  // clone), clipped to the downtime window: what is left of the downtime is orchestration.
  const intervals: [number, number][] = [];
  const entered = new Map<string, number>();
  for (const e of outcome.events) {
    const name = e.state?.name;
    if (!name || !workStates.has(name)) continue;
    if (e.type === 'StateEntered') entered.set(name, e.timestamp);
    if ((e.type === 'StateExited' || e.type === 'StateFailed') && entered.has(name)) {
      intervals.push([entered.get(name) ?? e.timestamp, e.timestamp]);
      entered.delete(name);
    }
  }
  for (const op of cloud.operations()) {
    if (op.endedAt) intervals.push([Date.parse(op.startedAt), Date.parse(op.endedAt)]);
  }
  // The modelled LatestRestorableTime lag: blue is restorable past the fence only this long after
  // it. That wait is AWS's (modelled), not orchestration, so it counts with the operations.
  const fencedAt = finalDoc?.fence ? Date.parse(finalDoc.fence.fencedAt) : Number.NaN;
  if (Number.isFinite(fencedAt)) intervals.push([fencedAt, fencedAt + cloud.restorableLagMs]);
  const operationsMs = unionMs(intervals, window);

  const greenKept = state.clusters.find((c) => c.id !== BLUE_ID && c.status !== 'deleting');
  const blueFinal = !behind
    ? { from: 'none' as const, rows: 0, leaked: [] }
    : failedBack && greenKept
      ? await greenLeaks(cloud, greenKept.id, behind)
      : await blueLeaks(cloud, behind, a.workdir);
  const leaked = blueFinal.leaked;
  const leakedByTable: Record<string, number[]> = {};
  for (const row of leaked) (leakedByTable[row.table] ??= []).push(row.id);
  for (const table of Object.keys(leakedByTable)) leakedByTable[table] = leakedByTable[table]?.slice(0, 50) ?? [];

  const blueCluster = state.clusters.find((c) => c.id === BLUE_ID);
  const blueState = blueCluster ? await probeBlue(cloud) : 'deleted';
  const green = state.clusters.find((c) => c.id !== BLUE_ID && c.status !== 'deleting');
  const upgraded = state.clusters.find((c) => c.upgrade)?.upgrade ?? a.upgradeSeen;
  const snapshot = state.snapshots.find((s) => s.clusterId === BLUE_ID);
  const cnameWait = cnameDowntimeOf(finalDoc);
  const endedAt = new Date();
  return {
    status,
    ...(outcome.error
      ? {
          error: {
            name: outcome.error.name,
            cause: causeText(outcome.error.cause),
            ...(failedState(outcome, outcome.error.name) ? { state: failedState(outcome, outcome.error.name) } : {}),
          },
        }
      : {}),
    ...(recovery ? { recovery } : {}),
    lock: { held: cloud.lock.holder(BLUE_ID) !== undefined },
    dryRun: a.dryRun,
    mode: a.mode ?? 'offline',
    from: a.from,
    to: a.to,
    upgradeMethod: upgraded?.method ?? 'none',
    ...(upgraded?.description ? { upgradeNote: upgraded.description } : {}),
    phases,
    downtimeMs,
    ...(a.dryRun ? dryRunEstimate(phases) : {}),
    fenceToInSyncMs: cnameWait ?? null,
    writeFreezeMs: switchoverFreeze?.ms ?? null,
    replicationLagMs: a.replicationLag ?? [],
    failback: a.failbackRequested
      ? { done: failedBack, freezeMs: failedBack ? (failbackFreeze?.ms ?? null) : null }
      : null,
    freezeWindows: {
      switchover: iso(switchoverFreeze),
      failback: failedBack ? iso(failbackFreeze) : null,
    },
    downtimeWindow: window
      ? { from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() }
      : null,
    operationsMs: Math.round(operationsMs),
    writes: {
      acknowledged: acked.length,
      acknowledgedOnGreen: greenAcks.length,
      presentBehindCname: present,
      lost: lostIds.length,
      leaked: leaked.length,
      blueFinal: { from: blueFinal.from, rows: blueFinal.rows },
      sessions: stats.sessions,
      resumed: a.resumed,
      rejectedDuringDowntime,
    },
    lostWriteIds: lostIds.slice(0, 50),
    leakedRows: leakedByTable,
    unlogged: {
      tables: Array.isArray(finalDoc?.fence?.unloggedTables) ? finalDoc.fence.unloggedTables : [],
      note: 'Aurora keeps the rows of unlogged tables in a clone (it copies storage). The local clone is a base backup, and PostgreSQL empties unlogged tables when the copy recovers, so green starts with them empty here.',
    },
    migrationsApplied: appliedMigrationsOf(finalDoc),
    blue: { state: blueState, ...(snapshot ? { finalSnapshot: snapshot.dir } : {}) },
    green: green ? { id: green.id, engineVersion: green.engineVersion } : null,
    cname: { target: targetClusterId },
    writesPerSecond: stats.series.map((s) => ({
      second: s.second,
      at: s.startedAt,
      acknowledged: s.acknowledged,
      rejected: s.rejected,
    })),
    notifications: cloud.notifier.messages.map((m) => ({ subject: m.subject, at: m.at })),
    operations: cloud.operations().map((o) => ({
      operation: o.operation,
      resource: o.resource,
      ms: o.ms ?? null,
      ...(o.error ? { error: o.error } : {}),
    })),
    modelled: cloud.modelled(),
    startedAt: a.startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    totalMs: endedAt.getTime() - a.startedAt.getTime(),
    workdir: a.workdir,
    reportFile: a.reportFile,
    htmlFile: a.reportFile.replace(/\.json$/, '') + '.html',
  };
}

/**
 * The document the report reads may be the raw execution input that ValidateInput refused (its
 * Catch keeps the input as it came and adds `$.error`): a key there can have any shape, so each
 * fact is read only when it has the shape of the validated document.
 */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function appliedMigrationsOf(doc: unknown): string[] {
  const migrations = isRecord(doc) ? doc['migrations'] : undefined;
  const applied = isRecord(migrations) ? migrations['applied'] : undefined;
  if (!Array.isArray(applied)) return [];
  return applied.flatMap((m: unknown) => (isRecord(m) && typeof m['name'] === 'string' ? [m['name']] : []));
}

/** When the failback page's decision was taken (`$.failbackDecision.decidedAt`), as epoch ms. */
function failbackDecidedAtOf(doc: unknown): number | undefined {
  const decision = isRecord(doc) ? doc['failbackDecision'] : undefined;
  const at = isRecord(decision) ? decision['decidedAt'] : undefined;
  const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function cnameDowntimeOf(doc: unknown): number | undefined {
  const wait = isRecord(doc) ? doc['wait'] : undefined;
  const cname = isRecord(wait) ? wait['cname'] : undefined;
  const ms = isRecord(cname) ? cname['downtimeMs'] : undefined;
  return typeof ms === 'number' ? ms : undefined;
}

/** Total length of the union of intervals, clipped to `window` when there is one. */
export function unionMs(intervals: [number, number][], window?: { from: number; to: number }): number {
  const clipped = intervals
    .map(([s, e]): [number, number] => (window ? [Math.max(s, window.from), Math.min(e, window.to)] : [s, e]))
    .filter(([s, e]) => e > s)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let current: [number, number] | undefined;
  for (const [s, e] of clipped) {
    if (current && s <= current[1]) current[1] = Math.max(current[1], e);
    else {
      if (current) total += current[1] - current[0];
      current = [s, e];
    }
  }
  if (current) total += current[1] - current[0];
  return total;
}

function dryRunEstimate(phases: RehearsalReport['phases']): { dryRunDowntimeEstimateMs?: number } {
  const start = phases.find((p) => p.state === 'CreateClone')?.startedAt;
  const end = phases.find((p) => p.state === 'SmokeTest')?.endedAt;
  return start && end ? { dryRunDowntimeEstimateMs: Date.parse(end) - Date.parse(start) } : {};
}

/** The first task state that failed with `name` (retried or caught), if one did. */
function failedState(outcome: ExecutionOutcome, name: string): string | undefined {
  return outcome.events.find(
    (e) => (e.type === 'StateFailed' || e.type === 'StateCaught') && e.state?.type === 'Task' && e.Error === name,
  )?.state?.name;
}

function causeText(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}

/** Is blue writable for a new application session? Asked of the server itself. */
async function probeBlue(cloud: LocalCloud): Promise<'fenced' | 'writable' | 'unreachable'> {
  const address = cloud.writerAddress(BLUE_ID);
  if (!address) return 'unreachable';
  const client = new Client({
    host: address.host,
    port: address.port,
    user: SUPERUSER.username,
    password: SUPERUSER.password,
    database: 'app',
    application_name: 'rehearsal-probe',
  });
  try {
    await client.connect();
    const r = await client.query<{ ro: string }>(`select current_setting('default_transaction_read_only') as ro`);
    return r.rows[0]?.ro === 'on' ? 'fenced' : 'writable';
  } catch {
    return 'unreachable';
  } finally {
    await client.end().catch(() => undefined);
  }
}

const ROGUE_CLIENTS = new Set(['admin-path', 'replication']);
const APP_DB = { database: 'app', user: SUPERUSER.username, password: SUPERUSER.password };

/** After a failback: rows of the load's tables on green (kept, still running) that are not on blue. */
async function greenLeaks(
  cloud: LocalCloud,
  greenId: string,
  behind: { host: string; port: number },
): Promise<{ from: 'green writer' | 'none'; rows: number; leaked: { table: string; id: number }[] }> {
  const live = cloud.writerAddress(greenId);
  if (!live) return { from: 'none', rows: 0, leaked: [] };
  return { from: 'green writer', ...(await leakedRows({ ...live, ...APP_DB }, { ...behind, ...APP_DB })) };
}

/**
 * Rows of the load's tables on blue's final state that are not behind the CNAME: blue's writer
 * when it still runs, else its final snapshot, started on a scratch copy.
 */
async function blueLeaks(
  cloud: LocalCloud,
  behind: { host: string; port: number },
  workdir: string,
): Promise<{ from: 'writer' | 'final snapshot' | 'none'; rows: number; leaked: { table: string; id: number }[] }> {
  const live = cloud.writerAddress(BLUE_ID);
  if (live) return { from: 'writer', ...(await leakedRows({ ...live, ...APP_DB }, { ...behind, ...APP_DB })) };
  const snapshot = cloud.describeState().snapshots.find((s) => s.clusterId === BLUE_ID && s.status === 'available');
  if (!snapshot) return { from: 'none', rows: 0, leaked: [] };
  const dataDir = path.join(workdir, 'scratch', 'blue-final');
  await copyStoppedDataDir(snapshot.dir, dataDir);
  const server = new PgServer({
    dataDir,
    port: await freePort(),
    engineVersion: snapshot.engineVersion,
    logFile: path.join(workdir, 'logs', 'blue-final.log'),
  });
  await server.start();
  try {
    return {
      from: 'final snapshot',
      ...(await leakedRows({ host: '127.0.0.1', port: server.port, ...APP_DB }, { ...behind, ...APP_DB })),
    };
  } finally {
    await server.stop('immediate').catch(() => undefined);
    await fs.promises.rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
