import { deriveGreenClusterId, parseInput } from '../../../lambdas/domain/input';
import { DEFAULTS, EXECUTION } from '../../support/step-fixtures';

describe('green ids derived from blue and the start time', () => {
  const start = '2027-01-05T02:00:00.000Z';

  it('adds -g and the start, YYMMDDHHMMSS', () => {
    expect(deriveGreenClusterId('orders-prod', start)).toBe('orders-prod-g270105020000');
  });

  it('a blue that was a derived green loses its suffix, so ids do not grow run after run', () => {
    expect(deriveGreenClusterId('orders-prod-g261205020000', start)).toBe('orders-prod-g270105020000');
  });

  it('stays within 63 characters and never ends the base with a hyphen', () => {
    const id = deriveGreenClusterId(`orders-${'x'.repeat(40)}-${'y'.repeat(20)}`, start);
    expect(id.length).toBeLessThanOrEqual(63);
    expect(id).toMatch(/^orders-x+-?[a-z]*-g270105020000$/);
    expect(id).not.toContain('--');
  });
});

describe('an input without blueClusterId', () => {
  it('is refused by the parser itself: only ValidateInput resolves it, from the CNAME', () => {
    expect(() => parseInput({ raw: {}, defaults: DEFAULTS, execution: EXECUTION })).toThrow(
      'blueClusterId: required (or resolved from the CNAME)',
    );
  });
});

describe('mode, failback and replication', () => {
  const parse = (raw: Record<string, unknown>) =>
    parseInput({ raw: { blueClusterId: 'app-prod', ...raw }, defaults: DEFAULTS, execution: EXECUTION });

  it('default to offline, no failback, and a 1 MiB lag bound', () => {
    const input = parse({});
    expect(input.mode).toBe('offline');
    expect(input.failback).toBe(false);
    expect(input.replication).toEqual({ maxLagBytes: 1_048_576 });
  });

  it('take online mode, failback and a lag bound', () => {
    const input = parse({
      mode: 'online',
      failback: true,
      blueRetentionSeconds: 3600,
      replication: { maxLagBytes: 0 },
    });
    expect(input).toMatchObject({ mode: 'online', failback: true, replication: { maxLagBytes: 0 } });
  });

  it('name the field and the rule when wrong', () => {
    expect(() => parse({ mode: 'live' })).toThrow(/mode: .*"offline"\|"online"/);
    expect(() => parse({ failback: true, dryRun: true, blueRetentionSeconds: 3600 })).toThrow(
      'failback: a dry run has no cutover to fail back from',
    );
    expect(() => parse({ failback: true, writeBlock: 'read-only', blueRetentionSeconds: 3600 })).toThrow(
      "failback: needs writeBlock 'security-group'",
    );
    expect(parse({ failback: true, writeBlock: 'security-group', blueRetentionSeconds: 3600 }).failback).toBe(true);
    expect(() => parse({ failback: true, blueRetentionSeconds: 0 })).toThrow(
      'failback: needs blueRetentionSeconds of at least 60',
    );
    expect(() => parse({ replication: { maxLagBytes: -1 } })).toThrow(/replication\.maxLagBytes/);
  });
});
