import { PreconditionFailed } from '../../../lambdas/domain/errors';
import { MAX_SMOKE_VALUE_LENGTH, smokeSqlRefusal, truncateValue } from '../../../lambdas/domain/smoke-sql';
import { validateInput } from '../../../lambdas/steps/validate-input';
import { FakeCloud } from '../../support/fake-cloud';
import { BLUE, DEFAULTS, EXECUTION } from '../../support/step-fixtures';

/** The smoke-test SQL guard with the real PostgreSQL parser (libpg-query), no mock. */

describe('smokeSqlRefusal', () => {
  it.each([
    'SELECT count(*) FROM orders',
    'select 1 -- trailing comment; with a semicolon in it',
    "SELECT ';' AS not_a_separator",
    'WITH recent AS (SELECT * FROM orders WHERE id > 10) SELECT count(*) FROM recent',
    'VALUES (1)',
    'TABLE orders',
    'SELECT count(*) FROM orders;',
  ])('accepts one query: %s', async (sql) => {
    await expect(smokeSqlRefusal(sql)).resolves.toBeUndefined();
  });

  it.each([
    ['COMMIT; INSERT INTO orders DEFAULT VALUES', /exactly one statement, found 2/],
    ['SELECT 1; SELECT 2', /exactly one statement, found 2/],
    [' ; ', /exactly one statement, found 0/],
    ['INSERT INTO orders DEFAULT VALUES', /must be a query .* found Insert/],
    ['SET ROLE postgres', /must be a query .* found VariableSet/],
    ['EXPLAIN ANALYZE DELETE FROM orders', /found Explain/],
    ['WITH gone AS (DELETE FROM orders RETURNING 1) SELECT count(*) FROM gone', /data-modifying statement \(DELETE\)/],
    ['SELECT * INTO copy FROM orders', /INTO creates a table/],
    ['SELECT id FROM orders FOR UPDATE', /row locks/],
    ["SELECT set_config('role', 'postgres', true)", /set_config\(\)/],
    ['SELECT pg_catalog.pg_terminate_backend(42)', /pg_catalog\.pg_terminate_backend\(\)/],
    ["SELECT dblink_exec('host=x', 'DROP TABLE t')", /dblink_exec\(\)/],
    ['SELEC 1', /does not parse at character 1: syntax error at or near "SELEC"/],
  ])('refuses %s', async (sql, reason) => {
    await expect(smokeSqlRefusal(sql)).resolves.toMatch(reason);
  });
});

describe('truncateValue', () => {
  it('keeps short values and cuts long ones to 200 characters with an ellipsis', () => {
    expect(truncateValue('x'.repeat(200))).toBe('x'.repeat(200));
    const cut = truncateValue('é'.repeat(5000));
    expect([...cut]).toHaveLength(MAX_SMOKE_VALUE_LENGTH);
    expect(cut.endsWith('…')).toBe(true);
  });
});

describe('ValidateInput refuses smoke SQL before anything is touched', () => {
  // blueClusterId is given: ValidateInput asks neither DNS nor RDS.
  const untouched = new FakeCloud().ports();
  const request = (sql: string) => ({
    raw: {
      blueClusterId: BLUE,
      smokeTests: [
        { name: 'fine', database: 'app', sql: 'SELECT 1', expect: 'nonzero' },
        { name: 'sneaky', database: 'app', sql, expect: 'nonzero' },
      ],
    },
    defaults: DEFAULTS,
    execution: EXECUTION,
  });

  it('names the field, the test and the rule', async () => {
    const failure = validateInput(request("COMMIT; UPDATE orders SET status = 'x'"), untouched);
    await expect(failure).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(failure).rejects.toThrow(
      'smokeTests[1].sql ("sneaky"): a smoke test is exactly one read-only query; it must be exactly one statement, found 2',
    );
  });

  it('passes a single query through', async () => {
    const { input } = await validateInput(request('SELECT count(*) FROM orders'), untouched);
    expect(input.smokeTests.map((t) => t.sql)).toEqual(['SELECT 1', 'SELECT count(*) FROM orders']);
  });
});
