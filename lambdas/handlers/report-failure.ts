/** ReportFailure: wiring only (docs/architecture.md); the logic is in the step. */
import { SNSClient } from '@aws-sdk/client-sns';
import { SnsNotifier } from '../aws/notifier-sns';
import { requireEnv } from '../aws/env';
import type { ExecutionDocument } from '../domain/document';
import { reportFailure } from '../steps/report';
import { runFigures } from '../steps/run-figures';
import { publishRunFigures } from './metrics';
import { stepHandler, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const notifier = new SnsNotifier(traced(new SNSClient({})), requireEnv('TOPIC_ARN'));

export const handler = stepHandler('ReportFailure', async (event: ExecutionDocument & Record<string, unknown>) => {
  const result = await reportFailure(event, { notifier });
  publishRunFigures(runFigures(event, 'failed', new Date()), event.input?.blueClusterId ?? 'unknown');
  return result;
});
