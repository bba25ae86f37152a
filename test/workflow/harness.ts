import type { ExecutionDocument } from '../../lambdas/domain/document';
import type { StepId } from '../../lambdas/steps/catalog';
import type { StepFunction } from '../../lambdas/steps/index';
import type { AslDefinition } from '../../local/workflow/asl';
import { executeDefinition, type ExecuteOptions, type ExecutionOutcome } from '../../local/workflow/execute';
import { synthesizeDefinitions } from '../../local/workflow/synth';
import { LocalTaskTokens } from '../../local/workflow/task-tokens';
import { ADMIN_SG, FakeCloud, RECORD, ZONE } from '../support/fake-cloud';

let cached: { deployment: AslDefinition; recovery: AslDefinition } | undefined;

/** Both definitions of the real stack, synthesized once per test file, configured for the fake cloud. */
function testDefinitions(): { deployment: AslDefinition; recovery: AslDefinition } {
  cached ??= synthesizeDefinitions({
    clusterIdPrefix: 'app-',
    adminSecurityGroupId: ADMIN_SG,
    hostedZoneId: ZONE,
    hostedZoneName: 'test.internal',
    recordName: RECORD,
    // Blue's instances may have Enhanced Monitoring (the IAM simulation's do): the role is configured.
    monitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring-role',
    schedule: undefined,
  });
  return cached;
}

/** The deployment state machine's definition. */
export function testDefinition(): AslDefinition {
  return testDefinitions().deployment;
}

/** The recovery state machine's definition (a stopped execution). */
export function testRecoveryDefinition(): AslDefinition {
  return testDefinitions().recovery;
}

export const BASE_INPUT = {
  blueClusterId: 'app-blue',
  targetEngineVersion: '16.6',
  replicaCount: 2,
  migrations: { s3Prefix: 's3://migrations/2026-12-05/', database: 'app' },
  smokeTests: [{ name: 'orders readable', database: 'app', sql: 'select count(*) from orders', expect: 'nonzero' }],
  blueRetentionSeconds: 60,
  pollIntervalSeconds: 1,
  maxPolls: 20,
};

/** The database steps, replaced by recorders: these tests are about the control plane and the graph. */
export function databaseStepStubs(calls: string[]): Partial<Record<StepId, StepFunction>> {
  const record = (name: string, result: (doc: ExecutionDocument) => unknown): StepFunction => {
    return async (event) => {
      calls.push(name);
      return result(event as ExecutionDocument);
    };
  };
  return {
    'fence-writes': record('fence', () => ({
      fencedAt: new Date(Date.now() - 5).toISOString(),
      lsn: '0/16B3748',
      databases: ['app'],
      changedDatabases: ['app'],
      terminatedSessions: 3,
    })),
    'inspect-blue': record('inspect', () => ({ databases: ['app'], unloggedTables: [] })),
    'verify-clone': record('verify', (doc) => ({ fenceRowFound: Boolean(doc.fence), resetDatabases: ['app'] })),
    'apply-sql': record('apply-sql', () => ({
      applied: [{ name: '001_orders_status.sql', sha256: 'ab', durationMs: 4 }],
      skipped: [],
    })),
    'post-upgrade': record('post-upgrade', () => ({ analyzed: ['app'], extensionsUpdated: [] })),
    'smoke-test': record('smoke', () => ({
      results: [{ name: 'orders readable', passed: true, value: '42', expect: 'nonzero' }],
      rowCounts: { blue: [], green: [] },
    })),
    'check-fence-held': record('fence-held', () => ({
      proven: true,
      databases: ['app'],
      checkedAt: new Date().toISOString(),
    })),
    'end-blue-sessions': record('end-blue-sessions', () => ({ ended: 2, endedAt: new Date().toISOString() })),
    'close-blue': record('close-blue', () => ({
      ended: 1,
      endedAt: new Date().toISOString(),
      localChanges: 0,
      removed: ['slot bg_slot', 'publication bg_pub'],
    })),
    'recheck-fence-held': record('fence-recheck', () => ({
      proven: true,
      databases: ['app'],
      checkedAt: new Date().toISOString(),
    })),
    'unfence-blue': record('unfence', (doc) => ({ databases: doc.fence?.changedDatabases ?? [] })),
    // Online mode (lambdas/steps/replication-workflow.ts).
    'prepare-replication': record('prepare-replication', () => ({
      preparedAt: new Date(Date.now() - 5).toISOString(),
      databases: [
        {
          database: 'app',
          publication: 'bg_pub',
          slot: 'bg_slot',
          subscription: 'bg_sub',
          slotLsn: '0/16B0000',
          ddlGuard: true,
          schema: 'digest',
        },
      ],
    })),
    'prepare-green-replication': record('prepare-green-replication', () => ({ startLsn: '0/16B3748', dropped: [] })),
    'start-replication': record('start-replication', () => ({
      startedAt: new Date().toISOString(),
      subscriptions: ['bg_sub'],
      originAdvancedTo: '0/16B3748',
    })),
    'check-replication': record('check-replication', () => ({
      done: true,
      polls: 1,
      status: 'streaming, lag 120 bytes',
      checkedAt: new Date().toISOString(),
      lagBytes: 120,
    })),
    'switchover-fence': record('switchover-fence', () => ({
      fencedAt: new Date(Date.now() - 5).toISOString(),
      lsn: '0/17000A0',
      databases: ['app'],
      changedDatabases: ['app'],
      terminatedSessions: 3,
    })),
    'catch-up-green': record('catch-up-green', () => ({
      targetLsn: '0/17000F0',
      caughtUpMs: 12,
      fenceRowApplied: true,
      sequencesMoved: 1,
      sequencesMissing: [],
      removed: ['subscription bg_sub', 'slot bg_slot', 'publication bg_pub', 'DDL guard (app)'],
    })),
    // Online mode opens green before the freeze, guarded read-only (lambdas/steps/green-guard.ts).
    'guard-green': record('guard-green', () => ({
      databases: ['app'],
      changedDatabases: ['app'],
      guardedAt: new Date().toISOString(),
    })),
    'unguard-green': record('unguard-green', () => ({ databases: ['app'], unguardedAt: new Date().toISOString() })),
    'remove-replication': record('remove-replication', () => ({ removed: ['slot bg_slot on blue'] })),
    // Failback (docs/failback.md): the reverse replication's SQL is tested on real PostgreSQL.
    'start-failback-replication': record('start-failback', (doc) => ({
      databases: doc.fence?.databases ?? [],
      startLsn: '0/3000060',
      startedAt: new Date().toISOString(),
    })),
    'stop-failback-replication': record('stop-failback', (doc) => ({
      databases: doc.failbackReplication?.databases ?? [],
      stoppedAt: new Date().toISOString(),
    })),
    'end-failback-replication': record('end-failback', (doc) => ({
      databases: doc.failbackReplication?.databases ?? [],
      stoppedAt: new Date().toISOString(),
    })),
    'fence-green': record('fence-green', () => ({
      fencedAt: new Date(Date.now() - 5).toISOString(),
      lsn: '0/4000028',
      databases: ['app'],
      changedDatabases: ['app'],
      terminatedSessions: 4,
    })),
    'check-blue-caught-up': record('blue-caught-up', () => ({
      done: true,
      polls: 1,
      status: 'caught up',
      checkedAt: new Date().toISOString(),
    })),
    'move-blue-sequences': record('move-sequences', () => ({ moved: 1, databases: ['app'] })),
    'end-green-sessions': record('end-green-sessions', () => ({ ended: 3, endedAt: new Date().toISOString() })),
    'close-green': record('close-green', () => ({
      ended: 1,
      endedAt: new Date().toISOString(),
      localChanges: 0,
      removed: ['slot bg_g2b_slot', 'publication bg_g2b_pub'],
    })),
  };
}

export interface Run {
  cloud: FakeCloud;
  outcome: ExecutionOutcome;
  dbCalls: string[];
}

export type ApprovalAction = 'approve' | 'reject' | 'timeout' | 'none';
/** What happens to the failback offer during blue's retention (input.failback). */
export type FailbackAction = 'failback' | 'timeout' | 'none';

/** Runs the synthesized definition against a fresh fake cloud with blue in place. */
export async function run(
  input: Record<string, unknown>,
  options: Partial<ExecuteOptions> & {
    approval?: ApprovalAction;
    /** The failback offer: decided, or left to its timeout (the retention). @default 'timeout' */
    failback?: FailbackAction;
    prepare?: (cloud: FakeCloud) => void;
    /** Runs on this cloud as it is (a second deployment after a first), instead of a fresh one with blue. */
    cloud?: FakeCloud;
  } = {},
): Promise<Run> {
  const cloud = options.cloud ?? new FakeCloud();
  if (!options.cloud) cloud.addBlue();
  options.prepare?.(cloud);
  const dbCalls: string[] = [];
  const taskTokens = new LocalTaskTokens();
  const action = options.approval ?? 'approve';
  const failbackAction = options.failback ?? 'timeout';
  cloud.onApproval = (record) => {
    if (record.evidence.kind === 'failback') {
      if (failbackAction === 'failback') {
        void taskTokens.sendSuccess(record.taskToken, {
          decision: 'failback',
          decidedAt: new Date().toISOString(),
          sourceIp: '203.0.113.7',
          userAgent: 'test',
        });
      } else if (failbackAction === 'timeout') {
        // What the task's TimeoutSecondsPath (the retention) produces when nobody fails back.
        void taskTokens.sendFailure(record.taskToken, 'States.Timeout', 'blue was retained without a failback');
      }
      return;
    }
    if (action === 'approve') {
      void taskTokens.sendSuccess(record.taskToken, {
        decision: 'approve',
        decidedAt: new Date().toISOString(),
        sourceIp: '203.0.113.7',
        userAgent: 'test',
      });
    } else if (action === 'reject') {
      void taskTokens.sendFailure(record.taskToken, 'ApprovalRejected', 'row counts look wrong');
    } else if (action === 'timeout') {
      // What the task's TimeoutSecondsPath produces when nobody decides in time.
      void taskTokens.sendFailure(record.taskToken, 'States.Timeout', 'the approval timed out');
    }
  };
  const outcome = await executeDefinition({
    definition: testDefinition(),
    ports: cloud.ports(),
    input,
    waitMs: 0,
    retryDelayMs: 0,
    taskTokens,
    ...options,
    stepOverrides: { ...databaseStepStubs(dbCalls), ...options.stepOverrides },
  });
  return { cloud, outcome, dbCalls };
}

/** The states entered, in order. */
export function statesEntered(outcome: ExecutionOutcome): string[] {
  return outcome.events.filter((e) => e.type === 'StateEntered').map((e) => e.state?.name ?? '');
}
