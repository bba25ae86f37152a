/** SwitchoverFence: wiring only (docs/architecture.md); the logic is in the step. */
import { databaseFromEnv } from '../aws/database-from-env';
import type { ExecutionDocument } from '../domain/document';
import { switchoverFence } from '../steps/replication-workflow';
import { stepHandler, systemClock } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const database = databaseFromEnv();

export const handler = stepHandler('SwitchoverFence', (event: ExecutionDocument) =>
  switchoverFence(event, { database, clock: systemClock }),
);
