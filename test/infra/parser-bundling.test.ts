import { execSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { bundlingFor, LAMBDA_BUNDLING, SQL_PARSER_STEPS } from '../../infra/aurora-blue-green-deployment';
import { DEFAULTS } from '../support/step-fixtures';

/**
 * libpg-query is WebAssembly: a bundle that contains it must ship `libpg-query.wasm`. Bundles the
 * real handlers with the construct's esbuild settings, runs the construct's afterBundling commands,
 * and invokes the bundled ValidateInput in a fresh node process, as Lambda would.
 */

const HANDLERS = path.join(__dirname, '..', '..', 'lambdas', 'handlers');

async function bundle(step: string, outdir: string): Promise<void> {
  await build({
    entryPoints: [path.join(HANDLERS, `${step}.ts`)],
    outfile: path.join(outdir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: LAMBDA_BUNDLING.target,
    format: LAMBDA_BUNDLING.format,
    mainFields: LAMBDA_BUNDLING.mainFields,
    external: LAMBDA_BUNDLING.externalModules,
    logLevel: 'error',
  });
}

describe('the SQL parser ships with the Lambdas that use it', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bg-bundle-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('the bundled ValidateInput parses smoke SQL with the copied .wasm', async () => {
    const outdir = tempDir();
    await bundle('validate-input', outdir);
    for (const command of (bundlingFor('validate-input').commandHooks?.afterBundling ?? (() => []))(HANDLERS, outdir)) {
      execSync(command, { cwd: outdir });
    }
    const script = `
      require('./index.js').handler({
        raw: { blueClusterId: 'app-blue', smokeTests: [{ name: 'sneaky', database: 'app', sql: 'COMMIT; DELETE FROM orders', expect: 'zero' }] },
        defaults: ${JSON.stringify(DEFAULTS)},
        execution: { id: 'arn:aws:states:eu-west-1:123456789012:execution:bg:x', name: 'x', startTime: '2026-12-05T02:00:00.000Z' },
      }, { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 })
        .then(() => console.log('ACCEPTED'), (e) => console.log(e.name + ': ' + e.message));`;
    const run = spawnSync(process.execPath, ['-e', script], {
      cwd: outdir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', POWERTOOLS_LOG_LEVEL: 'SILENT' },
      timeout: 60_000,
    });
    expect(run.stdout).toContain('PreconditionFailed: smokeTests[0].sql ("sneaky")');
    expect(run.stdout).toContain('exactly one statement, found 2');
    expect(readdirSync(outdir)).toContain('libpg-query.wasm');
  });

  it('exactly the handlers whose bundle contains libpg-query get the .wasm', async () => {
    const steps = readdirSync(HANDLERS)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, ''))
      .filter((step) => step !== 'runtime' && step !== 'approval-api');
    // One build of every handler: esbuild's metafile says which bundle took libpg-query in.
    const result = await build({
      entryPoints: steps.map((step) => path.join(HANDLERS, `${step}.ts`)),
      outdir: tempDir(),
      bundle: true,
      platform: 'node',
      target: LAMBDA_BUNDLING.target,
      format: LAMBDA_BUNDLING.format,
      mainFields: LAMBDA_BUNDLING.mainFields,
      external: LAMBDA_BUNDLING.externalModules,
      metafile: true,
      logLevel: 'error',
    });
    const withParser = Object.values(result.metafile.outputs)
      .filter((o) => o.entryPoint && Object.keys(o.inputs).some((i) => i.includes('node_modules/libpg-query/')))
      .map((o) => path.basename(o.entryPoint!, '.ts'));
    expect(withParser.sort()).toEqual([...SQL_PARSER_STEPS].sort());
    for (const step of steps) {
      expect({ step, copiesWasm: bundlingFor(step).commandHooks !== undefined }).toEqual({
        step,
        copiesWasm: SQL_PARSER_STEPS.has(step),
      });
    }
  }, 180_000);
});
