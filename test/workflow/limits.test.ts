import { parseInput } from '../../lambdas/domain/input';
import {
  EVENTS_PER_POLL,
  FIXED_HISTORY_EVENTS,
  HISTORY_EVENT_LIMIT,
  MAX_POLLS,
  MAX_POLLS_ONLINE,
  maxPollsFor,
  ONLINE_POLL_LOOPS_ON_LONGEST_PATH,
  pollLoopsFor,
  POLL_LOOPS_ON_LONGEST_PATH,
} from '../../lambdas/domain/limits';
import { BLUE, DEFAULTS, EXECUTION } from '../support/step-fixtures';
import { testDefinition } from './harness';
import { historyShape } from './history-budget';

const validate = (raw: Record<string, unknown>, defaults: Record<string, unknown> = {}) =>
  parseInput({ raw: { blueClusterId: BLUE, ...raw }, defaults: { ...DEFAULTS, ...defaults }, execution: EXECUTION });

describe('Step Functions limits that nothing could catch', () => {
  it('knows the synthesized graph: its loops, the events a poll costs, and the rest of the longest path', () => {
    const shape = historyShape(testDefinition());
    // The longest path is online mode's with failback; the offline one has three loops fewer, and
    // failback adds one in either mode.
    expect(shape.loopsOnLongestPath).toBe(pollLoopsFor({ mode: 'online', failback: true }));
    expect(pollLoopsFor({ mode: 'online', failback: false })).toBe(ONLINE_POLL_LOOPS_ON_LONGEST_PATH);
    expect(ONLINE_POLL_LOOPS_ON_LONGEST_PATH - 3).toBe(POLL_LOOPS_ON_LONGEST_PATH);
    expect(shape.eventsPerPoll).toBe(EVENTS_PER_POLL);
    expect(shape.fixedEvents).toBeLessThanOrEqual(FIXED_HISTORY_EVENTS);
    // The largest accepted maxPolls, every loop run to it, stays under the quota.
    expect(
      shape.fixedEvents +
        shape.loopsOnLongestPath * shape.eventsPerPoll * maxPollsFor({ mode: 'online', failback: true }),
    ).toBeLessThan(HISTORY_EVENT_LIMIT);
    expect(shape.fixedEvents + ONLINE_POLL_LOOPS_ON_LONGEST_PATH * shape.eventsPerPoll * MAX_POLLS_ONLINE).toBeLessThan(
      HISTORY_EVENT_LIMIT,
    );
    expect(shape.fixedEvents + POLL_LOOPS_ON_LONGEST_PATH * shape.eventsPerPoll * MAX_POLLS).toBeLessThan(
      HISTORY_EVENT_LIMIT,
    );
  });

  it('online mode: caps the configured maxPolls for its longer path, and refuses a larger one in the input', () => {
    expect(validate({ mode: 'online' }, { maxPolls: 240 }).maxPolls).toBe(MAX_POLLS_ONLINE);
    expect(validate({ mode: 'offline' }, { maxPolls: 240 }).maxPolls).toBe(240);
    expect(validate({ mode: 'online', maxPolls: MAX_POLLS_ONLINE }).maxPolls).toBe(MAX_POLLS_ONLINE);
    expect(() => validate({ mode: 'online', maxPolls: MAX_POLLS_ONLINE + 1 })).toThrow(
      new RegExp(`maxPolls: at most ${MAX_POLLS_ONLINE} in online mode`),
    );
  });

  it('failback: caps the configured maxPolls for its extra loop, and refuses a larger one in the input', () => {
    const offline = maxPollsFor({ mode: 'offline', failback: true });
    const online = maxPollsFor({ mode: 'online', failback: true });
    expect(offline).toBeLessThan(MAX_POLLS);
    expect(online).toBeLessThan(MAX_POLLS_ONLINE);
    expect(validate({ failback: true, blueRetentionSeconds: 3600 }, { maxPolls: MAX_POLLS }).maxPolls).toBe(offline);
    expect(
      validate({ mode: 'online', failback: true, blueRetentionSeconds: 3600 }, { maxPolls: MAX_POLLS }).maxPolls,
    ).toBe(online);
    expect(() => validate({ failback: true, blueRetentionSeconds: 3600, maxPolls: offline + 1 })).toThrow(
      new RegExp(`maxPolls: at most ${offline} in offline mode with failback: its 12 poll loops`),
    );
    expect(() =>
      validate({ mode: 'online', failback: true, blueRetentionSeconds: 3600, maxPolls: online + 1 }),
    ).toThrow(new RegExp(`maxPolls: at most ${online} in online mode with failback: its 15 poll loops`));
  });

  it('rejects a maxPolls that could pass 25,000 events of history, naming the field', () => {
    expect(validate({ maxPolls: MAX_POLLS }).maxPolls).toBe(MAX_POLLS);
    expect(() => validate({ maxPolls: MAX_POLLS + 1 })).toThrow(
      new RegExp(`maxPolls: at most ${MAX_POLLS}: .*25000 events of history`),
    );
    expect(() => validate({}, { maxPolls: 720 })).toThrow(/configuration is invalid: maxPolls: at most/);
  });

  it('rejects timeouts and retention that together could outlive a Standard workflow (one year), naming the fields', () => {
    expect(() => validate({ approval: { timeoutSeconds: 43_200 }, blueRetentionSeconds: 31_400_000 })).toThrow(
      /approval\.timeoutSeconds, blueRetentionSeconds, maxPolls and pollIntervalSeconds: .*one year \(31536000 s\)/,
    );
    expect(() =>
      validate({ maxPolls: MAX_POLLS, pollIntervalSeconds: 3600, blueRetentionSeconds: 31_000_000 }),
    ).toThrow(/one year/);
    // The deployed defaults (cdk.json) are far inside both limits.
    const input = validate(
      {},
      { pollIntervalSeconds: 30, maxPolls: 240, approvalTimeoutSeconds: 3_600, blueRetentionSeconds: 86_400 },
    );
    expect(input.maxPolls).toBe(240);
    expect(validate({ blueRetentionSeconds: 30_000_000 }).blueRetentionSeconds).toBe(30_000_000);
    // In read-only mode WaitForClientTtl waits the cutover TTL after the swap: it counts too.
    const nearTheEdge = { blueRetentionSeconds: 31_400_000, approval: { timeoutSeconds: 60 } };
    expect(validate({ ...nearTheEdge, writeBlock: 'security-group' }).blueRetentionSeconds).toBe(31_400_000);
    expect(() => validate({ ...nearTheEdge, writeBlock: 'read-only', cname: { cutoverTtlSeconds: 86_400 } })).toThrow(
      /\+ cname\.cutoverTtlSeconds 86400 .*one year/,
    );
    // Online mode's longer path counts its own loops.
    expect(() =>
      validate({
        mode: 'online',
        maxPolls: MAX_POLLS_ONLINE,
        pollIntervalSeconds: 3600,
        blueRetentionSeconds: 22_000_000,
      }),
    ).toThrow(/\(13 loops × maxPolls/);
  });

  it('rejects an execution input too large for the document to stay far below 256 KB', () => {
    const smokeTests = Array.from({ length: 5 }, (_, i) => ({
      name: `check ${i}`,
      database: 'app',
      sql: `SELECT ${'1 + '.repeat(2_000)}1`,
      expect: 'nonzero',
    }));
    expect(() => validate({ smokeTests })).toThrow(/\(input\): \d+ characters of JSON; at most 32768/);
    expect(validate({ smokeTests: smokeTests.slice(0, 3) }).smokeTests).toHaveLength(3);
  });
});
