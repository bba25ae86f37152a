import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaNodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';

/**
 * Where the code of the Lambdas comes from.
 *
 * - In this repository, from source: `NodejsFunction` bundles `lambdas/handlers/<name>.ts` with
 *   esbuild at synth (infra/app.ts, the tests).
 * - In the published package (`npm run build:lib`, docs/construct.md), prebuilt:
 *   `<package>/lambda-bundles/<name>/index.js`, bundled with the same esbuild settings when the
 *   package was built, so that a CDK app using the package needs neither esbuild nor this
 *   repository's layout.
 */

/** The project root: lambdas/ and package-lock.json in this repository, the package root once built. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** The folder of the prebuilt bundles, relative to the package root. */
export const PREBUILT_BUNDLES_FOLDER = 'lambda-bundles';

/** The folder of the prebuilt bundles when this code runs from the built package, else undefined. */
export function prebuiltBundlesDir(root: string = PROJECT_ROOT): string | undefined {
  const dir = path.join(root, PREBUILT_BUNDLES_FOLDER);
  return fs.existsSync(dir) ? dir : undefined;
}

export interface HandlerFunctionProps extends lambda.FunctionOptions {
  /** The handler's file name in `lambdas/handlers/` without `.ts`, e.g. `create-clone`. */
  readonly handlerName: string;
  readonly runtime: lambda.Runtime;
  /** esbuild settings; the prebuilt bundle of the package was built with the same ones. */
  readonly bundling: lambdaNodejs.BundlingOptions;
  /**
   * A folder of `<handlerName>.ts` entries that replaces lambdas/handlers (tests only). Always
   * bundled from source.
   * @default - the prebuilt bundle in the package, else lambdas/handlers of this repository
   */
  readonly handlersDir?: string;
}

/** A Lambda whose exported `handler` is in `lambdas/handlers/<handlerName>.ts`, prebuilt or bundled. */
export function handlerFunction(scope: Construct, id: string, props: HandlerFunctionProps): lambda.Function {
  const { handlerName, bundling, handlersDir, ...options } = props;
  const prebuilt = handlersDir === undefined ? prebuiltBundlesDir() : undefined;
  if (prebuilt) {
    const dir = path.join(prebuilt, handlerName);
    if (!fs.existsSync(path.join(dir, 'index.js'))) {
      throw new Error(
        `The package has no prebuilt code for the "${handlerName}" Lambda (${dir}/index.js): rebuild it with npm run build:lib`,
      );
    }
    return new lambda.Function(scope, id, { ...options, code: lambda.Code.fromAsset(dir), handler: 'index.handler' });
  }
  const entriesDir = handlersDir ?? path.join(PROJECT_ROOT, 'lambdas', 'handlers');
  return new lambdaNodejs.NodejsFunction(scope, id, {
    ...options,
    entry: path.join(entriesDir, `${handlerName}.ts`),
    handler: 'handler',
    projectRoot: commonAncestor(PROJECT_ROOT, entriesDir),
    depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
    bundling,
  });
}

/** The deepest folder containing both (NodejsFunction wants every entry under its project root). */
function commonAncestor(a: string, b: string): string {
  const left = path.resolve(a).split(path.sep);
  const right = path.resolve(b).split(path.sep);
  let i = 0;
  while (i < left.length && left[i] === right[i]) i++;
  return left.slice(0, i).join(path.sep) || path.sep;
}
