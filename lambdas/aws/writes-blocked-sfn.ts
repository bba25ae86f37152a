import { GetExecutionHistoryCommand, ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionDocument } from '../domain/document';
import { writesBlockedSince } from '../steps/run-figures';

/**
 * The writes-blocked watch (docs/observability.md): which running executions keep blue's writes
 * blocked right now, and since when. Step Functions' own metrics cannot say it, and during the
 * approval wait no step runs, so this reads each running execution's latest document: the input
 * of its most recent `*StateEntered` event (the history is read newest first).
 */
export interface BlockedExecution {
  executionArn: string;
  blueClusterId: string;
  blockedSince: string;
  seconds: number;
}

/** Events read per execution before giving up on finding a state's input (one page). */
const HISTORY_PAGE = 100;

export async function blockedExecutions(
  client: SFNClient,
  stateMachineArn: string,
  now: Date,
): Promise<BlockedExecution[]> {
  const blocked: BlockedExecution[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING', ...(nextToken ? { nextToken } : {}) }),
    );
    for (const execution of page.executions ?? []) {
      if (!execution.executionArn) continue;
      const doc = await latestDocument(client, execution.executionArn);
      const since = doc ? writesBlockedSince(doc) : undefined;
      if (!doc || !since) continue;
      blocked.push({
        executionArn: execution.executionArn,
        blueClusterId: doc.input?.blueClusterId ?? 'unknown',
        blockedSince: since,
        seconds: Math.max(0, Math.round((now.getTime() - Date.parse(since)) / 1000)),
      });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return blocked;
}

async function latestDocument(
  client: SFNClient,
  executionArn: string,
): Promise<Partial<ExecutionDocument> | undefined> {
  const history = await client.send(
    new GetExecutionHistoryCommand({
      executionArn,
      reverseOrder: true,
      maxResults: HISTORY_PAGE,
      includeExecutionData: true,
    }),
  );
  for (const event of history.events ?? []) {
    const input = event.stateEnteredEventDetails?.input;
    if (input === undefined) continue;
    try {
      const doc = JSON.parse(input) as unknown;
      // RequestApproval's state input is the document itself (the task wraps it in its payload).
      if (doc && typeof doc === 'object') return doc as Partial<ExecutionDocument>;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
