import { execFile, execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { lambdaHandlers } from '../../scripts/build-lib';
import { SQL_PARSER_STEPS } from '../../infra/aurora-blue-green-deployment';

/**
 * The construct as a CDK user gets it: build and `npm pack` the package, install the tarball into
 * a copy of examples/basic, type-check and synthesize that app, and look at what it made.
 *
 * Offline: the tarball and its own dependencies are installed with `npm ci --offline` from a lock
 * file written from this repository's (the npm cache holds their tarballs since `npm ci`);
 * aws-cdk-lib and constructs, the peers an app brings itself, are linked from this repository's
 * node_modules rather than extracted again (300 MB, half a minute).
 */

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'node_modules', '.bin');
const LINKED = ['aws-cdk-lib', 'constructs', '@types/node'];

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  inBundle?: boolean;
  dependencies?: Record<string, string>;
  bundleDependencies?: string[];
  [key: string]: unknown;
}

const ENV = { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', npm_config_update_notifier: 'false' };

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command; a failure reports its output, which is where tsc and cdk say what went wrong. */
async function runAsync(command: string, args: string[], cwd: string): Promise<void> {
  try {
    await promisify(execFile)(command, args, { cwd, env: ENV, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${path.basename(args[0] ?? command)} ${args[1] ?? ''} failed:\n${stdout}${stderr}`);
  }
}

/**
 * Lock entries of `names` and everything they depend on, as this repository's lock file resolved
 * them (nested versions kept at their nested paths).
 */
function lockEntriesFor(names: string[]): Record<string, LockEntry> {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const find = (from: string, name: string): string => {
    for (let at = from; ;) {
      const key = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (lock.packages[key]) return key;
      if (!at) throw new Error(`${name} (needed by ${from || 'the app'}) is not in package-lock.json`);
      const i = at.lastIndexOf('/node_modules/');
      at = i < 0 ? '' : at.slice(0, i);
    }
  };
  const entries: Record<string, LockEntry> = {};
  const add = (key: string): void => {
    if (entries[key]) return;
    const { dev: _dev, optional: _optional, devOptional: _devOptional, ...entry } = lock.packages[key] as LockEntry;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (!entry.inBundle && !entry.resolved) {
      entry.resolved = `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
    }
    entries[key] = entry;
    for (const dependency of Object.keys(entry.dependencies ?? {})) add(find(key, dependency));
  };
  for (const name of names) add(find('', name));
  return entries;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('the aurora-bluegreen package', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bluegreen-pack-'));
  const app = path.join(work, 'app');
  let manifest: Record<string, unknown>;
  let template: {
    Resources: Record<
      string,
      { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }
    >;
  };
  let packed: string[];

  beforeAll(async () => {
    const lib = path.join(work, 'lib');
    run(path.join(BIN, 'tsx'), ['scripts/build-lib.ts', '--out', lib], ROOT);
    const [tarball] = JSON.parse(run('npm', ['pack', lib, '--json', '--pack-destination', work], work)) as {
      filename: string;
      files: { path: string }[];
    }[];
    if (!tarball) throw new Error('npm pack made no tarball');
    packed = tarball.files.map((f) => f.path);
    manifest = JSON.parse(fs.readFileSync(path.join(lib, 'package.json'), 'utf8')) as Record<string, unknown>;
    const tarballFile = path.join(work, tarball.filename);

    // The example as a user has it, with the package from the tarball instead of the registry.
    fs.cpSync(path.join(ROOT, 'examples', 'basic'), app, {
      recursive: true,
      filter: (source) => !/[\\/](node_modules|cdk\.out)$/.test(source),
    });
    const example = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    expect(Object.keys(example.dependencies).sort()).toEqual(['aurora-bluegreen', 'aws-cdk-lib', 'constructs']);
    const spec = `file:${path.relative(app, tarballFile)}`;
    const packageDependencies = (manifest['dependencies'] ?? {}) as Record<string, string>;
    const appManifest = {
      name: 'example',
      version: '1.0.0',
      private: true,
      dependencies: { 'aurora-bluegreen': spec },
    };
    const lockPackages = {
      '': appManifest,
      'node_modules/aurora-bluegreen': {
        version: manifest['version'],
        resolved: spec,
        integrity: `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarballFile)).digest('base64')}`,
        dependencies: packageDependencies,
        peerDependencies: manifest['peerDependencies'],
      },
      ...lockEntriesFor(Object.keys(packageDependencies)),
    };
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(appManifest, null, 2));
    fs.writeFileSync(
      path.join(app, 'package-lock.json'),
      JSON.stringify({ ...appManifest, lockfileVersion: 3, requires: true, packages: lockPackages }, null, 2),
    );
    // --legacy-peer-deps: the peers are linked below, as an app's own aws-cdk-lib would be there.
    run('npm', ['ci', '--offline', '--legacy-peer-deps', '--ignore-scripts', '--no-audit', '--no-fund'], app);
    for (const name of LINKED) {
      const link = path.join(app, 'node_modules', name);
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(path.join(ROOT, 'node_modules', name), link, 'dir');
    }

    // Type-check (the package's .d.ts as a TypeScript app sees them) and synthesize, side by side.
    const out = path.join(app, 'cdk.out');
    await Promise.all([
      runAsync(
        process.execPath,
        [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
        app,
      ),
      runAsync(
        process.execPath,
        [
          path.join(ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk'),
          'synth',
          '--app',
          `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(BIN, 'tsx'))} bin/app.ts`,
          '--output',
          out,
          '--no-notices',
          '--quiet',
        ],
        app,
      ),
    ]);
    template = JSON.parse(
      fs.readFileSync(path.join(out, 'OrdersDatabaseDeployments.template.json'), 'utf8'),
    ) as typeof template;
  }, 600_000); // about 45 s of CPU; a busy 2-core machine stretches it several times

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('is a library: entry points with types, the CDK as peers, nothing of the rehearsal or of development', () => {
    expect(manifest).toMatchObject({
      name: 'aurora-bluegreen',
      main: './infra/index.js',
      types: './infra/index.d.ts',
      exports: { '.': { types: './infra/index.d.ts', default: './infra/index.js' } },
      peerDependencies: { 'aws-cdk-lib': expect.any(String), constructs: expect.any(String) },
    });
    expect(manifest['private']).toBeUndefined();
    expect(manifest['optionalDependencies']).toBeUndefined();
    expect(manifest['devDependencies']).toBeUndefined();
    expect(manifest['scripts']).toBeUndefined();
    expect(Object.keys(manifest['dependencies'] as object)).toEqual(['zod']);
    expect(packed).toEqual(expect.arrayContaining(['package.json', 'README.md', 'infra/index.js', 'infra/index.d.ts']));
    // No TypeScript sources, tests, rehearsal or scripts: only compiled code and the bundles.
    expect(packed.filter((file) => /\.ts$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
    expect(packed.filter((file) => /^(local|test|scripts|examples)\//.test(file))).toEqual([]);
  });

  it('holds a prebuilt bundle of every Lambda', () => {
    for (const { name } of lambdaHandlers()) {
      expect(packed).toEqual(expect.arrayContaining([`lambda-bundles/${name}/index.js`]));
    }
    // The bundles that parse SQL load the real PostgreSQL parser's WebAssembly from their folder.
    for (const name of SQL_PARSER_STEPS) {
      expect(packed).toEqual(expect.arrayContaining([`lambda-bundles/${name}/libpg-query.wasm`]));
    }
  });

  it('synthesizes the example app with the state machine', () => {
    const types = Object.values(template.Resources).map((r) => r.Type);
    // The deployment and the recovery of stopped executions.
    expect(types.filter((t) => t === 'AWS::StepFunctions::StateMachine')).toHaveLength(2);
    expect(types).toContain('AWS::SNS::Topic');
  });

  it("deploys each Lambda from the package's prebuilt bundle, not bundled at synth", () => {
    const installed = path.join(app, 'node_modules', 'aurora-bluegreen', 'lambda-bundles');
    const bundleOf = new Map(
      fs.readdirSync(installed).map((name) => [sha256(path.join(installed, name, 'index.js')), name] as const),
    );
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    const used = functions.map((fn) => {
      const asset = fn.Metadata?.['aws:asset:path'];
      if (typeof asset !== 'string') throw new Error('a Lambda function without asset metadata');
      expect(fn.Metadata?.['aws:asset:is-bundled']).toBe(false);
      return bundleOf.get(sha256(path.join(app, 'cdk.out', asset, 'index.js')));
    });
    expect(used).not.toContain(undefined);
    expect(new Set(used)).toEqual(new Set(lambdaHandlers().map((h) => h.name)));
  });
});
