import {
  AddRoleToDBClusterCommand,
  CreateDBInstanceCommand,
  DBClusterRoleAlreadyExistsFault,
  DBClusterAlreadyExistsFault,
  DBClusterNotFoundFault,
  DBClusterSnapshotNotFoundFault,
  DBInstanceNotFoundFault,
  DBParameterGroupNotFoundFault,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterParameterGroupsCommand,
  DescribeDBClusterParametersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBEngineVersionsCommand,
  DescribeDBInstancesCommand,
  DescribeDBParameterGroupsCommand,
  DescribeEventsCommand,
  InvalidDBClusterStateFault,
  InvalidDBInstanceStateFault,
  ModifyDBClusterCommand,
  RDSClient,
  RDSServiceException,
  RestoreDBClusterToPointInTimeCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { RdsClusters } from '../../../lambdas/aws/clusters-rds';
import { PreconditionFailed, RetryableAwsError } from '../../../lambdas/domain/errors';

const rdsMock = mockClient(RDSClient);
const clusters = new RdsClusters(new RDSClient({ region: 'eu-west-1' }));

beforeEach(() => {
  rdsMock.reset();
});

describe('describeCluster', () => {
  it('maps the RDS cluster to the port shape', async () => {
    rdsMock.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'blue' }).resolves({
      DBClusters: [
        {
          DBClusterIdentifier: 'blue',
          DBClusterArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:blue',
          Status: 'available',
          Engine: 'aurora-postgresql',
          EngineVersion: '15.4',
          Endpoint: 'blue.cluster-abc.eu-west-1.rds.amazonaws.com',
          ReaderEndpoint: 'blue.cluster-ro-abc.eu-west-1.rds.amazonaws.com',
          Port: 5433,
          VpcSecurityGroups: [
            { VpcSecurityGroupId: 'sg-app', Status: 'active' },
            { VpcSecurityGroupId: 'sg-admin', Status: 'adding' },
          ],
          DBSubnetGroup: 'db-subnets',
          DBClusterParameterGroup: 'pg15-cluster',
          KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k1',
          IAMDatabaseAuthenticationEnabled: true,
          EnabledCloudwatchLogsExports: ['postgresql'],
          DeletionProtection: true,
          DBClusterMembers: [
            {
              DBInstanceIdentifier: 'blue-1',
              IsClusterWriter: true,
              PromotionTier: 0,
              DBClusterParameterGroupStatus: 'pending-reboot',
            },
            { DBInstanceIdentifier: 'blue-2', IsClusterWriter: false, PromotionTier: 2 },
          ],
          StorageType: 'aurora-iopt1',
          ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 16 },
          EngineLifecycleSupport: 'open-source-rds-extended-support-disabled',
          CopyTagsToSnapshot: true,
          AssociatedRoles: [
            { RoleArn: 'arn:aws:iam::123456789012:role/s3-import', FeatureName: 's3Import', Status: 'ACTIVE' },
          ],
          MasterUserSecret: {
            SecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0000-AbCdEf',
            KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/secret',
            SecretStatus: 'active',
          },
          TagList: [
            { Key: 'team', Value: 'db' },
            { Key: 'bluegreen:role', Value: 'blue' },
          ],
          LatestRestorableTime: new Date('2024-05-01T10:00:00Z'),
          PendingModifiedValues: {},
          AvailabilityZones: ['eu-west-1a', 'eu-west-1b'],
        },
      ],
    });

    await expect(clusters.describeCluster('blue')).resolves.toEqual({
      id: 'blue',
      arn: 'arn:aws:rds:eu-west-1:123456789012:cluster:blue',
      status: 'available',
      engine: 'aurora-postgresql',
      engineVersion: '15.4',
      endpoint: 'blue.cluster-abc.eu-west-1.rds.amazonaws.com',
      readerEndpoint: 'blue.cluster-ro-abc.eu-west-1.rds.amazonaws.com',
      port: 5433,
      securityGroups: [
        { id: 'sg-app', status: 'active' },
        { id: 'sg-admin', status: 'adding' },
      ],
      subnetGroupName: 'db-subnets',
      clusterParameterGroupName: 'pg15-cluster',
      kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k1',
      iamAuth: true,
      logExports: ['postgresql'],
      deletionProtection: true,
      members: [
        { instanceId: 'blue-1', isWriter: true, promotionTier: 0, parameterGroupStatus: 'pending-reboot' },
        { instanceId: 'blue-2', isWriter: false, promotionTier: 2 },
      ],
      tags: { team: 'db', 'bluegreen:role': 'blue' },
      latestRestorableTime: '2024-05-01T10:00:00.000Z',
      pendingModifications: false,
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      storageType: 'aurora-iopt1',
      serverlessV2Scaling: { minCapacity: 0.5, maxCapacity: 16 },
      engineLifecycleSupport: 'open-source-rds-extended-support-disabled',
      copyTagsToSnapshot: true,
      associatedRoles: [
        { roleArn: 'arn:aws:iam::123456789012:role/s3-import', featureName: 's3Import', status: 'ACTIVE' },
      ],
      masterUserSecret: {
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0000-AbCdEf',
        kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/secret',
        status: 'active',
      },
    });
    expect(rdsMock).toHaveReceivedCommandWith(DescribeDBClustersCommand, { DBClusterIdentifier: 'blue' });
  });

  it('reports pending modifications when PendingModifiedValues holds a value', async () => {
    rdsMock
      .on(DescribeDBClustersCommand)
      .resolves({ DBClusters: [{ DBClusterIdentifier: 'green', PendingModifiedValues: { EngineVersion: '16.2' } }] });
    await expect(clusters.describeCluster('green')).resolves.toMatchObject({
      pendingModifications: true,
      pendingEngineVersion: '16.2',
    });
  });

  it('has no pending engine version when only another modification is pending', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({
      DBClusters: [{ DBClusterIdentifier: 'green', PendingModifiedValues: { IAMDatabaseAuthenticationEnabled: true } }],
    });
    const green = await clusters.describeCluster('green');
    expect(green).toMatchObject({ pendingModifications: true });
    expect(green?.pendingEngineVersion).toBeUndefined();
  });

  it('treats PendingModifiedValues with only empty lists as nothing pending', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        {
          DBClusterIdentifier: 'green',
          PendingModifiedValues: { PendingCloudwatchLogsExports: { LogTypesToEnable: [], LogTypesToDisable: [] } },
        },
      ],
    });
    await expect(clusters.describeCluster('green')).resolves.toMatchObject({ pendingModifications: false });
  });

  it('returns undefined when the cluster does not exist', async () => {
    rdsMock
      .on(DescribeDBClustersCommand)
      .rejects(new DBClusterNotFoundFault({ message: 'DBCluster green not found.', $metadata: {} }));
    await expect(clusters.describeCluster('green')).resolves.toBeUndefined();
  });

  it('maps throttling to RetryableAwsError', async () => {
    rdsMock.on(DescribeDBClustersCommand).rejects(
      new RDSServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const error = await clusters.describeCluster('blue').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableAwsError);
    expect((error as Error).message).toContain('DescribeDBClusters blue');
  });
});

describe('describeInstance', () => {
  it('maps monitoring, Performance Insights, zone, parameter group, CA, promotion tier and tags', async () => {
    rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'blue-1' }).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'blue-1',
          DBClusterIdentifier: 'blue',
          DBInstanceStatus: 'available',
          DBInstanceClass: 'db.r6g.large',
          AvailabilityZone: 'eu-west-1a',
          DBParameterGroups: [{ DBParameterGroupName: 'pg15-instance', ParameterApplyStatus: 'in-sync' }],
          MonitoringInterval: 60,
          MonitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
          PerformanceInsightsEnabled: true,
          PerformanceInsightsKMSKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
          PerformanceInsightsRetentionPeriod: 7,
          CACertificateIdentifier: 'rds-ca-rsa2048-g1',
          PromotionTier: 3,
          TagList: [{ Key: 'team', Value: 'db' }],
        },
      ],
    });

    await expect(clusters.describeInstance('blue-1')).resolves.toEqual({
      id: 'blue-1',
      clusterId: 'blue',
      status: 'available',
      instanceClass: 'db.r6g.large',
      availabilityZone: 'eu-west-1a',
      parameterGroupName: 'pg15-instance',
      monitoringInterval: 60,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      performanceInsights: true,
      performanceInsightsKmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      performanceInsightsRetentionPeriod: 7,
      caCertificateIdentifier: 'rds-ca-rsa2048-g1',
      promotionTier: 3,
      tags: { team: 'db' },
    });
  });

  it('returns undefined when the instance does not exist', async () => {
    rdsMock
      .on(DescribeDBInstancesCommand)
      .rejects(new DBInstanceNotFoundFault({ message: 'DBInstance green-1 not found.', $metadata: {} }));
    await expect(clusters.describeInstance('green-1')).resolves.toBeUndefined();
  });
});

describe('engine versions', () => {
  it('collects ValidUpgradeTarget over every page', async () => {
    rdsMock
      .on(DescribeDBEngineVersionsCommand)
      .resolvesOnce({
        DBEngineVersions: [
          {
            Engine: 'aurora-postgresql',
            EngineVersion: '15.4',
            ValidUpgradeTarget: [{ Engine: 'aurora-postgresql', EngineVersion: '15.5', IsMajorVersionUpgrade: false }],
          },
        ],
        Marker: 'page-2',
      })
      .resolvesOnce({
        DBEngineVersions: [
          {
            Engine: 'aurora-postgresql',
            EngineVersion: '15.4',
            ValidUpgradeTarget: [{ Engine: 'aurora-postgresql', EngineVersion: '16.2', IsMajorVersionUpgrade: true }],
          },
        ],
      });

    await expect(clusters.validUpgradeTargets('15.4')).resolves.toEqual([
      { engineVersion: '15.5', isMajorVersionUpgrade: false },
      { engineVersion: '16.2', isMajorVersionUpgrade: true },
    ]);
    expect(rdsMock).toHaveReceivedCommandTimes(DescribeDBEngineVersionsCommand, 2);
    expect(rdsMock).toHaveReceivedNthSpecificCommandWith(1, DescribeDBEngineVersionsCommand, {
      Engine: 'aurora-postgresql',
      EngineVersion: '15.4',
      IncludeAll: true,
    });
    expect(rdsMock).toHaveReceivedNthSpecificCommandWith(2, DescribeDBEngineVersionsCommand, {
      Engine: 'aurora-postgresql',
      EngineVersion: '15.4',
      Marker: 'page-2',
    });
  });

  it('returns no targets for an unknown version', async () => {
    rdsMock.on(DescribeDBEngineVersionsCommand).resolves({ DBEngineVersions: [] });
    await expect(clusters.validUpgradeTargets('9.9')).resolves.toEqual([]);
  });

  it('reads the parameter group family of a version', async () => {
    rdsMock.on(DescribeDBEngineVersionsCommand, { Engine: 'aurora-postgresql', EngineVersion: '16.2' }).resolves({
      DBEngineVersions: [
        { Engine: 'aurora-postgresql', EngineVersion: '16.2', DBParameterGroupFamily: 'aurora-postgresql16' },
      ],
    });
    await expect(clusters.parameterGroupFamilyOf('16.2')).resolves.toBe('aurora-postgresql16');
  });

  it('asks with IncludeAll, so a deprecated minor that blue still runs is found with its targets and family', async () => {
    // RDS answers a deprecated version only when IncludeAll is set; without it, nothing.
    rdsMock.on(DescribeDBEngineVersionsCommand).resolves({ DBEngineVersions: [] });
    rdsMock.on(DescribeDBEngineVersionsCommand, { EngineVersion: '13.9', IncludeAll: true }).resolves({
      DBEngineVersions: [
        {
          Engine: 'aurora-postgresql',
          EngineVersion: '13.9',
          DBParameterGroupFamily: 'aurora-postgresql13',
          Status: 'deprecated',
          ValidUpgradeTarget: [{ Engine: 'aurora-postgresql', EngineVersion: '13.18', IsMajorVersionUpgrade: false }],
        },
      ],
    });
    await expect(clusters.validUpgradeTargets('13.9')).resolves.toEqual([
      { engineVersion: '13.18', isMajorVersionUpgrade: false },
    ]);
    await expect(clusters.parameterGroupFamilyOf('13.9')).resolves.toBe('aurora-postgresql13');
    expect(rdsMock).toHaveReceivedCommandWith(DescribeDBEngineVersionsCommand, {
      Engine: 'aurora-postgresql',
      EngineVersion: '13.9',
      IncludeAll: true,
    });
  });

  it('returns undefined for the family of an unknown version', async () => {
    rdsMock.on(DescribeDBEngineVersionsCommand).resolves({ DBEngineVersions: [] });
    await expect(clusters.parameterGroupFamilyOf('9.9')).resolves.toBeUndefined();
  });
});

describe('parameter group families', () => {
  it('reads a cluster parameter group family', async () => {
    rdsMock
      .on(DescribeDBClusterParameterGroupsCommand, { DBClusterParameterGroupName: 'pg16-cluster' })
      .resolves({ DBClusterParameterGroups: [{ DBParameterGroupFamily: 'aurora-postgresql16' }] });
    await expect(clusters.clusterParameterGroupFamily('pg16-cluster')).resolves.toBe('aurora-postgresql16');
  });

  it('reads an instance parameter group family', async () => {
    rdsMock
      .on(DescribeDBParameterGroupsCommand, { DBParameterGroupName: 'pg16-instance' })
      .resolves({ DBParameterGroups: [{ DBParameterGroupFamily: 'aurora-postgresql16' }] });
    await expect(clusters.instanceParameterGroupFamily('pg16-instance')).resolves.toBe('aurora-postgresql16');
  });

  it('returns undefined when a group does not exist', async () => {
    const notFound = new DBParameterGroupNotFoundFault({ message: 'not found', $metadata: {} });
    rdsMock.on(DescribeDBClusterParameterGroupsCommand).rejects(notFound);
    rdsMock.on(DescribeDBParameterGroupsCommand).rejects(notFound);
    await expect(clusters.clusterParameterGroupFamily('missing')).resolves.toBeUndefined();
    await expect(clusters.instanceParameterGroupFamily('missing')).resolves.toBeUndefined();
  });
});

describe('clusterParameterValue', () => {
  it('reads one parameter of a cluster parameter group, asking RDS for that parameter only', async () => {
    rdsMock.on(DescribeDBClusterParametersCommand).resolves({
      Parameters: [{ ParameterName: 'rds.logical_replication', ParameterValue: '1', Source: 'user' }],
    });
    await expect(clusters.clusterParameterValue('pg16-cluster', 'rds.logical_replication')).resolves.toBe('1');
    expect(rdsMock).toHaveReceivedCommandWith(DescribeDBClusterParametersCommand, {
      DBClusterParameterGroupName: 'pg16-cluster',
      Filters: [{ Name: 'parameter-name', Values: ['rds.logical_replication'] }],
    });
  });

  it('follows the pages and never takes another parameter for the one asked', async () => {
    rdsMock
      .on(DescribeDBClusterParametersCommand)
      .resolvesOnce({ Parameters: [{ ParameterName: 'rds.force_ssl', ParameterValue: '1' }], Marker: 'm1' })
      .resolvesOnce({ Parameters: [{ ParameterName: 'rds.logical_replication', ParameterValue: '0' }] });
    await expect(clusters.clusterParameterValue('pg16-cluster', 'rds.logical_replication')).resolves.toBe('0');
    expect(rdsMock).toHaveReceivedCommandTimes(DescribeDBClusterParametersCommand, 2);
  });

  it('returns undefined when the group leaves the parameter unset, or does not exist', async () => {
    rdsMock
      .on(DescribeDBClusterParametersCommand, { DBClusterParameterGroupName: 'pg16-cluster' })
      .resolves({ Parameters: [{ ParameterName: 'rds.logical_replication', Source: 'engine-default' }] });
    await expect(clusters.clusterParameterValue('pg16-cluster', 'rds.logical_replication')).resolves.toBeUndefined();
    rdsMock
      .on(DescribeDBClusterParametersCommand, { DBClusterParameterGroupName: 'missing' })
      .rejects(new DBParameterGroupNotFoundFault({ message: 'not found', $metadata: {} }));
    await expect(clusters.clusterParameterValue('missing', 'rds.logical_replication')).resolves.toBeUndefined();
  });
});

describe('cloneCopyOnWrite', () => {
  const request = {
    sourceClusterId: 'blue',
    targetClusterId: 'green-exec1',
    subnetGroupName: 'db-subnets',
    clusterParameterGroupName: 'pg15-cluster',
    kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k1',
    iamAuth: true,
    logExports: ['postgresql'],
    securityGroupIds: ['sg-admin'],
    port: 5433,
    copyTagsToSnapshot: true,
    tags: { 'bluegreen:execution': 'exec1', 'bluegreen:role': 'green', 'bluegreen:source': 'blue' },
  };

  it("gives the restore blue's port, storage, capacity range, lifecycle and tag copying (its defaults differ)", async () => {
    rdsMock.on(RestoreDBClusterToPointInTimeCommand).resolves({});
    await clusters.cloneCopyOnWrite({
      ...request,
      copyTagsToSnapshot: false,
      storageType: 'aurora-iopt1',
      serverlessV2Scaling: { minCapacity: 0.5, maxCapacity: 64, secondsUntilAutoPause: 600 },
      engineLifecycleSupport: 'open-source-rds-extended-support-disabled',
    });
    expect(rdsMock).toHaveReceivedCommandWith(RestoreDBClusterToPointInTimeCommand, {
      Port: 5433,
      StorageType: 'aurora-iopt1',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 64, SecondsUntilAutoPause: 600 },
      EngineLifecycleSupport: 'open-source-rds-extended-support-disabled',
      CopyTagsToSnapshot: false,
    });
  });

  it('restores a copy-on-write clone at the latest restorable time with the admin group only', async () => {
    rdsMock.on(RestoreDBClusterToPointInTimeCommand).resolves({});
    await clusters.cloneCopyOnWrite(request);

    expect(rdsMock).toHaveReceivedCommandTimes(RestoreDBClusterToPointInTimeCommand, 1);
    expect(rdsMock).toHaveReceivedCommandWith(RestoreDBClusterToPointInTimeCommand, {
      SourceDBClusterIdentifier: 'blue',
      DBClusterIdentifier: 'green-exec1',
      RestoreType: 'copy-on-write',
      UseLatestRestorableTime: true,
      DBSubnetGroupName: 'db-subnets',
      DBClusterParameterGroupName: 'pg15-cluster',
      KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k1',
      EnableIAMDatabaseAuthentication: true,
      EnableCloudwatchLogsExports: ['postgresql'],
      VpcSecurityGroupIds: ['sg-admin'],
      DeletionProtection: false,
      CopyTagsToSnapshot: true,
      Tags: [
        { Key: 'bluegreen:execution', Value: 'exec1' },
        { Key: 'bluegreen:role', Value: 'green' },
        { Key: 'bluegreen:source', Value: 'blue' },
      ],
    });
    const input = rdsMock.commandCalls(RestoreDBClusterToPointInTimeCommand)[0]?.args[0].input;
    expect(input?.RestoreToTime).toBeUndefined();
  });

  it('maps DBClusterAlreadyExistsFault to PreconditionFailed', async () => {
    rdsMock
      .on(RestoreDBClusterToPointInTimeCommand)
      .rejects(new DBClusterAlreadyExistsFault({ message: 'DB Cluster already exists', $metadata: {} }));
    await expect(clusters.cloneCopyOnWrite(request)).rejects.toBeInstanceOf(PreconditionFailed);
  });

  it('maps InvalidDBClusterStateFault (blue busy) to RetryableAwsError', async () => {
    rdsMock
      .on(RestoreDBClusterToPointInTimeCommand)
      .rejects(new InvalidDBClusterStateFault({ message: 'cluster is modifying', $metadata: {} }));
    await expect(clusters.cloneCopyOnWrite(request)).rejects.toBeInstanceOf(RetryableAwsError);
  });
});

describe('createInstance', () => {
  const base = {
    instanceId: 'green-exec1-1',
    clusterId: 'green-exec1',
    instanceClass: 'db.r6g.large',
    availabilityZone: 'eu-west-1a',
    parameterGroupName: 'pg15-instance',
    tags: { 'bluegreen:execution': 'exec1' },
  };

  it('creates an aurora-postgresql writer like blue, with monitoring and Performance Insights', async () => {
    rdsMock.on(CreateDBInstanceCommand).resolves({});
    await clusters.createInstance({
      ...base,
      monitoringInterval: 30,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      performanceInsights: true,
      performanceInsightsKmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      performanceInsightsRetentionPeriod: 731,
    });
    expect(rdsMock).toHaveReceivedCommandWith(CreateDBInstanceCommand, {
      DBInstanceIdentifier: 'green-exec1-1',
      Engine: 'aurora-postgresql',
      DBClusterIdentifier: 'green-exec1',
      DBInstanceClass: 'db.r6g.large',
      AvailabilityZone: 'eu-west-1a',
      DBParameterGroupName: 'pg15-instance',
      MonitoringInterval: 30,
      MonitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      EnablePerformanceInsights: true,
      PerformanceInsightsKMSKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      PerformanceInsightsRetentionPeriod: 731,
      PubliclyAccessible: false,
      Tags: [{ Key: 'bluegreen:execution', Value: 'exec1' }],
    });
  });

  it('omits monitoring when the interval is 0 and PI settings when PI is off', async () => {
    rdsMock.on(CreateDBInstanceCommand).resolves({});
    await clusters.createInstance({
      ...base,
      monitoringInterval: 0,
      monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      performanceInsights: false,
      performanceInsightsRetentionPeriod: 7,
    });
    const input = rdsMock.commandCalls(CreateDBInstanceCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ EnablePerformanceInsights: false, PubliclyAccessible: false });
    expect(input).not.toHaveProperty('MonitoringInterval');
    expect(input).not.toHaveProperty('MonitoringRoleArn');
    expect(input).not.toHaveProperty('PerformanceInsightsRetentionPeriod');
  });

  it("keeps blue's CA and failover tier (CreateDBInstance would pick the region's default CA and tier 1)", async () => {
    rdsMock.on(CreateDBInstanceCommand).resolves({});
    await clusters.createInstance({
      ...base,
      instanceClass: 'db.serverless',
      performanceInsights: false,
      caCertificateIdentifier: 'rds-ca-rsa4096-g1',
      promotionTier: 0,
    });
    expect(rdsMock).toHaveReceivedCommandWith(CreateDBInstanceCommand, {
      DBInstanceClass: 'db.serverless',
      CACertificateIdentifier: 'rds-ca-rsa4096-g1',
      PromotionTier: 0,
    });
  });
});

describe('what OpenGreen and DeleteBlue change on green', () => {
  it('restores deletion protection in the same ModifyDBCluster as the groups', async () => {
    rdsMock.on(ModifyDBClusterCommand).resolves({});
    await clusters.setSecurityGroups('green', ['sg-admin', 'sg-app'], { deletionProtection: true });
    expect(rdsMock).toHaveReceivedCommandTimes(ModifyDBClusterCommand, 1);
    expect(rdsMock).toHaveReceivedCommandWith(ModifyDBClusterCommand, {
      DBClusterIdentifier: 'green',
      VpcSecurityGroupIds: ['sg-admin', 'sg-app'],
      DeletionProtection: true,
      ApplyImmediately: true,
    });
  });

  it("associates blue's IAM role with its feature, and a role already there is success", async () => {
    rdsMock
      .on(AddRoleToDBClusterCommand)
      .resolvesOnce({})
      .rejectsOnce(new DBClusterRoleAlreadyExistsFault({ message: 'already associated', $metadata: {} }));
    const role = 'arn:aws:iam::123456789012:role/s3-import';
    await clusters.addRole('green', role, 's3Import');
    await expect(clusters.addRole('green', role, 's3Import')).resolves.toBeUndefined();
    expect(rdsMock).toHaveReceivedCommandWith(AddRoleToDBClusterCommand, {
      DBClusterIdentifier: 'green',
      RoleArn: role,
      FeatureName: 's3Import',
    });
  });

  it("has RDS manage green's master password with blue's secret key, and returns the new secret", async () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1111-AbCdEf';
    rdsMock.on(ModifyDBClusterCommand).resolves({ DBCluster: { MasterUserSecret: { SecretArn: secretArn } } });
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    await expect(clusters.manageMasterUserPassword('green', key)).resolves.toBe(secretArn);
    expect(rdsMock).toHaveReceivedCommandWith(ModifyDBClusterCommand, {
      DBClusterIdentifier: 'green',
      ManageMasterUserPassword: true,
      MasterUserSecretKmsKeyId: key,
      ApplyImmediately: true,
    });
  });
});

describe('modifications', () => {
  beforeEach(() => {
    rdsMock.on(ModifyDBClusterCommand).resolves({});
  });

  it('replaces the security groups immediately', async () => {
    await clusters.setSecurityGroups('blue', ['sg-admin']);
    expect(rdsMock).toHaveReceivedCommandWith(ModifyDBClusterCommand, {
      DBClusterIdentifier: 'blue',
      VpcSecurityGroupIds: ['sg-admin'],
      ApplyImmediately: true,
    });
  });

  it('upgrades a major version with the new-family parameter groups', async () => {
    await clusters.upgradeEngine({
      clusterId: 'green-exec1',
      engineVersion: '16.2',
      allowMajorVersionUpgrade: true,
      clusterParameterGroupName: 'pg16-cluster',
      instanceParameterGroupName: 'pg16-instance',
    });
    expect(rdsMock).toHaveReceivedCommandWith(ModifyDBClusterCommand, {
      DBClusterIdentifier: 'green-exec1',
      EngineVersion: '16.2',
      AllowMajorVersionUpgrade: true,
      DBClusterParameterGroupName: 'pg16-cluster',
      DBInstanceParameterGroupName: 'pg16-instance',
      ApplyImmediately: true,
    });
  });

  it('leaves DBInstanceParameterGroupName out of a minor upgrade (RDS rejects it there)', async () => {
    await clusters.upgradeEngine({
      clusterId: 'green-exec1',
      engineVersion: '15.5',
      allowMajorVersionUpgrade: false,
      instanceParameterGroupName: 'pg15-instance',
    });
    const input = rdsMock.commandCalls(ModifyDBClusterCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ EngineVersion: '15.5', AllowMajorVersionUpgrade: false, ApplyImmediately: true });
    expect(input?.DBInstanceParameterGroupName).toBeUndefined();
  });

  it('turns deletion protection off immediately', async () => {
    await clusters.setDeletionProtection('blue', false);
    expect(rdsMock).toHaveReceivedCommandWith(ModifyDBClusterCommand, {
      DBClusterIdentifier: 'blue',
      DeletionProtection: false,
      ApplyImmediately: true,
    });
  });

  it('maps InvalidDBClusterStateFault to RetryableAwsError', async () => {
    rdsMock
      .on(ModifyDBClusterCommand)
      .rejects(new InvalidDBClusterStateFault({ message: 'DB cluster is not available', $metadata: {} }));
    await expect(clusters.setSecurityGroups('blue', ['sg-admin'])).rejects.toBeInstanceOf(RetryableAwsError);
  });
});

describe('deletion', () => {
  it('deletes an instance', async () => {
    rdsMock.on(DeleteDBInstanceCommand).resolves({});
    await clusters.deleteInstance('blue-1');
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBInstanceCommand, { DBInstanceIdentifier: 'blue-1' });
  });

  it('treats an instance that is already gone as deleted', async () => {
    rdsMock
      .on(DeleteDBInstanceCommand)
      .rejects(new DBInstanceNotFoundFault({ message: 'DBInstance blue-1 not found.', $metadata: {} }));
    await expect(clusters.deleteInstance('blue-1')).resolves.toBeUndefined();
  });

  it('deletes a cluster with a final snapshot', async () => {
    rdsMock.on(DeleteDBClusterCommand).resolves({});
    await clusters.deleteCluster('blue', 'blue-final-exec1');
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBClusterCommand, {
      DBClusterIdentifier: 'blue',
      SkipFinalSnapshot: false,
      FinalDBSnapshotIdentifier: 'blue-final-exec1',
    });
  });

  it('skips the final snapshot when none is asked for (rollback of green)', async () => {
    rdsMock.on(DeleteDBClusterCommand).resolves({});
    await clusters.deleteCluster('green-exec1');
    const input = rdsMock.commandCalls(DeleteDBClusterCommand)[0]?.args[0].input;
    expect(input).toEqual({ DBClusterIdentifier: 'green-exec1', SkipFinalSnapshot: true });
  });

  it('treats a cluster that is already gone as deleted', async () => {
    rdsMock
      .on(DeleteDBClusterCommand)
      .rejects(new DBClusterNotFoundFault({ message: 'DBCluster green not found.', $metadata: {} }));
    await expect(clusters.deleteCluster('green-exec1')).resolves.toBeUndefined();
  });

  it('does not swallow other errors when deleting', async () => {
    rdsMock
      .on(DeleteDBClusterCommand)
      .rejects(new InvalidDBClusterStateFault({ message: 'cluster is backing-up', $metadata: {} }));
    rdsMock
      .on(DescribeDBClustersCommand)
      .resolves({ DBClusters: [{ DBClusterIdentifier: 'blue', Status: 'backing-up' }] });
    await expect(clusters.deleteCluster('blue', 'snap')).rejects.toBeInstanceOf(RetryableAwsError);
  });

  it('treats an instance that is already being deleted as asked (a second look came before describe said so)', async () => {
    rdsMock
      .on(DeleteDBInstanceCommand)
      .rejects(
        new InvalidDBInstanceStateFault({ message: 'Instance blue-1 is already being deleted.', $metadata: {} }),
      );
    rdsMock
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'blue-1', DBInstanceStatus: 'deleting' }] });
    await expect(clusters.deleteInstance('blue-1')).resolves.toBeUndefined();
  });

  it('treats a cluster that is already being deleted as asked', async () => {
    rdsMock
      .on(DeleteDBClusterCommand)
      .rejects(new InvalidDBClusterStateFault({ message: 'Cluster is in deleting state', $metadata: {} }));
    rdsMock
      .on(DescribeDBClustersCommand)
      .resolves({ DBClusters: [{ DBClusterIdentifier: 'green', Status: 'deleting' }] });
    await expect(clusters.deleteCluster('green')).resolves.toBeUndefined();
  });

  it('treats a cluster that refused deletion and is gone by the next describe as deleted', async () => {
    rdsMock
      .on(DeleteDBClusterCommand)
      .rejects(new InvalidDBClusterStateFault({ message: 'Cluster is in deleting state', $metadata: {} }));
    rdsMock
      .on(DescribeDBClustersCommand)
      .rejects(new DBClusterNotFoundFault({ message: 'DBCluster green not found.', $metadata: {} }));
    await expect(clusters.deleteCluster('green')).resolves.toBeUndefined();
  });

  it('still fails when the instance refused deletion and is not deleting', async () => {
    rdsMock
      .on(DeleteDBInstanceCommand)
      .rejects(new InvalidDBInstanceStateFault({ message: 'Instance blue-1 is rebooting.', $metadata: {} }));
    rdsMock
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'blue-1', DBInstanceStatus: 'rebooting' }] });
    await expect(clusters.deleteInstance('blue-1')).rejects.toBeInstanceOf(RetryableAwsError);
  });
});

describe('clusterEvents', () => {
  it("asks DescribeEvents for the cluster's own events since the given time, over every page, oldest first", async () => {
    rdsMock
      .on(DescribeEventsCommand)
      .resolvesOnce({
        Events: [
          {
            SourceIdentifier: 'green',
            SourceType: 'db-cluster',
            Message: 'Database cluster is in a state that cannot be upgraded: Upgrade prechecks failed.',
            EventCategories: ['maintenance'],
            Date: new Date('2026-12-05T02:11:02.000Z'),
          },
        ],
        Marker: 'm2',
      })
      .resolvesOnce({
        Events: [
          {
            SourceIdentifier: 'green',
            SourceType: 'db-cluster',
            Message: 'Database cluster engine version upgrade started.',
            EventCategories: ['maintenance'],
            Date: new Date('2026-12-05T02:11:00.000Z'),
          },
        ],
      });
    await expect(clusters.clusterEvents('green', '2026-12-05T02:10:00.000Z')).resolves.toEqual([
      {
        date: '2026-12-05T02:11:00.000Z',
        message: 'Database cluster engine version upgrade started.',
        categories: ['maintenance'],
      },
      {
        date: '2026-12-05T02:11:02.000Z',
        message: 'Database cluster is in a state that cannot be upgraded: Upgrade prechecks failed.',
        categories: ['maintenance'],
      },
    ]);
    expect(rdsMock).toHaveReceivedNthSpecificCommandWith(1, DescribeEventsCommand, {
      SourceType: 'db-cluster',
      SourceIdentifier: 'green',
      StartTime: new Date('2026-12-05T02:10:00.000Z'),
    });
    expect(rdsMock).toHaveReceivedNthSpecificCommandWith(2, DescribeEventsCommand, { Marker: 'm2' });
  });

  it('maps throttling to RetryableAwsError', async () => {
    rdsMock.on(DescribeEventsCommand).rejects(
      new RDSServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(clusters.clusterEvents('green', '2026-12-05T02:10:00.000Z')).rejects.toBeInstanceOf(RetryableAwsError);
  });
});

describe('describeClusterSnapshot', () => {
  it('finds the snapshot across pages', async () => {
    rdsMock
      .on(DescribeDBClusterSnapshotsCommand)
      .resolvesOnce({ DBClusterSnapshots: [], Marker: 'm2' })
      .resolvesOnce({ DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: 'blue-final-exec1', Status: 'creating' }] });
    await expect(clusters.describeClusterSnapshot('blue-final-exec1')).resolves.toEqual({
      id: 'blue-final-exec1',
      status: 'creating',
    });
    expect(rdsMock).toHaveReceivedNthSpecificCommandWith(2, DescribeDBClusterSnapshotsCommand, {
      DBClusterSnapshotIdentifier: 'blue-final-exec1',
      Marker: 'm2',
    });
  });

  it('returns undefined when the snapshot does not exist', async () => {
    rdsMock
      .on(DescribeDBClusterSnapshotsCommand)
      .rejects(new DBClusterSnapshotNotFoundFault({ message: 'not found', $metadata: {} }));
    await expect(clusters.describeClusterSnapshot('nope')).resolves.toBeUndefined();
  });
});
