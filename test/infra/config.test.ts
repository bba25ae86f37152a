import { App } from 'aws-cdk-lib';
import { parseConfig, readConfig, toDefinitionDefaults } from '../../infra/config';
import { stepInput } from '../support/step-fixtures';
import { configProblem, exampleConfigInput } from './fixture';

type Config = Record<string, unknown> & { schedule: Record<string, unknown>; defaults?: Record<string, unknown> };
const example = () => exampleConfigInput() as Config;

/** The `defaults` the documentation promises when cdk.json sets none. */
const DOCUMENTED_DEFAULTS = {
  pollIntervalSeconds: 30,
  maxPolls: 240,
  checkWindowSeconds: 20,
  checkEveryMs: 2_000,
  approvalTimeoutSeconds: 3_600,
  blueRetentionSeconds: 86_400,
  cutoverTtlSeconds: 5,
  replicaCount: 1,
  lockTimeoutMs: 5_000,
  statementTimeoutMs: 600_000,
};

const problemWith = (mutate: (config: Config) => void): string => configProblem<Config>(mutate);

describe('the approval timeout (writes are blocked while it waits)', () => {
  it('defaults to 1 hour and is capped at 12 hours, in the config and in an execution input', () => {
    const input = example();
    delete input.defaults;
    expect(parseConfig(input).defaults.approvalTimeoutSeconds).toBe(3_600);
    expect(
      problemWith((config) => {
        config.defaults = { ...(config.defaults ?? {}), approvalTimeoutSeconds: 86_400 };
      }),
    ).toContain('approvalTimeoutSeconds: at most 43200 seconds (12 hours): writes to blue are blocked');
    expect(() => stepInput({ approval: { timeoutSeconds: 43_201 } })).toThrow(
      /approval\.timeoutSeconds: at most 43200 seconds \(12 hours\)/,
    );
    expect(stepInput({ approval: { timeoutSeconds: 43_200 } }).approval.timeoutSeconds).toBe(43_200);
  });
});

describe('readConfig', () => {
  it('reads the example configuration of cdk.json and fills in the documented defaults', () => {
    const input = example();
    delete input.defaults;
    delete input['allowDeletionProtectionOff'];
    delete input['dbConnectTimeoutMs'];
    delete input['notificationEmails'];
    const config = readConfig(new App({ context: { bluegreen: input } }));
    expect(config.defaults).toEqual(DOCUMENTED_DEFAULTS);
    expect(config.allowDeletionProtectionOff).toBe(false);
    expect(config.dbConnectTimeoutMs).toBe(10_000);
    expect(config.notificationEmails).toEqual([]);
    expect(config.stateMachineName).toBe('aurora-bluegreen');
    expect(config.schedule).toMatchObject({ state: 'DISABLED', timeZone: 'Europe/Dublin' });
  });

  it('accepts a getter and a JSON string (as `-c bluegreen=…` passes it)', () => {
    const json = JSON.stringify(example());
    expect(readConfig((key) => (key === 'bluegreen' ? json : undefined)).vpcId).toBe('vpc-0123456789abcdef0');
  });

  it('fails when the context key is missing, saying where to put it', () => {
    expect(() => readConfig(new App())).toThrow(/context key "bluegreen" in cdk\.json/);
  });

  it('produces the Defaults that buildDefinition embeds', () => {
    const config = parseConfig({ ...example(), allowDeletionProtectionOff: true });
    expect(toDefinitionDefaults(config)).toEqual({
      ...DOCUMENTED_DEFAULTS,
      clusterIdPrefix: 'orders-',
      adminSecurityGroupId: 'sg-0123456789abcdef0',
      allowDeletionProtectionOff: true,
      hostedZoneId: 'Z0123456789EXAMPLE',
      recordName: 'orders.db.example.internal',
      monitoringRoleConfigured: example()['monitoringRoleArn'] !== undefined,
      clusterRoleArns: [],
    });
  });

  it('accepts the secret RDS manages for a master password (rds!cluster-…) and its KMS key', () => {
    const secret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b2c3d-4e5f-AbCdEf';
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/5ec2e7ab-0123-abcd-0123-0123456789ab';
    const config = parseConfig({ ...example(), databaseSecretArn: secret, databaseSecretKmsKeyArn: key });
    expect(config).toMatchObject({ databaseSecretArn: secret, databaseSecretKmsKeyArn: key });
  });

  it('tells Preflight whether a monitoring role is configured', () => {
    const role = 'arn:aws:iam::123456789012:role/rds-monitoring';
    const withRole = parseConfig({ ...example(), monitoringRoleArn: role });
    expect(toDefinitionDefaults(withRole).monitoringRoleConfigured).toBe(true);
    const config = example();
    delete config['monitoringRoleArn'];
    expect(toDefinitionDefaults(parseConfig(config)).monitoringRoleConfigured).toBe(false);
  });
});

describe('a bad configuration names the key', () => {
  it.each<[string, (c: Config) => void, RegExp]>([
    ['a missing key', (c) => delete c['vpcId'], /bluegreen\.vpcId: is required/],
    ['a malformed VPC id', (c) => (c['vpcId'] = 'vpc-123'), /bluegreen\.vpcId: an id like vpc-/],
    ['a misspelt key', (c) => (c['hostedZoneID'] = 'Z1'), /bluegreen\.hostedZoneID: unknown key/],
    ['a misspelt default', (c) => (c.defaults!['pollInterval'] = 5), /bluegreen\.defaults\.pollInterval: unknown key/],
    ['too many replicas', (c) => (c.defaults!['replicaCount'] = 16), /bluegreen\.defaults\.replicaCount: .*15/],
    ['a bad email', (c) => (c['approvalEmails'] = ['dba']), /bluegreen\.approvalEmails\.0: an email address/],
    ['no approver', (c) => (c['approvalEmails'] = []), /bluegreen\.approvalEmails: at least one approver/],
    ['a wildcard prefix', (c) => (c['clusterIdPrefix'] = '*'), /bluegreen\.clusterIdPrefix: /],
    [
      'a record outside the zone',
      (c) => (c['recordName'] = 'orders.example.com'),
      /bluegreen\.recordName: must be a name inside the hosted zone db\.example\.internal/,
    ],
    [
      'a secret key of another account',
      (c) =>
        (c['databaseSecretKmsKeyArn'] = 'arn:aws:kms:eu-west-1:999999999999:key/5ec2e7ab-0123-abcd-0123-0123456789ab'),
      /bluegreen\.databaseSecretKmsKeyArn: must be a key of account 123456789012 in eu-west-1/,
    ],
    [
      'a partial secret ARN',
      (c) => (c['databaseSecretArn'] = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin'),
      /bluegreen\.databaseSecretArn: the complete ARN/,
    ],
    [
      'a secret of another region',
      (c) => (c['databaseSecretArn'] = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-admin-AbCdEf'),
      /bluegreen\.databaseSecretArn: must be a secret of account 123456789012 in eu-west-1/,
    ],
    [
      'uneven subnets',
      (c) => (c['privateSubnetIds'] = ['subnet-0aaaaaaaaaaaaaaa1']),
      /bluegreen\.privateSubnetIds: give the same number of subnets in each availability zone/,
    ],
    [
      'a date that does not exist',
      (c) => (c.schedule['expression'] = 'at(2026-02-30T02:00:00)'),
      /bluegreen\.schedule\.expression: at\(\.\.\.\) names a date and time that does not exist/,
    ],
    [
      'a five-field cron',
      (c) => (c.schedule['expression'] = 'cron(0 2 * * ?)'),
      /bluegreen\.schedule\.expression: a cron expression has six fields/,
    ],
    [
      'a cron with both days',
      (c) => (c.schedule['expression'] = 'cron(0 2 5 12 SUN 2026)'),
      /bluegreen\.schedule\.expression: a cron expression sets day-of-month or day-of-week to "\?"/,
    ],
    ['an unknown time zone', (c) => (c.schedule['timeZone'] = 'Mars/Olympus'), /bluegreen\.schedule\.timeZone: /],
    ['a bad state', (c) => (c.schedule['state'] = 'PAUSED'), /bluegreen\.schedule\.state: /],
    [
      'a scheduled blue outside the prefix',
      (c) => (c.schedule['input'] = { blueClusterId: 'billing-prod' }),
      /bluegreen\.schedule\.input\.blueClusterId: .*clusterIdPrefix "orders-"/,
    ],
    [
      'a check window longer than a check Lambda can run',
      (c) => (c.defaults = { checkWindowSeconds: 50 }),
      /bluegreen\.defaults\.checkWindowSeconds: at most 45 seconds \(a check's Lambda times out at 60 s\)/,
    ],
    [
      'a connect timeout too short',
      (c) => (c['dbConnectTimeoutMs'] = 10),
      /bluegreen\.dbConnectTimeoutMs: at least 1000 ms/,
    ],
  ])('%s', (_label, mutate, expected) => {
    expect(problemWith(mutate)).toMatch(expected);
  });

  it('lists every bad key at once', () => {
    const message = problemWith((c) => {
      c['vpcId'] = 'x';
      c['hostedZoneId'] = 'nope';
    });
    expect(message).toMatch(/bluegreen\.vpcId: .*; bluegreen\.hostedZoneId: /);
  });

  it('accepts cron and rate expressions EventBridge Scheduler accepts', () => {
    for (const expression of ['cron(0 2 ? * SUN *)', 'cron(30 1 5 12 ? 2026)', 'rate(1 day)', 'rate(7 days)']) {
      expect(parseConfig({ ...example(), schedule: { ...example().schedule, expression } }).schedule?.expression).toBe(
        expression,
      );
    }
    expect(problemWith((c) => (c.schedule['expression'] = 'rate(1 days)'))).toMatch(/singular/);
  });
});
