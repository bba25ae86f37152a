import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SfnExecutions } from '../../../lambdas/aws/executions-sfn';
import { RetryableAwsError } from '../../../lambdas/domain/errors';

const sfnMock = mockClient(SFNClient);
const ARN = 'arn:aws:states:eu-west-1:123456789012:execution:aurora-blue-green:run-1';
const executions = new SfnExecutions(new SFNClient({ region: 'eu-west-1' }));
const at = new Date('2026-12-04T10:00:00Z');

beforeEach(() => {
  sfnMock.reset();
});

it('reads the status, the input and every page of state events, with execution data', async () => {
  sfnMock
    .on(DescribeExecutionCommand)
    .resolves({ executionArn: ARN, status: 'ABORTED', input: '{"blueClusterId":"a"}' });
  sfnMock
    .on(GetExecutionHistoryCommand, { executionArn: ARN, includeExecutionData: true, nextToken: undefined })
    .resolves({
      events: [
        { id: 1, timestamp: at, type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}' } },
        {
          id: 2,
          timestamp: at,
          type: 'TaskStateEntered',
          stateEnteredEventDetails: { name: 'Preflight', input: '{"a":1}' },
        },
      ],
      nextToken: 'page-2',
    })
    .on(GetExecutionHistoryCommand, { executionArn: ARN, includeExecutionData: true, nextToken: 'page-2' })
    .resolves({
      events: [
        {
          id: 3,
          timestamp: at,
          type: 'TaskStateExited',
          stateExitedEventDetails: { name: 'Preflight', output: '{"b":2}' },
        },
        {
          id: 4,
          timestamp: at,
          type: 'WaitStateEntered',
          stateEnteredEventDetails: { name: 'RetainBlue', input: '{}' },
        },
        { id: 5, timestamp: at, type: 'ExecutionAborted' },
      ],
    });

  await expect(executions.describe(ARN)).resolves.toEqual({
    executionArn: ARN,
    status: 'ABORTED',
    input: '{"blueClusterId":"a"}',
    states: [
      { state: 'Preflight', phase: 'entered', json: '{"a":1}' },
      { state: 'Preflight', phase: 'exited', json: '{"b":2}' },
      { state: 'RetainBlue', phase: 'entered', json: '{}' },
    ],
  });
  expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: ARN });
  expect(sfnMock).toHaveReceivedCommandTimes(GetExecutionHistoryCommand, 2);
});

it('answers undefined for an execution that does not exist', async () => {
  sfnMock
    .on(DescribeExecutionCommand)
    .rejects(new ExecutionDoesNotExist({ message: 'no such execution', $metadata: {} }));
  await expect(executions.describe(ARN)).resolves.toBeUndefined();
});

it('maps throttling to the retryable error', async () => {
  const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
  sfnMock.on(DescribeExecutionCommand).rejects(throttled);
  await expect(executions.describe(ARN)).rejects.toBeInstanceOf(RetryableAwsError);
});
