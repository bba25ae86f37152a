import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ApprovalWebAcl, approvalWafProblems, ORIGIN_VERIFY_HEADER, type ApprovalWafOptions } from './approval-waf';
import { handlerFunction } from './lambda-code';
import { acknowledgeWildcardsOnly } from './wildcard-acknowledgements';

/**
 * esbuild settings of the approval functions (`npm run build:lib` prebuilds them with these too).
 * CommonJS output: esbuild bundles the ESM-only @middy/core into it, and no require banner is needed.
 * The AWS SDK is the Lambda runtime's (what NodejsFunction leaves out by default for Node.js 22,
 * spelled out so that the prebuilt bundles do not depend on the app's feature flags).
 */
export const APPROVAL_BUNDLING = {
  forceDockerBundling: false,
  minify: true,
  sourceMap: true,
  target: 'node22',
  format: OutputFormat.CJS,
  externalModules: ['@aws-sdk/*', '@smithy/*'],
} satisfies BundlingOptions;

/** The HTTP API's route keys (also what the access log records instead of the path). */
export const APPROVAL_ROUTES = {
  page: 'GET /approvals/{id}',
  head: 'HEAD /approvals/{id}',
  decision: 'POST /approvals/{id}',
  /** Only with `approverIdentity`: where the issuer sends the approver back after signing in. */
  signedIn: 'GET /signed-in',
} as const;

/**
 * Who may decide: approvers signed in with an OpenID Connect issuer (docs/approval.md, "Approver
 * identity"). The deciding POST then needs a valid ID token, checked by API Gateway's JWT authorizer.
 */
export interface ApproverIdentity {
  /** The issuer URL exactly as its tokens' `iss` says (https), e.g. `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC`. */
  readonly issuer: string;
  /** The page's OpenID Connect client: a public client (no secret) allowed the authorization code flow with PKCE. */
  readonly clientId: string;
  /**
   * Accepted `aud` values of the ID token.
   * @default - [clientId]
   */
  readonly audience?: readonly string[];
  /**
   * The claim that names the approver in the approvals table, the execution and the log.
   * @default 'email'
   */
  readonly claim?: 'email' | 'sub';
  /**
   * Refuse an approval by the identity that started the execution, as CloudTrail's
   * `StartExecution` record names it (an assumed role's or IAM Identity Center's session name, an
   * IAM user's name). Grants the approval function `cloudtrail:LookupEvents`. Needs `claim: 'email'`:
   * a `sub` never equals a session name. Until CloudTrail has delivered the event (minutes), an
   * approval is refused with "try again in a few minutes".
   * @default false
   */
  readonly forbidSelfApproval?: boolean;
}

/** Checks an `ApproverIdentity` before anything is made of it: each message names the field. */
export function validateApproverIdentity(identity: ApproverIdentity): void {
  if (!Token.isUnresolved(identity.issuer)) {
    let url: URL | undefined;
    try {
      url = new URL(identity.issuer);
    } catch {
      url = undefined;
    }
    if (!url || url.protocol !== 'https:' || url.search || url.hash) {
      throw new Error(
        `approverIdentity.issuer must be an https URL without query or fragment, got "${identity.issuer}"`,
      );
    }
  }
  if (!Token.isUnresolved(identity.clientId) && !/^[\x21-\x7e]{1,256}$/.test(identity.clientId)) {
    throw new Error('approverIdentity.clientId must be 1 to 256 printable characters without spaces');
  }
  if (identity.audience !== undefined && identity.audience.length === 0) {
    throw new Error('approverIdentity.audience must name at least one audience when given');
  }
  if (identity.claim !== undefined && identity.claim !== 'email' && identity.claim !== 'sub') {
    throw new Error(`approverIdentity.claim must be 'email' or 'sub', got "${String(identity.claim)}"`);
  }
  if (identity.forbidSelfApproval !== undefined && typeof identity.forbidSelfApproval !== 'boolean') {
    throw new Error(
      `approverIdentity.forbidSelfApproval must be true or false, got ${JSON.stringify(identity.forbidSelfApproval)}`,
    );
  }
  if (identity.forbidSelfApproval && identity.claim === 'sub') {
    throw new Error(
      "approverIdentity.forbidSelfApproval needs claim 'email': CloudTrail names the starter by session or user name, which a 'sub' never equals",
    );
  }
}

/** The handlers (lambdas/handlers/<name>.ts) of the approval functions. */
export const APPROVAL_HANDLERS = ['approval-api', 'request-approval'] as const;

/** What DynamoDB needs of a caller on a table with a customer-managed key: exact actions, no wildcard. */
function grantTableKey(key: kms.IKey, grantee: iam.IGrantable): void {
  key.grant(grantee, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
}

export interface ApprovalEndpointProps {
  /**
   * ARN of the state machine whose `RequestApproval` task waits for the decision. The endpoint may
   * send task success/failure to it and nothing else.
   *
   * Build it with `Stack.formatArn` from the state machine's fixed name, not from the state
   * machine object: the state machine references `requestApprovalFunction`, so a reference back
   * would be a CloudFormation dependency cycle.
   */
  readonly stateMachineArn: string;

  /** The topic the approval email is published to (the approvers subscribe to it). */
  readonly topic: sns.ITopic;

  /**
   * Steady-state request rate of the approval page, requests per second.
   * @default 5
   */
  readonly throttlingRateLimit?: number;

  /**
   * Burst of requests the approval page accepts.
   * @default 10
   */
  readonly throttlingBurstLimit?: number;

  /**
   * Throttling of `GET|HEAD /approvals/{id}` (showing the page), per second.
   * @default - 5 requests per second, a burst of 10 (the stage's own limits)
   */
  readonly pageThrottle?: { readonly rateLimit: number; readonly burstLimit: number };

  /**
   * Throttling of `POST /approvals/{id}` (deciding). Tighter than the page: a real approver posts
   * once; a flood of posts should not reach the function, DynamoDB or Step Functions.
   * @default - 1 request per second, a burst of 3
   */
  readonly decisionThrottle?: { readonly rateLimit: number; readonly burstLimit: number };

  /**
   * Who may assume the emergency approver role (docs/approval.md, "When the page cannot be
   * reached"): a role allowed only `states:SendTaskSuccess` and `states:SendTaskFailure`, to
   * decide with the CLI.
   * @default - no emergency role
   */
  readonly emergencyApprover?: iam.IPrincipal;

  /**
   * The emergency approver role's name (fixed, so that an SCP can name it).
   * @default 'bluegreen-emergency-approver'
   */
  readonly emergencyApproverRoleName?: string;

  /**
   * Retention of the functions' logs and the API's access logs.
   * @default logs.RetentionDays.ONE_YEAR - the access log is the audit trail of who opened and decided
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Customer-managed key for the approvals table. Reading the table then needs `kms:Decrypt` on
   * this key, which `ReadOnlyAccess` does not grant.
   * @default - a new customer-managed key with yearly rotation, usable only by the two functions
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Approvers sign in with this OpenID Connect issuer to decide; the decision records who decided.
   * @default - no sign-in: whoever holds the link (and the page's nonce) decides
   */
  readonly approverIdentity?: ApproverIdentity;

  /**
   * What happens to the approvals table when it leaves the stack.
   * @default RemovalPolicy.RETAIN - decided approvals record who approved a cutover, and when
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Put CloudFront with a WAF web ACL (per-IP rate limit) in front of the page
   * (docs/approval.md, "WAF in front of the page"). Approval links then use CloudFront's domain,
   * and the page refuses requests that did not come through CloudFront.
   * @default - no WAF: the HTTP API's own throttling only
   */
  readonly waf?: ApprovalWafOptions;
}

/**
 * The human approval before cutover (docs/approval.md): the approvals table, the
 * `RequestApproval` function (a `waitForTaskToken` task target) and the approval page behind an
 * API Gateway HTTP API with throttling and access logs.
 */
export class ApprovalEndpoint extends Construct {
  /** Target of the `RequestApproval` task (`lambda:invoke.waitForTaskToken`). */
  readonly requestApprovalFunction: lambda.IFunction;
  /** Serves `GET|POST /approvals/{id}`. */
  readonly approvalApiFunction: lambda.IFunction;
  /** Base URL of the approval page; links are `${url}approvals/{id}`. */
  readonly url: string;
  readonly table: dynamodb.ITableV2;
  /** The customer-managed key of the approvals table. */
  readonly encryptionKey: kms.IKey;
  readonly api: apigwv2.HttpApi;
  readonly accessLogGroup: logs.ILogGroup;
  /** The emergency approver role, when `emergencyApprover` was given. */
  readonly emergencyApproverRole?: iam.Role;
  /** CloudFront in front of the API, with `waf`. */
  readonly distribution?: cloudfront.Distribution;
  /** The web ACL, when `waf` made one (a stack in us-east-1 without `waf.webAclArn`). */
  readonly webAcl?: ApprovalWebAcl;

  constructor(scope: Construct, id: string, props: ApprovalEndpointProps) {
    super(scope, id);
    const rateLimit = props.throttlingRateLimit ?? 5;
    const burstLimit = props.throttlingBurstLimit ?? 10;
    if (!Token.isUnresolved(props.stateMachineArn) && !/^arn:[\w-]+:states:/.test(props.stateMachineArn)) {
      throw new Error(`stateMachineArn must be a Step Functions state machine ARN, got ${props.stateMachineArn}`);
    }
    const pageThrottle = props.pageThrottle ?? { rateLimit, burstLimit };
    const decisionThrottle = props.decisionThrottle ?? { rateLimit: 1, burstLimit: 3 };
    for (const [name, t] of Object.entries({ throttling: { rateLimit, burstLimit }, pageThrottle, decisionThrottle })) {
      if (!(t.rateLimit > 0 && t.burstLimit > 0)) throw new Error(`${name}: throttling limits must be positive`);
    }
    if (props.waf) {
      const problems = approvalWafProblems(props.waf, Stack.of(this).region);
      if (problems.length) throw new Error(`ApprovalEndpoint: ${problems.join('; ')}`);
    }
    const retention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const identity = props.approverIdentity;
    if (identity) validateApproverIdentity(identity);

    const encryptionKey =
      props.encryptionKey ??
      new kms.Key(this, 'TableKey', {
        description: 'Approvals table of the Aurora blue/green deployment (only its functions may decrypt)',
        enableKeyRotation: true,
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      });
    this.encryptionKey = encryptionKey;
    // Keyed by the SHA-256 of the approval id: the table never holds the link's secret.
    const table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: 'idHash', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      timeToLiveAttribute: 'expiresAtEpoch',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.customerManagedKey(encryptionKey),
      deletionProtection: (props.removalPolicy ?? RemovalPolicy.RETAIN) === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.table = table;

    const accessLogGroup = new logs.LogGroup(this, 'AccessLogs', { retention });
    this.accessLogGroup = accessLogGroup;

    const apiFunction = this.nodeFunction('ApiFunction', 'approval-api', retention, {
      description: 'Approval page: shows the evidence, takes one decision and sends it to Step Functions',
      environment: {
        APPROVALS_TABLE: table.tableName,
        ...(identity
          ? {
              APPROVER_ISSUER: identity.issuer,
              APPROVER_CLIENT_ID: identity.clientId,
              APPROVER_CLAIM: identity.claim ?? 'email',
              FORBID_SELF_APPROVAL: identity.forbidSelfApproval ? 'true' : 'false',
            }
          : {}),
      },
      alsoOnAnyResource: {
        actions: [
          'states:SendTaskSuccess',
          'states:SendTaskFailure',
          ...(identity?.forbidSelfApproval ? ['cloudtrail:LookupEvents'] : []),
        ],
        why:
          '; nor do states:SendTaskSuccess and states:SendTaskFailure (the Service Authorization Reference lists no resource type): the task token is what names the task.' +
          (identity?.forbidSelfApproval
            ? ' cloudtrail:LookupEvents (read-only, for forbidSelfApproval: who called StartExecution) is wildcard-only in the Service Authorization Reference.'
            : ''),
      },
    });
    table.grant(apiFunction, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    grantTableKey(encryptionKey, apiFunction);
    apiFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        // Wildcard-only actions: a statement naming the state machine's ARN would never match, and
        // every decision would be denied in AWS (test/infra/iam-simulation.test.ts).
        resources: ['*'],
      }),
    );
    if (identity?.forbidSelfApproval) {
      // Who started the run (forbidSelfApproval). Wildcard-only: no resource type, no condition key.
      apiFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ['cloudtrail:LookupEvents'], resources: ['*'] }));
    }
    this.approvalApiFunction = apiFunction;

    const api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Approval page of the Aurora blue/green deployment',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('ApprovalPage', apiFunction, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    // Showing never needs a token (an email link is a plain navigation); deciding does, when configured.
    api.addRoutes({ path: '/approvals/{id}', methods: [apigwv2.HttpMethod.GET, apigwv2.HttpMethod.HEAD], integration });
    api.addRoutes({
      path: '/approvals/{id}',
      methods: [apigwv2.HttpMethod.POST],
      integration,
      ...(identity
        ? {
            authorizer: new HttpJwtAuthorizer('ApproverIdentity', identity.issuer, {
              jwtAudience: [...(identity.audience ?? [identity.clientId])],
              identitySource: ['$request.header.Authorization'],
            }),
          }
        : {}),
    });
    if (identity) api.addRoutes({ path: '/signed-in', methods: [apigwv2.HttpMethod.GET], integration });
    const stage = new apigwv2.HttpStage(this, 'Stage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit, burstLimit },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
        // The route key ("POST /approvals/{id}") instead of the path: no approval id, no query
        // string and no body ever reach the access log.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            routeKey: '$context.routeKey',
            protocol: '$context.protocol',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
            latencyMs: '$context.responseLatency',
          }),
        ),
      },
    });
    // Per-route limits (the L2 stage has only the stage-wide one): deciding is tighter than looking.
    const perRoute = (t: { rateLimit: number; burstLimit: number }) => ({
      ThrottlingRateLimit: t.rateLimit,
      ThrottlingBurstLimit: t.burstLimit,
    });
    (stage.node.defaultChild as apigwv2.CfnStage).addPropertyOverride('RouteSettings', {
      [APPROVAL_ROUTES.page]: perRoute(pageThrottle),
      [APPROVAL_ROUTES.head]: perRoute(pageThrottle),
      [APPROVAL_ROUTES.decision]: perRoute(decisionThrottle),
      ...(identity ? { [APPROVAL_ROUTES.signedIn]: perRoute(pageThrottle) } : {}),
    });
    this.api = api;
    this.url = stage.url;
    if (props.waf) {
      const edge = this.wafInFront(api, props.waf, apiFunction);
      this.distribution = edge.distribution;
      if (edge.webAcl) this.webAcl = edge.webAcl;
      this.url = `https://${edge.distribution.distributionDomainName}/`;
    }

    if (props.emergencyApprover) {
      const role = new iam.Role(this, 'EmergencyApproverRole', {
        roleName: props.emergencyApproverRoleName ?? 'bluegreen-emergency-approver',
        assumedBy: props.emergencyApprover,
        description: 'Decides a waiting approval with the CLI when the approval page cannot be reached',
        maxSessionDuration: Duration.hours(1),
      });
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'DecideApprovals',
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          // Wildcard-only actions, as for the approval page's own function: a statement naming
          // the state machine could be denied in AWS, when the page is already unreachable.
          resources: ['*'],
        }),
      );
      acknowledgeWildcardsOnly(
        role,
        ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        'they support no resource-level permissions (the Service Authorization Reference lists no resource type): the task token names the task.',
      );
      this.emergencyApproverRole = role;
    }

    const requestFunction = this.nodeFunction('RequestApprovalFunction', 'request-approval', retention, {
      description: 'RequestApproval: stores the task token under a random approval id and emails the link',
      environment: {
        APPROVALS_TABLE: table.tableName,
        APPROVAL_BASE_URL: this.url,
        TOPIC_ARN: props.topic.topicArn,
      },
    });
    table.grant(requestFunction, 'dynamodb:PutItem');
    grantTableKey(encryptionKey, requestFunction);
    props.topic.grantPublish(requestFunction);
    this.requestApprovalFunction = requestFunction;

    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: identity
        ? 'POST /approvals/{id} (deciding) has a JWT authorizer (approverIdentity). GET /approvals/{id} and GET /signed-in only show a page: an email link is a plain navigation that carries no token, and a GET never decides.'
        : 'The approval link is a capability URL: a random 192-bit approval id, plus a per-approval nonce in the form for POST. Approvers read the email on a phone with no AWS identity, so IAM, Cognito or a Lambda authorizer would lock them out.',
    });
  }

  /**
   * CloudFront with the web ACL in front of the API. CloudFront adds a header whose value is a
   * generated secret, and the page function refuses a request without it, so a flood sent straight
   * to execute-api does not get around the WAF. Nothing is cached and nothing is logged at the edge.
   */
  private wafInFront(
    api: apigwv2.HttpApi,
    waf: ApprovalWafOptions,
    apiFunction: lambda.Function,
  ): { distribution: cloudfront.Distribution; webAcl?: ApprovalWebAcl } {
    const stack = Stack.of(this);
    const webAcl = waf.webAclArn
      ? undefined
      : new ApprovalWebAcl(this, 'WebAcl', {
          ...(waf.rateLimit !== undefined ? { rateLimit: waf.rateLimit } : {}),
          ...(waf.managedRules !== undefined ? { managedRules: waf.managedRules } : {}),
        });
    const originVerify = new secretsmanager.Secret(this, 'OriginVerifySecret', {
      description: `Header ${ORIGIN_VERIFY_HEADER} that CloudFront adds and the approval page requires`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    // Dynamic references: the template holds {{resolve:secretsmanager:…}}, never the value.
    const verifyValue = originVerify.secretValue.unsafeUnwrap();
    apiFunction.addEnvironment('ORIGIN_VERIFY_HEADER', ORIGIN_VERIFY_HEADER);
    apiFunction.addEnvironment('ORIGIN_VERIFY_VALUE', verifyValue);
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Approval page of the Aurora blue/green deployment, behind WAF',
      webAclId: waf.webAclArn ?? webAcl!.webAclArn,
      defaultBehavior: {
        origin: new origins.HttpOrigin(`${api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`, {
          protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
          customHeaders: { [ORIGIN_VERIFY_HEADER]: verifyValue },
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        // POST decides; PUT, PATCH, DELETE and OPTIONS have no route and get the API's 404.
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        // Every page is per approval and changes when it is decided: never cached.
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        // Every viewer header but Host (API Gateway routes on its own host name). The managed
        // policy, not a custom one: only it forwards Authorization without caching, which a JWT
        // authorizer on the API needs. Nothing downstream logs a query string or a cookie.
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      },
      enableLogging: false,
    });
    Validations.of(originVerify).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The origin-verify header value only proves that a request came through CloudFront (and its WAF); it grants nothing. Rotating it would have to update CloudFront and the function together: redeploy to change it.',
    });
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason: 'Approvers may be anywhere (on call, travelling): no geo restriction; the WAF rate rule limits each IP.',
    });
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR3',
      reason:
        'No CloudFront access logs on purpose: they record the path, which holds the approval id (the link is the credential). The HTTP API access log records the route key instead.',
    });
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR4',
      reason:
        'The default *.cloudfront.net certificate: CloudFront then negotiates TLSv1 or later with viewers; a minimum of TLSv1.2 needs a custom domain and an ACM certificate in us-east-1.',
    });
    return webAcl ? { distribution, webAcl } : { distribution };
  }

  private nodeFunction(
    id: string,
    handlerName: (typeof APPROVAL_HANDLERS)[number],
    retention: logs.RetentionDays,
    options: {
      description: string;
      environment: Record<string, string>;
      /** More wildcard-only actions the role holds on `*`, and why. */
      alsoOnAnyResource?: { actions: string[]; why: string };
    },
  ): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${options.description} (execution role)`,
    });
    // Its own log group only, instead of AWSLambdaBasicExecutionRole's logs:* on every group.
    logGroup.grantWrite(role);
    const fn = handlerFunction(this, id, {
      handlerName,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(15),
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup,
      description: options.description,
      environment: { ...options.environment, NODE_OPTIONS: '--enable-source-maps', POWERTOOLS_LOG_LEVEL: 'INFO' },
      bundling: APPROVAL_BUNDLING,
    });
    acknowledgeWildcardsOnly(
      role,
      ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', ...(options.alsoOnAnyResource?.actions ?? [])],
      'X-Ray tracing supports no resource-level permissions' + (options.alsoOnAnyResource?.why ?? '.'),
    );
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the project targets and tests (esbuild target node22); it is supported by Lambda.',
    });
    return fn;
  }
}
