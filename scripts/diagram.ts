/**
 * Regenerates the state machine diagram from the synthesized definition of the real stack, in
 * docs/state-machine.md (the one place it is kept).
 *
 *   npm run diagram              # write it
 *   npm run diagram -- --check   # exit 1 if it is stale
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stateMachineDoc, toMermaid } from '../local/workflow/mermaid';
import { synthesizeDefinition } from '../local/workflow/synth';

const ROOT = path.resolve(__dirname, '..');
const DOC = path.join(ROOT, 'docs', 'state-machine.md');

function readIfExists(file: string): string | undefined {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
}

function main(argv: string[]): number {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`Unknown argument(s): ${unknown.join(' ')}. Usage: npm run diagram [-- --check]`);
    return 2;
  }
  const check = argv.includes('--check');
  const mermaid = toMermaid(synthesizeDefinition());

  const wanted = new Map<string, string>([[DOC, stateMachineDoc(mermaid)]]);

  const stale = [...wanted].filter(([file, text]) => readIfExists(file) !== text).map(([file]) => file);
  const rel = (file: string): string => path.relative(ROOT, file);
  if (check) {
    if (stale.length > 0) {
      console.error(`State machine diagram is stale in ${stale.map(rel).join(' and ')}: run npm run diagram`);
      return 1;
    }
    console.log(`State machine diagram is up to date in ${[...wanted.keys()].map(rel).join(' and ')}.`);
    return 0;
  }
  for (const file of stale) fs.writeFileSync(file, wanted.get(file) as string);
  const untouched = [...wanted.keys()].filter((f) => !stale.includes(f));
  if (stale.length > 0) console.log(`Wrote ${stale.map(rel).join(' and ')}.`);
  if (untouched.length > 0) console.log(`Up to date: ${untouched.map(rel).join(' and ')}.`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
