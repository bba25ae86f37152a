/** AddReplicas: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { RdsClusters } from '../aws/clusters-rds';
import type { ExecutionDocument } from '../domain/document';
import { addReplicas } from '../steps/add-replicas';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const clusters = new RdsClusters(traced(new RDSClient({})));

export const handler = stepHandler('AddReplicas', (event: ExecutionDocument) =>
  addReplicas(event, { clusters, clock: systemClock }),
);
