import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { handleApprovalHttp, type ApprovalHttpRequest } from '../approval/http';
import { DynamoDbApprovals } from '../aws/approvals-dynamodb';
import { cameThroughOrigin, originVerificationFrom } from '../domain/origin-verify';
import { SfnTaskDecisions } from '../aws/task-decisions-sfn';
import { logger, systemClock as clock, traced } from './runtime';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Environment variable ${name} is not set`);
  return value;
}

const store = new DynamoDbApprovals(DynamoDBDocumentClient.from(traced(new DynamoDBClient({}))), {
  tableName: requireEnv('APPROVALS_TABLE'),
});
// One attempt: a retried SendTaskSuccess after a lost answer must surface as "outcome unknown".
const decisions = new SfnTaskDecisions(traced(new SFNClient({ maxAttempts: 1 })));
// WAF option (infra/approval-waf.ts): only requests that came through CloudFront and its web ACL.
const originVerification = originVerificationFrom(process.env);

/** API Gateway HTTP API (payload 2.0) to the framework-agnostic request. */
export function toApprovalRequest(event: APIGatewayProxyEventV2): ApprovalHttpRequest {
  const body =
    event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return {
    method: event.requestContext.http.method,
    path: event.rawPath,
    headers: event.headers ?? {},
    ...(body !== undefined ? { body } : {}),
    sourceIp: event.requestContext.http.sourceIp,
  };
}

/**
 * The approval page. The event is never logged (it holds the approval id and the form with its
 * nonce); the stored task token is only ever handed to Step Functions.
 */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger, { logEvent: false }))
  .handler(async (event) => {
    if (originVerification && !cameThroughOrigin(event.headers ?? {}, originVerification)) {
      logger.warn('Approval request refused: it did not come through CloudFront');
      return { statusCode: 403, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Forbidden\n' };
    }
    const request = toApprovalRequest(event);
    const response = await handleApprovalHttp(
      request,
      { store, decisions, onError: (error) => logger.error('Approval request failed', { error }) },
      clock,
    );
    logger.info('Approval page served', { method: request.method, statusCode: response.statusCode });
    return { statusCode: response.statusCode, headers: response.headers, body: response.body, isBase64Encoded: false };
  });
