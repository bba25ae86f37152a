import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { identityPolicy } from '../../lambdas/approval/identity';
import { startApprovalServer, type ApprovalServer } from '../../local/approval-server';
import { JoseBearerVerifier } from '../../local/jose-bearer-verifier';
import { RecordingDecisions, requestApprovalEmail, TASK_TOKEN } from '../unit/approval/fixtures';
import { launchTestBrowser } from '../support/browser';

/**
 * Approver identity in a real browser: the approval page signs the approver in with a small
 * OpenID Connect issuer run by this test (a real HTTP server that signs real RS256 ID tokens),
 * by authorization code with PKCE, then posts the decision with the ID token.
 *
 * The local server verifies the token as API Gateway's JWT authorizer would: `JoseBearerVerifier`,
 * the signature by the issuer's JWKS (from its discovery document), issuer, audience and expiry.
 */

const CLIENT_ID = 'approval-page';
const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** A minimal OpenID Connect issuer: discovery, authorize (code + PKCE S256), token, JWKS. */
async function startIssuer(redirectUri: () => string) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = b64url(randomBytes(8));
  const codes = new Map<string, { challenge: string; nonce: string; redirectUri: string; user: string }>();
  const authorizeUrls: string[] = [];
  const state = { user: 'bob@example.com', audience: CLIENT_ID, nonce: undefined as string | undefined };
  let url = '';
  const server: Server = createServer((req, res) => {
    const here = new URL(req.url ?? '/', url);
    const json = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...extra });
      res.end(JSON.stringify(body));
    };
    if (here.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: url,
        authorization_endpoint: `${url}/authorize`,
        token_endpoint: `${url}/token`,
        jwks_uri: `${url}/jwks`,
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (here.pathname === '/jwks')
      return json(200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }] });
    if (here.pathname === '/authorize') {
      authorizeUrls.push(here.href);
      const p = here.searchParams;
      if (
        p.get('client_id') !== CLIENT_ID ||
        p.get('redirect_uri') !== redirectUri() ||
        p.get('response_type') !== 'code' ||
        p.get('code_challenge_method') !== 'S256' ||
        !p.get('code_challenge') ||
        !p.get('state')
      ) {
        res.writeHead(400);
        return res.end('bad authorization request');
      }
      const code = b64url(randomBytes(16));
      codes.set(code, {
        challenge: p.get('code_challenge')!,
        nonce: p.get('nonce') ?? '',
        redirectUri: redirectUri(),
        user: state.user,
      });
      const back = new URL(redirectUri());
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state')!);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (here.pathname === '/token' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const cors = { 'access-control-allow-origin': req.headers.origin ?? '*' };
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        if (
          !grant ||
          form.get('client_id') !== CLIENT_ID ||
          form.get('redirect_uri') !== grant.redirectUri ||
          b64url(createHash('sha256').update(verifier).digest()) !== grant.challenge
        ) {
          return json(400, { error: 'invalid_grant' }, cors);
        }
        const now = Math.floor(Date.now() / 1000);
        const claims = {
          iss: url,
          aud: state.audience,
          sub: `user-${grant.user}`,
          email: grant.user,
          email_verified: true,
          nonce: state.nonce ?? grant.nonce,
          iat: now,
          exp: now + 300,
        };
        const signingInput = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))}.${b64url(JSON.stringify(claims))}`;
        const idToken = `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), privateKey))}`;
        return json(200, { id_token: idToken, token_type: 'Bearer', expires_in: 300 }, cors);
      });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get url() {
      return url;
    },
    state,
    authorizeUrls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('approver identity in headless chromium', () => {
  let browser: Browser;
  let issuer: Awaited<ReturnType<typeof startIssuer>>;
  let server: ApprovalServer;
  let decisions: RecordingDecisions;

  beforeAll(async () => {
    browser = await launchTestBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    decisions = new RecordingDecisions();
    issuer = await startIssuer(() => `${server.url}/signed-in`);
    const policy = await identityPolicy(
      { issuer: issuer.url, clientId: CLIENT_ID, claim: 'email', scope: 'openid email', forbidSelfApproval: true },
      // The execution was started by alice (in AWS: CloudTrail's StartExecution record).
      { startedBy: async () => ({ names: ['alice@example.com'] }) },
    );
    const verifier = await JoseBearerVerifier.forIssuer(issuer.url, [CLIENT_ID]);
    server = await startApprovalServer({ decisions, identity: { policy, verifier } });
  });

  afterEach(async () => {
    await server?.close();
    await issuer?.close();
  });

  async function openLink(): Promise<{ page: Page; link: string; approvalId: string; csp: string[] }> {
    const { email, approvalId } = await requestApprovalEmail(server.approvals);
    const link = /http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+/.exec(email)![0];
    const page = await (await browser.newContext()).newPage();
    const csp: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
    });
    expect((await page.goto(link))?.status()).toBe(200);
    return { page, link, approvalId, csp };
  }

  /** Polls across the navigations of the sign-in (issuer, /signed-in, back), 10 s at most. */
  async function statusStartsWith(page: Page, text: string): Promise<void> {
    const until = Date.now() + 10_000;
    let last: string | null = null;
    while (Date.now() < until) {
      last = await page
        .locator('#sign-in-status')
        .textContent({ timeout: 500 })
        .catch(() => null);
      if (last?.startsWith(text)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `the sign-in status never said "${text}" (last: ${String(last)}) at ${page.url()}: ${(await page.content()).slice(0, 1500)}`,
    );
  }

  async function signInThenApprove(page: Page, link: string): Promise<void> {
    await expect(page.locator('#sign-in-status').textContent()).resolves.toContain('Deciding needs you to sign in');
    await page.fill('#approve-confirm', 'orders-prod');
    // Not signed in: the button goes to the issuer and comes back to this page, signed in.
    await page.getByRole('button', { name: 'Approve cutover' }).click();
    await statusStartsWith(page, 'Signed in as');
    expect(page.url()).toBe(link);
    expect(decisions.sent).toHaveLength(0);
    await page.fill('#approve-confirm', 'orders-prod');
    await page.getByRole('button', { name: 'Approve cutover' }).click();
  }

  it('signs in with code + PKCE, approves with the ID token, and records who approved', async () => {
    const { page, link, approvalId, csp } = await openLink();
    await signInThenApprove(page, link);
    await page.waitForSelector('text=This cutover was approved');

    const decidedBy = { issuer: issuer.url, claim: 'email', value: 'bob@example.com' };
    expect(decisions.sent).toHaveLength(1);
    expect(decisions.sent[0]).toMatchObject({ kind: 'success', taskToken: TASK_TOKEN, output: { decidedBy } });
    expect(await server.store.get(approvalId)).toMatchObject({ status: 'approved', decidedBy });
    expect(csp).toEqual([]);

    // What went to the issuer: no approval id, no nonce, no task token; the fixed redirect URI.
    expect(issuer.authorizeUrls).toHaveLength(1);
    const sent = issuer.authorizeUrls[0]!;
    const record = (await server.store.get(approvalId))!;
    for (const secret of [approvalId, encodeURIComponent(approvalId), record.nonce, TASK_TOKEN]) {
      expect(sent).not.toContain(secret);
    }
    expect(new URL(sent).searchParams.get('redirect_uri')).toBe(`${server.url}/signed-in`);
  });

  it('refuses the identity that started the run (forbidSelfApproval), and decides nothing', async () => {
    issuer.state.user = 'alice@example.com';
    const { page, link, approvalId } = await openLink();
    await signInThenApprove(page, link);
    await page.waitForSelector('text=You started this run');
    expect(decisions.sent).toHaveLength(0);
    expect((await server.store.get(approvalId))!.status).toBe('pending');
  });

  it('a token for another audience is refused: the page says so, forgets it, and nothing is decided', async () => {
    issuer.state.audience = 'another-client';
    const { page, link, approvalId } = await openLink();
    await signInThenApprove(page, link);
    await statusStartsWith(page, 'Your sign-in was not accepted');
    expect(await page.evaluate<string | null>('sessionStorage.getItem("bluegreen.approver")')).toBeNull();
    expect(decisions.sent).toHaveLength(0);
    expect((await server.store.get(approvalId))!.status).toBe('pending');
  });

  it('an ID token for another sign-in (its nonce differs) is not taken', async () => {
    issuer.state.nonce = 'from-another-sign-in';
    const { page } = await openLink();
    await page.fill('#approve-confirm', 'orders-prod');
    await page.getByRole('button', { name: 'Approve cutover' }).click();
    await statusStartsWith(page, 'The sign-in could not be completed');
    expect(await page.evaluate<string | null>('sessionStorage.getItem("bluegreen.approver")')).toBeNull();
    expect(decisions.sent).toHaveLength(0);
  });

  it('a /signed-in visit this tab did not start (a forged or replayed redirect) signs nobody in', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/signed-in?code=stolen&state=guessed`);
    await statusStartsWith(page, 'This sign-in was not started in this browser tab');
    expect(page.url()).toBe(`${server.url}/signed-in`);
    expect(await page.evaluate<string | null>('sessionStorage.getItem("bluegreen.approver")')).toBeNull();
  });

  it('a POST without a token, or with one the issuer did not issue, is refused (401)', async () => {
    const { approvalId } = await requestApprovalEmail(server.approvals);
    const record = (await server.store.get(approvalId))!;
    const body = new URLSearchParams({ nonce: record.nonce, decision: 'approve', confirm: 'orders-prod' }).toString();
    for (const authorization of [undefined, 'Bearer eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImJvYkBleGFtcGxlLmNvbSJ9.']) {
      const response = await fetch(`${server.url}/approvals/${approvalId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
        body,
      });
      expect(response.status).toBe(401);
    }
    expect(decisions.sent).toHaveLength(0);
  });
});
