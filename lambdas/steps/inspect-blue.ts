import type { ExecutionDocument } from '../domain/document';
import type { Ports } from '../ports';
import { ADMIN_DATABASE, blueTarget, userDatabases, withSession } from './db';

/**
 * InspectBlue: Preflight's look inside blue's databases, before the lock and before any change
 * (Preflight itself runs outside the VPC and cannot connect). It lists the unlogged tables: an
 * Aurora clone keeps their rows, but they are not crash-safe and logical replication skips them,
 * so the person who approves should know they are there (docs/fence.md).
 */
export async function inspectBlue(
  doc: ExecutionDocument,
  { database }: Pick<Ports, 'database'>,
): Promise<NonNullable<ExecutionDocument['inspect']>> {
  const target = blueTarget(doc);
  const databases = await withSession(database, target, ADMIN_DATABASE, userDatabases);
  const unloggedTables: string[] = [];
  for (const name of databases) {
    const rows = await withSession(database, target, name, async (session) => {
      const result = await session.query<{ name: string }>(
        `SELECT n.nspname || '.' || c.relname AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relpersistence = 'u' AND c.relkind IN ('r', 'p', 'm')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
          ORDER BY 1`,
      );
      return result.rows.map((r) => `${name}: ${r.name}`);
    });
    unloggedTables.push(...rows);
  }
  return { databases, unloggedTables };
}
