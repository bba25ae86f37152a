import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ApprovalOutput, DeliveryResult, TaskDecisions } from '../approval/model';
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
      throw mapAwsError(redactToken(error, taskToken), `Step Functions ${action}`);
    }
  }
}
