import { inspectBlue } from '../../lambdas/steps/inspect-blue';
import { makeDocument, testDatabase } from '../support/documents';
import { startPostgres, type TestServer } from '../support/postgres';

const database = testDatabase();

describe("InspectBlue: Preflight's look inside blue (real PostgreSQL)", () => {
  let blue: TestServer;

  beforeAll(async () => {
    blue = await startPostgres();
    await blue.sql('CREATE DATABASE app');
    await blue.sql('CREATE DATABASE billing');
    await blue.sql(
      'CREATE TABLE orders (id int PRIMARY KEY); CREATE UNLOGGED TABLE sessions_cache (k text)',
      [],
      'app',
    );
    await blue.sql('CREATE SCHEMA cache; CREATE UNLOGGED TABLE cache.rates (r numeric)', [], 'billing');
    await blue.sql('CREATE TEMP TABLE scratch (x int)', [], 'billing');
  });
  afterAll(async () => {
    await blue?.stop();
  });

  it("lists every user database's unlogged tables, and nothing else", async () => {
    const result = await inspectBlue(makeDocument(blue), { database });
    expect(result.databases).toEqual(expect.arrayContaining(['app', 'billing', 'postgres']));
    expect(result.unloggedTables).toEqual(['app: public.sessions_cache', 'billing: cache.rates']);
  });

  it('changes nothing on blue', async () => {
    const before = await blue.sql("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'bluegreen'", [], 'app');
    await inspectBlue(makeDocument(blue), { database });
    const settings = await blue.sql(
      "SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'app'",
    );
    expect(settings).toEqual([{ n: 0 }]);
    expect(await blue.sql("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'bluegreen'", [], 'app')).toEqual(
      before,
    );
  });
});
