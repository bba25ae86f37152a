import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  handleApprovalHttp,
  signInUnavailable,
  type ApprovalHttpRequest,
  type ApprovalHttpResponse,
} from '../approval/http';
import {
  identityPolicy,
  identitySettings,
  type ApproverIdentityPolicy,
  type VerifiedToken,
} from '../approval/identity';
import { DynamoDbApprovals } from '../aws/approvals-dynamodb';
import { CloudTrailExecutionStarters } from '../aws/execution-starters-cloudtrail';
import { cameThroughOrigin, originVerificationFrom } from '../domain/origin-verify';
import { SfnTaskDecisions, singleAttemptSfnClient } from '../aws/task-decisions-sfn';
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
const decisions = new SfnTaskDecisions(singleAttemptSfnClient());
// WAF option (infra/approval-waf.ts): only requests that came through CloudFront and its web ACL.
const originVerification = originVerificationFrom(process.env);

const settings = identitySettings(process.env);
// forbidSelfApproval: who started the run, from CloudTrail's StartExecution record.
const starters = settings?.forbidSelfApproval
  ? new CloudTrailExecutionStarters(traced(new CloudTrailClient({})))
  : undefined;
// Discovery once per container; a failed one is tried again on the next request.
let policy: Promise<ApproverIdentityPolicy> | undefined;
function approverIdentity(): Promise<ApproverIdentityPolicy> | undefined {
  if (!settings) return undefined;
  policy ??= identityPolicy(settings, starters).catch((error: unknown) => {
    policy = undefined;
    throw error;
  });
  return policy;
}

/** The JWT authorizer's verified claims (payload 2.0 `requestContext.authorizer.jwt.claims`). */
export function verifiedToken(event: APIGatewayProxyEventV2): VerifiedToken | undefined {
  const context = event.requestContext as { authorizer?: { jwt?: { claims?: Record<string, unknown> } } };
  const claims = context.authorizer?.jwt?.claims;
  if (!claims || typeof claims.iss !== 'string') return undefined;
  return { issuer: claims.iss, claims };
}

/** API Gateway HTTP API (payload 2.0) to the framework-agnostic request. */
export function toApprovalRequest(event: APIGatewayProxyEventV2): ApprovalHttpRequest {
  const body =
    event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  const identity = verifiedToken(event);
  return {
    method: event.requestContext.http.method,
    path: event.rawPath,
    headers: event.headers ?? {},
    ...(body !== undefined ? { body } : {}),
    sourceIp: event.requestContext.http.sourceIp,
    ...(identity ? { identity } : {}),
  };
}

function asResult(response: ApprovalHttpResponse): APIGatewayProxyStructuredResultV2 {
  return { statusCode: response.statusCode, headers: response.headers, body: response.body, isBase64Encoded: false };
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
    let identity: ApproverIdentityPolicy | undefined;
    try {
      identity = await approverIdentity();
    } catch (error) {
      logger.error('Approver sign-in unavailable: the issuer discovery failed', { error });
      return asResult(signInUnavailable());
    }
    const response = await handleApprovalHttp(
      request,
      {
        store,
        decisions,
        onError: (error) => logger.error('Approval request failed', { error }),
        // Who decided what, for the audit trail (never the approval id, the nonce or the token).
        onDecision: (decision) => logger.info('Approval decided', decision),
        ...(identity ? { identity } : {}),
      },
      clock,
    );
    logger.info('Approval page served', { method: request.method, statusCode: response.statusCode });
    return asResult(response);
  });
