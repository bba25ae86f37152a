import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { ADMIN_DATABASE, blueTarget, userDatabases, withSession } from './db';
import {
  databaseProblems,
  headroomProblems,
  serverHeadroom,
  streamsOf,
  unloggedProblem,
} from './preflight-replication';

/**
 * InspectBlue: Preflight's look inside blue's databases, before the lock and before any change
 * (Preflight itself runs outside the VPC and cannot connect). It lists the unlogged tables: an
 * Aurora clone keeps their rows, but they are not crash-safe and logical replication skips them,
 * so the person who approves should know they are there (docs/fence.md).
 *
 * With replication (online mode, or failback after cutover) it refuses, naming each offender and
 * the fix, what replication could not carry: tables without a usable replica identity, large
 * objects, unlogged tables, too little slot, walsender or worker headroom, and (online mode)
 * `rds.logical_replication` not in effect (docs/online-mode.md, "Preflight").
 */
export async function inspectBlue(
  doc: ExecutionDocument,
  { database }: Pick<Ports, 'database'>,
): Promise<NonNullable<ExecutionDocument['inspect']>> {
  const target = blueTarget(doc);
  const streams = streamsOf(doc);
  const replicating = streams.forward || streams.reverse;
  const { databases, headroom } = await withSession(database, target, ADMIN_DATABASE, async (session) => ({
    databases: await userDatabases(session),
    headroom: replicating ? await serverHeadroom(session) : undefined,
  }));
  const unloggedTables: string[] = [];
  const problems: string[] = [];
  for (const name of databases) {
    const rows = await withSession(database, target, name, async (session) => {
      if (replicating) problems.push(...(await databaseProblems(session, name)));
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
  if (headroom) {
    const group = doc.blue?.clusterParameterGroupName;
    problems.push(
      ...unloggedTables.map(unloggedProblem),
      ...headroomProblems(
        headroom,
        databases,
        streams,
        group ? `cluster parameter group ${group}` : "blue's cluster parameter group",
      ),
    );
  }
  if (problems.length) {
    const why = streams.forward ? 'online mode' : 'failback';
    throw new PreconditionFailed(
      `InspectBlue found ${problems.length} problem(s) for ${why} on blue cluster ${target.clusterId}, nothing was changed: ${problems.join('; ')}.`,
    );
  }
  return { databases, unloggedTables };
}
