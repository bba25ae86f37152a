import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, ArnFormat, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { TASK_LIST } from '../../lambdas/steps/catalog';
import { parseConfig, type BlueGreenConfig } from '../../infra/config';
import { type AuroraBlueGreenDeploymentProps, WATCH_HANDLERS } from '../../infra/aurora-blue-green-deployment';
import { BlueGreenStack } from '../../infra/stack';
import { ApprovalEndpoint, type ApprovalEndpointProps } from '../../infra/approval-endpoint';

const CDK_JSON = path.join(__dirname, '..', '..', 'cdk.json');

/** The `context` of cdk.json: the example configuration and the feature flags. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(CDK_JSON, 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

/** A deep copy of the example `bluegreen` configuration of cdk.json. */
export function exampleConfigInput(): Record<string, unknown> {
  return structuredClone(cdkJsonContext()['bluegreen']) as Record<string, unknown>;
}

/** The message parseConfig throws for the example configuration changed by `mutate`. */
export function configProblem<C extends Record<string, unknown>>(mutate: (config: C) => void): string {
  const config = exampleConfigInput() as C;
  mutate(config);
  try {
    parseConfig(config);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

/**
 * A folder with a stub `<step>.ts` for every step of the catalog, outside the repository: the
 * template tests skip bundling, but NodejsFunction still wants each entry file to exist, and the
 * real handlers are written in parallel.
 */
export function stubHandlersDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bluegreen-handlers-'));
  for (const name of [...TASK_LIST.map((spec) => spec.step), ...WATCH_HANDLERS]) {
    fs.writeFileSync(path.join(dir, `${name}.ts`), 'export const handler = async () => ({});\n');
  }
  return dir;
}

export interface Synthesized {
  app: App;
  stack: BlueGreenStack;
  config: BlueGreenConfig;
}

/** The stack as `npx cdk synth` builds it, without bundling (no asset matters to these tests). */
export function synthStack(
  configInput: Record<string, unknown> = exampleConfigInput(),
  handlersDir: string = stubHandlersDir(),
): Synthesized {
  const config = parseConfig(configInput);
  const app = new App({
    context: { ...cdkJsonContext(), bluegreen: configInput, 'aws:cdk:bundling-stacks': [] },
  });
  const stack = new BlueGreenStack(app, 'AuroraBlueGreen', { config, handlersDir });
  return { app, stack, config };
}

/** An empty stack of the example account and region, with bundling skipped. */
export function newStack(): Stack {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
}

/** The construct's required props, for the example account, imported by reference. */
export function requiredProps(stack: Stack, handlersDir: string): AuroraBlueGreenDeploymentProps {
  return {
    vpc: ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a'],
      privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1'],
    }),
    adminSecurityGroup: ec2.SecurityGroup.fromSecurityGroupId(stack, 'Admin', 'sg-0123456789abcdef0', {
      mutable: false,
    }),
    databaseSecret: secretsmanager.Secret.fromSecretCompleteArn(
      stack,
      'Secret',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-AbCdEf',
    ),
    hostedZone: route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
      hostedZoneId: 'Z0123456789EXAMPLE',
      zoneName: 'db.example.internal',
    }),
    recordName: 'orders.db.example.internal',
    clusterIdPrefix: 'orders-',
    handlersDir,
  };
}

/**
 * An ApprovalEndpoint alone in a stack `Approval` of the example account (eu-west-1 unless
 * `region` says), with the SNS topic and the `aurora-bluegreen` state machine ARN it needs.
 */
export function approvalEndpointStack(
  options: { app?: App; region?: string; props?: Partial<ApprovalEndpointProps> } = {},
): { app: App; stack: Stack; endpoint: ApprovalEndpoint } {
  const app = options.app ?? new App();
  const stack = new Stack(app, 'Approval', {
    env: { account: '123456789012', region: options.region ?? 'eu-west-1' },
  });
  const topic = new sns.Topic(stack, 'Topic', { enforceSSL: true });
  const stateMachineArn = stack.formatArn({
    service: 'states',
    resource: 'stateMachine',
    resourceName: 'aurora-bluegreen',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  const endpoint = new ApprovalEndpoint(stack, 'Approval', { topic, stateMachineArn, ...options.props });
  return { app, stack, endpoint };
}
