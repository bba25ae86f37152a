import { Readable } from 'node:stream';
import { SFNClient } from '@aws-sdk/client-sfn';
import { singleAttemptSfnClient, SfnTaskDecisions } from '../../../lambdas/aws/task-decisions-sfn';
import { DeliveryOutcomeUnknown } from '../../../lambdas/approval/model';
import { TASK_TOKEN } from './fixtures';

/**
 * `maxAttempts: 1` on the client that delivers decisions, checked through the real SDK stack (its
 * retry middleware included) against an HTTP handler that answers every request with a 500: the
 * answer Step Functions gives when it may or may not have taken the decision.
 */

function answering500() {
  const requests: string[] = [];
  const requestHandler = {
    handle: async (request: { headers: Record<string, string> }) => {
      requests.push(request.headers['x-amz-target'] ?? '?');
      return {
        response: {
          statusCode: 500,
          reason: 'Internal Server Error',
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Readable.from([Buffer.from('{"__type":"InternalFailure","message":"try again"}')]),
        },
      };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
  const config = {
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler,
  };
  return { requests, config };
}

const output = { decision: 'approve' as const, decidedAt: '2026-12-05T02:10:00.000Z' };

describe('singleAttemptSfnClient (the approval API sends each decision once)', () => {
  it('sends SendTaskSuccess once when the answer is a server error, and says the outcome is unknown', async () => {
    const { requests, config } = answering500();
    // maxAttempts in the given configuration cannot turn retries back on.
    const decisions = new SfnTaskDecisions(singleAttemptSfnClient({ ...config, maxAttempts: 3 }));

    await expect(decisions.sendSuccess(TASK_TOKEN, output)).rejects.toBeInstanceOf(DeliveryOutcomeUnknown);
    expect(requests).toEqual(['AWSStepFunctions.SendTaskSuccess']);
  });

  it('sends SendTaskFailure once too', async () => {
    const { requests, config } = answering500();
    const decisions = new SfnTaskDecisions(singleAttemptSfnClient(config));

    await expect(decisions.sendFailure(TASK_TOKEN, 'ApprovalRejected', 'no')).rejects.toBeInstanceOf(
      DeliveryOutcomeUnknown,
    );
    expect(requests).toEqual(['AWSStepFunctions.SendTaskFailure']);
  });

  it('a default client would have sent the same decision again (what the single attempt prevents)', async () => {
    const { requests, config } = answering500();
    const decisions = new SfnTaskDecisions(new SFNClient(config));

    await expect(decisions.sendSuccess(TASK_TOKEN, output)).rejects.toBeInstanceOf(DeliveryOutcomeUnknown);
    expect(requests.length).toBeGreaterThan(1);
  });
});
