import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { sha256Hex } from '../../../lambdas/domain/approval-secrets';
import { sdkShapedError } from '../../../lambdas/domain/aws-errors';
import type { RequestApprovalEvent, RequestApprovalResult } from '../../../lambdas/steps/request-approval';
import { executionDocument, TASK_TOKEN } from './fixtures';

/**
 * A whole approval flow through the real Lambda handlers (SDK clients mocked): every byte written
 * to stdout/stderr or the console, every email, every page and every stored link is captured, and
 * the task token must be in none of them. It must reach Step Functions, and only Step Functions.
 */

const ddb = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

const context = {
  functionName: 'approval',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:approval',
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/approval',
  logStreamName: '2026/12/05/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

function httpEvent(method: string, path: string, body?: string, base64 = false): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `${method} /approvals/{id}`,
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'user-agent': 'Mozilla/5.0 (iPhone)',
      host: 'abc.execute-api.eu-west-1.amazonaws.com',
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'Mozilla/5.0 (iPhone)' },
      requestId: 'r1',
      routeKey: `${method} /approvals/{id}`,
      stage: '$default',
      time: '05/Dec/2026:02:10:00 +0000',
      timeEpoch: 1,
    },
    isBase64Encoded: base64,
    ...(body !== undefined ? { body: base64 ? Buffer.from(body).toString('base64') : body } : {}),
  };
}

describe('the task token stays secret through a whole approval flow', () => {
  const output: string[] = [];
  const spies: jest.SpyInstance[] = [];
  let requestHandler: Handler<RequestApprovalEvent, RequestApprovalResult>;
  let apiHandler: Handler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

  beforeAll(() => {
    process.env.AWS_REGION = 'eu-west-1';
    process.env.APPROVALS_TABLE = 'approvals';
    process.env.APPROVAL_BASE_URL = 'https://abc.execute-api.eu-west-1.amazonaws.com/';
    process.env.TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:approvals';
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    // Even if someone turns event logging on, the handlers force it off.
    process.env.POWERTOOLS_LOGGER_LOG_EVENT = 'true';
    const capture = (chunk: unknown) => {
      output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return true;
    };
    spies.push(jest.spyOn(process.stdout, 'write').mockImplementation(capture));
    spies.push(jest.spyOn(process.stderr, 'write').mockImplementation(capture));
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      spies.push(
        jest
          .spyOn(console, level)
          .mockImplementation((...args: unknown[]) => void output.push(args.map(String).join(' '))),
      );
    }
    // Required here, after the environment is set: the handlers read it at module load.
    /* eslint-disable @typescript-eslint/no-require-imports */
    requestHandler = require('../../../lambdas/handlers/request-approval').handler;
    apiHandler = require('../../../lambdas/handlers/approval-api').handler;
    /* eslint-enable @typescript-eslint/no-require-imports */
  });

  afterAll(() => {
    for (const spy of spies) spy.mockRestore();
    delete process.env.POWERTOOLS_LOGGER_LOG_EVENT;
  });

  beforeEach(() => {
    ddb.reset();
    sfn.reset();
    sns.reset();
  });

  it('request, open, a failing POST, approve, second POST: the token only reaches SendTaskSuccess', async () => {
    // Arrange: the table is a Map behind the mocked document client.
    const items = new Map<string, Record<string, unknown>>();
    ddb.on(PutCommand).callsFake((input: { Item: Record<string, unknown> }) => {
      items.set(String(input.Item.idHash), { ...input.Item });
      return {};
    });
    ddb.on(GetCommand).callsFake((input: { Key: { idHash: string } }) => ({ Item: items.get(input.Key.idHash) }));
    ddb
      .on(UpdateCommand)
      .callsFake(
        (input: {
          Key: { idHash: string };
          ExpressionAttributeValues: Record<string, string>;
          ExpressionAttributeNames: Record<string, string>;
          UpdateExpression: string;
        }) => {
          const item = items.get(input.Key.idHash);
          const v = input.ExpressionAttributeValues;
          if (input.UpdateExpression.startsWith('SET #status = :pending')) {
            if (!item || item.status === 'pending' || item.decidedAt !== v[':decidedAt'])
              throw sdkShapedError('ConditionalCheckFailedException');
            const { decision: _d, decidedAt: _a, reason: _r, sourceIp: _s, userAgent: _u, ...rest } = item;
            items.set(input.Key.idHash, { ...rest, status: 'pending', sealedTaskToken: v[':sealed'] });
            return {};
          }
          if (
            !item ||
            item.status !== 'pending' ||
            item.nonceHash !== v[':nonceHash'] ||
            String(item.expiresAt) <= String(v[':decidedAt'])
          ) {
            throw sdkShapedError('ConditionalCheckFailedException');
          }
          const { sealedTaskToken: _dropped, ...updated } = item;
          for (const [placeholder, name] of Object.entries(input.ExpressionAttributeNames)) {
            const value = v[`:${placeholder.slice(1)}`];
            if (value !== undefined && !['nonceHash', 'expiresAt'].includes(name)) updated[name] = value;
          }
          items.set(input.Key.idHash, updated);
          return { Attributes: item };
        },
      );
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    // The first SendTaskSuccess fails with the token echoed in the message; the retry succeeds.
    sfn
      .on(SendTaskSuccessCommand)
      .rejectsOnce(sdkShapedError('InternalServerError', `failed for taskToken=${TASK_TOKEN}`))
      .resolves({});
    sfn.on(SendTaskFailureCommand).resolves({});

    // Act
    const document = executionDocument();
    document.input.approval.timeoutSeconds = 10 * 365 * 24 * 3600; // the handlers use the real clock
    const requested = await requestHandler({ document, taskToken: TASK_TOKEN }, context);
    const email = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    const link = /https:\/\/\S+/.exec(email.Message ?? '')![0];
    const path = new URL(link).pathname;
    const pages: APIGatewayProxyStructuredResultV2[] = [];
    const get = async () => {
      const page = await apiHandler(httpEvent('GET', path), context);
      pages.push(page);
      return page;
    };
    const post = async (fields: Record<string, string>) => {
      const page = await apiHandler(httpEvent('POST', path, new URLSearchParams(fields).toString(), true), context);
      pages.push(page);
      return page;
    };
    const first = await get();
    const nonce = /name="nonce" value="([^"]+)"/.exec(String(first.body))![1]!;
    const failed = await post({ nonce, decision: 'approve', confirm: 'orders-prod' });
    const approved = await post({ nonce, decision: 'approve', confirm: 'orders-prod', reason: 'ship it' });
    const second = await post({ nonce, decision: 'reject', reason: 'too late' });
    const reloaded = await get();

    // Assert: the flow did what it should
    expect([first.statusCode, failed.statusCode, approved.statusCode, second.statusCode, reloaded.statusCode]).toEqual([
      200, 500, 303, 410, 410,
    ]);
    const approvalId = path.split('/').pop()!;
    const stored = items.get(sha256Hex(approvalId))!;
    // Decided: the sealed token left the table with the decision; nothing in it opens the page.
    expect(stored.status).toBe('approved');
    expect(stored).not.toHaveProperty('sealedTaskToken');
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 2);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskFailureCommand, 0);
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TASK_TOKEN });
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[1]!.args[0].input.output!)).toMatchObject({
      decision: 'approve',
      reason: 'ship it',
      sourceIp: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (iPhone)',
    });
    const logs = output.join('');
    expect(logs).toContain('Approval requested');
    expect(logs).toContain('Approval request failed');
    expect(logs).toContain('[task token]');

    // Assert: the token is nowhere else
    const fragments = [TASK_TOKEN, TASK_TOKEN.slice(0, 40), TASK_TOKEN.slice(-40), 'SECRET-TASK-TOKEN'];
    const everything = {
      logs,
      email: JSON.stringify(email),
      link,
      result: JSON.stringify(requested),
      pages: JSON.stringify(pages),
      table: JSON.stringify([...items.values()]),
    };
    // The table and the task's result (the execution history) hold neither the link's id nor the nonce.
    for (const secret of [approvalId, nonce]) {
      expect(JSON.stringify([...items.entries()])).not.toContain(secret);
      expect(JSON.stringify(requested)).not.toContain(secret);
    }
    for (const [where, text] of Object.entries(everything)) {
      for (const fragment of fragments) {
        expect({ where, leaked: text.includes(fragment) }).toEqual({ where, leaked: false });
      }
    }
  });
});
