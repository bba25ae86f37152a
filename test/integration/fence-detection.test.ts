import { Client } from 'pg';
import { WritesAfterFence } from '../../lambdas/domain/errors';
import type { ExecutionDocument } from '../../lambdas/domain/document';
import { checkFenceHeld } from '../../lambdas/steps/check-fence-held';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { unfenceBlue } from '../../lambdas/steps/unfence';
import { makeDocument, realClock, testDatabase } from '../support/documents';
import { startBlue } from '../support/fence-fixtures';
import type { TestServer } from '../support/postgres';

/**
 * Writers a database default cannot stop, on real PostgreSQL: each opens its session after the
 * fence and turns read-only off its own way. The fence cannot refuse them; CheckFenceHeld must
 * find what they changed, naming the database and the table.
 */

const database = testDatabase();

/** The rogues' sessions are ended by the check itself, which publishes their counters. */
const statsFlushed = async () => undefined;
const OPTIONS = { settleMs: 200, pollMs: 50, waitMs: 2_000 };

describe('writes after the fence are detected (real PostgreSQL)', () => {
  let blue: TestServer;
  let n = 0;
  let doc: ExecutionDocument;
  const clients: Client[] = [];

  async function open(extra: Record<string, unknown> = {}, db = 'app'): Promise<Client> {
    const client = new Client({ host: blue.host, port: blue.port, user: 'postgres', database: db, ...extra });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    return client;
  }

  beforeAll(async () => {
    blue = await startBlue();
    await blue.sql('CREATE DATABASE ledger');
    await blue.sql('CREATE TABLE entries (id int PRIMARY KEY)', [], 'ledger');
    await blue.sql('CREATE SEQUENCE invoice_no', [], 'app');
    await blue.sql("INSERT INTO orders (note) VALUES ('before the fence')", [], 'app');
  });
  beforeEach(async () => {
    doc = makeDocument(blue, { input: { executionId: `execution-detect-${++n}` } });
    doc.fence = await fenceWrites(doc, { database, clock: realClock }, { pollMs: 50, graceMs: 100 });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await unfenceBlue(doc, { database });
  });
  afterAll(async () => {
    await blue?.stop();
  });

  it('proves nothing changed when only readers and read-only sessions came ', async () => {
    const reader = await open();
    await reader.query('SELECT count(*) FROM orders');
    await expect(reader.query("INSERT INTO orders (note) VALUES ('refused')")).rejects.toMatchObject({ code: '25006' });
    await statsFlushed();

    await expect(checkFenceHeld(doc, { database, clock: realClock }, 'before-open', OPTIONS)).resolves.toMatchObject({
      proven: true,
      databases: ['app', 'ledger', 'postgres'],
    });
  });

  it('detects SET default_transaction_read_only = off, naming database and table (rolls back before OpenGreen)', async () => {
    const rogue = await open();
    await rogue.query('SET default_transaction_read_only = off');
    await rogue.query("INSERT INTO orders (note) VALUES ('after the fence'), ('and another')");
    await statsFlushed();

    const failure = checkFenceHeld(doc, { database, clock: realClock }, 'before-open', OPTIONS);

    await expect(failure).rejects.toBeInstanceOf(WritesAfterFence);
    await expect(failure).rejects.toThrow(/rolling back.*database app, public\.orders: 2 row\(s\) inserted/);
  });

  it('detects BEGIN READ WRITE in another database (updates and deletes), and keeps blue before DeleteBlue', async () => {
    const rogue = await open({}, 'ledger');
    await rogue.query('BEGIN READ WRITE');
    await rogue.query('INSERT INTO entries VALUES (1), (2)');
    await rogue.query('DELETE FROM entries WHERE id = 1');
    await rogue.query('COMMIT');
    await statsFlushed();

    const failure = checkFenceHeld(doc, { database, clock: realClock }, 'before-delete', OPTIONS);

    await expect(failure).rejects.toBeInstanceOf(WritesAfterFence);
    await expect(failure).rejects.toThrow(
      /blue was kept \(not deleted\).*database ledger, public\.entries: 2 row\(s\) inserted, 1 row\(s\) deleted/,
    );
  });

  it('detects options=-c default_transaction_read_only=off: a TRUNCATE, a nextval, and a write still uncommitted', async () => {
    const rogue = await open({ options: '-c default_transaction_read_only=off' });
    await rogue.query('TRUNCATE orders');
    await rogue.query("SELECT nextval('invoice_no')");
    const open_ = await open({ options: '-c default_transaction_read_only=off' }, 'ledger');
    await open_.query('BEGIN');
    await open_.query('INSERT INTO entries VALUES (100)');
    await statsFlushed();

    const failure = checkFenceHeld(doc, { database, clock: realClock }, 'before-open', OPTIONS);

    await expect(failure).rejects.toThrow(/database app, public\.orders: rewritten \(TRUNCATE/);
    await expect(failure).rejects.toThrow(/database app, public\.invoice_no: sequence moved from unused to 1/);
    // Ended by the check, it rolled back, but its attempted insert is counted all the same.
    await expect(failure).rejects.toThrow(/database ledger, public\.entries: 1 row\(s\) inserted/);
  });

  it('detects a large object written after the fence', async () => {
    const rogue = await open({ options: '-c default_transaction_read_only=off' });
    await rogue.query("SELECT lo_from_bytea(0, 'after the fence')");
    await statsFlushed();

    await expect(checkFenceHeld(doc, { database, clock: realClock }, 'before-open', OPTIONS)).rejects.toThrow(
      /database app, pg_catalog\.pg_largeobject(_metadata)?: 1 row\(s\) inserted/,
    );
  });
});
