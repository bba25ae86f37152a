import type { Client } from 'pg';
import { MigrationFailed, MigrationsChanged, MigrationTimeout, PreconditionFailed } from '../../lambdas/domain/errors';
import { attemptSessionName } from '../../lambdas/steps/db';
import type { Database, MigrationFile, MigrationSource } from '../../lambdas/ports';
import {
  applySql,
  type ApplyOptions,
  loadMigrationSet,
  MAX_MIGRATION_BYTES,
  MIGRATION_LOCK_KEY,
} from '../../lambdas/steps/migrations';
import { validateMigrations } from '../../lambdas/steps/validate-migrations';
import { clustersStub, GREEN_ID, makeDocument, realClock, testDatabase } from '../support/documents';
import { startPostgres, type TestServer } from '../support/postgres';

const PREFIX = 's3://migrations-bucket/2026-12-05/';
const utf8 = (text: string) => new TextEncoder().encode(text);

function source(files: Record<string, string | Uint8Array>): MigrationSource {
  const list: MigrationFile[] = Object.entries(files).map(([name, content]) => ({
    name: `2026-12-05/${name}`,
    bytes: typeof content === 'string' ? utf8(content) : content,
  }));
  return { list: async () => list };
}

describe('SQL migrations on green (real PostgreSQL)', () => {
  let green: TestServer;
  const database = testDatabase();
  let dbCounter = 0;

  beforeAll(async () => {
    green = await startPostgres();
  });
  afterAll(async () => green?.stop());

  /** A fresh database per test keeps the tests independent. */
  async function freshDatabase(): Promise<string> {
    const name = `app${++dbCounter}`;
    await green.sql(`CREATE DATABASE ${name}`);
    return name;
  }

  /**
   * As the state machine does: ValidateMigrations pins the set it reads from `pinned`, ApplySql
   * runs exactly that, reading `applied` (the bucket as it is by then).
   */
  async function runFrom(
    db: string,
    pinned: MigrationSource,
    applied: MigrationSource = pinned,
    migrations: { lockTimeoutMs?: number; statementTimeoutMs?: number } = {},
    applyOptions: ApplyOptions = {},
  ) {
    const doc = makeDocument(green, {
      input: {
        migrations: {
          s3Prefix: PREFIX,
          database: db,
          phase: 'before-upgrade',
          lockTimeoutMs: migrations.lockTimeoutMs ?? 5_000,
          statementTimeoutMs: migrations.statementTimeoutMs ?? 60_000,
        },
      },
    });
    doc.migrationSet = await validateMigrations(doc, { migrations: pinned });
    return applySql(
      doc,
      { database, migrations: applied, clusters: clustersStub({ [GREEN_ID]: green }), clock: realClock },
      applyOptions,
    );
  }

  async function run(
    db: string,
    files: Record<string, string | Uint8Array>,
    migrations: { lockTimeoutMs?: number; statementTimeoutMs?: number } = {},
    options: ApplyOptions & { changedAfterValidation?: Record<string, string | Uint8Array> } = {},
  ) {
    const { changedAfterValidation, ...applyOptions } = options;
    return runFrom(db, source(files), source(changedAfterValidation ?? files), migrations, applyOptions);
  }

  async function ledger(db: string): Promise<{ version: string; sha256: string; execution_id: string }[]> {
    return green.sql(
      'SELECT version, sha256, execution_id FROM bluegreen.migrations ORDER BY applied_at, version',
      [],
      db,
    );
  }

  const set = {
    '002_fill.sql': "INSERT INTO orders (note) VALUES ('first');\n",
    'README.md': '# not a migration',
    '010_alter.sql': 'ALTER TABLE orders ADD COLUMN shipped boolean NOT NULL DEFAULT false;\n',
    '001_create.sql': 'CREATE TABLE orders (id bigserial PRIMARY KEY, note text);\n',
  };

  it('applies .sql files in lexical order, records them, and skips them on a re-run', async () => {
    const db = await freshDatabase();

    const first = await run(db, set);

    expect(first.applied.map((a) => a.name)).toEqual(['001_create.sql', '002_fill.sql', '010_alter.sql']);
    expect(first.skipped).toEqual([]);
    expect(first.applied[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await ledger(db)).map((row) => row.version)).toEqual(['001_create.sql', '002_fill.sql', '010_alter.sql']);
    expect(await green.sql('SELECT note, shipped FROM orders', [], db)).toEqual([{ note: 'first', shipped: false }]);

    const again = await run(db, { ...set, '011_more.sql': "INSERT INTO orders (note) VALUES ('second');" });

    expect(again.skipped).toEqual(['001_create.sql', '002_fill.sql', '010_alter.sql']);
    expect(again.applied.map((a) => a.name)).toEqual(['011_more.sql']);
    expect(await green.sql('SELECT count(*)::int AS n FROM orders', [], db)).toEqual([{ n: 2 }]);
  });

  it('fails with MigrationFailed when an applied file changed, before running anything', async () => {
    const db = await freshDatabase();
    await run(db, set);

    const changed = run(db, {
      ...set,
      '002_fill.sql': "INSERT INTO orders (note) VALUES ('edited');\n",
      '020_new.sql': 'CREATE TABLE never_created (x int);',
    });

    await expect(changed).rejects.toBeInstanceOf(MigrationFailed);
    await expect(changed).rejects.toThrow(
      /002_fill\.sql \(applied by execution .* with sha256 [0-9a-f]{64}, now [0-9a-f]{64}\)/,
    );
    expect(await green.sql("SELECT to_regclass('never_created') AS t", [], db)).toEqual([{ t: null }]);
  });

  it('stops at a failing file: earlier files stay applied, the failing one is rolled back, the error locates it', async () => {
    const db = await freshDatabase();

    const failure = run(db, {
      '001_a.sql': 'CREATE TABLE first_table (id int);\n',
      '002_b.sql':
        'CREATE TABLE second_table (id int);\nINSERT INTO second_table VALUES (1);\nSELECT id,\n       no_such_column FROM second_table;\n',
      '003_c.sql': 'CREATE TABLE third_table (id int);\n',
    });

    await expect(failure).rejects.toBeInstanceOf(MigrationFailed);
    const message = await failure.catch((e: Error) => e.message);
    expect(message).toContain('Migration 002_b.sql failed at line 4, column 8: SQLSTATE 42703');
    expect(message).toContain('column "no_such_column" does not exist');
    expect(message).toContain('Applied before it in this run: 001_a.sql');
    expect((await ledger(db)).map((row) => row.version)).toEqual(['001_a.sql']);
    expect(
      await green.sql(
        "SELECT to_regclass('first_table')::text AS a, to_regclass('second_table')::text AS b, to_regclass('third_table')::text AS c",
        [],
        db,
      ),
    ).toEqual([{ a: 'first_table', b: null, c: null }]);
  });

  it('bounds a failure with a huge server message after many applied files: file, position and outcome survive', async () => {
    const db = await freshDatabase();
    const files: Record<string, string> = {};
    for (let i = 1; i <= 60; i++)
      files[`${String(i).padStart(3, '0')}_step_with_a_rather_long_descriptive_name.sql`] = 'SELECT 1;\n';
    files['100_boom.sql'] =
      "DO $$ BEGIN RAISE EXCEPTION '%', repeat('e', 200000) USING DETAIL = repeat('d', 200000), HINT = repeat('h', 200000); END $$;\n";

    const message = await run(db, files).then(
      () => 'applied',
      (e: Error) => e.message,
    );

    expect(message.length).toBeLessThanOrEqual(4_000);
    expect(message).toMatch(/^Migration 100_boom\.sql failed at .*: SQLSTATE P0001: e{100}/);
    expect(message).toContain('characters, truncated]');
    expect(message).toContain('Its transaction was rolled back; the file is not recorded in the ledger.');
    expect(message).toContain('Applied before it in this run: 50 more, then 051_step');
    expect(message).toContain('060_step_with_a_rather_long_descriptive_name.sql.');
  });

  it('cancels a migration that would outlive the Lambda with MigrationTimeout naming the file', async () => {
    const db = await freshDatabase();
    const files = {
      '001_quick.sql': 'CREATE TABLE quick (id int);\n',
      '002_slow.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(30);\n',
    };
    const started = Date.now();

    // 3 s of Lambda left after the reserve; the configured statement_timeout (0: none) is longer.
    const failure = await run(
      db,
      files,
      { statementTimeoutMs: 0 },
      { deadline: new Date(Date.now() + 18_000), reserveMs: 15_000 },
    ).then(
      () => undefined,
      (e: Error) => e,
    );

    expect(failure).toBeInstanceOf(MigrationTimeout);
    expect(failure?.name).toBe('MigrationTimeout');
    expect(failure?.message).toMatch(
      /^Migration 002_slow\.sql would outlive the ApplySql Lambda \(900 s\): the server cancelled it after [23] s/,
    );
    expect(failure?.message).toContain('docs/migrations.md');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await ledger(db)).map((row) => row.version)).toEqual(['001_quick.sql']);
    expect(await green.sql("SELECT to_regclass('slow')::text AS t", [], db)).toEqual([{ t: null }]);

    // With no time left, the next file is not even started.
    await expect(run(db, files, {}, { deadline: new Date(Date.now() + 15_500), reserveMs: 15_000 })).rejects.toThrow(
      /Migration 002_slow\.sql was not started: the ApplySql Lambda \(900 s\) has 0 s left/,
    );
  });

  it("a retried ApplySql ends its earlier attempt's session (file running, advisory lock held) and only that one", async () => {
    const db = await freshDatabase();
    const doc = makeDocument(green, {});
    const own = attemptSessionName(doc, 'ApplySql');
    const other = attemptSessionName(makeDocument(green, { input: { executionId: 'someone-else' } }), 'ApplySql');
    const earlier = await green.client(db, { applicationName: own });
    const bystander = await green.client(db, { applicationName: other });
    try {
      await earlier.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
      const busy = earlier.query('SELECT pg_sleep(60)').catch((e: Error) => e);

      // Without ending the earlier attempt, this run would wait on the advisory lock until lockWaitMs.
      const result = await run(db, set, {}, { lockWaitMs: 5_000 });

      expect(result.applied.map((a) => a.name)).toEqual(['001_create.sql', '002_fill.sql', '010_alter.sql']);
      expect(await busy).toMatchObject({ message: expect.stringMatching(/terminat/) });
      await expect(bystander.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    } finally {
      await earlier.end().catch(() => undefined);
      await bystander.end().catch(() => undefined);
    }
  });

  it('counts lines and columns in characters, even after multi-byte text', async () => {
    const db = await freshDatabase();

    const failure = run(db, { '001_x.sql': "-- größe ☃\nSELECT 'Grüße' AS g, nope;\n" });

    await expect(failure).rejects.toThrow(/001_x\.sql failed at line 2, column 22: SQLSTATE 42703/);
  });

  it('runs a -- bluegreen:no-transaction file statement by statement (CREATE INDEX CONCURRENTLY)', async () => {
    const db = await freshDatabase();

    const result = await run(db, {
      '001_create.sql': set['001_create.sql'],
      '002_index.sql':
        "-- bluegreen:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS orders_note_idx ON orders (note);\n/* a comment; with a semicolon */\nCREATE INDEX CONCURRENTLY IF NOT EXISTS orders_id_note_idx ON orders (id, note) WHERE note <> 'x;y';\n",
    });

    expect(result.applied.map((a) => a.name)).toEqual(['001_create.sql', '002_index.sql']);
    expect(
      await green.sql<{ indexrelid: string; indisvalid: boolean }>(
        "SELECT indexrelid::regclass::text AS indexrelid, indisvalid FROM pg_index WHERE indrelid = 'orders'::regclass AND NOT indisprimary ORDER BY 1",
        [],
        db,
      ),
    ).toEqual([
      { indexrelid: 'orders_id_note_idx', indisvalid: true },
      { indexrelid: 'orders_note_idx', indisvalid: true },
    ]);
    expect((await ledger(db)).map((row) => row.version)).toEqual(['001_create.sql', '002_index.sql']);
  });

  it('locates a failure inside a no-transaction file from the failing statement', async () => {
    const db = await freshDatabase();

    const failure = run(db, {
      '001_index.sql':
        '-- bluegreen:no-transaction\nCREATE TABLE t (id int);\n\nCREATE INDEX CONCURRENTLY t_idx ON t (id);\nSELECT id,\n  nope FROM t;\n',
    });

    await expect(failure).rejects.toThrow(
      /001_index\.sql failed at line 6, column 3: SQLSTATE 42703.*outside a transaction/,
    );
    expect(await green.sql("SELECT to_regclass('t_idx')::text AS t", [], db)).toEqual([{ t: 't_idx' }]);
    expect(await green.sql("SELECT to_regclass('bluegreen.migrations')::text AS l", [], db)).toEqual([
      { l: 'bluegreen.migrations' },
    ]);
    expect(await ledger(db)).toEqual([]);
  });

  it('makes a second runner wait on the advisory lock, then skips what the first one applied', async () => {
    const db = await freshDatabase();
    const holder: Client = await green.client(db, { applicationName: 'other-runner' });
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);

    let settled = false;
    const waiting = run(db, set).finally(() => {
      settled = true;
    });
    // The runner is blocked on the advisory lock...
    let blocked: unknown[] = [];
    for (let i = 0; i < 50 && !blocked.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      blocked = await green.sql(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'bluegreen:ApplySql:%' AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
      );
    }
    expect(blocked).toHaveLength(1);
    expect(settled).toBe(false);
    // ...while the lock holder applies the set as another runner would.
    await holder.query(
      'CREATE SCHEMA bluegreen; CREATE TABLE bluegreen.migrations (version text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL, execution_id text NOT NULL, duration_ms int NOT NULL); CREATE TABLE orders (id bigserial PRIMARY KEY, note text)',
    );
    const first = await loadMigrationSet(source(set), PREFIX);
    await holder.query("INSERT INTO bluegreen.migrations VALUES ($1, $2, now(), 'other-execution', 1)", [
      first[0]!.name,
      first[0]!.sha256,
    ]);
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await holder.end();

    const result = await waiting;

    expect(result.skipped).toEqual(['001_create.sql']);
    expect(result.applied.map((a) => a.name)).toEqual(['002_fill.sql', '010_alter.sql']);
  });

  it('applies lock_timeout from the input: a migration blocked by a table lock fails fast with SQLSTATE 55P03', async () => {
    const db = await freshDatabase();
    await green.sql('CREATE TABLE busy (id int)', [], db);
    const app = await green.client(db);
    await app.query('BEGIN');
    await app.query('LOCK TABLE busy IN ACCESS EXCLUSIVE MODE');

    const started = Date.now();
    const failure = run(db, { '001_alter.sql': 'ALTER TABLE busy ADD COLUMN x int;' }, { lockTimeoutMs: 200 });

    await expect(failure).rejects.toThrow(/001_alter\.sql failed at .*SQLSTATE 55P03/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await app.query('ROLLBACK');
    await app.end();
  });

  it.each([
    [
      'a file changed',
      { ...set, '002_fill.sql': "INSERT INTO orders (note) VALUES ('evil');\n" },
      /002_fill\.sql: sha256 is now [0-9a-f]{64}, ValidateMigrations read [0-9a-f]{64}/,
    ],
    ['a file added', { ...set, '003_more.sql': 'DROP TABLE orders;' }, /003_more\.sql: was added/],
    ['a file removed', { '001_create.sql': set['001_create.sql'] }, /002_fill\.sql: was removed/],
  ])(
    'refuses to run when %s between ValidateMigrations and ApplySql, touching nothing',
    async (_label, changed, reason) => {
      const db = await freshDatabase();
      const failure = run(db, set, {}, { changedAfterValidation: changed });
      await expect(failure).rejects.toBeInstanceOf(MigrationsChanged);
      await expect(failure).rejects.toThrow(reason);
      expect(await green.sql("SELECT to_regclass('public.orders') IS NULL AS untouched", [], db)).toEqual([
        { untouched: true },
      ]);
    },
  );

  it('reads each file at the version ValidateMigrations pinned', async () => {
    const db = await freshDatabase();
    const versions: (Readonly<Record<string, string>> | undefined)[] = [];
    const versioned: MigrationSource = {
      list: async (_prefix, pinned) => {
        versions.push(pinned);
        return [{ name: '001_create.sql', bytes: utf8(set['001_create.sql']), versionId: 'v7' }];
      },
    };
    await runFrom(db, versioned);
    expect(versions).toEqual([undefined, { '001_create.sql': 'v7' }]);
  });

  it('refuses to run when S3 hands back another version than the pinned one, even with the same bytes', async () => {
    const db = await freshDatabase();
    let reads = 0;
    const drifting: MigrationSource = {
      list: async () => {
        reads++;
        return [{ name: '001_create.sql', bytes: utf8(set['001_create.sql']), versionId: reads === 1 ? 'v7' : 'v8' }];
      },
    };
    const failure = runFrom(db, drifting);
    await expect(failure).rejects.toBeInstanceOf(MigrationsChanged);
    await expect(failure).rejects.toThrow(/001_create\.sql: S3 version is now v8, ValidateMigrations read v7/);
    expect(await green.sql("SELECT to_regclass('public.orders') IS NULL AS untouched", [], db)).toEqual([
      { untouched: true },
    ]);
  });

  it('returns an empty result when the input has no migrations', async () => {
    const doc = makeDocument(green);
    const noSource: MigrationSource = { list: () => Promise.reject(new Error('must not be called')) };
    await expect(
      applySql(doc, {
        database,
        migrations: noSource,
        clusters: clustersStub({ [GREEN_ID]: green }),
        clock: realClock,
      }),
    ).resolves.toEqual({ applied: [], skipped: [] });
  });
});

describe('bad migration input fails before anything runs', () => {
  const neverConnects: Database = {
    connect: () => Promise.reject(new Error('must not connect')),
    replicationConninfo: () => Promise.reject(new Error('must not connect')),
  };

  async function expectPrecondition(files: Record<string, string | Uint8Array>, pattern: RegExp) {
    const doc = makeDocument(
      { host: '127.0.0.1', port: 1 },
      {
        input: {
          migrations: {
            s3Prefix: PREFIX,
            database: 'app',
            phase: 'before-upgrade',
            lockTimeoutMs: 1,
            statementTimeoutMs: 1,
          },
        },
      },
    );
    const failure = applySql(doc, {
      database: neverConnects,
      migrations: source(files),
      clusters: clustersStub({}),
      clock: realClock,
    });
    await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(failure).rejects.toThrow(pattern);
  }

  it('rejects an empty file', () =>
    expectPrecondition({ '001_a.sql': 'SELECT 1;', '002_empty.sql': ' \n\t\n' }, /002_empty\.sql: is empty/));
  it('rejects a file that is not UTF-8', () =>
    expectPrecondition(
      { '001_latin1.sql': new Uint8Array([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27]) },
      /001_latin1\.sql: is not valid UTF-8/,
    ));
  it('rejects a file above the size limit', () =>
    expectPrecondition(
      { '001_dump.sql': `SELECT 1;\n${'-'.repeat(MAX_MIGRATION_BYTES)}` },
      /001_dump\.sql: is 1048586 bytes, above the limit/,
    ));
  it('rejects a prefix without a .sql file', () =>
    expectPrecondition(
      { 'README.md': 'notes', 'schema.psql': 'SELECT 1' },
      /has no \.sql file \(found only: README\.md, schema\.psql\)/,
    ));
  it('names every bad file at once', () =>
    expectPrecondition(
      { '001.sql': '', '002.sql': new Uint8Array([0xff]) },
      /001\.sql: is empty; 002\.sql: is not valid UTF-8/,
    ));
});
