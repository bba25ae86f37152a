import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { binDirOf } from './binaries';
import { makeServerDir, runAsServerUser, serverOsUser } from './os-user';

/**
 * One real PostgreSQL server process (a data folder, a port, an engine version), started and
 * stopped with pg_ctl. Logs go to a file in the work folder.
 */

/** The static superuser of every local server (the rehearsal's stand-in for the Secrets Manager secret). */
export const SUPERUSER = { username: 'postgres', password: 'rehearsal-postgres' } as const;
/** The role standbys stream with. */
export const REPLICATOR = { username: 'replicator', password: 'rehearsal-replicator' } as const;

/**
 * Settings for a fast local rehearsal. `fsync = off`: data survives clean shutdowns (pg_ctl stop)
 * but not a power loss or an OS crash; acceptable for a rehearsal, never for real data.
 * `wal_keep_size` keeps enough WAL for standbys and copies made from a running server.
 */
const SERVER_SETTINGS = `
# --- aurora-bluegreen local rehearsal ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_senders = 20
max_replication_slots = 20
max_worker_processes = 16
max_logical_replication_workers = 8
wal_keep_size = '128MB'
hot_standby = on
max_connections = 60
shared_buffers = '32MB'
max_wal_size = '256MB'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
`;

const running = new Set<PgServer>();
/** Servers left running on purpose (`--keep`): the exit hook leaves them alone. */
const handedOver = new Set<PgServer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: a process that exits without stopAll() must not leave servers behind.
  process.once('exit', () => stopAllServersSync());
}

/** Stops every server this process started and has not stopped yet (synchronously; for exit paths). */
export function stopAllServersSync(): void {
  const user = serverOsUser();
  for (const server of running) {
    if (handedOver.has(server)) continue;
    spawnSync(path.join(server.binDir, 'pg_ctl'), ['-D', server.dataDir, '-m', 'immediate', '-w', 'stop'], {
      stdio: 'ignore',
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
  }
  running.clear();
}

/** Hands a running server over to the user: this process will no longer stop it on exit. */
export function forgetServer(server: PgServer): void {
  handedOver.add(server);
}

/** A TCP port nobody listens on right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface PgServerOptions {
  /** Data folder (created by `initialize`, or an existing copy). */
  dataDir: string;
  port: number;
  engineVersion: string;
  /** Server log file; pg_ctl/initdb output goes to `<logFile>.tools`. */
  logFile: string;
  /** Binaries other than the embedded ones of `engineVersion` (pg_upgrade's own major). @default - the embedded ones */
  binDir?: string;
}

/** Extra server settings (`name` → value), written to postgresql.conf by `initialize` after the rehearsal's own (they win). */
export type ServerSettings = Record<string, string>;

/**
 * The file, included last by every server's postgresql.conf, that holds the settings its
 * cluster parameter group stands for (e.g. `wal_level`): the local cloud rewrites it, and the
 * server reads it when it next starts, as an Aurora instance applies a static parameter at reboot.
 * A file-level copy (a clone, a standby) carries it along.
 */
export const CLUSTER_PARAMETERS_FILE = 'cluster-parameters.conf';

/** Writes the cluster parameter group's settings into a data folder; they take effect at the next start. */
export async function writeClusterParameterSettings(dataDir: string, settings: ServerSettings): Promise<void> {
  const file = path.join(dataDir, CLUSTER_PARAMETERS_FILE);
  await fs.promises.writeFile(
    file,
    `# written by the local cloud from the cluster parameter group\n${renderSettings(settings)}`,
  );
  const user = serverOsUser();
  if (user) await fs.promises.chown(file, user.uid, user.gid);
}

function renderSettings(settings: ServerSettings): string {
  const lines = Object.entries(settings).map(([name, value]) => {
    if (!/^[a-z_][a-z0-9_.]*$/i.test(name)) throw new Error(`not a PostgreSQL setting name: ${name}`);
    return `${name} = '${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  });
  return lines.length > 0 ? `# --- extra settings ---\n${lines.join('\n')}\n` : '';
}

export class PgServer {
  readonly dataDir: string;
  readonly logFile: string;
  port: number;
  engineVersion: string;
  binDirOverride: string | undefined;

  constructor(options: PgServerOptions) {
    this.dataDir = options.dataDir;
    this.port = options.port;
    this.engineVersion = options.engineVersion;
    this.logFile = options.logFile;
    this.binDirOverride = options.binDir;
  }

  get binDir(): string {
    return this.binDirOverride ?? binDirOf(this.engineVersion);
  }

  get isRunning(): boolean {
    return running.has(this);
  }

  get toolLog(): string {
    return `${this.logFile}.tools`;
  }

  /**
   * initdb (superuser `postgres` with a password, SCRAM over TCP on 127.0.0.1, the rehearsal's
   * settings, then `settings` if given), then starts the server and, unless `createReplicator` is
   * false, creates the `replicator` role standbys stream with.
   */
  static async initialize(
    options: PgServerOptions & {
      createReplicator?: boolean;
      settings?: ServerSettings;
      /** The cluster parameter group's settings (CLUSTER_PARAMETERS_FILE), in effect from the first start. */
      clusterSettings?: ServerSettings;
    },
  ): Promise<PgServer> {
    const server = new PgServer(options);
    await prepareLogDir(options.logFile);
    await makeServerDir(options.dataDir);
    const pwfile = path.join(path.dirname(options.dataDir), `.${path.basename(options.dataDir)}.pw`);
    await fs.promises.writeFile(pwfile, `${SUPERUSER.password}\n`, { mode: 0o600 });
    const user = serverOsUser();
    if (user) await fs.promises.chown(pwfile, user.uid, user.gid);
    try {
      const result = await runAsServerUser(
        path.join(server.binDir, 'initdb'),
        [
          '-D',
          options.dataDir,
          '-U',
          SUPERUSER.username,
          `--pwfile=${pwfile}`,
          '--auth-host=scram-sha-256',
          '--auth-local=scram-sha-256',
          '-E',
          'UTF8',
          '--locale=C',
          '--no-sync',
        ],
        { logFile: server.toolLog },
      );
      if (result.code !== 0) throw new Error(`initdb failed (see ${server.toolLog}): ${lastLines(result.output)}`);
    } finally {
      await fs.promises.rm(pwfile, { force: true });
    }
    await fs.promises.appendFile(
      path.join(options.dataDir, 'postgresql.conf'),
      SERVER_SETTINGS + renderSettings(options.settings ?? {}) + `include_if_exists = '${CLUSTER_PARAMETERS_FILE}'\n`,
    );
    await writeClusterParameterSettings(options.dataDir, options.clusterSettings ?? {});
    await server.start();
    if (options.createReplicator !== false) {
      await server.query(`CREATE ROLE ${REPLICATOR.username} WITH REPLICATION LOGIN PASSWORD '${REPLICATOR.password}'`);
    }
    return server;
  }

  /**
   * pg_ctl start, waiting until the server accepts connections. `once`: settings for this start
   * only (`-c` options, e.g. a recovery target), never written to the data folder, so a later
   * start or a copy does not inherit them.
   */
  async start(options: { once?: ServerSettings } = {}): Promise<void> {
    if (this.isRunning) return;
    await prepareLogDir(this.logFile);
    const once = Object.entries(options.once ?? {}).map(([name, value]) => {
      // pg_ctl hands -o to a shell: only plain words.
      if (!/^[a-z_][a-z0-9_.]*$/i.test(name) || !/^[\w/.:-]+$/.test(value)) {
        throw new Error(`not a plain setting for -o: ${name}=${value}`);
      }
      return ` -c ${name}=${value}`;
    });
    const result = await runAsServerUser(
      path.join(this.binDir, 'pg_ctl'),
      ['-D', this.dataDir, '-l', this.logFile, '-o', `-p ${this.port}${once.join('')}`, '-w', '-t', '120', 'start'],
      { logFile: this.toolLog },
    );
    if (result.code !== 0) {
      throw new Error(
        `PostgreSQL ${this.engineVersion} did not start on port ${this.port} (see ${this.logFile}): ${lastLines(`${result.output}\n${readTail(this.logFile)}`)}`,
      );
    }
    running.add(this);
    installExitHook();
  }

  async stop(mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.isRunning) return;
    const result = await runAsServerUser(
      path.join(this.binDir, 'pg_ctl'),
      ['-D', this.dataDir, '-m', mode, '-w', '-t', '120', 'stop'],
      { logFile: this.toolLog },
    );
    running.delete(this);
    if (result.code !== 0 && fs.existsSync(path.join(this.dataDir, 'postmaster.pid'))) {
      throw new Error(`pg_ctl stop failed for ${this.dataDir}: ${lastLines(result.output)}`);
    }
  }

  /** pg_ctl promote: a standby becomes a primary. */
  async promote(): Promise<void> {
    const result = await runAsServerUser(
      path.join(this.binDir, 'pg_ctl'),
      ['-D', this.dataDir, '-w', '-t', '120', 'promote'],
      { logFile: this.toolLog },
    );
    if (result.code !== 0) throw new Error(`pg_ctl promote failed for ${this.dataDir}: ${lastLines(result.output)}`);
  }

  connectionConfig(database = 'postgres'): ClientConfig {
    return {
      host: '127.0.0.1',
      port: this.port,
      database,
      user: SUPERUSER.username,
      password: SUPERUSER.password,
      application_name: 'bluegreen-local',
      connectionTimeoutMillis: 10_000,
    };
  }

  /** Runs one statement (or a multi-statement script without params) in a short-lived session. */
  async query<Row extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    database = 'postgres',
  ): Promise<Row[]> {
    const client = new Client(this.connectionConfig(database));
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = params ? await client.query<Row>(sql, params) : await client.query<Row>(sql);
      const last = Array.isArray(result) ? (result[result.length - 1] as typeof result) : result;
      return last?.rows ?? [];
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

async function prepareLogDir(logFile: string): Promise<void> {
  const dir = path.dirname(logFile);
  await fs.promises.mkdir(dir, { recursive: true });
  const user = serverOsUser();
  if (user) await fs.promises.chown(dir, user.uid, user.gid);
}

function readTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

export function lastLines(text: string, count = 5): string {
  return text.trim().split('\n').slice(-count).join(' | ');
}
