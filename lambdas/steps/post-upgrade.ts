import type { ExecutionDocument } from '../domain/document';
import type { Ports } from '../ports';
import { ADMIN_DATABASE, greenTarget, quoteIdent, userDatabases, withSession } from './db';

export type PostUpgradeResult = NonNullable<ExecutionDocument['postUpgrade']>;

/**
 * PostUpgrade (docs/architecture.md): planner statistics do not survive a major-version upgrade,
 * so ANALYZE every user database of green; and update each installed extension for which the new
 * engine offers a newer default version (`pg_available_extensions`).
 */
export async function postUpgrade(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters'>,
): Promise<PostUpgradeResult> {
  const target = await greenTarget(doc, ports.clusters);
  const databases = await withSession(ports.database, target, ADMIN_DATABASE, userDatabases);
  const result: PostUpgradeResult = { analyzed: [], extensionsUpdated: [] };
  for (const name of databases) {
    await withSession(ports.database, target, name, async (session) => {
      const outdated = await session.query<{ name: string; installed_version: string; default_version: string }>(
        `SELECT name, installed_version, default_version
           FROM pg_available_extensions
          WHERE installed_version IS NOT NULL AND default_version IS DISTINCT FROM installed_version
          ORDER BY name`,
      );
      for (const extension of outdated.rows) {
        await session.query(`ALTER EXTENSION ${quoteIdent(extension.name)} UPDATE`);
        const now = await session.query<{ extversion: string }>(
          'SELECT extversion FROM pg_extension WHERE extname = $1',
          [extension.name],
        );
        result.extensionsUpdated.push({
          database: name,
          name: extension.name,
          from: extension.installed_version,
          to: now.rows[0]?.extversion ?? extension.default_version,
        });
      }
      // After the extension updates: an updated extension may define new types or operators.
      await session.query('ANALYZE');
      result.analyzed.push(name);
    });
  }
  return result;
}
