import { report } from '../../../../lambdas/steps/report';
import { executionDocument } from '../../approval/fixtures';

describe("Report tells blue's CDC consumers what to do on green", () => {
  const verify = {
    fenceRowFound: true,
    resetDatabases: ['app'],
    inheritedSlots: [
      { name: 'debezium', plugin: 'pgoutput', database: 'app', confirmedFlushLsn: '0/3000060', dropped: true },
    ],
  };

  it('repeats the advice for each inherited slot in the summary and the success email', async () => {
    const emails: string[] = [];
    const summary = await report(executionDocument({ verify }), {
      notifier: { publish: async (_subject, text) => void emails.push(text) },
    });

    const advice = summary.inheritedSlots as string[];
    expect(advice).toHaveLength(1);
    expect(advice[0]).toMatch(
      /^Slot debezium \(pgoutput, database app\) was dropped on green .* before the major upgrade.*create it again there/,
    );
    expect(emails[0]!.split('\n\n')[0]).toContain(advice[0]);
  });

  it('says nothing about slots when green inherited none', async () => {
    const emails: string[] = [];
    const summary = await report(executionDocument({ verify: { ...verify, inheritedSlots: [] } }), {
      notifier: { publish: async (_subject, text) => void emails.push(text) },
    });

    expect(summary.inheritedSlots).toBeUndefined();
    expect(emails[0]).not.toMatch(/Slot /);
  });
});
