/** CheckClone: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { RdsClusters } from '../aws/clusters-rds';
import type { ExecutionDocument } from '../domain/document';
import { checkClone } from '../steps/create-clone';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const clusters = new RdsClusters(traced(new RDSClient({})));

export const handler = stepHandler('CheckClone', (event: ExecutionDocument) =>
  checkClone(event, { clusters, clock: systemClock }),
);
