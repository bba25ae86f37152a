import type { ExecutionDocument } from '../domain/document';
import { FenceIncomplete, PreconditionFailed } from '../domain/errors';
import type { DbSession, Ports } from '../ports';
import { ADMIN_DATABASE, AWS_INTERNAL_ROLE, blueTarget, openSession, quoteIdent, userDatabases } from './db';

/**
 * FenceWrites (docs/architecture.md): makes blue read-only for every session that could still
 * write, then records a fence row whose presence on green proves the clone holds every write
 * committed before it.
 *
 * 1. `ALTER DATABASE … SET default_transaction_read_only = on` on every user database; new
 *    sessions start read-only from then on.
 * 2. Terminate every client session that started before that point (they may not have picked up
 *    the setting), except this workflow's own sessions and AWS's (`rdsadmin`); wait, bounded,
 *    until none is left. Sessions started after step 1 are read-only already, so in `read-only`
 *    write-block mode applications keep reading.
 * 3. Insert the fence row (execution id, `pg_current_wal_lsn()`, time), committed in our own session.
 *
 * Before step 1 it refuses (PreconditionFailed, nothing changed) what would let writes through a
 * database-level default: a role-level `default_transaction_read_only` that is not `on` for a role
 * that can log in (it overrides the database's setting in every new session), a prepared
 * transaction (`COMMIT PREPARED` works in a read-only session), and an enabled logical-replication
 * subscription (its apply worker writes regardless of the default). After step 2 it checks again
 * (FenceIncomplete if one appeared meanwhile), and it ends logical replication workers too.
 *
 * Idempotent: the row is written first as an intent (with the databases this run changes), so a
 * re-run after a crash still knows which databases rollback must reset; a completed row is
 * returned as it is.
 */

export type FenceResult = NonNullable<ExecutionDocument['fence']>;

export interface FenceOptions {
  /** How long to wait for terminated sessions to disappear. @default 30_000 */
  waitMs?: number;
  /** @default 500 */
  pollMs?: number;
}

const FENCE_TABLE_DDL = [
  'CREATE SCHEMA IF NOT EXISTS bluegreen',
  `CREATE TABLE IF NOT EXISTS bluegreen.fence (
     execution_id text PRIMARY KEY,
     lsn pg_lsn,
     fenced_at timestamptz,
     databases text[] NOT NULL DEFAULT '{}',
     changed_databases text[] NOT NULL DEFAULT '{}',
     terminated_sessions int NOT NULL DEFAULT 0
   )`,
];

interface FenceRow {
  lsn: string | null;
  fenced_at: Date | null;
  databases: string[];
  changed_databases: string[];
  terminated_sessions: number;
}

/** Client sessions the fence must end: everything but ours, the workflow's admin sessions and AWS's. */
const OTHER_CLIENT_SESSIONS = `
  FROM pg_stat_activity
 WHERE (backend_type = 'client backend'
        -- apply/table-sync workers ('logical replication worker' up to 16, '… apply worker' etc. from 17)
        OR (backend_type LIKE 'logical replication %' AND backend_type <> 'logical replication launcher'))
   AND pid <> pg_backend_pid()
   AND coalesce(usename, '') <> $1
   AND NOT (application_name = 'bluegreen' AND usename = current_user)
   AND backend_start < $2::timestamptz`;

async function readRow(session: DbSession, executionId: string): Promise<FenceRow | undefined> {
  const result = await session.query<FenceRow>(
    `SELECT lsn::text AS lsn, fenced_at, databases, changed_databases, terminated_sessions
       FROM bluegreen.fence WHERE execution_id = $1`,
    [executionId],
  );
  return result.rows[0];
}

function toResult(row: FenceRow): FenceResult {
  return {
    fencedAt: (row.fenced_at as Date).toISOString(),
    lsn: row.lsn as string,
    databases: row.databases,
    changedDatabases: row.changed_databases,
    terminatedSessions: row.terminated_sessions,
  };
}

/** Databases whose own (all-roles) setting already says default_transaction_read_only = on. */
async function alreadyReadOnly(session: DbSession): Promise<Set<string>> {
  const result = await session.query<{ datname: string; setconfig: string[] }>(
    `SELECT d.datname, s.setconfig
       FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
      WHERE s.setrole = 0`,
  );
  const on = new Set<string>();
  for (const row of result.rows) {
    for (const entry of row.setconfig ?? []) {
      const [key, value] = entry.split('=', 2);
      if (
        key?.toLowerCase() === 'default_transaction_read_only' &&
        ['on', 'true', '1', 'yes'].includes((value ?? '').toLowerCase())
      ) {
        on.add(row.datname);
      }
    }
  }
  return on;
}

const TRUE_VALUES = ['on', 'true', 'yes', '1'];

function settingOf(setconfig: string[] | null, name: string): string | undefined {
  for (const entry of setconfig ?? []) {
    const at = entry.indexOf('=');
    if (at > 0 && entry.slice(0, at).trim().toLowerCase() === name) return entry.slice(at + 1).trim();
  }
  return undefined;
}

function listed(items: string[]): string {
  return items.length > 10 ? `${items.slice(0, 10).join('; ')}; and ${items.length - 10} more` : items.join('; ');
}

/**
 * What would let writes through the fence's database-level default, each as a sentence saying how
 * to fix it; empty when nothing does.
 */
async function fenceBypasses(session: DbSession): Promise<string[]> {
  const problems: string[] = [];

  // Role-level settings (ALTER ROLE … [IN DATABASE …] SET) win over ALTER DATABASE … SET.
  const roleSettings = await session.query<{ rolname: string; datname: string | null; setconfig: string[] | null }>(
    `SELECT r.rolname, d.datname, s.setconfig
       FROM pg_db_role_setting s
       JOIN pg_roles r ON r.oid = s.setrole
       LEFT JOIN pg_database d ON d.oid = s.setdatabase
      WHERE s.setrole <> 0 AND r.rolcanlogin AND r.rolname <> $1
        AND (s.setdatabase = 0 OR (d.datallowconn AND NOT d.datistemplate AND d.datname <> $1))
      ORDER BY r.rolname, d.datname NULLS FIRST`,
    [AWS_INTERNAL_ROLE],
  );
  const overriding: string[] = [];
  for (const row of roleSettings.rows) {
    const value = settingOf(row.setconfig, 'default_transaction_read_only');
    if (value === undefined || TRUE_VALUES.includes(value.toLowerCase())) continue;
    const role = quoteIdent(row.rolname);
    overriding.push(
      row.datname === null
        ? `role ${row.rolname} has default_transaction_read_only = ${value} (fix: ALTER ROLE ${role} RESET default_transaction_read_only)`
        : `role ${row.rolname} has default_transaction_read_only = ${value} in database ${row.datname} (fix: ALTER ROLE ${role} IN DATABASE ${quoteIdent(row.datname)} RESET default_transaction_read_only)`,
    );
  }
  if (overriding.length) {
    problems.push(
      `A role-level setting overrides the fence's read-only default for new sessions of a role that can log in: ${listed(overriding)}.`,
    );
  }

  // A prepared transaction survives the end of its session and can be committed read-only.
  const prepared = await session.query<{ gid: string; owner: string; database: string; prepared: string }>(
    `SELECT gid, owner, database, prepared::text AS prepared FROM pg_prepared_xacts ORDER BY prepared`,
  );
  if (prepared.rows.length) {
    const list = prepared.rows.map(
      (x) => `'${x.gid}' in database ${x.database} (owner ${x.owner}, prepared ${x.prepared})`,
    );
    problems.push(
      `${prepared.rows.length} prepared transaction(s) could still commit their writes after the fence: ${listed(list)}; finish each with COMMIT PREPARED or ROLLBACK PREPARED '<gid>' in its database (after checking with the application that owns it).`,
    );
  }

  // A logical-replication apply worker writes whatever the database default says.
  const subscriptions = await session.query<{ subname: string; datname: string | null }>(
    `SELECT s.subname, d.datname
       FROM pg_subscription s LEFT JOIN pg_database d ON d.oid = s.subdbid
      WHERE s.subenabled
      ORDER BY d.datname, s.subname`,
  );
  if (subscriptions.rows.length) {
    const list = subscriptions.rows.map(
      (x) =>
        `${x.subname} in database ${x.datname ?? '?'} (fix: ALTER SUBSCRIPTION ${quoteIdent(x.subname)} DISABLE there)`,
    );
    problems.push(
      `${subscriptions.rows.length} enabled logical-replication subscription(s) would keep writing to blue after the fence: ${listed(list)}.`,
    );
  }
  return problems;
}

export async function fenceWrites(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
  options: FenceOptions = {},
): Promise<FenceResult> {
  const waitMs = options.waitMs ?? 30_000;
  const pollMs = options.pollMs ?? 500;
  const executionId = doc.input.executionId;
  const target = blueTarget(doc);
  const session = await openSession(ports.database, target, ADMIN_DATABASE);
  try {
    for (const statement of FENCE_TABLE_DDL) await session.query(statement);

    const existing = await readRow(session, executionId);
    if (existing?.lsn && existing.fenced_at) return toResult(existing);

    // 0. Refuse, before changing anything, what a database-level default would not stop.
    const bypasses = await fenceBypasses(session);
    if (bypasses.length) {
      throw new PreconditionFailed(
        `Cannot fence writes on blue ${target.clusterId}; nothing was changed. ${bypasses.join(' ')}`,
      );
    }

    // 1. Record the intent, then make every user database read-only by default.
    const databases = await userDatabases(session);
    const readOnly = await alreadyReadOnly(session);
    const changedNow = databases.filter((name) => !readOnly.has(name));
    // On a re-run the first attempt's changes are already "on": keep them in the list.
    const changed = [...new Set([...(existing?.changed_databases ?? []), ...changedNow])].sort();
    await session.query(
      `INSERT INTO bluegreen.fence (execution_id, databases, changed_databases)
       VALUES ($1, $2, $3)
       ON CONFLICT (execution_id) DO UPDATE
         SET databases = EXCLUDED.databases, changed_databases = EXCLUDED.changed_databases
       WHERE bluegreen.fence.lsn IS NULL`,
      [executionId, databases, changed],
    );
    for (const name of databases) {
      await session.query(`ALTER DATABASE ${quoteIdent(name)} SET default_transaction_read_only = on`);
    }
    // As text: a JS Date would drop the microseconds and could let an older session through.
    const since = (await session.query<{ now: string }>('SELECT clock_timestamp()::text AS now')).rows[0]?.now;

    // 2. End the sessions that may still write; wait until they are gone.
    const victims = await session.query<{ pid: number }>(`SELECT pid ${OTHER_CLIENT_SESSIONS}`, [
      AWS_INTERNAL_ROLE,
      since,
    ]);
    let terminated = 0;
    for (const { pid } of victims.rows) {
      try {
        const ended = await session.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
        if (ended.rows[0]?.ok) terminated++;
      } catch {
        // Not allowed to end this one (another superuser's session, say): the wait below reports it.
      }
    }
    const polls = Math.max(1, Math.ceil(waitMs / pollMs));
    for (let poll = 0; ; poll++) {
      const left = await session.query<{
        pid: number;
        usename: string | null;
        application_name: string;
        client_addr: string | null;
      }>(
        `SELECT pid, usename, application_name, client_addr::text AS client_addr ${OTHER_CLIENT_SESSIONS} ORDER BY pid`,
        [AWS_INTERNAL_ROLE, since],
      );
      if (!left.rows.length) break;
      if (poll >= polls) {
        const list = left.rows
          .slice(0, 10)
          .map(
            (s) =>
              `pid ${s.pid} (user ${s.usename ?? '?'}, application "${s.application_name}", from ${s.client_addr ?? 'local'})`,
          )
          .join('; ');
        throw new FenceIncomplete(
          `${left.rows.length} session(s) on blue ${target.clusterId} were still connected ${Math.round(waitMs / 1000)} s after the fence tried to end them, so writes cannot be ruled out: ${list}`,
        );
      }
      await ports.clock.sleep(pollMs);
    }

    // Nothing may have slipped in between the check above and the end of the sessions.
    const late = await fenceBypasses(session);
    if (late.length) {
      throw new FenceIncomplete(
        `Writes on blue ${target.clusterId} cannot be ruled out after the fence: ${late.join(' ')}`,
      );
    }

    // 3. The fence row, committed (autocommit) in our own, writable session, durably even where
    //    the parameter group turned synchronous_commit off. A concurrent re-run cannot overwrite
    //    a completed row: the first one wins.
    await session.query('SET synchronous_commit = on');
    await session.query(
      `UPDATE bluegreen.fence
          SET lsn = pg_current_wal_lsn(), fenced_at = clock_timestamp(), terminated_sessions = $2
        WHERE execution_id = $1 AND lsn IS NULL`,
      [executionId, terminated],
    );
    const row = await readRow(session, executionId);
    if (!row?.lsn || !row.fenced_at)
      throw new Error(`The fence row of execution ${executionId} was not written on blue`);
    return toResult(row);
  } finally {
    await session.close();
  }
}
