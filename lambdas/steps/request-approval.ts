import { randomBytes } from 'node:crypto';
import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import { truncateValue } from '../domain/truncate';
import type { Ports } from '../ports';
import { inheritedSlotAdvice } from './verify-clone';

/**
 * `RequestApproval` (docs/approval.md): a `lambda:invoke.waitForTaskToken` task. Stores the
 * task token under a random, opaque approval id and emails the approver the evidence and one
 * link. The task keeps waiting until the approval endpoint sends success or failure.
 *
 * The task token is a bearer credential for the execution: it goes into the store and nowhere
 * else (not the link, the email, the result, a log line or an error message).
 */

export interface RequestApprovalEvent {
  document: ExecutionDocument;
  taskToken: string;
}

/**
 * What the Lambda returns. For a `waitForTaskToken` task this lands in the execution history
 * (`TaskSubmitted`), which `states:GetExecutionHistory` (ReadOnlyAccess) shows to anyone: so it
 * holds nothing that opens the page, only when the request was made and when it expires.
 */
export interface RequestApprovalResult {
  requestedAt: string;
  expiresAt: string;
}

export interface SmokeEvidence {
  name: string;
  passed: boolean;
  value: string;
  expect: string;
}

export interface RowCountEvidence {
  name: string;
  blue?: string;
  green?: string;
}

/** What every decision page shows (the approval and the failback offer): the run and both clusters. */
export interface DecisionEvidence {
  executionArn: string;
  executionName: string;
  requestedAt: string;
  expiresAt: string;
  blue: { clusterId: string; endpoint: string; engineVersion: string };
  green: { clusterId: string; endpoint: string; engineVersion: string };
  cname: { recordName: string; hostedZoneId: string };
}

/** What the approver is shown, in the email and on the page. Plain data (stored as JSON). */
export interface ApprovalEvidence extends DecisionEvidence {
  migrationsApplied: string[];
  migrationsSkipped: string[];
  /**
   * Every file of the migration set with the SHA-256 (and S3 version) ValidateMigrations pinned
   * and ApplySql ran: compare with `sha256sum` of the files you reviewed.
   */
  migrationHashes: { name: string; sha256: string; versionId?: string }[];
  /** Migration statements that could stop replication (online mode), as ValidateMigrations warned. */
  migrationWarnings?: string[];
  /** Offline mode: what each replication slot green inherited from blue means for its CDC consumer. */
  inheritedSlots?: string[];
  engineUpgrade?: { from: string; to: string; isMajor: boolean };
  fenceVerified: boolean;
  smokeTests: SmokeEvidence[];
  rowCounts: RowCountEvidence[];
  fencedAt?: string;
  /** Unlogged tables on blue (`database: schema.table`), as the fence recorded them. */
  unloggedTables?: string[];
  /** Seconds since blue stopped taking writes; absent when no fence was recorded. */
  downtimeSoFarSeconds?: number;
  /** Online mode: how far green was behind blue (bytes of WAL) when CheckReplication last looked, and when. */
  replicationLagBytes?: number;
  replicationLagAt?: string;
  onApprove: string[];
  onReject: string[];
}

/** 128 bits of randomness or more, URL-safe, never derived from anything else. */
export function randomId(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** "2 hours", "90 minutes", "1 day 6 hours": how long blue is kept, in words. */
export function describeDuration(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  if (seconds < 3600 || seconds % 3600 !== 0) {
    const minutes = Math.round(seconds / 60);
    if (minutes < 120) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  }
  const hours = Math.round(seconds / 3600);
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}

function display(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Row counts arrive in whatever shape the smoke step recorded: `{ tables: [{ database, table, blue,
 * green, method }] }` (SmokeTest's), a list of `{ name|table, blue, green }`, a map of name to
 * `{ blue, green }`, or a map of name to a single count. All become rows; a missing side is absent.
 */
export function normalizeRowCounts(rowCounts: unknown): RowCountEvidence[] {
  if (rowCounts === undefined || rowCounts === null) return [];
  const row = (name: string, value: unknown): RowCountEvidence => {
    if (isRecord(value) && ('blue' in value || 'green' in value)) {
      const blue = display(value.blue);
      const green = display(value.green);
      return { name, ...(blue !== undefined ? { blue } : {}), ...(green !== undefined ? { green } : {}) };
    }
    const green = display(value);
    return { name, ...(green !== undefined ? { green } : {}) };
  };
  const fromList = (entries: unknown[]) =>
    entries.map((entry, i) => {
      if (isRecord(entry)) {
        const table = display(entry.name ?? entry.table ?? entry.relation) ?? `#${i + 1}`;
        const database = typeof entry.database === 'string' ? `${entry.database}: ` : '';
        const method = entry.method === 'estimate' ? ' (estimate)' : '';
        return row(`${database}${table}${method}`, entry);
      }
      return row(`#${i + 1}`, entry);
    });
  if (Array.isArray(rowCounts)) return fromList(rowCounts);
  // The smoke step's shape: { tables: [{ database, table, blue, green, method }], truncated, ... }.
  if (isRecord(rowCounts) && Array.isArray(rowCounts.tables)) {
    const rows = fromList(rowCounts.tables);
    return rowCounts.truncated === true ? [...rows, { name: '(more tables not shown: the largest are listed)' }] : rows;
  }
  if (isRecord(rowCounts)) return Object.entries(rowCounts).map(([name, value]) => row(name, value));
  return [row('row counts', rowCounts)];
}

/**
 * Green's endpoint is not part of the document's `green` key. In AWS a cluster endpoint is
 * `<cluster-id>.cluster-<account/region suffix>`, shared by every cluster of the account and
 * region, so green's is blue's with the id swapped. Elsewhere (the rehearsal) it is unknown here.
 */
export function greenEndpointOf(doc: ExecutionDocument, greenId: string): string {
  const recorded = doc.wait?.clone?.endpoint ?? (doc.green as { endpoint?: unknown } | undefined)?.endpoint;
  if (typeof recorded === 'string' && recorded) return recorded;
  const blue = doc.blue;
  if (blue && blue.endpoint.startsWith(`${blue.id}.cluster-`)) {
    return `${greenId}${blue.endpoint.slice(blue.id.length)}`;
  }
  return `cluster ${greenId} (endpoint not recorded)`;
}

export function buildEvidence(doc: ExecutionDocument, now: Date, expiresAt: string): ApprovalEvidence {
  const input = doc.input;
  const blue = doc.blue;
  if (!blue) throw new PreconditionFailed('RequestApproval needs $.blue: the document has no record of blue');
  const greenId = doc.green?.id ?? input.greenClusterId;
  const greenVersion = doc.upgrade?.requested ? doc.upgrade.to : blue.engineVersion;
  const fencedAt = doc.fence?.fencedAt;
  const downtime = fencedAt ? Math.max(0, Math.round((now.getTime() - Date.parse(fencedAt)) / 1000)) : undefined;
  const retention = describeDuration(input.blueRetentionSeconds);
  return {
    executionArn: input.executionId,
    executionName: input.executionName,
    requestedAt: now.toISOString(),
    expiresAt,
    blue: { clusterId: blue.id, endpoint: blue.endpoint, engineVersion: blue.engineVersion },
    green: { clusterId: greenId, endpoint: greenEndpointOf(doc, greenId), engineVersion: greenVersion },
    cname: { recordName: input.cname.recordName, hostedZoneId: input.cname.hostedZoneId },
    migrationsApplied: doc.migrations?.applied.map((m) => m.name) ?? [],
    migrationsSkipped: doc.migrations?.skipped ?? [],
    migrationHashes:
      doc.migrationSet?.pins ?? doc.migrations?.applied.map((m) => ({ name: m.name, sha256: m.sha256 })) ?? [],
    ...(doc.migrationSet?.warnings?.length ? { migrationWarnings: doc.migrationSet.warnings } : {}),
    ...(inheritedSlotAdvice(doc).length ? { inheritedSlots: inheritedSlotAdvice(doc) } : {}),
    ...(doc.upgrade?.requested
      ? { engineUpgrade: { from: doc.upgrade.from, to: doc.upgrade.to, isMajor: doc.upgrade.isMajor } }
      : {}),
    // Online mode verifies the clone differently: its start LSN is covered by blue's slots (PrepareGreenReplication).
    fenceVerified: doc.verify?.fenceRowFound === true || doc.greenReplication !== undefined,
    // Cut again here: a document from an older run (or a hand-edited one) may carry longer values.
    smokeTests: (doc.smoke?.results ?? []).map((r) => ({
      name: truncateValue(r.name),
      passed: r.passed,
      value: truncateValue(r.value),
      expect: truncateValue(r.expect),
    })),
    rowCounts: normalizeRowCounts(doc.smoke?.rowCounts),
    ...(fencedAt ? { fencedAt } : {}),
    ...(doc.fence?.unloggedTables?.length ? { unloggedTables: doc.fence.unloggedTables } : {}),
    ...(downtime !== undefined ? { downtimeSoFarSeconds: downtime } : {}),
    ...(typeof doc.wait?.replication?.lagBytes === 'number'
      ? { replicationLagBytes: doc.wait.replication.lagBytes, replicationLagAt: doc.wait.replication.checkedAt }
      : {}),
    onApprove: [
      `Green (${greenId}) is opened to applications: blue's access security groups are attached to it.`,
      `The CNAME ${input.cname.recordName} is switched to green's endpoint; downtime ends when Route 53 is in sync.`,
      `Blue (${blue.id}) is kept, still fenced, for ${retention}, then deleted with a final snapshot.`,
      'From this point nothing rolls back automatically: green may take writes.',
    ],
    onReject: [
      `Blue (${blue.id}) gets its access and write permission back exactly as they were; applications reconnect to it.`,
      input.keepGreenOnFailure
        ? `Green (${greenId}) is kept for inspection (keepGreenOnFailure); delete it yourself when done.`
        : `Green (${greenId}) is deleted.`,
      `If nobody decides before ${expiresAt}, the same rollback happens.`,
    ],
  };
}

function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h}h ${m}m ${s}s` : m ? `${m}m ${s}s` : `${s}s`;
}

/** The plain-text email. */
export function approvalEmail(evidence: ApprovalEvidence, url: string): { subject: string; text: string } {
  const lines: string[] = [];
  const failed = evidence.smokeTests.filter((t) => !t.passed).length;
  lines.push(
    `A blue/green deployment of Aurora cluster ${evidence.blue.clusterId} is waiting for your decision.`,
    '',
    `Review and decide (the link opens a page; opening it decides nothing):`,
    url,
    '',
    `Decide before ${evidence.expiresAt}; after that the deployment rolls back.`,
    '',
    ...(evidence.fencedAt
      ? [
          `WRITES ARE BLOCKED: blue has taken no writes since ${evidence.fencedAt} (${formatSeconds(evidence.downtimeSoFarSeconds ?? 0)} when this was sent). Every minute this approval waits is downtime for applications.`,
          '',
        ]
      : []),
    'EVIDENCE',
    `Blue:  ${evidence.blue.clusterId}  ${evidence.blue.endpoint}  engine ${evidence.blue.engineVersion}`,
    `Green: ${evidence.green.clusterId}  ${evidence.green.endpoint}  engine ${evidence.green.engineVersion}`,
    `CNAME: ${evidence.cname.recordName} (zone ${evidence.cname.hostedZoneId})`,
  );
  if (evidence.engineUpgrade) {
    lines.push(
      `Engine upgrade: ${evidence.engineUpgrade.from} -> ${evidence.engineUpgrade.to}${evidence.engineUpgrade.isMajor ? ' (major)' : ''}`,
    );
  }
  lines.push(
    `Write fence verified on green: ${evidence.fenceVerified ? 'yes' : 'NO'}`,
    `Downtime so far: ${evidence.downtimeSoFarSeconds !== undefined ? formatSeconds(evidence.downtimeSoFarSeconds) : 'unknown (no fence recorded)'}`,
    `Migrations applied (${evidence.migrationsApplied.length}): ${evidence.migrationsApplied.join(', ') || 'none'}`,
  );
  if (evidence.replicationLagBytes !== undefined) {
    lines.push(
      `Online mode: blue still serves; green replicates it, ${evidence.replicationLagBytes} bytes of WAL behind at ${evidence.replicationLagAt ?? '?'}`,
    );
  }
  if (evidence.unloggedTables?.length) {
    lines.push(
      `Unlogged tables on blue (green's clone has their rows, but they are not crash-safe): ${evidence.unloggedTables.join(', ')}`,
    );
  }
  if (evidence.migrationsSkipped.length) lines.push(`Migrations skipped: ${evidence.migrationsSkipped.join(', ')}`);
  if (evidence.migrationHashes.length) {
    lines.push('Migration files run, as checked by ValidateMigrations (SHA-256):');
    for (const m of evidence.migrationHashes) {
      lines.push(`  ${m.sha256}  ${m.name}${m.versionId ? `  (S3 version ${m.versionId})` : ''}`);
    }
  }
  if (evidence.migrationWarnings?.length) {
    lines.push('Migration statements that could stop replication (a row blue accepts could fail on green):');
    for (const w of evidence.migrationWarnings) lines.push(`  ${truncateValue(w)}`);
  }
  if (evidence.inheritedSlots?.length) {
    lines.push('Replication slots green inherited from blue (their CDC consumers must act at the cutover):');
    for (const advice of evidence.inheritedSlots) lines.push(`  ${advice}`);
  }
  lines.push(`Smoke tests: ${evidence.smokeTests.length - failed} of ${evidence.smokeTests.length} passed`);
  for (const t of evidence.smokeTests) {
    lines.push(`  [${t.passed ? 'pass' : 'FAIL'}] ${t.name}: ${t.value} (expected ${t.expect})`);
  }
  if (evidence.rowCounts.length) {
    lines.push('Row counts (blue / green):');
    for (const r of evidence.rowCounts) lines.push(`  ${r.name}: ${r.blue ?? '-'} / ${r.green ?? '-'}`);
  }
  lines.push('', 'IF YOU APPROVE', ...evidence.onApprove.map((l) => `- ${l}`));
  lines.push('', 'IF YOU REJECT', ...evidence.onReject.map((l) => `- ${l}`));
  lines.push('', `Execution: ${evidence.executionArn}`);
  return {
    subject: `Approve cutover of ${evidence.blue.clusterId} to ${evidence.green.clusterId}?`,
    text: lines.join('\n'),
  };
}

export async function requestApproval(
  event: RequestApprovalEvent,
  ports: Pick<Ports, 'approvals' | 'notifier' | 'clock'>,
): Promise<RequestApprovalResult> {
  return storeAndMail(
    event,
    'RequestApproval',
    event.document.input.approval.timeoutSeconds,
    ports,
    (doc, now, expiresAt) => {
      const evidence = buildEvidence(doc, now, expiresAt);
      return { evidence, email: (url: string) => approvalEmail(evidence, url) };
    },
  );
}

/**
 * What the approval and the failback offer share: the task token is stored under a new opaque
 * id (never returned: the result lands in the execution history), then the link is mailed.
 */
export async function storeAndMail<E extends { requestedAt: string }>(
  event: RequestApprovalEvent,
  state: string,
  timeoutSeconds: number,
  { approvals, notifier, clock }: Pick<Ports, 'approvals' | 'notifier' | 'clock'>,
  build: (
    doc: ExecutionDocument,
    now: Date,
    expiresAt: string,
  ) => { evidence: E; email: (url: string) => { subject: string; text: string } },
): Promise<RequestApprovalResult> {
  const { document: doc, taskToken } = event;
  if (typeof taskToken !== 'string' || taskToken.length === 0) {
    throw new PreconditionFailed(`${state} needs a task token (the state must use waitForTaskToken)`);
  }
  const now = clock.now();
  const expiresAt = new Date(now.getTime() + timeoutSeconds * 1000).toISOString();
  const { evidence, email } = build(doc, now, expiresAt);
  const { url } = await approvals.store({
    approvalId: randomId(),
    taskToken,
    executionArn: doc.input.executionId,
    evidence: evidence as unknown as Record<string, unknown>,
    expiresAt,
  });
  const mail = email(url);
  await notifier.publish(mail.subject, mail.text);
  return { requestedAt: evidence.requestedAt, expiresAt };
}
