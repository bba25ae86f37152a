/**
 * A CDK app of its own that adds Aurora PostgreSQL blue/green deployments to its stack with the
 * aurora-bluegreen package. The ids in cdk.json are placeholders: put your account's there.
 */
import { App, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AuroraBlueGreenDeployment } from 'aurora-bluegreen';

const app = new App();
const context = (key: string): string => {
  const value: unknown = app.node.tryGetContext(key);
  if (typeof value !== 'string') throw new Error(`Set "${key}" in the context of cdk.json`);
  return value;
};
const list = (key: string): string[] => {
  const value: unknown = app.node.tryGetContext(key);
  if (!Array.isArray(value)) throw new Error(`Set "${key}" (a list) in the context of cdk.json`);
  return value.map(String);
};

const stack = new Stack(app, 'OrdersDatabaseDeployments', {
  env: { account: context('account'), region: context('region') },
});

// The Aurora clusters exist already: refer to them by id (no lookups, so synth needs no AWS account).
const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
  vpcId: context('vpcId'),
  availabilityZones: list('availabilityZones'),
  privateSubnetIds: list('privateSubnetIds'),
});
const adminSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(stack, 'Admin', context('adminSecurityGroupId'), {
  mutable: false,
});
const databaseSecret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Admin-Secret', context('databaseSecretArn'));
const hostedZone = route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
  hostedZoneId: context('hostedZoneId'),
  zoneName: context('hostedZoneName'),
});

const deployment = new AuroraBlueGreenDeployment(stack, 'OrdersBlueGreen', {
  vpc,
  adminSecurityGroup,
  databaseSecret,
  hostedZone,
  recordName: `orders.${context('hostedZoneName')}`,
  clusterIdPrefix: 'orders-',
  approvalEmails: list('approvers'),
  executionDefaults: {
    pollInterval: Duration.seconds(15),
    blueRetention: Duration.hours(12),
  },
});

new CfnOutput(stack, 'StateMachineArn', { value: deployment.stateMachine.stateMachineArn });
