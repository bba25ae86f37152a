import type { ExecutionDocument } from '../domain/document';
import type { DbSession, Ports } from '../ports';
import { ADMIN_DATABASE, AWS_INTERNAL_ROLES, blueTarget, resetReadOnly, withSession } from './db';

/**
 * Un-fences blue on rollback: `ALTER DATABASE … RESET default_transaction_read_only` for exactly
 * the databases this execution's fence changed (a database that was read-only before stays so).
 *
 * The list comes from this execution's intent row in `bluegreen.fence` on blue, which FenceWrites
 * writes before its first `ALTER DATABASE`: when FenceWrites failed part-way (a session it could
 * not end, a Lambda timeout), `$.fence` was never set but databases may already be read-only.
 * `$.fence.changedDatabases`, when present, is added to it. The fence row stays, as a record.
 * Idempotent; a no-op when the execution never fenced (dry run, failure before FenceWrites, no
 * `bluegreen.fence` table, or only other executions' rows). Returns the databases reset.
 *
 * `RESET` only reaches new sessions: one opened during the fence stays read-only for as long as it
 * lives, and a pool that keeps connections across SQL errors (HikariCP does) would never write
 * again. So every other session on a reset database that started before the reset is ended; the
 * pool reconnects, writable. AWS's internal roles are left alone.
 */
export async function unfenceBlue(doc: ExecutionDocument, ports: Pick<Ports, 'database'>): Promise<string[]> {
  // Without Preflight's record of blue, or in a dry run, FenceWrites cannot have run.
  if (!doc.blue || (doc.input.dryRun && !doc.fence)) return [];
  return withSession(ports.database, blueTarget(doc), ADMIN_DATABASE, async (session) => {
    const intent = await intendedChanges(session, doc.input.executionId);
    const changed = [...new Set([...(doc.fence?.changedDatabases ?? []), ...intent])].sort();
    const reset = await resetReadOnly(session, changed);
    if (reset.length) {
      await session.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = ANY ($1::text[]) AND pid <> pg_backend_pid()
            AND backend_type NOT IN ('autovacuum worker', 'autovacuum launcher')
            AND NOT (coalesce(usename, '') = ANY ($2::text[]))
            AND coalesce(backend_start < clock_timestamp(), true)`,
        [reset, AWS_INTERNAL_ROLES],
      );
    }
    return reset;
  });
}

/** The databases this execution's fence said it would make read-only; none without a row (or table). */
async function intendedChanges(session: DbSession, executionId: string): Promise<string[]> {
  const table = await session.query<{ exists: boolean }>("SELECT to_regclass('bluegreen.fence') IS NOT NULL AS exists");
  if (!table.rows[0]?.exists) return [];
  const row = await session.query<{ changed_databases: string[] }>(
    'SELECT changed_databases FROM bluegreen.fence WHERE execution_id = $1',
    [executionId],
  );
  return row.rows[0]?.changed_databases ?? [];
}
