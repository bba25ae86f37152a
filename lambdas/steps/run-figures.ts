import type { ExecutionDocument } from '../domain/document';
import type { Phase } from '../domain/metrics';

/**
 * The figures of one finished run that the dashboard shows (docs/observability.md): how long each
 * phase took, how long blue's writes were blocked, and the downtime the application saw. Pure: the
 * Report and ReportFailure handlers publish them as CloudWatch metrics.
 */
export interface RunFigures {
  outcome: 'succeeded' | 'failed';
  dryRun: boolean;
  /** Seconds per phase that ran to its end; a phase that did not run is absent. */
  phaseSeconds: Partial<Record<Phase, number>>;
  /** From BlockWrites (or the fence) until applications could write again; absent when nothing blocked. */
  writesBlockedSeconds?: number;
  /** Fence until the CNAME was in sync on green: what applications saw at cutover. */
  downtimeSeconds?: number;
}

const at = (iso: string | undefined): number | undefined => {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
};

const seconds = (from: string | undefined, to: string | undefined): number | undefined => {
  const a = at(from);
  const b = at(to);
  return a !== undefined && b !== undefined && b >= a ? Math.round((b - a) / 100) / 10 : undefined;
};

export function runFigures(doc: Partial<ExecutionDocument>, outcome: RunFigures['outcome'], now: Date): RunFigures {
  const wait = doc.wait ?? {};
  const phases: RunFigures['phaseSeconds'] = {};
  const put = (name: keyof RunFigures['phaseSeconds'], value: number | undefined) => {
    if (value !== undefined) phases[name] = value;
  };
  put('clone', seconds(doc.green?.requestedAt, wait['writer']?.checkedAt));
  put('upgrade', seconds(doc.upgrade?.requested ? doc.upgrade.requestedAt : undefined, wait['upgrade']?.checkedAt));
  put('replicas', seconds(doc.replicas?.requestedAt, wait['replicas']?.checkedAt));
  put('approval', seconds(wait['replicas']?.checkedAt, doc.approval?.decidedAt));
  // Online mode opened green before the freeze: its cutover starts when the guard is lifted.
  put('cutover', seconds(doc.greenUnguard?.unguardedAt ?? doc.open?.openedAt, wait['cname']?.checkedAt));
  const migrationMs = doc.migrations?.applied.reduce((sum, m) => sum + m.durationMs, 0);
  if (migrationMs !== undefined && doc.migrations?.applied.length)
    phases.migrations = Math.round(migrationMs / 100) / 10;

  const blockedFrom = doc.block?.blockedAt ?? doc.fence?.fencedAt;
  // Writes come back when the CNAME is in sync on green, or when a rollback has restored blue;
  // a run that ended otherwise (still fenced) counts until now, when it is reported.
  const blockedUntil = doc.cutover ? wait['cname']?.checkedAt : (wait['rollback']?.checkedAt ?? now.toISOString());
  const cname = wait['cname'] as { downtimeMs?: number } | undefined;
  return {
    outcome,
    dryRun: doc.input?.dryRun ?? false,
    phaseSeconds: phases,
    ...(blockedFrom ? { writesBlockedSeconds: seconds(blockedFrom, blockedUntil) } : {}),
    ...(typeof cname?.downtimeMs === 'number' ? { downtimeSeconds: Math.round(cname.downtimeMs / 100) / 10 } : {}),
  };
}

/**
 * When blue stopped taking writes, if it still takes none according to `doc` (a running
 * execution's document); undefined when writes were never blocked (a dry run, before BlockWrites)
 * or came back (the CNAME in sync on green, or a rollback that restored blue).
 */
export function writesBlockedSince(doc: Partial<ExecutionDocument>): string | undefined {
  // Failing back (docs/failback.md): green is fenced until blue serves behind the CNAME again.
  if (doc.greenFence) return doc.wait?.['blueReopened']?.done ? undefined : doc.greenFence.fencedAt;
  const blockedFrom = doc.block?.blockedAt ?? doc.fence?.fencedAt;
  if (!blockedFrom) return undefined;
  const wait = doc.wait ?? {};
  if (doc.cutover && wait['cname']?.done) return undefined;
  if (wait['rollback']?.done) return undefined;
  return blockedFrom;
}
