import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbApprovals } from '../../../lambdas/aws/approvals-dynamodb';
import { sdkShapedError } from '../../../lambdas/domain/aws-errors';
import { RetryableAwsError } from '../../../lambdas/domain/errors';
import { TASK_TOKEN } from './fixtures';

const ddb = mockClient(DynamoDBDocumentClient);
const TABLE = 'approvals';
const ID = 'Jx3v9rV0m3b8Qm1nQ0xk2w7pYk1sD4fH';
const NONCE = 'n0nce-n0nce-n0nce-n0nce-n0nce';

const request = {
  approvalId: ID,
  taskToken: TASK_TOKEN,
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-1',
  evidence: { blue: { clusterId: 'orders-prod' } },
  expiresAt: '2026-12-05T03:00:00.000Z',
  nonce: NONCE,
};

function approvals() {
  return new DynamoDbApprovals(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), {
    tableName: TABLE,
    baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/',
  });
}

beforeEach(() => ddb.reset());

describe('DynamoDbApprovals', () => {
  it('stores a pending approval that never overwrites, with the TTL a week after expiry, and returns the link', async () => {
    ddb.on(PutCommand).resolves({});

    const { url } = await approvals().store(request);

    expect(url).toBe(`https://abc.execute-api.eu-west-1.amazonaws.com/approvals/${ID}`);
    expect(url).not.toContain(TASK_TOKEN);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: {
        ...request,
        status: 'pending',
        expiresAtEpoch: Date.parse('2026-12-05T03:00:00.000Z') / 1000 + 7 * 24 * 3600,
      },
      ConditionExpression: 'attribute_not_exists(approvalId)',
    });
  });

  it('reads with a consistent read and returns a typed record', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...request, status: 'pending', expiresAtEpoch: 1 } });

    const record = await approvals().get(ID);

    expect(record).toEqual({ ...request, status: 'pending' });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { approvalId: ID },
      ConsistentRead: true,
    });
  });

  it('returns undefined for a missing or malformed item', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({})
      .resolvesOnce({ Item: { approvalId: ID, status: 'weird' } });
    await expect(approvals().get(ID)).resolves.toBeUndefined();
    await expect(approvals().get(ID)).resolves.toBeUndefined();
  });

  it('decides with one conditional update: pending, same nonce, not expired', async () => {
    ddb.on(UpdateCommand).resolves({
      Attributes: { ...request, status: 'approved', decision: 'approve', decidedAt: '2026-12-05T02:10:00.000Z' },
    });

    const result = await approvals().decide(ID, {
      nonce: NONCE,
      decision: 'approve',
      decidedAt: '2026-12-05T02:10:00.000Z',
      sourceIp: '203.0.113.7',
      userAgent: 'Mobile Safari',
    });

    expect(result).toEqual({
      decided: true,
      record: { ...request, status: 'approved', decision: 'approve', decidedAt: '2026-12-05T02:10:00.000Z' },
    });
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { approvalId: ID },
      ConditionExpression:
        'attribute_exists(approvalId) AND #status = :pending AND #nonce = :nonce AND #expiresAt > :decidedAt',
      UpdateExpression:
        'SET #status = :status, #decision = :decision, #decidedAt = :decidedAt, #sourceIp = :sourceIp, #userAgent = :userAgent',
      ExpressionAttributeValues: {
        ':status': 'approved',
        ':decision': 'approve',
        ':decidedAt': '2026-12-05T02:10:00.000Z',
        ':pending': 'pending',
        ':nonce': NONCE,
        ':sourceIp': '203.0.113.7',
        ':userAgent': 'Mobile Safari',
      },
      ReturnValues: 'ALL_NEW',
    });
  });

  it('records a rejection with its reason', async () => {
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: { ...request, status: 'rejected', decision: 'reject', reason: 'no' } });
    await approvals().decide(ID, {
      nonce: NONCE,
      decision: 'reject',
      reason: 'no',
      decidedAt: '2026-12-05T02:10:00.000Z',
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({ ':status': 'rejected', ':reason': 'no' }),
    });
  });

  it('reports a failed condition as not decided', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    const result = await approvals().decide(ID, {
      nonce: 'other',
      decision: 'approve',
      decidedAt: '2026-12-05T02:10:00.000Z',
    });
    expect(result).toEqual({ decided: false });
  });

  it('maps throttling to RetryableAwsError', async () => {
    ddb.on(UpdateCommand).rejects(sdkShapedError('ProvisionedThroughputExceededException'));
    await expect(
      approvals().decide(ID, { nonce: NONCE, decision: 'approve', decidedAt: '2026-12-05T02:10:00.000Z' }),
    ).rejects.toBeInstanceOf(RetryableAwsError);
  });

  it('reopens only the decision it made', async () => {
    ddb.on(UpdateCommand).resolves({});
    await approvals().reopen(ID, '2026-12-05T02:10:00.000Z');
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { approvalId: ID },
      UpdateExpression: 'SET #status = :pending REMOVE #decision, #decidedAt, #reason, #sourceIp, #userAgent',
      ConditionExpression: '#status <> :pending AND #decidedAt = :decidedAt',
      ExpressionAttributeValues: { ':pending': 'pending', ':decidedAt': '2026-12-05T02:10:00.000Z' },
    });
  });

  it('store without a base URL is refused', async () => {
    const store = new DynamoDbApprovals(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), {
      tableName: TABLE,
    });
    await expect(store.store(request)).rejects.toThrow(/baseUrl/);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 0);
  });
});
