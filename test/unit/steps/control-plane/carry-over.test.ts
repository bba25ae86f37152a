import type { ExecutionDocument } from '../../../../lambdas/domain/document';
import { EXECUTION_TAG, ROLE_TAG, SOURCE_TAG } from '../../../../lambdas/domain/document';
import { addReplicas } from '../../../../lambdas/steps/add-replicas';
import { blockWrites, checkWritesBlocked } from '../../../../lambdas/steps/block-writes';
import { checkClone, createClone } from '../../../../lambdas/steps/create-clone';
import { openGreen, swapCname } from '../../../../lambdas/steps/cutover';
import { deleteBlue } from '../../../../lambdas/steps/delete-blue';
import { createGreenWriter } from '../../../../lambdas/steps/green-writer';
import { report } from '../../../../lambdas/steps/report';
import type { CloneRequest, CreateInstanceRequest } from '../../../../lambdas/ports';
import { ADMIN_SG, APP_SGS, FakeCloud } from '../../../support/fake-cloud';
import type { RawOverrides } from '../../../support/step-fixtures';
import {
  BLUE,
  EXECUTION,
  GREEN,
  cloudWithBlue,
  pollUntilDone,
  preflighted,
  stepHelpers,
} from '../../../support/step-fixtures';

/**
 * Green is blue as configured (docs/green-carries-over.md). The fake cloud restores and creates
 * the way RDS does: what the request says, the API's own default otherwise, never the source's.
 * So each test fails when a step stops passing the setting on.
 */

const S3_ROLE = 'arn:aws:iam::123456789012:role/aurora-s3-import';
const LAMBDA_ROLE = 'arn:aws:iam::123456789012:role/aurora-lambda';
const BLUE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b2c3d-AbCdEf';
const SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';

let cloud: FakeCloud;

beforeEach(() => {
  cloud = cloudWithBlue();
});
const { cluster, instance, withGreen, withGreenWriter } = stepHelpers(() => cloud);

function callsOf<T>(op: string): T[] {
  return cloud.calls.filter((c) => c.op === op).map((c) => c.args as T);
}

/** Blue configured the way a real production cluster often is, all of it away from the API defaults. */
function configureBlue(): void {
  // Blue listens on 6432; the admin group admits it from itself (Preflight checks that).
  const admin = cloud.securityGroups.get(ADMIN_SG);
  if (admin) admin.ingress = [{ protocol: 'tcp', fromPort: 6432, toPort: 6432, sourceGroupIds: [ADMIN_SG], cidrs: [] }];
  Object.assign(cluster(BLUE), {
    port: 6432,
    storageType: 'aurora-iopt1',
    serverlessV2Scaling: { minCapacity: 0.5, maxCapacity: 32 },
    engineLifecycleSupport: 'open-source-rds-extended-support-disabled',
    copyTagsToSnapshot: true,
    tags: { team: 'orders', 'cost-center': '42', 'bluegreen:role': 'blue', 'aws:cloudformation:stack-name': 'db' },
  });
  Object.assign(instance(`${BLUE}-1`), {
    caCertificateIdentifier: 'rds-ca-rsa4096-g1',
    promotionTier: 0,
    tags: { team: 'orders', 'bluegreen:instance-role': 'writer' },
  });
  const members = cluster(BLUE).members;
  for (const m of members) m.promotionTier = m.isWriter ? 0 : 2;
}

describe('CreateClone carries over what the restore would otherwise default', () => {
  it("gives green blue's port, storage type, Serverless v2 range, lifecycle, tag copying and own tags", async () => {
    configureBlue();
    const doc = await preflighted(cloud);
    await createClone(doc, cloud.ports());
    expect(callsOf<CloneRequest>('cloneCopyOnWrite')[0]).toMatchObject({
      port: 6432,
      storageType: 'aurora-iopt1',
      serverlessV2Scaling: { minCapacity: 0.5, maxCapacity: 32 },
      engineLifecycleSupport: 'open-source-rds-extended-support-disabled',
      copyTagsToSnapshot: true,
    });
    const green = cluster(GREEN);
    expect(green).toMatchObject({
      port: 6432,
      storageType: 'aurora-iopt1',
      serverlessV2Scaling: { minCapacity: 0.5, maxCapacity: 32 },
      engineLifecycleSupport: 'open-source-rds-extended-support-disabled',
      copyTagsToSnapshot: true,
    });
    // Blue's own tags beside the workflow's; neither blue's workflow tags nor AWS's reserved ones.
    expect(green.tags).toEqual({
      team: 'orders',
      'cost-center': '42',
      [EXECUTION_TAG]: EXECUTION.id,
      [ROLE_TAG]: 'green',
      [SOURCE_TAG]: BLUE,
    });
  });

  it('writes execution tag values in the characters RDS accepts, and still recognises its own clone', async () => {
    const execution = `${EXECUTION.id.replace(/unit-1$/, '')}nightly!(v2)`;
    cloud = new FakeCloud();
    cloud.addBlue(BLUE, '16.4');
    const doc = await preflighted(cloud);
    doc.input.executionId = execution;
    await createClone(doc, cloud.ports());
    const value = cluster(GREEN).tags[EXECUTION_TAG] ?? '';
    expect(value).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,256}$/u);
    expect(value.endsWith('nightly__v2_')).toBe(true);
    await expect(createClone(doc, cloud.ports())).resolves.toMatchObject({ reused: true });
  });
});

describe("green's instances are created like blue's", () => {
  it("gives the writer blue's CA, promotion tier and own tags, and keeps db.serverless", async () => {
    configureBlue();
    instance(`${BLUE}-1`).instanceClass = 'db.serverless';
    const doc = await withGreen();
    await createGreenWriter(doc, cloud.ports());
    expect(callsOf<CreateInstanceRequest>('createInstance')[0]).toMatchObject({
      instanceClass: 'db.serverless',
      caCertificateIdentifier: 'rds-ca-rsa4096-g1',
      promotionTier: 0,
      tags: { team: 'orders', [EXECUTION_TAG]: EXECUTION.id, 'bluegreen:instance-role': 'writer' },
    });
  });

  it('creates the writer with the input instance parameter group on a minor upgrade (RDS applies none then)', async () => {
    const doc = await withGreen({ targetEngineVersion: '16.6', instanceParameterGroupName: 'pg16-inst-tuned' });
    await createGreenWriter(doc, cloud.ports());
    expect(callsOf<CreateInstanceRequest>('createInstance')[0]?.parameterGroupName).toBe('pg16-inst-tuned');
  });

  it("creates the writer with blue's group on a major upgrade (the upgrade itself switches it)", async () => {
    const doc = await withGreen({
      targetEngineVersion: '17.4',
      clusterParameterGroupName: 'pg17-cluster',
      instanceParameterGroupName: 'pg17-inst',
    });
    await createGreenWriter(doc, cloud.ports());
    expect(callsOf<CreateInstanceRequest>('createInstance')[0]?.parameterGroupName).toBe('pg16-inst');
  });

  it("gives the readers blue's readers' promotion tiers and blue's CA", async () => {
    configureBlue();
    const doc = await withGreenWriter({ replicaCount: 2 });
    cloud.calls.length = 0;
    await addReplicas(doc, cloud.ports());
    const readers = callsOf<CreateInstanceRequest>('createInstance');
    expect(readers.map((r) => r.promotionTier)).toEqual([2, undefined]);
    expect(readers.map((r) => r.caCertificateIdentifier)).toEqual(['rds-ca-rsa4096-g1', 'rds-ca-rsa4096-g1']);
  });
});

describe('OpenGreen', () => {
  it("associates blue's IAM roles with green and restores deletion protection in the groups' ModifyDBCluster", async () => {
    Object.assign(cluster(BLUE), {
      deletionProtection: true,
      associatedRoles: [{ roleArn: S3_ROLE, featureName: 's3Import', status: 'ACTIVE' }, { roleArn: LAMBDA_ROLE }],
    });
    const doc = await preflighted(cloud, {}, { clusterRoleArns: [S3_ROLE, LAMBDA_ROLE] });
    doc.green = await createClone(doc, cloud.ports());
    await pollUntilDone(doc, 'clone', (d) => checkClone(d, cloud.ports()));
    expect(cluster(GREEN).deletionProtection).toBe(false);
    expect(cluster(GREEN).associatedRoles).toEqual([]);
    cloud.calls.length = 0;
    await openGreen(doc, cloud.ports());
    expect(cloud.calls).toEqual([
      { op: 'addRole', args: { id: GREEN, roleArn: S3_ROLE, featureName: 's3Import' } },
      { op: 'addRole', args: { id: GREEN, roleArn: LAMBDA_ROLE, featureName: undefined } },
      {
        op: 'setSecurityGroups',
        args: { id: GREEN, groups: [ADMIN_SG, ...APP_SGS], options: { deletionProtection: true } },
      },
    ]);
    expect(cluster(GREEN)).toMatchObject({
      deletionProtection: true,
      associatedRoles: [{ roleArn: S3_ROLE, featureName: 's3Import' }, { roleArn: LAMBDA_ROLE }],
    });
    // A retry adds no role twice and asks for nothing once protection and groups are in place.
    cloud.calls.length = 0;
    await openGreen(doc, cloud.ports());
    expect(callsOf('addRole')).toEqual([]);
  });

  it('leaves deletion protection off on green when blue had none', async () => {
    const doc = await withGreenWriter();
    cloud.calls.length = 0;
    await openGreen(doc, cloud.ports());
    expect(cloud.calls).toEqual([{ op: 'setSecurityGroups', args: { id: GREEN, groups: [ADMIN_SG, ...APP_SGS] } }]);
    expect(cluster(GREEN).deletionProtection).toBe(false);
  });
});

describe('a blue whose master password RDS manages', () => {
  async function cutOver(raw: RawOverrides = {}): Promise<ExecutionDocument> {
    const doc = await preflighted(cloud, raw);
    doc.block = await blockWrites(doc, cloud.ports());
    await pollUntilDone(doc, 'block', (d) => checkWritesBlocked(d, cloud.ports()));
    doc.green = await createClone(doc, cloud.ports());
    await pollUntilDone(doc, 'clone', (d) => checkClone(d, cloud.ports()));
    doc.cutover = await swapCname(doc, cloud.ports());
    cloud.calls.length = 0;
    return doc;
  }

  it("gives green its own RDS-managed secret (blue's key) before blue goes, and the report names it", async () => {
    cluster(BLUE).masterUserSecret = { secretArn: BLUE_SECRET, kmsKeyId: SECRET_KEY, status: 'active' };
    const doc = await cutOver();
    expect(doc.blue?.masterUserSecret).toEqual({ secretArn: BLUE_SECRET, kmsKeyId: SECRET_KEY });
    const deletion = await deleteBlue(doc, cloud.ports());
    expect(cloud.calls[0]).toEqual({ op: 'manageMasterUserPassword', args: { id: GREEN, kmsKeyId: SECRET_KEY } });
    const greenSecret = cluster(GREEN).masterUserSecret?.secretArn;
    expect(greenSecret).toMatch(/secret:rds!cluster-/);
    expect(deletion.masterUserSecret).toMatchObject({ blueSecretArn: BLUE_SECRET, greenSecretArn: greenSecret });

    doc.deletion = deletion;
    const summary = await report(doc, cloud.ports());
    expect(summary['masterUserSecret']).toContain(String(greenSecret));
    expect(cloud.notifications.at(-1)?.message).toContain(`must read that one instead`);
    expect(cloud.notifications.at(-1)?.message).toContain(String(greenSecret));

    // A retried DeleteBlue sees green's secret and does not ask again.
    cloud.calls.length = 0;
    await deleteBlue(doc, cloud.ports());
    expect(callsOf('manageMasterUserPassword')).toEqual([]);
  });

  it('leaves the password alone when blue keeps its own', async () => {
    const doc = await cutOver();
    const deletion = await deleteBlue(doc, cloud.ports());
    expect(callsOf('manageMasterUserPassword')).toEqual([]);
    expect(deletion).not.toHaveProperty('masterUserSecret');
  });
});
