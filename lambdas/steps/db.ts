import { createHash } from 'node:crypto';
import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed, ResourceFailed } from '../domain/errors';
import type { Clusters, Database, DbSession, DbTarget } from '../ports';

/** Shared helpers of the database steps (fence, verify, migrations, post-upgrade, smoke tests). */

/** The maintenance database every Aurora PostgreSQL cluster has; it holds the `bluegreen.fence` table. */
export const ADMIN_DATABASE = 'postgres';

/** AWS's own role on RDS/Aurora: its sessions and its database are never touched. */
export const AWS_INTERNAL_ROLE = 'rdsadmin';

/**
 * The roles RDS and Aurora run their own sessions as (monitoring, replication, topology): the
 * fence and the write detection leave them alone. Exempting by role, never by application_name,
 * which any client sets as it likes.
 */
export const AWS_INTERNAL_ROLES: readonly string[] = [AWS_INTERNAL_ROLE, 'rdsrepladmin', 'rdstopmgr'];

/** Quotes an SQL identifier (what `quote_ident` does), for names read from the catalogue. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Blue's admin-path target, from what Preflight recorded. */
export function blueTarget(doc: ExecutionDocument): DbTarget {
  if (!doc.blue) throw new PreconditionFailed('The execution document has no blue cluster (Preflight did not run)');
  return { clusterId: doc.blue.id, host: doc.blue.endpoint, port: doc.blue.port };
}

/** Green's target: its endpoint is only known once the clone exists, so ask the control plane. */
export async function greenTarget(
  doc: ExecutionDocument,
  clusters: Pick<Clusters, 'describeCluster'>,
): Promise<DbTarget> {
  const id = doc.green?.id ?? doc.input.greenClusterId;
  const green = await clusters.describeCluster(id);
  if (!green) throw new ResourceFailed(`Green cluster ${id} does not exist (was it deleted while the workflow ran?)`);
  if (!green.endpoint) throw new ResourceFailed(`Green cluster ${id} has no endpoint yet (status ${green.status})`);
  return { clusterId: green.id, host: green.endpoint, port: green.port };
}

/**
 * Opens a workflow session that can write even where the fence made the database read-only by
 * default: the fence's `ALTER DATABASE … SET default_transaction_read_only = on` applies to every
 * new session, ours included, and `ALTER DATABASE` itself is refused in a read-only transaction.
 */
export async function openSession(
  database: Database,
  target: DbTarget,
  name: string,
  applicationName?: string,
): Promise<DbSession> {
  const session = await database.connect(target, name);
  try {
    await session.query('SET default_transaction_read_only = off');
    if (applicationName) await session.query("SELECT set_config('application_name', $1, false)", [applicationName]);
  } catch (error) {
    await session.close();
    throw error;
  }
  return session;
}

export async function withSession<T>(
  database: Database,
  target: DbTarget,
  name: string,
  work: (session: DbSession) => Promise<T>,
  applicationName?: string,
): Promise<T> {
  const session = await openSession(database, target, name, applicationName);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

/** Every database an application can use: not a template, accepting connections, not AWS's own. */
export async function userDatabases(session: DbSession): Promise<string[]> {
  const result = await session.query<{ datname: string }>(
    `SELECT datname FROM pg_database
      WHERE NOT datistemplate AND datallowconn AND datname <> $1
      ORDER BY datname`,
    [AWS_INTERNAL_ROLE],
  );
  return result.rows.map((row) => row.datname);
}

/** Resets the fence's read-only default on the given databases (those that still exist). */
export async function resetReadOnly(session: DbSession, databases: readonly string[]): Promise<string[]> {
  if (!databases.length) return [];
  const existing = new Set(await userDatabases(session));
  const reset: string[] = [];
  for (const name of databases) {
    if (!existing.has(name)) continue;
    await session.query(`ALTER DATABASE ${quoteIdent(name)} RESET default_transaction_read_only`);
    reset.push(name);
  }
  return reset;
}

/** A value from a result row as the evidence shows it. */
export function display(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * The application_name of one step's sessions in one execution: `bluegreen:<state>:<12 hex of the
 * execution id>` (PostgreSQL keeps 63 bytes; an execution ARN is longer). A retried attempt of
 * the same step carries the same name, so it can find what its earlier attempt left running.
 */
export function attemptSessionName(doc: ExecutionDocument, state: string): string {
  const execution = createHash('sha256').update(doc.input.executionId).digest('hex').slice(0, 12);
  return `bluegreen:${state}:${execution}`.slice(0, 63);
}

/**
 * A retried step first ends its own earlier attempt's sessions (a Lambda that timed out leaves
 * its query running on the server, holding locks: the advisory lock of the migrations, an
 * ANALYZE): exactly the sessions named for this step and this execution, by the same user,
 * never another. Waits (bounded) until they are gone. Returns how many were ended.
 */
export async function endEarlierAttempts(
  session: DbSession,
  applicationName: string,
  clock: { sleep(ms: number): Promise<void> },
  waitMs = 10_000,
): Promise<number> {
  const earlier = `FROM pg_stat_activity
     WHERE application_name = $1 AND usename = current_user AND pid <> pg_backend_pid()`;
  const ended = await session.query<{ pid: number }>(
    `SELECT pid FROM (SELECT pid, pg_terminate_backend(pid) AS ended ${earlier}) t WHERE ended`,
    [applicationName],
  );
  for (let waited = 0; waited < waitMs; waited += 100) {
    const left = await session.query<{ n: number }>(`SELECT count(*)::int AS n ${earlier}`, [applicationName]);
    if (!left.rows[0]?.n) break;
    await clock.sleep(100);
  }
  return ended.rowCount;
}
