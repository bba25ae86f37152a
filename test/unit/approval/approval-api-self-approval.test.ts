import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { approvalNonce, sealTaskToken, sha256Hex } from '../../../lambdas/domain/approval-secrets';
import { discoveryResponse, TASK_TOKEN } from './fixtures';

/**
 * The Lambda handler with FORBID_SELF_APPROVAL=true: who started the run comes from CloudTrail's
 * StartExecution record (LookupEvents mocked), and the starter's approval is refused.
 */

const ISSUER = 'https://idp.example.com/realms/ops';
const ID = 'Jx3v9rV0m3b8Qm1nQ0xk2w7pYk1sD4fH';
// The adapter remembers a starter once found: each test has its own execution.
let EXECUTION = '';

describe('approval-api handler with forbidSelfApproval', () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  const sfn = mockClient(SFNClient);
  const cloudtrail = mockClient(CloudTrailClient);
  const spies: jest.SpyInstance[] = [];
  let handler: (e: APIGatewayProxyEventV2, c: Context) => Promise<APIGatewayProxyStructuredResultV2>;
  const pending = {
    idHash: sha256Hex(ID),
    nonceHash: sha256Hex(approvalNonce(ID)),
    sealedTaskToken: sealTaskToken(ID, TASK_TOKEN),
    evidence: { blue: { clusterId: 'orders-prod' } },
    expiresAt: '2099-01-01T00:00:00.000Z',
    status: 'pending',
  };

  const approveAs = (email: string) =>
    handler(
      {
        version: '2.0',
        routeKey: 'POST /approvals/{id}',
        rawPath: `/approvals/${ID}`,
        rawQueryString: '',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        requestContext: {
          http: { method: 'POST', path: `/approvals/${ID}`, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7' },
          authorizer: { jwt: { claims: { iss: ISSUER, aud: 'approval-page', email }, scopes: null } },
        },
        isBase64Encoded: false,
        body: new URLSearchParams({ nonce: approvalNonce(ID), decision: 'approve', confirm: 'orders-prod' }).toString(),
      } as unknown as APIGatewayProxyEventV2,
      { functionName: 'approval', awsRequestId: 'r1', getRemainingTimeInMillis: () => 10_000 } as Context,
    );

  const startedBy = (session: string) =>
    cloudtrail.on(LookupEventsCommand).resolves({
      Events: [
        {
          EventName: 'StartExecution',
          CloudTrailEvent: JSON.stringify({
            eventName: 'StartExecution',
            userIdentity: {
              type: 'AssumedRole',
              arn: `arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DBA_0123/${session}`,
            },
            responseElements: { executionArn: EXECUTION },
          }),
        },
      ],
    });

  beforeAll(() => {
    spies.push(jest.spyOn(global, 'fetch').mockImplementation(async () => discoveryResponse(ISSUER)));
    spies.push(jest.spyOn(process.stdout, 'write').mockImplementation(() => true));
    Object.assign(process.env, {
      AWS_REGION: 'eu-west-1',
      APPROVALS_TABLE: 'approvals',
      APPROVER_ISSUER: ISSUER,
      APPROVER_CLIENT_ID: 'approval-page',
      FORBID_SELF_APPROVAL: 'true',
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require('../../../lambdas/handlers/approval-api').handler;
  });

  afterAll(() => {
    for (const spy of spies) spy.mockRestore();
    for (const name of ['APPROVER_ISSUER', 'APPROVER_CLIENT_ID', 'FORBID_SELF_APPROVAL']) delete process.env[name];
  });

  let run = 0;
  beforeEach(() => {
    run += 1;
    EXECUTION = `arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-${run}`;
    ddb.reset();
    sfn.reset();
    cloudtrail.reset();
    ddb.on(GetCommand).resolves({ Item: { ...pending, executionArn: EXECUTION } });
    ddb.on(UpdateCommand).resolves({ Attributes: { ...pending, executionArn: EXECUTION } });
    sfn.on(SendTaskSuccessCommand).resolves({});
  });

  it('refuses the approval of the run by its starter, as CloudTrail names them', async () => {
    startedBy('alice@example.com');
    const answer = await approveAs('Alice@example.com');
    expect(answer.statusCode).toBe(403);
    expect(answer.body).toContain('You started this run');
    expect(cloudtrail).toHaveReceivedCommandWith(LookupEventsCommand, {
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'StartExecution' }],
    });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('fails closed while CloudTrail has not delivered the StartExecution event', async () => {
    cloudtrail.on(LookupEventsCommand).resolves({ Events: [] });
    const answer = await approveAs('bob@example.com');
    expect(answer.statusCode).toBe(503);
    expect(answer.headers!['retry-after']).toBe('120');
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('lets another approver approve', async () => {
    startedBy('alice@example.com');
    const answer = await approveAs('bob@example.com');
    expect(answer.statusCode).toBe(303);
    expect(sfn).toHaveReceivedCommand(SendTaskSuccessCommand);
  });
});
