import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Issue 11's "done when": the README's approval section says what an approver, an insider with
 * read-only access and an attacker with the URL can and cannot do, and that the execution history
 * shows the task token (with where to read how to limit `states:SendTask*`). docs/approval.md holds
 * the reference; the README keeps it to a paragraph.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The README paragraph that starts with `**Approve.**`, up to the next bold lead-in or heading. */
function approveParagraph(readme: string): string {
  const start = readme.indexOf('**Approve.**');
  if (start < 0) throw new Error('README.md has no **Approve.** paragraph');
  const rest = readme.slice(start + 1);
  const end = rest.search(/\n\*\*[A-Z][^*]*\.\*\*|\n#/);
  return end < 0 ? rest : rest.slice(0, end);
}

describe("the README's approval section", () => {
  const paragraph = approveParagraph(read('README.md')).replace(/\s+/g, ' ');

  it('says what an approver, an insider with ReadOnlyAccess and an attacker with the URL can and cannot do', () => {
    expect(paragraph).toMatch(/an approver decides once, before the expiry/);
    expect(paragraph).toMatch(/an insider with `ReadOnlyAccess` sees the evidence and the task token in the history/);
    expect(paragraph).toMatch(/cannot open the page, and cannot decide unless they also hold `states:SendTask\*`/);
    expect(paragraph).toMatch(/an attacker with the URL sees the evidence and can decide like an approver/);
  });

  it('says the history shows the task token and points at how to limit states:SendTask*', () => {
    expect(paragraph).toMatch(/execution history shows the task token/);
    expect(paragraph).toContain('[docs/approval.md](docs/approval.md)');
    const approval = read('docs/approval.md');
    expect(approval).toContain('### The execution history shows the task token');
    expect(approval).toMatch(
      /"Action": \["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"\]/,
    );
  });

  it("keeps docs/approval.md's who-can-do-what table, one row per kind of person", () => {
    const approval = read('docs/approval.md');
    const table = approval.slice(approval.indexOf('## Who can do what'));
    for (const who of [
      '| An approver (has the email)',
      '| A notification-only recipient',
      '| Anyone with the link (a forwarded email, a mail scanner, an attacker who got the URL)',
      '| An insider with `ReadOnlyAccess`',
      '| Someone with `states:SendTaskSuccess` on the state machine',
      '| An attacker flooding the URL',
    ]) {
      expect(table).toContain(who);
    }
  });
});
