import type { ExecutionDocument } from '../../lambdas/domain/document';
import { ResourceFailed } from '../../lambdas/domain/errors';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { inheritedSlotAdvice, verifyClone } from '../../lambdas/steps/verify-clone';
import { clustersStub, GREEN_ID, makeDocument, realClock, testDatabase } from '../support/documents';
import { startBlue } from '../support/fence-fixtures';
import { LOGICAL_SETTINGS, type TestServer } from '../support/postgres';

const database = testDatabase();

interface SlotRow {
  name: string;
  type: string;
  database: string | null;
  lsn: string | null;
}

async function slotsOn(server: TestServer): Promise<SlotRow[]> {
  return server.sql<SlotRow>(
    `SELECT slot_name::text AS name, slot_type AS type, database::text AS database, confirmed_flush_lsn::text AS lsn
       FROM pg_replication_slots ORDER BY slot_name`,
  );
}

/** The document of a run whose Preflight found a major upgrade to `to`. */
function withMajorUpgrade(doc: ExecutionDocument, to = '17.7'): ExecutionDocument {
  return {
    ...doc,
    input: { ...doc.input, targetEngineVersion: to },
    blue: { ...doc.blue!, upgrade: { isMajor: true, targetFamily: 'aurora-postgresql17' } },
  };
}

describe("VerifyClone: the replication slots green inherited from blue's CDC consumers (real PostgreSQL)", () => {
  let blue: TestServer;
  const greens: TestServer[] = [];
  const doc = makeDocument({ host: '127.0.0.1', port: 0 });

  async function cloneBlue(): Promise<TestServer> {
    const green = await blue.cloneOnline({ keepReplicationSlots: true });
    greens.push(green);
    return green;
  }

  beforeAll(async () => {
    blue = await startBlue({ settings: LOGICAL_SETTINGS });
    doc.blue = { ...doc.blue!, endpoint: blue.host, port: blue.port };
    // A CDC consumer's slot (Debezium uses pgoutput) that has read some changes, another database's
    // slot, and a physical slot, which is not what a major upgrade's precheck refuses.
    await blue.sql("SELECT pg_create_logical_replication_slot('debezium_orders', 'pgoutput')", [], 'app');
    await blue.sql("INSERT INTO orders (note) VALUES ('read by the consumer')", [], 'app');
    await blue.sql("SELECT pg_replication_slot_advance('debezium_orders', pg_current_wal_lsn())", [], 'app');
    await blue.sql("SELECT pg_create_logical_replication_slot('audit_feed', 'pgoutput')", [], 'postgres');
    await blue.sql("SELECT pg_create_physical_replication_slot('standby_a')");
    doc.fence = await fenceWrites(doc, { database, clock: realClock }, { pollMs: 100 });
  });

  afterAll(async () => {
    for (const green of greens) await green.stop();
    await blue?.stop();
  });

  it('without a major upgrade: reports each inherited slot with its position and keeps it on green', async () => {
    const green = await cloneBlue();
    const onBlue = await slotsOn(blue);

    const verified = await verifyClone(doc, { database, clusters: clustersStub({ [GREEN_ID]: green }) });

    expect(verified.fenceRowFound).toBe(true);
    const lsnOf = (name: string) => onBlue.find((s) => s.name === name)?.lsn;
    expect(verified.inheritedSlots).toEqual([
      {
        name: 'debezium_orders',
        plugin: 'pgoutput',
        database: 'app',
        confirmedFlushLsn: lsnOf('debezium_orders'),
        dropped: false,
      },
      {
        name: 'audit_feed',
        plugin: 'pgoutput',
        database: 'postgres',
        confirmedFlushLsn: lsnOf('audit_feed'),
        dropped: false,
      },
    ]);
    expect((await slotsOn(green)).map((s) => s.name)).toEqual(['audit_feed', 'debezium_orders', 'standby_a']);

    const advice = inheritedSlotAdvice({ ...doc, verify: verified });
    expect(advice).toHaveLength(2);
    expect(advice[0]).toMatch(
      /^Slot debezium_orders \(pgoutput, database app\) is on green .* confirmed up to [0-9A-F]+\/[0-9A-F]+/,
    );
    expect(advice[0]).toMatch(/read blue's slot up to the fence/);
    expect(advice[0]).toMatch(/resumes on green from that position/);
    expect(advice[0]).toMatch(/drop it there: an unread slot keeps WAL for ever/);
  });

  it('with a major upgrade ahead: drops every logical slot on green, leaves blue and the physical slot alone', async () => {
    const green = await cloneBlue();
    const major = withMajorUpgrade(doc);
    const blueBefore = await slotsOn(blue);

    const verified = await verifyClone(major, { database, clusters: clustersStub({ [GREEN_ID]: green }) });

    expect(verified.inheritedSlots?.map((s) => [s.name, s.database, s.dropped])).toEqual([
      ['debezium_orders', 'app', true],
      ['audit_feed', 'postgres', true],
    ]);
    expect(verified.inheritedSlots?.every((s) => /^[0-9A-F]+\/[0-9A-F]+$/.test(s.confirmedFlushLsn ?? ''))).toBe(true);
    expect(await slotsOn(green)).toEqual([{ name: 'standby_a', type: 'physical', database: null, lsn: null }]);
    expect(await slotsOn(blue)).toEqual(blueBefore);

    const advice = inheritedSlotAdvice({ ...major, verify: verified });
    expect(advice[0]).toMatch(
      /^Slot debezium_orders \(pgoutput, database app\) was dropped on green .* before the major upgrade/,
    );
    expect(advice[0]).toMatch(/pg_create_logical_replication_slot\('debezium_orders', 'pgoutput'\) in app/);
    expect(advice[0]).toMatch(/new snapshot/);

    // A retried VerifyClone finds green's copies gone: blue's originals still name them.
    const again = await verifyClone(major, { database, clusters: clustersStub({ [GREEN_ID]: green }) });
    expect(again.inheritedSlots?.map((s) => [s.name, s.dropped])).toEqual([
      ['debezium_orders', true],
      ['audit_feed', true],
    ]);
  });

  it('a dry run with a major upgrade (no fence) drops them too: the precheck does not care', async () => {
    const green = await cloneBlue();
    const dryRun = withMajorUpgrade({ ...doc, input: { ...doc.input, dryRun: true }, fence: undefined });

    const verified = await verifyClone(dryRun, { database, clusters: clustersStub({ [GREEN_ID]: green }) });

    expect(verified.fenceRowFound).toBe(false);
    expect(verified.inheritedSlots?.filter((s) => s.dropped).map((s) => s.name)).toEqual([
      'debezium_orders',
      'audit_feed',
    ]);
    expect((await slotsOn(green)).map((s) => s.name)).toEqual(['standby_a']);
  });

  it('a slot that cannot be dropped fails with ResourceFailed naming it and what to do', async () => {
    const green = await cloneBlue();
    const admin = await green.client('postgres');
    await admin.query('SET default_transaction_read_only = off'); // green is a clone of a fenced blue
    await admin.query('ALTER DATABASE app WITH ALLOW_CONNECTIONS false');
    await admin.end();

    const failure = verifyClone(withMajorUpgrade(doc), { database, clusters: clustersStub({ [GREEN_ID]: green }) });

    await expect(failure).rejects.toBeInstanceOf(ResourceFailed);
    await expect(failure).rejects.toThrow(
      /replication slot debezium_orders \(plugin pgoutput, database app\).*refuses a major version upgrade.*blue and its own slot are untouched/,
    );
    expect((await slotsOn(blue)).map((s) => s.name)).toEqual(['audit_feed', 'debezium_orders', 'standby_a']);
  });
});
