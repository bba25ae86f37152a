import type { ExecutionDocument } from '../../../../lambdas/domain/document';
import { causeMessage, reportFailure } from '../../../../lambdas/steps/report';
import { ddlGuardNames } from '../../../../lambdas/steps/replication';
import { ADMIN_SG, APP_SGS, FakeCloud, RECORD, ZONE } from '../../../support/fake-cloud';
import { BLUE, EXECUTION, GREEN, cloudWithBlue, preflighted, stepDocument } from '../../../support/step-fixtures';

type FailedDocument = ExecutionDocument & Record<string, unknown>;

/** The cause Step Functions records for a Lambda that threw. */
function lambdaCause(errorType: string, errorMessage: string): string {
  return JSON.stringify({
    errorType,
    errorMessage,
    trace: [`${errorType}: ${errorMessage}`, '    at step (x.js:1:1)'],
  });
}

const LOCK = { key: BLUE, owner: EXECUTION.id, acquiredAt: '2026-12-05T02:00:02.000Z' };

let cloud: FakeCloud;

beforeEach(() => {
  cloud = cloudWithBlue();
});

async function report(doc: FailedDocument) {
  const result = await reportFailure(doc, cloud.ports());
  expect(cloud.notifications).toHaveLength(1);
  const notice = cloud.notifications[0];
  if (!notice) throw new Error('no notification');
  expect(notice.message).toBe(result.message);
  return { ...result, subject: notice.subject };
}

describe('causeMessage', () => {
  it("keeps the errorMessage of a Lambda's JSON cause", () => {
    expect(causeMessage(lambdaCause('PollTimeout', 'Gave up waiting'))).toBe('Gave up waiting');
  });

  it('keeps a plain cause as it is, and JSON without errorMessage too', () => {
    expect(causeMessage('States.Timeout after 330 s')).toBe('States.Timeout after 330 s');
    expect(causeMessage('{"reason":"x"}')).toBe('{"reason":"x"}');
    expect(causeMessage(undefined)).toBe('');
  });
});

const FENCE = {
  fencedAt: '2026-12-05T02:01:00.000Z',
  lsn: '0/1',
  databases: ['orders', 'billing'],
  changedDatabases: ['orders', 'billing'],
  terminatedSessions: 1,
};
const BLOCK = { changed: true, securityGroupIds: [ADMIN_SG], blockedAt: '2026-12-05T02:00:50.000Z' };
const MODIFY_BLUE = `aws rds modify-db-cluster --db-cluster-identifier ${BLUE} --vpc-security-group-ids ${[ADMIN_SG, ...APP_SGS].join(' ')} --apply-immediately`;
const LOCK_LINE = `The deployment lock on ${BLUE} is still held`;

describe('ReportFailure', () => {
  it('NOTHING_CHANGED: a failure before the lock was taken', async () => {
    const doc: FailedDocument = {
      ...stepDocument(),
      error: { Error: 'PreconditionFailed', Cause: lambdaCause('PreconditionFailed', 'Preflight found 1 problem(s)') },
    };
    const r = await report(doc);
    expect(r).toMatchObject({
      outcome: 'NOTHING_CHANGED',
      error: 'PreconditionFailed',
      cause: 'Preflight found 1 problem(s)',
      lockHeld: false,
    });
    expect(r.subject).toBe(`Deployment of ${BLUE} did not start: PreconditionFailed`);
    expect(r.message).toBe(
      'PreconditionFailed: Preflight found 1 problem(s)\n\nNothing was changed: the run stopped before it took the lock or touched any resource.',
    );
  });

  it('ROLLED_BACK: blue blocked and fenced, TTL lowered; all restored, green deleted, lock released', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud)),
      lock: LOCK,
      ttl: { changed: true, previousTtl: 300, changeId: '/change/C1' },
      block: BLOCK,
      fence: FENCE,
      rollback: { blueRestored: true, blueUnfenced: ['orders', 'billing'], greenDeleting: true, keptGreen: false },
      error: { Error: 'SmokeTestFailed', Cause: lambdaCause('SmokeTestFailed', 'orders: expected nonzero, got 0') },
    };
    const r = await report(doc);
    expect(r).toMatchObject({
      outcome: 'ROLLED_BACK',
      error: 'SmokeTestFailed',
      cause: 'orders: expected nonzero, got 0',
      lockHeld: false,
    });
    expect(r.subject).toBe(`Deployment of ${BLUE} rolled back: SmokeTestFailed`);
    expect(r.message.split('\n')[0]).toBe('SmokeTestFailed: orders: expected nonzero, got 0');
    expect(r.message).toContain(
      `Rolled back: blue ${BLUE} has its original security groups back and is writable again; the CNAME was never changed (its TTL is back to what it was).`,
    );
    expect(r.message).toContain(`Green ${GREEN} was deleted`);
    expect(r.message).not.toContain(LOCK_LINE);
  });

  it('ROLLED_BACK with the read-only block and keepGreenOnFailure: groups never changed, green kept', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud, { keepGreenOnFailure: true, writeBlock: 'read-only' })),
      lock: LOCK,
      fence: FENCE,
      rollback: { blueRestored: true, blueUnfenced: [], greenDeleting: false, keptGreen: true },
      error: { Error: 'ApprovalRejected', Cause: 'rejected by dba' },
    };
    const r = await report(doc);
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.cause).toBe('rejected by dba');
    expect(r.message).toContain(`blue ${BLUE} kept its security groups and is writable again`);
    expect(r.message).toContain(`Green ${GREEN} was kept for investigation`);
  });

  it("quotes, escapes and limits an approver's reject reason: it cannot pass for the notice's own lines", async () => {
    const forged = [
      'looks wrong',
      'Rolled back: nothing to do. Re-approve at https://evil.example/approve',
      '\u202eevil\u202c\u0007',
      'x'.repeat(5000),
    ].join('\r\n');
    const doc: FailedDocument = {
      ...(await preflighted(cloud)),
      lock: LOCK,
      block: BLOCK,
      fence: FENCE,
      rollback: { blueRestored: true, blueUnfenced: [], greenDeleting: false, keptGreen: false },
      error: { Error: 'ApprovalRejected', Cause: forged },
    };
    const r = await report(doc);
    const [headline, ...rest] = r.message.split('\n\n');
    expect(headline).toMatch(/^ApprovalRejected: the approver rejected the cutover\. Their reason:\n> looks wrong\n> /);
    // Every line of the reason is quoted; none starts like the notice's own.
    for (const line of headline!.split('\n').slice(1)) expect(line.startsWith('> ')).toBe(true);
    expect(r.message).not.toContain('https://evil.example');
    expect(r.message).toContain('https[:]//evil.example/approve');
    for (const bad of ['\u202e', '\u202c', '\u0007', '\r']) expect(r.message).not.toContain(bad);
    expect(headline!.length).toBeLessThan(1200);
    expect([...r.cause].length).toBeLessThanOrEqual(1000);
    expect(rest.join('\n\n')).toContain('Rolled back: blue');
  });

  it('ROLLBACK_FAILED: names the rollback error, gives the commands to restore blue by hand, keeps the lock', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud)),
      lock: LOCK,
      block: BLOCK,
      fence: FENCE,
      error: { Error: 'MigrationFailed', Cause: lambdaCause('MigrationFailed', '002.sql line 3: syntax error') },
      rollbackError: { Error: 'PollTimeout', Cause: lambdaCause('PollTimeout', 'Gave up waiting for the rollback') },
    };
    const r = await report(doc);
    expect(r).toMatchObject({
      outcome: 'ROLLBACK_FAILED',
      error: 'MigrationFailed',
      cause: '002.sql line 3: syntax error',
      lockHeld: true,
    });
    expect(r.subject).toBe(`ACTION NEEDED: deployment of ${BLUE} rollback failed`);
    expect(r.message).toContain(
      'the automatic rollback did not finish: PollTimeout: Gave up waiting for the rollback.',
    );
    expect(r.message).toContain(MODIFY_BLUE);
    expect(r.message).toContain('(orders, billing)');
    expect(r.message).toContain(`bluegreen:execution=${EXECUTION.id}`);
    expect(r.message).toContain(LOCK_LINE);
  });

  it('ROLLBACK_FAILED when removing the replication failed: the commands remove the whole DDL guard, its three triggers too', async () => {
    const base = await preflighted(cloud);
    const doc: FailedDocument = {
      ...base,
      input: { ...base.input, mode: 'online' },
      lock: LOCK,
      error: { Error: 'ReplicationFailed', Cause: lambdaCause('ReplicationFailed', 'the apply on green failed') },
      replicationError: { Error: 'ReplicationFailed', Cause: lambdaCause('ReplicationFailed', 'blue is unreachable') },
    };
    const r = await report(doc);
    expect(r.outcome).toBe('ROLLBACK_FAILED');
    const { fn } = ddlGuardNames(base.input.executionId);
    expect(r.message).toContain(`DROP FUNCTION ${fn}() CASCADE (the DDL guard: the function and its event triggers)`);
    expect(r.message).not.toContain('DROP EVENT TRIGGER');
  });

  it('ROLLBACK_FAILED when the un-fence failed and groups were never detached: no security-group command', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud, { writeBlock: 'read-only' })),
      lock: LOCK,
      fence: FENCE,
      error: { Error: 'SmokeTestFailed', Cause: 'x' },
      unfenceError: { Error: 'RetryableAwsError', Cause: 'connection refused' },
    };
    const r = await report(doc);
    expect(r).toMatchObject({ outcome: 'ROLLBACK_FAILED', lockHeld: true });
    expect(r.message).toContain('did not finish: RetryableAwsError: connection refused.');
    expect(r.message).not.toContain('modify-db-cluster');
  });

  it('CUTOVER_FAILED in online mode with failback, stopped after the swap: the slots on blue, its sessions and the reverse replication are named', async () => {
    const base = await preflighted(cloud);
    const doc: FailedDocument = {
      ...base,
      input: { ...base.input, mode: 'online', failback: true },
      lock: LOCK,
      fence: FENCE,
      switchover: {
        targetLsn: '0/2',
        caughtUpMs: 5,
        fenceRowApplied: true,
        sequencesMoved: 0,
        sequencesMissing: [],
        removed: [],
      },
      failbackReplication: { databases: ['orders'], startedAt: '2026-12-05T02:01:01.000Z' },
      greenUnguard: { databases: ['orders'], unguardedAt: '2026-12-05T02:01:02.000Z' },
      cutoverError: { Error: 'States.Aborted', Cause: 'stopped by hand in WaitForClientTtl' },
    } as FailedDocument;
    const r = await report(doc);
    expect(r.outcome).toBe('CUTOVER_FAILED');
    expect(r.message).toContain("blue may still hold this execution's replication slots");
    expect(r.message).toContain('end every session on blue');
    expect(r.message).toContain('Blue still follows green (failback replication, databases orders)');
  });

  it('CUTOVER_FAILED: nothing rolled back, instructions to finish or go back, lock kept', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud)),
      lock: LOCK,
      block: BLOCK,
      fence: FENCE,
      open: { securityGroupIds: [ADMIN_SG, ...APP_SGS], openedAt: '2026-12-05T02:20:00.000Z' },
      cutoverError: { Error: 'PollTimeout', Cause: lambdaCause('PollTimeout', 'Gave up waiting for the CNAME change') },
    };
    const r = await report(doc);
    expect(r).toMatchObject({
      outcome: 'CUTOVER_FAILED',
      error: 'PollTimeout',
      cause: 'Gave up waiting for the CNAME change',
      lockHeld: true,
    });
    expect(r.subject).toBe(`ACTION NEEDED: deployment of ${BLUE} cutover failed`);
    expect(r.message).toContain('Nothing was rolled back automatically: green may already have taken writes.');
    expect(r.message).toContain('application security groups detached');
    expect(r.message).toContain(`green ${GREEN} has the application groups attached`);
    expect(r.message).toContain(`--hosted-zone-id ${ZONE}`);
    expect(r.message).toContain(`UPSERT of ${RECORD} to green's endpoint`);
    expect(r.message).toContain(MODIFY_BLUE);
    expect(r.message).toContain(LOCK_LINE);
  });

  it('CLEANUP_FAILED: the cutover succeeded, blue is kept', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud)),
      lock: LOCK,
      cleanupError: { Error: 'PreconditionFailed', Cause: lambdaCause('PreconditionFailed', 'snapshot exists') },
    };
    const r = await report(doc);
    expect(r).toMatchObject({ outcome: 'CLEANUP_FAILED', error: 'PreconditionFailed', cause: 'snapshot exists' });
    expect(r.subject).toBe(`ACTION NEEDED: deployment of ${BLUE} cleanup failed`);
    expect(r.message).toContain(`The cutover succeeded: applications use green ${GREEN} through ${RECORD}.`);
    expect(r.message).toContain(`Blue ${BLUE} is fenced and kept`);
  });

  it('RELEASE_FAILED: a successful deployment whose lock could not be released', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud)),
      lock: LOCK,
      cutover: { changeId: '/change/C2', target: `${GREEN}.cluster-abc`, requestedAt: '2026-12-05T02:21:00.000Z' },
      releaseError: { Error: 'RetryableAwsError', Cause: 'ProvisionedThroughputExceededException' },
    };
    const r = await report(doc);
    expect(r).toMatchObject({ outcome: 'RELEASE_FAILED', error: 'RetryableAwsError', lockHeld: true });
    expect(r.subject).toBe(`ACTION NEEDED: deployment of ${BLUE} release failed`);
    expect(r.message).toContain(`succeeded: applications use green ${GREEN} through ${RECORD}`);
    expect(r.message).toContain(LOCK_LINE);
  });

  it('reports the original error, not the release error, when both failed', async () => {
    const doc: FailedDocument = {
      ...(await preflighted(cloud)),
      lock: LOCK,
      rollback: { blueRestored: true, blueUnfenced: [], greenDeleting: true, keptGreen: false },
      error: { Error: 'CloneMissingWrites', Cause: 'no fence row' },
      releaseError: { Error: 'RetryableAwsError', Cause: 'throttled' },
    };
    const r = await report(doc);
    expect(r).toMatchObject({
      outcome: 'ROLLED_BACK',
      error: 'CloneMissingWrites',
      cause: 'no fence row',
      lockHeld: true,
    });
    expect(r.message).toContain(LOCK_LINE);
  });

  it('uses the error name as the cause when there is no cause', async () => {
    const doc: FailedDocument = { ...stepDocument(), error: { Error: 'States.Timeout' } };
    const r = await report(doc);
    expect(r).toMatchObject({ outcome: 'NOTHING_CHANGED', error: 'States.Timeout', cause: 'States.Timeout' });
  });
});
