import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { awsCall } from '../domain/aws-errors';
import type { Notifier } from '../ports';

/** SNS accepts a subject of printable ASCII, without line breaks, shorter than 100 characters. */
export const MAX_SUBJECT_LENGTH = 99;

/** Makes any text a valid SNS email subject: ASCII only, one line, at most 99 characters. */
export function snsSubject(subject: string): string {
  const ascii = subject
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  const text = ascii || 'Aurora blue/green deployment';
  return text.length <= MAX_SUBJECT_LENGTH ? text : `${text.slice(0, MAX_SUBJECT_LENGTH - 3).trimEnd()}...`;
}

export class SnsNotifier implements Notifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(subject: string, message: string): Promise<void> {
    await awsCall('SNS Publish', () =>
      this.client.send(new PublishCommand({ TopicArn: this.topicArn, Subject: snsSubject(subject), Message: message })),
    );
  }
}
