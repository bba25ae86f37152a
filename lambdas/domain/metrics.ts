/**
 * The run metrics: published by the Report and ReportFailure Lambdas (embedded metric format),
 * shown by the construct's dashboard. One list, so the two cannot disagree on a name.
 */
export const METRICS_NAMESPACE = 'AuroraBlueGreen';
/** The dimension every run metric carries besides Powertools' `service`. */
export const BLUE_CLUSTER_DIMENSION = 'BlueCluster';
export const PHASES = ['clone', 'migrations', 'upgrade', 'replicas', 'approval', 'cutover'] as const;
export type Phase = (typeof PHASES)[number];
export const phaseMetricName = (phase: Phase): string => `PhaseSeconds_${phase}`;
/** Published every minute by the writes-blocked watch: the longest block of a running execution now. */
export const WRITES_BLOCKED_NOW_METRIC = 'WritesBlockedNowSeconds';
