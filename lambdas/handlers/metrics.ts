import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { BlockedExecution } from '../aws/writes-blocked-sfn';
import {
  BLUE_CLUSTER_DIMENSION,
  METRICS_NAMESPACE,
  WRITES_BLOCKED_NOW_METRIC,
  phaseMetricName,
  type Phase,
} from '../domain/metrics';
import type { RunFigures } from '../steps/run-figures';

/**
 * Publishes a run's figures as CloudWatch metrics in the embedded metric format (one log line,
 * no API call). Dimension: the blue cluster, so one dashboard can show several clusters.
 */
export function publishRunFigures(figures: RunFigures, blueClusterId: string, metrics = newMetrics()): void {
  metrics.addDimension(BLUE_CLUSTER_DIMENSION, blueClusterId);
  metrics.addMetric(figures.outcome === 'succeeded' ? 'RunsSucceeded' : 'RunsFailed', MetricUnit.Count, 1);
  if (figures.writesBlockedSeconds !== undefined) {
    metrics.addMetric('WritesBlockedSeconds', MetricUnit.Seconds, figures.writesBlockedSeconds);
  }
  if (figures.downtimeSeconds !== undefined)
    metrics.addMetric('DowntimeSeconds', MetricUnit.Seconds, figures.downtimeSeconds);
  for (const [phase, value] of Object.entries(figures.phaseSeconds)) {
    metrics.addMetric(phaseMetricName(phase as Phase), MetricUnit.Seconds, value);
  }
  metrics.publishStoredMetrics();
}

/**
 * Publishes `WritesBlockedNowSeconds`: the longest time any running execution has kept blue's
 * writes blocked, 0 when none does. One value a minute, with only the `service` dimension, so one
 * alarm watches every blue cluster; the blocked ones are named in the log line.
 */
export function publishWritesBlocked(blocked: BlockedExecution[], metrics = newMetrics()): void {
  const longest = blocked.reduce((max, b) => Math.max(max, b.seconds), 0);
  metrics.addMetric(WRITES_BLOCKED_NOW_METRIC, MetricUnit.Seconds, longest);
  metrics.publishStoredMetrics();
}

function newMetrics(): Metrics {
  return new Metrics({
    namespace: METRICS_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'aurora-bluegreen',
  });
}
