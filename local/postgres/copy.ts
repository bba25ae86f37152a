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

export interface CopyOptions {
  /**
   * Copies `pg_replslot` too, which a backup leaves out: an Aurora clone has its source's
   * replication slots (the workflow drops them on green), so the local clone has them as well.
   * @default false
   */
  keepReplicationSlots?: boolean;
}

export async function copyRunningServer(
  source: PgServer,
  targetDataDir: string,
  label = 'bluegreen-copy',
  options: CopyOptions = {},
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
    await copyDataFiles(source.dataDir, targetDataDir, true, options.keepReplicationSlots ?? false);

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
async function copyDataFiles(from: string, to: string, top: boolean, keepSlots = false): Promise<void> {
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
      if (top && EMPTY_DIRS.has(entry.name) && !(keepSlots && entry.name === 'pg_replslot')) {
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

export interface ConsistencyPoint {
  /** Where the copy became consistent: the switch point of its new timeline, e.g. `0/20089F8`. */
  lsn: string;
  /** The timeline the copy promoted to. */
  timeline: number;
  /** The history file's reason for the switch, e.g. `reached consistency`. */
  reason: string;
}

/**
 * Starts a copy made by `copyRunningServer` so that the LSN where it became consistent is known
 * exactly: archive recovery (`recovery.signal`) with no archive (`restore_command` that always
 * fails, so only the copied WAL is replayed), `recovery_target = 'immediate'` (stop as soon as
 * consistent) and `recovery_target_action = 'promote'`. The server promotes to a new timeline,
 * whose history file names the switch point: every transaction committed before it is in the
 * copy, none after it. The recovery settings apply to this start only.
 */
export async function startAtConsistency(server: PgServer, timeoutMs = 60_000): Promise<ConsistencyPoint> {
  if (!fs.existsSync(path.join(server.dataDir, 'backup_label'))) {
    throw new Error(`${server.dataDir} is not a fresh copy (no backup_label): its consistency point is unknown`);
  }
  const signal = path.join(server.dataDir, 'recovery.signal');
  await fs.promises.writeFile(signal, '');
  const user = serverOsUser();
  if (user) await fs.promises.chown(signal, user.uid, user.gid);
  await server.start({
    once: {
      restore_command: '/bin/false', // Linux and macOS only, as the rehearsal (Windows runs it in WSL)
      recovery_target: 'immediate',
      recovery_target_action: 'promote',
    },
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await server.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
    if (rows[0]?.recovering === false) break;
    if (Date.now() > deadline) throw new Error(`${server.dataDir} did not promote within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return readSwitchPoint(server.dataDir);
}

/** The newest timeline's history file: its last line is `parentTLI  switchpoint  reason`. */
export async function readSwitchPoint(dataDir: string): Promise<ConsistencyPoint> {
  const walDir = path.join(dataDir, 'pg_wal');
  const newest = (await fs.promises.readdir(walDir))
    .filter((name) => /^[0-9A-F]{8}\.history$/.test(name))
    .sort()
    .pop();
  if (!newest) throw new Error(`no timeline history in ${walDir}: the copy did not promote`);
  const lines = (await fs.promises.readFile(path.join(walDir, newest), 'utf8'))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const match = /^\d+\s+([0-9A-F]+\/[0-9A-F]+)\s*(.*)$/i.exec(lines[lines.length - 1] ?? '');
  if (!match?.[1]) throw new Error(`cannot read the switch point from ${newest}: ${lines.join(' | ')}`);
  return { lsn: match[1], timeline: parseInt(newest.slice(0, 8), 16), reason: match[2] ?? '' };
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
