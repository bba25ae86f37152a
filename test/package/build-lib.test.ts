import * as fs from 'node:fs';
import * as path from 'node:path';
import { APPROVAL_BUNDLING } from '../../infra/approval-endpoint';
import { LAMBDA_BUNDLING } from '../../infra/aurora-blue-green-deployment';
import { esbuildOptionsOf, lambdaHandlers, libraryManifest } from '../../scripts/build-lib';
import { TASK_LIST } from '../../lambdas/steps/catalog';

const ROOT = path.resolve(__dirname, '..', '..');
const rootManifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Parameters<
  typeof libraryManifest
>[0] & { optionalDependencies?: object; devDependencies: Record<string, string> };

describe('the published manifest', () => {
  const manifest = libraryManifest(rootManifest, new Set(['aws-cdk-lib', 'constructs', 'zod']));

  it('has the CDK as peers, what the construct requires as dependencies, and nothing else', () => {
    expect(manifest['peerDependencies']).toEqual({
      'aws-cdk-lib': rootManifest.dependencies['aws-cdk-lib'],
      constructs: rootManifest.dependencies['constructs'],
    });
    expect(manifest['dependencies']).toEqual({ zod: rootManifest.dependencies['zod'] });
    // The repository's own manifest has all of these; the package none.
    expect(rootManifest.optionalDependencies).toBeDefined();
    for (const key of ['private', 'optionalDependencies', 'devDependencies', 'scripts']) {
      expect(manifest[key]).toBeUndefined();
    }
    expect(manifest).toMatchObject({ name: rootManifest.name, version: rootManifest.version });
  });

  it('refuses a package the construct requires that is only a development dependency', () => {
    expect(rootManifest.devDependencies['@cloud-copilot/iam-simulate']).toBeDefined();
    expect(() => libraryManifest(rootManifest, new Set(['@cloud-copilot/iam-simulate']))).toThrow(
      /requires "@cloud-copilot\/iam-simulate", which is not a dependency/,
    );
  });
});

describe('the prebuilt Lambda bundles', () => {
  it('are built with the settings NodejsFunction gets from the construct', () => {
    expect(esbuildOptionsOf(LAMBDA_BUNDLING)).toEqual({
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      external: [],
      logLevel: 'error',
    });
    expect(esbuildOptionsOf(APPROVAL_BUNDLING)).toMatchObject({ external: ['@aws-sdk/*', '@smithy/*'] });
  });

  it('refuse bundling options they would not reproduce', () => {
    expect(() => esbuildOptionsOf({ ...LAMBDA_BUNDLING, define: { X: '1' } })).toThrow(/not mapped to esbuild: define/);
    const { externalModules: _, ...withoutExternals } = LAMBDA_BUNDLING;
    expect(() => esbuildOptionsOf(withoutExternals)).toThrow(/give externalModules explicitly/);
  });

  it('cover every Lambda of the catalog and the approval page', () => {
    const names = lambdaHandlers().map((h) => h.name);
    for (const spec of TASK_LIST.filter((t) => t.kind !== 'approval')) expect(names).toContain(spec.step);
    expect(names).toEqual(expect.arrayContaining(['approval-api', 'request-approval']));
    for (const name of names) expect(fs.existsSync(path.join(ROOT, 'lambdas', 'handlers', `${name}.ts`))).toBe(true);
  });
});
