import { GetSubscriptionAttributesCommand, ListSubscriptionsByTopicCommand, type SNSClient } from '@aws-sdk/client-sns';
import { awsCall } from '../domain/aws-errors';
import type { ApproverSubscriptions } from '../ports';

/** SNS's SubscriptionArn of a subscription that nobody has confirmed yet. */
const PENDING = 'PendingConfirmation';

/**
 * At most this many confirmed subscriptions are asked for their attributes, one call after the
 * other: an approvers' topic has a handful, and Preflight needs one authenticated. Any beyond it
 * count as confirmed but not authenticated.
 */
export const MAX_ATTRIBUTE_CHECKS = 50;

/**
 * The approvers' topic's subscriptions. A confirmed subscription has a real SubscriptionArn; one
 * awaiting its confirmation link says `PendingConfirmation` (and `Deleted` once unsubscribed).
 * A confirmed one is authenticated when its attribute `ConfirmationWasAuthenticated` is "true":
 * confirmed by a signed `ConfirmSubscription` with `AuthenticateOnUnsubscribe=true`, so that only
 * an authenticated `Unsubscribe` removes it, never the unsubscribe link a mail scanner may follow.
 */
export class SnsApproverSubscriptions implements ApproverSubscriptions {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async count(): Promise<{ topicArn: string; confirmed: number; pending: number; authenticated: number }> {
    const confirmedArns: string[] = [];
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
        else if (arn.startsWith('arn:')) confirmedArns.push(arn);
      }
      nextToken = page.NextToken;
    } while (nextToken);

    let confirmed = confirmedArns.length;
    let authenticated = 0;
    for (const arn of confirmedArns.slice(0, MAX_ATTRIBUTE_CHECKS)) {
      const attributes = await this.attributesOf(arn);
      if (!attributes) {
        // Unsubscribed between the list and this call: it is no longer confirmed.
        confirmed--;
        continue;
      }
      if (attributes['ConfirmationWasAuthenticated'] === 'true') authenticated++;
    }
    return { topicArn: this.topicArn, confirmed, pending, authenticated };
  }

  private async attributesOf(subscriptionArn: string): Promise<Record<string, string> | undefined> {
    try {
      const result = await awsCall('SNS GetSubscriptionAttributes', () =>
        this.client.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: subscriptionArn })),
      );
      return result.Attributes ?? {};
    } catch (error) {
      if (error instanceof Error && (error.name === 'NotFoundException' || error.name === 'NotFound')) return undefined;
      throw error;
    }
  }
}
