import { parseInput, type ValidateRequest } from '../domain/input';
import type { ExecutionDocument } from '../domain/document';

/** ValidateInput: the document starts here as `{ input }`, every default filled in. */
export async function validateInput(request: ValidateRequest): Promise<Pick<ExecutionDocument, 'input'>> {
  return { input: parseInput(request) };
}
