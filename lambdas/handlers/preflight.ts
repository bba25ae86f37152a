/** Preflight: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { RdsClusters } from '../aws/clusters-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { SnsApproverSubscriptions } from '../aws/approvers-sns';
import { requireEnv } from '../aws/env';
import { Ec2Network } from '../aws/network-ec2';
import { Route53Dns } from '../aws/dns-route53';
import type { ExecutionDocument } from '../domain/document';
import { preflight } from '../steps/preflight';
import { stepHandler, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const clusters = new RdsClusters(traced(new RDSClient({})));
const dns = new Route53Dns(traced(new Route53Client({})));
const network = new Ec2Network(traced(new EC2Client({})));
const approvers = new SnsApproverSubscriptions(traced(new SNSClient({})), requireEnv('APPROVERS_TOPIC_ARN'));

export const handler = stepHandler('Preflight', (event: ExecutionDocument) =>
  preflight(event, { clusters, dns, network, approvers }),
);
