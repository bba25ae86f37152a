import type { AcknowledgedWrite } from '../../local/load';
import { startLagSampler, type LagSampler } from '../../local/replication-lag';
import { startPostgres, type TestServer } from '../support/postgres';

/**
 * The replication lag sampler against real logical replication: a publisher ("blue") and a
 * subscriber ("green") with the load's tables.
 */

const TABLES = `
  CREATE SCHEMA app;
  CREATE TABLE app.load_writes (id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE app.seq_writes (id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now());`;

let blue: TestServer;
let green: TestServer;
let sampler: LagSampler | undefined;
const acked: AcknowledgedWrite[] = [];

function ack(id: number, table: AcknowledgedWrite['table'], at: number, serverPort = blue.port): void {
  acked.push({ id, table, client: 'pool-1', at: new Date(at).toISOString(), latencyMs: 1, serverPort });
}

function sample(): LagSampler {
  sampler = startLagSampler({
    acknowledged: () => acked,
    follow: () => ({
      direction: 'blue-to-green',
      sourcePort: blue.port,
      follower: { host: green.host, port: green.port },
    }),
    // The test takes its samples itself.
    intervalMs: 3_600_000,
  });
  return sampler;
}

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

jest.setTimeout(90_000);

beforeAll(async () => {
  [blue, green] = await Promise.all([
    startPostgres({ settings: { wal_level: 'logical', max_replication_slots: '4', max_wal_senders: '4' } }),
    startPostgres({ settings: { max_logical_replication_workers: '2', max_worker_processes: '8' } }),
  ]);
  for (const server of [blue, green]) {
    await server.sql('CREATE DATABASE app');
    await server.sql(TABLES, [], 'app');
  }
  await blue.sql('CREATE PUBLICATION lag_test FOR ALL TABLES', [], 'app');
});

afterEach(async () => {
  await sampler?.stop();
  sampler = undefined;
  acked.length = 0;
});

afterAll(async () => {
  await green?.sql('DROP SUBSCRIPTION IF EXISTS lag_test', [], 'app').catch(() => undefined);
  await Promise.all([blue?.stop(), green?.stop()]);
});

describe('the replication lag sampler', () => {
  it('takes no sample while the follower has no enabled subscription', async () => {
    ack(1, 'app.load_writes', Date.now() - 5000);
    await expect(sample().sampleOnce()).resolves.toBeUndefined();
    expect(sampler?.samples()).toEqual([]);
  });

  it('measures the age of the oldest acknowledged write not yet on the follower, and 0 once every one arrived', async () => {
    await green.sql(
      `CREATE SUBSCRIPTION lag_test CONNECTION 'host=${blue.host} port=${blue.port} dbname=app user=postgres' PUBLICATION lag_test WITH (copy_data = false)`,
      [],
      'app',
    );
    // Wait until the subscription streams: a first row arrives.
    await blue.sql('INSERT INTO app.load_writes (id) VALUES (100)', [], 'app');
    await until(async () => (await green.sql('SELECT 1 FROM app.load_writes WHERE id = 100', [], 'app')).length > 0);

    const s = sample();
    const t0 = Date.now();
    // Written and acknowledged on blue: they replicate.
    await blue.sql('INSERT INTO app.load_writes (id) VALUES (101), (102)', [], 'app');
    await blue.sql('INSERT INTO app.seq_writes (id) VALUES (7)', [], 'app');
    ack(101, 'app.load_writes', t0);
    ack(102, 'app.load_writes', t0);
    ack(7, 'app.seq_writes', t0);
    // Acknowledged by another server (green itself, after a cutover): not this direction's business.
    ack(555, 'app.load_writes', t0 - 60_000, green.port);
    // A rogue client's table is not the application's.
    ack(556, 'app.admin_writes', t0 - 60_000);
    await until(async () => (await green.sql('SELECT 1 FROM app.seq_writes WHERE id = 7', [], 'app')).length > 0);
    await until(async () => (await green.sql('SELECT 1 FROM app.load_writes WHERE id = 102', [], 'app')).length > 0);
    const caughtUp = await s.sampleOnce();
    expect(caughtUp).toMatchObject({ direction: 'blue-to-green', ms: 0 });

    // Acknowledged 3 s ago and never replicated (it is not on blue either): the lag is its age.
    ack(103, 'app.load_writes', Date.now() - 3000);
    const behind = await s.sampleOnce();
    expect(behind?.ms).toBeGreaterThanOrEqual(3000);
    expect(behind?.ms).toBeLessThan(6000);
    const later = await s.sampleOnce();
    expect(later?.ms).toBeGreaterThan(behind?.ms ?? Infinity);
    expect(s.samples().map((x) => x.direction)).toEqual(['blue-to-green', 'blue-to-green', 'blue-to-green']);

    // Once the subscription is disabled (the switchover drops it), sampling stops.
    await green.sql('ALTER SUBSCRIPTION lag_test DISABLE', [], 'app');
    await expect(s.sampleOnce()).resolves.toBeUndefined();
    expect(s.samples()).toHaveLength(3);
  });
});
