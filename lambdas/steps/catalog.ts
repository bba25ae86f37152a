/**
 * Every Lambda-backed task of the state machine: its state name, the step it runs, where its
 * result goes, and what kind of Lambda runs it. The definition (infra/definition.ts), the
 * construct (one function per step), the handlers and the local rehearsal all read this table,
 * so a state can never be wired to the wrong step in one of them.
 */

export type LambdaKind = 'control' | 'database' | 'approval' | 'bookkeeping';

/** What a step's Lambda may touch; the construct grants exactly these and sets the matching env. */
export type Need =
  | 'rds:read' // Describe* on clusters, instances, engine versions, parameter groups, snapshots
  | 'rds:write' // Restore/Create/Modify/Delete on clusters and instances of the allowed prefix
  | 'route53' // the one hosted zone: list/change records, get change
  | 'ec2:read' // DescribeSecurityGroups (Preflight's network checks)
  | 'lock' // the lock table
  | 'topic' // publish to the notification topic
  | 'migrations' // read the migrations bucket
  | 'secret' // read the database secret (database Lambdas, in the VPC)
  | 'executions'; // read this state machine's executions (status, input, history)

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
  readonly needs: readonly Need[];
}

const control = (state: string, step: string, resultPath: string, needs: Need[]): TaskSpec => ({
  state,
  step,
  resultPath,
  kind: 'control',
  timeoutSeconds: 60,
  needs,
});
const database = (state: string, step: string, resultPath: string, timeoutSeconds = 300): TaskSpec => ({
  state,
  step,
  resultPath,
  kind: 'database',
  timeoutSeconds,
  needs: ['rds:read', 'secret'],
});
const bookkeeping = (state: string, step: string, resultPath: string, needs: Need[]): TaskSpec => ({
  state,
  step,
  resultPath,
  kind: 'bookkeeping',
  timeoutSeconds: 60,
  needs,
});
const R: Need[] = ['rds:read'];
const RW: Need[] = ['rds:read', 'rds:write'];

export const TASKS = {
  // Reads the CNAME and blue when the input leaves blueClusterId out (a recurring schedule).
  ValidateInput: { ...control('ValidateInput', 'validate-input', '$', ['rds:read', 'route53']), timeoutSeconds: 30 },
  Preflight: control('Preflight', 'preflight', '$.blue', ['rds:read', 'route53', 'ec2:read']),
  ValidateMigrations: control('ValidateMigrations', 'validate-migrations', '$.migrationSet', ['migrations']),
  AcquireLock: bookkeeping('AcquireLock', 'acquire-lock', '$.lock', ['lock', 'topic']),
  LowerCnameTtl: control('LowerCnameTtl', 'lower-cname-ttl', '$.ttl', ['route53']),
  CheckCnameTtl: control('CheckCnameTtl', 'check-cname-ttl', '$.wait.ttl', ['route53']),
  BlockWrites: control('BlockWrites', 'block-writes', '$.block', RW),
  CheckWritesBlocked: control('CheckWritesBlocked', 'check-writes-blocked', '$.wait.block', R),
  FenceWrites: database('FenceWrites', 'fence-writes', '$.fence'),
  CheckRestorable: control('CheckRestorable', 'check-restorable', '$.wait.restorable', ['rds:read', 'topic']),
  CreateClone: control('CreateClone', 'create-clone', '$.green', RW),
  CheckClone: control('CheckClone', 'check-clone', '$.wait.clone', R),
  CreateGreenWriter: control('CreateGreenWriter', 'create-green-writer', '$.writer', RW),
  CheckGreenWriter: control('CheckGreenWriter', 'check-green-writer', '$.wait.writer', R),
  VerifyClone: database('VerifyClone', 'verify-clone', '$.verify'),
  ApplySql: { ...database('ApplySql', 'apply-sql', '$.migrations', 900), needs: ['rds:read', 'secret', 'migrations'] },
  UpgradeEngine: control('UpgradeEngine', 'upgrade-engine', '$.upgrade', RW),
  CheckUpgrade: control('CheckUpgrade', 'check-upgrade', '$.wait.upgrade', R),
  PostUpgrade: database('PostUpgrade', 'post-upgrade', '$.postUpgrade', 900),
  AddReplicas: control('AddReplicas', 'add-replicas', '$.replicas', RW),
  CheckReplicas: control('CheckReplicas', 'check-replicas', '$.wait.replicas', R),
  SmokeTest: database('SmokeTest', 'smoke-test', '$.smoke'),
  RequestApproval: {
    state: 'RequestApproval',
    step: 'request-approval',
    resultPath: '$.approval',
    kind: 'approval',
    timeoutSeconds: 30,
    needs: ['topic'],
  },
  OpenGreen: control('OpenGreen', 'open-green', '$.open', RW),
  CheckGreenOpen: control('CheckGreenOpen', 'check-green-open', '$.wait.open', R),
  SwapCname: control('SwapCname', 'swap-cname', '$.cutover', ['rds:read', 'route53']),
  CheckCname: control('CheckCname', 'check-cname', '$.wait.cname', ['route53']),
  DeleteBlue: control('DeleteBlue', 'delete-blue', '$.deletion', ['rds:read', 'rds:write', 'route53']),
  CheckBlueDeleted: control('CheckBlueDeleted', 'check-blue-deleted', '$.wait.blueDeleted', RW), // advances the deletion: instances, then the cluster
  DiscardGreen: control('DiscardGreen', 'discard-green', '$.discard', RW),
  CheckGreenDiscarded: control('CheckGreenDiscarded', 'check-green-discarded', '$.wait.discard', RW), // advances the deletion: instances, then the cluster
  UnfenceBlue: database('UnfenceBlue', 'unfence-blue', '$.unfence', 120),
  Rollback: control('Rollback', 'rollback', '$.rollback', ['rds:read', 'rds:write', 'route53']),
  CheckRollback: control('CheckRollback', 'check-rollback', '$.wait.rollback', RW), // advances the deletion: instances, then the cluster
  ReleaseLock: bookkeeping('ReleaseLock', 'release-lock', '$.release', ['lock']),
  Report: bookkeeping('Report', 'report', '$.report', ['topic']),
  ReportFailure: bookkeeping('ReportFailure', 'report-failure', '$.failureReport', ['topic']),
  // The recovery state machine's first task (a stopped execution): rebuilds its document.
  ReadStoppedExecution: control('ReadStoppedExecution', 'read-stopped-execution', '$', ['executions']),
} as const satisfies Record<string, TaskSpec>;

export type TaskState = keyof typeof TASKS;
export type StepId = (typeof TASKS)[TaskState]['step'];

export const TASK_LIST: readonly TaskSpec[] = Object.values(TASKS);
