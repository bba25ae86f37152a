/** CheckGreenClosed: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { RdsClusters } from '../aws/clusters-rds';
import type { ExecutionDocument } from '../domain/document';
import { checkGreenClosed } from '../steps/failback';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const clusters = new RdsClusters(traced(new RDSClient({})));

export const handler = stepHandler('CheckGreenClosed', (event: ExecutionDocument) =>
  checkGreenClosed(event, { clusters, clock: systemClock }),
);
