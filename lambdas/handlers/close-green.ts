/** CloseGreen: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { databaseFromEnv } from '../aws/database-from-env';
import { RdsClusters } from '../aws/clusters-rds';
import type { ExecutionDocument } from '../domain/document';
import { closeGreen } from '../steps/failback';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const database = databaseFromEnv();
const clusters = new RdsClusters(traced(new RDSClient({})));

export const handler = stepHandler('CloseGreen', (event: ExecutionDocument) =>
  closeGreen(event, { database, clusters, clock: systemClock }),
);
