/**
 * Builds the construct library into dist/lib, a folder that is the published package
 * (`npm pack ./dist/lib`, `npm publish ./dist/lib`; docs/construct.md):
 *
 * - infra/index.ts and what it imports, compiled to CommonJS and .d.ts (tsconfig.lib.json);
 * - every Lambda handler bundled with esbuild, with the settings its construct gives NodejsFunction
 *   (LAMBDA_BUNDLING, APPROVAL_BUNDLING), into lambda-bundles/<handler>/index.js, which the
 *   construct then uses instead of bundling (infra/lambda-code.ts);
 * - a package.json written here, not this repository's: aws-cdk-lib and constructs as peers, as
 *   dependencies only what the compiled code requires, and nothing of the rehearsal (PostgreSQL
 *   binaries) or of development (iam-simulate, test tools).
 *
 * Usage: tsx scripts/build-lib.ts [--out DIR]
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { build, type BuildOptions } from 'esbuild';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { APPROVAL_BUNDLING, APPROVAL_HANDLERS } from '../infra/approval-endpoint';
import { LAMBDA_BUNDLING, pgParserWasm, SQL_PARSER_STEPS, WATCH_HANDLERS } from '../infra/aurora-blue-green-deployment';
import { PREBUILT_BUNDLES_FOLDER } from '../infra/lambda-code';
import { TASK_LIST } from '../lambdas/steps/catalog';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
/** What a CDK app brings itself: one aws-cdk-lib and one constructs per app. */
const PEERS = ['aws-cdk-lib', 'constructs'] as const;
/** The entry point, compiled: see tsconfig.lib.json. */
const ENTRY = './infra/index';

interface RootManifest {
  name: string;
  version: string;
  description: string;
  license: string;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
}

/** Each Lambda's handler and the esbuild settings its construct bundles it with. */
export function lambdaHandlers(): { name: string; bundling: BundlingOptions }[] {
  const steps = [...new Set(TASK_LIST.filter((t) => t.kind !== 'approval').map((t) => t.step))];
  return [
    ...[...steps, ...WATCH_HANDLERS].map((name) => ({ name, bundling: LAMBDA_BUNDLING as BundlingOptions })),
    ...APPROVAL_HANDLERS.map((name) => ({ name, bundling: APPROVAL_BUNDLING as BundlingOptions })),
  ];
}

/** The settings NodejsFunction passes esbuild for these BundlingOptions (aws-lambda-nodejs/lib/bundling). */
export function esbuildOptionsOf(bundling: BundlingOptions): BuildOptions {
  // An option not mapped here would make the prebuilt bundle differ from what synth bundles.
  const mapped = new Set([
    'forceDockerBundling',
    'minify',
    'sourceMap',
    'target',
    'format',
    'mainFields',
    'externalModules',
  ]);
  const unmapped = Object.keys(bundling).filter((key) => !mapped.has(key));
  if (unmapped.length) throw new Error(`build-lib: bundling options not mapped to esbuild: ${unmapped.join(', ')}`);
  if (bundling.externalModules === undefined) {
    throw new Error('build-lib: give externalModules explicitly (NodejsFunction defaults them from feature flags)');
  }
  return {
    bundle: true,
    platform: 'node',
    ...(bundling.target !== undefined ? { target: bundling.target } : {}),
    ...(bundling.format !== undefined ? { format: bundling.format } : {}),
    minify: bundling.minify ?? false,
    sourcemap: bundling.sourceMap ?? false,
    ...(bundling.mainFields !== undefined ? { mainFields: bundling.mainFields } : {}),
    external: bundling.externalModules,
    logLevel: 'error',
  };
}

/**
 * The packages the compiled construct requires (bare specifiers, Node built-ins left out); the
 * Lambda bundles are self-contained and not looked at.
 */
export function requiredPackages(dir: string): Set<string> {
  const found = new Set<string>();
  const builtins = new Set(builtinModules);
  const bundles = path.join(dir, PREBUILT_BUNDLES_FOLDER);
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    if (path.join(entry.parentPath, entry.name).startsWith(bundles + path.sep)) continue;
    const code = fs.readFileSync(path.join(entry.parentPath, entry.name), 'utf8');
    for (const [, specifier] of code.matchAll(/\brequire\("([^"]+)"\)/g)) {
      if (!specifier || specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
      const parts = specifier.split('/');
      found.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier));
    }
  }
  return found;
}

/** The published package.json: this repository's identity, the library's entry and dependencies. */
export function libraryManifest(root: RootManifest, required: Set<string>): Record<string, unknown> {
  const range = (name: string): string => {
    const value = root.dependencies[name];
    if (!value) {
      throw new Error(`build-lib: the library requires "${name}", which is not a dependency in package.json`);
    }
    return value;
  };
  const dependencies = Object.fromEntries(
    [...required]
      .filter((name) => !(PEERS as readonly string[]).includes(name))
      .sort()
      .map((name) => [name, range(name)]),
  );
  return {
    name: root.name,
    version: root.version,
    description: root.description,
    license: root.license,
    keywords: ['aws-cdk', 'cdk-construct', 'aurora', 'postgresql', 'blue-green', 'step-functions'],
    engines: root.engines,
    main: `${ENTRY}.js`,
    types: `${ENTRY}.d.ts`,
    exports: {
      '.': { types: `${ENTRY}.d.ts`, default: `${ENTRY}.js` },
      './package.json': './package.json',
    },
    peerDependencies: Object.fromEntries(PEERS.map((name) => [name, range(name)])),
    dependencies,
  };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--out');
  const out = path.resolve(i >= 0 ? (process.argv[i + 1] ?? '') : path.join(ROOT, 'dist', 'lib'));
  const started = Date.now();
  fs.rmSync(out, { recursive: true, force: true });

  // The compiler and esbuild run side by side: they share nothing but the output folder.
  await Promise.all([
    execFileAsync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.lib.json', '--outDir', out],
      {
        cwd: ROOT,
      },
    ).catch((error: { stdout?: string; message: string }) => {
      throw new Error(`build-lib: tsc failed\n${error.stdout ?? error.message}`);
    }),
    ...lambdaHandlers().map(async ({ name, bundling }) => {
      const outfile = path.join(out, PREBUILT_BUNDLES_FOLDER, name, 'index.js');
      await build({
        ...esbuildOptionsOf(bundling),
        entryPoints: [path.join(ROOT, 'lambdas', 'handlers', `${name}.ts`)],
        outfile,
        absWorkingDir: ROOT,
      });
      // What bundlingFor's afterBundling hook does when bundling from source: the parser's .wasm
      // beside the bundles that parse SQL.
      if (SQL_PARSER_STEPS.has(name)) {
        fs.copyFileSync(pgParserWasm(), path.join(path.dirname(outfile), 'libpg-query.wasm'));
      }
    }),
  ]);

  const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as RootManifest;
  const manifest = libraryManifest(root, requiredPackages(out));
  fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.copyFileSync(path.join(ROOT, 'docs', 'construct.md'), path.join(out, 'README.md'));
  console.log(
    `build-lib: ${path.relative(process.cwd(), out) || '.'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
