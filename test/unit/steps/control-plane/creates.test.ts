import type { ExecutionDocument } from '../../../../lambdas/domain/document';
import { EXECUTION_TAG, ROLE_TAG, SOURCE_TAG } from '../../../../lambdas/domain/document';
import { PreconditionFailed, RetryableAwsError } from '../../../../lambdas/domain/errors';
import { addReplicas } from '../../../../lambdas/steps/add-replicas';
import { blockWrites, checkWritesBlocked } from '../../../../lambdas/steps/block-writes';
import { checkCnameTtl, lowerCnameTtl } from '../../../../lambdas/steps/cname-ttl';
import { checkClone, createClone } from '../../../../lambdas/steps/create-clone';
import { checkGreenOpen, openGreen, swapCname } from '../../../../lambdas/steps/cutover';
import { checkBlueDeleted, deleteBlue } from '../../../../lambdas/steps/delete-blue';
import { checkGreenDiscarded, discardGreen } from '../../../../lambdas/steps/discard-green';
import { createGreenWriter } from '../../../../lambdas/steps/green-writer';
import { upgradeEngine } from '../../../../lambdas/steps/upgrade-engine';
import type { CloneRequest, CreateInstanceRequest } from '../../../../lambdas/ports';
import { ADMIN_SG, APP_SGS, FakeCloud, RECORD, ZONE } from '../../../support/fake-cloud';
import type { RawOverrides } from '../../../support/step-fixtures';
import {
  BLUE,
  EXECUTION,
  GREEN,
  cloudWithBlue,
  failureOf,
  pollUntilDone,
  preflighted,
  stepHelpers,
} from '../../../support/step-fixtures';

const OURS = {
  [EXECUTION_TAG]: EXECUTION.id,
  [ROLE_TAG]: 'green',
  [SOURCE_TAG]: BLUE,
};
const WRITER = 'app-blue-g261205020000-w01';

let cloud: FakeCloud;

beforeEach(() => {
  cloud = cloudWithBlue();
});
const { cluster, instance, withGreen, withGreenWriter } = stepHelpers(() => cloud);

function callsOf<T>(op: string): T[] {
  return cloud.calls.filter((c) => c.op === op).map((c) => c.args as T);
}

describe('CreateClone', () => {
  it("clones blue as blue is configured, reachable only through the admin group, tagged as this execution's green", async () => {
    const doc = await preflighted(cloud);
    const green = await createClone(doc, cloud.ports());
    expect(green).toMatchObject({ id: GREEN, writerInstanceId: WRITER, reused: false });
    expect(cloud.mutations()).toEqual(['cloneCopyOnWrite']);
    const blue = cluster(BLUE);
    expect(callsOf<CloneRequest>('cloneCopyOnWrite')[0]).toEqual({
      sourceClusterId: BLUE,
      targetClusterId: GREEN,
      subnetGroupName: 'db-subnets',
      clusterParameterGroupName: 'pg16-cluster',
      kmsKeyId: blue.kmsKeyId,
      iamAuth: true,
      logExports: ['postgresql'],
      securityGroupIds: [ADMIN_SG],
      port: 5432,
      copyTagsToSnapshot: false,
      tags: OURS,
    });
  });

  it('is idempotent: a re-run finds its own clone and does not clone again', async () => {
    const doc = await preflighted(cloud);
    await createClone(doc, cloud.ports());
    const again = await createClone(doc, cloud.ports());
    expect(again).toMatchObject({ id: GREEN, writerInstanceId: WRITER, reused: true });
    expect(cloud.mutations()).toEqual(['cloneCopyOnWrite']);
  });

  it('refuses a cluster at green id that does not carry our execution tag', async () => {
    const doc = await preflighted(cloud);
    cloud.clusters.set(GREEN, { ...structuredClone(cluster(BLUE)), id: GREEN, members: [], tags: {} });
    const error = await failureOf(createClone(doc, cloud.ports()));
    expect(error).toBeInstanceOf(PreconditionFailed);
    expect(error.message).toBe(`Cluster ${GREEN} already exists and was not created by this execution.`);
    expect(cloud.calls).toEqual([]);
  });

  it("CheckClone records green's endpoint once available", async () => {
    const doc = await preflighted(cloud);
    doc.green = await createClone(doc, cloud.ports());
    const states = await pollUntilDone(doc, 'clone', (d) => checkClone(d, cloud.ports()));
    expect(states.slice(0, -1).every((s) => !s.done && s.status === 'creating')).toBe(true);
    expect(states.at(-1)).toMatchObject({ done: true, status: 'available', endpoint: cluster(GREEN).endpoint });
  });
});

describe('CreateGreenWriter', () => {
  it("creates the writer like blue's: class, AZ, parameter group, Performance Insights, our tags", async () => {
    const doc = await withGreen();
    const writer = await createGreenWriter(doc, cloud.ports());
    expect(writer).toMatchObject({ instanceId: WRITER, reused: false });
    expect(callsOf<CreateInstanceRequest>('createInstance')).toEqual([
      {
        instanceId: WRITER,
        clusterId: GREEN,
        instanceClass: 'db.r6g.large',
        availabilityZone: 'eu-west-1a',
        parameterGroupName: 'pg16-inst',
        performanceInsights: true,
        tags: { ...OURS, 'bluegreen:instance-role': 'writer' },
      },
    ]);
  });

  it("copies blue's monitoring and Performance Insights settings", async () => {
    Object.assign(instance(`${BLUE}-1`), {
      monitoringInterval: 60,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      performanceInsightsKmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      performanceInsightsRetentionPeriod: 731,
    });
    const doc = await withGreen();
    await createGreenWriter(doc, cloud.ports());
    expect(callsOf<CreateInstanceRequest>('createInstance')[0]).toMatchObject({
      monitoringInterval: 60,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      performanceInsights: true,
      performanceInsightsKmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      performanceInsightsRetentionPeriod: 731,
    });
  });

  it('uses writerInstanceClass when the input gives one', async () => {
    const doc = await withGreen({ writerInstanceClass: 'db.r7g.xlarge' });
    await createGreenWriter(doc, cloud.ports());
    expect(callsOf<CreateInstanceRequest>('createInstance')[0]?.instanceClass).toBe('db.r7g.xlarge');
  });

  it('is idempotent: a re-run finds its writer and creates nothing', async () => {
    const doc = await withGreen();
    await createGreenWriter(doc, cloud.ports());
    await expect(createGreenWriter(doc, cloud.ports())).resolves.toMatchObject({ instanceId: WRITER, reused: true });
    expect(callsOf('createInstance')).toHaveLength(1);
  });

  it('refuses an instance at the writer id that is not ours', async () => {
    const doc = await withGreen();
    cloud.instances.set(WRITER, { ...structuredClone(instance(`${BLUE}-1`)), id: WRITER, clusterId: GREEN });
    const before = cloud.calls.length;
    const error = await failureOf(createGreenWriter(doc, cloud.ports()));
    expect(error).toBeInstanceOf(PreconditionFailed);
    expect(error.message).toBe(`Instance ${WRITER} already exists and was not created by this execution.`);
    expect(cloud.calls).toHaveLength(before);
  });

  it('refuses an instance at the writer id with our tag but in another cluster', async () => {
    const doc = await withGreen();
    cloud.instances.set(WRITER, {
      ...structuredClone(instance(`${BLUE}-1`)),
      id: WRITER,
      clusterId: BLUE,
      tags: { ...OURS },
    });
    await expect(createGreenWriter(doc, cloud.ports())).rejects.toBeInstanceOf(PreconditionFailed);
  });
});

describe('AddReplicas', () => {
  it("creates replicaCount readers in AZs other than the writer's, round robin", async () => {
    const doc = await withGreenWriter({ replicaCount: 3 });
    const before = callsOf('createInstance').length;
    const replicas = await addReplicas(doc, cloud.ports());
    const readers = [`${GREEN}-r01`, `${GREEN}-r02`, `${GREEN}-r03`];
    expect(replicas.instanceIds).toEqual(readers);
    const requests = callsOf<CreateInstanceRequest>('createInstance').slice(before);
    expect(requests.map((r) => [r.instanceId, r.availabilityZone])).toEqual([
      [readers[0], 'eu-west-1b'],
      [readers[1], 'eu-west-1c'],
      [readers[2], 'eu-west-1b'],
    ]);
    for (const r of requests) {
      expect(r).toMatchObject({
        clusterId: GREEN,
        instanceClass: 'db.r6g.large',
        parameterGroupName: 'pg16-inst',
        tags: { ...OURS, 'bluegreen:instance-role': 'reader' },
      });
    }
  });

  it('gives the readers the new instance parameter group of a major upgrade', async () => {
    const doc = await withGreenWriter({
      replicaCount: 1,
      targetEngineVersion: '17.4',
      clusterParameterGroupName: 'pg17-cluster',
      instanceParameterGroupName: 'pg17-inst',
    });
    const before = callsOf('createInstance').length;
    await addReplicas(doc, cloud.ports());
    expect(callsOf<CreateInstanceRequest>('createInstance')[before]?.parameterGroupName).toBe('pg17-inst');
  });

  it("copies blue's monitoring and Performance Insights settings to the readers, like the writer", async () => {
    Object.assign(instance(`${BLUE}-1`), {
      monitoringInterval: 60,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      performanceInsightsKmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      performanceInsightsRetentionPeriod: 731,
    });
    const doc = await withGreenWriter({ replicaCount: 1 });
    const before = callsOf('createInstance').length;
    await addReplicas(doc, cloud.ports());
    expect(callsOf<CreateInstanceRequest>('createInstance')[before]).toMatchObject({
      monitoringInterval: 60,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      performanceInsights: true,
      performanceInsightsKmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      performanceInsightsRetentionPeriod: 731,
    });
  });

  it('is idempotent: a re-run creates nothing more and returns the same readers', async () => {
    const doc = await withGreenWriter({ replicaCount: 2 });
    const first = await addReplicas(doc, cloud.ports());
    const created = callsOf('createInstance').length;
    const second = await addReplicas(doc, cloud.ports());
    expect(second.instanceIds).toEqual(first.instanceIds);
    expect(callsOf('createInstance')).toHaveLength(created);
  });

  it('refuses a reader id taken by an instance that is not ours', async () => {
    const doc = await withGreenWriter({ replicaCount: 1 });
    cloud.instances.set(`${GREEN}-r01`, {
      ...structuredClone(instance(`${BLUE}-2`)),
      id: `${GREEN}-r01`,
      clusterId: GREEN,
    });
    const before = cloud.calls.length;
    const error = await failureOf(addReplicas(doc, cloud.ports()));
    expect(error).toBeInstanceOf(PreconditionFailed);
    expect(error.message).toContain(`Instance ${GREEN}-r01 already exists and was not created by this execution.`);
    expect(cloud.calls).toHaveLength(before);
  });

  it('creates nothing with replicaCount 0', async () => {
    const doc = await withGreenWriter({ replicaCount: 0 });
    const before = cloud.calls.length;
    await expect(addReplicas(doc, cloud.ports())).resolves.toMatchObject({ instanceIds: [] });
    expect(cloud.calls).toHaveLength(before);
  });
});

describe('LowerCnameTtl', () => {
  it("lowers the TTL to cutoverTtlSeconds, keeping blue's target", async () => {
    const doc = await preflighted(cloud);
    const now = new Date('2026-12-05T02:00:10.000Z');
    jest.spyOn(cloud.clock, 'now').mockReturnValue(now);
    const ttl = await lowerCnameTtl(doc, cloud.ports());
    // The state machine waits until resolvers that cached the record at the old TTL have let it go.
    expect(ttl).toMatchObject({ changed: true, previousTtl: 300, oldTtlExpiresAt: '2026-12-05T02:05:10.000Z' });
    expect(callsOf('upsertCname')).toEqual([
      {
        zone: ZONE,
        name: RECORD,
        target: cluster(BLUE).endpoint,
        ttl: 5,
        comment: 'bluegreen unit-1: lower TTL before cutover',
      },
    ]);
    doc.ttl = ttl;
    await pollUntilDone(doc, 'ttl', (d) => checkCnameTtl(d, cloud.ports()));
  });

  it('changes nothing when the TTL is already at most cutoverTtlSeconds', async () => {
    cloud.record.ttl = 5;
    const doc = await preflighted(cloud);
    await expect(lowerCnameTtl(doc, cloud.ports())).resolves.toEqual({ changed: false, previousTtl: 5 });
    expect(cloud.calls).toEqual([]);
  });

  it('is idempotent: a re-run does not upsert again and still reports the change, so rollback restores the TTL', async () => {
    const doc = await preflighted(cloud);
    await lowerCnameTtl(doc, cloud.ports());
    // A retried task (Lambda timeout after the UPSERT) runs again; its result replaces $.ttl.
    const again = await lowerCnameTtl(doc, cloud.ports());
    expect(callsOf('upsertCname')).toHaveLength(1);
    expect(again).toMatchObject({ changed: true, previousTtl: 300 });
  });
});

describe('BlockWrites', () => {
  it('detaches the application groups, keeping only the admin group', async () => {
    const doc = await preflighted(cloud);
    const block = await blockWrites(doc, cloud.ports());
    expect(block).toMatchObject({ changed: true, securityGroupIds: [ADMIN_SG] });
    expect(cloud.calls).toEqual([{ op: 'setSecurityGroups', args: { id: BLUE, groups: [ADMIN_SG] } }]);
    doc.block = block;
    const states = await pollUntilDone(doc, 'block', (d) => checkWritesBlocked(d, cloud.ports()));
    expect(states[0]?.done).toBe(false);
    expect(cluster(BLUE).securityGroups).toEqual([{ id: ADMIN_SG, status: 'active' }]);
  });

  it('is idempotent: once only the admin group is there, a re-run changes nothing', async () => {
    const doc = await preflighted(cloud);
    doc.block = await blockWrites(doc, cloud.ports());
    await pollUntilDone(doc, 'block', (d) => checkWritesBlocked(d, cloud.ports()));
    await expect(blockWrites(doc, cloud.ports())).resolves.toMatchObject({ securityGroupIds: [ADMIN_SG] });
    expect(callsOf('setSecurityGroups')).toHaveLength(1);
  });
});

describe('UpgradeEngine', () => {
  it('asks for a minor upgrade without AllowMajorVersionUpgrade, and only once while green upgrades', async () => {
    const doc = await withGreenWriter({ targetEngineVersion: '16.6' });
    const upgrade = await upgradeEngine(doc, cloud.ports());
    expect(upgrade).toMatchObject({ requested: true, from: '16.4', to: '16.6', isMajor: false });
    expect(callsOf('upgradeEngine')).toEqual([
      { clusterId: GREEN, engineVersion: '16.6', allowMajorVersionUpgrade: false },
    ]);
    expect(cluster(GREEN).status).toBe('upgrading');
    await expect(upgradeEngine(doc, cloud.ports())).resolves.toMatchObject({ requested: true, to: '16.6' });
    expect(callsOf('upgradeEngine')).toHaveLength(1);
  });

  it('asks for a major upgrade with AllowMajorVersionUpgrade and the new-family parameter groups', async () => {
    const doc = await withGreenWriter({
      targetEngineVersion: '17.4',
      clusterParameterGroupName: 'pg17-cluster',
      instanceParameterGroupName: 'pg17-inst',
    });
    await expect(upgradeEngine(doc, cloud.ports())).resolves.toMatchObject({ isMajor: true, to: '17.4' });
    expect(callsOf('upgradeEngine')).toEqual([
      {
        clusterId: GREEN,
        engineVersion: '17.4',
        allowMajorVersionUpgrade: true,
        clusterParameterGroupName: 'pg17-cluster',
        instanceParameterGroupName: 'pg17-inst',
      },
    ]);
  });

  it('does not ask again once green runs the target version', async () => {
    const doc = await withGreenWriter({ targetEngineVersion: '16.6' });
    cluster(GREEN).engineVersion = '16.6';
    await expect(upgradeEngine(doc, cloud.ports())).resolves.toMatchObject({ requested: true });
    expect(callsOf('upgradeEngine')).toEqual([]);
  });

  it('never reports an upgrade as requested when green was busy with something else and nothing was asked', async () => {
    const doc = await withGreenWriter({ targetEngineVersion: '16.6' });
    cluster(GREEN).status = 'modifying';
    const outcome = await upgradeEngine(doc, cloud.ports()).then(
      () => undefined,
      (error: unknown) => error,
    );
    // Either the step asks for the upgrade or it fails retryably (its Retry asks again later);
    // returning `requested: true` without asking leaves CheckUpgrade waiting for a version that never comes.
    if (outcome === undefined) expect(callsOf('upgradeEngine')).toHaveLength(1);
    else {
      expect(outcome).toBeInstanceOf(RetryableAwsError);
      expect(callsOf('upgradeEngine')).toEqual([]);
    }
  });

  it('does not ask again while the target engine version is pending on an available green', async () => {
    const doc = await withGreenWriter({ targetEngineVersion: '16.6' });
    Object.assign(cluster(GREEN), { pendingModifications: true, pendingEngineVersion: '16.6' });
    await expect(upgradeEngine(doc, cloud.ports())).resolves.toMatchObject({ requested: true });
    expect(callsOf('upgradeEngine')).toEqual([]);
  });

  it('asks for the upgrade when only another modification is pending (not an engine version)', async () => {
    const doc = await withGreenWriter({ targetEngineVersion: '16.6' });
    cluster(GREEN).pendingModifications = true;
    await expect(upgradeEngine(doc, cloud.ports())).resolves.toMatchObject({ requested: true });
    expect(callsOf('upgradeEngine')).toEqual([expect.objectContaining({ clusterId: GREEN, engineVersion: '16.6' })]);
  });
});

describe('OpenGreen and SwapCname', () => {
  it("attaches blue's application groups to green, once", async () => {
    const doc = await withGreenWriter();
    const before = cloud.calls.length;
    const open = await openGreen(doc, cloud.ports());
    expect(open.securityGroupIds).toEqual([ADMIN_SG, ...APP_SGS]);
    expect(cloud.calls.slice(before)).toEqual([
      { op: 'setSecurityGroups', args: { id: GREEN, groups: [ADMIN_SG, ...APP_SGS] } },
    ]);
    doc.open = open;
    await pollUntilDone(doc, 'open', (d) => checkGreenOpen(d, cloud.ports()));
    await openGreen(doc, cloud.ports());
    expect(cloud.calls).toHaveLength(before + 1);
  });

  it("UPSERTs the CNAME to green's endpoint with cutoverTtlSeconds", async () => {
    const doc = await withGreenWriter({ cname: { cutoverTtlSeconds: 30 } });
    const before = cloud.calls.length;
    const cutover = await swapCname(doc, cloud.ports());
    const endpoint = cluster(GREEN).endpoint;
    expect(cutover).toMatchObject({ target: endpoint, changeId: expect.stringMatching(/^\/change\//) });
    expect(cloud.calls.slice(before)).toEqual([
      {
        op: 'upsertCname',
        args: { zone: ZONE, name: RECORD, target: endpoint, ttl: 30, comment: `bluegreen unit-1: cutover to ${GREEN}` },
      },
    ]);
    expect(cloud.record).toMatchObject({ values: [endpoint], ttl: 30 });
  });
});

describe('DeleteBlue', () => {
  const SNAPSHOT = 'app-blue-final-261205020000';

  /** A run that cut over: blue blocked (admin group only), the CNAME on green; then RetainBlue. */
  async function retiredBlue(
    raw: RawOverrides = {},
    defaults: Parameters<typeof preflighted>[2] = {},
  ): Promise<ExecutionDocument> {
    const doc = await preflighted(cloud, raw, defaults);
    if (doc.input.writeBlock === 'security-group') {
      doc.block = await blockWrites(doc, cloud.ports());
      await pollUntilDone(doc, 'block', (d) => checkWritesBlocked(d, cloud.ports()));
    }
    doc.green = await createClone(doc, cloud.ports());
    await pollUntilDone(doc, 'clone', (d) => checkClone(d, cloud.ports()));
    doc.cutover = await swapCname(doc, cloud.ports());
    cloud.calls.length = 0;
    return doc;
  }

  it('takes a final snapshot and deletes the instances first, then the cluster, across CheckBlueDeleted polls', async () => {
    const doc = await retiredBlue();
    const deletion = await deleteBlue(doc, cloud.ports());
    expect(deletion).toMatchObject({ finalSnapshotId: SNAPSHOT });
    expect(deletion).not.toHaveProperty('kept');
    doc.deletion = deletion;
    const states = await pollUntilDone(doc, 'blueDeleted', (d) => checkBlueDeleted(d, cloud.ports()));
    expect(states.map((s) => s.status)).toContain('deleting-cluster');
    expect(states.at(-1)).toMatchObject({ done: true, status: 'gone' });
    expect(cloud.calls).toEqual([
      { op: 'deleteInstance', args: { id: `${BLUE}-1` } },
      { op: 'deleteInstance', args: { id: `${BLUE}-2` } },
      { op: 'deleteCluster', args: { id: BLUE, finalSnapshotId: SNAPSHOT } },
    ]);
    expect(cloud.clusters.has(BLUE)).toBe(false);
    expect(cloud.clusters.has(GREEN)).toBe(true);
    expect(cloud.snapshots.get(SNAPSHOT)).toEqual({ id: SNAPSHOT, status: 'available' });
  });

  it('asks once per instance and once for the cluster within a check window, even when describes lag', async () => {
    // Deletions take a few looks to finish, so the check sees the instances more than once.
    cloud = new FakeCloud(3);
    cloud.addBlue(BLUE, '16.4');
    const doc = await retiredBlue({ checkWindowSeconds: 30, checkEveryMs: 500 });
    doc.deletion = await deleteBlue(doc, cloud.ports());
    cloud.calls.length = 0;
    // Stale reads, as right after a Delete call: instances and cluster still look available.
    const describeInstance = cloud.clustersPort.describeInstance.bind(cloud.clustersPort);
    jest.spyOn(cloud.clustersPort, 'describeInstance').mockImplementation(async (id) => {
      const found = await describeInstance(id);
      return found && { ...found, status: 'available' };
    });
    const describeCluster = cloud.clustersPort.describeCluster.bind(cloud.clustersPort);
    jest.spyOn(cloud.clustersPort, 'describeCluster').mockImplementation(async (id) => {
      const found = await describeCluster(id);
      return found && { ...found, status: 'available' };
    });
    const state = await checkBlueDeleted(doc, cloud.ports());
    expect(state).toMatchObject({ done: true, status: 'gone', polls: 1 });
    // Each asked for once by this check, however many times it looked.
    expect(cloud.mutations()).toEqual(['deleteInstance', 'deleteInstance', 'deleteCluster']);
  });

  it('keeps a protected blue when the configuration does not allow turning protection off', async () => {
    cluster(BLUE).deletionProtection = true;
    const doc = await retiredBlue();
    const deletion = await deleteBlue(doc, cloud.ports());
    expect(deletion.kept).toContain('Blue app-blue has deletion protection on');
    expect(deletion.kept).toContain('it was kept');
    doc.deletion = deletion;
    await expect(checkBlueDeleted(doc, cloud.ports())).resolves.toMatchObject({ done: true, status: 'kept' });
    expect(cloud.calls).toEqual([]);
    expect(cloud.clusters.has(BLUE)).toBe(true);
  });

  it('turns protection off first when the configuration allows it, then deletes', async () => {
    cluster(BLUE).deletionProtection = true;
    const doc = await retiredBlue({}, { allowDeletionProtectionOff: true });
    doc.deletion = await deleteBlue(doc, cloud.ports());
    await pollUntilDone(doc, 'blueDeleted', (d) => checkBlueDeleted(d, cloud.ports()));
    expect(cloud.mutations()).toEqual(['setDeletionProtection', 'deleteInstance', 'deleteInstance', 'deleteCluster']);
    expect(cloud.calls[0]).toEqual({ op: 'setDeletionProtection', args: { id: BLUE, enabled: false } });
    expect(cloud.clusters.has(BLUE)).toBe(false);
  });

  it('is idempotent: a re-run while instances are deleting deletes nothing twice', async () => {
    const doc = await retiredBlue();
    doc.deletion = await deleteBlue(doc, cloud.ports());
    await deleteBlue(doc, cloud.ports());
    expect(cloud.mutations()).toEqual(['deleteInstance', 'deleteInstance']);
  });

  it('keeps blue when the CNAME points at blue again (a fallback by hand during retention)', async () => {
    const doc = await retiredBlue();
    cloud.record.values = [cluster(BLUE).endpoint];
    const deletion = await deleteBlue(doc, cloud.ports());
    expect(deletion.kept).toContain(`Blue ${BLUE} was kept, not deleted: ${RECORD} no longer points at green`);
    doc.deletion = deletion;
    await expect(checkBlueDeleted(doc, cloud.ports())).resolves.toMatchObject({ done: true, status: 'kept' });
    expect(cloud.calls).toEqual([]);
  });

  it('keeps blue when application groups are attached to it again', async () => {
    const doc = await retiredBlue();
    cluster(BLUE).securityGroups = [ADMIN_SG, ...APP_SGS].map((id) => ({ id, status: 'active' }));
    const deletion = await deleteBlue(doc, cloud.ports());
    expect(deletion.kept).toContain('application security groups are attached to blue again');
    expect(cloud.calls).toEqual([]);
  });

  it('with the read-only write block, deletes blue although it still has its application groups', async () => {
    const doc = await retiredBlue({ writeBlock: 'read-only' });
    const deletion = await deleteBlue(doc, cloud.ports());
    expect(deletion).not.toHaveProperty('kept');
    expect(cloud.mutations()).toEqual(['deleteInstance', 'deleteInstance']);
  });

  it('is done at once when blue is already gone', async () => {
    const doc = await retiredBlue();
    cloud.clusters.delete(BLUE);
    doc.deletion = await deleteBlue(doc, cloud.ports());
    await expect(checkBlueDeleted(doc, cloud.ports())).resolves.toMatchObject({ done: true, status: 'gone' });
    expect(cloud.calls).toEqual([]);
  });
});

describe('DiscardGreen (dry run)', () => {
  it('deletes our clone: writer first, then the cluster, without a snapshot', async () => {
    const doc = await withGreenWriter({ dryRun: true });
    const before = cloud.calls.length;
    await discardGreen(doc, cloud.ports());
    await pollUntilDone(doc, 'discard', (d) => checkGreenDiscarded(d, cloud.ports()));
    expect(cloud.calls.slice(before)).toEqual([
      { op: 'deleteInstance', args: { id: WRITER } },
      { op: 'deleteCluster', args: { id: GREEN, finalSnapshotId: undefined } },
    ]);
    expect(cloud.clusters.has(GREEN)).toBe(false);
    expect(cloud.clusters.has(BLUE)).toBe(true);
  });

  it('finishes the discard within one check window', async () => {
    cloud = new FakeCloud(3);
    cloud.addBlue(BLUE, '16.4');
    const doc = await withGreenWriter({ dryRun: true, checkWindowSeconds: 20, checkEveryMs: 500 });
    await discardGreen(doc, cloud.ports());
    await expect(checkGreenDiscarded(doc, cloud.ports())).resolves.toMatchObject({ done: true, polls: 1 });
    expect(cloud.clusters.has(GREEN)).toBe(false);
  });

  it('refuses to delete a cluster at green id that is not ours', async () => {
    const doc = await preflighted(cloud, { dryRun: true });
    cloud.clusters.set(GREEN, { ...structuredClone(cluster(BLUE)), id: GREEN, members: [], tags: {} });
    const error = await failureOf(discardGreen(doc, cloud.ports()));
    expect(error).toBeInstanceOf(PreconditionFailed);
    expect(error.message).toContain(`Refusing to delete cluster ${GREEN}`);
    expect(cloud.calls).toEqual([]);
  });
});
