import { synthesizeDefinition } from '../../local/workflow/synth';
import { TASK_LIST } from '../../lambdas/steps/catalog';

// asl-validator ships CommonJS without type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const validateAsl = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: { message?: string; path?: string }[] };

describe('the synthesized definition', () => {
  const definition = synthesizeDefinition();

  it('is valid Amazon States Language (asl-validator)', () => {
    const result = validateAsl(JSON.parse(JSON.stringify(definition)), { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('is rejected by the validator when broken (the check can fail)', () => {
    const broken = JSON.parse(JSON.stringify(definition)) as { States: Record<string, { Next?: string }> };
    const preflight = broken.States.Preflight;
    if (preflight) preflight.Next = 'NoSuchState';
    expect(validateAsl(broken).isValid).toBe(false);
  });

  it('has every task of the catalog, in JSONPath (the local executor ignores JSONata)', () => {
    // ReadStoppedExecution is the recovery state machine's own task, not the deployment's.
    const deploymentTasks = TASK_LIST.filter((spec) => spec.state !== 'ReadStoppedExecution');
    expect(deploymentTasks.length).toBe(TASK_LIST.length - 1);
    for (const spec of deploymentTasks) expect(definition.States[spec.state]?.Type).toBe('Task');
    expect(definition.States['ReadStoppedExecution']).toBeUndefined();
    expect(JSON.stringify(definition)).not.toContain('JSONata');
  });

  it('never retries States.ALL, and every retry is capped with jitter', () => {
    for (const [name, state] of Object.entries(definition.States)) {
      const retries = (state.Retry ?? []) as {
        ErrorEquals: string[];
        MaxDelaySeconds?: number;
        JitterStrategy?: string;
      }[];
      for (const retry of retries) {
        expect({ name, errors: retry.ErrorEquals }).not.toEqual({
          name,
          errors: expect.arrayContaining(['States.ALL']),
        });
        expect(retry.MaxDelaySeconds).toBeGreaterThan(0);
        expect(retry.JitterStrategy).toBe('FULL');
      }
    }
  });
});
