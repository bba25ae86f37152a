import type { Client } from 'pg';
import { FenceIncomplete } from '../../lambdas/domain/errors';
import type { Database, DbSession } from '../../lambdas/ports';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { unfenceBlue } from '../../lambdas/steps/unfence';
import { makeDocument, realClock, testDatabase } from '../support/documents';
import { canWrite, READ_ONLY, startBlue } from '../support/fence-fixtures';
import type { TestServer } from '../support/postgres';

const noSleep = { now: () => new Date(), sleep: async () => undefined };

/** The real adapter, except that `hook` runs (once) just before the fence's first pg_terminate_backend. */
function beforeTerminate(hook: () => Promise<void>, refuse = false): Database {
  const real = testDatabase();
  let hooked = false;
  return {
    replicationConninfo: (target, name) => real.replicationConninfo(target, name),
    async connect(target, name) {
      const session = await real.connect(target, name);
      const wrapped: DbSession = {
        pid: session.pid,
        close: () => session.close(),
        query: async (sql, params) => {
          if (!sql.includes('pg_terminate_backend')) return session.query(sql, params);
          if (!hooked) {
            hooked = true;
            await hook();
          }
          if (refuse) {
            throw Object.assign(new Error('permission denied to terminate process'), { code: '42501' });
          }
          return session.query(sql, params);
        },
      };
      return wrapped;
    },
  };
}

describe('un-fence after a fence that failed part-way (real PostgreSQL)', () => {
  let blue: TestServer;
  const database = testDatabase();

  beforeAll(async () => {
    blue = await startBlue({ settings: { max_prepared_transactions: '4' }, archive: true });
  });
  afterAll(async () => {
    await blue?.stop();
  });

  it('is a no-op when the fence never started: no fence table, no row, or a dry run', async () => {
    const doc = makeDocument(blue, { input: { executionId: 'execution-never-fenced' } });
    await expect(unfenceBlue(doc, { database })).resolves.toEqual([]); // bluegreen.fence does not exist
    expect(await blue.sql("SELECT to_regclass('bluegreen.fence') AS t")).toEqual([{ t: null }]);
    await expect(unfenceBlue({ ...doc, blue: undefined }, { database })).resolves.toEqual([]);
    await expect(
      unfenceBlue(makeDocument(blue, { input: { executionId: 'x', dryRun: true } }), { database }),
    ).resolves.toEqual([]);
    expect(await canWrite(blue)).toBe(true);
  });

  it('resets what a fence that failed with FenceIncomplete changed, though $.fence was never set', async () => {
    const stubborn: Client = await blue.client('app', { applicationName: 'reporting-job' });
    const doc = makeDocument(blue, { input: { executionId: 'execution-incomplete' } });
    try {
      const failure = fenceWrites(
        doc,
        { database: beforeTerminate(async () => undefined, true), clock: noSleep },
        { waitMs: 1_000, pollMs: 500 },
      );
      await expect(failure).rejects.toBeInstanceOf(FenceIncomplete);
    } finally {
      await stubborn.end();
    }
    expect(doc.fence).toBeUndefined(); // as in the state machine: the Catch records only $.error
    expect(await canWrite(blue)).toBe(false); // the ALTERs did happen

    await expect(unfenceBlue(doc, { database })).resolves.toEqual(['app', 'postgres']);

    expect(await canWrite(blue)).toBe(true);
    expect(await blue.sql("SELECT current_setting('default_transaction_read_only') AS ro")).toEqual([{ ro: 'off' }]);
    const archive = await blue.client('archive');
    await expect(archive.query('CREATE TABLE t (x int)')).rejects.toMatchObject({ code: READ_ONLY });
    await archive.end();
    // Idempotent.
    await expect(unfenceBlue(doc, { database })).resolves.toEqual(['app', 'postgres']);
  });

  it("leaves another execution's completed fence alone", async () => {
    const fenced = makeDocument(blue, { input: { executionId: 'execution-completed' } });
    await fenceWrites(fenced, { database, clock: realClock }, { pollMs: 50 });
    expect(await canWrite(blue)).toBe(false);

    const other = makeDocument(blue, { input: { executionId: 'execution-that-failed-before-fencing' } });
    await expect(unfenceBlue(other, { database })).resolves.toEqual([]);
    expect(await canWrite(blue)).toBe(false);

    await expect(unfenceBlue(fenced, { database })).resolves.toEqual(['app', 'postgres']);
    expect(await canWrite(blue)).toBe(true);
  });

  it('fails with FenceIncomplete when a transaction is prepared while sessions are being ended, and un-fences', async () => {
    // Connected before the fence, so read-write: it prepares a transaction in the window between
    // the fence's checks and the end of its session; the prepared transaction survives that end.
    const racer = await blue.client('app', { applicationName: 'orders-api' });
    const doc = makeDocument(blue, { input: { executionId: 'execution-prepared-race' } });
    try {
      const failure = fenceWrites(
        doc,
        {
          database: beforeTerminate(async () => {
            await racer.query('BEGIN');
            await racer.query("INSERT INTO orders (note) VALUES ('prepared during the fence')");
            await racer.query("PREPARE TRANSACTION 'late-gid'");
          }),
          clock: realClock,
        },
        { pollMs: 50 },
      );
      await expect(failure).rejects.toBeInstanceOf(FenceIncomplete);
      await expect(failure).rejects.toThrow(/prepared transaction\(s\).*'late-gid' in database app/);
      const rows = await blue.sql('SELECT lsn FROM bluegreen.fence WHERE execution_id = $1', [doc.input.executionId]);
      expect(rows).toEqual([{ lsn: null }]); // no fence row: the clone could not be trusted
    } finally {
      await racer.end().catch(() => undefined);
      await blue.sql("ROLLBACK PREPARED 'late-gid'", [], 'app').catch(() => undefined);
    }

    expect(await blue.sql('SELECT gid FROM pg_prepared_xacts')).toEqual([]);
    await expect(unfenceBlue(doc, { database })).resolves.toEqual(['app', 'postgres']);
    expect(await canWrite(blue)).toBe(true);
  });
});
