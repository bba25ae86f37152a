import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsCall } from '../domain/aws-errors';
import type { Lock } from '../ports';

/** The lock item, one per blue cluster. `expiresAtEpoch` is the table's TTL attribute (seconds). */
export interface LockItem {
  lockKey: string;
  owner: string;
  acquiredAt: string;
  expiresAtEpoch: number;
}

// `owner` is a DynamoDB reserved word, so expressions refer to it through `#owner`.
export const ACQUIRE_CONDITION = 'attribute_not_exists(lockKey) OR #owner = :owner OR expiresAtEpoch < :now';
export const RELEASE_CONDITION = '#owner = :owner';

function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * The `Lock` port on a DynamoDB table (partition key `lockKey`): at most one deployment per blue
 * cluster. Acquiring is one conditional put, so two executions can never both win; an expired lock
 * (its holder died without releasing) may be taken over before DynamoDB's TTL sweeps it away.
 */
export class DynamoLock implements Lock {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async acquire(
    key: string,
    owner: string,
    expiresAt: string,
  ): Promise<{ acquired: true } | { acquired: false; heldBy: string }> {
    const expiry = new Date(expiresAt);
    if (Number.isNaN(expiry.getTime())) throw new Error(`Lock ${key}: expiresAt "${expiresAt}" is not a date`);
    // Two attempts: the holder may release between our failed put and our read of its item.
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      const item: LockItem = {
        lockKey: key,
        owner,
        acquiredAt: now.toISOString(),
        expiresAtEpoch: epochSeconds(expiry),
      };
      const acquired = await awsCall(`PutItem lock ${key}`, async () => {
        try {
          await this.documents.send(
            new PutCommand({
              TableName: this.tableName,
              Item: item,
              ConditionExpression: ACQUIRE_CONDITION,
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: { ':owner': owner, ':now': epochSeconds(now) },
            }),
          );
          return true;
        } catch (error) {
          if (isConditionalCheckFailed(error)) return false;
          throw error;
        }
      });
      if (acquired) return { acquired: true };

      const holder = await awsCall(`GetItem lock ${key}`, () =>
        this.documents.send(new GetCommand({ TableName: this.tableName, Key: { lockKey: key }, ConsistentRead: true })),
      );
      const heldBy = (holder.Item as Partial<LockItem> | undefined)?.owner;
      if (heldBy !== undefined) return { acquired: false, heldBy };
      if (attempt >= 2) return { acquired: false, heldBy: 'unknown (the lock changed hands while we looked)' };
    }
  }

  async release(key: string, owner: string): Promise<void> {
    await awsCall(`DeleteItem lock ${key}`, async () => {
      try {
        await this.documents.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { lockKey: key },
            ConditionExpression: RELEASE_CONDITION,
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':owner': owner },
          }),
        );
      } catch (error) {
        // Someone else's lock, or no lock at all: releasing is then a no-op (idempotent).
        if (!isConditionalCheckFailed(error)) throw error;
      }
    });
  }
}
