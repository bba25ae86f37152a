import { traced } from './tracing';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, type SFNClientConfig } from '@aws-sdk/client-sfn';
import {
  DeliveryOutcomeUnknown,
  type ApprovalOutput,
  type DeliveryResult,
  type TaskDecisions,
} from '../approval/model';
import { mapAwsError } from '../domain/aws-errors';

/**
 * The approval endpoint's decisions, delivered to the waiting `RequestApproval` task.
 * The task token is a credential: it is never part of an error message that leaves this file.
 */

/** Step Functions' answers that mean "nobody is waiting for this token any more". */
export const TASK_GONE_ERRORS: ReadonlySet<string> = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

const MAX_ERROR_LENGTH = 256;
const MAX_CAUSE_LENGTH = 32_768;

/** Removes every occurrence of the token from an error's message and stack, in place. */
export function redactToken<E>(error: E, taskToken: string): E {
  if (error instanceof Error && taskToken) {
    const redact = (text: string) => text.split(taskToken).join('[task token]');
    error.message = redact(error.message);
    if (error.stack) error.stack = redact(error.stack);
  }
  return error;
}

/** Failures that happen before a request can reach Step Functions: nothing was delivered. */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Whether Step Functions may have acted on a request that failed: a 4xx answer, or a connection
 * never made, means it did not; a server error, a timeout or a connection lost mid-request may
 * hide a delivered decision.
 */
export function outcomeUnknown(error: unknown): boolean {
  if (!(error instanceof Error)) return true;
  const e = error as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 400 && status < 500) return false;
  if (NEVER_SENT_CODES.has(e.code ?? '') || NEVER_SENT_CODES.has(e.name)) return false;
  return true;
}

/**
 * The client for `SfnTaskDecisions`: `maxAttempts: 1` whatever else is configured. An SDK retry
 * after a lost answer could deliver a second, contrary decision or mask the first one's outcome, so
 * the adapter reports "outcome unknown" instead (test/unit/approval/task-decisions-retry.test.ts).
 */
export function singleAttemptSfnClient(config: SFNClientConfig = {}): SFNClient {
  return traced(new SFNClient({ ...config, maxAttempts: 1 }));
}

/**
 * Build the client with `singleAttemptSfnClient()`: an SDK retry after a lost answer could deliver a
 * decision twice or mask the first one's outcome, so this adapter reports "outcome unknown" instead.
 */
export class SfnTaskDecisions implements TaskDecisions {
  constructor(private readonly client: SFNClient) {}

  sendSuccess(taskToken: string, output: ApprovalOutput): Promise<DeliveryResult> {
    return this.deliver('SendTaskSuccess', taskToken, () =>
      this.client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) })),
    );
  }

  sendFailure(taskToken: string, error: string, cause: string): Promise<DeliveryResult> {
    return this.deliver('SendTaskFailure', taskToken, () =>
      this.client.send(
        new SendTaskFailureCommand({
          taskToken,
          error: error.slice(0, MAX_ERROR_LENGTH),
          cause: cause.slice(0, MAX_CAUSE_LENGTH),
        }),
      ),
    );
  }

  private async deliver(action: string, taskToken: string, call: () => Promise<unknown>): Promise<DeliveryResult> {
    try {
      await call();
      return 'delivered';
    } catch (error) {
      if (error instanceof Error && TASK_GONE_ERRORS.has(error.name)) return 'task-gone';
      const redacted = redactToken(error, taskToken);
      if (outcomeUnknown(redacted)) {
        throw new DeliveryOutcomeUnknown(`Step Functions ${action}: outcome unknown`, { cause: redacted });
      }
      throw mapAwsError(redacted, `Step Functions ${action}`);
    }
  }
}
