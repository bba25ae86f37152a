import { EXECUTION_TAG } from '../../../../lambdas/domain/document';
import type { Defaults } from '../../../../lambdas/domain/input';
import { PreconditionFailed } from '../../../../lambdas/domain/errors';
import { preflight } from '../../../../lambdas/steps/preflight';
import type { Cluster } from '../../../../lambdas/ports';
import { ADMIN_SG, APP_SGS, APPROVERS_TOPIC_ARN, FakeCloud, RECORD, ZONE } from '../../../support/fake-cloud';
import type { RawOverrides } from '../../../support/step-fixtures';
import { BLUE, EXECUTION, GREEN, failureOf, stepDocument } from '../../../support/step-fixtures';

let cloud: FakeCloud;
let blue: Cluster;

beforeEach(() => {
  cloud = new FakeCloud();
  blue = cloud.addBlue(BLUE, '16.4');
});

function blueCluster(): Cluster {
  const cluster = cloud.clusters.get(BLUE);
  if (!cluster) throw new Error('no blue in the fake cloud');
  return cluster;
}

/** A cluster occupying green's id, with the given tags. */
function addClusterAtGreenId(tags: Record<string, string>): void {
  cloud.clusters.set(GREEN, { ...structuredClone(blue), id: GREEN, members: [], tags });
}

/** Runs Preflight expecting a guard rail: returns the sentence, after checking nothing was changed. */
async function guardRail(raw: RawOverrides = {}, defaults: Partial<Defaults> = {}): Promise<string> {
  const error = await failureOf(preflight(stepDocument(raw, defaults), cloud.ports()));
  expect(error).toBeInstanceOf(PreconditionFailed);
  expect(error.name).toBe('PreconditionFailed');
  expect(cloud.calls).toEqual([]);
  return error.message;
}

describe('Preflight', () => {
  it('snapshots blue as found: groups, writer, readers, CNAME, upgrade kind', async () => {
    const snapshot = await preflight(stepDocument({ targetEngineVersion: '16.6' }), cloud.ports());
    expect(snapshot).toMatchObject({
      id: BLUE,
      endpoint: blue.endpoint,
      port: 5432,
      engineVersion: '16.4',
      accessSecurityGroupIds: APP_SGS,
      originalSecurityGroupIds: [ADMIN_SG, ...APP_SGS],
      subnetGroupName: 'db-subnets',
      clusterParameterGroupName: 'pg16-cluster',
      kmsKeyId: blue.kmsKeyId,
      iamAuth: true,
      logExports: ['postgresql'],
      deletionProtection: false,
      writer: {
        instanceId: `${BLUE}-1`,
        instanceClass: 'db.r6g.large',
        availabilityZone: 'eu-west-1a',
        parameterGroupName: 'pg16-inst',
        performanceInsights: true,
      },
      readerInstanceIds: [`${BLUE}-2`],
      availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
      upgrade: { isMajor: false, targetFamily: 'aurora-postgresql16' },
      cname: { target: blue.endpoint, ttl: 300 },
    });
    expect(cloud.calls).toEqual([]);
  });

  it('accepts a CNAME that differs from the endpoint only by case and a trailing dot', async () => {
    cloud.record.values = [`${blue.endpoint.toUpperCase()}.`];
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ id: BLUE });
  });

  it('refuses a blue cluster that does not exist', async () => {
    cloud.clusters.delete(BLUE);
    expect(await guardRail()).toBe('Blue cluster app-blue does not exist in this account and region.');
  });

  it('refuses a cluster that is not aurora-postgresql', async () => {
    blueCluster().engine = 'aurora-mysql';
    const message = await guardRail();
    expect(message).toContain('Blue cluster app-blue runs engine "aurora-mysql"');
    expect(message).toContain('aurora-postgresql clusters only');
  });

  it('refuses a blue cluster that is not available', async () => {
    blueCluster().status = 'modifying';
    const message = await guardRail();
    expect(message).toContain('Blue cluster app-blue is "modifying", not "available"');
  });

  it('refuses a blue cluster without a writer', async () => {
    blueCluster().members = blueCluster().members.map((m) => ({ ...m, isWriter: false }));
    expect(await guardRail()).toBe('Blue cluster app-blue has no writer instance.');
  });

  it('refuses a blue cluster whose writer instance cannot be described', async () => {
    cloud.instances.delete(`${BLUE}-1`);
    expect(await guardRail()).toBe('Blue cluster app-blue has no writer instance.');
  });

  it("refuses a blue cluster without the workflow's admin security group", async () => {
    blueCluster().securityGroups = APP_SGS.map((id) => ({ id, status: 'active' }));
    const message = await guardRail();
    expect(message).toContain('Preflight found 1 problem(s), nothing was changed');
    expect(message).toContain(`blue cluster app-blue does not carry the workflow's admin security group ${ADMIN_SG}`);
  });

  it('refuses security groups of blue that do not exist', async () => {
    cloud.securityGroups.delete(APP_SGS[1] as string);
    const message = await guardRail();
    expect(message).toContain(`security groups ${APP_SGS[1]} of blue cluster app-blue do not exist`);
  });

  it("refuses an admin group that does not admit blue's port from itself, with the command that fixes it", async () => {
    const admin = cloud.securityGroups.get(ADMIN_SG);
    if (!admin) throw new Error('no admin group');
    admin.ingress = [
      { protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroupIds: [APP_SGS[0] as string], cidrs: [] },
      { protocol: 'tcp', fromPort: 3306, toPort: 3306, sourceGroupIds: [ADMIN_SG], cidrs: [] },
    ];
    const message = await guardRail();
    expect(message).toContain(`admin security group ${ADMIN_SG} has no inbound rule for TCP port 5432 from itself`);
    expect(message).toContain(
      `aws ec2 authorize-security-group-ingress --group-id ${ADMIN_SG} --protocol tcp --port 5432 --source-group ${ADMIN_SG}`,
    );
  });

  it('accepts an admin group that admits every protocol, or a port range, from itself', async () => {
    const admin = cloud.securityGroups.get(ADMIN_SG);
    if (!admin) throw new Error('no admin group');
    admin.ingress = [{ protocol: '-1', sourceGroupIds: [ADMIN_SG], cidrs: [] }];
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ id: BLUE });
    admin.ingress = [{ protocol: 'tcp', fromPort: 5000, toPort: 6000, sourceGroupIds: [ADMIN_SG], cidrs: [] }];
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ id: BLUE });
  });

  it('refuses the security-group write block when blue has only the admin group', async () => {
    blueCluster().securityGroups = [{ id: ADMIN_SG, status: 'active' }];
    const message = await guardRail();
    expect(message).toContain('blue cluster app-blue has no application security group besides the admin group');
    expect(message).toContain('use writeBlock "read-only"');
  });

  it('accepts a blue cluster with only the admin group when the write block is read-only', async () => {
    blueCluster().securityGroups = [{ id: ADMIN_SG, status: 'active' }];
    const snapshot = await preflight(stepDocument({ writeBlock: 'read-only' }), cloud.ports());
    expect(snapshot.accessSecurityGroupIds).toEqual([]);
    expect(snapshot.originalSecurityGroupIds).toEqual([ADMIN_SG]);
  });

  it('refuses a target version equal to the current one', async () => {
    const message = await guardRail({ targetEngineVersion: '16.4' });
    expect(message).toContain('targetEngineVersion: blue already runs 16.4');
  });

  it('refuses a target version that is not a valid upgrade target, listing the valid ones', async () => {
    const message = await guardRail({ targetEngineVersion: '16.5' });
    expect(message).toContain(
      "targetEngineVersion: 16.5 is not a valid upgrade target of blue's version 16.4 (valid targets: 16.6, 17.4)",
    );
  });

  it('says "none" when blue has no valid upgrade target at all', async () => {
    blueCluster().engineVersion = '13.9';
    const message = await guardRail({ targetEngineVersion: '14.1' });
    expect(message).toContain('(valid targets: none)');
  });

  it('refuses a major upgrade without the new-family parameter groups, naming both', async () => {
    const message = await guardRail({ targetEngineVersion: '17.4' });
    expect(message).toContain('Preflight found 2 problem(s)');
    expect(message).toContain(
      'clusterParameterGroupName: required for a major version upgrade to 17.4 (family aurora-postgresql17)',
    );
    expect(message).toContain(
      'instanceParameterGroupName: required for a major version upgrade to 17.4 (family aurora-postgresql17)',
    );
  });

  it('accepts a major upgrade with parameter groups of the target family', async () => {
    const snapshot = await preflight(
      stepDocument({
        targetEngineVersion: '17.4',
        clusterParameterGroupName: 'pg17-cluster',
        instanceParameterGroupName: 'pg17-inst',
      }),
      cloud.ports(),
    );
    expect(snapshot.upgrade).toEqual({ isMajor: true, targetFamily: 'aurora-postgresql17' });
  });

  it('refuses parameter groups that do not exist', async () => {
    const message = await guardRail({
      targetEngineVersion: '17.4',
      clusterParameterGroupName: 'pg17-nope',
      instanceParameterGroupName: 'pg17-inst-nope',
    });
    expect(message).toContain('clusterParameterGroupName: cluster parameter group pg17-nope does not exist');
    expect(message).toContain('instanceParameterGroupName: parameter group pg17-inst-nope does not exist');
  });

  it('refuses parameter groups of the wrong family', async () => {
    const message = await guardRail({
      targetEngineVersion: '17.4',
      clusterParameterGroupName: 'pg16-cluster',
      instanceParameterGroupName: 'pg16-inst',
    });
    expect(message).toContain(
      'clusterParameterGroupName: pg16-cluster is of family aurora-postgresql16, but 17.4 needs aurora-postgresql17',
    );
    expect(message).toContain(
      'instanceParameterGroupName: pg16-inst is of family aurora-postgresql16, but 17.4 needs aurora-postgresql17',
    );
  });

  it('refuses a parameter group of the wrong family on a minor upgrade too', async () => {
    const message = await guardRail({ targetEngineVersion: '16.6', clusterParameterGroupName: 'pg17-cluster' });
    expect(message).toContain(
      'clusterParameterGroupName: pg17-cluster is of family aurora-postgresql17, but 16.6 needs aurora-postgresql16',
    );
  });

  it('refuses a CNAME that does not exist', async () => {
    cloud.dnsPort.getRecord = async () => undefined;
    const message = await guardRail();
    expect(message).toContain(`cname.recordName: ${RECORD} does not exist in hosted zone ${ZONE}`);
  });

  it('refuses a record that is not a CNAME', async () => {
    cloud.record.type = 'A';
    cloud.record.values = ['10.0.0.1'];
    const message = await guardRail();
    expect(message).toContain(`cname.recordName: ${RECORD} is a record of type A, not a single CNAME`);
  });

  it('refuses a CNAME that points elsewhere', async () => {
    cloud.record.values = ['other.cluster-abc.eu-west-1.rds.amazonaws.com'];
    const message = await guardRail();
    expect(message).toContain(
      `cname.recordName: ${RECORD} points at other.cluster-abc.eu-west-1.rds.amazonaws.com, not at blue's endpoint ${blue.endpoint}`,
    );
  });

  it('refuses a green id taken by a cluster without our execution tag', async () => {
    addClusterAtGreenId({ [EXECUTION_TAG]: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:other' });
    const message = await guardRail();
    expect(message).toContain(
      `greenClusterId: cluster ${GREEN} already exists and was not created by this execution; choose another id`,
    );
  });

  it('accepts a green id held by our own clone (a re-run)', async () => {
    addClusterAtGreenId({ [EXECUTION_TAG]: EXECUTION.id });
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ id: BLUE });
    expect(cloud.calls).toEqual([]);
  });

  it('reports every problem at once', async () => {
    blueCluster().securityGroups = APP_SGS.map((id) => ({ id, status: 'active' }));
    cloud.record.values = ['elsewhere.example.com'];
    addClusterAtGreenId({});
    const message = await guardRail({ targetEngineVersion: '16.5' });
    expect(message).toMatch(/^Preflight found 4 problem\(s\), nothing was changed: /);
    expect(message).toContain("does not carry the workflow's admin security group");
    expect(message).toContain('16.5 is not a valid upgrade target');
    expect(message).toContain('points at elsewhere.example.com');
    expect(message).toContain(`cluster ${GREEN} already exists`);
  });
});

describe('Preflight refuses what would fail later in a real account', () => {
  it('refuses a blue with a member instance outside the configured prefix', async () => {
    blueCluster().members.push({ instanceId: 'legacy-reader-3', isWriter: false });
    const message = await guardRail();
    expect(message).toContain(
      `blue cluster ${BLUE} has instances outside the configured prefix "app-" (legacy-reader-3)`,
    );
  });

  it('refuses a CNAME that carries a routing policy (a SetIdentifier)', async () => {
    Object.assign(cloud.record, { routingPolicy: 'weighted', setIdentifier: 'blue-90' });
    const message = await guardRail();
    expect(message).toContain(
      `cname.recordName: ${RECORD} has a weighted policy (SetIdentifier blue-90); the workflow swaps only a simple CNAME record`,
    );
  });

  it('refuses a blue with Enhanced Monitoring when no monitoring role is configured', async () => {
    Object.assign(cloud.instances.get(`${BLUE}-1`) ?? {}, {
      monitoringInterval: 30,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
    });
    const message = await guardRail({}, { monitoringRoleConfigured: false });
    expect(message).toContain(
      `blue's writer ${BLUE}-1 has Enhanced Monitoring (every 30 s) but the deployment has no monitoringRoleArn configured`,
    );
    await expect(preflight(stepDocument({}, { monitoringRoleConfigured: true }), cloud.ports())).resolves.toMatchObject(
      {
        writer: { monitoringInterval: 30 },
      },
    );
  });

  it('refuses a blue with an IAM role the deployment may not pass to RDS', async () => {
    const role = 'arn:aws:iam::123456789012:role/aurora-s3-import';
    blueCluster().associatedRoles = [{ roleArn: role, featureName: 's3Import' }];
    const message = await guardRail();
    expect(message).toContain(`may not pass (${role}); add them to clusterRoleArns`);
    await expect(preflight(stepDocument({}, { clusterRoleArns: [role] }), cloud.ports())).resolves.toMatchObject({
      associatedRoles: [{ roleArn: role, featureName: 's3Import' }],
    });
  });

  it('refuses db.serverless for a blue without a Serverless v2 capacity range', async () => {
    const message = await guardRail({ writerInstanceClass: 'db.serverless' });
    expect(message).toContain('writerInstanceClass: db.serverless needs a ServerlessV2ScalingConfiguration');
  });

  it('detects a master password that RDS manages', async () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b-AbCdEf';
    blueCluster().masterUserSecret = { secretArn, status: 'active' };
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ masterUserSecret: { secretArn } });
  });
});

describe('ValidateInput', () => {
  it('refuses a cname.recordName other than the configured one, before Preflight looks at anything', () => {
    expect(() => stepDocument({ cname: { recordName: 'other.test.internal' } })).toThrow(
      `cname.recordName: must be the configured record ${RECORD}`,
    );
    expect(stepDocument({ cname: { recordName: `${RECORD.toUpperCase()}.` } }).input.cname.recordName).toBe(
      `${RECORD.toUpperCase()}.`,
    );
  });
});

describe('Preflight: a confirmed approver before blue is touched', () => {
  it('refuses when the approvers’ topic has only pending subscriptions, and says how many', async () => {
    cloud.approverSubscriptions = { confirmed: 0, pending: 2 };
    const message = await guardRail();
    expect(message).toContain("the approvers' topic has no confirmed subscription (2 awaiting confirmation)");
  });

  it('refuses when nobody subscribed at all', async () => {
    cloud.approverSubscriptions = { confirmed: 0, pending: 0 };
    expect(await guardRail()).toContain("the approvers' topic has no confirmed subscription,");
  });

  it('accepts one confirmed approver, and a dry run (which asks nobody) without any', async () => {
    cloud.approverSubscriptions = { confirmed: 1, pending: 3 };
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ id: BLUE });
    cloud.approverSubscriptions = { confirmed: 0, pending: 0 };
    await expect(preflight(stepDocument({ dryRun: true }), cloud.ports())).resolves.toMatchObject({ id: BLUE });
  });
});

describe('Preflight: an approver a mail scanner cannot unsubscribe (AuthenticateOnUnsubscribe)', () => {
  it('refuses, before any change, when every confirmed subscription was confirmed by clicking the link', async () => {
    cloud.approverSubscriptions = { confirmed: 2, pending: 1 };
    cloud.approversAuthenticated = false;
    const message = await guardRail();
    expect(message).toContain(
      "none of the approvers' topic's 2 confirmed subscriptions are authenticated (2 confirmed but unauthenticated",
    );
    expect(message).toContain(
      `confirm with the token from the confirmation link instead of clicking it: aws sns confirm-subscription --topic-arn ${APPROVERS_TOPIC_ARN} --token <token> --authenticate-on-unsubscribe true`,
    );
    expect(message).toContain(
      'an address already confirmed by the link needs a new confirmation email first: remove it from approvalEmails and deploy, then add it back and deploy',
    );
  });

  it('says "is" and "it" for a single unauthenticated subscription', async () => {
    cloud.approverSubscriptions = { confirmed: 1, pending: 0, authenticated: 0 };
    expect(await guardRail()).toContain(
      "none of the approvers' topic's 1 confirmed subscription is authenticated (1 confirmed but unauthenticated, by clicking the confirmation link), so a mail scanner following the email's unsubscribe link could remove it;",
    );
  });

  it('accepts one authenticated approver among unauthenticated ones, and a dry run without any', async () => {
    cloud.approverSubscriptions = { confirmed: 3, pending: 0, authenticated: 1 };
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ id: BLUE });
    cloud.approversAuthenticated = false;
    await expect(preflight(stepDocument({ dryRun: true }), cloud.ports())).resolves.toMatchObject({ id: BLUE });
  });
});

describe('Preflight: rds.logical_replication for online mode and failback', () => {
  const ONLINE = { mode: 'online', blueRetentionSeconds: 3600 } as const;
  const FAILBACK = { failback: true, blueRetentionSeconds: 3600 } as const;
  const MAJOR = {
    targetEngineVersion: '17.4',
    clusterParameterGroupName: 'pg17-cluster',
    instanceParameterGroupName: 'pg17-inst',
  };

  it('accepts online mode with failback when blue runs with it on and in sync', async () => {
    await expect(preflight(stepDocument({ ...ONLINE, failback: true }), cloud.ports())).resolves.toMatchObject({
      id: BLUE,
    });
  });

  it('refuses online mode when blue’s group leaves it off, with the command, and says the workflow never reboots blue', async () => {
    cloud.clusterParameters.set('pg16-cluster', {});
    const message = await guardRail(ONLINE);
    expect(message).toContain(
      "online mode needs rds.logical_replication = 1 on blue, and blue's cluster parameter group pg16-cluster leaves it at its default (0); set it to 1 (aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name pg16-cluster --parameters ParameterName=rds.logical_replication,ParameterValue=1,ApplyMethod=pending-reboot), then reboot blue's writer in a quiet moment: the workflow never reboots blue",
    );
  });

  it('says a default group cannot be changed', async () => {
    blueCluster().clusterParameterGroupName = 'default.aurora-postgresql16';
    const message = await guardRail(ONLINE);
    expect(message).toContain(
      'default.aurora-postgresql16 is a default group, which cannot be changed: create a custom cluster parameter group',
    );
  });

  it('refuses online mode while the setting waits for a reboot, naming each member', async () => {
    const [writer, reader] = blueCluster().members;
    writer!.parameterGroupStatus = 'pending-reboot';
    reader!.parameterGroupStatus = 'applying';
    const message = await guardRail(ONLINE);
    expect(message).toContain(
      `rds.logical_replication = 1 in pg16-cluster is not yet in effect on blue: writer ${BLUE}-1 is pending-reboot, reader ${BLUE}-2 is applying; reboot them (aws rds reboot-db-instance --db-instance-identifier ${BLUE}-1) in a quiet moment, then start the deployment again: the workflow never reboots blue`,
    );
  });

  it('does not ask offline mode without failback for it', async () => {
    cloud.clusterParameters.set('pg16-cluster', { 'rds.logical_replication': '0' });
    blueCluster().members[0]!.parameterGroupStatus = 'pending-reboot';
    await expect(preflight(stepDocument(), cloud.ports())).resolves.toMatchObject({ id: BLUE });
  });

  it('failback alone: needs it in the group green inherits, not in effect on blue', async () => {
    blueCluster().members[0]!.parameterGroupStatus = 'pending-reboot';
    await expect(preflight(stepDocument(FAILBACK), cloud.ports())).resolves.toMatchObject({ id: BLUE });
    cloud.clusterParameters.set('pg16-cluster', { 'rds.logical_replication': '0' });
    expect(await guardRail(FAILBACK)).toContain(
      "failback streams from green to blue after cutover, so green needs rds.logical_replication = 1, and blue's cluster parameter group pg16-cluster, which green inherits, sets it to 0",
    );
  });

  it("failback with an upgrade: green's target group needs it too", async () => {
    cloud.clusterParameters.set('pg17-cluster', {});
    const message = await guardRail({ ...ONLINE, ...FAILBACK, ...MAJOR });
    expect(message).toContain(
      "green's target cluster parameter group pg17-cluster (clusterParameterGroupName) leaves it at its default (0)",
    );
    expect(message).not.toContain('pg16-cluster');
  });
});
