import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApprovalRecord, ApprovalStore, DecideResult, DecisionRequest } from '../approval/model';
import { awsCall, mapAwsError } from '../domain/aws-errors';
import type { ApprovalRequestRecord, Approvals } from '../ports';

/**
 * Approvals on DynamoDB: one item per approval, partition key `approvalId`. `RequestApproval`
 * writes it (the `Approvals` port); the approval endpoint reads and decides it (`ApprovalStore`).
 * DynamoDB's TTL removes an item at `expiresAtEpoch`: the approval's expiry plus a grace period,
 * during which an old link still gets a clear "expired" or "decided" page instead of "not found".
 */

export interface DynamoDbApprovalsOptions {
  tableName: string;
  /**
   * Base of the public link, for example `https://abc.execute-api.eu-west-1.amazonaws.com`.
   * Only `store` needs it (the approval endpoint itself never builds links).
   */
  baseUrl?: string;
  /** How long an item outlives its expiry before TTL may delete it. Default 7 days. */
  retainAfterExpirySeconds?: number;
}

export const DEFAULT_RETAIN_AFTER_EXPIRY_SECONDS = 7 * 24 * 3600;

export function approvalUrl(baseUrl: string, approvalId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/approvals/${encodeURIComponent(approvalId)}`;
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

type OptionalKey = 'reason' | 'decidedAt' | 'sourceIp' | 'userAgent';

function optionalString<K extends OptionalKey>(item: Record<string, unknown>, key: K): { [P in K]?: string } {
  const value = item[key];
  return (typeof value === 'string' ? { [key]: value } : {}) as { [P in K]?: string };
}

/** Reads an item back into a record; an item missing its essentials is treated as unknown. */
export function toRecord(item: Record<string, unknown> | undefined): ApprovalRecord | undefined {
  if (!item) return undefined;
  const { approvalId, taskToken, executionArn, evidence, expiresAt, nonce, status } = item;
  if (
    typeof approvalId !== 'string' ||
    typeof taskToken !== 'string' ||
    typeof executionArn !== 'string' ||
    typeof expiresAt !== 'string' ||
    typeof nonce !== 'string' ||
    (status !== 'pending' && status !== 'approved' && status !== 'rejected')
  ) {
    return undefined;
  }
  const decision: Pick<ApprovalRecord, 'decision'> =
    item.decision === 'approve' || item.decision === 'reject' ? { decision: item.decision } : {};
  return {
    approvalId,
    taskToken,
    executionArn,
    evidence: typeof evidence === 'object' && evidence !== null ? (evidence as Record<string, unknown>) : {},
    expiresAt,
    nonce,
    status,
    ...decision,
    ...optionalString(item, 'reason'),
    ...optionalString(item, 'decidedAt'),
    ...optionalString(item, 'sourceIp'),
    ...optionalString(item, 'userAgent'),
  };
}

export class DynamoDbApprovals implements Approvals, ApprovalStore {
  private readonly tableName: string;
  private readonly baseUrl: string | undefined;
  private readonly retainAfterExpirySeconds: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    options: DynamoDbApprovalsOptions,
  ) {
    this.tableName = options.tableName;
    this.baseUrl = options.baseUrl;
    this.retainAfterExpirySeconds = options.retainAfterExpirySeconds ?? DEFAULT_RETAIN_AFTER_EXPIRY_SECONDS;
  }

  async store(record: ApprovalRequestRecord): Promise<{ url: string }> {
    if (!this.baseUrl) throw new Error('DynamoDbApprovals.store needs the baseUrl of the approval endpoint');
    const baseUrl = this.baseUrl;
    const expiresAtEpoch = Math.ceil(Date.parse(record.expiresAt) / 1000) + this.retainAfterExpirySeconds;
    await awsCall('DynamoDB PutItem (approval)', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...record, status: 'pending', expiresAtEpoch },
          // A random 128-bit id never collides in practice; the condition makes sure it never overwrites.
          ConditionExpression: 'attribute_not_exists(approvalId)',
        }),
      ),
    );
    return { url: approvalUrl(baseUrl, record.approvalId) };
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    const result = await awsCall('DynamoDB GetItem (approval)', () =>
      this.client.send(new GetCommand({ TableName: this.tableName, Key: { approvalId }, ConsistentRead: true })),
    );
    return toRecord(result.Item);
  }

  async decide(approvalId: string, request: DecisionRequest): Promise<DecideResult> {
    const names: Record<string, string> = {
      '#status': 'status',
      '#decision': 'decision',
      '#decidedAt': 'decidedAt',
      '#nonce': 'nonce',
      '#expiresAt': 'expiresAt',
    };
    const values: Record<string, unknown> = {
      ':status': request.decision === 'approve' ? 'approved' : 'rejected',
      ':decision': request.decision,
      ':decidedAt': request.decidedAt,
      ':pending': 'pending',
      ':nonce': request.nonce,
    };
    const sets = ['#status = :status', '#decision = :decision', '#decidedAt = :decidedAt'];
    for (const key of ['reason', 'sourceIp', 'userAgent'] as const) {
      const value = request[key];
      if (value !== undefined) {
        names[`#${key}`] = key;
        values[`:${key}`] = value;
        sets.push(`#${key} = :${key}`);
      }
    }
    try {
      const result = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { approvalId },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression:
            'attribute_exists(approvalId) AND #status = :pending AND #nonce = :nonce AND #expiresAt > :decidedAt',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      const record = toRecord(result.Attributes);
      return record ? { decided: true, record } : { decided: false };
    } catch (error) {
      if (isConditionFailure(error)) return { decided: false };
      throw mapAwsError(error, 'DynamoDB UpdateItem (decide approval)');
    }
  }

  async reopen(approvalId: string, decidedAt: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { approvalId },
          UpdateExpression: 'SET #status = :pending REMOVE #decision, #decidedAt, #reason, #sourceIp, #userAgent',
          ConditionExpression: '#status <> :pending AND #decidedAt = :decidedAt',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#decision': 'decision',
            '#decidedAt': 'decidedAt',
            '#reason': 'reason',
            '#sourceIp': 'sourceIp',
            '#userAgent': 'userAgent',
          },
          ExpressionAttributeValues: { ':pending': 'pending', ':decidedAt': decidedAt },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      throw mapAwsError(error, 'DynamoDB UpdateItem (reopen approval)');
    }
  }
}
