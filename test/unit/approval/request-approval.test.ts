import { approvalNonce } from '../../../lambdas/domain/approval-secrets';
import { renderPendingPage } from '../../../lambdas/approval/html';
import { PreconditionFailed } from '../../../lambdas/domain/errors';
import type { ApprovalRequestRecord } from '../../../lambdas/ports';
import {
  describeDuration,
  normalizeRowCounts,
  requestApproval,
  type ApprovalEvidence,
} from '../../../lambdas/steps/request-approval';
import { executionDocument, ManualClock, NOW, TASK_TOKEN } from './fixtures';

function harness() {
  const stored: ApprovalRequestRecord[] = [];
  const emails: { subject: string; text: string }[] = [];
  const ports = {
    approvals: {
      store: async (record: ApprovalRequestRecord) => {
        stored.push(record);
        return { url: `https://approve.example.com/approvals/${record.approvalId}` };
      },
    },
    notifier: {
      publish: async (subject: string, text: string) => {
        emails.push({ subject, text });
      },
    },
    clock: new ManualClock(NOW),
  };
  return { stored, emails, ports };
}

describe('requestApproval', () => {
  it('stores the token under a random id and emails the evidence with one link, never the token', async () => {
    // Arrange
    const { stored, emails, ports } = harness();

    // Act
    const result = await requestApproval({ document: executionDocument(), taskToken: TASK_TOKEN }, ports);

    // Assert
    expect(stored).toHaveLength(1);
    const record = stored[0]!;
    expect(record.taskToken).toBe(TASK_TOKEN);
    expect(record.executionArn).toBe('arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-1');
    expect(Buffer.from(record.approvalId, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(TASK_TOKEN).not.toContain(record.approvalId);
    // The result lands in the execution history: nothing in it opens the page.
    expect(result).toEqual({ requestedAt: NOW.toISOString(), expiresAt: '2026-12-05T03:07:30.000Z' });
    expect(JSON.stringify(result)).not.toContain(record.approvalId);
    expect(JSON.stringify(result)).not.toContain(approvalNonce(record.approvalId));
    expect(record.expiresAt).toBe(result.expiresAt);

    expect(emails).toHaveLength(1);
    const email = emails[0]!;
    expect(email.subject).toBe('Approve cutover of orders-prod to orders-prod-g261205015000?');
    const links = email.text.match(/https?:\/\/\S+/g);
    expect(links).toEqual([`https://approve.example.com/approvals/${record.approvalId}`]);
    expect(email.text).not.toContain(TASK_TOKEN);
    expect(email.text).not.toContain(approvalNonce(record.approvalId));
    expect(JSON.stringify(result)).not.toContain(TASK_TOKEN);
    expect(JSON.stringify(record.evidence)).not.toContain(TASK_TOKEN);
  });

  it('puts what the approver needs into the evidence and the email', async () => {
    const { stored, emails, ports } = harness();

    await requestApproval({ document: executionDocument(), taskToken: TASK_TOKEN }, ports);

    const evidence = stored[0]!.evidence as unknown as ApprovalEvidence;
    expect(evidence.blue).toEqual({
      clusterId: 'orders-prod',
      endpoint: 'orders-prod.cluster-c9abcdefgh.eu-west-1.rds.amazonaws.com',
      engineVersion: '15.8',
    });
    // Green's endpoint shares blue's account/region suffix; its version is the upgrade target.
    expect(evidence.green).toEqual({
      clusterId: 'orders-prod-g261205015000',
      endpoint: 'orders-prod-g261205015000.cluster-c9abcdefgh.eu-west-1.rds.amazonaws.com',
      engineVersion: '16.4',
    });
    expect(evidence.migrationsApplied).toEqual(['001_add_status.sql', '002_index.sql']);
    expect(evidence.fenceVerified).toBe(true);
    expect(evidence.downtimeSoFarSeconds).toBe(450);
    expect(evidence.smokeTests.map((t) => t.passed)).toEqual([true, true]);
    expect(evidence.rowCounts).toEqual([{ name: 'app: public.orders', blue: '1204', green: '1204' }]);
    expect(evidence.onApprove.join(' ')).toMatch(
      /kept, still fenced, for 24 hours, then deleted with a final snapshot/,
    );
    expect(evidence.onApprove.join(' ')).toMatch(/CNAME db\.example\.internal is switched to green/);
    expect(evidence.onReject.join(' ')).toMatch(/Blue \(orders-prod\) gets its access and write permission back/);
    expect(evidence.onReject.join(' ')).toMatch(/Green \(orders-prod-g261205015000\) is deleted/);

    const text = emails[0]!.text;
    expect(text).toContain('Downtime so far: 7m 30s');
    expect(text).toContain(
      'WRITES ARE BLOCKED: blue has taken no writes since 2026-12-05T02:00:00.000Z (7m 30s when this was sent). Every minute this approval waits is downtime for applications.',
    );
    const page = renderPendingPage({ ...stored[0]!, nonce: 'n', status: 'pending' });
    expect(page).toContain(
      'Writes are blocked: blue has taken no writes since 2026-12-05T02:00:00.000Z. Every minute this approval waits is downtime',
    );
    expect(text).toContain('Write fence verified on green: yes');
    expect(text).toContain('Migrations applied (2): 001_add_status.sql, 002_index.sql');
    expect(text).toContain('Smoke tests: 2 of 2 passed');
    expect(text).toContain('app: public.orders: 1204 / 1204');
    expect(text).toContain('Engine upgrade: 15.8 -> 16.4 (major)');
    expect(text).toMatch(/IF YOU APPROVE[\s\S]*IF YOU REJECT/);
  });

  it('says plainly when the fence was not verified and when green is kept', async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({ verify: { fenceRowFound: false, resetDatabases: [] } });
    doc.input.keepGreenOnFailure = true;

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    expect(emails[0]!.text).toContain('Write fence verified on green: NO');
    expect((stored[0]!.evidence as unknown as ApprovalEvidence).onReject.join(' ')).toMatch(/is kept for inspection/);
  });

  it('lists the unlogged tables the fence recorded on blue', async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({});
    doc.fence = { ...doc.fence!, unloggedTables: ['app: app.sessions_cache'] };

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    expect((stored[0]!.evidence as unknown as ApprovalEvidence).unloggedTables).toEqual(['app: app.sessions_cache']);
    expect(emails[0]!.text).toContain(
      "Unlogged tables on blue (green's clone has their rows, but they are not crash-safe): app: app.sessions_cache",
    );
  });

  it('online mode: shows the replication lag in the evidence, the email and the page; the clone counts as verified', async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({});
    delete doc.verify;
    delete doc.fence;
    doc.input.mode = 'online';
    doc.greenReplication = { startLsn: '0/16B3748', dropped: [] };
    doc.wait = {
      ...doc.wait,
      replication: { done: true, polls: 3, status: 'streaming', checkedAt: '2026-12-05T02:40:00.000Z', lagBytes: 4096 },
    };

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    const evidence = stored[0]!.evidence as unknown as ApprovalEvidence;
    expect(evidence).toMatchObject({ replicationLagBytes: 4096, replicationLagAt: '2026-12-05T02:40:00.000Z' });
    expect(evidence.fenceVerified).toBe(true);
    expect(emails[0]!.text).toContain(
      'Online mode: blue still serves; green replicates it, 4096 bytes of WAL behind at 2026-12-05T02:40:00.000Z',
    );
    expect(emails[0]!.text).not.toContain('WRITES ARE BLOCKED');
    const page = renderPendingPage({ ...stored[0]!, nonce: 'n', status: 'pending' });
    expect(page).toContain('Replication lag (online)');
    expect(page).toContain('4096 bytes of WAL');
  });

  it("shows ValidateMigrations' replication warnings", async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({});
    const warning = '001_check.sql line 1: adds a check constraint to replicated table public.orders [ALTER TABLE …]';
    doc.migrationSet = { files: ['001_check.sql'], warnings: [warning] };

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    expect((stored[0]!.evidence as unknown as ApprovalEvidence).migrationWarnings).toEqual([warning]);
    expect(emails[0]!.text).toContain(
      `Migration statements that could stop replication (a row blue accepts could fail on green):\n  ${warning}`,
    );
  });

  it("tells the approver what blue's CDC consumers must do about the slots green inherited (email and page)", async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({});
    doc.verify = {
      fenceRowFound: true,
      resetDatabases: ['app'],
      inheritedSlots: [
        { name: 'debezium', plugin: 'pgoutput', database: 'app', confirmedFlushLsn: '0/3000060', dropped: true },
        { name: 'audit<x>', plugin: 'wal2json', database: 'app', confirmedFlushLsn: '0/3000060', dropped: false },
      ],
    };

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    const advice = (stored[0]!.evidence as unknown as ApprovalEvidence).inheritedSlots;
    expect(advice).toHaveLength(2);
    expect(advice![0]).toMatch(/^Slot debezium \(pgoutput, database app\) was dropped on green .* new snapshot/);
    expect(advice![1]).toMatch(/^Slot audit<x> \(wal2json, database app\) is on green .* confirmed up to 0\/3000060/);
    expect(emails[0]!.text).toContain(
      `Replication slots green inherited from blue (their CDC consumers must act at the cutover):\n  ${advice![0]}\n  ${advice![1]}`,
    );
    const page = renderPendingPage({ ...stored[0]!, nonce: 'n', status: 'pending' });
    expect(page).toContain('Replication slots green inherited');
    expect(page).toContain('Slot audit&lt;x&gt; (wal2json');
    expect(page).not.toContain('audit<x>');
  });

  it('shows no slot section when green inherited none', async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({});
    doc.verify = { fenceRowFound: true, resetDatabases: ['app'], inheritedSlots: [] };

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    expect((stored[0]!.evidence as unknown as ApprovalEvidence).inheritedSlots).toBeUndefined();
    expect(emails[0]!.text).not.toContain('Replication slots green inherited');
  });

  it('shows the replication warnings on the page too, escaped and cut to 200 characters (in the email too)', async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({});
    const short = '001_check.sql line 1: adds a check constraint to replicated table public.orders [ALTER TABLE …]';
    const hostile = `002_x.sql line 3: <script>alert(1)</script> ${'w'.repeat(5000)}`;
    doc.migrationSet = { files: ['001_check.sql', '002_x.sql'], warnings: [short, hostile] };

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);
    const page = renderPendingPage({ ...stored[0]!, nonce: 'n', status: 'pending' });

    expect(page).toContain('Migration statements that could stop replication');
    expect(page).toContain(`<li>${short}</li>`);
    expect(page).not.toContain('<script>alert(1)</script>');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('w'.repeat(200));
    expect(page).toMatch(/w{100,}…<\/li>/);
    expect(emails[0]!.text).toContain(`  ${short}\n`);
    expect(emails[0]!.text).not.toContain('w'.repeat(200));
    expect(emails[0]!.text).toMatch(/w{100,}…\n/);
  });

  it('cuts smoke-test values to 200 characters in the evidence, the email and the page', async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({
      smoke: {
        results: [{ name: 'long', passed: true, value: 'v'.repeat(5000), expect: `equals:${'v'.repeat(5000)}` }],
      },
    });

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    const evidence = stored[0]!.evidence as unknown as ApprovalEvidence;
    expect([...evidence.smokeTests[0]!.value]).toHaveLength(200);
    expect([...evidence.smokeTests[0]!.expect]).toHaveLength(200);
    expect(emails[0]!.text).not.toContain('v'.repeat(200));
    expect(emails[0]!.text).toContain(`${'v'.repeat(199)}…`);
    const page = renderPendingPage({
      ...stored[0]!,
      nonce: 'n',
      status: 'pending',
      evidence: { ...stored[0]!.evidence, smokeTests: doc.smoke!.results },
    });
    expect(page).not.toContain('v'.repeat(200));
    expect(page).toContain(`${'v'.repeat(199)}…`);
  });

  it('lists every pinned migration file with its SHA-256 and S3 version in the evidence, the email and the page', async () => {
    const { stored, emails, ports } = harness();
    const doc = executionDocument({
      migrationSet: {
        files: ['001_add_status.sql', '002_index.sql'],
        pins: [
          { name: '001_add_status.sql', sha256: 'a'.repeat(64), versionId: 'v-001' },
          { name: '002_index.sql', sha256: 'b'.repeat(64) },
        ],
      },
    });

    await requestApproval({ document: doc, taskToken: TASK_TOKEN }, ports);

    const evidence = stored[0]!.evidence as unknown as ApprovalEvidence;
    expect(evidence.migrationHashes).toEqual(doc.migrationSet!.pins);
    expect(emails[0]!.text).toContain(`  ${'a'.repeat(64)}  001_add_status.sql  (S3 version v-001)`);
    expect(emails[0]!.text).toContain(`  ${'b'.repeat(64)}  002_index.sql`);
    const page = renderPendingPage({ ...stored[0]!, nonce: 'n', status: 'pending' });
    expect(page).toContain(`<code>${'a'.repeat(64)}</code> <span class="muted">S3 version v-001</span>`);
    expect(page).toContain(`<code>${'b'.repeat(64)}</code>`);
  });

  it('creates a fresh id (and so a fresh nonce) for every request', async () => {
    const { stored, ports } = harness();
    await requestApproval({ document: executionDocument(), taskToken: TASK_TOKEN }, ports);
    await requestApproval({ document: executionDocument(), taskToken: TASK_TOKEN }, ports);
    expect(stored[0]!.approvalId).not.toBe(stored[1]!.approvalId);
    expect(approvalNonce(stored[0]!.approvalId)).not.toBe(approvalNonce(stored[1]!.approvalId));
  });

  it('refuses without blue or without a token, and the error never carries the token', async () => {
    const { ports, stored, emails } = harness();
    const noBlue = executionDocument({ blue: undefined });
    await expect(requestApproval({ document: noBlue, taskToken: TASK_TOKEN }, ports)).rejects.toThrow(
      PreconditionFailed,
    );
    await expect(requestApproval({ document: noBlue, taskToken: TASK_TOKEN }, ports)).rejects.not.toThrow(TASK_TOKEN);
    await expect(requestApproval({ document: executionDocument(), taskToken: '' }, ports)).rejects.toThrow(
      /needs a task token/,
    );
    expect(stored).toHaveLength(0);
    expect(emails).toHaveLength(0);
  });
});

describe('evidence helpers', () => {
  it('describes the retention in words', () => {
    expect(describeDuration(86400)).toBe('24 hours');
    expect(describeDuration(3600)).toBe('1 hour');
    expect(describeDuration(5400)).toBe('90 minutes');
    expect(describeDuration(0)).toBe('0 seconds');
    expect(describeDuration(7 * 3600)).toBe('7 hours');
  });

  it('reads row counts in the shapes the smoke step may record', () => {
    expect(normalizeRowCounts({ orders: { blue: 3, green: 3 }, users: 7 })).toEqual([
      { name: 'orders', blue: '3', green: '3' },
      { name: 'users', green: '7' },
    ]);
    expect(normalizeRowCounts([{ name: 'a', blue: '1', green: '2' }, 5])).toEqual([
      { name: 'a', blue: '1', green: '2' },
      { name: '#2', green: '5' },
    ]);
    expect(normalizeRowCounts(undefined)).toEqual([]);
    expect(
      normalizeRowCounts({
        exactBelowRows: 100_000,
        exactBelowPages: 12_800,
        tables: [
          { database: 'app', table: 'public.orders', blue: 1204, green: 1204, method: 'exact' },
          { database: 'app', table: 'public.events', blue: null, green: 9_000_000, method: 'estimate' },
        ],
        truncated: true,
      }),
    ).toEqual([
      { name: 'app: public.orders', blue: '1204', green: '1204' },
      { name: 'app: public.events (estimate)', green: '9000000' },
      { name: '(more tables not shown: the largest are listed)' },
    ]);
  });
});
