/** AcquireLock: wiring only (docs/architecture.md); the logic is in the step. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoLock } from '../aws/lock-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { requireEnv } from '../aws/env';
import { SnsNotifier } from '../aws/notifier-sns';
import type { ExecutionDocument } from '../domain/document';
import { acquireLock } from '../steps/lock';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const lock = new DynamoLock(DynamoDBDocumentClient.from(traced(new DynamoDBClient({}))), requireEnv('LOCK_TABLE_NAME'));
const notifier = new SnsNotifier(traced(new SNSClient({})), requireEnv('TOPIC_ARN'));

export const handler = stepHandler('AcquireLock', (event: ExecutionDocument) =>
  acquireLock(event, { lock, clock: systemClock, notifier }),
);
