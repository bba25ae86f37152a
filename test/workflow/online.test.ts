import { ReplicationFailed, SmokeTestFailed, WritesAfterFence } from '../../lambdas/domain/errors';
import { STEPS, type StepFunction } from '../../lambdas/steps/index';
import { runRecovery } from '../../local/workflow/execute';
import { ADMIN_SG, APP_SGS, type FakeCloud } from '../support/fake-cloud';
import { BASE_INPUT, run, statesEntered, testRecoveryDefinition, type Run } from './harness';

/**
 * Online mode through the real synthesized definition (fake cloud; the database steps are the
 * harness's recorders): blue is not blocked before the clone, replication starts after the
 * readers, the switchover blocks and fences blue only after the approval, and every failure
 * before OpenGreen removes the replication and leaves blue as it was.
 */

const ONLINE = { ...BASE_INPUT, mode: 'online' };
const ORIGINAL_GROUPS = [ADMIN_SG, ...APP_SGS].sort();

function blueGroups(r: Run): string[] {
  return (r.cloud.clusters.get('app-blue')?.securityGroups.map((g) => g.id) ?? []).sort();
}

/** The fake cloud's operations on blue's security groups. */
function blueGroupChanges(r: Pick<Run, 'cloud'>): unknown[] {
  return r.cloud.calls.filter((c) => c.op === 'setSecurityGroups' && JSON.stringify(c).includes('"app-blue"'));
}

const failing =
  (error: Error): StepFunction =>
  async () => {
    throw error;
  };

function expectRolledBackWithoutFence(r: Run, error: string): string[] {
  expect(r.outcome.status).toBe('FAILED');
  expect(r.outcome.error?.name).toBe(error);
  const states = statesEntered(r.outcome);
  expect(states).toEqual(expect.arrayContaining(['RemoveReplication', 'UnfenceBlue', 'Rollback', 'ReleaseLock']));
  expect(states.indexOf('RemoveReplication')).toBeLessThan(states.indexOf('Rollback'));
  expect(states).not.toContain('OpenGreen');
  expect(r.dbCalls).toContain('remove-replication');
  // Blue never stopped serving: never blocked, never fenced.
  expect(r.dbCalls).not.toContain('fence');
  expect(r.dbCalls).not.toContain('switchover-fence');
  expect(blueGroupChanges(r)).toEqual([]);
  expect(blueGroups(r)).toEqual(ORIGINAL_GROUPS);
  expect([...r.cloud.clusters.keys()]).toEqual(['app-blue']);
  expect(r.cloud.locks.size).toBe(0);
  return states;
}

describe('online mode (workflow, real definition)', () => {
  it('succeeds: replication before the clone, no block until after the approval, then the switchover', async () => {
    let groupChangesAtApproval: unknown[] | undefined;
    let cloud: FakeCloud | undefined;
    const r = await run(ONLINE, {
      prepare: (c) => {
        cloud = c;
      },
      stepOverrides: {
        'request-approval': async (event, ports) => {
          groupChangesAtApproval = blueGroupChanges({ cloud: cloud as FakeCloud });
          return (STEPS['request-approval'] as StepFunction)(event, ports);
        },
      },
    });

    expect(r.outcome.status).toBe('SUCCEEDED');
    const states = statesEntered(r.outcome);
    const at = (state: string) => {
      expect(states).toContain(state);
      return states.indexOf(state);
    };
    expect(at('PrepareReplication')).toBeLessThan(at('CheckRestorable'));
    expect(at('CheckRestorable')).toBeLessThan(at('CreateClone'));
    expect(at('CheckGreenWriter')).toBeLessThan(at('PrepareGreenReplication'));
    expect(at('PrepareGreenReplication')).toBeLessThan(at('ApplySql'));
    expect(at('CheckReplicas')).toBeLessThan(at('StartReplication'));
    expect(at('StartReplication')).toBeLessThan(at('CheckReplication'));
    expect(at('CheckReplication')).toBeLessThan(at('SmokeTest'));
    // Green is guarded read-only, then opened before the freeze: the freeze holds no RDS modify.
    expect(at('RequestApproval')).toBeLessThan(at('GuardGreen'));
    expect(at('GuardGreen')).toBeLessThan(at('OpenGuardedGreen'));
    expect(at('OpenGuardedGreen')).toBeLessThan(at('CheckGuardedGreenOpen'));
    expect(at('CheckGuardedGreenOpen')).toBeLessThan(at('SwitchoverFence'));
    expect(at('SwitchoverFence')).toBeLessThan(at('CatchUpGreen'));
    expect(at('CatchUpGreen')).toBeLessThan(at('UnguardGreen'));
    expect(at('UnguardGreen')).toBeLessThan(at('SwapCname'));
    // Between the fence and the CNAME: SQL only, no security-group change.
    const freeze = states.slice(at('SwitchoverFence'), at('SwapCname'));
    expect(freeze.filter((s) => !s.startsWith('Is'))).toEqual(['SwitchoverFence', 'CatchUpGreen', 'UnguardGreen']);
    // Blue's groups go only once green serves; then what reconnected to blue meanwhile is ended
    // and blue's slots are read once more (CloseBlue), before the retention.
    expect(states.slice(at('CheckCname')).filter((s) => !s.startsWith('Is') && !s.startsWith('WaitFor'))).toEqual([
      'CheckCname',
      'EndBlueSessions',
      'SwitchoverBlockWrites',
      'CheckSwitchoverBlocked',
      'CloseBlue',
      'RetainBlue',
      'RecheckFenceHeld',
      'DeleteBlue',
      'CheckBlueDeleted',
      'ReleaseLock',
      'Outcome',
      'Report',
      'DeploymentSucceeded',
    ]);
    expect(r.dbCalls.indexOf('guard-green')).toBeLessThan(r.dbCalls.indexOf('switchover-fence'));
    expect(r.dbCalls.indexOf('unguard-green')).toBeGreaterThan(r.dbCalls.indexOf('catch-up-green'));
    // The offline path's states are not taken: no block or fence before the clone, no statistics settle.
    for (const offline of [
      'BlockWrites',
      'FenceWrites',
      'VerifyClone',
      'CheckFenceHeld',
      'RemoveReplication',
      'OpenGreen',
    ]) {
      expect(states).not.toContain(offline);
    }
    expect(r.dbCalls.indexOf('switchover-fence')).toBeGreaterThan(r.dbCalls.indexOf('smoke'));
    // Blue's groups were untouched until the approval; the switchover detached them.
    expect(groupChangesAtApproval).toEqual([]);
    expect(blueGroupChanges(r)).toHaveLength(1);
    // The approver saw the replication lag.
    const approval = r.cloud.approvalsStored.at(-1);
    expect(approval?.evidence).toMatchObject({ replicationLagBytes: 120 });
    const green = [...r.cloud.clusters.values()].find((c) => c.id !== 'app-blue');
    expect(r.cloud.record.values).toEqual([green?.endpoint]);
  });

  it('rolls back before the switchover when a smoke test fails: replication removed, green deleted, blue untouched', async () => {
    const r = await run(ONLINE, {
      stepOverrides: { 'smoke-test': failing(new SmokeTestFailed('orders readable: 0 rows')) },
    });
    const states = expectRolledBackWithoutFence(r, 'SmokeTestFailed');
    expect(states).not.toContain('RequestApproval');
    expect(r.cloud.notifications.at(-1)?.subject).toBe('Deployment of app-blue rolled back: SmokeTestFailed');
  });

  it('rolls back on DDL seen on blue during replication (CheckReplication)', async () => {
    const message = 'the tables or columns of database app on blue changed while replicating';
    const r = await run(ONLINE, { stepOverrides: { 'check-replication': failing(new ReplicationFailed(message)) } });
    const states = expectRolledBackWithoutFence(r, 'ReplicationFailed');
    expect(states).not.toContain('SmokeTest');
    expect(r.cloud.notifications.at(-1)?.message).toContain(message);
  });

  it('rolls back on a replication error found at the switchover: blue is un-fenced, its groups never changed', async () => {
    const message = 'the apply on green of database app failed 1 time(s)';
    const r = await run(ONLINE, { stepOverrides: { 'catch-up-green': failing(new ReplicationFailed(message)) } });

    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('ReplicationFailed');
    const states = statesEntered(r.outcome);
    expect(states).toEqual(
      expect.arrayContaining(['SwitchoverFence', 'CatchUpGreen', 'RemoveReplication', 'UnfenceBlue', 'Rollback']),
    );
    expect(states).not.toContain('OpenGreen');
    expect(r.dbCalls).toEqual(expect.arrayContaining(['switchover-fence', 'remove-replication', 'unfence']));
    expect(blueGroups(r)).toEqual(ORIGINAL_GROUPS);
    expect([...r.cloud.clusters.keys()]).toEqual(['app-blue']);
    expect(r.cloud.record.values).toEqual([r.cloud.clusters.get('app-blue')?.endpoint]);
    expect(r.cloud.notifications.at(-1)?.message).toContain(message);
  });

  it("rolls back after the early open: green (given blue's deletion protection) is deleted, blue keeps its groups", async () => {
    const r = await run(ONLINE, {
      prepare: (c) => {
        c.clusters.get('app-blue')!.deletionProtection = true;
      },
      stepOverrides: { 'catch-up-green': failing(new ReplicationFailed('green did not confirm')) },
    });
    expect(r.outcome.status).toBe('FAILED');
    const states = statesEntered(r.outcome);
    expect(states.indexOf('CheckGuardedGreenOpen')).toBeLessThan(states.indexOf('CatchUpGreen'));
    expect(states).toEqual(expect.arrayContaining(['RemoveReplication', 'UnfenceBlue', 'Rollback', 'ReleaseLock']));
    expect(states).not.toContain('UnguardGreen');
    // OpenGuardedGreen protected green; the rollback lifted that, then deleted it.
    expect(r.cloud.calls.filter((c) => c.op === 'setDeletionProtection')).toEqual([
      { op: 'setDeletionProtection', args: { id: expect.not.stringMatching(/^app-blue$/), enabled: false } },
    ]);
    expect([...r.cloud.clusters.keys()]).toEqual(['app-blue']);
    expect(blueGroups(r)).toEqual(ORIGINAL_GROUPS);
    expect(r.cloud.locks.size).toBe(0);
  });

  it('a write on blue after the catch-up (CloseBlue) stops the run after the cutover: green serves, blue is kept, the tables named', async () => {
    const cause =
      'Blue app-blue took writes after green caught up with it: database app: 2 row change(s) in app.orders.';
    const r = await run(ONLINE, { stepOverrides: { 'close-blue': failing(new WritesAfterFence(cause)) } });

    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('WritesAfterFence');
    const states = statesEntered(r.outcome);
    expect(states.indexOf('CheckSwitchoverBlocked')).toBeLessThan(states.indexOf('CloseBlue'));
    expect(states).not.toContain('DeleteBlue');
    expect(states).not.toContain('RetainBlue');
    const green = [...r.cloud.clusters.keys()].find((id) => id !== 'app-blue');
    expect(r.cloud.record.values).toEqual([r.cloud.clusters.get(green ?? '')?.endpoint]);
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    expect(blueGroups(r)).toEqual([ADMIN_SG]);
    const notice = r.cloud.notifications.at(-1)?.message ?? '';
    expect(notice).toContain('app.orders');
    expect(notice).toContain('The cutover succeeded');
  });

  it("blue's groups that cannot be detached after the swap: green serves, blue is kept, the notice says to drop blue's slots", async () => {
    const r = await run(ONLINE, {
      faults: [{ state: 'SwitchoverBlockWrites', error: 'InvalidDBClusterStateFault', count: 99 }],
    });

    expect(r.outcome.status).toBe('FAILED');
    const states = statesEntered(r.outcome);
    expect(states.indexOf('EndBlueSessions')).toBeLessThan(states.indexOf('SwitchoverBlockWrites'));
    expect(states).not.toContain('CloseBlue');
    expect(states).not.toContain('DeleteBlue');
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    const notice = r.cloud.notifications.at(-1)?.message ?? '';
    expect(notice).toContain('The cutover succeeded');
    expect(notice).toMatch(/blue may still hold this execution's replication slots .*pg_drop_replication_slot/);
  });

  it('rolls back on a rejected approval without ever blocking blue', async () => {
    const r = await run(ONLINE, { approval: 'reject' });
    const states = expectRolledBackWithoutFence(r, 'ApprovalRejected');
    expect(states).not.toContain('SwitchoverBlockWrites');
  });

  it('a dry run removes the replication before it deletes green', async () => {
    const r = await run({ ...ONLINE, dryRun: true });

    expect(r.outcome.status).toBe('SUCCEEDED');
    const states = statesEntered(r.outcome);
    expect(states).toContain('StartReplication');
    expect(states.indexOf('RemoveDryRunReplication')).toBeGreaterThan(states.indexOf('SmokeTest'));
    expect(states.indexOf('RemoveDryRunReplication')).toBeLessThan(states.indexOf('DiscardGreen'));
    expect(states).not.toContain('RequestApproval');
    expect(r.dbCalls).toContain('remove-replication');
    expect([...r.cloud.clusters.keys()]).toEqual(['app-blue']);
  });

  it('a failed removal still restores blue and deletes green, keeps the lock and says what to remove', async () => {
    const r = await run(ONLINE, {
      approval: 'reject',
      stepOverrides: {
        'remove-replication': failing(new ReplicationFailed('slot bg_slot is still in use by pid 4242')),
      },
    });

    expect(r.outcome.status).toBe('FAILED');
    const states = statesEntered(r.outcome);
    expect(states).toEqual(expect.arrayContaining(['RemoveReplication', 'UnfenceBlue', 'Rollback', 'ReportFailure']));
    expect([...r.cloud.clusters.keys()]).toEqual(['app-blue']);
    expect(blueGroups(r)).toEqual(ORIGINAL_GROUPS);
    expect(r.cloud.locks.size).toBe(1);
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toContain('ACTION NEEDED');
    expect(notice?.message).toContain('slot bg_slot is still in use by pid 4242');
    expect(notice?.message).toMatch(/pg_drop_replication_slot/);
  });

  it('an execution stopped during replication is cleaned up by the recovery state machine', async () => {
    const r = await run(ONLINE, { abortAt: 'SmokeTest', approval: 'none' });
    expect(r.outcome.status).toBe('ABORTED');
    const removed: string[] = [];
    const recovery = await runRecovery({
      recovery: testRecoveryDefinition(),
      ports: { ...r.cloud.ports(), executions: r.cloud.executions },
      ended: r.outcome,
      waitMs: 0,
      retryDelayMs: 0,
      stepOverrides: {
        'remove-replication': async (event) => {
          removed.push((event as { input: { mode: string } }).input.mode);
          return { removed: ['slot bg_slot on blue'] };
        },
        'unfence-blue': async () => ({ databases: [] }),
      },
    });

    expect(recovery?.status).toBe('SUCCEEDED');
    const states = statesEntered(recovery!);
    expect(states.indexOf('RemoveReplication')).toBeGreaterThan(-1);
    expect(states.indexOf('RemoveReplication')).toBeLessThan(states.indexOf('Rollback'));
    expect(removed).toEqual(['online']);
    expect([...r.cloud.clusters.keys()]).toEqual(['app-blue']);
    expect(r.cloud.locks.size).toBe(0);
  });
});
