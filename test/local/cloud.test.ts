import { Client } from 'pg';
import { PreconditionFailed } from '../../lambdas/domain/errors';
import type { Cluster } from '../../lambdas/ports';
import { createLocalCloud, LOCAL_MIGRATIONS_PREFIX, type LocalCloud } from '../../local/cloud';
import { SUPERUSER } from '../../local/postgres';
import { SAMPLE_MIGRATIONS_DIR, sampleSchemaSql, sampleSeedSql } from '../../local/sample';
import { makeWorkdir, removeWorkdir } from './work';

const ACCESS = 'sg-app';
const ADMIN = 'sg-admin';
const ZONE = 'ZLOCAL';
const RECORD = 'db.rehearsal.internal';

/** Polls like the state machine's Check → Choice → Wait loop; returns every status it saw. */
async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  seen: string[],
  label: (value: T) => string,
): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    const status = label(value);
    if (seen[seen.length - 1] !== status) seen.push(status);
    if (done(value)) return value;
    if (status.includes('failed') || Date.now() > deadline) throw new Error(`still ${status}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function pollDefined<T>(
  read: () => Promise<T | undefined>,
  done: (value: T | undefined) => boolean,
  seen: string[],
  label: (value: T | undefined) => string,
): Promise<T> {
  const value = await pollUntil(read, done, seen, label);
  if (value === undefined) throw new Error('gone');
  return value;
}

async function queryVia(address: { host: string; port: number }, sql: string): Promise<Record<string, unknown>[]> {
  const client = new Client({
    ...address,
    database: 'app',
    user: SUPERUSER.username,
    password: SUPERUSER.password,
    connectionTimeoutMillis: 2000,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('local cloud (real PostgreSQL behind AWS-like ports)', () => {
  const workdir = makeWorkdir('cloud');
  let cloud: LocalCloud;
  let blue: Cluster;

  beforeAll(async () => {
    cloud = await createLocalCloud({
      workdir,
      accessSecurityGroupId: ACCESS,
      adminSecurityGroupId: ADMIN,
      hostedZoneId: ZONE,
      recordName: RECORD,
      migrationsDir: SAMPLE_MIGRATIONS_DIR,
      operationDelayMs: 150,
    });
    blue = await cloud.createBlue({
      id: 'app-blue',
      engineVersion: '16.13',
      readers: 1,
      schemaSql: sampleSchemaSql(),
      seedSql: sampleSeedSql(),
    });
  });

  afterAll(async () => {
    await cloud?.stopAll();
    removeWorkdir(workdir);
  });

  it('starts blue with a writer and a streaming reader, reachable through the CNAME', async () => {
    expect(blue).toMatchObject({
      status: 'available',
      engine: 'aurora-postgresql',
      engineVersion: '16.13',
      endpoint: 'app-blue.cluster.local',
    });
    expect(blue.members).toEqual([
      { instanceId: 'app-blue-1', isWriter: true, parameterGroupStatus: 'in-sync' },
      { instanceId: 'app-blue-2', isWriter: false, parameterGroupStatus: 'in-sync' },
    ]);
    expect(await cloud.dns.getRecord(ZONE, RECORD)).toMatchObject({
      type: 'CNAME',
      values: ['app-blue.cluster.local'],
    });
    const rows = await queryVia(cloud.cname(), 'SELECT count(*)::int AS n FROM app.orders');
    expect(rows[0]?.n).toBe(2000);
    expect(cloud.describeState().cname.targetClusterId).toBe('app-blue');
  });

  it('detaching the access group refuses new connections but keeps established ones', async () => {
    const app = new Client({
      ...cloud.cname(),
      database: 'app',
      user: SUPERUSER.username,
      password: SUPERUSER.password,
    });
    app.on('error', () => undefined);
    await app.connect();
    try {
      await cloud.clusters.setSecurityGroups('app-blue', [ADMIN]);
      const seen: string[] = [];
      await pollUntil(
        () => cloud.clusters.describeCluster('app-blue'),
        (c) => !!c && c.securityGroups.every((g) => g.status === 'active'),
        seen,
        (c) => c?.securityGroups.map((g) => `${g.id}:${g.status}`).join(',') ?? 'gone',
      );
      expect(seen[0]).toBe('sg-app:removing,sg-admin:active');
      expect(seen[seen.length - 1]).toBe('sg-admin:active');

      await expect(queryVia(cloud.cname(), 'SELECT 1')).rejects.toThrow();
      expect((await app.query('SELECT 2 AS two')).rows[0]).toEqual({ two: 2 });
      // The admin path ignores security groups.
      const session = await cloud.database.connect(
        { clusterId: 'app-blue', host: blue.endpoint, port: blue.port },
        'app',
      );
      expect((await session.query<{ n: number }>('SELECT 3 AS n')).rows[0]?.n).toBe(3);
      await session.close();
    } finally {
      await app.end().catch(() => undefined);
      await cloud.clusters.setSecurityGroups('app-blue', [ACCESS, ADMIN]);
      await pollUntil(
        () => cloud.clusters.describeCluster('app-blue'),
        (c) => !!c && c.securityGroups.every((g) => g.status === 'active'),
        [],
        () => '',
      );
    }
    expect(await queryVia(cloud.cname(), 'SELECT 4 AS n')).toEqual([{ n: 4 }]);
  });

  it('clones asynchronously (creating → available, no instances), then a writer makes it reachable with the data', async () => {
    const marker = `committed before the clone ${Date.now()}`;
    const admin = await cloud.database.connect({ clusterId: 'app-blue', host: blue.endpoint, port: blue.port }, 'app');
    await admin.query('CREATE TABLE IF NOT EXISTS app.markers (note text)');
    await admin.query('INSERT INTO app.markers VALUES ($1)', [marker]);
    await admin.close();

    await cloud.clusters.cloneCopyOnWrite({
      sourceClusterId: 'app-blue',
      targetClusterId: 'app-green',
      port: 5432,
      copyTagsToSnapshot: true,
      storageType: 'aurora-iopt1',
      iamAuth: false,
      logExports: ['postgresql'],
      securityGroupIds: [ADMIN],
      tags: { 'bluegreen:role': 'green' },
    });
    const seen: string[] = [];
    const green = await pollDefined(
      () => cloud.clusters.describeCluster('app-green'),
      (c) => c?.status === 'available',
      seen,
      (c) =>
        c?.status === 'failed'
          ? `failed: ${cloud.describeState().clusters.find((x) => x.id === c.id)?.lastError}`
          : (c?.status ?? 'missing'),
    );
    expect(seen).toEqual(['creating', 'available']);
    expect(green).toMatchObject({ members: [], engineVersion: '16.13', tags: { 'bluegreen:role': 'green' } });
    // As RDS: the settings the restore was given, and its own defaults for the rest.
    expect(green).toMatchObject({
      storageType: 'aurora-iopt1',
      copyTagsToSnapshot: true,
      engineLifecycleSupport: 'open-source-rds-extended-support',
      associatedRoles: [],
    });

    await cloud.clusters.createInstance({
      instanceId: 'app-green-1',
      clusterId: 'app-green',
      instanceClass: 'db.r6g.large',
      performanceInsights: false,
      tags: {},
    });
    const instanceSeen: string[] = [];
    await pollUntil(
      () => cloud.clusters.describeInstance('app-green-1'),
      (i) => i?.status === 'available',
      instanceSeen,
      (i) =>
        i?.status === 'failed'
          ? `failed: ${
              cloud
                .describeState()
                .clusters.flatMap((c) => c.instances)
                .find((x) => x.id === i.id)?.lastError
            }`
          : (i?.status ?? 'missing'),
    );
    expect(instanceSeen).toEqual(['creating', 'available']);
    expect((await cloud.clusters.describeCluster('app-green'))?.members).toEqual([
      { instanceId: 'app-green-1', isWriter: true, parameterGroupStatus: 'in-sync' },
    ]);

    const session = await cloud.database.connect(
      { clusterId: 'app-green', host: green.endpoint, port: green.port },
      'app',
    );
    const rows = await session.query<{ n: number }>('SELECT count(*)::int AS n FROM app.markers WHERE note = $1', [
      marker,
    ]);
    await session.close();
    expect(rows.rows[0]?.n).toBe(1);
    // Green's endpoint has only the admin group: applications cannot reach it yet.
    await expect(queryVia({ host: '127.0.0.1', port: green.port }, 'SELECT 1')).rejects.toThrow();
  });

  it('raises AWS-shaped errors through the shared mapping', async () => {
    const again = cloud.clusters.cloneCopyOnWrite({
      sourceClusterId: 'app-blue',
      targetClusterId: 'app-green',
      port: 5432,
      copyTagsToSnapshot: false,
      iamAuth: false,
      logExports: [],
      securityGroupIds: [ADMIN],
      tags: {},
    });
    await expect(again).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(again).rejects.toThrow(/DBClusterAlreadyExistsFault/);
    await expect(cloud.clusters.deleteInstance('nope')).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    await expect(cloud.dns.getRecord('ZOTHER', RECORD)).rejects.toThrow(/NoSuchHostedZone/);
    const role = 'arn:aws:iam::000000000000:role/s3-import';
    await cloud.clusters.addRole('app-green', role, 's3Import');
    await cloud.clusters.addRole('app-green', role, 's3Import'); // already there: success, once
    const secret = await cloud.clusters.manageMasterUserPassword('app-green');
    expect(await cloud.clusters.describeCluster('app-green')).toMatchObject({
      associatedRoles: [{ roleArn: role, featureName: 's3Import', status: 'ACTIVE' }],
      masterUserSecret: { secretArn: secret },
    });
    expect(await cloud.clusters.validUpgradeTargets('16.13')).toContainEqual({
      engineVersion: '16.14',
      isMajorVersionUpgrade: false,
    });
    expect(await cloud.clusters.parameterGroupFamilyOf('16.14')).toBe('aurora-postgresql16');
    expect(await cloud.clusters.clusterParameterGroupFamily('default.aurora-postgresql15')).toBe('aurora-postgresql15');
    expect((await cloud.migrations.list(LOCAL_MIGRATIONS_PREFIX)).map((f) => f.name)).toEqual([
      '001_order_status.sql',
      '002_order_events.sql',
      '003_orders_customer_index.sql',
    ]);
  });

  it('upgrades the minor version (upgrading → available, no pending modifications), then cuts over the CNAME', async () => {
    await cloud.clusters.upgradeEngine({
      clusterId: 'app-green',
      engineVersion: '16.14',
      allowMajorVersionUpgrade: false,
    });
    const seen: string[] = [];
    const upgraded = await pollDefined(
      () => cloud.clusters.describeCluster('app-green'),
      (c) => c?.status === 'available' && c.engineVersion === '16.14' && !c.pendingModifications,
      seen,
      (c) => `${c?.status} ${c?.engineVersion}`,
    );
    expect(seen[0]).toBe('upgrading 16.13');
    expect(cloud.describeState().clusters.find((c) => c.id === 'app-green')?.upgrade?.method).toBe(
      'restart-on-new-minor',
    );

    const before = new Client({
      ...cloud.cname(),
      database: 'app',
      user: SUPERUSER.username,
      password: SUPERUSER.password,
    });
    before.on('error', () => undefined);
    await before.connect();
    await cloud.clusters.setSecurityGroups('app-green', [ACCESS, ADMIN]);
    await pollUntil(
      () => cloud.clusters.describeCluster('app-green'),
      (c) => !!c && c.securityGroups.every((g) => g.status === 'active'),
      [],
      () => '',
    );
    const change = await cloud.dns.upsertCname(ZONE, RECORD, upgraded.endpoint, 5, 'cutover');
    expect(await cloud.dns.changeStatus(change)).toBe('PENDING');
    await pollUntil(
      () => cloud.dns.changeStatus(change),
      (s) => s === 'INSYNC',
      [],
      (s) => s,
    );
    // The propagation is one of the local operations the report counts (submitted -> INSYNC).
    const propagation = cloud
      .operations()
      .filter((o) => o.operation === 'dns change')
      .at(-1);
    expect(propagation?.resource).toBe(RECORD.replace(/\.$/, '').toLowerCase());
    expect(propagation?.ms).toBeGreaterThan(0);

    const version = await queryVia(cloud.cname(), "SELECT current_setting('server_version') AS v");
    expect(version[0]?.v).toBe('16.14');
    expect((await before.query("SELECT current_setting('server_version') AS v")).rows[0]?.v).toBe('16.13');
    await before.end();
    expect(cloud.describeState().cname).toMatchObject({
      value: 'app-green.cluster.local',
      targetClusterId: 'app-green',
    });
  });

  it('deletes blue: instances then the cluster, keeping a final snapshot', async () => {
    for (const id of ['app-blue-2', 'app-blue-1']) await cloud.clusters.deleteInstance(id);
    expect((await cloud.clusters.describeInstance('app-blue-1'))?.status).toBe('deleting');
    await expect(cloud.clusters.deleteCluster('app-blue', 'app-blue-final')).resolves.toBeUndefined();
    const seen: string[] = [];
    await pollUntil(
      () => cloud.clusters.describeCluster('app-blue'),
      (c) => c === undefined,
      seen,
      (c) => c?.status ?? 'gone',
    );
    expect(seen).toEqual(['deleting', 'gone']);
    expect(await cloud.clusters.describeClusterSnapshot('app-blue-final')).toEqual({
      id: 'app-blue-final',
      status: 'available',
    });
    expect(await cloud.clusters.describeInstance('app-blue-1')).toBeUndefined();
    const state = cloud.describeState();
    expect(state.clusters.map((c) => c.id)).toEqual(['app-green']);
    expect(state.snapshots[0]?.dir).toContain('snapshots');
  });
});
