import { ConditionalCheckFailedException, DynamoDBClient, DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoLock } from '../../../lambdas/aws/lock-dynamodb';
import { RetryableAwsError } from '../../../lambdas/domain/errors';

const documentsMock = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2024-05-01T10:00:00Z');
const NOW_EPOCH = Math.floor(NOW.getTime() / 1000);
const EXPIRES_AT = '2024-05-02T10:00:00.000Z';
const lock = new DynamoLock(
  DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
  'locks',
  () => NOW,
);

function conditionalCheckFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
}

beforeEach(() => {
  documentsMock.reset();
});

describe('acquire', () => {
  it('takes the lock with one conditional put', async () => {
    documentsMock.on(PutCommand).resolves({});

    await expect(lock.acquire('cluster:blue', 'exec-1', EXPIRES_AT)).resolves.toEqual({ acquired: true });
    expect(documentsMock).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(documentsMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'locks',
      Item: {
        lockKey: 'cluster:blue',
        owner: 'exec-1',
        acquiredAt: NOW.toISOString(),
        expiresAtEpoch: Math.floor(Date.parse(EXPIRES_AT) / 1000),
      },
      ConditionExpression: 'attribute_not_exists(lockKey) OR #owner = :owner OR expiresAtEpoch < :now',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': 'exec-1', ':now': NOW_EPOCH },
    });
    expect(documentsMock).not.toHaveReceivedCommand(GetCommand);
  });

  it('reports who holds the lock when the condition fails', async () => {
    documentsMock.on(PutCommand).rejects(conditionalCheckFailed());
    documentsMock.on(GetCommand).resolves({
      Item: { lockKey: 'cluster:blue', owner: 'exec-0', acquiredAt: '2024-05-01T09:00:00Z', expiresAtEpoch: 1 },
    });

    await expect(lock.acquire('cluster:blue', 'exec-1', EXPIRES_AT)).resolves.toEqual({
      acquired: false,
      heldBy: 'exec-0',
    });
    expect(documentsMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: 'locks',
      Key: { lockKey: 'cluster:blue' },
      ConsistentRead: true,
    });
  });

  it('tries again when the holder released between the failed put and the read', async () => {
    documentsMock.on(PutCommand).rejectsOnce(conditionalCheckFailed()).resolves({});
    documentsMock.on(GetCommand).resolves({});

    await expect(lock.acquire('cluster:blue', 'exec-1', EXPIRES_AT)).resolves.toEqual({ acquired: true });
    expect(documentsMock).toHaveReceivedCommandTimes(PutCommand, 2);
  });

  it('maps throttling to RetryableAwsError', async () => {
    documentsMock.on(PutCommand).rejects(
      new DynamoDBServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate of requests exceeds the allowed throughput.',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(lock.acquire('cluster:blue', 'exec-1', EXPIRES_AT)).rejects.toBeInstanceOf(RetryableAwsError);
  });

  it('rejects an expiry that is not a date', async () => {
    await expect(lock.acquire('cluster:blue', 'exec-1', 'tomorrow')).rejects.toThrow(/expiresAt "tomorrow"/);
    expect(documentsMock).not.toHaveReceivedCommand(PutCommand);
  });
});

describe('release', () => {
  it('deletes the lock only when the owner holds it', async () => {
    documentsMock.on(DeleteCommand).resolves({});

    await lock.release('cluster:blue', 'exec-1');
    expect(documentsMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: 'locks',
      Key: { lockKey: 'cluster:blue' },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': 'exec-1' },
    });
  });

  it("is a no-op when the lock is someone else's or gone", async () => {
    documentsMock.on(DeleteCommand).rejects(conditionalCheckFailed());
    await expect(lock.release('cluster:blue', 'exec-1')).resolves.toBeUndefined();
  });

  it('does not swallow other errors', async () => {
    documentsMock.on(DeleteCommand).rejects(
      new DynamoDBServiceException({
        name: 'InternalServerError',
        $fault: 'server',
        message: 'Internal server error',
        $metadata: { httpStatusCode: 500 },
      }),
    );
    await expect(lock.release('cluster:blue', 'exec-1')).rejects.toBeInstanceOf(RetryableAwsError);
  });
});
