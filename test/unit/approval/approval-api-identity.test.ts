import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { approvalApiEvent } from './fixtures';

/** The Lambda adapter hands the endpoint only what API Gateway's JWT authorizer verified. */

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
    expect(toApprovalRequest(approvalApiEvent({ jwt: { claims, scopes: null } })).identity).toEqual({
      issuer: 'https://idp.example.com',
      claims,
    });
  });

  it('has no identity without an authorizer, or without an issuer claim', () => {
    expect(toApprovalRequest(approvalApiEvent())).not.toHaveProperty('identity');
    expect(toApprovalRequest(approvalApiEvent({ jwt: { claims: { email: 'bob@example.com' } } }))).not.toHaveProperty(
      'identity',
    );
  });
});
