import type { ExecutionDocument } from '../domain/document';
import type { Ports } from '../ports';
import { ADMIN_DATABASE, blueTarget, resetReadOnly, withSession } from './db';

/**
 * Un-fences blue on rollback: `ALTER DATABASE … RESET default_transaction_read_only` for exactly
 * the databases the fence changed (a database that was read-only before stays so). The fence row
 * stays, as a record. Idempotent; a no-op when the execution never fenced (dry run, early failure).
 * Returns the databases reset.
 */
export async function unfenceBlue(doc: ExecutionDocument, ports: Pick<Ports, 'database'>): Promise<string[]> {
  const changed = doc.fence?.changedDatabases ?? [];
  if (!doc.fence || !changed.length) return [];
  return withSession(ports.database, blueTarget(doc), ADMIN_DATABASE, (session) => resetReadOnly(session, changed));
}
