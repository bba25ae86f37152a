import { GetSubscriptionAttributesCommand, ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { MAX_ATTRIBUTE_CHECKS, SnsApproverSubscriptions } from '../../../lambdas/aws/approvers-sns';

const sns = mockClient(SNSClient);
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:approvers';
const sub = (arn: string, endpoint: string) => ({ SubscriptionArn: arn, Endpoint: endpoint, Protocol: 'email' });

beforeEach(() => {
  sns.reset();
  sns.on(GetSubscriptionAttributesCommand).resolves({ Attributes: { ConfirmationWasAuthenticated: 'true' } });
});

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
      topicArn: TOPIC,
      confirmed: 1,
      pending: 2,
      authenticated: 1,
    });
    expect(sns).toHaveReceivedCommandWith(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC });
    expect(sns).toHaveReceivedCommandWith(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC, NextToken: 'more' });
  });

  it('counts as authenticated only the confirmed subscriptions whose ConfirmationWasAuthenticated is "true", across pages', async () => {
    const a = `${TOPIC}:aaaaaaaa-1111-2222-3333-444455556666`;
    const b = `${TOPIC}:bbbbbbbb-1111-2222-3333-444455556666`;
    const c = `${TOPIC}:cccccccc-1111-2222-3333-444455556666`;
    sns
      .on(ListSubscriptionsByTopicCommand)
      .resolvesOnce({
        Subscriptions: [sub(a, 'a@example.com'), sub('PendingConfirmation', 'p@example.com')],
        NextToken: 'more',
      })
      .resolvesOnce({ Subscriptions: [sub(b, 'b@example.com'), sub(c, 'c@example.com')] });
    sns
      .on(GetSubscriptionAttributesCommand, { SubscriptionArn: a })
      .resolves({ Attributes: { ConfirmationWasAuthenticated: 'false', PendingConfirmation: 'false' } })
      .on(GetSubscriptionAttributesCommand, { SubscriptionArn: b })
      .resolves({ Attributes: { ConfirmationWasAuthenticated: 'true', PendingConfirmation: 'false' } })
      .on(GetSubscriptionAttributesCommand, { SubscriptionArn: c })
      .resolves({ Attributes: {} });

    await expect(new SnsApproverSubscriptions(new SNSClient({}), TOPIC).count()).resolves.toEqual({
      topicArn: TOPIC,
      confirmed: 3,
      pending: 1,
      authenticated: 1,
    });
    // Only confirmed subscriptions are asked, each once; a pending one has no ARN to ask about.
    expect(sns).toHaveReceivedCommandTimes(GetSubscriptionAttributesCommand, 3);
    for (const arn of [a, b, c]) {
      expect(sns).toHaveReceivedCommandWith(GetSubscriptionAttributesCommand, { SubscriptionArn: arn });
    }
  });

  it('no longer counts a subscription removed between the list and its attributes (NotFound)', async () => {
    const gone = `${TOPIC}:dddddddd-1111-2222-3333-444455556666`;
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [sub(gone, 'gone@example.com')] });
    sns
      .on(GetSubscriptionAttributesCommand)
      .rejects(Object.assign(new Error('Subscription does not exist'), { name: 'NotFoundException' }));
    await expect(new SnsApproverSubscriptions(new SNSClient({}), TOPIC).count()).resolves.toEqual({
      topicArn: TOPIC,
      confirmed: 0,
      pending: 0,
      authenticated: 0,
    });
  });

  it(`asks at most ${MAX_ATTRIBUTE_CHECKS} subscriptions for their attributes; the rest count as unauthenticated`, async () => {
    const many = Array.from({ length: MAX_ATTRIBUTE_CHECKS + 5 }, (_, n) =>
      sub(`${TOPIC}:${String(n).padStart(8, '0')}-1111-2222-3333-444455556666`, `a${n}@example.com`),
    );
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: many });
    await expect(new SnsApproverSubscriptions(new SNSClient({}), TOPIC).count()).resolves.toEqual({
      topicArn: TOPIC,
      confirmed: MAX_ATTRIBUTE_CHECKS + 5,
      pending: 0,
      authenticated: MAX_ATTRIBUTE_CHECKS,
    });
    expect(sns).toHaveReceivedCommandTimes(GetSubscriptionAttributesCommand, MAX_ATTRIBUTE_CHECKS);
  });

  it('maps throttling of GetSubscriptionAttributes to the retryable error too', async () => {
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [sub(`${TOPIC}:e`, 'e@example.com')] });
    sns.on(GetSubscriptionAttributesCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const error = await new SnsApproverSubscriptions(new SNSClient({}), TOPIC).count().catch((e: Error) => e);
    expect((error as Error).name).toMatch(/^Retryable/);
  });

  it('maps throttling to the retryable error the state machine retries', async () => {
    sns.on(ListSubscriptionsByTopicCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const error = await new SnsApproverSubscriptions(new SNSClient({}), TOPIC).count().catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toMatch(/^Retryable/);
  });
});
