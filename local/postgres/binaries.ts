import fs from 'node:fs';
import path from 'node:path';

/**
 * Where the PostgreSQL binaries of each engine version live. The embedded packages are installed
 * side by side under npm aliases (package.json): they hold only initdb, pg_ctl and postgres.
 * Resolution goes through Node's module resolution, never the current directory.
 */

const PACKAGE_OF_VERSION: Readonly<Record<string, string>> = {
  '15.17': 'pg15',
  '16.13': 'pg16-prev',
  '16.14': 'pg16',
};

function packageBinDir(packageName: string): string | undefined {
  try {
    // The packages export only dist/index.js (not package.json): resolve it and walk up.
    const entry = require.resolve(packageName);
    const binDir = path.resolve(path.dirname(entry), '..', 'native', 'bin');
    return fs.existsSync(path.join(binDir, 'postgres')) ? binDir : undefined;
  } catch {
    return undefined;
  }
}

/** Engine versions whose binaries are installed, oldest first. */
export function installedEngineVersions(): string[] {
  return Object.keys(PACKAGE_OF_VERSION)
    .filter((version) => packageBinDir(PACKAGE_OF_VERSION[version] as string) !== undefined)
    .sort(compareVersions);
}

/** The bin folder of an installed engine version; throws when that version is not installed. */
export function binDirOf(engineVersion: string): string {
  const packageName = PACKAGE_OF_VERSION[engineVersion];
  const binDir = packageName ? packageBinDir(packageName) : undefined;
  if (!binDir) {
    throw new Error(
      `PostgreSQL ${engineVersion} is not installed locally (installed: ${installedEngineVersions().join(', ') || 'none'})`,
    );
  }
  return binDir;
}

export function majorOf(engineVersion: string): number {
  const major = Number.parseInt(engineVersion.split('.')[0] ?? '', 10);
  if (!Number.isFinite(major)) throw new Error(`not an engine version: ${engineVersion}`);
  return major;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Debian's PostgreSQL packages put each major's client tools in /usr/lib/postgresql/<major>/bin. */
export const DEBIAN_POSTGRESQL_ROOT = '/usr/lib/postgresql';

export interface ClientTools {
  major: number;
  binDir: string;
}

/** Full client installations (pg_dumpall, pg_dump, psql) found on the machine, newest first. */
export function findClientTools(root = DEBIAN_POSTGRESQL_ROOT): ClientTools[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return [];
  }
  return entries
    .map((name) => ({ major: Number.parseInt(name, 10), binDir: path.join(root, name, 'bin') }))
    .filter(
      (tools) =>
        Number.isFinite(tools.major) &&
        ['pg_dumpall', 'pg_dump', 'psql'].every((tool) => fs.existsSync(path.join(tools.binDir, tool))),
    )
    .sort((a, b) => b.major - a.major);
}
