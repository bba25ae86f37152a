import { approvalIdFromPath, handleApprovalHttp, type ApprovalHttpRequest } from '../../../lambdas/approval/http';
import { DeliveryOutcomeUnknown, MAX_REASON_LENGTH } from '../../../lambdas/approval/model';
import { sdkShapedError } from '../../../lambdas/domain/aws-errors';
import { InMemoryApprovalStore, LocalApprovals } from '../../../local/approval-server';
import { ManualClock, NOW, RecordingDecisions, requestApprovalEmail, TASK_TOKEN } from './fixtures';

const FORM = 'application/x-www-form-urlencoded';

async function setup() {
  const store = new InMemoryApprovalStore();
  const decisions = new RecordingDecisions();
  const clock = new ManualClock(NOW);
  const { approvalId, email } = await requestApprovalEmail(
    new LocalApprovals(store, () => 'https://approve.example.com'),
    clock,
  );
  const record = (await store.get(approvalId))!;
  const path = `/approvals/${approvalId}`;
  const errors: unknown[] = [];
  const call = (request: Partial<ApprovalHttpRequest>) =>
    handleApprovalHttp(
      { method: 'GET', path, headers: {}, sourceIp: '203.0.113.7', ...request },
      { store, decisions, onError: (e) => errors.push(e) },
      clock,
    );
  const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    call({
      method: 'POST',
      headers: { 'Content-Type': FORM, 'User-Agent': 'Mobile Safari', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  return { store, decisions, clock, approvalId, nonce: record.nonce, path, call, post, errors, email };
}

describe('handleApprovalHttp', () => {
  it('GET shows the evidence and both forms and decides nothing', async () => {
    const { call, decisions, store, approvalId, nonce } = await setup();

    const response = await call({ method: 'GET' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(response.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(response.headers['content-security-policy']).not.toMatch(/script-src|unsafe-inline/);
    expect(response.body).toContain('Nothing has been decided yet');
    expect(response.body).toContain('orders-prod-g261205015000.cluster-c9abcdefgh.eu-west-1.rds.amazonaws.com');
    expect(response.body).toContain('001_add_status.sql');
    expect(response.body).toContain('7 min 30 s');
    expect(response.body).toContain('for 24 hours, then deleted with a final snapshot');
    expect(response.body).toMatch(/<form method="post" action="" id="approve-form">/);
    expect(response.body).toMatch(/<form method="post" action="" id="reject-form">/);
    expect(response.body.split(`name="nonce" value="${nonce}"`)).toHaveLength(3);
    expect(response.body).not.toMatch(/<script|<link|src=|https?:\/\/[^"]*\.(css|js)/);
    expect(response.body).not.toContain(TASK_TOKEN);
    expect(decisions.sent).toHaveLength(0);
    expect((await store.get(approvalId))!.status).toBe('pending');
  });

  it('escapes every value it shows', async () => {
    const { call } = await setup();
    const response = await call({ method: 'GET' });
    expect(response.body).toContain('no &lt;script&gt;alert(1)&lt;/script&gt; orphans');
    expect(response.body).not.toContain('<script>alert(1)</script>');
  });

  it('POST approve decides once, sends success with the decision, and redirects to the decided page', async () => {
    const { post, call, decisions, store, approvalId, nonce } = await setup();

    const response = await post({ nonce, decision: 'approve', confirm: 'orders-prod', reason: 'looks good' });

    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe(approvalId);
    expect(decisions.sent).toEqual([
      {
        kind: 'success',
        taskToken: TASK_TOKEN,
        output: {
          decision: 'approve',
          reason: 'looks good',
          decidedAt: NOW.toISOString(),
          sourceIp: '203.0.113.7',
          userAgent: 'Mobile Safari',
        },
      },
    ]);
    expect(await store.get(approvalId)).toMatchObject({ status: 'approved', decision: 'approve' });
    const after = await call({ method: 'GET' });
    expect(after.statusCode).toBe(410);
    expect(after.body).toContain('This cutover was approved');
    expect(after.body).not.toContain('name="nonce"');
    // Another link holder sees the decision, not who made it from where.
    expect(after.body).not.toContain('203.0.113.7');
    expect(after.body).not.toContain('Mobile Safari');
  });

  it.each([
    ['without', {}],
    ['with a wrong', { confirm: 'orders-pro' }],
    ["with green's", { confirm: 'orders-prod-g261205015000' }],
  ])('POST approve %s cluster id typed is refused (400) and decides nothing', async (_label, extra) => {
    const { post, decisions, store, approvalId, nonce } = await setup();
    const response = await post({ nonce, decision: 'approve', ...extra });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('Type blue’s cluster id to approve');
    expect(decisions.sent).toHaveLength(0);
    expect((await store.get(approvalId))!.status).toBe('pending');
  });

  it('POST reject sends ApprovalRejected with the reason as cause', async () => {
    const { post, decisions, store, approvalId, nonce } = await setup();

    const response = await post({ nonce, decision: 'reject', reason: '  row counts look off  ' });

    expect(response.statusCode).toBe(303);
    expect(decisions.sent).toEqual([
      { kind: 'failure', taskToken: TASK_TOKEN, error: 'ApprovalRejected', cause: 'row counts look off' },
    ]);
    expect(await store.get(approvalId)).toMatchObject({ status: 'rejected', reason: 'row counts look off' });
  });

  it('refuses a reason over MAX_REASON_LENGTH (400) and decides nothing; the form says the limit', async () => {
    const { call, post, decisions, store, approvalId, nonce } = await setup();
    expect((await call({ method: 'GET' })).body).toContain(`name="reason" required maxlength="${MAX_REASON_LENGTH}"`);

    const response = await post({ nonce, decision: 'reject', reason: 'r'.repeat(MAX_REASON_LENGTH + 1) });

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('Reason too long');
    expect(decisions.sent).toHaveLength(0);
    expect((await store.get(approvalId))!.status).toBe('pending');
    // At the limit, it is taken.
    expect((await post({ nonce, decision: 'reject', reason: 'r'.repeat(MAX_REASON_LENGTH) })).statusCode).toBe(303);
  });

  it('refuses a reject without a reason and decides nothing', async () => {
    const { post, decisions, store, approvalId, nonce } = await setup();
    const response = await post({ nonce, decision: 'reject', reason: '   ' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('A reason is required');
    expect(decisions.sent).toHaveLength(0);
    expect((await store.get(approvalId))!.status).toBe('pending');
  });

  it('a second POST gets 410 and no second decision', async () => {
    const { post, decisions, nonce } = await setup();
    await post({ nonce, decision: 'approve', confirm: 'orders-prod' });

    const second = await post({ nonce, decision: 'reject', reason: 'changed my mind' });

    expect(second.statusCode).toBe(410);
    expect(second.body).toContain('Already decided');
    expect(decisions.sent).toHaveLength(1);
    expect(decisions.sent[0]!.kind).toBe('success');
  });

  it('two POSTs at once: exactly one decision', async () => {
    const { post, decisions, nonce } = await setup();
    const results = await Promise.all([
      post({ nonce, decision: 'approve', confirm: 'orders-prod' }),
      post({ nonce, decision: 'reject', reason: 'no' }),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([303, 410]);
    expect(decisions.sent).toHaveLength(1);
  });

  it.each([
    ['missing', {}],
    ['another', { nonce: 'A'.repeat(32) }],
    ['empty', { nonce: '' }],
  ])('refuses a POST with a %s nonce (403) and decides nothing', async (_label, extra) => {
    const { post, decisions, store, approvalId } = await setup();
    const response = await post({ decision: 'approve', ...extra });
    expect(response.statusCode).toBe(403);
    expect(response.body).toContain('nothing was decided');
    expect(decisions.sent).toHaveLength(0);
    expect((await store.get(approvalId))!.status).toBe('pending');
  });

  it('refuses a POST that is not a form (415)', async () => {
    const { call, decisions, nonce } = await setup();
    const response = await call({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ nonce, decision: 'approve', confirm: 'orders-prod' }),
    });
    expect(response.statusCode).toBe(415);
    expect(decisions.sent).toHaveLength(0);
  });

  it('refuses an oversized form (413)', async () => {
    const { post, decisions, nonce } = await setup();
    const response = await post({ nonce, decision: 'approve', confirm: 'orders-prod', reason: 'x'.repeat(20_000) });
    expect(response.statusCode).toBe(413);
    expect(decisions.sent).toHaveLength(0);
  });

  it('an expired approval shows 410 on GET and refuses POST', async () => {
    const { call, post, clock, decisions, nonce } = await setup();
    clock.advance(3600);

    const page = await call({ method: 'GET' });
    const posted = await post({ nonce, decision: 'approve', confirm: 'orders-prod' });

    expect(page.statusCode).toBe(410);
    expect(page.body).toContain('This approval has expired');
    expect(posted.statusCode).toBe(410);
    expect(decisions.sent).toHaveLength(0);
  });

  it('unknown and malformed ids get 404 without a decision', async () => {
    const { call, decisions } = await setup();
    const unknown = await call({ method: 'GET', path: `/approvals/${'x'.repeat(32)}` });
    const malformed = await call({ method: 'POST', path: '/approvals/<x>', headers: { 'content-type': FORM } });
    const elsewhere = await call({ method: 'GET', path: '/admin' });
    expect([unknown.statusCode, malformed.statusCode, elsewhere.statusCode]).toEqual([404, 404, 404]);
    expect(unknown.body).toContain('No such approval');
    expect(decisions.sent).toHaveLength(0);
  });

  it('HEAD answers like GET without a body; other methods get 405', async () => {
    const { call } = await setup();
    const head = await call({ method: 'HEAD' });
    const put = await call({ method: 'PUT' });
    expect(head).toMatchObject({ statusCode: 200, body: '' });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD, POST');
  });

  it('when the execution no longer waits, says so (410)', async () => {
    const { post, decisions, nonce } = await setup();
    decisions.result = 'task-gone';
    const response = await post({ nonce, decision: 'approve', confirm: 'orders-prod' });
    expect(response.statusCode).toBe(410);
    expect(response.body).toContain('no longer waiting');
  });

  it('when Step Functions cannot be reached, reopens the approval so that the approver can retry', async () => {
    const { post, decisions, store, approvalId, nonce, errors } = await setup();
    decisions.failNext = sdkShapedError('ServiceUnavailable');

    const failed = await post({ nonce, decision: 'approve', confirm: 'orders-prod' });
    expect(failed.statusCode).toBe(500);
    expect(failed.body).toContain('Nothing was decided');
    expect(errors).toHaveLength(1);
    expect((await store.get(approvalId))!.status).toBe('pending');

    const retried = await post({ nonce, decision: 'approve', confirm: 'orders-prod' });
    expect(retried.statusCode).toBe(303);
    expect(decisions.sent).toHaveLength(1);
  });

  it('when the outcome is unknown, says "outcome unknown, check the execution" and never decides again', async () => {
    const { post, call, decisions, store, approvalId, nonce, errors } = await setup();
    decisions.failNext = new DeliveryOutcomeUnknown('Step Functions SendTaskSuccess: outcome unknown');

    const unclear = await post({ nonce, decision: 'approve', confirm: 'orders-prod' });
    expect(unclear.statusCode).toBe(502);
    expect(unclear.body).toContain('Outcome unknown');
    expect(unclear.body).toContain('Check the execution');
    expect(errors).toHaveLength(1);
    expect((await store.get(approvalId))!.status).toBe('approved');

    const second = await post({ nonce, decision: 'reject', reason: 'try the other way' });
    expect(second.statusCode).toBe(410);
    expect((await call({})).statusCode).toBe(410);
    expect(decisions.sent).toHaveLength(0);
  });
});

describe('approvalIdFromPath', () => {
  it('finds the id behind any stage prefix and ignores query strings', () => {
    expect(approvalIdFromPath('/approvals/abc')).toBe('abc');
    expect(approvalIdFromPath('/prod/approvals/abc/')).toBe('abc');
    expect(approvalIdFromPath('/approvals/abc?x=1')).toBe('abc');
    expect(approvalIdFromPath('/approvals/')).toBeUndefined();
    expect(approvalIdFromPath('/approvals/abc/extra')).toBeUndefined();
  });
});
