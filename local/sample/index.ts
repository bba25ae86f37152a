import fs from 'node:fs';
import path from 'node:path';

/** The rehearsal's sample application: schema, seed data and a migration set. */
export const SAMPLE_DIR = __dirname;
export const SAMPLE_MIGRATIONS_DIR = path.join(__dirname, 'migrations');
/** The set for runs that replicate (online mode, failback): a view and an index, no table changes. */
export const SAMPLE_REPLICABLE_MIGRATIONS_DIR = path.join(__dirname, 'migrations-replicable');

export function sampleSchemaSql(): string {
  return fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8');
}

export function sampleSeedSql(): string {
  return fs.readFileSync(path.join(__dirname, 'seed.sql'), 'utf8');
}

/** Run after the seed when the rehearsal replicates: the sample's unlogged table and large object made replicable. */
export function sampleReplicationReadySql(): string {
  return fs.readFileSync(path.join(__dirname, 'replication-ready.sql'), 'utf8');
}
