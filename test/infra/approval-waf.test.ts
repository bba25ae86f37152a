import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { ApprovalEndpointProps } from '../../infra/approval-endpoint';
import { ApprovalWebAcl, ApprovalWebAclStack, ORIGIN_VERIFY_HEADER } from '../../infra/approval-waf';
import { AuroraBlueGreenDeployment } from '../../infra/aurora-blue-green-deployment';
import { approvalEndpointStack, newStack, requiredProps, stubHandlersDir } from './fixture';

const ACCOUNT = '123456789012';
const WEB_ACL_ARN = `arn:aws:wafv2:us-east-1:${ACCOUNT}:global/webacl/bluegreen-approval/473e64fd-f30b-4765-81a0-62ad96dd167a`;
/** CloudFront's managed CachingDisabled cache policy. */
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
/** CloudFront's managed AllViewerExceptHostHeader origin request policy. */
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

type Resource = { Type: string; Properties: Record<string, unknown> };

function synth(region: string, props: Partial<ApprovalEndpointProps>) {
  // No bundling: no asset matters here.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return approvalEndpointStack({ app, region, props });
}

function only(template: Template, type: string): Resource {
  const found = Object.values(template.findResources(type)) as Resource[];
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('ApprovalEndpoint with the WAF option, in us-east-1 (the web ACL is made in the stack)', () => {
  let template: Template;
  let synthError: unknown;

  beforeAll(() => {
    const { app, stack } = synth('us-east-1', { waf: { rateLimit: 50 } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
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

  it('creates a CLOUDFRONT-scope web ACL with a per-IP rate rule (429) and the AWS managed rules', () => {
    const acl = only(template, 'AWS::WAFv2::WebACL').Properties;
    expect(acl).toMatchObject({ Scope: 'CLOUDFRONT', DefaultAction: { Allow: {} } });
    const rules = acl['Rules'] as Record<string, unknown>[];
    expect(rules[0]).toMatchObject({
      Name: 'PerIpRateLimit',
      Statement: { RateBasedStatement: { Limit: 50, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
      Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
    });
    expect(
      rules.map(
        (r) => (r['Statement'] as { ManagedRuleGroupStatement?: { Name: string } }).ManagedRuleGroupStatement?.Name,
      ),
    ).toEqual([undefined, 'AWSManagedRulesAmazonIpReputationList', 'AWSManagedRulesCommonRuleSet']);
    // Sampled requests would keep request paths, and the path holds the approval id.
    expect(JSON.stringify(acl)).not.toMatch(/"SampledRequestsEnabled":true/);
  });

  it('associates the web ACL with a CloudFront distribution in front of the HTTP API', () => {
    const [aclId] = Object.keys(template.findResources('AWS::WAFv2::WebACL'));
    const [apiId] = Object.keys(template.findResources('AWS::ApiGatewayV2::Api'));
    const config = only(template, 'AWS::CloudFront::Distribution').Properties['DistributionConfig'] as Record<
      string,
      unknown
    >;
    expect(config['WebACLId']).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    const [origin] = config['Origins'] as Record<string, unknown>[];
    expect(JSON.stringify(origin!['DomainName'])).toContain(apiId!);
    expect(JSON.stringify(origin!['DomainName'])).toContain('.execute-api.');
    expect(origin).toMatchObject({
      CustomOriginConfig: { OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] },
    });
  });

  it('adds the origin-verify header from a generated secret, and gives the page function the same value', () => {
    const [secretId] = Object.keys(template.findResources('AWS::SecretsManager::Secret'));
    const config = only(template, 'AWS::CloudFront::Distribution').Properties['DistributionConfig'] as Record<
      string,
      unknown
    >;
    const [origin] = config['Origins'] as { OriginCustomHeaders: { HeaderName: string; HeaderValue: unknown }[] }[];
    const [header] = origin!.OriginCustomHeaders;
    expect(header!.HeaderName).toBe(ORIGIN_VERIFY_HEADER);
    // A dynamic reference to the secret: the template never holds the value.
    expect(JSON.stringify(header!.HeaderValue)).toMatch(/\{\{resolve:secretsmanager:/);
    expect(JSON.stringify(header!.HeaderValue)).toContain(secretId!);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Approval page'),
      Environment: {
        Variables: Match.objectLike({ ORIGIN_VERIFY_HEADER, ORIGIN_VERIFY_VALUE: header!.HeaderValue }),
      },
    });
  });

  it('caches nothing, forwards every viewer header but Host, and logs nothing at the edge', () => {
    const config = only(template, 'AWS::CloudFront::Distribution').Properties['DistributionConfig'] as Record<
      string,
      unknown
    >;
    const behavior = config['DefaultCacheBehavior'] as Record<string, unknown>;
    expect(behavior).toMatchObject({
      CachePolicyId: CACHING_DISABLED,
      ViewerProtocolPolicy: 'https-only',
      AllowedMethods: expect.arrayContaining(['GET', 'HEAD', 'POST']),
    });
    expect(config).not.toHaveProperty('Logging');
    // AllViewerExceptHostHeader: the viewer's headers (Authorization too, for a JWT authorizer)
    // without Host, which API Gateway needs to be its own.
    expect(behavior['OriginRequestPolicyId']).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER);
  });

  it('links approval emails to CloudFront, not to execute-api', () => {
    const [distributionId] = Object.keys(template.findResources('AWS::CloudFront::Distribution'));
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          APPROVAL_BASE_URL: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '/']] },
        }),
      },
    });
  });
});

describe('ApprovalEndpoint with the WAF option, outside us-east-1', () => {
  it('uses the given web ACL and creates none', () => {
    const { stack, endpoint } = synth('eu-west-1', { waf: { webAclArn: WEB_ACL_ARN } });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({ WebACLId: WEB_ACL_ARN }),
    });
    expect(endpoint.webAcl).toBeUndefined();
  });

  it('refuses to go without a web ACL ARN, saying why and what to do', () => {
    expect(() => synth('eu-west-1', { waf: {} })).toThrow(
      /waf\.webAclArn: required when the stack is not in us-east-1 \(this one: eu-west-1\).*ApprovalWebAclStack/,
    );
  });

  it('refuses a regional web ACL, and rules given with an existing web ACL', () => {
    expect(() =>
      synth('eu-west-1', {
        waf: { webAclArn: WEB_ACL_ARN.replace('us-east-1', 'eu-west-1').replace('global', 'regional') },
      }),
    ).toThrow(/waf\.webAclArn: must be the ARN of a CLOUDFRONT-scope web ACL in us-east-1/);
    expect(() => synth('eu-west-1', { waf: { webAclArn: WEB_ACL_ARN, rateLimit: 50 } })).toThrow(
      /waf\.rateLimit\/managedRules: .*cannot go with webAclArn/,
    );
  });

  it('refuses a rate limit WAF would refuse', () => {
    expect(() => synth('us-east-1', { waf: { rateLimit: 5 } })).toThrow(/waf\.rateLimit: .*from 10 to 2000000000/);
  });
});

describe('ApprovalEndpoint without the WAF option', () => {
  it('creates no CloudFront, no web ACL, no origin secret, and links to execute-api', () => {
    const { stack } = synth('us-east-1', {});
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudFront::Distribution', 0);
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(JSON.stringify(template.toJSON())).not.toContain('ORIGIN_VERIFY');
  });
});

describe('ApprovalWebAclStack (the web ACL on its own, for a deployment in another region)', () => {
  it('is always in us-east-1 and outputs the ARN to configure', () => {
    const app = new App();
    const stack = new ApprovalWebAclStack(app, 'WebAcl', { account: ACCOUNT, rateLimit: 200, managedRules: false });
    const template = Template.fromStack(stack);
    expect(stack.region).toBe('us-east-1');
    const acl = only(template, 'AWS::WAFv2::WebACL').Properties;
    expect(acl['Rules']).toEqual([
      expect.objectContaining({
        Statement: { RateBasedStatement: { Limit: 200, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
      }),
    ]);
    template.hasOutput('WebAclArn', { Value: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } });
  });

  it('cannot be created in another region', () => {
    const stack = new Stack(new App(), 'Elsewhere', { env: { account: ACCOUNT, region: 'eu-west-1' } });
    expect(() => new ApprovalWebAcl(stack, 'Acl')).toThrow(/can only be created in us-east-1, not eu-west-1/);
  });
});

describe('AuroraBlueGreenDeployment approvalWaf', () => {
  it('refuses approvalWaf with approvalFunction: there is no approval endpoint of its own to protect', () => {
    const stack = newStack();
    const props = requiredProps(stack, stubHandlersDir());
    expect(
      () =>
        new AuroraBlueGreenDeployment(stack, 'Deployment', {
          ...props,
          approvalFunction: lambda.Function.fromFunctionArn(
            stack,
            'Approval',
            `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:my-approval`,
          ),
          approvalWaf: { webAclArn: WEB_ACL_ARN },
        }),
    ).toThrow(
      /approvalWaf: protects the approval endpoint this construct creates, so it cannot go with approvalFunction/,
    );
  });
});
