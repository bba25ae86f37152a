import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { binDirOf, copyRunningServer, freePort, makeServerDir, PgServer, SUPERUSER } from '../../local/postgres';

/**
 * Throwaway PostgreSQL servers for tests: a thin layer over the local rehearsal's server manager
 * (local/postgres), so there is one way to start PostgreSQL. Each server gets a temp folder
 * (data dir + logs, removed by stop()), a free port on 127.0.0.1 and trust auth, so tests connect
 * as any role without a password. When the tests run as root, local/postgres runs the server as
 * the `postgres` OS user, as PostgreSQL requires.
 */

/** The engine version test servers run unless told otherwise. */
const ENGINE_VERSION = '16.14';

/** PostgreSQL 16's binaries, copied where the `postgres` OS user can reach them when needed. */
export const PG16_BIN = binDirOf(ENGINE_VERSION);

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
   * Aurora copy-on-write clone. With `keepReplicationSlots`, the copy keeps the source's
   * replication slots, as an Aurora clone and the local cloud's clone do.
   */
  cloneOnline(options?: { keepReplicationSlots?: boolean }): Promise<TestServer>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Binaries other than the embedded ones of `engineVersion`. */
  binDir?: string;
  /** @default '16.14' */
  engineVersion?: string;
  /** Extra server settings, on top of the rehearsal's (written to postgresql.conf, so clones keep them). */
  settings?: Record<string, string>;
}

/** Settings for a logical-replication publisher or subscriber: quick apply-worker retries, room for slots. */
export const LOGICAL_SETTINGS: Record<string, string> = {
  wal_level: 'logical',
  wal_retrieve_retry_interval: '200ms',
  max_replication_slots: '10',
};

/** Looks every 100 ms until `done` holds or `ms` has passed; the last value either way. */
export async function eventually<T>(look: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await look();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Test-only settings: no autovacuum workers coming and going in pg_stat_activity, smaller memory. */
const TEST_SETTINGS: Record<string, string> = { autovacuum: 'off', shared_buffers: '16MB', max_connections: '40' };

/** Trust for every role over TCP on 127.0.0.1 (a test may still put a stricter line first). */
const TRUST_HBA = ['host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust', ''].join('\n');

/** Another worker may take a port between freePort() and the server's bind: then we try another. */
const PORT_TAKEN = /could not bind|Address already in use|could not create any TCP\/IP sockets/i;
const ATTEMPTS = 3;

async function withFreePort<T>(attempt: (port: number) => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt(await freePort());
    } catch (error) {
      if (i >= ATTEMPTS || !PORT_TAKEN.test(String(error))) throw error;
    }
  }
}

/** A temp folder the server's OS user owns: `data` (the data dir) and `server.log` go in it. */
async function tempRoot(prefix: string): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  await makeServerDir(root);
  return root;
}

function connect(pg: PgServer, database: string, user: string, applicationName: string): Promise<Client> {
  const client = new Client({
    ...pg.connectionConfig(database),
    user,
    password: undefined,
    application_name: applicationName,
  });
  client.on('error', () => undefined);
  return client.connect().then(
    () => client,
    async (error: unknown) => {
      await client.end().catch(() => undefined);
      throw error;
    },
  );
}

/** Replaces the superuser-password rules with trust, and waits until the reload took effect. */
async function trustLocalConnections(pg: PgServer): Promise<void> {
  writeFileSync(join(pg.dataDir, 'pg_hba.conf'), TRUST_HBA);
  await pg.query('SELECT pg_reload_conf()');
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await (await connect(pg, 'postgres', SUPERUSER.username, 'test-setup')).end();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function testServer(pg: PgServer, root: string): TestServer {
  let stopped = false;
  const server: TestServer = {
    host: '127.0.0.1',
    port: pg.port,
    dataDir: pg.dataDir,
    client(database = 'postgres', options = {}) {
      return connect(pg, database, options.user ?? SUPERUSER.username, options.applicationName ?? 'app');
    },
    async sql<Row = Record<string, unknown>>(text: string, params?: unknown[], database = 'postgres') {
      const client = await server.client(database, { applicationName: 'test-setup' });
      try {
        return (await client.query(text, params)).rows as Row[];
      } finally {
        await client.end();
      }
    },
    async cloneOnline(options = {}) {
      const cloneRoot = await tempRoot('bg-clone-');
      try {
        const dataDir = join(cloneRoot, 'data');
        await copyRunningServer(pg, dataDir, 'test clone', {
          keepReplicationSlots: options.keepReplicationSlots ?? false,
        });
        const clone = new PgServer({
          dataDir,
          port: 0,
          engineVersion: pg.engineVersion,
          logFile: join(cloneRoot, 'server.log'),
          binDir: pg.binDir,
        });
        await withFreePort(async (port) => {
          clone.port = port;
          await clone.start();
        });
        return testServer(clone, cloneRoot);
      } catch (error) {
        rmSync(cloneRoot, { recursive: true, force: true });
        throw error;
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await pg.stop('fast');
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
  return server;
}

/** Creates a fresh cluster (initdb) and starts it. */
export async function startPostgres(options: StartOptions = {}): Promise<TestServer> {
  const engineVersion = options.engineVersion ?? ENGINE_VERSION;
  const binDir = options.binDir ?? binDirOf(engineVersion);
  const root = await tempRoot('bg-pg-');
  try {
    const pg = await withFreePort(async (port) => {
      rmSync(join(root, 'data'), { recursive: true, force: true });
      return PgServer.initialize({
        dataDir: join(root, 'data'),
        port,
        engineVersion,
        logFile: join(root, 'server.log'),
        binDir,
        createReplicator: false,
        settings: { ...TEST_SETTINGS, ...options.settings },
      });
    });
    const server = testServer(pg, root);
    try {
      await trustLocalConnections(pg);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}
