/** ReleaseLock: wiring only (docs/architecture.md); the logic is in the step. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoLock } from '../aws/lock-dynamodb';
import { requireEnv } from '../aws/env';
import type { ExecutionDocument } from '../domain/document';
import { releaseLock } from '../steps/lock';
import { stepHandler, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const lock = new DynamoLock(DynamoDBDocumentClient.from(traced(new DynamoDBClient({}))), requireEnv('LOCK_TABLE_NAME'));

export const handler = stepHandler('ReleaseLock', (event: ExecutionDocument) => releaseLock(event, { lock }));
