import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPgDatabase } from '../../lambdas/aws/pg-database';
import { RetryableAwsError } from '../../lambdas/domain/errors';
import { startPostgres, type TestServer } from '../support/postgres';

const PASSWORD = 'Very-Secret-Pa55word';

/** The error a connect attempt failed with (a session that opens fails the test). */
async function connectError(attempt: Promise<unknown>): Promise<Error & { code?: string; cause?: unknown }> {
  return attempt.then(
    () => {
      throw new Error('the connection unexpectedly succeeded');
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

describe('the pg Database adapter (real PostgreSQL)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql(`CREATE ROLE deployer LOGIN SUPERUSER PASSWORD '${PASSWORD}'`);
    // The deployer must authenticate with its password; everyone else keeps trust (test setup).
    const hba = join(server.dataDir, 'pg_hba.conf');
    writeFileSync(hba, `host all deployer 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await server.sql('SELECT pg_reload_conf()');
  });
  afterAll(async () => server?.stop());

  const target = () => ({ clusterId: 'orders-prod', host: server.host, port: server.port });

  it('opens a session as "bluegreen" with its backend pid, through resolve()', async () => {
    const database = createPgDatabase({
      credentials: async () => ({ username: 'deployer', password: PASSWORD }),
      ssl: false,
      resolve: () => ({ host: server.host, port: server.port }),
    });
    const session = await database.connect(
      { clusterId: 'orders-prod', host: 'orders-prod.cluster-x.rds.amazonaws.com', port: 5432 },
      'postgres',
    );
    try {
      const me = await session.query<{ pid: number; application_name: string; usename: string }>(
        'SELECT pid, application_name, usename FROM pg_stat_activity WHERE pid = pg_backend_pid()',
      );
      expect(me.rows).toEqual([{ pid: session.pid, application_name: 'bluegreen', usename: 'deployer' }]);
      const multi = await session.query<{ b: number }>('SELECT 1 AS a; SELECT 2 AS b');
      expect(multi.rows).toEqual([{ b: 2 }]);
    } finally {
      await session.close();
    }
  });

  it('never puts the password in a connection error, but names host, port, database and user', async () => {
    const database = createPgDatabase({
      credentials: async () => ({ username: 'deployer', password: `${PASSWORD}-wrong` }),
      ssl: false,
    });

    const error = await connectError(database.connect(target(), 'postgres'));

    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(RetryableAwsError);
    expect(error.message).toContain(`database "postgres" on ${server.host}:${server.port} as user "deployer"`);
    expect(error.message).toContain('password authentication failed');
    expect(error.code).toBe('28P01');
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
    expect(String(error.cause ?? '')).not.toContain(PASSWORD);
  });

  it('maps a refused connection to RetryableAwsError', async () => {
    const database = createPgDatabase({
      credentials: async () => ({ username: 'deployer', password: PASSWORD }),
      ssl: false,
      connectTimeoutMs: 2_000,
    });

    const error = await connectError(database.connect({ ...target(), port: 1 }, 'postgres'));

    expect(error).toBeInstanceOf(RetryableAwsError);
    expect(error.message).toMatch(/Could not connect to database "postgres" on 127\.0\.0\.1:1 .*ECONNREFUSED/);
    expect(error.message).not.toContain(PASSWORD);
  });

  it('maps a session terminated by the server (57P01) to RetryableAwsError and passes SQL errors through', async () => {
    const database = createPgDatabase({
      credentials: async () => ({ username: 'deployer', password: PASSWORD }),
      ssl: false,
    });
    const victim = await database.connect(target(), 'postgres');
    await expect(victim.query('SELECT nope')).rejects.toMatchObject({ code: '42703', position: '8' });

    await server.sql('SELECT pg_terminate_backend($1)', [victim.pid]);
    await new Promise((r) => setTimeout(r, 100));

    await expect(victim.query('SELECT 1')).rejects.toBeInstanceOf(RetryableAwsError);
    await victim.close();
  });

  it("gives a subscriber a connection string it can log in with, whatever the password's characters", async () => {
    const awkward = "it's a \\ 'quoted' pass";
    await server.sql(`CREATE ROLE awkward LOGIN SUPERUSER PASSWORD ${'$pw$'}${awkward}${'$pw$'}`);
    const hba = join(server.dataDir, 'pg_hba.conf');
    writeFileSync(hba, `host all awkward 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await server.sql('SELECT pg_reload_conf()');
    await server.sql('CREATE DATABASE subscriber');
    const database = createPgDatabase({
      credentials: async () => ({ username: 'awkward', password: awkward }),
      ssl: false,
      resolve: () => ({ host: server.host, port: server.port }),
    });
    const conninfo = await database.replicationConninfo(
      { clusterId: 'orders-prod', host: 'orders-prod.cluster-x.rds.amazonaws.com', port: 5432 },
      'postgres',
    );
    expect(conninfo).toContain(`host='${server.host}' port='${server.port}' dbname='postgres' user='awkward'`);
    expect(conninfo).toMatch(/sslmode=disable$/);

    // CREATE SUBSCRIPTION logs in to the publisher at once (to check the publication), through libpq.
    const literal = `'${conninfo.replace(/'/g, "''")}'`;
    const subscribe = `CREATE SUBSCRIPTION probe CONNECTION ${literal} PUBLICATION none
      WITH (create_slot = false, enabled = false, slot_name = NONE)`;
    await server.sql(subscribe, [], 'subscriber');
    await server.sql('DROP SUBSCRIPTION probe', [], 'subscriber');

    const wrong = createPgDatabase({
      credentials: async () => ({ username: 'awkward', password: 'wrong' }),
      ssl: false,
    });
    const bad = await wrong.replicationConninfo(target(), 'postgres');
    await expect(
      server.sql(subscribe.replace(literal, `'${bad.replace(/'/g, "''")}'`), [], 'subscriber'),
    ).rejects.toThrow(/password authentication failed/);
  });

  it('asks the subscriber for TLS (sslmode=require) where the workflow itself uses TLS', async () => {
    const database = createPgDatabase({
      credentials: async () => ({ username: 'deployer', password: PASSWORD }),
      ssl: { rejectUnauthorized: true },
    });
    const conninfo = await database.replicationConninfo(target(), 'app');
    expect(conninfo).toMatch(/ sslmode=require$/);
    expect(conninfo).toContain(`password='${PASSWORD}'`);
  });
});
