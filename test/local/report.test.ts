import type { LocalCloud, LocalCloudState } from '../../local/cloud';
import type { LoadGenerator } from '../../local/load';
import { buildReport } from '../../local/rehearsal';
import type { ExecutionOutcome } from '../../local/workflow/execute';

/** A local cloud after a run that stopped at ValidateInput: blue untouched, nothing created. */
function quietCloud(cnameTarget?: string): LocalCloud {
  const state: LocalCloudState = {
    clusters: [],
    snapshots: [],
    cname: {
      recordName: 'db.rehearsal.internal',
      proxy: { host: '127.0.0.1', port: 1, openConnections: 0 },
      pendingChanges: 0,
      ...(cnameTarget ? { targetClusterId: cnameTarget } : {}),
    },
    operations: [],
  };
  const cloud: Pick<LocalCloud, 'describeState' | 'writerAddress' | 'operations' | 'notifier' | 'modelled' | 'lock'> = {
    describeState: () => state,
    writerAddress: () => undefined,
    operations: () => [],
    modelled: () => [],
    notifier: { messages: [], publish: async () => undefined } as unknown as LocalCloud['notifier'],
    lock: { holder: () => undefined } as unknown as LocalCloud['lock'],
  };
  return cloud as LocalCloud;
}

function idleLoad(ackTimes: number[] = []): LoadGenerator {
  const acked = ackTimes.map((t, i) => ({
    id: i,
    table: 'app.load_writes' as const,
    client: 'pool-1',
    at: new Date(t).toISOString(),
    latencyMs: 1,
    serverPort: 5432,
  }));
  return {
    stop: async () => undefined,
    stats: () => ({
      startedAt: new Date(0).toISOString(),
      stoppedAt: new Date(20_000).toISOString(),
      acknowledged: acked.length,
      rejected: 0,
      sessions: 0,
      series: [],
    }),
    acknowledged: () => acked,
    rejected: () => [],
    poolResumedSince: () => true,
    verify: async () => ({ acknowledged: 0, present: 0, missing: [], missingByTable: {} }),
  };
}

/** The raw execution input that ValidateInput refused: its keys do not have the document's shapes. */
const malformed = {
  blueClusterId: 'app-blue',
  migrations: { s3Prefix: 's3://bucket/x/', database: 'app', phase: 'sideways' },
  wait: 'not an object',
  smokeTests: 'several',
};

/** The report of a run that ended with `outcome`, with nothing else going on. */
function reportOf(outcome: ExecutionOutcome, more: Partial<Parameters<typeof buildReport>[0]> = {}) {
  return buildReport({
    upgradeSeen: undefined,
    recovery: undefined,
    resumed: true,
    outcome,
    cloud: quietCloud(),
    load: idleLoad(),
    blueWriterPort: undefined,
    from: '15.17',
    to: '16.14',
    dryRun: false,
    startedAt: new Date(0),
    workdir: '/tmp/rehearsal',
    reportFile: '/tmp/rehearsal/report.json',
    ...more,
  });
}

/** A run that deployed, then failed back: the fence at 1 s, the swap done at 3 s, green fenced at 8 s, the end at 10 s. */
function failedBackRun(output: Record<string, unknown>): ExecutionOutcome {
  const ev = (type: string, name: string, timestamp: number) => ({ type, timestamp, state: { name, type: 'Task' } });
  return {
    status: 'SUCCEEDED',
    output,
    events: [
      ev('StateEntered', 'FenceWrites', 1000),
      ev('StateEntered', 'SwapCname', 2500),
      ev('StateExited', 'SwapCname', 3000),
      ev('StateEntered', 'RetainBlueForFailback', 3100),
      ev('StateEntered', 'FenceGreen', 8000),
      ev('StateExited', 'Report', 10_000),
    ] as unknown as ExecutionOutcome['events'],
    taskInputs: [],
    attempts: {},
    executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:failback',
    record: {
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:failback',
      status: 'SUCCEEDED',
      input: '{}',
      states: [],
    },
  };
}

// Writes every 100 ms, stopped by the switchover's freeze (900 → 3200) and the failback's (7900 → 9500).
const FAILBACK_ACKS = [
  ...Array.from({ length: 10 }, (_, i) => i * 100),
  ...Array.from({ length: 48 }, (_, i) => 3200 + i * 100),
  ...Array.from({ length: 10 }, (_, i) => 9500 + i * 100),
];

describe('the rehearsal report of a failback', () => {
  it('is FAILED_BACK when the workflow swapped back and the CNAME is on blue, with both write freezes', async () => {
    const report = await reportOf(
      failedBackRun({
        failback: { changeId: 'c', target: 'app-blue', requestedAt: 'x', securityGroupIds: [] },
        failbackDecision: { decision: 'failback', decidedAt: new Date(7800).toISOString() },
      }),
      { failbackRequested: true, mode: 'online', load: idleLoad(FAILBACK_ACKS), cloud: quietCloud('app-blue') },
    );
    expect(report.status).toBe('FAILED_BACK');
    expect(report.mode).toBe('online');
    expect(report.writeFreezeMs).toBe(2300);
    expect(report.failback).toEqual({ done: true, freezeMs: 1600 });
    expect(report.freezeWindows).toEqual({
      switchover: { from: new Date(900).toISOString(), to: new Date(3200).toISOString() },
      failback: { from: new Date(7900).toISOString(), to: new Date(9500).toISOString() },
    });
  });

  it('is SUCCEEDED, failback not done, when the retention ran out (CNAME on green); null for a run without --failback', async () => {
    const kept = await reportOf(failedBackRun({}), {
      failbackRequested: true,
      load: idleLoad(FAILBACK_ACKS),
      cloud: quietCloud('app-blue-g261204070000'),
    });
    expect(kept.status).toBe('SUCCEEDED');
    expect(kept.failback).toEqual({ done: false, freezeMs: null });
    expect(kept.freezeWindows.failback).toBeNull();
    const plain = await reportOf(failedBackRun({}), { load: idleLoad(FAILBACK_ACKS) });
    expect(plain.failback).toBeNull();
    expect(plain.mode).toBe('offline');
    expect(plain.writeFreezeMs).toBe(2300);
  });
});

describe('the rehearsal report builder', () => {
  it('still builds a report from a malformed input that ValidateInput rejected', async () => {
    const outcome: ExecutionOutcome = {
      status: 'FAILED',
      error: {
        name: 'PreconditionFailed',
        cause: JSON.stringify({
          errorType: 'PreconditionFailed',
          errorMessage: 'Invalid execution input: migrations.phase: …',
        }),
      },
      events: [
        { type: 'StateEntered', timestamp: 1000, state: { name: 'ValidateInput', type: 'Task', input: malformed } },
        { type: 'StateFailed', timestamp: 1010, state: { name: 'ValidateInput', type: 'Task', input: malformed } },
      ] as unknown as ExecutionOutcome['events'],
      // ValidateInput's Catch keeps the raw input and adds $.error: that is what ReportFailure gets.
      taskInputs: [
        { state: 'ValidateInput', input: malformed },
        { state: 'ReportFailure', input: { ...malformed, error: { Error: 'PreconditionFailed', Cause: '…' } } },
      ],
      attempts: { ValidateInput: 1 },
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:bad-input',
      record: {
        executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:bad-input',
        status: 'FAILED',
        input: JSON.stringify(malformed),
        states: [],
      },
    };

    const report = await reportOf(outcome);

    expect(report.status).toBe('FAILED');
    expect(report.error).toEqual({ name: 'PreconditionFailed', cause: 'Invalid execution input: migrations.phase: …' });
    expect(report.migrationsApplied).toEqual([]);
    expect(report.fenceToInSyncMs).toBeNull();
    expect(report.phases.map((p) => p.state)).toEqual(['ValidateInput']);
  });

  it('names the task state that raised the error first: the one whose Catch rolled back', async () => {
    const ev = (type: string, name: string, timestamp: number, error?: string) => ({
      type,
      timestamp,
      state: { name, type: 'Task', input: {} },
      ...(error ? { Error: error } : {}),
    });
    const outcome: ExecutionOutcome = {
      status: 'FAILED',
      error: { name: 'ReplicationFailed', cause: 'Replication from blue app-blue … cannot continue' },
      events: [
        ev('StateEntered', 'CheckReplication', 1000),
        ev('StateFailed', 'CheckReplication', 1100, 'RetryableAwsError'),
        ev('StateCaught', 'CheckReplication', 1500, 'ReplicationFailed'),
        ev('StateEntered', 'RemoveReplication', 1600),
        ev('StateCaught', 'RemoveReplication', 1700, 'ReplicationFailed'),
      ] as unknown as ExecutionOutcome['events'],
      taskInputs: [],
      attempts: { CheckReplication: 2, RemoveReplication: 1 },
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:replication-failed',
      record: {
        executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:replication-failed',
        status: 'FAILED',
        input: '{}',
        states: [],
      },
    };

    const report = await reportOf(outcome);

    expect(report.error).toEqual({
      name: 'ReplicationFailed',
      cause: 'Replication from blue app-blue … cannot continue',
      state: 'CheckReplication',
    });
  });

  it('also survives an output document whose keys have the wrong shapes', async () => {
    const outcome: ExecutionOutcome = {
      status: 'FAILED',
      output: { input: malformed, migrations: { applied: 'all of them' }, wait: { cname: 'soon' } },
      events: [],
      taskInputs: [],
      attempts: {},
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:bad-shapes',
      record: {
        executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:local:bad-shapes',
        status: 'FAILED',
        input: '{}',
        states: [],
      },
    };
    const report = await reportOf(outcome);
    expect(report.migrationsApplied).toEqual([]);
    expect(report.fenceToInSyncMs).toBeNull();
  });
});
