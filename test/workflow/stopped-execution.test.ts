import type { StepFunction } from '../../lambdas/steps/index';
import { TASKS } from '../../lambdas/steps/catalog';
import { STEPS } from '../../lambdas/steps/index';
import { runRecovery, type ExecutionOutcome } from '../../local/workflow/execute';
import { ADMIN_SG, APP_SGS, RECORD } from '../support/fake-cloud';
import { BASE_INPUT, run, statesEntered, testRecoveryDefinition, type Run } from './harness';

/**
 * "Stop execution" skips every Catch. These tests stop real executions of the synthesized
 * definition at a given state, then run the synthesized recovery state machine as the
 * EventBridge rule would, on the same (fake) cloud.
 */

const ORIGINAL_GROUPS = [ADMIN_SG, ...APP_SGS].map((g) => `${g}:active`).sort();

function blueGroups(r: Run): string[] {
  return (r.cloud.clusters.get('app-blue')?.securityGroups.map((g) => `${g.id}:${g.status}`) ?? []).sort();
}

function greenIds(r: Run): string[] {
  return [...r.cloud.clusters.keys()].filter((id) => id !== 'app-blue');
}

async function recover(r: Run): Promise<ExecutionOutcome | undefined> {
  return runRecovery({
    recovery: testRecoveryDefinition(),
    ports: { ...r.cloud.ports(), executions: r.cloud.executions },
    ended: r.outcome,
    waitMs: 0,
    retryDelayMs: 0,
    stepOverrides: {
      'unfence-blue': async (event) => {
        r.dbCalls.push('unfence');
        return { databases: (event as { fence?: { changedDatabases: string[] } }).fence?.changedDatabases ?? [] };
      },
    },
  });
}

describe('an execution stopped before OpenGreen is rolled back by the recovery', () => {
  it.each([
    // state where it is stopped, and whether blue's groups were detached by then
    ['BlockWrites', false],
    ['CheckCnameTtl', false],
    ['FenceWrites', true],
    ['CheckClone', true],
    ['CheckGreenWriter', true],
    ['ApplySql', true],
    ['RequestApproval', true],
  ])('stopped as %s starts', async (state, detached) => {
    const r = await run(BASE_INPUT, { abortAt: state, approval: 'none' });
    expect(r.outcome.status).toBe('ABORTED');
    expect(statesEntered(r.outcome).at(-1)).toBe(state);
    // What a stop leaves behind: no Catch ran, the lock is held, the TTL lowered.
    expect(r.cloud.locks.get('app-blue')).toBeDefined();
    expect(r.cloud.record.ttl).toBe(5);
    if (detached) expect(blueGroups(r)).not.toEqual(ORIGINAL_GROUPS);
    const greenBefore = greenIds(r);

    const recovery = await recover(r);

    expect(recovery?.status).toBe('SUCCEEDED');
    expect(statesEntered(recovery!)).toEqual(expect.arrayContaining(['UnfenceBlue', 'Rollback', 'ReleaseLock']));
    expect(blueGroups(r)).toEqual(ORIGINAL_GROUPS);
    expect(greenIds(r)).toEqual([]);
    expect(r.cloud.locks.size).toBe(0);
    expect(r.cloud.record.ttl).toBe(300);
    expect(r.cloud.record.values).toEqual([r.cloud.clusters.get('app-blue')?.endpoint]);
    expect(r.dbCalls).toContain('unfence');
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toBe('Deployment of app-blue rolled back: ExecutionAborted');
    expect(notice?.message).toContain(`ended ABORTED in state ${state}`);
    expect(notice?.message).toContain(detached ? 'has its original security groups back' : 'kept its security groups');
    // Green, when it had been made, was this execution's (tagged) and was deleted.
    expect(r.cloud.calls.some((c) => c.op === 'deleteCluster')).toBe(greenBefore.length > 0);
  });

  it("leaves a same-named green that is not this execution's alone", async () => {
    const r = await run(BASE_INPUT, { abortAt: 'CreateClone', approval: 'none' });
    const greenId = (r.outcome.taskInputs.at(-1)?.input as { input: { greenClusterId: string } }).input.greenClusterId;
    // Someone else's cluster, created under green's name after the stop (no execution tag).
    const blue = r.cloud.clusters.get('app-blue');
    r.cloud.clusters.set(greenId, { ...structuredClone(blue!), id: greenId, tags: {} });
    await recover(r);
    expect(r.cloud.clusters.has(greenId)).toBe(true);
    expect(r.cloud.calls.filter((c) => c.op === 'deleteCluster')).toEqual([]);
  });

  it('first waits out the Lambda of the task it was stopped in (it may still be running in AWS)', async () => {
    const r = await run(BASE_INPUT, { abortAt: 'ApplySql', approval: 'none' });
    const recovery = await recover(r);
    const settleOf = (run: ExecutionOutcome | undefined) =>
      (
        run?.events.find((e) => e.type === 'StateExited' && e.state?.name === 'ReadStoppedExecution')?.state
          ?.output as { recovery: { settleSeconds: number } }
      ).recovery.settleSeconds;
    expect(settleOf(recovery)).toBe(TASKS.ApplySql.timeoutSeconds);
    const entered = statesEntered(recovery!);
    expect(entered.indexOf('WaitForStoppedTask')).toBeLessThan(entered.indexOf('UnfenceBlue'));
    // Stopped in a Wait, nothing was running: nothing to wait for.
    const retained = await run(BASE_INPUT, { abortAt: 'RetainBlue' });
    expect(settleOf(await recover(retained))).toBe(0);
  });
});

describe('an execution stopped after OpenGreen is not undone', () => {
  it('stopped during the cutover: notifies with the state and the commands, touches nothing', async () => {
    const r = await run(BASE_INPUT, { abortAt: 'SwapCname' });
    expect(r.outcome.status).toBe('ABORTED');
    const callsBefore = r.cloud.calls.length;
    const notesBefore = r.cloud.notifications.length;

    const recovery = await recover(r);

    expect(recovery?.status).toBe('SUCCEEDED');
    expect(statesEntered(recovery!)).not.toContain('Rollback');
    expect(r.cloud.calls.slice(callsBefore)).toEqual([]);
    expect(greenIds(r)).toHaveLength(1);
    expect(r.cloud.locks.get('app-blue')).toBeDefined();
    expect(r.cloud.notifications).toHaveLength(notesBefore + 1);
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toContain('ACTION NEEDED');
    expect(notice?.message).toContain('ended ABORTED in state SwapCname');
    expect(notice?.message).toContain('Nothing was rolled back automatically');
    expect(notice?.message).toContain(`aws route53 change-resource-record-sets`);
    expect(notice?.message).toContain(RECORD);
    expect(notice?.message).toContain('lock on app-blue is still held');
  });

  it('stopped while blue is retained: releases the lock and says what is left to do about blue', async () => {
    const r = await run(BASE_INPUT, { abortAt: 'RetainBlue' });
    const callsBefore = r.cloud.calls.length;
    const recovery = await recover(r);
    expect(recovery?.status).toBe('SUCCEEDED');
    expect(r.cloud.calls.slice(callsBefore)).toEqual([]);
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    expect(r.cloud.locks.size).toBe(0);
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.message).toContain('The cutover succeeded');
    expect(notice?.message).toContain('ended ABORTED in state RetainBlue');
    expect(notice?.message).toContain('aws rds delete-db-cluster --db-cluster-identifier app-blue');
  });
});

describe('a FAILED execution', () => {
  it('that went through its own rollback and report: the recovery does nothing', async () => {
    const r = await run(BASE_INPUT, { approval: 'reject' });
    expect(r.outcome.status).toBe('FAILED');
    const callsBefore = r.cloud.calls.length;
    const notesBefore = r.cloud.notifications.length;
    const recovery = await recover(r);
    expect(statesEntered(recovery!)).toContain('NothingToRecover');
    expect(r.cloud.calls.slice(callsBefore)).toEqual([]);
    expect(r.cloud.notifications).toHaveLength(notesBefore);
  });

  it('that failed where no Catch applies (a state machine runtime error): the recovery rolls back', async () => {
    // CheckClone answers without `done`: its Choice fails with States.Runtime, which no Catch handles.
    const brokenCheck: StepFunction = async (event, ports) => {
      await STEPS['check-clone']?.(event, ports);
      return { polls: 1 };
    };
    const r = await run(BASE_INPUT, { stepOverrides: { 'check-clone': brokenCheck } });
    expect(r.outcome.status).toBe('FAILED');
    expect(statesEntered(r.outcome)).not.toContain('Rollback');
    expect(r.cloud.locks.size).toBe(1);

    await recover(r);

    expect(blueGroups(r)).toEqual(ORIGINAL_GROUPS);
    expect(greenIds(r)).toEqual([]);
    expect(r.cloud.locks.size).toBe(0);
    expect(r.cloud.notifications.at(-1)?.subject).toBe('Deployment of app-blue rolled back: ExecutionFailed');
  });

  it('a successful execution starts no recovery', async () => {
    const r = await run(BASE_INPUT);
    expect(r.outcome.status).toBe('SUCCEEDED');
    await expect(recover(r)).resolves.toBeUndefined();
  });
});
