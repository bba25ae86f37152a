import type { ExecutionDocument, PollState, ReplicatedDatabase } from '../domain/document';
import { ReplicationFailed, WritesAfterFence } from '../domain/errors';
import type { Database, DbSession, DbTarget, Ports } from '../ports';
import { poll, settle } from './common';
import { ADMIN_DATABASE, blueTarget, greenTarget, openSession, userDatabases, withSession } from './db';
import { FENCE_TABLE_DDL, fenceWrites, type FenceResult } from './fence-writes';
import { inheritedSlotsOf, majorUpgradeAhead } from './verify-clone';
import {
  createPublicationAndSlot,
  createSubscription,
  currentLsn,
  ddlGuardNames,
  DDL_GUARD_BYPASS,
  dropInherited,
  dropPublication,
  dropSlot,
  dropSubscription,
  fenceRowApplied,
  installDdlGuard,
  moveSequences,
  preparedTransactions,
  publisherLag,
  readStartLsn,
  removeDdlGuard,
  replicationNames,
  replicationPrefix,
  schemaFingerprint,
  sequencePositions,
  slotConfirmedPast,
  subscriberStatus,
  unconfirmedChanges,
} from './replication';

/**
 * The online mode's states (docs/online-mode.md): logical replication from blue to green, from
 * the clone's own LSN, so that blue serves until the switchover.
 *
 * PrepareReplication (before the clone) → CheckRestorable → clone → PrepareGreenReplication →
 * migrations, upgrade, readers → StartReplication → CheckReplication (until the lag is small) →
 * smoke tests, approval → GuardGreen (which looks once more) → OpenGuardedGreen → SwitchoverFence
 * → CatchUpGreen → UnguardGreen → SwapCname → EndBlueSessions → blue's groups detached →
 * CloseBlue (close-blue.ts: blue's slots read once more, then dropped). Any failure before
 * UnguardGreen rolls back through RemoveReplication (which also ends a dry run).
 */

type ReplicationDoc = ExecutionDocument & { replication: NonNullable<ExecutionDocument['replication']> };

function requireReplication(doc: ExecutionDocument): ReplicationDoc {
  if (!doc.replication?.databases.length) {
    throw new ReplicationFailed('The execution document has no $.replication: PrepareReplication did not run.');
  }
  return doc as ReplicationDoc;
}

async function inEach<T>(
  database: Database,
  target: DbTarget,
  databases: readonly string[],
  work: (session: DbSession, name: string) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  for (const name of databases) results.push(await withSession(database, target, name, (s) => work(s, name)));
  return results;
}

// ─── PrepareReplication (blue, before the clone) ───────────────────────────────────────────

/**
 * On blue, for every user database (the set the fence covers): the fence's table (so that green
 * has it and can apply the switchover's fence row), a publication FOR ALL TABLES and a pgoutput
 * slot, the DDL guard (or why it could not be installed) and the schema digest. Everything is
 * named from the execution, so a retry and RemoveReplication find it without this result.
 */
export async function prepareReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['replication']>> {
  const target = blueTarget(doc);
  const names = await withSession(ports.database, target, ADMIN_DATABASE, async (session) => {
    await session.query(`SET ${DDL_GUARD_BYPASS} = on`);
    for (const statement of FENCE_TABLE_DDL) await session.query(statement);
    return userDatabases(session);
  });
  const databases = await inEach(ports.database, target, names, async (session, name) => {
    const n = replicationNames(doc.input.executionId, name, 'blue-to-green');
    const created = await createPublicationAndSlot(session, n);
    const guard = await installDdlGuard(session, doc.input.executionId, doc.input.executionName);
    const entry: ReplicatedDatabase = {
      database: name,
      ...n,
      slotLsn: created.slotLsn,
      ddlGuard: guard.installed,
      ...(guard.installed ? {} : { ddlGuardReason: guard.reason }),
      schema: await schemaFingerprint(session),
    };
    return entry;
  });
  // The clone must be from after every slot existed: CheckRestorable waits for this time.
  return { preparedAt: ports.clock.now().toISOString(), databases };
}

// ─── PrepareGreenReplication (green, once its writer is available) ─────────────────────────

/**
 * Green's start LSN (`aurora_volume_logical_start_lsn()`), which must not be before any slot's
 * start (else changes in between would be in neither); then what green inherited from blue and
 * must not keep: the slots (they would retain WAL on green for ever), the publications and the
 * DDL guard (it would refuse the migrations).
 */
export async function prepareGreenReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['greenReplication']>> {
  const { replication } = requireReplication(doc);
  const target = await greenTarget(doc, ports.clusters);
  const startLsn = await withSession(ports.database, target, ADMIN_DATABASE, readStartLsn);
  const tooEarly = await withSession(ports.database, target, ADMIN_DATABASE, async (session) => {
    const r = await session.query<{ database: string }>(
      `SELECT d->>'database' AS database FROM jsonb_array_elements($1::jsonb) d
        WHERE (d->>'slotLsn')::pg_lsn > $2::pg_lsn`,
      [JSON.stringify(replication.databases), startLsn],
    );
    return r.rows.map((x) => x.database);
  });
  if (tooEarly.length) {
    throw new ReplicationFailed(
      `Green's start LSN ${startLsn} is before the replication slots of ${tooEarly.join(', ')} on blue: the clone is from before they existed, so changes in between would be in neither. Rolling back; run again.`,
    );
  }
  const dropped: string[] = [];
  for (const entry of replication.databases) {
    const result = await withSession(ports.database, target, entry.database, (session) =>
      dropInherited(session, entry, doc.input.executionId, ports.clock),
    );
    dropped.push(
      ...result.droppedSlots.map((s) => `slot ${s}`),
      ...result.droppedPublications.map((p) => `publication ${p} (${entry.database})`),
      ...(result.droppedDdlGuard ? [`DDL guard (${entry.database})`] : []),
    );
  }
  // What else green inherited: a CDC tool's slots. Aurora's precheck refuses a major upgrade
  // while any logical slot exists, so with one ahead they go too (docs/inherited-slots.md).
  const inheritedSlots = await inheritedSlotsOf(ports.database, target, majorUpgradeAhead(doc));
  return { startLsn, dropped, ...(inheritedSlots.length ? { inheritedSlots } : {}) };
}

// ─── StartReplication and CheckReplication (green) ─────────────────────────────────────────

/** One subscription per database on green, its origin advanced to green's start LSN, then enabled. */
export async function startReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['replicationStart']>> {
  const { replication } = requireReplication(doc);
  const startLsn = doc.greenReplication?.startLsn;
  if (!startLsn) throw new ReplicationFailed('No start LSN of green: PrepareGreenReplication did not run.');
  const blue = blueTarget(doc);
  const green = await greenTarget(doc, ports.clusters);
  for (const entry of replication.databases) {
    const conninfo = await ports.database.replicationConninfo(blue, entry.database);
    await withSession(ports.database, green, entry.database, (session) =>
      createSubscription(session, entry, conninfo, startLsn),
    );
  }
  // A lag under the threshold proves nothing until green has applied something: on a quiet blue
  // the lag from the slot's start may be small at the first look, before any apply could fail.
  const blueLsn = await withSession(ports.database, blue, ADMIN_DATABASE, currentLsn);
  return {
    startedAt: ports.clock.now().toISOString(),
    subscriptions: replication.databases.map((d) => d.subscription),
    originAdvancedTo: startLsn,
    blueLsn,
  };
}

/** What one look at every stream saw: the largest lag, and each problem as a sentence. */
async function lookAtStreams(
  doc: ReplicationDoc,
  sessions: { blue: Map<string, DbSession>; green: Map<string, DbSession> },
): Promise<{ lagBytes: number; running: boolean; problems: string[] }> {
  let lagBytes = 0;
  let running = true;
  const problems: string[] = [];
  const startedAt = doc.replicationStart?.blueLsn;
  const on = (side: Map<string, DbSession>, name: string, work: (s: DbSession) => Promise<void>) =>
    work(side.get(name) as DbSession);
  for (const entry of doc.replication.databases) {
    await on(sessions.blue, entry.database, async (session) => {
      const lag = await publisherLag(session, entry.slot);
      if (!lag) problems.push(`slot ${entry.slot} of database ${entry.database} is gone from blue`);
      else lagBytes = Math.max(lagBytes, lag.lagBytes);
      // Not yet confirmed past blue's position at StartReplication: green has applied nothing yet.
      if (lag && startedAt && !(await slotConfirmedPast(session, entry.slot, startedAt))) running = false;
      problems.push(...(await ddlSeen(session, entry, doc.input.executionId)));
    });
    await on(sessions.green, entry.database, async (session) => {
      const status = await subscriberStatus(session, entry.subscription);
      if (!status.exists)
        problems.push(`subscription ${entry.subscription} of database ${entry.database} is gone from green`);
      else if (status.applyErrors > 0) {
        problems.push(
          `the apply on green of database ${entry.database} failed ${status.applyErrors} time(s) (pg_stat_subscription_stats): a change from blue cannot be applied (a duplicate key, a missing table or column); green's PostgreSQL log has the reason on its "logical replication" lines`,
        );
      } else if (!status.enabled || !status.workerRunning) running = false;
    });
  }
  return { lagBytes, running, problems };
}

/** DDL on blue: the schema digest changed, or the guard was removed. */
async function ddlSeen(session: DbSession, entry: ReplicatedDatabase, executionId: string): Promise<string[]> {
  const problems: string[] = [];
  if ((await schemaFingerprint(session)) !== entry.schema) {
    problems.push(
      `the tables or columns of database ${entry.database} on blue changed while replicating (DDL is not replicated${entry.ddlGuard ? ', and the DDL guard was bypassed' : ': the DDL guard could not be installed'})`,
    );
  }
  if (entry.ddlGuard) {
    const guard = await session.query('SELECT 1 FROM pg_event_trigger WHERE evtname = $1 AND evtenabled <> $2', [
      ddlGuardNames(executionId).trigger,
      'D',
    ]);
    if (!guard.rowCount) problems.push(`the DDL guard of database ${entry.database} on blue was removed or disabled`);
  }
  return problems;
}

function replicationFailed(doc: ExecutionDocument, problems: string[]): ReplicationFailed {
  return new ReplicationFailed(
    `Replication from blue ${doc.input.blueClusterId} to green ${doc.input.greenClusterId} cannot continue: ${problems.join('; ')}. Rolling back: blue kept serving throughout.`,
  );
}

/**
 * CheckReplication (a poll loop): done when every stream runs and the largest lag is at most
 * `input.replication.maxLagBytes`. An apply error, a vanished slot or subscription, or DDL on
 * blue fails the run (ReplicationFailed), which rolls back.
 */
/**
 * The replication's soundness, once, before the switchover changes anything (GuardGreen): DDL
 * on blue that got past the guard, or an apply that failed during the approval, would otherwise
 * be found only by CatchUpGreen, after blue was frozen for nothing.
 */
export async function assertReplicationSound(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters'>,
): Promise<void> {
  const replicating = requireReplication(doc);
  const blue = blueTarget(doc);
  const green = await greenTarget(doc, ports.clusters);
  const sessions = { blue: new Map<string, DbSession>(), green: new Map<string, DbSession>() };
  try {
    for (const entry of replicating.replication.databases) {
      sessions.blue.set(entry.database, await openSession(ports.database, blue, entry.database));
      sessions.green.set(entry.database, await openSession(ports.database, green, entry.database));
    }
    const look = await lookAtStreams(replicating, sessions);
    if (look.problems.length) throw replicationFailed(doc, look.problems);
  } finally {
    for (const session of [...sessions.blue.values(), ...sessions.green.values()]) await session.close();
  }
}

export async function checkReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<PollState> {
  const replicating = requireReplication(doc);
  const blue = blueTarget(doc);
  const green = await greenTarget(doc, ports.clusters);
  // One session per database and side for the whole check window, not one per look.
  const sessions = { blue: new Map<string, DbSession>(), green: new Map<string, DbSession>() };
  let seen: { done: boolean; status: string; lagBytes: number };
  try {
    for (const entry of replicating.replication.databases) {
      sessions.blue.set(entry.database, await openSession(ports.database, blue, entry.database));
      sessions.green.set(entry.database, await openSession(ports.database, green, entry.database));
    }
    seen = await settle(doc, ports.clock, async () => {
      const look = await lookAtStreams(replicating, sessions);
      if (look.problems.length) throw replicationFailed(doc, look.problems);
      return {
        done: look.running && look.lagBytes <= doc.input.replication.maxLagBytes,
        status: `${look.running ? 'streaming' : 'starting'}, lag ${look.lagBytes} bytes`,
        lagBytes: look.lagBytes,
      };
    });
  } finally {
    for (const session of [...sessions.blue.values(), ...sessions.green.values()]) await session.close();
  }
  return { ...poll(doc, 'replication', ports.clock, seen, 'green to catch up with blue'), lagBytes: seen.lagBytes };
}

// ─── Switchover ────────────────────────────────────────────────────────────────────────────

/**
 * SwitchoverFence: the fence of section "The write fence", with the online mode's two changes:
 * the walsenders of this execution's slots keep streaming (they carry the fence row to green),
 * and the grace looks are short. A backend that was still starting up when the fence began and
 * wrote afterwards is caught by CatchUpGreen instead: its change is in blue's slot and not
 * confirmed by green, which CatchUpGreen reads before anything is opened.
 */
export async function switchoverFence(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clock'>,
  options: { pollMs?: number; graceMs?: number } = {},
): Promise<FenceResult> {
  const { replication } = requireReplication(doc);
  return fenceWrites(doc, ports, {
    pollMs: options.pollMs ?? 50,
    graceMs: options.graceMs ?? 100,
    exemptSlots: replication.databases.map((d) => d.slot),
  });
}

export interface CatchUpOptions {
  /** Bound on the wait for green to confirm the fence. @default 120_000 */
  waitMs?: number;
  /** @default 20 */
  pollMs?: number;
}

/**
 * CatchUpGreen, after the fence:
 * 1. no DDL on blue, no apply error on green;
 * 2. wait until every slot's confirmed position on blue is past blue's WAL position taken after
 *    the fence, and this execution's fence row is on green: green has every write committed
 *    before the fence, because apply follows commit order;
 * 3. drop the subscriptions on green, then read what every slot still holds: a change there was
 *    committed on blue after the fence and is not on green (WritesAfterFence, rolls back);
 * 4. move green's sequences past blue's; drop blue's DDL guard (its slots and publications stay
 *    until CloseBlue).
 */
export async function catchUpGreen(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
  options: CatchUpOptions = {},
): Promise<NonNullable<ExecutionDocument['switchover']>> {
  const replicating = requireReplication(doc);
  const { replication } = replicating;
  if (!doc.fence) throw new ReplicationFailed('No fence on blue: SwitchoverFence did not run.');
  const waitMs = options.waitMs ?? 120_000;
  const pollMs = options.pollMs ?? 20;
  const blue = blueTarget(doc);
  const green = await greenTarget(doc, ports.clusters);
  const started = ports.clock.now().getTime();

  const blueSessions = new Map<string, DbSession>();
  const greenSessions = new Map<string, DbSession>();
  try {
    for (const entry of replication.databases) {
      blueSessions.set(entry.database, await openSession(ports.database, blue, entry.database));
      greenSessions.set(entry.database, await openSession(ports.database, green, entry.database));
    }
    const on = (sessions: Map<string, DbSession>, name: string): DbSession => sessions.get(name) as DbSession;
    const adminGreen = on(greenSessions, ADMIN_DATABASE);

    // 1. The stream must still be sound.
    const problems: string[] = [];
    for (const entry of replication.databases) {
      problems.push(...(await ddlSeen(on(blueSessions, entry.database), entry, doc.input.executionId)));
      const status = await subscriberStatus(on(greenSessions, entry.database), entry.subscription);
      if (!status.exists || status.applyErrors > 0) {
        problems.push(`the subscription of database ${entry.database} on green is gone or failed to apply`);
      }
    }
    if (problems.length) throw replicationFailed(doc, problems);

    // 2. Everything blue committed before now (after the fence) is confirmed by green.
    const targetLsn = await currentLsn(on(blueSessions, ADMIN_DATABASE));
    let fenceApplied = false;
    for (let waited = 0; ; waited += pollMs) {
      const pending: string[] = [];
      for (const entry of replication.databases) {
        if (!(await slotConfirmedPast(on(blueSessions, entry.database), entry.slot, targetLsn))) {
          pending.push(entry.database);
        }
      }
      fenceApplied ||= await fenceRowApplied(adminGreen, doc.input.executionId);
      if (!pending.length && fenceApplied) break;
      if (waited >= waitMs) {
        throw new ReplicationFailed(
          `Green did not confirm blue's position ${targetLsn} after the fence within ${Math.round(waitMs / 1000)} s (waiting for ${pending.join(', ') || 'the fence row'}). Rolling back: blue is un-fenced and serves again.`,
        );
      }
      await ports.clock.sleep(pollMs);
    }
    const caughtUpMs = ports.clock.now().getTime() - started;

    // 3. Stop the apply, then prove that nothing is left behind in any slot.
    for (const entry of replication.databases)
      await dropSubscription(on(greenSessions, entry.database), entry.subscription);
    const leftBehind: string[] = [];
    const prepared = await preparedTransactions(on(blueSessions, ADMIN_DATABASE));
    if (prepared.length) {
      leftBehind.push(`prepared transaction(s) ${prepared.join(', ')}, which a COMMIT PREPARED would write`);
    }
    for (const entry of replication.databases) {
      const count = await unconfirmedChanges(on(blueSessions, entry.database), entry, ports.clock);
      if (count > 0) leftBehind.push(`database ${entry.database}: ${count} row change(s)`);
    }
    if (leftBehind.length) {
      throw new WritesAfterFence(
        `User data changed on blue ${blue.clusterId} after the fence (${doc.fence.fencedAt}) and green does not have it: ${leftBehind.join('; ')}. Rolling back, blue keeps those writes.`,
      );
    }

    // 4. Sequences, then blue's side of the replication.
    let sequencesMoved = 0;
    const sequencesMissing: string[] = [];
    for (const entry of replication.databases) {
      const moved = await moveSequences(
        on(greenSessions, entry.database),
        await sequencePositions(on(blueSessions, entry.database)),
      );
      sequencesMoved += moved.moved.length;
      sequencesMissing.push(...moved.missing.map((s) => `${entry.database}: ${s}`));
    }
    // The slots and publications stay until CloseBlue: blue takes no more writes, and whatever a
    // session that reached it after this point wrote must still show in them (docs/online-mode.md).
    const removed: string[] = [];
    for (const entry of replication.databases) {
      if (await removeDdlGuard(on(blueSessions, entry.database), doc.input.executionId)) {
        removed.push(`DDL guard (${entry.database})`);
      }
    }
    return {
      targetLsn,
      caughtUpMs,
      fenceRowApplied: fenceApplied,
      sequencesMoved,
      sequencesMissing,
      removed: [...replication.databases.map((d) => `subscription ${d.subscription}`), ...removed],
    };
  } finally {
    for (const session of [...blueSessions.values(), ...greenSessions.values()]) await session.close();
  }
}

// ─── RemoveReplication (rollback, recovery, the end of a dry run) ─────────────────────────

/**
 * Removes every piece of this execution's replication, found by name rather than from the
 * document (a stopped execution may have created a slot without recording it): subscriptions on
 * green (when green exists), then on blue the slots, publications and DDL guard. A forgotten slot
 * retains WAL on blue for ever, until its storage fills. A no-op in offline mode.
 */
export async function removeReplication(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['replicationRemoved']>> {
  if (doc.input.mode !== 'online' || !doc.blue) return { removed: [] };
  const removed: string[] = [];
  const prefix = replicationPrefix(doc.input.executionId, 'blue-to-green');

  // Green first: its apply workers hold blue's slots. Green unreachable (its writer never came
  // up, or is going) is no reason to leave blue's slots: its subscriptions go with it.
  const green = await ports.clusters.describeCluster(doc.input.greenClusterId);
  if (green?.endpoint && green.status === 'available') {
    try {
      removed.push(...(await removeGreenSide(ports, green, prefix)));
    } catch (error) {
      removed.push(`nothing on green (${green.id} unreachable: ${(error as Error).message})`);
    }
  }

  // A logical slot can be dropped from any database (even one dropped meanwhile).
  const blue = blueTarget(doc);
  const databases = await withSession(ports.database, blue, ADMIN_DATABASE, async (session) => {
    const r = await session.query<{ slot_name: string }>(
      'SELECT slot_name FROM pg_replication_slots WHERE starts_with(slot_name, $1) ORDER BY 1',
      [prefix],
    );
    for (const { slot_name } of r.rows) {
      if (await dropSlot(session, slot_name, ports.clock)) removed.push(`slot ${slot_name} on blue`);
    }
    return userDatabases(session);
  });
  for (const name of databases) {
    const names = replicationNames(doc.input.executionId, name, 'blue-to-green');
    await withSession(ports.database, blue, name, async (session) => {
      if (await dropPublication(session, names.publication)) removed.push(`publication ${names.publication} on blue`);
      if (await removeDdlGuard(session, doc.input.executionId)) removed.push(`DDL guard of ${name} on blue`);
    });
  }
  return { removed };
}

/** Drops this execution's subscriptions on green, found by name prefix in pg_subscription. */
async function removeGreenSide(
  ports: Pick<Ports, 'database'>,
  green: { id: string; endpoint: string; port: number },
  prefix: string,
): Promise<string[]> {
  const removed: string[] = [];
  const target: DbTarget = { clusterId: green.id, host: green.endpoint, port: green.port };
  const subscriptions = await withSession(ports.database, target, ADMIN_DATABASE, async (session) => {
    const r = await session.query<{ subname: string; datname: string }>(
      `SELECT s.subname, d.datname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
        WHERE starts_with(s.subname, $1) ORDER BY 2`,
      [prefix],
    );
    return r.rows;
  });
  for (const { subname, datname } of subscriptions) {
    if (await withSession(ports.database, target, datname, (s) => dropSubscription(s, subname))) {
      removed.push(`subscription ${subname} on green`);
    }
  }
  return removed;
}
