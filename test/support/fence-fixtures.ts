import type { StartOptions, TestServer } from './postgres';
import { startPostgres } from './postgres';

/** Shared setup of the write-fence integration tests (fence, fence-guards, unfence-after-failed-fence). */

/** SQLSTATE read_only_sql_transaction: what a write gets from a fenced (read-only) session. */
export const READ_ONLY = '25006';

/**
 * A blue server with database `app` holding an `orders` table. With `archive`, also a database
 * `archive` that is read-only by default before any fence, which un-fencing must leave read-only.
 */
export async function startBlue(options: StartOptions & { archive?: boolean } = {}): Promise<TestServer> {
  const { archive = false, ...start } = options;
  const blue = await startPostgres(start);
  await blue.sql('CREATE DATABASE app');
  await blue.sql('CREATE TABLE orders (id bigserial PRIMARY KEY, note text NOT NULL)', [], 'app');
  if (archive) {
    await blue.sql('CREATE DATABASE archive');
    await blue.sql('ALTER DATABASE archive SET default_transaction_read_only = on');
  }
  return blue;
}

/**
 * Whether a new session of `user` on `db` can insert into `orders`: false when it is refused as
 * read-only, any other error is thrown.
 */
export async function canWrite(server: TestServer, user = 'postgres', db = 'app'): Promise<boolean> {
  const client = await server.client(db, { user });
  try {
    await client.query("INSERT INTO orders (note) VALUES ('probe')");
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === READ_ONLY) return false;
    throw error;
  } finally {
    await client.end();
  }
}
