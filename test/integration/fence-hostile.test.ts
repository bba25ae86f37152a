import { Client } from 'pg';
import { createPgDatabase } from '../../lambdas/aws/pg-database';
import { PreconditionFailed } from '../../lambdas/domain/errors';
import { fenceWrites } from '../../lambdas/steps/fence-writes';
import { unfenceBlue } from '../../lambdas/steps/unfence';
import { makeDocument, realClock, testDatabase } from '../support/documents';
import { canWrite, READ_ONLY, startBlue } from '../support/fence-fixtures';
import type { TestServer } from '../support/postgres';

/**
 * The fence against clients a skeptical DBA would try (real PostgreSQL). Each client opens its
 * session before the fence and tries to write after it: the fence must have ended it, so the
 * write fails on a dead connection, never on read-only (which the client could turn off).
 */

const database = testDatabase();
const TERMINATED = /terminat|Connection terminated|ECONNRESET|not queryable|closed/i;

/** What a write on `client` gets now: 'written', 'read-only', or 'terminated'. */
async function tryWrite(client: Client, note: string): Promise<'written' | 'read-only' | 'terminated'> {
  try {
    await client.query(`INSERT INTO orders (note) VALUES ('${note}')`);
    return 'written';
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (e.code === READ_ONLY) return 'read-only';
    if (e.code === '57P01' || TERMINATED.test(e.message ?? '')) return 'terminated';
    throw error;
  }
}

function rogue(blue: TestServer, extra: Record<string, unknown> = {}): Client {
  const client = new Client({ host: blue.host, port: blue.port, user: 'postgres', database: 'app', ...extra });
  client.on('error', () => undefined);
  return client;
}

describe('the fence ends every backend from before it (real PostgreSQL)', () => {
  let blue: TestServer;
  let n = 0;
  const clients: Client[] = [];
  const docs: ReturnType<typeof makeDocument>[] = [];
  const nextDoc = () => {
    const doc = makeDocument(blue, { input: { executionId: `execution-hostile-${++n}` } });
    docs.push(doc);
    return doc;
  };
  const open = async (extra: Record<string, unknown> = {}) => {
    const client = rogue(blue, extra);
    clients.push(client);
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    blue = await startBlue();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    // Each test starts from a writable blue.
    for (const doc of docs.splice(0)) await unfenceBlue(doc, { database });
  });
  afterAll(async () => {
    await blue?.stop();
  });

  it('ends a replication=database walsender, which could otherwise INSERT after the fence', async () => {
    const walsender = await open({ replication: 'database' });
    await expect(tryWrite(walsender, 'walsender before the fence')).resolves.toBe('written');

    await fenceWrites(nextDoc(), { database, clock: realClock }, { pollMs: 50, graceMs: 200 });

    await expect(tryWrite(walsender, 'walsender after the fence')).resolves.toBe('terminated');
  });

  it('ends a session that spoofs the workflow application_name, and one that turned read-only off', async () => {
    const spoofed = await open({ application_name: 'bluegreen' });
    const readWrite = await open({ options: '-c default_transaction_read_only=off' });
    await readWrite.query('SET default_transaction_read_only = off');

    await fenceWrites(nextDoc(), { database, clock: realClock }, { pollMs: 50, graceMs: 200 });

    await expect(tryWrite(spoofed, 'spoofed after the fence')).resolves.toBe('terminated');
    await expect(tryWrite(readWrite, 'read-write after the fence')).resolves.toBe('terminated');
  });

  /** Resolves once a backend with this application_name shows in pg_stat_activity. */
  async function visible(applicationName: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const rows = await blue.sql('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
      if (rows.length) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${applicationName} never appeared`);
  }

  /**
   * A client configured (read-write) before the fence that shows in pg_stat_activity only 5 s
   * later (5 s: longer than the fence's own setup on a busy machine), and a clock whose `which`-th grace sleep lasts until it shows: the test decides which
   * look sees it first, whatever the machine's speed.
   */
  async function lateStarter(applicationName: string, which: number) {
    const late = rogue(blue, { options: '-c post_auth_delay=5', application_name: applicationName });
    clients.push(late);
    const connecting = late.connect().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    let graceSleeps = 0;
    const clock = {
      now: () => new Date(),
      sleep: async (ms: number) => {
        if (ms !== GRACE) return realClock.sleep(ms);
        if (++graceSleeps === which) await visible(applicationName);
      },
    };
    return { late, connecting, clock };
  }
  const GRACE = 777;

  it('ends a session still starting up when the fence looked (post_auth_delay): two looks a grace apart', async () => {
    const { late, connecting, clock } = await lateStarter('late-starter-1', 1);

    const fence = await fenceWrites(nextDoc(), { database, clock }, { pollMs: 50, graceMs: GRACE });
    await connecting;

    await expect(tryWrite(late, 'late starter after the fence')).resolves.toBe('terminated');
    expect(fence.moves).toBeUndefined(); // caught before the fence row, by the second look
  });

  it('looks again after the fence row: a backend that appears only then is ended and the fence moves past it', async () => {
    const { late, connecting, clock } = await lateStarter('late-starter-2', 2);

    const fence = await fenceWrites(nextDoc(), { database, clock }, { pollMs: 50, graceMs: GRACE });
    await connecting;

    await expect(tryWrite(late, 'late starter after the fence row')).resolves.toBe('terminated');
    expect(fence.terminatedSessions).toBeGreaterThanOrEqual(1);
    expect(fence.moves).toBe(1);
  });

  it('reads the fence time after the fence row committed', async () => {
    const doc = nextDoc();
    const fence = await fenceWrites(doc, { database, clock: realClock }, { pollMs: 50, graceMs: 100 });
    const [row] = await blue.sql<{ fenced_at: Date; xmin_time: Date | null }>(
      'SELECT fenced_at FROM bluegreen.fence WHERE execution_id = $1',
      [doc.input.executionId],
    );
    expect(Date.parse(fence.fencedAt)).toBeGreaterThan(row!.fenced_at.getTime());
  });
});

describe('the fence refuses, before changing anything, a backend it may not end', () => {
  let blue: TestServer;
  let superuserSession: Client;

  beforeAll(async () => {
    blue = await startBlue();
    // The workflow's user as on Aurora: not a superuser, allowed to end other roles' sessions.
    await blue.sql('CREATE ROLE fencer LOGIN CREATEDB');
    await blue.sql('GRANT pg_signal_backend, pg_read_all_stats TO fencer');
    await blue.sql('GRANT CREATE ON DATABASE postgres TO fencer');
    superuserSession = await blue.client('app', { applicationName: 'reporting-job' });
  });
  afterAll(async () => {
    await superuserSession?.end().catch(() => undefined);
    await blue?.stop();
  });

  it('names the superuser session and changes nothing', async () => {
    const asFencer = createPgDatabase({
      credentials: async () => ({ username: 'fencer', password: 'unused-with-trust-auth' }),
      ssl: false,
    });
    const doc = makeDocument(blue, { input: { executionId: 'execution-unstoppable' } });

    const failure = fenceWrites(doc, { database: asFencer, clock: realClock }, { pollMs: 50, graceMs: 100 });

    await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(failure).rejects.toThrow(
      /nothing was changed\. 1 backend\(s\) would stay connected .*user postgres, application "reporting-job"/,
    );
    expect(await canWrite(blue)).toBe(true);
    expect(await blue.sql('SELECT 1 FROM bluegreen.fence WHERE execution_id = $1', [doc.input.executionId])).toEqual(
      [],
    );
    await expect(superuserSession.query('SELECT 1')).resolves.toBeDefined();
    await expect(unfenceBlue(doc, { database })).resolves.toEqual([]);
  });
});
