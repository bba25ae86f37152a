import { CfnOutput, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import {
  AuroraBlueGreenDeployment,
  executionDefaultsOf,
  type AuroraBlueGreenDeploymentProps,
} from './aurora-blue-green-deployment';
import type { ApprovalWafOptions } from './approval-waf';
import type { BlueGreenConfig } from './config';

export interface BlueGreenStackProps extends StackProps {
  /** The validated configuration (infra/config.ts). */
  readonly config: BlueGreenConfig;
  /** For tests only: see AuroraBlueGreenDeploymentProps.handlersDir. */
  readonly handlersDir?: string;
}

/**
 * The stack reads nothing itself: it turns the validated configuration into references by
 * attribute (no lookups, so synth works offline) and instantiates the construct.
 */
export class BlueGreenStack extends Stack {
  public readonly deployment: AuroraBlueGreenDeployment;

  constructor(scope: Construct, id: string, props: BlueGreenStackProps) {
    const { config } = props;
    super(scope, id, {
      description: 'Aurora PostgreSQL blue/green deployments with fast cloning, a write fence and rollback',
      ...props,
      env: { account: config.account, region: config.region },
    });

    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: config.vpcId,
      availabilityZones: config.availabilityZones,
      privateSubnetIds: config.privateSubnetIds,
    });
    Validations.of(vpc).acknowledge({
      id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
      reason: 'Only the subnet ids are used (to place the database Lambdas); nothing reads their route tables',
    });
    const deploymentProps: AuroraBlueGreenDeploymentProps = {
      vpc,
      adminSecurityGroup: ec2.SecurityGroup.fromSecurityGroupId(
        this,
        'AdminSecurityGroup',
        config.adminSecurityGroupId,
        {
          mutable: false,
        },
      ),
      databaseSecret: secretsmanager.Secret.fromSecretCompleteArn(this, 'DatabaseSecret', config.databaseSecretArn),
      ...(config.databaseSecretKmsKeyArn
        ? { databaseSecretKey: kms.Key.fromKeyArn(this, 'DatabaseSecretKey', config.databaseSecretKmsKeyArn) }
        : {}),
      hostedZone: route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', {
        hostedZoneId: config.hostedZoneId,
        zoneName: config.hostedZoneName,
      }),
      recordName: config.recordName,
      clusterIdPrefix: config.clusterIdPrefix,
      approvalEmails: config.approvalEmails,
      notificationEmails: config.notificationEmails,
      ...(config.approverIdentity ? { approverIdentity: config.approverIdentity } : {}),
      migrationUploaderArns: config.migrationUploaderArns,
      executionDefaults: executionDefaultsOf(config.defaults),
      allowDeletionProtectionOff: config.allowDeletionProtectionOff,
      dbConnectTimeout: Duration.millis(config.dbConnectTimeoutMs),
      stateMachineName: config.stateMachineName,
      ...(config.monitoringRoleArn
        ? { monitoringRole: iam.Role.fromRoleArn(this, 'MonitoringRole', config.monitoringRoleArn, { mutable: false }) }
        : {}),
      clusterRoles: config.clusterRoleArns.map((arn, i) =>
        iam.Role.fromRoleArn(this, `ClusterRole${i}`, arn, { mutable: false }),
      ),
      clusterEncryptionKeys: config.clusterKmsKeyArns.map((arn, i) => kms.Key.fromKeyArn(this, `ClusterKey${i}`, arn)),
      ...(config.schedule
        ? {
            schedule: {
              expression: config.schedule.expression,
              timeZone: config.schedule.timeZone,
              enabled: config.schedule.state === 'ENABLED',
              input: config.schedule.input,
            },
          }
        : {}),
      ...(props.handlersDir ? { handlersDir: props.handlersDir } : {}),
      ...(config.approverSubscriberArns ? { approverSubscriberArns: config.approverSubscriberArns } : {}),
      ...(config.emergencyApproverArns.length
        ? {
            emergencyApprover: new iam.CompositePrincipal(
              ...config.emergencyApproverArns.map((arn) => new iam.ArnPrincipal(arn)),
            ),
          }
        : {}),
      writesBlockedAlarmAfter: Duration.minutes(config.writesBlockedAlarmAfterMinutes),
      ...(config.approvalWaf ? { approvalWaf: approvalWafOf(config.approvalWaf) } : {}),
      ...(config.databaseEgress
        ? {
            databaseEgress: {
              endpointSecurityGroups: config.databaseEgress.endpointSecurityGroupIds.map((id, i) =>
                ec2.SecurityGroup.fromSecurityGroupId(this, `EndpointSecurityGroup${i}`, id, { mutable: false }),
              ),
              endpointPrefixListIds: config.databaseEgress.endpointPrefixListIds,
              databasePort: config.databaseEgress.databasePort,
            },
          }
        : {}),
    };
    this.deployment = new AuroraBlueGreenDeployment(this, 'BlueGreen', deploymentProps);

    new CfnOutput(this, 'StateMachineArn', {
      description: 'Start an execution of this state machine to deploy',
      value: this.deployment.stateMachine.stateMachineArn,
    });
    if (this.deployment.databaseSecurityGroup) {
      new CfnOutput(this, 'DatabaseSecurityGroupId', {
        description: `The database Lambdas' group: allow PostgreSQL in from it on ${config.adminSecurityGroupId}`,
        value: this.deployment.databaseSecurityGroup.securityGroupId,
      });
    }
    if (this.deployment.approvalUrl) {
      new CfnOutput(this, 'ApprovalUrl', {
        description: 'Base URL of the approval pages linked from approval emails',
        value: this.deployment.approvalUrl,
      });
    }
  }
}

/**
 * With a web ACL ARN, the rules in the configuration belong to that web ACL (deployed by
 * `npm run deploy:approval-web-acl`); without one, the construct makes the web ACL with them.
 */
function approvalWafOf(waf: NonNullable<BlueGreenConfig['approvalWaf']>): ApprovalWafOptions {
  if (waf.webAclArn) return { webAclArn: waf.webAclArn };
  return {
    ...(waf.rateLimit !== undefined ? { rateLimit: waf.rateLimit } : {}),
    ...(waf.managedRules !== undefined ? { managedRules: waf.managedRules } : {}),
  };
}
