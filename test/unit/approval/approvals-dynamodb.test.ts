import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbApprovals } from '../../../lambdas/aws/approvals-dynamodb';
import { approvalNonce, openTaskToken, sealTaskToken, sha256Hex } from '../../../lambdas/domain/approval-secrets';
import { sdkShapedError } from '../../../lambdas/domain/aws-errors';
import { RetryableAwsError } from '../../../lambdas/domain/errors';
import { TASK_TOKEN } from './fixtures';

const ddb = mockClient(DynamoDBDocumentClient);
const TABLE = 'approvals';
const ID = 'Jx3v9rV0m3b8Qm1nQ0xk2w7pYk1sD4fH';
const NONCE = approvalNonce(ID);

const request = {
  approvalId: ID,
  taskToken: TASK_TOKEN,
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:run-1',
  evidence: { blue: { clusterId: 'orders-prod' } },
  expiresAt: '2026-12-05T03:00:00.000Z',
};

/** The item as the table holds it while pending. */
const pendingItem = () => ({
  idHash: sha256Hex(ID),
  nonceHash: sha256Hex(NONCE),
  sealedTaskToken: sealTaskToken(ID, TASK_TOKEN),
  executionArn: request.executionArn,
  evidence: request.evidence,
  expiresAt: request.expiresAt,
  status: 'pending',
  expiresAtEpoch: 1,
});

function approvals() {
  return new DynamoDbApprovals(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), {
    tableName: TABLE,
    baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/',
  });
}

beforeEach(() => ddb.reset());

describe('DynamoDbApprovals', () => {
  it('stores only hashes of the id and the nonce and a sealed token, never overwriting, TTL a week after expiry', async () => {
    ddb.on(PutCommand).resolves({});

    const { url } = await approvals().store(request);

    expect(url).toBe(`https://abc.execute-api.eu-west-1.amazonaws.com/approvals/${ID}`);
    expect(url).not.toContain(TASK_TOKEN);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: {
        idHash: sha256Hex(ID),
        nonceHash: sha256Hex(NONCE),
        sealedTaskToken: expect.stringMatching(/^v1\./),
        executionArn: request.executionArn,
        evidence: request.evidence,
        expiresAt: request.expiresAt,
        status: 'pending',
        expiresAtEpoch: Date.parse('2026-12-05T03:00:00.000Z') / 1000 + 7 * 24 * 3600,
      },
      ConditionExpression: 'attribute_not_exists(idHash)',
    });
    const item = JSON.stringify(ddb.commandCalls(PutCommand)[0]!.args[0].input.Item);
    for (const secret of [ID, NONCE, TASK_TOKEN, 'SECRET-TASK-TOKEN']) expect(item).not.toContain(secret);
  });

  it('reads by the hash with a consistent read, and unseals the token with the id', async () => {
    ddb.on(GetCommand).resolves({ Item: pendingItem() });

    const record = await approvals().get(ID);

    expect(record).toEqual({ ...request, nonce: NONCE, status: 'pending' });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { idHash: sha256Hex(ID) },
      ConsistentRead: true,
    });
  });

  it('returns undefined for a missing or malformed item, or one stored for another id', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({})
      .resolvesOnce({ Item: { idHash: sha256Hex(ID), status: 'weird' } })
      .resolvesOnce({ Item: pendingItem() });
    await expect(approvals().get(ID)).resolves.toBeUndefined();
    await expect(approvals().get(ID)).resolves.toBeUndefined();
    await expect(approvals().get('another-id-another-id-another')).resolves.toBeUndefined();
  });

  it('decides with one conditional update that drops the task token and hands it over once', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: pendingItem() });

    const result = await approvals().decide(ID, {
      nonce: NONCE,
      decision: 'approve',
      decidedAt: '2026-12-05T02:10:00.000Z',
      sourceIp: '203.0.113.7',
      userAgent: 'Mobile Safari',
    });

    const { taskToken: _t, ...withoutToken } = request;
    expect(result).toEqual({
      decided: true,
      taskToken: TASK_TOKEN,
      record: {
        ...withoutToken,
        nonce: NONCE,
        status: 'approved',
        decision: 'approve',
        decidedAt: '2026-12-05T02:10:00.000Z',
        sourceIp: '203.0.113.7',
        userAgent: 'Mobile Safari',
      },
    });
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { idHash: sha256Hex(ID) },
      ConditionExpression:
        'attribute_exists(idHash) AND #status = :pending AND #nonceHash = :nonceHash AND #expiresAt > :decidedAt',
      UpdateExpression:
        'SET #status = :status, #decision = :decision, #decidedAt = :decidedAt, #sourceIp = :sourceIp, #userAgent = :userAgent REMOVE #sealedTaskToken',
      ExpressionAttributeValues: {
        ':status': 'approved',
        ':decision': 'approve',
        ':decidedAt': '2026-12-05T02:10:00.000Z',
        ':pending': 'pending',
        ':nonceHash': sha256Hex(NONCE),
        ':sourceIp': '203.0.113.7',
        ':userAgent': 'Mobile Safari',
      },
      ReturnValues: 'ALL_OLD',
    });
  });

  it('records a failback decision (docs/failback.md) as approved, with decision failback', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { ...pendingItem(), evidence: { kind: 'failback' } } });
    const result = await approvals().decide(ID, {
      nonce: NONCE,
      decision: 'failback',
      decidedAt: '2026-12-05T02:10:00.000Z',
    });
    expect(result).toMatchObject({ decided: true, record: { status: 'approved', decision: 'failback' } });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({ ':status': 'approved', ':decision': 'failback' }),
    });
  });

  it('records who decided, and reads it back', async () => {
    const decidedBy = { issuer: 'https://idp.example.com', claim: 'email' as const, value: 'bob@example.com' };
    ddb.on(UpdateCommand).resolves({ Attributes: pendingItem() });
    const result = await approvals().decide(ID, {
      nonce: NONCE,
      decision: 'approve',
      decidedAt: '2026-12-05T02:10:00.000Z',
      decidedBy,
    });
    expect(result).toMatchObject({ decided: true, record: { decidedBy } });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression:
        'SET #status = :status, #decision = :decision, #decidedAt = :decidedAt, #decidedBy = :decidedBy REMOVE #sealedTaskToken',
      ExpressionAttributeValues: expect.objectContaining({ ':decidedBy': decidedBy }),
    });

    ddb.on(GetCommand).resolves({ Item: { ...pendingItem(), status: 'approved', decidedBy } });
    expect(await approvals().get(ID)).toMatchObject({ decidedBy });
    ddb.on(GetCommand).resolves({ Item: { ...pendingItem(), status: 'approved', decidedBy: { value: 'x' } } });
    expect(await approvals().get(ID)).not.toHaveProperty('decidedBy');
  });

  it('records a rejection with its reason', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: pendingItem() });
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

  it('reopens only the decision it made, sealing the token again', async () => {
    ddb.on(UpdateCommand).resolves({});
    await approvals().reopen(ID, '2026-12-05T02:10:00.000Z', TASK_TOKEN);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { idHash: sha256Hex(ID) },
      UpdateExpression:
        'SET #status = :pending, #sealedTaskToken = :sealed REMOVE #decision, #decidedAt, #reason, #sourceIp, #userAgent, #decidedBy',
      ConditionExpression: '#status <> :pending AND #decidedAt = :decidedAt',
      ExpressionAttributeValues: {
        ':pending': 'pending',
        ':decidedAt': '2026-12-05T02:10:00.000Z',
        ':sealed': expect.stringMatching(/^v1\./),
      },
    });
    const sealed = ddb.commandCalls(UpdateCommand)[0]!.args[0].input.ExpressionAttributeValues![':sealed'] as string;
    expect(openTaskToken(ID, sealed)).toBe(TASK_TOKEN);
    expect(openTaskToken('another-id-another-id-another', sealed)).toBeUndefined();
  });

  it('store without a base URL is refused', async () => {
    const store = new DynamoDbApprovals(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), {
      tableName: TABLE,
    });
    await expect(store.store(request)).rejects.toThrow(/baseUrl/);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 0);
  });
});
