import path from 'node:path';
import { Client } from 'pg';
import {
  copyRunningServer,
  createStandby,
  freePort,
  majorUpgradePlan,
  makeServerDir,
  PgServer,
  upgradeMajor,
  upgradeMinor,
} from '../../local/postgres';
import { makeWorkdir, removeWorkdir } from './work';

describe('local PostgreSQL manager (real servers)', () => {
  const workdir = makeWorkdir('pg');
  const servers: PgServer[] = [];
  let primary: PgServer;

  async function server(name: string, engineVersion: string): Promise<PgServer> {
    const s = await PgServer.initialize({
      dataDir: path.join(workdir, name),
      port: await freePort(),
      engineVersion,
      logFile: path.join(workdir, 'logs', `${name}.log`),
    });
    servers.push(s);
    return s;
  }

  beforeAll(async () => {
    await makeServerDir(workdir, 0o755);
    primary = await server('primary', '16.13');
    await primary.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop('immediate').catch(() => undefined)));
    removeWorkdir(workdir);
  });

  it('authenticates with the superuser password over TCP and refuses a wrong one', async () => {
    const rows = await primary.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    expect(rows[0]?.v).toBe('16.13');
    const client = new Client({ ...primary.connectionConfig(), password: 'wrong' });
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('copies a running server consistently: a row committed before the copy is on the copy', async () => {
    await primary.query("INSERT INTO orders VALUES (1, 'before the copy')");
    const result = await copyRunningServer(primary, path.join(workdir, 'copy'));
    await primary.query("INSERT INTO orders VALUES (2, 'after the copy')");

    const copy = new PgServer({
      dataDir: path.join(workdir, 'copy'),
      port: await freePort(),
      engineVersion: '16.13',
      logFile: path.join(workdir, 'logs', 'copy.log'),
    });
    servers.push(copy);
    await copy.start();

    expect(result.walSegments.length).toBeGreaterThan(0);
    const rows = await copy.query<{ id: number }>('SELECT id FROM orders ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([1]);
    // The copy is a primary of its own: it takes writes.
    await copy.query("INSERT INTO orders VALUES (3, 'on the copy')");
    const inRecovery = await copy.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(inRecovery[0]?.r).toBe(false);
  });

  it('runs a streaming standby that receives later commits', async () => {
    const standby = await createStandby(primary, {
      dataDir: path.join(workdir, 'standby'),
      port: await freePort(),
      logFile: path.join(workdir, 'logs', 'standby.log'),
      name: 'reader_1',
    });
    servers.push(standby);
    await primary.query("INSERT INTO orders VALUES (10, 'streamed')");
    const lsn = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]?.lsn;

    const deadline = Date.now() + 10_000;
    let replayed = false;
    while (!replayed && Date.now() < deadline) {
      const rows = await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
      replayed = rows[0]?.ok === true;
      if (!replayed) await new Promise((r) => setTimeout(r, 50));
    }
    expect(replayed).toBe(true);
    const rows = await standby.query<{ note: string }>('SELECT note FROM orders WHERE id = 10');
    expect(rows[0]?.note).toBe('streamed');
    await expect(standby.query("INSERT INTO orders VALUES (11, 'no')")).rejects.toThrow(/read-only transaction/);
  });

  it('upgrades a minor version by restarting the same data folder on the newer binaries', async () => {
    const s = await server('minor', '16.13');
    await s.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')");

    const method = await upgradeMinor(s, '16.14');

    expect(method).toBe('restart-on-new-minor');
    expect((await s.query<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]?.v).toBe('16.14');
    expect((await s.query<{ v: string }>('SELECT v FROM kept'))[0]?.v).toBe('survives');
  });

  it('upgrades a major version with the best method the machine offers, or says there is none', async () => {
    const s = await server('major', '15.18');
    await s.query('CREATE DATABASE app');
    await s.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')", undefined, 'app');
    // A fenced database is read-only by default; the upgrade must still carry it over.
    await s.query('ALTER DATABASE app SET default_transaction_read_only = on');
    const plan = majorUpgradePlan('15.18', '16.14');
    const options = {
      newDataDir: path.join(workdir, 'major16'),
      logFile: path.join(workdir, 'logs', 'major16.log'),
      scratchDir: path.join(workdir, 'scratch'),
    };

    if (!plan) {
      await expect(upgradeMajor(s, '16.14', options)).rejects.toThrow(/no major-upgrade method/);
      return;
    }
    const result = await upgradeMajor(s, '16.14', options);
    servers.push(result.server);

    expect(result.method).toBe(plan.method);
    expect(s.isRunning).toBe(false);
    expect(result.server.port).toBe(s.port);
    expect((await result.server.query<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]?.v).toBe(
      '16.14',
    );
    expect((await result.server.query<{ v: string }>('SELECT v FROM kept', undefined, 'app'))[0]?.v).toBe('survives');
    const roles = await result.server.query<{ rolname: string }>(
      "SELECT rolname FROM pg_roles WHERE rolname = 'replicator'",
    );
    expect(roles).toHaveLength(1);
  });
});
