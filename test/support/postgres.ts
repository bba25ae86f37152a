import { binDirOf } from '../../local/postgres/binaries';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * Throwaway PostgreSQL servers for tests, on the embedded binaries from npm (initdb + postgres,
 * nothing else needed). Each server gets a temp data dir, a free port on 127.0.0.1, trust auth,
 * and settings that make it start in well under a second (fsync off, small shared_buffers).
 * When the tests run as root, the server runs as the `postgres` OS user, as PostgreSQL requires.
 */

/** PostgreSQL 16's binaries, copied where the `postgres` OS user can reach them when needed. */
export const PG16_BIN = binDirOf('16.14');

export interface TestServer {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** A plain pg client (an "application" session unless application_name says otherwise). */
  client(database?: string, options?: { user?: string; applicationName?: string }): Promise<Client>;
  /** Runs one statement on a short-lived session. */
  sql<Row = Record<string, unknown>>(text: string, params?: unknown[], database?: string): Promise<Row[]>;
  /**
   * A consistent file-level copy of the running server, started as a new server
   * (pg_backup_start / copy / pg_backup_stop, as the local rehearsal clones): a stand-in for an
   * Aurora copy-on-write clone.
   */
  cloneOnline(): Promise<TestServer>;
  stop(): Promise<void>;
}

function owner(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const SETTINGS: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'on',
  shared_buffers: '16MB',
  max_connections: '40',
  max_wal_size: '64MB',
  wal_level: 'replica',
  logging_collector: 'off',
  log_min_messages: 'warning',
  autovacuum: 'off',
  dynamic_shared_memory_type: 'posix',
};

export interface StartOptions {
  binDir?: string;
  settings?: Record<string, string>;
}

async function waitReady(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}): ${output()}`);
    const client = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections on ${port}: ${output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function launch(
  dataDir: string,
  binDir: string,
  settings: Record<string, string>,
  tempRoot: string,
): Promise<TestServer> {
  const ids = owner();
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const args = ['-D', dataDir, '-p', String(port)];
    for (const [key, value] of Object.entries({ ...SETTINGS, ...settings })) args.push('-c', `${key}=${value}`);
    const child = spawn(join(binDir, 'postgres'), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    let log = '';
    const append = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    try {
      await waitReady(port, child, () => log);
    } catch (error) {
      child.kill('SIGKILL');
      // Another worker may have taken the port between our probe and the server's bind.
      if (attempt < 2 && /could not bind|Address already in use/i.test(log)) continue;
      rmSync(tempRoot, { recursive: true, force: true });
      throw error;
    }
    return makeServer(port, dataDir, child, binDir, tempRoot);
  }
}

function makeServer(port: number, dataDir: string, child: ChildProcess, binDir: string, tempRoot: string): TestServer {
  const host = '127.0.0.1';
  let stopped = false;
  const server: TestServer = {
    host,
    port,
    dataDir,
    async client(database = 'postgres', options = {}) {
      const client = new Client({
        host,
        port,
        database,
        user: options.user ?? 'postgres',
        application_name: options.applicationName ?? 'app',
      });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async sql<Row = Record<string, unknown>>(text: string, params?: unknown[], database = 'postgres') {
      const client = await server.client(database, { applicationName: 'test-setup' });
      try {
        const result = await client.query(text, params);
        return result.rows as Row[];
      } finally {
        await client.end();
      }
    },
    async cloneOnline() {
      const target = mkdtempSync(join(tmpdir(), 'bg-clone-'));
      const copyDir = join(target, 'data');
      const admin = await server.client('postgres', { applicationName: 'test-clone' });
      try {
        await admin.query("SELECT pg_backup_start('test clone', true)");
        // cp -a keeps the postgres user's ownership and modes (a data dir must be 0700).
        execFileSync('cp', ['-a', dataDir, copyDir]);
        rmSync(join(copyDir, 'postmaster.pid'), { force: true });
        rmSync(join(copyDir, 'postmaster.opts'), { force: true });
        const stop = await admin.query<{ labelfile: string; spcmapfile: string | null }>(
          'SELECT labelfile, spcmapfile FROM pg_backup_stop(false)',
        );
        const row = stop.rows[0];
        if (!row) throw new Error('pg_backup_stop returned nothing');
        writeFileSync(join(copyDir, 'backup_label'), row.labelfile);
        if (row.spcmapfile) writeFileSync(join(copyDir, 'tablespace_map'), row.spcmapfile);
        // The WAL written during the copy, up to the backup's end, must be in the copy.
        rmSync(join(copyDir, 'pg_wal'), { recursive: true, force: true });
        execFileSync('cp', ['-a', join(dataDir, 'pg_wal'), join(copyDir, 'pg_wal')]);
      } finally {
        await admin.end();
      }
      const ids = owner();
      if (ids) {
        for (const path of [target, join(copyDir, 'backup_label'), join(copyDir, 'tablespace_map')]) {
          if (existsSync(path)) chownSync(path, ids.uid, ids.gid);
        }
      }
      return launch(copyDir, binDir, {}, target);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGINT'); // fast shutdown
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(tempRoot, { recursive: true, force: true });
    },
  };
  return server;
}

/** Creates a fresh cluster (initdb, ~0.5 s) and starts it. */
export async function startPostgres(options: StartOptions = {}): Promise<TestServer> {
  const binDir = options.binDir ?? PG16_BIN;
  if (!existsSync(join(binDir, 'initdb'))) throw new Error(`No PostgreSQL binaries in ${binDir}`);
  const tempRoot = mkdtempSync(join(tmpdir(), 'bg-pg-'));
  const ids = owner();
  if (ids) chownSync(tempRoot, ids.uid, ids.gid);
  const dataDir = join(tempRoot, 'data');
  execFileSync(
    join(binDir, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
      '--no-instructions',
    ],
    { stdio: 'pipe', ...(ids ? { uid: ids.uid, gid: ids.gid } : {}) },
  );
  return launch(dataDir, binDir, options.settings ?? {}, tempRoot);
}
