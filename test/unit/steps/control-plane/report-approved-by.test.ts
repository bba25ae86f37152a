import { report } from '../../../../lambdas/steps/report';
import { executionDocument } from '../../approval/fixtures';

describe('Report names the signed-in approver', () => {
  it('carries $.approval.decidedBy into the summary and the email', async () => {
    const decidedBy = { issuer: 'https://idp.example.com', claim: 'email' as const, value: 'bob@example.com' };
    const emails: string[] = [];
    const summary = await report(
      executionDocument({ approval: { decision: 'approve', decidedAt: '2026-12-05T02:10:00.000Z', decidedBy } }),
      { notifier: { publish: async (_subject, text) => void emails.push(text) } },
    );
    expect(summary.approvedBy).toEqual({ decidedAt: '2026-12-05T02:10:00.000Z', decidedBy });
    expect(emails[0]).toContain('"value": "bob@example.com"');
  });

  it("without an approver identity, says when only, and never the decider's IP", async () => {
    const emails: string[] = [];
    const summary = await report(
      executionDocument({
        approval: { decision: 'approve', decidedAt: '2026-12-05T02:10:00.000Z', sourceIp: '203.0.113.7' },
      }),
      { notifier: { publish: async (_subject, text) => void emails.push(text) } },
    );
    expect(summary.approvedBy).toEqual({ decidedAt: '2026-12-05T02:10:00.000Z' });
    expect(emails[0]).not.toContain('203.0.113.7');
  });
});
