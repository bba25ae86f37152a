/** InspectBlue: wiring only (docs/architecture.md); the logic is in the step. */
import { databaseFromEnv } from '../aws/database-from-env';
import type { ExecutionDocument } from '../domain/document';
import { inspectBlue } from '../steps/inspect-blue';
import { stepHandler } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const database = databaseFromEnv();

export const handler = stepHandler('InspectBlue', (event: ExecutionDocument) => inspectBlue(event, { database }));
