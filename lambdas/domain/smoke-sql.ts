import { hasSqlDetails, parse } from 'libpg-query';

export { MAX_SMOKE_VALUE_LENGTH, truncateValue } from './truncate';

/**
 * What a smoke test may run: exactly one statement, a plain query (SELECT, VALUES, TABLE, WITH …
 * SELECT), as the real PostgreSQL parser (`libpg-query`, PostgreSQL 18's grammar) reads it, never
 * a split on semicolons. `COMMIT; INSERT …` would otherwise end the read-only transaction and write.
 * The read-only transaction, the extended protocol (one statement per message) and the
 * `bluegreen_smoke` role hold the line behind this check; this check gives the clear message.
 */

/**
 * Functions a query could use to leave the smoke role, reach another server or act on other
 * sessions (the read-only transaction does not stop these).
 */
const REFUSED_FUNCTIONS: readonly RegExp[] = [
  /^set_config$/, // set_config('role', …) would switch back to the admin role
  /^pg_(terminate|cancel)_backend$/,
  /^pg_(reload_conf|rotate_logfile|promote|log_backend_memory_contexts)$/,
  /^pg_(read|read_binary|stat)_file$/,
  /^pg_ls_/,
  /^lo_(import|export)$/,
  /^dblink/,
  /^pg_advisory/,
  /^pg_notify$/,
];

/** Parse-tree nodes that write, wherever they appear (a data-modifying CTE inside a SELECT, say). */
const WRITING_NODES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

function findRefusal(node: unknown): string | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findRefusal(item);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof node !== 'object' || node === null) return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (WRITING_NODES.has(key))
      return `it contains a data-modifying statement (${key.replace(/Stmt$/, '').toUpperCase()})`;
    if (key === 'intoClause') return 'SELECT … INTO creates a table';
    if (key === 'lockingClause') return 'FOR UPDATE/SHARE takes row locks';
    if (key === 'FuncCall') {
      const names = ((value as { funcname?: { String?: { sval?: string } }[] }).funcname ?? []).map(
        (n) => n.String?.sval ?? '',
      );
      const name = names[names.length - 1] ?? '';
      if (REFUSED_FUNCTIONS.some((rule) => rule.test(name.toLowerCase()))) {
        return `it calls ${names.join('.')}(), which a smoke test may not use`;
      }
    }
    const found = findRefusal(value);
    if (found) return found;
  }
  return undefined;
}

/**
 * Why `sql` is not a single read-only query, in words; undefined when it is one.
 * A syntax error is a reason too (with the parser's message and position).
 */
export async function smokeSqlRefusal(sql: string): Promise<string | undefined> {
  let statements: { stmt?: Record<string, unknown> }[];
  try {
    statements = (await parse(sql)).stmts as { stmt?: Record<string, unknown> }[];
  } catch (error) {
    // Only the parser's own verdict is about the SQL; a parser that cannot load is our failure.
    if (!hasSqlDetails(error)) throw error;
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    const at = details?.cursorPosition !== undefined ? ` at character ${details.cursorPosition + 1}` : '';
    return `it does not parse${at}: ${(error as Error).message}`;
  }
  if (statements.length !== 1) {
    return `it must be exactly one statement, found ${statements.length}`;
  }
  const stmt = statements[0]?.stmt ?? {};
  const kind = Object.keys(stmt)[0] ?? 'nothing';
  if (kind !== 'SelectStmt') {
    return `it must be a query (SELECT, VALUES, TABLE or WITH … SELECT), found ${kind.replace(/Stmt$/, '')}`;
  }
  return findRefusal(stmt);
}
