/**
 * Step Functions limits that no Catch can handle: an execution whose history passes 25,000
 * events, or that runs longer than one year (a Standard workflow's maximum duration), simply
 * fails, leaving blue fenced. ValidateInput rejects an input that could reach either, naming the
 * fields. The graph's numbers are checked against the synthesized definition by
 * test/workflow/limits.test.ts, so adding a loop without updating them fails the tests.
 */

/** AWS's quota on the events in one execution's history. */
export const HISTORY_EVENT_LIMIT = 25_000;
/** A Standard workflow's maximum duration: one year. */
export const MAX_EXECUTION_SECONDS = 31_536_000;

/** Poll loops an execution can pass through on its longest path (a live run with every loop and a rollback). */
export const POLL_LOOPS_ON_LONGEST_PATH = 10;
/** Events one more poll costs: the Check task (5), its Choice (2) and its Wait (2). */
export const EVENTS_PER_POLL = 9;
/** Events of the longest path besides the repeated polls, each task retried to its limit once (rounded up). */
export const FIXED_HISTORY_EVENTS = 1_850;

/** The largest maxPolls whose every loop, run to its limit, keeps the history under the quota. */
export const MAX_POLLS = Math.floor(
  (HISTORY_EVENT_LIMIT - FIXED_HISTORY_EVENTS) / (POLL_LOOPS_ON_LONGEST_PATH * EVENTS_PER_POLL),
);

/**
 * Online mode's longest path has three more loops (CheckReplication, CheckGuardedGreenOpen,
 * CheckSwitchoverBlocked) and one fewer (CheckWritesBlocked before the clone); its CheckGreenOpen
 * is CheckGuardedGreenOpen, before the freeze. The graph's longest path overall.
 */
export const ONLINE_POLL_LOOPS_ON_LONGEST_PATH = 13;
/** Online mode's bound on maxPolls; an online run without its own maxPolls takes at most this. */
export const MAX_POLLS_ONLINE = Math.floor(
  (HISTORY_EVENT_LIMIT - FIXED_HISTORY_EVENTS) / (ONLINE_POLL_LOOPS_ON_LONGEST_PATH * EVENTS_PER_POLL),
);

/**
 * Failback (docs/failback.md) passes CheckBlueCaughtUp, CheckBlueReopened and CheckGreenClosed
 * instead of CheckBlueDeleted: two loops more, in either mode. Online mode with failback is the
 * graph's longest path.
 */
export const FAILBACK_EXTRA_POLL_LOOPS = 2;

/** What decides a run's path through the graph, as far as its poll loops go. */
export interface RunShape {
  mode?: string;
  failback?: boolean;
}

/** Poll loops on the longest path a run of this shape can take. */
export function pollLoopsFor(run: RunShape): number {
  const base = run.mode === 'online' ? ONLINE_POLL_LOOPS_ON_LONGEST_PATH : POLL_LOOPS_ON_LONGEST_PATH;
  return base + (run.failback ? FAILBACK_EXTRA_POLL_LOOPS : 0);
}

/** The largest maxPolls a run of this shape may take: every loop at its limit stays under the quota. */
export function maxPollsFor(run: RunShape): number {
  return Math.floor((HISTORY_EVENT_LIMIT - FIXED_HISTORY_EVENTS) / (pollLoopsFor(run) * EVENTS_PER_POLL));
}

/** At most one poll's Check: its Lambda (60 s) plus the task timeout's margin (30 s). */
export const CHECK_SECONDS = 90;
/**
 * Everything on the longest path that is neither a poll, the approval nor the retention: the
 * other tasks at their Lambda timeouts, retried. Generous on purpose: one day.
 */
export const FIXED_EXECUTION_SECONDS = 86_400;

export interface DurationInputs {
  pollIntervalSeconds: number;
  maxPolls: number;
  approvalTimeoutSeconds: number;
  blueRetentionSeconds: number;
  /** The run's poll loops on its longest path (pollLoopsFor). @default POLL_LOOPS_ON_LONGEST_PATH */
  pollLoops?: number;
  /** WaitForClientTtl waits it once after the swap (`read-only`). @default 0 */
  cutoverTtlSeconds?: number;
}

/** The longest an execution can run with these values, in seconds. */
export function worstCaseExecutionSeconds(v: DurationInputs): number {
  return (
    (v.pollLoops ?? POLL_LOOPS_ON_LONGEST_PATH) * v.maxPolls * (v.pollIntervalSeconds + CHECK_SECONDS) +
    v.approvalTimeoutSeconds +
    v.blueRetentionSeconds +
    (v.cutoverTtlSeconds ?? 0) +
    FIXED_EXECUTION_SECONDS
  );
}

export const MAX_POLLS_RULE = `at most ${MAX_POLLS}: ${POLL_LOOPS_ON_LONGEST_PATH} poll loops of ${EVENTS_PER_POLL} events a poll, run to their limit, must stay under Step Functions' ${HISTORY_EVENT_LIMIT} events of history`;

/** Problems (naming the fields) when the values could outlive a Standard workflow's one year. */
export function durationProblems(v: DurationInputs): string[] {
  const seconds = worstCaseExecutionSeconds(v);
  if (seconds < MAX_EXECUTION_SECONDS) return [];
  return [
    `approval.timeoutSeconds, blueRetentionSeconds, maxPolls and pollIntervalSeconds: together they allow ${seconds} s ` +
      `(${v.pollLoops ?? POLL_LOOPS_ON_LONGEST_PATH} loops × maxPolls ${v.maxPolls} × (pollIntervalSeconds ${v.pollIntervalSeconds} + ${CHECK_SECONDS} s a check) ` +
      `+ approval.timeoutSeconds ${v.approvalTimeoutSeconds} + blueRetentionSeconds ${v.blueRetentionSeconds}` +
      `${v.cutoverTtlSeconds ? ` + cname.cutoverTtlSeconds ${v.cutoverTtlSeconds}` : ''} + ${FIXED_EXECUTION_SECONDS} s of other work), ` +
      `which must stay under a Standard workflow's maximum duration of one year (${MAX_EXECUTION_SECONDS} s)`,
  ];
}
