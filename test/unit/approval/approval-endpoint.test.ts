import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApprovalEndpoint } from '../../../infra/approval-endpoint';
import { approvalEndpointStack } from '../../infra/fixture';

const STATE_MACHINE_NAME = 'aurora-bluegreen';

function build(withNag: boolean) {
  const built = approvalEndpointStack();
  if (withNag) Validations.of(built.app).addPlugins(new AwsSolutionsChecks(built.app));
  return built;
}

describe('ApprovalEndpoint', () => {
  let template: Template;
  let synthError: unknown;

  beforeAll(() => {
    const { app, stack } = build(true);
    try {
      app.synth();
    } catch (error) {
      synthError = error;
    }
    template = Template.fromStack(stack);
  });

  it('passes cdk-nag AwsSolutionsChecks with every finding acknowledged', () => {
    expect(synthError).toBeUndefined();
  });

  it('keeps approvals by id hash, in a table encrypted with its own rotating customer-managed key', () => {
    const keys = template.findResources('AWS::KMS::Key');
    expect(Object.keys(keys)).toHaveLength(1);
    const [keyId] = Object.keys(keys);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'idHash', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAtEpoch', Enabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
        }),
      ],
    });
  });

  it('runs both functions on Node.js 22, arm64, with their configuration', () => {
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Runtime: 'nodejs22.x', Architectures: ['arm64'] }, 2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          APPROVALS_TABLE: Match.anyValue(),
          APPROVAL_BASE_URL: Match.anyValue(),
          TOPIC_ARN: Match.anyValue(),
        }),
      },
      TracingConfig: { Mode: 'Active' },
    });
  });

  it('throttles the stage and logs access without paths, query strings or bodies', () => {
    const stages = template.findResources('AWS::ApiGatewayV2::Stage');
    const [stage] = Object.values(stages) as { Properties: Record<string, unknown> }[];
    expect(stage!.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    const format = (stage!.Properties.AccessLogSettings as { Format: string }).Format;
    expect(JSON.parse(format)).toMatchObject({ routeKey: '$context.routeKey', status: '$context.status' });
    expect(format).not.toMatch(/\$context\.path|querystring|\$input|body/i);
  });

  it('routes GET, HEAD and POST /approvals/{id} only', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => (r as { Properties: { RouteKey: string } }).Properties.RouteKey,
    );
    expect(routes.sort()).toEqual(['GET /approvals/{id}', 'HEAD /approvals/{id}', 'POST /approvals/{id}']);
  });

  it('lets the API send task success/failure, the wildcard-only actions, and nothing else of Step Functions', () => {
    // The Service Authorization Reference lists no resource type for SendTask*: a statement naming
    // the state machine would never match (test/infra/iam-simulation.test.ts evaluates it).
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Action: ['states:SendTaskSuccess', 'states:SendTaskFailure'], Effect: 'Allow', Resource: '*' },
        ]),
      },
    });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toMatch(/"states:\*"|"dynamodb:\*"|"logs:\*"/);
  });

  it('rejects an ARN that is not a state machine', () => {
    const app = new App();
    const stack = new Stack(app, 'Bad');
    expect(
      () =>
        new ApprovalEndpoint(stack, 'Approval', {
          topic: new sns.Topic(stack, 'Topic'),
          stateMachineArn: 'arn:aws:lambda:eu-west-1:123456789012:function:x',
        }),
    ).toThrow(/stateMachineArn/);
  });
});

describe('ApprovalEndpoint under a flood, and when the page cannot be reached', () => {
  const ACCOUNT = '123456789012';
  const STATE_MACHINE = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:${STATE_MACHINE_NAME}`;
  const ONCALL = `arn:aws:iam::${ACCOUNT}:role/dba-oncall`;

  function synth(props: Partial<ConstructorParameters<typeof ApprovalEndpoint>[2]> = {}) {
    const app = new App();
    const stack = new Stack(app, 'Approval', { env: { account: ACCOUNT, region: 'eu-west-1' } });
    const topic = new sns.Topic(stack, 'Topic', { enforceSSL: true });
    new ApprovalEndpoint(stack, 'Approval', { topic, stateMachineArn: STATE_MACHINE, ...props });
    return Template.fromStack(stack);
  }

  it('throttles each route on its own: deciding (POST) tighter than looking (GET, HEAD)', () => {
    synth().hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: {
        'GET /approvals/{id}': { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
        'HEAD /approvals/{id}': { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
        'POST /approvals/{id}': { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 3 },
      },
    });
    synth({ decisionThrottle: { rateLimit: 2, burstLimit: 4 } }).hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: Match.objectLike({ 'POST /approvals/{id}': { ThrottlingRateLimit: 2, ThrottlingBurstLimit: 4 } }),
    });
    expect(() => synth({ decisionThrottle: { rateLimit: 0, burstLimit: 4 } })).toThrow(/decisionThrottle/);
  });

  it('creates no emergency role unless asked', () => {
    synth().resourcePropertiesCountIs('AWS::IAM::Role', { RoleName: 'bluegreen-emergency-approver' }, 0);
  });

  it('lets the emergency role, assumable by the configured principal, only send task success or failure', async () => {
    const template = synth({ emergencyApprover: new iam.ArnPrincipal(ONCALL) });
    const roles = template.findResources('AWS::IAM::Role', {
      Properties: { RoleName: 'bluegreen-emergency-approver' },
    });
    const [roleId] = Object.keys(roles);
    expect(roleId).toBeDefined();
    const trust = (roles[roleId!] as { Properties: { AssumeRolePolicyDocument: unknown } }).Properties
      .AssumeRolePolicyDocument;
    expect(trust).toEqual({
      Version: '2012-10-17',
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: ONCALL } }],
    });
    const policies = Object.values(
      template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
    ) as { Properties: { PolicyDocument: unknown } }[];
    expect(policies).toHaveLength(1);
    // The Service Authorization Reference lists SendTask* as wildcard-only: exactly these two
    // actions, on "*" (a statement naming the state machine could be denied in AWS).
    expect(policies[0]!.Properties.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DecideApprovals',
          Effect: 'Allow',
          Action: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          Resource: '*',
        },
      ],
    });
  });
});

describe("ApprovalEndpoint's Resource::* acknowledgements name exact actions, so a later write wildcard is reported", () => {
  const ACCOUNT = '123456789012';
  const ONCALL = `arn:aws:iam::${ACCOUNT}:role/dba-oncall`;

  function endpoint() {
    const app = new App();
    const stack = new Stack(app, 'Approval', { env: { account: ACCOUNT, region: 'eu-west-1' } });
    const topic = new sns.Topic(stack, 'Topic', { enforceSSL: true });
    const approval = new ApprovalEndpoint(stack, 'Approval', {
      topic,
      stateMachineArn: `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:${STATE_MACHINE_NAME}`,
      emergencyApprover: new iam.ArnPrincipal(ONCALL),
    });
    return { app, approval };
  }

  /** Construct paths of cdk-nag's unacknowledged Resource::* findings. */
  function wildcardFindings(app: App): string[] {
    app.synth();
    const { violations } = new AwsSolutionsChecks(app).validateScope(app) as {
      violations: { ruleName: string; violatingResources: { constructPath: string }[] }[];
    };
    return violations
      .filter((v) => v.ruleName === 'AwsSolutions-IAM5[Resource::*]')
      .flatMap((v) => v.violatingResources.map((r) => r.constructPath));
  }

  const reasons = (construct: { node: App['node'] }) =>
    construct.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([id]) => id.replace(/^annotation::/i, '') === 'AwsSolutions-IAM5[Resource::*]')
      .map(([, reason]) => reason);

  it('acknowledges each role as it is built, naming the actions it holds on "*"', () => {
    const { app, approval } = endpoint();
    expect(wildcardFindings(app)).toEqual([]);
    expect(reasons(approval.emergencyApproverRole!)).toEqual([
      expect.stringMatching(/^Resource "\*" only for states:SendTaskFailure, states:SendTaskSuccess: /),
    ]);
    expect(reasons(approval.approvalApiFunction.role as iam.Role)).toEqual([
      expect.stringMatching(
        /^Resource "\*" only for states:SendTaskFailure, states:SendTaskSuccess, xray:PutTelemetryRecords, xray:PutTraceSegments: /,
      ),
    ]);
  });

  it.each([
    ['the emergency role', (a: ApprovalEndpoint) => a.emergencyApproverRole!, 'EmergencyApproverRole'],
    ['the approval API role', (a: ApprovalEndpoint) => a.approvalApiFunction.role as iam.Role, 'ApiFunctionRole'],
    [
      'the RequestApproval role',
      (a: ApprovalEndpoint) => a.requestApprovalFunction.role as iam.Role,
      'RequestApprovalFunctionRole',
    ],
  ])('reports a write action on "*" that %s gains later, instead of hiding it', (_label, roleOf, path) => {
    const { app, approval } = endpoint();
    roleOf(approval).addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['states:StopExecution'], resources: ['*'] }),
    );
    expect(wildcardFindings(app)).toEqual([expect.stringContaining(path)]);
  });
});
