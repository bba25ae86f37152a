import { PreconditionFailed } from '../../../../lambdas/domain/errors';
import { acquireLock, releaseLock } from '../../../../lambdas/steps/lock';
import { FakeCloud } from '../../../support/fake-cloud';
import { BLUE, EXECUTION, failureOf, stepDocument } from '../../../support/step-fixtures';

const OTHER = 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:other-run';
const NOW = new Date('2026-12-05T02:00:05.000Z');

let cloud: FakeCloud;

beforeEach(() => {
  cloud = new FakeCloud();
  jest.spyOn(cloud.clock, 'now').mockReturnValue(NOW);
});

describe('AcquireLock', () => {
  it("takes the lock on blue's id for this execution, expiring after approval + retention + 2 days", async () => {
    const doc = stepDocument({ approval: { timeoutSeconds: 3600 }, blueRetentionSeconds: 600 });
    await expect(acquireLock(doc, cloud.ports())).resolves.toEqual({
      key: BLUE,
      owner: EXECUTION.id,
      acquiredAt: NOW.toISOString(),
    });
    const expected = new Date(NOW.getTime() + (3600 + 600 + 2 * 86_400) * 1000).toISOString();
    expect(cloud.locks.get(BLUE)).toEqual({ owner: EXECUTION.id, expiresAt: expected });
  });

  it('says the run has started, what green will be, and that writes will be blocked', async () => {
    await acquireLock(stepDocument({ targetEngineVersion: '16.6' }), cloud.ports());
    expect(cloud.notifications).toHaveLength(1);
    expect(cloud.notifications[0]?.subject).toBe(`Deployment of ${BLUE} started`);
    expect(cloud.notifications[0]?.message).toContain('upgraded to 16.6');
    expect(cloud.notifications[0]?.message).toContain(
      `Writes to ${BLUE} will be blocked from the fence until the cutover`,
    );
  });

  it('announces nothing when another run holds the lock', async () => {
    cloud.locks.set(BLUE, { owner: OTHER, expiresAt: '2099-01-01T00:00:00.000Z' });
    await failureOf(acquireLock(stepDocument(), cloud.ports()));
    expect(cloud.notifications).toEqual([]);
  });

  it('re-acquires its own lock (a retried task)', async () => {
    const doc = stepDocument();
    await acquireLock(doc, cloud.ports());
    await expect(acquireLock(doc, cloud.ports())).resolves.toMatchObject({ key: BLUE, owner: EXECUTION.id });
    expect(cloud.locks.get(BLUE)?.owner).toBe(EXECUTION.id);
    expect(cloud.locks.size).toBe(1);
  });

  it('refuses a lock held by another execution, naming the holder, and leaves it alone', async () => {
    cloud.locks.set(BLUE, { owner: OTHER, expiresAt: '2026-12-09T00:00:00.000Z' });
    const error = await failureOf(acquireLock(stepDocument(), cloud.ports()));
    expect(error).toBeInstanceOf(PreconditionFailed);
    expect(error.message).toBe(
      `Another deployment is already running on blue cluster ${BLUE} (execution ${OTHER}); one at a time.`,
    );
    expect(cloud.locks.get(BLUE)).toEqual({ owner: OTHER, expiresAt: '2026-12-09T00:00:00.000Z' });
    expect(cloud.calls).toEqual([]);
  });
});

describe('ReleaseLock', () => {
  it('releases its own lock', async () => {
    const doc = stepDocument();
    await acquireLock(doc, cloud.ports());
    await expect(releaseLock(doc, cloud.ports())).resolves.toEqual({ released: true });
    expect(cloud.locks.has(BLUE)).toBe(false);
  });

  it("is a no-op on a lock held by someone else (a run that never got the lock must not free another's)", async () => {
    cloud.locks.set(BLUE, { owner: OTHER, expiresAt: '2026-12-09T00:00:00.000Z' });
    await expect(releaseLock(stepDocument(), cloud.ports())).resolves.toEqual({ released: true });
    expect(cloud.locks.get(BLUE)?.owner).toBe(OTHER);
  });

  it('is a no-op when there is no lock (released twice)', async () => {
    const doc = stepDocument();
    await acquireLock(doc, cloud.ports());
    await releaseLock(doc, cloud.ports());
    await expect(releaseLock(doc, cloud.ports())).resolves.toEqual({ released: true });
    expect(cloud.locks.size).toBe(0);
  });
});
