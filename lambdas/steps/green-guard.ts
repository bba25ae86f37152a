import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import {
  ADMIN_DATABASE,
  AWS_INTERNAL_ROLES,
  greenTarget,
  quoteIdent,
  resetReadOnly,
  userDatabases,
  withSession,
} from './db';
import { alreadyReadOnly } from './fence-writes';
import { assertReplicationSound } from './replication-workflow';

/**
 * Online mode opens green (attaches blue's access groups: in AWS the slowest part of the
 * switchover) before the write freeze, so green must not take an application's write until the
 * switchover: such a write would bypass the replication, and a rollback would lose it.
 *
 * GuardGreen: the fence's mechanism (fence-writes.ts), on green: `ALTER DATABASE … SET
 * default_transaction_read_only = on` on every user database, then every client session that
 * started before is ended (it may not have read the new default). The subscriptions' apply
 * workers ignore the default and keep applying blue's changes; the workflow's own sessions set
 * it off (db.ts openSession). No fence row: green's data is proven by CatchUpGreen.
 */
export async function guardGreen(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['greenGuard']>> {
  await assertReplicationSound(doc, ports);
  const green = await greenTarget(doc, ports.clusters);
  return withSession(ports.database, green, ADMIN_DATABASE, async (session) => {
    const databases = await userDatabases(session);
    const readOnly = await alreadyReadOnly(session);
    // On a re-run the first attempt's changes are already "on": keep them in the list.
    const changedDatabases = [
      ...new Set([...(doc.greenGuard?.changedDatabases ?? []), ...databases.filter((d) => !readOnly.has(d))]),
    ].sort();
    for (const name of databases) {
      await session.query(`ALTER DATABASE ${quoteIdent(name)} SET default_transaction_read_only = on`);
    }
    // Client sessions only: the apply workers (and AWS's own roles) stay.
    await session.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datid IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          AND NOT (coalesce(usename, '') = ANY ($1::text[]))
          AND coalesce(backend_start < clock_timestamp(), true)`,
      [AWS_INTERNAL_ROLES],
    );
    return { databases, changedDatabases, guardedAt: ports.clock.now().toISOString() };
  });
}

/**
 * UnguardGreen, at the switchover (after CatchUpGreen and the sequences, and StartFailbackReplication
 * when failback is on): green's databases get their write permission back, exactly those GuardGreen
 * changed. SQL only, so the freeze holds no RDS modify. No session is ended: the applications'
 * pools reach green only through the CNAME, swapped next.
 */
export async function unguardGreen(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['greenUnguard']>> {
  if (!doc.greenGuard) throw new PreconditionFailed('UnguardGreen ran before GuardGreen');
  const green = await greenTarget(doc, ports.clusters);
  const databases = await withSession(ports.database, green, ADMIN_DATABASE, (session) =>
    resetReadOnly(session, doc.greenGuard?.changedDatabases ?? []),
  );
  return { databases, unguardedAt: ports.clock.now().toISOString() };
}
