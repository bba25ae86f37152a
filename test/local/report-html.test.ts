import { renderReportHtml } from '../../local/report-html';
import type { RehearsalReport } from '../../local/rehearsal';

const at = (s: number) => new Date(Date.UTC(2026, 11, 4, 5, 0, 0) + s * 1000).toISOString();

function report(downtime: { from: string; to: string } | null): RehearsalReport {
  return {
    status: 'SUCCEEDED',
    from: '16.13',
    to: '16.14',
    upgradeMethod: 'minor: restart on new binaries',
    dryRun: false,
    phases: [
      { state: 'FenceWrites', startedAt: at(2), endedAt: at(3), attempts: 1 },
      { state: 'SwapCname', startedAt: at(10), endedAt: at(12), attempts: 1 },
    ],
    downtimeMs: downtime ? 10_000 : null,
    downtimeWindow: downtime,
    fenceToInSyncMs: 9_000,
    operationsMs: 4_000,
    writes: { acknowledged: 100, presentBehindCname: 100, lost: 0, rejectedDuringDowntime: 3 },
    lostWriteIds: [],
    migrationsApplied: [],
    blue: { state: 'deleted' },
    green: { id: 'app-green', engineVersion: '16.14' },
    cname: { target: 'app-green' },
    writesPerSecond: [{ second: 0, at: at(0), acknowledged: 5, rejected: 0 }],
    notifications: [],
    operations: [],
    modelled: [],
    startedAt: at(0),
    endedAt: at(20),
    totalMs: 20_000,
    workdir: '/tmp/w',
    reportFile: '/tmp/w/report.json',
    htmlFile: '/tmp/w/report.html',
  } as unknown as RehearsalReport;
}

describe('the rehearsal report page', () => {
  it('draws both charts on one time axis in seconds, and shades the downtime on both', () => {
    const html = renderReportHtml(report({ from: at(2), to: at(12) }));
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(2);
    // 20 s at a 2 s step: ticks 0 s .. 20 s, at the same x on both charts.
    const ticks = (svg: string) =>
      [...svg.matchAll(/<text class="tick" x="([\d.]+)"[^>]*>(\d+) s</g)].map((m) => [m[1], m[2]]);
    expect(ticks(svgs[0] ?? '').map(([, s]) => s)).toEqual([
      '0',
      '2',
      '4',
      '6',
      '8',
      '10',
      '12',
      '14',
      '16',
      '18',
      '20',
    ]);
    expect(ticks(svgs[1] ?? '')).toEqual(ticks(svgs[0] ?? ''));
    // The shaded band spans 2 s .. 12 s: from the "2 s" tick to the "12 s" tick.
    const xOf = (sec: string) => ticks(svgs[0] ?? '').find(([, s]) => s === sec)?.[0];
    for (const svg of svgs) {
      const band = /<rect class="down" x="([\d.]+)" y="0" width="([\d.]+)"/.exec(svg);
      expect(band?.[1]).toBe(xOf('2'));
      expect(Number(band?.[1]) + Number(band?.[2])).toBeCloseTo(Number(xOf('12')), 0);
    }
  });

  it('a run without downtime shades nothing', () => {
    expect(renderReportHtml(report(null))).not.toContain('class="down"');
  });
});
