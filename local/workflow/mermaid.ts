/**
 * Renders an ASL definition (`{ StartAt, States }`) as a Mermaid `flowchart TD`.
 *
 * Shapes: Task (and Pass) rectangles, Wait stadiums, Choice diamonds, Parallel/Map subroutines,
 * Succeed/Fail circles. Solid arrows are the normal flow (Next, Choice branches, Default); dotted
 * arrows are Catch paths labelled with the errors they catch. A Check -> Choice -> Wait poll loop is
 * drawn inside a small subgraph; a run of states sharing one Catch list is boxed in a "catch
 * region" whose single dotted arrow stands for each of their Catches. Output is deterministic: nodes follow the flow from `StartAt`
 * (depth-first along the normal edges, then Catch targets), edges follow the nodes.
 */

/** The part of an ASL definition the diagram reads. */
export interface AslLike {
  StartAt: string;
  States: Record<string, { Type: string } & Record<string, unknown>>;
}

interface Edge {
  from: string;
  to: string;
  label?: string;
  dotted: boolean;
}

interface PollLoop {
  wait: string;
  check: string;
  choice: string;
}

/** Mermaid words that cannot be node ids (compared case-insensitively). */
const RESERVED = new Set(['end', 'graph', 'flowchart', 'subgraph', 'direction', 'class', 'classdef', 'click', 'style']);
const END_NODE = 'ExecutionEnd';

/** Escapes text for a quoted Mermaid label (`"..."`): entity codes for the characters Mermaid parses. */
export function escapeLabel(text: string): string {
  return text
    .replace(/#/g, '#35;')
    .replace(/"/g, '#quot;')
    .replace(/</g, '#lt;')
    .replace(/>/g, '#gt;')
    .replace(/\|/g, '#124;')
    .replace(/[\r\n]+/g, ' ');
}

/** Hands out unique ids made of [A-Za-z0-9_] that are no Mermaid keyword. */
function idAllocator(): (wanted: string) => string {
  const used = new Set<string>([END_NODE.toLowerCase()]);
  return (wanted) => {
    let base = wanted.replace(/[^A-Za-z0-9_]/g, '_');
    if (base === '' || /^[0-9]/.test(base)) base = `s_${base}`;
    if (RESERVED.has(base.toLowerCase())) base = `${base}_`;
    let id = base;
    for (let n = 2; used.has(id.toLowerCase()); n++) id = `${base}_${n}`;
    used.add(id.toLowerCase());
    return id;
  };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function asArray(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.map((v) => asRecord(v) ?? {}) : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** `$.wait.clone.done` -> `done`; `$.items[0].name` -> `name`. */
function variableName(path: unknown): string {
  const text = str(path) ?? '?';
  const segments = text
    .replace(/\[[^\]]*\]/g, '')
    .split('.')
    .filter((s) => s !== '' && s !== '$');
  return segments.at(-1) ?? text;
}

const COMPARISONS: [suffix: string, symbol: string][] = [
  ['GreaterThanEquals', '>='],
  ['LessThanEquals', '<='],
  ['GreaterThan', '>'],
  ['LessThan', '<'],
  ['Equals', '='],
  ['Matches', '~'],
];

const TYPE_TESTS: Record<string, string> = {
  IsNull: 'null',
  IsString: 'a string',
  IsNumeric: 'a number',
  IsBoolean: 'a boolean',
  IsTimestamp: 'a timestamp',
};

/** A short, human label for a Choice rule: `dryRun`, `not dryRun`, `phase = after-upgrade`, `migrations set`. */
export function describeCondition(rule: Record<string, unknown>): string {
  const and = asArray(rule.And);
  const or = asArray(rule.Or);
  if (and.length > 0 || or.length > 0) {
    const parts = and.length > 0 ? and : or;
    const joiner = and.length > 0 ? 'and' : 'or';
    // "a, b or c set" reads better than "a set or b set or c set".
    if (parts.every((p) => p.IsPresent === true && Object.keys(p).length === 2)) {
      const names = parts.map((p) => variableName(p.Variable));
      return `${joinWords(names, joiner)} set`;
    }
    return parts.map((p) => describeCondition(p)).join(` ${joiner} `);
  }
  const not = asRecord(rule.Not);
  if (not) return `not (${describeCondition(not)})`;

  const name = variableName(rule.Variable);
  if (typeof rule.BooleanEquals === 'boolean') return rule.BooleanEquals ? name : `not ${name}`;
  if (typeof rule.IsPresent === 'boolean') return rule.IsPresent ? `${name} set` : `${name} unset`;
  for (const [key, what] of Object.entries(TYPE_TESTS)) {
    if (typeof rule[key] === 'boolean') return rule[key] ? `${name} is ${what}` : `${name} is not ${what}`;
  }
  for (const [key, value] of Object.entries(rule)) {
    if (key === 'Variable' || key === 'Next') continue;
    const comparison = COMPARISONS.find(([suffix]) => key.endsWith(suffix) || key.endsWith(`${suffix}Path`));
    if (!comparison) continue;
    const right = key.endsWith('Path') ? variableName(value) : String(value);
    return `${name} ${comparison[1]} ${right}`;
  }
  return 'condition';
}

function joinWords(words: string[], joiner: string): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} ${joiner} ${words.at(-1)}`;
}

/** The label of a Catch edge: its error names, `States.ALL` read as "any error". */
export function describeErrors(errorEquals: unknown): string {
  const names = Array.isArray(errorEquals) ? errorEquals.map(String) : [];
  if (names.length === 0) return 'error';
  return names.map((n) => (n === 'States.ALL' ? 'any error' : n)).join(', ');
}

/** Outgoing edges of one state, normal flow first, Catch paths last. */
function edgesOf(name: string, state: Record<string, unknown> & { Type: string }): Edge[] {
  const edges: Edge[] = [];
  const next = str(state.Next);
  if (next) edges.push({ from: name, to: next, dotted: false });
  if (state.End === true && state.Type !== 'Succeed' && state.Type !== 'Fail') {
    edges.push({ from: name, to: END_NODE, dotted: false });
  }
  if (state.Type === 'Choice') {
    const choices = asArray(state.Choices);
    const labels = choices.map((c) => describeCondition(c));
    choices.forEach((choice, i) => {
      const to = str(choice.Next);
      if (to) edges.push({ from: name, to, label: labels[i], dotted: false });
    });
    const fallback = str(state.Default);
    if (fallback) {
      // One boolean test reads best as its negation ("done" / "not done"); anything else is "otherwise".
      const only = choices.length === 1 ? choices[0] : undefined;
      const negated =
        only && typeof only.BooleanEquals === 'boolean' && Object.keys(only).length === 3
          ? describeCondition({ ...only, BooleanEquals: !only.BooleanEquals })
          : 'otherwise';
      edges.push({ from: name, to: fallback, label: negated, dotted: false });
    }
  }
  for (const handler of asArray(state.Catch)) {
    const to = str(handler.Next);
    if (to) edges.push({ from: name, to, label: describeErrors(handler.ErrorEquals), dotted: true });
  }
  return edges;
}

/** State names in reading order: depth-first along the normal flow, then Catch targets, then the unreachable. */
function orderStates(asl: AslLike, edges: Map<string, Edge[]>): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (start: string, followCatch: boolean): void => {
    const stack = [start];
    while (stack.length > 0) {
      const name = stack.pop() as string;
      if (seen.has(name) || !(name in asl.States)) continue;
      seen.add(name);
      order.push(name);
      const next = (edges.get(name) ?? []).filter((e) => followCatch || !e.dotted).map((e) => e.to);
      stack.push(...next.reverse());
    }
  };
  visit(asl.StartAt, false);
  // Recovery paths: every Catch target not yet reached, in the order they are first referenced.
  for (let i = 0; i < order.length; i++) {
    for (const edge of edges.get(order[i] as string) ?? []) if (edge.dotted) visit(edge.to, false);
  }
  for (const name of Object.keys(asl.States)) visit(name, true);
  return order;
}

/** Finds Wait -> Task -> Choice triples whose Choice loops back to the Wait. */
function findPollLoops(asl: AslLike): Map<string, PollLoop> {
  const byMember = new Map<string, PollLoop>();
  for (const [name, state] of Object.entries(asl.States)) {
    if (state.Type !== 'Wait') continue;
    const check = str(state.Next);
    const checkState = check ? asl.States[check] : undefined;
    if (!check || !checkState || checkState.Type !== 'Task') continue;
    const choice = str(checkState.Next);
    const choiceState = choice ? asl.States[choice] : undefined;
    if (!choice || !choiceState || choiceState.Type !== 'Choice') continue;
    const targets = [str(choiceState.Default), ...asArray(choiceState.Choices).map((c) => str(c.Next))];
    if (!targets.includes(name)) continue;
    if ([name, check, choice].some((member) => byMember.has(member))) continue;
    const loop = { wait: name, check, choice };
    for (const member of [name, check, choice]) byMember.set(member, loop);
  }
  return byMember;
}

interface CatchRegion {
  id: string;
  title: string;
  /** Units (a state, or a poll loop by its Wait) in flow order. */
  units: string[];
}

/** States that can never hold a Catch; they join the region of what follows them. */
const NEUTRAL = new Set(['Choice', 'Wait', 'Pass']);

/**
 * Catch regions: maximal connected runs of states that share the same Catch list, so that one
 * dotted arrow from the region's box replaces one per state. Choice/Wait/Pass states (which
 * cannot catch) join a region when everything they lead to is in it; a poll loop counts as its
 * Check. Runs of one are left alone.
 */
function findCatchRegions(
  asl: AslLike,
  order: string[],
  edges: Map<string, Edge[]>,
  loops: Map<string, PollLoop>,
): { byUnit: Map<string, CatchRegion> } {
  const unitOf = (name: string): string => loops.get(name)?.wait ?? name;
  const units = [...new Set(order.map(unitOf))];
  const members = (unit: string): string[] => {
    const loop = loops.get(unit);
    return loop ? [loop.wait, loop.check, loop.choice] : [unit];
  };
  const successors = (unit: string): string[] => {
    const inside = new Set(members(unit));
    const out = members(unit).flatMap((m) => (edges.get(m) ?? []).filter((e) => !e.dotted).map((e) => e.to));
    return [...new Set(out.filter((to) => !inside.has(to)).map((to) => (to === END_NODE ? to : unitOf(to))))];
  };
  const signature = (name: string): string | null => {
    const catches = (edges.get(name) ?? []).filter((e) => e.dotted).map((e) => [e.label, e.to]);
    return catches.length > 0 ? JSON.stringify(catches) : null;
  };
  // color: a Catch signature, null for "in no region", undefined for "not decided yet".
  const color = new Map<string, string | null | undefined>();
  for (const unit of units) {
    const loop = loops.get(unit);
    const type = asl.States[unit]?.Type ?? '';
    color.set(unit, loop ? signature(loop.check) : NEUTRAL.has(type) ? undefined : signature(unit));
  }
  const neutral = units.filter((u) => color.get(u) === undefined);
  for (let pass = 0; pass <= neutral.length; pass++) {
    let changed = false;
    for (const unit of neutral) {
      const seen = successors(unit).map((to) => (to === END_NODE ? null : color.get(to)));
      const decided = seen.filter((c) => c !== undefined);
      const distinct = new Set(decided);
      const next = decided.length === 0 ? undefined : distinct.size === 1 ? (decided[0] as string | null) : null;
      if (next !== color.get(unit)) {
        color.set(unit, next);
        changed = true;
      }
    }
    if (!changed) break;
  }

  // Connected components of same-colored units along the normal flow (union-find).
  const parent = new Map(units.map((u) => [u, u]));
  const find = (u: string): string => {
    let root = u;
    while (parent.get(root) !== root) root = parent.get(root) as string;
    return root;
  };
  for (const unit of units) {
    const c = color.get(unit);
    if (c === null || c === undefined) continue;
    for (const to of successors(unit)) {
      if (to !== END_NODE && color.get(to) === c) {
        const [a, b] = [find(unit), find(to)];
        if (a !== b)
          parent.set(units.indexOf(a) < units.indexOf(b) ? b : a, units.indexOf(a) < units.indexOf(b) ? a : b);
      }
    }
  }
  const groups = new Map<string, string[]>();
  for (const unit of units) {
    const c = color.get(unit);
    if (c === null || c === undefined) continue;
    const root = find(unit);
    groups.set(root, [...(groups.get(root) ?? []), unit]);
  }
  const byUnit = new Map<string, CatchRegion>();
  for (const [root, group] of groups) {
    // A region needs at least two states that catch; a lone Task with Choices around it stays bare.
    const catching = group.filter((u) => !NEUTRAL.has(asl.States[u]?.Type ?? '') || loops.has(u));
    if (catching.length < 2) continue;
    const catches = JSON.parse(color.get(root) as string) as [string, string][];
    const title = catches.map(([label, to]) => `on ${label}: ${to}`).join('; ');
    const region: CatchRegion = { id: '', title, units: group };
    for (const unit of group) byUnit.set(unit, region);
  }
  return { byUnit };
}

function nodeShape(id: string, name: string, type: string): string {
  const label = `"${escapeLabel(name)}"`;
  switch (type) {
    case 'Wait':
      return `${id}([${label}])`;
    case 'Choice':
      return `${id}{${label}}`;
    case 'Succeed':
    case 'Fail':
      return `${id}((${label}))`;
    case 'Parallel':
    case 'Map':
      return `${id}[[${label}]]`;
    default:
      return `${id}[${label}]`;
  }
}

/** The Mermaid `flowchart TD` of an ASL definition (without the Markdown fence). */
export function toMermaid(asl: AslLike): string {
  const names = Object.keys(asl.States);
  const edges = new Map<string, Edge[]>();
  for (const name of names) edges.set(name, edgesOf(name, asl.States[name] as AslLike['States'][string]));
  for (const [name, list] of edges) {
    for (const edge of list) {
      if (edge.to !== END_NODE && !(edge.to in asl.States)) {
        throw new Error(`State "${name}" goes to "${edge.to}", which is not a state of the definition.`);
      }
    }
  }
  if (!(asl.StartAt in asl.States)) throw new Error(`StartAt "${asl.StartAt}" is not a state of the definition.`);

  const order = orderStates(asl, edges);
  // States first, so each keeps its natural id; boxes get theirs after.
  const allocate = idAllocator();
  const ids = new Map(order.map((name) => [name, allocate(name)]));
  const id = (name: string): string => (name === END_NODE ? END_NODE : (ids.get(name) as string));
  const loops = findPollLoops(asl);
  const hasEnd = [...edges.values()].some((list) => list.some((e) => e.to === END_NODE));

  const regions = findCatchRegions(asl, order, edges, loops);
  const unitOf = (name: string): string => loops.get(name)?.wait ?? name;
  const loopIds = new Map(order.filter((n) => loops.get(n)?.wait === n).map((w) => [w, allocate(`poll_${id(w)}`)]));
  for (const region of new Set(regions.byUnit.values())) region.id = allocate(`catch_${id(region.units[0] as string)}`);
  const unitId = (unit: string): string => loopIds.get(unit) ?? id(unit);

  const lines = ['flowchart TD'];
  const emitted = new Set<string>();
  const emitUnit = (unit: string, indent: string): void => {
    const loop = loops.get(unit);
    if (loop) {
      const title = loop.wait.replace(/^WaitFor/, '');
      lines.push(`${indent}subgraph ${unitId(unit)}["${escapeLabel(`poll ${title}`)}"]`);
      for (const member of [loop.wait, loop.check, loop.choice]) {
        lines.push(`${indent}  ${nodeShape(id(member), member, asl.States[member]?.Type ?? 'Task')}`);
      }
      lines.push(`${indent}end`);
    } else {
      lines.push(`${indent}${nodeShape(id(unit), unit, asl.States[unit]?.Type ?? 'Task')}`);
    }
    emitted.add(unit);
  };
  for (const name of order) {
    const unit = unitOf(name);
    if (emitted.has(unit)) continue;
    const region = regions.byUnit.get(unit);
    if (region) {
      lines.push(`  subgraph ${region.id}["${escapeLabel(region.title)}"]`);
      for (const member of region.units) emitUnit(member, '    ');
      lines.push('  end');
    } else {
      emitUnit(unit, '  ');
    }
  }
  if (hasEnd) lines.push(`  ${END_NODE}(("end"))`);

  // A Catch is drawn from the smallest box that holds its state: a catch region (every Task in it
  // has the same Catch), else a poll loop (only its Check can catch), else the state itself.
  const edgeLines = new Set<string>();
  for (const name of order) {
    for (const edge of edges.get(name) ?? []) {
      const unit = unitOf(edge.from);
      const region = regions.byUnit.get(unit);
      const from = !edge.dotted ? id(edge.from) : region ? region.id : unitId(unit);
      const arrow = edge.dotted ? '-.->' : '-->';
      const label = edge.label === undefined ? '' : `|"${escapeLabel(edge.label)}"|`;
      edgeLines.add(`  ${from} ${arrow}${label} ${id(edge.to)}`);
    }
  }
  lines.push(...edgeLines);

  const regionIds = [...new Set(regions.byUnit.values())].map((r) => r.id);
  if (regionIds.length > 0) {
    lines.push('  classDef catchRegion fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:6 4');
    lines.push(`  class ${regionIds.join(',')} catchRegion`);
  }
  if (loopIds.size > 0) {
    lines.push('  classDef pollLoop fill:#fff8c5,stroke:#d4a72c');
    lines.push(`  class ${[...loopIds.values()].join(',')} pollLoop`);
  }
  const ofType = (type: string): string[] => order.filter((n) => asl.States[n]?.Type === type).map(id);
  const succeeded = [...ofType('Succeed'), ...(hasEnd ? [END_NODE] : [])];
  const failed = ofType('Fail');
  if (succeeded.length > 0) {
    lines.push('  classDef succeed fill:#d3f4dc,stroke:#1a7f37,color:#0b3d1a');
    lines.push(`  class ${succeeded.join(',')} succeed`);
  }
  if (failed.length > 0) {
    lines.push('  classDef fail fill:#ffd8d3,stroke:#cf222e,color:#5c0a10');
    lines.push(`  class ${failed.join(',')} fail`);
  }
  return `${lines.join('\n')}\n`;
}

/** The fenced Mermaid block as it appears in Markdown. */
export function mermaidBlock(mermaid: string): string {
  return `\`\`\`mermaid\n${mermaid.endsWith('\n') ? mermaid : `${mermaid}\n`}\`\`\`\n`;
}

/** The whole of docs/state-machine.md for a diagram. */
export function stateMachineDoc(mermaid: string): string {
  return [
    '# State machine',
    '',
    '<!-- Generated by `npm run diagram` from the synthesized definition; do not edit by hand. -->',
    '',
    'The deployment state machine as synthesized from `infra/`. Solid arrows are the normal flow;',
    'dotted arrows are Catch paths, labelled with the errors they catch. A dotted arrow leaving a',
    'grey `on …` box is the Catch of every Task in that box; a yellow `poll` box is a',
    'Check / Is…Done / Wait loop (it looks before it waits), whose Catch is its Check’s.',
    '',
    'How the states work together (the fence, rollback, retries, waiting) is in',
    '[architecture.md](architecture.md).',
    '',
    mermaidBlock(mermaid),
    ...STOPPED_EXECUTION,
  ].join('\n');
}

/** How a stopped execution is recovered (the second state machine, infra/definition.ts). */
const STOPPED_EXECUTION = [
  '## A stopped execution',
  '',
  '"Stop execution" in the console (and an execution timeout) skips every Catch, so the rollback',
  'above never runs: blue would stay fenced, detached and locked. An EventBridge rule on this state',
  "machine's executions that end `ABORTED`, `TIMED_OUT` or `FAILED` starts a second, small Standard",
  'state machine, `<name>-recovery`. Its first task, `ReadStoppedExecution`, reads the execution',
  '(`DescribeExecution`, `GetExecutionHistory`) and rebuilds the execution document as it was when',
  "the last state was entered. If that state was a task, it first waits for the task's Lambda timeout",
  '(`WaitForStoppedTask`): a stopped execution does not stop a Lambda that is already running. Then:',
  '',
  '- stopped before `OpenGreen` (applications only ever wrote to blue): the same `UnfenceBlue`,',
  "  `Rollback` (groups and TTL back, green deleted only if it carries this execution's tag),",
  '  `CheckRollback`, `ReleaseLock` and `ReportFailure` states as above, with the Lambdas of the',
  "  deployment itself; the notification's error is `ExecutionAborted` (`ExecutionTimedOut`,",
  '  `ExecutionFailed`) and names the state;',
  '- stopped at or after `OpenGreen` (green may have taken writes): nothing is undone;',
  '  `ReportFailure` sends the state and the commands, and the lock stays held. Once the CNAME was',
  '  in sync (`RetainBlue` or later), the lock is released and the message says what is left to',
  '  do about blue;',
  '- `FAILED` after the execution reached `ReportFailure`: its own failure path already ran, so',
  '  the recovery does nothing.',
  '',
  'A failed recovery raises its own alarm into the topic. The rehearsal plays this with',
  '`npm run rehearse -- --abort-after STATE`: the execution stops as STATE starts, the recovery',
  "runs as the rule would, and the report's status is `ABORTED`.",
  '',
];
