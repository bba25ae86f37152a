import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { webAclApp } from '../../infra/approval-web-acl-app';
import { parseConfig } from '../../infra/config';
import { configProblem, exampleConfigInput, synthStack } from './fixture';

/**
 * The construct's approval and network options, set from cdk.json: `approverSubscriberArns`,
 * `emergencyApproverArns`, `writesBlockedAlarmAfterMinutes`, `approvalWaf` and `databaseEgress`
 * (docs/configuration.md).
 */

type Config = Record<string, unknown>;
const ACCOUNT = '123456789012';
const ONCALL = `arn:aws:iam::${ACCOUNT}:role/dba-oncall`;
const PIPELINE = `arn:aws:iam::${ACCOUNT}:role/platform-pipeline-*`;
const WEB_ACL_ARN = `arn:aws:wafv2:us-east-1:${ACCOUNT}:global/webacl/bluegreen-approval/473e64fd-f30b-4765-81a0-62ad96dd167a`;

const problemWith = (mutate: (config: Config) => void): string => configProblem<Config>(mutate);

describe('the approval and network keys, from cdk.json to the template', () => {
  let template: Template;
  let nagFindings: string[];

  beforeAll(() => {
    const config = exampleConfigInput();
    Object.assign(config, {
      approverSubscriberArns: [PIPELINE],
      emergencyApproverArns: [ONCALL],
      writesBlockedAlarmAfterMinutes: 45,
      approvalWaf: { webAclArn: WEB_ACL_ARN, rateLimit: 50 },
      databaseEgress: { endpointSecurityGroupIds: ['sg-0fedcba9876543210'], endpointPrefixListIds: ['pl-6da54004'] },
    });
    const { app, stack } = synthStack(config);
    template = Template.fromStack(stack);
    const report = new AwsSolutionsChecks(app).validateScope(app);
    nagFindings = (report.violations as { ruleName: string; violatingResources: { constructPath: string }[] }[]).map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
  });

  it('passes cdk-nag AwsSolutionsChecks with every option on', () => {
    expect(nagFindings).toEqual([]);
  });

  it('approverSubscriberArns: only those principals may subscribe to the approvers topic', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'OnlyTheDeploymentSubscribes',
            Effect: 'Deny',
            Condition: { ArnNotLike: { 'aws:PrincipalArn': [PIPELINE] } },
          }),
        ]),
      },
    });
  });

  it('emergencyApproverArns: the emergency approver role, assumable by exactly those principals', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'bluegreen-emergency-approver',
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Action: 'sts:AssumeRole', Principal: { AWS: ONCALL } })],
      },
    });
  });

  it('writesBlockedAlarmAfterMinutes: the alarm threshold, in seconds', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'WritesBlockedNowSeconds',
      Threshold: 45 * 60,
    });
  });

  it('approvalWaf: CloudFront in front of the approval API, with the configured web ACL', () => {
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({ WebACLId: WEB_ACL_ARN }),
    });
    // The rules belong to the web ACL made by `npm run deploy:approval-web-acl`: none made here.
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.hasOutput('ApprovalUrl', {
      Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.anyValue(), 'DomainName'] }, '/']] },
    });
  });

  it('databaseEgress: the database Lambdas in their own group, with HTTPS to the given endpoints', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      IpProtocol: 'tcp',
      FromPort: 443,
      DestinationPrefixListId: 'pl-6da54004',
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      IpProtocol: 'tcp',
      FromPort: 443,
      DestinationSecurityGroupId: 'sg-0fedcba9876543210',
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      IpProtocol: 'tcp',
      FromPort: 5432,
      DestinationSecurityGroupId: 'sg-0123456789abcdef0',
    });
    // The admin group is the caller's: the output names the group to allow in from.
    template.hasOutput('DatabaseSecurityGroupId', {
      Description: Match.stringLikeRegexp('allow PostgreSQL in from it on sg-0123456789abcdef0'),
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('DatabaseFunctionsSecurityGroup'), 'GroupId'] },
    });
  });
});

describe('the defaults of those keys', () => {
  it('no emergency role, a 30-minute alarm, no CloudFront, no security group', () => {
    const config = parseConfig(exampleConfigInput());
    expect(config.emergencyApproverArns).toEqual([]);
    expect(config.writesBlockedAlarmAfterMinutes).toBe(30);
    expect(config.approverSubscriberArns).toBeUndefined();
    expect(config.approvalWaf).toBeUndefined();
    expect(config.databaseEgress).toBeUndefined();
  });
});

describe('bad values name the key and the rule', () => {
  it.each<[string, (c: Config) => void, RegExp]>([
    [
      'a subscriber that is not a principal ARN',
      (c) => (c['approverSubscriberArns'] = ['dba@example.com']),
      /bluegreen\.approverSubscriberArns\.0: who may subscribe to the approvers topic: an IAM role, user or account \(root\) ARN/,
    ],
    [
      'an emergency approver that is not a principal ARN',
      (c) => (c['emergencyApproverArns'] = ['arn:aws:s3:::bucket']),
      /bluegreen\.emergencyApproverArns\.0: who may assume the emergency approver role/,
    ],
    [
      'an alarm after 0 minutes',
      (c) => (c['writesBlockedAlarmAfterMinutes'] = 0),
      /bluegreen\.writesBlockedAlarmAfterMinutes: at least 1 minute/,
    ],
    [
      'an alarm after more than a day',
      (c) => (c['writesBlockedAlarmAfterMinutes'] = 1441),
      /bluegreen\.writesBlockedAlarmAfterMinutes: at most 1440 minutes/,
    ],
    [
      'a WAF outside us-east-1 without a web ACL',
      (c) => (c['approvalWaf'] = {}),
      /bluegreen\.approvalWaf\.webAclArn: required outside us-east-1: .*npm run deploy:approval-web-acl/,
    ],
    [
      'a regional web ACL',
      (c) => (c['approvalWaf'] = { webAclArn: WEB_ACL_ARN.replace('global', 'regional') }),
      /bluegreen\.approvalWaf\.webAclArn: the ARN of a CLOUDFRONT-scope web ACL/,
    ],
    [
      "another account's web ACL",
      (c) => (c['approvalWaf'] = { webAclArn: WEB_ACL_ARN.replace(ACCOUNT, '210987654321') }),
      /bluegreen\.approvalWaf\.webAclArn: must be a web ACL of account 123456789012/,
    ],
    [
      'a rate limit under the WAF minimum',
      (c) => (c['approvalWaf'] = { webAclArn: WEB_ACL_ARN, rateLimit: 5 }),
      /bluegreen\.approvalWaf\.rateLimit: at least 10 requests per 5 minutes/,
    ],
    [
      'a misspelt WAF key',
      (c) => (c['approvalWaf'] = { webAclArn: WEB_ACL_ARN, ratelimit: 50 }),
      /bluegreen\.approvalWaf\.ratelimit: unknown key/,
    ],
    [
      'an egress group that reaches no endpoint',
      (c) => (c['databaseEgress'] = {}),
      /bluegreen\.databaseEgress: give endpointSecurityGroupIds or endpointPrefixListIds/,
    ],
    [
      'an endpoint group that is not a security group id',
      (c) => (c['databaseEgress'] = { endpointSecurityGroupIds: ['vpce-0123456789abcdef0'] }),
      /bluegreen\.databaseEgress\.endpointSecurityGroupIds\.0: an id like sg-/,
    ],
    [
      'a prefix list that is not a prefix list id',
      (c) => (c['databaseEgress'] = { endpointPrefixListIds: ['com.amazonaws.eu-west-1.s3'] }),
      /bluegreen\.databaseEgress\.endpointPrefixListIds\.0: a prefix list id such as pl-/,
    ],
    [
      'a database port Aurora refuses',
      (c) => (c['databaseEgress'] = { endpointPrefixListIds: ['pl-6da54004'], databasePort: 80 }),
      /bluegreen\.databaseEgress\.databasePort: Aurora ports are 1150-65535/,
    ],
  ])('%s', (_label, mutate, expected) => {
    expect(problemWith(mutate)).toMatch(expected);
  });
});

describe('npm run deploy:approval-web-acl (infra/approval-web-acl-app.ts)', () => {
  it('deploys the configured rules as a web ACL in us-east-1, from the same cdk.json key', () => {
    const config = exampleConfigInput();
    config['approvalWaf'] = { rateLimit: 60, managedRules: false };
    const app = new App({ context: { bluegreen: config } });
    const stack = webAclApp(app);
    expect(stack.region).toBe('us-east-1');
    expect(stack.account).toBe(ACCOUNT);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ Limit: 60 }) } })],
    });
  });

  it('says which key is missing', () => {
    const app = new App({ context: { bluegreen: exampleConfigInput() } });
    expect(() => webAclApp(app)).toThrow(/bluegreen\.approvalWaf: /);
  });
});
