/**
 * `npm run bench:lambdas`: bundles every Lambda handler with the stack's own esbuild settings
 * (LAMBDA_BUNDLING, shared with the construct) and prints, for each, the minified size and the
 * cold module-load time: the median, over fresh `node` processes, of the time `require` of the
 * bundle takes. Beside them, a baseline bundle that only imports @aws-sdk/client-rds. A
 * control-plane Lambda over 1.5x the baseline's load time or over 500 KB is flagged.
 *
 * Options: `--runs N` (default 7, at least 5), `--strict` (exit 1 when anything is flagged).
 * Output: .bench/lambdas/ (bundles and results.json).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { LAMBDA_BUNDLING, LAMBDA_NODE_OPTIONS } from '../infra/aurora-blue-green-deployment';
import { TASK_LIST, type LambdaKind } from '../lambdas/steps/catalog';

const ROOT = path.resolve(__dirname, '..');
const HANDLERS = path.join(ROOT, 'lambdas', 'handlers');
const OUT = path.join(ROOT, '.bench', 'lambdas');
const MAX_LOAD_RATIO = 1.5;
const MAX_BYTES = 500 * 1024;

/** What a handler reads from its environment at module load; values only need to be well formed. */
const FAKE_ENV: Record<string, string> = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'bench-only-not-a-secret',
  POWERTOOLS_SERVICE_NAME: 'aurora-bluegreen',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  LOCK_TABLE_NAME: 'bench-locks',
  TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:bench',
  MIGRATIONS_BUCKET: 'bench-migrations',
  DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench-AbCdEf',
  DB_CONNECT_TIMEOUT_MS: '10000',
  APPROVALS_TABLE: 'bench-approvals',
  APPROVAL_BASE_URL: 'https://approvals.example.com',
  NODE_EXTRA_CA_CERTS: '',
};

interface Result {
  name: string;
  kind: LambdaKind | 'baseline' | 'api';
  bytes: number;
  loadMs: number;
  /** Load time over the baseline's, sampled alternately with it. */
  ratio: number;
  flags: string[];
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function bundle(entry: string, outfile: string, nodePaths: string[] = []): Promise<number> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: LAMBDA_BUNDLING.target,
    format: LAMBDA_BUNDLING.format,
    minify: LAMBDA_BUNDLING.minify,
    sourcemap: LAMBDA_BUNDLING.sourceMap,
    mainFields: LAMBDA_BUNDLING.mainFields,
    external: LAMBDA_BUNDLING.externalModules,
    nodePaths,
    logLevel: 'error',
  });
  return fs.statSync(outfile).size;
}

/** Milliseconds `require(file)` takes in a fresh node process (the Lambda's NODE_OPTIONS included). */
function loadOnce(file: string): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  const env = { ...process.env, ...FAKE_ENV, NODE_OPTIONS: LAMBDA_NODE_OPTIONS };
  // stderr dropped: the SDK's Node-version notice is not a measurement.
  const output = execFileSync(process.execPath, ['-e', script], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return Number(output.trim());
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Loads of `file` alternated with loads of the baseline: on a shared machine the load varies over
 * time, so each bundle is compared with baseline samples taken at the same moments.
 */
function pairedMedians(file: string, baselineFile: string, runs: number): { loadMs: number; baselineMs: number[] } {
  const own: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i++) {
    baseline.push(loadOnce(baselineFile));
    own.push(loadOnce(file));
  }
  return { loadMs: median(own), baselineMs: baseline };
}

async function main(): Promise<void> {
  const runs = Math.max(5, Number(argument('--runs') ?? 7));
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });

  // The baseline: nothing but the RDS client, built in a temporary folder outside the project.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-baseline-'));
  const baselineEntry = path.join(tmp, 'baseline.ts');
  fs.writeFileSync(
    baselineEntry,
    "import { RDSClient } from '@aws-sdk/client-rds';\nexport const rds = new RDSClient({});\n",
  );
  const baselineFile = path.join(OUT, 'baseline', 'index.js');
  const baselineBytes = await bundle(baselineEntry, baselineFile, [path.join(ROOT, 'node_modules')]);
  fs.rmSync(tmp, { recursive: true, force: true });
  const baselineSamples: number[] = [];

  const kindOf = new Map<string, LambdaKind>(TASK_LIST.map((t) => [t.step, t.kind]));
  const handlers = fs
    .readdirSync(HANDLERS)
    .filter((f) => f.endsWith('.ts'))
    .filter((f) =>
      /export\s+(const|async\s+function|function)\s+handler\b/.test(fs.readFileSync(path.join(HANDLERS, f), 'utf8')),
    )
    .sort();

  const results: Result[] = [];
  for (const file of handlers) {
    const name = file.replace(/\.ts$/, '');
    const outfile = path.join(OUT, name, 'index.js');
    const bytes = await bundle(path.join(HANDLERS, file), outfile);
    const { loadMs, baselineMs } = pairedMedians(outfile, baselineFile, runs);
    baselineSamples.push(...baselineMs);
    const ratio = loadMs / median(baselineMs);
    const kind = kindOf.get(name) ?? 'api';
    const flags: string[] = [];
    if (kind === 'control') {
      if (ratio > MAX_LOAD_RATIO) flags.push(`load > ${MAX_LOAD_RATIO}x baseline`);
      if (bytes > MAX_BYTES) flags.push('> 500 KB');
    }
    results.push({ name, kind, bytes, loadMs, ratio, flags });
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  const baselineMs = median(baselineSamples);
  results.unshift({
    name: '(baseline: @aws-sdk/client-rds)',
    kind: 'baseline',
    bytes: baselineBytes,
    loadMs: baselineMs,
    ratio: 1,
    flags: [],
  });

  const width = Math.max(...results.map((r) => r.name.length));
  const line = (r: Result) =>
    `${r.name.padEnd(width)}  ${r.kind.padEnd(11)}  ${(r.bytes / 1024).toFixed(0).padStart(6)} KB  ${r.loadMs.toFixed(1).padStart(7)} ms  ${r.ratio.toFixed(2).padStart(5)}x  ${r.flags.length ? `FLAG: ${r.flags.join(', ')}` : ''}`;
  console.log(
    `Lambda bundles (esbuild ${LAMBDA_BUNDLING.target}, ${LAMBDA_BUNDLING.format}, minified; median of ${runs} cold loads, each alternated with a baseline load, Node ${process.version})`,
  );
  console.log(
    `${'bundle'.padEnd(width)}  ${'kind'.padEnd(11)}  ${'size'.padStart(9)}  ${'load'.padStart(10)}  ${'ratio'.padStart(6)}`,
  );
  for (const r of results) console.log(line(r).trimEnd());
  const flagged = results.filter((r) => r.flags.length);
  console.log(
    flagged.length
      ? `${flagged.length} control-plane Lambda(s) over budget (${MAX_LOAD_RATIO}x baseline load or 500 KB)`
      : `Every control-plane Lambda is within ${MAX_LOAD_RATIO}x the baseline's load time and under 500 KB`,
  );
  fs.writeFileSync(
    path.join(OUT, 'results.json'),
    `${JSON.stringify({ runs, node: process.version, baseline: { bytes: baselineBytes, loadMs: baselineMs }, results }, null, 2)}\n`,
  );
  if (flagged.length && process.argv.includes('--strict')) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
