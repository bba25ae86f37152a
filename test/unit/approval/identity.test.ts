import { handleApprovalHttp, type ApprovalHttpRequest } from '../../../lambdas/approval/http';
import { SIGN_IN_SCRIPT_HASH } from '../../../lambdas/approval/html';
import {
  discoverIssuer,
  identitySettings,
  isStarter,
  type ApproverIdentityPolicy,
  type ExecutionStarter,
  type VerifiedToken,
} from '../../../lambdas/approval/identity';
import type { DecidedBy } from '../../../lambdas/approval/model';
import { InMemoryApprovalStore, LocalApprovals } from '../../../local/approval-server';
import { ManualClock, NOW, RecordingDecisions, requestApprovalEmail, TASK_TOKEN } from './fixtures';

const ISSUER = 'https://idp.example.com/realms/ops';
const EXECUTION_ARN = 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-1';
const FORM = 'application/x-www-form-urlencoded';

function token(claims: Record<string, unknown>, issuer = ISSUER): VerifiedToken {
  return { issuer, claims: { iss: issuer, aud: 'approval-page', ...claims } };
}

async function setup(options: { forbidSelfApproval?: boolean; starter?: ExecutionStarter } = {}) {
  const store = new InMemoryApprovalStore();
  const decisions = new RecordingDecisions();
  const clock = new ManualClock(NOW);
  const { approvalId } = await requestApprovalEmail(
    new LocalApprovals(store, () => 'https://approve.example.com'),
    clock,
  );
  const record = (await store.get(approvalId))!;
  const asked: string[] = [];
  const logged: Array<{ executionArn: string; decision: string; decidedBy?: DecidedBy; delivery: string }> = [];
  const identity: ApproverIdentityPolicy = {
    issuer: ISSUER,
    claim: 'email',
    forbidSelfApproval: options.forbidSelfApproval ?? false,
    starters: {
      startedBy: async (executionArn) => {
        asked.push(executionArn);
        return options.starter;
      },
    },
    signIn: {
      issuer: ISSUER,
      clientId: 'approval-page',
      authorizationEndpoint: `${ISSUER}/protocol/openid-connect/auth`,
      tokenEndpoint: `${ISSUER}/protocol/openid-connect/token`,
      scope: 'openid email',
      claim: 'email',
    },
  };
  const call = (request: Partial<ApprovalHttpRequest>) =>
    handleApprovalHttp(
      { method: 'GET', path: `/approvals/${approvalId}`, headers: {}, ...request },
      { store, decisions, identity, onDecision: (d) => logged.push(d) },
      clock,
    );
  const post = (fields: Record<string, string>, identityToken?: VerifiedToken) =>
    call({
      method: 'POST',
      headers: { 'content-type': FORM },
      body: new URLSearchParams({ nonce: record.nonce, ...fields }).toString(),
      ...(identityToken ? { identity: identityToken } : {}),
    });
  return { store, decisions, approvalId, call, post, asked, logged };
}

const approve = { decision: 'approve', confirm: 'orders-prod' };

describe('approval endpoint with an approver identity', () => {
  it('the page signs in with the issuer: its script by hash, fetch only to itself and the token endpoint', async () => {
    const { call } = await setup();
    const page = await call({ method: 'GET' });
    expect(page.statusCode).toBe(200);
    const csp = page.headers['content-security-policy']!;
    expect(csp).toContain(`script-src '${SIGN_IN_SCRIPT_HASH}'`);
    expect(csp).toContain(`connect-src 'self' ${ISSUER}/protocol/openid-connect/token`);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.body).toMatch(/<form method="post" action="" id="approve-form" data-decide>/);
    expect(page.body).toContain('"clientId":"approval-page"');
    expect(page.body).not.toContain(TASK_TOKEN);

    const signedIn = await call({ method: 'GET', path: '/signed-in' });
    expect(signedIn.statusCode).toBe(200);
    expect(signedIn.body).toContain('data-page="signed-in"');
    expect(signedIn.headers['content-security-policy']).toBe(csp);
  });

  it.each([
    ['no token', undefined, 401],
    ['a token of another issuer', token({ email: 'alice@example.com' }, 'https://other.example.com'), 401],
    ['a token without the email claim', token({ sub: 'u-1' }), 403],
    ['an unverified email', token({ email: 'alice@example.com', email_verified: false }), 403],
  ])('refuses a POST with %s and decides nothing', async (_label, identityToken, status) => {
    const { post, decisions, store, approvalId } = await setup();
    const response = await post(approve, identityToken);
    expect(response.statusCode).toBe(status);
    expect(response.body).toContain('Nothing was decided');
    expect(decisions.sent).toHaveLength(0);
    expect((await store.get(approvalId))!.status).toBe('pending');
  });

  it('records who decided: the table, the execution (SendTaskSuccess output) and the log', async () => {
    const { post, decisions, store, approvalId, logged } = await setup();
    const response = await post(approve, token({ email: 'Bob@Example.com' }));
    expect(response.statusCode).toBe(303);
    const decidedBy = { issuer: ISSUER, claim: 'email', value: 'Bob@Example.com' };
    expect(decisions.sent[0]!.output).toMatchObject({ decision: 'approve', decidedBy });
    expect(await store.get(approvalId)).toMatchObject({ status: 'approved', decidedBy });
    expect(logged).toEqual([
      {
        executionArn: EXECUTION_ARN,
        decision: 'approve',
        decidedAt: NOW.toISOString(),
        decidedBy,
        delivery: 'delivered',
      },
    ]);
  });

  it('logs no decision that was undone because Step Functions could not be reached', async () => {
    const { post, decisions, store, approvalId, logged } = await setup();
    decisions.failNext = new Error('connect ECONNREFUSED');
    const response = await post(approve, token({ email: 'bob@example.com' }));
    expect(response.statusCode).toBe(500);
    expect((await store.get(approvalId))!.status).toBe('pending');
    expect(logged).toEqual([]);
  });

  it('a rejection names who rejected in the failure cause', async () => {
    const { post, decisions } = await setup();
    await post({ decision: 'reject', reason: 'row counts differ' }, token({ email: 'bob@example.com' }));
    expect(decisions.sent).toEqual([
      {
        kind: 'failure',
        taskToken: TASK_TOKEN,
        error: 'ApprovalRejected',
        cause: 'row counts differ (rejected by bob@example.com)',
      },
    ]);
  });

  describe('forbidSelfApproval', () => {
    const starter = {
      arn: 'arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Deployers_0a1b/alice@example.com',
      names: ['alice@example.com'],
    };

    it('refuses the identity that started the execution, whatever the case', async () => {
      const { post, decisions, store, approvalId, asked } = await setup({ forbidSelfApproval: true, starter });
      const response = await post(approve, token({ email: 'ALICE@example.com' }));
      expect(response.statusCode).toBe(403);
      expect(response.body).toContain('You started this run');
      expect(asked).toEqual([EXECUTION_ARN]);
      expect(decisions.sent).toHaveLength(0);
      expect((await store.get(approvalId))!.status).toBe('pending');
    });

    it('lets another approver approve', async () => {
      const { post, decisions } = await setup({ forbidSelfApproval: true, starter });
      expect((await post(approve, token({ email: 'bob@example.com' }))).statusCode).toBe(303);
      expect(decisions.sent).toHaveLength(1);
    });

    it('fails closed while who started the run cannot be told yet', async () => {
      const { post, decisions, store, approvalId } = await setup({ forbidSelfApproval: true });
      const response = await post(approve, token({ email: 'bob@example.com' }));
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('120');
      expect(response.body).toContain('Try again in a few minutes');
      expect(decisions.sent).toHaveLength(0);
      expect((await store.get(approvalId))!.status).toBe('pending');
    });

    it('the starter may still reject (that rolls back, which is always safe)', async () => {
      const { post, decisions, asked } = await setup({ forbidSelfApproval: true, starter });
      const response = await post(
        { decision: 'reject', reason: 'wrong migration' },
        token({ email: 'alice@example.com' }),
      );
      expect(response.statusCode).toBe(303);
      expect(decisions.sent[0]).toMatchObject({ kind: 'failure' });
      expect(asked).toEqual([]);
    });

    it('matches whole names only', () => {
      const by = (value: string): DecidedBy => ({ issuer: ISSUER, claim: 'email', value });
      expect(isStarter(by('alice@example.com'), { names: ['alice@example.com.evil'] })).toBe(false);
      expect(isStarter(by('alice'), { names: ['alice@example.com'] })).toBe(false);
      expect(isStarter(by(' Alice@Example.com '), { names: ['alice@example.com'] })).toBe(true);
    });
  });
});

describe('identitySettings', () => {
  it('reads the environment the construct sets, and names a bad variable', () => {
    expect(identitySettings({})).toBeUndefined();
    expect(identitySettings({ APPROVER_ISSUER: ISSUER, APPROVER_CLIENT_ID: 'c' })).toEqual({
      issuer: ISSUER,
      clientId: 'c',
      claim: 'email',
      scope: 'openid email',
      forbidSelfApproval: false,
    });
    expect(() => identitySettings({ APPROVER_ISSUER: ISSUER })).toThrow(/APPROVER_CLIENT_ID/);
    expect(() =>
      identitySettings({ APPROVER_ISSUER: ISSUER, APPROVER_CLIENT_ID: 'c', APPROVER_CLAIM: 'name' }),
    ).toThrow(/APPROVER_CLAIM must be email or sub/);
  });
});

describe('discoverIssuer', () => {
  const answer = (body: unknown, status = 200): typeof fetch =>
    (async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;
  const metadata = {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/auth`,
    token_endpoint: `${ISSUER}/token`,
    jwks_uri: `${ISSUER}/certs`,
  };

  it('reads the endpoints of the configured issuer', async () => {
    await expect(discoverIssuer(ISSUER, answer(metadata))).resolves.toEqual({
      issuer: ISSUER,
      authorizationEndpoint: `${ISSUER}/auth`,
      tokenEndpoint: `${ISSUER}/token`,
      jwksUri: `${ISSUER}/certs`,
    });
  });

  it('refuses another issuer, a plain-http endpoint and a failed answer', async () => {
    await expect(discoverIssuer(ISSUER, answer({ ...metadata, issuer: 'https://evil.example.com' }))).rejects.toThrow(
      /names issuer https:\/\/evil\.example\.com/,
    );
    await expect(
      discoverIssuer(ISSUER, answer({ ...metadata, token_endpoint: 'http://idp.example.com/token' })),
    ).rejects.toThrow(/token_endpoint must be https/);
    await expect(discoverIssuer(ISSUER, answer({}, 404))).rejects.toThrow(/answered 404/);
    await expect(
      discoverIssuer(ISSUER, answer({ ...metadata, token_endpoint: `${ISSUER}/token;script-src` })),
    ).rejects.toThrow(/token_endpoint has a character a CSP source cannot hold/);
  });
});
