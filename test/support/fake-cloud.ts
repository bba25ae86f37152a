import type {
  ApprovalRequestRecord,
  Approvals,
  Clock,
  CloneRequest,
  Cluster,
  ClusterEvent,
  Clusters,
  CreateInstanceRequest,
  Database,
  Dns,
  DnsRecord,
  Instance,
  Lock,
  MigrationFile,
  MigrationSource,
  Network,
  Notifier,
  ApproverSubscriptions,
  Ports,
  SecurityGroupInfo,
  UpgradeRequest,
  UpgradeTarget,
} from '../../lambdas/ports';
import { LocalExecutions } from '../../local/cloud/simple-ports';

/**
 * In-memory AWS for the workflow tests: asynchronous like the real thing (a change shows an
 * intermediate status for `settlePolls` describes before it settles), with a log of every
 * mutating call so tests can assert what was (and was not) changed.
 */

export const ADMIN_SG = 'sg-00000000000000ad0';
export const APPROVERS_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:approvers';
export const APP_SGS = ['sg-000000000000000a1', 'sg-000000000000000a2'];
export const ZONE = 'ZTEST';
export const RECORD = 'db.test.internal';

type Pending = { left: number; apply: () => void; label: string };

export class FakeCloud {
  readonly calls: { op: string; args: unknown }[] = [];
  readonly clusters = new Map<string, Cluster>();
  readonly instances = new Map<string, Instance>();
  readonly snapshots = new Map<string, { id: string; status: string }>();
  readonly record: DnsRecord = { name: RECORD, type: 'CNAME', ttl: 300, values: [] };
  readonly changes = new Map<string, number>();
  readonly locks = new Map<string, { owner: string; expiresAt: string }>();
  readonly notifications: { subject: string; message: string }[] = [];
  readonly approvalsStored: ApprovalRequestRecord[] = [];
  /** Operations that never settle (a poll loop that never finishes): 'clone', 'upgrade', 'instance', 'groups', 'delete'. */
  stuck = new Set<string>();
  /**
   * How a requested engine upgrade fails, as RDS does it:
   * - `event`: RDS publishes a failure event at once while green still shows `upgrading` (the upgrade never settles);
   * - `silent`: green returns to `available` on its old version, nothing pending, and no event.
   */
  upgradeFailure?: 'event' | 'silent';
  /** RDS events per cluster id (DescribeEvents). */
  readonly events = new Map<string, ClusterEvent[]>();
  /**
   * The values cluster parameter groups set (DescribeDBClusterParameters): blue's custom group has
   * logical replication on, as online mode needs; a test turns it off or marks a member
   * `pending-reboot` to see the workflow refuse.
   */
  readonly clusterParameters = new Map<string, Record<string, string>>([
    ['pg16-cluster', { 'rds.logical_replication': '1' }],
    ['pg17-cluster', { 'rds.logical_replication': '1' }],
  ]);
  /** Called when RequestApproval stores an approval (tests decide it through the task token). */
  onApproval?: (record: ApprovalRequestRecord) => void;
  private pending = new Map<string, Pending[]>();
  private changeSeq = 0;

  constructor(private readonly settlePolls = 1) {}

  private later(key: string, apply: () => void, label = 'other') {
    const list = this.pending.get(key) ?? [];
    list.push({ left: this.settlePolls, apply, label });
    this.pending.set(key, list);
  }

  private tick(key: string) {
    const list = this.pending.get(key);
    if (!list?.length) return;
    for (const p of list) if (!this.stuck.has(p.label)) p.left -= 1;
    const ready = list.filter((p) => p.left < 0);
    this.pending.set(
      key,
      list.filter((p) => p.left >= 0),
    );
    for (const p of ready) p.apply();
  }

  addBlue(id = 'app-blue', engineVersion = '16.4'): Cluster {
    const cluster: Cluster = {
      id,
      status: 'available',
      engine: 'aurora-postgresql',
      engineVersion,
      endpoint: `${id}.cluster-abc.eu-west-1.rds.amazonaws.com`,
      port: 5432,
      securityGroups: [ADMIN_SG, ...APP_SGS].map((g) => ({ id: g, status: 'active' })),
      subnetGroupName: 'db-subnets',
      clusterParameterGroupName: 'pg16-cluster',
      kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
      iamAuth: true,
      logExports: ['postgresql'],
      deletionProtection: false,
      members: [
        { instanceId: `${id}-1`, isWriter: true, parameterGroupStatus: 'in-sync' },
        { instanceId: `${id}-2`, isWriter: false, parameterGroupStatus: 'in-sync' },
      ],
      tags: {},
      latestRestorableTime: new Date(Date.now() - 60_000).toISOString(),
      pendingModifications: false,
      availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
    };
    this.clusters.set(id, cluster);
    for (const [i, m] of cluster.members.entries()) {
      this.instances.set(m.instanceId, {
        id: m.instanceId,
        clusterId: id,
        status: 'available',
        instanceClass: 'db.r6g.large',
        availabilityZone: cluster.availabilityZones[i] ?? 'eu-west-1a',
        parameterGroupName: 'pg16-inst',
        performanceInsights: true,
        tags: {},
      });
    }
    this.record.values = [cluster.endpoint];
    return cluster;
  }

  /** Latest restorable time moves on as time passes (blue keeps backing up). */
  private refreshRestorable(c: Cluster) {
    c.latestRestorableTime = new Date(this.clock.now().getTime() - 1).toISOString();
  }

  readonly clustersPort: Clusters = {
    describeCluster: async (id) => {
      this.tick(`cluster:${id}`);
      const c = this.clusters.get(id);
      if (c) this.refreshRestorable(c);
      return c ? structuredClone(c) : undefined;
    },
    describeInstance: async (id) => {
      this.tick(`instance:${id}`);
      const i = this.instances.get(id);
      return i ? structuredClone(i) : undefined;
    },
    validUpgradeTargets: async (version): Promise<UpgradeTarget[]> => {
      if (version.startsWith('16.')) {
        return [
          { engineVersion: '16.6', isMajorVersionUpgrade: false },
          { engineVersion: '17.4', isMajorVersionUpgrade: true },
        ];
      }
      return [];
    },
    parameterGroupFamilyOf: async (version) => `aurora-postgresql${version.split('.')[0]}`,
    clusterParameterGroupFamily: async (name) =>
      ({ 'pg16-cluster': 'aurora-postgresql16', 'pg17-cluster': 'aurora-postgresql17' })[name],
    clusterParameterValue: async (group, parameter) => this.clusterParameters.get(group)?.[parameter],
    instanceParameterGroupFamily: async (name) =>
      ({
        'pg16-inst': 'aurora-postgresql16',
        'pg16-inst-tuned': 'aurora-postgresql16',
        'pg17-inst': 'aurora-postgresql17',
      })[name],
    cloneCopyOnWrite: async (r: CloneRequest) => {
      this.calls.push({ op: 'cloneCopyOnWrite', args: r });
      const source = this.clusters.get(r.sourceClusterId);
      if (!source) throw Object.assign(new Error('source not found'), { name: 'DBClusterNotFoundFault' });
      if (this.clusters.has(r.targetClusterId)) {
        throw Object.assign(new Error('exists'), { name: 'DBClusterAlreadyExistsFault' });
      }
      const green: Cluster = {
        ...structuredClone(source),
        id: r.targetClusterId,
        status: 'creating',
        endpoint: `${r.targetClusterId}.cluster-abc.eu-west-1.rds.amazonaws.com`,
        securityGroups: r.securityGroupIds.map((g) => ({ id: g, status: 'active' })),
        members: [],
        tags: { ...r.tags },
        deletionProtection: false,
        // As RDS: what the restore is given, or the restore's own defaults, never the source's.
        port: r.port,
        storageType: r.storageType ?? 'aurora',
        engineLifecycleSupport: r.engineLifecycleSupport ?? 'open-source-rds-extended-support',
        copyTagsToSnapshot: r.copyTagsToSnapshot,
        associatedRoles: [],
      };
      delete green.serverlessV2Scaling;
      if (r.serverlessV2Scaling) green.serverlessV2Scaling = { ...r.serverlessV2Scaling };
      delete green.masterUserSecret;
      this.clusters.set(green.id, green);
      this.later(`cluster:${green.id}`, () => (green.status = 'available'), 'clone');
    },
    createInstance: async (r: CreateInstanceRequest) => {
      this.calls.push({ op: 'createInstance', args: r });
      if (this.instances.has(r.instanceId)) {
        throw Object.assign(new Error('exists'), { name: 'DBInstanceAlreadyExistsFault' });
      }
      const cluster = this.clusters.get(r.clusterId);
      if (!cluster) throw Object.assign(new Error('no cluster'), { name: 'DBClusterNotFoundFault' });
      const instance: Instance = {
        id: r.instanceId,
        clusterId: r.clusterId,
        status: 'creating',
        instanceClass: r.instanceClass,
        ...(r.availabilityZone ? { availabilityZone: r.availabilityZone } : {}),
        ...(r.parameterGroupName ? { parameterGroupName: r.parameterGroupName } : {}),
        performanceInsights: r.performanceInsights,
        ...(r.monitoringInterval !== undefined ? { monitoringInterval: r.monitoringInterval } : {}),
        ...(r.monitoringRoleArn ? { monitoringRoleArn: r.monitoringRoleArn } : {}),
        ...(r.caCertificateIdentifier ? { caCertificateIdentifier: r.caCertificateIdentifier } : {}),
        ...(r.promotionTier !== undefined ? { promotionTier: r.promotionTier } : {}),
        tags: { ...r.tags },
      };
      this.instances.set(instance.id, instance);
      cluster.members.push({
        instanceId: instance.id,
        isWriter: cluster.members.length === 0,
        parameterGroupStatus: 'in-sync',
        ...(r.promotionTier !== undefined ? { promotionTier: r.promotionTier } : {}),
      });
      this.later(`instance:${instance.id}`, () => (instance.status = 'available'), 'instance');
    },
    setSecurityGroups: async (id, groups, options = {}) => {
      this.calls.push({
        op: 'setSecurityGroups',
        args: { id, groups, ...(options.deletionProtection !== undefined ? { options } : {}) },
      });
      const c = this.clusters.get(id);
      if (!c) throw Object.assign(new Error('no cluster'), { name: 'DBClusterNotFoundFault' });
      if (options.deletionProtection !== undefined) c.deletionProtection = options.deletionProtection;
      const old = new Set(c.securityGroups.map((g) => g.id));
      c.securityGroups = [
        ...groups.map((g) => ({ id: g, status: old.has(g) ? 'active' : 'adding' })),
        ...[...old].filter((g) => !groups.includes(g)).map((g) => ({ id: g, status: 'removing' })),
      ];
      this.later(
        `cluster:${id}`,
        () => {
          c.securityGroups = groups.map((g) => ({ id: g, status: 'active' }));
        },
        'groups',
      );
    },
    upgradeEngine: async (r: UpgradeRequest) => {
      this.calls.push({ op: 'upgradeEngine', args: r });
      const c = this.clusters.get(r.clusterId);
      if (!c) throw Object.assign(new Error('no cluster'), { name: 'DBClusterNotFoundFault' });
      if (c.status !== 'available') throw Object.assign(new Error('busy'), { name: 'InvalidDBClusterStateFault' });
      c.status = 'upgrading';
      c.pendingModifications = true;
      c.pendingEngineVersion = r.engineVersion;
      if (this.upgradeFailure === 'event') {
        this.addEvent(c.id, 'Database cluster is in a state that cannot be upgraded: Upgrade prechecks failed.');
        return; // green stays `upgrading`: only the event tells
      }
      this.later(
        `cluster:${c.id}`,
        () => {
          c.status = 'available';
          if (this.upgradeFailure !== 'silent') c.engineVersion = r.engineVersion;
          c.pendingModifications = false;
          delete c.pendingEngineVersion;
        },
        'upgrade',
      );
    },
    addRole: async (id, roleArn, featureName) => {
      this.calls.push({ op: 'addRole', args: { id, roleArn, featureName } });
      const c = this.clusters.get(id);
      if (!c) throw Object.assign(new Error('no cluster'), { name: 'DBClusterNotFoundFault' });
      if (c.associatedRoles?.some((r) => r.roleArn === roleArn)) return; // the adapter maps AWS's "already" to success
      c.associatedRoles = [...(c.associatedRoles ?? []), { roleArn, ...(featureName ? { featureName } : {}) }];
    },
    manageMasterUserPassword: async (id, kmsKeyId) => {
      this.calls.push({ op: 'manageMasterUserPassword', args: { id, kmsKeyId } });
      const c = this.clusters.get(id);
      if (!c) throw Object.assign(new Error('no cluster'), { name: 'DBClusterNotFoundFault' });
      const secretArn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-${id}-AbCdEf`;
      c.masterUserSecret = { secretArn, ...(kmsKeyId ? { kmsKeyId } : {}) };
      return secretArn;
    },
    setDeletionProtection: async (id, enabled) => {
      this.calls.push({ op: 'setDeletionProtection', args: { id, enabled } });
      const c = this.clusters.get(id);
      if (c) c.deletionProtection = enabled;
    },
    deleteInstance: async (id) => {
      this.calls.push({ op: 'deleteInstance', args: { id } });
      const i = this.instances.get(id);
      if (!i) return;
      i.status = 'deleting';
      this.later(
        `instance:${id}`,
        () => {
          this.instances.delete(id);
          const c = this.clusters.get(i.clusterId);
          if (c) c.members = c.members.filter((m) => m.instanceId !== id);
        },
        'delete',
      );
      // The cluster's members update when the instance is gone; tick it through the cluster too.
      this.later(`cluster:${i.clusterId}`, () => undefined);
    },
    deleteCluster: async (id, finalSnapshotId) => {
      this.calls.push({ op: 'deleteCluster', args: { id, finalSnapshotId } });
      const c = this.clusters.get(id);
      if (!c) return;
      if (c.deletionProtection) throw Object.assign(new Error('protected'), { name: 'InvalidParameterCombination' });
      if (c.members.length) throw Object.assign(new Error('has instances'), { name: 'InvalidDBClusterStateFault' });
      c.status = 'deleting';
      if (finalSnapshotId) this.snapshots.set(finalSnapshotId, { id: finalSnapshotId, status: 'available' });
      this.later(`cluster:${id}`, () => this.clusters.delete(id), 'delete');
    },
    describeClusterSnapshot: async (id) => this.snapshots.get(id),
    clusterEvents: async (id, since) =>
      structuredClone((this.events.get(id) ?? []).filter((e) => Date.parse(e.date) >= Date.parse(since))),
  };

  addEvent(clusterId: string, message: string, categories = ['maintenance']): void {
    const list = this.events.get(clusterId) ?? [];
    list.push({ date: this.clock.now().toISOString(), message, categories });
    this.events.set(clusterId, list);
  }

  readonly dnsPort: Dns = {
    getRecord: async (zone, name) => (zone === ZONE && name === RECORD ? structuredClone(this.record) : undefined),
    // Route 53 refuses to UPSERT a simple record over a routing-policy one (see local/cloud/dns.ts).
    upsertCname: async (zone, name, target, ttl, comment) => {
      this.calls.push({ op: 'upsertCname', args: { zone, name, target, ttl, comment } });
      if (zone !== ZONE) throw Object.assign(new Error('zone'), { name: 'NoSuchHostedZone' });
      if (this.record.setIdentifier !== undefined) {
        throw Object.assign(new Error('routing-policy record'), { name: 'InvalidChangeBatch' });
      }
      this.record.values = [target];
      this.record.ttl = ttl;
      const id = `/change/C${++this.changeSeq}`;
      this.changes.set(id, this.settlePolls);
      return id;
    },
    changeStatus: async (id) => {
      const left = this.changes.get(id) ?? 0;
      this.changes.set(id, left - 1);
      return left <= 0 ? 'INSYNC' : 'PENDING';
    },
  };

  readonly lockPort: Lock = {
    acquire: async (key, owner, expiresAt) => {
      const held = this.locks.get(key);
      if (held && held.owner !== owner) return { acquired: false, heldBy: held.owner };
      this.locks.set(key, { owner, expiresAt });
      return { acquired: true };
    },
    release: async (key, owner) => {
      if (this.locks.get(key)?.owner === owner) this.locks.delete(key);
    },
  };

  /** Step Functions' record of the executions run on this cloud (the recovery reads it). */
  readonly executions = new LocalExecutions();

  readonly notifierPort: Notifier = {
    publish: async (subject, message) => {
      this.notifications.push({ subject, message });
    },
  };

  /**
   * The approvers' topic's subscriptions: one confirmed approver unless a test says otherwise.
   * `authenticated` (confirmed with AuthenticateOnUnsubscribe) defaults to every confirmed one;
   * flip `approversAuthenticated` to false to make them all unauthenticated (clicked links).
   */
  approverSubscriptions: { confirmed: number; pending: number; authenticated?: number } = { confirmed: 1, pending: 0 };

  approversAuthenticated = true;

  readonly approversPort: ApproverSubscriptions = {
    count: async () => {
      const { confirmed, pending } = this.approverSubscriptions;
      const authenticated = this.approversAuthenticated ? (this.approverSubscriptions.authenticated ?? confirmed) : 0;
      return { topicArn: APPROVERS_TOPIC_ARN, confirmed, pending, authenticated };
    },
  };

  migrationFiles: MigrationFile[] = [
    { name: '001_orders_status.sql', bytes: Buffer.from('alter table orders add column status text;') },
  ];

  readonly migrationsPort: MigrationSource = { list: async () => this.migrationFiles };

  readonly approvalsPort: Approvals = {
    store: async (record) => {
      this.approvalsStored.push(record);
      setImmediate(() => this.onApproval?.(record));
      return { url: `https://approvals.test/approvals/${record.approvalId}` };
    },
  };

  /** How far a step's sleeps have moved this cloud's clock ahead of the wall clock. */
  private sleptMs = 0;
  /** Wall-clock time, plus what the steps slept: a check's window passes at once, not in real time. */
  readonly clock: Clock = {
    now: () => new Date(Date.now() + this.sleptMs),
    sleep: async (ms) => {
      this.sleptMs += ms;
    },
  };

  /** Database steps are replaced in the control-plane workflow tests; a call here is a bug. */
  /** Security groups as EC2 describes them: the admin group admits 5432 from itself. */
  readonly securityGroups = new Map<string, SecurityGroupInfo>([
    [
      ADMIN_SG,
      {
        id: ADMIN_SG,
        ingress: [{ protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroupIds: [ADMIN_SG], cidrs: [] }],
      },
    ],
    ...APP_SGS.map((id): [string, SecurityGroupInfo] => [
      id,
      { id, ingress: [{ protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroupIds: [], cidrs: ['10.0.0.0/16'] }] },
    ]),
  ]);

  readonly networkPort: Network = {
    describeSecurityGroups: async (ids) => {
      return ids.flatMap((id) => {
        const group = this.securityGroups.get(id);
        return group ? [structuredClone(group)] : [];
      });
    },
  };

  readonly databasePort: Database = {
    connect: async () => {
      throw new Error('The fake cloud has no database; override the database steps.');
    },
    // What the local cloud answers (host, port, database, user, password), without a server behind it.
    replicationConninfo: async (target, database) =>
      `host='${target.host}' port='${target.port}' dbname='${database}' user='postgres' password='fake' sslmode=disable`,
  };

  ports(): Ports {
    return {
      clusters: this.clustersPort,
      network: this.networkPort,
      dns: this.dnsPort,
      database: this.databasePort,
      migrations: this.migrationsPort,
      approvals: this.approvalsPort,
      notifier: this.notifierPort,
      approvers: this.approversPort,
      lock: this.lockPort,
      executions: this.executions,
      clock: this.clock,
    };
  }

  mutations(): string[] {
    return this.calls.map((c) => c.op);
  }
}
