/** ReadStoppedExecution (the recovery's first state): wiring only (DESIGN.md section 2); the logic is in the step. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { SfnExecutions } from '../aws/executions-sfn';
import { readStoppedExecution } from '../steps/recover';
import { stepHandler } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const executions = new SfnExecutions(new SFNClient({}));

export const handler = stepHandler('ReadStoppedExecution', (event: unknown) =>
  readStoppedExecution(event, { executions }),
);
