import { requireEnv, requirePositiveIntEnv } from '../../../lambdas/aws/env';

describe('requireEnv', () => {
  it('returns the value of a set variable', () => {
    expect(requireEnv('LOCK_TABLE', { LOCK_TABLE: 'locks' })).toBe('locks');
  });

  it('fails with a message that names a missing variable', () => {
    expect(() => requireEnv('LOCK_TABLE', {})).toThrow('Environment variable LOCK_TABLE is required but is not set');
  });

  it('treats a blank value as missing', () => {
    expect(() => requireEnv('LOCK_TABLE', { LOCK_TABLE: '  ' })).toThrow(/LOCK_TABLE/);
  });

  it('reads process.env by default', () => {
    process.env.BLUEGREEN_TEST_VARIABLE = 'from-process';
    try {
      expect(requireEnv('BLUEGREEN_TEST_VARIABLE')).toBe('from-process');
    } finally {
      delete process.env.BLUEGREEN_TEST_VARIABLE;
    }
  });
});

describe('requirePositiveIntEnv', () => {
  it('parses a positive integer', () => {
    expect(requirePositiveIntEnv('MAX_POLLS', { MAX_POLLS: '120' })).toBe(120);
  });

  it.each(['0', '-1', '1.5', 'ten'])('rejects %p and names the variable', (raw) => {
    expect(() => requirePositiveIntEnv('MAX_POLLS', { MAX_POLLS: raw })).toThrow(
      `Environment variable MAX_POLLS must be a positive integer, got "${raw}"`,
    );
  });
});
