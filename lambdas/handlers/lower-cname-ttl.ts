/** LowerCnameTtl: wiring only (docs/architecture.md); the logic is in the step. */
import { Route53Client } from '@aws-sdk/client-route-53';
import { Route53Dns } from '../aws/dns-route53';
import type { ExecutionDocument } from '../domain/document';
import { lowerCnameTtl } from '../steps/cname-ttl';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const dns = new Route53Dns(traced(new Route53Client({})));

export const handler = stepHandler('LowerCnameTtl', (event: ExecutionDocument) =>
  lowerCnameTtl(event, { dns, clock: systemClock }),
);
