import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { ApproverIdentity } from '../../../infra/approval-endpoint';
import { AuroraBlueGreenDeployment } from '../../../infra/aurora-blue-green-deployment';
import { parseConfig } from '../../../infra/config';
import {
  approvalEndpointStack,
  exampleConfigInput,
  newStack,
  requiredProps,
  stubHandlersDir,
  synthStack,
} from '../../infra/fixture';

const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123';

/** The reasons of the `AwsSolutions-IAM5[Resource::*]` acknowledgements in the tree. */
function wildcardReasons(root: IConstruct): string[] {
  return root.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .flatMap((m) => Object.entries(m.data as Record<string, string>))
    .filter(([id]) => id.replace(/^annotation::/i, '') === 'AwsSolutions-IAM5[Resource::*]')
    .map(([, reason]) => reason);
}

let lastApp: App;

function build(identity?: ApproverIdentity) {
  const { app, stack } = approvalEndpointStack({ props: identity ? { approverIdentity: identity } : {} });
  lastApp = app;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return Template.fromStack(stack);
}

function routes(template: Template): Record<string, { AuthorizationType?: string; AuthorizerId?: unknown }> {
  return Object.fromEntries(
    Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => {
      const p = (r as { Properties: { RouteKey: string; AuthorizationType?: string; AuthorizerId?: unknown } })
        .Properties;
      return [p.RouteKey, { AuthorizationType: p.AuthorizationType, AuthorizerId: p.AuthorizerId }];
    }),
  );
}

describe('ApprovalEndpoint with approverIdentity', () => {
  let template: Template;
  beforeAll(() => {
    template = build({ issuer: ISSUER, clientId: '4lt2example', claim: 'email' });
  });

  it('puts a JWT authorizer on the deciding POST only; showing the page and /signed-in need no token', () => {
    const r = routes(template);
    expect(Object.keys(r).sort()).toEqual([
      'GET /approvals/{id}',
      'GET /signed-in',
      'HEAD /approvals/{id}',
      'POST /approvals/{id}',
    ]);
    expect(r['POST /approvals/{id}']!.AuthorizationType).toBe('JWT');
    expect(r['POST /approvals/{id}']!.AuthorizerId).toBeDefined();
    for (const key of ['GET /approvals/{id}', 'HEAD /approvals/{id}', 'GET /signed-in']) {
      expect(r[key]!.AuthorizationType ?? 'NONE').toBe('NONE');
    }
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: ISSUER, Audience: ['4lt2example'] },
    });
  });

  it('tells the function the issuer, client and claim, and throttles /signed-in like the page', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          APPROVER_ISSUER: ISSUER,
          APPROVER_CLIENT_ID: '4lt2example',
          APPROVER_CLAIM: 'email',
        }),
      },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: Match.objectLike({ 'GET /signed-in': { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 } }),
    });
  });

  it('without it: no authorizer, no /signed-in, no identity in the environment', () => {
    const plain = build();
    plain.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
    expect(Object.keys(routes(plain))).not.toContain('GET /signed-in');
    expect(JSON.stringify(plain.toJSON())).not.toContain('APPROVER_ISSUER');
  });

  it('forbidSelfApproval: tells the function, grants cloudtrail:LookupEvents, and names it in the nag acknowledgement', () => {
    const on = build({ issuer: ISSUER, clientId: 'page', forbidSelfApproval: true });
    on.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FORBID_SELF_APPROVAL: 'true' }) },
    });
    on.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([{ Effect: 'Allow', Action: 'cloudtrail:LookupEvents', Resource: '*' }]),
      },
    });
    expect(wildcardReasons(lastApp).filter((r) => r.includes('cloudtrail:LookupEvents'))).toHaveLength(1);

    // Off (the default): no grant, no mention.
    expect(JSON.stringify(template.toJSON())).not.toContain('cloudtrail:');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FORBID_SELF_APPROVAL: 'false' }) },
    });
    build({ issuer: ISSUER, clientId: 'page' });
    expect(wildcardReasons(lastApp).join(' ')).not.toContain('cloudtrail:');
  });

  it('accepts explicit audiences', () => {
    build({ issuer: ISSUER, clientId: 'page', audience: ['page', 'api://approvals'] }).hasResourceProperties(
      'AWS::ApiGatewayV2::Authorizer',
      { JwtConfiguration: { Issuer: ISSUER, Audience: ['page', 'api://approvals'] } },
    );
  });

  it.each([
    [{ issuer: 'http://idp.example.com', clientId: 'c' }, /approverIdentity\.issuer must be an https URL/],
    [{ issuer: `${ISSUER}?x=1`, clientId: 'c' }, /approverIdentity\.issuer/],
    [{ issuer: ISSUER, clientId: 'has space' }, /approverIdentity\.clientId/],
    [{ issuer: ISSUER, clientId: 'c', audience: [] }, /approverIdentity\.audience/],
    [
      { issuer: ISSUER, clientId: 'c', forbidSelfApproval: 'yes' },
      /approverIdentity\.forbidSelfApproval must be true or false/,
    ],
    [
      { issuer: ISSUER, clientId: 'c', claim: 'sub', forbidSelfApproval: true },
      /approverIdentity\.forbidSelfApproval needs claim 'email'/,
    ],
  ])('refuses %j, naming the field', (identity, message) => {
    expect(() => build(identity as ApproverIdentity)).toThrow(message);
  });
});

describe('AuroraBlueGreenDeployment approverIdentity', () => {
  it('is refused with approvalFunction (the construct would make no endpoint to guard)', () => {
    const stack = newStack();
    const approvalFunction = lambda.Function.fromFunctionName(stack, 'Approve', 'my-approval');
    expect(
      () =>
        new AuroraBlueGreenDeployment(stack, 'BlueGreen', {
          ...requiredProps(stack, stubHandlersDir()),
          approvalFunction,
          approverIdentity: { issuer: ISSUER, clientId: 'c' },
        }),
    ).toThrow(/approverIdentity .*not with approvalFunction/);
  });
});

describe('config key bluegreen.approverIdentity', () => {
  it('reaches the stack: the deciding route gets the JWT authorizer', () => {
    const { stack } = synthStack({ ...exampleConfigInput(), approverIdentity: { issuer: ISSUER, clientId: 'page' } });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: ISSUER, Audience: ['page'] },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /approvals/{id}',
      AuthorizationType: 'JWT',
    });
  });

  it('is optional, and claim defaults to email', () => {
    expect(parseConfig(exampleConfigInput()).approverIdentity).toBeUndefined();
    expect(
      parseConfig({ ...exampleConfigInput(), approverIdentity: { issuer: ISSUER, clientId: 'c' } }).approverIdentity,
    ).toEqual({ issuer: ISSUER, clientId: 'c', claim: 'email', forbidSelfApproval: false });
  });

  it('forbidSelfApproval reaches the approval function and its grant', () => {
    const input = {
      ...exampleConfigInput(),
      approverIdentity: { issuer: ISSUER, clientId: 'page', forbidSelfApproval: true },
    };
    const template = Template.fromStack(synthStack(input).stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ APPROVER_ISSUER: ISSUER, FORBID_SELF_APPROVAL: 'true' }) },
    });
    // The grant itself (merged with the function's other "*" statements) is judged by the IAM
    // simulator in test/infra/self-approval-permissions.test.ts.
    expect(JSON.stringify(template.toJSON())).toContain('cloudtrail:LookupEvents');
  });

  it.each([
    [{ issuer: 'http://idp.example.com', clientId: 'c' }, /bluegreen\.approverIdentity\.issuer: the https URL/],
    [{ issuer: ISSUER }, /bluegreen\.approverIdentity\.clientId: is required/],
    [{ issuer: ISSUER, clientId: 'c', claim: 'name' }, /bluegreen\.approverIdentity\.claim/],
    [{ issuer: ISSUER, clientId: 'c', forbid: true }, /bluegreen\.approverIdentity\.forbid: unknown key/],
    [{ issuer: ISSUER, clientId: 'c', forbidSelfApproval: 'yes' }, /bluegreen\.approverIdentity\.forbidSelfApproval: /],
    [
      { issuer: ISSUER, clientId: 'c', claim: 'sub', forbidSelfApproval: true },
      /bluegreen\.approverIdentity\.forbidSelfApproval: needs claim 'email'/,
    ],
  ])('refuses %j, naming the key', (approverIdentity, message) => {
    expect(() => parseConfig({ ...exampleConfigInput(), approverIdentity })).toThrow(message);
  });
});
