/**
 * The rehearsal report's freeze and lag figures, computed from what the application (the load
 * generator) saw: the times its writes were acknowledged. Pure functions; docs/rehearsal.md
 * defines each figure.
 */

export interface Interval {
  /** Epoch milliseconds. */
  from: number;
  to: number;
}

export interface Gap extends Interval {
  ms: number;
}

/**
 * The write freeze across `window`: the longest gap between two consecutive acknowledged writes
 * (epoch ms, any order) that overlaps the window. When no write was acknowledged after the
 * window ended, the writes never came back: that gap runs from the last write to `openUntil`
 * (the end of observation). Null without a window or without a gap that overlaps it.
 */
export function writeFreeze(ackTimes: readonly number[], window: Interval | null, openUntil?: number): Gap | null {
  if (!window) return null;
  const times = [...ackTimes].sort((a, b) => a - b);
  let longest: Gap | null = null;
  const consider = (from: number, to: number) => {
    if (from < window.to && to > window.from && (!longest || to - from > longest.ms)) {
      longest = { from, to, ms: to - from };
    }
  };
  for (let i = 1; i < times.length; i++) consider(times[i - 1] as number, times[i] as number);
  const last = times.at(-1);
  if (last !== undefined && last < window.to && openUntil !== undefined) consider(last, openUntil);
  return longest;
}

/** A state machine event as the runner records it (local/workflow/execute.ts), reduced to what is read here. */
export interface StateEvent {
  type: string;
  timestamp: number;
  state?: { name?: string };
}

/**
 * The states that begin the switchover's freeze: offline mode's write block and fence before the
 * clone (`writeBlock: read-only` starts with the fence), online mode's fence at the switchover.
 * Online, SwitchoverBlockWrites runs after the swap (infra/definition.ts): it ends no freeze.
 */
export const FREEZE_STATES = ['BlockWrites', 'FenceWrites', 'SwitchoverFence'] as const;
/** The state whose end opens green to the application: the CNAME swap, in sync. */
export const SWITCHOVER_END_STATE = 'SwapCname';

/**
 * The switchover of a run: from the first state that freezes blue's writes to the end of the
 * CNAME swap (or, when there was no swap, the end of the run: a rollback gives blue back). Null
 * when blue was never frozen (a dry run, or a run that stopped before the fence).
 */
export function switchoverWindow(events: readonly StateEvent[]): Interval | null {
  const freeze = events.find(
    (e) => e.type === 'StateEntered' && (FREEZE_STATES as readonly string[]).includes(e.state?.name ?? ''),
  );
  if (!freeze) return null;
  const swapped = events.find(
    (e) => e.type === 'StateExited' && e.state?.name === SWITCHOVER_END_STATE && e.timestamp >= freeze.timestamp,
  );
  const end = swapped?.timestamp ?? Math.max(...events.map((e) => e.timestamp));
  return { from: freeze.timestamp, to: end };
}

/** The state that begins the failback's freeze: green fenced as blue was (infra/definition.ts). */
export const FAILBACK_FREEZE_STATE = 'FenceGreen';

/**
 * The failback of a run: from the "fail back" decision (or, without its time, the start of the
 * fence on green after the switchover) to the end of the run. Null when there was none.
 */
export function failbackWindow(events: readonly StateEvent[], decidedAt?: number): Interval | null {
  if (!events.length) return null;
  const end = Math.max(...events.map((e) => e.timestamp));
  const after = switchoverWindow(events)?.to ?? -Infinity;
  const from =
    decidedAt ??
    events.find((e) => e.type === 'StateEntered' && e.timestamp > after && e.state?.name === FAILBACK_FREEZE_STATE)
      ?.timestamp;
  return from === undefined ? null : { from, to: Math.max(from, end) };
}

/** A write the source acknowledged, still to be found on the follower. */
export interface PendingWrite {
  table: string;
  id: number;
  /** When the application got the acknowledgement (epoch ms). */
  at: number;
}

/**
 * Replication lag at `now`: how long the oldest write that the source acknowledged and the
 * follower does not have yet has been waiting since its acknowledgement. 0 when the follower has
 * every one. `present` holds `table:id` keys of the writes found on the follower.
 */
export function lagAt(now: number, pending: readonly PendingWrite[], present: ReadonlySet<string>): number {
  let oldest: number | undefined;
  for (const w of pending) {
    if (present.has(writeKey(w))) continue;
    if (oldest === undefined || w.at < oldest) oldest = w.at;
  }
  return oldest === undefined ? 0 : Math.max(0, now - oldest);
}

export function writeKey(w: { table: string; id: number }): string {
  return `${w.table}:${w.id}`;
}

/** Median, minimum and maximum of the figures that exist; null when there is none. */
export function spread(
  values: readonly (number | null | undefined)[],
): { median: number; min: number; max: number } | null {
  const known = values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
  if (!known.length) return null;
  const mid = Math.floor(known.length / 2);
  const median = known.length % 2 ? (known[mid] as number) : ((known[mid - 1] as number) + (known[mid] as number)) / 2;
  return { median, min: known[0] as number, max: known.at(-1) as number };
}
