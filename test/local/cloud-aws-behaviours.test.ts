import type { ExecutionDocument } from '../../lambdas/domain/document';
import { checkRestorable } from '../../lambdas/steps/check-restorable';
import { checkUpgrade } from '../../lambdas/steps/upgrade-engine';
import { UpgradeFailed } from '../../lambdas/domain/errors';
import type { LocalCloud } from '../../local/cloud';
import { LOCAL_UPGRADE_FAILURE } from '../../local/cloud/clusters';
import { sampleSchemaSql, sampleSeedSql } from '../../local/sample';
import { stepDocument } from '../support/step-fixtures';
import { createTestCloud, makeWorkdir, removeWorkdir } from './work';

/**
 * AWS behaviours the local cloud plays because the workflow depends on them (and the report
 * names them): LatestRestorableTime trailing the present, and an engine upgrade that RDS fails.
 */

const ADMIN = 'sg-admin';
const LAG_MS = 1500;

describe('local cloud: AWS behaviours it models', () => {
  const workdir = makeWorkdir('cloud-aws');
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await createTestCloud({
      workdir,
      adminSecurityGroupId: ADMIN,
      operationDelayMs: 100,
      restorableLagMs: LAG_MS,
      upgradeFails: true,
    });
    await cloud.createBlue({
      id: 'app-blue',
      engineVersion: '16.13',
      readers: 0,
      schemaSql: sampleSchemaSql(),
      seedSql: sampleSeedSql(),
    });
  });

  afterAll(async () => {
    await cloud?.stopAll();
    removeWorkdir(workdir);
  });

  it('keeps LatestRestorableTime behind the present by the modelled lag, so CheckRestorable waits for it to pass the fence', async () => {
    // Let blue be older than the lag, as a production cluster is.
    await new Promise((r) => setTimeout(r, LAG_MS + 100));
    const before = Date.now();
    const blue = await cloud.clusters.describeCluster('app-blue');
    const after = Date.now();
    const restorable = Date.parse(blue?.latestRestorableTime ?? '');
    expect(restorable).toBeGreaterThanOrEqual(before - LAG_MS);
    expect(restorable).toBeLessThanOrEqual(after - LAG_MS);

    const doc = stepDocument({ checkWindowSeconds: 0 });
    doc.blue = { id: 'app-blue' } as ExecutionDocument['blue'];
    doc.fence = { fencedAt: new Date().toISOString() } as ExecutionDocument['fence'];
    const ports = { clusters: cloud.clusters, clock: cloud.clock, notifier: cloud.notifier };
    await expect(checkRestorable(doc, ports)).resolves.toMatchObject({ done: false });
    await new Promise((r) => setTimeout(r, LAG_MS + 50));
    await expect(checkRestorable(doc, ports)).resolves.toMatchObject({ done: true });
  });

  it("restores a clone to its source's LatestRestorableTime, not to the moment it was asked for", async () => {
    const askedAt = Date.now();
    await cloud.clusters.cloneCopyOnWrite({
      sourceClusterId: 'app-blue',
      targetClusterId: 'app-green',
      port: 5432,
      copyTagsToSnapshot: false,
      iamAuth: false,
      logExports: [],
      securityGroupIds: [ADMIN],
      tags: {},
    });
    const restoredTo = Date.parse(cloud.describeState().clusters.find((c) => c.id === 'app-green')?.restoredTo ?? '');
    expect(restoredTo).toBeLessThanOrEqual(Date.now() - LAG_MS);
    expect(restoredTo).toBeGreaterThanOrEqual(askedAt - LAG_MS);
  });

  it('fails an upgrade as RDS does: upgrading with the version pending, then an event and available on the old version', async () => {
    const requestedAt = new Date().toISOString();
    await cloud.clusters.upgradeEngine({
      clusterId: 'app-blue',
      engineVersion: '16.14',
      allowMajorVersionUpgrade: false,
    });
    const during = await cloud.clusters.describeCluster('app-blue');
    expect(during).toMatchObject({ status: 'upgrading', engineVersion: '16.13', pendingEngineVersion: '16.14' });

    const deadline = Date.now() + 20_000;
    let now = during;
    while (now?.status !== 'available' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      now = await cloud.clusters.describeCluster('app-blue');
    }
    expect(now).toMatchObject({ status: 'available', engineVersion: '16.13', pendingModifications: false });
    expect(now?.pendingEngineVersion).toBeUndefined();
    expect(await cloud.clusters.clusterEvents('app-blue', requestedAt)).toEqual([
      { date: expect.any(String), message: LOCAL_UPGRADE_FAILURE, categories: ['maintenance'] },
    ]);
    expect(await cloud.clusters.clusterEvents('app-blue', new Date(Date.now() + 1000).toISOString())).toEqual([]);

    // The real CheckUpgrade recognises it at once, with the local cloud's reason.
    const doc = stepDocument({ targetEngineVersion: '16.14', checkWindowSeconds: 0 });
    doc.input.greenClusterId = 'app-blue';
    doc.upgrade = { requested: true, from: '16.13', to: '16.14', isMajor: false, requestedAt };
    const error = await checkUpgrade(doc, { clusters: cloud.clusters, clock: cloud.clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpgradeFailed);
    expect((error as Error).message).toContain('Upgrade prechecks failed');

    // The server itself still runs the old version.
    const session = await cloud.database.connect({ clusterId: 'app-blue', host: '', port: 0 }, 'app');
    const version = await session.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    await session.close();
    expect(version.rows[0]?.v).toBe('16.13');
  });

  it('names every modelled behaviour with its figure', () => {
    const modelled = cloud.modelled();
    expect(modelled.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        'RDS operation latency',
        'Route 53 change propagation',
        'LatestRestorableTime lag',
        'Failed engine upgrade',
        'Clone start LSN',
        'rds.logical_replication',
      ]),
    );
    expect(modelled.find((m) => m.name === 'Clone start LSN')?.description).toContain(
      'aurora_volume_logical_start_lsn()',
    );
    expect(modelled.find((m) => m.name === 'rds.logical_replication')?.figure).toBe('static: in effect after a reboot');
    expect(modelled.find((m) => m.name === 'LatestRestorableTime lag')?.figure).toBe(`${LAG_MS} ms behind the present`);
    expect(modelled.find((m) => m.name === 'Failed engine upgrade')?.figure).toBe('on (every upgrade fails)');
    expect(modelled.find((m) => m.name === 'RDS operation latency')?.figure).toBe('100 ms at least');
    expect(modelled.find((m) => m.name === 'Security-group connection tracking')?.figure).toBe(
      'established connections kept; new ones dropped silently',
    );
    for (const m of modelled) expect(m.description.length).toBeGreaterThan(20);
  });
});
