import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { BLUE_CLUSTER_DIMENSION, METRICS_NAMESPACE, PHASES, phaseMetricName } from '../lambdas/domain/metrics';

export interface DeploymentDashboardProps {
  readonly stateMachine: sfn.IStateMachine;
  /** The dashboard's name. */
  readonly dashboardName: string;
}

/**
 * One CloudWatch dashboard for the deployments: executions by outcome (Step Functions' own
 * metrics), and per blue cluster the time writes were blocked, the downtime and each phase's
 * duration (the run metrics published by Report and ReportFailure, docs/observability.md).
 */
export class DeploymentDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: DeploymentDashboardProps) {
    super(scope, id);
    const period = Duration.hours(1);
    const sm = props.stateMachine;
    // A SEARCH finds every blue cluster that has reported, with no list kept at deploy time.
    const perCluster = (metricName: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${BLUE_CLUSTER_DIMENSION},service} MetricName="${metricName}"', 'Maximum', ${period.toSeconds()})`,
        label,
        period,
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(7),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Executions',
            width: 12,
            left: [
              sm.metricStarted({ period, label: 'started' }),
              sm.metricSucceeded({ period, label: 'succeeded' }),
              sm.metricFailed({ period, label: 'failed' }),
              sm.metricAborted({ period, label: 'aborted' }),
              sm.metricTimedOut({ period, label: 'timed out' }),
            ],
            stacked: true,
          }),
          new cloudwatch.GraphWidget({
            title: 'Writes blocked and downtime (seconds, per blue cluster)',
            width: 12,
            left: [perCluster('WritesBlockedSeconds', 'writes blocked'), perCluster('DowntimeSeconds', 'downtime')],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Phase durations (seconds, per blue cluster)',
            width: 24,
            left: PHASES.map((phase) => perCluster(phaseMetricName(phase), phase)),
          }),
        ],
      ],
    });
  }
}
