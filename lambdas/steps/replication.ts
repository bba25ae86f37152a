import { createHash } from 'node:crypto';
import { ReplicationFailed } from '../domain/errors';
import type { Clock, DbSession } from '../ports';
import { quoteIdent } from './db';

/**
 * Logical-replication primitives (docs/online-mode.md), direction-neutral: the online mode
 * streams blue → green before the switchover, failback streams green → blue after it. Each takes
 * an open session on the publisher or the subscriber (one database: publications, slots and
 * subscriptions are per database) and is idempotent, so a retried step may simply run again.
 *
 * Roles: the publisher's user needs REPLICATION (Aurora: `rds_replication`, which the master
 * user gets with `rds_superuser` once `rds.logical_replication` is on); the subscriber's user
 * needs superuser (Aurora: `rds_superuser`) to create a subscription and advance its origin.
 */

/** Which way a stream runs: forward (online mode) or back (failback). */
export type ReplicationDirection = 'blue-to-green' | 'green-to-blue';

export interface ReplicationNames {
  /** Per database on the publisher. */
  readonly publication: string;
  /** Cluster-wide on the publisher, so it names the database too. */
  readonly slot: string;
  /** Per database on the subscriber. */
  readonly subscription: string;
}

const DIRECTION_TAG: Record<ReplicationDirection, string> = { 'blue-to-green': 'b2g', 'green-to-blue': 'g2b' };

function shortHash(text: string, chars: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, chars);
}

/**
 * Names derived from the execution, the database and the direction: a retry finds what an earlier
 * attempt made, another execution never collides. Lower-case letters, digits and `_` only (what a
 * slot name allows, so no quoting trouble anywhere), 25 characters, far below PostgreSQL's 63.
 */
export function replicationNames(
  executionId: string,
  database: string,
  direction: ReplicationDirection,
): ReplicationNames {
  const base = `${replicationPrefix(executionId, direction)}${shortHash(database, 6)}`;
  return { publication: `${base}_pub`, slot: `${base}_slot`, subscription: `${base}_sub` };
}

/** What every name of one execution's stream in one direction starts with (to find them all). */
export function replicationPrefix(executionId: string, direction: ReplicationDirection): string {
  return `bg_${shortHash(executionId, 12)}_${DIRECTION_TAG[direction]}_`;
}

/**
 * The DDL guard's event triggers and function, per execution (one set per replicated database).
 * `trigger` (ddl_command_start) refuses DDL; `endTrigger` judges a created table at
 * ddl_command_end and `dropTrigger` a dropped one at sql_drop, when it is known whether the table
 * is temporary.
 */
export function ddlGuardNames(executionId: string): {
  trigger: string;
  endTrigger: string;
  dropTrigger: string;
  fn: string;
} {
  const h = shortHash(executionId, 12);
  const trigger = `bluegreen_refuse_ddl_${h}`;
  return { trigger, endTrigger: `${trigger}_end`, dropTrigger: `${trigger}_drop`, fn: `bluegreen.refuse_ddl_${h}` };
}

/**
 * A session setting that lets the workflow's own DDL through the guard (the fence creates its
 * table with `IF NOT EXISTS`). Any session could set it: the guard stops mistakes, not intent; a
 * deliberate bypass still breaks replication, which the apply check then reports.
 */
export const DDL_GUARD_BYPASS = 'bluegreen.allow_ddl';

/** SQLSTATE duplicate_object: a concurrent attempt created it first. */
const DUPLICATE_OBJECT = '42710';
const QUERY_CANCELED = '57014';

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { code?: string }).code : undefined;
}

/** Quotes an SQL string literal (standard_conforming_strings, on by default since 9.1). */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

// ─── Publisher ─────────────────────────────────────────────────────────────────────────────

export interface PublicationAndSlot {
  publicationCreated: boolean;
  slotCreated: boolean;
  /** Where the slot starts retaining changes (its `confirmed_flush_lsn` when created). */
  slotLsn: string;
}

/**
 * `CREATE PUBLICATION … FOR ALL TABLES` (new tables too, `bluegreen.fence` among them) and a
 * `pgoutput` logical slot, each unless it exists. Creating a slot waits until every transaction
 * already running has ended (it needs a consistent starting point): `timeoutMs` bounds that wait,
 * and the error then names the transactions it waited for.
 */
export async function createPublicationAndSlot(
  session: DbSession,
  names: ReplicationNames,
  options: { timeoutMs?: number } = {},
): Promise<PublicationAndSlot> {
  let publicationCreated = false;
  // CREATE PUBLICATION is DDL to an event trigger: the workflow's own passes the guard.
  await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
  const publication = await session.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [names.publication]);
  if (!publication.rowCount) {
    try {
      await session.query(`CREATE PUBLICATION ${quoteIdent(names.publication)} FOR ALL TABLES`);
      publicationCreated = true;
    } catch (error) {
      if (sqlState(error) !== DUPLICATE_OBJECT) throw error;
    }
  }

  let slotCreated = false;
  const existing = await slotOf(session, names.slot);
  if (!existing) {
    await session.query(`SET statement_timeout = ${Math.max(1, Math.round(options.timeoutMs ?? 60_000))}`);
    try {
      await session.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [names.slot]);
      slotCreated = true;
    } catch (error) {
      if (sqlState(error) === QUERY_CANCELED) {
        throw new ReplicationFailed(
          `Creating replication slot ${names.slot} waited too long for transactions that were already running to end (a logical slot needs a point with none in flight): ${await runningTransactions(session)}. End or commit them, then run again.`,
        );
      }
      if (sqlState(error) !== DUPLICATE_OBJECT) throw error;
    } finally {
      await session.query('SET statement_timeout = 0');
    }
  }
  const slot = await slotOf(session, names.slot);
  if (!slot) throw new ReplicationFailed(`Replication slot ${names.slot} is missing right after it was created`);
  if (slot.plugin !== 'pgoutput' || slot.database !== slot.current_database) {
    throw new ReplicationFailed(
      `A replication slot named ${names.slot} exists but is not this workflow's (plugin ${slot.plugin}, database ${slot.database}); drop it or use another execution name`,
    );
  }
  return { publicationCreated, slotCreated, slotLsn: slot.confirmed_flush_lsn ?? '0/0' };
}

async function runningTransactions(session: DbSession): Promise<string> {
  const rows = await session.query<{
    pid: number;
    usename: string | null;
    application_name: string;
    xact_start: string;
  }>(
    `SELECT pid, usename, application_name, xact_start::text AS xact_start FROM pg_stat_activity
      WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 10`,
  );
  if (!rows.rows.length) return 'none is running now';
  return rows.rows
    .map((r) => `pid ${r.pid} (user ${r.usename ?? '?'}, application "${r.application_name}", since ${r.xact_start})`)
    .join('; ');
}

interface SlotRow {
  plugin: string | null;
  database: string | null;
  current_database: string;
  active: boolean;
  active_pid: number | null;
  confirmed_flush_lsn: string | null;
}

async function slotOf(session: DbSession, slot: string): Promise<SlotRow | undefined> {
  const result = await session.query<SlotRow>(
    `SELECT plugin, database, current_database() AS current_database, active, active_pid,
            confirmed_flush_lsn::text AS confirmed_flush_lsn
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  return result.rows[0];
}

export interface PublisherLag {
  /** Bytes of WAL the subscriber has not confirmed yet: `pg_current_wal_lsn() - confirmed_flush_lsn`. */
  lagBytes: number;
  /** Whether a walsender is streaming from the slot now. */
  active: boolean;
  confirmedFlushLsn: string;
  currentLsn: string;
}

/** The slot's lag on the publisher; undefined when the slot does not exist. */
export async function publisherLag(session: DbSession, slot: string): Promise<PublisherLag | undefined> {
  const result = await session.query<{
    lag: number | null;
    active: boolean;
    confirmed: string | null;
    current: string;
  }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag, active,
            confirmed_flush_lsn::text AS confirmed, pg_current_wal_lsn()::text AS current
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  return {
    lagBytes: Math.max(0, row.lag ?? 0),
    active: row.active,
    confirmedFlushLsn: row.confirmed ?? '0/0',
    currentLsn: row.current,
  };
}

/** The publisher's WAL position now: a subscriber that confirms it has every earlier commit. */
export async function currentLsn(session: DbSession): Promise<string> {
  const result = await session.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const lsn = result.rows[0]?.lsn;
  if (!lsn) throw new Error('The server did not report pg_current_wal_lsn()');
  return lsn;
}

/**
 * Whether the subscriber has flushed everything the publisher committed before `lsn`: the slot's
 * `confirmed_flush_lsn` (what the apply worker reported as durably applied) is at or past it.
 */
export async function slotConfirmedPast(session: DbSession, slot: string, lsn: string): Promise<boolean> {
  const result = await session.query<{ done: boolean }>(
    `SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1`,
    [slot, lsn],
  );
  return result.rows[0]?.done === true;
}

/**
 * Polls the slot until no walsender holds it, ending the one that does (its subscription is gone
 * or disabled, it is only lingering), then runs `whenFree`; its `undefined` means "look again".
 * False when the slot does not exist; bounded by `waitMs`, after which it says what to run.
 */
async function untilSlotFree<T>(
  session: DbSession,
  slot: string,
  clock: Pick<Clock, 'sleep'>,
  waitMs: number,
  pollMs: number,
  whenFree: (waited: number) => Promise<T | undefined>,
): Promise<T | false> {
  for (let waited = 0; ; waited += pollMs) {
    const row = (
      await session.query<{ active_pid: number | null }>(
        'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      )
    ).rows[0];
    if (!row) return false;
    if (row.active_pid === null) {
      const done = await whenFree(waited);
      if (done !== undefined) return done;
    } else {
      if (waited >= waitMs) {
        throw new ReplicationFailed(
          `Replication slot ${slot} is still in use by pid ${row.active_pid} after ${Math.round(waitMs / 1000)} s; end that walsender (SELECT pg_terminate_backend(${row.active_pid})), then SELECT pg_drop_replication_slot('${slot}')`,
        );
      }
      await session.query('SELECT pg_terminate_backend($1)', [row.active_pid]);
    }
    await clock.sleep(pollMs);
  }
}

/**
 * Waits (bounded) until no walsender holds the slot, ending the one that does (its subscription
 * is gone or disabled, it is only lingering). False when the slot does not exist.
 */
export async function releaseSlot(
  session: DbSession,
  slot: string,
  clock: Pick<Clock, 'sleep'>,
  options: { waitMs?: number; pollMs?: number } = {},
): Promise<boolean> {
  return untilSlotFree(session, slot, clock, options.waitMs ?? 10_000, options.pollMs ?? 20, async () => true);
}

/**
 * How many row changes (insert, update, delete, truncate) the slot still holds: committed on the
 * publisher after the subscriber's last confirmed position, so not on the subscriber. Read with
 * `pg_logical_slot_peek_binary_changes`, which leaves the slot where it is; the session must be
 * on the slot's database, and the subscription must be gone (the slot free).
 */
export async function unconfirmedChanges(
  session: DbSession,
  names: Pick<ReplicationNames, 'slot' | 'publication'>,
  clock: Pick<Clock, 'sleep'>,
): Promise<number> {
  if (!(await releaseSlot(session, names.slot, clock))) {
    throw new ReplicationFailed(`Replication slot ${names.slot} is gone: what it held cannot be checked`);
  }
  // pgoutput message types: I(nsert) 73, U(pdate) 85, D(elete) 68, T(runcate) 84.
  const result = await session.query<{ n: number }>(
    `SELECT count(*)::int AS n
       FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)
      WHERE get_byte(data, 0) IN (73, 85, 68, 84)`,
    [names.slot, names.publication],
  );
  return result.rows[0]?.n ?? 0;
}

/**
 * Prepared transactions on the server, as `gid (database)`. The fence refuses to start while one
 * exists, so one found later was prepared after the fence. Its changes reach a slot only when it
 * is committed (pgoutput without two-phase decoding), so a slot that looks quiet proves nothing
 * about it: `COMMIT PREPARED` would write what the other side lacks.
 */
export async function preparedTransactions(session: DbSession): Promise<string[]> {
  const r = await session.query<{ name: string }>(
    "SELECT format('%s (%s)', gid, database) AS name FROM pg_prepared_xacts ORDER BY prepared",
  );
  return r.rows.map((x) => x.name);
}

/** Changes a slot holds that were made on the publisher itself, not applied by a subscription. */
export interface LocalChanges {
  /** Row changes (insert, update, delete, truncate) in transactions without a replication origin. */
  readonly changes: number;
  /** The tables they touched, schema-qualified (`TRUNCATE` when a truncate named none here). */
  readonly tables: string[];
}

/**
 * The row changes a free slot holds that were committed on the publisher by a session of its own,
 * up to the publisher's position now. Transactions applied by a subscription on the publisher
 * (failback's reverse stream) carry a replication origin, which pgoutput sends as an `O` message
 * right after the transaction's `B`egin; they are left out. The grouping is done on the server:
 * with failback, the slot also holds every write green sent meanwhile, and only the local ones
 * come back. Relation ids are the publisher's own, so `regclass` names them. Undefined when the
 * slot does not exist.
 */
export async function localChanges(
  session: DbSession,
  names: Pick<ReplicationNames, 'slot' | 'publication'>,
  clock: Pick<Clock, 'sleep'>,
): Promise<LocalChanges | undefined> {
  // Gone: undefined, the caller says what that means.
  if (!(await releaseSlot(session, names.slot, clock))) return undefined;
  // pgoutput (protocol 1, not streaming): B 66, O 79, I 73, U 85, D 68, T 84; I/U/D carry the
  // relation id in bytes 1-4.
  const result = await session.query<{ changes: number; tables: string[] | null }>(
    `WITH m AS (
       -- Only the message type and the relation id are kept: with failback the slot may hold many
       -- of green's rows, and their data is not needed.
       SELECT n, get_byte(data, 0) AS t,
              CASE WHEN get_byte(data, 0) IN (73, 85, 68)
                   THEN ((get_byte(data, 1)::bigint << 24) | (get_byte(data, 2) << 16)
                         | (get_byte(data, 3) << 8) | get_byte(data, 4))::oid END AS relid
         FROM pg_logical_slot_peek_binary_changes($1, pg_current_wal_lsn(), NULL,
                'proto_version', '1', 'publication_names', $2) WITH ORDINALITY AS c(lsn, xid, data, n)
     ), x AS (
       SELECT t, relid, count(*) FILTER (WHERE t = 66) OVER (ORDER BY n) AS txn FROM m
     ), local AS (
       SELECT txn FROM x GROUP BY txn HAVING NOT bool_or(t = 79)
     )
     SELECT count(*)::int AS changes,
            array_agg(DISTINCT CASE WHEN x.t = 84 THEN 'TRUNCATE' ELSE x.relid::regclass::text END) AS tables
       FROM x JOIN local USING (txn)
      WHERE x.t IN (73, 85, 68, 84)`,
    [names.slot, names.publication],
  );
  const row = result.rows[0];
  return { changes: row?.changes ?? 0, tables: row?.changes ? (row.tables ?? []) : [] };
}

/**
 * Drops the slot, unless it is gone already. A walsender may still hold it for a moment after its
 * subscription went away: it is ended, and the drop waits (bounded) until the slot is free.
 */
export async function dropSlot(
  session: DbSession,
  slot: string,
  clock: Pick<Clock, 'sleep'>,
  options: { waitMs?: number; pollMs?: number } = {},
): Promise<boolean> {
  const waitMs = options.waitMs ?? 10_000;
  return untilSlotFree(session, slot, clock, waitMs, options.pollMs ?? 100, async (waited) => {
    try {
      await session.query('SELECT pg_drop_replication_slot($1)', [slot]);
      return true;
    } catch (error) {
      // Taken again between the look and the drop (55006 object_in_use), or dropped meanwhile (42704).
      if (sqlState(error) === '42704') return false;
      if (sqlState(error) !== '55006' || waited >= waitMs) throw error;
      return undefined;
    }
  });
}

/** Drops the publication, unless it is gone already. */
export async function dropPublication(session: DbSession, publication: string): Promise<boolean> {
  const exists = await session.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (!exists.rowCount) return false;
  await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
  await session.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(publication)}`);
  return true;
}

export interface SequencePosition {
  /** `schema.name`, quoted where needed. */
  name: string;
  /** The publisher's `last_value`; null for a sequence never used (nothing to move past). */
  lastValue: string | null;
  increment: string;
}

/** Every sequence in the database and where it stands (logical replication does not carry them). */
export async function sequencePositions(session: DbSession): Promise<SequencePosition[]> {
  const result = await session.query<{ name: string; last_value: string | null; increment_by: string }>(
    `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS last_value,
            increment_by::text AS increment_by
       FROM pg_sequences ORDER BY 1`,
  );
  return result.rows.map((r) => ({ name: r.name, lastValue: r.last_value, increment: r.increment_by }));
}

// ─── Subscriber ────────────────────────────────────────────────────────────────────────────

/**
 * The clone's start LSN on Aurora (AuroraUserGuide, "Using Aurora cloning with logical
 * replication"): the position in blue's WAL where the clone's data ends. The local cloud gives
 * its clones the same function.
 */
export async function readStartLsn(session: DbSession): Promise<string> {
  const fn = await session.query<{ present: boolean }>(
    "SELECT to_regproc('aurora_volume_logical_start_lsn') IS NOT NULL AS present",
  );
  if (!fn.rows[0]?.present) {
    throw new ReplicationFailed(
      'Green has no aurora_volume_logical_start_lsn(): online mode needs Aurora PostgreSQL 12.10, 13.6, 14.3, 15.2 or later (or the local cloud)',
    );
  }
  const result = await session.query<{ lsn: string | null }>('SELECT aurora_volume_logical_start_lsn()::text AS lsn');
  const lsn = result.rows[0]?.lsn;
  if (!lsn) throw new ReplicationFailed('aurora_volume_logical_start_lsn() returned no LSN on green');
  return lsn;
}

export interface InheritedReplication {
  droppedSlots: string[];
  droppedPublications: string[];
  droppedDdlGuard: boolean;
}

/**
 * What a clone inherits from its source and must not keep: the source's slots (they would retain
 * WAL on the clone for ever), publications, and the DDL guard (it would refuse the migrations).
 * Only the named ones: any other slot or publication is the owner's.
 */
export async function dropInherited(
  session: DbSession,
  names: ReplicationNames,
  executionId: string,
  clock: Pick<Clock, 'sleep'>,
): Promise<InheritedReplication> {
  const droppedDdlGuard = await removeDdlGuard(session, executionId);
  const droppedSlots = (await dropSlot(session, names.slot, clock)) ? [names.slot] : [];
  const droppedPublications = (await dropPublication(session, names.publication)) ? [names.publication] : [];
  return { droppedSlots, droppedPublications, droppedDdlGuard };
}

export interface SubscriptionStart {
  created: boolean;
  /** The origin was advanced to this LSN (only before the first enable). */
  originAdvancedTo?: string;
  enabled: boolean;
}

interface SubscriptionRow {
  oid: number;
  subenabled: boolean;
  slot: string | null;
}

async function subscriptionOf(session: DbSession, subscription: string): Promise<SubscriptionRow | undefined> {
  const result = await session.query<SubscriptionRow>(
    `SELECT s.oid::int8::float8 AS oid, s.subenabled, s.subslotname AS slot
       FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
      WHERE s.subname = $1 AND d.datname = current_database()`,
    [subscription],
  );
  return result.rows[0];
}

/**
 * `CREATE SUBSCRIPTION … WITH (copy_data = false, create_slot = false, enabled = false,
 * slot_name = …)` on the publisher's existing slot; then, before the first enable, its origin is
 * advanced to `startLsn` (changes at or before it are in the subscriber's data already: the
 * clone's own point), then `ENABLE`. Without `startLsn` the slot's own start applies (the
 * subscriber was identical to the publisher when the slot was created). `conninfo` carries a
 * password: it is passed only in the statement, never in a message.
 */
export async function createSubscription(
  session: DbSession,
  names: ReplicationNames,
  conninfo: string,
  startLsn?: string,
): Promise<SubscriptionStart> {
  let created = false;
  let row = await subscriptionOf(session, names.subscription);
  if (!row) {
    // Failback subscribes on blue, where this execution's guard may still be installed.
    await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
    try {
      await session.query(
        `CREATE SUBSCRIPTION ${quoteIdent(names.subscription)} CONNECTION ${literal(conninfo)}
           PUBLICATION ${quoteIdent(names.publication)}
           WITH (copy_data = false, create_slot = false, enabled = false, slot_name = ${literal(names.slot)})`,
      );
      created = true;
    } catch (error) {
      if (sqlState(error) !== DUPLICATE_OBJECT) throw error;
    }
    row = await subscriptionOf(session, names.subscription);
    if (!row) throw new ReplicationFailed(`Subscription ${names.subscription} is missing right after it was created`);
  }
  if (row.subenabled) return { created, enabled: true };
  let originAdvancedTo: string | undefined;
  if (startLsn) {
    // The origin of a subscription is pg_<oid>; advancing it is only safe while disabled.
    await session.query(`SELECT pg_replication_origin_advance($1, $2::pg_lsn)`, [`pg_${row.oid}`, startLsn]);
    originAdvancedTo = startLsn;
  }
  await session.query(`ALTER SUBSCRIPTION ${quoteIdent(names.subscription)} ENABLE`);
  return { created, enabled: true, ...(originAdvancedTo ? { originAdvancedTo } : {}) };
}

export interface SubscriberStatus {
  exists: boolean;
  enabled: boolean;
  /** An apply worker is running (pg_stat_subscription.pid). */
  workerRunning: boolean;
  receivedLsn: string | null;
  latestEndLsn: string | null;
  lastMessageAt: string | null;
  /** Times the apply worker failed (pg_stat_subscription_stats, PostgreSQL 15+); 0 where unknown. */
  applyErrors: number;
  /** The origin's position: the publisher's LSN up to which changes are applied here. */
  appliedLsn: string | null;
}

export async function subscriberStatus(session: DbSession, subscription: string): Promise<SubscriberStatus> {
  const row = await subscriptionOf(session, subscription);
  if (!row) {
    return {
      exists: false,
      enabled: false,
      workerRunning: false,
      receivedLsn: null,
      latestEndLsn: null,
      lastMessageAt: null,
      applyErrors: 0,
      appliedLsn: null,
    };
  }
  const worker = await session.query<{
    pid: number | null;
    received_lsn: string | null;
    latest_end_lsn: string | null;
    last_msg_receipt_time: string | null;
  }>(
    `SELECT pid, received_lsn::text AS received_lsn, latest_end_lsn::text AS latest_end_lsn,
            last_msg_receipt_time::text AS last_msg_receipt_time
       FROM pg_stat_subscription WHERE subid = $1::oid AND relid IS NULL`,
    [row.oid],
  );
  const hasStats = await session.query<{ present: boolean }>(
    "SELECT to_regclass('pg_catalog.pg_stat_subscription_stats') IS NOT NULL AS present",
  );
  let applyErrors = 0;
  if (hasStats.rows[0]?.present) {
    const stats = await session.query<{ n: number }>(
      'SELECT apply_error_count::int AS n FROM pg_stat_subscription_stats WHERE subid = $1::oid',
      [row.oid],
    );
    applyErrors = stats.rows[0]?.n ?? 0;
  }
  const origin = await session.query<{ lsn: string | null }>(
    'SELECT pg_replication_origin_progress($1, false)::text AS lsn',
    [`pg_${row.oid}`],
  );
  const w = worker.rows[0];
  return {
    exists: true,
    enabled: row.subenabled,
    workerRunning: w?.pid != null,
    receivedLsn: w?.received_lsn ?? null,
    latestEndLsn: w?.latest_end_lsn ?? null,
    lastMessageAt: w?.last_msg_receipt_time ?? null,
    applyErrors,
    appliedLsn: origin.rows[0]?.lsn ?? null,
  };
}

/** Whether this execution's completed fence row (the fence's admin database) is on the subscriber. */
export async function fenceRowApplied(session: DbSession, executionId: string): Promise<boolean> {
  const table = await session.query<{ present: boolean }>(
    "SELECT to_regclass('bluegreen.fence') IS NOT NULL AS present",
  );
  if (!table.rows[0]?.present) return false;
  const row = await session.query<{ done: boolean }>(
    'SELECT fenced_at IS NOT NULL AS done FROM bluegreen.fence WHERE execution_id = $1',
    [executionId],
  );
  return row.rows[0]?.done === true;
}

export interface SequenceMove {
  moved: string[];
  /** On the publisher, not on the subscriber (a migration dropped or renamed it). */
  missing: string[];
}

/**
 * Moves every sequence on the subscriber to at least the publisher's position (in the direction
 * of its increment), so that the first `nextval` after the switchover cannot hand out a value the
 * publisher already did. A subscriber sequence already further along is left alone.
 */
export async function moveSequences(subscriber: DbSession, publisher: SequencePosition[]): Promise<SequenceMove> {
  const moved: string[] = [];
  const missing: string[] = [];
  for (const sequence of publisher) {
    if (sequence.lastValue === null) continue;
    const exists = await subscriber.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
      sequence.name,
    ]);
    if (!exists.rows[0]?.present) {
      missing.push(sequence.name);
      continue;
    }
    const result = await subscriber.query<{ moved: boolean }>(
      `WITH here AS (
         SELECT coalesce(last_value, CASE WHEN increment_by > 0 THEN min_value - 1 ELSE max_value + 1 END) AS v,
                increment_by
           FROM pg_sequences WHERE format('%I.%I', schemaname, sequencename) = $1)
       SELECT CASE
                WHEN (increment_by > 0 AND v < $2::int8) OR (increment_by < 0 AND v > $2::int8)
                THEN setval($1::regclass, $2::int8, true) IS NOT NULL
                ELSE false END AS moved
         FROM here`,
      [sequence.name, sequence.lastValue],
    );
    if (result.rows[0]?.moved) moved.push(sequence.name);
  }
  return { moved, missing };
}

/**
 * Drops the subscription without touching the publisher: disable (the apply worker stops), detach
 * the slot (`slot_name = NONE`, so DROP does not try to reach the publisher), drop. The caller then
 * drops the slot on the publisher (dropSlot). False when it did not exist.
 */
export async function dropSubscription(session: DbSession, subscription: string): Promise<boolean> {
  const row = await subscriptionOf(session, subscription);
  if (!row) return false;
  const name = quoteIdent(subscription);
  await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
  if (row.subenabled) await session.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
  if (row.slot !== null) await session.query(`ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
  await session.query(`DROP SUBSCRIPTION IF EXISTS ${name}`);
  return true;
}

// ─── DDL guard (publisher) ─────────────────────────────────────────────────────────────────

export type DdlGuardResult = { installed: true } | { installed: false; reason: string };

/**
 * Event triggers that refuse DDL in this database while replication runs (logical replication
 * does not carry DDL, so a schema change would stop the apply on the other side, or be missing there
 * after the switchover; `REFRESH MATERIALIZED VIEW` and temporary tables pass), with a message
 * that says why and names the execution. The workflow's own sessions set DDL_GUARD_BYPASS.
 * Creating an event trigger needs superuser (Aurora: rds_superuser); without it the result says
 * why, and the workflow watches the schema instead (schemaFingerprint).
 */
export async function installDdlGuard(
  session: DbSession,
  executionId: string,
  executionName: string,
): Promise<DdlGuardResult> {
  const { trigger, endTrigger, dropTrigger, fn } = ddlGuardNames(executionId);
  const triggers: [string, string][] = [
    [trigger, 'ddl_command_start'],
    [endTrigger, `ddl_command_end WHEN TAG IN (${CREATE_TABLE_TAGS.map(literal).join(', ')})`],
    [dropTrigger, "sql_drop WHEN TAG IN ('DROP TABLE')"],
  ];
  const exists = await session.query<{ evtname: string }>(
    'SELECT evtname FROM pg_event_trigger WHERE evtname = ANY($1)',
    [triggers.map(([name]) => name)],
  );
  const present = new Set(exists.rows.map((r) => r.evtname));
  if (triggers.every(([name]) => present.has(name))) return { installed: true };
  const message = `%s refused: blue/green deployment ${executionName} replicates this database with logical replication, which does not carry schema changes; this one would stop the replication.`;
  const hint =
    "Put the change in the deployment's migrations, or make it after the deployment has switched over or rolled back.";
  try {
    await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
    await session.query('CREATE SCHEMA IF NOT EXISTS bluegreen');
    // Passed at ddl_command_start: a materialized view's refresh (rows, not a schema: an
    // application's job), and a table's creation or drop, judged once it is known whether the
    // table is temporary (a session's own, never replicated; applications use them).
    await session.query(
      `CREATE OR REPLACE FUNCTION ${fn}() RETURNS event_trigger LANGUAGE plpgsql AS $guard$
       BEGIN
         IF coalesce(current_setting(${literal(DDL_GUARD_BYPASS)}, true), '') = 'on' THEN RETURN; END IF;
         IF tg_event = 'ddl_command_start' THEN
           IF tg_tag IN ('REFRESH MATERIALIZED VIEW', 'DROP TABLE', ${CREATE_TABLE_TAGS.map(literal).join(', ')}) THEN
             RETURN;
           END IF;
         ELSIF tg_event = 'ddl_command_end' THEN
           IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() d JOIN pg_class c ON c.oid = d.objid
                           WHERE d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p')
                             AND c.relpersistence <> 't') THEN
             RETURN;
           END IF;
         ELSIF tg_event = 'sql_drop' THEN
           IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() o
                           WHERE o.object_type = 'table' AND NOT o.is_temporary) THEN
             RETURN;
           END IF;
         END IF;
         RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
           MESSAGE = format(${literal(message)}, tg_tag), HINT = ${literal(hint)};
       END $guard$`,
    );
    for (const [name, on] of triggers) {
      if (present.has(name)) continue;
      await session.query(`CREATE EVENT TRIGGER ${quoteIdent(name)} ON ${on} EXECUTE FUNCTION ${fn}()`);
    }
    return { installed: true };
  } catch (error) {
    // 42501 insufficient_privilege: not a superuser here. Anything else is a real failure.
    if (sqlState(error) !== '42501') throw error;
    return { installed: false, reason: (error as Error).message };
  }
}

/** The command tags that create a table (judged at ddl_command_end: a temporary one passes). */
const CREATE_TABLE_TAGS = ['CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO'];

/** Removes this execution's DDL guard (triggers, then function); true when there was one. */
export async function removeDdlGuard(session: DbSession, executionId: string): Promise<boolean> {
  const { trigger, endTrigger, dropTrigger, fn } = ddlGuardNames(executionId);
  const triggers = [trigger, endTrigger, dropTrigger];
  await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
  const exists = await session.query('SELECT 1 FROM pg_event_trigger WHERE evtname = ANY($1)', [triggers]);
  for (const name of triggers) await session.query(`DROP EVENT TRIGGER IF EXISTS ${quoteIdent(name)}`);
  await session.query(`DROP FUNCTION IF EXISTS ${fn}()`);
  return exists.rowCount > 0;
}

/**
 * A digest of the database's tables and columns (names, types, NOT NULL): equal before and after
 * means no DDL that replication cares about happened in between. The watch where the guard could
 * not be installed, and a second proof where it was.
 */
export async function schemaFingerprint(session: DbSession): Promise<string> {
  const result = await session.query<{ digest: string }>(
    `SELECT md5(coalesce(string_agg(item, E'\\n' ORDER BY item), '')) AS digest FROM (
       SELECT format('%I.%I %s %s %s %s', n.nspname, c.relname, c.relkind,
                     coalesce(a.attname::text, ''), coalesce(format_type(a.atttypid, a.atttypmod), ''),
                     coalesce(a.attnotnull::text, '')) AS item
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%') t`,
  );
  return result.rows[0]?.digest ?? '';
}
