import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { rehearsalExitCode } from '../../local/cli';
import { SUPERUSER } from '../../local/postgres';
import { runRehearsal, type RehearsalOptions, type RehearsalReport } from '../../local/rehearsal';
import { SAMPLE_MIGRATIONS_DIR } from '../../local/sample';

/**
 * The strongest test the project has: the synthesized state machine with the real steps, on
 * real PostgreSQL servers, under a live write load. Shorter intervals and a small load.
 */

const FAST: Partial<RehearsalOptions> = {
  loadRate: 25,
  blueRetentionSeconds: 1,
  retryDelayMs: 100,
  operationDelayMs: 150,
  approval: 'auto-approve',
};

const workdirs: string[] = [];
function workdir(): string {
  // Under /tmp: the PostgreSQL OS user must be able to traverse every parent folder.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rehearsal-test-'));
  fs.chmodSync(dir, 0o755);
  workdirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of workdirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function rehearse(options: Partial<RehearsalOptions> = {}): Promise<RehearsalReport> {
  return runRehearsal({ workdir: workdir(), ...FAST, ...options });
}

function expectBlueServingAgain(report: RehearsalReport) {
  expect(report.status).toBe('ROLLED_BACK');
  expect(report.writes.lost).toBe(0);
  expect(report.writes.leaked).toBe(0);
  // The sticky pool's connections write on blue again after the rollback.
  expect(report.writes.resumed).toBe(true);
  expect(report.writes.acknowledged).toBeGreaterThan(0);
  expect(report.cname.target).toBe('app-blue');
  expect(report.blue.state).toBe('writable');
  expect(report.green).toBeNull();
}

/** A session on the app database as the application's user, through `address` (the CNAME or blue's writer). */
async function appSession<T>(
  address: { host: string; port: number },
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({
    ...address,
    user: SUPERUSER.username,
    password: SUPERUSER.password,
    database: 'app',
    application_name: 'rehearsal-test-client',
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function columnsOf(address: { host: string; port: number }, table: string): Promise<string[]> {
  return appSession(address, async (client) => {
    const r = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = $1 ORDER BY 1`,
      [table],
    );
    return r.rows.map((row) => row.column_name);
  });
}

/** Blue's writer after a run with `keep` (the proxies ended with the run; the servers did not). */
function keptBlueWriter(report: RehearsalReport): { host: string; port: number } {
  const blue = report.kept?.servers.find((s) => s.clusterId === 'app-blue' && s.role === 'writer');
  const port = Number(/@127\.0\.0\.1:(\d+)\//.exec(blue?.connect ?? '')?.[1]);
  if (!port) throw new Error('blue writer not kept');
  return { host: '127.0.0.1', port };
}

/**
 * What this workflow left on blue (a run with `keep`): replication slots, publications and DDL
 * guards are named `bg_…` and `bluegreen_refuse_ddl_…` (lambdas/steps/replication.ts).
 */
async function replicationLeftOnBlue(report: RehearsalReport): Promise<string[]> {
  return appSession(keptBlueWriter(report), async (client) => {
    const r = await client.query<{ item: string }>(
      `SELECT 'slot ' || slot_name AS item FROM pg_replication_slots
        UNION ALL SELECT 'publication ' || pubname FROM pg_publication
        UNION ALL SELECT 'event trigger ' || evtname FROM pg_event_trigger
        UNION ALL SELECT 'subscription ' || subname FROM pg_subscription`,
    );
    return r.rows.map((row) => row.item);
  });
}

/** Runs with `keep` and stops the kept servers however the assertions end. */
async function rehearseKept(
  options: Partial<RehearsalOptions>,
  check: (report: RehearsalReport) => Promise<void>,
): Promise<void> {
  const report = await rehearse({ ...options, keep: true });
  try {
    await check(report);
  } finally {
    if (report.kept) execSync(report.kept.stopAll, { stdio: 'ignore' });
  }
}

jest.setTimeout(240_000);

describe('npm run rehearse, end to end on real PostgreSQL', () => {
  it('deploys with zero lost writes: CNAME on green, engine upgraded, migrations applied, blue gone', async () => {
    const report = await rehearse();
    expect(report.error).toBeUndefined();
    expect(report.status).toBe('SUCCEEDED');
    expect(report.writes.lost).toBe(0);
    expect(report.writes.acknowledged).toBeGreaterThan(50);
    expect(report.writes.presentBehindCname).toBe(report.writes.acknowledged);
    expect(report.writes.acknowledgedOnGreen).toBeGreaterThan(0);
    // Every row blue ended with (read from its final snapshot) is on green, acknowledged or not.
    expect(report.writes.leaked).toBe(0);
    expect(report.writes.blueFinal.from).toBe('final snapshot');
    expect(report.writes.blueFinal.rows).toBeGreaterThan(50);
    expect(report.writes.resumed).toBe(true);
    // The realistic load: a sticky pool, a spanning transaction, an idle-in-transaction
    // session (connections replaced after the fence ended them), and ids from a sequence.
    expect(report.writes.sessions).toBeGreaterThanOrEqual(6);
    const json = JSON.parse(fs.readFileSync(report.reportFile, 'utf8')) as RehearsalReport;
    expect(json.writes).toEqual(report.writes);
    expect(report.unlogged.tables).toEqual(['app: app.sessions_cache']);
    expect(report.unlogged.note).toContain('empties unlogged tables');
    expect(report.green?.engineVersion).toBe('16.14');
    expect(report.cname.target).toBe(report.green?.id);
    expect(report.upgradeMethod).toBe('restart-on-new-minor');
    expect(report.migrationsApplied).toEqual(fs.readdirSync(SAMPLE_MIGRATIONS_DIR).sort());
    expect(report.blue.state).toBe('deleted');
    expect(report.blue.finalSnapshot && fs.existsSync(report.blue.finalSnapshot)).toBe(true);
    expect(report.downtimeMs).toBeGreaterThan(0);
    // Offline: the write freeze is the downtime; no replication ran, no failback was asked for.
    expect(report.mode).toBe('offline');
    expect(report.writeFreezeMs).toBe(report.downtimeMs);
    expect(report.replicationLagMs).toEqual([]);
    expect(report.failback).toBeNull();
    expect(fs.existsSync(report.reportFile)).toBe(true);
    expect(fs.readFileSync(report.htmlFile, 'utf8')).toContain('<svg');
    // Blue runs with logical replication on, as online mode and failback need; green is a clone
    // whose start LSN is known exactly (local/cloud/clone-start-lsn.ts).
    const cloudLog = fs.readFileSync(path.join(report.workdir, 'logs', 'cloud.log'), 'utf8');
    expect(cloudLog).toContain(
      'app-blue: created with PostgreSQL 16.13, 1 reader(s), cluster parameter group app-pg16-cluster (wal_level logical)',
    );
    expect(cloudLog).toMatch(
      new RegExp(`${report.green?.id}: consistent at [0-9A-F]+/[0-9A-F]+ \\(timeline 2, reached consistency\\)`),
    );
  });

  it('--mode online: blue serves through the clone and the approval; writes freeze only for the switchover; nothing lost', async () => {
    const report = await rehearse({ mode: 'online' });
    expect(report.error).toBeUndefined();
    expect(report.status).toBe('SUCCEEDED');
    expect(rehearsalExitCode(report)).toBe(0);
    expect(report.mode).toBe('online');
    expect(report.cname.target).toBe(report.green?.id);
    expect(report.writes.lost).toBe(0);
    expect(report.writes.leaked).toBe(0);
    expect(report.writes.resumed).toBe(true);
    expect(report.writes.acknowledgedOnGreen).toBeGreaterThan(0);
    // The freeze is the switchover's: it starts after the approval, when blue is fenced at last.
    const approved = report.phases.find((p) => p.state === 'RequestApproval')?.endedAt;
    const freeze = report.freezeWindows.switchover;
    expect(approved && freeze && Date.parse(freeze.to) > Date.parse(approved)).toBe(true);
    expect(report.writeFreezeMs).toBe(Date.parse(freeze?.to ?? '') - Date.parse(freeze?.from ?? ''));
    // Blue acknowledged writes all along the clone, the migrations and the smoke tests.
    const cloneStarted = Date.parse(report.phases.find((p) => p.state === 'CreateClone')?.startedAt ?? '');
    const writesBeforeFreeze = report.writesPerSecond.filter(
      (s) => Date.parse(s.at) >= cloneStarted && Date.parse(s.at) + 1000 <= Date.parse(freeze?.from ?? ''),
    );
    expect(writesBeforeFreeze.length).toBeGreaterThanOrEqual(2);
    // (A busy machine may starve the load for a second; an offline run writes nothing at all here.)
    const seconds = writesBeforeFreeze.filter((s) => s.acknowledged > 0).length;
    expect(seconds / writesBeforeFreeze.length).toBeGreaterThanOrEqual(0.9);
    // Green's lag was sampled while the subscription ran, never after the switchover.
    const lag = report.replicationLagMs;
    expect(lag.length).toBeGreaterThan(0);
    expect(lag.every((l) => l.direction === 'blue-to-green' && Date.parse(l.at) <= Date.parse(freeze?.to ?? ''))).toBe(
      true,
    );
    const html = fs.readFileSync(report.htmlFile, 'utf8');
    expect(html).toContain('class="lag blue-to-green"');
    expect(html).toContain('class="freeze switchover"');
  });

  it('--mode online --from 15.18 --to 16.14: a major upgrade; DDL on blue while it replicates is refused by the guard with the reason (a temporary table passes), and the run deploys with nothing lost', async () => {
    let refused: { message: string; code?: string; hint?: string } | undefined;
    let columnsAfter: string[] = [];
    let staged: number | undefined;
    const report = await rehearse({
      mode: 'online',
      from: '15.18',
      to: '16.14',
      // The approval waits for the hook: blue serves and replicates to green meanwhile.
      beforeState: {
        state: 'RequestApproval',
        run: async ({ cname }) => {
          await appSession(cname, async (client) => {
            try {
              await client.query('ALTER TABLE app.load_writes ADD COLUMN note text');
            } catch (error) {
              const { message, code, hint } = error as Error & { code?: string; hint?: string };
              refused = { message, code, hint };
            }
          });
          columnsAfter = await columnsOf(cname, 'app.load_writes');
          // A temporary table is the session's own, never replicated: the application keeps using them.
          staged = await appSession(cname, async (client) => {
            await client.query('CREATE TEMP TABLE staged AS SELECT id FROM app.load_writes');
            const r = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM staged');
            await client.query('DROP TABLE staged');
            return r.rows[0]?.n;
          });
        },
      },
    });
    expect(report.error).toBeUndefined();
    expect(report.status).toBe('SUCCEEDED');
    expect(refused?.code).toBe('55000');
    expect(refused?.message).toMatch(
      /^ALTER TABLE refused: blue\/green deployment rehearsal-\S+ replicates this database with logical replication, which does not carry schema changes; this one would stop the replication\.$/,
    );
    expect(refused?.hint).toBe(
      "Put the change in the deployment's migrations, or make it after the deployment has switched over or rolled back.",
    );
    expect(columnsAfter).toEqual(['id', 'written_at']);
    expect(staged).toBeGreaterThan(0);
    expect(report.mode).toBe('online');
    expect(report.from).toBe('15.18');
    expect(report.green?.engineVersion).toBe('16.14');
    // A major upgrade, the best real method the machine offers (never a restart on new binaries).
    expect(report.upgradeMethod).toMatch(/^(pg_upgrade|dump-restore)$/);
    expect(report.cname.target).toBe(report.green?.id);
    expect(report.writes.lost).toBe(0);
    expect(report.writes.leaked).toBe(0);
    expect(report.writes.resumed).toBe(true);
    expect(report.writes.acknowledgedOnGreen).toBeGreaterThan(0);
    expect(report.blue.state).toBe('deleted');
  });

  it('--mode online: DDL that gets past the guard (session_replication_role = replica) is seen while replicating; rolled back before the switchover, blue never fenced, replication gone from blue', async () => {
    await rehearseKept(
      {
        mode: 'online',
        beforeState: {
          state: 'CheckReplication',
          run: ({ cname }) =>
            appSession(cname, async (client) => {
              // A superuser session in replica role: event triggers (the guard) do not fire.
              await client.query('SET session_replication_role = replica');
              await client.query('ALTER TABLE app.load_writes ADD COLUMN note text');
            }),
        },
      },
      async (report) => {
        expectBlueServingAgain(report);
        expect(report.error?.name).toBe('ReplicationFailed');
        expect(report.error?.state).toBe('CheckReplication');
        expect(report.error?.cause).toContain(
          'the tables or columns of database app on blue changed while replicating (DDL is not replicated, and the DDL guard was bypassed)',
        );
        const states = report.phases.map((p) => p.state);
        expect(states).toContain('RemoveReplication');
        expect(states).not.toContain('RequestApproval');
        expect(states).not.toContain('SwitchoverFence');
        // The change itself stays: it was the client's, on blue, and blue serves with it.
        expect(await columnsOf(keptBlueWriter(report), 'app.load_writes')).toEqual(['id', 'note', 'written_at']);
        expect(await replicationLeftOnBlue(report)).toEqual([]);
      },
    );
  });

  it("--mode online: DDL with the guard's own bypass during the approval is caught by GuardGreen before the switchover changes anything; blue never fenced, nothing lost", async () => {
    await rehearseKept(
      {
        mode: 'online',
        beforeState: {
          state: 'RequestApproval',
          run: ({ cname }) =>
            appSession(cname, async (client) => {
              await client.query('SET bluegreen.allow_ddl = on');
              await client.query('ALTER TABLE app.seq_writes ADD COLUMN note text');
            }),
        },
      },
      async (report) => {
        expectBlueServingAgain(report);
        expect(report.error?.name).toBe('ReplicationFailed');
        expect(report.error?.cause).toContain(
          'the tables or columns of database app on blue changed while replicating (DDL is not replicated, and the DDL guard was bypassed)',
        );
        expect(report.error?.state).toBe('GuardGreen');
        const states = report.phases.map((p) => p.state);
        expect(states).toEqual(expect.arrayContaining(['GuardGreen', 'RemoveReplication']));
        for (const state of ['OpenGuardedGreen', 'SwitchoverFence', 'CatchUpGreen', 'SwapCname']) {
          expect(states).not.toContain(state);
        }
        expect(await replicationLeftOnBlue(report)).toEqual([]);
      },
    );
  });

  it("--mode online: a real replication error (a migration adds a check constraint that blue's writes violate) rolls back; blue keeps every write, replication gone from blue", async () => {
    await rehearseKept(
      { mode: 'online', migrationsDir: path.join(__dirname, 'fixtures', 'migrations-apply-error') },
      async (report) => {
        expectBlueServingAgain(report);
        expect(report.error?.name).toBe('ReplicationFailed');
        expect(report.error?.state).toBe('CheckReplication');
        expect(report.error?.cause).toContain('the apply on green of database app failed');
        // Applied on green (which is then deleted), never on blue.
        expect(report.migrationsApplied).toEqual(['001_load_writes_source.sql']);
        const states = report.phases.map((p) => p.state);
        expect(states).toEqual(expect.arrayContaining(['ApplySql', 'StartReplication', 'RemoveReplication']));
        expect(states).not.toContain('SwitchoverFence');
        // The cause is real: green's apply worker refused blue's rows.
        const logs = path.join(report.workdir, 'logs');
        const greenLogs = fs.readdirSync(logs).filter((f) => f.startsWith('app-blue-g'));
        expect(greenLogs.map((f) => fs.readFileSync(path.join(logs, f), 'utf8')).join('\n')).toMatch(
          /new row for relation "load_writes" violates check constraint "load_writes_source_given"/,
        );
        expect(await columnsOf(keptBlueWriter(report), 'app.load_writes')).toEqual(['id', 'written_at']);
        expect(await replicationLeftOnBlue(report)).toEqual([]);
      },
    );
  });

  it('--mode online --failback: online cutover, then failback over HTTP; FAILED_BACK, every write on blue, lag sampled both ways', async () => {
    const report = await rehearse({ mode: 'online', failback: true, blueRetentionSeconds: 60 });
    expect(report.error).toBeUndefined();
    expect(report.status).toBe('FAILED_BACK');
    expect(report.cname.target).toBe('app-blue');
    expect(report.writes.acknowledgedOnGreen).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
    expect(report.writes.leaked).toBe(0);
    expect(report.writes.resumed).toBe(true);
    expect(rehearsalExitCode(report)).toBe(0);
    expect(report.failback?.done).toBe(true);
    const directions = new Set(report.replicationLagMs.map((l) => l.direction));
    expect(directions).toEqual(new Set(['blue-to-green', 'green-to-blue']));
  });

  it('--failback (offline): deploys, then fails back over HTTP during retention; every write acknowledged before, during and after the cutover is on blue', async () => {
    const report = await rehearse({ failback: true, blueRetentionSeconds: 60 });
    expect(report.error).toBeUndefined();
    expect(report.status).toBe('FAILED_BACK');
    expect(report.cname.target).toBe('app-blue');
    expect(report.blue.state).toBe('writable');
    // Green is kept, and took writes between the cutover and the failback.
    expect(report.green?.id).toMatch(/^app-blue-g\d{12}$/);
    expect(report.writes.acknowledgedOnGreen).toBeGreaterThan(0);
    // Lost: every acknowledged write, green's included, is on blue behind the CNAME.
    expect(report.writes.lost).toBe(0);
    expect(report.writes.presentBehindCname).toBe(report.writes.acknowledged);
    // Leaked: green holds no row that blue lacks.
    expect(report.writes.blueFinal.from).toBe('green writer');
    expect(report.writes.leaked).toBe(0);
    expect(report.writes.resumed).toBe(true);
    expect(rehearsalExitCode(report)).toBe(0);
    expect(report.mode).toBe('offline');
    expect(report.writeFreezeMs).toBeGreaterThan(0);
    expect(report.failback?.done).toBe(true);
    expect(report.failback?.freezeMs).toBeGreaterThan(0);
    // Blue followed green: its lag was sampled while the reverse subscription ran.
    expect(report.replicationLagMs.filter((l) => l.direction === 'green-to-blue').length).toBeGreaterThan(0);
    expect(report.replicationLagMs.filter((l) => l.direction === 'blue-to-green')).toEqual([]);
    const html = fs.readFileSync(report.htmlFile, 'utf8');
    expect(html).toContain('class="freeze failback"');
    expect(html).toContain('class="lag green-to-blue"');
  });

  it('rolls back a failing migration: blue writable again through the CNAME, nothing lost, the file named', async () => {
    const migrations = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-migrations-'));
    workdirs.push(migrations);
    fs.copyFileSync(
      path.join(SAMPLE_MIGRATIONS_DIR, '001_order_status.sql'),
      path.join(migrations, '001_order_status.sql'),
    );
    fs.writeFileSync(
      path.join(migrations, '002_broken.sql'),
      'ALTER TABLE app.orders\n  ADD COLUMN total numeric NOT NULL DEFAULT nonsense();\n',
    );
    const report = await rehearse({ migrationsDir: migrations });
    expectBlueServingAgain(report);
    expect(report.error?.name).toBe('MigrationFailed');
    expect(report.error?.cause).toContain('002_broken.sql');
  });

  it('rolls back a failed engine upgrade (--upgrade-fails): UpgradeFailed with the reason, blue writable, nothing lost', async () => {
    const report = await rehearse({ upgradeFails: true });
    expectBlueServingAgain(report);
    expect(report.error?.name).toBe('UpgradeFailed');
    expect(report.error?.cause).toContain('Upgrade prechecks failed');
    expect(report.phases.map((p) => p.state)).not.toContain('PostUpgrade');
    // The report names what the local cloud modelled, with its figures, in the JSON and the page.
    const modelled = new Map(report.modelled.map((m) => [m.name, m.figure]));
    expect(modelled.get('Failed engine upgrade')).toBe('on (every upgrade fails)');
    expect(modelled.get('LatestRestorableTime lag')).toBe('2000 ms behind the present');
    expect(modelled.get('RDS operation latency')).toBe('150 ms at least');
    expect(modelled.get('Route 53 change propagation')).toBe('150 ms');
    expect(modelled.get('Clone start LSN')).toBe('exact: where the clone became consistent');
    expect(modelled.get('rds.logical_replication')).toBe('static: in effect after a reboot');
    const json = JSON.parse(fs.readFileSync(report.reportFile, 'utf8')) as RehearsalReport;
    expect(json.modelled).toEqual(report.modelled);
    const html = fs.readFileSync(report.htmlFile, 'utf8');
    expect(html).toContain('Modelled by the local cloud');
    for (const m of report.modelled) expect(html).toContain(`<td>${m.name}</td><td>${m.figure}</td>`);
  });

  it('--mode online: rolls back when the approver rejects, replication removed from blue first, with nothing lost', async () => {
    // (The offline reject is in test/workflow; here the online rollback runs on real servers.)
    const report = await rehearse({ mode: 'online', approval: 'reject', rejectReason: 'the index build is too slow' });
    expectBlueServingAgain(report);
    expect(report.mode).toBe('online');
    const states = report.phases.map((p) => p.state);
    expect(states).toContain('RemoveReplication');
    expect(states.indexOf('RemoveReplication')).toBeLessThan(states.indexOf('Rollback'));
    // Blue was never fenced: no switchover state ran.
    expect(states).not.toContain('SwitchoverFence');
    expect(report.error?.name).toBe('ApprovalRejected');
    expect(report.error?.cause).toContain('the index build is too slow');
  });

  it('survives transient faults at CreateClone, ApplySql, UpgradeEngine and SwapCname', async () => {
    const report = await rehearse({
      faults: [
        { state: 'CreateClone', error: 'ThrottlingException', count: 1 },
        { state: 'ApplySql', error: 'RetryableAwsError', count: 1 },
        { state: 'UpgradeEngine', error: 'InvalidDBClusterStateFault', count: 1 },
        { state: 'SwapCname', error: 'PriorRequestNotComplete', count: 1 },
      ],
    });
    expect(report.status).toBe('SUCCEEDED');
    expect(report.writes.lost).toBe(0);
    const attempts = Object.fromEntries(report.phases.map((p) => [p.state, p.attempts]));
    expect(attempts).toMatchObject({ CreateClone: 2, ApplySql: 2, UpgradeEngine: 2, SwapCname: 2 });
  });

  it('survives a Lambda timing out after its side effect at BlockWrites, CreateClone and SwapCname, creating nothing twice', async () => {
    const report = await rehearse({ crashAfter: ['BlockWrites', 'CreateClone', 'SwapCname'] });
    expect(report.status).toBe('SUCCEEDED');
    expect(report.writes.lost).toBe(0);
    const attempts = Object.fromEntries(report.phases.map((p) => [p.state, p.attempts]));
    expect(attempts).toMatchObject({ BlockWrites: 2, CreateClone: 2, SwapCname: 2 });
    // One green, one clone, one writer and one reader created: the retries found their work done.
    expect(report.green?.id).toMatch(/^app-blue-g\d{12}$/);
    expect(report.operations.filter((o) => o.operation === 'clone')).toHaveLength(1);
    const created = report.operations.filter((o) => o.operation.startsWith('create '));
    expect(created.map((o) => o.operation).sort()).toEqual(['create reader', 'create writer']);
    expect(report.cname.target).toBe(report.green?.id);
  });

  it('--abort-after ApplySql: stopped by hand after the fence and the clone, the recovery gives blue back', async () => {
    const report = await rehearse({ abortAt: 'ApplySql' });
    expect(report.status).toBe('ABORTED');
    expect(report.error?.name).toBe('ExecutionAborted');
    expect(report.recovery).toEqual({ action: 'rollback', status: 'SUCCEEDED', outcome: 'ROLLED_BACK' });
    // The fence and the clone had happened: blue was read-only, detached, and green existed.
    expect(report.phases.map((p) => p.state)).toEqual(expect.arrayContaining(['FenceWrites', 'CreateClone']));
    expect(report.blue.state).toBe('writable');
    expect(report.green).toBeNull();
    expect(report.cname.target).toBe('app-blue');
    expect(report.lock.held).toBe(false);
    expect(report.writes.lost).toBe(0);
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(rehearsalExitCode(report)).toBe(1);
  });

  it('stops on bad input with PreconditionFailed naming the field, and creates no green', async () => {
    const report = await rehearse({
      input: { blueClusterId: 'app-blue', replicaCount: 40 },
    });
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('PreconditionFailed');
    expect(report.error?.cause).toContain('replicaCount');
    expect(report.green).toBeNull();
    expect(report.blue.state).toBe('writable');
    expect(report.writes.lost).toBe(0);
  });

  it('does a dry run on a clone of the live blue: the application never stops writing', async () => {
    const report = await rehearse({ dryRun: true });
    expect(report.status).toBe('SUCCEEDED');
    expect(report.writes.rejectedDuringDowntime).toBe(0);
    expect(report.writes.lost).toBe(0);
    expect(report.blue.state).toBe('writable');
    expect(report.green).toBeNull();
    expect(report.cname.target).toBe('app-blue');
    expect(report.upgradeMethod).toBe('restart-on-new-minor');
    expect(report.dryRunDowntimeEstimateMs).toBeGreaterThan(0);
  });

  it('detects writes after the fence: without it, pooled connections keep writing to blue and CheckFenceHeld rolls back', async () => {
    const report = await rehearse({ unsafeSkipFence: true });
    expect(report.status).not.toBe('SUCCEEDED');
    expect(report.error?.name).toBe('WritesAfterFence');
    expect(report.error?.cause).toMatch(/database app, app\.load_writes: \d+ row\(s\) inserted/);
    expect(report.blue.state).toBe('writable');
    expect(report.writes.lost).toBe(0);
  });

  it('--mode online --hostile: writes on blue after the fence are never lost silently: caught before the swap (rollback) or by CloseBlue after it (blue kept, tables named)', async () => {
    const report = await rehearse({ mode: 'online', hostile: true });
    expect(report.error?.name).toBe('WritesAfterFence');
    expect(report.error?.cause).toMatch(/admin_writes/);
    // Which check sees them first depends on when the rogue reconnects after the fence ended it.
    if (report.error?.state === 'CloseBlue') {
      // Green serves; blue is kept, fenced, with every acknowledged write that green lacks.
      expect(report.status).toBe('FAILED');
      expect(report.cname.target).not.toBe('app-blue');
      expect(report.blue.state).toBe('fenced');
      expect(report.writes.resumed).toBe(true);
      const onBlue = new Set(Object.values(report.leakedRows).flat());
      expect(report.lostWriteIds.filter((id) => !onBlue.has(id))).toEqual([]);
    } else {
      expect(report.error?.state).toBe('CatchUpGreen');
      expectBlueServingAgain(report);
    }
  });

  it('--hostile: an admin-path writer with read-only off and a replication-mode writer are detected, rolled back, nothing lost or leaked', async () => {
    const report = await rehearse({ hostile: true });
    expect(report.status).toBe('ROLLED_BACK');
    expect(report.error?.name).toBe('WritesAfterFence');
    expect(report.error?.cause).toMatch(/app\.admin_writes: \d+ row\(s\) inserted/);
    expect(report.error?.cause).toMatch(/app\.repl_writes: \d+ row\(s\) inserted/);
    // The downtime is what the application saw through the CNAME, not the rogue clients' writes.
    expect(report.downtimeMs).toBeGreaterThan(1000);
    expectBlueServingAgain(report);
  });
});
