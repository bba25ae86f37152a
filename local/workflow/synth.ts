import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { parseConfig } from '../../infra/config';
import { BlueGreenStack } from '../../infra/stack';
import { definitionFromStack, IN_PROCESS_CONTEXT, type AslDefinition } from './asl';

const ROOT = path.resolve(__dirname, '..', '..');

/** The example configuration of cdk.json, as `npx cdk synth` reads it. */
export function exampleConfig(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return structuredClone(cdkJson.context.bluegreen) as Record<string, unknown>;
}

/**
 * Synthesizes the real stack in-process (no bundling: only the definition is needed) with the
 * example configuration plus `overrides`, and returns its state machine definition as ASL.
 */
export function synthesizeDefinition(overrides: Record<string, unknown> = {}): AslDefinition {
  return synthesizeDefinitions(overrides).deployment;
}

/** Both definitions of one synthesis: the deployment and the recovery of a stopped execution. */
export function synthesizeDefinitions(overrides: Record<string, unknown> = {}): {
  deployment: AslDefinition;
  recovery: AslDefinition;
} {
  // Only the definition is read here; `npm run synth` and the infra tests run CDK's template
  // validation (it takes ~10 s and tells nothing about the graph).
  process.env.CDK_VALIDATION ??= 'false';
  const base = exampleConfig();
  const merged = {
    ...base,
    ...overrides,
    defaults: { ...(base.defaults as object), ...((overrides.defaults as object | undefined) ?? {}) },
  };
  const config = parseConfig(merged);
  const cdkJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  const app = new App({ context: { ...cdkJson.context, bluegreen: merged, ...IN_PROCESS_CONTEXT } });
  const stack = new BlueGreenStack(app, 'AuroraBlueGreen', { config });
  return { deployment: definitionFromStack(stack), recovery: definitionFromStack(stack, 'recovery') };
}
