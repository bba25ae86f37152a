/** CloseBlue: wiring only (docs/architecture.md); the logic is in the step. */
import { databaseFromEnv } from '../aws/database-from-env';
import type { ExecutionDocument } from '../domain/document';
import { closeBlue } from '../steps/close-blue';
import { stepHandler, systemClock } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const database = databaseFromEnv();

export const handler = stepHandler('CloseBlue', (event: ExecutionDocument) =>
  closeBlue(event, { database, clock: systemClock }),
);
