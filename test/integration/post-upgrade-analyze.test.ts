import type { Client } from 'pg';
import type { Database, DbSession } from '../../lambdas/ports';
import { attemptSessionName } from '../../lambdas/steps/db';
import { postUpgrade } from '../../lambdas/steps/post-upgrade';
import { clustersStub, GREEN_ID, makeDocument, realClock, testDatabase } from '../support/documents';
import { startPostgres, type TestServer } from '../support/postgres';

const upgrade = (isMajor: boolean) => ({
  requested: true,
  from: isMajor ? '15.17' : '16.13',
  to: '16.14',
  isMajor,
  requestedAt: '2026-12-05T02:00:00.000Z',
});

/** A Database whose sessions fail the n-th ANALYZE, as a Lambda that timed out halfway would stop. */
function failingAnalyzeAfter(inner: Database, n: number): Database {
  let analyzes = 0;
  return {
    replicationConninfo: (target, name) => inner.replicationConninfo(target, name),
    async connect(target, name) {
      const session = await inner.connect(target, name);
      const wrapped: DbSession = {
        pid: session.pid,
        close: () => session.close(),
        query: async (sql, params) => {
          if (sql.startsWith('ANALYZE') && ++analyzes > n) throw new Error('Sandbox.Timedout (simulated)');
          return session.query(sql, params);
        },
      };
      return wrapped;
    },
  };
}

describe('PostUpgrade: ANALYZE after a major upgrade only, table by table, resumable (real PostgreSQL)', () => {
  let green: TestServer;
  const database = testDatabase();
  const clients: Client[] = [];

  beforeAll(async () => {
    green = await startPostgres();
    for (const db of ['app', 'billing']) {
      await green.sql(`CREATE DATABASE ${db}`);
      await green.sql(
        'CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int); INSERT INTO a SELECT generate_series(1, 100); INSERT INTO b SELECT generate_series(1, 100); INSERT INTO c SELECT generate_series(1, 100)',
        [],
        db,
      );
    }
  });
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await green?.stop();
  });

  const ports = (db: Database = database) => ({
    database: db,
    clusters: clustersStub({ [GREEN_ID]: green }),
    clock: realClock,
  });
  const analyzedTables = async (db: string) =>
    (
      await green.sql<{ relname: string }>(
        "SELECT relname FROM pg_stat_user_tables WHERE analyze_count > 0 AND schemaname = 'public' ORDER BY relname",
        [],
        db,
      )
    ).map((r) => r.relname);

  it('does not ANALYZE after a minor upgrade (the statistics survive it)', async () => {
    const doc = makeDocument(green, { upgrade: upgrade(false), input: { executionId: 'exec-minor' } });

    const result = await postUpgrade(doc, ports());

    expect(result).toMatchObject({ analyzed: [], tablesAnalyzed: 0, analyze: expect.stringMatching(/minor/) });
    expect(await analyzedTables('app')).toEqual([]);
  });

  it('resumes after an attempt that stopped halfway: each table analyzed once, progress kept on green', async () => {
    const doc = makeDocument(green, { upgrade: upgrade(true), input: { executionId: 'exec-major' } });

    await expect(postUpgrade(doc, ports(failingAnalyzeAfter(database, 2)))).rejects.toThrow(/simulated/);
    const progress = await green.sql<{ database: string; relation: string }>(
      "SELECT database, relation FROM bluegreen.analyze_progress WHERE execution_id = 'exec-major' ORDER BY 1, 2",
    );
    expect(progress).toEqual([
      { database: 'app', relation: 'public.a' },
      { database: 'app', relation: 'public.b' },
    ]);

    const retry = await postUpgrade(doc, ports());

    expect(retry).toMatchObject({ tablesResumed: 2, tablesAnalyzed: 4, analyzed: ['app', 'billing', 'postgres'] });
    expect(await analyzedTables('app')).toEqual(['a', 'b', 'c']);
    expect(await analyzedTables('billing')).toEqual(['a', 'b', 'c']);
    // Each table once: the retry did not analyze again what the first attempt had done.
    const counts = await green.sql<{ relname: string; n: number }>(
      "SELECT relname, analyze_count::int AS n FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname",
      [],
      'app',
    );
    expect(counts).toEqual([
      { relname: 'a', n: 1 },
      { relname: 'b', n: 1 },
      { relname: 'c', n: 1 },
    ]);
  });

  it("ends its own earlier attempt's sessions first, and no one else's", async () => {
    const doc = makeDocument(green, { upgrade: upgrade(true), input: { executionId: 'exec-retried' } });
    const own = attemptSessionName(doc, 'PostUpgrade');
    const other = attemptSessionName(
      makeDocument(green, { input: { executionId: 'exec-someone-else' } }),
      'PostUpgrade',
    );
    expect(own).toMatch(/^bluegreen:PostUpgrade:[0-9a-f]{12}$/);
    expect(other).not.toBe(own);
    // The earlier attempt's session, still busy on the server after its Lambda was gone.
    const earlier = await green.client('app', { applicationName: own });
    clients.push(earlier);
    const busy = earlier.query('SELECT pg_sleep(60)').catch((e: Error) => e);
    const otherExecution = await green.client('app', { applicationName: other });
    const application = await green.client('app', { applicationName: 'orders-api' });
    const plainWorkflow = await green.client('app', { applicationName: 'bluegreen' });
    clients.push(otherExecution, application, plainWorkflow);

    const result = await postUpgrade(doc, ports());

    expect(result.endedEarlierSessions).toBe(1);
    expect(await busy).toMatchObject({ message: expect.stringMatching(/terminat/) });
    for (const survivor of [otherExecution, application, plainWorkflow]) {
      await expect(survivor.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    }
  });
});
