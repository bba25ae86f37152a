import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The README and docs/ are what readers have: every link and every file a comment points at must
 * be in the repo, and nothing may point outside it.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: ROOT,
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f && existsSync(path.join(ROOT, f)));
const markdown = tracked.filter((f) => f.endsWith('.md') && !f.startsWith('node_modules/'));
const sources = tracked.filter((f) => /\.(ts|mjs|js)$/.test(f) && !f.startsWith('node_modules/'));

describe('links and references in the repo', () => {
  it('every relative link of the README and docs/ points at a file that exists', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] ?? '';
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        const resolved = path.resolve(path.dirname(path.join(ROOT, file)), target.split('#')[0] ?? '');
        if (!existsSync(resolved)) broken.push(`${file}: ${target}`);
      }
    }
    expect(markdown.length).toBeGreaterThan(5);
    expect(broken).toEqual([]);
  });

  it('every docs/… file a comment or message names exists', () => {
    const missing: string[] = [];
    for (const file of sources) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const match of text.matchAll(/\bdocs\/[\w./-]+\.(md|png)\b/g)) {
        if (!existsSync(path.join(ROOT, match[0]))) missing.push(`${file}: ${match[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('the README stays short (under 15 KB) and starts a newcomer with the two commands', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(Buffer.byteLength(readme)).toBeLessThan(15 * 1024);
    expect(readme).toContain('npm ci && npm run rehearse');
    expect(readme).toMatch(/^npm test\b/m);
  });

  it('nothing points outside the repo (readers have no ../shared)', () => {
    const outside = [...markdown, ...sources].filter((file) =>
      /\.\.\/shared\/|\bDESIGN\.md\b/.test(readFileSync(path.join(ROOT, file), 'utf8')),
    );
    expect(outside).toEqual([]);
  });
});
