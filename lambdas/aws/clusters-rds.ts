import {
  AddRoleToDBClusterCommand,
  CreateDBInstanceCommand,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterParameterGroupsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBParameterGroupsCommand,
  ModifyDBClusterCommand,
  RestoreDBClusterToPointInTimeCommand,
  paginateDescribeDBClusterParameters,
  paginateDescribeDBClusterSnapshots,
  paginateDescribeDBEngineVersions,
  paginateDescribeEvents,
  type DBCluster,
  type DBInstance,
  type DBEngineVersion,
  type RDSClient,
  type ServerlessV2ScalingConfiguration,
  type ServerlessV2ScalingConfigurationInfo,
  type Tag,
} from '@aws-sdk/client-rds';
import { awsCall } from '../domain/aws-errors';
import type {
  CloneRequest,
  Cluster,
  ClusterEvent,
  Clusters,
  CreateInstanceRequest,
  Instance,
  OpenClusterOptions,
  ServerlessV2Scaling,
  UpgradeRequest,
  UpgradeTarget,
} from '../ports';

export const ENGINE = 'aurora-postgresql';
const DEFAULT_POSTGRES_PORT = 5432;

// Not-found errors: the SDK's exception name and, for safety, the code RDS puts on the wire.
const CLUSTER_NOT_FOUND = ['DBClusterNotFoundFault'];
const INSTANCE_NOT_FOUND = ['DBInstanceNotFoundFault', 'DBInstanceNotFound'];
const PARAMETER_GROUP_NOT_FOUND = [
  'DBParameterGroupNotFoundFault',
  'DBParameterGroupNotFound',
  'DBClusterParameterGroupNotFoundFault',
  'DBClusterParameterGroupNotFound',
];
const SNAPSHOT_NOT_FOUND = ['DBClusterSnapshotNotFoundFault'];

function isNamed(error: unknown, names: readonly string[]): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { Code?: unknown }).Code;
  return names.includes(error.name) || (typeof code === 'string' && names.includes(code));
}

/** Runs an RDS call; `notFound` errors become `undefined`, everything else goes through `awsCall`. */
function orUndefined<T>(action: string, notFound: readonly string[], call: () => Promise<T>): Promise<T | undefined> {
  return awsCall(action, async () => {
    try {
      return await call();
    } catch (error) {
      if (isNamed(error, notFound)) return undefined;
      throw error;
    }
  });
}

function tagsToRecord(tags: Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

function recordToTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** True when a PendingModifiedValues structure holds any actual value (empty lists/objects do not count). */
function hasContent(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.some(hasContent);
  if (value instanceof Date) return true;
  if (typeof value === 'object') return Object.values(value).some(hasContent);
  return true;
}

function toScaling(s: ServerlessV2ScalingConfigurationInfo | undefined): ServerlessV2Scaling | undefined {
  if (s?.MinCapacity === undefined || s.MaxCapacity === undefined) return undefined;
  return {
    minCapacity: s.MinCapacity,
    maxCapacity: s.MaxCapacity,
    ...(s.SecondsUntilAutoPause !== undefined ? { secondsUntilAutoPause: s.SecondsUntilAutoPause } : {}),
  };
}

function fromScaling(s: ServerlessV2Scaling | undefined): ServerlessV2ScalingConfiguration | undefined {
  if (!s) return undefined;
  return {
    MinCapacity: s.minCapacity,
    MaxCapacity: s.maxCapacity,
    ...(s.secondsUntilAutoPause !== undefined ? { SecondsUntilAutoPause: s.secondsUntilAutoPause } : {}),
  };
}

export function toCluster(c: DBCluster, requestedId: string): Cluster {
  return {
    id: c.DBClusterIdentifier ?? requestedId,
    arn: c.DBClusterArn,
    status: c.Status ?? 'unknown',
    engine: c.Engine ?? '',
    engineVersion: c.EngineVersion ?? '',
    endpoint: c.Endpoint ?? '',
    readerEndpoint: c.ReaderEndpoint,
    port: c.Port ?? DEFAULT_POSTGRES_PORT,
    securityGroups: (c.VpcSecurityGroups ?? []).flatMap((g) =>
      g.VpcSecurityGroupId === undefined ? [] : [{ id: g.VpcSecurityGroupId, status: g.Status ?? 'unknown' }],
    ),
    subnetGroupName: c.DBSubnetGroup,
    clusterParameterGroupName: c.DBClusterParameterGroup,
    kmsKeyId: c.KmsKeyId,
    iamAuth: c.IAMDatabaseAuthenticationEnabled ?? false,
    logExports: c.EnabledCloudwatchLogsExports ?? [],
    deletionProtection: c.DeletionProtection ?? false,
    members: (c.DBClusterMembers ?? []).flatMap((m) =>
      m.DBInstanceIdentifier === undefined
        ? []
        : [
            {
              instanceId: m.DBInstanceIdentifier,
              isWriter: m.IsClusterWriter ?? false,
              ...(m.PromotionTier !== undefined ? { promotionTier: m.PromotionTier } : {}),
              ...(m.DBClusterParameterGroupStatus ? { parameterGroupStatus: m.DBClusterParameterGroupStatus } : {}),
            },
          ],
    ),
    tags: tagsToRecord(c.TagList),
    latestRestorableTime: c.LatestRestorableTime?.toISOString(),
    pendingModifications: hasContent(c.PendingModifiedValues),
    ...(c.PendingModifiedValues?.EngineVersion ? { pendingEngineVersion: c.PendingModifiedValues.EngineVersion } : {}),
    availabilityZones: c.AvailabilityZones ?? [],
    ...(c.StorageType ? { storageType: c.StorageType } : {}),
    ...(toScaling(c.ServerlessV2ScalingConfiguration)
      ? { serverlessV2Scaling: toScaling(c.ServerlessV2ScalingConfiguration) }
      : {}),
    ...(c.EngineLifecycleSupport ? { engineLifecycleSupport: c.EngineLifecycleSupport } : {}),
    copyTagsToSnapshot: c.CopyTagsToSnapshot ?? false,
    associatedRoles: (c.AssociatedRoles ?? []).flatMap((r) =>
      r.RoleArn === undefined
        ? []
        : [
            {
              roleArn: r.RoleArn,
              ...(r.FeatureName ? { featureName: r.FeatureName } : {}),
              ...(r.Status ? { status: r.Status } : {}),
            },
          ],
    ),
    ...(c.MasterUserSecret?.SecretArn
      ? {
          masterUserSecret: {
            secretArn: c.MasterUserSecret.SecretArn,
            ...(c.MasterUserSecret.KmsKeyId ? { kmsKeyId: c.MasterUserSecret.KmsKeyId } : {}),
            ...(c.MasterUserSecret.SecretStatus ? { status: c.MasterUserSecret.SecretStatus } : {}),
          },
        }
      : {}),
  };
}

export function toInstance(i: DBInstance, requestedId: string): Instance {
  return {
    id: i.DBInstanceIdentifier ?? requestedId,
    clusterId: i.DBClusterIdentifier ?? '',
    status: i.DBInstanceStatus ?? 'unknown',
    instanceClass: i.DBInstanceClass ?? '',
    availabilityZone: i.AvailabilityZone,
    parameterGroupName: i.DBParameterGroups?.[0]?.DBParameterGroupName,
    monitoringInterval: i.MonitoringInterval,
    monitoringRoleArn: i.MonitoringRoleArn,
    performanceInsights: i.PerformanceInsightsEnabled ?? false,
    performanceInsightsKmsKeyId: i.PerformanceInsightsKMSKeyId,
    performanceInsightsRetentionPeriod: i.PerformanceInsightsRetentionPeriod,
    ...(i.CACertificateIdentifier ? { caCertificateIdentifier: i.CACertificateIdentifier } : {}),
    ...(i.PromotionTier !== undefined ? { promotionTier: i.PromotionTier } : {}),
    tags: tagsToRecord(i.TagList),
  };
}

/** The `Clusters` port on Amazon RDS (Aurora PostgreSQL). Every call maps its errors through `awsCall`. */
export class RdsClusters implements Clusters {
  constructor(private readonly rds: RDSClient) {}

  async describeCluster(id: string): Promise<Cluster | undefined> {
    const output = await orUndefined(`DescribeDBClusters ${id}`, CLUSTER_NOT_FOUND, () =>
      this.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id })),
    );
    const cluster = output?.DBClusters?.[0];
    return cluster ? toCluster(cluster, id) : undefined;
  }

  async describeInstance(id: string): Promise<Instance | undefined> {
    const output = await orUndefined(`DescribeDBInstances ${id}`, INSTANCE_NOT_FOUND, () =>
      this.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })),
    );
    const instance = output?.DBInstances?.[0];
    return instance ? toInstance(instance, id) : undefined;
  }

  private engineVersions(engineVersion: string): Promise<DBEngineVersion[]> {
    return awsCall(`DescribeDBEngineVersions ${ENGINE} ${engineVersion}`, async () => {
      const versions: DBEngineVersion[] = [];
      // IncludeAll: without it RDS leaves out a deprecated minor (one no longer offered for new
      // clusters), so a blue still running it would find no upgrade target and no family at all.
      for await (const page of paginateDescribeDBEngineVersions(
        { client: this.rds },
        { Engine: ENGINE, EngineVersion: engineVersion, IncludeAll: true },
      )) {
        versions.push(...(page.DBEngineVersions ?? []));
      }
      return versions;
    });
  }

  async validUpgradeTargets(engineVersion: string): Promise<UpgradeTarget[]> {
    const targets = new Map<string, UpgradeTarget>();
    for (const version of await this.engineVersions(engineVersion)) {
      for (const target of version.ValidUpgradeTarget ?? []) {
        if (!target.EngineVersion || (target.Engine !== undefined && target.Engine !== ENGINE)) continue;
        targets.set(target.EngineVersion, {
          engineVersion: target.EngineVersion,
          isMajorVersionUpgrade: target.IsMajorVersionUpgrade ?? false,
        });
      }
    }
    return [...targets.values()];
  }

  async parameterGroupFamilyOf(engineVersion: string): Promise<string | undefined> {
    const versions = await this.engineVersions(engineVersion);
    return versions.find((v) => v.DBParameterGroupFamily)?.DBParameterGroupFamily;
  }

  async clusterParameterGroupFamily(name: string): Promise<string | undefined> {
    const output = await orUndefined(`DescribeDBClusterParameterGroups ${name}`, PARAMETER_GROUP_NOT_FOUND, () =>
      this.rds.send(new DescribeDBClusterParameterGroupsCommand({ DBClusterParameterGroupName: name })),
    );
    return output?.DBClusterParameterGroups?.[0]?.DBParameterGroupFamily;
  }

  async clusterParameterValue(groupName: string, parameterName: string): Promise<string | undefined> {
    return orUndefined(
      `DescribeDBClusterParameters ${groupName} ${parameterName}`,
      PARAMETER_GROUP_NOT_FOUND,
      async () => {
        // `parameter-name` is the one filter the action supports; the name is checked again
        // here, so a filter the service ignored cannot return another parameter's value.
        for await (const page of paginateDescribeDBClusterParameters(
          { client: this.rds },
          {
            DBClusterParameterGroupName: groupName,
            Filters: [{ Name: 'parameter-name', Values: [parameterName] }],
          },
        )) {
          const found = page.Parameters?.find((p) => p.ParameterName === parameterName);
          if (found) return found.ParameterValue;
        }
        return undefined;
      },
    );
  }

  async instanceParameterGroupFamily(name: string): Promise<string | undefined> {
    const output = await orUndefined(`DescribeDBParameterGroups ${name}`, PARAMETER_GROUP_NOT_FOUND, () =>
      this.rds.send(new DescribeDBParameterGroupsCommand({ DBParameterGroupName: name })),
    );
    return output?.DBParameterGroups?.[0]?.DBParameterGroupFamily;
  }

  async cloneCopyOnWrite(request: CloneRequest): Promise<void> {
    await awsCall(`RestoreDBClusterToPointInTime ${request.sourceClusterId} -> ${request.targetClusterId}`, () =>
      this.rds.send(
        new RestoreDBClusterToPointInTimeCommand({
          SourceDBClusterIdentifier: request.sourceClusterId,
          DBClusterIdentifier: request.targetClusterId,
          RestoreType: 'copy-on-write',
          UseLatestRestorableTime: true,
          DBSubnetGroupName: request.subnetGroupName,
          DBClusterParameterGroupName: request.clusterParameterGroupName,
          KmsKeyId: request.kmsKeyId,
          EnableIAMDatabaseAuthentication: request.iamAuth,
          EnableCloudwatchLogsExports: request.logExports.length > 0 ? request.logExports : undefined,
          // Only the groups asked for (the workflow's admin group): applications cannot reach green yet.
          VpcSecurityGroupIds: request.securityGroupIds,
          // Green comes up as blue is configured. The restore does not inherit these from its
          // source; per the SDK's RestoreDBClusterToPointInTimeMessage docs its defaults are:
          // Port "the default port for the engine" (5432, not blue's), StorageType `aurora` (so an
          // I/O-Optimized blue would clone to standard storage and bill differently),
          // EngineLifecycleSupport `open-source-rds-extended-support` (whatever blue opted out
          // of), CopyTagsToSnapshot "not to copy them". ServerlessV2ScalingConfiguration is
          // needed for green's `db.serverless` instances to start with blue's capacity range.
          Port: request.port,
          StorageType: request.storageType,
          ServerlessV2ScalingConfiguration: fromScaling(request.serverlessV2Scaling),
          EngineLifecycleSupport: request.engineLifecycleSupport,
          // Deletion protection is restored at OpenGreen, when blue had it: until then a failed
          // run must be able to delete green.
          DeletionProtection: false,
          CopyTagsToSnapshot: request.copyTagsToSnapshot,
          Tags: recordToTags(request.tags),
        }),
      ),
    );
  }

  async createInstance(request: CreateInstanceRequest): Promise<void> {
    const monitoring =
      request.monitoringInterval !== undefined && request.monitoringInterval > 0
        ? { MonitoringInterval: request.monitoringInterval, MonitoringRoleArn: request.monitoringRoleArn }
        : {};
    const performanceInsights = request.performanceInsights
      ? {
          PerformanceInsightsKMSKeyId: request.performanceInsightsKmsKeyId,
          PerformanceInsightsRetentionPeriod: request.performanceInsightsRetentionPeriod,
        }
      : {};
    await awsCall(`CreateDBInstance ${request.instanceId}`, () =>
      this.rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: request.instanceId,
          Engine: ENGINE,
          DBClusterIdentifier: request.clusterId,
          DBInstanceClass: request.instanceClass,
          AvailabilityZone: request.availabilityZone,
          DBParameterGroupName: request.parameterGroupName,
          ...monitoring,
          EnablePerformanceInsights: request.performanceInsights,
          ...performanceInsights,
          // The default is the region's current default CA, which may not be the one blue's
          // clients pin: green serves a certificate from the same CA as blue.
          CACertificateIdentifier: request.caCertificateIdentifier,
          // The default tier is 1 for every new instance: keep blue's failover order.
          PromotionTier: request.promotionTier,
          PubliclyAccessible: false,
          Tags: recordToTags(request.tags),
        }),
      ),
    );
  }

  async setSecurityGroups(
    clusterId: string,
    securityGroupIds: string[],
    options: OpenClusterOptions = {},
  ): Promise<void> {
    await awsCall(`ModifyDBCluster ${clusterId} VpcSecurityGroupIds`, () =>
      this.rds.send(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: clusterId,
          VpcSecurityGroupIds: securityGroupIds,
          // One call: a second ModifyDBCluster while the first is applied may be refused as busy.
          ...(options.deletionProtection !== undefined ? { DeletionProtection: options.deletionProtection } : {}),
          ApplyImmediately: true,
        }),
      ),
    );
  }

  async addRole(clusterId: string, roleArn: string, featureName?: string): Promise<void> {
    await awsCall(`AddRoleToDBCluster ${clusterId} ${roleArn}`, async () => {
      try {
        await this.rds.send(
          new AddRoleToDBClusterCommand({
            DBClusterIdentifier: clusterId,
            RoleArn: roleArn,
            ...(featureName ? { FeatureName: featureName } : {}),
          }),
        );
      } catch (error) {
        // Already associated (a retried OpenGreen): what was asked for is there.
        if (isNamed(error, ['DBClusterRoleAlreadyExistsFault', 'DBClusterRoleAlreadyExists'])) return;
        throw error;
      }
    });
  }

  async manageMasterUserPassword(clusterId: string, kmsKeyId?: string): Promise<string | undefined> {
    const output = await awsCall(`ModifyDBCluster ${clusterId} ManageMasterUserPassword`, () =>
      this.rds.send(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: clusterId,
          ManageMasterUserPassword: true,
          ...(kmsKeyId ? { MasterUserSecretKmsKeyId: kmsKeyId } : {}),
          ApplyImmediately: true,
        }),
      ),
    );
    return output.DBCluster?.MasterUserSecret?.SecretArn;
  }

  async upgradeEngine(request: UpgradeRequest): Promise<void> {
    await awsCall(`ModifyDBCluster ${request.clusterId} EngineVersion ${request.engineVersion}`, () =>
      this.rds.send(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: request.clusterId,
          EngineVersion: request.engineVersion,
          AllowMajorVersionUpgrade: request.allowMajorVersionUpgrade,
          DBClusterParameterGroupName: request.clusterParameterGroupName,
          // RDS accepts DBInstanceParameterGroupName only together with AllowMajorVersionUpgrade.
          DBInstanceParameterGroupName: request.allowMajorVersionUpgrade
            ? request.instanceParameterGroupName
            : undefined,
          ApplyImmediately: true,
        }),
      ),
    );
  }

  async setDeletionProtection(clusterId: string, enabled: boolean): Promise<void> {
    await awsCall(`ModifyDBCluster ${clusterId} DeletionProtection ${enabled}`, () =>
      this.rds.send(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: clusterId,
          DeletionProtection: enabled,
          ApplyImmediately: true,
        }),
      ),
    );
  }

  async deleteInstance(instanceId: string): Promise<void> {
    // Already gone counts as deleted, so a retried DeleteBlue or Rollback is harmless; so does
    // already deleting (a check may look again before a describe shows `deleting`).
    await this.unlessAlreadyDeleting(
      () =>
        orUndefined(`DeleteDBInstance ${instanceId}`, INSTANCE_NOT_FOUND, () =>
          this.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: instanceId })),
        ),
      async () => (await this.describeInstance(instanceId))?.status,
    );
  }

  /**
   * Runs a Delete call; when AWS refuses it because of the resource's state, it is fine if that
   * state is `deleting` (or the resource is gone): the deletion asked for is under way.
   */
  private async unlessAlreadyDeleting(
    call: () => Promise<unknown>,
    statusNow: () => Promise<string | undefined>,
  ): Promise<void> {
    try {
      await call();
    } catch (error) {
      const cause = error instanceof Error ? error.cause : undefined;
      if (!isNamed(cause, ['InvalidDBInstanceStateFault', 'InvalidDBInstanceState', 'InvalidDBClusterStateFault']))
        throw error;
      const status = await statusNow();
      if (status !== undefined && status !== 'deleting') throw error;
    }
  }

  async deleteCluster(clusterId: string, finalSnapshotId?: string): Promise<void> {
    const snapshot =
      finalSnapshotId !== undefined
        ? { SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: finalSnapshotId }
        : { SkipFinalSnapshot: true };
    await this.unlessAlreadyDeleting(
      () =>
        orUndefined(`DeleteDBCluster ${clusterId}`, CLUSTER_NOT_FOUND, () =>
          this.rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: clusterId, ...snapshot })),
        ),
      async () => (await this.describeCluster(clusterId))?.status,
    );
  }

  async clusterEvents(clusterId: string, since: string): Promise<ClusterEvent[]> {
    return awsCall(`DescribeEvents db-cluster ${clusterId}`, async () => {
      const events: ClusterEvent[] = [];
      for await (const page of paginateDescribeEvents(
        { client: this.rds },
        { SourceType: 'db-cluster', SourceIdentifier: clusterId, StartTime: new Date(since) },
      )) {
        for (const e of page.Events ?? []) {
          events.push({
            date: e.Date?.toISOString() ?? since,
            message: e.Message ?? '',
            categories: e.EventCategories ?? [],
          });
        }
      }
      return events.sort((a, b) => a.date.localeCompare(b.date));
    });
  }

  async describeClusterSnapshot(snapshotId: string): Promise<{ id: string; status: string } | undefined> {
    return orUndefined(`DescribeDBClusterSnapshots ${snapshotId}`, SNAPSHOT_NOT_FOUND, async () => {
      for await (const page of paginateDescribeDBClusterSnapshots(
        { client: this.rds },
        { DBClusterSnapshotIdentifier: snapshotId },
      )) {
        const found = page.DBClusterSnapshots?.find((s) => s.DBClusterSnapshotIdentifier === snapshotId);
        if (found) return { id: snapshotId, status: found.Status ?? 'unknown' };
      }
      return undefined;
    });
  }
}
