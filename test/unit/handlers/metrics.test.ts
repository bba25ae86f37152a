import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE } from '../../../lambdas/domain/metrics';
import { publishRunFigures, publishWritesBlocked } from '../../../lambdas/handlers/metrics';

/** The EMF document Powertools would print: what CloudWatch turns into metrics. */
function published(run: (metrics: Metrics) => void) {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'aurora-bluegreen' });
  let emf: ReturnType<Metrics['serializeMetrics']> | undefined;
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
    emf = metrics.serializeMetrics();
    return metrics;
  });
  run(metrics);
  if (!emf) throw new Error('nothing was published');
  return emf as unknown as Record<string, unknown> & {
    _aws: {
      CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
    };
  };
}

describe('run metrics in the embedded metric format', () => {
  it('publishes outcome, writes blocked, downtime and each phase under the blue cluster', () => {
    const emf = published((metrics) =>
      publishRunFigures(
        {
          outcome: 'succeeded',
          dryRun: false,
          phaseSeconds: { clone: 8, upgrade: 6 },
          writesBlockedSeconds: 45,
          downtimeSeconds: 44,
        },
        'orders-prod',
        metrics,
      ),
    );
    const [directive] = emf._aws.CloudWatchMetrics;
    expect(directive?.Namespace).toBe('AuroraBlueGreen');
    expect(directive?.Dimensions[0]).toEqual(expect.arrayContaining(['service', 'BlueCluster']));
    expect(directive?.Metrics.map((m) => m.Name).sort()).toEqual(
      ['DowntimeSeconds', 'PhaseSeconds_clone', 'PhaseSeconds_upgrade', 'RunsSucceeded', 'WritesBlockedSeconds'].sort(),
    );
    expect(emf).toMatchObject({
      BlueCluster: 'orders-prod',
      RunsSucceeded: 1,
      WritesBlockedSeconds: 45,
      DowntimeSeconds: 44,
      PhaseSeconds_clone: 8,
    });
  });

  it('a failed run counts as failed and leaves out what it did not measure', () => {
    const emf = published((metrics) =>
      publishRunFigures({ outcome: 'failed', dryRun: false, phaseSeconds: {} }, 'orders-prod', metrics),
    );
    expect(emf).toMatchObject({ RunsFailed: 1 });
    expect(emf).not.toHaveProperty('RunsSucceeded');
    expect(emf).not.toHaveProperty('DowntimeSeconds');
  });
});

describe('the writes-blocked watch metric', () => {
  it('publishes the longest block of the running executions, under the service only', () => {
    const emf = published((metrics) =>
      publishWritesBlocked(
        [
          { executionArn: 'a', blueClusterId: 'orders-prod', blockedSince: 'x', seconds: 120 },
          { executionArn: 'b', blueClusterId: 'billing-prod', blockedSince: 'y', seconds: 2400 },
        ],
        metrics,
      ),
    );
    const [directive] = emf._aws.CloudWatchMetrics;
    expect(directive?.Dimensions[0]).toEqual(['service']);
    expect(directive?.Metrics).toEqual([{ Name: 'WritesBlockedNowSeconds', Unit: 'Seconds' }]);
    expect(emf['WritesBlockedNowSeconds']).toBe(2400);
  });

  it('publishes 0 when nothing is blocked, so the alarm goes back to OK', () => {
    const emf = published((metrics) => publishWritesBlocked([], metrics));
    expect(emf['WritesBlockedNowSeconds']).toBe(0);
  });
});
