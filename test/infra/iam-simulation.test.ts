import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, Route53Client } from '@aws-sdk/client-route-53';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { Template } from 'aws-cdk-lib/assertions';
import { DynamoLock } from '../../lambdas/aws/lock-dynamodb';
import { DynamoDbApprovals } from '../../lambdas/aws/approvals-dynamodb';
import { Ec2Network } from '../../lambdas/aws/network-ec2';
import { RdsClusters } from '../../lambdas/aws/clusters-rds';
import { Route53Dns } from '../../lambdas/aws/dns-route53';
import { S3MigrationSource } from '../../lambdas/aws/migration-source-s3';
import { SnsNotifier } from '../../lambdas/aws/notifier-sns';
import { SnsApproverSubscriptions } from '../../lambdas/aws/approvers-sns';
import { ReplicationFailed } from '../../lambdas/domain/errors';
import type { Ports } from '../../lambdas/ports';
import { TASK_LIST, TASKS, type StepId } from '../../lambdas/steps/catalog';
import { STEPS, type StepFunction } from '../../lambdas/steps/index';
import { METHOD_PERMISSIONS, taskMayCall } from '../../infra/iam-table';
import { FakeCloud, RECORD, ZONE } from '../support/fake-cloud';
import {
  ACCOUNT,
  REGION,
  authorizationRequests,
  decide,
  type AuthorizationRequest,
  type PolicyDocument,
  type SdkCall,
  type World,
} from '../support/iam-simulation';
import { BASE_INPUT, databaseStepStubs, run } from '../workflow/harness';
import { exampleConfigInput, synthStack } from './fixture';

/**
 * Every Lambda role of the real stack, evaluated by an IAM policy simulator against the requests
 * its step really makes: the workflow runs (real ASL, fake cloud) are recorded per state as port
 * calls, each call is replayed through the real AWS adapter over aws-sdk-client-mock, and each SDK
 * call the mock saw becomes authorization requests from AWS's Service Authorization Reference.
 */

const MONITORING_ROLE = `arn:aws:iam::${ACCOUNT}:role/rds-monitoring-role`;
const CLUSTER_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0a1b2c3d-1111-2222-3333-444455556666`;
const DELETION_STEPS = [
  'DeleteBlue',
  'CheckBlueDeleted',
  'DiscardGreen',
  'CheckGreenDiscarded',
  'Rollback',
  'CheckRollback',
];
const GREEN_ONLY_MODIFIERS = ['UpgradeEngine', 'OpenGreen'];

type Resource = { Type: string; Properties: Record<string, unknown> };

// ---- the synthesized stack's roles, with CloudFormation intrinsics resolved -------------------

let resources: Record<string, Resource>;

/** A stand-in physical value for a `Ref` or `Fn::GetAtt … Arn` of a resource, by its type. */
function physical(logicalId: string, attribute?: string): string {
  const type = resources[logicalId]?.Type;
  if (!type) throw new Error(`unknown resource ${logicalId}`);
  const arnOf: Record<string, string> = {
    'AWS::DynamoDB::Table': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${logicalId}`,
    'AWS::DynamoDB::GlobalTable': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${logicalId}`,
    'AWS::SNS::Topic': `arn:aws:sns:${REGION}:${ACCOUNT}:${logicalId}`,
    'AWS::KMS::Key': `arn:aws:kms:${REGION}:${ACCOUNT}:key/${logicalId}`,
    'AWS::S3::Bucket': `arn:aws:s3:::${logicalId.toLowerCase()}`,
    'AWS::Logs::LogGroup': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${logicalId}:*`,
    'AWS::IAM::Role': `arn:aws:iam::${ACCOUNT}:role/${logicalId}`,
    'AWS::Lambda::Function': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${logicalId}`,
    'AWS::StepFunctions::StateMachine': `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${logicalId}`,
  };
  // Bucket names are lower case.
  if (attribute === undefined && type === 'AWS::S3::Bucket') return logicalId.toLowerCase();
  if (attribute === undefined)
    return type === 'AWS::SNS::Topic' || type === 'AWS::StepFunctions::StateMachine' ? arnOf[type]! : logicalId;
  if (attribute === 'Arn') return arnOf[type] ?? `arn:aws:${type}:::${logicalId}`;
  return `${logicalId}.${attribute}`;
}

function resolve(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolve);
  if (!value || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (typeof o['Ref'] === 'string') {
    const ref = o['Ref'];
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    return pseudo[ref] ?? physical(ref);
  }
  if (Array.isArray(o['Fn::GetAtt'])) {
    const [id, attribute] = o['Fn::GetAtt'] as [string, string];
    return physical(id, attribute);
  }
  if (Array.isArray(o['Fn::Join'])) {
    const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => String(resolve(p))).join(separator);
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v)]));
}

/** The identity policies of a role, resolved. */
function policiesOfRole(roleId: string): PolicyDocument[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties['Roles'] as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .map((r) => resolve(r.Properties['PolicyDocument']) as PolicyDocument);
}

/** The role id of the Lambda function whose description starts with `description`. */
function roleOfFunction(description: string): string {
  const fn = Object.values(resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties['Description']).startsWith(description),
  );
  if (!fn) throw new Error(`no function described "${description}"`);
  return (fn.Properties['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

/** The role that runs each task state; the approval endpoint's API function as `ApprovalApi`. */
const roles = new Map<string, { roleId: string; policies: PolicyDocument[] }>();
function roleOf(state: string) {
  const role = roles.get(state);
  if (!role) throw new Error(`no role for ${state}`);
  return role;
}
const logicalIdOfType = (type: string, contains: string): string => {
  const id = Object.keys(resources).find((k) => resources[k]?.Type === type && k.includes(contains));
  if (!id) throw new Error(`no ${type} named like ${contains}`);
  return id;
};

// ---- recording the workflow: state -> port method + args + the cloud at that moment ---------

interface RecordedCall {
  state: string;
  method: string;
  args: unknown[];
  world: World;
}

function worldOf(cloud: FakeCloud): World {
  return structuredClone({
    clusters: Object.fromEntries(
      [...cloud.clusters.values()].map((c) => [
        c.id,
        { tags: c.tags, engineVersion: c.engineVersion, subnetGroupName: c.subnetGroupName },
      ]),
    ),
    instances: Object.fromEntries(
      [...cloud.instances.values()].map((i) => [i.id, { tags: i.tags, clusterId: i.clusterId }]),
    ),
  });
}

function recordingPorts(ports: Ports, state: string, cloud: FakeCloud, log: RecordedCall[]): Ports {
  const wrap = <K extends keyof Ports>(port: K): Ports[K] =>
    new Proxy(ports[port], {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string' || port === 'clock') return value;
        return (...args: unknown[]) => {
          log.push({ state, method: `${port}.${property}`, args: structuredClone(args), world: worldOf(cloud) });
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return Object.fromEntries((Object.keys(ports) as (keyof Ports)[]).map((k) => [k, wrap(k)])) as unknown as Ports;
}

/** Runs one scenario of the real definition with every step's ports recorded. */
async function recordScenario(
  input: Record<string, unknown>,
  options: Parameters<typeof run>[1] = {},
): Promise<{ calls: RecordedCall[]; status: string }> {
  const calls: RecordedCall[] = [];
  let cloud: FakeCloud | undefined;
  const stubs = databaseStepStubs([]);
  const overrides: Partial<Record<StepId, StepFunction>> = {};
  for (const spec of TASK_LIST) {
    const step = stubs[spec.step as StepId] ?? STEPS[spec.step as StepId];
    if (!step) throw new Error(`no step for ${spec.state}`);
    // Overrides are per step: a step run by several states (BlockWrites and online mode's
    // SwitchoverBlockWrites) is recorded under the first, whose calls the others must equal.
    const first = TASK_LIST.find((t) => t.step === spec.step)!;
    if (first !== spec) expect([...spec.calls].sort()).toEqual([...first.calls].sort());
    overrides[spec.step as StepId] ??= (event, ports) => step(event, recordingPorts(ports, first.state, cloud!, calls));
  }
  const r = await run(input, {
    ...options,
    prepare: (c) => {
      cloud = c;
      options.prepare?.(c);
    },
    // A scenario's own override (a step made to fail) wins over the recording one.
    stepOverrides: { ...overrides, ...options.stepOverrides },
  });
  return { calls, status: [r.outcome.status, r.outcome.error?.name, r.outcome.error?.cause].filter(Boolean).join(' ') };
}

// ---- replaying each port call through the real AWS adapter ----------------------------------

const rdsMock = mockClient(RDSClient);
const route53Mock = mockClient(Route53Client);
const documentsMock = mockClient(DynamoDBDocumentClient);
const snsMock = mockClient(SNSClient);
const s3Mock = mockClient(S3Client);
const ec2Mock = mockClient(EC2Client);

let lockTable: string;
let approvalsTable: string;
let topicArn: string;
let approversTopicArn: string;
let topicKeyArn: string;

async function sdkCallsOf(call: RecordedCall): Promise<SdkCall[]> {
  for (const m of [rdsMock, route53Mock, documentsMock, snsMock, s3Mock, ec2Mock]) m.reset();
  route53Mock
    .on(ChangeResourceRecordSetsCommand)
    .resolves({ ChangeInfo: { Id: '/change/C0123', Status: 'PENDING', SubmittedAt: new Date() } });
  route53Mock
    .on(GetChangeCommand)
    .resolves({ ChangeInfo: { Id: '/change/C0123', Status: 'INSYNC', SubmittedAt: new Date() } });
  s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${call.state}/001_orders.sql` }] });
  s3Mock.on(GetObjectCommand).resolves({ Body: { transformToByteArray: async () => new Uint8Array() } as never });
  documentsMock.onAnyCommand().resolves({});
  // One confirmed approver: Preflight then asks for its attributes (ConfirmationWasAuthenticated).
  snsMock.on(ListSubscriptionsByTopicCommand).resolves({
    Subscriptions: [
      { SubscriptionArn: `${approversTopicArn}:0b7d9b4c-1111-2222-3333-444455556666`, Protocol: 'email' },
    ],
  });
  const ports: Record<string, object> = {
    clusters: new RdsClusters(new RDSClient({ region: REGION })),
    network: new Ec2Network(new EC2Client({ region: REGION })),
    dns: new Route53Dns(new Route53Client({ region: REGION })),
    lock: new DynamoLock(DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION })), lockTable),
    // The approval Lambda's emails (RequestApproval, RetainBlueForFailback's offer) go to the approvers'
    // topic (its TOPIC_ARN), every other to the notification topic.
    notifier: new SnsNotifier(
      new SNSClient({ region: REGION }),
      call.state === 'RequestApproval' || call.state === 'RetainBlueForFailback' ? approversTopicArn : topicArn,
    ),
    approvers: new SnsApproverSubscriptions(new SNSClient({ region: REGION }), approversTopicArn),
    migrations: new S3MigrationSource(new S3Client({ region: REGION })),
    approvals: new DynamoDbApprovals(DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION })), {
      tableName: approvalsTable,
      baseUrl: 'https://approvals.example/',
    }),
  };
  const [port, method] = call.method.split('.') as [string, string];
  const adapter = ports[port];
  if (!adapter) throw new Error(`no AWS adapter replays ${call.method}`);
  // Outcomes do not matter here (a not-found is fine): only what the adapter sent.
  await (adapter as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!(...call.args).catch(
    () => undefined,
  );
  const seen: SdkCall[] = [];
  const services = [
    ['rds', rdsMock],
    ['route53', route53Mock],
    ['dynamodb', documentsMock],
    ['sns', snsMock],
    ['s3', s3Mock],
    ['ec2', ec2Mock],
  ] as const;
  for (const [service, mock] of services) {
    for (const sent of mock.calls()) {
      const command = sent.args[0] as unknown as { constructor: { name: string }; input: Record<string, unknown> };
      seen.push({ service, command: command.constructor.name.replace(/Command$/, ''), input: command.input });
    }
  }
  return seen;
}

// ---- the runs ---------------------------------------------------------------------------------

interface StateRequest extends AuthorizationRequest {
  state: string;
  /** The port method whose adapter sent the call, e.g. `clusters.setDeletionProtection`. */
  method: string;
  command: string;
  /** Which SDK call the request belongs to: AWS allows a call only when all its requests are allowed. */
  callId: number;
}

let requests: StateRequest[];
const scenarioStatus: Record<string, string> = {};

/** Blue's instances use Enhanced Monitoring and Performance Insights with a customer key. */
function monitoredBlue(cloud: FakeCloud) {
  for (const instance of cloud.instances.values()) {
    instance.monitoringInterval = 60;
    instance.monitoringRoleArn = MONITORING_ROLE;
    instance.performanceInsightsKmsKeyId = CLUSTER_KEY;
  }
  const blue = cloud.clusters.get('app-blue');
  if (blue) blue.kmsKeyId = CLUSTER_KEY;
}

beforeAll(async () => {
  const config = {
    ...exampleConfigInput(),
    clusterIdPrefix: 'app-',
    hostedZoneId: ZONE,
    hostedZoneName: 'test.internal',
    recordName: RECORD,
    monitoringRoleArn: MONITORING_ROLE,
    clusterKmsKeyArns: [CLUSTER_KEY],
    schedule: undefined,
  };
  const { stack } = synthStack(config);
  resources = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;
  for (const spec of TASK_LIST) {
    const description = spec.kind === 'approval' ? 'RequestApproval:' : `Aurora blue/green: ${spec.state}`;
    const roleId = roleOfFunction(description);
    roles.set(spec.state, { roleId, policies: policiesOfRole(roleId) });
  }
  const apiRole = roleOfFunction('Approval page:');
  roles.set('ApprovalApi', { roleId: apiRole, policies: policiesOfRole(apiRole) });
  lockTable = logicalIdOfType('AWS::DynamoDB::Table', 'LockTable');
  approvalsTable = logicalIdOfType('AWS::DynamoDB::GlobalTable', 'Approval');
  topicArn = physical(logicalIdOfType('AWS::SNS::Topic', 'BlueGreenTopic'));
  approversTopicArn = physical(logicalIdOfType('AWS::SNS::Topic', 'ApproversTopic'));
  topicKeyArn = physical(logicalIdOfType('AWS::KMS::Key', 'TopicKey'), 'Arn');
  const bucket = logicalIdOfType('AWS::S3::Bucket', 'MigrationsBucket');

  const input = {
    ...BASE_INPUT,
    migrations: { ...BASE_INPUT.migrations, s3Prefix: `s3://${physical(bucket)}/2026-12-05/` },
  };
  const scenarios: [string, Record<string, unknown>, Parameters<typeof run>[1]][] = [
    ['deploy', input, { prepare: monitoredBlue }],
    ['reject', input, { approval: 'reject', prepare: monitoredBlue }],
    ['dry run', { ...input, dryRun: true }, { prepare: monitoredBlue }],
    // Failback (docs/failback.md): ReopenBlue gives blue its groups back and swaps the CNAME back.
    [
      'fail back',
      { ...input, migrations: undefined, failback: true, blueRetentionSeconds: 3600 },
      { failback: 'failback', prepare: monitoredBlue },
    ],
    // Online mode's rollback after OpenGuardedGreen gave green blue's deletion protection: Rollback
    // lifts it on green (clusters.setDeletionProtection@green) before green is deleted.
    [
      'online rollback after the early open',
      { ...input, mode: 'online' },
      {
        prepare: (c) => {
          monitoredBlue(c);
          c.clusters.get('app-blue')!.deletionProtection = true;
        },
        stepOverrides: {
          'catch-up-green': async () => {
            throw new ReplicationFailed('green did not confirm the fence row');
          },
        },
      },
    ],
  ];
  const recorded: RecordedCall[] = [];
  for (const [name, scenarioInput, options] of scenarios) {
    const { calls, status } = await recordScenario(scenarioInput, options);
    scenarioStatus[name] = status;
    recorded.push(...calls);
  }
  requests = [];
  let callId = 0;
  for (const call of recorded) {
    for (const sdk of await sdkCallsOf(call)) {
      callId += 1;
      const world: World = { ...call.world, topicKeyArn };
      for (const request of await authorizationRequests(sdk, world)) {
        requests.push({ ...request, state: call.state, method: call.method, command: sdk.command, callId });
      }
    }
  }
}, 600_000);

const describeRequest = (r: StateRequest) => `${r.state}: ${r.action} on ${r.resource} (${r.why})`;

async function deniedOf(list: StateRequest[], as?: string): Promise<string[]> {
  const denied: string[] = [];
  for (const r of list) {
    const role = roleOf(as ?? r.state);
    if ((await decide(role.roleId, role.policies, r)) !== 'Allowed') denied.push(describeRequest(r));
  }
  return denied;
}

describe('IAM simulation of every synthesized Lambda role against the requests its step makes', () => {
  it('recorded real runs that exercise the whole graph', () => {
    expect(scenarioStatus).toEqual({
      deploy: 'SUCCEEDED',
      reject: expect.stringMatching(/^FAILED ApprovalRejected/),
      'dry run': 'SUCCEEDED',
      'fail back': 'SUCCEEDED',
      'online rollback after the early open': expect.stringMatching(/^FAILED ReplicationFailed/),
    });
    const states = new Set(requests.map((r) => r.state));
    for (const state of [
      'CreateClone',
      'CreateGreenWriter',
      'UpgradeEngine',
      'OpenGreen',
      'SwapCname',
      'ReopenBlue',
      'CheckBlueReopened',
      'DeleteBlue',
      'Rollback',
    ])
      expect(states).toContain(state);
    // The implicit resources are among the requests: AWS checks them though the call does not name them.
    const resourcesOf = (state: string, action: string) =>
      requests.filter((r) => r.state === state && r.action === action).map((r) => r.resource);
    const rds = `arn:aws:rds:${REGION}:${ACCOUNT}`;
    expect(resourcesOf('CreateClone', 'rds:RestoreDBClusterToPointInTime')).toEqual(
      expect.arrayContaining([
        `${rds}:cluster:app-blue`,
        expect.stringMatching(/^arn:aws:rds:.*:cluster:app-blue-g/),
        `${rds}:og:default:aurora-postgresql-16`,
        `${rds}:subgrp:db-subnets`,
        `${rds}:cluster-pg:pg16-cluster`,
      ]),
    );
    expect(resourcesOf('CreateGreenWriter', 'rds:CreateDBInstance')).toEqual(
      expect.arrayContaining([`${rds}:og:default:aurora-postgresql-16`, `${rds}:pg:pg16-inst`]),
    );
    expect(
      resourcesOf('DeleteBlue', 'rds:DeleteDBCluster').concat(resourcesOf('CheckBlueDeleted', 'rds:DeleteDBCluster')),
    ).toEqual(expect.arrayContaining([expect.stringMatching(/:cluster-snapshot:app-blue-final/)]));
    expect(new Set(resourcesOf('CreateGreenWriter', 'iam:PassRole'))).toEqual(new Set([MONITORING_ROLE]));
    // A wildcard-only action is requested on "*", as the reference has it.
    expect(resourcesOf('Preflight', 'ec2:DescribeSecurityGroups')).toContain('*');
  });

  it('allows every request every step made', async () => {
    expect(requests.length).toBeGreaterThan(50);
    expect(await deniedOf(requests)).toEqual([]);
  }, 300_000);

  it("lets Preflight, and no step that does not list it, read blue's cluster parameter (rds.logical_replication)", async () => {
    // Online mode's Preflight reads it; the recorded runs are offline, so the call is replayed here.
    const call: RecordedCall = {
      state: 'Preflight',
      method: 'clusters.clusterParameterValue',
      args: ['pg16-cluster', 'rds.logical_replication'],
      world: { clusters: {}, instances: {} },
    };
    const sdk = await sdkCallsOf(call);
    expect(sdk.map((c) => c.command)).toEqual(['DescribeDBClusterParameters']);
    const list: StateRequest[] = [];
    for (const c of sdk) {
      for (const r of await authorizationRequests(c, call.world))
        list.push({ ...r, state: 'Preflight', method: call.method, command: c.command, callId: 0 });
    }
    expect(list.map((r) => `${r.action} ${r.resource}`)).toEqual([
      `rds:DescribeDBClusterParameters arn:aws:rds:${REGION}:${ACCOUNT}:cluster-pg:pg16-cluster`,
    ]);
    expect(await deniedOf(list)).toEqual([]);
    expect(await deniedOf(list, 'CheckClone')).toHaveLength(1);
  });

  it("lets Preflight, and no other step, list the approvers' subscriptions and read their attributes, on that topic only", async () => {
    const sns = requests.filter((r) => r.state === 'Preflight' && r.action.startsWith('sns:'));
    expect(new Set(sns.map((r) => `${r.action} ${r.resource}`))).toEqual(
      new Set([
        `sns:GetSubscriptionAttributes ${approversTopicArn}`,
        `sns:ListSubscriptionsByTopic ${approversTopicArn}`,
      ]),
    );
    expect(await deniedOf(sns)).toEqual([]);
    // The notification topic's subscriptions are not Preflight's to read.
    const otherTopic = sns.map((r) => ({ ...r, resource: topicArn }));
    expect((await deniedOf(otherTopic)).length).toBe(otherTopic.length);
    const others = TASK_LIST.map((t) => t.state).filter((s) => s !== 'Preflight');
    for (const state of others) expect((await deniedOf(sns, state)).length).toBe(sns.length);
  }, 300_000);

  it('passes the monitoring role only to RDS itself, the principal RDS checks it for', async () => {
    const pass = requests.find((r) => r.action === 'iam:PassRole')!;
    const role = roleOf('CreateGreenWriter');
    expect(await decide(role.roleId, role.policies, pass)).toBe('Allowed');
    const toMonitoring = { ...pass, context: { 'iam:PassedToService': 'monitoring.rds.amazonaws.com' } };
    expect(await decide(role.roleId, role.policies, toMonitoring)).toBe('ImplicitlyDenied');
  });

  it('denies every cluster, instance and snapshot outside clusterIdPrefix', async () => {
    const scoped = requests.filter((r) => /:rds:.*:(cluster|db|cluster-snapshot):app-/.test(r.resource));
    expect(scoped.length).toBeGreaterThan(20);
    const outside = scoped.map((r) => ({ ...r, resource: r.resource.replace(/:app-/, ':other-') }));
    expect((await deniedOf(outside)).length).toBe(outside.length);
  }, 300_000);

  it('denies any delete to every role but the deletion steps', async () => {
    const deletes = requests.filter((r) => r.action.startsWith('rds:Delete'));
    expect(deletes.length).toBeGreaterThan(0);
    for (const spec of TASK_LIST.filter((t) => !DELETION_STEPS.includes(t.state))) {
      expect((await deniedOf(deletes, spec.state)).length).toBe(deletes.length);
    }
  }, 300_000);

  it('denies a restore to every role but CreateClone', async () => {
    const restores = requests.filter((r) => r.action === 'rds:RestoreDBClusterToPointInTime');
    expect(restores.length).toBeGreaterThan(0);
    for (const spec of TASK_LIST.filter((t) => t.state !== 'CreateClone')) {
      expect((await deniedOf(restores, spec.state)).length).toBe(restores.length);
    }
  }, 300_000);

  it('denies a change of blue (a Modify, a delete) to the steps that only touch green', async () => {
    const onBlue = requests.filter(
      (r) =>
        (r.action === 'rds:ModifyDBCluster' || r.action.startsWith('rds:Delete')) &&
        /:(cluster|db):app-blue(-\d)?$/.test(r.resource),
    );
    expect(onBlue.map((r) => r.state)).toEqual(expect.arrayContaining(['BlockWrites', 'DeleteBlue']));
    for (const state of [...GREEN_ONLY_MODIFIERS, 'DiscardGreen', 'CheckGreenDiscarded']) {
      expect((await deniedOf(onBlue, state)).length).toBe(onBlue.length);
    }
    // Creating an instance in blue is refused too: the cluster must carry the green tag.
    const writer = requests.find(
      (r) => r.state === 'CreateGreenWriter' && r.action === 'rds:CreateDBInstance' && /:cluster:/.test(r.resource),
    )!;
    const inBlue = {
      ...writer,
      resource: writer.resource.replace(/cluster:.*$/, 'cluster:app-blue'),
      context: { ...writer.context, 'rds:cluster-tag/bluegreen:role': 'blue' },
    };
    expect(await deniedOf([inBlue])).toHaveLength(1);
  }, 300_000);

  it('denies creates that do not carry the execution tag', async () => {
    const createCalls = new Set(
      requests.filter((r) => /^(RestoreDBClusterToPointInTime|CreateDBInstance)$/.test(r.command)).map((r) => r.callId),
    );
    expect(createCalls.size).toBeGreaterThan(3);
    for (const callId of createCalls) {
      const untagged = requests
        .filter((r) => r.callId === callId)
        .map((r) => ({
          ...r,
          context: Object.fromEntries(Object.entries(r.context).filter(([k]) => !k.includes('bluegreen:execution'))),
        }));
      // The call is refused: at least one of its requests is denied.
      expect((await deniedOf(untagged)).length).toBeGreaterThan(0);
    }
  }, 300_000);

  it('denies a DNS change to any other record, or of another kind, to every role', async () => {
    const changes = requests.filter((r) => r.action === 'route53:ChangeResourceRecordSets');
    expect(changes.length).toBeGreaterThan(0);
    const otherRecord = changes.map((r) => ({
      ...r,
      context: { ...r.context, 'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['other.test.internal'] },
    }));
    const deletion = changes.map((r) => ({
      ...r,
      context: { ...r.context, 'route53:ChangeResourceRecordSetsActions': ['DELETE'] },
    }));
    for (const state of [...TASK_LIST.map((t) => t.state), 'ApprovalApi']) {
      expect((await deniedOf([...otherRecord, ...deletion], state)).length).toBe(otherRecord.length + deletion.length);
    }
  }, 300_000);

  it('lets only the approval API send task decisions to the state machine', async () => {
    for (const action of ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']) {
      // The reference lists no resource type for these: they are authorized on "*".
      const request = { action, resource: '*', context: {} };
      for (const state of TASK_LIST.map((t) => t.state)) {
        const role = roleOf(state);
        expect([state, await decide(role.roleId, role.policies, request)]).toEqual([state, 'ImplicitlyDenied']);
      }
      const api = roleOf('ApprovalApi');
      const expected = action === 'states:SendTaskHeartbeat' ? 'ImplicitlyDenied' : 'Allowed';
      expect(await decide(api.roleId, api.policies, request)).toBe(expected);
    }
  });

  it('saw every step call only port methods its catalog entry lists (the grants are derived from them)', () => {
    const unlisted = requests
      .filter(
        (r) => TASKS[r.state as keyof typeof TASKS] && !taskMayCall(TASKS[r.state as keyof typeof TASKS], r.method),
      )
      .map((r) => `${r.state}: ${r.method}`);
    expect([...new Set(unlisted)]).toEqual([]);
    // Rollback's lift of green's deletion protection is among the calls checked.
    expect(requests.some((r) => r.state === 'Rollback' && r.method === 'clusters.setDeletionProtection')).toBe(true);
  });

  it("covers Rollback lifting green's deletion protection, and refuses it once the grant loses the action", async () => {
    const lift = requests.filter((r) => r.state === 'Rollback' && r.method === 'clusters.setDeletionProtection');
    expect(lift.map((r) => `${r.action} ${r.resource}`)).toEqual([
      expect.stringMatching(/^rds:ModifyDBCluster arn:aws:rds:.*:cluster:app-blue-g/),
    ]);
    expect(await deniedOf(lift)).toEqual([]);
    const role = roleOf('Rollback');
    const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : [v as string]);
    const withoutModify = role.policies.map((p) => ({
      ...p,
      Statement: p.Statement.map((st) => ({
        ...st,
        Action: list(st['Action']).filter((a) => a !== 'rds:ModifyDBCluster'),
      })),
    }));
    for (const r of lift) expect(await decide(role.roleId, withoutModify, r)).toBe('ImplicitlyDenied');
    // Green only: the same request on a cluster outside the prefix is refused.
    expect(await deniedOf(lift.map((r) => ({ ...r, resource: r.resource.replace(/:app-/, ':other-') })))).toHaveLength(
      lift.length,
    );
  });

  it('fails when a needed ARN or action is taken out of a grant', async () => {
    const restores = requests.filter((r) => r.state === 'CreateClone');
    const role = roleOf('CreateClone');
    const without = (predicate: (statement: Record<string, unknown>) => Record<string, unknown>): PolicyDocument[] =>
      role.policies.map((p) => ({ ...p, Statement: p.Statement.map(predicate) }));
    const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : [v as string]);
    const noOptionGroup = without((s) => ({ ...s, Resource: list(s['Resource']).filter((r) => !r.includes(':og:')) }));
    const noTagging = without((s) => ({
      ...s,
      Action: list(s['Action']).filter((a) => a !== 'rds:AddTagsToResource'),
    }));
    for (const policies of [noOptionGroup, noTagging]) {
      const decisions = await Promise.all(restores.map((r) => decide(role.roleId, policies, r)));
      expect(decisions).toContain('ImplicitlyDenied');
    }
    // And the table is what the grant follows: the row of a restore names the option group.
    expect(METHOD_PERMISSIONS['clusters.cloneCopyOnWrite'].flatMap((p) => p.resources)).toContain('og-default');
  });
});
