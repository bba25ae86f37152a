import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { approvalNonce, sealTaskToken, sha256Hex } from '../../../lambdas/domain/approval-secrets';
import { approvalApiEvent, discoveryResponse, TASK_TOKEN } from './fixtures';

/**
 * The Lambda handler with an approver identity configured: discovery of the issuer (fetch
 * stubbed), the page, and an approval whose verified claims reach SendTaskSuccess and the log.
 */

describe('approval-api handler with APPROVER_ISSUER set', () => {
  const ISSUER = 'https://idp.example.com/realms/ops';
  const ID = 'Jx3v9rV0m3b8Qm1nQ0xk2w7pYk1sD4fH';
  const ddb = mockClient(DynamoDBDocumentClient);
  const sfn = mockClient(SFNClient);
  const output: string[] = [];
  const spies: jest.SpyInstance[] = [];
  let fetchAnswer: () => Promise<Response>;
  let handler: (e: APIGatewayProxyEventV2, c: Context) => Promise<APIGatewayProxyStructuredResultV2>;

  const context = {
    functionName: 'approval',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:approval',
    memoryLimitInMB: '256',
    getRemainingTimeInMillis: () => 10_000,
  } as Context;

  const call = (method: string, body?: string, authorizer?: unknown) => {
    const e = approvalApiEvent(authorizer);
    e.rawPath = `/approvals/${ID}`;
    e.requestContext.http.method = method;
    if (body === undefined) delete e.body;
    else e.body = body;
    return handler(e, context);
  };

  beforeAll(() => {
    spies.push(jest.spyOn(global, 'fetch').mockImplementation(() => fetchAnswer()));
    spies.push(
      jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
        output.push(String(chunk));
        return true;
      }),
    );
    process.env.AWS_REGION = 'eu-west-1';
    process.env.APPROVALS_TABLE = 'approvals';
    process.env.APPROVER_ISSUER = ISSUER;
    process.env.APPROVER_CLIENT_ID = 'approval-page';
    // Required after the environment is set: the handler reads it at module load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require('../../../lambdas/handlers/approval-api').handler;
  });

  afterAll(() => {
    for (const spy of spies) spy.mockRestore();
    delete process.env.APPROVER_ISSUER;
    delete process.env.APPROVER_CLIENT_ID;
  });

  it('says sign-in is unavailable while discovery fails, then serves the page and records who approved', async () => {
    const pending = {
      idHash: sha256Hex(ID),
      nonceHash: sha256Hex(approvalNonce(ID)),
      sealedTaskToken: sealTaskToken(ID, TASK_TOKEN),
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-1',
      evidence: { blue: { clusterId: 'orders-prod' } },
      expiresAt: '2099-01-01T00:00:00.000Z',
      status: 'pending',
    };
    ddb.on(GetCommand).resolves({ Item: pending });
    fetchAnswer = async () => new Response('unavailable', { status: 503 });
    const down = await call('GET');
    expect(down.statusCode).toBe(503);
    expect(down.body).toContain('Sign-in is unavailable');
    expect(down.body).toContain('Nothing was decided');

    fetchAnswer = async () => discoveryResponse(ISSUER);
    const page = await call('GET');
    expect(page.statusCode).toBe(200);
    expect(page.headers!['content-security-policy']).toContain(`connect-src 'self' ${ISSUER}/token`);

    ddb.on(UpdateCommand).resolves({ Attributes: pending });
    sfn.on(SendTaskSuccessCommand).resolves({});
    const body = new URLSearchParams({ nonce: approvalNonce(ID), decision: 'approve', confirm: 'orders-prod' });
    const claims = { iss: ISSUER, aud: 'approval-page', email: 'bob@example.com' };
    const decided = await call('POST', body.toString(), { jwt: { claims, scopes: null } });
    expect(decided.statusCode).toBe(303);
    const decidedBy = { issuer: ISSUER, claim: 'email', value: 'bob@example.com' };
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input.output!)).toMatchObject({ decidedBy });
    const line = output
      .map((o) => JSON.parse(o) as Record<string, unknown>)
      .find((l) => l.message === 'Approval decided');
    expect(line).toMatchObject({ decision: 'approve', decidedBy });
    expect(JSON.stringify(output)).not.toContain(TASK_TOKEN);
  });
});
