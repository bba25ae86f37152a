import { PreconditionFailed } from '../../lambdas/domain/errors';
import { inspectBlue } from '../../lambdas/steps/inspect-blue';
import { makeDocument, testDatabase } from '../support/documents';
import { startPostgres, type TestServer } from '../support/postgres';
import { failureOf } from '../support/step-fixtures';

const database = testDatabase();

/** InspectBlue's online-mode and failback preflight, on real PostgreSQL. */

const online = (server: TestServer, failback = false) =>
  makeDocument(server, { input: { mode: 'online', failback, blueRetentionSeconds: 3600 } });
const failbackOnly = (server: TestServer) =>
  makeDocument(server, { input: { mode: 'offline', failback: true, blueRetentionSeconds: 3600 } });

describe('InspectBlue with replication: tables, large objects (real PostgreSQL, wal_level logical)', () => {
  let blue: TestServer;

  beforeAll(async () => {
    blue = await startPostgres({ settings: { wal_level: 'logical' } });
    await blue.sql('CREATE DATABASE app');
    await blue.sql(
      `CREATE TABLE orders (id int PRIMARY KEY, note text);
       CREATE TABLE events (uuid uuid NOT NULL, payload text);
       CREATE UNIQUE INDEX events_uuid ON events (uuid);
       ALTER TABLE events REPLICA IDENTITY USING INDEX events_uuid;
       CREATE TABLE log_lines (line text);
       ALTER TABLE log_lines REPLICA IDENTITY FULL;
       CREATE TABLE parts (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
       CREATE TABLE parts_2026 PARTITION OF parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');`,
      [],
      'app',
    );
  });
  afterAll(async () => {
    await blue?.stop();
  });

  it('accepts a blue whose every table has a usable replica identity (a key, an index, or FULL)', async () => {
    const result = await inspectBlue(online(blue, true), { database });
    expect(result).toEqual({ databases: ['app', 'postgres'], unloggedTables: [] });
  });

  describe('with offenders in a database', () => {
    beforeAll(async () => {
      await blue.sql('CREATE DATABASE legacy');
      await blue.sql(
        `CREATE TABLE heap (a int, b text);
         CREATE TABLE keyed (code text NOT NULL, x int);
         CREATE UNIQUE INDEX keyed_code ON keyed (code);
         CREATE UNIQUE INDEX keyed_partial ON keyed (x) WHERE x > 0;
         CREATE TABLE silent (id int PRIMARY KEY);
         ALTER TABLE silent REPLICA IDENTITY NOTHING;
         CREATE UNLOGGED TABLE cache (k text PRIMARY KEY);
         SELECT lo_from_bytea(0, 'blob'::bytea);`,
        [],
        'legacy',
      );
    });
    afterAll(async () => {
      await blue.sql('DROP DATABASE legacy');
    });

    it('refuses online mode, naming each offender and its fix, before anything is changed', async () => {
      const slotsBefore = await blue.sql('SELECT count(*)::int AS n FROM pg_replication_slots');
      const error = await failureOf(inspectBlue(online(blue), { database }));
      expect(error).toBeInstanceOf(PreconditionFailed);
      expect(error.message).toMatch(/^InspectBlue found 5 problem\(s\) for online mode on blue cluster orders-prod/);
      expect(error.message).toContain(
        'legacy: table public.heap has neither a primary key nor a replica identity: once it is published, every UPDATE and DELETE on it fails',
      );
      expect(error.message).toContain('add a primary key, or a unique index on NOT NULL columns');
      expect(error.message).toContain(
        'slow because every change applied scans the table, ALTER TABLE public.heap REPLICA IDENTITY FULL',
      );
      // A unique, non-partial index on NOT NULL columns is offered by name; the partial one is not.
      expect(error.message).toContain('ALTER TABLE public.keyed REPLICA IDENTITY USING INDEX keyed_code');
      expect(error.message).not.toContain('keyed_partial');
      expect(error.message).toContain(
        'legacy: table public.silent has REPLICA IDENTITY NOTHING: once it is published, every UPDATE and DELETE on it fails (on blue in online mode, on green for failback), and no change could be applied on the other side; ALTER TABLE public.silent REPLICA IDENTITY DEFAULT (its primary key)',
      );
      expect(error.message).toContain('legacy: table public.cache is unlogged');
      expect(error.message).toContain('ALTER TABLE public.cache SET LOGGED');
      expect(error.message).toContain('legacy: has 1 large object(s) (pg_largeobject_metadata)');
      expect(error.message).not.toMatch(/app: |public\.(orders|events|log_lines|parts)/);
      expect(await blue.sql('SELECT count(*)::int AS n FROM pg_replication_slots')).toEqual(slotsBefore);
    });

    it('refuses failback alone too: green would publish the same tables', async () => {
      const error = await failureOf(inspectBlue(failbackOnly(blue), { database }));
      expect(error.message).toMatch(/^InspectBlue found 5 problem\(s\) for failback/);
      expect(error.message).toContain('(on blue in online mode, on green for failback)');
    });

    it('leaves offline mode without failback as it was: the unlogged table is listed, nothing refused', async () => {
      const result = await inspectBlue(makeDocument(blue), { database });
      expect(result.unloggedTables).toEqual(['legacy: public.cache']);
    });
  });
});

describe('InspectBlue with replication: settings and headroom (real PostgreSQL, wal_level replica)', () => {
  let blue: TestServer;

  beforeAll(async () => {
    blue = await startPostgres({
      settings: {
        max_replication_slots: '3',
        max_wal_senders: '2',
        max_logical_replication_workers: '2',
        max_worker_processes: '3',
      },
    });
    await blue.sql('CREATE DATABASE app');
    await blue.sql('CREATE DATABASE billing');
    await blue.sql(
      "SELECT pg_create_physical_replication_slot('standby_a'), pg_create_physical_replication_slot('standby_b')",
    );
  });
  afterAll(async () => {
    await blue?.stop();
  });

  it('refuses online mode while rds.logical_replication is not in effect, and explains each shortfall with its numbers', async () => {
    const doc = online(blue);
    doc.blue!.clusterParameterGroupName = 'orders-pg16';
    const message = (await failureOf(inspectBlue(doc, { database }))).message;
    expect(message).toContain(
      "rds.logical_replication is not in effect on blue: wal_level is replica, not logical; set rds.logical_replication = 1 in cluster parameter group orders-pg16 and reboot blue's writer",
    );
    expect(message).toContain(
      'replication slots: blue has max_replication_slots = 3 with 2 in use, so 1 free; online mode needs one per replicated database, 3 (app, billing, postgres); raise max_replication_slots to at least 5 in cluster parameter group orders-pg16 and reboot',
    );
    expect(message).toContain(
      'WAL senders: blue has max_wal_senders = 2 with 0 in use, so 2 free; online mode needs one per replicated database, 3',
    );
    expect(message).toMatch(
      /logical replication workers: max_logical_replication_workers = 2, 0 in use on blue now; on green \(online mode; green inherits blue's settings\) it needs 3 apply worker\(s\), .* so at least 3/,
    );
    expect(message).toMatch(
      /worker processes: max_worker_processes = 3, 1 background worker\(s\) running on blue now .* it needs 3 more for apply workers, so at least 4; raise max_worker_processes to at least 4/,
    );
  });

  it('for failback alone, needs no logical wal_level on blue, but green (inheriting blue settings) must publish and blue must apply', async () => {
    const message = (await failureOf(inspectBlue(failbackOnly(blue), { database }))).message;
    expect(message).not.toContain('wal_level');
    expect(message).not.toContain('replication slots');
    expect(message).toContain(
      'WAL senders: max_wal_senders = 2, which green inherits; failback needs one per replicated database, 3',
    );
    expect(message).toContain('on blue after cutover (failback) it needs 3 apply worker(s)');
  });

  it('checks none of this in offline mode without failback', async () => {
    await expect(inspectBlue(makeDocument(blue), { database })).resolves.toEqual({
      databases: ['app', 'billing', 'postgres'],
      unloggedTables: [],
    });
  });
});
