import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main, parseCli, pruneWorkFolders, rehearsalExitCode, summaryLines, UsageError } from '../../local/cli';
import { renderReportHtml } from '../../local/report-html';
import { stepInput, type RawOverrides } from '../support/step-fixtures';
import { SAMPLE_MIGRATIONS_DIR, SAMPLE_REPLICABLE_MIGRATIONS_DIR } from '../../local/sample';
import { defaultInput, migrationsDirFor, rehearsalInput, type RehearsalReport } from '../../local/rehearsal';

/** Runs main() with stdout and stderr captured. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(argv);
    return {
      code,
      out: stdout.mock.calls.map((c) => String(c[0])).join(''),
      err: stderr.mock.calls.map((c) => String(c[0])).join(''),
    };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe('npm run rehearse: the command line', () => {
  it('parses every option', () => {
    const o = parseCli([
      '--auto-approve',
      '--from',
      '15.18',
      '--to',
      '16.14',
      '--load-rate',
      '20',
      '--fault',
      'CreateClone=ThrottlingException:2',
      '--fault',
      'ApplySql=MigrationFailed',
      '--crash-after',
      'SwapCname',
      '--abort-after',
      'ApplySql',
      '--dry-run',
      '--upgrade-fails',
      '--hostile',
      '--restorable-lag-ms',
      '5000',
      '--keep',
      '--workdir',
      '/tmp/x',
      '--report',
      '/tmp/x/r.json',
    ]);
    expect(o).toMatchObject({
      approval: 'auto-approve',
      from: '15.18',
      to: '16.14',
      loadRate: 20,
      faults: [
        { state: 'CreateClone', error: 'ThrottlingException', count: 2 },
        { state: 'ApplySql', error: 'MigrationFailed' },
      ],
      crashAfter: ['SwapCname'],
      abortAfter: 'ApplySql',
      dryRun: true,
      upgradeFails: true,
      hostile: true,
      restorableLagMs: 5000,
      keep: true,
      workdir: '/tmp/x',
      report: '/tmp/x/r.json',
    });
  });

  it.each([
    [['--auto-approve', '--reject', 'no'], '--auto-approve and --reject exclude each other'],
    [['--reject'], "Option '--reject <value>' argument missing"],
    [['--reject', ' '], '--reject: give the reason'],
    [['--from', '14.2'], '--from 14.2: not a version that can be rehearsed here (15.18, 16.13, 16.14'],
    [['--from', '14.2', '--to', '17.9'], '--from 14.2 and --to 17.9: not a version that can be rehearsed here'],
    [['--to', '16'], '--to: a version is MAJOR.MINOR'],
    [['--load-rate', '0'], '--load-rate: a number of writes per second'],
    [['--fault', 'CreateClone'], 'expected STATE=ERRORNAME[:COUNT]'],
    [['--fault', 'CreateKlone=ThrottlingException'], 'CreateKlone is not a task state'],
    [['--crash-after', 'Nope'], '--crash-after Nope: not a task state'],
    [['--abort-after', 'IsDryRun'], '--abort-after IsDryRun: not a task state'],
    [['--migrations', '/no/such/folder'], 'no such folder'],
    [['--restorable-lag-ms', 'soon'], '--restorable-lag-ms: a whole number of milliseconds'],
    [['--colour'], "Unknown option '--colour'"],
    [['--mode', 'hybrid'], '--mode hybrid: either offline or online'],
    [['--mode'], "Option '--mode <value>' argument missing"],
    [['--retention', 'soon'], '--retention: a whole number of seconds between 0 and 31536000'],
    [['--retention=-1'], '--retention: a whole number of seconds'],
    [['--retention', '1.5'], '--retention: a whole number of seconds'],
    [['--retention', '31536001'], '--retention: a whole number of seconds'],
    [['--failback', '--retention', '30'], '--retention 30: --failback needs at least 60 seconds'],
    [['--failback', '--dry-run'], '--failback and --dry-run exclude each other'],
  ])('rejects %j with a message naming the option', (argv, message) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
    expect(() => parseCli(argv)).toThrow(message);
  });

  it("--mode, --failback and --retention set the input's mode, failback and blueRetentionSeconds", () => {
    const o = parseCli(['--mode', 'online', '--failback', '--retention', '120']);
    expect(o).toMatchObject({ mode: 'online', failback: true, retentionSeconds: 120 });
    expect(
      defaultInput({ mode: o.mode, failback: o.failback, blueRetentionSeconds: o.retentionSeconds }),
    ).toMatchObject({ mode: 'online', failback: true, blueRetentionSeconds: 120 });
    expect(parseCli(['--mode', 'offline']).mode).toBe('offline');
    // Without them the input keeps its own defaults (offline, no failback, 2 s of retention).
    const plain = parseCli([]);
    expect(plain.mode).toBeUndefined();
    expect(plain.failback).toBe(false);
    expect(defaultInput({})).not.toHaveProperty('mode');
    expect(defaultInput({})).not.toHaveProperty('failback');
    expect(defaultInput({}).blueRetentionSeconds).toBe(2);
  });

  it('--failback alone retains blue 60 s, which the input accepts; the options go on top of --input', () => {
    const validate = (raw: ReturnType<typeof defaultInput>) => stepInput(raw as RawOverrides);
    const failback = defaultInput({ failback: true, mode: 'online' });
    expect(failback.blueRetentionSeconds).toBe(60);
    expect(validate(failback)).toMatchObject({ mode: 'online', failback: true, blueRetentionSeconds: 60 });
    const given = { blueClusterId: 'app-blue', replicaCount: 0 };
    expect(rehearsalInput({ input: given })).toEqual(given);
    expect(rehearsalInput({ input: given, mode: 'online', failback: true })).toEqual({
      ...given,
      mode: 'online',
      failback: true,
      blueRetentionSeconds: 60,
    });
    expect(rehearsalInput({ input: { ...given, blueRetentionSeconds: 300 }, failback: true })).toMatchObject({
      blueRetentionSeconds: 300,
    });
    expect(rehearsalInput({ input: given, blueRetentionSeconds: 90 })).toMatchObject({ blueRetentionSeconds: 90 });
  });

  it('--print-input shows --mode, --failback and --retention in the input', async () => {
    const { code, out } = await run(['--print-input', '--mode', 'online', '--failback', '--retention', '75']);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ mode: 'online', failback: true, blueRetentionSeconds: 75 });
  });

  it('leaves the upgrade alone unless --upgrade-fails is given', () => {
    expect(parseCli([]).upgradeFails).toBe(false);
    expect(parseCli([]).restorableLagMs).toBeUndefined();
  });

  it('exits 2 with the usage text on bad usage', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(main(['--load-rate', 'many'])).resolves.toBe(2);
      expect(String(stderr.mock.calls[0]?.[0])).toContain('Usage: npm run rehearse');
    } finally {
      stderr.mockRestore();
    }
  });

  it('prints the default input', async () => {
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await expect(main(['--print-input', '--to', '16.14'])).resolves.toBe(0);
      const printed = JSON.parse(String(stdout.mock.calls[0]?.[0])) as Record<string, unknown>;
      expect(printed).toMatchObject({ blueClusterId: 'app-blue', targetEngineVersion: '16.14' });
    } finally {
      stdout.mockRestore();
    }
  });

  it('an unknown --from or --to exits 2, naming them', async () => {
    const { code, err } = await run(['--to', '17.9']);
    expect(code).toBe(2);
    expect(err).toContain('--to 17.9: not a version that can be rehearsed here');
  });

  it('--help lists the versions that can be rehearsed; --version says the tool and the versions', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('PostgreSQL versions that can be rehearsed here: 15.18, 16.13, 16.14.');
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    expect(version.out).toMatch(
      /^aurora-bluegreen \d+\.\d+\.\d+\nPostgreSQL versions: 15\.18, 16\.13, 16\.14 installed/,
    );
  });

  it('--reject REASON rejects with that reason', () => {
    expect(parseCli(['--reject', 'wrong migration set'])).toMatchObject({
      approval: 'reject',
      rejectReason: 'wrong migration set',
    });
  });

  it("resolves paths against the caller's folder (INIT_CWD), not the package root npm runs in", () => {
    const caller = mkdtempSync(path.join(tmpdir(), 'caller-'));
    mkdirSync(path.join(caller, 'sql'));
    writeFileSync(path.join(caller, 'input.json'), '{"blueClusterId":"app-blue"}');
    const o = parseCli(['--migrations', 'sql', '--input', 'input.json', '--workdir', 'w', '--report', 'r.json'], {
      cwd: caller,
    });
    expect(o).toMatchObject({
      migrations: path.join(caller, 'sql'),
      input: { blueClusterId: 'app-blue' },
      workdir: path.join(caller, 'w'),
      report: path.join(caller, 'r.json'),
    });
    expect(() => parseCli(['--migrations', 'sql'], { cwd: tmpdir() })).toThrow(`no such folder (${tmpdir()}/sql)`);
  });

  it('keeps the newest five work folders and nothing else is touched', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'rehearsal-'));
    const names = Array.from({ length: 7 }, (_, i) => `2026-12-0${i + 1}T00-00-00-000Z`);
    for (const name of [...names, 'mine']) mkdirSync(path.join(root, name));
    expect(pruneWorkFolders(root, 5).map((p) => path.basename(p))).toEqual(names.slice(0, 2));
    expect(readdirSync(root).sort()).toEqual([...names.slice(2), 'mine'].sort());
  });

  it('another migration set keeps only the smoke tests that hold for any set', () => {
    const names = (migrationsDir?: string) => defaultInput({ migrationsDir }).smokeTests.map((t) => t.name);
    expect(names()).toEqual(['customers are there', 'orders have a status']);
    expect(names('/tmp/other-migrations')).toEqual(['customers are there']);
  });

  it('a run that replicates applies the replicable sample set unless --migrations names one', () => {
    expect(migrationsDirFor({})).toBe(SAMPLE_MIGRATIONS_DIR);
    expect(migrationsDirFor({ mode: 'online' })).toBe(SAMPLE_REPLICABLE_MIGRATIONS_DIR);
    expect(migrationsDirFor({ failback: true })).toBe(SAMPLE_REPLICABLE_MIGRATIONS_DIR);
    expect(migrationsDirFor({ failback: true, migrationsDir: '/tmp/mine' })).toBe('/tmp/mine');
    expect(defaultInput({ mode: 'online' }).smokeTests.map((t) => t.name)).toEqual([
      'customers are there',
      'order totals per customer',
    ]);
    // Nothing in it changes a replicated table: a view and an index.
    expect(readdirSync(SAMPLE_REPLICABLE_MIGRATIONS_DIR).sort()).toEqual([
      '001_order_totals_view.sql',
      '002_orders_customer_index.sql',
    ]);
  });

  it('exits 0 only for a deployment that lost no write', () => {
    const report = (status: RehearsalReport['status'], lost: number, leaked = 0, resumed = true) =>
      ({ status, writes: { lost, leaked, resumed } }) as unknown as RehearsalReport;
    expect(rehearsalExitCode(report('SUCCEEDED', 0))).toBe(0);
    expect(rehearsalExitCode(report('SUCCEEDED', 3))).toBe(1);
    expect(rehearsalExitCode(report('SUCCEEDED', 0, 2))).toBe(1);
    expect(rehearsalExitCode(report('SUCCEEDED', 0, 0, false))).toBe(1);
    expect(rehearsalExitCode(report('ROLLED_BACK', 0))).toBe(1);
    expect(rehearsalExitCode(report('FAILED', 0))).toBe(1);
  });

  it('a --failback run exits 0 only when it failed back to blue, with nothing lost or leaked', () => {
    const report = (status: RehearsalReport['status'], lost = 0, leaked = 0) =>
      ({
        status,
        failback: { done: status === 'FAILED_BACK', freezeMs: 900 },
        writes: { lost, leaked, resumed: true },
      }) as unknown as RehearsalReport;
    expect(rehearsalExitCode(report('FAILED_BACK'))).toBe(0);
    expect(rehearsalExitCode(report('FAILED_BACK', 1))).toBe(1);
    expect(rehearsalExitCode(report('FAILED_BACK', 0, 1))).toBe(1);
    // Deployed, but did not fail back: not what --failback asked for.
    expect(rehearsalExitCode(report('SUCCEEDED'))).toBe(1);
    expect(rehearsalExitCode(report('ROLLED_BACK'))).toBe(1);
  });
});

describe('the rehearsal report: time the local operations took', () => {
  it('counts overlapping and nested operations once, clipped to the downtime window', () => {
    const { unionMs } = jest.requireActual<typeof import('../../local/rehearsal')>('../../local/rehearsal');
    expect(
      unionMs([
        [0, 10],
        [5, 15],
        [20, 30],
      ]),
    ).toBe(25);
    expect(
      unionMs(
        [
          [0, 100],
          [10, 20],
        ],
        { from: 50, to: 80 },
      ),
    ).toBe(30);
    expect(unionMs([[0, 10]], { from: 20, to: 30 })).toBe(0);
  });
});

describe('the rehearsal report: what the local cloud modelled', () => {
  const modelled = [
    { name: 'LatestRestorableTime lag', figure: '2000 ms behind the present', description: 'trails the present' },
    {
      name: 'Failed engine upgrade',
      figure: 'on (every upgrade fails)',
      description: 'an event, then the old version',
    },
  ];
  const report = {
    status: 'ROLLED_BACK',
    error: { name: 'UpgradeFailed', cause: 'RDS did not upgrade green' },
    lock: { held: false },
    dryRun: false,
    mode: 'offline',
    from: '16.13',
    to: '16.14',
    upgradeMethod: 'none',
    phases: [],
    downtimeMs: null,
    downtimeWindow: null,
    fenceToInSyncMs: null,
    writeFreezeMs: null,
    replicationLagMs: [],
    failback: null,
    freezeWindows: { switchover: null, failback: null },
    operationsMs: 0,
    writes: {
      acknowledged: 1,
      acknowledgedOnGreen: 0,
      presentBehindCname: 1,
      lost: 0,
      leaked: 0,
      blueFinal: { from: 'writer', rows: 1 },
      sessions: 1,
      resumed: true,
      rejectedDuringDowntime: 0,
    },
    lostWriteIds: [],
    leakedRows: {},
    unlogged: { tables: [], note: '' },
    migrationsApplied: [],
    blue: { state: 'writable' },
    green: null,
    cname: { target: 'app-blue' },
    writesPerSecond: [],
    notifications: [],
    operations: [],
    modelled,
    startedAt: '2026-12-05T02:00:00.000Z',
    endedAt: '2026-12-05T02:01:00.000Z',
    totalMs: 60_000,
    workdir: '/tmp/w',
    reportFile: '/tmp/w/report.json',
    htmlFile: '/tmp/w/report.html',
  } as RehearsalReport;

  it('names each modelled behaviour with its figure on the page', () => {
    const html = renderReportHtml(report);
    expect(html).toContain('Modelled by the local cloud');
    for (const m of modelled) expect(html).toContain(`<td>${m.name}</td><td>${m.figure}</td><td>${m.description}</td>`);
  });

  it('prints the mode, the write freeze, the replication lag and the failback', () => {
    const lines = summaryLines({
      ...report,
      status: 'FAILED_BACK',
      mode: 'online',
      writeFreezeMs: 1234,
      replicationLagMs: [
        { at: '2026-12-05T02:00:10.000Z', ms: 400, direction: 'blue-to-green' },
        { at: '2026-12-05T02:00:10.500Z', ms: 0, direction: 'blue-to-green' },
        { at: '2026-12-05T02:00:30.000Z', ms: 250, direction: 'green-to-blue' },
      ],
      failback: { done: true, freezeMs: 900 },
    }).join('\n');
    expect(lines).toContain(
      'mode online: write freeze across the switchover 1.23 s; replication blue to green lag at most 0.40 s (2 samples), green to blue lag at most 0.25 s (1 sample)',
    );
    expect(lines).toContain('failback: done, write freeze 0.90 s; CNAME -> app-blue');
    expect(summaryLines(report).join('\n')).toContain('mode offline: write freeze across the switchover n/a\n');
  });

  it('names them in the summary printed at the end', () => {
    expect(summaryLines(report).join('\n')).toContain(
      'modelled by the local cloud: LatestRestorableTime lag 2000 ms behind the present; Failed engine upgrade on (every upgrade fails)',
    );
  });
});
