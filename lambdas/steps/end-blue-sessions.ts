import type { ExecutionDocument } from '../domain/document';
import type { DbSession, Ports } from '../ports';
import { ADMIN_DATABASE, AWS_INTERNAL_ROLES, blueTarget, withSession } from './db';
import { replicationNames } from './replication';

/** The subscriptions on blue of this execution's failback replication (none without failback). */
function failbackSubscriptions(doc: ExecutionDocument): string[] {
  return (doc.failbackReplication?.databases ?? []).map(
    (database) => replicationNames(doc.input.executionId, database, 'green-to-blue').subscription,
  );
}

export type EndBlueSessionsResult = NonNullable<ExecutionDocument['blueSessions']>;

/**
 * EndBlueSessions, once the CNAME is in sync on green: ends every other session still on blue.
 * In `read-only` mode applications kept reading blue through the fence, and a pool that keeps its
 * connections would keep reading blue's old data (and failing every write) for as long as they
 * live. Ended, the pool reconnects through the CNAME, to green. AWS's internal roles are left
 * alone; blue stays fenced and closed as before.
 */
export async function endBlueSessions(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
): Promise<EndBlueSessionsResult> {
  return withSession(ports.database, blueTarget(doc), ADMIN_DATABASE, async (session) => {
    const ended = await endOtherBlueSessions(session, doc);
    return { ended, endedAt: ports.clock.now().toISOString() };
  });
}

/** Ends every session on blue but this one, AWS's internal roles' and failback's apply workers. */
export async function endOtherBlueSessions(session: DbSession, doc: ExecutionDocument): Promise<number> {
  const ended = await session.query<{ ok: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE datid IS NOT NULL AND pid <> pg_backend_pid()
        AND backend_type NOT IN ('autovacuum worker', 'autovacuum launcher')
        AND NOT (coalesce(usename, '') = ANY ($1::text[]))
        -- Failback: blue's apply workers of this execution's reverse replication keep running.
        AND NOT (pid IN (SELECT w.pid FROM pg_stat_subscription w WHERE w.subname = ANY ($2::text[]) AND w.pid IS NOT NULL))`,
    [AWS_INTERNAL_ROLES, failbackSubscriptions(doc)],
  );
  return ended.rows.filter((r) => r.ok).length;
}
