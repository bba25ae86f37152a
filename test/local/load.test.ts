import fs from 'node:fs';
import path from 'node:path';
import { startLoad, type LoadGenerator } from '../../local/load';
import { freePort, makeServerDir, PgServer } from '../../local/postgres';
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
    expect(await load.verify(target)).toEqual({ acknowledged: acked.length, present: acked.length, missing: [] });

    const lost = acked[Math.floor(acked.length / 2)]?.id as number;
    await server.query('DELETE FROM app.load_writes WHERE id = $1', [lost], 'app');
    const verdict = await load.verify(target);
    expect(verdict.missing).toEqual([lost]);
    expect(verdict.present).toBe(acked.length - 1);
  });
});
