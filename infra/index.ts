/**
 * The package's entry point (`import { AuroraBlueGreenDeployment } from 'aurora-bluegreen'`):
 * what a CDK app needs to add the blue/green workflow to its own stack (docs/construct.md).
 */
export {
  AuroraBlueGreenDeployment,
  DEFAULT_STATE_MACHINE_NAME,
  scheduleExpressionProblem,
  type AuroraBlueGreenDeploymentProps,
  type DatabaseEgressOptions,
  type DeploymentSchedule,
  type ExecutionDefaults,
} from './aurora-blue-green-deployment';
export { ApprovalEndpoint, type ApprovalEndpointProps, type ApproverIdentity } from './approval-endpoint';
export {
  ApprovalWebAcl,
  ApprovalWebAclStack,
  type ApprovalWafOptions,
  type ApprovalWebAclRules,
  type ApprovalWebAclStackProps,
} from './approval-waf';
export { DeploymentDashboard, type DeploymentDashboardProps } from './dashboard';
