import type { Construct } from 'constructs';
import { z } from 'zod';
import { defaultsSchema, type Defaults } from '../lambdas/domain/input';
import { CLOUDFRONT_WEB_ACL_ARN, WEB_ACL_REGION } from './approval-waf';
import {
  DEFAULT_DB_CONNECT_TIMEOUT,
  DEFAULT_EXECUTION_DEFAULTS,
  DEFAULT_STATE_MACHINE_NAME,
  DEFAULT_WRITES_BLOCKED_ALARM_AFTER,
  definitionDefaults,
  isTimeZone,
  scheduleExpressionProblem,
} from './aurora-blue-green-deployment';

/**
 * The one place that reads the deployment's configuration: the `bluegreen` object of the CDK
 * context (cdk.json, or `-c bluegreen='{…}'`). Every key is documented in docs/configuration.md.
 * A bad configuration fails synth with a message that names the key, e.g. `bluegreen.vpcId: …`.
 */

export const CONTEXT_KEY = 'bluegreen';

const hex = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-(?:[0-9a-f]{8}|[0-9a-f]{17})$`), `an id like ${prefix}-0123456789abcdef0`);
const email = z.email('an email address');
const d = DEFAULT_EXECUTION_DEFAULTS;
const tunable = defaultsSchema.shape;
const principalArn = (what: string) =>
  z
    .string()
    .regex(
      /^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):[\w+=,.@\-/*]+$/,
      `${what}: an IAM role, user or account (root) ARN`,
    );

/** The approval page's WAF (infra/approval-waf.ts); also read on its own by infra/approval-web-acl-app.ts. */
export const approvalWafSchema = z.strictObject({
  webAclArn: z
    .string()
    .regex(
      CLOUDFRONT_WEB_ACL_ARN,
      'the ARN of a CLOUDFRONT-scope web ACL: arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>',
    )
    .optional(),
  rateLimit: z
    .number()
    .int('a whole number of requests')
    .min(10, 'at least 10 requests per 5 minutes (WAF minimum)')
    .max(2_000_000_000, 'at most 2000000000 requests per 5 minutes (WAF maximum)')
    .optional(),
  managedRules: z.boolean().optional(),
});

export const configSchema = z
  .strictObject({
    account: z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id'),
    region: z.string().regex(/^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'an AWS region such as eu-west-1'),
    vpcId: hex('vpc'),
    availabilityZones: z
      .array(z.string().regex(/^[a-z]{2}(?:-gov)?-[a-z]+-\d[a-z]$/, 'an availability zone such as eu-west-1a'))
      .min(1, 'at least one availability zone'),
    privateSubnetIds: z.array(hex('subnet')).min(1, 'at least one private subnet for the database Lambdas'),
    adminSecurityGroupId: hex('sg'),
    clusterIdPrefix: z
      .string()
      .regex(
        /^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,39}$/,
        'the start of an RDS cluster identifier: a letter, then up to 39 letters, digits or single hyphens',
      ),
    hostedZoneId: z.string().regex(/^Z[A-Z0-9]{1,31}$/, 'a Route 53 hosted zone id such as Z0123456789EXAMPLE'),
    hostedZoneName: z
      .string()
      .regex(/^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)+[A-Za-z0-9-]{1,63}\.?$/, 'a DNS zone name'),
    recordName: z.string().min(1, 'the CNAME that applications connect to'),
    // A secret of your own, or the one RDS manages for blue's master user (`rds!cluster-<uuid>`,
    // the form `MasterUserSecret.SecretArn` has): `!` is part of that name.
    databaseSecretArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+-[A-Za-z0-9]{6}$/,
        'the complete ARN of a Secrets Manager secret (ending in the 6-character suffix), e.g. rds!cluster-… for a password RDS manages',
      ),
    databaseSecretKmsKeyArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'the ARN of a KMS key')
      .optional(),
    approvalEmails: z.array(email).min(1, 'at least one approver'),
    notificationEmails: z.array(email).default([]),
    approverSubscriberArns: z.array(principalArn('who may subscribe to the approvers topic')).optional(),
    emergencyApproverArns: z.array(principalArn('who may assume the emergency approver role')).default([]),
    writesBlockedAlarmAfterMinutes: z
      .number()
      .int('whole minutes')
      .min(1, 'at least 1 minute')
      .max(1440, 'at most 1440 minutes (1 day)')
      .default(DEFAULT_WRITES_BLOCKED_ALARM_AFTER.toMinutes()),
    approvalWaf: approvalWafSchema.optional(),
    databaseEgress: z
      .strictObject({
        endpointSecurityGroupIds: z.array(hex('sg')).default([]),
        endpointPrefixListIds: z
          .array(z.string().regex(/^pl-[0-9a-f]{8,17}$/, 'a prefix list id such as pl-6da54004'))
          .default([]),
        databasePort: z
          .number()
          .int()
          .min(1150, 'Aurora ports are 1150-65535')
          .max(65535, 'Aurora ports are 1150-65535')
          .default(5432),
      })
      .optional(),
    // Approvers sign in with this OpenID Connect issuer to decide (docs/approval.md, "Approver identity").
    approverIdentity: z
      .strictObject({
        issuer: z.url({ protocol: /^https$/, error: 'the https URL of an OpenID Connect issuer' }),
        clientId: z.string().regex(/^[\x21-\x7e]{1,256}$/, 'the client id of a public OpenID Connect client'),
        audience: z.array(z.string().min(1)).min(1, 'at least one audience').optional(),
        claim: z.enum(['email', 'sub']).default('email'),
        forbidSelfApproval: z.boolean().default(false),
      })
      .refine((identity) => !(identity.forbidSelfApproval && identity.claim === 'sub'), {
        path: ['forbidSelfApproval'],
        message:
          "needs claim 'email': CloudTrail names the starter by session or user name, which a 'sub' never equals",
      })
      .optional(),
    migrationUploaderArns: z
      .array(z.string().regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@\-/*]+$/, 'an IAM role or user ARN'))
      .default([]),
    schedule: z
      .strictObject({
        expression: z.string().superRefine((value, ctx) => {
          const problem = scheduleExpressionProblem(value);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
        timeZone: z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Paris or UTC').default('UTC'),
        state: z.enum(['ENABLED', 'DISABLED']).default('ENABLED'),
        input: z.record(z.string(), z.unknown()),
      })
      .optional(),
    defaults: z
      .strictObject({
        pollIntervalSeconds: tunable.pollIntervalSeconds.default(d.pollIntervalSeconds),
        maxPolls: tunable.maxPolls.default(d.maxPolls),
        checkWindowSeconds: tunable.checkWindowSeconds.default(d.checkWindowSeconds),
        checkEveryMs: tunable.checkEveryMs.default(d.checkEveryMs),
        approvalTimeoutSeconds: tunable.approvalTimeoutSeconds.default(d.approvalTimeoutSeconds),
        blueRetentionSeconds: tunable.blueRetentionSeconds.default(d.blueRetentionSeconds),
        cutoverTtlSeconds: tunable.cutoverTtlSeconds.default(d.cutoverTtlSeconds),
        replicaCount: tunable.replicaCount.default(d.replicaCount),
        lockTimeoutMs: tunable.lockTimeoutMs.default(d.lockTimeoutMs),
        statementTimeoutMs: tunable.statementTimeoutMs.default(d.statementTimeoutMs),
      })
      .default({ ...d }),
    allowDeletionProtectionOff: z.boolean().default(false),
    dbConnectTimeoutMs: z
      .number()
      .int()
      .min(1000, 'at least 1000 ms')
      .max(60_000, 'at most 60000 ms')
      .default(DEFAULT_DB_CONNECT_TIMEOUT.toMilliseconds()),
    stateMachineName: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,80}$/, '1 to 80 letters, digits, hyphens or underscores')
      .default(DEFAULT_STATE_MACHINE_NAME),
    monitoringRoleArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9/_+=,.@-]+$/, 'the ARN of an IAM role')
      .optional(),
    clusterRoleArns: z
      .array(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9/_+=,.@-]+$/, 'the ARN of an IAM role'))
      .default([]),
    clusterKmsKeyArns: z
      .array(z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'the ARN of a KMS key'))
      .default([]),
  })
  .superRefine((config, ctx) => {
    if (config.privateSubnetIds.length % config.availabilityZones.length !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['privateSubnetIds'],
        message: `give the same number of subnets in each availability zone (${config.privateSubnetIds.length} subnets for ${config.availabilityZones.length} zones)`,
      });
    }
    for (const [i, az] of config.availabilityZones.entries()) {
      if (!az.startsWith(config.region)) {
        ctx.addIssue({ code: 'custom', path: ['availabilityZones', i], message: `${az} is not in ${config.region}` });
      }
    }
    const zone = config.hostedZoneName.toLowerCase().replace(/\.$/, '');
    const record = config.recordName.toLowerCase().replace(/\.$/, '');
    if (!record.endsWith(`.${zone}`)) {
      ctx.addIssue({
        code: 'custom',
        path: ['recordName'],
        message: `must be a name inside the hosted zone ${zone}, such as db.${zone}`,
      });
    }
    const secretArn = config.databaseSecretArn.split(':');
    if (secretArn[3] !== config.region || secretArn[4] !== config.account) {
      ctx.addIssue({
        code: 'custom',
        path: ['databaseSecretArn'],
        message: `must be a secret of account ${config.account} in ${config.region}`,
      });
    }
    const secretKey = config.databaseSecretKmsKeyArn?.split(':');
    if (secretKey && (secretKey[3] !== config.region || secretKey[4] !== config.account)) {
      ctx.addIssue({
        code: 'custom',
        path: ['databaseSecretKmsKeyArn'],
        message: `must be a key of account ${config.account} in ${config.region}`,
      });
    }
    const waf = config.approvalWaf;
    if (waf && !waf.webAclArn && config.region !== WEB_ACL_REGION) {
      ctx.addIssue({
        code: 'custom',
        path: ['approvalWaf', 'webAclArn'],
        message: `required outside ${WEB_ACL_REGION}: CloudFront takes only a web ACL made in ${WEB_ACL_REGION}; deploy it first with npm run deploy:approval-web-acl and set its WebAclArn output here (docs/approval.md)`,
      });
    }
    if (waf?.webAclArn && waf.webAclArn.split(':')[4] !== config.account) {
      ctx.addIssue({
        code: 'custom',
        path: ['approvalWaf', 'webAclArn'],
        message: `must be a web ACL of account ${config.account} (the distribution's)`,
      });
    }
    const egress = config.databaseEgress;
    if (egress && egress.endpointSecurityGroupIds.length + egress.endpointPrefixListIds.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['databaseEgress'],
        message:
          'give endpointSecurityGroupIds or endpointPrefixListIds: the database Lambdas call Secrets Manager and RDS on 443',
      });
    }
    const blue = config.schedule?.input['blueClusterId'];
    if (
      config.schedule &&
      blue !== undefined &&
      (typeof blue !== 'string' || !blue.startsWith(config.clusterIdPrefix))
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'input', 'blueClusterId'],
        message: `the blue cluster starts with clusterIdPrefix "${config.clusterIdPrefix}" (or leave it out: blue is then the cluster the CNAME points at)`,
      });
    }
  });

export type BlueGreenConfig = z.output<typeof configSchema>;
export type BlueGreenConfigInput = z.input<typeof configSchema>;

/** Something that can read CDK context: an App or any construct, or a getter. */
export type ContextSource = Construct | ((key: string) => unknown);

/** Reads and validates the `bluegreen` context; throws an Error naming each bad key. */
export function readConfig(source: ContextSource): BlueGreenConfig {
  const raw = typeof source === 'function' ? source(CONTEXT_KEY) : source.node.tryGetContext(CONTEXT_KEY);
  if (raw === undefined) {
    throw new Error(
      `Missing configuration: set the context key "${CONTEXT_KEY}" in cdk.json (see docs/configuration.md)`,
    );
  }
  // `-c bluegreen='{…}'` on the command line arrives as a string.
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new Error(`Invalid configuration: ${CONTEXT_KEY}: is not valid JSON`);
    }
  }
  return parseConfig(value);
}

/** Validates a configuration object; throws an Error naming each bad key. */
export function parseConfig(value: unknown): BlueGreenConfig {
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = [CONTEXT_KEY, ...issue.path.map(String)].join('.');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => `${key}.${k}: unknown key (check the spelling)`).join('; ');
      }
      if (issue.code === 'invalid_type' && issue.input === undefined) return `${key}: is required`;
      return `${key}: ${issue.message}`;
    });
    throw new Error(`Invalid configuration in cdk.json context: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The defaults that `buildDefinition` embeds and `ValidateInput` applies. */
export function toDefinitionDefaults(config: BlueGreenConfig): Defaults {
  return definitionDefaults({
    executionDefaults: config.defaults,
    clusterIdPrefix: config.clusterIdPrefix,
    adminSecurityGroupId: config.adminSecurityGroupId,
    allowDeletionProtectionOff: config.allowDeletionProtectionOff,
    hostedZoneId: config.hostedZoneId,
    recordName: config.recordName,
    monitoringRoleConfigured: config.monitoringRoleArn !== undefined,
    clusterRoleArns: config.clusterRoleArns,
  });
}
