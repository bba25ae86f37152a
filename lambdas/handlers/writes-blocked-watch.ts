/** The writes-blocked watch: wiring only (docs/observability.md). Runs every minute on a schedule. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { requireEnv } from '../aws/env';
import { blockedExecutions, type BlockedExecution } from '../aws/writes-blocked-sfn';
import { publishWritesBlocked } from './metrics';
import { logger, traced } from './runtime';

const client = traced(new SFNClient({}));
const stateMachineArn = requireEnv('STATE_MACHINE_ARN');

export const handler = async (): Promise<{ blocked: BlockedExecution[] }> => {
  const blocked = await blockedExecutions(client, stateMachineArn, new Date());
  if (blocked.length) logger.warn('Writes are blocked', { blocked });
  publishWritesBlocked(blocked);
  return { blocked };
};
