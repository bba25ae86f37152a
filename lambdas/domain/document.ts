import type { AssociatedRole, ServerlessV2Scaling } from '../ports';
import type { DeploymentInput } from './input';

/**
 * The execution document (docs/architecture.md). Each task writes only its own key through its
 * `ResultPath`, so the console shows what each state contributed.
 */

export interface BlueSnapshot {
  id: string;
  arn?: string;
  endpoint: string;
  port: number;
  engineVersion: string;
  /** The application access groups: every group on blue but the workflow's admin group. */
  accessSecurityGroupIds: string[];
  /** Blue's full security-group list as found, restored exactly on rollback. */
  originalSecurityGroupIds: string[];
  subnetGroupName?: string;
  clusterParameterGroupName?: string;
  kmsKeyId?: string;
  iamAuth: boolean;
  logExports: string[];
  deletionProtection: boolean;
  /** What green carries over from blue (docs/green-carries-over.md); absent when blue has none. */
  storageType?: string;
  serverlessV2Scaling?: ServerlessV2Scaling;
  engineLifecycleSupport?: string;
  copyTagsToSnapshot?: boolean;
  /** Blue's own tags (not the workflow's `bluegreen:*`), given to green beside the workflow's. */
  tags?: Record<string, string>;
  /** Added to green at OpenGreen. */
  associatedRoles?: AssociatedRole[];
  /** Blue's master password is managed by RDS in this secret; green gets its own after cutover. */
  masterUserSecret?: { secretArn: string; kmsKeyId?: string };
  writer: {
    instanceId: string;
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
    /** The writer instance's own tags (not the workflow's), given to green's instances. */
    tags?: Record<string, string>;
  };
  readerInstanceIds: string[];
  /** Blue's readers' failover tiers, in the order of `readerInstanceIds`; green's readers get them in turn. */
  readerPromotionTiers?: number[];
  availabilityZones: string[];
  upgrade?: { isMajor: boolean; targetFamily?: string };
  cname: { target: string; ttl: number };
}

export interface GreenInfo {
  id: string;
  writerInstanceId: string;
  requestedAt: string;
  reused: boolean;
}

export interface PollState {
  done: boolean;
  polls: number;
  status: string;
  checkedAt: string;
  /** CheckClone records green's cluster endpoint once the clone is available. */
  endpoint?: string;
  /** CheckReplication (online mode): the largest lag of the replicated databases, in bytes of WAL. */
  lagBytes?: number;
}

/** One replicated database of the online mode (lambdas/steps/replication-workflow.ts). */
export interface ReplicatedDatabase {
  database: string;
  publication: string;
  slot: string;
  subscription: string;
  /** The slot's starting point on blue: the clone's start LSN must not be before it. */
  slotLsn: string;
  /** Whether the event trigger that refuses DDL on blue is installed; if not, why. */
  ddlGuard: boolean;
  ddlGuardReason?: string;
  /** Digest of the tables and columns when replication was prepared (DDL watch). */
  schema: string;
}

/**
 * A logical replication slot green inherited from blue with the clone (blue's CDC consumers'
 * slots, such as Debezium's). `confirmedFlushLsn` is where its consumer had confirmed when blue was
 * cloned; `dropped`: removed on green before a major upgrade (AWS's precheck refuses one while a
 * logical slot exists). Blue's own slot is never touched.
 */
export interface InheritedSlot {
  name: string;
  plugin: string;
  database: string;
  confirmedFlushLsn: string | null;
  dropped: boolean;
}

export interface ExecutionDocument {
  input: DeploymentInput;
  blue?: BlueSnapshot;
  /** InspectBlue: blue's user databases and their unlogged tables (`database: schema.table`). */
  inspect?: { databases: string[]; unloggedTables: string[] };
  /**
   * ValidateMigrations: the set's file names, and each file pinned by SHA-256 (and S3 version id).
   * With replication (online mode or failback), `warnings`: statements that could stop it, as
   * `file line N: reason [statement]`; the approval shows them.
   */
  migrationSet?: { files: string[]; pins?: MigrationPin[]; warnings?: string[] };
  lock?: { key: string; owner: string; acquiredAt: string };
  ttl?: { changed: boolean; previousTtl: number; changeId?: string; oldTtlExpiresAt?: string };
  block?: { changed: boolean; securityGroupIds: string[]; blockedAt: string };
  fence?: {
    fencedAt: string;
    lsn: string;
    databases: string[];
    changedDatabases: string[];
    terminatedSessions: number;
    /** How many times a backend from before the fence appeared after the fence row, moving the fence past it. */
    moves?: number;
    /** Unlogged tables on blue (`database: schema.table`), recorded with the fence's proof; shown to the approver. */
    unloggedTables?: string[];
  };
  /** PrepareReplication (online mode): publications, slots and the DDL guard on blue, before the clone. */
  replication?: { preparedAt: string; databases: ReplicatedDatabase[] };
  /** PrepareGreenReplication: green's start LSN and what it inherited that was dropped. */
  greenReplication?: {
    startLsn: string;
    dropped: string[];
    /** Other logical slots green inherited from blue (a CDC tool's); dropped when a major upgrade is ahead. */
    inheritedSlots?: InheritedSlot[];
  };
  /** StartReplication: the subscriptions on green. */
  replicationStart?: {
    startedAt: string;
    subscriptions: string[];
    originAdvancedTo: string;
    /** Blue's position once every subscription was enabled: CheckReplication waits until green confirmed it. */
    blueLsn?: string;
  };
  /** CatchUpGreen (switchover): green has every write blue committed before the fence; replication removed. */
  switchover?: {
    targetLsn: string;
    caughtUpMs: number;
    fenceRowApplied: boolean;
    sequencesMoved: number;
    sequencesMissing: string[];
    removed: string[];
  };
  /** RemoveReplication (rollback, dry run): what was removed from blue and green. */
  replicationRemoved?: { removed: string[] };
  green?: GreenInfo;
  writer?: { instanceId: string; requestedAt: string; reused: boolean };
  verify?: {
    fenceRowFound: boolean;
    resetDatabases: string[];
    /** Offline mode: the logical replication slots green inherited from blue (docs/inherited-slots.md). */
    inheritedSlots?: InheritedSlot[];
  };
  /** CheckFenceHeld / RecheckFenceHeld: no user data changed on blue after the fence (fence-proof.ts). */
  fenceHeld?: { proven: boolean; databases: string[]; checkedAt: string };
  /** EndBlueSessions: sessions still on blue after the CNAME swap, ended so pools reconnect to green. */
  blueSessions?: { ended: number; endedAt: string };
  /**
   * CloseBlue: once no client can reach blue, the sessions that reconnected to it through a cached
   * DNS answer are ended; online, blue's slots are read once more for local writes, then dropped.
   */
  blueClosed?: {
    ended: number;
    endedAt: string;
    localChanges: number;
    removed: string[];
    /** Slots an earlier attempt of CloseBlue had already found quiet and dropped. */
    alreadyGone?: string[];
  };
  fenceRecheck?: { proven: boolean; databases: string[]; checkedAt: string };
  migrations?: { applied: { name: string; sha256: string; durationMs: number }[]; skipped: string[] };
  upgrade?: { requested: boolean; from: string; to: string; isMajor: boolean; requestedAt: string };
  postUpgrade?: {
    /** Databases whose every table was analyzed (none after a minor upgrade). */
    analyzed: string[];
    extensionsUpdated: { database: string; name: string; from: string; to: string }[];
    /** Why ANALYZE ran or not. */
    analyze?: string;
    tablesAnalyzed?: number;
    /** Tables an earlier attempt of this execution had already analyzed (a retry resumes). */
    tablesResumed?: number;
    /** Sessions of an earlier attempt of this step that this attempt ended first. */
    endedEarlierSessions?: number;
  };
  replicas?: { instanceIds: string[]; requestedAt: string };
  smoke?: { results: { name: string; passed: boolean; value: string; expect: string }[]; rowCounts?: unknown };
  approval?: {
    decision: 'approve';
    reason?: string;
    decidedAt: string;
    sourceIp?: string;
    userAgent?: string;
    /** The signed-in approver, when an approver identity is configured (docs/approval.md). */
    decidedBy?: { issuer: string; claim: 'email' | 'sub'; value: string };
  };
  open?: { securityGroupIds: string[]; openedAt: string; roles?: string[]; deletionProtection?: boolean };
  cutover?: { changeId: string; target: string; requestedAt: string };
  /** Results of poll checks, one key per wait loop. */
  wait?: Record<string, PollState>;
  deletion?: {
    finalSnapshotId: string;
    requestedAt: string;
    /** Blue's master password was managed by RDS: green now has its own secret. */
    masterUserSecret?: { greenSecretArn?: string; blueSecretArn: string; instructions: string };
  };
  rollback?: { blueRestored: boolean; blueUnfenced: string[]; greenDeleting: boolean; keptGreen: boolean };
  unfence?: { databases: string[] };
  release?: { released: boolean };
  /**
   * Online mode, GuardGreen: green's databases made read-only by default before its access groups
   * are attached (the apply workers ignore it); UnguardGreen lifts it at the switchover.
   */
  greenGuard?: { databases: string[]; changedDatabases: string[]; guardedAt: string };
  greenUnguard?: { databases: string[]; unguardedAt: string };
  report?: Record<string, unknown>;
  error?: { Error: string; Cause?: string };
  // ---- failback (input.failback; docs/failback.md) -------------------------------------------
  /** StartFailbackReplication: green publishes to blue, per database, from the cutover freeze on. */
  /** EndGreenSessions: sessions left on green after the failback's CNAME swap, ended. */
  greenSessions?: { ended: number; endedAt: string };
  /** CloseGreenToApplications: green's groups down to the admin group. */
  greenClosedGroups?: { securityGroupIds: string[]; requestedAt: string };
  /**
   * CloseGreen: the sessions that reconnected to green since EndGreenSessions ended; green's
   * failback slots read once more (no local change), then dropped.
   */
  greenClosed?: {
    ended: number;
    endedAt: string;
    localChanges: number;
    removed: string[];
    alreadyGone?: string[];
  };
  failbackReplication?: FailbackReplication;
  /** RetainBlueForFailback: the decision from the failback page (absent when the retention ran out). */
  failbackDecision?: {
    decision: 'failback';
    reason?: string;
    decidedAt: string;
    sourceIp?: string;
    userAgent?: string;
  };
  /** FenceGreen: the same fence as blue's, on green, under the key `<execution id>:failback`. */
  greenFence?: ExecutionDocument['fence'];
  /** MoveBlueSequences: every sequence on blue set past green's value. */
  failbackSequences?: { moved: number; databases: string[] };
  /** StopFailbackReplication / EndFailbackReplication: the reverse replication removed. */
  failbackStopped?: { databases: string[]; stoppedAt: string };
  /** ReopenBlue: blue's groups back and the CNAME swapped to blue. */
  failback?: {
    changeId: string;
    target: string;
    requestedAt: string;
    securityGroupIds: string[];
  };
}

/** The replication from green back to blue, per database, as StartFailbackReplication made it. */
export interface FailbackReplication {
  /** Names per database: replicationNames(execution id, database, 'green-to-blue'). */
  databases: string[];
  /** Tables on green that blue does not have (`database: schema.table`, added by the migrations): blue does not follow them. */
  notFollowed?: string[];
  /** Green's WAL position when its slots were created, while green was still frozen and equal to blue. */
  startLsn?: string;
  startedAt: string;
}

export const EXECUTION_TAG = 'bluegreen:execution';
export const ROLE_TAG = 'bluegreen:role';
export const SOURCE_TAG = 'bluegreen:source';

/**
 * A value RDS accepts as a tag value: Unicode letters, digits, whitespace and `_ . : / = + - @`,
 * at most 256 characters (RDS API reference, `Tag`). An execution name may hold characters
 * outside that set (`!`, `'`, `(`, …); each becomes `_`, so the value stays stable across
 * re-runs and `isOurs` can compare it.
 */
export function rdsTagValue(value: string): string {
  return value.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_').slice(0, 256);
}

/** One migration file as ValidateMigrations read it; ApplySql runs exactly these bytes. */
export interface MigrationPin {
  name: string;
  sha256: string;
  /** S3 VersionId of the object read (the construct's bucket is versioned). */
  versionId?: string;
}
