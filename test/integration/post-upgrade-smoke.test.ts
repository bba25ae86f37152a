import { SmokeTestFailed } from '../../lambdas/domain/errors';
import type { SmokeTestSpec } from '../../lambdas/domain/input';
import { postUpgrade } from '../../lambdas/steps/post-upgrade';
import { smokeTest, type RowCountEvidence } from '../../lambdas/steps/smoke-test';
import { clustersStub, GREEN_ID, makeDocument, realClock, testDatabase } from '../support/documents';
import { startPostgres, type TestServer } from '../support/postgres';

const database = testDatabase();

describe('post-upgrade and smoke tests on green (real PostgreSQL)', () => {
  let blue: TestServer;
  let green: TestServer;

  beforeAll(async () => {
    blue = await startPostgres();
    await blue.sql('CREATE DATABASE app');
    await blue.sql(
      "CREATE TABLE orders (id bigserial PRIMARY KEY, note text); INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 3) g",
      [],
      'app',
    );
    await blue.sql('CREATE TABLE events (id int); INSERT INTO events SELECT generate_series(1, 500)', [], 'app');
    await blue.sql("CREATE EXTENSION amcheck VERSION '1.0'", [], 'app'); // older than the engine's default 1.3
    green = await blue.cloneOnline();
    // Green has moved on after a migration: one more order.
    await green.sql("INSERT INTO orders (note) VALUES ('green only')", [], 'app');
  });
  afterAll(async () => {
    await green?.stop();
    await blue?.stop();
  });

  const ports = () => ({ database, clusters: clustersStub({ [GREEN_ID]: green }), clock: realClock });
  const majorUpgrade = {
    requested: true,
    from: '15.17',
    to: '16.14',
    isMajor: true,
    requestedAt: '2026-12-05T02:00:00.000Z',
  };

  it('post-upgrade analyzes every user database and updates outdated extensions', async () => {
    const statsBefore = await green.sql(
      "SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'orders'",
      [],
      'app',
    );
    expect(statsBefore).toEqual([{ n: 0 }]);

    const result = await postUpgrade(makeDocument(blue, { upgrade: majorUpgrade }), ports());

    expect(result.analyzed).toEqual(['app', 'postgres']);
    expect(result.extensionsUpdated).toEqual([{ database: 'app', name: 'amcheck', from: '1.0', to: '1.3' }]);
    const statsAfter = await green.sql<{ attname: string }>(
      "SELECT attname FROM pg_stats WHERE schemaname = 'public' AND tablename = 'orders' ORDER BY attname",
      [],
      'app',
    );
    expect(statsAfter.map((s) => s.attname)).toEqual(['id', 'note']);
    // Nothing left to update on a second run.
    await expect(postUpgrade(makeDocument(blue, { upgrade: majorUpgrade }), ports())).resolves.toMatchObject({
      extensionsUpdated: [],
    });
  });

  /** A smoke test on the `app` database. */
  const onApp = (name: string, sql: string, expected: SmokeTestSpec['expect']): SmokeTestSpec => ({
    name,
    database: 'app',
    sql,
    expect: expected,
  });

  const passing: SmokeTestSpec[] = [
    onApp('orders readable', 'SELECT count(*) FROM orders', 'nonzero'),
    onApp('no orphan events', 'SELECT count(*) FROM events WHERE id < 0', 'zero'),
    onApp('order count', 'SELECT count(*) FROM orders', 'equals:4'),
    onApp('first note', 'SELECT note FROM orders ORDER BY id LIMIT 1', 'equals:order 1'),
  ];

  it('keeps huge values and server messages out of the document: each is truncated', async () => {
    const huge = [
      onApp('huge passing value', "SELECT repeat('1', 300000)", 'nonzero'),
      onApp('huge failing value', "SELECT repeat('x', 300000)", `equals:${'y'.repeat(5000)}`),
      // A query whose error quotes a 300,000-character value back.
      onApp('huge error', "SELECT repeat('e', 300000)::int", 'zero'),
    ];
    const doc = makeDocument(blue, { input: { smokeTests: huge } });

    const failure = await smokeTest(doc, ports()).catch((e: Error) => e);

    expect(failure).toBeInstanceOf(SmokeTestFailed);
    const message = (failure as Error).message;
    expect(message.length).toBeLessThanOrEqual(4_000);
    expect(message).toMatch(/^2 of 3 smoke test\(s\) failed on green /);
    expect(message).toContain('"huge failing value" expected equals:yyy');
    expect(message).toContain('"huge error" expected zero, got error: SQLSTATE 22P02');
    expect(message).toMatch(/e{50}…/);

    const passing = await smokeTest(makeDocument(blue, { input: { smokeTests: [huge[0]!] } }), ports());
    expect(passing.results[0]).toMatchObject({ name: 'huge passing value', passed: true });
    expect([...passing.results[0]!.value]).toHaveLength(200);
    expect(passing.results[0]!.value).toMatch(/^1{199}…$/);
    expect(JSON.stringify(passing).length).toBeLessThan(20_000);
  });

  it('passes each expectation where it holds and reports row counts on blue and green', async () => {
    const doc = makeDocument(blue, { input: { smokeTests: passing } });

    const result = await smokeTest(doc, ports());

    expect(result.results).toEqual([
      { name: 'orders readable', passed: true, value: '4', expect: 'nonzero' },
      { name: 'no orphan events', passed: true, value: '0', expect: 'zero' },
      { name: 'order count', passed: true, value: '4', expect: 'equals:4' },
      { name: 'first note', passed: true, value: 'order 1', expect: 'equals:order 1' },
    ]);
    expect(result.rowCounts.tables).toEqual(
      expect.arrayContaining([
        { database: 'app', table: 'public.orders', blue: 3, green: 4, method: 'exact' },
        { database: 'app', table: 'public.events', blue: 500, green: 500, method: 'exact' },
      ]),
    );
    expect(result.rowCounts.truncated).toBe(false);
  });

  it('estimates large tables from pg_class and says so', async () => {
    await green.sql('ANALYZE events', [], 'app');
    await blue.sql('ANALYZE events', [], 'app');
    const doc = makeDocument(blue, { input: { smokeTests: passing.slice(0, 1) } });

    const { rowCounts } = await smokeTest(doc, ports(), { exactBelowRows: 100, maxTables: 1 });

    const expected: RowCountEvidence = {
      exactBelowRows: 100,
      exactBelowPages: 12_800,
      tables: [{ database: 'app', table: 'public.events', blue: 500, green: 500, method: 'estimate' }],
      truncated: true,
    };
    expect(rowCounts).toEqual(expected);
  });

  it('fails each expectation where it does not hold, runs them all, and names the failures', async () => {
    const failing: SmokeTestSpec[] = [
      onApp('empty is not nonzero', 'SELECT count(*) FROM orders WHERE false', 'nonzero'),
      onApp('four is not zero', 'SELECT count(*) FROM orders', 'zero'),
      onApp('wrong count', 'SELECT count(*) FROM orders', 'equals:3'),
      onApp('no rows', 'SELECT 1 WHERE false', 'equals:1'),
      onApp('cannot write', "INSERT INTO orders (note) VALUES ('x') RETURNING id", 'nonzero'),
      onApp('too slow', 'SELECT count(*) FROM pg_sleep(5)', 'nonzero'),
      { name: 'no such database', database: 'nope', sql: 'SELECT 1', expect: 'nonzero' },
      ...passing.slice(0, 1),
    ];
    const doc = makeDocument(blue, { input: { smokeTests: failing } });

    const failure = smokeTest(doc, ports(), { statementTimeoutMs: 300 });

    await expect(failure).rejects.toBeInstanceOf(SmokeTestFailed);
    const message = await failure.catch((e: Error) => e.message);
    expect(message).toMatch(/^7 of 8 smoke test\(s\) failed on green orders-prod-g2612050200/);
    expect(message).toContain('"empty is not nonzero" expected nonzero, got 0');
    expect(message).toContain('"four is not zero" expected zero, got 4');
    expect(message).toContain('"wrong count" expected equals:3, got 4');
    expect(message).toContain('"no rows" expected equals:1, got (no rows)');
    expect(message).toContain('"cannot write" expected nonzero, got refused: it must be a query');
    expect(message).toContain('"too slow" expected nonzero, got error: SQLSTATE 57014');
    expect(message).toContain('"no such database" expected nonzero, got error: SQLSTATE 3D000');
    expect(message).not.toContain('orders readable');
    expect(await green.sql("SELECT count(*)::int AS n FROM orders WHERE note = 'x'", [], 'app')).toEqual([{ n: 0 }]);
  });
});
