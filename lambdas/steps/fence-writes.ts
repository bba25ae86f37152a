import type { ExecutionDocument } from '../domain/document';
import { FenceIncomplete, PreconditionFailed } from '../domain/errors';
import type { DbSession, DbTarget, Ports } from '../ports';
import {
  ADMIN_DATABASE,
  AWS_INTERNAL_ROLE,
  AWS_INTERNAL_ROLES,
  blueTarget,
  openSession,
  quoteIdent,
  userDatabases,
} from './db';
import { recordProof, unloggedTables, type FenceProof } from './fence-proof';
import { DDL_GUARD_BYPASS } from './replication';

/**
 * FenceWrites (docs/architecture.md): makes blue read-only for every session that could still
 * write, then records a fence row whose presence on green proves the clone holds every write
 * committed before it.
 *
 * 1. `ALTER DATABASE … SET default_transaction_read_only = on` on every user database; new
 *    sessions start read-only from then on.
 * 2. End every backend connected to a database that started before that point (it may not have
 *    picked up the setting): client sessions, walsenders, extension and replication workers.
 *    Only this very session (by pid) and AWS's internal roles are exempt. Wait, bounded, until
 *    two looks a grace period apart find none (a backend still starting up is invisible at
 *    first). Backends started after step 1 are read-only by default, so in `read-only` mode
 *    applications keep reading.
 * 3. Record the proof of blue's data (fence-proof.ts), then the fence row (execution id,
 *    `pg_current_wal_lsn()`, time) in our own session; look again twice, and if a backend from
 *    before the fence appeared meanwhile, end it and move the fence past it. The fence time
 *    returned is read after the row committed.
 *
 * Before step 1 it refuses (PreconditionFailed, nothing changed) what would let writes through a
 * database-level default: a role-level `default_transaction_read_only` that is not `on` for a role
 * that can log in (it overrides the database's setting in every new session), a prepared
 * transaction (`COMMIT PREPARED` works in a read-only session), and an enabled logical-replication
 * subscription (its apply worker writes regardless of the default). After step 2 it checks again
 * (FenceIncomplete if one appeared meanwhile). It also refuses, before step 1, a backend it is not
 * allowed to end (a superuser's, when the workflow's user is rds_superuser): it would stay.
 *
 * Idempotent: the row is written first as an intent (with the databases this run changes), so a
 * re-run after a crash still knows which databases rollback must reset; a re-run of a completed
 * fence only looks again (and moves the fence past a late backend).
 */

export type FenceResult = NonNullable<ExecutionDocument['fence']>;

export interface FenceOptions {
  /** How long to wait for terminated sessions to disappear. @default 30_000 */
  waitMs?: number;
  /** @default 500 */
  pollMs?: number;
  /**
   * Between the two looks that must both find no backend from before the fence, before and after
   * the fence row: a backend that is still starting up appears in pg_stat_activity only then.
   * @default 2_000
   */
  graceMs?: number;
  /**
   * Fence this cluster instead of blue, recording the row under `fenceKey`: failing back fences
   * green (docs/failback.md). @default - blue, under the execution id
   */
  target?: DbTarget;
  fenceKey?: string;
  /**
   * Logical slots whose walsender is left running (online mode: the stream to green must carry
   * the fence row and every write before it; failback: the stream from green to blue). A
   * walsender serves exactly the slot it holds, so it is exempt by the slot's `active_pid`,
   * never by a name a client chose. @default none
   */
  exemptSlots?: readonly string[];
}

export const FENCE_TABLE_DDL = [
  'CREATE SCHEMA IF NOT EXISTS bluegreen',
  `CREATE TABLE IF NOT EXISTS bluegreen.fence (
     execution_id text PRIMARY KEY,
     lsn pg_lsn,
     fenced_at timestamptz,
     databases text[] NOT NULL DEFAULT '{}',
     changed_databases text[] NOT NULL DEFAULT '{}',
     terminated_sessions int NOT NULL DEFAULT 0
   )`,
  // Added later: when the fence started (backends forked before it are ended) and the proof.
  'ALTER TABLE bluegreen.fence ADD COLUMN IF NOT EXISTS started_at text',
  'ALTER TABLE bluegreen.fence ADD COLUMN IF NOT EXISTS proof jsonb',
];

interface FenceRow {
  lsn: string | null;
  fenced_at: Date | null;
  databases: string[];
  changed_databases: string[];
  terminated_sessions: number;
  started_at: string | null;
}

/**
 * Backends the fence must end: every backend connected to a database (only those can write a
 * table) that started before the fence: client sessions, walsenders on `replication=database`
 * connections (they run SQL), extension background workers (pg_cron, pglogical, pg_partman: they
 * appear under their own backend_type), logical-replication and parallel workers. Exempt: this
 * very session (by pid: an application_name is the client's to choose), AWS's internal roles, and
 * autovacuum, which changes no user data. Auxiliary processes have no database.
 * $1: the exempt roles, $2: the fence's start time, as text (microseconds matter), $3: exempt slots.
 */
const PRE_FENCE_BACKENDS = `
  FROM pg_stat_activity a
  LEFT JOIN pg_roles r ON r.oid = a.usesysid
 WHERE a.datid IS NOT NULL
   AND a.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher')
   AND a.pid <> pg_backend_pid()
   AND NOT (coalesce(a.usename, '') = ANY ($1::text[]))
   -- Without pg_read_all_stats (rds_superuser has it) another role's backend_start reads as NULL: treat as before.
   AND coalesce(a.backend_start < $2::timestamptz, true)
   -- The walsenders of the online mode's own slots ($3), which stream the fence row to green.
   AND NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = a.pid AND s.slot_name = ANY ($3::text[]))`;

/**
 * Of those, the ones this session is not allowed to end (pg_terminate_backend): without
 * superuser, a backend with no role or a superuser's, or one of a role we neither belong to nor
 * may signal (pg_signal_backend). On Aurora the workflow's user is rds_superuser, not superuser.
 */
const UNSTOPPABLE = `
   AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
   AND (a.usesysid IS NULL OR r.rolsuper
        OR NOT (pg_has_role(current_user, a.usesysid, 'MEMBER') OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')))`;

interface Backend {
  pid: number;
  usename: string | null;
  application_name: string | null;
  backend_type: string;
  client_addr: string | null;
}

const BACKEND_COLUMNS = `a.pid, a.usename, a.application_name, a.backend_type, a.client_addr::text AS client_addr`;

function describe(backends: Backend[]): string {
  return backends
    .slice(0, 10)
    .map(
      (s) =>
        `pid ${s.pid} (${s.backend_type}, user ${s.usename ?? '?'}, application "${s.application_name ?? ''}", from ${s.client_addr ?? 'local'})`,
    )
    .join('; ');
}

async function readRow(session: DbSession, executionId: string): Promise<FenceRow | undefined> {
  const result = await session.query<FenceRow>(
    `SELECT lsn::text AS lsn, fenced_at, databases, changed_databases, terminated_sessions, started_at
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
export async function alreadyReadOnly(session: DbSession): Promise<Set<string>> {
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

/** What the steps below share while the fence runs. */
interface FenceRun {
  session: DbSession;
  clusterId: string;
  clock: Pick<Ports['clock'], 'sleep'>;
  waitMs: number;
  pollMs: number;
  graceMs: number;
  exemptSlots: string[];
}

async function preFenceBackends(run: FenceRun, since: string): Promise<Backend[]> {
  const result = await run.session.query<Backend>(`SELECT ${BACKEND_COLUMNS} ${PRE_FENCE_BACKENDS} ORDER BY a.pid`, [
    AWS_INTERNAL_ROLES,
    since,
    run.exemptSlots,
  ]);
  return result.rows;
}

/**
 * Ends every backend that started before `since` and waits until two looks, a grace period
 * apart, both find none: a backend still starting up (authenticated and configured before the
 * fence, but not yet in pg_stat_activity) shows up in between. Returns the pids it ended.
 */
async function endPreFenceBackends(run: FenceRun, since: string): Promise<Set<number>> {
  const ended = new Set<number>();
  let emptyLooks = 0;
  let waited = 0;
  for (;;) {
    const left = await preFenceBackends(run, since);
    if (!left.length) {
      if (++emptyLooks >= 2) return ended;
      await run.clock.sleep(run.graceMs);
      continue;
    }
    emptyLooks = 0;
    if (waited >= run.waitMs) {
      throw new FenceIncomplete(
        `${left.length} session(s) on blue ${run.clusterId} were still connected ${Math.round(run.waitMs / 1000)} s after the fence tried to end them, so writes cannot be ruled out: ${describe(left)}`,
      );
    }
    for (const { pid } of left) {
      try {
        const result = await run.session.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
        if (result.rows[0]?.ok) ended.add(pid);
      } catch {
        // Not allowed to end this one after all: the bounded wait reports it.
      }
    }
    await run.clock.sleep(run.pollMs);
    waited += run.pollMs;
  }
}

/** How many times a late backend may move the fence before the step gives up. */
const MAX_FENCE_MOVES = 3;

/**
 * Writes (or moves) the fence row with the proof of blue's data at that point, then looks again,
 * twice a grace period apart, for a backend from before the fence that was still starting up. If
 * one appears it is ended and the fence moves past it: what it wrote is then before the fence
 * row, so in the clone. Returns how many backends this round ended.
 */
async function stampAndConfirm(
  run: FenceRun,
  ports: Pick<Ports, 'database'>,
  target: DbTarget,
  executionId: string,
  databases: readonly string[],
  since: string,
  alreadyEnded: number,
): Promise<{ ended: number; moves: number }> {
  let ended = alreadyEnded;
  for (let move = 0; ; move++) {
    // The proof first, then the fence row: a change in between counts as after the fence.
    const proof = await recordProof(ports.database, target, databases);
    await run.session.query(
      `UPDATE bluegreen.fence
          SET lsn = pg_current_wal_lsn(), fenced_at = clock_timestamp(), terminated_sessions = $2, proof = $3
        WHERE execution_id = $1`,
      [executionId, ended, JSON.stringify(proof)],
    );
    let late = await preFenceBackends(run, since);
    if (!late.length) {
      await run.clock.sleep(run.graceMs);
      late = await preFenceBackends(run, since);
    }
    if (!late.length) return { ended, moves: move };
    if (move + 1 >= MAX_FENCE_MOVES) {
      throw new FenceIncomplete(
        `Backends from before the fence kept appearing on blue ${run.clusterId} after the fence row (${MAX_FENCE_MOVES} times), so writes cannot be ruled out: ${describe(late)}`,
      );
    }
    ended += (await endPreFenceBackends(run, since)).size;
  }
}

export async function fenceWrites(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
  options: FenceOptions = {},
): Promise<FenceResult> {
  const executionId = options.fenceKey ?? doc.input.executionId;
  const target = options.target ?? blueTarget(doc);
  const session = await openSession(ports.database, target, ADMIN_DATABASE);
  const run: FenceRun = {
    session,
    clusterId: target.clusterId,
    clock: ports.clock,
    waitMs: options.waitMs ?? 30_000,
    pollMs: options.pollMs ?? 500,
    graceMs: options.graceMs ?? 2_000,
    exemptSlots: [...(options.exemptSlots ?? [])],
  };
  try {
    // In online mode blue refuses DDL while it replicates; the fence's own (all IF NOT EXISTS) passes.
    await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
    for (const statement of FENCE_TABLE_DDL) await session.query(statement);

    const existing = await readRow(session, executionId);
    if (existing?.lsn && existing.fenced_at && existing.started_at) {
      // A re-run (the first attempt may have died before its last look): look again.
      const stamped = await stampIfLate(run, ports, target, executionId, existing);
      return await result(session, executionId, stamped.ended, stamped.moves);
    }

    // 0. Refuse, before changing anything, what a database-level default would not stop.
    const bypasses = await fenceBypasses(session);
    const unstoppable = await session.query<Backend>(
      `SELECT ${BACKEND_COLUMNS} ${PRE_FENCE_BACKENDS} ${UNSTOPPABLE} ORDER BY a.pid`,
      [AWS_INTERNAL_ROLES, 'infinity', run.exemptSlots],
    );
    if (unstoppable.rows.length) {
      bypasses.push(
        `${unstoppable.rows.length} backend(s) would stay connected because the workflow's user may not end them (a superuser's, or with no role): ${describe(unstoppable.rows)}; end them, or give the workflow's user the right to (pg_signal_backend, or membership of their role).`,
      );
    }
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
    // As text: a JS Date would drop the microseconds and could let an older backend through.
    // Every backend forked after this instant read the new default when it started.
    const since = (await session.query<{ now: string }>('SELECT clock_timestamp()::text AS now')).rows[0]?.now;
    if (!since) throw new Error('The server did not report clock_timestamp()');
    await session.query('UPDATE bluegreen.fence SET started_at = $2 WHERE execution_id = $1', [executionId, since]);

    // 2. End every backend that may still write; wait until two looks a grace period apart find none.
    const ended = await endPreFenceBackends(run, since);

    // Nothing may have slipped in between the check above and the end of the sessions.
    const late = await fenceBypasses(session);
    if (late.length) {
      throw new FenceIncomplete(
        `Writes on blue ${target.clusterId} cannot be ruled out after the fence: ${late.join(' ')}`,
      );
    }

    // 3. The fence row and the proof, committed (autocommit) in our own, writable session, durably
    //    even where the parameter group turned synchronous_commit off; then look once more.
    await session.query('SET synchronous_commit = on');
    const stamped = await stampAndConfirm(run, ports, target, executionId, databases, since, ended.size);
    return await result(session, executionId, stamped.ended, stamped.moves);
  } finally {
    await session.close();
  }
}

/** A re-run's last look: a backend from before the fence that appeared since moves the fence. */
async function stampIfLate(
  run: FenceRun,
  ports: Pick<Ports, 'database'>,
  target: DbTarget,
  executionId: string,
  row: FenceRow,
): Promise<{ ended: number; moves: number }> {
  const since = row.started_at as string;
  if (!(await preFenceBackends(run, since)).length) return { ended: row.terminated_sessions, moves: 0 };
  await run.session.query('SET synchronous_commit = on');
  const ended = (await endPreFenceBackends(run, since)).size;
  const stamped = await stampAndConfirm(
    run,
    ports,
    target,
    executionId,
    row.databases,
    since,
    row.terminated_sessions + ended,
  );
  return { ...stamped, moves: stamped.moves + 1 };
}

/**
 * The result, with the fence time read after the fence row committed: CheckRestorable waits until
 * blue's restorable time is past it, and a time taken inside the statement could be earlier than
 * the commit (a clone at that time would not hold the row).
 */
async function result(
  session: DbSession,
  executionId: string,
  terminated: number,
  moves: number,
): Promise<FenceResult> {
  const row = await readRow(session, executionId);
  if (!row?.lsn || !row.fenced_at) throw new Error(`The fence row of execution ${executionId} was not written on blue`);
  const now = await session.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  const committed = now.rows[0]?.now;
  if (!committed) throw new Error('The server did not report clock_timestamp()');
  const proof = await session.query<{ proof: FenceProof | null }>(
    'SELECT proof FROM bluegreen.fence WHERE execution_id = $1',
    [executionId],
  );
  const unlogged = unloggedTables(proof.rows[0]?.proof);
  // Date keeps milliseconds: round up, never down, past the commit.
  return {
    ...toResult({ ...row, terminated_sessions: terminated }),
    fencedAt: new Date(committed.getTime() + 1).toISOString(),
    ...(moves ? { moves } : {}),
    ...(unlogged.length ? { unloggedTables: unlogged } : {}),
  };
}
