import type { ExecutionDocument } from '../../lambdas/domain/document';
import { PreconditionFailed, ReplicationFailed } from '../../lambdas/domain/errors';
import type { Ports } from '../../lambdas/ports';
import { resetReadOnly, withSession } from '../../lambdas/steps/db';
import {
  checkBlueCaughtUp,
  endFailbackReplication,
  closeGreen,
  failbackNames,
  fenceGreen,
  moveBlueSequences,
  startFailbackReplication,
  stopFailbackReplication,
} from '../../lambdas/steps/failback';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { endBlueSessions } from '../../lambdas/steps/end-blue-sessions';
import { unfenceBlue } from '../../lambdas/steps/unfence';
import { BLUE_ID, clustersStub, GREEN_ID, makeDocument, realClock, testDatabase } from '../support/documents';
import { canWrite, READ_ONLY, startBlue } from '../support/fence-fixtures';
import { eventually, LOGICAL_SETTINGS, type TestServer } from '../support/postgres';

/**
 * Failback on real PostgreSQL (docs/failback.md): blue is fenced and cloned; green takes a
 * migration and, after the cutover, application writes; blue follows them while fenced; failing
 * back fences green, waits for blue to catch up, moves blue's sequences, removes the reverse
 * replication and un-fences blue, which then takes writes without a duplicate key.
 */

const FAST_FENCE = { graceMs: 100, pollMs: 50, waitMs: 10_000 };

/** A statement on fenced blue, in a session that turns the read-only default off (as the workflow's do). */
async function onBlueAsAdmin(blue: TestServer, sql: string): Promise<void> {
  const client = await blue.client('app');
  try {
    await client.query('SET default_transaction_read_only = off');
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function ids(server: TestServer): Promise<number[]> {
  const rows = await server.sql<{ id: string }>('SELECT id FROM orders ORDER BY id', [], 'app');
  return rows.map((r) => Number(r.id));
}

describe('failback after cutover (real PostgreSQL)', () => {
  let blue: TestServer;
  let green: TestServer;
  let doc: ExecutionDocument;
  let ports: Pick<Ports, 'database' | 'clusters' | 'clock'>;

  beforeAll(async () => {
    blue = await startBlue({ settings: LOGICAL_SETTINGS });
    await blue.sql(
      "INSERT INTO orders (note) SELECT 'before the cutover ' || g FROM generate_series(1, 5) g",
      [],
      'app',
    );
    ports = { database: testDatabase(), clusters: clustersStub({}), clock: realClock };
    doc = makeDocument(blue, { input: { failback: true, checkWindowSeconds: 0 } });
    // The cutover's freeze: blue fenced, then cloned (the clone has the fence row and the read-only default).
    doc.fence = await fenceWrites(doc, ports, FAST_FENCE);
    green = await blue.cloneOnline();
    ports = { ...ports, clusters: clustersStub({ [BLUE_ID]: blue, [GREEN_ID]: green }) };
    const target = { clusterId: GREEN_ID, host: green.host, port: green.port };
    // VerifyClone's reset on green, then a migration: an added column and a new table.
    await withSession(ports.database, target, 'postgres', (s) => resetReadOnly(s, doc.fence?.changedDatabases ?? []));
    await green.sql("ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'", [], 'app');
    await green.sql('CREATE TABLE green_only (id int PRIMARY KEY)', [], 'app');
  }, 120_000);

  afterAll(async () => {
    await green?.stop();
    await blue?.stop();
  });

  it('refuses, before creating anything, when blue could not apply what green publishes', async () => {
    await green.sql('CREATE TABLE dropped_later (id int PRIMARY KEY)', [], 'app');
    await onBlueAsAdmin(blue, 'CREATE TABLE dropped_later (id int PRIMARY KEY)');
    await green.sql('DROP TABLE dropped_later', [], 'app');
    const failure = startFailbackReplication(doc, ports);
    await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(failure).rejects.toThrow(/public\.dropped_later is on blue but not on green/);
    expect(await green.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await blue.sql('SELECT subname FROM pg_subscription')).toEqual([]);
    await onBlueAsAdmin(blue, 'DROP TABLE dropped_later');
  });

  it("starts at the cutover: green publishes blue's tables (green's extra column left out), blue subscribes", async () => {
    doc.failbackReplication = await startFailbackReplication(doc, ports);
    expect(doc.failbackReplication.databases).toEqual(['app', 'postgres']);
    // The migration's new table is not on blue: blue does not follow it, and the offer says so.
    expect(doc.failbackReplication.notFollowed).toEqual(['app: public.green_only']);
    const names = failbackNames(doc, 'app');
    const published = await green.sql<{ tablename: string; attnames: string[] }>(
      'SELECT tablename, attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1',
      [names.publication],
      'app',
    );
    expect(published).toEqual([{ tablename: 'orders', attnames: ['id', 'note'] }]);
    const subscription = await blue.sql<{ subenabled: boolean; subslotname: string }>(
      'SELECT subenabled, subslotname FROM pg_subscription WHERE subname = $1',
      [names.subscription],
    );
    expect(subscription).toEqual([{ subenabled: true, subslotname: names.slot }]);
    // A re-run (a retried Lambda) finds everything in place.
    await expect(startFailbackReplication(doc, ports)).resolves.toMatchObject({ databases: ['app', 'postgres'] });
  });

  it("streams green's writes into the fenced blue, which stays read-only for applications", async () => {
    await green.sql("INSERT INTO orders (note) SELECT 'on green ' || g FROM generate_series(1, 20) g", [], 'app');
    await green.sql("UPDATE orders SET note = 'changed on green' WHERE id = 1", [], 'app');
    await green.sql('INSERT INTO green_only VALUES (1)', [], 'app');
    const onBlue = await eventually(
      () => ids(blue),
      (list) => list.length === 25,
    );
    expect(onBlue).toEqual(await ids(green));
    expect(await blue.sql('SELECT note FROM orders WHERE id = 1', [], 'app')).toEqual([{ note: 'changed on green' }]);
    expect(await canWrite(blue)).toBe(false);
  });

  it("EndBlueSessions, right after the cutover, leaves blue's apply workers of the reverse replication alone", async () => {
    const worker = async () =>
      (
        await blue.sql<{ pid: number | null }>('SELECT pid FROM pg_stat_subscription WHERE subname = $1', [
          failbackNames(doc, 'app').subscription,
        ])
      )[0]?.pid;
    const before = await worker();
    expect(typeof before).toBe('number');
    await endBlueSessions(doc, ports);
    expect(await worker()).toBe(before);
  });

  it('fails back: green fenced, blue caught up with its fence row, sequences moved, replication gone, blue writable', async () => {
    // Writes right up to the fence must arrive too.
    await green.sql("INSERT INTO orders (note) SELECT 'last on green ' || g FROM generate_series(1, 50) g", [], 'app');
    const walsender = async () =>
      (
        await green.sql<{ active_pid: number | null }>(
          'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
          [failbackNames(doc, 'app').slot],
        )
      )[0]?.active_pid;
    const before = await eventually(walsender, (pid) => typeof pid === 'number');
    doc.greenFence = await fenceGreen(doc, ports, FAST_FENCE);
    expect(await canWrite(green)).toBe(false);
    // Blue's walsender on green only reads: the fence leaves it connected, so blue catches up at once.
    expect(await walsender()).toBe(before);

    let caughtUp = await checkBlueCaughtUp(doc, ports);
    for (let i = 0; !caughtUp.done && i < 100; i++) {
      doc.wait = { ...doc.wait, blueCaughtUp: caughtUp };
      await new Promise((resolve) => setTimeout(resolve, 100));
      caughtUp = await checkBlueCaughtUp({ ...doc, input: { ...doc.input, maxPolls: 1000 } }, ports);
    }
    expect(caughtUp).toMatchObject({ done: true, status: 'caught up' });
    expect(await blue.sql("SELECT execution_id FROM bluegreen.fence WHERE execution_id LIKE '%:failback'")).toEqual([
      { execution_id: `${doc.input.executionId}:failback` },
    ]);
    expect(await ids(blue)).toEqual(await ids(green));

    doc.failbackSequences = await moveBlueSequences(doc, ports);
    expect(doc.failbackSequences.moved).toBeGreaterThanOrEqual(1);

    // Blue's subscriptions go; green's slots stay until EndGreenSessions has looked at them.
    doc.failbackStopped = await endFailbackReplication(doc, ports);
    expect(doc.failbackStopped.databases).toEqual(['app', 'postgres']);
    expect(await blue.sql('SELECT subname FROM pg_subscription')).toEqual([]);
    const slotsOnGreen = async () =>
      (await green.sql<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map(
        (r) => r.slot_name,
      );
    const failbackSlotNames = ['app', 'postgres'].map((d) => failbackNames(doc, d).slot).sort();
    expect(await slotsOnGreen()).toEqual(failbackSlotNames);

    await unfenceBlue(doc, ports);

    // A session on green after blue caught up that turned read-only off: blue lacks its write.
    const rogue = await green.client('app', { applicationName: 'orders-api' });
    await rogue.query("BEGIN READ WRITE; INSERT INTO orders (note) VALUES ('late on green'); COMMIT");
    await expect(closeGreen(doc, ports)).rejects.toThrow(
      /Green .* took writes after blue caught up with it .*database app: 1 row change\(s\) in orders\. .*Green is kept, fenced, with its failback slots as the evidence/,
    );
    await expect(rogue.query('SELECT 1')).rejects.toThrow();
    await rogue.end().catch(() => undefined);
    expect(await slotsOnGreen()).toEqual(failbackSlotNames);
    // Once the row was copied to blue by hand and the slot read past it, green's slots go.
    await green.sql(
      `SELECT pg_replication_slot_advance('${failbackNames(doc, 'app').slot}', pg_current_wal_lsn())`,
      [],
      'app',
    );
    const closed = await closeGreen(doc, ports);
    expect(closed.localChanges).toBe(0);
    expect(await slotsOnGreen()).toEqual([]);
    expect(await green.sql('SELECT pubname FROM pg_publication', [], 'app')).toEqual([]);
    // Idempotent: a retry finds nothing left to remove.
    await expect(stopFailbackReplication(doc, ports)).resolves.toMatchObject({ databases: [] });

    expect(await canWrite(blue)).toBe(true);
    // The next id on blue is past every id green handed out: no duplicate key.
    const greenMax = Math.max(...(await ids(green)));
    const next = await blue.sql<{ id: string }>(
      "INSERT INTO orders (note) VALUES ('after failback') RETURNING id",
      [],
      'app',
    );
    expect(Number(next[0]?.id)).toBeGreaterThan(greenMax);
  });
});

describe('failback when the reverse stream broke during the retention (real PostgreSQL)', () => {
  let blue: TestServer;
  let green: TestServer;

  afterAll(async () => {
    await green?.stop();
    await blue?.stop();
  });

  it('stops at once with ReplicationFailed, says what to do, and leaves green fenced with every write', async () => {
    blue = await startBlue({ settings: LOGICAL_SETTINGS });
    let ports: Pick<Ports, 'database' | 'clusters' | 'clock'> = {
      database: testDatabase(),
      clusters: clustersStub({}),
      clock: realClock,
    };
    const doc = makeDocument(blue, { input: { failback: true, checkWindowSeconds: 0 } });
    doc.fence = await fenceWrites(doc, ports, FAST_FENCE);
    green = await blue.cloneOnline();
    ports = { ...ports, clusters: clustersStub({ [BLUE_ID]: blue, [GREEN_ID]: green }) };
    const target = { clusterId: GREEN_ID, host: green.host, port: green.port };
    await withSession(ports.database, target, 'postgres', (s) => resetReadOnly(s, doc.fence?.changedDatabases ?? []));
    doc.failbackReplication = await startFailbackReplication(doc, ports);

    // DDL on green during the retention: blue has no table of the new name, so its apply stops.
    await green.sql('ALTER TABLE orders RENAME TO orders_v2', [], 'app');
    await green.sql("INSERT INTO orders_v2 (note) VALUES ('after the rename')", [], 'app');
    doc.greenFence = await fenceGreen(doc, ports, FAST_FENCE);

    const checked = { ...doc, input: { ...doc.input, maxPolls: 1000 } };
    let failure: unknown;
    for (let i = 0; i < 100 && !failure; i++) {
      try {
        const state = await checkBlueCaughtUp(checked, ports);
        expect(state.done).toBe(false);
        checked.wait = { ...checked.wait, blueCaughtUp: state };
        await new Promise((resolve) => setTimeout(resolve, 100));
      } catch (error) {
        failure = error;
      }
    }
    expect(failure).toBeInstanceOf(ReplicationFailed);
    expect(String(failure)).toMatch(/cannot apply green's changes in database app/);
    expect(String(failure)).toMatch(/RESET default_transaction_read_only on green/);
    // Nothing was lost: green, fenced, still has the write; blue does not.
    await expect(green.sql("INSERT INTO orders_v2 (note) VALUES ('refused')", [], 'app')).rejects.toMatchObject({
      code: READ_ONLY,
    });
    expect(
      await green.sql("SELECT count(*)::int AS n FROM orders_v2 WHERE note = 'after the rename'", [], 'app'),
    ).toEqual([{ n: 1 }]);
  }, 120_000);
});
