import { Client } from 'pg';
import type { PgServer } from '../postgres';

/**
 * Aurora PostgreSQL answers `SELECT aurora_volume_logical_start_lsn()` on a clone with the LSN
 * its volume was cloned at (AuroraUserGuide, "Using Aurora cloning with logical replication"): a
 * subscription whose origin is advanced to it receives exactly the transactions the clone lacks.
 * The local cloud knows that LSN exactly (the clone's switch point, local/postgres/copy.ts
 * `startAtConsistency`) and gives every database of the clone a function of that name that
 * returns it, so the workflow runs the same SQL in both places.
 */

export const START_LSN_FUNCTION = 'aurora_volume_logical_start_lsn';

/**
 * Creates `pg_catalog.aurora_volume_logical_start_lsn()` in every database that takes
 * connections (template1 too, so a database created later has it). In `pg_catalog`, like a
 * built-in: found whatever the search_path, and left out of dumps, scans of user objects and
 * the migrations' schemas.
 */
export async function installStartLsnFunction(server: PgServer, lsn: string): Promise<string[]> {
  if (!/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(lsn)) throw new Error(`not an LSN: ${lsn}`);
  const databases = await server.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname',
  );
  for (const { datname } of databases) {
    const client = new Client(server.connectionConfig(datname));
    client.on('error', () => undefined);
    await client.connect();
    try {
      // A clone of a fenced blue is read-only by default; allow_system_table_mods lets a
      // superuser create in pg_catalog for this session only.
      await client.query('SET default_transaction_read_only = off');
      await client.query('SET allow_system_table_mods = on');
      // Aurora's function needs no DDL; here it is DDL, which the online mode's guard (an event
      // trigger the clone inherited from blue, lambdas/steps/replication.ts) lets through only so.
      await client.query('SET bluegreen.allow_ddl = on');
      await client.query(
        `CREATE OR REPLACE FUNCTION pg_catalog.${START_LSN_FUNCTION}() RETURNS pg_lsn
           LANGUAGE sql IMMUTABLE PARALLEL SAFE
           AS $$ SELECT '${lsn}'::pg_lsn $$`,
      );
      await client.query(
        `COMMENT ON FUNCTION pg_catalog.${START_LSN_FUNCTION}() IS ` +
          `'Local cloud: the LSN this clone became consistent at (Aurora: the clone''s logical start LSN)'`,
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return databases.map((d) => d.datname);
}
