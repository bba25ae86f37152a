/**
 * The interfaces the steps need (docs/architecture.md). `aws/` implements them with the AWS SDK
 * and pg; `local/` implements them on local PostgreSQL processes and TCP proxies. Steps see only
 * these, so the same step code runs in both.
 */

export interface SecurityGroupMembership {
  id: string;
  /** `active`, `adding`, `removing`, … as RDS reports `VpcSecurityGroups[].Status`. */
  status: string;
}

export interface ClusterMember {
  instanceId: string;
  isWriter: boolean;
  /** Failover priority (0 = first), `DBClusterMembers[].PromotionTier`. */
  promotionTier?: number;
  /**
   * Whether this instance runs with its cluster parameter group's current values
   * (`DBClusterMembers[].DBClusterParameterGroupStatus`): `in-sync`, `applying`, or
   * `pending-reboot` when a static parameter (e.g. `rds.logical_replication`) changed and the
   * instance has not been rebooted since.
   */
  parameterGroupStatus?: string;
}

/** Aurora Serverless v2 capacity range, in ACUs (`ServerlessV2ScalingConfiguration`). */
export interface ServerlessV2Scaling {
  minCapacity: number;
  maxCapacity: number;
  /** Seconds of inactivity before pausing (only with a minimum of 0 ACUs). */
  secondsUntilAutoPause?: number;
}

/** An IAM role associated with a cluster (`AssociatedRoles`), e.g. for S3 import or Lambda. */
export interface AssociatedRole {
  roleArn: string;
  /** The feature the role is for (`s3Import`, `s3Export`, `Lambda`, …); some roles have none. */
  featureName?: string;
  /** `ACTIVE`, `PENDING` or `INVALID`. */
  status?: string;
}

/** The master user's password, when RDS manages it in Secrets Manager (`MasterUserSecret`). */
export interface MasterUserSecret {
  secretArn: string;
  kmsKeyId?: string;
  /** `creating`, `active`, `rotating` or `impaired`. */
  status?: string;
}

export interface Cluster {
  id: string;
  arn?: string;
  /** `available`, `creating`, `modifying`, `upgrading`, `deleting`, `failed`, … */
  status: string;
  engine: string;
  engineVersion: string;
  endpoint: string;
  readerEndpoint?: string;
  port: number;
  securityGroups: SecurityGroupMembership[];
  subnetGroupName?: string;
  clusterParameterGroupName?: string;
  kmsKeyId?: string;
  iamAuth: boolean;
  logExports: string[];
  deletionProtection: boolean;
  members: ClusterMember[];
  tags: Record<string, string>;
  latestRestorableTime?: string;
  /** True while RDS still has modifications pending (PendingModifiedValues not empty). */
  pendingModifications: boolean;
  /** The engine version RDS has been asked to move to and has not reached (PendingModifiedValues.EngineVersion). */
  pendingEngineVersion?: string;
  availabilityZones: string[];
  /** `aurora` (standard) or `aurora-iopt1` (I/O-Optimized). */
  storageType?: string;
  serverlessV2Scaling?: ServerlessV2Scaling;
  /** `open-source-rds-extended-support` or `open-source-rds-extended-support-disabled`. */
  engineLifecycleSupport?: string;
  copyTagsToSnapshot?: boolean;
  associatedRoles?: AssociatedRole[];
  masterUserSecret?: MasterUserSecret;
}

export interface Instance {
  id: string;
  clusterId: string;
  status: string;
  instanceClass: string;
  availabilityZone?: string;
  parameterGroupName?: string;
  monitoringInterval?: number;
  monitoringRoleArn?: string;
  performanceInsights: boolean;
  performanceInsightsKmsKeyId?: string;
  performanceInsightsRetentionPeriod?: number;
  /** The server certificate's CA (`CACertificateIdentifier`), e.g. `rds-ca-rsa2048-g1`. */
  caCertificateIdentifier?: string;
  /** Failover priority (`PromotionTier`, 0-15). */
  promotionTier?: number;
  tags: Record<string, string>;
}

export interface CloneRequest {
  sourceClusterId: string;
  targetClusterId: string;
  subnetGroupName?: string;
  clusterParameterGroupName?: string;
  kmsKeyId?: string;
  iamAuth: boolean;
  logExports: string[];
  securityGroupIds: string[];
  /** The restore's default is the engine's port, not the source's: always pass blue's. */
  port: number;
  /** The restore's default is `aurora`, not the source's: pass blue's (`aurora-iopt1` too). */
  storageType?: string;
  serverlessV2Scaling?: ServerlessV2Scaling;
  /** The restore's default enrols in Extended Support, whatever the source chose. */
  engineLifecycleSupport?: string;
  /** The restore's default is not to copy tags to snapshots. */
  copyTagsToSnapshot: boolean;
  tags: Record<string, string>;
}

export interface CreateInstanceRequest {
  instanceId: string;
  clusterId: string;
  instanceClass: string;
  availabilityZone?: string;
  parameterGroupName?: string;
  monitoringInterval?: number;
  monitoringRoleArn?: string;
  performanceInsights: boolean;
  performanceInsightsKmsKeyId?: string;
  performanceInsightsRetentionPeriod?: number;
  caCertificateIdentifier?: string;
  promotionTier?: number;
  tags: Record<string, string>;
}

/** What OpenGreen changes on green besides its groups, in the same ModifyDBCluster. */
export interface OpenClusterOptions {
  deletionProtection?: boolean;
}

export interface UpgradeRequest {
  clusterId: string;
  engineVersion: string;
  allowMajorVersionUpgrade: boolean;
  clusterParameterGroupName?: string;
  instanceParameterGroupName?: string;
}

export interface UpgradeTarget {
  engineVersion: string;
  isMajorVersionUpgrade: boolean;
}

/** One RDS event about a cluster (DescribeEvents, SourceType db-cluster). */
export interface ClusterEvent {
  /** ISO time of the event. */
  date: string;
  message: string;
  /** RDS's event categories, e.g. `maintenance`, `failure`, `notification`. */
  categories: string[];
}

export interface Clusters {
  describeCluster(id: string): Promise<Cluster | undefined>;
  describeInstance(id: string): Promise<Instance | undefined>;
  /** ValidUpgradeTarget of `engineVersion` (aurora-postgresql). */
  validUpgradeTargets(engineVersion: string): Promise<UpgradeTarget[]>;
  /** DBParameterGroupFamily of an engine version, e.g. `aurora-postgresql16`; undefined when unknown. */
  parameterGroupFamilyOf(engineVersion: string): Promise<string | undefined>;
  /** Family of a parameter group; undefined when the group does not exist. */
  clusterParameterGroupFamily(name: string): Promise<string | undefined>;
  instanceParameterGroupFamily(name: string): Promise<string | undefined>;
  /**
   * The value a cluster parameter group sets for `parameterName` (DescribeDBClusterParameters),
   * e.g. `'1'` for `rds.logical_replication`; undefined when the group leaves it unset (the
   * engine's default applies) or the group does not exist. Whether the value is in effect is
   * each member's `parameterGroupStatus`.
   */
  clusterParameterValue(groupName: string, parameterName: string): Promise<string | undefined>;
  /** RestoreDBClusterToPointInTime, RestoreType copy-on-write, UseLatestRestorableTime. Returns at once. */
  cloneCopyOnWrite(request: CloneRequest): Promise<void>;
  createInstance(request: CreateInstanceRequest): Promise<void>;
  /** Replaces the cluster's VPC security groups (ApplyImmediately). */
  setSecurityGroups(clusterId: string, securityGroupIds: string[], options?: OpenClusterOptions): Promise<void>;
  /** AddRoleToDBCluster: associates an IAM role (for `featureName`, when the role has one); already associated is success. */
  addRole(clusterId: string, roleArn: string, featureName?: string): Promise<void>;
  /**
   * ModifyDBCluster ManageMasterUserPassword: RDS generates a new master password and keeps it
   * in its own secret (encrypted with `kmsKeyId`, or `aws/secretsmanager`). Returns that secret's
   * ARN when RDS already reports it.
   */
  manageMasterUserPassword(clusterId: string, kmsKeyId?: string): Promise<string | undefined>;
  upgradeEngine(request: UpgradeRequest): Promise<void>;
  setDeletionProtection(clusterId: string, enabled: boolean): Promise<void>;
  deleteInstance(instanceId: string): Promise<void>;
  /** Deletes the cluster; with a snapshot id, RDS takes that final snapshot first. */
  deleteCluster(clusterId: string, finalSnapshotId?: string): Promise<void>;
  /** RDS's events about a cluster since `since` (ISO time), oldest first. */
  clusterEvents(clusterId: string, since: string): Promise<ClusterEvent[]>;
  /** Whether a cluster snapshot exists and its status. */
  describeClusterSnapshot(snapshotId: string): Promise<{ id: string; status: string } | undefined>;
}

/** One inbound rule of a VPC security group, as EC2 describes it. */
export interface IngressRule {
  /** `tcp`, `udp`, `icmp`, or `-1` for every protocol. */
  protocol: string;
  /** Absent with protocol `-1` (every port). */
  fromPort?: number;
  toPort?: number;
  /** Security groups the rule admits traffic from. */
  sourceGroupIds: string[];
  /** IPv4 and IPv6 ranges the rule admits traffic from. */
  cidrs: string[];
}

export interface SecurityGroupInfo {
  id: string;
  vpcId?: string;
  ingress: IngressRule[];
}

export interface Network {
  /** The security groups among `ids` that exist; a missing one is simply absent from the result. */
  describeSecurityGroups(ids: string[]): Promise<SecurityGroupInfo[]>;
}

export interface DnsRecord {
  name: string;
  type: string;
  ttl: number;
  values: string[];
  /**
   * The routing policy when the record is not a simple one: `weighted`, `latency`, `failover`,
   * `geolocation`, `geoproximity`, `multivalue` or `cidr` (a record set with a `SetIdentifier`).
   * Undefined for a simple record, the only kind the workflow swaps.
   */
  routingPolicy?: string;
  /** The `SetIdentifier` of a routing-policy record. */
  setIdentifier?: string;
}

export interface Dns {
  getRecord(hostedZoneId: string, recordName: string): Promise<DnsRecord | undefined>;
  /** UPSERT a CNAME; returns the change id. */
  upsertCname(hostedZoneId: string, recordName: string, target: string, ttl: number, comment: string): Promise<string>;
  /** `PENDING` or `INSYNC`. */
  changeStatus(changeId: string): Promise<string>;
}

/** Where the workflow can reach a cluster's database over its admin path. */
export interface DbTarget {
  clusterId: string;
  host: string;
  port: number;
}

export interface QueryResult<Row = Record<string, unknown>> {
  rows: Row[];
  rowCount: number;
}

/** One database session (a single connection). */
export interface DbSession {
  /**
   * Without params, the simple query protocol (a multi-statement migration file runs as sent).
   * `{ protocol: 'extended' }` forces the extended protocol even without params: the server then
   * accepts exactly one statement.
   */
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: { protocol?: 'simple' | 'extended' },
  ): Promise<QueryResult<Row>>;
  /** The server process id of this session (to exempt it from the fence). */
  readonly pid: number;
  close(): Promise<void>;
}

export interface Database {
  /** Opens a session on `database` of the cluster (credentials, TLS, application_name = bluegreen). */
  connect(target: DbTarget, database: string): Promise<DbSession>;
  /**
   * The libpq connection string with which another cluster's server (a logical-replication
   * subscriber) reaches `database` on `target` as the workflow's user. It carries the password:
   * pass it only into `CREATE SUBSCRIPTION`, never into a message or a result.
   */
  replicationConninfo(target: DbTarget, database: string): Promise<string>;
}

export interface MigrationFile {
  name: string;
  bytes: Uint8Array;
  /** The S3 version of these bytes (a versioned bucket); absent where there are no versions. */
  versionId?: string;
}

export interface MigrationSource {
  /**
   * All objects under the prefix, `.sql` and others; the step decides what is a migration.
   * With `versions` (name relative to the prefix → version id, as ValidateMigrations pinned
   * them), those objects are read at exactly those versions.
   */
  list(s3Prefix: string, versions?: Readonly<Record<string, string>>): Promise<MigrationFile[]>;
}

/**
 * A pending approval. `approvalId` is the secret of the emailed link: a store keeps only its
 * SHA-256 (and derives the form's nonce from it), and `taskToken` only until the approval is decided.
 */
export interface ApprovalRequestRecord {
  approvalId: string;
  taskToken: string;
  executionArn: string;
  evidence: Record<string, unknown>;
  expiresAt: string;
}

export interface Approvals {
  /** Stores the pending approval; returns the public link for the approver. */
  store(record: ApprovalRequestRecord): Promise<{ url: string }>;
}

export interface Notifier {
  publish(subject: string, message: string): Promise<void>;
}

/** The approvers' subscriptions (SNS `ListSubscriptionsByTopic` on the approvers' topic). */
export interface ApproverSubscriptions {
  /**
   * Confirmed subscriptions (a real SubscriptionArn), those still `PendingConfirmation`, and of the
   * confirmed those `authenticated`: their `ConfirmationWasAuthenticated` attribute is "true"
   * (confirmed with `AuthenticateOnUnsubscribe`, so the email's unsubscribe link cannot remove them).
   * `topicArn` names the topic, for the fix Preflight gives.
   */
  count(): Promise<{ topicArn: string; confirmed: number; pending: number; authenticated: number }>;
}

export interface Lock {
  /** Conditional put: returns `acquired`, or who holds it. Re-acquiring one's own lock is `acquired`. */
  acquire(
    key: string,
    owner: string,
    expiresAt: string,
  ): Promise<{ acquired: true } | { acquired: false; heldBy: string }>;
  /** Deletes the lock when `owner` holds it; a no-op otherwise. */
  release(key: string, owner: string): Promise<void>;
}

export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/** One state of an execution's history: entered (with its input) or exited (with its output). */
export interface ExecutionStateEvent {
  state: string;
  phase: 'entered' | 'exited';
  /** The state's input (entered) or output (exited), JSON. */
  json?: string;
}

/** What DescribeExecution and GetExecutionHistory tell about one execution. */
export interface ExecutionRecord {
  executionArn: string;
  /** `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`, … */
  status: string;
  /** The execution's input, JSON. */
  input: string;
  /** The states entered and exited, oldest first. */
  states: ExecutionStateEvent[];
}

export interface Executions {
  /** The execution and its history of states; undefined when it does not exist. */
  describe(executionArn: string): Promise<ExecutionRecord | undefined>;
}

export interface Ports {
  clusters: Clusters;
  network: Network;
  dns: Dns;
  database: Database;
  migrations: MigrationSource;
  approvals: Approvals;
  notifier: Notifier;
  approvers: ApproverSubscriptions;
  lock: Lock;
  executions: Executions;
  clock: Clock;
}
