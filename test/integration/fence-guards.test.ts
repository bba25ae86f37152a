import { PreconditionFailed } from '../../lambdas/domain/errors';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { unfenceBlue } from '../../lambdas/steps/unfence';
import { makeDocument, realClock, testDatabase } from '../support/documents';
import { canWrite, startBlue } from '../support/fence-fixtures';
import type { TestServer } from '../support/postgres';

const database = testDatabase();

describe('the fence refuses, before changing anything, what a database default would not stop', () => {
  let blue: TestServer;
  const doc = makeDocument({ host: '127.0.0.1', port: 0 }, { input: { executionId: 'execution-guards' } });
  const fence = () => fenceWrites(doc, { database, clock: realClock }, { pollMs: 50 });

  /** Nothing changed: no database-level read-only default, no fence row, new sessions write. */
  async function expectNothingChanged(): Promise<void> {
    expect(
      await blue.sql(
        `SELECT d.datname FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
          WHERE s.setrole = 0 AND array_to_string(s.setconfig, ',') LIKE '%default_transaction_read_only%'`,
      ),
    ).toEqual([]);
    expect(await blue.sql('SELECT 1 FROM bluegreen.fence WHERE execution_id = $1', [doc.input.executionId])).toEqual(
      [],
    );
    expect(await canWrite(blue)).toBe(true);
    expect(await canWrite(blue, 'app_user')).toBe(true);
  }

  beforeAll(async () => {
    blue = await startBlue({ settings: { max_prepared_transactions: '4' } });
    await blue.sql('CREATE ROLE app_user LOGIN');
    await blue.sql('CREATE ROLE app_owner NOLOGIN');
    await blue.sql('GRANT ALL ON orders, orders_id_seq TO app_user', [], 'app');
    doc.blue = { ...doc.blue!, endpoint: blue.host, port: blue.port };
  });
  afterAll(async () => {
    await blue?.stop();
  });

  it('refuses a role-level default_transaction_read_only = off for a role that can log in', async () => {
    await blue.sql('ALTER ROLE app_user SET default_transaction_read_only = off');

    const failure = fence();

    await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(failure).rejects.toThrow(
      /nothing was changed\. A role-level setting .*role app_user has default_transaction_read_only = off \(fix: ALTER ROLE "app_user" RESET default_transaction_read_only\)/,
    );
    await expectNothingChanged();
    await blue.sql('ALTER ROLE app_user RESET default_transaction_read_only');
  });

  it('refuses the same setting scoped to a database (ALTER ROLE … IN DATABASE …)', async () => {
    await blue.sql('ALTER ROLE app_user IN DATABASE app SET default_transaction_read_only = false');

    const failure = fence();

    await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(failure).rejects.toThrow(
      /role app_user has default_transaction_read_only = false in database app \(fix: ALTER ROLE "app_user" IN DATABASE "app" RESET default_transaction_read_only\)/,
    );
    await expectNothingChanged();
    await blue.sql('ALTER ROLE app_user IN DATABASE app RESET default_transaction_read_only');
  });

  it('refuses a prepared transaction, which COMMIT PREPARED could still commit after the fence', async () => {
    const client = await blue.client('app', { user: 'app_user' });
    await client.query('BEGIN');
    await client.query("INSERT INTO orders (note) VALUES ('in doubt')");
    await client.query("PREPARE TRANSACTION 'orders-batch-42'");
    await client.end();
    try {
      const failure = fence();

      await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
      await expect(failure).rejects.toThrow(
        /1 prepared transaction\(s\) .*'orders-batch-42' in database app \(owner app_user.*COMMIT PREPARED or ROLLBACK PREPARED/,
      );
      await expectNothingChanged();
    } finally {
      await blue.sql("ROLLBACK PREPARED 'orders-batch-42'", [], 'app');
    }
  });

  it('refuses an enabled logical-replication subscription, naming it', async () => {
    // No publisher is needed to have one: created unconnected, then enabled (its worker retries in vain).
    await blue.sql(
      "CREATE SUBSCRIPTION orders_feed CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere connect_timeout=1' PUBLICATION orders WITH (connect = false)",
      [],
      'app',
    );
    await blue.sql('ALTER SUBSCRIPTION orders_feed ENABLE', [], 'app');
    try {
      const failure = fence();

      await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
      await expect(failure).rejects.toThrow(
        /1 enabled logical-replication subscription\(s\) .*orders_feed in database app \(fix: ALTER SUBSCRIPTION "orders_feed" DISABLE there\)/,
      );
      await expectNothingChanged();
    } finally {
      await blue.sql('ALTER SUBSCRIPTION orders_feed DISABLE', [], 'app');
    }
  });

  it('fences normally once fixed, despite harmless settings: a disabled subscription, a NOLOGIN role, a role set to on', async () => {
    await blue.sql('ALTER ROLE app_owner SET default_transaction_read_only = off'); // cannot log in
    await blue.sql('ALTER ROLE app_user SET default_transaction_read_only = on'); // only stricter

    const result = await fence();

    expect(result.changedDatabases).toEqual(['app', 'postgres']);
    expect(await canWrite(blue)).toBe(false);
    expect(await canWrite(blue, 'app_user')).toBe(false);

    await expect(unfenceBlue(doc, { database })).resolves.toEqual(['app', 'postgres']);
    expect(await canWrite(blue)).toBe(true);
  });
});
