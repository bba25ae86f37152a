import fs from 'node:fs';
import path from 'node:path';
import { leakedRows, startLoad, type LoadGenerator } from '../../local/load';
import { freePort, makeServerDir, PgServer, SUPERUSER } from '../../local/postgres';
import { startProxy, type TcpProxy } from '../../local/proxy';
import { sampleSchemaSql } from '../../local/sample';
import { makeWorkdir, removeWorkdir } from './work';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('load generator and lost-writes detector', () => {
  const workdir = makeWorkdir('load');
  let server: PgServer;
  let proxy: TcpProxy;
  let load: LoadGenerator | undefined;

  beforeAll(async () => {
    await makeServerDir(workdir, 0o755);
    server = await PgServer.initialize({
      dataDir: path.join(workdir, 'data'),
      port: await freePort(),
      engineVersion: '16.14',
      logFile: path.join(workdir, 'logs', 'server.log'),
    });
    await server.query('CREATE DATABASE app');
    await server.query(sampleSchemaSql(), undefined, 'app');
    proxy = await startProxy({ target: { host: '127.0.0.1', port: server.port } });
  });

  afterAll(async () => {
    await load?.stop();
    await proxy?.close();
    await server?.stop('immediate').catch(() => undefined);
    removeWorkdir(workdir);
  });

  it('logs acknowledged and rejected writes, reconnects after an outage, and detects a lost write', async () => {
    load = startLoad({
      host: proxy.host,
      port: proxy.port,
      ratePerSecond: 40,
      // The proxy drops refused connections silently, as a security group does: only the
      // connect timeout ends an attempt, so keep it short enough for the outage below.
      connectTimeoutMs: 300,
      logFile: path.join(workdir, 'load.jsonl'),
    });
    await sleep(600);

    // An outage the application sees: new connections refused and its session terminated.
    proxy.setAccepting(false);
    await server.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rehearsal-load'",
    );
    await sleep(500);
    const acknowledgedDuringOutage = load.acknowledged().length;
    await sleep(300);
    expect(load.acknowledged().length).toBe(acknowledgedDuringOutage);
    proxy.setAccepting(true);
    await sleep(600);
    await load.stop();

    const acked = load.acknowledged();
    const stats = load.stats();
    expect(acked.length).toBeGreaterThan(acknowledgedDuringOutage);
    expect(load.rejected().length).toBeGreaterThan(0);
    expect(acked.every((w) => w.serverPort === server.port)).toBe(true);
    expect(stats.acknowledged).toBe(acked.length);
    expect(stats.series.reduce((n, s) => n + s.acknowledged, 0)).toBe(acked.length);
    expect(stats.longestGap?.ms).toBeGreaterThanOrEqual(500);
    const logged = fs.readFileSync(path.join(workdir, 'load.jsonl'), 'utf8').trim().split('\n');
    expect(logged).toHaveLength(acked.length + load.rejected().length);

    const target = { host: '127.0.0.1', port: server.port };
    expect(await load.verify(target)).toEqual({
      acknowledged: acked.length,
      present: acked.length,
      missing: [],
      missingByTable: {},
    });

    const lost = acked[Math.floor(acked.length / 2)]?.id as number;
    await server.query('DELETE FROM app.load_writes WHERE id = $1', [lost], 'app');
    const verdict = await load.verify(target);
    expect(verdict.missing).toEqual([lost]);
    expect(verdict.present).toBe(acked.length - 1);
    expect(verdict.missingByTable).toEqual({ 'app.load_writes': [lost] });
  });

  it('keeps a pooled connection across SQL errors, as HikariCP does, and takes ids from a sequence', async () => {
    load = startLoad({ host: proxy.host, port: proxy.port, ratePerSecond: 40, clients: { sequenceIds: true } });
    await sleep(400);
    // A SQL error on every write: the table is gone for a moment, the session is not.
    await server.query('ALTER TABLE app.load_writes RENAME TO load_writes_away', undefined, 'app');
    await sleep(400);
    await server.query('ALTER TABLE app.load_writes_away RENAME TO load_writes', undefined, 'app');
    await sleep(400);
    await load.stop();
    expect(load.rejected().some((r) => r.code === '42P01')).toBe(true);
    expect(load.stats().sessions).toBe(1);
    const bySequence = load.acknowledged().filter((w) => w.table === 'app.seq_writes');
    expect(bySequence.length).toBeGreaterThan(3);
    expect((await load.verify({ host: '127.0.0.1', port: server.port })).missing).toEqual([]);
  });

  it('counts as leaked every row on the source that the target lacks, acknowledged or not', async () => {
    await server.query('CREATE DATABASE app_behind');
    await server.query(sampleSchemaSql(), undefined, 'app_behind');
    // Never acknowledged to anyone: written straight on the source.
    await server.query('INSERT INTO app.admin_writes (id) VALUES (42), (43)', undefined, 'app');
    await server.query('INSERT INTO app.admin_writes (id) VALUES (42)', undefined, 'app_behind');
    const db = { host: '127.0.0.1', port: server.port, user: 'postgres', password: SUPERUSER.password };
    const result = await leakedRows({ ...db, database: 'app' }, { ...db, database: 'app_behind' });
    expect(result.leaked).toContainEqual({ table: 'app.admin_writes', id: 43 });
    expect(result.leaked).not.toContainEqual({ table: 'app.admin_writes', id: 42 });
    expect(result.rows).toBeGreaterThanOrEqual(2);
  });

  it('says whether every pooled connection wrote again after a given time', async () => {
    load = startLoad({ host: proxy.host, port: proxy.port, ratePerSecond: 40, clients: { poolSize: 2 } });
    const start = Date.now();
    await sleep(400);
    await load.stop();
    expect(load.poolResumedSince(start)).toBe(true);
    expect(load.poolResumedSince(Date.now() + 1)).toBe(false);
  });

  it('honours the CNAME answer for its TTL: new connections keep the old target until it expires', async () => {
    const other = await startProxy({ target: { host: '127.0.0.1', port: server.port } });
    let answer = { address: { host: proxy.host, port: proxy.port }, ttlSeconds: 2 };
    load = startLoad({
      host: '127.0.0.1',
      port: 1,
      resolve: () => answer,
      ratePerSecond: 40,
    });
    try {
      await sleep(300);
      // The record now leads elsewhere; the old target refuses new connections and its
      // established one is ended, so the load must reconnect, to the address it cached.
      answer = { address: { host: other.host, port: other.port }, ttlSeconds: 2 };
      proxy.setAccepting(false);
      await server.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rehearsal-load'",
      );
      await sleep(800);
      expect(other.counts().accepted).toBe(0);
      await sleep(1600);
      expect(other.counts().accepted).toBe(1);
      await load.stop();
      expect(load.acknowledged().at(-1)?.at).toBeDefined();
    } finally {
      proxy.setAccepting(true);
      await load.stop();
      await other.close();
    }
  });
});
