import { UsageError } from '../../local/cli';
import type { RehearsalReport } from '../../local/rehearsal';
import { benchRow, parseBenchArgs, rowLine, runOptions, summaryLines } from '../../scripts/bench-rehearsal';

function report(
  over: Partial<RehearsalReport> & { freeze: number | null; failbackFreeze?: number | null },
): RehearsalReport {
  const { freeze, failbackFreeze, ...rest } = over;
  return {
    status: failbackFreeze !== undefined ? 'FAILED_BACK' : 'SUCCEEDED',
    writeFreezeMs: freeze,
    failback: failbackFreeze !== undefined ? { done: true, freezeMs: failbackFreeze } : null,
    replicationLagMs: [],
    downtimeMs: freeze,
    operationsMs: 100,
    totalMs: 30_000,
    writes: { lost: 0, leaked: 0, resumed: true },
    ...rest,
  } as unknown as RehearsalReport;
}

describe('npm run bench:rehearsal', () => {
  it('runs five rehearsals unless --runs says otherwise, with the rehearsal options parsed as npm run rehearse parses them', () => {
    const bench = parseBenchArgs(['--mode', 'online', '--load-rate', '200']);
    expect(bench.runs).toBe(5);
    expect(bench.rehearsal).toMatchObject({ mode: 'online', loadRate: 200, failback: false });
    expect(parseBenchArgs(['--runs', '3', '--failback']).runs).toBe(3);
    expect(parseBenchArgs(['--runs=2']).runs).toBe(2);
    expect(
      runOptions(
        parseBenchArgs(['--mode', 'online', '--failback', '--retention', '90', '--load-rate', '200']).rehearsal,
        '/tmp/w',
      ),
    ).toMatchObject({
      workdir: '/tmp/w',
      approval: 'auto-approve',
      mode: 'online',
      failback: true,
      blueRetentionSeconds: 90,
      loadRate: 200,
    });
  });

  it.each([
    [['--runs', '0'], '--runs: a whole number of rehearsals, at least 1'],
    [['--runs'], '--runs: a whole number'],
    [['--runs', 'many'], '--runs: a whole number'],
    [['--mode', 'fast'], '--mode fast: either offline or online'],
    [['--keep'], '--keep: not for the benchmark'],
    [['--workdir', '/tmp/x'], '--workdir: not for the benchmark'],
    [['--reject', 'no'], '--reject: the benchmark measures deployments'],
  ])('rejects %j, naming the option', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it('prints median, min and max of the write freezes, and the lost and leaked writes of all runs', () => {
    const rows = [
      report({ freeze: 1200, failbackFreeze: 900 }),
      report({
        freeze: 1800,
        failbackFreeze: 1500,
        replicationLagMs: [
          { at: '2026-12-04T08:00:00.000Z', ms: 40, direction: 'blue-to-green' },
          { at: '2026-12-04T08:00:00.500Z', ms: 300, direction: 'blue-to-green' },
        ],
      }),
      report({
        freeze: 1500,
        failbackFreeze: 1100,
        writes: { lost: 2, leaked: 1, resumed: true } as RehearsalReport['writes'],
      }),
    ].map(benchRow);
    expect(rows[1]?.maxLagMs).toBe(300);
    expect(rows.map((r) => r.ok)).toEqual([true, true, false]);
    const text = summaryLines(
      rows,
      parseBenchArgs(['--mode', 'online', '--failback', '--load-rate', '200']).rehearsal,
    ).join('\n');
    expect(text).toContain('mode online, failback, 200 writes/s');
    expect(text).toMatch(
      /write freeze \(switchover\) +median 1500 ms, min 1200 ms, max 1800 ms \(goal: median <= 2000 ms\)/,
    );
    expect(text).toMatch(/write freeze \(failback\) +median 1100 ms, min 900 ms, max 1500 ms/);
    expect(text).toMatch(/replication lag, run max +median 300 ms, min 300 ms, max 300 ms/);
    expect(text).toMatch(/lost writes +2 \(goal 0\)/);
    expect(text).toMatch(/leaked writes +1 \(goal 0\)/);
    expect(text).toMatch(/runs not ok +1 \(FAILED_BACK\)/);
  });

  it('a run that did not deploy says why', () => {
    const row = benchRow(
      report({ freeze: null, status: 'ROLLED_BACK', error: { name: 'MigrationFailed', cause: '002_x.sql: line 3' } }),
    );
    expect(row.ok).toBe(false);
    expect(rowLine(2, row)).toMatch(
      /^run 2: ROLLED_BACK \(NOT OK\) \[MigrationFailed: 002_x\.sql: line 3\], write freeze n\/a/,
    );
  });

  it('an offline run without failback has no failback line and no lag', () => {
    const text = summaryLines([benchRow(report({ freeze: 20_000 }))], parseBenchArgs([]).rehearsal).join('\n');
    expect(text).not.toContain('write freeze (failback)');
    expect(text).toMatch(/replication lag, run max +n\/a/);
    expect(text).toMatch(/write freeze \(switchover\) +median 20000 ms/);
  });
});
