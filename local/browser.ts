import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Where a Chrome or Chromium lives on this machine, for the page tests (and anyone who wants to
 * look at the approval page locally). playwright-core drives it; its own browser download cannot
 * be relied on (closed networks, npm not running install scripts).
 */

export const BROWSER_CANDIDATES: readonly string[] = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

/** `CHROME_PATH` when set (it must exist), else the first candidate that exists. */
export function findBrowser(
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  const configured = env['CHROME_PATH'];
  if (configured) {
    if (!exists(configured)) throw new Error(`CHROME_PATH is "${configured}", which does not exist`);
    return configured;
  }
  return BROWSER_CANDIDATES.find((candidate) => exists(candidate));
}

/** True on Debian or Ubuntu, where `apt-get install chromium` gives a working browser. */
export function isDebianLike(exists: (path: string) => boolean = existsSync): boolean {
  return exists('/etc/debian_version') && exists('/usr/bin/apt-get');
}

/** The one command that installs a browser for the tests on this kind of machine. */
export function installHint(platform: string = process.platform): string {
  if (platform === 'darwin') return 'brew install --cask chromium   (or install Google Chrome, or set CHROME_PATH)';
  return 'sudo apt-get update && sudo apt-get install -y chromium   (or set CHROME_PATH to a Chrome or Chromium)';
}

/**
 * Finds a browser; as root on Debian/Ubuntu installs Debian's chromium when none is found;
 * anywhere else fails with the one command to run.
 */
export function ensureBrowser(log: (line: string) => void = console.log): string {
  const found = findBrowser();
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && isDebianLike()) {
    log("No Chrome or Chromium found: installing Debian's chromium for the browser tests (apt-get).");
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
    const installed = findBrowser();
    if (installed) return installed;
  }
  throw new Error(
    `The browser tests need Chrome or Chromium and none was found. Install one with:\n  ${installHint()}`,
  );
}
