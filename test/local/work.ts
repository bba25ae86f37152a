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
