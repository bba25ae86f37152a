import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AslDefinition } from '../../local/workflow/asl';
import { stateMachineDoc, toMermaid, type AslLike } from '../../local/workflow/mermaid';
import { synthesizeDefinition } from '../../local/workflow/synth';

const ROOT = path.resolve(__dirname, '..', '..');
const STALE = 'run npm run diagram';

/**
 * A structural check of the Mermaid subset toMermaid emits: every line is a known statement, ids
 * are [A-Za-z0-9_], labels are quoted without raw quotes, subgraphs are balanced and every edge
 * joins declared nodes (or subgraphs). Returns the problems found.
 */
function lintFlowchart(text: string): string[] {
  const problems: string[] = [];
  const lines = text.trimEnd().split('\n');
  if (lines[0] !== 'flowchart TD') problems.push(`first line is "${lines[0]}"`);
  const label = '"[^"]*"';
  const node = new RegExp(
    `^(\\w+)(\\[${label}\\]|\\(\\[${label}\\]\\)|\\{${label}\\}|\\(\\(${label}\\)\\)|\\[\\[${label}\\]\\])$`,
  );
  const edge = new RegExp(`^(\\w+) (-->|-\\.->)(\\|${label}\\|)? (\\w+)$`);
  const declared = new Set<string>();
  const edges: [string, string][] = [];
  let depth = 0;
  for (const [i, raw] of lines.slice(1).entries()) {
    const line = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = line.match(new RegExp(`^subgraph (\\w+)\\[${label}\\]$`)))) {
      declared.add(m[1] as string);
      depth++;
    } else if (line === 'end') {
      if (--depth < 0) problems.push(`line ${i + 2}: "end" without subgraph`);
    } else if ((m = line.match(node))) {
      if (declared.has(m[1] as string)) problems.push(`line ${i + 2}: ${m[1]} declared twice`);
      declared.add(m[1] as string);
    } else if ((m = line.match(edge))) {
      edges.push([m[1] as string, m[4] as string]);
    } else if (!/^classDef \w+ [\w#:, -]+$/.test(line) && !/^class [\w,]+ \w+$/.test(line)) {
      problems.push(`line ${i + 2}: not a statement: ${line}`);
    }
  }
  if (depth !== 0) problems.push('unbalanced subgraph/end');
  for (const [from, to] of edges) {
    for (const id of [from, to]) if (!declared.has(id)) problems.push(`edge ${from} -> ${to}: ${id} is not declared`);
  }
  for (const id of declared) if (id.toLowerCase() === 'end') problems.push(`"${id}" is a Mermaid keyword`);
  return problems;
}

function expectFresh(file: string, expected: string): void {
  const actual = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (actual === expected) return;
  const a = actual.split('\n');
  const e = expected.split('\n');
  const line = e.findIndex((l, i) => a[i] !== l);
  throw new Error(
    `${path.relative(ROOT, file)} is stale: ${STALE}.\n` +
      `First difference at line ${line + 1}:\n  expected: ${e[line] ?? '<end of file>'}\n  actual:   ${a[line] ?? '<end of file>'}`,
  );
}

describe('toMermaid on a hand-made definition', () => {
  const asl: AslLike = {
    StartAt: 'Do It',
    States: {
      'Do It': {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Next: 'IsReady',
        Catch: [
          { ErrorEquals: ['PreconditionFailed'], ResultPath: '$.error', Next: 'Give up' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Give up' },
        ],
      },
      IsReady: {
        Type: 'Choice',
        Choices: [{ Variable: '$.wait.ready.done', BooleanEquals: true, Next: 'Done' }],
        Default: 'Pause',
      },
      Pause: { Type: 'Wait', Seconds: 5, Next: 'end' },
      end: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Next: 'IsReady' },
      IsBig: {
        Type: 'Choice',
        Choices: [{ Variable: '$.size', NumericGreaterThan: 3, Next: 'Done' }],
        Default: 'Give up',
      },
      Done: { Type: 'Succeed' },
      'Give up': { Type: 'Fail', Error: 'Boom', Cause: 'say "why" <here>' },
    },
  };
  const out = toMermaid(asl);
  const lines = out.split('\n').map((l) => l.trim());

  it('starts a top-down flowchart and passes the structural check', () => {
    expect(lines[0]).toBe('flowchart TD');
    expect(lintFlowchart(out)).toEqual([]);
  });

  it('draws each state type with its shape and Mermaid-safe ids', () => {
    expect(lines).toContain('Do_It["Do It"]');
    expect(lines).toContain('IsReady{"IsReady"}');
    expect(lines).toContain('Pause(["Pause"])');
    expect(lines).toContain('Done(("Done"))');
    expect(lines).toContain('Give_up(("Give up"))');
    // "end" closes a subgraph in Mermaid: the state keeps its name as label but gets another id.
    expect(lines).toContain('end_["end"]');
  });

  it('labels Choice branches briefly and draws Catch paths dotted with their errors', () => {
    expect(lines).toContain('Do_It --> IsReady');
    expect(lines).toContain('IsReady -->|"done"| Done');
    expect(lines).toContain('IsReady -->|"not done"| Pause');
    expect(lines).toContain('IsBig -->|"size #gt; 3"| Done');
    expect(lines).toContain('IsBig -->|"otherwise"| Give_up');
    expect(lines).toContain('Do_It -.->|"PreconditionFailed"| Give_up');
    expect(lines).toContain('Do_It -.->|"any error"| Give_up');
    expect(out).not.toContain('States.ALL');
  });

  it('groups a Wait / Task / Choice poll loop in a subgraph', () => {
    const start = lines.indexOf('subgraph poll_Pause["poll Pause"]');
    expect(start).toBeGreaterThan(0);
    expect(lines.slice(start + 1, start + 5)).toEqual(['Pause(["Pause"])', 'end_["end"]', 'IsReady{"IsReady"}', 'end']);
  });

  it('orders nodes along the flow, unreachable states last, and styles the terminals', () => {
    const declared = lines.filter((l) => /^\w+[[({]/.test(l)).map((l) => l.match(/^\w+/)?.[0]);
    expect(declared).toEqual(['Do_It', 'Pause', 'end_', 'IsReady', 'Done', 'Give_up', 'IsBig']);
    expect(lines).toContain('class Done succeed');
    expect(lines).toContain('class Give_up fail');
  });

  it('is deterministic and rejects a transition to a missing state', () => {
    expect(toMermaid(structuredClone(asl))).toBe(out);
    const broken = structuredClone(asl);
    (broken.States.Pause as Record<string, unknown>).Next = 'Nowhere';
    expect(() => toMermaid(broken)).toThrow('"Pause" goes to "Nowhere"');
  });

  it('boxes a run of states sharing one Catch list and draws that Catch once, from the box', () => {
    const task = (Next: string, to: string) => ({
      Type: 'Task',
      Next,
      Catch: [{ ErrorEquals: ['States.ALL'], Next: to }],
    });
    const regions = toMermaid({
      StartAt: 'A',
      States: {
        A: task('Pick', 'Undo'),
        Pick: { Type: 'Choice', Choices: [{ Variable: '$.x', IsPresent: true, Next: 'B' }], Default: 'B2' },
        B: task('C', 'Undo'),
        B2: task('C', 'Undo'),
        C: task('Done', 'Cleanup'),
        Undo: task('Cleanup', 'Cleanup'),
        Cleanup: { Type: 'Task', Next: 'Done' },
        Done: { Type: 'Succeed' },
      },
    });
    expect(lintFlowchart(regions)).toEqual([]);
    const box = regions.match(/^ {2}subgraph (\w+)\["on any error: Undo"\]\n([\s\S]*?)^ {2}end$/m);
    expect(box?.[2]?.trim().split(/\s+/)).toEqual(['A["A"]', 'Pick{"Pick"}', 'B["B"]', 'B2["B2"]']);
    expect(regions).toContain(`  ${box?.[1]} -.->|"any error"| Undo\n`);
    expect(regions).not.toMatch(/^ {2}(A|B|B2) -\.->/m);
    // C and Undo catch to Cleanup but are not connected by the normal flow: no box, one arrow each.
    expect(regions).toContain('  C -.->|"any error"| Cleanup\n');
    expect(regions).toContain('  Undo -.->|"any error"| Cleanup\n');
    expect(regions).toContain(`class ${box?.[1]} catchRegion`);
  });
});

describe('the diagram of the synthesized state machine', () => {
  let definition: AslDefinition;
  let diagram: string;

  beforeAll(() => {
    definition = synthesizeDefinition();
    diagram = toMermaid(definition);
  });

  it(`is what docs/state-machine.md holds (else ${STALE})`, () => {
    expectFresh(path.join(ROOT, 'docs', 'state-machine.md'), stateMachineDoc(diagram));
  });

  it('is kept in docs/state-machine.md only: the README links to it instead of holding a copy', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).not.toContain('```mermaid');
    expect(readme).toContain('(docs/state-machine.md)');
  });

  it('shows every state, and every Task by its name, in a well-formed flowchart', () => {
    expect(lintFlowchart(diagram)).toEqual([]);
    const tasks = Object.entries(definition.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks.length).toBeGreaterThan(10);
    const missing = tasks.map(([name]) => name).filter((name) => !diagram.includes(`["${name}"]`));
    expect(missing).toEqual([]);
    const nodeLines = diagram.split('\n').filter((l) => /^\s+\w+(\[|\(|\{)/.test(l));
    expect(nodeLines).toHaveLength(Object.keys(definition.States).length);
  });

  it('draws the rollback path: the fenced steps share one Catch, failback and online mode remove their replication first, then UnfenceBlue and Rollback', () => {
    const region = diagram.match(/^ {2}subgraph (\w+)\["on any error: IsFailbackRollback"\]\n([\s\S]*?)^ {2}end$/m);
    expect(region?.[2]).toContain('CreateClone["CreateClone"]');
    expect(region?.[2]).toContain('SmokeTest["SmokeTest"]');
    expect(region?.[2]).toContain('CatchUpGreen["CatchUpGreen"]');
    expect(diagram).toContain(`  ${region?.[1]} -.->|"any error"| IsFailbackRollback\n`);
    expect(diagram).toContain('  RemoveFailbackReplication --> IsOnlineRollback\n');
    expect(diagram).toContain('  IsOnlineRollback -->|"mode set and mode = online"| RemoveReplication\n');
    expect(diagram).toContain('  IsOnlineRollback -->|"otherwise"| UnfenceBlue\n');
    expect(diagram).toContain('  RemoveReplication --> UnfenceBlue\n');
    expect(diagram).toContain('  UnfenceBlue --> Rollback\n');
    expect(diagram).toContain('  UnfenceBlue -.->|"any error"| Rollback\n');
  });
});
