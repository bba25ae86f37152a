import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * PostgreSQL refuses to run as root. When this process is root, servers and their tools run as
 * the `postgres` OS user, and every folder they touch is owned by it.
 */

export interface OsUser {
  uid: number;
  gid: number;
}

let cached: OsUser | null | undefined;

/** The OS user servers run as: `postgres` when we are root, undefined (= ourselves) otherwise. */
export function serverOsUser(): OsUser | undefined {
  if (cached !== undefined) return cached ?? undefined;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    cached = null;
    return undefined;
  }
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    cached = { uid, gid };
    return cached;
  } catch {
    throw new Error(
      'Running as root, but there is no `postgres` OS user to run PostgreSQL as (PostgreSQL refuses to run as root). ' +
        'Create one (useradd --system postgres) or run as an ordinary user.',
    );
  }
}

/** Gives a folder (and everything below it) to the server's OS user. */
export async function chownTree(target: string): Promise<void> {
  const user = serverOsUser();
  if (!user) return;
  const visit = async (p: string): Promise<void> => {
    const stat = await fs.promises.lstat(p);
    await fs.promises.lchown(p, user.uid, user.gid);
    if (stat.isDirectory()) {
      for (const entry of await fs.promises.readdir(p)) await visit(path.join(p, entry));
    }
  };
  await visit(target);
}

/** Creates a folder the server's OS user owns (and can reach: every parent must be traversable). */
export async function makeServerDir(dir: string, mode = 0o700): Promise<void> {
  // Parents get the default (traversable) mode; only the folder itself gets `mode`.
  await fs.promises.mkdir(path.dirname(dir), { recursive: true });
  await fs.promises.mkdir(dir, { recursive: true, mode });
  await fs.promises.chmod(dir, mode);
  const user = serverOsUser();
  if (user) await fs.promises.chown(dir, user.uid, user.gid);
}

/** Fails with a clear message when the server's OS user cannot write to `dir` (a parent that is not traversable). */
export function assertServerUserCanUse(dir: string): void {
  const user = serverOsUser();
  if (!user) return;
  const check = spawnSync('/bin/sh', ['-c', 'test -d "$0" && test -w "$0" && test -x "$0"', dir], {
    uid: user.uid,
    gid: user.gid,
    stdio: 'ignore',
  });
  if (check.status !== 0) {
    throw new Error(
      `The postgres OS user cannot use ${dir}: every parent folder must be traversable by it (chmod o+x), ` +
        'or choose a work folder elsewhere (e.g. under /tmp).',
    );
  }
}

export interface RunResult {
  code: number;
  output: string;
}

/**
 * Runs a PostgreSQL program as the server's OS user; its stdout and stderr are appended to
 * `logFile` (never the terminal). Resolves with the exit code and the output of this run.
 */
export function runAsServerUser(
  command: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string; asServerUser?: boolean },
): Promise<RunResult> {
  const user = options.asServerUser === false ? undefined : serverOsUser();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? '/',
      env: { ...process.env, LC_ALL: 'C', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const output = Buffer.concat(chunks).toString('utf8');
      fs.appendFileSync(
        options.logFile,
        `\n$ ${path.basename(command)} ${args.join(' ')}\n${output}[exit ${code ?? 'signal'}]\n`,
      );
      resolve({ code: code ?? -1, output });
    });
  });
}
