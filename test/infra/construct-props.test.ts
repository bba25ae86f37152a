import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  AuroraBlueGreenDeployment,
  DEFAULT_EXECUTION_DEFAULTS,
  executionDefaultsOf,
  executionDefaultValues,
  type AuroraBlueGreenDeploymentProps,
} from '../../infra/aurora-blue-green-deployment';
import { exampleConfigInput, newStack, requiredProps, stubHandlersDir, synthStack } from './fixture';

const handlersDir = stubHandlersDir();
const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:dba-alerts';
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0123abcd-0123-abcd-0123-0123456789ab';

function synth(extra: (stack: Stack) => Partial<AuroraBlueGreenDeploymentProps>) {
  const stack = newStack();
  const deployment = new AuroraBlueGreenDeployment(stack, 'BlueGreen', {
    ...requiredProps(stack, handlersDir),
    ...extra(stack),
  });
  return { deployment, template: Template.fromStack(stack) };
}

/** The environment variable `name` of every function that has it. */
function environmentValues(template: Template, name: string): unknown[] {
  return Object.values(template.findResources('AWS::Lambda::Function'))
    .map((fn) => (fn as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties)
    .map((p) => p.Environment?.Variables?.[name])
    .filter((v) => v !== undefined);
}

describe('execution defaults as Durations', () => {
  it('embeds each Duration in the unit the execution input uses', () => {
    const { deployment } = synth(() => ({
      executionDefaults: {
        pollInterval: Duration.seconds(10),
        checkWindow: Duration.seconds(0),
        checkEvery: Duration.millis(250),
        approvalTimeout: Duration.hours(4),
        blueRetention: Duration.days(2),
        cutoverTtl: Duration.seconds(1),
        lockTimeout: Duration.seconds(3),
        statementTimeout: Duration.minutes(30),
        maxPolls: 100,
        replicaCount: 0,
      },
    }));
    expect(deployment.defaults).toMatchObject({
      pollIntervalSeconds: 10,
      checkWindowSeconds: 0,
      checkEveryMs: 250,
      approvalTimeoutSeconds: 14_400,
      blueRetentionSeconds: 172_800,
      cutoverTtlSeconds: 1,
      lockTimeoutMs: 3_000,
      statementTimeoutMs: 1_800_000,
      maxPolls: 100,
      replicaCount: 0,
    });
  });

  it("takes the configuration file's seconds and milliseconds (infra/stack.ts)", () => {
    const config = exampleConfigInput();
    config['defaults'] = { pollIntervalSeconds: 7, checkEveryMs: 150, lockTimeoutMs: 1234, blueRetentionSeconds: 60 };
    const { stack } = synthStack(config, handlersDir);
    expect(stack.deployment.defaults).toMatchObject({
      pollIntervalSeconds: 7,
      checkEveryMs: 150,
      lockTimeoutMs: 1234,
      blueRetentionSeconds: 60,
      maxPolls: DEFAULT_EXECUTION_DEFAULTS.maxPolls,
    });
  });

  it('round-trips the configuration file values through Durations', () => {
    expect(executionDefaultValues(executionDefaultsOf(DEFAULT_EXECUTION_DEFAULTS))).toEqual(DEFAULT_EXECUTION_DEFAULTS);
  });

  it('names the prop of a Duration that is not a whole number of its unit, or breaks a rule', () => {
    const build = (executionDefaults: AuroraBlueGreenDeploymentProps['executionDefaults']) => () =>
      synth(() => ({ executionDefaults }));
    expect(build({ pollInterval: Duration.millis(1500) })).toThrow(
      /executionDefaults\.pollInterval: .*whole number of seconds/,
    );
    expect(build({ checkWindow: Duration.minutes(2) })).toThrow(
      /invalid defaults: executionDefaults\.checkWindow: at most 45 seconds/,
    );
    expect(build({ pollInterval: 30 as unknown as Duration })).toThrow(
      /executionDefaults\.pollInterval: is a Duration/,
    );
  });
});

/** KMS keys other than the approval table's own (infra/approval-endpoint.ts always creates that one). */
function topicKeys(template: Template): string[] {
  return Object.keys(template.findResources('AWS::KMS::Key')).filter((id) => !id.startsWith('BlueGreenApproval'));
}

describe('bring your own topic, key or bucket', () => {
  it('publishes notifications to an existing topic; only the approvers’ topic (and its key) is created', () => {
    const { deployment, template } = synth((stack) => ({
      existingTopic: sns.Topic.fromTopicArn(stack, 'Alerts', TOPIC_ARN),
      approvalEmails: ['dba@example.com'],
      notificationEmails: ['team@example.com'],
    }));
    const approversTopic = Stack.of(deployment).resolve(deployment.approversTopic.topicArn) as unknown;
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', { DisplayName: 'Aurora blue/green approvals' });
    // The approvers' topic's own key: none for the existing topic.
    expect(topicKeys(template)).toHaveLength(1);
    expect(deployment.topic.topicArn).toBe(TOPIC_ARN);
    expect(deployment.encryptionKey).toBeUndefined();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: [TOPIC_ARN] });
    template.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: TOPIC_ARN, Endpoint: 'team@example.com' });
    template.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: approversTopic, Endpoint: 'dba@example.com' });
    const topicArns = environmentValues(template, 'TOPIC_ARN');
    expect(topicArns.length).toBeGreaterThan(0);
    // Every step publishes to the existing topic; only RequestApproval to the approvers' topic.
    expect(new Set(topicArns)).toEqual(new Set([TOPIC_ARN, approversTopic]));
  });

  it('encrypts the topic it creates with a given key, and creates no key', () => {
    const { deployment, template } = synth((stack) => ({
      encryptionKey: kms.Key.fromKeyArn(stack, 'TopicKey', KEY_ARN),
    }));
    expect(topicKeys(template)).toEqual([]);
    const topics = Object.values(template.findResources('AWS::SNS::Topic')) as {
      Properties: Record<string, unknown>;
    }[];
    // Both topics, the notification topic and the approvers', use the given key.
    expect(topics.map((t) => t.Properties['KmsMasterKeyId'])).toEqual([KEY_ARN, KEY_ARN]);
    expect(deployment.encryptionKey?.keyArn).toBe(KEY_ARN);
  });

  it('creates and exposes a rotated key for its topic by default', () => {
    const { deployment, template } = synth(() => ({}));
    // One key for both topics.
    expect(topicKeys(template)).toHaveLength(1);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    expect(deployment.encryptionKey).toBeDefined();
  });

  it('rejects a key for a topic it does not create', () => {
    expect(() =>
      synth((stack) => ({
        existingTopic: sns.Topic.fromTopicArn(stack, 'Alerts', TOPIC_ARN),
        encryptionKey: kms.Key.fromKeyArn(stack, 'TopicKey', KEY_ARN),
      })),
    ).toThrow(/encryptionKey: .*cannot go with existingTopic/);
  });

  it('reads migrations from an existing bucket and creates no bucket', () => {
    const { deployment, template } = synth((stack) => ({
      existingMigrationsBucket: s3.Bucket.fromBucketName(stack, 'Migrations', 'orders-migrations'),
    }));
    template.resourceCountIs('AWS::S3::Bucket', 0);
    expect(deployment.migrationsBucket.bucketName).toBe('orders-migrations');
    expect(environmentValues(template, 'MIGRATIONS_BUCKET')).toEqual(expect.arrayContaining(['orders-migrations']));
    expect(new Set(environmentValues(template, 'MIGRATIONS_BUCKET'))).toEqual(new Set(['orders-migrations']));
    // The migrations row of infra/iam-table.ts: s3:GetObject on the bucket's objects.
    const objects = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::orders-migrations/*']] };
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } } }).Properties
          .PolicyDocument.Statement,
    );
    const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
    expect(
      statements.some(
        (st) =>
          list(st.Action).includes('s3:GetObject') &&
          list(st.Resource).some((r) => JSON.stringify(r) === JSON.stringify(objects)),
      ),
    ).toBe(true);
  });
});

describe('the topic key', () => {
  it("lets CloudWatch use it only for this account's alarms (aws:SourceAccount, aws:SourceArn)", () => {
    const { template } = synth(() => ({}));
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: {
              StringEquals: { 'aws:SourceAccount': '123456789012' },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:eu-west-1:123456789012:alarm:*']],
                },
              },
            },
          }),
        ]),
      },
    });
    const keys = Object.values(template.findResources('AWS::KMS::Key')) as {
      Properties: { KeyPolicy: { Statement: { Principal?: { Service?: string }; Condition?: unknown }[] } };
    }[];
    const cloudwatch = keys.flatMap((k) =>
      k.Properties.KeyPolicy.Statement.filter((s) => s.Principal?.Service === 'cloudwatch.amazonaws.com'),
    );
    expect(cloudwatch.length).toBeGreaterThan(0);
    for (const s of cloudwatch) expect(s.Condition).toBeDefined();
  });
});
