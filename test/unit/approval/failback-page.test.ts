import { handleApprovalHttp, type ApprovalHttpRequest } from '../../../lambdas/approval/http';
import { toRecord } from '../../../lambdas/aws/approvals-dynamodb';
import { sha256Hex } from '../../../lambdas/domain/approval-secrets';
import { requestDecision } from '../../../lambdas/steps/offer-failback';
import {
  InMemoryApprovalStore,
  LocalApprovals,
  startApprovalServer,
  submitDecision,
} from '../../../local/approval-server';
import { executionDocument, ManualClock, NOW, RecordingDecisions, requestFailbackLink, TASK_TOKEN } from './fixtures';

/**
 * The failback offer (docs/failback.md): RetainBlueForFailback stores the task token like the
 * approval and mails one link; the page offers "Fail back to blue": a GET shows, a POST with the
 * nonce (and blue's id typed) decides, once.
 */

const FORM = 'application/x-www-form-urlencoded';

async function setup() {
  const store = new InMemoryApprovalStore();
  const decisions = new RecordingDecisions();
  const clock = new ManualClock(NOW);
  const emails: { subject: string; text: string }[] = [];
  const result = await requestDecision(
    {
      kind: 'failback',
      taskToken: TASK_TOKEN,
      document: executionDocument({
        cutover: {
          changeId: 'C1',
          target: 'orders-prod-g261205015000.cluster-c9abcdefgh.eu-west-1.rds.amazonaws.com',
          requestedAt: NOW.toISOString(),
        },
        failbackReplication: { databases: ['app', 'postgres'], startedAt: NOW.toISOString() },
      }),
    },
    {
      approvals: new LocalApprovals(store, () => 'https://approve.example.com'),
      notifier: { publish: async (subject, text) => void emails.push({ subject, text }) },
      clock,
    },
  );
  const approvalId = /approvals\/([A-Za-z0-9_-]+)/.exec(emails[0]?.text ?? '')?.[1] ?? '';
  const record = (await store.get(approvalId))!;
  const call = (request: Partial<ApprovalHttpRequest>) =>
    handleApprovalHttp(
      { method: 'GET', path: `/approvals/${approvalId}`, headers: {}, sourceIp: '203.0.113.7', ...request },
      { store, decisions },
      clock,
    );
  const post = (fields: Record<string, string>) =>
    call({ method: 'POST', headers: { 'Content-Type': FORM }, body: new URLSearchParams(fields).toString() });
  return { store, decisions, clock, approvalId, nonce: record.nonce, call, post, emails, result };
}

describe('the failback offer', () => {
  it('expires with the retention and mails one link that says what failing back does', async () => {
    const { emails, result } = await setup();
    // executionDocument keeps blue for 86,400 s.
    expect(Date.parse(result.expiresAt) - NOW.getTime()).toBe(86_400_000);
    expect(emails).toHaveLength(1);
    expect(emails[0]?.subject).toBe(`Cutover of orders-prod done: fail back to blue until ${result.expiresAt}?`);
    expect(emails[0]?.text).toContain("receives green's writes (app, postgres)");
    expect(emails[0]?.text).toContain('https://approve.example.com/approvals/');
    expect(emails[0]?.text).not.toContain(TASK_TOKEN);
  });

  it('GET shows the failback form only, and decides nothing', async () => {
    const { call, decisions, store, approvalId, nonce } = await setup();
    const response = await call({ method: 'GET' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('Fail back to <code>orders-prod</code>?');
    expect(response.body).toMatch(/<form method="post" action="" id="failback-form">/);
    expect(response.body).not.toContain('id="approve-form"');
    expect(response.body).not.toContain('id="reject-form"');
    expect(response.body.split(`name="nonce" value="${nonce}"`)).toHaveLength(2);
    expect(response.body).not.toContain(TASK_TOKEN);
    expect(decisions.sent).toHaveLength(0);
    expect((await store.get(approvalId))!.status).toBe('pending');
  });

  it('POST with the nonce and blue typed decides once: success with decision failback, then a decided page', async () => {
    const { post, call, decisions, nonce } = await setup();
    const response = await post({ nonce, decision: 'failback', confirm: 'orders-prod', reason: 'p99 doubled' });
    expect(response.statusCode).toBe(303);
    expect(decisions.sent).toEqual([
      {
        kind: 'success',
        taskToken: TASK_TOKEN,
        output: { decision: 'failback', reason: 'p99 doubled', decidedAt: NOW.toISOString(), sourceIp: '203.0.113.7' },
      },
    ]);
    const again = await post({ nonce, decision: 'failback', confirm: 'orders-prod' });
    expect(again.statusCode).toBe(410);
    expect(again.body).toContain('Failback to blue was decided');
    expect(decisions.sent).toHaveLength(1);
    expect((await call({ method: 'GET' })).body).toContain('This link cannot decide again');
  });

  it('refuses a POST without the nonce, without blue typed, or with a cutover decision', async () => {
    const { post, decisions, nonce } = await setup();
    expect(
      (await post({ nonce: 'x'.repeat(nonce.length), decision: 'failback', confirm: 'orders-prod' })).statusCode,
    ).toBe(403);
    expect((await post({ nonce, decision: 'failback', confirm: 'orders-pro' })).statusCode).toBe(400);
    expect((await post({ nonce, decision: 'approve', confirm: 'orders-prod' })).statusCode).toBe(400);
    expect((await post({ nonce, decision: 'reject', reason: 'no' })).statusCode).toBe(400);
    expect(decisions.sent).toHaveLength(0);
  });

  it('after the retention, the page says green was kept', async () => {
    const { call, clock } = await setup();
    clock.advance(86_400);
    const response = await call({ method: 'GET' });
    expect(response.statusCode).toBe(410);
    expect(response.body).toContain('Green stays the live database');
  });

  it('the DynamoDB store reads a failback decision back (status approved, decision failback)', () => {
    const id = 'A'.repeat(32);
    const record = toRecord(
      {
        idHash: sha256Hex(id),
        executionArn: 'arn:x',
        expiresAt: NOW.toISOString(),
        evidence: { kind: 'failback' },
        status: 'approved',
        decision: 'failback',
        decidedAt: NOW.toISOString(),
      },
      id,
    );
    expect(record).toMatchObject({ status: 'approved', decision: 'failback' });
  });

  it('the rehearsal decides it over HTTP like a person (submitDecision failback)', async () => {
    const decisions = new RecordingDecisions();
    const server = await startApprovalServer({ decisions });
    try {
      const link = await requestFailbackLink(server.approvals);
      const submitted = await submitDecision(link, 'failback');
      expect(submitted.status).toBe(303);
      expect(submitted.page).toContain('Failback to blue was decided');
      expect(decisions.sent).toMatchObject([{ kind: 'success', output: { decision: 'failback' } }]);
    } finally {
      await server.close();
    }
  });
});
