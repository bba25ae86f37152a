import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DynamoDbApprovals } from '../aws/approvals-dynamodb';
import { SnsNotifier } from '../aws/notifier-sns';
import { logger, systemClock as clock, traced } from './runtime';
import { requestDecision } from '../steps/offer-failback';
import type { RequestApprovalEvent, RequestApprovalResult } from '../steps/request-approval';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Environment variable ${name} is not set`);
  return value;
}

const approvals = new DynamoDbApprovals(DynamoDBDocumentClient.from(traced(new DynamoDBClient({}))), {
  tableName: requireEnv('APPROVALS_TABLE'),
  baseUrl: requireEnv('APPROVAL_BASE_URL'),
});
const notifier = new SnsNotifier(traced(new SNSClient({})), requireEnv('TOPIC_ARN'));

/**
 * `RequestApproval` and `RetainBlueForFailback` (waitForTaskToken; the payload's `kind` says which). The event carries the task token: it is never logged,
 * so `logEvent` is forced off whatever POWERTOOLS_LOGGER_LOG_EVENT says.
 */
export const handler = middy<RequestApprovalEvent & { kind?: string }, RequestApprovalResult>()
  .use(injectLambdaContext(logger, { logEvent: false }))
  .handler(async (event) => {
    const result = await requestDecision(event, { approvals, notifier, clock });
    logger.info(event.kind === 'failback' ? 'Failback offered' : 'Approval requested', {
      executionArn: event.document.input.executionId,
      expiresAt: result.expiresAt,
    });
    return result;
  });
