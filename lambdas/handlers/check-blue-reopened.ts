/** CheckBlueReopened: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { RdsClusters } from '../aws/clusters-rds';
import { Route53Dns } from '../aws/dns-route53';
import type { ExecutionDocument } from '../domain/document';
import { checkBlueReopened } from '../steps/failback';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const clusters = new RdsClusters(traced(new RDSClient({})));
const dns = new Route53Dns(traced(new Route53Client({})));

export const handler = stepHandler('CheckBlueReopened', (event: ExecutionDocument) =>
  checkBlueReopened(event, { clusters, dns, clock: systemClock }),
);
