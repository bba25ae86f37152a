import { installStartLsnFunction } from '../../local/cloud/clone-start-lsn';
import type { PgServer } from '../../local/postgres';
import { installDdlGuard } from '../../lambdas/steps/replication';
import { testDatabase } from '../support/documents';
import { startPostgres, type TestServer } from '../support/postgres';

/**
 * In online mode the clone inherits blue's DDL guard (an event trigger); the local cloud still
 * gives the clone its start-LSN function, which locally is DDL (on Aurora it is built in).
 */
describe("the local clone's start-LSN function and the inherited DDL guard (real PostgreSQL)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => server?.stop());

  it('is created despite the guard, which still refuses everyone else', async () => {
    const session = await testDatabase().connect(
      { clusterId: 'green', host: server.host, port: server.port },
      'postgres',
    );
    try {
      expect(await installDdlGuard(session, 'arn:execution:online', 'online')).toEqual({ installed: true });
    } finally {
      await session.close();
    }
    // The two PgServer members the installer uses, on this test server.
    const pg = {
      query: (sql: string, params?: unknown[]) => server.sql(sql, params),
      connectionConfig: (database: string) => ({ host: server.host, port: server.port, user: 'postgres', database }),
    } as unknown as PgServer;

    await expect(installStartLsnFunction(pg, '0/16B3748')).resolves.toContain('postgres');

    expect(await server.sql('SELECT aurora_volume_logical_start_lsn()::text AS lsn')).toEqual([{ lsn: '0/16B3748' }]);
    await expect(server.sql('CREATE TABLE t (id int)')).rejects.toThrow(/CREATE TABLE refused/);
  });
});
