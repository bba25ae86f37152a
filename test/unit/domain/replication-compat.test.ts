import {
  classifyMigrations,
  describeFinding,
  type ReplicationStreams,
} from '../../../lambdas/domain/replication-compat';

/** The online-mode migration classifier, with the real PostgreSQL parser (libpg-query), no mock. */

const ONLINE: ReplicationStreams = { forward: true, reverse: false };
const FAILBACK: ReplicationStreams = { forward: false, reverse: true };
const BOTH: ReplicationStreams = { forward: true, reverse: true };

const classify = (sql: string, streams = ONLINE) => classifyMigrations([{ name: 'V1__m.sql', sql }], streams);

describe('classifyMigrations in online mode (blue → green)', () => {
  it.each([
    'CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz NOT NULL)',
    'CREATE VIEW recent AS SELECT * FROM orders WHERE id > 10',
    'CREATE MATERIALIZED VIEW totals AS SELECT count(*) FROM orders',
    'CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ DELETE FROM orders RETURNING 1 $$',
    'CREATE INDEX orders_at ON orders (created_at)',
    'CREATE INDEX CONCURRENTLY orders_at ON orders (created_at)',
    'ALTER TABLE orders ADD COLUMN note text',
    "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'",
    'ALTER TABLE orders ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY',
    'ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (qty * price) STORED',
    'ALTER TABLE orders ADD COLUMN customer_id int REFERENCES customers (id)',
    'ALTER TABLE orders ALTER COLUMN note DROP NOT NULL',
    "ALTER TABLE orders ALTER COLUMN note SET DEFAULT 'x'",
    'ALTER TABLE orders DROP CONSTRAINT orders_qty_check',
    'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID',
    'ALTER INDEX orders_at RENAME TO orders_created_at',
    'ALTER TABLE orders RENAME CONSTRAINT a TO b',
    'DROP INDEX CONCURRENTLY orders_at',
    'DROP VIEW recent',
    'DROP FUNCTION f()',
    "CREATE TYPE mood AS ENUM ('sad', 'ok')",
    'CREATE SEQUENCE s',
    "COMMENT ON TABLE orders IS 'x'",
    'GRANT SELECT ON orders TO reporting',
    'CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()',
    "SELECT pg_catalog.set_config('search_path', '', false)",
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN CREATE TYPE mood AS ENUM ('a'); END IF; END $$",
    "DO $$ BEGIN RAISE NOTICE '%', format('%s rows', (SELECT count(*) FROM orders)); END $$",
    "SELECT setval('orders_id_seq', 100)",
    'SET lock_timeout = 1000',
    'BEGIN; CREATE TABLE t (id int); COMMIT',
    'ANALYZE orders',
  ])('accepts %s', async (sql) => {
    await expect(classify(sql)).resolves.toEqual({ refused: [], warned: [] });
  });

  it.each([
    ['DROP TABLE orders', /drops replicated table public\.orders: .*replication from blue to green stops/],
    ['ALTER TABLE orders DROP COLUMN note', /drops column note of replicated table public\.orders/],
    ['ALTER TABLE orders RENAME TO orders_v2', /renames replicated table public\.orders to orders_v2/],
    ['ALTER TABLE orders RENAME COLUMN note TO remark', /renames column note of replicated table public\.orders/],
    ['ALTER TABLE orders ALTER COLUMN qty TYPE bigint', /changes the type of column qty of replicated table/],
    [
      'ALTER TABLE orders ALTER COLUMN note SET NOT NULL',
      /makes column note of replicated table public\.orders NOT NULL/,
    ],
    ['ALTER TABLE orders ADD COLUMN status text NOT NULL', /new column status .* without a default, NOT NULL/],
    ['ALTER TABLE orders ADD COLUMN code int PRIMARY KEY', /new column code .* NOT NULL/],
    ['ALTER TABLE orders SET SCHEMA archive', /moves replicated table public\.orders to schema archive/],
    ['ALTER SCHEMA app RENAME TO app2', /renames schema app/],
    ['TRUNCATE orders', /TRUNCATE of replicated table public\.orders/],
    ['DROP TYPE mood CASCADE', /CASCADE can drop columns/],
    ['DROP SCHEMA app CASCADE', /DROP SCHEMA app CASCADE drops the replicated tables/],
    ['DROP EXTENSION postgis', /drops the extension's own tables/],
    ["DO $$ BEGIN EXECUTE 'DROP TABLE orders'; END $$", /EXECUTE in a DO block builds its statement at run time/],
    ['DO $$ BEGIN ALTER TABLE orders DROP COLUMN note; END $$', /drops column note of replicated table public\.orders/],
    ['DO $$ DECLARE n int; BEGIN n := archive_orders(); END $$', /calls archive_orders\(\)/],
    ['DO $$ BEGIN PERFORM archive_orders(); END $$', /calls archive_orders\(\)/],
    ["DO LANGUAGE plperl $$ spi_exec_query('DROP TABLE orders') $$", /a DO block in plperl/],
    ['DO $$ BEGIN garbage; END $$', /a DO block that PL\/pgSQL cannot read/],
    ['CALL archive_orders()', /CALL runs a procedure/],
    ['SELECT archive_orders()', /calls archive_orders\(\), whose statements cannot be classified/],
    ['CREATE PUBLICATION p FOR ALL TABLES', /the workflow manages replication itself/],
    ['CREATE RULE r AS ON INSERT TO orders DO INSTEAD NOTHING', /Rule is not classified for replication/],
    ['ALTER TABLE orders SET UNLOGGED', /SetUnLogged is not classified/],
    ['ALTER TABLE orders REPLICA IDENTITY FULL', /ReplicaIdentity is not classified/],
  ])('refuses %s', async (sql, reason) => {
    const result = await classify(sql);
    expect(result.refused.map((f) => f.reason)).toEqual([expect.stringMatching(reason)]);
  });

  it.each([
    [
      'ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0)',
      /adds a check constraint to replicated table public\.orders/,
    ],
    ['ALTER TABLE orders ADD CONSTRAINT one_ref UNIQUE (ref)', /adds a unique constraint to replicated table/],
    ['ALTER TABLE orders ADD COLUMN ref text UNIQUE', /adds a unique constraint/],
    [
      'CREATE UNIQUE INDEX CONCURRENTLY orders_ref ON orders (ref)',
      /unique index orders_ref on replicated table public\.orders/,
    ],
    ["UPDATE orders SET note = 'x'", /UPDATE on replicated table public\.orders changes green's rows only/],
    ['WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone', /DELETE on replicated table/],
  ])('warns about %s', async (sql, reason) => {
    const result = await classify(sql);
    expect(result.refused).toEqual([]);
    expect(result.warned.map((f) => f.reason)).toEqual([expect.stringMatching(reason)]);
  });

  it('names every table of a DROP TABLE list', async () => {
    const result = await classify('DROP TABLE IF EXISTS app.orders, items');
    expect(result.refused.map((f) => f.reason)).toEqual([
      expect.stringMatching(/drops replicated table app\.orders/),
      expect.stringMatching(/drops replicated table public\.items/),
    ]);
  });

  it('lets the set change what it created itself, in later files too', async () => {
    const result = await classifyMigrations(
      [
        { name: 'V1__create.sql', sql: 'CREATE TABLE audit (id int); ALTER TABLE orders ADD COLUMN note text;' },
        {
          name: 'V2__change.sql',
          sql: [
            'ALTER TABLE audit ADD COLUMN at timestamptz NOT NULL;',
            'ALTER TABLE audit RENAME COLUMN at TO happened_at;',
            'CREATE UNIQUE INDEX ON audit (id);',
            'INSERT INTO audit VALUES (1, now());',
            'ALTER TABLE orders ALTER COLUMN note TYPE varchar(200);',
            'ALTER TABLE orders RENAME COLUMN note TO remark;',
            'ALTER TABLE orders DROP COLUMN remark;',
            'ALTER TABLE audit RENAME TO audit_log;',
            'DROP TABLE audit_log;',
          ].join('\n'),
        },
      ],
      ONLINE,
    );
    expect(result).toEqual({ refused: [], warned: [] });
  });

  it('refuses SET NOT NULL on a column the set added without a default, not on one with a default', async () => {
    const result = await classify(
      [
        'ALTER TABLE orders ADD COLUMN a text;',
        'ALTER TABLE orders ALTER COLUMN a SET NOT NULL;',
        "ALTER TABLE orders ADD COLUMN b text DEFAULT 'x';",
        'ALTER TABLE orders ALTER COLUMN b SET NOT NULL;',
      ].join('\n'),
    );
    expect(result.refused.map((f) => [f.line, f.reason])).toEqual([[2, expect.stringMatching(/column a of/)]]);
  });

  it('names the file and the line of each statement in a multi-statement file', async () => {
    const sql = [
      '-- bluegreen:no-transaction',
      '/* héllo, a comment with a multibyte character */',
      'CREATE TABLE audit (id int);',
      '',
      'ALTER TABLE orders',
      '  DROP COLUMN note;  CREATE INDEX CONCURRENTLY i ON orders (id);',
      'DO $$',
      'BEGIN',
      "  RAISE NOTICE 'x';",
      '  ALTER TABLE orders',
      '    RENAME COLUMN qty TO quantity;',
      "  EXECUTE 'SELECT 1';",
      'END $$;',
      'ALTER TABLE orders ADD CONSTRAINT c CHECK (qty > 0);',
    ].join('\n');
    const result = await classifyMigrations([{ name: 'V7__mixed.sql', sql }], ONLINE);
    expect(result.refused.map((f) => [f.file, f.line, f.statement])).toEqual([
      ['V7__mixed.sql', 5, 'ALTER TABLE orders DROP COLUMN note'],
      ['V7__mixed.sql', 10, 'DO: ALTER TABLE orders RENAME COLUMN qty TO quantity'],
      ['V7__mixed.sql', 12, 'DO: EXECUTE …'],
    ]);
    expect(result.warned.map((f) => f.line)).toEqual([14]);
    expect(describeFinding(result.refused[0]!)).toMatch(
      /^V7__mixed\.sql line 5: drops column note of replicated table public\.orders: .* \[ALTER TABLE orders DROP COLUMN note\]$/,
    );
  });

  it("does not take CREATE TABLE IF NOT EXISTS as new: the table may be blue's own", async () => {
    const result = await classify('CREATE TABLE IF NOT EXISTS orders (id int);\nALTER TABLE orders DROP COLUMN note;');
    expect(result.refused.map((f) => [f.line, f.reason])).toEqual([
      [2, expect.stringMatching(/drops column note of replicated table public\.orders/)],
    ]);
  });

  it('shares what a DO block creates with the statements after it', async () => {
    const result = await classify(
      'DO $$ BEGIN CREATE TABLE audit (id int); END $$;\nALTER TABLE audit ADD COLUMN at timestamptz NOT NULL;',
    );
    expect(result).toEqual({ refused: [], warned: [] });
  });

  it('refuses a file that does not parse, with its line', async () => {
    const result = await classify('CREATE TABLE a (id int);\nALTER TABLE orders ADD COLUM x int;');
    expect(result.refused).toEqual([
      expect.objectContaining({ line: 2, reason: expect.stringMatching(/does not parse .*syntax error/) }),
    ]);
  });
});

describe('classifyMigrations with failback (green → blue after cutover)', () => {
  it('refuses new columns and new tables on replicated data: blue has nowhere to put their rows', async () => {
    const result = await classify('ALTER TABLE orders ADD COLUMN note text;\nCREATE TABLE audit (id int);', FAILBACK);
    expect(result.refused.map((f) => [f.line, f.reason])).toEqual([
      [1, expect.stringMatching(/adds column note to replicated table public\.orders: blue has no such column/)],
      [2, expect.stringMatching(/new table public\.audit exists only on green/)],
    ]);
  });

  it('refuses the online refusals too, naming the failback stream', async () => {
    const result = await classify('ALTER TABLE orders RENAME COLUMN a TO b', FAILBACK);
    expect(result.refused.map((f) => f.reason)).toEqual([
      expect.stringMatching(/the failback stream from green to blue stops/),
    ]);
  });

  it('accepts what does not change replicated tables, and does not warn about what only the forward stream meets', async () => {
    const result = await classify(
      'CREATE INDEX i ON orders (id); CREATE VIEW v AS SELECT 1; ALTER TABLE orders ADD CONSTRAINT c CHECK (qty > 0); UPDATE orders SET qty = 1',
      FAILBACK,
    );
    expect(result).toEqual({ refused: [], warned: [] });
  });

  it('with both streams, says both stop', async () => {
    const result = await classify('DROP TABLE orders', BOTH);
    expect(result.refused.map((f) => f.reason)).toEqual([
      expect.stringMatching(/replication \(blue → green now, green → blue for failback\) stops/),
    ]);
  });
});

describe('classifyMigrations without replication', () => {
  it('classifies nothing in offline mode without failback', async () => {
    await expect(classify('DROP TABLE orders', { forward: false, reverse: false })).resolves.toEqual({
      refused: [],
      warned: [],
    });
  });
});
