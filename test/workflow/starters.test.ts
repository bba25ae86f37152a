import { LocalExecutionStarters, localStarterName } from '../../local/workflow/starters';
import { BASE_INPUT, run } from './harness';

/**
 * The local executor records who started each run, as CloudTrail records `StartExecution` in AWS:
 * the approval endpoint's forbidSelfApproval reads it, never the run's input.
 */
describe('who started a local execution', () => {
  it('is recorded by the executor under the execution ARN', async () => {
    const starters = new LocalExecutionStarters();
    const r = await run(BASE_INPUT, {
      starters,
      startedBy: 'alice@example.com',
      abortAt: 'AcquireLock',
      approval: 'none',
    });
    expect(await starters.startedBy(r.outcome.executionArn)).toEqual({
      arn: 'local-user/alice@example.com',
      names: ['alice@example.com'],
    });
    expect(await starters.startedBy(`${r.outcome.executionArn}-other`)).toBeUndefined();
  });

  it("defaults to the operating system's user", async () => {
    const starters = new LocalExecutionStarters();
    const r = await run(BASE_INPUT, { starters, abortAt: 'AcquireLock', approval: 'none' });
    expect((await starters.startedBy(r.outcome.executionArn))?.names).toEqual([localStarterName()]);
  });
});
