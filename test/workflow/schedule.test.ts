import { BASE_INPUT, run, statesEntered } from './harness';

/**
 * A recurring schedule passes the same input every time, while blue's id changes at every
 * cutover. Without `blueClusterId`, blue is the cluster the CNAME points at.
 */

// A recurring schedule applies migrations (an upgrade is a one-time job: a second run to the
// same version is refused by Preflight, as it should be).
const { blueClusterId: _named, targetEngineVersion: _upgrade, ...SCHEDULED_INPUT } = BASE_INPUT;

describe('a recurring schedule: the same input, deployment after deployment', () => {
  it('deploys twice in a row, each time from the cluster the CNAME points at, with ids that do not grow', async () => {
    const first = await run(SCHEDULED_INPUT);
    expect(first.outcome.status).toBe('SUCCEEDED');
    const firstGreen = first.outcome.output?.['input'] as { blueClusterId: string; greenClusterId: string };
    expect(firstGreen.blueClusterId).toBe('app-blue');
    expect(firstGreen.greenClusterId).toMatch(/^app-blue-g\d{12}$/);
    expect(first.cloud.record.values).toEqual([`${firstGreen.greenClusterId}.cluster-abc.eu-west-1.rds.amazonaws.com`]);

    await new Promise((resolve) => setTimeout(resolve, 1100)); // a derived id has a one-second resolution
    const second = await run(SCHEDULED_INPUT, { cloud: first.cloud });
    expect(second.outcome.error).toBeUndefined();
    expect(second.outcome.status).toBe('SUCCEEDED');
    const secondInput = second.outcome.output?.['input'] as { blueClusterId: string; greenClusterId: string };
    expect(secondInput.blueClusterId).toBe(firstGreen.greenClusterId);
    expect(secondInput.greenClusterId).toMatch(/^app-blue-g\d{12}$/);
    expect(secondInput.greenClusterId).not.toBe(firstGreen.greenClusterId);
    expect(second.cloud.clusters.has(firstGreen.greenClusterId)).toBe(false); // the first green was the second blue
    expect(second.cloud.record.values).toEqual([
      `${secondInput.greenClusterId}.cluster-abc.eu-west-1.rds.amazonaws.com`,
    ]);
  });

  it('refuses, before touching anything, when the CNAME does not point at a cluster of the prefix', async () => {
    const result = await run(SCHEDULED_INPUT, {
      prepare: (cloud) => {
        cloud.record.values = ['elsewhere-db.cluster-abc.eu-west-1.rds.amazonaws.com'];
      },
    });
    expect(result.outcome.status).toBe('FAILED');
    expect(result.outcome.error?.name).toBe('PreconditionFailed');
    expect(result.outcome.error?.cause).toContain(
      'blueClusterId: not given, so blue is the cluster that db.test.internal points at, but it points at elsewhere-db.cluster-abc.eu-west-1.rds.amazonaws.com',
    );
    expect(statesEntered(result.outcome)).not.toContain('AcquireLock');
    expect(result.cloud.calls).toEqual([]);
  });

  it('refuses when the CNAME names a cluster id whose endpoint is another', async () => {
    const result = await run(SCHEDULED_INPUT, {
      prepare: (cloud) => {
        cloud.record.values = ['app-blue.cluster-zzz.eu-west-1.rds.amazonaws.com'];
      },
    });
    expect(result.outcome.error?.cause).toContain(
      'no cluster app-blue has the endpoint app-blue.cluster-zzz.eu-west-1.rds.amazonaws.com (its endpoint is app-blue.cluster-abc.eu-west-1.rds.amazonaws.com)',
    );
  });
});
