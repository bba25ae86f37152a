/** ReadStoppedExecution (the recovery's first state): wiring only (docs/architecture.md); the logic is in the step. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { SfnExecutions } from '../aws/executions-sfn';
import { readStoppedExecution } from '../steps/recover';
import { stepHandler, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const executions = new SfnExecutions(traced(new SFNClient({})));

export const handler = stepHandler('ReadStoppedExecution', (event: unknown) =>
  readStoppedExecution(event, { executions }),
);
