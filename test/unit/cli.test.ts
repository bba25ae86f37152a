import { main, parseCli, rehearsalExitCode, UsageError } from '../../local/cli';
import type { RehearsalReport } from '../../local/rehearsal';

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
      '--dry-run',
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
      dryRun: true,
      keep: true,
      workdir: '/tmp/x',
      report: '/tmp/x/r.json',
    });
  });

  it.each([
    [['--auto-approve', '--reject'], '--auto-approve and --reject exclude each other'],
    [['--to', '16'], '--to: a version is MAJOR.MINOR'],
    [['--load-rate', '0'], '--load-rate: a number of writes per second'],
    [['--fault', 'CreateClone'], 'expected STATE=ERRORNAME[:COUNT]'],
    [['--fault', 'CreateKlone=ThrottlingException'], 'CreateKlone is not a task state'],
    [['--crash-after', 'Nope'], '--crash-after Nope: not a task state'],
    [['--migrations', '/no/such/folder'], 'no such folder'],
    [['--colour'], "Unknown option '--colour'"],
  ])('rejects %j with a message naming the option', (argv, message) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
    expect(() => parseCli(argv)).toThrow(message);
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

  it('exits 0 only for a deployment that lost no write', () => {
    const report = (status: RehearsalReport['status'], lost: number) =>
      ({ status, writes: { lost } }) as unknown as RehearsalReport;
    expect(rehearsalExitCode(report('SUCCEEDED', 0))).toBe(0);
    expect(rehearsalExitCode(report('SUCCEEDED', 3))).toBe(1);
    expect(rehearsalExitCode(report('ROLLED_BACK', 0))).toBe(1);
    expect(rehearsalExitCode(report('FAILED', 0))).toBe(1);
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
