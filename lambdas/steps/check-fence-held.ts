import type { ExecutionDocument } from '../domain/document';
import { WritesAfterFence } from '../domain/errors';
import type { Ports } from '../ports';
import { ADMIN_DATABASE, AWS_INTERNAL_ROLES, blueTarget, userDatabases, withSession } from './db';
import { describeWrites, writesAfterFence, type FenceProof, type WriteAfterFence } from './fence-proof';

export type FenceHeldResult = NonNullable<ExecutionDocument['fenceHeld']>;

/**
 * CheckFenceHeld (before OpenGreen) and RecheckFenceHeld (before DeleteBlue), docs/fence.md:
 * proves on blue that no user data changed after the fence row, by comparing every database with
 * the proof FenceWrites recorded (fence-proof.ts). A change is `WritesAfterFence`, naming the
 * databases and tables: before OpenGreen it rolls back (green may lack those writes); before
 * DeleteBlue blue is kept and ReportFailure sends the alert with what changed.
 * In a dry run there is no fence and nothing to prove.
 *
 * The statistics system publishes a backend's counters when it ends, or when it has been idle a
 * while (up to 10 s after its last flush). So the check first ends every other backend on blue
 * (readers reconnect; AWS's roles are left alone), which publishes theirs, and waits `settleMs`
 * for the counters of any backend that connected since. A transaction still open when ended is
 * counted too: PostgreSQL counts attempted inserts, updates and deletes even when rolled back.
 */
export interface CheckFenceOptions {
  /** After ending the other backends: time for newcomers' counters to be published. @default 11_000 */
  settleMs?: number;
  /** Bound on the wait for ended backends to leave. @default 10_000 */
  waitMs?: number;
  /** @default 200 */
  pollMs?: number;
}

const OTHER_BACKENDS = `FROM pg_stat_activity
  WHERE datid IS NOT NULL AND pid <> pg_backend_pid()
    AND backend_type NOT IN ('autovacuum worker', 'autovacuum launcher')
    AND NOT (coalesce(usename, '') = ANY ($1::text[]))`;
export async function checkFenceHeld(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
  when: 'before-open' | 'before-delete' = 'before-open',
  options: CheckFenceOptions = {},
): Promise<FenceHeldResult> {
  const settleMs = options.settleMs ?? 11_000;
  const waitMs = options.waitMs ?? 10_000;
  const pollMs = options.pollMs ?? 200;
  const checkedAt = () => ports.clock.now().toISOString();
  if (!doc.fence) return { proven: false, databases: [], checkedAt: checkedAt() };
  const target = blueTarget(doc);
  const { proof, databasesNow, stayed } = await withSession(ports.database, target, ADMIN_DATABASE, async (session) => {
    const row = await session.query<{ proof: FenceProof | null }>(
      'SELECT proof FROM bluegreen.fence WHERE execution_id = $1',
      [doc.input.executionId],
    );
    const ended = (await session.query<{ now: string }>('SELECT clock_timestamp()::text AS now')).rows[0]?.now;
    // Publish every other backend's counters: a backend flushes them when it ends.
    await session.query(`SELECT pg_terminate_backend(pid) ${OTHER_BACKENDS}`, [AWS_INTERNAL_ROLES]);
    let stayed: WriteAfterFence[] = [];
    for (let waited = 0; ; waited += pollMs) {
      const left = await session.query<{ pid: number; datname: string; usename: string | null }>(
        `SELECT pid, datname, usename ${OTHER_BACKENDS} AND backend_start < $2::timestamptz`,
        [AWS_INTERNAL_ROLES, ended],
      );
      stayed = left.rows.map((x) => ({
        database: x.datname,
        object: '*',
        change: `backend pid ${x.pid} (user ${x.usename ?? '?'}) could not be ended, so its latest writes may not be counted yet`,
      }));
      if (!stayed.length || waited >= waitMs) break;
      await ports.clock.sleep(pollMs);
    }
    return { proof: row.rows[0]?.proof ?? undefined, databasesNow: await userDatabases(session), stayed };
  });
  await ports.clock.sleep(settleMs);
  const changes = proof
    ? [...(await writesAfterFence(ports.database, target, proof, databasesNow)), ...stayed]
    : [{ database: '*', object: '*', change: 'no proof was recorded at the fence, so none can be checked' }];
  if (changes.length) {
    const what = describeWrites(changes);
    throw new WritesAfterFence(
      when === 'before-open'
        ? `User data changed on blue ${target.clusterId} after the fence (${doc.fence.fencedAt}), so green may lack those writes; rolling back, blue keeps them: ${what}.`
        : `User data changed on blue ${target.clusterId} after the fence (${doc.fence.fencedAt}) and after cutover; those writes are not on green, so blue was kept (not deleted): ${what}. Copy them to green, then delete blue ${target.clusterId} by hand.`,
    );
  }
  return { proven: true, databases: Object.keys(proof ?? {}).sort(), checkedAt: checkedAt() };
}
