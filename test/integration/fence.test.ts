import { Pool, type Client } from 'pg';
import { CloneMissingWrites, FenceIncomplete } from '../../lambdas/domain/errors';
import type { Database, DbSession } from '../../lambdas/ports';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { unfenceBlue } from '../../lambdas/steps/unfence';
import { verifyClone } from '../../lambdas/steps/verify-clone';
import { clustersStub, GREEN_ID, makeDocument, realClock, testDatabase } from '../support/documents';
import { canWrite, READ_ONLY, startBlue } from '../support/fence-fixtures';
import { startPostgres, type TestServer } from '../support/postgres';

const database = testDatabase();

describe('write fence on blue, clone verification and un-fence (real PostgreSQL)', () => {
  let blue: TestServer;
  let copyBeforeFence: TestServer;
  let copyAfterFence: TestServer | undefined;
  let pool: Pool;
  const doc = makeDocument({ host: '127.0.0.1', port: 0 });

  beforeAll(async () => {
    blue = await startBlue({ archive: true });
    await blue.sql("INSERT INTO orders (note) VALUES ('before the fence')", [], 'app');
    await blue.sql('CREATE UNLOGGED TABLE sessions_cache (token text PRIMARY KEY)', [], 'app');
    copyBeforeFence = await blue.cloneOnline();
    doc.blue = { ...doc.blue!, endpoint: blue.host, port: blue.port };
    pool = new Pool({
      host: blue.host,
      port: blue.port,
      user: 'postgres',
      database: 'app',
      max: 1,
      application_name: 'orders-api',
    });
    pool.on('error', () => undefined);
  });

  afterAll(async () => {
    await pool?.end().catch(() => undefined);
    await copyAfterFence?.stop();
    await copyBeforeFence?.stop();
    await blue?.stop();
  });

  it('terminates a pooled writer, leaves new sessions read-only and writes the fence row', async () => {
    const pooled = await pool.connect();
    pooled.on('error', () => undefined); // a checked-out client reports the termination as an event too
    await pooled.query("INSERT INTO orders (note) VALUES ('pooled write before the fence')");
    const workflowSession = await database.connect(
      { clusterId: 'orders-prod', host: blue.host, port: blue.port },
      'app',
    );

    const fence = await fenceWrites(doc, { database, clock: realClock }, { pollMs: 100 });

    expect(fence.terminatedSessions).toBeGreaterThanOrEqual(1);
    expect(fence.databases).toEqual(['app', 'archive', 'postgres']);
    expect(fence.changedDatabases).toEqual(['app', 'postgres']); // archive was read-only already
    // Recorded with the proof, for the approver: Aurora's clone keeps their rows, a crash does not.
    expect(fence.unloggedTables).toEqual(['app: public.sessions_cache']);
    expect(fence.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(Number.isNaN(Date.parse(fence.fencedAt))).toBe(false);

    // The pooled connection that was writing is gone: its next write fails.
    await expect(pooled.query("INSERT INTO orders (note) VALUES ('pooled write after the fence')")).rejects.toThrow();
    pooled.release(true);
    // A new session cannot write.
    expect(await canWrite(blue)).toBe(false);
    // Only the fence's own session is exempt (by pid): another session named "bluegreen" is ended too.
    await expect(workflowSession.query('SELECT 1 AS ok')).rejects.toThrow(/not queryable|terminat/);
    await workflowSession.close();

    const rows = await blue.sql<{ lsn: string; fenced_at: Date }>(
      'SELECT lsn::text AS lsn, fenced_at FROM bluegreen.fence WHERE execution_id = $1',
      [doc.input.executionId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.lsn).toBe(fence.lsn);
    // The fence time is read after the row committed: later than the time inside the statement.
    expect(Date.parse(fence.fencedAt)).toBeGreaterThan(rows[0]!.fenced_at.getTime());
    doc.fence = fence;
  });

  it('is idempotent: a re-run returns the first fence row and keeps the databases to reset', async () => {
    const again = await fenceWrites(doc, { database, clock: realClock }, { pollMs: 100 });
    // The same row; only the fence time is read again (later), after the re-run's last look.
    expect({ ...again, fencedAt: undefined }).toEqual({ ...doc.fence, fencedAt: undefined });
    expect(Date.parse(again.fencedAt)).toBeGreaterThanOrEqual(Date.parse(doc.fence!.fencedAt));
  });

  it('finds the fence row on a file-level copy taken after the fence and makes green writable', async () => {
    copyAfterFence = await blue.cloneOnline();
    const clusters = clustersStub({ [GREEN_ID]: copyAfterFence });

    const verified = await verifyClone(doc, { database, clusters });

    expect(verified).toEqual({ fenceRowFound: true, resetDatabases: ['app', 'postgres'], inheritedSlots: [] });
    expect(await canWrite(copyAfterFence)).toBe(true);
    // A database that was read-only on blue before the fence keeps its own setting.
    const archive = await copyAfterFence.client('archive');
    await expect(archive.query('CREATE TABLE t (x int)')).rejects.toMatchObject({ code: READ_ONLY });
    await archive.end();
  });

  it('fails with CloneMissingWrites on a copy taken before the fence', async () => {
    const clusters = clustersStub({ [GREEN_ID]: copyBeforeFence });

    const failure = verifyClone(doc, { database, clusters });

    await expect(failure).rejects.toBeInstanceOf(CloneMissingWrites);
    await expect(failure).rejects.toThrow(/does not contain the fence row of execution .*may be missing writes/);
    expect(await canWrite(copyBeforeFence)).toBe(true); // nothing was reset there: it never was fenced
  });

  it('skips the check in a dry run (no fence) and resets nothing', async () => {
    const dryRun = makeDocument(blue, { input: { dryRun: true } });
    const clusters = clustersStub({}); // not even asked

    await expect(verifyClone(dryRun, { database, clusters })).resolves.toEqual({
      fenceRowFound: false,
      resetDatabases: [],
    });
  });

  it('un-fences blue on rollback: new sessions write again, a database read-only before stays so', async () => {
    expect(await canWrite(blue)).toBe(false);

    await expect(unfenceBlue(doc, { database })).resolves.toEqual(['app', 'postgres']);

    expect(await canWrite(blue)).toBe(true);
    const archive = await blue.client('archive');
    await expect(archive.query('CREATE TABLE t (x int)')).rejects.toMatchObject({ code: READ_ONLY });
    await archive.end();
    // Idempotent; without $.fence the execution's intent row still names what to reset.
    await expect(unfenceBlue(doc, { database })).resolves.toEqual(['app', 'postgres']);
    await expect(unfenceBlue({ ...doc, fence: undefined }, { database })).resolves.toEqual(['app', 'postgres']);
    // A no-op for an execution that never fenced.
    const other = makeDocument(blue, { input: { executionId: 'execution-never-fenced' } });
    await expect(unfenceBlue(other, { database })).resolves.toEqual([]);
    // The fence row stays on blue as a record.
    expect(
      await blue.sql('SELECT 1 FROM bluegreen.fence WHERE execution_id = $1', [doc.input.executionId]),
    ).toHaveLength(1);
  });
});

describe('fence wait is bounded', () => {
  let blue: TestServer;
  let stubborn: Client;

  beforeAll(async () => {
    blue = await startPostgres();
    stubborn = await blue.client('postgres', { applicationName: 'reporting-job' });
  });
  afterAll(async () => {
    await stubborn?.end().catch(() => undefined);
    await blue?.stop();
  });

  it('fails with FenceIncomplete naming the sessions it could not end', async () => {
    // A session that refuses to die: pg_terminate_backend is not allowed on it (as for another superuser's session on RDS).
    const real = testDatabase();
    const refusing: Database = {
      replicationConninfo: (target, name) => real.replicationConninfo(target, name),
      async connect(target, name) {
        const session = await real.connect(target, name);
        const wrapped: DbSession = {
          pid: session.pid,
          close: () => session.close(),
          query: (sql, params) =>
            sql.includes('pg_terminate_backend')
              ? Promise.reject(Object.assign(new Error('permission denied to terminate process'), { code: '42501' }))
              : session.query(sql, params),
        };
        return wrapped;
      },
    };
    const doc = makeDocument(blue, { input: { executionId: 'execution-bounded' } });
    let slept = 0;
    const clock = { now: () => new Date(), sleep: async (ms: number) => void (slept += ms) };

    const failure = fenceWrites(doc, { database: refusing, clock }, { waitMs: 2_000, pollMs: 500 });

    await expect(failure).rejects.toBeInstanceOf(FenceIncomplete);
    await expect(failure).rejects.toThrow(
      /1 session\(s\) on blue orders-prod were still connected .*application "reporting-job"/,
    );
    expect(slept).toBe(2_000);
    await expect(stubborn.query('SELECT 1')).resolves.toBeDefined();
  });
});
