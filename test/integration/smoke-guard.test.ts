import { createPgDatabase } from '../../lambdas/aws/pg-database';
import type { Database, DbSession } from '../../lambdas/ports';
import { PreconditionFailed, SmokeTestFailed } from '../../lambdas/domain/errors';
import type { SmokeTestSpec } from '../../lambdas/domain/input';
import { SMOKE_ROLE, smokeTest } from '../../lambdas/steps/smoke-test';
import { clustersStub, GREEN_ID, makeDocument, testDatabase } from '../support/documents';
import { startPostgres, type TestServer } from '../support/postgres';

/**
 * Smoke tests cannot write or act on other sessions, on real PostgreSQL: each layer on its own.
 * The documents here skip ValidateInput on purpose (as a hand-edited execution could), so the step
 * itself must hold.
 */

const database = testDatabase();

describe('smoke tests hold against writes and leaks (real PostgreSQL)', () => {
  let green: TestServer;

  beforeAll(async () => {
    green = await startPostgres();
    await green.sql('CREATE DATABASE app');
    await green.sql(
      "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'one'), (2, 'two')",
      [],
      'app',
    );
    // A table nobody was granted: pg_read_all_data reads it all the same.
    await green.sql('CREATE TABLE payroll (amount int); INSERT INTO payroll VALUES (100)', [], 'app');
    await green.sql('REVOKE ALL ON payroll FROM PUBLIC', [], 'app');
  });
  afterAll(async () => {
    await green?.stop();
  });

  const ports = (db = database) => ({ database: db, clusters: clustersStub({ [GREEN_ID]: green }) });
  const onApp = (name: string, sql: string, expect: SmokeTestSpec['expect']): SmokeTestSpec => ({
    name,
    database: 'app',
    sql,
    expect,
  });
  const run = (tests: SmokeTestSpec[], db = database) =>
    smokeTest(makeDocument(green, { input: { smokeTests: tests } }), ports(db));
  const failureOf = (promise: Promise<unknown>) =>
    promise.then(
      () => new Error('expected the smoke tests to fail'),
      (e: Error) => e,
    );
  const orders = async () => (await green.sql<{ n: number }>('SELECT count(*)::int AS n FROM orders', [], 'app'))[0]!.n;

  it('runs each query as bluegreen_smoke, which reads every table and is nothing else', async () => {
    const result = await run([
      onApp('who', 'SELECT current_user', `equals:${SMOKE_ROLE}`),
      onApp('not a superuser', 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user', 'equals:false'),
      onApp('reads an ungranted table', 'SELECT count(*) FROM payroll', 'nonzero'),
    ]);
    expect(result.readAs).toBe(SMOKE_ROLE);
    expect(result.results.map((r) => [r.name, r.passed])).toEqual([
      ['who', true],
      ['not a superuser', true],
      ['reads an ungranted table', true],
    ]);
    // A second run finds the role in place.
    await expect(run([onApp('again', 'SELECT 1', 'nonzero')])).resolves.toMatchObject({ readAs: SMOKE_ROLE });
  });

  it('refuses "COMMIT; INSERT …" and other writes by the parser: nothing is written', async () => {
    const before = await orders();
    const error = await failureOf(
      run([
        onApp('escape', "COMMIT; INSERT INTO orders VALUES (3, 'x')", 'nonzero'),
        onApp('cte', 'WITH gone AS (DELETE FROM orders RETURNING 1) SELECT count(*) FROM gone', 'zero'),
        onApp('role back', "SELECT set_config('role', 'postgres', true)", 'nonzero'),
      ]),
    );
    expect(error).toBeInstanceOf(SmokeTestFailed);
    expect(error.message).toContain(
      '"escape" expected nonzero, got refused: it must be exactly one statement, found 2',
    );
    expect(error.message).toContain(
      '"cte" expected zero, got refused: it contains a data-modifying statement (DELETE)',
    );
    expect(error.message).toContain('"role back" expected nonzero, got refused: it calls set_config()');
    expect(await orders()).toBe(before);
  });

  it('the extended protocol alone refuses a second statement', async () => {
    const session = await database.connect({ clusterId: GREEN_ID, host: green.host, port: green.port }, 'app');
    try {
      await expect(
        session.query("SELECT 1; INSERT INTO orders VALUES (4, 'x')", [], { protocol: 'extended' }),
      ).rejects.toMatchObject({ code: '42601' });
      // The simple protocol (migrations) still runs a file as sent.
      await expect(session.query('SELECT 1; SELECT 2')).resolves.toMatchObject({ rowCount: 1 });
    } finally {
      await session.close();
    }
    expect(await green.sql('SELECT count(*)::int AS n FROM orders WHERE id = 4', [], 'app')).toEqual([{ n: 0 }]);
  });

  it("sends each test's SQL with the extended protocol, so the server itself takes one statement", async () => {
    const sent: { sql: string; protocol: string }[] = [];
    const recording: Database = {
      replicationConninfo: (target, name) => database.replicationConninfo(target, name),
      connect: async (target, name) => {
        const session = await database.connect(target, name);
        return Object.assign(Object.create(session) as DbSession, {
          query: (sql: string, params?: unknown[], options?: { protocol?: 'simple' | 'extended' }) => {
            sent.push({ sql, protocol: options?.protocol ?? (params?.length ? 'extended' : 'simple') });
            return session.query(sql, params, options);
          },
        });
      },
    };
    await run([onApp('orders', 'SELECT count(*) FROM orders', 'nonzero')], recording);
    expect(sent.filter((q) => q.sql === 'SELECT count(*) FROM orders')).toEqual([
      { sql: 'SELECT count(*) FROM orders', protocol: 'extended' },
    ]);
  });

  it('the role alone keeps a query from acting on other sessions', async () => {
    // A function the parser does not know: pg_terminate_backend behind a view, as an insider might build.
    await green.sql(
      'CREATE OR REPLACE VIEW kill_one AS SELECT pg_terminate_backend(pg_backend_pid()) AS killed',
      [],
      'app',
    );
    const error = await failureOf(run([onApp('kill', 'SELECT killed FROM kill_one', 'equals:true')]));
    expect(error.message).toMatch(/"kill" expected equals:true, got error: SQLSTATE 42501: permission denied/);
  });

  it('the read-only transaction alone keeps a write from happening', async () => {
    // A write the parser cannot see and the role's rights do not stop: a SECURITY DEFINER function,
    // owned by the admin and executable by PUBLIC, as an insider might leave behind.
    await green.sql(
      `CREATE OR REPLACE FUNCTION add_order() RETURNS int LANGUAGE sql SECURITY DEFINER
         AS $$ INSERT INTO orders VALUES (5, 'sneaked') RETURNING id $$`,
      [],
      'app',
    );
    const before = await orders();
    const error = await failureOf(run([onApp('definer', 'SELECT add_order()', 'nonzero')]));
    expect(error.message).toMatch(
      /"definer" expected nonzero, got error: SQLSTATE 25006: cannot execute INSERT in a read-only transaction/,
    );
    expect(await orders()).toBe(before);
  });

  it('cuts every value to 200 characters in the result and in the failure', async () => {
    const ok = await run([onApp('long', "SELECT repeat('a', 5000)", `equals:${'a'.repeat(5000)}`)]);
    expect([...ok.results[0]!.value]).toHaveLength(200);
    expect([...ok.results[0]!.expect]).toHaveLength(200);
    expect(ok.results[0]!.passed).toBe(true);

    const error = await failureOf(run([onApp('long error', "SELECT repeat('b', 5000)::int", 'nonzero')]));
    expect(error.message).toContain('"long error" expected nonzero, got error: SQLSTATE 22P02');
    expect(error.message.length).toBeLessThan(400);
  });

  it('without the right to set the role up, runs as the admin user and says why', async () => {
    await green.sql('CREATE ROLE plainadmin LOGIN');
    await green.sql('GRANT SELECT ON orders TO plainadmin', [], 'app');
    const plain = createPgDatabase({
      credentials: async () => ({ username: 'plainadmin', password: 'unused-with-trust-auth' }),
      ssl: false,
    });
    const result = await run([onApp('orders', 'SELECT count(*) FROM orders', 'nonzero')], plain);
    expect(result.readAs).toMatch(/^plainadmin \(bluegreen_smoke could not be set up: SQLSTATE 42501/);
    expect(result.results[0]!.passed).toBe(true);
  });

  it('refuses a bluegreen_smoke role that has more than pg_read_all_data', async () => {
    await green.sql(`ALTER ROLE ${SMOKE_ROLE} CREATEDB`);
    try {
      await expect(run([onApp('x', 'SELECT 1', 'nonzero')])).rejects.toThrow(PreconditionFailed);
      await expect(run([onApp('x', 'SELECT 1', 'nonzero')])).rejects.toThrow(/attribute CREATEDB/);
    } finally {
      await green.sql(`ALTER ROLE ${SMOKE_ROLE} NOCREATEDB`);
    }
  });
});
