import type { ExecutionDocument } from '../domain/document';
import type { DeploymentInput } from '../domain/input';
import type { Cluster, DbSession, Ports } from '../ports';

/**
 * The database half of online mode's preflight (docs/online-mode.md, "Preflight"), run by
 * InspectBlue on blue before anything is changed. Logical replication carries every table of every
 * replicated database (the fence's databases) through a publication `FOR ALL TABLES`, one slot and
 * one apply worker per database. Failback (after cutover, green → blue) needs the same of green's
 * tables, which are blue's, and the same headroom, green inheriting blue's settings.
 */

/** Which streams the run will start: blue → green (online mode) and green → blue (failback). */
export interface Streams {
  forward: boolean;
  reverse: boolean;
}

export function streamsOf(doc: ExecutionDocument): Streams {
  return { forward: doc.input.mode === 'online', reverse: doc.input.failback };
}

const LOGICAL_REPLICATION = 'rds.logical_replication';

/** How to turn logical replication on in a cluster parameter group (a default group cannot be changed). */
function turnOn(group: string): string {
  return group.startsWith('default.')
    ? `${group} is a default group, which cannot be changed: create a custom cluster parameter group of the same family with ${LOGICAL_REPLICATION} = 1 and attach it`
    : `set it to 1 (aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name ${group} --parameters ParameterName=${LOGICAL_REPLICATION},ParameterValue=1,ApplyMethod=pending-reboot)`;
}

/**
 * Preflight's control-plane half (Preflight cannot connect to blue): `rds.logical_replication` in
 * the cluster parameter groups. Online mode publishes from blue: blue's group must set it to 1 and
 * every member must run with it (`in-sync`; it is static, so it needs a reboot, which the workflow
 * never does to blue). Failback publishes from green after cutover: green's group (the input's
 * target group, or blue's, which the clone inherits) must set it to 1; green starts with it.
 * InspectBlue then checks that blue's `wal_level` really is `logical`.
 */
export async function logicalReplicationProblems(
  blue: Cluster,
  input: Pick<DeploymentInput, 'mode' | 'failback' | 'clusterParameterGroupName'>,
  { clusters }: Pick<Ports, 'clusters'>,
): Promise<string[]> {
  const problems: string[] = [];
  const blueGroup = blue.clusterParameterGroupName;
  if (input.mode === 'online') {
    const value = blueGroup ? await clusters.clusterParameterValue(blueGroup, LOGICAL_REPLICATION) : undefined;
    if (!blueGroup) {
      problems.push(
        `online mode needs ${LOGICAL_REPLICATION} = 1 on blue, and RDS reports no cluster parameter group for blue cluster ${blue.id}`,
      );
    } else if (value !== '1') {
      problems.push(
        `online mode needs ${LOGICAL_REPLICATION} = 1 on blue, and blue's cluster parameter group ${blueGroup} ${value === undefined ? 'leaves it at its default (0)' : `sets it to ${value}`}; ${turnOn(blueGroup)}, then reboot blue's writer in a quiet moment: the workflow never reboots blue`,
      );
    } else {
      const behind = blue.members.filter((m) => m.parameterGroupStatus && m.parameterGroupStatus !== 'in-sync');
      if (behind.length) {
        problems.push(
          `${LOGICAL_REPLICATION} = 1 in ${blueGroup} is not yet in effect on blue: ${behind.map((m) => `${m.isWriter ? 'writer' : 'reader'} ${m.instanceId} is ${m.parameterGroupStatus ?? '?'}`).join(', ')}; reboot ${behind.length === 1 ? 'it' : 'them'} (aws rds reboot-db-instance --db-instance-identifier ${behind[0]?.instanceId ?? ''}) in a quiet moment, then start the deployment again: the workflow never reboots blue`,
        );
      }
    }
  }
  const greenGroup = input.clusterParameterGroupName ?? blueGroup;
  const checkedAlready = input.mode === 'online' && greenGroup === blueGroup;
  if (input.failback && greenGroup && !checkedAlready) {
    const value = await clusters.clusterParameterValue(greenGroup, LOGICAL_REPLICATION);
    if (value !== '1') {
      const whose = input.clusterParameterGroupName
        ? `green's target cluster parameter group ${greenGroup} (clusterParameterGroupName)`
        : `blue's cluster parameter group ${greenGroup}, which green inherits,`;
      problems.push(
        `failback streams from green to blue after cutover, so green needs ${LOGICAL_REPLICATION} = 1, and ${whose} ${value === undefined ? 'leaves it at its default (0)' : `sets it to ${value}`}; ${turnOn(greenGroup)} (green starts with it: no reboot of blue is needed for failback alone)`,
      );
    }
  }
  return problems;
}

/** An unlogged table (InspectBlue lists them): logical replication skips it. */
export function unloggedProblem(table: string): string {
  const [database, name] = table.split(': ');
  return `${database}: table ${name} is unlogged, and logical replication does not carry unlogged tables, so its rows would be lost at switchover; ALTER TABLE ${name} SET LOGGED, or deploy in offline mode without failback`;
}

/**
 * Tables replication cannot carry (or whose UPDATE and DELETE would fail once published), and
 * large objects, in one database.
 */
export async function databaseProblems(session: DbSession, database: string): Promise<string[]> {
  const problems: string[] = [];
  const tables = await session.query<{ name: string; identity: string; keyed: boolean; candidates: string | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relreplident AS identity,
            EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary) AS keyed,
            (SELECT string_agg(quote_ident(i.relname), ', ' ORDER BY i.relname)
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
              WHERE x.indrelid = c.oid AND x.indisunique AND x.indimmediate AND x.indisvalid
                AND x.indpred IS NULL AND x.indexprs IS NULL
                AND NOT EXISTS (SELECT 1 FROM unnest(x.indkey) k
                                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k
                                 WHERE NOT a.attnotnull)) AS candidates
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence = 'p'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND CASE c.relreplident
              WHEN 'd' THEN NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary)
              WHEN 'i' THEN NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisreplident)
              WHEN 'n' THEN true
              ELSE false
            END
      ORDER BY 1`,
  );
  for (const table of tables.rows) {
    const what =
      table.identity === 'n'
        ? 'has REPLICA IDENTITY NOTHING'
        : table.identity === 'i'
          ? 'has a replica identity index that no longer exists'
          : 'has neither a primary key nor a replica identity';
    const index = table.candidates?.split(', ')[0];
    const fixes = [
      table.keyed
        ? `ALTER TABLE ${table.name} REPLICA IDENTITY DEFAULT (its primary key)`
        : index
          ? `add a primary key, or ALTER TABLE ${table.name} REPLICA IDENTITY USING INDEX ${index}`
          : 'add a primary key, or a unique index on NOT NULL columns and REPLICA IDENTITY USING INDEX it',
      `or, slow because every change applied scans the table, ALTER TABLE ${table.name} REPLICA IDENTITY FULL`,
    ];
    problems.push(
      `${database}: table ${table.name} ${what}: once it is published, every UPDATE and DELETE on it fails (on blue in online mode, on green for failback), and no change could be applied on the other side; ${fixes.join(', ')}`,
    );
  }
  const objects = await session.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_largeobject_metadata');
  const count = objects.rows[0]?.n ?? 0;
  if (count > 0) {
    problems.push(
      `${database}: has ${count} large object(s) (pg_largeobject_metadata), and logical replication does not carry large objects, so their changes would be lost at switchover; move them into bytea columns, or deploy in offline mode without failback`,
    );
  }
  return problems;
}

/** The server's replication settings and what already uses them. */
export interface ServerHeadroom {
  walLevel: string;
  maxSlots: number;
  slotsUsed: number;
  maxSenders: number;
  sendersUsed: number;
  maxLogicalWorkers: number;
  logicalWorkersUsed: number;
  maxWorkers: number;
  /** Background workers running now (the launcher, apply and parallel workers, extensions' workers). */
  workersUsed: number;
  launcherRunning: boolean;
}

/** PostgreSQL's own processes that max_worker_processes does not count. */
const NOT_BACKGROUND_WORKERS = [
  'client backend',
  'autovacuum launcher',
  'autovacuum worker',
  'background writer',
  'checkpointer',
  'walwriter',
  'walsender',
  'walreceiver',
  'walsummarizer',
  'startup',
  'archiver',
  'logger',
  'slotsync worker',
  'io worker',
  'standalone backend',
];
const LOGICAL_WORKERS = [
  'logical replication worker',
  'logical replication apply worker',
  'logical replication tablesync worker',
  'logical replication parallel worker',
];

export async function serverHeadroom(session: DbSession): Promise<ServerHeadroom> {
  const result = await session.query<ServerHeadroom>(
    `SELECT current_setting('wal_level') AS "walLevel",
            current_setting('max_replication_slots')::int AS "maxSlots",
            (SELECT count(*) FROM pg_replication_slots)::int AS "slotsUsed",
            current_setting('max_wal_senders')::int AS "maxSenders",
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')::int AS "sendersUsed",
            current_setting('max_logical_replication_workers')::int AS "maxLogicalWorkers",
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = ANY ($1))::int AS "logicalWorkersUsed",
            current_setting('max_worker_processes')::int AS "maxWorkers",
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type <> ALL ($2))::int AS "workersUsed",
            EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'logical replication launcher') AS "launcherRunning"`,
    [LOGICAL_WORKERS, NOT_BACKGROUND_WORKERS],
  );
  const row = result.rows[0];
  if (!row) throw new Error('the server returned no settings');
  return row;
}

/**
 * What the streams need of the server's settings, each shortfall explained with its numbers.
 * `databases` are the replicated databases: one slot, one walsender and one apply worker each.
 */
export function headroomProblems(
  server: ServerHeadroom,
  databases: readonly string[],
  streams: Streams,
  parameterGroup: string,
): string[] {
  const n = databases.length;
  const each = `one per replicated database, ${n} (${databases.join(', ')})`;
  const raise = (name: string, atLeast: number, where: string) =>
    `raise ${name} to at least ${atLeast} in ${where} and reboot (the workflow never reboots blue)`;
  const problems: string[] = [];
  if (streams.forward && server.walLevel !== 'logical') {
    problems.push(
      `rds.logical_replication is not in effect on blue: wal_level is ${server.walLevel}, not logical; set rds.logical_replication = 1 in ${parameterGroup} and reboot blue's writer (the workflow never reboots blue)`,
    );
  }
  if (streams.forward) {
    const freeSlots = server.maxSlots - server.slotsUsed;
    if (freeSlots < n) {
      problems.push(
        `replication slots: blue has max_replication_slots = ${server.maxSlots} with ${server.slotsUsed} in use, so ${freeSlots} free; online mode needs ${each}; ${raise('max_replication_slots', server.slotsUsed + n, parameterGroup)}, or drop unused slots (pg_replication_slots)`,
      );
    }
    const freeSenders = server.maxSenders - server.sendersUsed;
    if (freeSenders < n) {
      problems.push(
        `WAL senders: blue has max_wal_senders = ${server.maxSenders} with ${server.sendersUsed} in use, so ${freeSenders} free; online mode needs ${each}; ${raise('max_wal_senders', server.sendersUsed + n, parameterGroup)}`,
      );
    }
  } else if (streams.reverse) {
    // Failback only: green, which inherits blue's settings and drops the slots it inherited, publishes.
    if (server.maxSlots < n) {
      problems.push(
        `replication slots: max_replication_slots = ${server.maxSlots}, which green inherits; failback needs ${each} on green; ${raise('max_replication_slots', n, parameterGroup)}`,
      );
    }
    if (server.maxSenders < n) {
      problems.push(
        `WAL senders: max_wal_senders = ${server.maxSenders}, which green inherits; failback needs ${each} on green; ${raise('max_wal_senders', n, parameterGroup)}`,
      );
    }
  }
  // The subscriber (green in online mode, blue for failback) runs one apply worker per database,
  // beside the logical replication workers and background workers already running on blue.
  const subscriber = streams.forward
    ? `on green (online mode; green inherits blue's settings${streams.reverse ? ', and blue needs the same for failback' : ''})`
    : 'on blue after cutover (failback)';
  const logicalNeeded = server.logicalWorkersUsed + n;
  if (server.maxLogicalWorkers < logicalNeeded) {
    problems.push(
      `logical replication workers: max_logical_replication_workers = ${server.maxLogicalWorkers}, ${server.logicalWorkersUsed} in use on blue now; ${subscriber} it needs ${n} apply worker(s), ${each}, so at least ${logicalNeeded}; ${raise('max_logical_replication_workers', logicalNeeded, parameterGroup)}`,
    );
  }
  const workersNeeded = server.workersUsed + n + (server.launcherRunning ? 0 : 1);
  if (server.maxWorkers < workersNeeded) {
    problems.push(
      `worker processes: max_worker_processes = ${server.maxWorkers}, ${server.workersUsed} background worker(s) running on blue now (the logical replication launcher${server.launcherRunning ? '' : ', which must start too'}, parallel and extensions' workers); ${subscriber} it needs ${n} more for apply workers, so at least ${workersNeeded}; ${raise('max_worker_processes', workersNeeded, parameterGroup)}`,
    );
  }
  return problems;
}
