import type { Ports } from '../ports';

/**
 * Every Lambda-backed task of the state machine: its state name, the step it runs, where its
 * result goes, and what kind of Lambda runs it. The definition (infra/definition.ts), the
 * construct (one function per step), the handlers and the local rehearsal all read this table,
 * so a state can never be wired to the wrong step in one of them.
 */

export type LambdaKind = 'control' | 'database' | 'approval' | 'bookkeeping';

/** `port.method` of every port method a step can call (the clock needs no permission). */
type MethodOf<P extends keyof Ports> = Extract<keyof Ports[P], string>;
export type PortMethod = { [P in Exclude<keyof Ports, 'clock'>]: `${P}.${MethodOf<P>}` }[Exclude<keyof Ports, 'clock'>];

/**
 * A port method a step may call. `@green` marks a call that the step only ever makes on green's
 * resources: its grant then requires the green tag (`bluegreen:role=green`) on the cluster or
 * instance, so the step's role cannot change blue. infra/iam-table.ts says what each method needs.
 */
export type Call = PortMethod | `${PortMethod}@green`;

export interface TaskSpec {
  /** The state's name in the graph (docs/state-machine.md). */
  readonly state: string;
  /** The step it runs: also the handler file `lambdas/handlers/<step>.ts`. */
  readonly step: string;
  /** Where the step's result lands in the execution document. */
  readonly resultPath: string;
  readonly kind: LambdaKind;
  /** The Lambda's timeout; the task's is 30 s longer (a cold start, the invoke itself). */
  readonly timeoutSeconds: number;
  /** Exactly the port methods the step calls: its role is granted these and nothing else. */
  readonly calls: readonly Call[];
}

const control = (state: string, step: string, resultPath: string, calls: Call[]): TaskSpec => ({
  state,
  step,
  resultPath,
  kind: 'control',
  timeoutSeconds: 60,
  calls,
});
/** A database step finds the cluster's endpoint, then connects over the admin path. */
const DB: Call[] = ['clusters.describeCluster', 'database.connect'];
const database = (state: string, step: string, resultPath: string, timeoutSeconds = 300, calls = DB): TaskSpec => ({
  state,
  step,
  resultPath,
  kind: 'database',
  timeoutSeconds,
  calls,
});
const bookkeeping = (state: string, step: string, resultPath: string, calls: Call[]): TaskSpec => ({
  state,
  step,
  resultPath,
  kind: 'bookkeeping',
  timeoutSeconds: 60,
  calls,
});
const LOOK: Call[] = ['clusters.describeCluster', 'clusters.describeInstance'];
/** Deleting green: its instances, then the cluster, each only when it carries the green tag. */
const DISCARD_GREEN: Call[] = [...LOOK, 'clusters.deleteInstance@green', 'clusters.deleteCluster@green'];
/** Deleting blue after cutover: instances, then the cluster with its final snapshot. */
const DELETE_BLUE: Call[] = [
  ...LOOK,
  'clusters.deleteInstance',
  'clusters.deleteCluster',
  'clusters.describeClusterSnapshot',
];

export const TASKS = {
  // Reads the CNAME and blue when the input leaves blueClusterId out (a recurring schedule).
  ValidateInput: {
    ...control('ValidateInput', 'validate-input', '$', ['clusters.describeCluster', 'dns.getRecord']),
    timeoutSeconds: 30,
  },
  Preflight: control('Preflight', 'preflight', '$.blue', [
    ...LOOK,
    'network.describeSecurityGroups',
    'clusters.validUpgradeTargets',
    'clusters.parameterGroupFamilyOf',
    'clusters.clusterParameterGroupFamily',
    // Online mode: rds.logical_replication in blue's cluster parameter group.
    'clusters.clusterParameterValue',
    'clusters.instanceParameterGroupFamily',
    'dns.getRecord',
    'approvers.count',
  ]),
  // Preflight's look inside blue's databases (Preflight runs outside the VPC).
  InspectBlue: { ...database('InspectBlue', 'inspect-blue', '$.inspect'), timeoutSeconds: 60 },
  ValidateMigrations: control('ValidateMigrations', 'validate-migrations', '$.migrationSet', ['migrations.list']),
  AcquireLock: bookkeeping('AcquireLock', 'acquire-lock', '$.lock', ['lock.acquire', 'notifier.publish']),
  LowerCnameTtl: control('LowerCnameTtl', 'lower-cname-ttl', '$.ttl', ['dns.getRecord', 'dns.upsertCname']),
  CheckCnameTtl: control('CheckCnameTtl', 'check-cname-ttl', '$.wait.ttl', ['dns.changeStatus']),
  BlockWrites: control('BlockWrites', 'block-writes', '$.block', [
    'clusters.describeCluster',
    'clusters.setSecurityGroups',
  ]),
  CheckWritesBlocked: control('CheckWritesBlocked', 'check-writes-blocked', '$.wait.block', LOOK),
  FenceWrites: database('FenceWrites', 'fence-writes', '$.fence'),
  // Online mode (docs/online-mode.md): blue's publications, slots and DDL guard, before the clone.
  PrepareReplication: database('PrepareReplication', 'prepare-replication', '$.replication', 300, ['database.connect']),
  CheckRestorable: control('CheckRestorable', 'check-restorable', '$.wait.restorable', [
    'clusters.describeCluster',
    'notifier.publish',
  ]),
  CreateClone: control('CreateClone', 'create-clone', '$.green', [
    'clusters.describeCluster',
    'clusters.cloneCopyOnWrite',
  ]),
  CheckClone: control('CheckClone', 'check-clone', '$.wait.clone', LOOK),
  CreateGreenWriter: control('CreateGreenWriter', 'create-green-writer', '$.writer', [
    ...LOOK,
    'clusters.createInstance',
  ]),
  CheckGreenWriter: control('CheckGreenWriter', 'check-green-writer', '$.wait.writer', LOOK),
  VerifyClone: database('VerifyClone', 'verify-clone', '$.verify'),
  // Online mode, instead of VerifyClone: green's start LSN; drop what green inherited.
  PrepareGreenReplication: database('PrepareGreenReplication', 'prepare-green-replication', '$.greenReplication'),
  ApplySql: database('ApplySql', 'apply-sql', '$.migrations', 900, [...DB, 'migrations.list']),
  UpgradeEngine: control('UpgradeEngine', 'upgrade-engine', '$.upgrade', [...LOOK, 'clusters.upgradeEngine@green']),
  CheckUpgrade: control('CheckUpgrade', 'check-upgrade', '$.wait.upgrade', [...LOOK, 'clusters.clusterEvents']),
  PostUpgrade: database('PostUpgrade', 'post-upgrade', '$.postUpgrade', 900),
  AddReplicas: control('AddReplicas', 'add-replicas', '$.replicas', [...LOOK, 'clusters.createInstance']),
  CheckReplicas: control('CheckReplicas', 'check-replicas', '$.wait.replicas', LOOK),
  // Online mode, after the readers: subscribe green from its start LSN, then wait for a small lag.
  StartReplication: database('StartReplication', 'start-replication', '$.replicationStart', 300, [
    ...DB,
    'database.replicationConninfo',
  ]),
  CheckReplication: database('CheckReplication', 'check-replication', '$.wait.replication', 60),
  SmokeTest: database('SmokeTest', 'smoke-test', '$.smoke'),
  RequestApproval: {
    state: 'RequestApproval',
    step: 'request-approval',
    resultPath: '$.approval',
    kind: 'approval',
    timeoutSeconds: 30,
    calls: ['approvals.store', 'notifier.publish'],
  },
  CheckFenceHeld: database('CheckFenceHeld', 'check-fence-held', '$.fenceHeld', 120),
  // Online mode's switchover, after the approval: FenceWrites' code under its own state (the fence
  // leaves the replication's walsenders), then green catches up to the fence. BlockWrites' code
  // runs after the CNAME swap (`security-group`): until then a reconnecting pool gets a fast
  // read-only error from blue rather than a connect that hangs (docs/online-mode.md).
  SwitchoverBlockWrites: control('SwitchoverBlockWrites', 'block-writes', '$.block', [
    'clusters.describeCluster',
    'clusters.setSecurityGroups',
  ]),
  CheckSwitchoverBlocked: control('CheckSwitchoverBlocked', 'check-writes-blocked', '$.wait.block', LOOK),
  SwitchoverFence: database('SwitchoverFence', 'switchover-fence', '$.fence', 300, ['database.connect']),
  CatchUpGreen: database('CatchUpGreen', 'catch-up-green', '$.switchover', 300),
  OpenGreen: control('OpenGreen', 'open-green', '$.open', [
    ...LOOK,
    'clusters.setSecurityGroups@green',
    'clusters.addRole@green',
  ]),
  CheckGreenOpen: control('CheckGreenOpen', 'check-green-open', '$.wait.open', LOOK),
  // Online mode opens green before the freeze (in AWS the security-group change is the slowest
  // part of the switchover): read-only by default until UnguardGreen, at the switchover.
  GuardGreen: database('GuardGreen', 'guard-green', '$.greenGuard', 120),
  OpenGuardedGreen: control('OpenGuardedGreen', 'open-green', '$.open', [
    ...LOOK,
    'clusters.setSecurityGroups@green',
    'clusters.addRole@green',
  ]),
  CheckGuardedGreenOpen: control('CheckGuardedGreenOpen', 'check-green-open', '$.wait.open', LOOK),
  UnguardGreen: database('UnguardGreen', 'unguard-green', '$.greenUnguard', 60),
  SwapCname: control('SwapCname', 'swap-cname', '$.cutover', [...LOOK, 'dns.upsertCname']),
  CheckCname: control('CheckCname', 'check-cname', '$.wait.cname', ['dns.changeStatus']),
  EndBlueSessions: database('EndBlueSessions', 'end-blue-sessions', '$.blueSessions', 60),
  // Once no client can reach blue (its groups detached, or the cutover TTL passed): the sessions
  // that reconnected through a cached answer go; online, blue's slots prove it took no late write.
  // 300 s: with failback the slots also hold green's writes since CatchUpGreen, decoded once more.
  CloseBlue: database('CloseBlue', 'close-blue', '$.blueClosed', 300),
  RecheckFenceHeld: database('RecheckFenceHeld', 'recheck-fence-held', '$.fenceRecheck', 120),
  DeleteBlue: control('DeleteBlue', 'delete-blue', '$.deletion', [
    ...DELETE_BLUE,
    'clusters.setDeletionProtection',
    'clusters.manageMasterUserPassword@green',
    'dns.getRecord',
  ]),
  CheckBlueDeleted: control('CheckBlueDeleted', 'check-blue-deleted', '$.wait.blueDeleted', DELETE_BLUE), // advances the deletion: instances, then the cluster
  DiscardGreen: control('DiscardGreen', 'discard-green', '$.discard', DISCARD_GREEN),
  CheckGreenDiscarded: control('CheckGreenDiscarded', 'check-green-discarded', '$.wait.discard', DISCARD_GREEN), // advances the deletion: instances, then the cluster
  UnfenceBlue: database('UnfenceBlue', 'unfence-blue', '$.unfence', 120),
  // Rollback (and the recovery) in online mode: subscriptions on green, slots, publications and
  // the DDL guard on blue; the dry run's ending runs the same step before DiscardGreen.
  RemoveReplication: database('RemoveReplication', 'remove-replication', '$.replicationRemoved', 300),
  RemoveDryRunReplication: database('RemoveDryRunReplication', 'remove-replication', '$.replicationRemoved', 300),
  Rollback: control('Rollback', 'rollback', '$.rollback', [
    ...DISCARD_GREEN,
    // Online mode: OpenGuardedGreen gave green blue's deletion protection.
    'clusters.setDeletionProtection@green',
    'clusters.setSecurityGroups',
    'dns.getRecord',
    'dns.upsertCname',
  ]),
  CheckRollback: control('CheckRollback', 'check-rollback', '$.wait.rollback', [
    ...DISCARD_GREEN,
    'clusters.setSecurityGroups',
  ]), // advances the deletion: instances, then the cluster
  ReleaseLock: bookkeeping('ReleaseLock', 'release-lock', '$.release', ['lock.release']),
  Report: bookkeeping('Report', 'report', '$.report', ['notifier.publish']),
  ReportFailure: bookkeeping('ReportFailure', 'report-failure', '$.failureReport', ['notifier.publish']),
  // ---- failback (input.failback; docs/failback.md) ------------------------------------------
  // Before OpenGreen, while blue is fenced and green still frozen: green publishes, blue subscribes.
  StartFailbackReplication: database(
    'StartFailbackReplication',
    'start-failback-replication',
    '$.failbackReplication',
    120,
    [...DB, 'database.replicationConninfo'],
  ),
  // Blue's retention as a waitForTaskToken task (timeout: blueRetentionSeconds), in the approval Lambda.
  RetainBlueForFailback: {
    state: 'RetainBlueForFailback',
    step: 'request-approval',
    resultPath: '$.failbackDecision',
    kind: 'approval',
    timeoutSeconds: 30,
    calls: ['approvals.store', 'notifier.publish'],
  },
  // Rollback with failback: what StartFailbackReplication may have left (a no-op when it made nothing).
  RemoveFailbackReplication: database(
    'RemoveFailbackReplication',
    'stop-failback-replication',
    '$.failbackStopped',
    120,
  ),
  // The retention ran out: green is kept; the reverse replication goes before blue does.
  StopFailbackReplication: database('StopFailbackReplication', 'stop-failback-replication', '$.failbackStopped', 120),
  // Failing back: the switchover in reverse.
  FenceGreen: database('FenceGreen', 'fence-green', '$.greenFence'),
  CheckBlueCaughtUp: database('CheckBlueCaughtUp', 'check-blue-caught-up', '$.wait.blueCaughtUp', 60),
  MoveBlueSequences: database('MoveBlueSequences', 'move-blue-sequences', '$.failbackSequences', 120),
  // Blue's subscriptions only: green's slots stay until CloseGreen has looked at them.
  EndFailbackReplication: database('EndFailbackReplication', 'end-failback-replication', '$.failbackStopped', 120),
  UnfenceBlueForFailback: database('UnfenceBlueForFailback', 'unfence-blue', '$.unfence', 120),
  ReopenBlue: control('ReopenBlue', 'reopen-blue', '$.failback', [
    'clusters.describeCluster',
    'clusters.setSecurityGroups',
    'dns.upsertCname',
  ]),
  // Once blue serves and green's sessions were ended: green down to the admin group, then what
  // reconnected to it goes and its failback slots show whether it took a late write.
  CloseGreenToApplications: control('CloseGreenToApplications', 'close-green-to-applications', '$.greenClosedGroups', [
    'clusters.describeCluster',
    'clusters.setSecurityGroups@green',
  ]),
  CheckGreenClosed: control('CheckGreenClosed', 'check-green-closed', '$.wait.greenClosed', [
    'clusters.describeCluster',
  ]),
  CloseGreen: database('CloseGreen', 'close-green', '$.greenClosed', 300),
  CheckBlueReopened: control('CheckBlueReopened', 'check-blue-reopened', '$.wait.blueReopened', [
    'clusters.describeCluster',
    'dns.changeStatus',
  ]),
  EndGreenSessions: database('EndGreenSessions', 'end-green-sessions', '$.greenSessions', 60),
  // The recovery state machine's first task (a stopped execution): rebuilds its document.
  ReadStoppedExecution: control('ReadStoppedExecution', 'read-stopped-execution', '$', ['executions.describe']),
} as const satisfies Record<string, TaskSpec>;

export type TaskState = keyof typeof TASKS;
export type StepId = (typeof TASKS)[TaskState]['step'];

export const TASK_LIST: readonly TaskSpec[] = Object.values(TASKS);
