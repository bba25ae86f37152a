import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { chownTree, makeServerDir, serverOsUser } from './os-user';
import { PgServer, REPLICATOR, writeClusterParameterSettings, type ServerSettings } from './server';

/**
 * A consistent file-level copy of a RUNNING server: the local stand-in for Aurora's copy-on-write
 * clone. The documented low-level backup API (PostgreSQL 15+): `pg_backup_start` in a session
 * kept open, copy the files, `pg_backup_stop`, write its label file as `backup_label`, then copy
 * the WAL written up to the stop LSN. The copy recovers to a consistent state when it starts.
 */

/** What the backup documentation says to leave out of a file-level copy (contents of folders). */
const EMPTY_DIRS = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);
const SKIPPED_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
  'standby.signal',
  'recovery.signal',
  'backup_manifest',
]);

export interface CopyResult {
  startLsn: string;
  stopLsn: string;
  /** WAL segment files copied after the data files. */
  walSegments: string[];
}

export async function copyRunningServer(
  source: PgServer,
  targetDataDir: string,
  label = 'bluegreen-copy',
): Promise<CopyResult> {
  if (fs.existsSync(targetDataDir)) throw new Error(`copy target ${targetDataDir} already exists`);
  const client = new Client(source.connectionConfig());
  client.on('error', () => undefined);
  await client.connect();
  try {
    // A fenced server is read-only by default; this session must still be able to run the backup.
    await client.query('SET default_transaction_read_only = off');
    const started = await client.query<{ lsn: string }>('SELECT pg_backup_start($1, true)::text AS lsn', [label]);
    const startLsn = started.rows[0]?.lsn ?? '';
    await makeServerDir(targetDataDir, 0o700);
    await copyDataFiles(source.dataDir, targetDataDir, true);

    const stopped = await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
      'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(false)',
    );
    const stop = stopped.rows[0];
    if (!stop) throw new Error('pg_backup_stop returned nothing');
    await fs.promises.writeFile(path.join(targetDataDir, 'backup_label'), stop.labelfile);
    if (stop.spcmapfile) await fs.promises.writeFile(path.join(targetDataDir, 'tablespace_map'), stop.spcmapfile);

    const stopFile = await client.query<{ name: string }>('SELECT pg_walfile_name($1::pg_lsn) AS name', [stop.lsn]);
    const lastSegment = stopFile.rows[0]?.name ?? '';
    const firstSegment = /START WAL LOCATION: .* \(file ([0-9A-F]{24})\)/.exec(stop.labelfile)?.[1];
    if (!firstSegment || !lastSegment)
      throw new Error(`cannot read the WAL range from the backup label:\n${stop.labelfile}`);
    const walSegments = await copyWal(source.dataDir, targetDataDir, firstSegment, lastSegment);

    await chownTree(targetDataDir);
    await fs.promises.chmod(targetDataDir, 0o700);
    return { startLsn, stopLsn: stop.lsn, walSegments };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Copies a data folder file by file; files that vanish while we copy (a running server) are skipped. */
async function copyDataFiles(from: string, to: string, top: boolean): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(from, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (top && SKIPPED_FILES.has(entry.name)) continue;
    if (entry.name.startsWith('pgsql_tmp') || entry.name === 'pg_internal.init') continue;
    if (entry.isDirectory()) {
      await fs.promises.mkdir(target, { mode: 0o700 });
      if (top && EMPTY_DIRS.has(entry.name)) {
        if (entry.name === 'pg_wal') await fs.promises.mkdir(path.join(target, 'archive_status'), { mode: 0o700 });
        continue;
      }
      await copyDataFiles(source, target, false);
    } else if (entry.isSymbolicLink()) {
      await fs.promises.symlink(await fs.promises.readlink(source), target);
    } else if (entry.isFile()) {
      try {
        await fs.promises.copyFile(source, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
}

async function copyWal(fromDataDir: string, toDataDir: string, first: string, last: string): Promise<string[]> {
  const names = await fs.promises.readdir(path.join(fromDataDir, 'pg_wal'));
  const copied: string[] = [];
  for (const name of names.sort()) {
    const isSegment = /^[0-9A-F]{24}$/.test(name) && name >= first && name <= last;
    if (!isSegment && !name.endsWith('.history')) continue;
    await fs.promises.copyFile(path.join(fromDataDir, 'pg_wal', name), path.join(toDataDir, 'pg_wal', name));
    if (isSegment) copied.push(name);
  }
  return copied;
}

/** Copies a stopped server's data folder as is (a final snapshot). */
export async function copyStoppedDataDir(from: string, to: string): Promise<void> {
  await fs.promises.cp(from, to, {
    recursive: true,
    preserveTimestamps: true,
    filter: (source) => path.basename(source) !== 'postmaster.pid',
  });
  await chownTree(to);
}

export interface StandbyOptions {
  dataDir: string;
  port: number;
  logFile: string;
  /** application_name of the standby on the primary (pg_stat_replication). */
  name: string;
  /** @default 30_000 */
  streamingTimeoutMs?: number;
  /** The cluster parameter group's settings for the standby. @default - the primary's, as copied */
  clusterSettings?: ServerSettings;
}

/**
 * A streaming standby (a reader): a copy of the running primary with `standby.signal` and
 * `primary_conninfo`; resolves once the primary reports it `streaming`.
 */
export async function createStandby(primary: PgServer, options: StandbyOptions): Promise<PgServer> {
  await copyRunningServer(primary, options.dataDir, `standby ${options.name}`);
  await fs.promises.writeFile(path.join(options.dataDir, 'standby.signal'), '');
  const conninfo = `host=127.0.0.1 port=${primary.port} user=${REPLICATOR.username} password=${REPLICATOR.password} application_name=${options.name}`;
  await fs.promises.appendFile(
    path.join(options.dataDir, 'postgresql.auto.conf'),
    `\nprimary_conninfo = '${conninfo}'\n`,
  );
  if (options.clusterSettings) await writeClusterParameterSettings(options.dataDir, options.clusterSettings);
  const user = serverOsUser();
  if (user) {
    for (const file of ['standby.signal', 'postgresql.auto.conf']) {
      await fs.promises.chown(path.join(options.dataDir, file), user.uid, user.gid);
    }
  }
  const standby = new PgServer({
    dataDir: options.dataDir,
    port: options.port,
    engineVersion: primary.engineVersion,
    logFile: options.logFile,
  });
  await standby.start();
  await waitForStreaming(primary, options.name, options.streamingTimeoutMs ?? 30_000);
  return standby;
}

export async function waitForStreaming(primary: PgServer, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await primary.query<{ state: string }>(
      'SELECT state FROM pg_stat_replication WHERE application_name = $1',
      [name],
    );
    if (rows.some((row) => row.state === 'streaming')) return;
    if (Date.now() > deadline) throw new Error(`standby ${name} is not streaming after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
