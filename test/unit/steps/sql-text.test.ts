import { indexOfServerPosition, lineColumnAt, splitStatements } from '../../../lambdas/steps/sql-text';

describe('splitStatements', () => {
  it('splits at top-level semicolons only', () => {
    const sql = [
      '-- bluegreen:no-transaction',
      "CREATE INDEX CONCURRENTLY a ON t (x) WHERE y <> ';';",
      'CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql;',
      "SELECT E'it\\'s; fine', 'don''t; split', \"odd;name\" FROM t; /* outer /* nested; */ still; */",
      '-- only a comment; here',
      '',
    ].join('\n');

    const statements = splitStatements(sql).map((s) => s.text.trim());

    expect(statements).toEqual([
      "-- bluegreen:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x) WHERE y <> ';'",
      'CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql',
      "SELECT E'it\\'s; fine', 'don''t; split', \"odd;name\" FROM t",
    ]);
  });

  it('keeps each statement start offset in the file', () => {
    const sql = 'SELECT 1;\nSELECT 2;';
    expect(splitStatements(sql).map((s) => s.start)).toEqual([0, 9]);
  });

  it('treats $1 parameters and identifiers with $ as plain text', () => {
    expect(splitStatements('SELECT a$b FROM t WHERE x = $1; SELECT 2').map((s) => s.text.trim())).toEqual([
      'SELECT a$b FROM t WHERE x = $1',
      'SELECT 2',
    ]);
  });
});

describe('positions', () => {
  it('maps a server position (characters, 1-based) to line and column', () => {
    const sql = "-- ☃ 𝄞\nSELECT 'ü', nope";
    const index = indexOfServerPosition(sql, 20); // the n of nope: 8 characters on line 1, 12 on line 2
    expect(sql.slice(index, index + 4)).toBe('nope');
    expect(lineColumnAt(sql, index)).toEqual({ line: 2, column: 13 });
  });
});
