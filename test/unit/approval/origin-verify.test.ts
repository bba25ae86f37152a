import type * as LibDynamoDb from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { cameThroughOrigin, originVerificationFrom } from '../../../lambdas/domain/origin-verify';

/**
 * With the WAF option, CloudFront adds `x-bluegreen-origin-verify` to every request it forwards;
 * the approval page refuses a request without it (sent straight to execute-api, around the WAF)
 * before it reads the table.
 */

const HEADER = 'x-bluegreen-origin-verify';
const VALUE = 'Gq8dT2mZ0pXc7vLr4nBw9sYk3hJf6aEu1oNi5tRg2yWq8zKx';
const PATH = '/approvals/a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

function event(headers: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'GET /approvals/{id}',
    rawPath: PATH,
    rawQueryString: '',
    headers: { 'user-agent': 'Mozilla/5.0', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc',
      http: { method: 'GET', path: PATH, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'Mozilla/5.0' },
      requestId: 'r1',
      routeKey: 'GET /approvals/{id}',
      stage: '$default',
      time: '05/Dec/2026:02:10:00 +0000',
      timeEpoch: 1,
    },
    isBase64Encoded: false,
  };
}

const context = { functionName: 'approval', awsRequestId: 'r1', getRemainingTimeInMillis: () => 10_000 } as Context;

interface Loaded {
  handler: Handler;
  /** The document client of this copy of the handler's modules, mocked: an empty table. */
  ddb: AwsClientStub<LibDynamoDb.DynamoDBDocumentClient>;
  GetCommand: typeof LibDynamoDb.GetCommand;
}

/** A fresh copy of the handler, which reads its environment when it is loaded. */
function loadHandler(env: Record<string, string>): Loaded {
  Object.assign(process.env, { AWS_REGION: 'eu-west-1', APPROVALS_TABLE: 'approvals', ...env });
  let loaded: Loaded | undefined;
  jest.isolateModules(() => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const lib = require('@aws-sdk/lib-dynamodb') as typeof LibDynamoDb;
    const ddb = mockClient(lib.DynamoDBDocumentClient);
    ddb.on(lib.GetCommand).resolves({});
    loaded = { handler: require('../../../lambdas/handlers/approval-api').handler, ddb, GetCommand: lib.GetCommand };
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  return loaded!;
}

describe('the approval page behind CloudFront', () => {
  let handler: Handler;
  let ddb: Loaded['ddb'];
  let GetCommand: Loaded['GetCommand'];

  beforeAll(() => {
    ({ handler, ddb, GetCommand } = loadHandler({ ORIGIN_VERIFY_HEADER: HEADER, ORIGIN_VERIFY_VALUE: VALUE }));
  });

  afterAll(() => {
    delete process.env.ORIGIN_VERIFY_HEADER;
    delete process.env.ORIGIN_VERIFY_VALUE;
  });

  beforeEach(() => {
    ddb.resetHistory();
  });

  it('refuses a request sent straight to execute-api (no header) before reading the table', async () => {
    const page = await handler(event({}), context);
    expect(page.statusCode).toBe(403);
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 0);
  });

  it('refuses a wrong header value, and one of a different length', async () => {
    for (const value of [`${VALUE.slice(0, -1)}Q`, 'short']) {
      const page = await handler(event({ [HEADER]: value }), context);
      expect(page.statusCode).toBe(403);
    }
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 0);
  });

  it('serves a request that came through CloudFront', async () => {
    const page = await handler(event({ [HEADER]: VALUE }), context);
    expect(page.statusCode).not.toBe(403);
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 1);
  });
});

describe('the approval page without the WAF option', () => {
  it('serves a request with no origin header', async () => {
    const { handler, ddb, GetCommand } = loadHandler({});
    const page = await handler(event({}), context);
    expect(page.statusCode).not.toBe(403);
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 1);
  });
});

describe('originVerificationFrom / cameThroughOrigin', () => {
  it('needs both variables or neither, and matches the header name in any case', () => {
    expect(originVerificationFrom({})).toBeUndefined();
    expect(() => originVerificationFrom({ ORIGIN_VERIFY_HEADER: HEADER })).toThrow(/must be set together/);
    const verification = originVerificationFrom({
      ORIGIN_VERIFY_HEADER: 'X-BlueGreen-Origin-Verify',
      ORIGIN_VERIFY_VALUE: VALUE,
    })!;
    expect(cameThroughOrigin({ [HEADER.toUpperCase()]: VALUE }, verification)).toBe(true);
    expect(cameThroughOrigin({ other: VALUE }, verification)).toBe(false);
  });
});
