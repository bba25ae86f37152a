import { createHash } from 'node:crypto';
import { PreconditionFailed } from '../../../../lambdas/domain/errors';
import { validateMigrations } from '../../../../lambdas/steps/validate-migrations';
import { FakeCloud } from '../../../support/fake-cloud';
import { failureOf, stepDocument } from '../../../support/step-fixtures';

const PREFIX = 's3://app-migrations/orders/';
const sql = (text: string) => Buffer.from(text, 'utf8');

let cloud: FakeCloud;

beforeEach(() => {
  cloud = new FakeCloud();
});

function migrationDoc() {
  return stepDocument({ migrations: { s3Prefix: PREFIX, database: 'orders' } });
}

async function refusal(): Promise<string> {
  const error = await failureOf(validateMigrations(migrationDoc(), cloud.ports()));
  expect(error).toBeInstanceOf(PreconditionFailed);
  expect(error.message).toMatch(/^migrations\.s3Prefix: /);
  expect(error.message).toMatch(/; nothing was changed\.$/);
  expect(cloud.calls).toEqual([]);
  return error.message;
}

describe('ValidateMigrations', () => {
  it('returns no files and reads nothing when the input has no migrations', async () => {
    const list = jest.spyOn(cloud.migrationsPort, 'list');
    await expect(validateMigrations(stepDocument(), cloud.ports())).resolves.toEqual({ files: [] });
    expect(list).not.toHaveBeenCalled();
  });

  it('lists the .sql files in lexical (code point) order of their base names, ignoring other files', async () => {
    cloud.migrationFiles = [
      { name: 'orders/b_add_index.sql', bytes: sql('create index on orders (id);') },
      { name: 'orders/README.md', bytes: sql('# notes') },
      { name: 'orders/V2_backfill.sql', bytes: sql('update orders set status = 1;') },
      { name: 'orders/010_late.sql', bytes: sql('select 1;') },
      { name: 'orders/9_early.SQL', bytes: sql('select 2;') },
      { name: 'orders/a_first.sql', bytes: sql('select 3;') },
    ];
    const list = jest.spyOn(cloud.migrationsPort, 'list');
    await expect(validateMigrations(migrationDoc(), cloud.ports())).resolves.toMatchObject({
      files: ['010_late.sql', '9_early.SQL', 'V2_backfill.sql', 'a_first.sql', 'b_add_index.sql'],
    });
    expect(list).toHaveBeenCalledWith(PREFIX);
  });

  it('pins each file by SHA-256 and S3 version id', async () => {
    cloud.migrationFiles = [
      { name: 'orders/001_a.sql', bytes: sql('select 1;'), versionId: 'v-a1' },
      { name: 'orders/002_b.sql', bytes: sql('select 2;') },
    ];
    const { pins } = await validateMigrations(migrationDoc(), cloud.ports());
    expect(pins).toEqual([
      { name: '001_a.sql', sha256: createHash('sha256').update('select 1;').digest('hex'), versionId: 'v-a1' },
      { name: '002_b.sql', sha256: createHash('sha256').update('select 2;').digest('hex') },
    ]);
  });

  it('refuses an empty file, naming it', async () => {
    cloud.migrationFiles = [
      { name: '001_ok.sql', bytes: sql('select 1;') },
      { name: '002_blank.sql', bytes: sql('  \n\t\n') },
    ];
    const message = await refusal();
    expect(message).toContain(`The migration set ${PREFIX} is not valid, nothing was run`);
    expect(message).toContain('002_blank.sql: is empty');
    expect(message).not.toContain('001_ok.sql');
  });

  it('refuses bytes that are not UTF-8, naming the file', async () => {
    cloud.migrationFiles = [{ name: '001_latin1.sql', bytes: Uint8Array.from([0x73, 0x65, 0x6c, 0xe9, 0xff, 0x3b]) }];
    expect(await refusal()).toContain('001_latin1.sql: is not valid UTF-8 text');
  });

  it('refuses a file above 1 MiB, naming the file and the limit', async () => {
    cloud.migrationFiles = [{ name: '001_dump.sql', bytes: new Uint8Array(1024 * 1024 + 1).fill(0x20) }];
    expect(await refusal()).toContain('001_dump.sql: is 1048577 bytes, above the limit of 1048576 bytes (1 MiB)');
  });

  it('accepts a file of exactly 1 MiB', async () => {
    const bytes = new Uint8Array(1024 * 1024).fill(0x20);
    bytes.set(sql('select 1;'));
    cloud.migrationFiles = [{ name: '001_big.sql', bytes }];
    await expect(validateMigrations(migrationDoc(), cloud.ports())).resolves.toMatchObject({ files: ['001_big.sql'] });
  });

  it('refuses a prefix with no .sql file, naming the prefix and what it found', async () => {
    cloud.migrationFiles = [{ name: 'orders/README.md', bytes: sql('# notes') }];
    const message = await refusal();
    expect(message).toContain(`The migration set ${PREFIX} has no .sql file (found only: README.md)`);
  });

  it('refuses an empty prefix', async () => {
    cloud.migrationFiles = [];
    expect(await refusal()).toContain(`The migration set ${PREFIX} has no .sql file (it is empty)`);
  });

  it('reports every bad file at once', async () => {
    cloud.migrationFiles = [
      { name: '001_blank.sql', bytes: sql('') },
      { name: '002_binary.sql', bytes: Uint8Array.from([0xc3, 0x28]) },
    ];
    const message = await refusal();
    expect(message).toContain('001_blank.sql: is empty');
    expect(message).toContain('002_binary.sql: is not valid UTF-8 text');
  });

  describe('with replication', () => {
    const replicated = (raw: { mode?: 'online' | 'offline'; failback?: boolean }) =>
      stepDocument({ migrations: { s3Prefix: PREFIX, database: 'orders' }, blueRetentionSeconds: 3600, ...raw });

    it('online: refuses what breaks the stream from blue, with file and line, before anything runs', async () => {
      cloud.migrationFiles = [
        { name: '001_ok.sql', bytes: sql('CREATE TABLE audit (id int);\nALTER TABLE orders ADD COLUMN note text;') },
        {
          name: '002_bad.sql',
          bytes: sql('-- tidy up\nALTER TABLE orders\n  DROP COLUMN legacy;\nALTER TABLE orders RENAME TO o2;'),
        },
      ];
      const error = await failureOf(validateMigrations(replicated({ mode: 'online' }), cloud.ports()));
      expect(error).toBeInstanceOf(PreconditionFailed);
      expect(error.message).toMatch(
        /^migrations\.s3Prefix: 2 statement\(s\) of s3:\/\/app-migrations\/orders\/ would break replication \(online mode/,
      );
      expect(error.message).toContain('002_bad.sql line 2: drops column legacy of replicated table public.orders');
      expect(error.message).toContain('002_bad.sql line 4: renames replicated table public.orders to o2');
      expect(error.message).not.toContain('001_ok.sql');
      expect(error.message).toMatch(/; nothing was changed\.$/);
    });

    it('online: keeps the warnings in the document for the approval', async () => {
      cloud.migrationFiles = [
        { name: '001_check.sql', bytes: sql('ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0);') },
      ];
      const result = await validateMigrations(replicated({ mode: 'online' }), cloud.ports());
      expect(result.files).toEqual(['001_check.sql']);
      expect(result.warnings).toEqual([
        expect.stringMatching(/^001_check\.sql line 1: adds a check constraint to replicated table public\.orders/),
      ]);
    });

    it('failback: refuses a new column, which the stream back to blue cannot carry', async () => {
      cloud.migrationFiles = [{ name: '001_add.sql', bytes: sql('ALTER TABLE orders ADD COLUMN note text;') }];
      const error = await failureOf(validateMigrations(replicated({ failback: true }), cloud.ports()));
      expect(error.message).toMatch(/would break replication \(failback;/);
      expect(error.message).toContain('001_add.sql line 1: adds column note to replicated table public.orders');
    });

    it('offline without failback: classifies nothing (no replication to break)', async () => {
      cloud.migrationFiles = [{ name: '001_drop.sql', bytes: sql('DROP TABLE orders; DO $$ BEGIN END $$;') }];
      const result = await validateMigrations(replicated({}), cloud.ports());
      expect(result).toEqual({ files: ['001_drop.sql'], pins: [expect.objectContaining({ name: '001_drop.sql' })] });
    });
  });
});
