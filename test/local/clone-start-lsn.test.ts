import fs from 'node:fs';
import { Client } from 'pg';
import type { LocalCloud } from '../../local/cloud';
import { SUPERUSER } from '../../local/postgres';
import { createTestCloud, makeWorkdir, removeWorkdir } from './work';

/**
 * Issue 12: "The local equivalent of the start LSN must be exact." Blue takes writes from three
 * clients (a serial key, one row per transaction) all along. Logical slots and a publication are
 * made on blue before the clones; each clone gets a subscription that starts where its origin
 * says. With the clone's own `aurora_volume_logical_start_lsn()`, green ends with every row of
 * blue, once each. With an origin before it (the slot's creation point) rows arrive twice and
 * apply stops on a duplicate key; with one after it, rows are missing.
 */

const GROUP = 'app-pg16-cluster';
const SCHEMA =
  'CREATE TABLE public.probe (id bigserial PRIMARY KEY, client int NOT NULL, at timestamptz NOT NULL DEFAULT now());';
const WRITERS = 3;

function address(cloud: LocalCloud, clusterId: string): { host: string; port: number } {
  const a = cloud.writerAddress(clusterId);
  if (!a) throw new Error(`${clusterId} has no running writer`);
  return a;
}

async function connect(cloud: LocalCloud, clusterId: string, database = 'app'): Promise<Client> {
  const client = new Client({
    ...address(cloud, clusterId),
    database,
    user: SUPERUSER.username,
    password: SUPERUSER.password,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function sql<Row extends Record<string, unknown>>(
  cloud: LocalCloud,
  clusterId: string,
  text: string,
  params: unknown[] = [],
  database = 'app',
): Promise<Row[]> {
  const client = await connect(cloud, clusterId, database);
  try {
    return (await client.query<Row>(text, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Many small transactions from several sessions until stopped; returns how many each committed. */
function startWrites(cloud: LocalCloud): { stop: () => Promise<number> } {
  let running = true;
  const loops = Array.from({ length: WRITERS }, async (_, client) => {
    const session = await connect(cloud, 'app-blue');
    let committed = 0;
    try {
      while (running) {
        await session.query('INSERT INTO public.probe (client) VALUES ($1)', [client]);
        committed += 1;
      }
    } finally {
      await session.end().catch(() => undefined);
    }
    return committed;
  });
  return {
    stop: async () => {
      running = false;
      return (await Promise.all(loops)).reduce((a, b) => a + b, 0);
    },
  };
}

async function cloneWithWriter(cloud: LocalCloud, id: string): Promise<void> {
  await cloud.clusters.cloneCopyOnWrite({
    sourceClusterId: 'app-blue',
    targetClusterId: id,
    clusterParameterGroupName: GROUP,
    iamAuth: false,
    logExports: [],
    securityGroupIds: ['sg-admin'],
    port: 5432,
    copyTagsToSnapshot: false,
    tags: {},
  });
  await until(`${id} available`, async () => (await cloud.clusters.describeCluster(id))?.status === 'available');
  await cloud.clusters.createInstance({
    instanceId: `${id}-1`,
    clusterId: id,
    instanceClass: 'db.r6g.large',
    performanceInsights: false,
    tags: {},
  });
  await until(
    `${id}-1 available`,
    async () => (await cloud.clusters.describeInstance(`${id}-1`))?.status === 'available',
  );
}

/**
 * What the online workflow does on green: drop the slots it inherited, subscribe with blue's
 * slot (no copy, no new slot, disabled), advance the origin, enable. The connection goes to
 * blue's writer directly, the admin path, as the workflow's own sessions do (see
 * docs/rehearsal-model.md).
 */
async function subscribe(cloud: LocalCloud, greenId: string, slot: string, originLsn: string): Promise<void> {
  const inherited = await sql<{ slot_name: string }>(cloud, greenId, 'SELECT slot_name FROM pg_replication_slots');
  for (const { slot_name } of inherited) {
    await sql(cloud, greenId, 'SELECT pg_drop_replication_slot($1)', [slot_name]);
  }
  const blue = address(cloud, 'app-blue');
  const conninfo = `host=${blue.host} port=${blue.port} dbname=app user=${SUPERUSER.username} password=${SUPERUSER.password}`;
  await sql(
    cloud,
    greenId,
    `CREATE SUBSCRIPTION bg_sub CONNECTION '${conninfo}' PUBLICATION bg_pub
       WITH (copy_data = false, create_slot = false, enabled = false, slot_name = '${slot}')`,
  );
  await sql(
    cloud,
    greenId,
    `SELECT pg_replication_origin_advance('pg_' || oid, $1::pg_lsn) FROM pg_subscription WHERE subname = 'bg_sub'`,
    [originLsn],
  );
  await sql(cloud, greenId, 'ALTER SUBSCRIPTION bg_sub ENABLE');
}

async function ids(cloud: LocalCloud, clusterId: string): Promise<number[]> {
  const rows = await sql<{ id: string }>(cloud, clusterId, 'SELECT id FROM public.probe ORDER BY id');
  return rows.map((r) => Number(r.id));
}

async function applyErrors(cloud: LocalCloud, clusterId: string): Promise<number> {
  const rows = await sql<{ n: string }>(
    cloud,
    clusterId,
    `SELECT coalesce(sum(apply_error_count), 0)::text AS n FROM pg_stat_subscription_stats`,
  );
  return Number(rows[0]?.n ?? 0);
}

function duplicateKeyErrorsInLog(cloud: LocalCloud, instanceId: string): number {
  const log = fs.readFileSync(cloud.clusters.logFileOf(instanceId), 'utf8');
  return log.split('\n').filter((line) => line.includes('duplicate key value violates unique constraint')).length;
}

describe('local cloud: a clone knows the LSN it is consistent at, exactly', () => {
  const workdir = makeWorkdir('clone-lsn');
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await createTestCloud({
      workdir,
      operationDelayMs: 20,
    });
    cloud.addParameterGroup('cluster', GROUP, 'aurora-postgresql16', { 'rds.logical_replication': '1' });
    await cloud.createBlue({
      id: 'app-blue',
      engineVersion: '16.14',
      readers: 0,
      schemaSql: SCHEMA,
      clusterParameterGroupName: GROUP,
    });
  });

  afterAll(async () => {
    await cloud?.stopAll();
    removeWorkdir(workdir);
  });

  it('green from its aurora_volume_logical_start_lsn() has every write of blue once; an origin before it duplicates, one after it loses', async () => {
    // Before the clones: the publication and one slot per green, while the writes already run.
    const writes = startWrites(cloud);
    await until('the first writes', async () => (await ids(cloud, 'app-blue')).length > 200);
    await sql(cloud, 'app-blue', 'CREATE PUBLICATION bg_pub FOR ALL TABLES');
    const slotCreatedAt: Record<string, string> = {};
    for (const slot of ['exact', 'early', 'late']) {
      const rows = await sql<{ lsn: string }>(
        cloud,
        'app-blue',
        `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
        [slot],
      );
      slotCreatedAt[slot] = rows[0]!.lsn;
    }

    const startLsn: Record<string, string> = {};
    let lateLsn = '';
    for (const slot of ['exact', 'early', 'late']) {
      await cloneWithWriter(cloud, `app-green-${slot}`);
      const rows = await sql<{ lsn: string; type: string }>(
        cloud,
        `app-green-${slot}`,
        'SELECT aurora_volume_logical_start_lsn()::text AS lsn, pg_typeof(aurora_volume_logical_start_lsn())::text AS type',
      );
      expect(rows[0]?.type).toBe('pg_lsn');
      startLsn[slot] = rows[0]!.lsn;
      if (slot === 'late') {
        // An LSN of blue after green's start, with writes committed in between.
        const before = (await ids(cloud, 'app-blue')).length;
        await until('writes after the late clone', async () => (await ids(cloud, 'app-blue')).length > before + 100);
        lateLsn = (await sql<{ lsn: string }>(cloud, 'app-blue', 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
      }
    }

    // Every database of a clone answers (template1 too, for databases made later); blue does not.
    for (const database of ['app', 'postgres', 'template1']) {
      const rows = await sql<{ lsn: string }>(
        cloud,
        'app-green-exact',
        'SELECT aurora_volume_logical_start_lsn()::text AS lsn',
        [],
        database,
      );
      expect(rows[0]?.lsn).toBe(startLsn['exact']);
    }
    await expect(sql(cloud, 'app-blue', 'SELECT aurora_volume_logical_start_lsn()')).rejects.toThrow(/does not exist/);
    // The clone has blue's slots, as an Aurora clone does.
    const inherited = await sql<{ slot_name: string }>(
      cloud,
      'app-green-exact',
      'SELECT slot_name FROM pg_replication_slots ORDER BY slot_name',
    );
    expect(inherited.map((r) => r.slot_name)).toEqual(['early', 'exact', 'late']);
    expect(cloud.describeState().clusters.find((c) => c.id === 'app-green-exact')?.cloneStartLsn).toBe(
      startLsn['exact'],
    );

    await subscribe(cloud, 'app-green-exact', 'exact', startLsn['exact']!);
    await subscribe(cloud, 'app-green-early', 'early', slotCreatedAt['early']!);
    await subscribe(cloud, 'app-green-late', 'late', lateLsn);

    // Keep writing while replication runs, then stop and let it catch up.
    const onBlueBefore = (await ids(cloud, 'app-blue')).length;
    await until('writes during replication', async () => (await ids(cloud, 'app-blue')).length > onBlueBefore + 300);
    const committed = await writes.stop();
    const blue = await ids(cloud, 'app-blue');
    expect(blue.length).toBe(committed);
    const last = blue[blue.length - 1]!;
    // Caught up, or stopped by an apply error (then the assertions below say which).
    await until(
      'green-exact to catch up or fail',
      async () =>
        (await ids(cloud, 'app-green-exact')).includes(last) || (await applyErrors(cloud, 'app-green-exact')) > 0,
    );
    await until('green-late has caught up', async () => (await ids(cloud, 'app-green-late')).includes(last));
    await until('green-early stops on a duplicate key', async () => (await applyErrors(cloud, 'app-green-early')) > 0);

    // Exact: every row of blue, once (the key would refuse a second copy, and apply never failed).
    const green = await ids(cloud, 'app-green-exact');
    expect(green).toEqual(blue);
    expect(green).toEqual(Array.from({ length: green.length }, (_, i) => i + 1)); // 1..n, no gap
    expect(await applyErrors(cloud, 'app-green-exact')).toBe(0);
    expect(duplicateKeyErrorsInLog(cloud, 'app-green-exact-1')).toBe(0);

    // Too early (the slot's creation point): rows already in the clone come again; apply stops.
    expect(duplicateKeyErrorsInLog(cloud, 'app-green-early-1')).toBeGreaterThan(0);
    expect((await ids(cloud, 'app-green-early')).length).toBeLessThan(blue.length);

    // Too late: what blue committed between the clone and that LSN never arrives.
    const late = new Set(await ids(cloud, 'app-green-late'));
    const missing = blue.filter((id) => !late.has(id));
    expect(missing.length).toBeGreaterThan(0);
    expect(await applyErrors(cloud, 'app-green-late')).toBe(0);
  }, 120_000);
});
