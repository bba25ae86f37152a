import type { DbSession, DbTarget } from '../../lambdas/ports';
import { ReplicationFailed } from '../../lambdas/domain/errors';
import {
  createPublicationAndSlot,
  createSubscription,
  currentLsn,
  dropInherited,
  dropPublication,
  dropSlot,
  dropSubscription,
  fenceRowApplied,
  installDdlGuard,
  moveSequences,
  publisherLag,
  readStartLsn,
  removeDdlGuard,
  replicationNames,
  schemaFingerprint,
  sequencePositions,
  slotConfirmedPast,
  subscriberStatus,
  unconfirmedChanges,
} from '../../lambdas/steps/replication';
import { realClock, testDatabase } from '../support/documents';
import { startBlue } from '../support/fence-fixtures';
import { eventually, LOGICAL_SETTINGS, startPostgres, type TestServer } from '../support/postgres';

const database = testDatabase();
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:online-1';

describe('replication names', () => {
  it('derive from the execution, the database and the direction: safe identifiers, at most 63 chars', () => {
    const a = replicationNames(EXECUTION, 'app', 'blue-to-green');
    expect(replicationNames(EXECUTION, 'app', 'blue-to-green')).toEqual(a);
    const names = [
      ...Object.values(a),
      ...Object.values(replicationNames(EXECUTION, 'app', 'green-to-blue')),
      ...Object.values(
        replicationNames(EXECUTION, 'Weird "db" name with spaces and ünïcode'.repeat(5), 'blue-to-green'),
      ),
      ...Object.values(replicationNames(`${EXECUTION}-2`, 'app', 'blue-to-green')),
    ];
    for (const name of names) expect(name).toMatch(/^[a-z0-9_]{1,63}$/);
    expect(new Set(names).size).toBe(names.length);
    expect(replicationNames(EXECUTION, 'other', 'blue-to-green').slot).not.toBe(a.slot);
  });
});

describe('logical replication primitives (real PostgreSQL, blue → green from the clone point)', () => {
  let blue: TestServer;
  let green: TestServer;
  const sessions: DbSession[] = [];
  const app = replicationNames(EXECUTION, 'app', 'blue-to-green');
  const admin = replicationNames(EXECUTION, 'postgres', 'blue-to-green');
  let startLsn = '';

  const target = (server: TestServer, clusterId: string): DbTarget => ({
    clusterId,
    host: server.host,
    port: server.port,
  });
  async function open(server: TestServer, name: string): Promise<DbSession> {
    const session = await database.connect(target(server, server === blue ? 'blue' : 'green'), name);
    sessions.push(session);
    return session;
  }

  beforeAll(async () => {
    blue = await startBlue({ settings: LOGICAL_SETTINGS });
    await blue.sql("INSERT INTO orders (note) SELECT 'before the clone ' || g FROM generate_series(1, 5) g", [], 'app');
    await blue.sql('CREATE SCHEMA bluegreen');
    await blue.sql('CREATE TABLE bluegreen.fence (execution_id text PRIMARY KEY, lsn pg_lsn, fenced_at timestamptz)');
    await blue.sql('CREATE SEQUENCE gone_on_green', [], 'app');
  }, 60_000);

  afterAll(async () => {
    for (const session of sessions) await session.close();
    await green?.stop();
    await blue?.stop();
  });

  it('creates the publication and the pgoutput slot on blue; a re-run finds them', async () => {
    const session = await open(blue, 'app');
    const first = await createPublicationAndSlot(session, app);
    expect(first).toEqual({
      publicationCreated: true,
      slotCreated: true,
      slotLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
    });
    const again = await createPublicationAndSlot(session, app);
    expect(again).toEqual({ publicationCreated: false, slotCreated: false, slotLsn: first.slotLsn });
    const slot = await blue.sql<{ plugin: string; database: string }>(
      'SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1',
      [app.slot],
    );
    expect(slot).toEqual([{ plugin: 'pgoutput', database: 'app' }]);
    const publication = await blue.sql<{ puballtables: boolean }>(
      'SELECT puballtables FROM pg_publication WHERE pubname = $1',
      [app.publication],
      'app',
    );
    expect(publication).toEqual([{ puballtables: true }]);
    await createPublicationAndSlot(await open(blue, 'postgres'), admin);
  });

  it('refuses to take over a slot of the same name that is not a pgoutput slot of this database', async () => {
    const foreign = replicationNames(EXECUTION, 'foreign', 'blue-to-green');
    await blue.sql("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [foreign.slot], 'app');
    await expect(createPublicationAndSlot(await open(blue, 'app'), foreign)).rejects.toThrow(/not this workflow's/);
    await blue.sql('SELECT pg_drop_replication_slot($1)', [foreign.slot]);
  });

  it('bounds the slot creation when a transaction is running, naming it', async () => {
    const other = replicationNames(EXECUTION, 'waiting', 'blue-to-green');
    const open1 = await blue.client('app', { applicationName: 'long-writer' });
    try {
      await open1.query('BEGIN');
      await open1.query("INSERT INTO orders (note) VALUES ('in flight')");
      const failure = createPublicationAndSlot(await open(blue, 'app'), other, { timeoutMs: 500 });
      await expect(failure).rejects.toBeInstanceOf(ReplicationFailed);
      await expect(failure).rejects.toThrow(/long-writer/);
    } finally {
      await open1.query('ROLLBACK');
      await open1.end();
    }
    await dropPublication(await open(blue, 'app'), other.publication);
  });

  it('installs the DDL guard: DDL on blue is refused with a message naming the execution; the workflow passes', async () => {
    expect(await installDdlGuard(await open(blue, 'app'), EXECUTION, 'online-1')).toEqual({ installed: true });
    expect(await installDdlGuard(await open(blue, 'app'), EXECUTION, 'online-1')).toEqual({ installed: true });
    await expect(blue.sql('ALTER TABLE orders ADD COLUMN extra int', [], 'app')).rejects.toThrow(
      /ALTER TABLE refused: blue\/green deployment online-1 replicates this database/,
    );
    // The workflow's own DDL (the fence's CREATE … IF NOT EXISTS) goes through.
    const workflow = await open(blue, 'app');
    await workflow.query('SET bluegreen.allow_ddl = on');
    await workflow.query('CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, note text NOT NULL)');
    // An application's refresh job goes on: a materialized view's rows are neither DDL nor replicated.
    await workflow.query('CREATE MATERIALIZED VIEW IF NOT EXISTS order_count AS SELECT count(*) AS n FROM orders');
    await expect(blue.sql('REFRESH MATERIALIZED VIEW order_count', [], 'app')).resolves.toEqual([]);
    await expect(blue.sql('DROP MATERIALIZED VIEW order_count', [], 'app')).rejects.toThrow(
      /DROP MATERIALIZED VIEW refused: blue\/green deployment online-1/,
    );
    // Temporary tables are a session's own and never replicated: an application's, they pass.
    const app = await blue.client('app');
    try {
      await app.query('CREATE TEMP TABLE staged (id int)');
      await app.query('CREATE TEMP TABLE staged_copy AS SELECT * FROM staged');
      await app.query('DROP TABLE staged, staged_copy');
      // A permanent table is refused once it is known to be one: created, or dropped.
      await expect(app.query('CREATE TABLE permanent (id int)')).rejects.toThrow(
        /^CREATE TABLE refused: blue\/green deployment online-1 replicates this database/,
      );
      await expect(app.query('CREATE UNLOGGED TABLE scratch AS SELECT 1 AS one')).rejects.toThrow(
        /^CREATE TABLE AS refused: blue\/green deployment online-1/,
      );
      await workflow.query('CREATE TABLE IF NOT EXISTS doomed (id int)');
      await expect(app.query('DROP TABLE doomed')).rejects.toThrow(
        /^DROP TABLE refused: blue\/green deployment online-1/,
      );
      expect(
        await app.query("SELECT to_regclass('permanent') IS NULL AS gone, to_regclass('doomed') IS NOT NULL AS kept"),
      ).toMatchObject({ rows: [{ gone: true, kept: true }] });
    } finally {
      await app.end();
    }
  });

  it('reports that the guard cannot be installed without superuser, and changes nothing', async () => {
    await blue.sql('CREATE ROLE plain LOGIN');
    await blue.sql('GRANT CREATE ON DATABASE app TO plain');
    const plain = await blue.client('app', { user: 'plain' });
    const session: DbSession = {
      pid: 0,
      close: () => plain.end(),
      query: async (sql, params) => {
        const r = await plain.query(sql, params);
        return { rows: r.rows, rowCount: r.rowCount ?? 0 };
      },
    };
    sessions.push(session);
    const result = await installDdlGuard(session, `${EXECUTION}-plain`, 'plain-run');
    expect(result).toEqual({ installed: false, reason: expect.stringMatching(/permission denied|must be superuser/) });
    const triggers = await blue.sql('SELECT evtname FROM pg_event_trigger', [], 'app');
    expect(triggers).toHaveLength(3); // only the first execution's (start, end, drop)
  });

  it('the schema fingerprint changes with a table or column change, not with data', async () => {
    await blue.sql('CREATE DATABASE scratch');
    const session = await open(blue, 'scratch');
    const empty = await schemaFingerprint(session);
    await session.query('CREATE TABLE t (id int PRIMARY KEY)');
    const one = await schemaFingerprint(session);
    expect(one).not.toBe(empty);
    await session.query('INSERT INTO t VALUES (1)');
    expect(await schemaFingerprint(session)).toBe(one);
    await session.query('ALTER TABLE t ADD COLUMN note text');
    expect(await schemaFingerprint(session)).not.toBe(one);
  });

  it('on the clone: reads the start LSN and drops the slot, publication and guard it inherited', async () => {
    // The clone is taken while nobody writes, so any LSN between it and the next write is its point.
    green = await blue.cloneOnline();
    startLsn = (await blue.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    for (const name of ['app', 'postgres']) {
      const client = await green.client(name);
      await client.query('SET bluegreen.allow_ddl = on'); // green still has the guard it inherited
      await client.query(
        `CREATE FUNCTION aurora_volume_logical_start_lsn() RETURNS pg_lsn LANGUAGE sql AS $$ SELECT '${startLsn}'::pg_lsn $$`,
      );
      await client.end();
    }
    const g = await open(green, 'app');
    expect(await readStartLsn(g)).toBe(startLsn);
    // A base-backup copy leaves pg_replslot out, an Aurora clone keeps its slots: make one as Aurora would.
    await green.sql("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [app.slot], 'app');

    const dropped = await dropInherited(g, app, EXECUTION, realClock);
    expect(dropped).toEqual({
      droppedSlots: [app.slot],
      droppedPublications: [app.publication],
      droppedDdlGuard: true,
    });
    expect(await dropInherited(g, app, EXECUTION, realClock)).toEqual({
      droppedSlots: [],
      droppedPublications: [],
      droppedDdlGuard: false,
    });
    expect(await green.sql('SELECT 1 FROM pg_replication_slots')).toEqual([]);
    // Green takes DDL again (its migrations must run); blue still refuses it.
    await green.sql('ALTER TABLE orders ADD COLUMN added_on_green text', [], 'app');
    await expect(blue.sql('ALTER TABLE orders ADD COLUMN extra int', [], 'app')).rejects.toThrow(/refused/);
    await dropInherited(await open(green, 'postgres'), admin, EXECUTION, realClock);
  });

  it('a clone without the function says what online mode needs', async () => {
    await expect(readStartLsn(await open(blue, 'app'))).rejects.toThrow(/aurora_volume_logical_start_lsn\(\).*12\.10/);
  });

  it('subscribes from the start LSN: writes after the clone arrive once, none twice; a re-run changes nothing', async () => {
    await blue.sql("INSERT INTO orders (note) SELECT 'after the clone ' || g FROM generate_series(1, 5) g", [], 'app');
    const g = await open(green, 'app');
    const conninfo = await database.replicationConninfo(target(blue, 'blue'), 'app');
    expect(conninfo).toContain(`port='${blue.port}'`);
    expect(conninfo).toContain("dbname='app'");

    const started = await createSubscription(g, app, conninfo, startLsn);
    expect(started).toEqual({ created: true, enabled: true, originAdvancedTo: startLsn });
    expect(await createSubscription(g, app, conninfo, startLsn)).toEqual({ created: false, enabled: true });
    const options = await green.sql<{ subenabled: boolean; subslotname: string }>(
      'SELECT subenabled, subslotname FROM pg_subscription WHERE subname = $1',
      [app.subscription],
    );
    expect(options).toEqual([{ subenabled: true, subslotname: app.slot }]);

    const rows = await eventually(
      () => green.sql<{ n: number }>('SELECT count(*)::int AS n FROM orders', [], 'app'),
      (r) => r[0]!.n >= 10,
    );
    expect(rows[0]!.n).toBe(10);
    // Exactly blue's rows (id 6 went to the rolled-back transaction above): none missing, none twice.
    const ids = 'SELECT id::int AS id, note FROM orders ORDER BY orders.id';
    const blueRows = await blue.sql<{ id: number }>(ids, [], 'app');
    expect(blueRows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
    expect(await green.sql(ids, [], 'app')).toEqual(blueRows);

    const status = await subscriberStatus(g, app.subscription);
    expect(status).toMatchObject({ exists: true, enabled: true, workerRunning: true, applyErrors: 0 });
    const b = await open(blue, 'app');
    const lag = await eventually(
      () => publisherLag(b, app.slot),
      (l) => l !== undefined && l.active && l.lagBytes === 0,
    );
    expect(lag).toMatchObject({ active: true, lagBytes: 0 });
    expect(await publisherLag(b, 'no_such_slot')).toBeUndefined();
  });

  it("green applies this execution's fence row, and the slot confirms blue's position", async () => {
    const conninfo = await database.replicationConninfo(target(blue, 'blue'), 'postgres');
    const g = await open(green, 'postgres');
    await createSubscription(g, admin, conninfo, startLsn);
    expect(await fenceRowApplied(g, EXECUTION)).toBe(false);
    await blue.sql('INSERT INTO bluegreen.fence VALUES ($1, pg_current_wal_lsn(), NULL)', [EXECUTION]);
    await blue.sql('UPDATE bluegreen.fence SET fenced_at = now() WHERE execution_id = $1', [EXECUTION]);
    const b = await open(blue, 'postgres');
    const at = await currentLsn(b);
    expect(await eventually(() => fenceRowApplied(g, EXECUTION), Boolean)).toBe(true);
    expect(await eventually(() => slotConfirmedPast(b, admin.slot, at), Boolean)).toBe(true);
    // The other database's slot confirms the same position with no change of its own to apply.
    const appBlue = await open(blue, 'app');
    expect(await eventually(() => slotConfirmedPast(appBlue, app.slot, at), Boolean)).toBe(true);
    expect(await slotConfirmedPast(appBlue, app.slot, 'FFFFFFFF/0')).toBe(false);
  });

  it('moves green sequences past blue; a sequence green already passed stays', async () => {
    await blue.sql("SELECT nextval('gone_on_green')", [], 'app');
    await green.sql('DROP SEQUENCE gone_on_green', [], 'app');
    const positions = await sequencePositions(await open(blue, 'app'));
    expect(positions).toEqual(
      expect.arrayContaining([{ name: 'public.orders_id_seq', lastValue: '11', increment: '1' }]),
    );
    const g = await open(green, 'app');
    const moved = await moveSequences(g, positions);
    expect(moved).toEqual({ moved: ['public.orders_id_seq'], missing: ['public.gone_on_green'] });
    expect(await moveSequences(g, positions)).toEqual({ moved: [], missing: ['public.gone_on_green'] });
    const next = await green.sql<{ id: string }>("SELECT nextval('orders_id_seq')::text AS id", [], 'app');
    expect(next[0]!.id).toBe('12');
  });

  it('reports an apply error on green (a duplicate key), then drops the subscription and the slot', async () => {
    const g = await open(green, 'app');
    // Green already holds id 13, so blue's next inserts (ids 12, 13) stop the apply.
    await green.sql("INSERT INTO orders (id, note) VALUES (13, 'green only')", [], 'app');
    await blue.sql("INSERT INTO orders (note) VALUES ('eleven'), ('twelve')", [], 'app');
    const status = await eventually(
      () => subscriberStatus(g, app.subscription),
      (s) => s.applyErrors > 0,
    );
    expect(status.applyErrors).toBeGreaterThan(0);

    expect(await dropSubscription(g, app.subscription)).toBe(true);
    expect(await dropSubscription(g, app.subscription)).toBe(false);
    expect(await subscriberStatus(g, app.subscription)).toMatchObject({ exists: false });
    const b = await open(blue, 'app');
    // The slot still holds the transaction green could not apply: two inserts, not on green.
    expect(await unconfirmedChanges(b, app, realClock)).toBe(2);
    expect(await unconfirmedChanges(b, app, realClock)).toBe(2); // a peek leaves the slot where it was
    expect(await dropSlot(b, app.slot, realClock)).toBe(true);
    expect(await dropSlot(b, app.slot, realClock)).toBe(false);
    expect(await dropPublication(b, app.publication)).toBe(true);
    expect(await dropPublication(b, app.publication)).toBe(false);

    // The admin database's stream: the slot is still held by a walsender when dropped at once.
    const ga = await open(green, 'postgres');
    await dropSubscription(ga, admin.subscription);
    expect(await unconfirmedChanges(await open(blue, 'postgres'), admin, realClock)).toBe(0);
    expect(await dropSlot(await open(blue, 'postgres'), admin.slot, realClock)).toBe(true);
    expect(await blue.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await green.sql('SELECT subname FROM pg_subscription')).toEqual([]);
  });

  it('removes the DDL guard: blue takes DDL again; a second removal is a no-op', async () => {
    const b = await open(blue, 'app');
    expect(await removeDdlGuard(b, EXECUTION)).toBe(true);
    expect(await removeDdlGuard(b, EXECUTION)).toBe(false);
    await blue.sql('ALTER TABLE orders ADD COLUMN extra int', [], 'app');
    await blue.sql('CREATE TABLE permanent (id int)', [], 'app');
    await blue.sql('DROP TABLE permanent', [], 'app');
    expect(await blue.sql("SELECT 1 FROM pg_proc WHERE proname LIKE 'refuse_ddl_%'", [], 'app')).toEqual([]);
    expect(
      await blue.sql("SELECT 1 FROM pg_event_trigger WHERE evtname LIKE 'bluegreen_refuse_ddl_%'", [], 'app'),
    ).toEqual([]);
  });
});

describe('dropSlot on a fresh server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startPostgres({ settings: LOGICAL_SETTINGS });
  });
  afterAll(async () => server?.stop());

  it('ends the walsender that still holds the slot, then drops it', async () => {
    await server.sql('CREATE TABLE t (id int PRIMARY KEY)');
    await server.sql('CREATE PUBLICATION p FOR ALL TABLES');
    await server.sql("SELECT pg_create_logical_replication_slot('held', 'pgoutput')");
    await server.sql('CREATE DATABASE sub');
    await server.sql('CREATE TABLE t (id int PRIMARY KEY)', [], 'sub');
    // A subscription still enabled: its walsender holds the slot (active_pid).
    await server.sql(
      `CREATE SUBSCRIPTION s CONNECTION 'host=127.0.0.1 port=${server.port} dbname=postgres user=postgres'
         PUBLICATION p WITH (create_slot = false, slot_name = 'held', copy_data = false)`,
      [],
      'sub',
    );
    await eventually(
      () => server.sql<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = 'held'"),
      (r) => r[0]?.active === true,
    );
    const session = await database.connect({ clusterId: 'x', host: server.host, port: server.port }, 'postgres');
    try {
      expect(await dropSlot(session, 'held', realClock, { waitMs: 5_000, pollMs: 20 })).toBe(true);
    } finally {
      await session.close();
    }
    expect(await server.sql('SELECT 1 FROM pg_replication_slots')).toEqual([]);
    const sub = await database.connect({ clusterId: 'x', host: server.host, port: server.port }, 'sub');
    try {
      expect(await dropSubscription(sub, 's')).toBe(true);
    } finally {
      await sub.close();
    }
  });
});
