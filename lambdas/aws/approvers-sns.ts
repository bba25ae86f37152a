import { ListSubscriptionsByTopicCommand, type SNSClient } from '@aws-sdk/client-sns';
import { awsCall } from '../domain/aws-errors';
import type { ApproverSubscriptions } from '../ports';

/** SNS's SubscriptionArn of a subscription that nobody has confirmed yet. */
const PENDING = 'PendingConfirmation';

/**
 * The approvers' topic's subscriptions. A confirmed subscription has a real SubscriptionArn; one
 * awaiting its confirmation link says `PendingConfirmation` (and `Deleted` once unsubscribed).
 */
export class SnsApproverSubscriptions implements ApproverSubscriptions {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async count(): Promise<{ confirmed: number; pending: number }> {
    let confirmed = 0;
    let pending = 0;
    let nextToken: string | undefined;
    do {
      const page = await awsCall('SNS ListSubscriptionsByTopic', () =>
        this.client.send(
          new ListSubscriptionsByTopicCommand({
            TopicArn: this.topicArn,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      );
      for (const subscription of page.Subscriptions ?? []) {
        const arn = subscription.SubscriptionArn ?? '';
        if (arn === PENDING) pending++;
        else if (arn.startsWith('arn:')) confirmed++;
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return { confirmed, pending };
  }
}
