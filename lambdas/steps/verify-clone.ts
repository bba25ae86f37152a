import type { ExecutionDocument, InheritedSlot } from '../domain/document';
import { CloneMissingWrites, ResourceFailed } from '../domain/errors';
import type { Database, DbSession, DbTarget, Ports } from '../ports';
import { ADMIN_DATABASE, blueTarget, greenTarget, openSession, resetReadOnly, withSession } from './db';

export type VerifyResult = NonNullable<ExecutionDocument['verify']>;

/**
 * VerifyClone (docs/architecture.md): this execution's fence row must be on green. It was
 * committed on blue after every other write had stopped, so finding it proves the clone holds
 * every write committed before the fence. Then green gets its databases writable again: the
 * fence's `ALTER DATABASE` setting was cloned with the data.
 * In a dry run there is no fence: nothing to check and nothing to reset.
 *
 * Then the logical replication slots green inherited from blue (docs/inherited-slots.md) are
 * listed for the approver and the report; with a major upgrade ahead they are dropped on green,
 * because Aurora's upgrade precheck refuses a major upgrade while any logical slot exists.
 */
export async function verifyClone(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters'>,
): Promise<VerifyResult> {
  const fence = doc.fence;
  // A dry run has no fence, but its major upgrade meets the same precheck: its slots count too.
  if (!fence && !majorUpgradeAhead(doc)) return { fenceRowFound: false, resetDatabases: [] };
  const target = await greenTarget(doc, ports.clusters);
  const verified = fence
    ? await withSession(ports.database, target, ADMIN_DATABASE, async (session) => {
        const table = await session.query<{ present: boolean }>(
          "SELECT to_regclass('bluegreen.fence') IS NOT NULL AS present",
        );
        const found = table.rows[0]?.present
          ? (
              await session.query(
                'SELECT 1 FROM bluegreen.fence WHERE execution_id = $1 AND lsn IS NOT NULL AND fenced_at IS NOT NULL',
                [doc.input.executionId],
              )
            ).rowCount > 0
          : false;
        if (!found) {
          throw new CloneMissingWrites(
            `Green cluster ${target.clusterId} does not contain the fence row of execution ${doc.input.executionId} ` +
              `(written on blue at ${fence.fencedAt}, WAL position ${fence.lsn}): the clone was taken from a point ` +
              'before the fence, so it may be missing writes that applications committed on blue. Rolling back.',
          );
        }
        const resetDatabases = await resetReadOnly(session, fence.changedDatabases);
        return { fenceRowFound: true, resetDatabases };
      })
    : { fenceRowFound: false, resetDatabases: [] };
  const inheritedSlots = await inheritedSlotsOf(ports.database, target, majorUpgradeAhead(doc));
  // A retried VerifyClone finds green's copies gone already: blue's originals still name them.
  if (majorUpgradeAhead(doc)) {
    const seen = new Set(inheritedSlots.map((s) => s.name));
    const onBlueOnly = (await logicalSlots(ports.database, blueTarget(doc))).filter((s) => !seen.has(s.name));
    for (const s of onBlueOnly) {
      inheritedSlots.push({
        name: s.name,
        plugin: s.plugin,
        database: s.database,
        confirmedFlushLsn: null,
        dropped: true,
      });
    }
  }
  return { ...verified, inheritedSlots };
}

/** A major engine upgrade of green follows (Preflight decided it from blue's version and the target). */
export function majorUpgradeAhead(doc: ExecutionDocument): boolean {
  return Boolean(doc.input.targetEngineVersion) && doc.blue?.upgrade?.isMajor === true;
}

interface SlotRow {
  name: string;
  plugin: string;
  database: string;
  lsn: string | null;
}

function logicalSlots(database: Database, target: DbTarget): Promise<SlotRow[]> {
  return withSession(database, target, ADMIN_DATABASE, async (session) => {
    const result = await session.query<SlotRow>(
      `SELECT slot_name::text AS name, plugin::text AS plugin, database::text AS database,
              confirmed_flush_lsn::text AS lsn
         FROM pg_replication_slots
        WHERE slot_type = 'logical' AND NOT temporary
        ORDER BY database, slot_name`,
    );
    return result.rows;
  });
}

/**
 * Green's logical slots (a clone keeps its source's). Temporary slots do not survive a restart
 * and physical slots are not what the precheck refuses, so both are left out. With `drop`, each
 * is dropped in its own database (PostgreSQL drops a logical slot only from there); they are
 * green's copies, not yet used by anyone, and blue's originals are untouched. Online mode's
 * PrepareGreenReplication drops only its own slot: a CDC consumer's copy would meet the same precheck.
 */
export async function inheritedSlotsOf(database: Database, target: DbTarget, drop: boolean): Promise<InheritedSlot[]> {
  const rows = await logicalSlots(database, target);
  const slots: InheritedSlot[] = [];
  for (const row of rows) {
    const slot = { name: row.name, plugin: row.plugin, database: row.database, confirmedFlushLsn: row.lsn };
    if (drop) await dropSlotOnGreen(database, target, slot);
    slots.push({ ...slot, dropped: drop });
  }
  return slots;
}

async function dropSlotOnGreen(
  database: Database,
  target: DbTarget,
  slot: Omit<InheritedSlot, 'dropped'>,
): Promise<void> {
  let session: DbSession | undefined;
  try {
    session = await openSession(database, target, slot.database);
    // Gone already (a retried VerifyClone that dropped it before): nothing to do.
    await session.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT temporary',
      [slot.name],
    );
  } catch (error) {
    const said = error instanceof Error ? error.message : String(error);
    throw new ResourceFailed(
      `Could not drop the replication slot ${slot.name} (plugin ${slot.plugin}, database ${slot.database}) that green ` +
        `cluster ${target.clusterId} inherited from blue: ${said}. Aurora refuses a major version upgrade while a ` +
        'logical replication slot exists, so the run stops here and rolls back (blue and its own slot are untouched). ' +
        `Make the slot droppable on a clone (for example, let connections into database ${slot.database}), then run again.`,
    );
  } finally {
    await session?.close();
  }
}

/**
 * What each inherited slot means for its consumer (a CDC tool such as Debezium reading blue),
 * one sentence per slot: the approver reads it before the cutover and the report repeats it.
 */
export function inheritedSlotAdvice(doc: ExecutionDocument): string[] {
  // Offline: VerifyClone found them; online: PrepareGreenReplication (no VerifyClone there).
  const slots = doc.verify?.inheritedSlots ?? doc.greenReplication?.inheritedSlots ?? [];
  const blue = doc.input.blueClusterId;
  const green = doc.input.greenClusterId;
  return slots.map((slot) => {
    const which = `Slot ${slot.name} (${slot.plugin}, database ${slot.database})`;
    const drain = `Before the cutover, let its consumer read blue's slot up to the fence (blue takes no writes after it).`;
    if (slot.dropped) {
      return (
        `${which} was dropped on green ${green} before the major upgrade: Aurora's upgrade precheck refuses a major ` +
        `version upgrade while any logical replication slot exists. Blue's slot is untouched until blue ${blue} is ` +
        `deleted. ${drain} After the cutover its consumer finds no slot on green: create it again there ` +
        `(pg_create_logical_replication_slot('${slot.name}', '${slot.plugin}') in ${slot.database}) and take a new ` +
        'snapshot (Debezium: snapshot.mode initial, offsets reset): what green takes before the new slot exists is in no slot.'
      );
    }
    return (
      `${which} is on green ${green} as blue's copy, confirmed up to ${slot.confirmedFlushLsn ?? 'nothing'} when blue was ` +
      `cloned. ${drain} After the cutover its consumer resumes on green from that position and receives what green ` +
      `changed since the clone (the migrations' rows too; online, also blue's writes since the clone, which green applied, so it sees those twice); an offset it stored from blue is not a position on green, ` +
      "so if it is ahead of the slot's confirmed_flush_lsn, reset it (or re-snapshot). If nothing will read it on " +
      `green, drop it there: an unread slot keeps WAL for ever.`
    );
  });
}
