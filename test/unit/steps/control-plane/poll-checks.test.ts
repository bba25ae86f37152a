import type { ExecutionDocument } from '../../../../lambdas/domain/document';
import {
  PollTimeout,
  PreconditionFailed,
  ResourceFailed,
  RetryableAwsError,
  UpgradeFailed,
} from '../../../../lambdas/domain/errors';
import { addReplicas, checkReplicas } from '../../../../lambdas/steps/add-replicas';
import { checkWritesBlocked } from '../../../../lambdas/steps/block-writes';
import { checkRestorable } from '../../../../lambdas/steps/check-restorable';
import { checkCnameTtl, lowerCnameTtl } from '../../../../lambdas/steps/cname-ttl';
import { TASK_LIST } from '../../../../lambdas/steps/catalog';
import { poll, settle } from '../../../../lambdas/steps/common';
import { CHECK_WINDOW_MAX_SECONDS } from '../../../../lambdas/domain/input';
import { checkClone, createClone } from '../../../../lambdas/steps/create-clone';
import { checkCname, swapCname } from '../../../../lambdas/steps/cutover';
import { checkGreenWriter } from '../../../../lambdas/steps/green-writer';
import { checkUpgrade, upgradeEngine } from '../../../../lambdas/steps/upgrade-engine';
import type { Clock, Cluster } from '../../../../lambdas/ports';
import { FakeCloud } from '../../../support/fake-cloud';
import {
  BLUE,
  GREEN,
  cloudWithBlue,
  failureOf,
  pollUntilDone,
  preflighted,
  stepDocument,
  stepHelpers,
} from '../../../support/step-fixtures';

const WRITER = `${GREEN}-w01`;
const fixedClock: Clock = { now: () => new Date('2026-12-05T02:10:00.000Z'), sleep: async () => undefined };

let cloud: FakeCloud;

beforeEach(() => {
  cloud = cloudWithBlue();
});
const { cluster, instance, withGreenWriter } = stepHelpers(() => cloud);

describe('poll', () => {
  const doc = (polls?: number): ExecutionDocument => {
    const d = stepDocument({ maxPolls: 3, pollIntervalSeconds: 30 });
    if (polls !== undefined) d.wait = { clone: { done: false, polls, status: 'creating', checkedAt: 'x' } };
    return d;
  };

  it('counts the polls in the check result', () => {
    expect(poll(doc(), 'clone', fixedClock, { done: false, status: 'creating' }, 'the clone')).toEqual({
      done: false,
      polls: 1,
      status: 'creating',
      checkedAt: '2026-12-05T02:10:00.000Z',
    });
    expect(poll(doc(1), 'clone', fixedClock, { done: false, status: 'creating' }, 'the clone').polls).toBe(2);
  });

  it('throws PollTimeout at maxPolls, naming what it waited for and the last status', () => {
    const error = (() => {
      try {
        poll(doc(2), 'clone', fixedClock, { done: false, status: 'creating' }, 'the clone');
      } catch (e) {
        return e as Error;
      }
      throw new Error('poll did not throw');
    })();
    expect(error).toBeInstanceOf(PollTimeout);
    expect(error.name).toBe('PollTimeout');
    expect(error.message).toBe('Gave up waiting for the clone after 3 polls every 30 s (last status: creating).');
  });

  it('says how long each check looked, when checks have a window', () => {
    const d = doc(2);
    d.input.checkWindowSeconds = 20;
    expect(() => poll(d, 'clone', fixedClock, { done: false, status: 'creating' }, 'the clone')).toThrow(
      'Gave up waiting for the clone after 3 polls every 30 s, each looking for 20 s (last status: creating).',
    );
  });

  it('accepts a done result on the last poll', () => {
    expect(poll(doc(2), 'clone', fixedClock, { done: true, status: 'available' }, 'the clone')).toMatchObject({
      done: true,
      polls: 3,
    });
  });

  it('ends a loop that never settles with PollTimeout after exactly maxPolls checks', async () => {
    cloud.stuck.add('clone');
    const doc = await preflighted(cloud, { maxPolls: 4 });
    doc.green = await createClone(doc, cloud.ports());
    const describe = jest.spyOn(cloud.clustersPort, 'describeCluster');
    const error = await failureOf(pollUntilDone(doc, 'clone', (d) => checkClone(d, cloud.ports())));
    expect(error).toBeInstanceOf(PollTimeout);
    expect(error.message).toContain(`the clone ${GREEN} to become available after 4 polls`);
    expect(describe).toHaveBeenCalledTimes(4);
  });
});

describe('settle: a check keeps looking for its window', () => {
  /** A clock whose time moves only when the step sleeps, recording each sleep. */
  const steppingClock = () => {
    let ms = Date.parse('2026-12-05T02:10:00.000Z');
    const sleeps: number[] = [];
    const clock: Clock = {
      now: () => new Date(ms),
      sleep: async (d) => {
        sleeps.push(d);
        ms += d;
      },
    };
    return { clock, sleeps };
  };

  /** One CheckClone right after CreateClone, with a window of `seconds` and a look every 500 ms. */
  async function checkCloneWithin(seconds: number) {
    const doc = await preflighted(cloud, { checkWindowSeconds: seconds, checkEveryMs: 500 });
    doc.green = await createClone(doc, cloud.ports());
    const { clock, sleeps } = steppingClock();
    const describe = jest.spyOn(cloud.clustersPort, 'describeCluster');
    const state = await checkClone(doc, { ...cloud.ports(), clock });
    return { state, describe, sleeps };
  }

  it('returns as soon as the operation is done, counting one poll however many looks it took', async () => {
    cloud = new FakeCloud(3);
    cloud.addBlue(BLUE, '16.4');
    const { state, describe, sleeps } = await checkCloneWithin(10);
    expect(state).toMatchObject({ done: true, polls: 1, status: 'available' });
    expect(describe.mock.calls.length).toBeGreaterThan(1);
    expect(sleeps).toEqual(Array(describe.mock.calls.length - 1).fill(500));
  });

  it('hands back to the Wait loop, not done, when the window passes', async () => {
    cloud.stuck.add('clone');
    const { state, describe, sleeps } = await checkCloneWithin(2);
    expect(state).toMatchObject({ done: false, polls: 1, status: 'creating' });
    expect(describe).toHaveBeenCalledTimes(5); // at 0, 0.5, 1, 1.5 and 2 s
    expect(sleeps).toEqual([500, 500, 500, 500]);
  });

  it('never sleeps past the end of the window', async () => {
    const { clock, sleeps } = steppingClock();
    const doc = stepDocument({ checkWindowSeconds: 1, checkEveryMs: 700 });
    const seen = await settle(doc, clock, async () => ({ done: false, status: 'creating' }));
    expect(seen).toEqual({ done: false, status: 'creating' });
    expect(sleeps).toEqual([700, 300]);
  });

  it('backs off and looks again after a throttling error while the window lasts', async () => {
    const { clock, sleeps } = steppingClock();
    const doc = stepDocument({ checkWindowSeconds: 20, checkEveryMs: 500 });
    let looks = 0;
    const seen = await settle(doc, clock, async () => {
      looks += 1;
      if (looks <= 2) throw new RetryableAwsError('DescribeDBClusters: ThrottlingException: Rate exceeded');
      return { done: true, status: 'available' };
    });
    expect(seen).toEqual({ done: true, status: 'available' });
    expect(sleeps).toEqual([1000, 2000]);
  });

  it('throws the throttling error when the window ends without a good look', async () => {
    const { clock } = steppingClock();
    const doc = stepDocument({ checkWindowSeconds: 5, checkEveryMs: 500 });
    const look = jest.fn(async (): Promise<{ done: boolean; status: string }> => {
      throw new RetryableAwsError('DescribeDBClusters: ThrottlingException: Rate exceeded');
    });
    await expect(settle(doc, clock, look)).rejects.toBeInstanceOf(RetryableAwsError);
    expect(look.mock.calls.length).toBeGreaterThan(1);
  });

  it('CheckRestorable sees the restorable time pass the fence within one window', async () => {
    const doc = await preflighted(cloud, { checkWindowSeconds: 10, checkEveryMs: 500 });
    // Fenced 3 s from now: blue's backups reach it 3 s later (the fake's clock moves as steps sleep).
    doc.fence = {
      fencedAt: new Date(cloud.clock.now().getTime() + 3000).toISOString(),
      lsn: '0/1',
      databases: ['app'],
      changedDatabases: ['app'],
      terminatedSessions: 0,
    };
    await expect(checkRestorable(doc, cloud.ports())).resolves.toMatchObject({ done: true, polls: 1 });
    doc.input.checkWindowSeconds = 0;
    expect(cloud.notifications.map((n) => n.subject)).toEqual([`Writes to ${doc.input.blueClusterId} are blocked now`]);
    expect(cloud.notifications[0]?.message).toContain(`fenced ${doc.input.blueClusterId} at ${doc.fence.fencedAt}`);
    // Later looks of the same wait say nothing more.
    doc.wait = { restorable: { done: false, polls: 1, status: 'x', checkedAt: doc.fence.fencedAt } };
    doc.fence.fencedAt = new Date(cloud.clock.now().getTime() + 3000).toISOString();
    await expect(checkRestorable(doc, cloud.ports())).resolves.toMatchObject({ done: false, polls: 2 });
    expect(cloud.notifications).toHaveLength(1);
  });

  it("fits the longest window allowed inside every check Lambda's timeout, with 15 s to spare", () => {
    const checks = TASK_LIST.filter((t) => t.state.startsWith('Check'));
    expect(checks.length).toBeGreaterThanOrEqual(12);
    for (const check of checks) expect(check.timeoutSeconds - CHECK_WINDOW_MAX_SECONDS).toBeGreaterThanOrEqual(15);
  });

  it('looks once when the window is 0', async () => {
    const { clock, sleeps } = steppingClock();
    const look = jest.fn(async () => ({ done: false, status: 'creating' }));
    await settle(stepDocument({ checkWindowSeconds: 0 }), clock, look);
    expect(look).toHaveBeenCalledTimes(1);
    expect(sleeps).toEqual([]);
  });

  it('stops at once when the resource fails during the window', async () => {
    cloud.stuck.add('clone');
    const doc = await preflighted(cloud, { checkWindowSeconds: 30, checkEveryMs: 500 });
    doc.green = await createClone(doc, cloud.ports());
    const { clock, sleeps } = steppingClock();
    let looks = 0;
    const describe = cloud.clustersPort.describeCluster.bind(cloud.clustersPort);
    jest.spyOn(cloud.clustersPort, 'describeCluster').mockImplementation(async (id) => {
      if (++looks === 3) cluster(GREEN).status = 'failed';
      return describe(id);
    });
    const error = await failureOf(checkClone(doc, { ...cloud.ports(), clock }));
    expect(error).toBeInstanceOf(ResourceFailed);
    expect(sleeps).toEqual([500, 500]);
  });
});

describe('CheckClone', () => {
  it('is not done while the clone is not visible yet', async () => {
    const doc = await preflighted(cloud);
    await expect(checkClone(doc, cloud.ports())).resolves.toMatchObject({ done: false, status: 'not-visible-yet' });
  });

  it.each(['failed', 'incompatible-parameters', 'inaccessible-encryption-credentials'])(
    'throws ResourceFailed on status %s',
    async (status) => {
      const doc = await preflighted(cloud);
      doc.green = await createClone(doc, cloud.ports());
      cluster(GREEN).status = status;
      const error = await failureOf(checkClone(doc, cloud.ports()));
      expect(error).toBeInstanceOf(ResourceFailed);
      expect(error.name).toBe('ResourceFailed');
      expect(error.message).toBe(`Green cluster ${GREEN} is in status "${status}", which it does not leave by itself.`);
    },
  );
});

describe('CheckGreenWriter and CheckReplicas', () => {
  it('CheckGreenWriter throws ResourceFailed when the writer failed', async () => {
    const doc = await withGreenWriter();
    instance(WRITER).status = 'failed';
    await expect(checkGreenWriter(doc, cloud.ports())).rejects.toBeInstanceOf(ResourceFailed);
  });

  it('CheckReplicas is done only when every reader is available, and fails on a failed one', async () => {
    const doc = await withGreenWriter({ replicaCount: 2 });
    doc.replicas = await addReplicas(doc, cloud.ports());
    const states = await pollUntilDone(doc, 'replicas', (d) => checkReplicas(d, cloud.ports()));
    expect(states[0]).toMatchObject({ done: false, status: 'creating,creating' });
    expect(states.at(-1)).toMatchObject({ done: true, status: 'available,available' });
    instance(`${GREEN}-r02`).status = 'storage-full';
    await expect(checkReplicas(doc, cloud.ports())).rejects.toBeInstanceOf(ResourceFailed);
  });
});

describe('CheckUpgrade', () => {
  async function upgrading(): Promise<ExecutionDocument> {
    const doc = await withGreenWriter({ targetEngineVersion: '16.6' });
    doc.upgrade = await upgradeEngine(doc, cloud.ports());
    return doc;
  }

  it('finishes once the fake upgrade settles', async () => {
    const doc = await upgrading();
    const states = await pollUntilDone(doc, 'upgrade', (d) => checkUpgrade(d, cloud.ports()));
    expect(states[0]?.done).toBe(false);
    expect(states.at(-1)).toMatchObject({ done: true, status: 'available 16.6; writer available' });
  });

  it('is done only when available AND on the target version AND nothing is pending AND the writer is available', async () => {
    const doc = await upgrading();
    cloud.stuck.add('upgrade');
    const green = cluster(GREEN);
    const set = (s: Partial<Cluster>) => Object.assign(green, s);

    set({ status: 'upgrading', engineVersion: '16.6', pendingModifications: false });
    await expect(checkUpgrade(doc, cloud.ports())).resolves.toMatchObject({ done: false });

    // Available on the old version while the new one is still pending: RDS has not started yet.
    set({ status: 'available', engineVersion: '16.4', pendingModifications: true, pendingEngineVersion: '16.6' });
    const notStarted = await checkUpgrade(doc, cloud.ports());
    expect(notStarted).toMatchObject({ done: false });
    expect(notStarted.status).toContain('(pending 16.6)');
    delete green.pendingEngineVersion;

    set({ status: 'available', engineVersion: '16.6', pendingModifications: true });
    const pending = await checkUpgrade(doc, cloud.ports());
    expect(pending).toMatchObject({ done: false });
    expect(pending.status).toContain('(pending)');

    set({ status: 'available', engineVersion: '16.6', pendingModifications: false });
    instance(WRITER).status = 'upgrading';
    await expect(checkUpgrade(doc, cloud.ports())).resolves.toMatchObject({ done: false });

    instance(WRITER).status = 'available';
    await expect(checkUpgrade(doc, cloud.ports())).resolves.toMatchObject({ done: true });
  });

  it('throws UpgradeFailed, with what RDS said, when green is back to available on its old version with no engine version pending', async () => {
    const doc = await upgrading();
    cloud.stuck.add('upgrade');
    Object.assign(cluster(GREEN), { status: 'available', engineVersion: '16.4', pendingModifications: false });
    delete cluster(GREEN).pendingEngineVersion;
    cloud.addEvent(GREEN, 'Database cluster engine version upgrade started.');
    const error = await failureOf(checkUpgrade(doc, cloud.ports()));
    expect(error).toBeInstanceOf(UpgradeFailed);
    expect(error.name).toBe('UpgradeFailed');
    expect(error.message).toContain(`RDS did not upgrade green cluster ${GREEN} to 16.6`);
    expect(error.message).toContain('available on 16.4 with no engine version pending');
    expect(error.message).toContain('Database cluster engine version upgrade started.');
  });

  it("throws UpgradeFailed with RDS's own reason when an event since the request says so, even while green still shows upgrading", async () => {
    const doc = await upgrading();
    cloud.stuck.add('upgrade');
    expect(cluster(GREEN).status).toBe('upgrading');
    cloud.addEvent(GREEN, 'Database cluster is in a state that cannot be upgraded: Upgrade prechecks failed.');
    const error = await failureOf(checkUpgrade(doc, cloud.ports()));
    expect(error).toBeInstanceOf(UpgradeFailed);
    expect(error.message).toContain('cannot be upgraded: Upgrade prechecks failed.');
    expect(error.message).toContain('green is upgrading on 16.4');
  });

  it('ignores events from before the request, and events that are not an upgrade failure', async () => {
    const doc = await upgrading();
    cloud.stuck.add('upgrade');
    const before = new Date(Date.parse(doc.upgrade?.requestedAt ?? '') - 60_000).toISOString();
    cloud.events.set(GREEN, [
      { date: before, message: 'Database cluster engine version upgrade failed.', categories: ['failure'] },
    ]);
    cloud.addEvent(GREEN, 'Database cluster engine version upgrade started.');
    cloud.addEvent(GREEN, 'DB cluster created', ['creation']);
    await expect(checkUpgrade(doc, cloud.ports())).resolves.toMatchObject({ done: false });
  });

  it('reads the events only since the upgrade was requested', async () => {
    const doc = await upgrading();
    cloud.stuck.add('upgrade');
    const since: string[] = [];
    const ports = cloud.ports();
    const clusters = {
      ...ports.clusters,
      clusterEvents: async (id: string, from: string) => {
        since.push(from);
        return ports.clusters.clusterEvents(id, from);
      },
    };
    await checkUpgrade(doc, { ...ports, clusters });
    expect(since).toEqual([doc.upgrade?.requestedAt]);
  });

  it('recognises the failure within one check window, not after maxPolls', async () => {
    const doc = await upgrading();
    doc.input.checkWindowSeconds = 20;
    doc.input.checkEveryMs = 1000;
    cloud.stuck.add('upgrade');
    const started = cloud.clock.now().getTime();
    const looking = checkUpgrade(doc, {
      ...cloud.ports(),
      clock: {
        now: () => cloud.clock.now(),
        sleep: async (ms) => {
          await cloud.clock.sleep(ms);
          // RDS gives up five seconds into the window.
          if (cloud.clock.now().getTime() - started >= 5000 && cluster(GREEN).status === 'upgrading') {
            cloud.addEvent(GREEN, 'Database cluster is in a state that cannot be upgraded: Upgrade prechecks failed.');
          }
        },
      },
    });
    await expect(looking).rejects.toBeInstanceOf(UpgradeFailed);
    expect(cloud.clock.now().getTime() - started).toBeLessThan(20_000);
  });

  it('throws ResourceFailed when green or its writer lands in a terminal status', async () => {
    const doc = await upgrading();
    cluster(GREEN).status = 'incompatible-parameters';
    await expect(checkUpgrade(doc, cloud.ports())).rejects.toThrow(
      `Green cluster ${GREEN} is in status "incompatible-parameters"`,
    );
    cluster(GREEN).status = 'upgrading';
    instance(WRITER).status = 'incompatible-parameters';
    const error = await failureOf(checkUpgrade(doc, cloud.ports()));
    expect(error).toBeInstanceOf(ResourceFailed);
    expect(error.message).toContain(`Green writer instance ${WRITER}`);
  });

  it('throws PreconditionFailed when green is gone', async () => {
    const doc = await upgrading();
    cloud.clusters.delete(GREEN);
    await expect(checkUpgrade(doc, cloud.ports())).rejects.toBeInstanceOf(PreconditionFailed);
  });
});

describe('CheckWritesBlocked, CheckRestorable, CheckCnameTtl, CheckCname', () => {
  it('CheckWritesBlocked throws ResourceFailed when blue is in a terminal status', async () => {
    const doc = await preflighted(cloud);
    cluster(BLUE).status = 'inaccessible-encryption-credentials';
    await expect(checkWritesBlocked(doc, cloud.ports())).rejects.toBeInstanceOf(ResourceFailed);
  });

  it("CheckRestorable is done only once blue's latest restorable time is after the fence", async () => {
    const doc = await preflighted(cloud);
    const now = Date.now();
    doc.fence = {
      fencedAt: new Date(now + 60_000).toISOString(),
      lsn: '0/1',
      databases: [],
      changedDatabases: [],
      terminatedSessions: 0,
    };
    await expect(checkRestorable(doc, cloud.ports())).resolves.toMatchObject({ done: false });
    doc.fence.fencedAt = new Date(now - 60_000).toISOString();
    await expect(checkRestorable(doc, cloud.ports())).resolves.toMatchObject({ done: true });
  });

  it('CheckCnameTtl is done at once without a change, and waits for INSYNC with one', async () => {
    const doc = await preflighted(cloud);
    await expect(checkCnameTtl(doc, cloud.ports())).resolves.toMatchObject({ done: true, status: 'INSYNC' });
    doc.ttl = await lowerCnameTtl(doc, cloud.ports());
    const states = await pollUntilDone(doc, 'ttl', (d) => checkCnameTtl(d, cloud.ports()));
    expect(states.map((s) => s.status)).toEqual(['PENDING', 'INSYNC']);
  });

  it('CheckCname records the downtime from the fence to INSYNC', async () => {
    const doc = await withGreenWriter();
    doc.fence = {
      fencedAt: '2026-12-05T02:09:00.000Z',
      lsn: '0/1',
      databases: [],
      changedDatabases: [],
      terminatedSessions: 0,
    };
    await expect(checkCname(doc, cloud.ports())).rejects.toBeInstanceOf(PreconditionFailed);
    doc.cutover = await swapCname(doc, cloud.ports());
    jest.spyOn(cloud.clock, 'now').mockReturnValue(new Date('2026-12-05T02:10:00.000Z'));
    const states = await pollUntilDone(doc, 'cname', (d) => checkCname(d, cloud.ports()));
    expect(states[0]).toMatchObject({ done: false, status: 'PENDING' });
    expect(states.at(-1)).toMatchObject({
      done: true,
      status: 'INSYNC',
      inSyncAt: '2026-12-05T02:10:00.000Z',
      downtimeMs: 60_000,
    });
  });
});
