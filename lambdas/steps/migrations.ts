import { createHash } from 'node:crypto';
import type { ExecutionDocument, MigrationPin } from '../domain/document';
import { MigrationFailed, MigrationsChanged, MigrationTimeout, PreconditionFailed } from '../domain/errors';
import { truncate } from '../domain/truncate';
import type { DbSession, MigrationSource, Ports } from '../ports';
import { TASKS } from './catalog';
import { attemptSessionName, endEarlierAttempts, greenTarget, openSession } from './db';
import { indexOfServerPosition, lineColumnAt, splitStatements } from './sql-text';

/**
 * ApplySql (docs/migrations.md): the migration runner. See docs/migrations.md for the semantics
 * and for why this is our own runner rather than node-pg-migrate.
 */

export interface MigrationScript {
  name: string;
  sql: string;
  sha256: string;
  noTransaction: boolean;
  versionId?: string;
}

export type ApplyResult = NonNullable<ExecutionDocument['migrations']>;

/** Largest migration file accepted (a guard against a data dump uploaded by mistake). */
export const MAX_MIGRATION_BYTES = 1024 * 1024;

/** The first line that makes a file run outside a transaction (CREATE INDEX CONCURRENTLY, …). */
export const NO_TRANSACTION_MARKER = '-- bluegreen:no-transaction';

/** The session advisory lock key all runners share ("bluegree" read as a number, below 2^53). */
export const MIGRATION_LOCK_KEY = '7142843575627109';

export interface ApplyOptions {
  /** How long a runner waits for another runner's advisory lock. @default 600_000 */
  lockWaitMs?: number;
  /**
   * When the Lambda running this step will be stopped (the handler passes the context's remaining
   * time). @default the step's start plus ApplySql's timeout in the catalogue (900 s)
   */
  deadline?: Date;
  /** Time kept back before the deadline to record the file, close and report. @default 15_000 */
  reserveMs?: number;
}

/** ApplySql's Lambda timeout, in seconds, from the catalogue that sizes the Lambda. */
export const APPLY_SQL_TIMEOUT_SECONDS = TASKS.ApplySql.timeoutSeconds;

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/**
 * Reads and validates a migration set before anything runs: every `.sql` file under the prefix,
 * in lexical order of file name (code points, not locale). Other files are ignored.
 * Throws PreconditionFailed naming every bad file.
 */
export async function loadMigrationSet(
  source: MigrationSource,
  s3Prefix: string,
  versions?: Readonly<Record<string, string>>,
): Promise<MigrationScript[]> {
  const files = versions ? await source.list(s3Prefix, versions) : await source.list(s3Prefix);
  const sqlFiles = files.filter((file) => baseName(file.name).toLowerCase().endsWith('.sql'));
  if (!sqlFiles.length) {
    const others = files.map((file) => baseName(file.name)).slice(0, 10);
    throw new PreconditionFailed(
      `The migration set ${s3Prefix} has no .sql file${others.length ? ` (found only: ${others.join(', ')})` : ' (it is empty)'}`,
    );
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  const scripts: MigrationScript[] = [];
  for (const file of sqlFiles) {
    const name = baseName(file.name);
    if (seen.has(name)) {
      problems.push(`${name}: appears twice under the prefix (file names are the migration versions)`);
      continue;
    }
    seen.add(name);
    if (file.bytes.byteLength > MAX_MIGRATION_BYTES) {
      problems.push(
        `${name}: is ${file.bytes.byteLength} bytes, above the limit of ${MAX_MIGRATION_BYTES} bytes (1 MiB)`,
      );
      continue;
    }
    let sql: string;
    try {
      sql = new TextDecoder('utf-8', { fatal: true }).decode(file.bytes);
    } catch {
      problems.push(`${name}: is not valid UTF-8 text`);
      continue;
    }
    if (!sql.trim()) {
      problems.push(`${name}: is empty`);
      continue;
    }
    if (sql.includes('\u0000')) {
      problems.push(`${name}: contains a NUL character, which PostgreSQL does not accept in SQL text`);
      continue;
    }
    const firstLine = (sql.split('\n', 1)[0] ?? '').trim();
    scripts.push({
      name,
      sql,
      sha256: createHash('sha256').update(file.bytes).digest('hex'),
      noTransaction: firstLine === NO_TRANSACTION_MARKER,
      ...(file.versionId ? { versionId: file.versionId } : {}),
    });
  }
  if (problems.length) {
    throw new PreconditionFailed(`The migration set ${s3Prefix} is not valid, nothing was run: ${problems.join('; ')}`);
  }
  return scripts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * ApplySql runs exactly what ValidateMigrations read (and what the approver will see): the same
 * file names, each with the pinned SHA-256 (and S3 version). Anything else stops the run before
 * green is touched.
 */
export function assertPinned(scripts: MigrationScript[], pins: MigrationPin[] | undefined, s3Prefix: string): void {
  if (!pins) {
    throw new MigrationsChanged(
      `ApplySql needs $.migrationSet.pins from ValidateMigrations to know which versions of ${s3Prefix} were checked; nothing was run`,
    );
  }
  const now = new Map(scripts.map((s) => [s.name, s]));
  const pinned = new Map(pins.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const pin of pins) {
    const script = now.get(pin.name);
    if (!script) problems.push(`${pin.name}: was removed`);
    else if (script.sha256 !== pin.sha256)
      problems.push(`${pin.name}: sha256 is now ${script.sha256}, ValidateMigrations read ${pin.sha256}`);
    else if (pin.versionId && script.versionId !== pin.versionId)
      problems.push(
        `${pin.name}: S3 version is now ${script.versionId ?? 'none'}, ValidateMigrations read ${pin.versionId}`,
      );
  }
  for (const script of scripts) {
    if (!pinned.has(script.name)) problems.push(`${script.name}: was added`);
  }
  if (problems.length) {
    throw new MigrationsChanged(
      `The migration set ${s3Prefix} changed after ValidateMigrations checked it, nothing was run: ${problems.join('; ')}. Start a new execution to check and apply the new set.`,
    );
  }
}

/** How much of the server's message, and of its detail, hint and context, a MigrationFailed carries. */
const MAX_SERVER_TEXT_CHARS = 1_000;
/** How many of the files applied before a failure a MigrationFailed names (the last ones). */
const MAX_LISTED_FILES = 10;

interface ServerError {
  code?: string;
  message?: string;
  position?: string;
  severity?: string;
  detail?: string;
  hint?: string;
  where?: string;
}

/** An error the server reported (it carries a SQLSTATE); anything else, e.g. a lost connection, passes through. */
function isServerError(error: unknown): error is Error & ServerError {
  const code = (error as ServerError | null)?.code;
  return typeof error === 'object' && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** Builds MigrationFailed: file, line, column, SQLSTATE and the server's message. */
function describeFailure(
  script: MigrationScript,
  error: Error & ServerError,
  statementStart: number | undefined,
  alreadyApplied: string[],
): MigrationFailed {
  const fragment = statementStart === undefined ? script.sql : script.sql.slice(statementStart);
  let where: string;
  if (error.position) {
    const index = (statementStart ?? 0) + indexOfServerPosition(fragment, Number(error.position));
    const { line, column } = lineColumnAt(script.sql, index);
    where = `line ${line}, column ${column}`;
  } else if (statementStart !== undefined) {
    const { line, column } = lineColumnAt(script.sql, statementStart + (fragment.length - fragment.trimStart().length));
    where = `the statement starting at line ${line}, column ${column}`;
  } else {
    where = 'a position the server did not report (a run-time error)';
  }
  const extra = [
    error.detail && `detail: ${error.detail}`,
    error.hint && `hint: ${error.hint}`,
    error.where && `context: ${error.where}`,
  ]
    .filter(Boolean)
    .join('; ');
  const outcome = script.noTransaction
    ? 'The file runs outside a transaction: statements before the failing one stay applied and it is not recorded in the ledger.'
    : 'Its transaction was rolled back; the file is not recorded in the ledger.';
  // Each part that grows with the server's text or the set's size is bounded on its own, so the
  // file, the position and what happened to the transaction always survive in the message.
  const shown = alreadyApplied.slice(-MAX_LISTED_FILES);
  const more = alreadyApplied.length - shown.length;
  const before = alreadyApplied.length
    ? ` Applied before it in this run: ${more ? `${more} more, then ` : ''}${shown.join(', ')}.`
    : '';
  const server = truncate(error.message ?? '', MAX_SERVER_TEXT_CHARS);
  const details = extra ? ` (${truncate(extra, MAX_SERVER_TEXT_CHARS)})` : '';
  return new MigrationFailed(
    `Migration ${script.name} failed at ${where}: SQLSTATE ${error.code}: ${server}${details}. ${outcome}${truncate(before, MAX_SERVER_TEXT_CHARS)}`,
    { cause: error },
  );
}

/**
 * The statement_timeout for one file: the configured one, or what is left of the Lambda (less the
 * reserve) when that is shorter, so that the server cancels a migration that would outlive the
 * Lambda and the step can say so, instead of the Lambda vanishing mid-file.
 */
function fileBudget(file: string, leftMs: number, configuredMs: number): { timeoutMs: number; lambda: boolean } {
  if (leftMs < 1000) {
    throw new MigrationTimeout(
      `Migration ${file} was not started: the ApplySql Lambda (${APPLY_SQL_TIMEOUT_SECONDS} s) has ${Math.max(0, Math.round(leftMs / 1000))} s left before its reserve. The files before it are applied and recorded; run the deployment again to apply the rest (see docs/migrations.md).`,
    );
  }
  const lambdaMs = Math.trunc(leftMs);
  // statement_timeout 0 means "none": the Lambda's limit applies then.
  if (configuredMs > 0 && configuredMs <= lambdaMs) return { timeoutMs: Math.trunc(configuredMs), lambda: false };
  return { timeoutMs: lambdaMs, lambda: true };
}

function outlived(file: string, timeoutMs: number, appliedBefore: string[], noTransaction: boolean): MigrationTimeout {
  const outcome = noTransaction
    ? 'The file runs outside a transaction: statements before the cancelled one stay applied and it is not recorded in the ledger.'
    : 'Its transaction was rolled back; the file is not recorded in the ledger.';
  const before = appliedBefore.length
    ? ` Applied before it in this run: ${appliedBefore.slice(-MAX_LISTED_FILES).join(', ')}.`
    : '';
  return new MigrationTimeout(
    `Migration ${file} would outlive the ApplySql Lambda (${APPLY_SQL_TIMEOUT_SECONDS} s): the server cancelled it after ${Math.round(timeoutMs / 1000)} s, the time the Lambda had left. ${outcome} Split the file, or run long work (an index build, a backfill) before the deployment; see docs/migrations.md.${before}`,
  );
}

async function applySessionSettings(
  session: DbSession,
  lockTimeoutMs: number,
  statementTimeoutMs: number,
): Promise<void> {
  await session.query('SET default_transaction_read_only = off');
  await session.query(`SET lock_timeout = ${Math.trunc(lockTimeoutMs)}`);
  await session.query(`SET statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
}

const LEDGER_DDL = [
  'CREATE SCHEMA IF NOT EXISTS bluegreen',
  `CREATE TABLE IF NOT EXISTS bluegreen.migrations (
     version text PRIMARY KEY,
     sha256 text NOT NULL,
     applied_at timestamptz NOT NULL,
     execution_id text NOT NULL,
     duration_ms int NOT NULL
   )`,
];

const RECORD =
  'INSERT INTO bluegreen.migrations (version, sha256, applied_at, execution_id, duration_ms) VALUES ($1, $2, clock_timestamp(), $3, $4)';

export async function applySql(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'migrations' | 'clusters' | 'clock'>,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const settings = doc.input.migrations;
  if (!settings) return { applied: [], skipped: [] };
  // Validate the whole set before touching green, read at the versions ValidateMigrations pinned.
  const pins = doc.migrationSet?.pins;
  const versions = Object.fromEntries((pins ?? []).flatMap((p) => (p.versionId ? [[p.name, p.versionId]] : [])));
  const scripts = await loadMigrationSet(ports.migrations, settings.s3Prefix, versions);
  assertPinned(scripts, pins, settings.s3Prefix);
  const { clock } = ports;
  const deadline = (options.deadline ?? new Date(clock.now().getTime() + APPLY_SQL_TIMEOUT_SECONDS * 1000)).getTime();
  const reserveMs = options.reserveMs ?? 15_000;
  const target = await greenTarget(doc, ports.clusters);
  const applicationName = attemptSessionName(doc, 'ApplySql');
  const session = await openSession(ports.database, target, settings.database, applicationName);
  try {
    // A retried ApplySql first ends what its earlier attempt left running (its file still
    // executing, the advisory lock held), then takes the lock itself.
    await endEarlierAttempts(session, applicationName, clock);
    // A second runner (a retried Lambda, a second execution) waits here, bounded by
    // statement_timeout alone (a lock_timeout from the parameter group must not cut it short).
    await session.query('SET lock_timeout = 0');
    await session.query(`SET statement_timeout = ${Math.trunc(options.lockWaitMs ?? 600_000)}`);
    try {
      await session.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    } catch (error) {
      if (isServerError(error) && error.code === '57014') {
        throw new MigrationFailed(
          `Another migration runner held the advisory lock on database "${settings.database}" of ${target.clusterId} for longer than ${Math.round((options.lockWaitMs ?? 600_000) / 1000)} s`,
          { cause: error },
        );
      }
      throw error;
    }
    await applySessionSettings(session, settings.lockTimeoutMs, settings.statementTimeoutMs);
    for (const statement of LEDGER_DDL) await session.query(statement);

    // Read the ledger only under the lock: a runner that waited sees what the other one applied.
    const ledger = await session.query<{ version: string; sha256: string; execution_id: string; applied_at: Date }>(
      'SELECT version, sha256, execution_id, applied_at FROM bluegreen.migrations',
    );
    const applied = new Map(ledger.rows.map((row) => [row.version, row]));
    const changed = scripts.filter((s) => applied.has(s.name) && applied.get(s.name)?.sha256 !== s.sha256);
    if (changed.length) {
      const lines = changed.map((s) => {
        const row = applied.get(s.name);
        return `${s.name} (applied by execution ${row?.execution_id} at ${row?.applied_at.toISOString()} with sha256 ${row?.sha256}, now ${s.sha256})`;
      });
      throw new MigrationFailed(
        `Applied migration file(s) changed since they ran: ${lines.join('; ')}. An applied migration must never change; add a new file instead. Nothing was run.`,
      );
    }

    const result: ApplyResult = { applied: [], skipped: [] };
    for (const script of scripts) {
      if (applied.has(script.name)) {
        result.skipped.push(script.name);
        continue;
      }
      const appliedNames = result.applied.map((a) => a.name);
      const started = clock.now().getTime();
      let budget = fileBudget(script.name, deadline - reserveMs - started, settings.statementTimeoutMs);
      await session.query(`SET statement_timeout = ${budget.timeoutMs}`);
      if (script.noTransaction) {
        for (const statement of splitStatements(script.sql)) {
          // statement_timeout applies per statement: what is left of the Lambda shrinks as they run.
          budget = fileBudget(script.name, deadline - reserveMs - clock.now().getTime(), settings.statementTimeoutMs);
          await session.query(`SET statement_timeout = ${budget.timeoutMs}`);
          try {
            await session.query(statement.text);
          } catch (error) {
            if (isServerError(error)) {
              throw budget.lambda && error.code === '57014'
                ? outlived(script.name, budget.timeoutMs, appliedNames, true)
                : describeFailure(script, error, statement.start, appliedNames);
            }
            throw error;
          }
        }
        const durationMs = clock.now().getTime() - started;
        await session.query(RECORD, [script.name, script.sha256, doc.input.executionId, durationMs]);
        result.applied.push({ name: script.name, sha256: script.sha256, durationMs });
      } else {
        await session.query('BEGIN');
        try {
          // The whole file as one simple query, so that the server's position counts from its start.
          await session.query(script.sql);
          const durationMs = clock.now().getTime() - started;
          await session.query(RECORD, [script.name, script.sha256, doc.input.executionId, durationMs]);
          await session.query('COMMIT');
          result.applied.push({ name: script.name, sha256: script.sha256, durationMs });
        } catch (error) {
          await session.query('ROLLBACK').catch(() => undefined);
          if (isServerError(error)) {
            throw budget.lambda && error.code === '57014'
              ? outlived(script.name, budget.timeoutMs, appliedNames, false)
              : describeFailure(script, error, undefined, appliedNames);
          }
          throw error;
        }
      }
      // A file's own SET (search_path, role, …) must not leak into the next file.
      await session.query('RESET ALL');
      await applySessionSettings(session, settings.lockTimeoutMs, settings.statementTimeoutMs);
      // RESET ALL resets application_name too: keep this attempt identifiable for a retry.
      await session.query("SELECT set_config('application_name', $1, false)", [applicationName]);
    }
    return result;
  } finally {
    // Closing the session releases the advisory lock as well; unlock explicitly for clarity.
    await session.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await session.close();
  }
}
