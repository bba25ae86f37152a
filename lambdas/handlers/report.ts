/** Report: wiring only (DESIGN.md section 2); the logic is in the step. */
import { SNSClient } from '@aws-sdk/client-sns';
import { SnsNotifier } from '../aws/notifier-sns';
import { requireEnv } from '../aws/env';
import type { ExecutionDocument } from '../domain/document';
import { report } from '../steps/report';
import { stepHandler } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const notifier = new SnsNotifier(new SNSClient({}), requireEnv('TOPIC_ARN'));

export const handler = stepHandler('Report', (event: ExecutionDocument) => report(event, { notifier }));
