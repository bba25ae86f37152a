import { STEPS } from '../../lambdas/steps/index';
import { ADMIN_SG, APP_SGS, FakeCloud, RECORD } from '../support/fake-cloud';
import type { Run } from './harness';
import { BASE_INPUT, run, statesEntered } from './harness';

const ORIGINAL_GROUPS = [ADMIN_SG, ...APP_SGS];

/** The task states a successful deployment enters, in the order the design promises (waits and checks left out). */
const DEPLOYMENT_ORDER = [
  'ValidateInput',
  'Preflight',
  'InspectBlue',
  'ValidateMigrations',
  'AcquireLock',
  'LowerCnameTtl',
  'BlockWrites',
  'FenceWrites',
  'CreateClone',
  'CreateGreenWriter',
  'VerifyClone',
  'ApplySql',
  'UpgradeEngine',
  'PostUpgrade',
  'AddReplicas',
  'SmokeTest',
  'RequestApproval',
  'OpenGreen',
  'SwapCname',
  'EndBlueSessions',
  'RetainBlue',
  'RecheckFenceHeld',
  'DeleteBlue',
  'ReleaseLock',
  'Outcome',
  'Report',
  'DeploymentSucceeded',
];

function blueGroups(r: Run): string[] {
  return r.cloud.clusters.get('app-blue')?.securityGroups.map((g) => `${g.id}:${g.status}`) ?? [];
}

function greenIds(r: Run): string[] {
  return [...r.cloud.clusters.keys()].filter((id) => id !== 'app-blue');
}

function expectRolledBack(r: Run, errorName: string) {
  expect(r.outcome.status).toBe('FAILED');
  expect(r.outcome.error?.name).toBe(errorName);
  // Blue has exactly its groups back, all active; green is gone; the lock is free; DNS untouched.
  expect(blueGroups(r).sort()).toEqual(ORIGINAL_GROUPS.map((g) => `${g}:active`).sort());
  expect(greenIds(r)).toEqual([]);
  expect(r.cloud.locks.size).toBe(0);
  expect(r.cloud.record.values).toEqual([r.cloud.clusters.get('app-blue')?.endpoint]);
  expect(r.cloud.record.ttl).toBe(300);
  const notice = r.cloud.notifications.at(-1);
  expect(notice?.subject).toContain('rolled back');
  expect(notice?.message).toContain('Rolled back');
}

describe('the synthesized state machine, run against an in-memory AWS', () => {
  it('deploys: blocks, fences, clones, upgrades, adds readers, cuts over after approval and deletes blue', async () => {
    const r = await run(BASE_INPUT);
    expect(r.outcome.error).toBeUndefined();
    expect(r.outcome.status).toBe('SUCCEEDED');
    const green = greenIds(r);
    expect(green).toHaveLength(1);
    const greenCluster = r.cloud.clusters.get(green[0] ?? '');
    expect(greenCluster?.engineVersion).toBe('16.6');
    expect(greenCluster?.securityGroups.map((g) => g.id).sort()).toEqual(ORIGINAL_GROUPS.sort());
    expect(r.cloud.record.values).toEqual([greenCluster?.endpoint]);
    expect(r.cloud.record.ttl).toBe(5);
    expect(r.cloud.clusters.has('app-blue')).toBe(false);
    expect([...r.cloud.snapshots.keys()]).toEqual([expect.stringMatching(/^app-blue-final-\d{12}$/)]);
    expect(r.cloud.locks.size).toBe(0);
    expect(r.dbCalls).toEqual([
      'inspect',
      'fence',
      'verify',
      'apply-sql',
      'post-upgrade',
      'smoke',
      'fence-held',
      'end-blue-sessions',
      'fence-recheck',
    ]);
    // Two readers, neither in the writer's AZ.
    const readers = [...r.cloud.instances.values()].filter((i) => i.tags['bluegreen:instance-role'] === 'reader');
    expect(readers).toHaveLength(2);
    expect(readers.map((i) => i.availabilityZone)).not.toContain('eu-west-1a');
    // The order the design promises.
    const entered = statesEntered(r.outcome).filter((s) => !/^(WaitFor|Is|Check)/.test(s));
    expect(entered).toEqual(DEPLOYMENT_ORDER);
    expect(r.cloud.notifications.at(-1)?.subject).toContain('succeeded');
  });

  it('applies migrations after the upgrade when the input asks for phase after-upgrade', async () => {
    const r = await run({ ...BASE_INPUT, migrations: { ...BASE_INPUT.migrations, phase: 'after-upgrade' } });
    expect(r.outcome.error).toBeUndefined();
    expect(r.outcome.status).toBe('SUCCEEDED');
    expect(r.dbCalls).toEqual([
      'inspect',
      'fence',
      'verify',
      'post-upgrade',
      'apply-sql',
      'smoke',
      'fence-held',
      'end-blue-sessions',
      'fence-recheck',
    ]);
  });

  it('does a dry run: no write block, no approval, no cutover, green deleted, blue untouched', async () => {
    const r = await run({ ...BASE_INPUT, dryRun: true }, { approval: 'none' });
    expect(r.outcome.status).toBe('SUCCEEDED');
    expect(r.dbCalls).not.toContain('fence');
    expect(greenIds(r)).toEqual([]);
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    const blueChanges = r.cloud.calls.filter(
      (c) => (c.args as { id?: string; sourceClusterId?: string }).id === 'app-blue',
    );
    expect(blueChanges).toEqual([]);
    expect(r.cloud.mutations()).not.toContain('upsertCname');
    expect(r.cloud.approvalsStored).toHaveLength(0);
    expect(r.cloud.locks.size).toBe(0);
  });

  it('fails a poll loop that never finishes with PollTimeout and rolls back', async () => {
    const r = await run({ ...BASE_INPUT, maxPolls: 4 }, { prepare: (c) => c.stuck.add('upgrade') });
    expectRolledBack(r, 'PollTimeout');
    expect(r.outcome.attempts.CheckUpgrade).toBe(4);
  });

  describe('a failed engine upgrade', () => {
    function expectUpgradeRolledBack(r: Run) {
      expectRolledBack(r, 'UpgradeFailed');
      // Caught by the graph like any failure before OpenGreen: blue un-fenced, green deleted.
      expect(r.dbCalls).toContain('unfence');
      expect(r.dbCalls).not.toContain('post-upgrade');
      expect(r.cloud.mutations()).toContain('deleteCluster');
      expect(statesEntered(r.outcome)).toEqual(expect.arrayContaining(['UnfenceBlue', 'Rollback', 'ReportFailure']));
      // Recognised at the first look, not after maxPolls.
      expect(r.outcome.attempts.CheckUpgrade).toBe(1);
    }

    it("ends in UpgradeFailed with RDS's reason when RDS publishes a failure event (green still upgrading)", async () => {
      const r = await run(BASE_INPUT, { prepare: (c) => (c.upgradeFailure = 'event') });
      expectUpgradeRolledBack(r);
      expect(r.outcome.error?.cause).toContain('cannot be upgraded: Upgrade prechecks failed.');
      expect(r.cloud.notifications.at(-1)?.message).toContain('cannot be upgraded: Upgrade prechecks failed.');
    });

    it('ends in UpgradeFailed when green comes back available on its old version with no engine version pending', async () => {
      const r = await run(
        { ...BASE_INPUT, checkWindowSeconds: 0 },
        {
          prepare: (c) => (c.upgradeFailure = 'silent'),
        },
      );
      expectRolledBack(r, 'UpgradeFailed');
      expect(r.outcome.error?.cause).toContain('available on 16.4 with no engine version pending');
      expect(r.dbCalls).toContain('unfence');
      expect(r.cloud.mutations()).toContain('deleteCluster');
      // The first look still sees `upgrading`; the next one sees green back on 16.4 and stops.
      expect(r.outcome.attempts.CheckUpgrade).toBe(2);
    });
  });

  it('looks before it waits: no poll loop enters its Wait when each check outlasts its operation', async () => {
    // A long check window: each check keeps looking until the fake's operation is done.
    const r = await run({ ...BASE_INPUT, checkWindowSeconds: 20, checkEveryMs: 500 });
    expect(r.outcome.status).toBe('SUCCEEDED');
    const entered = statesEntered(r.outcome);
    const after = (state: string) => entered[entered.indexOf(state) + 1];
    expect(after('BlockWrites')).toBe('CheckWritesBlocked');
    expect(after('CreateClone')).toBe('CheckClone');
    expect(after('SwapCname')).toBe('CheckCname');
    // WaitForOldTtlExpiry waits out the CNAME's old TTL: it is not a poll loop.
    expect(entered.filter((s) => s.startsWith('WaitFor'))).toEqual(['WaitForOldTtlExpiry']);
  });

  it('with a window of 0, each check looks once and the loop waits between looks', async () => {
    const r = await run({ ...BASE_INPUT, checkWindowSeconds: 0 });
    expect(r.outcome.status).toBe('SUCCEEDED');
    const entered = statesEntered(r.outcome);
    const from = entered.indexOf('CreateClone');
    expect(entered.slice(from, from + 5)).toEqual([
      'CreateClone',
      'CheckClone',
      'IsCloneDone',
      'WaitForClone',
      'CheckClone',
    ]);
  });

  it('refuses a check window longer than a check Lambda can run, naming the field', async () => {
    const r = await run({ ...BASE_INPUT, checkWindowSeconds: 50 });
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain(
      "checkWindowSeconds: at most 45 seconds (a check's Lambda times out at 60 s)",
    );
    expect(r.cloud.calls).toEqual([]);
  });

  // Every state from LowerCnameTtl to SmokeTest changes something that a rollback must undo.
  const sideEffectingStates = DEPLOYMENT_ORDER.slice(
    DEPLOYMENT_ORDER.indexOf('LowerCnameTtl'),
    DEPLOYMENT_ORDER.indexOf('SmokeTest') + 1,
  );
  it.each(sideEffectingStates)('rolls back a failure at %s: blue as it was, green gone, lock free', async (state) => {
    const r = await run(BASE_INPUT, { faults: [{ state, error: 'ResourceFailed' }] });
    expectRolledBack(r, 'ResourceFailed');
    const fenced = r.dbCalls.includes('fence');
    expect(r.dbCalls.includes('unfence')).toBe(true);
    if (fenced) expect(r.outcome.output).toBeUndefined();
  });

  it('rolls back when the approver rejects, and says why', async () => {
    const r = await run(BASE_INPUT, { approval: 'reject' });
    expectRolledBack(r, 'ApprovalRejected');
    expect(r.cloud.notifications.at(-1)?.message).toContain('row counts look wrong');
    expect(statesEntered(r.outcome)).not.toContain('OpenGreen');
  });

  it('rolls back when the approval times out', async () => {
    const r = await run(BASE_INPUT, { approval: 'timeout' });
    expectRolledBack(r, 'States.Timeout');
  });

  it('stops on bad input with PreconditionFailed before anything is changed', async () => {
    const r = await run({ ...BASE_INPUT, replicaCuont: 2 });
    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain('replicaCuont: unknown field');
    expect(r.cloud.calls).toEqual([]);
    expect(r.cloud.locks.size).toBe(0);
    expect(r.cloud.notifications.at(-1)?.message).toContain('Nothing was changed');
  });

  it('stops on a failed guard rail with PreconditionFailed before anything is changed', async () => {
    const r = await run({ ...BASE_INPUT, targetEngineVersion: '15.2' });
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain('targetEngineVersion: 15.2 is not a valid upgrade target');
    expect(r.cloud.calls).toEqual([]);
    expect(r.cloud.locks.size).toBe(0);
  });

  it('stops with PreconditionFailed, blue untouched, when no approver confirmed with AuthenticateOnUnsubscribe', async () => {
    const r = await run(BASE_INPUT, {
      prepare: (cloud) => {
        cloud.approversAuthenticated = false;
      },
    });
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain('1 confirmed but unauthenticated');
    expect(r.outcome.error?.cause).toContain('--authenticate-on-unsubscribe true');
    expect(r.cloud.calls).toEqual([]);
    expect(r.cloud.locks.size).toBe(0);
    expect(statesEntered(r.outcome)).not.toContain('RequestApproval');
  });

  it.each([
    [
      'a member instance outside the prefix',
      {},
      (c: FakeCloud) => c.clusters.get('app-blue')?.members.push({ instanceId: 'legacy-3', isWriter: false }),
      'instances outside the configured prefix "app-" (legacy-3)',
    ],
    [
      'a CNAME with a routing policy',
      {},
      (c: FakeCloud) => Object.assign(c.record, { routingPolicy: 'failover', setIdentifier: 'primary' }),
      'has a failover policy (SetIdentifier primary)',
    ],
    [
      'a cname.recordName other than the configured one',
      { cname: { recordName: 'other.test.internal' } },
      () => undefined,
      `cname.recordName: must be the configured record ${RECORD}`,
    ],
  ])('refuses %s with PreconditionFailed and leaves blue untouched', async (_what, extra, prepare, cause) => {
    const r = await run({ ...BASE_INPUT, ...extra }, { prepare });
    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain(cause);
    expect(r.cloud.calls).toEqual([]);
    expect(blueGroups(r).sort()).toEqual(ORIGINAL_GROUPS.map((g) => `${g}:active`).sort());
    expect(greenIds(r)).toEqual([]);
    expect(r.cloud.locks.size).toBe(0);
  });

  it('stops on a bad migration file before anything is changed, naming the file', async () => {
    const r = await run(BASE_INPUT, {
      prepare: (c) => (c.migrationFiles = [{ name: '001_empty.sql', bytes: Buffer.from('   \n') }]),
    });
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain('001_empty.sql');
    expect(r.cloud.calls).toEqual([]);
    expect(r.cloud.locks.size).toBe(0);
  });

  it('refuses to start while another execution holds the lock, and leaves that lock alone', async () => {
    const r = await run(BASE_INPUT, {
      prepare: (c) => c.locks.set('app-blue', { owner: 'other-execution', expiresAt: '2099-01-01T00:00:00Z' }),
    });
    expect(r.outcome.error?.name).toBe('PreconditionFailed');
    expect(r.outcome.error?.cause).toContain('other-execution');
    expect(r.cloud.locks.get('app-blue')?.owner).toBe('other-execution');
    expect(r.cloud.calls).toEqual([]);
  });

  it('after OpenGreen, touches neither blue nor DNS on failure and sends manual instructions', async () => {
    const r = await run(BASE_INPUT, { faults: [{ state: 'SwapCname', error: 'ResourceFailed' }] });
    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('ResourceFailed');
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    expect(r.cloud.record.values).toEqual([r.cloud.clusters.get('app-blue')?.endpoint]);
    const afterOpen = r.cloud.calls.slice(
      r.cloud.calls.findIndex((c) => c.op === 'setSecurityGroups' && (c.args as { id: string }).id !== 'app-blue'),
    );
    expect(afterOpen.filter((c) => (c.args as { id?: string }).id === 'app-blue')).toEqual([]);
    expect(greenIds(r)).toHaveLength(1);
    // The lock stays held until a person has looked: no schedule may start on this state.
    expect(r.cloud.locks.get('app-blue')?.owner).toBeDefined();
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.message).toContain('lock on app-blue is still held');
    expect(notice?.subject).toContain('ACTION NEEDED');
    expect(notice?.message).toContain('Nothing was rolled back automatically');
    expect(notice?.message).toContain(RECORD);
  });

  it('retries transient AWS errors (throttling, a busy cluster) and succeeds', async () => {
    const r = await run(BASE_INPUT, {
      faults: [
        { state: 'CreateClone', error: 'ThrottlingException', count: 2 },
        { state: 'UpgradeEngine', error: 'InvalidDBClusterStateFault', count: 1 },
      ],
    });
    expect(r.outcome.status).toBe('SUCCEEDED');
    expect(r.outcome.attempts.CreateClone).toBe(3);
    expect(r.outcome.attempts.UpgradeEngine).toBe(2);
  });

  it.each(['BlockWrites', 'CreateClone', 'CreateGreenWriter', 'AddReplicas', 'SwapCname', 'DeleteBlue'])(
    'is idempotent when %s times out after its side effect: the retry creates nothing twice',
    async (state) => {
      const r = await run(BASE_INPUT, { crashAfter: [state] });
      expect(r.outcome.error).toBeUndefined();
      expect(r.outcome.status).toBe('SUCCEEDED');
      expect(r.outcome.attempts[state]).toBe(2);
      expect(r.cloud.mutations().filter((op) => op === 'cloneCopyOnWrite')).toHaveLength(1);
      expect(r.cloud.mutations().filter((op) => op === 'createInstance')).toHaveLength(3);
    },
  );

  it('keeps blue (and says so) when it has deletion protection and the configuration forbids turning it off', async () => {
    const r = await run(BASE_INPUT, {
      prepare: (c) => ((c.clusters.get('app-blue') as { deletionProtection: boolean }).deletionProtection = true),
    });
    expect(r.outcome.status).toBe('SUCCEEDED');
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    expect(r.cloud.mutations()).not.toContain('setDeletionProtection');
    expect(r.cloud.notifications.at(-1)?.message).toContain('deletion protection on');
  });

  it('keeps the lock and says what to do when the rollback itself fails', async () => {
    const r = await run(BASE_INPUT, {
      faults: [
        { state: 'SmokeTest', error: 'SmokeTestFailed' },
        { state: 'Rollback', error: 'ResourceFailed' },
      ],
    });
    expect(r.outcome.error?.name).toBe('SmokeTestFailed');
    expect(r.cloud.locks.size).toBe(1);
    const notice = r.cloud.notifications.at(-1);
    expect(notice?.subject).toContain('ACTION NEEDED');
    expect(notice?.message).toContain('did not finish');
    expect(notice?.message).toContain('aws rds modify-db-cluster --db-cluster-identifier app-blue');
  });

  it('waits out the old TTL before blocking writes when it lowered the TTL', async () => {
    const r = await run(BASE_INPUT);
    const entered = statesEntered(r.outcome);
    expect(entered.indexOf('WaitForOldTtlExpiry')).toBeGreaterThan(entered.indexOf('LowerCnameTtl'));
    expect(entered.indexOf('WaitForOldTtlExpiry')).toBeLessThan(entered.indexOf('BlockWrites'));
  });

  it('keeps blue after retention when someone pointed the CNAME back at it meanwhile', async () => {
    let cloudRef: FakeCloud | undefined;
    const r = await run(BASE_INPUT, {
      prepare: (c) => (cloudRef = c),
      stepOverrides: {
        // A DBA falls back to blue by hand during the retention period.
        'delete-blue': async (event, ports) => {
          const blue = cloudRef?.clusters.get('app-blue');
          if (cloudRef && blue) cloudRef.record.values = [blue.endpoint];
          const deleteBlue = STEPS['delete-blue'];
          if (!deleteBlue) throw new Error('delete-blue is not registered');
          return deleteBlue(event, ports);
        },
      },
    });
    expect(r.outcome.status).toBe('SUCCEEDED');
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    expect(r.cloud.mutations()).not.toContain('deleteCluster');
    expect(r.cloud.notifications.at(-1)?.message).toContain('was kept, not deleted');
  });

  it('keeps green on failure when asked to, and says so', async () => {
    const r = await run(
      { ...BASE_INPUT, keepGreenOnFailure: true },
      { faults: [{ state: 'SmokeTest', error: 'SmokeTestFailed' }] },
    );
    expect(r.outcome.error?.name).toBe('SmokeTestFailed');
    expect(greenIds(r)).toHaveLength(1);
    expect(r.cloud.notifications.at(-1)?.message).toContain('kept for investigation');
  });

  it('fences only (read-only write block): blue keeps its security groups', async () => {
    const r = await run({ ...BASE_INPUT, writeBlock: 'read-only' });
    expect(r.outcome.status).toBe('SUCCEEDED');
    expect(statesEntered(r.outcome)).not.toContain('BlockWrites');
    expect(r.dbCalls.slice(0, 2)).toEqual(['inspect', 'fence']);
    // Blue stays reachable: a pool may reconnect to it through a DNS answer cached from before the
    // swap, read-only for life. Once the cutover TTL has passed, CloseBlue ends those sessions.
    const states = statesEntered(r.outcome);
    expect(states.slice(states.indexOf('EndBlueSessions'), states.indexOf('RetainBlue'))).toEqual([
      'EndBlueSessions',
      'IsBlueReachable',
      'WaitForClientTtl',
      'CloseBlue',
      'IsFailbackOffered',
    ]);
  });
});
