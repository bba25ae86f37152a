import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SnsApproverSubscriptions } from '../../../lambdas/aws/approvers-sns';

const sns = mockClient(SNSClient);
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:approvers';
const sub = (arn: string, endpoint: string) => ({ SubscriptionArn: arn, Endpoint: endpoint, Protocol: 'email' });

beforeEach(() => sns.reset());

describe('SnsApproverSubscriptions', () => {
  it('counts confirmed subscriptions (a real ARN) apart from PendingConfirmation, across pages', async () => {
    sns
      .on(ListSubscriptionsByTopicCommand)
      .resolvesOnce({
        Subscriptions: [
          sub(`${TOPIC}:0b7d9b4c-1111-2222-3333-444455556666`, 'dba@example.com'),
          sub('PendingConfirmation', 'new@example.com'),
        ],
        NextToken: 'more',
      })
      .resolvesOnce({
        Subscriptions: [sub('Deleted', 'gone@example.com'), sub('PendingConfirmation', 'x@example.com')],
      });

    await expect(new SnsApproverSubscriptions(new SNSClient({}), TOPIC).count()).resolves.toEqual({
      confirmed: 1,
      pending: 2,
    });
    expect(sns).toHaveReceivedCommandWith(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC });
    expect(sns).toHaveReceivedCommandWith(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC, NextToken: 'more' });
  });

  it('maps throttling to the retryable error the state machine retries', async () => {
    sns.on(ListSubscriptionsByTopicCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const error = await new SnsApproverSubscriptions(new SNSClient({}), TOPIC).count().catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toMatch(/^Retryable/);
  });
});
