import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { Defaults } from '../lambdas/domain/input';
import { TASKS, type TaskSpec, type TaskState } from '../lambdas/steps/catalog';

/**
 * The state machine graph, built in exactly one place: the stack, the tests and the local
 * rehearsal all call this function (docs/state-machine.md). JSONPath only: the local executor
 * ignores JSONata.
 */

export interface DefinitionProps {
  /** The Lambda function that runs a task state's step. */
  readonly functionFor: (task: TaskSpec) => lambda.IFunction;
  /** Defaults from the deployed configuration, handed to ValidateInput. */
  readonly defaults: Defaults;
}

/** Errors worth retrying: our named transient error and the Lambda runtime's own failures. */
export const RETRYABLE_ERROR = 'RetryableAwsError';
export const LAMBDA_RUNTIME_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Sandbox.Timedout',
];

/** The keys under which a failure is recorded; ReportFailure reads them. */
export const FAILURE_KEYS = {
  /** A failure before green was opened: rolled back. */
  beforeCutover: '$.error',
  /** A failure once green may have taken writes: nothing rolled back, manual instructions. */
  duringCutover: '$.cutoverError',
  /** Cutover done, but retaining or deleting blue failed. */
  cleanup: '$.cleanupError',
  /** The rollback itself (or the un-fence) failed. */
  rollback: '$.rollbackError',
  unfence: '$.unfenceError',
  /** Online mode: removing the replication (slots on blue, subscriptions on green) failed. */
  replication: '$.replicationError',
  release: '$.releaseError',
  /** Failing back to blue failed: nothing is undone automatically, the notice says what to do. */
  failback: '$.failbackError',
} as const;

/** Online mode (docs/online-mode.md); an older document without `mode` is offline. */
const ONLINE = sfn.Condition.and(
  sfn.Condition.isPresent('$.input.mode'),
  sfn.Condition.stringEquals('$.input.mode', 'online'),
);

/** Failback (docs/failback.md); a document without `failback` (an older run) has none. */
const FAILBACK = sfn.Condition.and(
  sfn.Condition.isPresent('$.input.failback'),
  sfn.Condition.booleanEquals('$.input.failback', true),
);

export function buildDefinition(scope: Construct, props: DefinitionProps): sfn.IChainable {
  const task = taskFactory(scope, props.functionFor);
  const pollLoop = pollLoopFactory(scope, task);

  // ---- endings -------------------------------------------------------------------------
  const failed = new sfn.Fail(scope, 'DeploymentFailed', {
    errorPath: '$.failureReport.error',
    causePath: '$.failureReport.cause',
  });
  const succeeded = new sfn.Succeed(scope, 'DeploymentSucceeded');
  const reportFailure = task('ReportFailure');
  reportFailure.addCatch(
    new sfn.Fail(scope, 'ReportFailureFailed', {
      errorPath: '$.reportError.Error',
      causePath: '$.reportError.Cause',
    }),
    {
      errors: ['States.ALL'],
      resultPath: '$.reportError',
    },
  );
  reportFailure.next(failed);
  const report = task('Report');
  report.next(succeeded);
  report.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.cleanup });

  const outcome = new sfn.Choice(scope, 'Outcome')
    .when(
      sfn.Condition.or(
        sfn.Condition.isPresent(FAILURE_KEYS.beforeCutover),
        sfn.Condition.isPresent(FAILURE_KEYS.duringCutover),
        sfn.Condition.isPresent(FAILURE_KEYS.cleanup),
      ),
      reportFailure,
    )
    .otherwise(report);
  const releaseLock = task('ReleaseLock');
  releaseLock.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.release });
  releaseLock.next(outcome);

  // ---- rollback (any failure after the lock and before OpenGreen) -------------------------
  const rollbackStart = rollbackBranch(scope, task, pollLoop, { reportFailure, releaseLock });

  const beforeLock = (s: tasks.LambdaInvoke) =>
    s.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.beforeCutover });
  const rollsBack = (s: tasks.LambdaInvoke) =>
    s.addCatch(rollbackStart, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.beforeCutover });
  // Once green may have taken writes nothing is undone automatically, and the lock stays held
  // until a person has looked: ReportFailure sends the exact instructions.
  const afterOpen = (s: tasks.LambdaInvoke) =>
    s.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.duringCutover });
  const afterCutover = (s: tasks.LambdaInvoke) =>
    s.addCatch(releaseLock, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.cleanup });

  // ---- after cutover: retain, then delete blue ---------------------------------------------
  const deleteBlue = task('DeleteBlue');
  afterCutover(deleteBlue);
  deleteBlue.next(pollLoop('BlueDeleted', 'CheckBlueDeleted', releaseLock, afterCutover));
  const retainBlue = new sfn.Wait(scope, 'RetainBlue', {
    stateName: 'RetainBlue',
    time: sfn.WaitTime.secondsPath('$.input.blueRetentionSeconds'),
  });
  // Blue's data must still be what the fence recorded: a write that reached blue after the fence
  // (a session that turned read-only off) is not on green, so blue is kept and the alert says so.
  const recheckFenceHeld = task('RecheckFenceHeld');
  afterCutover(recheckFenceHeld);
  recheckFenceHeld.next(deleteBlue);
  retainBlue.next(recheckFenceHeld);

  // ---- failback (input.failback; docs/failback.md) -------------------------------------------
  // Blue follows green's writes during its retention, so its data is no longer the fence's: no
  // RecheckFenceHeld. Failing back is the switchover in reverse; a failure in it stops there,
  // keeps the lock and says exactly what to do (no write is lost: green stays fenced).
  const duringFailback = (s: tasks.LambdaInvoke) =>
    s.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.failback });
  // Sessions opened on green during the freeze are read-only for life: end them once blue serves.
  // Green keeps its groups until then (a reconnect gets a fast read-only error, not a hung connect);
  // then it is closed to applications, and CloseGreen ends what came back and reads green's slots.
  const closeGreen = task('CloseGreen');
  duringFailback(closeGreen);
  closeGreen.next(releaseLock);
  const closeGreenToApplications = task('CloseGreenToApplications');
  duringFailback(closeGreenToApplications);
  closeGreenToApplications.next(pollLoop('GreenClosed', 'CheckGreenClosed', closeGreen, duringFailback));
  const endGreenSessions = task('EndGreenSessions');
  duringFailback(endGreenSessions);
  endGreenSessions.next(closeGreenToApplications);
  const reopenBlue = task('ReopenBlue');
  duringFailback(reopenBlue);
  reopenBlue.next(pollLoop('BlueReopened', 'CheckBlueReopened', endGreenSessions, duringFailback));
  const unfenceBlueForFailback = task('UnfenceBlueForFailback');
  duringFailback(unfenceBlueForFailback);
  unfenceBlueForFailback.next(reopenBlue);
  const endFailbackReplication = task('EndFailbackReplication');
  duringFailback(endFailbackReplication);
  endFailbackReplication.next(unfenceBlueForFailback);
  const moveBlueSequences = task('MoveBlueSequences');
  duringFailback(moveBlueSequences);
  moveBlueSequences.next(endFailbackReplication);
  const fenceGreen = task('FenceGreen');
  duringFailback(fenceGreen);
  fenceGreen.next(pollLoop('BlueCaughtUp', 'CheckBlueCaughtUp', moveBlueSequences, duringFailback));
  // Nobody failed back in time: green is kept, the reverse replication goes, then blue.
  const stopFailbackReplication = task('StopFailbackReplication');
  afterCutover(stopFailbackReplication);
  stopFailbackReplication.next(deleteBlue);
  const retainSpec = TASKS.RetainBlueForFailback;
  const retainBlueForFailback = new tasks.LambdaInvoke(scope, retainSpec.state, {
    stateName: retainSpec.state,
    lambdaFunction: props.functionFor(retainSpec),
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      document: sfn.JsonPath.entirePayload,
      taskToken: sfn.JsonPath.taskToken,
      kind: 'failback',
    }),
    retryOnServiceExceptions: false,
    resultPath: retainSpec.resultPath,
    taskTimeout: sfn.Timeout.at('$.input.blueRetentionSeconds'),
  });
  addRetries(retainBlueForFailback, false);
  retainBlueForFailback.addCatch(stopFailbackReplication, {
    errors: ['States.Timeout'],
    resultPath: '$.retentionEnded',
  });
  afterCutover(retainBlueForFailback);
  retainBlueForFailback.next(fenceGreen);
  const retention = new sfn.Choice(scope, 'IsFailbackOffered')
    .when(FAILBACK, retainBlueForFailback)
    .otherwise(retainBlue);

  // ---- cutover -------------------------------------------------------------------------------
  const swapCname = task('SwapCname');
  afterOpen(swapCname);
  // Once no client can reach blue: end the sessions that reconnected to it through a cached DNS
  // answer since EndBlueSessions (read-only for life: every write fails); online, blue's slots
  // show whether a session wrote there after green caught up.
  const closeBlue = task('CloseBlue');
  afterCutover(closeBlue);
  closeBlue.next(retention);
  // Online with `security-group`: blue's application groups go only now (docs/online-mode.md).
  const switchoverBlock = task('SwitchoverBlockWrites');
  afterCutover(switchoverBlock);
  switchoverBlock.next(pollLoop('SwitchoverBlocked', 'CheckSwitchoverBlocked', closeBlue, afterCutover));
  // `read-only`: blue keeps its groups; after the TTL no resolver still answers with blue.
  const clientTtl = new sfn.Wait(scope, 'WaitForClientTtl', {
    stateName: 'WaitForClientTtl',
    time: sfn.WaitTime.secondsPath('$.input.cname.cutoverTtlSeconds'),
  });
  clientTtl.next(closeBlue);
  // Green serves behind the CNAME: end what is left on blue, so that pools reconnect to green.
  const endBlueSessions = task('EndBlueSessions');
  afterCutover(endBlueSessions);
  endBlueSessions.next(
    new sfn.Choice(scope, 'IsBlueReachable')
      .when(sfn.Condition.stringEquals('$.input.writeBlock', 'read-only'), clientTtl)
      .when(ONLINE, switchoverBlock)
      .otherwise(retention),
  );
  swapCname.next(pollLoop('Cname', 'CheckCname', endBlueSessions, afterOpen));
  const openGreen = task('OpenGreen');
  afterOpen(openGreen);
  openGreen.next(pollLoop('GreenOpen', 'CheckGreenOpen', swapCname, afterOpen));
  // Failback: while blue is fenced and green, not yet open, still equals it, green publishes and
  // blue subscribes. Before OpenGreen, so a failure still rolls back.
  const startFailbackReplication = task('StartFailbackReplication');
  rollsBack(startFailbackReplication);
  // Online mode: green was opened before the freeze, guarded read-only; lifting that (SQL) is
  // all that is left before the CNAME. After StartFailbackReplication: green still equals blue.
  const unguardGreen = task('UnguardGreen');
  rollsBack(unguardGreen);
  unguardGreen.next(swapCname);
  const openOrUnguardGreen = new sfn.Choice(scope, 'IsGreenGuarded').when(ONLINE, unguardGreen).otherwise(openGreen);
  startFailbackReplication.next(openOrUnguardGreen);
  const openGreenOrPrepareFailback = new sfn.Choice(scope, 'IsFailbackRequested')
    .when(FAILBACK, startFailbackReplication)
    .otherwise(openOrUnguardGreen);

  // ---- approval --------------------------------------------------------------------------------
  const approvalSpec = TASKS.RequestApproval;
  const requestApproval = new tasks.LambdaInvoke(scope, approvalSpec.state, {
    stateName: approvalSpec.state,
    lambdaFunction: props.functionFor(approvalSpec),
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      document: sfn.JsonPath.entirePayload,
      taskToken: sfn.JsonPath.taskToken,
    }),
    retryOnServiceExceptions: false,
    resultPath: approvalSpec.resultPath,
    taskTimeout: sfn.Timeout.at('$.input.approval.timeoutSeconds'),
  });
  addRetries(requestApproval, false);
  // Reject (ApprovalRejected) and timeout (States.Timeout) both roll back, like any other failure.
  rollsBack(requestApproval);
  // The last look before green takes writes: a write on blue after the fence means rollback.
  const checkFenceHeld = task('CheckFenceHeld');
  rollsBack(checkFenceHeld);
  checkFenceHeld.next(openGreenOrPrepareFailback);

  // Online mode's switchover: fence blue as offline does before the clone, then green catches up
  // to the fence (its proof replaces CheckFenceHeld's statistics: docs/online-mode.md). Blue's
  // groups stay until after the swap: a pool the fence ended reconnects to blue at once and gets
  // read-only errors, where a detached group would hang its connect until the client gives up.
  const catchUpGreen = task('CatchUpGreen');
  rollsBack(catchUpGreen);
  // The forward subscription is gone once green caught up: failback may start its reverse one.
  catchUpGreen.next(openGreenOrPrepareFailback);
  const switchoverFence = task('SwitchoverFence');
  rollsBack(switchoverFence);
  switchoverFence.next(catchUpGreen);
  // Online mode opens green before the freeze (in AWS the security-group change takes seconds to
  // tens of seconds), guarded read-only: until UnguardGreen it takes no application write, so a
  // failure still rolls back (green is deleted; blue's groups were only attached to it).
  const openGuardedGreen = task('OpenGuardedGreen');
  rollsBack(openGuardedGreen);
  openGuardedGreen.next(pollLoop('GuardedGreenOpen', 'CheckGuardedGreenOpen', switchoverFence, rollsBack));
  const guardGreen = task('GuardGreen');
  rollsBack(guardGreen);
  guardGreen.next(openGuardedGreen);
  requestApproval.next(new sfn.Choice(scope, 'IsOnlineSwitchover').when(ONLINE, guardGreen).otherwise(checkFenceHeld));

  // ---- dry run ending: delete green, report ---------------------------------------------------
  const discardGreen = task('DiscardGreen');
  rollsBack(discardGreen);
  discardGreen.next(pollLoop('GreenDiscarded', 'CheckGreenDiscarded', releaseLock, rollsBack));

  // ---- green: smoke test, then approval (or the dry run's ending) ------------------------------
  const smokeTest = task('SmokeTest');
  rollsBack(smokeTest);
  // An online dry run replicated too: its slots go before green does.
  const removeDryRunReplication = task('RemoveDryRunReplication');
  rollsBack(removeDryRunReplication);
  removeDryRunReplication.next(discardGreen);
  smokeTest.next(
    new sfn.Choice(scope, 'IsDryRunEnding')
      .when(
        sfn.Condition.booleanEquals('$.input.dryRun', true),
        new sfn.Choice(scope, 'IsOnlineDryRun').when(ONLINE, removeDryRunReplication).otherwise(discardGreen),
      )
      .otherwise(requestApproval),
  );

  // Online mode: subscribe green once its schema, engine and readers are final, then wait until
  // it is close behind blue before the smoke tests and the approval.
  const startReplication = task('StartReplication');
  rollsBack(startReplication);
  startReplication.next(pollLoop('Replication', 'CheckReplication', smokeTest, rollsBack));
  const addReplicas = task('AddReplicas');
  rollsBack(addReplicas);
  addReplicas.next(
    pollLoop(
      'Replicas',
      'CheckReplicas',
      new sfn.Choice(scope, 'IsOnlineReplication').when(ONLINE, startReplication).otherwise(smokeTest),
      rollsBack,
    ),
  );

  // ---- SQL and engine upgrade, in the order the input asks for -------------------------------
  const applySql = task('ApplySql');
  rollsBack(applySql);
  const postUpgrade = task('PostUpgrade');
  rollsBack(postUpgrade);
  const upgradeEngine = task('UpgradeEngine');
  rollsBack(upgradeEngine);

  const migrationsAfterUpgrade = sfn.Condition.and(
    sfn.Condition.isPresent('$.input.migrations'),
    sfn.Condition.stringEquals('$.input.migrations.phase', 'after-upgrade'),
  );
  const migrationsBeforeUpgrade = sfn.Condition.and(
    sfn.Condition.isPresent('$.input.migrations'),
    sfn.Condition.stringEquals('$.input.migrations.phase', 'before-upgrade'),
  );
  const sqlAfterUpgrade = new sfn.Choice(scope, 'IsSqlAfterUpgrade')
    .when(migrationsAfterUpgrade, applySql)
    .otherwise(addReplicas);
  const upgradeRequested = new sfn.Choice(scope, 'IsUpgradeRequested')
    .when(sfn.Condition.isPresent('$.input.targetEngineVersion'), upgradeEngine)
    .otherwise(sqlAfterUpgrade);
  upgradeEngine.next(pollLoop('Upgrade', 'CheckUpgrade', postUpgrade, rollsBack));
  postUpgrade.next(sqlAfterUpgrade);
  applySql.next(
    new sfn.Choice(scope, 'IsSqlPhaseDone').when(migrationsAfterUpgrade, addReplicas).otherwise(upgradeRequested),
  );
  const sqlBeforeUpgrade = new sfn.Choice(scope, 'IsSqlBeforeUpgrade')
    .when(migrationsBeforeUpgrade, applySql)
    .otherwise(upgradeRequested);

  // ---- clone ----------------------------------------------------------------------------------
  const verifyClone = task('VerifyClone');
  rollsBack(verifyClone);
  verifyClone.next(sqlBeforeUpgrade);
  const createGreenWriter = task('CreateGreenWriter');
  rollsBack(createGreenWriter);
  // Online mode: no fence row to verify; green's start LSN instead, and what it inherited goes.
  const prepareGreenReplication = task('PrepareGreenReplication');
  rollsBack(prepareGreenReplication);
  prepareGreenReplication.next(sqlBeforeUpgrade);
  createGreenWriter.next(
    pollLoop(
      'GreenWriter',
      'CheckGreenWriter',
      new sfn.Choice(scope, 'IsOnlineClone').when(ONLINE, prepareGreenReplication).otherwise(verifyClone),
      rollsBack,
    ),
  );
  const createClone = task('CreateClone');
  rollsBack(createClone);
  createClone.next(pollLoop('Clone', 'CheckClone', createGreenWriter, rollsBack));

  // ---- write block and fence --------------------------------------------------------------------
  const fenceWrites = task('FenceWrites');
  rollsBack(fenceWrites);
  const restorable = pollLoop('Restorable', 'CheckRestorable', createClone, rollsBack);
  fenceWrites.next(restorable);
  // Online mode: blue is not fenced before the clone; its slots must exist before the clone's point.
  const prepareReplication = task('PrepareReplication');
  rollsBack(prepareReplication);
  prepareReplication.next(restorable);
  const blockWrites = task('BlockWrites');
  rollsBack(blockWrites);
  blockWrites.next(pollLoop('WritesBlocked', 'CheckWritesBlocked', fenceWrites, rollsBack));
  const writeBlockMode = new sfn.Choice(scope, 'IsSecurityGroupBlock')
    .when(sfn.Condition.stringEquals('$.input.writeBlock', 'security-group'), blockWrites)
    .otherwise(fenceWrites);

  // ---- start: validate, preflight, lock, lower TTL --------------------------------------------
  const dryRunStart = new sfn.Choice(scope, 'IsOnlineMode')
    .when(ONLINE, prepareReplication)
    .otherwise(
      new sfn.Choice(scope, 'IsDryRun')
        .when(sfn.Condition.booleanEquals('$.input.dryRun', true), createClone)
        .otherwise(writeBlockMode),
    );
  // Resolvers may cache the old TTL: wait it out while blue still serves, before the block,
  // so that the cutover is seen at once. Usually the timestamp is already past.
  const oldTtlExpiry = new sfn.Wait(scope, 'WaitForOldTtlExpiry', {
    stateName: 'WaitForOldTtlExpiry',
    time: sfn.WaitTime.timestampPath('$.ttl.oldTtlExpiresAt'),
  });
  oldTtlExpiry.next(dryRunStart);
  const lowerTtl = task('LowerCnameTtl');
  rollsBack(lowerTtl);
  lowerTtl.next(
    new sfn.Choice(scope, 'IsCnameTtlChanged')
      .when(
        sfn.Condition.booleanEquals('$.ttl.changed', true),
        pollLoop('CnameTtl', 'CheckCnameTtl', oldTtlExpiry, rollsBack),
      )
      .otherwise(dryRunStart),
  );
  const lowerTtlUnlessDryRun = new sfn.Choice(scope, 'IsLiveRun')
    .when(sfn.Condition.booleanEquals('$.input.dryRun', false), lowerTtl)
    .otherwise(dryRunStart);

  const acquireLock = task('AcquireLock');
  // The put may have succeeded before the task failed: release (a no-op unless we hold it).
  acquireLock.addCatch(releaseLock, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.beforeCutover });
  acquireLock.next(lowerTtlUnlessDryRun);
  const validateMigrations = task('ValidateMigrations');
  beforeLock(validateMigrations);
  validateMigrations.next(acquireLock);
  const inspectBlue = task('InspectBlue');
  beforeLock(inspectBlue);
  inspectBlue.next(validateMigrations);
  const preflight = task('Preflight');
  beforeLock(preflight);
  preflight.next(inspectBlue);
  const validateInput = task('ValidateInput', {
    payload: sfn.TaskInput.fromObject({
      raw: sfn.JsonPath.entirePayload,
      defaults: props.defaults,
      execution: {
        id: sfn.JsonPath.stringAt('$$.Execution.Id'),
        name: sfn.JsonPath.stringAt('$$.Execution.Name'),
        startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
      },
    }),
  });
  beforeLock(validateInput);
  validateInput.next(preflight);
  return validateInput;
}

type TaskFactory = (
  name: TaskState,
  options?: { payload?: sfn.TaskInput; retryTimeouts?: boolean },
) => tasks.LambdaInvoke;
type PollLoopFactory = (
  label: string,
  check: TaskState,
  next: sfn.IChainable,
  onError?: (s: tasks.LambdaInvoke) => void,
) => tasks.LambdaInvoke;

/** A Lambda task of the catalog, with its retries (each state machine makes its own states). */
function taskFactory(scope: Construct, functionFor: (task: TaskSpec) => lambda.IFunction): TaskFactory {
  return (name, options = {}) => {
    const spec = TASKS[name];
    const state = new tasks.LambdaInvoke(scope, spec.state, {
      stateName: spec.state,
      lambdaFunction: functionFor(spec),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      // '$' (ValidateInput) is the default: the result replaces the whole document.
      ...(spec.resultPath === '$' ? {} : { resultPath: spec.resultPath }),
      ...(options.payload ? { payload: options.payload } : {}),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(spec.timeoutSeconds + 30)),
    });
    addRetries(state, options.retryTimeouts ?? true);
    return state;
  };
}

/**
 * Poll loops: Check -> Choice -> Wait -> Check, bounded by maxPolls inside the check.
 * The loop looks first: an operation that is already done (a security-group change often is)
 * costs no Wait, and each check keeps looking for its short window (checkWindowSeconds) before
 * it hands back to the Wait, so the end of an operation is noticed soon after it happens.
 */
function pollLoopFactory(scope: Construct, task: TaskFactory): PollLoopFactory {
  return (label, check, next, onError) => {
    const wait = new sfn.Wait(scope, `WaitFor${label}`, {
      stateName: `WaitFor${label}`,
      time: sfn.WaitTime.secondsPath('$.input.pollIntervalSeconds'),
    });
    const checkState = task(check);
    onError?.(checkState);
    const ready = new sfn.Choice(scope, `Is${label}Done`, { stateName: `Is${label}Done` })
      .when(sfn.Condition.booleanEquals(`${TASKS[check].resultPath}.done`, true), next)
      .otherwise(wait);
    wait.next(checkState);
    checkState.next(ready);
    return checkState;
  };
}

/**
 * UnfenceBlue -> Rollback -> CheckRollback loop -> ReleaseLock (or ReportFailure when the
 * un-fence failed). A rollback that could not finish keeps the lock: no other run (a schedule,
 * say) may start on a half-restored blue. ReportFailure says what to do, including releasing
 * the lock. Both state machines use it: the deployment's Catch and the recovery of a stopped run.
 */
function rollbackBranch(
  scope: Construct,
  task: TaskFactory,
  pollLoop: PollLoopFactory,
  endings: { reportFailure: sfn.IChainable; releaseLock: sfn.IChainable },
): sfn.Choice {
  const { reportFailure, releaseLock } = endings;
  const rollbackClean = new sfn.Choice(scope, 'IsRollbackClean')
    .when(
      sfn.Condition.or(
        sfn.Condition.isPresent(FAILURE_KEYS.unfence),
        sfn.Condition.isPresent(FAILURE_KEYS.replication),
      ),
      reportFailure,
    )
    .otherwise(releaseLock);
  const rollback = task('Rollback');
  rollback.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.rollback });
  rollback.next(
    pollLoop('Rollback', 'CheckRollback', rollbackClean, (s) =>
      s.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.rollback }),
    ),
  );
  const unfenceBlue = task('UnfenceBlue');
  unfenceBlue.addCatch(rollback, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.unfence });
  unfenceBlue.next(rollback);
  // Online mode: first the replication (a forgotten slot retains WAL on blue for ever); a failure
  // there still restores blue and deletes green, and ReportFailure says what is left to remove.
  const removeReplication = task('RemoveReplication');
  removeReplication.addCatch(unfenceBlue, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.replication });
  removeReplication.next(unfenceBlue);
  const onlineOrNot = new sfn.Choice(scope, 'IsOnlineRollback').when(ONLINE, removeReplication).otherwise(unfenceBlue);
  // Failback: a StartFailbackReplication that did not finish (a Lambda timeout, a stopped run) may
  // have left a subscription on blue that would keep trying to reach the deleted green.
  const removeFailbackReplication = task('RemoveFailbackReplication');
  removeFailbackReplication.addCatch(onlineOrNot, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.replication });
  removeFailbackReplication.next(onlineOrNot);
  return new sfn.Choice(scope, 'IsFailbackRollback').when(FAILBACK, removeFailbackReplication).otherwise(onlineOrNot);
}

export interface RecoveryDefinitionProps {
  /** The Lambda function that runs a task state's step (the deployment's own functions). */
  readonly functionFor: (task: TaskSpec) => lambda.IFunction;
}

/**
 * The recovery state machine: started by EventBridge when a deployment execution ends ABORTED,
 * TIMED_OUT or FAILED (a stopped execution skips every Catch). ReadStoppedExecution rebuilds
 * the stopped run's document from its history and decides (lambdas/steps/recover.ts); the rest
 * are the deployment's own rollback, lock and report states, run on that document.
 */
export function buildRecoveryDefinition(scope: Construct, props: RecoveryDefinitionProps): sfn.IChainable {
  const task = taskFactory(scope, props.functionFor);
  const pollLoop = pollLoopFactory(scope, task);

  const done = new sfn.Succeed(scope, 'RecoveryDone');
  const reportFailure = task('ReportFailure');
  reportFailure.addCatch(
    new sfn.Fail(scope, 'ReportFailureFailed', { errorPath: '$.reportError.Error', causePath: '$.reportError.Cause' }),
    { errors: ['States.ALL'], resultPath: '$.reportError' },
  );
  reportFailure.next(done);
  const releaseLock = task('ReleaseLock');
  releaseLock.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: FAILURE_KEYS.release });
  releaseLock.next(reportFailure);
  const rollbackStart = rollbackBranch(scope, task, pollLoop, { reportFailure, releaseLock });

  const action = new sfn.Choice(scope, 'RecoveryAction')
    .when(sfn.Condition.stringEquals('$.recovery.action', 'rollback'), rollbackStart)
    .when(sfn.Condition.stringEquals('$.recovery.action', 'release-and-report'), releaseLock)
    .when(sfn.Condition.stringEquals('$.recovery.action', 'report'), reportFailure)
    .otherwise(new sfn.Succeed(scope, 'NothingToRecover'));
  // The stopped task's Lambda may still be running: let it end before anything is undone.
  const settle = new sfn.Wait(scope, 'WaitForStoppedTask', {
    stateName: 'WaitForStoppedTask',
    time: sfn.WaitTime.secondsPath('$.recovery.settleSeconds'),
  });
  settle.next(action);
  const read = task('ReadStoppedExecution');
  read.next(settle);
  return read;
}

function addRetries(state: tasks.LambdaInvoke, retryTaskTimeout: boolean): void {
  state.addRetry({
    errors: [RETRYABLE_ERROR],
    interval: Duration.seconds(2),
    maxAttempts: 6,
    backoffRate: 2,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
  state.addRetry({
    errors: retryTaskTimeout ? [...LAMBDA_RUNTIME_ERRORS, 'States.Timeout'] : LAMBDA_RUNTIME_ERRORS,
    interval: Duration.seconds(3),
    maxAttempts: 3,
    backoffRate: 2,
    maxDelay: Duration.seconds(30),
    jitterStrategy: sfn.JitterType.FULL,
  });
}
