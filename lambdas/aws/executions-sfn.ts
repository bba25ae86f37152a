import {
  DescribeExecutionCommand,
  paginateGetExecutionHistory,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { mapAwsError } from '../domain/aws-errors';
import type { ExecutionRecord, ExecutionStateEvent, Executions } from '../ports';

/**
 * A deployment execution as the recovery reads it: DescribeExecution for its status and input,
 * GetExecutionHistory (every page, with execution data) for the states it entered and left.
 */
export class SfnExecutions implements Executions {
  constructor(private readonly client: SFNClient) {}

  async describe(executionArn: string): Promise<ExecutionRecord | undefined> {
    try {
      const execution = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      const states: ExecutionStateEvent[] = [];
      const pages = paginateGetExecutionHistory(
        { client: this.client },
        { executionArn, includeExecutionData: true, maxResults: 1000 },
      );
      for await (const page of pages) {
        for (const event of page.events ?? []) {
          const state = stateEvent(event);
          if (state) states.push(state);
        }
      }
      return { executionArn, status: execution.status ?? 'UNKNOWN', input: execution.input ?? '{}', states };
    } catch (error) {
      if (error instanceof Error && error.name === 'ExecutionDoesNotExist') return undefined;
      throw mapAwsError(error, `Step Functions DescribeExecution/GetExecutionHistory ${executionArn}`);
    }
  }
}

/** `TaskStateEntered`, `WaitStateExited`, …: the state events, whatever the state's type. */
function stateEvent(event: HistoryEvent): ExecutionStateEvent | undefined {
  const type = event.type ?? '';
  if (type.endsWith('StateEntered') && event.stateEnteredEventDetails?.name) {
    const { name, input } = event.stateEnteredEventDetails;
    return { state: name, phase: 'entered', ...(input !== undefined ? { json: input } : {}) };
  }
  if (type.endsWith('StateExited') && event.stateExitedEventDetails?.name) {
    const { name, output } = event.stateExitedEventDetails;
    return { state: name, phase: 'exited', ...(output !== undefined ? { json: output } : {}) };
  }
  return undefined;
}
