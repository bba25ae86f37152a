import { Client } from 'pg';
import { endBlueSessions } from '../../lambdas/steps/end-blue-sessions';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { unfenceBlue } from '../../lambdas/steps/unfence';
import { makeDocument, realClock, testDatabase } from '../support/documents';
import { READ_ONLY, startBlue } from '../support/fence-fixtures';
import type { TestServer } from '../support/postgres';

/**
 * `writeBlock: "read-only"`: applications keep connecting during the fence and get read-only
 * sessions. A pool that keeps its connections across SQL errors (HikariCP) must get its writes
 * back after the rollback, although `ALTER DATABASE … RESET` only reaches new sessions.
 */

const database = testDatabase();

describe('read-only mode: a sticky pool writes again after UnfenceBlue (real PostgreSQL)', () => {
  let blue: TestServer;
  let sticky: Client | undefined;

  beforeAll(async () => {
    blue = await startBlue();
  });
  afterAll(async () => {
    await sticky?.end().catch(() => undefined);
    await blue?.stop();
  });

  it('ends the sessions opened during the fence, so the pool reconnects writable', async () => {
    const doc = makeDocument(blue, { input: { executionId: 'execution-read-only-mode', writeBlock: 'read-only' } });
    doc.fence = await fenceWrites(doc, { database, clock: realClock }, { pollMs: 50, graceMs: 100 });
    // Opened during the fence: read-only, and kept by the pool across the error.
    sticky = await blue.client('app', { applicationName: 'hikari-pool' });
    await expect(sticky.query("INSERT INTO orders (note) VALUES ('during the fence')")).rejects.toMatchObject({
      code: READ_ONLY,
    });
    await expect(sticky.query('SELECT count(*) FROM orders')).resolves.toBeDefined(); // reads work

    await expect(unfenceBlue(doc, { database })).resolves.toEqual(['app', 'postgres']);

    // The kept connection is gone (the pool's next borrow reconnects) rather than read-only forever.
    await expect(sticky.query("INSERT INTO orders (note) VALUES ('after the rollback, old session')")).rejects.toThrow(
      /terminat|not queryable|Connection terminated/,
    );
    const reconnected = await blue.client('app', { applicationName: 'hikari-pool' });
    await expect(reconnected.query("INSERT INTO orders (note) VALUES ('after the rollback')")).resolves.toBeDefined();
    await reconnected.end();
  });

  it('after the CNAME is in sync, ends every session left on blue so that pools reconnect to green', async () => {
    const doc = makeDocument(blue, { input: { executionId: 'execution-cutover', writeBlock: 'read-only' } });
    doc.fence = await fenceWrites(doc, { database, clock: realClock }, { pollMs: 50, graceMs: 100 });
    const reader = await blue.client('app', { applicationName: 'hikari-pool' });
    await expect(reader.query('SELECT count(*) FROM orders')).resolves.toBeDefined();

    const result = await endBlueSessions(doc, { database, clock: realClock });

    expect(result.ended).toBeGreaterThanOrEqual(1);
    await expect(reader.query('SELECT 1')).rejects.toThrow(/terminat|not queryable|Connection terminated/);
    await reader.end().catch(() => undefined);
    await unfenceBlue(doc, { database });
  });
});
