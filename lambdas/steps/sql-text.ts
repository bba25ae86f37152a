/**
 * Small, dependency-free helpers for SQL text: where a server error position lies in a file,
 * and splitting a file into statements for the files that must run outside a transaction.
 */

export interface LineColumn {
  line: number;
  column: number;
}

/** Line and column (1-based, column in characters) of a JS string index in `text`. */
export function lineColumnAt(text: string, index: number): LineColumn {
  const before = text.slice(0, Math.max(0, Math.min(index, text.length)));
  const lines = before.split('\n');
  const last = lines[lines.length - 1] ?? '';
  return { line: lines.length, column: Array.from(last).length + 1 };
}

/** Converts the server's error position (1-based, counted in characters) into a JS string index. */
export function indexOfServerPosition(text: string, position: number): number {
  let index = 0;
  for (let characters = 1; characters < position && index < text.length; characters++) {
    const code = text.charCodeAt(index);
    index += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
  }
  return index;
}

export interface Statement {
  text: string;
  /** JS string index of the statement's first character in the file. */
  start: number;
}

/**
 * Splits SQL into statements at top-level semicolons, aware of quotes ('…', E'…', "…"),
 * dollar quotes ($tag$…$tag$) and comments (-- and nested /* *\/). Statements that hold only
 * comments and blanks are dropped. Not aware of `BEGIN ATOMIC … END` bodies: such functions
 * belong in a transactional file, which is sent to the server whole.
 */
export function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let start = 0;
  let meaningful = false;
  let i = 0;
  const push = (end: number) => {
    if (meaningful) statements.push({ text: sql.slice(start, end), start });
    start = end + 1;
    meaningful = false;
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      continue;
    }
    if (c === ';') {
      push(i);
      i++;
      continue;
    }
    if (!/\s/.test(c)) meaningful = true;
    if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '');
      i++;
      while (i < sql.length) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === '"') {
      i++;
      while (i < sql.length) {
        if (sql[i] === '"' && sql[i + 1] === '"') i += 2;
        else if (sql[i] === '"') break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === '$' && !/[\w$]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? sql.length : end + tag[0].length;
        continue;
      }
    }
    i++;
  }
  push(sql.length);
  return statements;
}
