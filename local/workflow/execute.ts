import '../polyfills';
import { ExecutionAbortedError, ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { mapAwsError, sdkShapedError } from '../../lambdas/domain/aws-errors';
import { isWorkflowErrorName, workflowError } from '../../lambdas/domain/errors';
import { portsAllowedFor } from './permissions';
import type { ExecutionRecord, ExecutionStateEvent, Ports } from '../../lambdas/ports';
import { TASK_LIST, type StepId } from '../../lambdas/steps/catalog';
import { STEPS, type StepFunction } from '../../lambdas/steps/index';
import type { AslDefinition } from './asl';
import type { LocalExecutions } from '../cloud/simple-ports';
import { localStarterName, type LocalExecutionStarters } from './starters';
import { LocalTaskTokens, TaskFailure } from './task-tokens';

/**
 * Runs the synthesized definition with aws-local-stepfunctions, each Lambda task mapped to its
 * step wired with the given ports. Used by the workflow tests (in-memory ports) and by the
 * rehearsal (local PostgreSQL ports). Errors reach Catch/Retry by `name`, as a Lambda's
 * `errorType` does in AWS, with an AWS-shaped JSON cause.
 */

/** An entry of aws-local-stepfunctions' event log (its type is not exported). */
export type EventLog = Awaited<ReturnType<ReturnType<StateMachine['run']>['eventLogs']['next']>>['value'] & {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input: unknown; output?: unknown };
  Error?: string;
  Cause?: unknown;
};

export interface Fault {
  /** The task state whose step fails. */
  state: string;
  /** An AWS error code (raised as the SDK raises it, through the shared mapping) or a workflow error name. */
  error: string;
  /** How many times; undefined = every time. */
  count?: number;
}

export interface ExecuteOptions {
  definition: AslDefinition;
  ports: Ports;
  input: unknown;
  executionName?: string;
  /** Milliseconds for every Wait state (poll intervals); default: the definition's own. */
  waitMs?: number;
  /** Milliseconds for RetainBlue; default: waitMs. */
  retainBlueMs?: number;
  /** Milliseconds for named Wait states, over waitMs. */
  waitStateMs?: Record<string, number>;
  /** Milliseconds between retries; default: the definition's backoff. */
  retryDelayMs?: number;
  faults?: Fault[];
  /** States whose step does its side effect, then fails like a Lambda that ran out of time. */
  crashAfter?: string[];
  /** Settles the approval's waitForTaskToken task; one is made when absent. */
  taskTokens?: LocalTaskTokens;
  /** Where the executor records who started the run (CloudTrail's `StartExecution` in AWS). */
  starters?: LocalExecutionStarters;
  /** Who starts it. @default the operating system's user name */
  startedBy?: string;
  /**
   * Stops the execution as this state starts, as "Stop execution" in the console does: no Catch
   * runs. A task state is stopped before its Lambda runs.
   */
  abortAt?: string;
  /** Replaces steps (tests use it to observe or break one). */
  stepOverrides?: Partial<Record<StepId, StepFunction>>;
  onEvent?: (event: EventLog) => void;
}

export interface ExecutionOutcome {
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  executionArn: string;
  /** What DescribeExecution and GetExecutionHistory would say about this execution. */
  record: ExecutionRecord;
  output?: Record<string, unknown>;
  error?: { name: string; cause: string };
  events: EventLog[];
  /** Inputs each task state received, in order (the last one shows the document at that point). */
  taskInputs: { state: string; input: unknown }[];
  attempts: Record<string, number>;
}

/** Turns an injected fault name into the error a real run would see. */
export function faultError(error: string, state: string): Error {
  if (isWorkflowErrorName(error)) return workflowError(error, `injected ${error} at ${state}`);
  if (error === 'Sandbox.Timedout' || error.startsWith('Lambda.') || error.startsWith('States.')) {
    const e = new Error(`injected ${error} at ${state}`);
    e.name = error;
    return e;
  }
  return mapAwsError(sdkShapedError(error, `injected ${error} at ${state}`), state);
}

/** Lambda reports a thrown error as { errorType, errorMessage }; Step Functions puts that JSON in Cause. */
function asLambdaError(error: unknown): Error {
  const e = error instanceof Error ? error : new Error(String(error));
  const out = new Error(JSON.stringify({ errorType: e.name, errorMessage: e.message }));
  out.name = e.name;
  return out;
}

/**
 * aws-local-stepfunctions evaluates `TimeoutSecondsPath` against the task's *parameters*, where
 * AWS evaluates it against the state input, so `$.input.approval.timeoutSeconds` would not
 * resolve locally. The local copy therefore gets a fixed outer bound, and the approval handler
 * enforces the document's own timeout itself, failing with `States.Timeout` as AWS does.
 */
function adaptForLocalExecutor(definition: AslDefinition): AslDefinition {
  // A JSON copy (not structuredClone): the executor's plain-object check must see this realm's objects.
  const copy = JSON.parse(JSON.stringify(definition)) as AslDefinition;
  for (const state of Object.values(copy.States)) {
    if (state.Type === 'Task' && typeof state.TimeoutSecondsPath === 'string') {
      delete state.TimeoutSecondsPath;
      // Below 2^31 ms: a larger setTimeout delay fires at once in Node.
      state.TimeoutSeconds = 2_000_000;
    }
  }
  return copy;
}

/**
 * The timeout AWS gives a waitForTaskToken task: its `TimeoutSecondsPath` (`$.a.b.c`) read from the
 * state's input, the execution document (RequestApproval: the approval timeout; RetainBlueForFailback:
 * blue's retention), or its fixed `TimeoutSeconds`.
 */
export function timeoutSecondsOf(definition: AslDefinition, state: string, document: unknown): number {
  const spec = definition.States[state];
  const path = spec?.TimeoutSecondsPath;
  if (typeof path === 'string') {
    let value: unknown = document;
    for (const key of path
      .replace(/^\$\.?/, '')
      .split('.')
      .filter(Boolean)) {
      value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
    }
    if (typeof value !== 'number') throw new Error(`${state}: TimeoutSecondsPath ${path} is not a number in the input`);
    return value;
  }
  if (typeof spec?.TimeoutSeconds === 'number') return spec.TimeoutSeconds;
  throw new Error(`${state} has no timeout`);
}

/** A Lambda that runs past its timeout fails with Sandbox.Timedout (its work may still go on). */
async function withLambdaTimeout<T>(work: Promise<T>, timeoutMs: number, state: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(faultError('Sandbox.Timedout', state)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function waitWithTimeout(
  tokens: LocalTaskTokens,
  token: string,
  timeoutMs: number,
): { promise: Promise<unknown>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let cancelTimeout: (error: Error) => void = () => undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    cancelTimeout = reject;
    timer = setTimeout(() => {
      tokens.forget(token);
      reject(new TaskFailure('States.Timeout', 'The approval was not decided within its timeout.'));
    }, timeoutMs);
  });
  const promise = Promise.race([tokens.wait(token), timeout]).finally(() => clearTimeout(timer));
  promise.catch(() => undefined);
  return {
    promise,
    cancel: () => {
      tokens.forget(token);
      clearTimeout(timer);
      cancelTimeout(new Error('cancelled'));
    },
  };
}

export async function executeDefinition(options: ExecuteOptions): Promise<ExecutionOutcome> {
  const taskTokens = options.taskTokens ?? new LocalTaskTokens();
  const faultsLeft = new Map<string, { error: string; left: number }>();
  for (const f of options.faults ?? [])
    faultsLeft.set(f.state, { error: f.error, left: f.count ?? Number.POSITIVE_INFINITY });
  const crashPending = new Set(options.crashAfter ?? []);
  const attempts: Record<string, number> = {};
  const taskInputs: ExecutionOutcome['taskInputs'] = [];

  let aborted = false;
  let stopExecution: () => void = () => undefined;
  const abort = () => {
    if (aborted) return;
    aborted = true;
    stopExecution();
  };

  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const spec of TASK_LIST) {
    const step = options.stepOverrides?.[spec.step as StepId] ?? STEPS[spec.step as StepId];
    if (!step) throw new Error(`No step is registered for ${spec.state} (${spec.step}).`);
    handlers[spec.state] = async (rawInput: unknown) => {
      if (spec.state === options.abortAt) abort();
      // A stopped execution runs no further task (the executor would otherwise go on in the background).
      if (aborted) return new Promise<never>(() => undefined);
      attempts[spec.state] = (attempts[spec.state] ?? 0) + 1;
      // The approval task's parameters are { FunctionName, Payload: { document, taskToken } }.
      // Step Functions issues a new token for every attempt: a link from an earlier attempt's
      // email must find its task gone, as it would in AWS.
      const input =
        spec.kind === 'approval'
          ? { ...(rawInput as { Payload: Record<string, unknown> }).Payload, taskToken: taskTokens.newToken() }
          : rawInput;
      taskInputs.push({ state: spec.state, input });
      try {
        const fault = faultsLeft.get(spec.state);
        if (fault && fault.left > 0) {
          fault.left -= 1;
          throw faultError(fault.error, spec.state);
        }
        // The token exists before the approval's Lambda runs, so a decision can never come "too early".
        const decision =
          spec.kind === 'approval'
            ? waitWithTimeout(
                taskTokens,
                (input as { taskToken: string }).taskToken,
                timeoutSecondsOf(options.definition, spec.state, (input as { document: unknown }).document) * 1000,
              )
            : undefined;
        let result: unknown;
        try {
          result = await withLambdaTimeout(
            step(input, portsAllowedFor(spec, options.ports)),
            spec.timeoutSeconds * 1000,
            spec.state,
          );
          if (crashPending.delete(spec.state)) throw faultError('Sandbox.Timedout', spec.state);
        } catch (error) {
          decision?.cancel();
          throw error;
        }
        if (decision) return await decision.promise;
        return result ?? {};
      } catch (error) {
        throw asLambdaError(error);
      }
    };
  }

  const waitOverrides: Record<string, number> = {};
  const retryOverrides: Record<string, number> = {};
  for (const [name, state] of Object.entries(options.definition.States)) {
    if (state.Type === 'Wait' && options.waitMs !== undefined) {
      waitOverrides[name] = name === 'RetainBlue' ? (options.retainBlueMs ?? options.waitMs) : options.waitMs;
    }
    if (Array.isArray(state.Retry) && options.retryDelayMs !== undefined) retryOverrides[name] = options.retryDelayMs;
  }
  Object.assign(waitOverrides, options.waitStateMs);
  if (options.abortAt !== undefined) {
    const type = options.definition.States[options.abortAt]?.Type;
    if (type !== 'Task' && type !== 'Wait') {
      throw new Error(`abortAt: ${options.abortAt} is not a Task or Wait state of the definition`);
    }
    // The stop lands while the Wait waits (it ends at once when stopped), never after it.
    if (type === 'Wait') waitOverrides[options.abortAt] = 3_600_000;
  }

  const machine = new StateMachine(adaptForLocalExecutor(options.definition) as never, {
    validationOptions: { checkArn: false },
  });
  const name = options.executionName ?? `local-${Date.now()}`;
  const executionArn = `arn:aws:states:eu-west-1:123456789012:execution:local:${name}`;
  options.starters?.recordStart(executionArn, options.startedBy ?? localStarterName());
  const execution = machine.run(options.input as never, {
    overrides: {
      taskResourceLocalHandlers: handlers as never,
      waitTimeOverrides: waitOverrides,
      retryIntervalOverrides: retryOverrides,
    },
    context: {
      Execution: {
        Id: executionArn,
        Name: name,
        StartTime: new Date().toISOString(),
      },
      Task: { Token: taskTokens.newToken() },
    },
  });

  stopExecution = () => execution.abort();

  const events: EventLog[] = [];
  const collecting = (async () => {
    for await (const entry of execution.eventLogs) {
      const event = entry as EventLog;
      events.push(event);
      // A Wait (or any non-task state) is stopped here; a task is stopped by its handler.
      if (event.type === 'StateEntered' && event.state?.name === options.abortAt && event.state.type !== 'Task')
        abort();
      options.onEvent?.(event);
    }
  })();
  const input = JSON.stringify(options.input ?? {});
  const record = (status: string): ExecutionRecord => ({ executionArn, status, input, states: historyOf(events) });
  try {
    const output = (await execution.result) as Record<string, unknown>;
    await collecting;
    return { status: 'SUCCEEDED', executionArn, record: record('SUCCEEDED'), output, events, taskInputs, attempts };
  } catch (error) {
    await collecting.catch(() => undefined);
    if (error instanceof ExecutionAbortedError) {
      return {
        status: 'ABORTED',
        executionArn,
        record: record('ABORTED'),
        error: { name: 'ExecutionAborted', cause: `stopped as ${options.abortAt ?? 'a state'} started` },
        events,
        taskInputs,
        attempts,
      };
    }
    const failed = [...events].reverse().find((e) => e.type === 'ExecutionFailed');
    if (!(error instanceof ExecutionError) && !failed) throw error;
    return {
      status: 'FAILED',
      executionArn,
      record: record('FAILED'),
      error: { name: failed?.Error ?? (error as Error).name, cause: String(failed?.Cause ?? (error as Error).message) },
      events,
      taskInputs,
      attempts,
    };
  }
}

/** The state events of a local execution, as GetExecutionHistory reports them (inputs and outputs as JSON). */
export function historyOf(events: readonly EventLog[]): ExecutionStateEvent[] {
  const states: ExecutionStateEvent[] = [];
  for (const event of events) {
    if (!event.state) continue;
    if (event.type === 'StateEntered') {
      states.push({ state: event.state.name, phase: 'entered', json: JSON.stringify(event.state.input ?? null) });
    } else if (event.type === 'StateExited') {
      states.push({ state: event.state.name, phase: 'exited', json: JSON.stringify(event.state.output ?? null) });
    }
  }
  return states;
}

export interface RecoveryOptions extends Omit<ExecuteOptions, 'definition' | 'input' | 'abortAt' | 'ports'> {
  /** The recovery state machine's definition (synthesizeDefinitions().recovery). */
  recovery: AslDefinition;
  ports: Ports & { executions: LocalExecutions };
  /** The deployment execution that ended. */
  ended: ExecutionOutcome;
}

/**
 * What EventBridge does when a deployment execution ends ABORTED, TIMED_OUT or FAILED: Step
 * Functions keeps the execution's record, and the rule starts the recovery state machine with
 * the status-change event. Returns undefined for an ending the rule does not match.
 */
export async function runRecovery(options: RecoveryOptions): Promise<ExecutionOutcome | undefined> {
  const { recovery, ended, ...rest } = options;
  options.ports.executions.record(ended.record);
  if (!['ABORTED', 'TIMED_OUT', 'FAILED'].includes(ended.record.status)) return undefined;
  const event = {
    version: '0',
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    detail: {
      executionArn: ended.executionArn,
      stateMachineArn: ended.executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, ''),
      name: ended.executionArn.split(':').at(-1),
      status: ended.record.status,
      input: ended.record.input,
    },
  };
  return executeDefinition({
    ...rest,
    // The local executor stops a task before its Lambda runs: nothing is left running to wait out.
    waitStateMs: { WaitForStoppedTask: 0, ...rest.waitStateMs },
    definition: recovery,
    input: event,
    executionName: `recovery-${ended.executionArn.split(':').at(-1) ?? 'execution'}`,
  });
}
