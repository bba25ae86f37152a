import type { LocalCloud } from '../../local/cloud';
import { sampleSchemaSql } from '../../local/sample';
import { createTestCloud, makeWorkdir, removeWorkdir } from './work';

/**
 * `rds.logical_replication` as Aurora has it: a static cluster parameter. The group's value is
 * what DescribeDBClusterParameters reports; the server runs with `wal_level = logical` only once
 * it has (re)started since the group said so, and until then the member is `pending-reboot`.
 */

const GROUP = 'app-pg16-cluster';

async function walLevel(cloud: LocalCloud, instanceId: string): Promise<string> {
  const server = cloud.clusters.instances.get(instanceId)?.server;
  if (!server) throw new Error(`${instanceId} has no server`);
  const rows = await server.query<{ wal_level: string }>('SHOW wal_level');
  return rows[0]?.wal_level ?? '';
}

async function memberStatuses(cloud: LocalCloud): Promise<Record<string, string | undefined>> {
  const blue = await cloud.clusters.describeCluster('app-blue');
  return Object.fromEntries((blue?.members ?? []).map((m) => [m.instanceId, m.parameterGroupStatus]));
}

async function untilAvailable(cloud: LocalCloud, instanceId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await cloud.clusters.describeInstance(instanceId))?.status !== 'available') {
    if (Date.now() > deadline) throw new Error(`${instanceId} did not come back`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('local cloud: rds.logical_replication in the cluster parameter group', () => {
  const workdir = makeWorkdir('cloud-params');
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await createTestCloud({
      workdir,
      operationDelayMs: 50,
    });
    cloud.addParameterGroup('cluster', GROUP, 'aurora-postgresql16', { 'rds.logical_replication': '1' });
    await cloud.createBlue({
      id: 'app-blue',
      engineVersion: '16.14',
      readers: 1,
      schemaSql: sampleSchemaSql(),
      clusterParameterGroupName: GROUP,
    });
  });

  afterAll(async () => {
    await cloud?.stopAll();
    removeWorkdir(workdir);
  });

  it('reports the group value, and runs every instance with wal_level = logical when it is 1', async () => {
    expect(await cloud.clusters.clusterParameterValue(GROUP, 'rds.logical_replication')).toBe('1');
    // Aurora's default groups leave it unset (0).
    expect(
      await cloud.clusters.clusterParameterValue('default.aurora-postgresql16', 'rds.logical_replication'),
    ).toBeUndefined();
    expect(await cloud.clusters.clusterParameterValue('no-such-group', 'rds.logical_replication')).toBeUndefined();
    expect(await memberStatuses(cloud)).toEqual({ 'app-blue-1': 'in-sync', 'app-blue-2': 'in-sync' });
    expect(await walLevel(cloud, 'app-blue-1')).toBe('logical');
    expect(await walLevel(cloud, 'app-blue-2')).toBe('logical');
  });

  it('a change is pending-reboot until the instance restarts, then in effect and in sync', async () => {
    cloud.clusters.setClusterParameters(GROUP, { 'rds.logical_replication': '0' });
    expect(await cloud.clusters.clusterParameterValue(GROUP, 'rds.logical_replication')).toBe('0');
    expect(await memberStatuses(cloud)).toEqual({ 'app-blue-1': 'pending-reboot', 'app-blue-2': 'pending-reboot' });
    expect(await walLevel(cloud, 'app-blue-1')).toBe('logical');

    await cloud.clusters.rebootInstance('app-blue-1');
    await untilAvailable(cloud, 'app-blue-1');
    expect(await walLevel(cloud, 'app-blue-1')).toBe('replica');
    expect(await memberStatuses(cloud)).toEqual({ 'app-blue-1': 'in-sync', 'app-blue-2': 'pending-reboot' });

    // Back to 1: pending again, and in effect after the reboot.
    cloud.clusters.setClusterParameters(GROUP, { 'rds.logical_replication': '1' });
    expect(await memberStatuses(cloud)).toEqual({ 'app-blue-1': 'pending-reboot', 'app-blue-2': 'in-sync' });
    await cloud.clusters.rebootInstance('app-blue-1');
    await untilAvailable(cloud, 'app-blue-1');
    expect(await walLevel(cloud, 'app-blue-1')).toBe('logical');
    expect(await memberStatuses(cloud)).toEqual({ 'app-blue-1': 'in-sync', 'app-blue-2': 'in-sync' });
  });

  it('refuses to modify a default group, as RDS does', () => {
    expect(() =>
      cloud.clusters.setClusterParameters('default.aurora-postgresql16', { 'rds.logical_replication': '1' }),
    ).toThrow(/Default parameter groups cannot be modified/);
  });
});
