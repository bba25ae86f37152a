import type { ExecutionDocument } from '../domain/document';
import { SmokeTestFailed } from '../domain/errors';
import type { SmokeTestSpec } from '../domain/input';
import { MAX_EVIDENCE_CHARS, truncate } from '../domain/truncate';
import type { Database, DbSession, DbTarget, Ports } from '../ports';
import {
  ADMIN_DATABASE,
  blueTarget,
  display,
  greenTarget,
  openSession,
  quoteIdent,
  userDatabases,
  withSession,
} from './db';

/**
 * SmokeTest: the input's smoke tests on green, each in a READ ONLY transaction with a statement
 * timeout; then the approval's evidence, row counts per table on blue and on green.
 */

export interface SmokeResult {
  name: string;
  passed: boolean;
  value: string;
  expect: string;
}

export interface TableRowCount {
  database: string;
  /** `schema.table` */
  table: string;
  /** null when the table does not exist on that side (new in a migration, say) or has no estimate yet. */
  blue: number | null;
  green: number | null;
  method: 'exact' | 'estimate';
}

export interface RowCountEvidence {
  /** Tables with fewer estimated rows (and pages) than this are counted exactly; larger ones estimated from pg_class.reltuples. */
  exactBelowRows: number;
  exactBelowPages: number;
  tables: TableRowCount[];
  /** True when there were more tables than `maxTables`; the largest are shown. */
  truncated: boolean;
}

export interface SmokeTestOutput {
  results: SmokeResult[];
  rowCounts: RowCountEvidence;
}

export interface SmokeTestOptions {
  /** @default 30_000 */
  statementTimeoutMs?: number;
  /** @default 100_000 */
  exactBelowRows?: number;
  /** @default 12_800 (100 MiB of 8 KiB pages) */
  exactBelowPages?: number;
  /** @default 50 */
  maxTables?: number;
}

/** Whether a first-column value meets an expectation (`nonzero`, `zero`, `equals:<value>`). */
export function meetsExpectation(value: unknown, expect: string): boolean {
  if (expect.startsWith('equals:')) return value !== undefined && display(value) === expect.slice('equals:'.length);
  if (value === null || value === undefined || typeof value === 'boolean') return false;
  const text = display(value).trim();
  const number = Number(text);
  if (!text || Number.isNaN(number)) return false;
  if (expect === 'zero') return number === 0;
  if (expect === 'nonzero') return number !== 0;
  return false;
}

function serverError(error: unknown): { code: string; message: string } | undefined {
  const e = error as { code?: unknown; message?: unknown };
  return typeof error === 'object' && error !== null && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)
    ? { code: e.code, message: String(e.message) }
    : undefined;
}

async function runOne(session: DbSession, test: SmokeTestSpec, timeoutMs: number): Promise<SmokeResult> {
  await session.query('BEGIN READ ONLY');
  try {
    await session.query(`SET LOCAL statement_timeout = ${Math.trunc(timeoutMs)}`);
    const result = await session.query(test.sql);
    const row = result.rows[0];
    if (!row)
      return { name: test.name, passed: false, value: '(no rows)', expect: truncate(test.expect, MAX_EVIDENCE_CHARS) };
    const first = Object.values(row)[0];
    return {
      name: test.name,
      passed: meetsExpectation(first, test.expect),
      value: truncate(display(first), MAX_EVIDENCE_CHARS),
      expect: truncate(test.expect, MAX_EVIDENCE_CHARS),
    };
  } catch (error) {
    const failure = serverError(error);
    if (!failure) throw error; // a lost connection is not a failed test: let the step retry
    return {
      name: test.name,
      passed: false,
      value: truncate(`error: SQLSTATE ${failure.code}: ${failure.message}`, MAX_EVIDENCE_CHARS),
      expect: truncate(test.expect, MAX_EVIDENCE_CHARS),
    };
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

interface TableStats {
  key: string;
  database: string;
  schema: string;
  name: string;
  reltuples: number;
  relpages: number;
  bytes: number;
}

async function tableStats(session: DbSession, database: string, limit: number): Promise<TableStats[]> {
  const result = await session.query<{
    nspname: string;
    relname: string;
    reltuples: number;
    relpages: number;
    bytes: string;
  }>(
    `SELECT n.nspname, c.relname, c.reltuples::float8 AS reltuples, c.relpages, pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'bluegreen')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
      ORDER BY pg_total_relation_size(c.oid) DESC, n.nspname, c.relname
      LIMIT $1`,
    [limit + 1],
  );
  return result.rows.map((row) => ({
    key: `${database}\u0000${row.nspname}.${row.relname}`,
    database,
    schema: row.nspname,
    name: row.relname,
    reltuples: Number(row.reltuples),
    relpages: Number(row.relpages),
    bytes: Number(row.bytes),
  }));
}

async function countRows(
  database: Database,
  target: DbTarget,
  dbName: string,
  tables: TableStats[],
  exact: (t: TableStats) => boolean,
  timeoutMs: number,
): Promise<Map<string, { count: number | null; exact: boolean }>> {
  const counts = new Map<string, { count: number | null; exact: boolean }>();
  let session: DbSession;
  try {
    session = await openSession(database, target, dbName);
  } catch (error) {
    if (serverError(error)?.code === '3D000') return counts; // the database does not exist on this side
    throw error;
  }
  try {
    await session.query(`SET statement_timeout = ${Math.trunc(timeoutMs)}`);
    const present = new Map((await tableStats(session, dbName, 100_000)).map((t) => [t.key, t]));
    for (const table of tables) {
      const here = present.get(table.key);
      if (!here) continue;
      if (exact(table)) {
        try {
          const result = await session.query<{ n: string }>(
            `SELECT count(*) AS n FROM ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`,
          );
          counts.set(table.key, { count: Number(result.rows[0]?.n ?? 0), exact: true });
          continue;
        } catch (error) {
          if (!serverError(error)) throw error; // e.g. timed out: fall back to the estimate
        }
      }
      counts.set(table.key, { count: here.reltuples >= 0 ? Math.round(here.reltuples) : null, exact: false });
    }
  } finally {
    await session.close();
  }
  return counts;
}

async function rowCountEvidence(
  doc: ExecutionDocument,
  green: DbTarget,
  database: Database,
  options: Required<SmokeTestOptions>,
): Promise<RowCountEvidence> {
  const blue = blueTarget(doc);
  const named = new Set<string>(doc.input.smokeTests.map((t) => t.database));
  if (doc.input.migrations) named.add(doc.input.migrations.database);
  const databases = named.size
    ? [...named].sort()
    : (await withSession(database, green, ADMIN_DATABASE, userDatabases)).filter((d) => d !== ADMIN_DATABASE);

  const candidates: TableStats[] = [];
  for (const name of databases) {
    const session = await openSession(database, green, name);
    try {
      candidates.push(...(await tableStats(session, name, options.maxTables)));
    } finally {
      await session.close();
    }
  }
  candidates.sort((a, b) => b.bytes - a.bytes || a.key.localeCompare(b.key));
  const chosen = candidates.slice(0, options.maxTables);
  const small = (t: TableStats) => t.reltuples < options.exactBelowRows && t.relpages < options.exactBelowPages;

  const tables: TableRowCount[] = [];
  for (const name of [...new Set(chosen.map((t) => t.database))]) {
    const inDb = chosen.filter((t) => t.database === name);
    const onGreen = await countRows(database, green, name, inDb, small, options.statementTimeoutMs);
    const onBlue = await countRows(database, blue, name, inDb, small, options.statementTimeoutMs);
    for (const table of inDb) {
      const g = onGreen.get(table.key);
      const b = onBlue.get(table.key);
      tables.push({
        database: name,
        table: `${table.schema}.${table.name}`,
        blue: b?.count ?? null,
        green: g?.count ?? null,
        method: (g?.exact ?? true) && (b?.exact ?? true) && (g || b) ? 'exact' : 'estimate',
      });
    }
  }
  return {
    exactBelowRows: options.exactBelowRows,
    exactBelowPages: options.exactBelowPages,
    tables,
    truncated: candidates.length > options.maxTables,
  };
}

export async function smokeTest(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters'>,
  options: SmokeTestOptions = {},
): Promise<SmokeTestOutput> {
  const settings: Required<SmokeTestOptions> = {
    statementTimeoutMs: options.statementTimeoutMs ?? 30_000,
    exactBelowRows: options.exactBelowRows ?? 100_000,
    exactBelowPages: options.exactBelowPages ?? 12_800,
    maxTables: options.maxTables ?? 50,
  };
  const green = await greenTarget(doc, ports.clusters);
  const results: SmokeResult[] = [];
  const sessions = new Map<string, DbSession>();
  try {
    for (const test of doc.input.smokeTests) {
      let session = sessions.get(test.database);
      if (!session) {
        try {
          session = await ports.database.connect(green, test.database);
        } catch (error) {
          const failure = serverError(error);
          if (!failure) throw error;
          results.push({
            name: test.name,
            passed: false,
            value: truncate(`error: SQLSTATE ${failure.code}: ${failure.message}`, MAX_EVIDENCE_CHARS),
            expect: truncate(test.expect, MAX_EVIDENCE_CHARS),
          });
          continue;
        }
        sessions.set(test.database, session);
      }
      results.push(await runOne(session, test, settings.statementTimeoutMs));
    }
  } finally {
    await Promise.all([...sessions.values()].map((s) => s.close()));
  }
  const failed = results.filter((r) => !r.passed);
  if (failed.length) {
    const lines = failed.map((r) => `"${r.name}" expected ${r.expect}, got ${r.value}`);
    throw new SmokeTestFailed(
      `${failed.length} of ${results.length} smoke test(s) failed on green ${green.clusterId}: ${lines.join('; ')}`,
    );
  }
  const rowCounts = await rowCountEvidence(doc, green, ports.database, settings);
  return { results, rowCounts };
}
