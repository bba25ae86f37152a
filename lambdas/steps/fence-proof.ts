import type { Database, DbSession, DbTarget } from '../ports';
import { ADMIN_DATABASE, AWS_INTERNAL_ROLES, openSession } from './db';

/**
 * What proves, per database, that no user data changed on blue after the fence
 * (docs/fence.md): recorded by FenceWrites just before the fence row, compared by CheckFenceHeld
 * (before OpenGreen) and RecheckFenceHeld (before DeleteBlue).
 *
 * Per table: the cumulative insert/update/delete counters of the statistics system
 * (`pg_stat_get_tuples_inserted` etc., what `pg_stat_all_tables` shows) and the table's
 * `relfilenode`, which TRUNCATE, VACUUM FULL and CLUSTER change without counting a row. Per
 * sequence: its last value (nextval changes nothing else). Per database: when its statistics were
 * last reset, since a reset would erase the evidence. At the check, an open transaction that holds
 * a transaction id (uncommitted writes) also counts.
 *
 * Why counters and not the newest committed transaction (`track_commit_timestamp`): the counters
 * are on in every Aurora PostgreSQL cluster with default parameters (`track_counts`) and need no
 * reboot, they name the table that changed, and they ignore what is not user data. Transaction
 * ids are cluster-wide and advance for autovacuum's ANALYZE, for temporary tables (writable even
 * in a read-only session) and for RDS's own heartbeat writes, so they would cry wolf.
 *
 * Counted: tables, partitions, materialized views (permanent and unlogged) outside the system
 * schemas, and the large objects (`pg_largeobject`, `pg_largeobject_metadata`). Not counted:
 * temporary tables, system catalogs (DDL shows as a new, dropped or rewritten table), and the
 * workflow's own `bluegreen` schema in the admin database.
 */

/** Per table: [relfilenode, inserted, updated, deleted], as text (bigints). */
export type TableCounters = [string, string, string, string];

export interface DatabaseProof {
  statsReset: string | null;
  tables: Record<string, TableCounters>;
  sequences: Record<string, string | null>;
  /**
   * Unlogged tables (`schema.table`): Aurora's clone keeps their rows, but they are not
   * crash-safe; the fence reports them so the approver sees them. Absent in older fence rows.
   */
  unlogged?: string[];
}

/** Database name -> its proof. Kept in blue's fence row (jsonb), not in the execution document. */
export type FenceProof = Record<string, DatabaseProof>;

export interface WriteAfterFence {
  database: string;
  /** `schema.table`, `schema.sequence`, or `*` for the whole database. */
  object: string;
  change: string;
}

const COUNTED_RELATIONS = `
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm')
   AND c.relpersistence <> 't'
   AND ((n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
         AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%')
        OR (n.nspname = 'pg_catalog' AND c.relname IN ('pg_largeobject', 'pg_largeobject_metadata')))
   AND NOT (current_database() = $1 AND n.nspname = 'bluegreen')`;

function key(schema: string, name: string): string {
  return `${schema}.${name}`;
}

/** Reads one database's counters in `session` (connected to that database). */
export async function readProof(session: DbSession): Promise<DatabaseProof> {
  // The statistics snapshot is cached per transaction: start from a fresh one.
  await session.query('SELECT pg_stat_clear_snapshot()');
  const tracked = await session.query<{ on: string }>(`SELECT current_setting('track_counts') AS on`);
  if (tracked.rows[0]?.on !== 'on') {
    // No counters: nothing can be proven; an impossible reset time makes every check fail, named.
    return { statsReset: 'track_counts is off', tables: {}, sequences: {} };
  }
  const reset = await session.query<{ stats_reset: string | null }>(
    'SELECT stats_reset::text AS stats_reset FROM pg_stat_database WHERE datname = current_database()',
  );
  const tables = await session.query<{
    schema: string;
    name: string;
    filenode: string;
    persistence: string;
    ins: string;
    upd: string;
    del: string;
  }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relfilenode::text AS filenode,
            c.relpersistence::text AS persistence,
            pg_stat_get_tuples_inserted(c.oid)::text AS ins,
            pg_stat_get_tuples_updated(c.oid)::text AS upd,
            pg_stat_get_tuples_deleted(c.oid)::text AS del
     ${COUNTED_RELATIONS}`,
    [ADMIN_DATABASE],
  );
  const sequences = await session.query<{ schema: string; name: string; last: string | null }>(
    `SELECT schemaname AS schema, sequencename AS name, last_value::text AS last FROM pg_sequences
      WHERE schemaname NOT LIKE 'pg\\_temp\\_%' AND NOT (current_database() = $1 AND schemaname = 'bluegreen')`,
    [ADMIN_DATABASE],
  );
  const proof: DatabaseProof = { statsReset: reset.rows[0]?.stats_reset ?? null, tables: {}, sequences: {} };
  for (const t of tables.rows) proof.tables[key(t.schema, t.name)] = [t.filenode, t.ins, t.upd, t.del];
  proof.unlogged = tables.rows
    .filter((t) => t.persistence === 'u')
    .map((t) => key(t.schema, t.name))
    .sort();
  for (const s of sequences.rows) proof.sequences[key(s.schema, s.name)] = s.last;
  return proof;
}

/** The unlogged tables a proof recorded, as `database: schema.table`. */
export function unloggedTables(proof: FenceProof | null | undefined): string[] {
  return Object.entries(proof ?? {}).flatMap(([db, p]) => (p.unlogged ?? []).map((t) => `${db}: ${t}`));
}

/** Records every database's proof, each over its own short session. */
export async function recordProof(
  database: Database,
  target: DbTarget,
  databases: readonly string[],
): Promise<FenceProof> {
  const proof: FenceProof = {};
  for (const name of databases) {
    const session = await openSession(database, target, name);
    try {
      proof[name] = await readProof(session);
    } finally {
      await session.close();
    }
  }
  return proof;
}

/** Transactions still open in this database that hold a transaction id, i.e. uncommitted writes. */
async function openWriteTransactions(session: DbSession): Promise<WriteAfterFence[]> {
  const open = await session.query<{ pid: number; usename: string | null; application_name: string; xid: string }>(
    `SELECT pid, usename, application_name, backend_xid::text AS xid FROM pg_stat_activity
      WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
        AND backend_type IN ('client backend', 'walsender', 'background worker')
        AND NOT (coalesce(usename, '') = ANY ($1::text[]))`,
    [AWS_INTERNAL_ROLES],
  );
  return open.rows.map((x) => ({
    database: '',
    object: '*',
    change: `an open transaction (xid ${x.xid}, pid ${x.pid}, user ${x.usename ?? '?'}, application "${x.application_name}") holds uncommitted writes`,
  }));
}

function counterChange(before: TableCounters, after: TableCounters): string | undefined {
  if (before[0] !== after[0]) return 'rewritten (TRUNCATE, VACUUM FULL, CLUSTER or REFRESH)';
  const names = ['inserted', 'updated', 'deleted'];
  const parts: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const delta = BigInt(after[i]!) - BigInt(before[i]!);
    if (delta > 0n) parts.push(`${delta} row(s) ${names[i - 1]}`);
    if (delta < 0n) return 'its counters went back (statistics were reset): no proof';
  }
  return parts.length ? parts.join(', ') : undefined;
}

/** Everything that differs between the recorded proof and what blue shows now, in one database. */
export function compareProof(database: string, before: DatabaseProof, after: DatabaseProof): WriteAfterFence[] {
  const changes: WriteAfterFence[] = [];
  if (before.statsReset !== after.statsReset) {
    changes.push({
      database,
      object: '*',
      change: `statistics were reset (${before.statsReset ?? 'never'} -> ${after.statsReset ?? 'never'}): nothing can be proven`,
    });
  }
  for (const [table, counters] of Object.entries(after.tables)) {
    const recorded = before.tables[table];
    if (!recorded) changes.push({ database, object: table, change: 'created after the fence' });
    else {
      const change = counterChange(recorded, counters);
      if (change) changes.push({ database, object: table, change });
    }
  }
  for (const table of Object.keys(before.tables)) {
    if (!after.tables[table]) changes.push({ database, object: table, change: 'dropped after the fence' });
  }
  for (const [sequence, last] of Object.entries(after.sequences)) {
    if (!(sequence in before.sequences))
      changes.push({ database, object: sequence, change: 'sequence created after the fence' });
    else if (before.sequences[sequence] !== last)
      changes.push({
        database,
        object: sequence,
        change: `sequence moved from ${before.sequences[sequence] ?? 'unused'} to ${last ?? 'unused'}`,
      });
  }
  return changes;
}

/** Compares blue now with the recorded proof, database by database; empty when nothing changed. */
export async function writesAfterFence(
  database: Database,
  target: DbTarget,
  proof: FenceProof,
  databasesNow: readonly string[],
): Promise<WriteAfterFence[]> {
  const changes: WriteAfterFence[] = [];
  for (const name of databasesNow) {
    if (!proof[name]) changes.push({ database: name, object: '*', change: 'database created after the fence' });
  }
  for (const [name, recorded] of Object.entries(proof)) {
    if (!databasesNow.includes(name)) {
      changes.push({
        database: name,
        object: '*',
        change: 'database dropped (or closed to connections) after the fence',
      });
      continue;
    }
    const session = await openSession(database, target, name);
    try {
      changes.push(...compareProof(name, recorded, await readProof(session)));
      changes.push(...(await openWriteTransactions(session)).map((c) => ({ ...c, database: name })));
    } finally {
      await session.close();
    }
  }
  return changes;
}

/** One line per change, at most `limit`, for error messages and alerts. */
export function describeWrites(changes: readonly WriteAfterFence[], limit = 20): string {
  const lines = changes
    .slice(0, limit)
    .map((c) => `database ${c.database}, ${c.object === '*' ? 'as a whole' : c.object}: ${c.change}`);
  if (changes.length > limit) lines.push(`and ${changes.length - limit} more`);
  return lines.join('; ');
}
