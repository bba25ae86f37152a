import type { LocalCloud, LocalCloudState } from '../../local/cloud';
import type { LoadGenerator } from '../../local/load';
import { buildReport } from '../../local/rehearsal';
import type { ExecutionOutcome } from '../../local/workflow/execute';

/** A local cloud after a run that stopped at ValidateInput: blue untouched, nothing created. */
function quietCloud(): LocalCloud {
  const state: LocalCloudState = {
    clusters: [],
    snapshots: [],
    cname: {
      recordName: 'db.rehearsal.internal',
      proxy: { host: '127.0.0.1', port: 1, openConnections: 0 },
      pendingChanges: 0,
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

function idleLoad(): LoadGenerator {
  return {
    stop: async () => undefined,
    stats: () => ({ startedAt: new Date(0).toISOString(), acknowledged: 0, rejected: 0, sessions: 0, series: [] }),
    acknowledged: () => [],
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
function reportOf(outcome: ExecutionOutcome) {
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
  });
}

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
