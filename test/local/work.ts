import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/cloud';
import { SAMPLE_MIGRATIONS_DIR } from '../../local/sample';

/** A fresh work folder under the OS temp folder (removed by the caller's afterAll). */
export function makeWorkdir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bluegreen-${prefix}-`));
}

export function removeWorkdir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * A local cloud for a test: the application and admin security groups, the zone, the CNAME and
 * the sample migrations every local-cloud test uses, plus what the test sets (its work folder,
 * how long operations show their intermediate state, the AWS behaviours it plays).
 */
export function createTestCloud(
  options: Pick<LocalCloudOptions, 'workdir'> & Partial<LocalCloudOptions>,
): Promise<LocalCloud> {
  return createLocalCloud({
    accessSecurityGroupId: 'sg-app',
    adminSecurityGroupId: 'sg-admin',
    hostedZoneId: 'ZLOCAL',
    recordName: 'db.rehearsal.internal',
    migrationsDir: SAMPLE_MIGRATIONS_DIR,
    ...options,
  });
}

/**
 * Clones `app-blue` into `app-green` (copy-on-write, admin group only) and starts its writer
 * `app-green-1`, waiting until each is available: what a test of green's upgrade starts from.
 */
export async function cloneGreenWithWriter(cloud: LocalCloud): Promise<void> {
  await cloud.clusters.cloneCopyOnWrite({
    sourceClusterId: 'app-blue',
    targetClusterId: 'app-green',
    port: 5432,
    copyTagsToSnapshot: false,
    iamAuth: false,
    logExports: [],
    securityGroupIds: ['sg-admin'],
    tags: {},
  });
  while ((await cloud.clusters.describeCluster('app-green'))?.status !== 'available') await cloud.clock.sleep(25);
  await cloud.clusters.createInstance({
    instanceId: 'app-green-1',
    clusterId: 'app-green',
    instanceClass: 'db.r6g.large',
    performanceInsights: false,
    tags: {},
  });
  while ((await cloud.clusters.describeInstance('app-green-1'))?.status !== 'available') await cloud.clock.sleep(25);
}
