/** ValidateInput: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { RdsClusters } from '../aws/clusters-rds';
import { Route53Dns } from '../aws/dns-route53';
import type { ValidateRequest } from '../domain/input';
import { validateInput } from '../steps/validate-input';
import { stepHandler, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations. They are used
// only when the input leaves out blueClusterId (resolved from the CNAME).
const clusters = new RdsClusters(traced(new RDSClient({})));
const dns = new Route53Dns(traced(new Route53Client({})));

export const handler = stepHandler('ValidateInput', (event: ValidateRequest) =>
  validateInput(event, { clusters, dns }),
);
