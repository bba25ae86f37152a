import { type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  AuroraBlueGreenDeployment,
  type AuroraBlueGreenDeploymentProps,
  scheduleExpressionProblem,
} from '../../infra/aurora-blue-green-deployment';
import { PHASES, phaseMetricName } from '../../lambdas/domain/metrics';
import { TASK_LIST } from '../../lambdas/steps/catalog';
import { newStack, requiredProps, stubHandlersDir } from './fixture';

const handlersDir = stubHandlersDir();
const MONITORING_ROLE = 'arn:aws:iam::123456789012:role/rds-monitoring-role';
const CLUSTER_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/0123abcd-0123-abcd-0123-0123456789ab';
const SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/5ec2e7ab-0123-abcd-0123-0123456789ab';
const MANAGED_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b2c3d-4e5f-AbCdEf';
const S3_ROLE = 'arn:aws:iam::123456789012:role/aurora-s3-import';

function baseProps(stack: Stack): AuroraBlueGreenDeploymentProps {
  return requiredProps(stack, handlersDir);
}

describe('AuroraBlueGreenDeployment', () => {
  let template: Template;
  let deployment: AuroraBlueGreenDeployment;
  let approvalFunction: lambda.IFunction;

  beforeAll(() => {
    const stack = newStack();
    approvalFunction = lambda.Function.fromFunctionArn(
      stack,
      'Approver',
      'arn:aws:lambda:eu-west-1:123456789012:function:my-approver',
    );
    deployment = new AuroraBlueGreenDeployment(stack, 'BlueGreen', {
      ...baseProps(stack),
      approvalFunction,
      monitoringRole: iam.Role.fromRoleArn(stack, 'Monitoring', MONITORING_ROLE, { mutable: false }),
      clusterEncryptionKeys: [kms.Key.fromKeyArn(stack, 'ClusterKey', CLUSTER_KEY)],
      // Blue's master password managed by RDS: its secret and that secret's key.
      databaseSecret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'ManagedSecret', MANAGED_SECRET),
      databaseSecretKey: kms.Key.fromKeyArn(stack, 'SecretKey', SECRET_KEY),
      clusterRoles: [iam.Role.fromRoleArn(stack, 'S3Import', S3_ROLE, { mutable: false })],
      executionDefaults: { pollInterval: Duration.seconds(10), replicaCount: 2 },
      allowDeletionProtectionOff: true,
    });
    template = Template.fromStack(stack);
  });

  it('uses a given approval function and then creates no approval endpoint', () => {
    expect(deployment.functions.get('RequestApproval')).toBe(approvalFunction);
    expect(deployment.approvalEndpoint).toBeUndefined();
    expect(deployment.approvalUrl).toBeUndefined();
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0];
    expect(JSON.stringify(machine)).toContain('function:my-approver');
  });

  it('lets the instance-creating steps pass exactly the configured monitoring role, to RDS (what RDS checks)', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'iam:PassRole',
            Resource: MONITORING_ROLE,
            Condition: { StringEquals: { 'iam:PassedToService': 'rds.amazonaws.com' } },
          },
        ]),
      },
    });
  });

  it('lets the creating steps use the cluster keys through RDS only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: ['kms:CreateGrant', 'kms:DescribeKey'],
            Resource: CLUSTER_KEY,
            Condition: { StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' } },
          },
        ]),
      },
    });
  });

  it('lets every database Lambda decrypt the RDS-managed secret with its key, through Secrets Manager only', () => {
    const decrypting = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy).includes(
        JSON.stringify({
          Action: 'kms:Decrypt',
          Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
          Effect: 'Allow',
          Resource: SECRET_KEY,
        }),
      ),
    );
    const databaseSteps = TASK_LIST.filter((t) => t.kind === 'database');
    expect(databaseSteps.length).toBeGreaterThanOrEqual(6);
    expect(decrypting).toHaveLength(databaseSteps.length);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'kms:Decrypt',
            Resource: SECRET_KEY,
            Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
          },
        ]),
      },
    });
  });

  it('lets OpenGreen pass the configured cluster roles to RDS only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'iam:PassRole',
            Resource: S3_ROLE,
            Condition: { StringEquals: { 'iam:PassedToService': 'rds.amazonaws.com' } },
          },
        ]),
      },
    });
  });

  it('tells Preflight (through the defaults) that a monitoring role and cluster roles are configured', () => {
    expect(deployment.defaults).toMatchObject({ monitoringRoleConfigured: true, clusterRoleArns: [S3_ROLE] });
    const stack = newStack();
    const bare = new AuroraBlueGreenDeployment(stack, 'Bare', { ...baseProps(stack), approvalFunction });
    expect(bare.defaults).toMatchObject({ monitoringRoleConfigured: false, clusterRoleArns: [] });
  });

  it('merges the execution defaults over the documented ones', () => {
    expect(deployment.defaults).toMatchObject({
      pollIntervalSeconds: 10,
      replicaCount: 2,
      maxPolls: 240,
      allowDeletionProtectionOff: true,
      clusterIdPrefix: 'orders-',
      adminSecurityGroupId: 'sg-0123456789abcdef0',
    });
  });

  it('creates no schedule unless asked', () => {
    expect(deployment.schedule).toBeUndefined();
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });

  it("starts the recovery state machine when one of this state machine's executions ends ABORTED, TIMED_OUT or FAILED", () => {
    const stack = Stack.of(deployment);
    const deploymentId = stack.getLogicalId(deployment.stateMachine.node.defaultChild as CfnElement);
    const recoveryId = stack.getLogicalId(deployment.recoveryStateMachine.node.defaultChild as CfnElement);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: deploymentId }], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
      },
      Targets: [Match.objectLike({ Arn: { Ref: recoveryId } })],
    });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'aurora-bluegreen-recovery',
      StateMachineType: 'STANDARD',
    });
    // The recovery runs the deployment's own rollback functions: no second copy of them.
    const definition = JSON.stringify(template.toJSON().Resources[recoveryId].Properties.DefinitionString);
    for (const state of [
      'ReadStoppedExecution',
      'UnfenceBlue',
      'Rollback',
      'CheckRollback',
      'ReleaseLock',
      'ReportFailure',
    ]) {
      const fn = deployment.functions.get(state)?.node.defaultChild as CfnElement;
      expect(definition).toContain(stack.getLogicalId(fn));
    }
  });

  it("lets only ReadStoppedExecution (and the writes-blocked watch) read this state machine's executions, and nothing else of Step Functions", () => {
    const executions = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':states:eu-west-1:123456789012:execution:aurora-bluegreen:*'],
      ],
    };
    const readers = Object.entries(template.findResources('AWS::IAM::Policy')).filter(
      ([id, policy]) =>
        JSON.stringify(policy).includes('states:GetExecutionHistory') && !id.includes('WritesBlockedWatch'),
    );
    expect(readers).toHaveLength(1);
    const reader = deployment.functions.get('ReadStoppedExecution') as lambda.Function;
    const roleId = Stack.of(deployment).getLogicalId(reader.role?.node.defaultChild as CfnElement);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: roleId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: ['states:DescribeExecution', 'states:GetExecutionHistory'],
            Resource: executions,
          },
        ]),
      },
    });
  });

  it('alarms into the topic when a recovery fails', () => {
    const stack = Stack.of(deployment);
    const recoveryId = stack.getLogicalId(deployment.recoveryStateMachine.node.defaultChild as CfnElement);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: recoveryId } }],
    });
  });
});

describe('invalid combinations are rejected in the constructor', () => {
  const build = (overrides: Partial<AuroraBlueGreenDeploymentProps>) => () => {
    const stack = newStack();
    new AuroraBlueGreenDeployment(stack, 'BlueGreen', { ...baseProps(stack), ...overrides });
  };

  it('rejects an at(...) schedule with a timestamp that is not a date', () => {
    expect(
      build({ schedule: { expression: 'at(2026-13-01T02:00:00)', input: { blueClusterId: 'orders-prod' } } }),
    ).toThrow(/schedule\.expression: at\(\.\.\.\) names a date and time that does not exist/);
  });

  it('rejects an at(...) schedule without seconds', () => {
    expect(
      build({ schedule: { expression: 'at(2026-12-05T02:00)', input: { blueClusterId: 'orders-prod' } } }),
    ).toThrow(/schedule\.expression: a one-time schedule is at\(yyyy-mm-ddThh:mm:ss\)/);
  });

  it("checks a schedule's input with the execution input's schema at synth, and blue against the prefix", () => {
    expect(build({ schedule: { expression: 'cron(0 2 ? * SUN *)', input: {} } })).not.toThrow();
    expect(
      build({
        schedule: {
          expression: 'cron(0 2 ? * SUN *)',
          input: { migrations: { s3Prefix: 's3://bucket/x/', database: 'app', phase: 'sometime' }, replicas: 2 },
        },
      }),
    ).toThrow(
      /schedule\.input\.migrations\.phase: .*"before-upgrade".*; schedule\.input\.replicas: unknown field \(check the spelling\)/,
    );
    expect(
      build({ schedule: { expression: 'cron(0 2 ? * SUN *)', input: { blueClusterId: 'billing-prod' } } }),
    ).toThrow(/does not start with clusterIdPrefix "orders-"/);
  });

  it('rejects an unknown time zone and a prefix that is not an identifier start', () => {
    expect(
      build({
        schedule: { expression: 'rate(7 days)', timeZone: 'Europe/Atlantis', input: { blueClusterId: 'orders-prod' } },
      }),
    ).toThrow(/schedule\.timeZone: "Europe\/Atlantis" is not an IANA time zone/);
    expect(build({ clusterIdPrefix: 'orders*' })).toThrow(/clusterIdPrefix "orders\*"/);
  });

  it('rejects defaults the execution input schema would refuse', () => {
    expect(build({ executionDefaults: { replicaCount: 20 } })).toThrow(
      /invalid defaults: executionDefaults\.replicaCount/,
    );
  });
});

describe('scheduleExpressionProblem', () => {
  it.each([
    ['at(2028-02-29T23:59:59)', undefined],
    ['at(2027-02-29T00:00:00)', /does not exist/],
    ['cron(0 2 ? * MON-FRI *)', undefined],
    ['cron(0 2 * * * *)', /"\?"/],
    ['rate(5 minutes)', undefined],
    ['rate(0 minutes)', /at least 1/],
    ['every sunday', /cron\(\.\.\.\), at\(yyyy-mm-ddThh:mm:ss\) or rate\(\.\.\.\)/],
  ])('%s', (expression, expected) => {
    const problem = scheduleExpressionProblem(expression);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});

describe('AuroraBlueGreenDeployment dashboard', () => {
  it('shows executions by outcome and, per blue cluster, writes blocked, downtime and every phase', () => {
    const stack = newStack();
    new AuroraBlueGreenDeployment(stack, 'Deployment', baseProps(stack));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'aurora-bluegreen' });
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const metric of ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsAborted']) {
      expect(body).toContain(metric);
    }
    for (const metric of ['WritesBlockedSeconds', 'DowntimeSeconds', ...PHASES.map(phaseMetricName)]) {
      expect(body).toContain(`{AuroraBlueGreen,BlueCluster,service} MetricName=\\\\\\"${metric}\\\\\\"`);
    }
  });
});

describe('AuroraBlueGreenDeployment writes-blocked alarm', () => {
  function synth(props: Partial<AuroraBlueGreenDeploymentProps> = {}) {
    const stack = newStack();
    new AuroraBlueGreenDeployment(stack, 'Deployment', { ...baseProps(stack), ...props });
    return Template.fromStack(stack);
  }

  it('alarms, and tells the topic, when the watch measures writes blocked for 30 minutes by default', () => {
    const template = synth();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AuroraBlueGreen',
      MetricName: 'WritesBlockedNowSeconds',
      Dimensions: [{ Name: 'service', Value: 'aurora-bluegreen' }],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      AlarmActions: [Match.anyValue()],
      OKActions: [Match.anyValue()],
    });
  });

  it('takes the threshold from writesBlockedAlarmAfter', () => {
    synth({ writesBlockedAlarmAfter: Duration.minutes(10) }).hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'WritesBlockedNowSeconds',
      Threshold: 600,
    });
  });

  it('runs the watch every minute, with read access to this state machine’s executions only', () => {
    const template = synth();
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('WritesBlockedWatchFunction'), 'Arn'] } }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ STATE_MACHINE_ARN: Match.anyValue() }) },
    });
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('WritesBlockedWatchRole') }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } } }).Properties
          .PolicyDocument.Statement,
    );
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions).toEqual(expect.arrayContaining(['states:ListExecutions', 'states:GetExecutionHistory']));
    expect(actions.filter((a) => String(a).startsWith('states:')).sort()).toEqual([
      'states:GetExecutionHistory',
      'states:ListExecutions',
    ]);
    expect(JSON.stringify(statements)).toContain(':execution:aurora-bluegreen:*');
  });
});

describe('AuroraBlueGreenDeployment network', () => {
  it('creates no security group and adds no egress (or ingress) rule: the admin group is the caller’s (docs/iam.md)', () => {
    const stack = newStack();
    new AuroraBlueGreenDeployment(stack, 'Deployment', baseProps(stack));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    // The database Lambdas use exactly the admin group.
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: { SecurityGroupIds: ['sg-0123456789abcdef0'] },
    });
  });
});
