import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { SnsNotifier, snsSubject } from '../../../lambdas/aws/notifier-sns';
import { SfnTaskDecisions } from '../../../lambdas/aws/task-decisions-sfn';
import { DeliveryOutcomeUnknown } from '../../../lambdas/approval/model';
import { sdkShapedError } from '../../../lambdas/domain/aws-errors';
import { RetryableAwsError } from '../../../lambdas/domain/errors';
import { TASK_TOKEN } from './fixtures';

const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);

beforeEach(() => {
  sfn.reset();
  sns.reset();
});

describe('SfnTaskDecisions', () => {
  const decisions = () => new SfnTaskDecisions(new SFNClient({ region: 'eu-west-1' }));

  it('sends success with the decision as JSON output', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const output = { decision: 'approve' as const, decidedAt: '2026-12-05T02:10:00.000Z', sourceIp: '203.0.113.7' };
    await expect(decisions().sendSuccess(TASK_TOKEN, output)).resolves.toBe('delivered');
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: TASK_TOKEN,
      output: JSON.stringify(output),
    });
  });

  it('sends failure with the error name and the reason', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    await expect(decisions().sendFailure(TASK_TOKEN, 'ApprovalRejected', 'row counts differ')).resolves.toBe(
      'delivered',
    );
    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: TASK_TOKEN,
      error: 'ApprovalRejected',
      cause: 'row counts differ',
    });
  });

  it.each(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'])('%s means the task is gone', async (code) => {
    sfn.on(SendTaskSuccessCommand).rejects(sdkShapedError(code));
    await expect(decisions().sendSuccess(TASK_TOKEN, { decision: 'approve', decidedAt: 'x' })).resolves.toBe(
      'task-gone',
    );
  });

  it('never lets the token out in an error message', async () => {
    sfn.on(SendTaskFailureCommand).rejects(sdkShapedError('ServiceUnavailable', `cannot process token ${TASK_TOKEN}`));
    const error = await decisions()
      .sendFailure(TASK_TOKEN, 'ApprovalRejected', 'no')
      .then(
        () => new Error('expected a failure'),
        (e: unknown) => e as Error,
      );
    expect(error).toBeInstanceOf(RetryableAwsError);
    expect(error.message).not.toContain(TASK_TOKEN);
    expect(error.stack).not.toContain(TASK_TOKEN);
    expect(String((error.cause as Error).message)).not.toContain(TASK_TOKEN);
    expect(error.message).toContain('[task token]');
  });

  it.each([
    [
      'a server error',
      Object.assign(new Error('boom'), { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }),
    ],
    ['a timeout', Object.assign(new Error('socket hang up'), { name: 'TimeoutError', $metadata: {} })],
    ['a reset connection', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
  ])('reports %s as an unknown outcome, never as retryable', async (_label, failure) => {
    sfn.on(SendTaskSuccessCommand).rejects(failure);
    const error = await decisions()
      .sendSuccess(TASK_TOKEN, { decision: 'approve', decidedAt: 'x' })
      .then(
        () => new Error('expected a failure'),
        (e: unknown) => e as Error,
      );
    expect(error).toBeInstanceOf(DeliveryOutcomeUnknown);
    expect(error.name).toBe('DeliveryOutcomeUnknown');
  });

  it('a refused connection is a clear failure: nothing reached Step Functions', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    await expect(
      decisions().sendSuccess(TASK_TOKEN, { decision: 'approve', decidedAt: 'x' }),
    ).rejects.not.toBeInstanceOf(DeliveryOutcomeUnknown);
  });
});

describe('SnsNotifier', () => {
  it('publishes the message with a valid subject', async () => {
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    await new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), 'arn:aws:sns:eu-west-1:123456789012:t').publish(
      'Approve cutover of orders-prod?',
      'body',
    );
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
      Subject: 'Approve cutover of orders-prod?',
      Message: 'body',
    });
  });

  it('maps throttling to RetryableAwsError', async () => {
    sns.on(PublishCommand).rejects(sdkShapedError('Throttling'));
    await expect(
      new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), 'arn:aws:sns:eu-west-1:123456789012:t').publish('s', 'm'),
    ).rejects.toBeInstanceOf(RetryableAwsError);
  });

  it('makes any subject ASCII, one line and under 100 characters', () => {
    expect(snsSubject('Déploiement “bleu” – vert\nsecond line')).toBe('Deploiement "bleu" - vert second line');
    expect(snsSubject('数据库')).toBe('???');
    const long = snsSubject(`Approve cutover of ${'a'.repeat(63)} to ${'b'.repeat(63)}?`);
    expect(long.length).toBeLessThanOrEqual(99);
    expect(long.endsWith('...')).toBe(true);
    expect(snsSubject('   ')).toBe('Aurora blue/green deployment');
  });
});
