import { WritesAfterFence } from '../../lambdas/domain/errors';
import { runRecovery, timeoutSecondsOf } from '../../local/workflow/execute';
import { ADMIN_SG, APP_SGS, FakeCloud } from '../support/fake-cloud';
import type { Run } from './harness';
import { BASE_INPUT, run, statesEntered, testDefinition, testRecoveryDefinition } from './harness';

/**
 * Failback after cutover (docs/failback.md), on the real synthesized definition against the
 * in-memory AWS. The reverse replication's SQL is stubbed here (test/integration/failback.test.ts
 * runs it on real PostgreSQL); these tests are about the graph and the control plane.
 */

// Without the sample migration: ValidateMigrations (preflight) judges migrations with failback on its own.
const { migrations: _migrations, ...WITHOUT_MIGRATIONS } = BASE_INPUT;
const FAILBACK_INPUT = { ...WITHOUT_MIGRATIONS, failback: true, blueRetentionSeconds: 3600 };

/** The tasks from the failback offer to the end of a run that failed back, in either mode. */
const FAILING_BACK = [
  'RetainBlueForFailback',
  'FenceGreen',
  'CheckBlueCaughtUp',
  'MoveBlueSequences',
  'EndFailbackReplication',
  'UnfenceBlueForFailback',
  'ReopenBlue',
  'CheckBlueReopened',
  'EndGreenSessions',
  'CloseGreenToApplications',
  'CheckGreenClosed',
  'CloseGreen',
  'ReleaseLock',
  'Report',
];

function blueEndpoint(r: Run): string | undefined {
  return r.cloud.clusters.get('app-blue')?.endpoint;
}

function greenId(r: Run): string | undefined {
  return [...r.cloud.clusters.keys()].find((id) => id !== 'app-blue');
}

function tasksEntered(r: Run): string[] {
  const tasks = new Set(
    Object.entries(testDefinition().States)
      .filter(([, s]) => s.Type === 'Task')
      .map(([name]) => name),
  );
  return statesEntered(r.outcome).filter((name) => tasks.has(name));
}

describe('failback after cutover (offline mode, synthesized definition)', () => {
  it('gives RetainBlueForFailback the retention as its timeout, read from the execution document', () => {
    const doc = { input: { blueRetentionSeconds: 5400, approval: { timeoutSeconds: 600 } } };
    expect(timeoutSecondsOf(testDefinition(), 'RetainBlueForFailback', doc)).toBe(5400);
    expect(timeoutSecondsOf(testDefinition(), 'RequestApproval', doc)).toBe(600);
  });

  it('fails back when decided: green fenced, blue caught up, sequences moved, blue reopened, CNAME on blue, green kept', async () => {
    const r = await run(FAILBACK_INPUT, { failback: 'failback' });

    expect(r.outcome.status).toBe('SUCCEEDED');
    const tasks = tasksEntered(r);
    const after = (a: string, b: string) => expect(tasks.indexOf(a)).toBeGreaterThan(tasks.indexOf(b));
    // Reverse replication starts after the fence check and before green is opened.
    after('StartFailbackReplication', 'CheckFenceHeld');
    after('OpenGreen', 'StartFailbackReplication');
    // The retention is the failback offer; no fence recheck (blue follows green) and no deletion.
    expect(tasks.slice(tasks.indexOf('EndBlueSessions'))).toEqual(['EndBlueSessions', ...FAILING_BACK]);
    expect(tasks).not.toContain('RetainBlue');
    expect(tasks).not.toContain('RecheckFenceHeld');
    expect(tasks).not.toContain('DeleteBlue');

    // The CNAME points at blue again, blue has its groups back, green is kept, the lock is free.
    expect(r.cloud.record.values).toEqual([blueEndpoint(r)]);
    expect(
      r.cloud.clusters
        .get('app-blue')
        ?.securityGroups.map((g) => g.id)
        .sort(),
    ).toEqual([ADMIN_SG, ...APP_SGS].sort());
    expect(greenId(r)).toBeDefined();
    expect(r.cloud.locks.size).toBe(0);

    // The execution output and the notice say FAILED_BACK.
    const report = r.outcome.output?.report as { status?: string; failback?: { freezeMs?: number } };
    expect(report.status).toBe('FAILED_BACK');
    expect(typeof report.failback?.freezeMs).toBe('number');
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toBe('Deployment of app-blue failed back to blue');

    // The success notice before that offered the failback with a link, and said until when.
    const offer = r.cloud.notifications.find((n) => n.subject.includes('fail back to blue until'));
    expect(offer?.message).toContain('https://approvals.test/approvals/');
    const stored = r.cloud.approvalsStored.find((a) => a.evidence.kind === 'failback');
    expect(stored?.expiresAt).toBeDefined();
    // Blue is kept until the retention's end: the offer's expiry is an hour after it was made.
    const evidence = stored?.evidence as { requestedAt: string };
    expect(Date.parse(String(stored?.expiresAt)) - Date.parse(evidence.requestedAt)).toBe(3600 * 1000);
  });

  it('keeps green reachable until its sessions were ended at the swap back, then closes it to applications (admin group only) before CloseGreen ends what came back', async () => {
    const cloud = new FakeCloud();
    cloud.addBlue();
    const green = (): string => [...cloud.clusters.keys()].find((id) => id !== 'app-blue') ?? '';
    // What green admitted when EndGreenSessions, then CloseGreen, ended its sessions.
    const groupsAt: Record<string, { id: string; status: string }[] | undefined> = {};
    const r = await run(FAILBACK_INPUT, {
      cloud,
      failback: 'failback',
      stepOverrides: {
        'end-green-sessions': async () => {
          groupsAt.end = cloud.clusters.get(green())?.securityGroups.map((g) => ({ ...g }));
          return { ended: 2, endedAt: new Date().toISOString() };
        },
        'close-green': async () => {
          groupsAt.close = cloud.clusters.get(green())?.securityGroups.map((g) => ({ ...g }));
          return { ended: 1, endedAt: new Date().toISOString(), localChanges: 0, removed: [] };
        },
      },
    });
    expect(r.outcome.status).toBe('SUCCEEDED');
    // At the swap back green still admits applications: a pool reconnecting there through its
    // cached answer gets fast read-only errors, not a connect that hangs.
    expect(groupsAt.end?.map((g) => g.id).sort()).toEqual([ADMIN_SG, ...APP_SGS].sort());
    // In effect (active) before CloseGreen: new application connections are refused.
    expect(groupsAt.close).toEqual([{ id: ADMIN_SG, status: 'active' }]);
    expect(cloud.clusters.get(green())?.securityGroups.map((g) => g.id)).toEqual([ADMIN_SG]);
    expect(cloud.calls).toContainEqual({ op: 'setSecurityGroups', args: { id: green(), groups: [ADMIN_SG] } });
    expect(cloud.notifications.at(-1)?.message).toContain(
      `is kept, fenced (read-only), with only the admin security group ${ADMIN_SG} (closed to applications)`,
    );
    expect((r.outcome.output?.report as { status?: string }).status).toBe('FAILED_BACK');
  });

  it('a write on green after blue caught up (CloseGreen) stops there: blue serves, green is kept with its slots, the notice says what to copy', async () => {
    const cause = 'Green took writes after blue caught up with it: database app: 1 row change(s) in orders.';
    const r = await run(FAILBACK_INPUT, {
      failback: 'failback',
      stepOverrides: {
        'close-green': async () => {
          throw new WritesAfterFence(cause);
        },
      },
    });
    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('WritesAfterFence');
    expect(r.cloud.record.values).toEqual([blueEndpoint(r)]);
    expect(r.cloud.clusters.has(greenId(r) ?? '')).toBe(true);
    const notice = r.cloud.notifications.at(-1)?.message ?? '';
    expect(notice).toContain(cause);
    expect(notice).toMatch(/serves again .*Copy those rows to blue, then drop green's slots/);
    // EndFailbackReplication left green's slots to CloseGreen: only blue's subscriptions went.
    expect(r.dbCalls).toContain('end-failback');
    expect(r.dbCalls.filter((c) => c === 'stop-failback')).toEqual([]);
  });

  it('a failback that stops once green is closed says how to re-open green to stay on it', async () => {
    const r = await run(FAILBACK_INPUT, {
      failback: 'failback',
      faults: [{ state: 'CheckGreenClosed', error: 'PollTimeout' }],
    });
    expect(r.outcome.status).toBe('FAILED');
    expect(statesEntered(r.outcome)).not.toContain('CloseGreen');
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toBe('ACTION NEEDED: deployment of app-blue failback failed');
    expect(notice?.message).toContain(
      `to stay on green, re-attach them (aws rds modify-db-cluster --db-cluster-identifier ${greenId(r)} --vpc-security-group-ids ${[ADMIN_SG, ...APP_SGS].join(' ')} --apply-immediately)`,
    );
  });

  it('refuses failback in read-only mode before anything is changed: blue would stay reachable through the retention', async () => {
    const r = await run({ ...FAILBACK_INPUT, writeBlock: 'read-only' }, { failback: 'failback' });
    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain("failback: needs writeBlock 'security-group'");
    expect(statesEntered(r.outcome)).not.toContain('AcquireLock');
    expect([...r.cloud.clusters.keys()]).toEqual(['app-blue']);
  });

  it('keeps green when nobody fails back: the reverse replication is removed first, then blue is deleted', async () => {
    const r = await run(FAILBACK_INPUT, { failback: 'timeout' });

    expect(r.outcome.status).toBe('SUCCEEDED');
    const tasks = tasksEntered(r);
    expect(tasks.slice(tasks.indexOf('RetainBlueForFailback'))).toEqual([
      'RetainBlueForFailback',
      'StopFailbackReplication',
      'DeleteBlue',
      'CheckBlueDeleted',
      'ReleaseLock',
      'Report',
    ]);
    expect(r.dbCalls.indexOf('stop-failback')).toBeGreaterThan(r.dbCalls.indexOf('start-failback'));
    expect(r.cloud.clusters.has('app-blue')).toBe(false);
    expect(r.cloud.record.values).not.toEqual([blueEndpoint(r)]);
    expect((r.outcome.output?.report as { status?: string }).status).toBe('SUCCEEDED');
  });

  it('without failback, runs none of it: the retention is the plain Wait', async () => {
    const r = await run({ ...BASE_INPUT, failback: false });
    expect(r.outcome.status).toBe('SUCCEEDED');
    expect(r.dbCalls).not.toContain('start-failback');
    expect(statesEntered(r.outcome)).toContain('RetainBlue');
    expect(statesEntered(r.outcome)).not.toContain('RetainBlueForFailback');
  });

  it('rolls back when the reverse replication cannot be started: green was never opened', async () => {
    const r = await run(FAILBACK_INPUT, {
      faults: [{ state: 'StartFailbackReplication', error: 'Sandbox.Timedout' }],
    });
    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('Sandbox.Timedout');
    const entered = statesEntered(r.outcome);
    expect(entered).not.toContain('OpenGreen');
    // A Lambda that timed out may have left a subscription on blue: the rollback removes it first.
    expect(entered.indexOf('RemoveFailbackReplication')).toBeGreaterThan(
      entered.lastIndexOf('StartFailbackReplication'),
    );
    expect(entered.indexOf('UnfenceBlue')).toBeGreaterThan(entered.indexOf('RemoveFailbackReplication'));
    expect(entered).toContain('Rollback');
    expect(r.dbCalls).toContain('stop-failback');
    expect(r.cloud.record.values).toEqual([blueEndpoint(r)]);
    expect(greenId(r)).toBeUndefined();
  });

  it('stops a failback that fails part-way, keeps the lock, leaves the CNAME on green and says what to do', async () => {
    const r = await run(FAILBACK_INPUT, {
      failback: 'failback',
      faults: [{ state: 'CheckBlueCaughtUp', error: 'ReplicationFailed' }],
    });

    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('ReplicationFailed');
    const tasks = tasksEntered(r);
    expect(tasks).toContain('FenceGreen');
    // Nothing after the failure runs: blue stays fenced and closed, nothing is deleted.
    for (const state of ['MoveBlueSequences', 'EndFailbackReplication', 'UnfenceBlueForFailback', 'ReopenBlue']) {
      expect(tasks).not.toContain(state);
    }
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    expect(r.cloud.record.values).not.toEqual([blueEndpoint(r)]);
    expect(r.cloud.locks.size).toBe(1);
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toBe('ACTION NEEDED: deployment of app-blue failback failed');
    expect(notice?.message).toContain('no write is lost');
    expect(notice?.message).toContain('Green');
    expect(notice?.message).toContain('fenced (read-only) and holds every write');
    expect(notice?.message).toContain('RESET default_transaction_read_only');
  });

  it('when the offer itself fails, blue is kept and the notice says how to remove the replication first', async () => {
    const r = await run(FAILBACK_INPUT, { faults: [{ state: 'RetainBlueForFailback', error: 'ResourceFailed' }] });
    expect(r.outcome.status).toBe('FAILED');
    expect(statesEntered(r.outcome)).not.toContain('DeleteBlue');
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toBe('ACTION NEEDED: deployment of app-blue cleanup failed');
    expect(notice?.message).toContain('Blue still follows green (failback replication');
    expect(notice?.message).toContain('DROP SUBSCRIPTION');
  });

  it('a failback stopped by hand (no Catch) is reported by the recovery as FAILBACK_FAILED, lock kept, nothing touched', async () => {
    const r = await run(FAILBACK_INPUT, { failback: 'failback', abortAt: 'MoveBlueSequences' });
    expect(r.outcome.status).toBe('ABORTED');
    const recordBefore = [...r.cloud.record.values];
    const recovery = await runRecovery({
      recovery: testRecoveryDefinition(),
      ports: { ...r.cloud.ports(), executions: r.cloud.executions },
      ended: r.outcome,
      waitMs: 0,
      retryDelayMs: 0,
    });
    expect(recovery?.status).toBe('SUCCEEDED');
    expect(statesEntered(recovery!)).not.toContain('UnfenceBlue');
    expect(r.cloud.locks.size).toBe(1);
    expect(r.cloud.record.values).toEqual(recordBefore);
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toBe('ACTION NEEDED: deployment of app-blue failback failed');
    expect(notice?.message).toContain('fenced (read-only) and holds every write');
  });
});

describe('failback after cutover (online mode, synthesized definition)', () => {
  const ONLINE_FAILBACK = { ...FAILBACK_INPUT, mode: 'online' };

  it('starts the reverse replication after green caught up (forward subscription gone), then fails back', async () => {
    const r = await run(ONLINE_FAILBACK, { failback: 'failback' });

    expect(r.outcome.status).toBe('SUCCEEDED');
    const tasks = tasksEntered(r);
    // Forward replication first; the switchover's catch-up drops it; then the reverse starts, before OpenGreen.
    expect(tasks.indexOf('StartFailbackReplication')).toBeGreaterThan(tasks.indexOf('CatchUpGreen'));
    // Green was opened before the freeze, guarded; the guard is lifted after the reverse replication starts.
    expect(tasks.indexOf('UnguardGreen')).toBeGreaterThan(tasks.indexOf('StartFailbackReplication'));
    expect(tasks.indexOf('SwapCname')).toBeGreaterThan(tasks.indexOf('UnguardGreen'));
    expect(tasks).not.toContain('CheckFenceHeld');
    expect(tasks.slice(tasks.indexOf('RetainBlueForFailback'))).toEqual(FAILING_BACK);
    expect(r.dbCalls.indexOf('start-failback')).toBeGreaterThan(r.dbCalls.indexOf('catch-up-green'));
    expect(r.cloud.record.values).toEqual([blueEndpoint(r)]);
    expect((r.outcome.output?.report as { status?: string }).status).toBe('FAILED_BACK');
  });

  it('keeps green when nobody fails back: the reverse replication goes, then blue', async () => {
    const r = await run(ONLINE_FAILBACK, { failback: 'timeout' });
    expect(r.outcome.status).toBe('SUCCEEDED');
    const tasks = tasksEntered(r);
    expect(tasks.indexOf('DeleteBlue')).toBeGreaterThan(tasks.indexOf('StopFailbackReplication'));
    expect(r.cloud.clusters.has('app-blue')).toBe(false);
  });
});
