import { Match, Template } from 'aws-cdk-lib/assertions';
import { TASK_LIST, TASKS } from '../../lambdas/steps/catalog';
import { permissionsOfTask } from '../../infra/iam-table';
import { synthStack } from './fixture';

type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};
type Resource = { Type: string; Properties: Record<string, unknown> };

const ARN = 'arn:aws:rds:eu-west-1:123456789012';
const ZONE_ARN = 'arn:aws:route53:::hostedzone/Z0123456789EXAMPLE';
const RDS_WRITE_ACTIONS = [
  'rds:RestoreDBClusterToPointInTime',
  'rds:CreateDBInstance',
  'rds:ModifyDBCluster',
  'rds:DeleteDBInstance',
  'rds:DeleteDBCluster',
  'rds:AddTagsToResource',
  'rds:CreateDBClusterSnapshot',
];

let template: Template;
let resources: Record<string, Resource>;

/** The statements of the execution role of the Lambda that runs `state`. */
function statementsOf(state: string): Statement[] {
  const fn = Object.entries(resources).find(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties['Description'] === `Aurora blue/green: ${state}`,
  );
  if (!fn) throw new Error(`no function for ${state}`);
  const roleId = (fn[1].Properties['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties['Roles'] as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .flatMap((r) => (r.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement);
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);
const allStatements = () =>
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((r) => (r.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement);

beforeAll(() => {
  const { stack } = synthStack();
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Resource>;
});

describe('IAM', () => {
  it('scopes every RDS write action to the cluster-id prefix, never to *', () => {
    const writes = allStatements().filter((s) => actionsOf(s).some((a) => RDS_WRITE_ACTIONS.includes(a)));
    expect(writes.length).toBeGreaterThan(0);
    for (const statement of writes) {
      const arns = resourcesOf(statement);
      expect(arns).not.toContain('*');
      for (const arn of arns) {
        expect(arn).toMatch(
          new RegExp(
            `^${ARN}:(cluster:orders-\\*|db:orders-\\*|cluster-snapshot:orders-\\*|subgrp:\\*|cluster-pg:\\*|pg:\\*|og:default:aurora-postgresql-\\*)$`,
          ),
        );
      }
    }
    // Deleting and snapshotting touch only the workflow's own clusters, instances and snapshots.
    const deleting = writes.filter((s) => actionsOf(s).includes('rds:DeleteDBCluster'));
    for (const statement of deleting) {
      for (const arn of resourcesOf(statement)) {
        expect([`${ARN}:cluster-snapshot:orders-*`, `${ARN}:cluster:orders-*`]).toContain(arn);
      }
    }
  });

  it('gives each step exactly the RDS write actions of the port methods its catalog entry lists', () => {
    for (const spec of TASK_LIST.filter((t) => t.kind !== 'approval')) {
      const granted = statementsOf(spec.state)
        .flatMap(actionsOf)
        .filter((a) => RDS_WRITE_ACTIONS.includes(a));
      const listed = permissionsOfTask(spec)
        .flatMap((p) => p.actions)
        .filter((a) => RDS_WRITE_ACTIONS.includes(a));
      expect([...new Set(granted)].sort()).toEqual([...new Set(listed)].sort());
    }
  });

  it('lets CreateClone restore from and into prefixed clusters, using run-time subnet and parameter groups', () => {
    const statements = statementsOf(TASKS.CreateClone.state);
    const restore = statements.filter((s) => actionsOf(s).includes('rds:RestoreDBClusterToPointInTime'));
    expect(restore.flatMap(resourcesOf)).toEqual(
      expect.arrayContaining([`${ARN}:cluster:orders-*`, `${ARN}:subgrp:*`, `${ARN}:cluster-pg:*`]),
    );
    // CreateClone only describes clusters (scoped); nothing of RDS on *.
    const readAll = statements.filter((s) => resourcesOf(s).includes('*'));
    expect(readAll.flatMap(actionsOf).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'].sort());
    // Only Preflight reads engine versions, the one RDS read without a resource type.
    const engineVersionReaders = TASK_LIST.filter(
      (t) =>
        t.kind !== 'approval' &&
        statementsOf(t.state).some((s) => actionsOf(s).includes('rds:DescribeDBEngineVersions')),
    ).map((t) => t.state);
    expect(engineVersionReaders).toEqual(['Preflight']);
  });

  it('limits Route 53 changes to UPSERTs of the one CNAME in the one hosted zone', () => {
    const statements = statementsOf(TASKS.SwapCname.state);
    const change = statements.find((s) => actionsOf(s).includes('route53:ChangeResourceRecordSets'));
    expect(change).toMatchObject({
      Resource: ZONE_ARN,
      Condition: {
        'ForAllValues:StringEquals': {
          'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['orders.db.example.internal'],
          'route53:ChangeResourceRecordSetsRecordTypes': ['CNAME'],
          'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
        },
      },
    });
    const list = statementsOf(TASKS.Preflight.state).find((s) =>
      actionsOf(s).includes('route53:ListResourceRecordSets'),
    );
    expect(list?.Resource).toBe(ZONE_ARN);
    const getChange = statementsOf(TASKS.CheckCname.state).find((s) => actionsOf(s).includes('route53:GetChange'));
    expect(getChange?.Resource).toBe('arn:aws:route53:::change/*');
    // Nobody else may touch DNS.
    const route53Users = TASK_LIST.filter(
      (t) =>
        t.kind !== 'approval' && statementsOf(t.state).some((s) => actionsOf(s).some((a) => a.startsWith('route53:'))),
    ).map((t) => t.state);
    expect(route53Users.sort()).toEqual(
      TASK_LIST.filter((t) => t.kind !== 'approval' && t.calls.some((c) => c.startsWith('dns.')))
        .map((t) => t.state)
        .sort(),
    );
  });

  it('grants the lock table, the topic, the bucket and the secret only to the steps that need them', () => {
    const uses = (state: string, action: string) => statementsOf(state).some((s) => actionsOf(s).includes(action));
    expect(uses(TASKS.AcquireLock.state, 'dynamodb:PutItem')).toBe(true);
    expect(uses(TASKS.CreateClone.state, 'dynamodb:PutItem')).toBe(false);
    expect(uses(TASKS.Report.state, 'sns:Publish')).toBe(true);
    expect(uses(TASKS.Preflight.state, 'sns:Publish')).toBe(false);
    expect(uses(TASKS.ApplySql.state, 's3:GetObject')).toBe(true);
    expect(uses(TASKS.SmokeTest.state, 's3:GetObject')).toBe(false);
    expect(uses(TASKS.FenceWrites.state, 'secretsmanager:GetSecretValue')).toBe(true);
    expect(uses(TASKS.CreateClone.state, 'secretsmanager:GetSecretValue')).toBe(false);
  });

  it('passes no role to RDS unless a monitoring role is configured', () => {
    expect(allStatements().filter((s) => actionsOf(s).includes('iam:PassRole'))).toEqual([]);
  });
});

describe('Lambda functions', () => {
  it('creates one Node.js 22 arm64 function per non-approval task, with its timeout, tracing and own log group', () => {
    for (const spec of TASK_LIST.filter((t) => t.kind !== 'approval')) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `Aurora blue/green: ${spec.state}`,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: 256,
        Timeout: spec.timeoutSeconds,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp(`${spec.state}Logs`) } },
        Environment: {
          Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'aurora-bluegreen', POWERTOOLS_LOG_LEVEL: 'INFO' }),
        },
      });
    }
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('runs database functions in the private subnets with the admin group, TLS CAs and the secret', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `Aurora blue/green: ${TASKS.FenceWrites.state}`,
      VpcConfig: {
        SecurityGroupIds: ['sg-0123456789abcdef0'],
        SubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2', 'subnet-0ccccccccccccccc3'],
      },
      Environment: {
        Variables: Match.objectLike({
          NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
          DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-AbCdEf',
          DB_CONNECT_TIMEOUT_MS: '10000',
        }),
      },
    });
    const control =
      resources[
        Object.keys(resources).find(
          (k) => resources[k]?.Properties['Description'] === `Aurora blue/green: ${TASKS.CreateClone.state}`,
        ) ?? ''
      ];
    expect(control?.Properties['VpcConfig']).toBeUndefined();
    expect(JSON.stringify(control?.Properties['Environment'])).not.toContain('DB_SECRET_ARN');
  });

  it('sets the environment each need stands for', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `Aurora blue/green: ${TASKS.AcquireLock.state}`,
      Environment: { Variables: Match.objectLike({ LOCK_TABLE_NAME: { Ref: Match.stringLikeRegexp('LockTable') } }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `Aurora blue/green: ${TASKS.ReportFailure.state}`,
      Environment: { Variables: Match.objectLike({ TOPIC_ARN: { Ref: Match.stringLikeRegexp('Topic') } }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `Aurora blue/green: ${TASKS.ApplySql.state}`,
      Environment: {
        Variables: Match.objectLike({ MIGRATIONS_BUCKET: { Ref: Match.stringLikeRegexp('MigrationsBucket') } }),
      },
    });
  });
});

describe('state machine', () => {
  it('is a Standard state machine with a fixed name, X-Ray and ALL logging without execution data', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'aurora-bluegreen',
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: {
              LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('StateMachineLogs'), 'Arn'] },
            },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/vendedlogs/states/aurora-bluegreen',
      RetentionInDays: 365,
    });
  });

  it('embeds the configured defaults for ValidateInput', () => {
    const machine = Object.values(resources).find((r) => r.Type === 'AWS::StepFunctions::StateMachine');
    const definition = JSON.stringify(machine?.Properties['DefinitionString']);
    expect(definition).toContain('\\"clusterIdPrefix\\":\\"orders-\\"');
    expect(definition).toContain('\\"hostedZoneId\\":\\"Z0123456789EXAMPLE\\"');
    expect(definition).toContain('\\"maxPolls\\":240');
  });

  it('alarms on failed executions (at least one in 5 minutes) into the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: Match.stringLikeRegexp('StateMachine') } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('Topic') }],
    });
  });

  it('outputs the state machine ARN and the approval URL', () => {
    template.hasOutput('StateMachineArn', { Value: { Ref: Match.stringLikeRegexp('StateMachine') } });
    template.hasOutput('ApprovalUrl', Match.anyValue());
  });
});

describe('schedule', () => {
  it('starts the state machine at the example maintenance window, disabled, with the input and no flexible window', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'at(2026-12-05T02:00:00)',
      ScheduleExpressionTimezone: 'Europe/Dublin',
      State: 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { Ref: Match.stringLikeRegexp('StateMachine') },
        Input: Match.serializedJson(Match.objectLike({ blueClusterId: 'orders-prod', targetEngineVersion: '16.4' })),
        RoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
      },
    });
  });

  it("gives the schedule's role only states:StartExecution on this state machine", () => {
    const schedule = Object.values(resources).find((r) => r.Type === 'AWS::Scheduler::Schedule');
    const roleId = (schedule?.Properties['Target'] as { RoleArn: { 'Fn::GetAtt': [string] } }).RoleArn['Fn::GetAtt'][0];
    const statements = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .filter((r) => (r.Properties['Roles'] as { Ref: string }[]).some((ref) => ref.Ref === roleId))
      .flatMap((r) => (r.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement);
    expect(statements).toEqual([
      expect.objectContaining({
        Action: 'states:StartExecution',
        Resource: { Ref: expect.stringMatching(/StateMachine/) },
      }),
    ]);
  });
});

describe('lock table, topic and bucket', () => {
  it('keys the lock table by lockKey with TTL expiresAtEpoch, on demand, with point-in-time recovery', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'lockKey', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'lockKey', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAtEpoch', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('encrypts the topic with a rotated key CloudWatch may use, and subscribes the configured emails', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    for (const email of ['dba-oncall@example.com', 'platform-team@example.com']) {
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email });
    }
  });

  it('blocks public access to the migrations bucket, versions it, logs access and denies plain HTTP', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: Match.objectLike({}),
      LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
    });
    const bucketId = Object.keys(resources).find(
      (k) => resources[k]?.Type === 'AWS::S3::Bucket' && k.includes('MigrationsBucket'),
    );
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});
