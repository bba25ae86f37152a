import type { ExecutionDocument } from '../../../lambdas/domain/document';
import { runFigures, writesBlockedSince } from '../../../lambdas/steps/run-figures';

const T = (s: number) => new Date(Date.UTC(2026, 11, 5, 2, 0, s)).toISOString();
const poll = (s: number) => ({ done: true, polls: 1, status: 'available', checkedAt: T(s) });

const cutoverDoc = {
  input: { blueClusterId: 'app-blue', dryRun: false },
  block: { changed: true, securityGroupIds: ['sg-a'], blockedAt: T(0) },
  fence: { fencedAt: T(1), lsn: '0/1', databases: ['app'], changedDatabases: ['app'], terminatedSessions: 0 },
  green: { id: 'g', writerInstanceId: 'g-1', requestedAt: T(2), reused: false },
  migrations: { applied: [{ name: '001.sql', sha256: 'x', durationMs: 1500 }], skipped: [] },
  upgrade: { requested: true, from: '15.18', to: '16.14', isMajor: true, requestedAt: T(12) },
  replicas: { instanceIds: ['r'], requestedAt: T(20) },
  approval: { decision: 'approve', decidedAt: T(40) },
  open: { securityGroupIds: ['sg-a'], openedAt: T(41) },
  cutover: { changeId: 'c', target: 'g.endpoint', requestedAt: T(42) },
  wait: {
    writer: poll(10),
    upgrade: poll(18),
    replicas: poll(30),
    cname: { ...poll(45), downtimeMs: 44_000 },
  },
} as unknown as ExecutionDocument;

describe('run figures for the dashboard', () => {
  it('a cutover: each phase, writes blocked from BlockWrites to the CNAME in sync, and the downtime', () => {
    expect(runFigures(cutoverDoc, 'succeeded', new Date(T(99)))).toEqual({
      outcome: 'succeeded',
      dryRun: false,
      phaseSeconds: { clone: 8, migrations: 1.5, upgrade: 6, replicas: 10, approval: 10, cutover: 4 },
      writesBlockedSeconds: 45,
      downtimeSeconds: 44,
    });
  });

  it('a rollback: writes were blocked until the rollback restored blue; no downtime figure', () => {
    const doc = {
      ...cutoverDoc,
      approval: undefined,
      open: undefined,
      cutover: undefined,
      wait: { writer: poll(10), rollback: poll(33) },
    } as unknown as ExecutionDocument;
    const figures = runFigures(doc, 'failed', new Date(T(99)));
    expect(figures.writesBlockedSeconds).toBe(33);
    expect(figures.downtimeSeconds).toBeUndefined();
    expect(figures.phaseSeconds).toEqual({ clone: 8, migrations: 1.5 });
  });

  it('a run still fenced when reported counts its blocked time until the report', () => {
    const doc = { input: cutoverDoc.input, block: cutoverDoc.block } as unknown as ExecutionDocument;
    expect(runFigures(doc, 'failed', new Date(T(70))).writesBlockedSeconds).toBe(70);
  });

  it('a run that blocked nothing (a dry run, or one that failed before) has no blocked time', () => {
    const doc = { input: { blueClusterId: 'app-blue', dryRun: true } } as unknown as ExecutionDocument;
    expect(runFigures(doc, 'succeeded', new Date(T(5)))).toEqual({
      outcome: 'succeeded',
      dryRun: true,
      phaseSeconds: {},
    });
  });

  it('failing back blocks writes again, from the fence on green until blue serves behind the CNAME', () => {
    const failingBack = {
      ...cutoverDoc,
      greenFence: { ...cutoverDoc.fence, fencedAt: T(80) },
    } as unknown as ExecutionDocument;
    expect(writesBlockedSince(cutoverDoc)).toBeUndefined();
    expect(writesBlockedSince(failingBack)).toBe(T(80));
    const reopened = { ...failingBack, wait: { ...failingBack.wait, blueReopened: poll(82) } } as ExecutionDocument;
    expect(writesBlockedSince(reopened)).toBeUndefined();
  });
});
