import { z } from 'zod';
import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import { describeIssues } from '../domain/input';
import type { ExecutionRecord, Ports } from '../ports';
import { TASKS } from './catalog';

/**
 * ReadStoppedExecution: the first state of the recovery state machine, which an EventBridge rule
 * starts when a deployment execution ends ABORTED, TIMED_OUT or FAILED. A stopped execution
 * skips every Catch, so blue may be left fenced, detached and locked. This step reads the
 * execution's history, rebuilds its document as it was when the last state was entered, and
 * decides what the recovery does with it:
 * - `rollback`: OpenGreen was never entered, so applications only ever wrote to blue: un-fence
 *   blue, restore its groups and the TTL, delete green (tagged only), release the lock, notify.
 * - `release-and-report`: the cutover had finished (RetainBlue or later): release the lock and
 *   say what is left to do about blue.
 * - `report`: green may have taken writes: nothing is undone, the notification names the state
 *   and gives the commands (ReportFailure's cutover instructions).
 * - `none`: a FAILED execution whose own failure path ran (it reached ReportFailure).
 */

export type RecoveryAction = 'rollback' | 'release-and-report' | 'report' | 'none';

export interface RecoveryFacts {
  executionArn: string;
  status: string;
  /** The last state the execution entered. */
  stoppedIn?: string;
  action: RecoveryAction;
  /** A task stopped mid-way may still run in its Lambda: the recovery waits it out first. */
  settleSeconds: number;
}

/** The EventBridge "Step Functions Execution Status Change" event, the part that is read. */
const statusChangeEvent = z.object({
  detail: z.object({
    executionArn: z.string().startsWith('arn:', 'an execution ARN'),
    status: z.string().min(1),
  }),
});

const ERROR_NAMES: Record<string, string> = {
  ABORTED: 'ExecutionAborted',
  TIMED_OUT: 'ExecutionTimedOut',
  FAILED: 'ExecutionFailed',
};

/** Keys the recovery's own states write: a fresh run of them must not see the stopped run's. */
const RECOVERY_OUTPUT_KEYS = [
  'unfenceError',
  'rollbackError',
  'releaseError',
  'failureReport',
  'reportError',
  'rollback',
  'release',
] as const;

export async function readStoppedExecution(
  event: unknown,
  { executions }: Pick<Ports, 'executions'>,
): Promise<Record<string, unknown> & { recovery: RecoveryFacts }> {
  const parsed = statusChangeEvent.safeParse(event);
  if (!parsed.success) {
    throw new PreconditionFailed(
      `The recovery's input is not a Step Functions status-change event: ${describeIssues(parsed.error)}`,
    );
  }
  const { executionArn } = parsed.data.detail;
  const execution = await executions.describe(executionArn);
  if (!execution) throw new PreconditionFailed(`Execution ${executionArn} does not exist.`);
  return decide(execution);
}

function decide(execution: ExecutionRecord): Record<string, unknown> & { recovery: RecoveryFacts } {
  const { executionArn, status } = execution;
  const entered = execution.states.filter((s) => s.phase === 'entered');
  const last = entered.at(-1);
  const base = { executionArn, status, ...(last ? { stoppedIn: last.state } : {}) };
  if (!['ABORTED', 'TIMED_OUT', 'FAILED'].includes(status)) {
    return { recovery: { ...base, action: 'none', settleSeconds: 0 } };
  }
  const wasEntered = (state: string) => entered.some((s) => s.state === state);
  // A FAILED run that reached ReportFailure went through its own failure path: the rollback (or
  // the decision that none was possible) already happened, and the notification went out.
  if (status === 'FAILED' && wasEntered('ReportFailure')) {
    return { recovery: { ...base, action: 'none', settleSeconds: 0 } };
  }

  const doc = JSON.parse(last?.json ?? execution.input) as Record<string, unknown>;
  for (const key of RECOVERY_OUTPUT_KEYS) delete doc[key];
  if (doc.wait && typeof doc.wait === 'object') delete (doc.wait as Record<string, unknown>)['rollback'];

  const stoppedIn = last?.state ?? 'before its first state';
  const earlier = doc.error as { Error: string; Cause?: string } | undefined;
  const failure = {
    Error: ERROR_NAMES[status] ?? 'ExecutionStopped',
    Cause:
      `Execution ${executionArn} ended ${status} in state ${stoppedIn}` +
      (status === 'ABORTED' ? ' (stopped by hand: no Catch ran)' : '') +
      (earlier ? `, while handling ${earlier.Error}: ${earlier.Cause ?? ''}` : '') +
      '.',
  };
  // The Lambda of a task that was running when the execution stopped keeps running until it
  // ends or times out: its side effect could land after the recovery looked.
  const enteredAt = last ? execution.states.lastIndexOf(last) : -1;
  const running =
    last !== undefined &&
    !execution.states.slice(enteredAt).some((s) => s.phase === 'exited' && s.state === last.state);
  const spec = last ? (TASKS as Record<string, { timeoutSeconds: number } | undefined>)[last.state] : undefined;
  const settleSeconds = running && spec ? spec.timeoutSeconds : 0;

  // Until ValidateInput finished there is no document: nothing was changed.
  if (!doc.input) {
    return { error: failure, recovery: { ...base, action: 'report', settleSeconds } };
  }
  const document = doc as unknown as ExecutionDocument & Record<string, unknown>;
  // Online mode opens green before the switchover, guarded read-only (GuardGreen): it may take
  // writes only from UnguardGreen on, so until then a stopped run still rolls back.
  const greenMayServe =
    wasEntered('OpenGreen') ||
    wasEntered('UnguardGreen') ||
    document.greenUnguard ||
    document.cutover ||
    (document.open && !document.greenGuard);
  if (greenMayServe) {
    const cutoverDone = wasEntered('RetainBlue') || wasEntered('RetainBlueForFailback');
    // Failing back (docs/failback.md): green may be fenced; a person finishes it, the lock stays.
    if (wasEntered('FenceGreen')) {
      return { ...document, failbackError: failure, recovery: { ...base, action: 'report', settleSeconds } };
    }
    return {
      ...document,
      ...(cutoverDone ? { cleanupError: failure } : { cutoverError: failure }),
      recovery: { ...base, action: cutoverDone ? 'release-and-report' : 'report', settleSeconds },
    };
  }
  // Stopped while lowering the TTL: the change may have landed without its record in the document.
  const ttl =
    !document.ttl && document.blue && wasEntered('LowerCnameTtl')
      ? { ttl: { changed: true, previousTtl: document.blue.cname.ttl } }
      : {};
  return { ...document, ...ttl, error: failure, recovery: { ...base, action: 'rollback', settleSeconds } };
}
