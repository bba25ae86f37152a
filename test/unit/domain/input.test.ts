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
