import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed, ReplicationFailed, WritesAfterFence } from '../domain/errors';
import type { DbSession, DbTarget, Ports } from '../ports';
import { ADMIN_DATABASE, AWS_INTERNAL_ROLES, blueTarget, greenTarget, quoteIdent, withSession } from './db';
import { groupsActive, poll, requireBlue, settle } from './common';
import { fenceWrites, type FenceOptions, type FenceResult } from './fence-writes';
import {
  createPublicationAndSlot,
  createSubscription,
  currentLsn,
  DDL_GUARD_BYPASS,
  dropPublication,
  dropSlot,
  dropSubscription,
  fenceRowApplied,
  localChanges,
  moveSequences,
  preparedTransactions,
  replicationNames,
  replicationPrefix,
  sequencePositions,
  slotConfirmedPast,
  subscriberStatus,
  type ReplicationNames,
} from './replication';

/**
 * Failback (docs/failback.md): blue follows green after the cutover, and can take over again
 * during its retention. The replication primitives are the online mode's (replication.ts), run
 * in the other direction: green publishes, blue subscribes.
 */

/** The fence row's key on green when failing back (blue's own row has the execution id). */
export function failbackFenceKey(doc: ExecutionDocument): string {
  return `${doc.input.executionId}:failback`;
}

export function failbackNames(doc: ExecutionDocument, database: string): ReplicationNames {
  return replicationNames(doc.input.executionId, database, 'green-to-blue');
}

/** The databases the fence covered on blue: every user database, the admin one (the fence table) too. */
function fencedDatabases(doc: ExecutionDocument): string[] {
  const databases = doc.fence?.databases;
  if (!databases?.length) {
    throw new PreconditionFailed(
      'Failback needs $.fence: blue was never fenced, so green cannot be proven equal to it',
    );
  }
  return databases;
}

/** Databases with a reverse replication (as StartFailbackReplication recorded, else every fenced one). */
function replicatedDatabases(doc: ExecutionDocument): string[] {
  return doc.failbackReplication?.databases ?? doc.fence?.databases ?? [];
}

interface TableShape {
  name: string;
  columns: string[];
  /** NOT NULL columns without a default: a row without them cannot be applied. */
  required: string[];
}

/** Every persistent table of the database (partitioned roots, not their partitions), with its columns. */
async function tableShapes(session: DbSession): Promise<Map<string, TableShape>> {
  const result = await session.query<{ name: string; columns: string[] | null; required: string[] | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name,
            array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attgenerated = '') AS columns,
            array_agg(a.attname::text ORDER BY a.attnum)
              FILTER (WHERE a.attgenerated = '' AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = '') AS required
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      GROUP BY 1 ORDER BY 1`,
  );
  return new Map(
    result.rows.map((r) => [r.name, { name: r.name, columns: r.columns ?? [], required: r.required ?? [] }]),
  );
}

async function serverVersionNum(session: DbSession): Promise<number> {
  const result = await session.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Number(result.rows[0]?.v ?? 0);
}

/**
 * What green publishes to blue in one database: blue's tables only (a table the migrations added
 * stays on green), each with the columns both have. Green's extra columns need a column list
 * (PostgreSQL 15+); what blue cannot apply is refused with the reason, before anything is created.
 */
export async function publishedTables(
  blue: DbSession,
  green: DbSession,
  database: string,
): Promise<{ tables: string[]; problems: string[]; greenOnly: string[] }> {
  const blueTables = await tableShapes(blue);
  const greenTables = await tableShapes(green);
  const columnLists = (await serverVersionNum(green)) >= 150000;
  const tables: string[] = [];
  const problems: string[] = [];
  for (const table of blueTables.values()) {
    const onGreen = greenTables.get(table.name);
    if (!onGreen) {
      problems.push(
        `${database}: table ${table.name} is on blue but not on green (dropped or renamed by the migrations), so blue cannot follow green`,
      );
      continue;
    }
    const missing = table.required.filter((c) => !onGreen.columns.includes(c));
    if (missing.length) {
      problems.push(
        `${database}: ${table.name} on blue has NOT NULL column(s) without a default that green no longer has (${missing.join(', ')}), so green's rows cannot be applied on blue`,
      );
      continue;
    }
    const shared = onGreen.columns.filter((c) => table.columns.includes(c));
    const extra = onGreen.columns.filter((c) => !table.columns.includes(c));
    if (columnLists) {
      // Always a column list where the server has them: a column added on green later (DDL during
      // the retention) is then simply not published, instead of stopping blue's apply.
      tables.push(`${table.name} (${shared.map(quoteIdent).join(', ')})`);
    } else if (!extra.length) {
      tables.push(table.name);
    } else {
      problems.push(
        `${database}: ${table.name} has column(s) on green that blue lacks (${extra.join(', ')}); publishing without them needs a column list, which needs PostgreSQL 15 or later on green`,
      );
    }
  }
  const greenOnly = [...greenTables.keys()].filter((name) => !blueTables.has(name)).map((n) => `${database}: ${n}`);
  return { tables, problems, greenOnly };
}

/**
 * StartFailbackReplication: at the cutover, before green is opened, while blue is fenced and green
 * has taken no application write, so both hold the same rows. Per database: on green a
 * publication of blue's tables and a slot (created now, so it holds every change green takes from
 * here on); on blue a subscription (copy_data = false, create_slot = false, on that slot), enabled.
 * Blue stays fenced and closed to applications; its apply workers write regardless of
 * default_transaction_read_only. What blue could not apply is refused before anything is created;
 * a failure part-way removes what this step made, so the rollback finds blue as it was.
 */
export async function startFailbackReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['failbackReplication']>> {
  const databases = fencedDatabases(doc);
  const green = await greenTarget(doc, ports.clusters);
  const blue = blueTarget(doc);
  const plans: { database: string; tables: string[] }[] = [];
  const problems: string[] = [];
  const greenOnly: string[] = [];
  for (const database of databases) {
    await withSession(ports.database, blue, database, (b) =>
      withSession(ports.database, green, database, async (g) => {
        const plan = await publishedTables(b, g, database);
        problems.push(...plan.problems);
        greenOnly.push(...plan.greenOnly);
        if (plan.tables.length) plans.push({ database, tables: plan.tables });
      }),
    );
  }
  if (problems.length) {
    throw new PreconditionFailed(
      `Failback cannot be prepared: blue could not follow green. ${problems.join('; ')}. Nothing was created; run without failback, or with migrations that keep blue's tables and NOT NULL columns.`,
    );
  }
  try {
    for (const { database, tables } of plans) {
      const names = failbackNames(doc, database);
      await withSession(ports.database, green, database, async (g) => {
        const exists = await g.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [names.publication]);
        if (!exists.rowCount) {
          await g.query(
            `CREATE PUBLICATION ${quoteIdent(names.publication)} FOR TABLE ${tables.join(', ')} WITH (publish_via_partition_root = true)`,
          );
        }
        await createPublicationAndSlot(g, names);
      });
      const conninfo = await ports.database.replicationConninfo(green, database);
      await withSession(ports.database, blue, database, async (b) => {
        // Online mode's DDL guard on blue refuses DDL from applications, not the workflow's own.
        await b.query(`SET ${DDL_GUARD_BYPASS} = on`);
        return createSubscription(b, names, conninfo);
      });
    }
    const startLsn = await withSession(ports.database, green, ADMIN_DATABASE, currentLsn);
    return {
      databases: plans.map((p) => p.database),
      ...(greenOnly.length ? { notFollowed: greenOnly } : {}),
      startLsn,
      startedAt: ports.clock.now().toISOString(),
    };
  } catch (error) {
    // Leave blue as it was for the rollback: no subscription on it, no slot holding WAL on green.
    await removeReverseReplication(
      doc,
      plans.map((p) => p.database),
      green,
      ports,
    ).catch(() => undefined);
    throw error;
  }
}

async function removeReverseReplication(
  doc: ExecutionDocument,
  databases: readonly string[],
  green: DbTarget | undefined,
  ports: Pick<Ports, 'database' | 'clock'>,
): Promise<string[]> {
  const blue = blueTarget(doc);
  const removed: string[] = [];
  for (const database of databases) {
    const names = failbackNames(doc, database);
    // Blue first: its subscription stops pulling, then green's slot is free to go.
    const dropped = await withSession(ports.database, blue, database, (b) => dropSubscription(b, names.subscription));
    if (green) {
      await withSession(ports.database, green, database, async (g) => {
        await dropSlot(g, names.slot, ports.clock);
        await dropPublication(g, names.publication);
      });
    }
    if (dropped) removed.push(database);
  }
  return removed;
}

/**
 * EndFailbackReplication (failing back, once blue has caught up): the subscriptions on blue only.
 * Green's slots and publications stay until CloseGreen, once green is closed: they show
 * whether green took a write after blue caught up. Idempotent.
 */
export async function endFailbackReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['failbackStopped']>> {
  const blue = blueTarget(doc);
  const databases: string[] = [];
  for (const database of replicatedDatabases(doc)) {
    const names = failbackNames(doc, database);
    if (await withSession(ports.database, blue, database, (b) => dropSubscription(b, names.subscription))) {
      databases.push(database);
    }
  }
  return { databases, stoppedAt: ports.clock.now().toISOString() };
}

/**
 * StopFailbackReplication (the retention ran out: keep green) and RemoveFailbackReplication
 * (rollback): the subscription on blue, then the slot and the publication on green. Idempotent.
 * Without green (deleted by hand) only blue's side is removed.
 */
export async function stopFailbackReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['failbackStopped']>> {
  const green = (await ports.clusters.describeCluster(doc.input.greenClusterId))
    ? await greenTarget(doc, ports.clusters)
    : undefined;
  const databases = await removeReverseReplication(doc, replicatedDatabases(doc), green, ports);
  return { databases, stoppedAt: ports.clock.now().toISOString() };
}

/** The slots of the reverse replication on green: their walsenders stay through green's fence. */
function failbackSlots(doc: ExecutionDocument): string[] {
  return replicatedDatabases(doc).map((database) => failbackNames(doc, database).slot);
}

/**
 * FenceGreen: failing back starts with the same fence as blue's, on green (new sessions
 * read-only, every session ended, a fence row), under `<execution id>:failback`. Blue's walsenders
 * on green stay: they only read.
 */
export async function fenceGreen(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
  options: FenceOptions = {},
): Promise<FenceResult> {
  const green = await greenTarget(doc, ports.clusters);
  return fenceWrites(doc, ports, {
    // The switchover fence's short looks (replication-workflow.ts): writes are frozen meanwhile.
    pollMs: 50,
    graceMs: 100,
    ...options,
    target: green,
    fenceKey: failbackFenceKey(doc),
    exemptSlots: failbackSlots(doc),
  });
}

/**
 * CheckBlueCaughtUp: blue has green's fence row (so every earlier write in the admin database),
 * and in every other replicated database blue has confirmed green's WAL past the fence's LSN (apply
 * follows commit order, so every earlier commit is on blue). A stream that stopped (DDL on green,
 * an apply error) says so in the status; the loop's bound then ends the run with it.
 */
export async function checkBlueCaughtUp(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<PollState> {
  const fence = doc.greenFence;
  if (!fence) throw new PreconditionFailed('CheckBlueCaughtUp ran before FenceGreen');
  const green = await greenTarget(doc, ports.clusters);
  const blue = blueTarget(doc);
  const key = failbackFenceKey(doc);
  const seen = await settle(doc, ports.clock, async () => {
    const behind: string[] = [];
    for (const database of replicatedDatabases(doc)) {
      const names = failbackNames(doc, database);
      const confirmed = await withSession(ports.database, green, database, (g) =>
        slotConfirmedPast(g, names.slot, fence.lsn),
      );
      const applied =
        database !== ADMIN_DATABASE ||
        (await withSession(ports.database, blue, database, (b) => fenceRowApplied(b, key)));
      if (confirmed && applied) continue;
      const status = await withSession(ports.database, blue, database, (b) => subscriberStatus(b, names.subscription));
      if (!status.exists) {
        throw new ReplicationFailed(
          `Blue ${blue.clusterId} has no subscription ${names.subscription} in database ${database}: the reverse replication was removed, so blue cannot be proven to hold green's writes. Green is fenced (read-only) and holds them all: re-open green (ALTER DATABASE … RESET default_transaction_read_only on green) to keep it.`,
        );
      }
      if (status.applyErrors > 0) {
        // The stream stopped (DDL on green during the retention, a row blue refuses): it will not
        // catch up by waiting, and writes are frozen meanwhile. Stop now and say what to do.
        throw new ReplicationFailed(
          `Blue ${blue.clusterId} cannot apply green's changes in database ${database} (${status.applyErrors} apply error(s) of subscription ${names.subscription}; blue's PostgreSQL log has the error, often DDL on green during the retention: a renamed or dropped table or column). Blue does not have every write, so the failback stopped. Green is fenced (read-only) and holds every write: to stay on green, ALTER DATABASE … RESET default_transaction_read_only on green (${fence.changedDatabases.join(', ')}). To fail back anyway, fix blue's schema so that the change applies (the subscription retries by itself) and fail back by hand as docs/failback.md describes.`,
        );
      }
      behind.push(
        `${database} (${status.workerRunning ? 'applying' : 'apply worker not running'}${status.applyErrors ? `, ${status.applyErrors} apply error(s): see blue's log` : ''})`,
      );
    }
    return { done: behind.length === 0, status: behind.length ? `behind: ${behind.join(', ')}` : 'caught up' };
  });
  return poll(doc, 'blueCaughtUp', ports.clock, seen, `blue to apply every write green committed before its fence`);
}

/** MoveBlueSequences: every sequence on blue past green's value (sequences are not replicated). */
export async function moveBlueSequences(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters'>,
): Promise<NonNullable<ExecutionDocument['failbackSequences']>> {
  const green = await greenTarget(doc, ports.clusters);
  const blue = blueTarget(doc);
  let moved = 0;
  const databases = fencedDatabases(doc);
  for (const database of databases) {
    const positions = await withSession(ports.database, green, database, sequencePositions);
    const result = await withSession(ports.database, blue, database, (b) => moveSequences(b, positions));
    moved += result.moved.length;
  }
  return { moved, databases };
}

/**
 * EndGreenSessions: once the CNAME points at blue again, every session still on green is ended:
 * those opened during the failback freeze are read-only for as long as they live, and a pool that
 * keeps them would never write again. Ended, the pool reconnects through the CNAME, to blue. One
 * whose resolver still answers with green reconnects there (read-only again) until
 * CloseGreenToApplications is in effect; CloseGreen ends it then.
 */
export async function endGreenSessions(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<{ ended: number; endedAt: string }> {
  const green = await greenTarget(doc, ports.clusters);
  const ended = await endGreenSessionsOn(ports, green);
  return { ended, endedAt: ports.clock.now().toISOString() };
}

/** Ends every session on green but this one and AWS's internal roles'. */
async function endGreenSessionsOn(ports: Pick<Ports, 'database'>, green: DbTarget): Promise<number> {
  return withSession(ports.database, green, ADMIN_DATABASE, async (session) => {
    const r = await session.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE datid IS NOT NULL AND pid <> pg_backend_pid()
          AND backend_type NOT IN ('autovacuum worker', 'autovacuum launcher')
          AND NOT (coalesce(usename, '') = ANY ($1::text[]))`,
      [AWS_INTERNAL_ROLES],
    );
    return r.rows.filter((x) => x.ok).length;
  });
}

/**
 * CloseGreen, once green is closed to applications (CheckGreenClosed): ends the sessions that
 * reconnected to green through a cached answer since EndGreenSessions, then reads green's failback
 * slots once more (EndFailbackReplication kept them): what they hold past blue's last confirmed
 * position was written on green after blue caught up, by a session that turned read-only off, and
 * blue lacks it (CloseBlue's check, the other way). Then the slots and publications go.
 */
export async function closeGreen(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['greenClosed']>> {
  const green = await greenTarget(doc, ports.clusters);
  const ended = await endGreenSessionsOn(ports, green);
  const prepared = await withSession(ports.database, green, ADMIN_DATABASE, preparedTransactions);
  const endedAt = ports.clock.now().toISOString();
  const found: string[] = [];
  const gone: string[] = [];
  let changes = 0;
  for (const database of replicatedDatabases(doc)) {
    const names = failbackNames(doc, database);
    const local = await withSession(ports.database, green, database, (s) => localChanges(s, names, ports.clock));
    if (!local) gone.push(names.slot);
    else if (local.changes > 0) {
      changes += local.changes;
      found.push(`database ${database}: ${local.changes} row change(s) in ${local.tables.join(', ')}`);
    }
  }
  if (prepared.length) {
    found.push(
      `prepared transaction(s) ${prepared.join(', ')}: COMMIT PREPARED would write on green what blue lacks; ROLLBACK PREPARED them (or copy their rows to blue and commit)`,
    );
  }
  if (found.length) {
    throw new WritesAfterFence(
      `Green ${green.clusterId} took writes after blue caught up with it (a session that reached green after its fence and turned read-only off): ${found.join('; ')}. Blue serves again and does not have them. Green is kept, fenced, with its failback slots as the evidence: copy those rows to blue by hand, then drop the slots and publications on green whose names start with ${replicationPrefix(doc.input.executionId, 'green-to-blue')}.`,
    );
  }
  const removed: string[] = [];
  for (const database of replicatedDatabases(doc)) {
    const names = failbackNames(doc, database);
    await withSession(ports.database, green, database, async (s) => {
      if (await dropSlot(s, names.slot, ports.clock)) removed.push(`slot ${names.slot}`);
      if (await dropPublication(s, names.publication)) removed.push(`publication ${names.publication}`);
    });
  }
  return { ended, endedAt, localChanges: changes, removed, ...(gone.length ? { alreadyGone: gone } : {}) };
}

/**
 * ReopenBlue, the forward cutover in reverse: blue gets its security groups back (when BlockWrites
 * detached them) and the CNAME is swapped back to blue's endpoint. Blue's write permission came
 * back just before (UnfenceBlueForFailback). Green keeps its groups for now, as blue kept its own
 * through the online switchover: a pool that FenceGreen disconnected reconnects to green through
 * its cached answer and gets fast read-only errors, where a detached group would hang its connect
 * until the client gives up. EndGreenSessions sends it to blue once the CNAME is in sync; then
 * CloseGreenToApplications takes green's groups away and CloseGreen ends what came back.
 */
export async function reopenBlue(
  doc: ExecutionDocument,
  { clusters, dns, clock }: Pick<Ports, 'clusters' | 'dns' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['failback']>> {
  const blue = requireBlue(doc);
  const current = await clusters.describeCluster(blue.id);
  if (!current) throw new PreconditionFailed(`Blue ${blue.id} is gone: there is nothing to fail back to.`);
  const wanted = doc.block ? blue.originalSecurityGroupIds : current.securityGroups.map((g) => g.id);
  if (
    doc.block &&
    !sameIds(
      current.securityGroups.map((g) => g.id),
      wanted,
    )
  ) {
    await clusters.setSecurityGroups(blue.id, wanted);
  }
  const { hostedZoneId, recordName, cutoverTtlSeconds } = doc.input.cname;
  const requestedAt = clock.now().toISOString();
  const changeId = await dns.upsertCname(
    hostedZoneId,
    recordName,
    blue.endpoint,
    cutoverTtlSeconds,
    `bluegreen ${doc.input.executionName}: fail back to ${blue.id}`,
  );
  return { changeId, target: blue.endpoint, requestedAt, securityGroupIds: wanted };
}

/**
 * CloseGreenToApplications, once blue serves and green's sessions were ended: green keeps only the
 * admin group, as BlockWrites did to blue (failback needs `security-group`). A client whose
 * resolver still has green's address then cannot connect any more. The workflow and blue's
 * walsenders reach green through the admin group.
 */
export async function closeGreenToApplications(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['greenClosedGroups']>> {
  const greenId = doc.input.greenClusterId;
  const green = await clusters.describeCluster(greenId);
  if (!green) throw new PreconditionFailed(`Green ${greenId} is gone: there is nothing to close.`);
  const securityGroupIds = [doc.input.adminSecurityGroupId];
  if (
    !sameIds(
      green.securityGroups.map((g) => g.id),
      securityGroupIds,
    )
  ) {
    await clusters.setSecurityGroups(greenId, securityGroupIds);
  }
  return { securityGroupIds, requestedAt: clock.now().toISOString() };
}

/** CheckGreenClosed: green's groups are down to the admin group, in effect. */
export async function checkGreenClosed(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const wanted = doc.greenClosedGroups?.securityGroupIds;
  if (!wanted) throw new PreconditionFailed('CheckGreenClosed ran before CloseGreenToApplications');
  const seen = await settle(doc, clock, async () => {
    const green = await clusters.describeCluster(doc.input.greenClusterId);
    return {
      done: green !== undefined && groupsActive(green, wanted),
      status: `green's ${(green?.securityGroups ?? []).map((g) => `${g.id}:${g.status}`).join(',') || 'gone'}`,
    };
  });
  return poll(doc, 'greenClosed', clock, seen, "green's groups down to the admin group");
}

function sameIds(have: readonly string[], wanted: readonly string[]): boolean {
  return have.length === wanted.length && wanted.every((id) => have.includes(id));
}

/**
 * CheckBlueReopened: blue's groups active and the CNAME change in sync. `freezeMs` is the
 * failback's write freeze as the workflow sees it: green's fence row to the CNAME in sync on blue.
 */
export async function checkBlueReopened(
  doc: ExecutionDocument,
  { clusters, dns, clock }: Pick<Ports, 'clusters' | 'dns' | 'clock'>,
): Promise<PollState & { freezeMs?: number }> {
  const failback = doc.failback;
  if (!failback) throw new PreconditionFailed('CheckBlueReopened ran before ReopenBlue');
  const blue = requireBlue(doc);
  const seen = await settle(doc, clock, async () => {
    const cluster = await clusters.describeCluster(blue.id);
    const groups = cluster?.securityGroups ?? [];
    const groupsDone =
      groups.length === failback.securityGroupIds.length &&
      groups.every((g) => g.status === 'active' && failback.securityGroupIds.includes(g.id));
    const change = await dns.changeStatus(failback.changeId);
    return {
      done: groupsDone && change === 'INSYNC',
      status: `groups ${groups.map((g) => `${g.id}:${g.status}`).join(',')}; CNAME ${change}`,
    };
  });
  const state = poll(doc, 'blueReopened', clock, seen, "blue's security groups and the CNAME back to blue");
  if (!state.done || !doc.greenFence) return state;
  return { ...state, freezeMs: Date.parse(state.checkedAt) - Date.parse(doc.greenFence.fencedAt) };
}
