import { Client } from 'pg';
import type { ExecutionDocument } from '../../lambdas/domain/document';
import type { Clock, Ports } from '../../lambdas/ports';
import {
  catchUpGreen,
  checkReplication,
  prepareGreenReplication,
  prepareReplication,
  removeReplication,
  startReplication,
  switchoverFence,
} from '../../lambdas/steps/replication-workflow';
import { ddlGuardNames, replicationPrefix } from '../../lambdas/steps/replication';
import { guardGreen, unguardGreen } from '../../lambdas/steps/green-guard';
import { closeBlue } from '../../lambdas/steps/close-blue';
import { clustersStub, GREEN_ID, makeDocument, realClock, testDatabase } from '../support/documents';
import { startBlue } from '../support/fence-fixtures';
import type { TestServer } from '../support/postgres';

/**
 * The online mode's steps end to end on real PostgreSQL: blue keeps taking writes while green is
 * cloned, subscribed from its start LSN and caught up; the switchover fences blue, waits for
 * green to confirm, and removes the replication. Every write blue acknowledged is on green.
 */

const LOGICAL = { wal_level: 'logical', wal_retrieve_retry_interval: '200ms', max_prepared_transactions: '2' };
const database = testDatabase();

/** Inserts into blue's orders as fast as it can, keeping every id blue acknowledged. */
function startWriter(blue: TestServer) {
  const acknowledged: number[] = [];
  let paused = false;
  let stopped = false;
  const loop = (async () => {
    let client: Client | undefined;
    while (!stopped) {
      if (paused) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      try {
        client ??= await blue.client('app', { applicationName: 'orders-api' });
        const r = await client.query<{ id: string }>("INSERT INTO orders (note) VALUES ('online') RETURNING id");
        acknowledged.push(Number(r.rows[0]!.id));
      } catch {
        // Fenced (read-only) or ended: reconnect, as a pool would.
        await client?.end().catch(() => undefined);
        client = undefined;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    acknowledged,
    pause: () => (paused = true),
    resume: () => (paused = false),
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function asWorkflow(server: TestServer, db: string, sql: string): Promise<void> {
  const client = await server.client(db);
  try {
    await client.query('SET bluegreen.allow_ddl = on; SET default_transaction_read_only = off');
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('online mode on real PostgreSQL: prepare, clone, replicate, switch over', () => {
  /** CatchUpGreen's part that CloseBlue follows: the DDL guard goes, the slots stay. */
  const removeDdlGuards = async (d: ExecutionDocument) => {
    for (const entry of d.replication?.databases ?? []) {
      await asWorkflow(
        blue,
        entry.database,
        `DROP EVENT TRIGGER IF EXISTS ${ddlGuardNames(d.input.executionId).trigger}`,
      );
    }
  };
  let blue: TestServer;
  let green: TestServer | undefined;
  const servers: Record<string, TestServer> = {};
  const clock: Clock = realClock;
  const ports = () =>
    ({ database, clock, clusters: clustersStub(servers) }) as Pick<Ports, 'database' | 'clock' | 'clusters'>;
  let doc: ExecutionDocument;

  beforeAll(async () => {
    blue = await startBlue({ settings: LOGICAL });
    await blue.sql("INSERT INTO orders (note) SELECT 'seed' FROM generate_series(1, 100)", [], 'app');
    doc = makeDocument(blue, { input: { mode: 'online', executionName: 'online-it', maxPolls: 200 } });
  }, 60_000);

  afterAll(async () => {
    await green?.stop();
    await blue?.stop();
  });

  it('switches over with every acknowledged write on green, and leaves no replication behind', async () => {
    const writer = startWriter(blue);
    try {
      doc.replication = await prepareReplication(doc, ports());
      expect(doc.replication.databases.map((d) => d.database)).toEqual(['app', 'postgres']);
      expect(doc.replication.databases.every((d) => d.ddlGuard)).toBe(true);
      await expect(blue.sql('ALTER TABLE orders ADD COLUMN x int', [], 'app')).rejects.toThrow(/online-it/);

      // The clone, at a point known exactly: writes pause around it (H3's local cloud gives the exact LSN).
      writer.pause();
      await new Promise((r) => setTimeout(r, 50));
      // A CDC consumer's slot on blue: the clone inherits a copy of it, as an Aurora clone does.
      await blue.sql("SELECT pg_create_logical_replication_slot('debezium_orders', 'pgoutput')", [], 'app');
      green = await blue.cloneOnline({ keepReplicationSlots: true });
      await blue.sql("SELECT pg_drop_replication_slot('debezium_orders')", [], 'app');
      servers[GREEN_ID] = green;
      const startLsn = (await blue.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
      writer.resume();
      await asWorkflow(
        green,
        'postgres',
        `CREATE FUNCTION aurora_volume_logical_start_lsn() RETURNS pg_lsn LANGUAGE sql AS $$ SELECT '${startLsn}'::pg_lsn $$`,
      );

      doc.greenReplication = await prepareGreenReplication(doc, ports());
      expect(doc.greenReplication.startLsn).toBe(startLsn);
      expect(doc.greenReplication.dropped).toEqual(expect.arrayContaining(['DDL guard (app)', 'DDL guard (postgres)']));
      // The CDC slot's copy is reported (the approval tells its consumer what to do) and kept...
      expect(doc.greenReplication.inheritedSlots).toEqual([
        expect.objectContaining({ name: 'debezium_orders', database: 'app', dropped: false }),
      ]);
      // ...unless a major upgrade is ahead: Aurora's precheck refuses one while a logical slot exists.
      const major = {
        ...doc,
        input: { ...doc.input, targetEngineVersion: '17.7' },
        blue: { ...doc.blue!, upgrade: { isMajor: true, targetFamily: 'aurora-postgresql17' } },
      } as ExecutionDocument;
      const again = await prepareGreenReplication(major, ports());
      expect(again.inheritedSlots).toEqual([expect.objectContaining({ name: 'debezium_orders', dropped: true })]);
      expect(await green.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'debezium_orders'")).toEqual([]);
      // Green takes its migrations (a nullable column: replication matches columns by name).
      await green.sql('ALTER TABLE orders ADD COLUMN status text', [], 'app');

      doc.replicationStart = await startReplication(doc, ports());
      expect(doc.replicationStart.originAdvancedTo).toBe(startLsn);
      for (let i = 0; !doc.wait?.replication?.done; i++) {
        doc.wait = { ...doc.wait, replication: await checkReplication(doc, ports()) };
        if (!doc.wait.replication!.done) await new Promise((r) => setTimeout(r, 50));
        expect(i).toBeLessThan(150);
      }
      expect(doc.wait.replication!.lagBytes).toBeLessThanOrEqual(doc.input.replication.maxLagBytes);

      // Green is guarded before it is opened (before the freeze): an application's write that
      // reached green directly would bypass the replication.
      doc.greenGuard = await guardGreen(doc, ports());
      expect(doc.greenGuard.changedDatabases).toEqual(['app', 'postgres']);
      const direct = await green.client('app', { applicationName: 'orders-api' });
      try {
        await expect(direct.query("INSERT INTO orders (note) VALUES ('direct to green')")).rejects.toThrow(
          /read-only transaction/,
        );
      } finally {
        await direct.end();
      }
      // The apply worker ignores the database's default: blue's new writes still reach green.
      const before = writer.acknowledged.length;
      for (let i = 0; writer.acknowledged.length < before + 5; i++) {
        expect(i).toBeLessThan(200);
        await new Promise((r) => setTimeout(r, 20));
      }
      const latest = writer.acknowledged[writer.acknowledged.length - 1]!;
      for (let i = 0; ; i++) {
        const seen = await green.sql('SELECT 1 FROM orders WHERE id = $1', [latest], 'app');
        if (seen.length) break;
        expect(i).toBeLessThan(200);
        await new Promise((r) => setTimeout(r, 20));
      }

      const walsender = async () =>
        (
          await blue.sql<{ active_pid: number }>('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [
            doc.replication!.databases[0]!.slot,
          ])
        )[0]?.active_pid;
      const streaming = await walsender();
      expect(streaming).toEqual(expect.any(Number));

      const frozenAt = Date.now();
      doc.fence = await switchoverFence(doc, ports());
      // The fence left the replication's walsender alone: it carries the fence row to green.
      expect(await walsender()).toBe(streaming);
      expect(doc.fence.terminatedSessions).toBeGreaterThanOrEqual(1); // the writer's session
      doc.switchover = await catchUpGreen(doc, ports());
      // Lifted with SQL at the switchover: green takes writes again.
      doc.greenUnguard = await unguardGreen(doc, ports());
      const freezeMs = Date.now() - frozenAt;
      expect(doc.greenUnguard.databases).toEqual(['app', 'postgres']);

      expect(doc.switchover.fenceRowApplied).toBe(true);
      expect(doc.switchover.sequencesMoved).toBeGreaterThanOrEqual(1);
      // The slots stay until CloseBlue, once nothing can reach blue: they would show a late write.
      expect(doc.switchover.removed).toEqual([
        ...doc.replication.databases.map((d) => `subscription ${d.subscription}`),
        'DDL guard (app)',
        'DDL guard (postgres)',
      ]);
      doc.blueClosed = await closeBlue(doc, ports());
      expect(doc.blueClosed.localChanges).toBe(0);
      expect(doc.blueClosed.removed).toEqual(
        doc.replication.databases.flatMap((d) => [`slot ${d.slot}`, `publication ${d.publication}`]),
      );
      // Freeze without the offline fence's 2 s grace looks or the statistics settle.
      expect(freezeMs).toBeLessThan(5_000);
    } finally {
      await writer.stop();
    }

    expect(writer.acknowledged.length).toBeGreaterThan(10);
    const ids = (server: TestServer) =>
      server
        .sql<{ id: number }>('SELECT id::int AS id FROM orders ORDER BY orders.id', [], 'app')
        .then((r) => r.map((x) => x.id));
    const onGreen = await ids(green!);
    expect(onGreen).toEqual(await ids(blue));
    expect(writer.acknowledged.filter((id) => !onGreen.includes(id))).toEqual([]);
    // Green's next id is past every id blue handed out.
    // A new session on green writes (nextval is refused in a read-only transaction).
    const next = await green!.sql<{ id: number }>("SELECT nextval('orders_id_seq')::int AS id", [], 'app');
    expect(next[0]!.id).toBeGreaterThan(Math.max(...onGreen));
    // Nothing left: no slot retaining WAL on blue, no subscription on green, no guard on blue.
    expect(await blue.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await green!.sql('SELECT subname FROM pg_subscription')).toEqual([]);
    expect(await blue.sql('SELECT evtname FROM pg_event_trigger', [], 'app')).toEqual([]);
    expect(await blue.sql('SELECT pubname FROM pg_publication', [], 'app')).toEqual([]);
  });

  it("removes a stopped execution's replication found by name, without its document's record", async () => {
    // A second execution prepared and subscribed, then stopped: its document never got $.replication.
    const stopped = makeDocument(blue, {
      input: { mode: 'online', executionName: 'stopped', executionId: `${doc.input.executionId}-stopped` },
    });
    const lsn = (await blue.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    const prepared = await prepareReplication(stopped, ports());
    await startReplication(
      { ...stopped, replication: prepared, greenReplication: { startLsn: lsn, dropped: [] } },
      ports(),
    );
    const prefix = replicationPrefix(stopped.input.executionId, 'blue-to-green');
    expect(
      await blue.sql('SELECT 1 FROM pg_replication_slots WHERE starts_with(slot_name, $1)', [prefix]),
    ).toHaveLength(2);
    expect(await green!.sql('SELECT 1 FROM pg_subscription WHERE starts_with(subname, $1)', [prefix])).toHaveLength(2);

    // DDL that bypassed the guard is seen by CheckReplication, which fails the run (rollback).
    const replicating = { ...stopped, replication: prepared, greenReplication: { startLsn: lsn, dropped: [] } };
    await expect(checkReplication(replicating, ports())).resolves.toMatchObject({ polls: 1 });
    // Not done while green has not confirmed blue's position at StartReplication, however small the lag.
    const notYet = {
      ...replicating,
      input: { ...replicating.input, checkWindowSeconds: 0 },
      replicationStart: { startedAt: '', subscriptions: [], originAdvancedTo: lsn, blueLsn: 'FFFFFFF/0' },
    };
    await expect(checkReplication(notYet, ports())).resolves.toMatchObject({ done: false });
    await asWorkflow(blue, 'app', 'ALTER TABLE orders ADD COLUMN bypassed int');
    await expect(checkReplication(replicating, ports())).rejects.toThrow(
      /cannot continue: the tables or columns of database app on blue changed while replicating/,
    );
    // GuardGreen looks once more before the switchover changes anything: green is not guarded.
    await expect(guardGreen(replicating, ports())).rejects.toThrow(/on blue changed while replicating/);
    expect(
      await green!.sql(
        "SELECT 1 FROM pg_db_role_setting WHERE setconfig::text LIKE '%default_transaction_read_only=on%'",
      ),
    ).toEqual([]);

    const result = await removeReplication(stopped, ports());

    expect(result.removed).toEqual(
      expect.arrayContaining([
        ...prepared.databases.map((d) => `subscription ${d.subscription} on green`),
        ...prepared.databases.map((d) => `slot ${d.slot} on blue`),
        ...prepared.databases.map((d) => `publication ${d.publication} on blue`),
        'DDL guard of app on blue',
      ]),
    );
    expect(await blue.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await green!.sql('SELECT subname FROM pg_subscription')).toEqual([]);
    expect(await blue.sql('SELECT evtname FROM pg_event_trigger', [], 'app')).toEqual([]);
    expect(await removeReplication(stopped, ports())).toEqual({ removed: [] });
    // Green unreachable (its writer never came up): blue's side is removed all the same.
    const unreachable = makeDocument(blue, {
      input: { mode: 'online', executionName: 'no-green', executionId: `${doc.input.executionId}-no-green` },
    });
    await prepareReplication(unreachable, ports());
    const noGreen = { database, clock, clusters: clustersStub({ [GREEN_ID]: { host: '127.0.0.1', port: 1 } }) };
    const cleaned = await removeReplication(unreachable, noGreen);
    expect(cleaned.removed[0]).toMatch(/^nothing on green \(orders-prod-g2612050200 unreachable: /);
    expect(cleaned.removed.filter((r) => r.startsWith('slot '))).toHaveLength(2);
    expect(await blue.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    // Offline runs have nothing to remove and touch nothing.
    expect(await removeReplication({ ...stopped, input: { ...stopped.input, mode: 'offline' } }, ports())).toEqual({
      removed: [],
    });
  });

  it('CloseBlue: a write on blue after the catch-up (read-only turned off) fails the run naming the table; what failback applied is not one', async () => {
    const late = makeDocument(blue, {
      input: { mode: 'online', executionName: 'late', executionId: `${doc.input.executionId}-late` },
    });
    late.replication = await prepareReplication(late, ports());
    await removeDdlGuards(late);
    // A transaction applied with a replication origin, as failback's subscription on blue does
    // (the origin is the session's when the transaction commits).
    const applier = await blue.client('app');
    try {
      await applier.query('SET default_transaction_read_only = off');
      await applier.query("SELECT pg_replication_origin_create('failback_test')");
      await applier.query("SELECT pg_replication_origin_session_setup('failback_test')");
      await applier.query("INSERT INTO orders (note) VALUES ('from green')");
      await applier.query('SELECT pg_replication_origin_session_reset()');
    } finally {
      await applier.end();
    }
    const quiet = await closeBlue(late, ports());
    expect(quiet.localChanges).toBe(0);
    expect(quiet.removed).toHaveLength(4);
    expect(await blue.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    // A retry after the drop (the Lambda timed out before it returned) finds them gone: dropped
    // only after every slot was found quiet, so that is the verdict.
    const retried = await closeBlue(late, ports());
    expect(retried.alreadyGone).toEqual(late.replication.databases.map((d) => d.slot));

    // A transaction prepared after the fence: its rows reach no slot until COMMIT PREPARED.
    const pending = makeDocument(blue, {
      input: { mode: 'online', executionName: 'pending', executionId: `${doc.input.executionId}-pending` },
    });
    pending.replication = await prepareReplication(pending, ports());
    await removeDdlGuards(pending);
    const preparer = await blue.client('app');
    await preparer.query(
      "BEGIN READ WRITE; INSERT INTO orders (note) VALUES ('prepared'); PREPARE TRANSACTION 'late_order'",
    );
    await preparer.end();
    await expect(closeBlue(pending, ports())).rejects.toThrow(
      /prepared transaction\(s\) late_order \(app\): COMMIT PREPARED would write on blue what green lacks/,
    );
    await blue.sql("ROLLBACK PREPARED 'late_order'", [], 'app');
    await removeReplication(pending, ports());

    // A session of the application's that turned read-only off for itself.
    const rogue = makeDocument(blue, {
      input: { mode: 'online', executionName: 'rogue', executionId: `${doc.input.executionId}-rogue` },
    });
    rogue.replication = await prepareReplication(rogue, ports());
    await removeDdlGuards(rogue);
    const client = await blue.client('app', { applicationName: 'orders-api' });
    await client.query(
      "BEGIN READ WRITE; INSERT INTO orders (note) VALUES ('late'); UPDATE orders SET note = 'x' WHERE id = 1; COMMIT",
    );
    await expect(closeBlue(rogue, ports())).rejects.toThrow(
      /took writes after green caught up with it .*database app: 2 row change\(s\) in orders\. .*Blue is kept, not deleted/,
    );
    // Ended; the slots stay as the evidence (the failure notice says how to read and drop them).
    await expect(client.query('SELECT 1')).rejects.toThrow();
    await client.end().catch(() => undefined);
    expect(
      (await blue.sql<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map(
        (r) => r.slot_name,
      ),
    ).toEqual(rogue.replication.databases.map((d) => d.slot).sort());
    await removeReplication(rogue, ports());
    expect(await blue.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    await asWorkflow(blue, 'app', "SELECT pg_replication_origin_drop('failback_test')");
  });
});
