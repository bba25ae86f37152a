import {
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  type GetExecutionHistoryCommandOutput,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { blockedExecutions } from '../../../lambdas/aws/writes-blocked-sfn';

const sfn = mockClient(SFNClient);
const SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:aurora-bluegreen';
const exec = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:aurora-bluegreen:${name}`;
const NOW = new Date('2026-12-05T03:00:00Z');

/** A history page, newest first: a task's result event, then the state's entry with the document. */
function history(document: unknown): Partial<GetExecutionHistoryCommandOutput> {
  return {
    events: [
      { id: 12, type: 'TaskSubmitted' as const, timestamp: NOW },
      {
        id: 11,
        type: 'TaskStateEntered' as const,
        timestamp: NOW,
        stateEnteredEventDetails: { name: 'RequestApproval', input: JSON.stringify(document) },
      },
    ],
  };
}

beforeEach(() => sfn.reset());

describe('blockedExecutions', () => {
  it('reports a running execution whose latest document has writes blocked, with the seconds since', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { executionArn: exec('waiting'), stateMachineArn: SM, name: 'waiting', status: 'RUNNING', startDate: NOW },
        { executionArn: exec('cloning'), stateMachineArn: SM, name: 'cloning', status: 'RUNNING', startDate: NOW },
        { executionArn: exec('switched'), stateMachineArn: SM, name: 'switched', status: 'RUNNING', startDate: NOW },
      ],
    });
    sfn
      .on(GetExecutionHistoryCommand, { executionArn: exec('waiting') })
      .resolves(history({ input: { blueClusterId: 'orders-prod' }, block: { blockedAt: '2026-12-05T02:15:00Z' } }));
    // Before BlockWrites: nothing blocked.
    sfn
      .on(GetExecutionHistoryCommand, { executionArn: exec('cloning') })
      .resolves(history({ input: { blueClusterId: 'a' } }));
    // The CNAME is in sync on green: writes are back, though the run goes on (blue retained).
    sfn.on(GetExecutionHistoryCommand, { executionArn: exec('switched') }).resolves(
      history({
        input: { blueClusterId: 'b' },
        block: { blockedAt: '2026-12-05T01:00:00Z' },
        cutover: { changeId: 'C1', target: 'g', requestedAt: '2026-12-05T01:30:00Z' },
        wait: { cname: { done: true, polls: 1, status: 'INSYNC', checkedAt: '2026-12-05T01:31:00Z' } },
      }),
    );

    const blocked = await blockedExecutions(new SFNClient({}), SM, NOW);

    expect(blocked).toEqual([
      {
        executionArn: exec('waiting'),
        blueClusterId: 'orders-prod',
        blockedSince: '2026-12-05T02:15:00Z',
        seconds: 2700,
      },
    ]);
    expect(sfn).toHaveReceivedCommandWith(ListExecutionsCommand, { stateMachineArn: SM, statusFilter: 'RUNNING' });
    expect(sfn).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: exec('waiting'),
      reverseOrder: true,
      includeExecutionData: true,
    });
  });

  it('counts a rollback that is still restoring blue as blocked, and one that finished as not', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { executionArn: exec('rolling'), stateMachineArn: SM, name: 'rolling', status: 'RUNNING', startDate: NOW },
        { executionArn: exec('restored'), stateMachineArn: SM, name: 'restored', status: 'RUNNING', startDate: NOW },
      ],
    });
    const doc = (done: boolean) => ({
      input: { blueClusterId: 'orders-prod' },
      fence: { fencedAt: '2026-12-05T02:59:00Z' },
      wait: { rollback: { done, polls: 2, status: 'x', checkedAt: '2026-12-05T02:59:30Z' } },
    });
    sfn.on(GetExecutionHistoryCommand, { executionArn: exec('rolling') }).resolves(history(doc(false)));
    sfn.on(GetExecutionHistoryCommand, { executionArn: exec('restored') }).resolves(history(doc(true)));

    const blocked = await blockedExecutions(new SFNClient({}), SM, NOW);

    expect(blocked.map((b) => [b.executionArn, b.seconds])).toEqual([[exec('rolling'), 60]]);
  });

  it('follows the list of running executions across pages', async () => {
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({
        executions: [
          { executionArn: exec('one'), stateMachineArn: SM, name: 'one', status: 'RUNNING', startDate: NOW },
        ],
        nextToken: 'page2',
      })
      .resolvesOnce({
        executions: [
          { executionArn: exec('two'), stateMachineArn: SM, name: 'two', status: 'RUNNING', startDate: NOW },
        ],
      });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolves(history({ input: { blueClusterId: 'orders-prod' }, block: { blockedAt: '2026-12-05T02:00:00Z' } }));

    const blocked = await blockedExecutions(new SFNClient({}), SM, NOW);

    expect(blocked).toHaveLength(2);
    expect(sfn).toHaveReceivedCommandWith(ListExecutionsCommand, { nextToken: 'page2' });
  });
});
