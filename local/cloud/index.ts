import fs from 'node:fs';
import path from 'node:path';
import { createPgDatabase } from '../../lambdas/aws/pg-database';
import type { ApproverSubscriptions, Clock, Cluster, Database, DbTarget, MigrationSource } from '../../lambdas/ports';
import {
  assertServerUserCanUse,
  createStandby,
  forgetServer,
  freePort,
  makeServerDir,
  PgServer,
  serverOsUser,
  SUPERUSER,
} from '../postgres';
import { startProxy, type TcpProxy } from '../proxy';
import { endpointOf, familyOf, LocalClusters, type OperationRecord } from './clusters';
import { LocalDns } from './dns';
import { awsFault } from './errors';
import {
  folderMigrationSource,
  localApprovers,
  localNetwork,
  LocalExecutions,
  memoryLock,
  type MemoryLock,
  realClock,
  recordingNotifier,
  type RecordingNotifier,
} from './simple-ports';

export { LOCAL_MIGRATIONS_PREFIX } from './simple-ports';
export { endpointOf, familyOf, LocalClusters } from './clusters';
export { LocalDns } from './dns';

/**
 * The local "cloud" the rehearsal runs the real state machine against (docs/rehearsal.md):
 * clusters of real PostgreSQL processes, a public endpoint per cluster that plays the security
 * group, a CNAME proxy that plays Route 53, and the other ports. Everything lives in `workdir`;
 * no process outlives `stopAll()`.
 */

export interface LocalCloudOptions {
  /** Work folder for data folders, logs, snapshots (created when missing). */
  readonly workdir: string;
  /** The application access security group: a cluster's endpoint accepts new connections only while it is attached. */
  readonly accessSecurityGroupId: string;
  /** The workflow's own admin security group (the admin path ignores groups, as a VPC-internal path would). */
  readonly adminSecurityGroupId: string;
  readonly hostedZoneId: string;
  /** The CNAME applications use, e.g. `db.rehearsal.internal`. */
  readonly recordName: string;
  /** Folder served as `s3://rehearsal/migrations/`. */
  readonly migrationsDir: string;
  /**
   * Minimum time each operation shows its intermediate state (`creating`, `upgrading`,
   * `adding`, Route 53 `PENDING`) so the poll loops see it.
   * @default 300
   */
  readonly operationDelayMs?: number;
  /**
   * How far each cluster's LatestRestorableTime trails the present. Aurora's continuous backup
   * trails by a few seconds, at times up to about five minutes; the default keeps a rehearsal short.
   * @default 2000
   */
  readonly restorableLagMs?: number;
  /**
   * Every engine upgrade fails as RDS fails one: an RDS event with the reason, then the cluster
   * back to `available` on its old version with nothing pending.
   * @default false
   */
  readonly upgradeFails?: boolean;
  /** Called for each notification (the CLI prints it). @default - kept in `notifier.messages` only */
  readonly onNotify?: (subject: string, message: string) => void;
}

export interface CreateBlueOptions {
  readonly id: string;
  readonly engineVersion: string;
  /** Streaming standbys besides the writer. @default 1 */
  readonly readers?: number;
  /** Run in `database` after it is created. */
  readonly schemaSql: string;
  readonly seedSql?: string;
  /** @default 'app' */
  readonly database?: string;
  /** @default [accessSecurityGroupId, adminSecurityGroupId] */
  readonly securityGroupIds?: string[];
  readonly tags?: Record<string, string>;
  /** @default 'db.r6g.large' */
  readonly instanceClass?: string;
  /** Points the CNAME record at this cluster. @default true */
  readonly pointCname?: boolean;
  /** TTL of the CNAME record. @default 300 */
  readonly cnameTtl?: number;
  /**
   * The cluster parameter group (added with `addParameterGroup`); its values are in effect from
   * the start, e.g. `rds.logical_replication = 1` runs every instance with `wal_level = logical`.
   * @default - `default.aurora-postgresqlNN` of the engine version (logical replication off, as on Aurora)
   */
  readonly clusterParameterGroupName?: string;
}

export interface KeptServer {
  clusterId: string;
  instanceId: string;
  role: 'writer' | 'reader';
  engineVersion: string;
  port: number;
  dataDir: string;
  connect: string;
  stop: string;
}

/** One AWS behaviour the local cloud plays, with the figure it uses: the report names each. */
export interface ModelledBehaviour {
  name: string;
  /** The figure modelled, e.g. `300 ms`, or `on` / `off`. */
  figure: string;
  /** What it stands for on AWS, and how the local cloud plays it. */
  description: string;
}

export const DEFAULT_RESTORABLE_LAG_MS = 2000;

export interface LocalCloudState {
  clusters: {
    id: string;
    status: string;
    engineVersion: string;
    endpoint: string;
    /** The public endpoint proxy (applications; security groups apply). */
    endpointProxy: { host: string; port: number; accepting: boolean; openConnections: number };
    securityGroups: { id: string; status: string }[];
    deletionProtection: boolean;
    pendingModifications: boolean;
    tags: Record<string, string>;
    sourceClusterId?: string;
    /** A clone's point in time: the source's LatestRestorableTime when the restore was asked for. */
    restoredTo?: string;
    /** Where a clone became consistent: what `aurora_volume_logical_start_lsn()` returns on it. */
    cloneStartLsn?: string;
    storageDir?: string;
    upgrade?: { from: string; to: string; method: string; description: string; ms: number };
    lastError?: string;
    instances: {
      id: string;
      status: string;
      role: 'writer' | 'reader';
      instanceClass: string;
      parameterGroupName?: string;
      engineVersion: string;
      port?: number;
      dataDir?: string;
      running: boolean;
      lastError?: string;
    }[];
  }[];
  snapshots: { id: string; clusterId: string; status: string; dir: string; engineVersion: string }[];
  cname: {
    recordName: string;
    value?: string;
    /** The cluster whose endpoint the CNAME proxy sends new connections to. */
    targetClusterId?: string;
    proxy: { host: string; port: number; openConnections: number };
    pendingChanges: number;
  };
  operations: OperationRecord[];
}

export interface LocalCloud {
  readonly clusters: LocalClusters;
  readonly network: ReturnType<typeof localNetwork>;
  readonly dns: LocalDns;
  readonly lock: MemoryLock;
  readonly notifier: RecordingNotifier;
  /** Step Functions' record of the executions run locally (the recovery reads it). */
  readonly executions: LocalExecutions;
  /** One confirmed approver: the rehearsal's own (the CLI or the page it serves). */
  readonly approvers: ApproverSubscriptions;
  readonly migrations: MigrationSource;
  readonly clock: Clock;
  /** pg over the admin path: the writer process's own port, static superuser, no TLS. */
  readonly database: Database;
  readonly workdir: string;
  /** Starts a cluster with a writer and `readers` standbys, schema and seed loaded; resolves when available. */
  createBlue(options: CreateBlueOptions): Promise<Cluster>;
  /**
   * Adds a parameter group (e.g. the custom `pg16-cluster` an execution input names); a cluster
   * group may set parameter values (e.g. `{ 'rds.logical_replication': '1' }`).
   */
  addParameterGroup(
    kind: 'cluster' | 'instance',
    name: string,
    family: string,
    parameters?: Record<string, string>,
  ): void;
  /** The CNAME proxy's address: what applications connect to. */
  cname(): { host: string; port: number };
  /**
   * What a client's resolver gets for the CNAME: the address new connections go to now (the
   * target cluster's endpoint proxy) and the record's TTL; undefined when it leads nowhere.
   */
  resolveCname(): { address: { host: string; port: number }; ttlSeconds: number } | undefined;
  /** The writer's own address (admin path) of a cluster, or undefined when no writer runs. */
  writerAddress(clusterId: string): { host: string; port: number } | undefined;
  /** The cluster whose writer listens on `port` (to attribute a load generator's writes). */
  clusterOfServerPort(port: number): string | undefined;
  describeState(): LocalCloudState;
  /** Time the local operations took (clone, instances, upgrade, deletions, DNS changes), by start. */
  operations(): OperationRecord[];
  /** Every delay and behaviour of AWS that this cloud models, with its figure. */
  modelled(): ModelledBehaviour[];
  /** How far LatestRestorableTime trails the present (modelled). */
  readonly restorableLagMs: number;
  /**
   * Leaves the servers running when this process ends (the proxies end with it) and says how to
   * connect and how to stop them.
   */
  keep(): { servers: KeptServer[]; stopAll: string; note: string };
  /** Waits for queued operations, then stops every server (except those `keep()` handed over) and proxy. */
  stopAll(): Promise<void>;
}

export async function createLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const workdir = path.resolve(options.workdir);
  await fs.promises.mkdir(workdir, { recursive: true });
  // The servers' OS user must reach every folder below the work folder.
  await makeServerDir(workdir, 0o755);
  for (const sub of ['clusters', 'logs', 'snapshots', 'scratch']) await makeServerDir(path.join(workdir, sub), 0o755);
  assertServerUserCanUse(workdir);
  const cloudLog = path.join(workdir, 'logs', 'cloud.log');
  const log = (line: string): void => fs.appendFileSync(cloudLog, `${new Date().toISOString()} ${line}\n`);
  const delay = options.operationDelayMs ?? 300;

  const clusters = new LocalClusters({
    workdir,
    accessSecurityGroupId: options.accessSecurityGroupId,
    operationDelayMs: delay,
    restorableLagMs: options.restorableLagMs ?? DEFAULT_RESTORABLE_LAG_MS,
    upgradeFails: options.upgradeFails ?? false,
    log,
  });
  const cnameProxy: TcpProxy = await startProxy();
  const clusterOfEndpoint = (value: string): string | undefined =>
    [...clusters.clusters.keys()].find((id) => endpointOf(id) === value.replace(/\.$/, '').toLowerCase());
  const allOperations = (): OperationRecord[] =>
    [...clusters.operations, ...dns.operations]
      .map((o) => ({ ...o }))
      .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  const dns = new LocalDns({
    hostedZoneId: options.hostedZoneId,
    recordName: options.recordName,
    cnameProxy,
    propagationDelayMs: delay,
    log,
    resolveEndpoint: (value) => {
      const id = clusterOfEndpoint(value);
      const record = id ? clusters.clusters.get(id) : undefined;
      return record ? { host: record.proxy.host, port: record.proxy.port } : undefined;
    },
  });
  const clock = realClock();
  const database = createPgDatabase({
    credentials: async () => ({ username: SUPERUSER.username, password: SUPERUSER.password }),
    ssl: false,
    resolve: (target: DbTarget) => {
      const port = clusters.writerPort(target.clusterId);
      if (port === undefined) {
        throw awsFault('InvalidDBClusterStateFault', `cluster ${target.clusterId} has no running writer`, 'connect');
      }
      return { host: '127.0.0.1', port };
    },
  });
  const keptServers = new Set<PgServer>();

  const cloud: LocalCloud = {
    clusters,
    network: localNetwork(options.adminSecurityGroupId, options.accessSecurityGroupId),
    dns,
    lock: memoryLock(clock),
    notifier: recordingNotifier(options.onNotify),
    executions: new LocalExecutions(),
    approvers: localApprovers(),
    migrations: folderMigrationSource(options.migrationsDir),
    clock,
    database,
    workdir,

    async createBlue(spec) {
      const action = `CreateDBCluster ${spec.id}`;
      if (clusters.clusters.has(spec.id)) {
        throw awsFault('DBClusterAlreadyExistsFault', `DB Cluster ${spec.id} already exists`, action);
      }
      const family = familyOf(spec.engineVersion);
      const clusterGroup = spec.clusterParameterGroupName ?? `default.${family}`;
      const groupFamily = clusters.clusterParameterGroups.get(clusterGroup);
      if (groupFamily !== family) {
        throw awsFault(
          groupFamily ? 'InvalidParameterCombination' : 'DBClusterParameterGroupNotFound',
          `cluster parameter group ${clusterGroup} ${groupFamily ? `is of ${groupFamily}, not ${family}` : 'not found'}`,
          action,
        );
      }
      const clusterSettings = clusters.clusterSettingsOf(clusterGroup);
      const record = await clusters.newClusterRecord({
        id: spec.id,
        engineVersion: spec.engineVersion,
        securityGroupIds: spec.securityGroupIds ?? [options.accessSecurityGroupId, options.adminSecurityGroupId],
        clusterParameterGroupName: clusterGroup,
        tags: spec.tags ?? {},
        iamAuth: false,
        logExports: ['postgresql'],
      });
      const databaseName = spec.database ?? 'app';
      const instanceClass = spec.instanceClass ?? 'db.r6g.large';
      const writerId = `${spec.id}-1`;
      const writer = await PgServer.initialize({
        dataDir: clusters.newDataDir(spec.id),
        port: await freePort(),
        engineVersion: spec.engineVersion,
        logFile: clusters.logFileOf(writerId),
        clusterSettings,
      });
      const instanceRequest = (instanceId: string, az: string) => ({
        instanceId,
        clusterId: spec.id,
        instanceClass,
        availabilityZone: az,
        parameterGroupName: `default.${family}`,
        performanceInsights: false,
        tags: { ...(spec.tags ?? {}) },
      });
      clusters.instances.set(writerId, {
        request: instanceRequest(writerId, 'local-1a'),
        status: 'available',
        isWriter: true,
        server: writer,
        settingsInEffect: clusterSettings,
        createdAt: new Date().toISOString(),
      });
      record.instanceIds.push(writerId);
      await writer.query(`CREATE DATABASE "${databaseName.replace(/"/g, '""')}"`);
      await writer.query(spec.schemaSql, undefined, databaseName);
      if (spec.seedSql) await writer.query(spec.seedSql, undefined, databaseName);
      record.proxy.setTarget({ host: '127.0.0.1', port: writer.port });
      for (let i = 0; i < (spec.readers ?? 1); i++) {
        const readerId = `${spec.id}-${i + 2}`;
        const reader = await createStandby(writer, {
          dataDir: clusters.newDataDir(spec.id),
          port: await freePort(),
          logFile: clusters.logFileOf(readerId),
          name: readerId.replace(/[^A-Za-z0-9_]/g, '_'),
          clusterSettings,
        });
        clusters.instances.set(readerId, {
          request: instanceRequest(readerId, ['local-1b', 'local-1c'][i % 2] ?? 'local-1b'),
          status: 'available',
          isWriter: false,
          server: reader,
          settingsInEffect: clusterSettings,
          createdAt: new Date().toISOString(),
        });
        record.instanceIds.push(readerId);
      }
      record.status = 'available';
      if (spec.pointCname ?? true) dns.setRecordNow(options.recordName, endpointOf(spec.id), spec.cnameTtl ?? 300);
      const walLevel = (await writer.query<{ wal_level: string }>('SHOW wal_level'))[0]?.wal_level;
      log(
        `${spec.id}: created with PostgreSQL ${spec.engineVersion}, ${spec.readers ?? 1} reader(s), cluster parameter group ${clusterGroup} (wal_level ${walLevel})`,
      );
      return clusters.toCluster(record);
    },

    addParameterGroup(kind, name, family, parameters) {
      (kind === 'cluster' ? clusters.clusterParameterGroups : clusters.instanceParameterGroups).set(name, family);
      if (kind === 'cluster' && parameters) clusters.setClusterParameters(name, parameters);
    },

    cname() {
      return { host: cnameProxy.host, port: cnameProxy.port };
    },

    resolveCname() {
      const target = cnameProxy.target;
      return target ? { address: { ...target }, ttlSeconds: dns.currentTtl() ?? 0 } : undefined;
    },

    writerAddress(clusterId) {
      const port = clusters.writerPort(clusterId);
      return port === undefined ? undefined : { host: '127.0.0.1', port };
    },

    clusterOfServerPort(port) {
      for (const instance of clusters.instances.values()) {
        if (instance.server?.port === port) return instance.request.clusterId;
      }
      return undefined;
    },

    describeState() {
      const value = dns.currentValue();
      const target = cnameProxy.target;
      const targetClusterId = target
        ? [...clusters.clusters.values()].find((c) => c.proxy.port === target.port)?.id
        : undefined;
      return {
        clusters: [...clusters.clusters.values()].map((c) => ({
          id: c.id,
          status: c.status,
          engineVersion: c.engineVersion,
          endpoint: endpointOf(c.id),
          endpointProxy: {
            host: c.proxy.host,
            port: c.proxy.port,
            accepting: c.proxy.accepting,
            openConnections: c.proxy.counts().active,
          },
          securityGroups: c.securityGroups.map((g) => ({ ...g })),
          deletionProtection: c.deletionProtection,
          pendingModifications: c.pendingModifications,
          tags: { ...c.tags },
          ...(c.sourceClusterId ? { sourceClusterId: c.sourceClusterId } : {}),
          ...(c.restoredTo ? { restoredTo: c.restoredTo } : {}),
          ...(c.cloneStart ? { cloneStartLsn: c.cloneStart.lsn } : {}),
          ...(c.storageDir ? { storageDir: c.storageDir } : {}),
          ...(c.upgrade ? { upgrade: { ...c.upgrade } } : {}),
          ...(c.lastError ? { lastError: c.lastError } : {}),
          instances: c.instanceIds.flatMap((id) => {
            const i = clusters.instances.get(id);
            if (!i) return [];
            return [
              {
                id,
                status: i.status,
                role: i.isWriter ? ('writer' as const) : ('reader' as const),
                instanceClass: i.request.instanceClass,
                ...(i.request.parameterGroupName ? { parameterGroupName: i.request.parameterGroupName } : {}),
                engineVersion: i.server?.engineVersion ?? c.engineVersion,
                ...(i.server ? { port: i.server.port, dataDir: i.server.dataDir } : {}),
                running: i.server?.isRunning ?? false,
                ...(i.lastError ? { lastError: i.lastError } : {}),
              },
            ];
          }),
        })),
        snapshots: [...clusters.snapshots.values()].map((s) => ({
          id: s.id,
          clusterId: s.clusterId,
          status: s.status,
          dir: s.dir,
          engineVersion: s.engineVersion,
        })),
        cname: {
          recordName: options.recordName,
          ...(value ? { value } : {}),
          ...(targetClusterId ? { targetClusterId } : {}),
          proxy: { host: cnameProxy.host, port: cnameProxy.port, openConnections: cnameProxy.counts().active },
          pendingChanges: dns.pendingChanges(),
        },
        operations: allOperations(),
      };
    },

    operations: allOperations,
    restorableLagMs: options.restorableLagMs ?? DEFAULT_RESTORABLE_LAG_MS,

    modelled() {
      const lag = options.restorableLagMs ?? DEFAULT_RESTORABLE_LAG_MS;
      return [
        {
          name: 'RDS operation latency',
          figure: `${delay} ms at least`,
          description:
            'A create, modify, upgrade or delete returns at once and shows its intermediate status (creating, upgrading, adding, deleting) for at least this long, then for as long as the real work on PostgreSQL takes.',
        },
        {
          name: 'Route 53 change propagation',
          figure: `${delay} ms`,
          description:
            'An UPSERT is PENDING for this long before INSYNC; only then does the CNAME send new connections to the new target.',
        },
        {
          name: 'LatestRestorableTime lag',
          figure: `${lag} ms behind the present`,
          description:
            "A cluster's LatestRestorableTime trails the present (Aurora's continuous backup: seconds, at times up to about five minutes). A clone's point in time is that time, never the moment it is asked for. The local copy is taken when the clone runs; CheckRestorable has waited until the time is after the fence, so for a fenced blue the two hold the same data.",
        },
        {
          name: 'Security-group connection tracking',
          figure: 'established connections kept; new ones dropped silently',
          description:
            "Detaching the access group leaves established connections alive and drops new ones without an answer (a security group has no reject): a client learns nothing until its own connect timeout, as the application's pool (2 s here) does.",
        },
        {
          name: 'Clone start LSN',
          figure: 'exact: where the clone became consistent',
          description:
            "On a clone, Aurora PostgreSQL's aurora_volume_logical_start_lsn() returns the LSN the volume was cloned at, where logical replication from a slot made before the clone picks up. The local clone replays WAL only until it is consistent (recovery_target = immediate), promotes, and reads that switch point from its timeline history; every database of the clone has aurora_volume_logical_start_lsn() returning it. The clone keeps its source's replication slots, as an Aurora clone does.",
        },
        {
          name: 'rds.logical_replication',
          figure: 'static: in effect after a reboot',
          description:
            "Aurora's cluster parameter for wal_level = logical. A local cluster's servers run with wal_level = logical when its cluster parameter group sets it to 1 (the rehearsal's blue group does; the default groups leave it at 0); after a change each member shows pending-reboot until its instance restarts (a reboot or an engine upgrade).",
        },
        {
          name: 'Major upgrade precheck: logical replication slots',
          figure: 'refused from a source before 17',
          description:
            'Aurora\'s upgrade precheck stops the upgrade if any logical replication slot exists (AuroraUserGuide, "Reestablishing logical replication after a major upgrade", for a source version earlier than 17). A major upgrade of a local cluster whose writer has a logical slot (a clone keeps its source\'s) publishes an RDS event naming the slots and leaves the cluster available on its old version with nothing pending, as RDS does; local pg_upgrade would have dropped them silently. From 17 on, AWS keeps consumed slots: not modelled (no local 17).',
        },
        {
          name: 'Failed engine upgrade',
          figure: options.upgradeFails ? 'on (every upgrade fails)' : 'off',
          description:
            'With --upgrade-fails, an upgrade publishes an RDS event with the reason and the cluster returns to available on its old version with no engine version pending, as RDS does.',
        },
      ];
    },

    keep() {
      const asUser = serverOsUser() ? (cmd: string) => `su postgres -s /bin/sh -c '${cmd}'` : (cmd: string) => cmd;
      const servers: KeptServer[] = [];
      for (const instance of clusters.instances.values()) {
        const server = instance.server;
        if (!server?.isRunning) continue;
        forgetServer(server);
        keptServers.add(server);
        servers.push({
          clusterId: instance.request.clusterId,
          instanceId: instance.request.instanceId,
          role: instance.isWriter ? 'writer' : 'reader',
          engineVersion: server.engineVersion,
          port: server.port,
          dataDir: server.dataDir,
          connect: `psql "postgresql://${SUPERUSER.username}:${SUPERUSER.password}@127.0.0.1:${server.port}/postgres"`,
          stop: asUser(`${path.join(server.binDir, 'pg_ctl')} -D ${server.dataDir} -m fast stop`),
        });
      }
      return {
        servers,
        stopAll: servers.map((s) => s.stop).join('; ') || 'true',
        note:
          'The endpoint and CNAME proxies lived in the rehearsal process and ended with it; connect to the servers directly. ' +
          `Server logs: ${path.join(workdir, 'logs')}.`,
      };
    },

    async stopAll() {
      dns.stop();
      await clusters.stopAll(keptServers).catch((error: unknown) => log(`stopAll: ${String(error)}`));
      await cnameProxy.close();
    },
  };
  return cloud;
}
