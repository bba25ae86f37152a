import fs from 'node:fs';
import path from 'node:path';
import type {
  CloneRequest,
  Cluster,
  ClusterEvent,
  Clusters,
  CreateInstanceRequest,
  Instance,
  OpenClusterOptions,
  SecurityGroupMembership,
  UpgradeRequest,
  UpgradeTarget,
} from '../../lambdas/ports';
import {
  compareVersions,
  copyRunningServer,
  copyStoppedDataDir,
  createStandby,
  freePort,
  installedEngineVersions,
  majorOf,
  majorUpgradePlan,
  PgServer,
  startAtConsistency,
  type ConsistencyPoint,
  upgradeMajor,
  upgradeMinor,
  writeClusterParameterSettings,
  type ServerSettings,
  type UpgradeMethod,
} from '../postgres';
import { startProxy, type TcpProxy } from '../proxy';
import { installStartLsnFunction } from './clone-start-lsn';
import { awsFault } from './errors';

/**
 * The Clusters port on local PostgreSQL processes, with Aurora's semantics where the workflow
 * depends on them: operations return at once and run in the background, serialised per cluster,
 * so the poll loops see `creating`, `upgrading`, `deleting` before `available` or gone.
 */

export interface ClusterRecord {
  id: string;
  status: string;
  engineVersion: string;
  /** The public endpoint: a proxy that accepts new connections only while the access group is attached. */
  proxy: TcpProxy;
  securityGroups: SecurityGroupMembership[];
  clusterParameterGroupName: string;
  subnetGroupName?: string;
  kmsKeyId?: string;
  iamAuth: boolean;
  logExports: string[];
  deletionProtection: boolean;
  tags: Record<string, string>;
  /**
   * Settings that only matter to AWS (storage type, Serverless v2 range, Extended Support, tag
   * copying, IAM roles, the managed master-password secret): kept and reported as asked, so the
   * workflow's carry-over is visible in the rehearsal. The port is not: a local cluster's port is
   * its proxy's, which the machine chooses.
   */
  settings: Pick<
    Cluster,
    | 'storageType'
    | 'serverlessV2Scaling'
    | 'engineLifecycleSupport'
    | 'copyTagsToSnapshot'
    | 'associatedRoles'
    | 'masterUserSecret'
  >;
  /** The cluster volume while no writer runs on it (a clone, or after the writer was deleted). */
  storageDir?: string;
  instanceIds: string[];
  pendingModifications: boolean;
  /** The engine version an upgrade under way is moving to (PendingModifiedValues.EngineVersion). */
  pendingEngineVersion?: string;
  /** A clone's point in time: its source's LatestRestorableTime when the restore was asked for. */
  restoredTo?: string;
  /** A clone whose first writer has not started yet: it starts by recovering to consistency. */
  recoverToConsistency?: boolean;
  /** Where a clone became consistent, exactly: what `aurora_volume_logical_start_lsn()` returns on it. */
  cloneStart?: ConsistencyPoint;
  upgrade?: { from: string; to: string; method: UpgradeMethod; description: string; ms: number };
  sourceClusterId?: string;
  lastError?: string;
  createdAt: string;
  queue: Promise<void>;
}

export interface InstanceRecord {
  request: CreateInstanceRequest;
  status: string;
  isWriter: boolean;
  server?: PgServer;
  /** The cluster parameter group's settings the server last started with (what is in effect). */
  settingsInEffect?: ServerSettings;
  lastError?: string;
  createdAt: string;
}

export interface SnapshotRecord {
  id: string;
  clusterId: string;
  status: string;
  dir: string;
  engineVersion: string;
  createdAt: string;
}

export interface OperationRecord {
  operation: string;
  resource: string;
  startedAt: string;
  endedAt?: string;
  ms?: number;
  error?: string;
}

export interface LocalClustersOptions {
  workdir: string;
  accessSecurityGroupId: string;
  /** Minimum time an operation shows its intermediate state. */
  operationDelayMs: number;
  /**
   * How far LatestRestorableTime trails the present (modelled: Aurora's continuous backup
   * trails by seconds, at times up to about five minutes).
   */
  restorableLagMs: number;
  /** Every engine upgrade fails as RDS fails one: an event, then `available` on the old version. */
  upgradeFails: boolean;
  /** Appends a line to the cloud's log file. */
  log: (line: string) => void;
}

/** The message the local cloud publishes for a failed upgrade, in Aurora's words. */
export const LOCAL_UPGRADE_FAILURE =
  'Database cluster is in a state that cannot be upgraded: Upgrade prechecks failed (modelled by the local cloud: --upgrade-fails).';

/**
 * Aurora's major-upgrade precheck on logical replication slots (AuroraUserGuide, "Reestablishing
 * logical replication after a major upgrade"): from a source version earlier than 17, "the upgrade
 * precheck stops the upgrade if any logical replication slot exists". RDS then publishes an event
 * and leaves the cluster `available` on its old version. Local `pg_upgrade` before 17 would drop
 * the slots silently instead, so the local cloud checks first, as RDS does.
 */
export const LOGICAL_SLOTS_PRECHECK_FAILURE =
  'Database cluster is in a state that cannot be upgraded: Upgrade prechecks failed. Logical replication slots exist';

/** The first source major whose upgrade keeps (consumed) logical slots instead of refusing them. */
const SLOTS_SURVIVE_FROM_MAJOR = 17;

const AZS = ['local-1a', 'local-1b', 'local-1c'];

export function familyOf(engineVersion: string): string {
  return `aurora-postgresql${majorOf(engineVersion)}`;
}

export function endpointOf(clusterId: string): string {
  return `${clusterId}.cluster.local`;
}

/**
 * The server settings a cluster parameter group's values stand for. Only static parameters are
 * modelled, so a change is in effect after the instance restarts, and until then its member
 * status is `pending-reboot`, as on Aurora. `rds.logical_replication = 1` is Aurora's switch for
 * `wal_level = logical` (AuroraUserGuide, "Setting up logical replication for your Aurora
 * PostgreSQL DB cluster"); its default, in the `default.aurora-postgresqlNN` groups too, is 0.
 */
export function serverSettingsOf(parameters: Readonly<Record<string, string>>): ServerSettings {
  return { wal_level: parameters['rds.logical_replication'] === '1' ? 'logical' : 'replica' };
}

function sameSettings(a: ServerSettings, b: ServerSettings): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

export class LocalClusters implements Clusters {
  readonly clusters = new Map<string, ClusterRecord>();
  readonly instances = new Map<string, InstanceRecord>();
  readonly snapshots = new Map<string, SnapshotRecord>();
  readonly operations: OperationRecord[] = [];
  /** RDS events (DescribeEvents), per cluster id, oldest first. */
  readonly events = new Map<string, ClusterEvent[]>();
  readonly clusterParameterGroups = new Map<string, string>();
  readonly instanceParameterGroups = new Map<string, string>();
  /** The values each cluster parameter group sets (name → value); a group without an entry sets none. */
  readonly clusterParameters = new Map<string, Record<string, string>>();
  private stopping = false;
  private dirCounter = 0;

  constructor(private readonly options: LocalClustersOptions) {
    for (const major of new Set(installedEngineVersions().map(majorOf))) {
      this.clusterParameterGroups.set(`default.aurora-postgresql${major}`, `aurora-postgresql${major}`);
      this.instanceParameterGroups.set(`default.aurora-postgresql${major}`, `aurora-postgresql${major}`);
    }
  }

  // ---- the Clusters port -------------------------------------------------------------------

  async describeCluster(id: string): Promise<Cluster | undefined> {
    const record = this.clusters.get(id);
    return record ? this.toCluster(record) : undefined;
  }

  async describeInstance(id: string): Promise<Instance | undefined> {
    const record = this.instances.get(id);
    if (!record) return undefined;
    const r = record.request;
    return {
      id: r.instanceId,
      clusterId: r.clusterId,
      status: record.status,
      instanceClass: r.instanceClass,
      ...(r.availabilityZone ? { availabilityZone: r.availabilityZone } : {}),
      ...(r.parameterGroupName ? { parameterGroupName: r.parameterGroupName } : {}),
      ...(r.monitoringInterval !== undefined ? { monitoringInterval: r.monitoringInterval } : {}),
      ...(r.monitoringRoleArn ? { monitoringRoleArn: r.monitoringRoleArn } : {}),
      performanceInsights: r.performanceInsights,
      ...(r.performanceInsightsKmsKeyId ? { performanceInsightsKmsKeyId: r.performanceInsightsKmsKeyId } : {}),
      ...(r.performanceInsightsRetentionPeriod !== undefined
        ? { performanceInsightsRetentionPeriod: r.performanceInsightsRetentionPeriod }
        : {}),
      ...(r.caCertificateIdentifier ? { caCertificateIdentifier: r.caCertificateIdentifier } : {}),
      ...(r.promotionTier !== undefined ? { promotionTier: r.promotionTier } : {}),
      tags: { ...r.tags },
    };
  }

  async validUpgradeTargets(engineVersion: string): Promise<UpgradeTarget[]> {
    const installed = installedEngineVersions();
    if (!installed.includes(engineVersion)) return [];
    const from = majorOf(engineVersion);
    return installed
      .filter((v) => compareVersions(v, engineVersion) > 0)
      .filter((v) => majorOf(v) === from || majorUpgradePlan(engineVersion, v) !== undefined)
      .map((v) => ({ engineVersion: v, isMajorVersionUpgrade: majorOf(v) !== from }));
  }

  async parameterGroupFamilyOf(engineVersion: string): Promise<string | undefined> {
    return installedEngineVersions().includes(engineVersion) ? familyOf(engineVersion) : undefined;
  }

  async clusterParameterGroupFamily(name: string): Promise<string | undefined> {
    return this.clusterParameterGroups.get(name);
  }

  async instanceParameterGroupFamily(name: string): Promise<string | undefined> {
    return this.instanceParameterGroups.get(name);
  }

  async clusterParameterValue(groupName: string, parameterName: string): Promise<string | undefined> {
    return this.clusterParameters.get(groupName)?.[parameterName];
  }

  async cloneCopyOnWrite(request: CloneRequest): Promise<void> {
    const action = `RestoreDBClusterToPointInTime ${request.targetClusterId}`;
    if (this.clusters.has(request.targetClusterId)) {
      throw awsFault('DBClusterAlreadyExistsFault', `DB Cluster ${request.targetClusterId} already exists`, action);
    }
    const source = this.clusters.get(request.sourceClusterId);
    if (!source) {
      throw awsFault('DBClusterNotFoundFault', `DBCluster ${request.sourceClusterId} not found.`, action);
    }
    if (source.status !== 'available') {
      throw awsFault('InvalidDBClusterStateFault', `DBCluster ${source.id} is ${source.status}`, action);
    }
    const groupName = request.clusterParameterGroupName ?? source.clusterParameterGroupName;
    this.requireClusterParameterGroup(groupName, source.engineVersion, action);
    const record = await this.newClusterRecord({
      id: request.targetClusterId,
      engineVersion: source.engineVersion,
      securityGroupIds: request.securityGroupIds,
      clusterParameterGroupName: groupName,
      tags: request.tags,
      iamAuth: request.iamAuth,
      logExports: request.logExports,
      ...(request.subnetGroupName ? { subnetGroupName: request.subnetGroupName } : {}),
      ...(request.kmsKeyId ? { kmsKeyId: request.kmsKeyId } : {}),
    });
    record.sourceClusterId = source.id;
    // UseLatestRestorableTime: the clone's point in time is the source's LatestRestorableTime, not now.
    record.restoredTo = this.latestRestorableTime(source);
    this.options.log(`${record.id}: restore of ${source.id} to its LatestRestorableTime ${record.restoredTo}`);
    // As RDS: the restore takes what it is given and its own defaults otherwise, never the source's.
    record.settings = {
      storageType: request.storageType ?? 'aurora',
      ...(request.serverlessV2Scaling ? { serverlessV2Scaling: { ...request.serverlessV2Scaling } } : {}),
      engineLifecycleSupport: request.engineLifecycleSupport ?? 'open-source-rds-extended-support',
      copyTagsToSnapshot: request.copyTagsToSnapshot,
      associatedRoles: [],
    };
    this.enqueue(record, 'clone', async () => {
      // The copy reads the source's writer: run it in the source's queue, after its pending changes.
      const storage = this.newDataDir(record.id);
      await this.runQueued(source, `copy for ${record.id}`, async () => {
        const writer = this.writerOf(source);
        if (!writer?.server?.isRunning) throw new Error(`source cluster ${source.id} has no running writer to clone`);
        // As an Aurora clone, the copy has the source's replication slots.
        await copyRunningServer(writer.server, storage, `clone ${record.id}`, { keepReplicationSlots: true });
      });
      record.storageDir = storage;
      record.recoverToConsistency = true;
      record.status = 'available';
    });
  }

  async createInstance(request: CreateInstanceRequest): Promise<void> {
    const action = `CreateDBInstance ${request.instanceId}`;
    if (this.instances.has(request.instanceId)) {
      throw awsFault('DBInstanceAlreadyExistsFault', `DB instance ${request.instanceId} already exists`, action);
    }
    const cluster = this.requireCluster(request.clusterId, action);
    if (cluster.status !== 'available') {
      throw awsFault('InvalidDBClusterStateFault', `DBCluster ${cluster.id} is ${cluster.status}`, action);
    }
    if (request.parameterGroupName) {
      this.requireInstanceParameterGroup(request.parameterGroupName, cluster.engineVersion, action);
    }
    const isWriter = !cluster.instanceIds.some((id) => this.instances.get(id)?.isWriter);
    const availabilityZone = request.availabilityZone ?? AZS[cluster.instanceIds.length % AZS.length];
    const record: InstanceRecord = {
      request: {
        ...request,
        tags: { ...request.tags },
        ...(availabilityZone ? { availabilityZone } : {}),
        parameterGroupName: request.parameterGroupName ?? `default.${familyOf(cluster.engineVersion)}`,
      },
      status: 'creating',
      isWriter,
      createdAt: new Date().toISOString(),
    };
    this.instances.set(request.instanceId, record);
    cluster.instanceIds.push(request.instanceId);
    this.enqueue(
      cluster,
      isWriter ? 'create writer' : 'create reader',
      async () => {
        record.server = isWriter
          ? await this.startWriterFromStorage(cluster)
          : await this.startReader(cluster, request.instanceId);
        record.status = 'available';
      },
      record,
    );
  }

  async setSecurityGroups(
    clusterId: string,
    securityGroupIds: string[],
    options: OpenClusterOptions = {},
  ): Promise<void> {
    const action = `ModifyDBCluster ${clusterId} VpcSecurityGroupIds`;
    const cluster = this.requireCluster(clusterId, action);
    if (cluster.status !== 'available') {
      throw awsFault('InvalidDBClusterStateFault', `DBCluster ${clusterId} is ${cluster.status}`, action);
    }
    if (options.deletionProtection !== undefined) cluster.deletionProtection = options.deletionProtection;
    const wanted = [...new Set(securityGroupIds)];
    const current = cluster.securityGroups.map((g) => g.id);
    cluster.securityGroups = [
      ...cluster.securityGroups.map((g) => ({ id: g.id, status: wanted.includes(g.id) ? g.status : 'removing' })),
      ...wanted.filter((id) => !current.includes(id)).map((id) => ({ id, status: 'adding' })),
    ];
    this.enqueue(cluster, 'security groups', async () => {
      // The change takes effect when the groups turn active; established connections are untouched.
      cluster.securityGroups = wanted.map((id) => ({ id, status: 'active' }));
      cluster.proxy.setAccepting(wanted.includes(this.options.accessSecurityGroupId));
    });
  }

  async upgradeEngine(request: UpgradeRequest): Promise<void> {
    const action = `ModifyDBCluster ${request.clusterId} EngineVersion`;
    const cluster = this.requireCluster(request.clusterId, action);
    if (cluster.status !== 'available') {
      throw awsFault('InvalidDBClusterStateFault', `DBCluster ${cluster.id} is ${cluster.status}`, action);
    }
    const from = cluster.engineVersion;
    const to = request.engineVersion;
    const target = (await this.validUpgradeTargets(from)).find((t) => t.engineVersion === to);
    if (!target) {
      throw awsFault(
        'InvalidParameterCombination',
        `Cannot upgrade aurora-postgresql from ${from} to ${to} (no local method for it on this machine)`,
        action,
      );
    }
    if (target.isMajorVersionUpgrade && !request.allowMajorVersionUpgrade) {
      throw awsFault(
        'InvalidParameterCombination',
        'The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.',
        action,
      );
    }
    const family = familyOf(to);
    const clusterGroup =
      request.clusterParameterGroupName ??
      (target.isMajorVersionUpgrade ? `default.${family}` : cluster.clusterParameterGroupName);
    this.requireClusterParameterGroup(clusterGroup, to, action);
    if (request.instanceParameterGroupName) {
      this.requireInstanceParameterGroup(request.instanceParameterGroupName, to, action);
    }
    const writer = this.writerOf(cluster);
    if (target.isMajorVersionUpgrade && !writer) {
      throw awsFault('InvalidDBClusterStateFault', `DBCluster ${cluster.id} has no instance to upgrade`, action);
    }
    cluster.status = 'upgrading';
    cluster.pendingModifications = true;
    cluster.pendingEngineVersion = to;
    const members = cluster.instanceIds.flatMap((id) => this.instances.get(id) ?? []);
    for (const member of members) member.status = 'upgrading';
    // RDS's way: an event says why, and the cluster goes back to `available` on its old version.
    const failUpgrade = (reason: string) => {
      this.addEvent(cluster.id, reason, ['maintenance']);
      for (const member of members) member.status = 'available';
      cluster.pendingModifications = false;
      delete cluster.pendingEngineVersion;
      cluster.status = 'available';
      this.options.log(`upgrade of ${cluster.id} ${from} → ${to} failed (modelled): ${reason}; still on ${from}`);
    };
    if (this.options.upgradeFails) {
      this.enqueue(cluster, `upgrade ${from} → ${to} (fails)`, async () => failUpgrade(LOCAL_UPGRADE_FAILURE));
      return;
    }
    this.enqueue(cluster, `upgrade ${from} → ${to}`, async () => {
      if (target.isMajorVersionUpgrade) {
        const slots = await this.slotsBlockingMajorUpgrade(cluster, from);
        if (slots.length > 0) {
          failUpgrade(
            `${LOGICAL_SLOTS_PRECHECK_FAILURE} (${slots.join(', ')}): drop every logical replication slot before ` +
              `a major version upgrade from ${majorOf(from)} (modelled by the local cloud after Aurora's precheck).`,
          );
          return;
        }
      }
      const started = Date.now();
      let method: UpgradeMethod = 'restart-on-new-minor';
      let description = `restart on PostgreSQL ${to}'s binaries (same data folder)`;
      const writerRecord = this.writerOf(cluster);
      const readers = members.filter((m) => !m.isWriter);
      if (writerRecord?.server) {
        if (target.isMajorVersionUpgrade) {
          const old = writerRecord.server;
          const result = await upgradeMajor(old, to, {
            newDataDir: this.newDataDir(cluster.id),
            logFile: this.logFileOf(writerRecord.request.instanceId),
            scratchDir: path.join(this.options.workdir, 'scratch', `${cluster.id}-upgrade-${++this.dirCounter}`),
            clusterSettings: this.clusterSettingsOf(clusterGroup),
          });
          writerRecord.server = result.server;
          writerRecord.settingsInEffect = this.clusterSettingsOf(clusterGroup);
          // The function lives in pg_catalog, which a major upgrade rebuilds: the clone keeps answering.
          if (cluster.cloneStart) await installStartLsnFunction(result.server, cluster.cloneStart.lsn);
          method = result.method;
          description = result.description;
          await fs.promises.rm(old.dataDir, { recursive: true, force: true });
          cluster.proxy.setTarget({ host: '127.0.0.1', port: result.server.port });
          // Standbys cannot follow a new major: rebuild each from the upgraded writer.
          for (const reader of readers) {
            await this.stopAndRemove(reader);
            reader.server = await this.startReader(cluster, reader.request.instanceId, to, clusterGroup);
          }
        } else {
          // The upgrade restarts every instance: changed static parameters take effect with it.
          const upgraded = [writerRecord, ...readers];
          for (const member of upgraded) {
            if (!member.server) continue;
            await writeClusterParameterSettings(member.server.dataDir, this.clusterSettingsOf(clusterGroup));
            member.settingsInEffect = this.clusterSettingsOf(clusterGroup);
            await upgradeMinor(member.server, to);
          }
        }
      }
      cluster.engineVersion = to;
      cluster.clusterParameterGroupName = clusterGroup;
      for (const member of members) {
        if (request.instanceParameterGroupName) member.request.parameterGroupName = request.instanceParameterGroupName;
        else if (target.isMajorVersionUpgrade) member.request.parameterGroupName = `default.${family}`;
        member.status = 'available';
      }
      cluster.upgrade = { from, to, method, description, ms: Date.now() - started };
      this.options.log(`upgrade of ${cluster.id} ${from} → ${to}: ${method} (${description})`);
      cluster.pendingModifications = false;
      delete cluster.pendingEngineVersion;
      cluster.status = 'available';
    });
  }

  /** `database.slot` of each logical slot on the writer that Aurora's precheck refuses (none from 17 on). */
  private async slotsBlockingMajorUpgrade(cluster: ClusterRecord, from: string): Promise<string[]> {
    const server = this.writerOf(cluster)?.server;
    if (!server || Number(majorOf(from)) >= SLOTS_SURVIVE_FROM_MAJOR) return [];
    const rows = await server.query<{ slot: string }>(
      `SELECT database || '.' || slot_name AS slot FROM pg_replication_slots
        WHERE slot_type = 'logical' AND NOT temporary ORDER BY database, slot_name`,
    );
    return rows.map((r) => r.slot);
  }

  async addRole(clusterId: string, roleArn: string, featureName?: string): Promise<void> {
    const action = `AddRoleToDBCluster ${clusterId}`;
    const cluster = this.requireCluster(clusterId, action);
    const roles = cluster.settings.associatedRoles ?? [];
    // RDS answers DBClusterRoleAlreadyExistsFault; the port (like the RDS adapter) calls that success.
    if (roles.some((r) => r.roleArn === roleArn)) return;
    cluster.settings.associatedRoles = [
      ...roles,
      { roleArn, ...(featureName ? { featureName } : {}), status: 'ACTIVE' },
    ];
  }

  async manageMasterUserPassword(clusterId: string, kmsKeyId?: string): Promise<string | undefined> {
    const cluster = this.requireCluster(clusterId, `ModifyDBCluster ${clusterId} ManageMasterUserPassword`);
    // Locally the password stays as it is (the rehearsal's database Lambdas keep their login);
    // only the secret RDS would create is recorded, so the report can name it.
    const secretArn = `arn:aws:secretsmanager:local:000000000000:secret:rds!cluster-${cluster.id}-LOCAL0`;
    cluster.settings.masterUserSecret = { secretArn, ...(kmsKeyId ? { kmsKeyId } : {}), status: 'active' };
    return secretArn;
  }

  async setDeletionProtection(clusterId: string, enabled: boolean): Promise<void> {
    const cluster = this.requireCluster(clusterId, `ModifyDBCluster ${clusterId} DeletionProtection`);
    cluster.deletionProtection = enabled;
  }

  async deleteInstance(instanceId: string): Promise<void> {
    const action = `DeleteDBInstance ${instanceId}`;
    const record = this.instances.get(instanceId);
    if (!record) throw awsFault('DBInstanceNotFoundFault', `DBInstance ${instanceId} not found.`, action);
    if (record.status === 'deleting') return; // already on its way
    if (record.status !== 'available' && record.status !== 'failed') {
      throw awsFault('InvalidDBInstanceStateFault', `DBInstance ${instanceId} is ${record.status}`, action);
    }
    const cluster = this.requireCluster(record.request.clusterId, action);
    record.status = 'deleting';
    this.enqueue(cluster, `delete instance ${instanceId}`, async () => {
      if (record.isWriter) await this.retireWriter(cluster, record);
      else await this.stopAndRemove(record);
      this.instances.delete(instanceId);
      cluster.instanceIds = cluster.instanceIds.filter((id) => id !== instanceId);
    });
  }

  async deleteCluster(clusterId: string, finalSnapshotId?: string): Promise<void> {
    const action = `DeleteDBCluster ${clusterId}`;
    const cluster = this.requireCluster(clusterId, action);
    if (cluster.status === 'deleting') return;
    if (cluster.deletionProtection) {
      throw awsFault(
        'InvalidParameterCombination',
        'Cannot delete protected Cluster, please disable deletion protection and try again.',
        action,
      );
    }
    if (cluster.instanceIds.some((id) => this.instances.get(id)?.status !== 'deleting')) {
      throw awsFault(
        'InvalidDBClusterStateFault',
        'Cluster cannot be deleted, it still contains DB instances in non-deleting state.',
        action,
      );
    }
    if (finalSnapshotId && this.snapshots.has(finalSnapshotId)) {
      throw awsFault(
        'DBClusterSnapshotAlreadyExistsFault',
        `Cannot create the snapshot because a snapshot with the identifier ${finalSnapshotId} already exists.`,
        action,
      );
    }
    cluster.status = 'deleting';
    const snapshot: SnapshotRecord | undefined = finalSnapshotId
      ? {
          id: finalSnapshotId,
          clusterId,
          status: 'creating',
          dir: path.join(this.options.workdir, 'snapshots', finalSnapshotId),
          engineVersion: cluster.engineVersion,
          createdAt: new Date().toISOString(),
        }
      : undefined;
    if (snapshot) this.snapshots.set(snapshot.id, snapshot);
    this.enqueue(cluster, `delete cluster ${clusterId}`, async () => {
      if (snapshot) {
        if (!cluster.storageDir) throw new Error(`cluster ${clusterId} has no storage to snapshot`);
        await fs.promises.mkdir(path.dirname(snapshot.dir), { recursive: true });
        await copyStoppedDataDir(cluster.storageDir, snapshot.dir);
        snapshot.status = 'available';
      }
      if (cluster.storageDir) await fs.promises.rm(cluster.storageDir, { recursive: true, force: true });
      await cluster.proxy.close();
      this.clusters.delete(clusterId);
    });
  }

  async clusterEvents(clusterId: string, since: string): Promise<ClusterEvent[]> {
    const from = Date.parse(since);
    return (this.events.get(clusterId) ?? []).filter((e) => Date.parse(e.date) >= from).map((e) => ({ ...e }));
  }

  addEvent(clusterId: string, message: string, categories: string[]): void {
    const list = this.events.get(clusterId) ?? [];
    list.push({ date: new Date().toISOString(), message, categories: [...categories] });
    this.events.set(clusterId, list);
  }

  /** Trails the present by the modelled lag, as Aurora's continuous backup does. */
  latestRestorableTime(record: ClusterRecord): string {
    const at = Math.max(Date.now() - this.options.restorableLagMs, Date.parse(record.createdAt));
    return new Date(at).toISOString();
  }

  async describeClusterSnapshot(snapshotId: string): Promise<{ id: string; status: string } | undefined> {
    const snapshot = this.snapshots.get(snapshotId);
    return snapshot ? { id: snapshot.id, status: snapshot.status } : undefined;
  }

  // ---- for the local cloud -----------------------------------------------------------------

  /** A new cluster record with its public-endpoint proxy (accepting iff the access group is attached). */
  async newClusterRecord(spec: {
    id: string;
    engineVersion: string;
    securityGroupIds: string[];
    clusterParameterGroupName: string;
    tags: Record<string, string>;
    iamAuth: boolean;
    logExports: string[];
    subnetGroupName?: string;
    kmsKeyId?: string;
  }): Promise<ClusterRecord> {
    const proxy = await startProxy({ accepting: spec.securityGroupIds.includes(this.options.accessSecurityGroupId) });
    const record: ClusterRecord = {
      id: spec.id,
      status: 'creating',
      engineVersion: spec.engineVersion,
      proxy,
      securityGroups: [...new Set(spec.securityGroupIds)].map((id) => ({ id, status: 'active' })),
      clusterParameterGroupName: spec.clusterParameterGroupName,
      iamAuth: spec.iamAuth,
      logExports: [...spec.logExports],
      deletionProtection: false,
      tags: { ...spec.tags },
      settings: {},
      instanceIds: [],
      pendingModifications: false,
      createdAt: new Date().toISOString(),
      queue: Promise.resolve(),
      ...(spec.subnetGroupName ? { subnetGroupName: spec.subnetGroupName } : {}),
      ...(spec.kmsKeyId ? { kmsKeyId: spec.kmsKeyId } : {}),
    };
    this.clusters.set(spec.id, record);
    return record;
  }

  writerOf(cluster: ClusterRecord): InstanceRecord | undefined {
    return cluster.instanceIds.map((id) => this.instances.get(id)).find((i) => i?.isWriter);
  }

  /** The writer's own port (the admin path), or undefined when no writer runs. */
  writerPort(clusterId: string): number | undefined {
    const cluster = this.clusters.get(clusterId);
    const server = cluster ? this.writerOf(cluster)?.server : undefined;
    return server?.isRunning ? server.port : undefined;
  }

  /** The server settings of a cluster parameter group's current values. */
  clusterSettingsOf(groupName: string): ServerSettings {
    return serverSettingsOf(this.clusterParameters.get(groupName) ?? {});
  }

  /**
   * `in-sync` when the instance's server runs with its cluster parameter group's current values,
   * `pending-reboot` when the group changed since the server started.
   */
  parameterGroupStatusOf(cluster: ClusterRecord, instance: InstanceRecord): string {
    if (!instance.settingsInEffect) return 'in-sync'; // not started yet: it starts with the group's values
    return sameSettings(instance.settingsInEffect, this.clusterSettingsOf(cluster.clusterParameterGroupName))
      ? 'in-sync'
      : 'pending-reboot';
  }

  /**
   * ModifyDBClusterParameterGroup: sets parameters of a cluster parameter group. Like Aurora's
   * static parameters, nothing changes on a running server until it is rebooted (`rebootInstance`).
   */
  setClusterParameters(groupName: string, values: Readonly<Record<string, string>>): void {
    const action = `ModifyDBClusterParameterGroup ${groupName}`;
    if (!this.clusterParameterGroups.has(groupName)) {
      throw awsFault('DBParameterGroupNotFound', `DBClusterParameterGroup not found: ${groupName}`, action);
    }
    if (groupName.startsWith('default.')) {
      throw awsFault('InvalidParameterValue', `Default parameter groups cannot be modified: ${groupName}`, action);
    }
    this.clusterParameters.set(groupName, { ...(this.clusterParameters.get(groupName) ?? {}), ...values });
  }

  /** RebootDBInstance: restarts the instance's server with its cluster parameter group's current values. */
  async rebootInstance(instanceId: string): Promise<void> {
    const action = `RebootDBInstance ${instanceId}`;
    const instance = this.instances.get(instanceId);
    if (!instance) throw awsFault('DBInstanceNotFoundFault', `DBInstance ${instanceId} not found.`, action);
    if (instance.status !== 'available' || !instance.server) {
      throw awsFault('InvalidDBInstanceStateFault', `DBInstance ${instanceId} is ${instance.status}`, action);
    }
    const cluster = this.requireCluster(instance.request.clusterId, action);
    const server = instance.server;
    instance.status = 'rebooting';
    this.enqueue(
      cluster,
      `reboot ${instanceId}`,
      async () => {
        await server.stop('fast');
        await this.applyClusterSettings(cluster, instance, server);
        await server.start();
        instance.status = 'available';
      },
      instance,
    );
  }

  /** Writes the cluster parameter group's settings into the server's folder (in effect at its next start). */
  private async applyClusterSettings(
    cluster: ClusterRecord,
    instance: InstanceRecord,
    server: PgServer,
  ): Promise<void> {
    const settings = this.clusterSettingsOf(cluster.clusterParameterGroupName);
    await writeClusterParameterSettings(server.dataDir, settings);
    instance.settingsInEffect = settings;
  }

  newDataDir(clusterId: string): string {
    return path.join(this.options.workdir, 'clusters', clusterId, `data-${++this.dirCounter}`);
  }

  logFileOf(instanceId: string): string {
    return path.join(this.options.workdir, 'logs', `${instanceId}.log`);
  }

  /** Waits for every queued operation, then stops every server and proxy. */
  async stopAll(keep: ReadonlySet<PgServer> = new Set()): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.clusters.values()].map((c) => c.queue));
    const servers = [...this.instances.values()].flatMap((i) => (i.server && !keep.has(i.server) ? [i.server] : []));
    await Promise.all(servers.map((s) => s.stop('fast').catch(() => s.stop('immediate'))));
    await Promise.all([...this.clusters.values()].map((c) => c.proxy.close()));
  }

  toCluster(record: ClusterRecord): Cluster {
    return {
      id: record.id,
      arn: `arn:aws:rds:local:000000000000:cluster:${record.id}`,
      status: record.status,
      engine: 'aurora-postgresql',
      engineVersion: record.engineVersion,
      endpoint: endpointOf(record.id),
      readerEndpoint: `${record.id}.cluster-ro.local`,
      port: record.proxy.port,
      securityGroups: record.securityGroups.map((g) => ({ ...g })),
      ...(record.subnetGroupName ? { subnetGroupName: record.subnetGroupName } : {}),
      clusterParameterGroupName: record.clusterParameterGroupName,
      ...(record.kmsKeyId ? { kmsKeyId: record.kmsKeyId } : {}),
      iamAuth: record.iamAuth,
      logExports: [...record.logExports],
      deletionProtection: record.deletionProtection,
      members: record.instanceIds.map((instanceId) => {
        const instance = this.instances.get(instanceId);
        const tier = instance?.request.promotionTier;
        return {
          instanceId,
          isWriter: instance?.isWriter ?? false,
          ...(tier !== undefined ? { promotionTier: tier } : {}),
          parameterGroupStatus: instance ? this.parameterGroupStatusOf(record, instance) : 'in-sync',
        };
      }),
      tags: { ...record.tags },
      // Trails the present by the modelled lag, so CheckRestorable really waits for it to pass
      // the fence, as it must on Aurora.
      latestRestorableTime: this.latestRestorableTime(record),
      pendingModifications: record.pendingModifications,
      ...(record.pendingEngineVersion ? { pendingEngineVersion: record.pendingEngineVersion } : {}),
      availabilityZones: [...AZS],
      ...structuredClone(record.settings),
    };
  }

  // ---- internals ---------------------------------------------------------------------------

  private requireCluster(id: string, action: string): ClusterRecord {
    const cluster = this.clusters.get(id);
    if (!cluster) throw awsFault('DBClusterNotFoundFault', `DBCluster ${id} not found.`, action);
    return cluster;
  }

  private requireClusterParameterGroup(name: string, engineVersion: string, action: string): void {
    const family = this.clusterParameterGroups.get(name);
    if (!family)
      throw awsFault('DBClusterParameterGroupNotFound', `DBClusterParameterGroup not found: ${name}`, action);
    if (family !== familyOf(engineVersion)) {
      throw awsFault(
        'InvalidParameterCombination',
        `The parameter group ${name} with DBParameterGroupFamily ${family} cannot be used for this instance. Please use a Parameter Group with DBParameterGroupFamily ${familyOf(engineVersion)}`,
        action,
      );
    }
  }

  private requireInstanceParameterGroup(name: string, engineVersion: string, action: string): void {
    const family = this.instanceParameterGroups.get(name);
    if (!family) throw awsFault('DBParameterGroupNotFound', `DBParameterGroup not found: ${name}`, action);
    if (family !== familyOf(engineVersion)) {
      throw awsFault(
        'InvalidParameterCombination',
        `The parameter group ${name} with DBParameterGroupFamily ${family} cannot be used for ${familyOf(engineVersion)}`,
        action,
      );
    }
  }

  private async startWriterFromStorage(cluster: ClusterRecord): Promise<PgServer> {
    if (!cluster.storageDir) throw new Error(`cluster ${cluster.id} has no storage to start a writer on`);
    const writer = this.writerOf(cluster);
    if (!writer) throw new Error(`cluster ${cluster.id} has no writer instance`);
    const server = new PgServer({
      dataDir: cluster.storageDir,
      port: await freePort(),
      engineVersion: cluster.engineVersion,
      logFile: this.logFileOf(writer.request.instanceId),
    });
    await this.applyClusterSettings(cluster, writer, server);
    if (cluster.recoverToConsistency) {
      // A fresh clone: replay only up to consistency and promote, so its start LSN is exact.
      cluster.cloneStart = await startAtConsistency(server);
      delete cluster.recoverToConsistency;
      const databases = await installStartLsnFunction(server, cluster.cloneStart.lsn);
      this.options.log(
        `${cluster.id}: consistent at ${cluster.cloneStart.lsn} (timeline ${cluster.cloneStart.timeline}, ${cluster.cloneStart.reason}); aurora_volume_logical_start_lsn() in ${databases.join(', ')}`,
      );
    } else {
      await server.start();
    }
    delete cluster.storageDir;
    cluster.proxy.setTarget({ host: '127.0.0.1', port: server.port });
    return server;
  }

  private async startReader(
    cluster: ClusterRecord,
    instanceId: string,
    engineVersion?: string,
    groupName = cluster.clusterParameterGroupName,
  ): Promise<PgServer> {
    const writer = this.writerOf(cluster)?.server;
    if (!writer?.isRunning) throw new Error(`cluster ${cluster.id} has no running writer for reader ${instanceId}`);
    if (engineVersion && writer.engineVersion !== engineVersion) throw new Error('reader and writer versions differ');
    const clusterSettings = this.clusterSettingsOf(groupName);
    const standby = await createStandby(writer, {
      dataDir: this.newDataDir(cluster.id),
      port: await freePort(),
      logFile: this.logFileOf(instanceId),
      name: instanceId.replace(/[^A-Za-z0-9_]/g, '_'),
      clusterSettings,
    });
    const record = this.instances.get(instanceId);
    if (record) record.settingsInEffect = clusterSettings;
    return standby;
  }

  /**
   * The writer goes away. A reader that is not itself being deleted takes over (Aurora's
   * failover); otherwise the writer's data folder stays as the cluster volume.
   */
  private async retireWriter(cluster: ClusterRecord, writer: InstanceRecord): Promise<void> {
    const successor = cluster.instanceIds
      .map((id) => this.instances.get(id))
      .find((i): i is InstanceRecord => !!i && !i.isWriter && i.status === 'available' && !!i.server);
    const server = writer.server;
    if (server) await server.stop('fast');
    if (successor?.server) {
      await successor.server.promote();
      successor.isWriter = true;
      writer.isWriter = false;
      cluster.proxy.setTarget({ host: '127.0.0.1', port: successor.server.port });
      if (server) await fs.promises.rm(server.dataDir, { recursive: true, force: true });
      const others = cluster.instanceIds
        .map((id) => this.instances.get(id))
        .filter((i): i is InstanceRecord => !!i && i !== successor && i !== writer && i.status === 'available');
      for (const reader of others) {
        await this.stopAndRemove(reader);
        reader.server = await this.startReader(cluster, reader.request.instanceId);
      }
      return;
    }
    writer.isWriter = false;
    cluster.proxy.setTarget(undefined);
    if (server) cluster.storageDir = server.dataDir;
  }

  private async stopAndRemove(instance: InstanceRecord): Promise<void> {
    const server = instance.server;
    if (!server) return;
    await server.stop('fast');
    await fs.promises.rm(server.dataDir, { recursive: true, force: true });
    delete instance.server;
  }

  /** Runs `work` after the cluster's pending operations; records it; a failure marks the resource `failed`. */
  private enqueue(
    cluster: ClusterRecord,
    operation: string,
    work: () => Promise<void>,
    instance?: InstanceRecord,
  ): void {
    const resource = instance ? instance.request.instanceId : cluster.id;
    void this.runQueued(cluster, operation, work, resource).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (instance) {
        instance.status = 'failed';
        instance.lastError = message;
      } else {
        cluster.status = 'failed';
        cluster.lastError = message;
      }
    });
  }

  private runQueued(
    cluster: ClusterRecord,
    operation: string,
    work: () => Promise<void>,
    resource = cluster.id,
  ): Promise<void> {
    const run = cluster.queue.then(async () => {
      const record: OperationRecord = { operation, resource, startedAt: new Date().toISOString() };
      this.operations.push(record);
      this.options.log(`${resource}: ${operation} started`);
      try {
        await new Promise((resolve) => setTimeout(resolve, this.options.operationDelayMs));
        if (this.stopping) throw new Error('the local cloud is stopping');
        await work();
      } catch (error) {
        record.error = error instanceof Error ? error.message : String(error);
        this.options.log(`${resource}: ${operation} FAILED: ${record.error}`);
        throw error;
      } finally {
        record.endedAt = new Date().toISOString();
        record.ms = Date.parse(record.endedAt) - Date.parse(record.startedAt);
      }
      this.options.log(`${resource}: ${operation} done in ${record.ms} ms`);
    });
    cluster.queue = run.catch(() => undefined);
    return run;
  }
}
