import type { ExecutionDocument } from '../domain/document';
import type { DbSession, Ports } from '../ports';
import {
  ADMIN_DATABASE,
  attemptSessionName,
  endEarlierAttempts,
  greenTarget,
  quoteIdent,
  userDatabases,
  withSession,
} from './db';

export type PostUpgradeResult = NonNullable<ExecutionDocument['postUpgrade']>;

/**
 * Which tables this execution has analyzed, kept on green so that a retried PostUpgrade (a Lambda
 * that timed out halfway through a large cluster) resumes where the earlier attempt stopped.
 */
const PROGRESS_DDL = [
  'CREATE SCHEMA IF NOT EXISTS bluegreen',
  `CREATE TABLE IF NOT EXISTS bluegreen.analyze_progress (
     execution_id text NOT NULL,
     database text NOT NULL,
     relation text NOT NULL,
     analyzed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
     PRIMARY KEY (execution_id, database, relation)
   )`,
];

/** Every table of a database whose statistics the planner uses (not the catalogue's, not ours). */
async function tablesOf(session: DbSession): Promise<string[]> {
  const result = await session.query<{ relation: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS relation
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'm', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'bluegreen')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
      ORDER BY 1`,
  );
  return result.rows.map((row) => row.relation);
}

/** Whether the upgrade this run asked for changes the major version (statistics are lost only then). */
function isMajorUpgrade(doc: ExecutionDocument): boolean {
  return doc.upgrade?.isMajor ?? doc.blue?.upgrade?.isMajor ?? false;
}

/**
 * PostUpgrade (docs/architecture.md): update each installed extension for which the new engine
 * offers a newer default version (`pg_available_extensions`); and, after a MAJOR upgrade only
 * (planner statistics do not survive one; a minor upgrade keeps them), ANALYZE every table of every
 * user database, one table at a time, recording each in `bluegreen.analyze_progress` on green so
 * that a retry resumes. A retry first ends its own earlier attempt's sessions.
 */
export async function postUpgrade(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<PostUpgradeResult> {
  const target = await greenTarget(doc, ports.clusters);
  const applicationName = attemptSessionName(doc, 'PostUpgrade');
  const executionId = doc.input.executionId;
  const major = isMajorUpgrade(doc);
  const { databases, done, endedSessions } = await withSession(
    ports.database,
    target,
    ADMIN_DATABASE,
    async (admin) => {
      const ended = await endEarlierAttempts(admin, applicationName, ports.clock);
      for (const statement of PROGRESS_DDL) await admin.query(statement);
      const progress = await admin.query<{ database: string; relation: string }>(
        'SELECT database, relation FROM bluegreen.analyze_progress WHERE execution_id = $1',
        [executionId],
      );
      return {
        databases: await userDatabases(admin),
        done: new Set(progress.rows.map((row) => `${row.database}\u0000${row.relation}`)),
        endedSessions: ended,
      };
    },
    applicationName,
  );
  const result: PostUpgradeResult = {
    analyzed: [],
    extensionsUpdated: [],
    analyze: major ? 'major upgrade: every table' : 'skipped: a minor upgrade keeps the statistics',
    tablesAnalyzed: 0,
    tablesResumed: 0,
    ...(endedSessions ? { endedEarlierSessions: endedSessions } : {}),
  };
  await withSession(
    ports.database,
    target,
    ADMIN_DATABASE,
    async (admin) => {
      for (const name of databases) {
        await withSession(
          ports.database,
          target,
          name,
          async (session) => {
            const outdated = await session.query<{
              name: string;
              installed_version: string;
              default_version: string;
            }>(
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
            if (!major) return;
            // After the extension updates: an updated extension may define new types or operators.
            for (const relation of await tablesOf(session)) {
              if (done.has(`${name}\u0000${relation}`)) {
                result.tablesResumed = (result.tablesResumed ?? 0) + 1;
                continue;
              }
              await session.query(`ANALYZE ${relation}`);
              await admin.query(
                'INSERT INTO bluegreen.analyze_progress (execution_id, database, relation) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
                [executionId, name, relation],
              );
              result.tablesAnalyzed = (result.tablesAnalyzed ?? 0) + 1;
            }
            result.analyzed.push(name);
          },
          applicationName,
        );
      }
    },
    applicationName,
  );
  return result;
}
