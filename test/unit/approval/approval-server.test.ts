import { startApprovalServer, submitDecision, type ApprovalServer } from '../../../local/approval-server';
import { sha256Hex } from '../../../lambdas/domain/approval-secrets';
import { RecordingDecisions, requestApprovalEmail, TASK_TOKEN } from './fixtures';

describe('local approval server', () => {
  let server: ApprovalServer;
  let decisions: RecordingDecisions;

  beforeEach(async () => {
    decisions = new RecordingDecisions();
    server = await startApprovalServer({ decisions });
  });
  afterEach(() => server.close());

  async function link(): Promise<string> {
    const { email } = await requestApprovalEmail(server.approvals);
    return /http:\/\/\S+/.exec(email)![0];
  }

  it('listens on 127.0.0.1 and links to /approvals/{id}', async () => {
    const url = await link();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url).toMatch(new RegExp(`^${server.url}/approvals/[A-Za-z0-9_-]{22,}$`));
    // Like the DynamoDB table, the local store keeps only hashes of the id and the nonce.
    const approvalId = url.split('/').pop()!;
    const stored = JSON.stringify(server.store.all());
    expect(stored).not.toContain(approvalId);
    expect(stored).not.toContain(TASK_TOKEN);
    expect(stored).toContain(sha256Hex(approvalId));
  });

  it('submitDecision approves like a person would, once', async () => {
    const url = await link();
    const first = await submitDecision(url, 'approve');
    const second = await submitDecision(url, 'approve');
    expect(first.status).toBe(303);
    expect(first.page).toContain('This cutover was approved');
    expect(second.status).toBe(410);
    expect(decisions.sent).toHaveLength(1);
    expect(decisions.sent[0]).toMatchObject({
      kind: 'success',
      taskToken: TASK_TOKEN,
      output: { sourceIp: '127.0.0.1', userAgent: 'aurora-bluegreen-rehearsal' },
    });
  });

  it('submitDecision rejects with a reason', async () => {
    const url = await link();
    const result = await submitDecision(url, 'reject', 'not today');
    expect(result.status).toBe(303);
    expect(decisions.sent).toEqual([
      { kind: 'failure', taskToken: TASK_TOKEN, error: 'ApprovalRejected', cause: 'not today' },
    ]);
  });

  it('a raw POST without the nonce is refused over HTTP', async () => {
    const url = await link();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=approve',
    });
    expect(response.status).toBe(403);
    expect(response.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(decisions.sent).toHaveLength(0);
  });
});
