import { PreconditionFailed } from '../../../lambdas/domain/errors';
import type { ExecutionStateEvent } from '../../../lambdas/ports';
import { TASKS } from '../../../lambdas/steps/catalog';
import { readStoppedExecution } from '../../../lambdas/steps/recover';
import { LocalExecutions } from '../../../local/cloud/simple-ports';
import { makeInput } from '../../support/documents';

const ARN = 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-1';
const input = makeInput();
const blue = {
  id: 'orders-prod',
  cname: { target: 'orders-prod.cluster-x', ttl: 300 },
  originalSecurityGroupIds: ['sg-a'],
};

function event(status = 'ABORTED') {
  return { source: 'aws.states', detail: { executionArn: ARN, status } };
}

function entered(state: string, doc: unknown): ExecutionStateEvent {
  return { state, phase: 'entered', json: JSON.stringify(doc) };
}

async function read(status: string, states: ExecutionStateEvent[]) {
  const executions = new LocalExecutions();
  executions.record({ executionArn: ARN, status, input: '{"blueClusterId":"orders-prod"}', states });
  return readStoppedExecution(event(status), { executions });
}

describe('ReadStoppedExecution', () => {
  it('refuses an input that is not a status-change event, naming the field', async () => {
    const executions = new LocalExecutions();
    const bad = readStoppedExecution({ detail: { status: 'ABORTED' } }, { executions });
    await expect(bad).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(readStoppedExecution({ detail: { status: 'ABORTED' } }, { executions })).rejects.toThrow(
      'detail.executionArn',
    );
  });

  it('refuses an execution that does not exist', async () => {
    await expect(readStoppedExecution(event(), { executions: new LocalExecutions() })).rejects.toThrow(
      `Execution ${ARN} does not exist`,
    );
  });

  it('rebuilds the document of the last state entered and rolls back, waiting out the running task first', async () => {
    const doc = { input, blue, lock: { key: 'orders-prod', owner: input.executionId, acquiredAt: 'x' } };
    const out = await read('ABORTED', [entered('AcquireLock', { input, blue }), entered('ApplySql', doc)]);
    expect(out).toMatchObject({ input, blue, lock: doc.lock });
    expect(out.recovery).toEqual({
      executionArn: ARN,
      status: 'ABORTED',
      stoppedIn: 'ApplySql',
      action: 'rollback',
      settleSeconds: TASKS.ApplySql.timeoutSeconds,
    });
    expect(out.error).toEqual({
      Error: 'ExecutionAborted',
      Cause: `Execution ${ARN} ended ABORTED in state ApplySql (stopped by hand: no Catch ran).`,
    });
  });

  it('restores the TTL when stopped while lowering it (the change may have landed unrecorded)', async () => {
    const out = await read('TIMED_OUT', [entered('LowerCnameTtl', { input, blue })]);
    expect(out.ttl).toEqual({ changed: true, previousTtl: 300 });
    expect(out.error).toMatchObject({ Error: 'ExecutionTimedOut' });
  });

  it('keeps the original failure in the cause when stopped during a rollback, and runs the rollback afresh', async () => {
    const doc = { input, blue, error: { Error: 'MigrationFailed', Cause: 'bad sql' }, rollbackError: { Error: 'X' } };
    const out = await read('ABORTED', [entered('CheckRollback', doc)]);
    expect(out.recovery.action).toBe('rollback');
    expect(out.rollbackError).toBeUndefined();
    expect(String((out.error as { Cause: string }).Cause)).toContain('while handling MigrationFailed: bad sql');
  });

  it('says nothing was changed when stopped before the input was validated', async () => {
    const out = await read('ABORTED', [entered('ValidateInput', { blueClusterId: 'orders-prod' })]);
    expect(out.recovery.action).toBe('report');
    expect(out).not.toHaveProperty('input');
  });

  it('never rolls back once OpenGreen was entered, even when stopped on the failure path', async () => {
    const doc = { input, blue, open: { securityGroupIds: ['sg-a'], openedAt: 'x' } };
    const out = await read('ABORTED', [entered('OpenGreen', { input, blue }), entered('ReleaseLock', doc)]);
    expect(out.recovery.action).toBe('report');
    expect(out.cutoverError).toMatchObject({ Error: 'ExecutionAborted' });
    expect(out.error).toBeUndefined();
  });

  it('online mode: rolls back when stopped after the early open while green is still guarded, not once the guard is lifted', async () => {
    const online = { ...input, mode: 'online' };
    const guard = { databases: ['app'], changedDatabases: ['app'], guardedAt: 'x' };
    const opened = { input: online, blue, greenGuard: guard, open: { securityGroupIds: ['sg-a'], openedAt: 'x' } };
    const early = await read('ABORTED', [
      entered('OpenGuardedGreen', { input: online, blue }),
      entered('CatchUpGreen', opened),
    ]);
    expect(early.recovery.action).toBe('rollback');
    expect(early.error).toMatchObject({ Error: 'ExecutionAborted' });
    const lifted = await read('ABORTED', [entered('CatchUpGreen', opened), entered('UnguardGreen', opened)]);
    expect(lifted.recovery.action).toBe('report');
    expect(lifted.cutoverError).toMatchObject({ Error: 'ExecutionAborted' });
  });

  it('does nothing for a FAILED execution whose own failure path reached ReportFailure', async () => {
    const out = await read('FAILED', [entered('Rollback', { input, blue }), entered('ReportFailure', { input, blue })]);
    expect(out.recovery.action).toBe('none');
  });

  it('rolls back a FAILED execution that never reached ReportFailure', async () => {
    const out = await read('FAILED', [entered('IsCloneDone', { input, blue })]);
    expect(out.recovery).toMatchObject({ action: 'rollback', settleSeconds: 0 });
    expect(out.error).toMatchObject({ Error: 'ExecutionFailed' });
  });
});
