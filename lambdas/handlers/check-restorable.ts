/** CheckRestorable: wiring only (docs/architecture.md); the logic is in the step. */
import { RDSClient } from '@aws-sdk/client-rds';
import { RdsClusters } from '../aws/clusters-rds';
import { SNSClient } from '@aws-sdk/client-sns';
import { requireEnv } from '../aws/env';
import { SnsNotifier } from '../aws/notifier-sns';
import type { ExecutionDocument } from '../domain/document';
import { checkRestorable } from '../steps/check-restorable';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const clusters = new RdsClusters(traced(new RDSClient({})));
const notifier = new SnsNotifier(traced(new SNSClient({})), requireEnv('TOPIC_ARN'));

export const handler = stepHandler('CheckRestorable', (event: ExecutionDocument) =>
  checkRestorable(event, { clusters, clock: systemClock, notifier }),
);
