import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  decidedFields,
  type ApprovalRecord,
  type ApprovalStore,
  type DecideResult,
  type DecisionRequest,
  statusAfter,
} from '../approval/model';
import { awsCall, mapAwsError } from '../domain/aws-errors';
import { approvalNonce, openTaskToken, sealTaskToken, sha256Hex } from '../domain/approval-secrets';
import type { ApprovalRequestRecord, Approvals } from '../ports';

/**
 * Approvals on DynamoDB: one item per approval, partition key `idHash` (SHA-256 of the approval
 * id). `RequestApproval` writes it (the `Approvals` port); the approval endpoint reads and decides
 * it (`ApprovalStore`). The item holds no secret in plain text: the id and the form's nonce as
 * SHA-256 only, the task token sealed with a key derived from the id, and dropped at the decision.
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

/** `decidedBy` as stored (a map), when it is whole. */
function decidedByOf(item: Record<string, unknown>): Pick<ApprovalRecord, 'decidedBy'> {
  const by = item.decidedBy as Record<string, unknown> | undefined;
  if (
    typeof by !== 'object' ||
    by === null ||
    typeof by.issuer !== 'string' ||
    (by.claim !== 'email' && by.claim !== 'sub') ||
    typeof by.value !== 'string'
  ) {
    return {};
  }
  return { decidedBy: { issuer: by.issuer, claim: by.claim, value: by.value } };
}

/**
 * Reads an item back into a record for the id that was looked up; an item missing its essentials,
 * or not this id's, is treated as unknown.
 */
export function toRecord(item: Record<string, unknown> | undefined, approvalId: string): ApprovalRecord | undefined {
  if (!item) return undefined;
  const { idHash, sealedTaskToken, executionArn, evidence, expiresAt, status } = item;
  if (
    idHash !== sha256Hex(approvalId) ||
    typeof executionArn !== 'string' ||
    typeof expiresAt !== 'string' ||
    (status !== 'pending' && status !== 'approved' && status !== 'rejected')
  ) {
    return undefined;
  }
  const taskToken = typeof sealedTaskToken === 'string' ? openTaskToken(approvalId, sealedTaskToken) : undefined;
  const decision: Pick<ApprovalRecord, 'decision'> =
    item.decision === 'approve' || item.decision === 'reject' || item.decision === 'failback'
      ? { decision: item.decision }
      : {};
  return {
    approvalId,
    ...(taskToken !== undefined ? { taskToken } : {}),
    executionArn,
    evidence: typeof evidence === 'object' && evidence !== null ? (evidence as Record<string, unknown>) : {},
    expiresAt,
    nonce: approvalNonce(approvalId),
    status,
    ...decision,
    ...optionalString(item, 'reason'),
    ...optionalString(item, 'decidedAt'),
    ...optionalString(item, 'sourceIp'),
    ...optionalString(item, 'userAgent'),
    ...decidedByOf(item),
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
          Item: {
            idHash: sha256Hex(record.approvalId),
            nonceHash: sha256Hex(approvalNonce(record.approvalId)),
            sealedTaskToken: sealTaskToken(record.approvalId, record.taskToken),
            executionArn: record.executionArn,
            evidence: record.evidence,
            expiresAt: record.expiresAt,
            status: 'pending',
            expiresAtEpoch,
          },
          // A random 192-bit id never collides in practice; the condition makes sure it never overwrites.
          ConditionExpression: 'attribute_not_exists(idHash)',
        }),
      ),
    );
    return { url: approvalUrl(baseUrl, record.approvalId) };
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    const result = await awsCall('DynamoDB GetItem (approval)', () =>
      this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { idHash: sha256Hex(approvalId) }, ConsistentRead: true }),
      ),
    );
    return toRecord(result.Item, approvalId);
  }

  async decide(approvalId: string, request: DecisionRequest): Promise<DecideResult> {
    const names: Record<string, string> = {
      '#status': 'status',
      '#decision': 'decision',
      '#decidedAt': 'decidedAt',
      '#nonceHash': 'nonceHash',
      '#expiresAt': 'expiresAt',
      '#sealedTaskToken': 'sealedTaskToken',
    };
    const values: Record<string, unknown> = {
      ':status': statusAfter(request.decision),
      ':decision': request.decision,
      ':decidedAt': request.decidedAt,
      ':pending': 'pending',
      ':nonceHash': sha256Hex(request.nonce),
    };
    const sets = ['#status = :status', '#decision = :decision', '#decidedAt = :decidedAt'];
    for (const key of ['reason', 'sourceIp', 'userAgent', 'decidedBy'] as const) {
      const value = request[key];
      if (value !== undefined) {
        names[`#${key}`] = key;
        values[`:${key}`] = value;
        sets.push(`#${key} = :${key}`);
      }
    }
    try {
      // The token leaves the table with the decision; ALL_OLD hands it over once, for delivery.
      const result = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { idHash: sha256Hex(approvalId) },
          UpdateExpression: `SET ${sets.join(', ')} REMOVE #sealedTaskToken`,
          ConditionExpression:
            'attribute_exists(idHash) AND #status = :pending AND #nonceHash = :nonceHash AND #expiresAt > :decidedAt',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_OLD',
        }),
      );
      const before = toRecord(result.Attributes, approvalId);
      const taskToken = before?.taskToken;
      if (!before || taskToken === undefined) return { decided: false };
      const { taskToken: _dropped, ...rest } = before;
      const record: ApprovalRecord = {
        ...rest,
        ...decidedFields(request),
      };
      return { decided: true, record, taskToken };
    } catch (error) {
      if (isConditionFailure(error)) return { decided: false };
      throw mapAwsError(error, 'DynamoDB UpdateItem (decide approval)');
    }
  }

  async reopen(approvalId: string, decidedAt: string, taskToken: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { idHash: sha256Hex(approvalId) },
          UpdateExpression:
            'SET #status = :pending, #sealedTaskToken = :sealed REMOVE #decision, #decidedAt, #reason, #sourceIp, #userAgent, #decidedBy',
          ConditionExpression: '#status <> :pending AND #decidedAt = :decidedAt',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#decision': 'decision',
            '#decidedAt': 'decidedAt',
            '#reason': 'reason',
            '#sourceIp': 'sourceIp',
            '#userAgent': 'userAgent',
            '#decidedBy': 'decidedBy',
            '#sealedTaskToken': 'sealedTaskToken',
          },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':decidedAt': decidedAt,
            ':sealed': sealTaskToken(approvalId, taskToken),
          },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      throw mapAwsError(error, 'DynamoDB UpdateItem (reopen approval)');
    }
  }
}
