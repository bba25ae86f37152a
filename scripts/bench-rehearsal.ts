/**
 * npm run bench:rehearsal [-- --runs N] [rehearsal options, e.g. --mode online --load-rate 200 --failback]
 *
 * Runs N rehearsals (default 5, auto-approved) with the given options (parsed and checked as
 * `npm run rehearse` does) and prints, per run and as median / min / max: the write freeze across
 * the switchover, the failback's write freeze, the replication lag, the downtime and its
 * orchestration overhead, the total time, and the lost and leaked writes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCli, rehearsalExitCode, UsageError, type CliOptions } from '../local/cli';
import { runRehearsal, type RehearsalOptions, type RehearsalReport } from '../local/rehearsal';
import { spread } from '../local/report-metrics';

export const DEFAULT_RUNS = 5;

/** The options the benchmark does not take from the rehearsal: it decides, and it cleans up. */
const NOT_FOR_BENCH = ['input', 'printInput', 'keep', 'workdir', 'report', 'help', 'version'] as const;

export interface BenchOptions {
  runs: number;
  rehearsal: CliOptions;
}

/** `--runs N` for the benchmark; everything else is a rehearsal option, checked by its own parser. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  let runs = DEFAULT_RUNS;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const inline = /^--runs=(.*)$/.exec(arg);
    if (arg === '--runs' || inline) {
      const value = inline ? inline[1] : argv[++i];
      runs = Number(value);
      if (value === undefined || !/^\d+$/.test(value) || runs < 1) {
        throw new UsageError('--runs: a whole number of rehearsals, at least 1');
      }
      continue;
    }
    rest.push(arg);
  }
  const rehearsal = parseCli(rest);
  for (const key of NOT_FOR_BENCH) {
    const value = rehearsal[key];
    if (value !== undefined && value !== false) {
      throw new UsageError(
        `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: not for the benchmark (each run gets its own work folder, auto-approved, removed afterwards)`,
      );
    }
  }
  if (rehearsal.approval === 'reject')
    throw new UsageError('--reject: the benchmark measures deployments; it approves');
  return { runs, rehearsal };
}

/** The rehearsal options of one benchmark run. */
export function runOptions(options: CliOptions, workdir: string): RehearsalOptions {
  return {
    workdir,
    approval: 'auto-approve',
    loadRate: options.loadRate,
    faults: options.faults,
    crashAfter: options.crashAfter,
    dryRun: options.dryRun,
    upgradeFails: options.upgradeFails,
    hostile: options.hostile,
    failback: options.failback,
    ...(options.from ? { from: options.from } : {}),
    ...(options.to ? { to: options.to } : {}),
    ...(options.migrations ? { migrationsDir: options.migrations } : {}),
    ...(options.mode ? { mode: options.mode } : {}),
    ...(options.retentionSeconds !== undefined ? { blueRetentionSeconds: options.retentionSeconds } : {}),
    ...(options.restorableLagMs !== undefined ? { restorableLagMs: options.restorableLagMs } : {}),
    ...(options.abortAfter ? { abortAt: options.abortAfter } : {}),
  };
}

/** One run's figures, as the benchmark reads them from the report. */
export interface BenchRow {
  status: RehearsalReport['status'];
  /** The error of a run that did not deploy: name and cause. */
  error?: string;
  ok: boolean;
  writeFreezeMs: number | null;
  failbackFreezeMs: number | null;
  maxLagMs: number | null;
  downtimeMs: number | null;
  overheadMs: number | null;
  totalMs: number;
  lost: number;
  leaked: number;
}

export function benchRow(r: RehearsalReport): BenchRow {
  return {
    status: r.status,
    ...(r.error ? { error: `${r.error.name}: ${r.error.cause}` } : {}),
    ok: rehearsalExitCode(r) === 0,
    writeFreezeMs: r.writeFreezeMs,
    failbackFreezeMs: r.failback?.freezeMs ?? null,
    maxLagMs: r.replicationLagMs.length ? Math.max(...r.replicationLagMs.map((l) => l.ms)) : null,
    downtimeMs: r.downtimeMs,
    overheadMs: r.downtimeMs === null ? null : r.downtimeMs - r.operationsMs,
    totalMs: r.totalMs,
    lost: r.writes.lost,
    leaked: r.writes.leaked,
  };
}

const ms = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)} ms`);

export function rowLine(i: number, row: BenchRow): string {
  return `run ${i}: ${row.status}${row.ok ? '' : ' (NOT OK)'}${row.error ? ` [${row.error}]` : ''}, write freeze ${ms(row.writeFreezeMs)}, failback freeze ${ms(row.failbackFreezeMs)}, max lag ${ms(row.maxLagMs)}, downtime ${ms(row.downtimeMs)} (overhead ${ms(row.overheadMs)}), total ${(row.totalMs / 1000).toFixed(1)} s, lost ${row.lost}, leaked ${row.leaked}`;
}

/** The summary: median / min / max of each figure over the runs, and the totals of lost and leaked. */
export function summaryLines(rows: BenchRow[], options: CliOptions): string[] {
  const line = (label: string, values: (number | null)[], goal = '') => {
    const s = spread(values);
    const figure = s ? `median ${ms(s.median)}, min ${ms(s.min)}, max ${ms(s.max)}` : 'n/a';
    return `  ${label.padEnd(28)}${figure}${goal}`;
  };
  const failed = rows.filter((r) => !r.ok).length;
  return [
    '',
    `${rows.length} rehearsals on ${os.cpus().length} cores: mode ${options.mode ?? 'offline'}${options.failback ? ', failback' : ''}, ${options.loadRate} writes/s, auto-approved`,
    line(
      'write freeze (switchover)',
      rows.map((r) => r.writeFreezeMs),
      options.mode === 'online' ? ' (goal: median <= 2000 ms)' : '',
    ),
    ...(options.failback
      ? [
          line(
            'write freeze (failback)',
            rows.map((r) => r.failbackFreezeMs),
            ' (goal: <= 2000 ms)',
          ),
        ]
      : []),
    line(
      'replication lag, run max',
      rows.map((r) => r.maxLagMs),
    ),
    line(
      'downtime (application)',
      rows.map((r) => r.downtimeMs),
    ),
    line(
      'orchestration overhead',
      rows.map((r) => r.overheadMs),
    ),
    line(
      'whole rehearsal',
      rows.map((r) => r.totalMs),
    ),
    `  ${'lost writes'.padEnd(28)}${rows.reduce((n, r) => n + r.lost, 0)} (goal 0)`,
    `  ${'leaked writes'.padEnd(28)}${rows.reduce((n, r) => n + r.leaked, 0)} (goal 0)`,
    `  ${'runs not ok'.padEnd(28)}${failed}${
      failed
        ? ` (${rows
            .filter((r) => !r.ok)
            .map((r) => r.status)
            .join(', ')})`
        : ''
    }`,
  ];
}

async function main(argv: string[]): Promise<number> {
  let bench: BenchOptions;
  try {
    bench = parseBenchArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const rows: BenchRow[] = [];
  for (let i = 1; i <= bench.runs; i++) {
    const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-rehearsal-'));
    // The PostgreSQL OS user must be able to traverse it.
    fs.chmodSync(workdir, 0o755);
    try {
      const row = benchRow(await runRehearsal(runOptions(bench.rehearsal, workdir)));
      rows.push(row);
      console.log(rowLine(i, row));
    } finally {
      fs.rmSync(workdir, { recursive: true, force: true });
    }
  }
  for (const line of summaryLines(rows, bench.rehearsal)) console.log(line);
  return rows.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(1);
    },
  );
}
