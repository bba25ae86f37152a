import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { TASK_LIST } from '../../lambdas/steps/catalog';
import { parseConfig, type BlueGreenConfig } from '../../infra/config';
import { WATCH_HANDLERS } from '../../infra/aurora-blue-green-deployment';
import { BlueGreenStack } from '../../infra/stack';

const CDK_JSON = path.join(__dirname, '..', '..', 'cdk.json');

/** The `context` of cdk.json: the example configuration and the feature flags. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(CDK_JSON, 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

/** A deep copy of the example `bluegreen` configuration of cdk.json. */
export function exampleConfigInput(): Record<string, unknown> {
  return structuredClone(cdkJsonContext()['bluegreen']) as Record<string, unknown>;
}

/**
 * A folder with a stub `<step>.ts` for every step of the catalog, outside the repository: the
 * template tests skip bundling, but NodejsFunction still wants each entry file to exist, and the
 * real handlers are written in parallel.
 */
export function stubHandlersDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bluegreen-handlers-'));
  for (const name of [...TASK_LIST.map((spec) => spec.step), ...WATCH_HANDLERS]) {
    fs.writeFileSync(path.join(dir, `${name}.ts`), 'export const handler = async () => ({});\n');
  }
  return dir;
}

export interface Synthesized {
  app: App;
  stack: BlueGreenStack;
  config: BlueGreenConfig;
}

/** The stack as `npx cdk synth` builds it, without bundling (no asset matters to these tests). */
export function synthStack(
  configInput: Record<string, unknown> = exampleConfigInput(),
  handlersDir: string = stubHandlersDir(),
): Synthesized {
  const config = parseConfig(configInput);
  const app = new App({
    context: { ...cdkJsonContext(), bluegreen: configInput, 'aws:cdk:bundling-stacks': [] },
  });
  const stack = new BlueGreenStack(app, 'AuroraBlueGreen', { config, handlersDir });
  return { app, stack, config };
}
