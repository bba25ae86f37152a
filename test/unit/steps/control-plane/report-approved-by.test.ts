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
    expect(summary.approvedBy).toEqual({ decidedAt: '2026-12-05T02:10:00.000Z', sourceIp: undefined, decidedBy });
    expect(emails[0]).toContain('"value": "bob@example.com"');
  });

  it('without an approver identity, says when only', async () => {
    const summary = await report(
      executionDocument({ approval: { decision: 'approve', decidedAt: '2026-12-05T02:10:00.000Z' } }),
      { notifier: { publish: async () => undefined } },
    );
    expect(summary.approvedBy).toEqual({ decidedAt: '2026-12-05T02:10:00.000Z', sourceIp: undefined });
  });
});
