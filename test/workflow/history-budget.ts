import type { AslDefinition } from '../../local/workflow/asl';

/**
 * Worst-case history of one execution, read from the synthesized graph. Step Functions writes
 * these events (AWS's "History events" reference): a Lambda task 5 (entered, scheduled, started,
 * succeeded, exited), a Wait, Choice or Pass 2, a Fail or Succeed 1 (plus the execution's own
 * start and end). Each retry adds 3 (scheduled, started, failed).
 */
export interface HistoryShape {
  /** Poll loops (Check → Choice → Wait → Check) on the longest path through the graph. */
  loopsOnLongestPath: number;
  /** Events one more poll of a loop costs (its Check, Choice and Wait once each). */
  eventsPerPoll: number;
  /** Events of the longest path outside the loops' repeats, each task retried to its limit once. */
  fixedEvents: number;
}

type State = AslDefinition['States'][string];

function eventsOf(state: State): number {
  if (state.Type === 'Task') {
    const retries = ((state.Retry as { MaxAttempts?: number }[] | undefined) ?? []).reduce(
      (n, r) => n + (r.MaxAttempts ?? 3),
      0,
    );
    return 5 + 3 * retries;
  }
  if (state.Type === 'Fail' || state.Type === 'Succeed') return 1;
  return 2;
}

function successors(state: State): string[] {
  const next: string[] = [];
  if (typeof state.Next === 'string') next.push(state.Next);
  if (typeof state.Default === 'string') next.push(state.Default);
  for (const c of (state.Choices as { Next: string }[] | undefined) ?? []) next.push(c.Next);
  for (const c of (state.Catch as { Next: string }[] | undefined) ?? []) next.push(c.Next);
  return next;
}

export function historyShape(definition: AslDefinition): HistoryShape {
  const states = definition.States;
  // A back edge (DFS) from a Wait closes a poll loop (the Wait's edge back to its Check). The
  // only other back edge is the SQL phase's choice (ApplySql before or after the upgrade), which
  // an execution passes once: it is dropped like the loops' edges.
  const loopWaits = new Set<string>();
  const backEdges = new Set<string>();
  const colour = new Map<string, 'grey' | 'black'>();
  const visit = (name: string): void => {
    colour.set(name, 'grey');
    for (const next of successors(states[name] as State)) {
      if (colour.get(next) === 'grey') {
        backEdges.add(`${name}->${next}`);
        if ((states[name] as State).Type === 'Wait') loopWaits.add(name);
      } else if (!colour.has(next)) visit(next);
    }
    colour.set(name, 'black');
  };
  visit(definition.StartAt);

  const loops = [...loopWaits].map((wait) => {
    const check = (states[wait] as State).Next as string;
    const choice = (states[check] as State).Next as string;
    return { wait, check, choice };
  });
  const eventsPerPoll = Math.max(
    ...loops.map((l) => eventsOf(states[l.wait] as State) + 5 + eventsOf(states[l.choice] as State)),
  );
  const checks = new Set(loops.map((l) => l.check));

  // Longest path over the graph without the back edges: events, and loops passed on the way.
  const memo = new Map<string, { events: number; loops: number }>();
  const longest = (name: string): { events: number; loops: number } => {
    const known = memo.get(name);
    if (known) return known;
    const state = states[name] as State;
    let best = { events: 0, loops: 0 };
    for (const next of successors(state)) {
      if (backEdges.has(`${name}->${next}`)) continue;
      const tail = longest(next);
      if (tail.loops > best.loops || (tail.loops === best.loops && tail.events > best.events)) best = tail;
    }
    const result = { events: best.events + eventsOf(state), loops: best.loops + (checks.has(name) ? 1 : 0) };
    memo.set(name, result);
    return result;
  };
  const path = longest(definition.StartAt);
  // ExecutionStarted and ExecutionSucceeded/Failed.
  return { loopsOnLongestPath: path.loops, eventsPerPoll, fixedEvents: path.events + 2 };
}
