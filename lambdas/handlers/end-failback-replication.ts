/** EndFailbackReplication: wiring only (docs/architecture.md); the logic is in the step. */
import { databaseFromEnv } from '../aws/database-from-env';
import type { ExecutionDocument } from '../domain/document';
import { endFailbackReplication } from '../steps/failback';
import { stepHandler, systemClock } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const database = databaseFromEnv();

export const handler = stepHandler('EndFailbackReplication', (event: ExecutionDocument) =>
  endFailbackReplication(event, { database, clock: systemClock }),
);
