import type { ExecutionDocument } from '../../../../lambdas/domain/document';
import { EXECUTION_TAG } from '../../../../lambdas/domain/document';
import { blockWrites, checkWritesBlocked } from '../../../../lambdas/steps/block-writes';
import { lowerCnameTtl } from '../../../../lambdas/steps/cname-ttl';
import { checkClone, createClone } from '../../../../lambdas/steps/create-clone';
import { checkGreenWriter, createGreenWriter } from '../../../../lambdas/steps/green-writer';
import { checkRollback, rollback } from '../../../../lambdas/steps/rollback';
import { ADMIN_SG, APP_SGS, FakeCloud, RECORD, ZONE } from '../../../support/fake-cloud';
import type { RawOverrides } from '../../../support/step-fixtures';
import { BLUE, GREEN, cloudWithBlue, pollUntilDone, preflighted, stepHelpers } from '../../../support/step-fixtures';

const ORIGINAL = [ADMIN_SG, ...APP_SGS];

let cloud: FakeCloud;

beforeEach(() => {
  cloud = cloudWithBlue();
});
const { cluster } = stepHelpers(() => cloud);

function blueGroups(): string[] {
  return cluster(BLUE).securityGroups.map((g) => `${g.id}:${g.status}`);
}

/** A run that failed after green's writer was up: TTL lowered, blue blocked, green cloned with a writer. */
async function failedAfterClone(raw: RawOverrides = {}): Promise<ExecutionDocument> {
  const doc = await preflighted(cloud, raw);
  doc.ttl = await lowerCnameTtl(doc, cloud.ports());
  doc.block = await blockWrites(doc, cloud.ports());
  await pollUntilDone(doc, 'block', (d) => checkWritesBlocked(d, cloud.ports()));
  doc.green = await createClone(doc, cloud.ports());
  await pollUntilDone(doc, 'clone', (d) => checkClone(d, cloud.ports()));
  doc.writer = await createGreenWriter(doc, cloud.ports());
  await pollUntilDone(doc, 'writer', (d) => checkGreenWriter(d, cloud.ports()));
  doc.error = { Error: 'SmokeTestFailed', Cause: 'orders count is zero' };
  cloud.calls.length = 0;
  return doc;
}

async function rollBack(doc: ExecutionDocument) {
  doc.rollback = await rollback(doc, cloud.ports());
  return pollUntilDone(doc, 'rollback', (d) => checkRollback(d, cloud.ports()));
}

describe('CheckRollback within one check window', () => {
  it('finishes the rollback in one check: blue restored, green deleted writer first', async () => {
    cloud = new FakeCloud(3);
    cloud.addBlue(BLUE, '16.4');
    const doc = await failedAfterClone({ checkWindowSeconds: 20, checkEveryMs: 500 });
    doc.rollback = await rollback(doc, cloud.ports());
    await expect(checkRollback(doc, cloud.ports())).resolves.toMatchObject({ done: true, polls: 1 });
    expect(blueGroups().sort()).toEqual(ORIGINAL.map((g) => `${g}:active`).sort());
    expect(cloud.clusters.has(GREEN)).toBe(false);
    expect(cloud.mutations().filter((op) => op.startsWith('delete'))).toEqual(['deleteInstance', 'deleteCluster']);
  });

  it('with a window of 0 looks once and is not done yet', async () => {
    cloud = new FakeCloud(3);
    cloud.addBlue(BLUE, '16.4');
    const doc = await failedAfterClone({ checkWindowSeconds: 0 });
    doc.rollback = await rollback(doc, cloud.ports());
    await expect(checkRollback(doc, cloud.ports())).resolves.toMatchObject({ done: false, polls: 1 });
  });
});

describe('Rollback', () => {
  it('gives blue exactly its original groups back, restores the TTL and deletes green (writer first)', async () => {
    const doc = await failedAfterClone();
    const result = await rollback(doc, cloud.ports());
    expect(result).toEqual({ blueRestored: true, blueUnfenced: [], greenDeleting: true, keptGreen: false });
    expect(cloud.calls.filter((c) => c.op !== 'deleteInstance')).toEqual([
      {
        op: 'upsertCname',
        args: {
          zone: ZONE,
          name: RECORD,
          target: cluster(BLUE).endpoint,
          ttl: 300,
          comment: 'bluegreen unit-1: rollback, TTL restored',
        },
      },
      { op: 'setSecurityGroups', args: { id: BLUE, groups: ORIGINAL } },
    ]);
    doc.rollback = result;
    await pollUntilDone(doc, 'rollback', (d) => checkRollback(d, cloud.ports()));
    expect(blueGroups()).toEqual(ORIGINAL.map((g) => `${g}:active`));
    expect(cloud.clusters.has(GREEN)).toBe(false);
    expect(cloud.record).toMatchObject({ ttl: 300, values: [cluster(BLUE).endpoint] });
    const deletions = cloud.mutations().filter((op) => op.startsWith('delete'));
    expect(deletions).toEqual(['deleteInstance', 'deleteCluster']);
  });

  it('is idempotent: a re-run does not set the groups or the TTL again', async () => {
    const doc = await failedAfterClone();
    await rollback(doc, cloud.ports());
    await rollback(doc, cloud.ports());
    expect(cloud.mutations().filter((op) => op === 'setSecurityGroups' || op === 'upsertCname')).toEqual([
      'upsertCname',
      'setSecurityGroups',
    ]);
  });

  it('leaves the TTL alone when LowerCnameTtl did not change it', async () => {
    cloud.record.ttl = 5;
    const doc = await failedAfterClone();
    expect(doc.ttl).toMatchObject({ changed: false });
    await rollBack(doc);
    expect(cloud.mutations()).not.toContain('upsertCname');
    expect(cloud.record.ttl).toBe(5);
  });

  it('restores the groups when the failure came while the write block was still being applied', async () => {
    const doc = await preflighted(cloud);
    doc.block = await blockWrites(doc, cloud.ports());
    // CheckWritesBlocked gave up (PollTimeout) while RDS still shows the application groups as "removing".
    expect(blueGroups()).toEqual([`${ADMIN_SG}:active`, `${APP_SGS[0]}:removing`, `${APP_SGS[1]}:removing`]);
    doc.error = { Error: 'PollTimeout', Cause: "Gave up waiting for blue's security-group change" };
    await rollBack(doc);
    expect(blueGroups()).toEqual(ORIGINAL.map((g) => `${g}:active`));
  });

  it('never deletes a cluster at green id that does not carry our execution tag', async () => {
    const doc = await preflighted(cloud);
    doc.block = await blockWrites(doc, cloud.ports());
    await pollUntilDone(doc, 'block', (d) => checkWritesBlocked(d, cloud.ports()));
    cloud.clusters.set(GREEN, {
      ...structuredClone(cluster(BLUE)),
      id: GREEN,
      members: [],
      tags: { [EXECUTION_TAG]: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:someone-else' },
    });
    doc.error = { Error: 'PreconditionFailed', Cause: 'Cluster already exists' };
    const result = await rollback(doc, cloud.ports());
    expect(result.greenDeleting).toBe(false);
    doc.rollback = result;
    await pollUntilDone(doc, 'rollback', (d) => checkRollback(d, cloud.ports()));
    expect(cloud.mutations().filter((op) => op.startsWith('delete'))).toEqual([]);
    expect(cloud.clusters.get(GREEN)?.status).toBe('available');
  });

  it('keeps green with keepGreenOnFailure, and still restores blue', async () => {
    const doc = await failedAfterClone({ keepGreenOnFailure: true });
    const result = await rollback(doc, cloud.ports());
    expect(result).toMatchObject({ blueRestored: true, greenDeleting: false, keptGreen: true });
    doc.rollback = result;
    const states = await pollUntilDone(doc, 'rollback', (d) => checkRollback(d, cloud.ports()));
    expect(states.at(-1)?.status).toContain('green kept');
    expect(cloud.mutations().filter((op) => op.startsWith('delete'))).toEqual([]);
    expect(cloud.clusters.has(GREEN)).toBe(true);
    expect(blueGroups()).toEqual(ORIGINAL.map((g) => `${g}:active`));
  });

  it('without $.blue (failed before Preflight finished) touches blue not at all', async () => {
    const doc = await failedAfterClone();
    delete doc.blue;
    const result = await rollback(doc, cloud.ports());
    expect(result.blueRestored).toBe(false);
    expect(cloud.mutations()).not.toContain('setSecurityGroups');
    expect(cloud.mutations()).not.toContain('upsertCname');
  });
});

describe('CheckRollback', () => {
  it("is done only when blue's original groups are all active and green is gone", async () => {
    const doc = await failedAfterClone();
    doc.rollback = await rollback(doc, cloud.ports());
    // Right after Rollback: the application groups are being added and green's writer is deleting.
    expect(blueGroups()).toEqual([`${ADMIN_SG}:active`, `${APP_SGS[0]}:adding`, `${APP_SGS[1]}:adding`]);
    const states = await pollUntilDone(doc, 'rollback', (d) => checkRollback(d, cloud.ports()));
    const first = states[0];
    expect(first?.done).toBe(false);
    expect(first?.status).toContain('adding');
    // Never done while green still exists.
    for (const state of states.slice(0, -1)) expect(state.done).toBe(false);
    const blueBack = `blue ${ORIGINAL.map((g) => `${g}:active`).join(',')}`;
    expect(states.some((s) => !s.done && s.status.startsWith(`${blueBack}; green deleting`))).toBe(true);
    expect(states.at(-1)).toMatchObject({ done: true });
    expect(states.at(-1)?.status).toMatch(/green gone$/);
    expect(cloud.clusters.has(GREEN)).toBe(false);
  });

  it('is not done while blue still has a group in transition, even with green gone', async () => {
    const doc = await preflighted(cloud);
    doc.rollback = { blueRestored: true, blueUnfenced: [], greenDeleting: false, keptGreen: false };
    cluster(BLUE).securityGroups = ORIGINAL.map((id, i) => ({ id, status: i === 2 ? 'adding' : 'active' }));
    await expect(checkRollback(doc, cloud.ports())).resolves.toMatchObject({ done: false });
    cluster(BLUE).securityGroups = ORIGINAL.map((id) => ({ id, status: 'active' }));
    // One look that sees blue restored is not enough (it could be a stale read): the next confirms.
    const first = await checkRollback(doc, cloud.ports());
    expect(first).toMatchObject({ done: false, blueRestoredSince: expect.any(String) });
    doc.wait = { rollback: first };
    await expect(checkRollback(doc, cloud.ports())).resolves.toMatchObject({ done: true });
  });

  it('forgets a restored blue that a later look sees blocked again', async () => {
    const doc = await preflighted(cloud);
    doc.rollback = { blueRestored: true, blueUnfenced: [], greenDeleting: false, keptGreen: false };
    doc.wait = { rollback: await checkRollback(doc, cloud.ports()) };
    expect(doc.wait['rollback']).toMatchObject({ done: false, blueRestoredSince: expect.any(String) });
    cluster(BLUE).securityGroups = ORIGINAL.map((id, i) => ({ id, status: i === 2 ? 'removing' : 'active' }));
    const again = await checkRollback(doc, cloud.ports());
    expect(again.done).toBe(false);
    expect(again).not.toHaveProperty('blueRestoredSince');
  });

  it.each([{ writeBlock: 'read-only' as const }, { dryRun: true }])(
    "does not wait on blue's groups when the run never detached them (%o)",
    async (raw) => {
      const doc = await preflighted(cloud, raw);
      // Something else is changing blue's groups: not this run's business.
      cluster(BLUE).securityGroups = ORIGINAL.map((id, i) => ({ id, status: i === 2 ? 'adding' : 'active' }));
      const result = await rollback(doc, cloud.ports());
      expect(cloud.mutations()).not.toContain('setSecurityGroups');
      doc.rollback = result;
      await expect(checkRollback(doc, cloud.ports())).resolves.toMatchObject({
        done: true,
        status: 'blue untouched; green gone',
      });
    },
  );

  it("puts blue's groups back itself when the write block landed after Rollback looked", async () => {
    const doc = await failedAfterClone();
    await rollBack(doc);
    // The detach, seen by Rollback as not yet applied, lands now: blue is blocked again.
    cluster(BLUE).securityGroups = [{ id: ADMIN_SG, status: 'active' }];
    cloud.calls.length = 0;
    // One sighting could be a stale read: nothing is re-sent until a later check sees it too.
    const first = await checkRollback(doc, cloud.ports());
    expect(first).toMatchObject({ done: false, blueBlockedSince: expect.any(String) });
    expect(cloud.mutations()).toEqual([]);
    doc.wait = { rollback: first };
    const states = await pollUntilDone(doc, 'rollback', (d) => checkRollback(d, cloud.ports()));
    expect(states[0]).toMatchObject({ done: false });
    expect(cloud.calls.filter((c) => c.op === 'setSecurityGroups')).toEqual([
      { op: 'setSecurityGroups', args: { id: BLUE, groups: ORIGINAL } },
    ]);
    expect(blueGroups().sort()).toEqual(ORIGINAL.map((g) => `${g}:active`).sort());
  });

  it('never re-sends the groups while blue is still modifying, however often it looks', async () => {
    const doc = await preflighted(cloud);
    doc.rollback = { blueRestored: true, blueUnfenced: [], greenDeleting: false, keptGreen: false };
    cluster(BLUE).securityGroups = [{ id: ADMIN_SG, status: 'active' }];
    cluster(BLUE).status = 'modifying';
    for (let i = 0; i < 3; i++) doc.wait = { rollback: await checkRollback(doc, cloud.ports()) };
    expect(cloud.mutations()).toEqual([]);
    cluster(BLUE).status = 'available';
    cluster(BLUE).pendingModifications = true;
    for (let i = 0; i < 3; i++) doc.wait = { rollback: await checkRollback(doc, cloud.ports()) };
    expect(cloud.mutations()).toEqual([]);
  });

  it('is not done while blue lacks one of its original groups', async () => {
    const doc = await preflighted(cloud);
    cluster(BLUE).securityGroups = ORIGINAL.slice(0, 2).map((id) => ({ id, status: 'active' }));
    await expect(checkRollback(doc, cloud.ports())).resolves.toMatchObject({ done: false });
  });
});
