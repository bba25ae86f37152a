import { PreconditionFailed } from '../../lambdas/domain/errors';
import type { LocalCloud } from '../../local/cloud';
import { majorUpgradePlan } from '../../local/postgres';
import { sampleSchemaSql } from '../../local/sample';
import { cloneGreenWithWriter, createTestCloud, makeWorkdir, removeWorkdir } from './work';

describe('local cloud: major engine upgrade of a clone', () => {
  const workdir = makeWorkdir('cloud-major');
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await createTestCloud({
      workdir,
      operationDelayMs: 50,
    });
    await cloud.createBlue({ id: 'app-blue', engineVersion: '15.18', readers: 0, schemaSql: sampleSchemaSql() });
    const admin = await cloud.database.connect(
      { clusterId: 'app-blue', host: 'app-blue.cluster.local', port: 5432 },
      'app',
    );
    await admin.query('INSERT INTO app.load_writes (id) VALUES (42)');
    await admin.close();
    await cloneGreenWithWriter(cloud);
    await cloud.clusters.createInstance({
      instanceId: 'app-green-2',
      clusterId: 'app-green',
      instanceClass: 'db.r6g.large',
      performanceInsights: false,
      tags: {},
    });
    while ((await cloud.clusters.describeInstance('app-green-2'))?.status !== 'available') await cloud.clock.sleep(25);
  });

  afterAll(async () => {
    await cloud?.stopAll();
    removeWorkdir(workdir);
  });

  it('upgrades 15.18 → 16.14 with the best local method (writer and reader), or refuses like RDS when there is none', async () => {
    const plan = majorUpgradePlan('15.18', '16.14');
    const targets = await cloud.clusters.validUpgradeTargets('15.18');
    const request = {
      clusterId: 'app-green',
      engineVersion: '16.14',
      allowMajorVersionUpgrade: true,
      clusterParameterGroupName: 'default.aurora-postgresql16',
      instanceParameterGroupName: 'default.aurora-postgresql16',
    };
    if (!plan) {
      expect(targets.some((t) => t.isMajorVersionUpgrade)).toBe(false);
      await expect(cloud.clusters.upgradeEngine(request)).rejects.toBeInstanceOf(PreconditionFailed);
      return;
    }
    expect(targets).toContainEqual({ engineVersion: '16.14', isMajorVersionUpgrade: true });
    await expect(cloud.clusters.upgradeEngine({ ...request, allowMajorVersionUpgrade: false })).rejects.toThrow(
      /AllowMajorVersionUpgrade/,
    );

    await cloud.clusters.upgradeEngine(request);
    expect((await cloud.clusters.describeCluster('app-green'))?.status).toBe('upgrading');
    let green = await cloud.clusters.describeCluster('app-green');
    const deadline = Date.now() + 40_000;
    while (green?.status === 'upgrading' && Date.now() < deadline) {
      await cloud.clock.sleep(50);
      green = await cloud.clusters.describeCluster('app-green');
    }

    expect(green).toMatchObject({
      status: 'available',
      engineVersion: '16.14',
      pendingModifications: false,
      clusterParameterGroupName: 'default.aurora-postgresql16',
    });
    const state = cloud.describeState().clusters.find((c) => c.id === 'app-green');
    expect(state?.upgrade?.method).toBe(plan.method);
    expect(state?.instances.map((i) => [i.id, i.role, i.engineVersion, i.running])).toEqual([
      ['app-green-1', 'writer', '16.14', true],
      ['app-green-2', 'reader', '16.14', true],
    ]);
    const session = await cloud.database.connect(
      { clusterId: 'app-green', host: 'app-green.cluster.local', port: 5432 },
      'app',
    );
    const rows = await session.query<{ v: string; n: number; lsn: string }>(
      "SELECT current_setting('server_version') AS v, (SELECT count(*)::int FROM app.load_writes WHERE id = 42) AS n, aurora_volume_logical_start_lsn()::text AS lsn",
    );
    await session.close();
    // The clone's start LSN outlives the upgrade (it is asked for after migrations and the upgrade).
    expect(state?.cloneStartLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(rows.rows[0]).toEqual({ v: '16.14', n: 1, lsn: state?.cloneStartLsn });
  });
});
