import { WritesAfterFence } from '../../lambdas/domain/errors';
import type { StepFunction } from '../../lambdas/steps/index';
import { ADMIN_SG, APP_SGS } from '../support/fake-cloud';
import { BASE_INPUT, run, statesEntered } from './harness';

/**
 * The two outcomes of a write detected on blue after the fence, through the real synthesized
 * definition: before OpenGreen it rolls back; before DeleteBlue blue is kept and the alert says
 * what changed.
 */

const CHANGE = 'database app, public.orders: 3 row(s) inserted';
const detected =
  (message: string): StepFunction =>
  async () => {
    throw new WritesAfterFence(message);
  };

describe('writes after the fence (workflow, real definition)', () => {
  it('before OpenGreen: rolls back with WritesAfterFence naming the tables; green is never opened', async () => {
    const r = await run(BASE_INPUT, {
      stepOverrides: { 'check-fence-held': detected(`User data changed on blue after the fence: ${CHANGE}`) },
    });

    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('WritesAfterFence');
    expect(r.outcome.error?.cause).toContain(CHANGE);
    const states = statesEntered(r.outcome);
    expect(states).toContain('CheckFenceHeld');
    expect(states).not.toContain('OpenGreen');
    expect(states).toContain('Rollback');
    expect(r.dbCalls).toContain('unfence');
    expect(
      r.cloud.clusters
        .get('app-blue')
        ?.securityGroups.map((g) => g.id)
        .sort(),
    ).toEqual([ADMIN_SG, ...APP_SGS].sort());
    expect(r.cloud.locks.size).toBe(0);
    expect(r.cloud.notifications.at(-1)?.message).toContain(CHANGE);
  });

  it('before DeleteBlue: keeps blue, sends the alert with what changed, never deletes', async () => {
    const r = await run(BASE_INPUT, {
      stepOverrides: { 'recheck-fence-held': detected(`blue was kept (not deleted): ${CHANGE}`) },
    });

    expect(r.outcome.status).toBe('FAILED');
    expect(r.outcome.error?.name).toBe('WritesAfterFence');
    const states = statesEntered(r.outcome);
    expect(states).toContain('SwapCname');
    expect(states).toContain('RecheckFenceHeld');
    expect(states).not.toContain('DeleteBlue');
    expect(r.cloud.clusters.has('app-blue')).toBe(true);
    expect(r.cloud.calls.filter((c) => c.op === 'deleteCluster' || c.op === 'deleteInstance')).toEqual([]);
    const alert = r.cloud.notifications.at(-1);
    expect(alert?.message).toContain(CHANGE);
    expect(alert?.message).toContain('blue was kept');
  });
});
