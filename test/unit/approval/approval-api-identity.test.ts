import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** The Lambda adapter hands the endpoint only what API Gateway's JWT authorizer verified. */

function event(authorizer?: unknown): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /approvals/{id}',
    rawPath: '/approvals/abc',
    rawQueryString: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc',
      http: { method: 'POST', path: '/approvals/abc', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'x' },
      requestId: 'r1',
      routeKey: 'POST /approvals/{id}',
      stage: '$default',
      time: '05/Dec/2026:02:10:00 +0000',
      timeEpoch: 1,
      ...(authorizer ? { authorizer } : {}),
    },
    isBase64Encoded: false,
    body: 'nonce=n&decision=approve',
  } as APIGatewayProxyEventV2;
}

describe('approval-api handler: the verified identity', () => {
  let toApprovalRequest: (e: APIGatewayProxyEventV2) => { identity?: unknown };

  beforeAll(() => {
    process.env.AWS_REGION = 'eu-west-1';
    process.env.APPROVALS_TABLE = 'approvals';
    // The handler reads its environment at module load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    toApprovalRequest = require('../../../lambdas/handlers/approval-api').toApprovalRequest;
  });

  it('takes the claims from requestContext.authorizer.jwt, with their issuer', () => {
    const claims = { iss: 'https://idp.example.com', aud: 'page', email: 'bob@example.com', exp: '1765000000' };
    expect(toApprovalRequest(event({ jwt: { claims, scopes: null } })).identity).toEqual({
      issuer: 'https://idp.example.com',
      claims,
    });
  });

  it('has no identity without an authorizer, or without an issuer claim', () => {
    expect(toApprovalRequest(event())).not.toHaveProperty('identity');
    expect(toApprovalRequest(event({ jwt: { claims: { email: 'bob@example.com' } } }))).not.toHaveProperty('identity');
  });
});
