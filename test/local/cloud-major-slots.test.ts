import type { LocalCloud } from '../../local/cloud';
import { LOGICAL_SLOTS_PRECHECK_FAILURE } from '../../local/cloud/clusters';
import { majorUpgradePlan } from '../../local/postgres';
import { sampleSchemaSql } from '../../local/sample';
import { isUpgradeFailureEvent } from '../../lambdas/steps/upgrade-engine';
import { verifyClone } from '../../lambdas/steps/verify-clone';
import { makeDocument } from '../support/documents';
import { cloneGreenWithWriter, createTestCloud, makeWorkdir, removeWorkdir } from './work';

const GREEN = { clusterId: 'app-green', host: 'app-green.cluster.local', port: 5432 };

/**
 * Aurora's major-upgrade precheck refuses a source earlier than 17 with any logical replication
 * slot (AuroraUserGuide, "Reestablishing logical replication after a major upgrade"). A clone
 * carries its source's slots, so a clone of a blue with a CDC slot meets it.
 */
describe("local cloud: a major upgrade refuses logical replication slots, as Aurora's precheck does", () => {
  const workdir = makeWorkdir('cloud-major-slots');
  let cloud: LocalCloud;

  async function untilSettled() {
    let green = await cloud.clusters.describeCluster('app-green');
    const deadline = Date.now() + 60_000;
    while (green?.status === 'upgrading' && Date.now() < deadline) {
      await cloud.clock.sleep(50);
      green = await cloud.clusters.describeCluster('app-green');
    }
    return green;
  }

  async function slotsOnGreen(): Promise<string[]> {
    const session = await cloud.database.connect(GREEN, 'app');
    try {
      const rows = await session.query<{ name: string }>(
        'SELECT slot_name::text AS name FROM pg_replication_slots ORDER BY slot_name',
      );
      return rows.rows.map((r) => r.name);
    } finally {
      await session.close();
    }
  }

  beforeAll(async () => {
    cloud = await createTestCloud({ workdir, operationDelayMs: 50 });
    cloud.addParameterGroup('cluster', 'pg15-logical', 'aurora-postgresql15', { 'rds.logical_replication': '1' });
    await cloud.createBlue({
      id: 'app-blue',
      engineVersion: '15.18',
      readers: 0,
      schemaSql: sampleSchemaSql(),
      clusterParameterGroupName: 'pg15-logical',
    });
    const admin = await cloud.database.connect(
      { clusterId: 'app-blue', host: 'app-blue.cluster.local', port: 5432 },
      'app',
    );
    // A CDC consumer's slot on blue (Debezium's plugin).
    await admin.query("SELECT pg_create_logical_replication_slot('debezium_orders', 'pgoutput')");
    await admin.close();
    await cloneGreenWithWriter(cloud);
  });

  afterAll(async () => {
    await cloud?.stopAll();
    removeWorkdir(workdir);
  });

  it('names the behaviour in the list of modelled AWS behaviours', () => {
    const modelled = cloud.modelled().find((m) => m.name === 'Major upgrade precheck: logical replication slots');
    expect(modelled?.figure).toBe('refused from a source before 17');
    expect(modelled?.description).toMatch(/precheck stops the upgrade if any logical replication slot exists/);
    expect(modelled?.description).toMatch(/event.*available on its old version/);
  });

  it('fails with an RDS event and stays available on 15.18 while the clone has the slot; upgrades once it is dropped', async () => {
    const plan = majorUpgradePlan('15.18', '16.14');
    if (!plan) {
      // No local method for this major on this machine: RDS-like refusal before any precheck (cloud-major.test.ts).
      expect((await cloud.clusters.validUpgradeTargets('15.18')).some((t) => t.isMajorVersionUpgrade)).toBe(false);
      return;
    }
    expect(await slotsOnGreen()).toEqual(['debezium_orders']); // the clone kept blue's slot
    const request = {
      clusterId: 'app-green',
      engineVersion: '16.14',
      allowMajorVersionUpgrade: true,
      clusterParameterGroupName: 'default.aurora-postgresql16',
      instanceParameterGroupName: 'default.aurora-postgresql16',
    };
    const since = new Date(Date.now() - 1000).toISOString();

    await cloud.clusters.upgradeEngine(request);
    expect((await cloud.clusters.describeCluster('app-green'))?.status).toBe('upgrading');
    const refused = await untilSettled();

    expect(refused).toMatchObject({ status: 'available', engineVersion: '15.18', pendingModifications: false });
    expect(refused?.pendingEngineVersion).toBeUndefined();
    expect((await cloud.clusters.describeInstance('app-green-1'))?.status).toBe('available');
    const events = await cloud.clusters.clusterEvents('app-green', since);
    expect(events).toHaveLength(1);
    expect(events[0]!.message).toContain(LOGICAL_SLOTS_PRECHECK_FAILURE);
    expect(events[0]!.message).toContain('(app.debezium_orders)');
    // CheckUpgrade reads it as a failed upgrade (UpgradeFailed, then the rollback).
    expect(isUpgradeFailureEvent(events[0]!)).toBe(true);
    expect(await slotsOnGreen()).toEqual(['debezium_orders']); // refused, nothing changed

    // VerifyClone (a dry run's: no fence) drops green's copy before UpgradeEngine; the same request then upgrades.
    const doc = makeDocument(
      { host: 'app-blue.cluster.local', port: 5432 },
      { input: { blueClusterId: 'app-blue', greenClusterId: 'app-green', dryRun: true, targetEngineVersion: '16.14' } },
    );
    doc.blue = {
      ...doc.blue!,
      id: 'app-blue',
      engineVersion: '15.18',
      upgrade: { isMajor: true, targetFamily: 'aurora-postgresql16' },
    };
    delete doc.green; // green is the local cloud's app-green (input.greenClusterId)
    const verified = await verifyClone(doc, { database: cloud.database, clusters: cloud.clusters });
    expect(verified.inheritedSlots?.map((s) => [s.name, s.database, s.dropped])).toEqual([
      ['debezium_orders', 'app', true],
    ]);
    expect(await slotsOnGreen()).toEqual([]);
    await cloud.clusters.upgradeEngine(request);
    const upgraded = await untilSettled();

    expect(upgraded).toMatchObject({ status: 'available', engineVersion: '16.14', pendingModifications: false });
    expect(await cloud.clusters.clusterEvents('app-green', since)).toHaveLength(1);
    // Blue's own slot was never touched.
    const blue = await cloud.database.connect(
      { clusterId: 'app-blue', host: 'app-blue.cluster.local', port: 5432 },
      'app',
    );
    const onBlue = await blue.query<{ name: string }>('SELECT slot_name::text AS name FROM pg_replication_slots');
    await blue.close();
    expect(onBlue.rows.map((r) => r.name)).toEqual(['debezium_orders']);
  });
});
