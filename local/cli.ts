import './polyfills';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { isWorkflowErrorName } from '../lambdas/domain/errors';
import { TASKS } from '../lambdas/steps/catalog';
import { stopAllServersSync } from './postgres';
import { installedEngineVersions, knownEngineVersions } from './postgres/binaries';
import {
  DEFAULT_FROM,
  DEFAULT_TO,
  defaultInput,
  FAILBACK_RETENTION_SECONDS,
  runRehearsal,
  type ApprovalMode,
  type RehearsalReport,
} from './rehearsal';
import type { Fault } from './workflow/execute';

/** The usage text, with the PostgreSQL versions this machine can rehearse. */
export function usage(installed: string[] = installedEngineVersions()): string {
  return `${USAGE}

PostgreSQL versions that can be rehearsed here: ${installed.join(', ') || 'none (run npm ci)'}.`;
}

export const USAGE = `Usage: npm run rehearse -- [options]

Runs a complete blue/green deployment locally: blue on real PostgreSQL, a live write load
through the CNAME, the synthesized state machine with the real step code, and a report.

  --migrations DIR        SQL migration set (default: local/sample/migrations); with
                          another set, only the smoke tests that hold for any set run
  --from VERSION          blue's PostgreSQL version (default ${DEFAULT_FROM})
  --to VERSION            target version (default ${DEFAULT_TO}); a new major uses the best
                          real method found on this machine (pg_upgrade, or dump and restore)
  --input FILE            replaces the default execution input (JSON)
  --print-input           prints the default execution input and exits
  --auto-approve          approves over HTTP, as a person would with the emailed link
  --reject REASON         rejects over HTTP with REASON; without either, waits for you
  --load-rate N           application writes per second (default 50; up to 500 on 2 cores)
  --hostile               adds rogue clients that write on blue past the fence (an admin-path
                          job with read-only off, a replication-mode connection): the run must
                          roll back with WritesAfterFence, nothing lost or leaked
  --fault STATE=ERROR[:COUNT]
                          that state's step fails COUNT times (default: every time) with ERROR:
                          an AWS error code (ThrottlingException, InvalidDBClusterStateFault, …)
                          or a workflow error name (PreconditionFailed, MigrationFailed, …)
  --crash-after STATE     the step's side effect happens, then the task fails with
                          Sandbox.Timedout like a Lambda out of time (repeatable)
  --abort-after STATE     stops the execution when STATE (a task, or RetainBlue) starts, as
                          "Stop execution" does, then runs the recovery as EventBridge would
  --dry-run               clone, migrate, upgrade and test green without blocking blue
  --mode offline|online   offline (default): blue's writes are blocked from the fence to the
                          CNAME swap; online: logical replication keeps green in step while
                          blue serves, writes freeze only for the switchover
  --failback              replicate green back to blue at cutover, then decide "fail back"
                          over HTTP during blue's retention: the run ends FAILED_BACK, the
                          CNAME on blue, every write on blue
  --retention SECONDS     how long blue is retained after cutover (default 2; with --failback
                          60, the least the input allows; the decision comes before it ends)
  --upgrade-fails         the local cloud fails green's engine upgrade as RDS does (an event,
                          green back to available on the old version): the run rolls back
                          with UpgradeFailed
  --restorable-lag-ms N   how far LatestRestorableTime trails the present (default 2000)
  --workdir DIR           work folder (default .rehearsal/<time>; the last five are kept)
  --report FILE           JSON report (default <workdir>/report.json; HTML beside it)
  --keep                  leave the servers running and print how to reach and stop them
  --version               the tool's version and the PostgreSQL versions it knows
  -h, --help              this text

Paths are relative to the folder you ran npm from.
Exit code: 0 deployed (with --failback: failed back to blue) with no write lost or leaked,
1 rolled back, failed, or a write lost or leaked, 2 bad usage.`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliOptions {
  migrations?: string;
  from?: string;
  to?: string;
  input?: Record<string, unknown>;
  printInput: boolean;
  approval: ApprovalMode;
  rejectReason?: string;
  loadRate: number;
  faults: Fault[];
  crashAfter: string[];
  abortAfter?: string;
  dryRun: boolean;
  /** The input's `mode`, when --mode was given. */
  mode?: 'offline' | 'online';
  failback: boolean;
  /** The input's `blueRetentionSeconds`, when --retention was given. */
  retentionSeconds?: number;
  upgradeFails: boolean;
  hostile: boolean;
  restorableLagMs?: number;
  workdir?: string;
  report?: string;
  keep: boolean;
  help: boolean;
  version: boolean;
}

/** Where the user ran `npm run rehearse` from: npm itself runs scripts in the package root. */
export function callerDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['INIT_CWD'] ?? process.cwd();
}

const VERSION = /^\d+\.\d+$/;
/** The input's bound on blueRetentionSeconds (lambdas/domain/input.ts): one year. */
const MAX_RETENTION_SECONDS = 31_536_000;

/** Parses the command line; every mistake is a UsageError naming the option and the rule. */
export function parseCli(
  argv: string[],
  { cwd = callerDir(), installed = installedEngineVersions() }: { cwd?: string; installed?: string[] } = {},
): CliOptions {
  const fromCaller = (p: string) => path.resolve(cwd, p);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        migrations: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        input: { type: 'string' },
        'print-input': { type: 'boolean' },
        'auto-approve': { type: 'boolean' },
        reject: { type: 'string' },
        'load-rate': { type: 'string' },
        fault: { type: 'string', multiple: true },
        'crash-after': { type: 'string', multiple: true },
        'abort-after': { type: 'string' },
        'dry-run': { type: 'boolean' },
        mode: { type: 'string' },
        failback: { type: 'boolean' },
        retention: { type: 'string' },
        'upgrade-fails': { type: 'boolean' },
        hostile: { type: 'boolean' },
        'restorable-lag-ms': { type: 'string' },
        workdir: { type: 'string' },
        report: { type: 'string' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v['auto-approve'] && v.reject !== undefined)
    throw new UsageError('--auto-approve and --reject exclude each other');
  if (v.reject !== undefined && v.reject.trim() === '') throw new UsageError('--reject: give the reason');
  const unknown: string[] = [];
  for (const [name, value] of [
    ['--from', v.from],
    ['--to', v.to],
  ] as const) {
    if (value === undefined) continue;
    if (!VERSION.test(value)) throw new UsageError(`${name}: a version is MAJOR.MINOR, e.g. 16.14`);
    if (!installed.includes(value)) unknown.push(`${name} ${value}`);
  }
  if (unknown.length) {
    throw new UsageError(
      `${unknown.join(' and ')}: not a version that can be rehearsed here (${installed.join(', ') || 'none installed'}; known: ${knownEngineVersions().join(', ')})`,
    );
  }
  let loadRate = 50;
  if (v['load-rate'] !== undefined) {
    loadRate = Number(v['load-rate']);
    if (!Number.isFinite(loadRate) || loadRate <= 0 || loadRate > 2000) {
      throw new UsageError('--load-rate: a number of writes per second between 1 and 2000');
    }
  }
  let restorableLagMs: number | undefined;
  if (v['restorable-lag-ms'] !== undefined) {
    restorableLagMs = Number(v['restorable-lag-ms']);
    if (!Number.isInteger(restorableLagMs) || restorableLagMs < 0 || restorableLagMs > 600_000) {
      throw new UsageError('--restorable-lag-ms: a whole number of milliseconds between 0 and 600000');
    }
  }
  const mode = v.mode;
  if (mode !== undefined && mode !== 'offline' && mode !== 'online') {
    throw new UsageError(`--mode ${mode}: either offline or online`);
  }
  let retentionSeconds: number | undefined;
  if (v.retention !== undefined) {
    retentionSeconds = Number(v.retention);
    if (!/^\d+$/.test(v.retention) || retentionSeconds > MAX_RETENTION_SECONDS) {
      throw new UsageError(`--retention: a whole number of seconds between 0 and ${MAX_RETENTION_SECONDS}`);
    }
  }
  if (v.failback && v['dry-run'])
    throw new UsageError('--failback and --dry-run exclude each other (a dry run has no cutover)');
  if (v.failback && retentionSeconds !== undefined && retentionSeconds < FAILBACK_RETENTION_SECONDS) {
    throw new UsageError(
      `--retention ${retentionSeconds}: --failback needs at least ${FAILBACK_RETENTION_SECONDS} seconds (failback is offered while blue is retained)`,
    );
  }
  const states = new Set<string>(Object.keys(TASKS));
  const faults = (v.fault ?? []).map((spec) => {
    const m = /^([A-Za-z]+)=([A-Za-z.]+)(?::(\d+))?$/.exec(spec);
    if (!m) throw new UsageError(`--fault ${spec}: expected STATE=ERRORNAME[:COUNT]`);
    const [, state = '', error = '', count] = m;
    if (!states.has(state))
      throw new UsageError(`--fault ${spec}: ${state} is not a task state (${[...states].join(', ')})`);
    if (!/^[A-Z]/.test(error) || (!isWorkflowErrorName(error) && !/^[A-Z][A-Za-z]+(\.[A-Za-z]+)?$/.test(error))) {
      throw new UsageError(`--fault ${spec}: ${error} is neither an AWS error code nor a workflow error name`);
    }
    return { state, error, ...(count ? { count: Number(count) } : {}) };
  });
  const crashAfter = v['crash-after'] ?? [];
  for (const state of crashAfter) {
    if (!states.has(state)) throw new UsageError(`--crash-after ${state}: not a task state`);
  }
  const abortAfter = v['abort-after'];
  if (abortAfter !== undefined && !states.has(abortAfter) && abortAfter !== 'RetainBlue') {
    throw new UsageError(`--abort-after ${abortAfter}: not a task state (nor RetainBlue)`);
  }
  let input: Record<string, unknown> | undefined;
  if (v.input !== undefined) {
    try {
      input = JSON.parse(fs.readFileSync(fromCaller(v.input), 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--input ${v.input}: ${(error as Error).message}`);
    }
  }
  if (v.migrations !== undefined && !fs.existsSync(fromCaller(v.migrations))) {
    throw new UsageError(`--migrations ${v.migrations}: no such folder (${fromCaller(v.migrations)})`);
  }
  return {
    ...(v.migrations !== undefined ? { migrations: fromCaller(v.migrations) } : {}),
    ...(v.from !== undefined ? { from: v.from } : {}),
    ...(v.to !== undefined ? { to: v.to } : {}),
    ...(input ? { input } : {}),
    printInput: Boolean(v['print-input']),
    approval: v['auto-approve'] ? 'auto-approve' : v.reject !== undefined ? 'reject' : 'manual',
    ...(v.reject !== undefined ? { rejectReason: v.reject } : {}),
    loadRate,
    faults,
    crashAfter,
    ...(abortAfter !== undefined ? { abortAfter } : {}),
    dryRun: Boolean(v['dry-run']),
    ...(mode !== undefined ? { mode } : {}),
    failback: Boolean(v.failback),
    ...(retentionSeconds !== undefined ? { retentionSeconds } : {}),
    upgradeFails: Boolean(v['upgrade-fails']),
    hostile: Boolean(v.hostile),
    ...(restorableLagMs !== undefined ? { restorableLagMs } : {}),
    ...(v.workdir !== undefined ? { workdir: fromCaller(v.workdir) } : {}),
    ...(v.report !== undefined ? { report: fromCaller(v.report) } : {}),
    keep: Boolean(v.keep),
    help: Boolean(v.help),
    version: Boolean(v.version),
  };
}

/** The package's version, read from its package.json. */
export function toolVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  return `${manifest.name} ${manifest.version}`;
}

/** Keeps the newest `keep` timestamped work folders under `root`; returns the ones it removed. */
export function pruneWorkFolders(root: string, keep = 5): string[] {
  let names: string[];
  try {
    names = fs
      .readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && /^\d{4}-\d{2}-\d{2}T/.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
  const old = names.slice(0, Math.max(0, names.length - keep));
  for (const name of old) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  return old.map((name) => path.join(root, name));
}

export function summaryLines(report: RehearsalReport): string[] {
  const s = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
  return [
    '',
    `Result: ${report.status}${report.error ? ` (${report.error.name}: ${report.error.cause})` : ''}`,
    `  PostgreSQL ${report.from} -> ${report.to}, upgrade method: ${report.upgradeMethod}`,
    `  writes: ${report.writes.acknowledged} acknowledged, ${report.writes.presentBehindCname} behind the CNAME, LOST ${report.writes.lost}, LEAKED ${report.writes.leaked}, ${report.writes.rejectedDuringDowntime} rejected during the downtime; ${report.writes.sessions} sessions; writes resumed: ${report.writes.resumed}`,
    ...(report.unlogged.tables.length
      ? [`  unlogged tables: ${report.unlogged.tables.join(', ')} (${report.unlogged.note})`]
      : []),
    `  downtime seen by the application: ${s(report.downtimeMs)} (fence -> CNAME in sync ${s(report.fenceToInSyncMs)}, local operations ${s(report.operationsMs)})`,
    `  mode ${report.mode}: write freeze across the switchover ${s(report.writeFreezeMs)}${lagSummary(report)}`,
    ...(report.failback
      ? [
          `  failback: ${report.failback.done ? `done, write freeze ${s(report.failback.freezeMs)}` : 'not done'}; CNAME -> ${report.cname.target ?? 'nothing'}`,
        ]
      : []),
    ...(report.dryRunDowntimeEstimateMs !== undefined
      ? [
          `  dry run: clone to smoke tests took ${s(report.dryRunDowntimeEstimateMs)}, an estimate of a real run's downtime before approval`,
        ]
      : []),
    `  migrations applied: ${report.migrationsApplied.join(', ') || 'none'}`,
    `  blue: ${report.blue.state}${report.blue.finalSnapshot ? `, final snapshot ${report.blue.finalSnapshot}` : ''}; green: ${report.green ? `${report.green.id} on ${report.green.engineVersion}` : 'none'}; CNAME -> ${report.cname.target ?? 'nothing'}`,
    `  modelled by the local cloud: ${report.modelled.map((m) => `${m.name} ${m.figure}`).join('; ')}`,
    `  total ${s(report.totalMs)}; report ${report.reportFile} and ${report.htmlFile}`,
  ];
}

function lagSummary(report: RehearsalReport): string {
  const parts = (['blue-to-green', 'green-to-blue'] as const).flatMap((direction) => {
    const ms = report.replicationLagMs.filter((x) => x.direction === direction).map((x) => x.ms);
    return ms.length
      ? [
          `${direction.replace(/-/g, ' ')} lag at most ${(Math.max(...ms) / 1000).toFixed(2)} s (${ms.length} sample${ms.length === 1 ? '' : 's'})`,
        ]
      : [];
  });
  return parts.length ? `; replication ${parts.join(', ')}` : '';
}

export async function main(argv: string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n\n${usage()}\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (options.version) {
    process.stdout.write(
      `${toolVersion()}\nPostgreSQL versions: ${installedEngineVersions().join(', ')} installed (known: ${knownEngineVersions().join(', ')})\n`,
    );
    return 0;
  }
  if (options.printInput) {
    process.stdout.write(
      `${JSON.stringify(
        defaultInput({
          ...options,
          ...(options.migrations ? { migrationsDir: options.migrations } : {}),
          ...(options.retentionSeconds !== undefined ? { blueRetentionSeconds: options.retentionSeconds } : {}),
        }),
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  const workRoot = path.resolve(callerDir(), '.rehearsal');
  // The new folder counts among the five kept: prune to four before making it.
  if (!options.workdir) pruneWorkFolders(workRoot, 4);
  const workdir = options.workdir ?? path.join(workRoot, new Date().toISOString().replace(/[:.]/g, '-'));
  const onSignal = () => {
    stopAllServersSync();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const report = await runRehearsal({
    workdir,
    ...(options.from ? { from: options.from } : {}),
    ...(options.to ? { to: options.to } : {}),
    ...(options.migrations ? { migrationsDir: options.migrations } : {}),
    ...(options.input ? { input: options.input } : {}),
    approval: options.approval,
    ...(options.rejectReason ? { rejectReason: options.rejectReason } : {}),
    loadRate: options.loadRate,
    faults: options.faults,
    crashAfter: options.crashAfter,
    ...(options.abortAfter ? { abortAt: options.abortAfter } : {}),
    dryRun: options.dryRun,
    ...(options.mode ? { mode: options.mode } : {}),
    failback: options.failback,
    ...(options.retentionSeconds !== undefined ? { blueRetentionSeconds: options.retentionSeconds } : {}),
    upgradeFails: options.upgradeFails,
    hostile: options.hostile,
    ...(options.restorableLagMs !== undefined ? { restorableLagMs: options.restorableLagMs } : {}),
    ...(options.report ? { reportFile: options.report } : {}),
    keep: options.keep,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  for (const line of summaryLines(report)) process.stdout.write(`${line}\n`);
  if (report.kept) {
    process.stdout.write(`\nServers kept running (${report.kept.note}):\n`);
    for (const s of report.kept.servers)
      process.stdout.write(`  ${s.clusterId} ${s.role}: ${s.connect}\n    stop: ${s.stop}\n`);
    process.stdout.write(`  stop all: ${report.kept.stopAll}\n`);
  }
  if (report.writes.lost > 0) {
    process.stdout.write(`\nLOST WRITES: ${report.writes.lost} acknowledged writes are not behind the CNAME.\n`);
  }
  if (report.writes.leaked > 0) {
    process.stdout.write(
      `\nLEAKED WRITES: ${report.writes.leaked} rows on blue's final state are not behind the CNAME.\n`,
    );
  }
  if (!report.writes.resumed) {
    process.stdout.write('\nWRITES DID NOT RESUME: a sticky connection wrote nothing after the run ended.\n');
  }
  if ((report.status === 'ROLLED_BACK' || report.status === 'ABORTED') && report.blue.state !== 'writable') {
    process.stdout.write(`\nBlue is ${report.blue.state} after the rollback: it should be writable.\n`);
  }
  return rehearsalExitCode(report);
}

/**
 * 0 only for a deployment that succeeded (with --failback: that failed back to blue) without
 * losing or leaking a write, writes resumed.
 */
export function rehearsalExitCode(report: RehearsalReport): number {
  const w = report.writes;
  const expected = report.failback ? 'FAILED_BACK' : 'SUCCEEDED';
  return report.status === expected && w.lost === 0 && w.leaked === 0 && w.resumed ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `rehearsal failed to run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
