import { CfnOutput, Stack, Token, type StackProps } from 'aws-cdk-lib';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/**
 * The optional WAF of the approval page (docs/approval.md, "WAF in front of the page"). An HTTP API
 * cannot take a web ACL, so CloudFront sits in front of it with a CLOUDFRONT-scope web ACL, and
 * CloudFront adds a header that the approval function checks: a call straight to execute-api
 * (around the WAF) is refused.
 */

/** The header CloudFront adds to every request it sends to the approval API. */
export const ORIGIN_VERIFY_HEADER = 'x-bluegreen-origin-verify';

/** A CLOUDFRONT-scope web ACL exists only in us-east-1. */
export const WEB_ACL_REGION = 'us-east-1';

/** The ARN of a CLOUDFRONT-scope (global) WAFv2 web ACL. */
export const CLOUDFRONT_WEB_ACL_ARN =
  /^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[\w-]{1,128}\/[0-9a-f-]{36}$/;

/** @default per-IP limit: an approver opens the page and posts a handful of times. */
export const DEFAULT_APPROVAL_RATE_LIMIT = 100;

/** The rule set of the web ACL (what `ApprovalWebAcl` creates). */
export interface ApprovalWebAclRules {
  /**
   * Requests one client IP may make in any 5 minutes; beyond it, CloudFront answers 429 until the
   * rate falls (10 to 2,000,000,000, WAF's bounds).
   * @default 100
   */
  readonly rateLimit?: number;
  /**
   * Also the AWS managed rule groups `AWSManagedRulesCommonRuleSet` (700 WCU) and
   * `AWSManagedRulesAmazonIpReputationList` (25 WCU): no subscription fee, within the default
   * 1,500 WCU.
   * @default true
   */
  readonly managedRules?: boolean;
}

/** The WAF option of the approval endpoint. */
export interface ApprovalWafOptions extends ApprovalWebAclRules {
  /**
   * An existing CLOUDFRONT-scope web ACL (`arn:aws:wafv2:us-east-1:…:global/webacl/…`), e.g. the
   * `WebAclArn` output of `ApprovalWebAclStack`. `rateLimit` and `managedRules` then belong to that
   * web ACL, not here.
   * @default - a web ACL created in this stack, which must then be in us-east-1
   */
  readonly webAclArn?: string;
}

/** Rejects what AWS would reject at deploy time; `field` names the option in messages. */
export function approvalWafProblems(options: ApprovalWafOptions, region: string, field = 'waf'): string[] {
  const problems: string[] = [];
  if (options.webAclArn !== undefined) {
    if (!Token.isUnresolved(options.webAclArn) && !CLOUDFRONT_WEB_ACL_ARN.test(options.webAclArn)) {
      problems.push(
        `${field}.webAclArn: must be the ARN of a CLOUDFRONT-scope web ACL in us-east-1 (arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>), got ${options.webAclArn}`,
      );
    }
    if (options.rateLimit !== undefined || options.managedRules !== undefined) {
      problems.push(
        `${field}.rateLimit/managedRules: are rules of the web ACL this construct creates, so they cannot go with webAclArn (set them where that web ACL is made)`,
      );
    }
  } else if (region !== WEB_ACL_REGION) {
    problems.push(
      `${field}.webAclArn: required when the stack is not in ${WEB_ACL_REGION} (this one: ${Token.isUnresolved(region) ? 'an unresolved region' : region}): CloudFront takes only a web ACL created in ${WEB_ACL_REGION}; deploy ApprovalWebAclStack there first (docs/approval.md)`,
    );
  }
  return [...problems, ...rateLimitProblems(options, field)];
}

function rateLimitProblems(rules: ApprovalWebAclRules, field: string): string[] {
  const rate = rules.rateLimit ?? DEFAULT_APPROVAL_RATE_LIMIT;
  return Number.isInteger(rate) && rate >= 10 && rate <= 2_000_000_000
    ? []
    : [`${field}.rateLimit: must be a whole number of requests per 5 minutes from 10 to 2000000000, got ${rate}`];
}

const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
  cloudWatchMetricsEnabled: true,
  metricName,
  // Sampled requests keep each request's URI: the path holds the approval id, the link's secret.
  sampledRequestsEnabled: false,
});

/**
 * A CLOUDFRONT-scope web ACL for the approval page: a per-IP rate-based rule (429 when exceeded)
 * and, by default, two AWS managed rule groups. Its stack must be in us-east-1.
 */
export class ApprovalWebAcl extends Construct {
  readonly webAcl: wafv2.CfnWebACL;
  /** What CloudFront's `webAclId` takes. */
  readonly webAclArn: string;

  constructor(scope: Construct, id: string, props: ApprovalWebAclRules = {}) {
    super(scope, id);
    const region = Stack.of(this).region;
    const problems = rateLimitProblems(props, 'ApprovalWebAcl');
    if (!Token.isUnresolved(region) && region !== WEB_ACL_REGION) {
      problems.push(
        `ApprovalWebAcl: a CLOUDFRONT-scope web ACL can only be created in ${WEB_ACL_REGION}, not ${region}`,
      );
    }
    if (problems.length) throw new Error(problems.join('; '));
    const rules: wafv2.CfnWebACL.RuleProperty[] = [
      {
        name: 'PerIpRateLimit',
        priority: 0,
        statement: {
          rateBasedStatement: {
            limit: props.rateLimit ?? DEFAULT_APPROVAL_RATE_LIMIT,
            aggregateKeyType: 'IP',
            evaluationWindowSec: 300,
          },
        },
        action: { block: { customResponse: { responseCode: 429 } } },
        visibilityConfig: visibility('bluegreen-approval-rate'),
      },
    ];
    if (props.managedRules ?? true) {
      for (const [i, name] of ['AWSManagedRulesAmazonIpReputationList', 'AWSManagedRulesCommonRuleSet'].entries()) {
        rules.push({
          name,
          priority: i + 1,
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
          overrideAction: { none: {} },
          visibilityConfig: visibility(`bluegreen-approval-${name}`),
        });
      }
    }
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: 'Approval page of the Aurora blue/green deployment: per-IP rate limit',
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('bluegreen-approval'),
      rules,
    });
    this.webAclArn = this.webAcl.attrArn;
  }
}

export interface ApprovalWebAclStackProps extends Omit<StackProps, 'env'>, ApprovalWebAclRules {
  /** The account of the deployment; the stack is always in us-east-1. */
  readonly account: string;
}

/**
 * The approval page's web ACL on its own, for a deployment outside us-east-1: deploy it first
 * (`npm run deploy:approval-web-acl`), then set `approvalWaf.webAclArn` to its `WebAclArn` output.
 */
export class ApprovalWebAclStack extends Stack {
  readonly webAcl: ApprovalWebAcl;

  constructor(scope: Construct, id: string, props: ApprovalWebAclStackProps) {
    super(scope, id, {
      description: 'WAF web ACL of the Aurora blue/green approval page (CloudFront scope, us-east-1)',
      ...props,
      env: { account: props.account, region: WEB_ACL_REGION },
    });
    this.webAcl = new ApprovalWebAcl(this, 'ApprovalWebAcl', props);
    new CfnOutput(this, 'WebAclArn', {
      description: 'Set bluegreen.approvalWaf.webAclArn to this value',
      value: this.webAcl.webAclArn,
    });
  }
}
