/** ValidateInput: wiring only (DESIGN.md section 2); the logic is in the step. */
import type { ValidateRequest } from '../domain/input';
import { validateInput } from '../steps/validate-input';
import { stepHandler } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.

export const handler = stepHandler('ValidateInput', (event: ValidateRequest) => validateInput(event));
