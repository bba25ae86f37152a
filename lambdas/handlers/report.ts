/** Report: wiring only (docs/architecture.md); the logic is in the step. */
import { SNSClient } from '@aws-sdk/client-sns';
import { SnsNotifier } from '../aws/notifier-sns';
import { requireEnv } from '../aws/env';
import type { ExecutionDocument } from '../domain/document';
import { report } from '../steps/report';
import { runFigures } from '../steps/run-figures';
import { publishRunFigures } from './metrics';
import { stepHandler, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const notifier = new SnsNotifier(traced(new SNSClient({})), requireEnv('TOPIC_ARN'));

export const handler = stepHandler('Report', async (event: ExecutionDocument) => {
  const summary = await report(event, { notifier });
  publishRunFigures(runFigures(event, 'succeeded', new Date()), event.input.blueClusterId);
  return summary;
});
