/** CheckCname: wiring only (docs/architecture.md); the logic is in the step. */
import { Route53Client } from '@aws-sdk/client-route-53';
import { Route53Dns } from '../aws/dns-route53';
import type { ExecutionDocument } from '../domain/document';
import { checkCname } from '../steps/cutover';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const dns = new Route53Dns(traced(new Route53Client({})));

export const handler = stepHandler('CheckCname', (event: ExecutionDocument) =>
  checkCname(event, { dns, clock: systemClock }),
);
