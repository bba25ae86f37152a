import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { TaskDecisions, ApprovalOutput, DeliveryResult } from '../../../lambdas/approval/model';
import type { ExecutionDocument } from '../../../lambdas/domain/document';
import type { Approvals, Clock } from '../../../lambdas/ports';
import { requestApproval, type RequestApprovalResult } from '../../../lambdas/steps/request-approval';
import { requestDecision } from '../../../lambdas/steps/offer-failback';

/** A recognisable token: any leak of it (or of a large piece of it) is easy to find. */
export const TASK_TOKEN =
  'AQCEAAAAKgAAAAMAAAAAAAAAAe+SECRET-TASK-TOKEN-7f3c9a1e2b4d6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7==';

export const FENCED_AT = '2026-12-05T02:00:00.000Z';
export const NOW = new Date('2026-12-05T02:07:30.000Z');

export function executionDocument(overrides: Partial<ExecutionDocument> = {}): ExecutionDocument {
  return {
    input: {
      executionId: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-1',
      executionName: 'run-1',
      startedAt: '2026-12-05T01:50:00.000Z',
      blueClusterId: 'orders-prod',
      greenClusterId: 'orders-prod-g261205015000',
      targetEngineVersion: '16.4',
      replicaCount: 1,
      migrations: {
        s3Prefix: 's3://migrations/2026-12-05/',
        database: 'app',
        phase: 'before-upgrade',
        lockTimeoutMs: 5000,
        statementTimeoutMs: 600000,
      },
      smokeTests: [],
      cname: { hostedZoneId: 'Z123', recordName: 'db.example.internal', cutoverTtlSeconds: 5 },
      approval: { timeoutSeconds: 3600 },
      blueRetentionSeconds: 86400,
      pollIntervalSeconds: 30,
      maxPolls: 120,
      checkWindowSeconds: 0,
      checkEveryMs: 1000,
      writeBlock: 'security-group',
      keepGreenOnFailure: false,
      dryRun: false,
      mode: 'offline',
      failback: false,
      replication: { maxLagBytes: 1_048_576 },
      adminSecurityGroupId: 'sg-admin',
      allowDeletionProtectionOff: false,
      clusterIdPrefix: 'orders-',
      monitoringRoleConfigured: false,
      clusterRoleArns: [],
    },
    blue: {
      id: 'orders-prod',
      endpoint: 'orders-prod.cluster-c9abcdefgh.eu-west-1.rds.amazonaws.com',
      port: 5432,
      engineVersion: '15.8',
      accessSecurityGroupIds: ['sg-app'],
      originalSecurityGroupIds: ['sg-app', 'sg-admin'],
      iamAuth: false,
      logExports: ['postgresql'],
      deletionProtection: true,
      writer: { instanceId: 'orders-prod-1', instanceClass: 'db.r6g.large', performanceInsights: false },
      readerInstanceIds: [],
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      cname: { target: 'orders-prod.cluster-c9abcdefgh.eu-west-1.rds.amazonaws.com', ttl: 5 },
    },
    fence: { fencedAt: FENCED_AT, lsn: '0/3000060', databases: ['app'], changedDatabases: [], terminatedSessions: 2 },
    green: {
      id: 'orders-prod-g261205015000',
      writerInstanceId: 'orders-prod-g261205015000-1',
      requestedAt: '2026-12-05T02:01:00.000Z',
      reused: false,
    },
    verify: { fenceRowFound: true, resetDatabases: ['app'] },
    migrations: {
      applied: [
        { name: '001_add_status.sql', sha256: 'a'.repeat(64), durationMs: 120 },
        { name: '002_index.sql', sha256: 'b'.repeat(64), durationMs: 900 },
      ],
      skipped: ['README.md'],
    },
    upgrade: { requested: true, from: '15.8', to: '16.4', isMajor: true, requestedAt: '2026-12-05T02:03:00.000Z' },
    smoke: {
      results: [
        { name: 'orders readable', passed: true, value: '1204', expect: 'nonzero' },
        { name: 'no <script>alert(1)</script> orphans', passed: true, value: '0', expect: 'zero' },
      ],
      rowCounts: {
        exactBelowRows: 100_000,
        exactBelowPages: 12_800,
        tables: [{ database: 'app', table: 'public.orders', blue: 1204, green: 1204, method: 'exact' }],
        truncated: false,
      },
    },
    ...overrides,
  };
}

export interface RecordedDecision {
  kind: 'success' | 'failure';
  taskToken: string;
  output?: ApprovalOutput;
  error?: string;
  cause?: string;
}

/** TaskDecisions that records what it was asked to send. */
export class RecordingDecisions implements TaskDecisions {
  readonly sent: RecordedDecision[] = [];
  result: DeliveryResult = 'delivered';
  failNext?: Error;

  async sendSuccess(taskToken: string, output: ApprovalOutput): Promise<DeliveryResult> {
    this.throwIfAsked();
    this.sent.push({ kind: 'success', taskToken, output });
    return this.result;
  }

  async sendFailure(taskToken: string, error: string, cause: string): Promise<DeliveryResult> {
    this.throwIfAsked();
    this.sent.push({ kind: 'failure', taskToken, error, cause });
    return this.result;
  }

  private throwIfAsked(): void {
    const error = this.failNext;
    if (error) {
      this.failNext = undefined;
      throw error;
    }
  }
}

/**
 * Runs RequestApproval for executionDocument() and TASK_TOKEN on `approvals`: its result and the text
 * of the email it sent (throws when it sent none).
 */
export async function requestApprovalEmail(
  approvals: Approvals,
  clock: Clock = { now: () => new Date(), sleep: async () => undefined },
): Promise<RequestApprovalResult & { email: string; approvalId: string }> {
  const emails: string[] = [];
  const result = await requestApproval(
    { document: executionDocument(), taskToken: TASK_TOKEN },
    { approvals, notifier: { publish: async (_subject, text) => void emails.push(text) }, clock },
  );
  const email = emails[0];
  if (email === undefined) throw new Error('RequestApproval sent no email');
  // The result carries no id (it lands in the execution history): the link in the email is the only way in.
  const approvalId = /\/approvals\/([A-Za-z0-9_-]+)/.exec(email)?.[1];
  if (approvalId === undefined) throw new Error('RequestApproval emailed no approval link');
  return { ...result, email, approvalId };
}

/**
 * Offers failback for a run cut over to `green.example.internal` (plus `overrides`) through the
 * local approval server's `approvals`, and returns the 127.0.0.1 link the email carries.
 */
export async function requestFailbackLink(
  approvals: Approvals,
  overrides: Partial<ExecutionDocument> = {},
): Promise<string> {
  const emails: string[] = [];
  await requestDecision(
    {
      kind: 'failback',
      taskToken: TASK_TOKEN,
      document: executionDocument({
        cutover: { changeId: 'C1', target: 'green.example.internal', requestedAt: new Date().toISOString() },
        ...overrides,
      }),
    },
    {
      approvals,
      notifier: { publish: async (_subject, text) => void emails.push(text) },
      clock: { now: () => new Date(), sleep: async () => undefined },
    },
  );
  const link = /http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+/.exec(emails[0] ?? '')?.[0];
  if (link === undefined) throw new Error('the failback offer emailed no local approval link');
  return link;
}

/** A clock the tests move by hand. */
export class ManualClock {
  constructor(public current: Date) {}
  now(): Date {
    return new Date(this.current.getTime());
  }
  async sleep(ms: number): Promise<void> {
    this.current = new Date(this.current.getTime() + ms);
  }
  advance(seconds: number): void {
    this.current = new Date(this.current.getTime() + seconds * 1000);
  }
}

/**
 * An API Gateway HTTP API (payload 2.0) POST of an approval form, as the Lambda adapter receives
 * it; `authorizer` is what the JWT authorizer verified, when one is configured.
 */
export function approvalApiEvent(authorizer?: unknown): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /approvals/{id}',
    rawPath: '/approvals/abc',
    rawQueryString: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc',
      http: { method: 'POST', path: '/approvals/abc', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'x' },
      requestId: 'r1',
      routeKey: 'POST /approvals/{id}',
      stage: '$default',
      time: '05/Dec/2026:02:10:00 +0000',
      timeEpoch: 1,
      ...(authorizer ? { authorizer } : {}),
    },
    isBase64Encoded: false,
    body: 'nonce=n&decision=approve',
  } as APIGatewayProxyEventV2;
}

/** The issuer's OpenID discovery document, as `fetch` answers it. */
export function discoveryResponse(issuer: string): Response {
  return new Response(
    JSON.stringify({
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/certs`,
    }),
  );
}
