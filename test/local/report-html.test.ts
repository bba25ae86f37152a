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
    mode: 'offline',
    writeFreezeMs: null,
    replicationLagMs: [],
    failback: null,
    freezeWindows: { switchover: null, failback: null },
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

  it('draws the replication lag and both write freezes on the same time axis as the writes', () => {
    const html = renderReportHtml({
      ...report({ from: at(2), to: at(12) }),
      status: 'FAILED_BACK',
      mode: 'online',
      writeFreezeMs: 1000,
      replicationLagMs: [
        { at: at(4), ms: 800, direction: 'blue-to-green' },
        { at: at(6), ms: 200, direction: 'blue-to-green' },
        { at: at(14), ms: 100, direction: 'green-to-blue' },
      ],
      failback: { done: true, freezeMs: 2000 },
      freezeWindows: { switchover: { from: at(10), to: at(11) }, failback: { from: at(16), to: at(18) } },
    });
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(3);
    const ticks = (svg: string) =>
      [...svg.matchAll(/<text class="tick" x="([\d.]+)"[^>]*>(\d+) s</g)].map((m) => [m[1], m[2]]);
    // The axis: the "0 s" and "20 s" ticks are the ends of the 20 s run.
    const x0 = Number(ticks(svgs[0] ?? '').find(([, s]) => s === '0')?.[0]);
    const x20 = Number(ticks(svgs[0] ?? '').find(([, s]) => s === '20')?.[0]);
    const xOf = (sec: string) => x0 + (Number(sec) / 20) * (x20 - x0);
    for (const svg of svgs) {
      expect(ticks(svg)).toEqual(ticks(svgs[0] ?? ''));
      // Both freezes, outlined where they happened: 10 s .. 11 s and 16 s .. 18 s.
      for (const [kind, from, to] of [
        ['switchover', '10', '11'],
        ['failback', '16', '18'],
      ] as const) {
        const band = new RegExp(`<rect class="freeze ${kind}" x="([\\d.]+)" y="0" width="([\\d.]+)"`).exec(svg);
        expect(Number(band?.[1])).toBeCloseTo(xOf(from), 0);
        expect(Number(band?.[1]) + Number(band?.[2])).toBeCloseTo(xOf(to), 0);
      }
    }
    // The lag lines: blue to green at 4 s and 6 s, green to blue at 14 s, the highest sample at the top.
    const line = (direction: string) =>
      (new RegExp(`<polyline class="lag ${direction}" points="([^"]+)"`).exec(svgs[2] ?? '')?.[1] ?? '')
        .split(' ')
        .map((p) => p.split(',').map(Number));
    expect(line('blue-to-green').map(([px]) => px)).toEqual([xOf('4'), xOf('6')].map((v) => expect.closeTo(v, 0)));
    expect(line('blue-to-green')[0]?.[1]).toBeCloseTo(20, 0);
    expect(line('green-to-blue').map(([px]) => px)).toEqual([expect.closeTo(xOf('14'), 0)]);
    expect(html).toContain('<dt>Write freeze across the switchover</dt><dd>1.00 s</dd>');
    expect(html).toContain('<dt>Failback</dt><dd>done, write freeze 2.00 s</dd>');
    expect(html).toContain('<dt>Mode</dt><dd>online</dd>');
  });

  it('says so when no replication ran, and outlines no freeze that did not happen', () => {
    const html = renderReportHtml(report({ from: at(2), to: at(12) }));
    expect(html).toContain('No replication ran in this run');
    expect(html).not.toContain('class="freeze');
    expect(html).not.toContain('<dt>Failback</dt>');
  });

  it('a run without downtime shades nothing', () => {
    expect(renderReportHtml(report(null))).not.toContain('class="down"');
  });
});
