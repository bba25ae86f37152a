import type { RehearsalReport } from './rehearsal';

/**
 * A self-contained page (inline SVG and CSS, no script, no external asset): the phases as a
 * timeline, the application's writes per second and the replication lag, on one time axis in
 * seconds from the start, with the downtime and both write freezes (switchover, failback) marked
 * on each, so the gap in the writes lines up with the phases and the lag that made it.
 */

const esc = (s: unknown) =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const HIDDEN = /^(WaitFor|Is|Check|Outcome|Deployment)/;
// Phases already include their poll loops (local/rehearsal.ts).

const fmt = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

export function renderReportHtml(report: RehearsalReport): string {
  const t0 = Date.parse(report.startedAt);
  const t1 = Date.parse(report.endedAt);
  const span = Math.max(1, t1 - t0);
  const width = 960;
  const left = 170;
  const plot = width - left - 20;
  const x = (t: number) => left + ((t - t0) / span) * plot;

  // One axis for every chart: ticks in whole seconds from the start, at a step that fits.
  const spanS = span / 1000;
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find((st) => spanS / st <= 12) ?? 7200;
  const ticks = Array.from({ length: Math.floor(spanS / step) + 1 }, (_, i) => i * step);
  const axis = (y: number, height: number) =>
    ticks
      .map((sec) => {
        const tx = x(t0 + sec * 1000).toFixed(1);
        return `<line class="grid" x1="${tx}" x2="${tx}" y1="0" y2="${height}"/><text class="tick" x="${tx}" y="${y}" text-anchor="middle">${sec} s</text>`;
      })
      .join('');
  const down = report.downtimeWindow;
  const shade = (height: number) =>
    down
      ? `<rect class="down" x="${x(Date.parse(down.from)).toFixed(1)}" y="0" width="${Math.max(1, x(Date.parse(down.to)) - x(Date.parse(down.from))).toFixed(1)}" height="${height}"><title>downtime: ${fmt(report.downtimeMs)}</title></rect>`
      : '';

  // The write freezes: outlined bands over every chart, beside the downtime's shade.
  const freezes = [
    {
      key: 'switchover',
      label: 'write freeze (switchover)',
      window: report.freezeWindows?.switchover ?? null,
      ms: report.writeFreezeMs,
    },
    {
      key: 'failback',
      label: 'write freeze (failback)',
      window: report.freezeWindows?.failback ?? null,
      ms: report.failback?.freezeMs ?? null,
    },
  ];
  const freezeBands = (height: number) =>
    freezes
      .map((f) =>
        f.window
          ? `<rect class="freeze ${f.key}" x="${x(Date.parse(f.window.from)).toFixed(1)}" y="0" width="${Math.max(1, x(Date.parse(f.window.to)) - x(Date.parse(f.window.from))).toFixed(1)}" height="${height}"><title>${f.label}: ${fmt(f.ms)}</title></rect>`
          : '',
      )
      .join('');
  const marks = (height: number) => `${shade(height)}${freezeBands(height)}`;

  const phases = report.phases.filter((p) => !HIDDEN.test(p.state) && p.endedAt);
  const rowH = 18;
  const timeline = phases
    .map((p, i) => {
      const s = Date.parse(p.startedAt);
      const e = Date.parse(p.endedAt ?? p.startedAt);
      const w = Math.max(2, x(e) - x(s));
      const y = 10 + i * rowH;
      const label = `${p.state}${p.attempts > 1 ? ` ×${p.attempts}` : ''}`;
      return `<text x="${left - 6}" y="${y + 12}" text-anchor="end">${esc(label)}</text><rect x="${x(s).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 5}" rx="2"><title>${esc(p.state)}: ${e - s} ms</title></rect>`;
    })
    .join('');
  const timelineBody = 20 + phases.length * rowH;
  const timelineH = timelineBody + 16;

  const series = report.writesPerSecond;
  const maxW = Math.max(1, ...series.map((s) => s.acknowledged + s.rejected));
  const chartH = 160;
  const bars = series
    .map((s) => {
      const sx = x(Date.parse(s.at));
      // The last second may run past the end of the run: clip it to the plot.
      const bw = Math.max(1, Math.min((1000 / span) * plot - 1, left + plot - sx));
      const ah = (s.acknowledged / maxW) * (chartH - 20);
      const rh = (s.rejected / maxW) * (chartH - 20);
      return `<rect class="ack" x="${sx.toFixed(1)}" y="${(chartH - ah).toFixed(1)}" width="${bw.toFixed(1)}" height="${ah.toFixed(1)}"><title>second ${s.second}: ${s.acknowledged} acknowledged</title></rect>${
        rh > 0
          ? `<rect class="rej" x="${sx.toFixed(1)}" y="${(chartH - ah - rh).toFixed(1)}" width="${bw.toFixed(1)}" height="${rh.toFixed(1)}"><title>${s.rejected} rejected</title></rect>`
          : ''
      }`;
    })
    .join('');

  // Replication lag: one line per direction, in ms, on the same axis.
  const lagSamples = report.replicationLagMs ?? [];
  const lagH = 120;
  const maxLag = Math.max(1, ...lagSamples.map((l) => l.ms));
  const lagLines = (['blue-to-green', 'green-to-blue'] as const)
    .map((direction) => {
      const points = lagSamples
        .filter((l) => l.direction === direction)
        .map((l) => `${x(Date.parse(l.at)).toFixed(1)},${(lagH - (l.ms / maxLag) * (lagH - 20)).toFixed(1)}`);
      return points.length
        ? `<polyline class="lag ${direction}" points="${points.join(' ')}"><title>${direction.replace(/-/g, ' ')}: at most ${fmt(Math.max(...lagSamples.filter((l) => l.direction === direction).map((l) => l.ms)))}</title></polyline>`
        : '';
    })
    .join('');
  const lagSection = lagSamples.length
    ? `<p>Green's lag behind blue (blue line), then blue's behind green for failback (purple line): how long the oldest acknowledged write not yet on the follower had waited; at most ${fmt(maxLag)}.</p>
<svg width="${width}" height="${lagH + 18}" role="img" aria-label="replication lag">${marks(lagH)}${axis(lagH + 14, lagH)}${lagLines}<text x="${left - 6}" y="24" text-anchor="end">${esc(fmt(maxLag))}</text><text x="${left - 6}" y="${lagH}" text-anchor="end">0 s</text><line x1="${left}" x2="${width - 20}" y1="${lagH}" y2="${lagH}" stroke="#8c959f"/></svg>`
    : '<p>No replication ran in this run (offline mode without failback).</p>';

  const ok = report.writes.lost === 0;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rehearsal ${esc(report.status)}: ${esc(report.from)} → ${esc(report.to)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f24;max-width:1000px}
h1{font-size:20px;margin:0 0 4px}.status{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;background:${report.status === 'SUCCEEDED' || report.status === 'FAILED_BACK' ? '#1a7f37' : '#b42318'}}
dl{display:grid;grid-template-columns:220px 1fr;gap:4px 12px}dt{color:#57606a}dd{margin:0}
svg text{font-size:11px;fill:#1b1f24}rect{fill:#0969da}rect.ack{fill:#2da44e}rect.rej{fill:#cf222e}rect.down{fill:#cf222e;opacity:.12}rect.freeze{fill:none;stroke:#9a6700;stroke-width:1.5;stroke-dasharray:4 2}rect.freeze.failback{stroke:#8250df}polyline.lag{fill:none;stroke:#0969da;stroke-width:1.5}polyline.lag.green-to-blue{stroke:#8250df}line.grid{stroke:#d0d7de;stroke-width:.5}text.tick{fill:#57606a;font-size:10px}.lost{color:${ok ? '#1a7f37' : '#b42318'};font-weight:600}
section{margin-top:24px}table.modelled{border-collapse:collapse}table.modelled td,table.modelled th{border-top:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
</style></head><body>
<h1>Blue/green rehearsal <span class="status">${esc(report.status)}</span></h1>
<p>PostgreSQL ${esc(report.from)} → ${esc(report.to)} (${esc(report.upgradeMethod)})${report.dryRun ? ', dry run' : ''}; ${esc(new Date(report.startedAt).toUTCString())}</p>
<dl>
<dt>Lost writes</dt><dd class="lost">${report.writes.lost} of ${report.writes.acknowledged} acknowledged</dd>
<dt>Mode</dt><dd>${esc(report.mode ?? 'offline')}</dd>
<dt>Downtime seen by the application</dt><dd>${fmt(report.downtimeMs)}</dd>
<dt>Write freeze across the switchover</dt><dd>${fmt(report.writeFreezeMs ?? null)}</dd>
${report.failback ? `<dt>Failback</dt><dd>${report.failback.done ? `done, write freeze ${fmt(report.failback.freezeMs)}` : 'not done'}</dd>` : ''}
<dt>Fence → CNAME in sync</dt><dd>${fmt(report.fenceToInSyncMs)}</dd>
<dt>Local operations inside it</dt><dd>${fmt(report.operationsMs)}</dd>
<dt>Writes rejected during downtime</dt><dd>${report.writes.rejectedDuringDowntime}</dd>
<dt>Migrations applied</dt><dd>${report.migrationsApplied.map(esc).join(', ') || 'none'}</dd>
<dt>Blue</dt><dd>${esc(report.blue.state)}${report.blue.finalSnapshot ? ` (final snapshot ${esc(report.blue.finalSnapshot)})` : ''}</dd>
<dt>Green</dt><dd>${report.green ? `${esc(report.green.id)} on ${esc(report.green.engineVersion)}` : 'none'}</dd>
<dt>CNAME points at</dt><dd>${esc(report.cname.target ?? 'nothing')}</dd>
${report.error ? `<dt>Error</dt><dd>${esc(report.error.name)}: ${esc(report.error.cause)}</dd>` : ''}
${report.upgradeNote ? `<dt>Upgrade method</dt><dd>${esc(report.upgradeNote)}</dd>` : ''}
</dl>
<section><h2>Phases</h2>
<svg width="${width}" height="${timelineH}" role="img" aria-label="phase timeline">${marks(timelineBody)}${axis(timelineH - 2, timelineBody)}${timeline}</svg></section>
<section><h2>Application writes per second</h2>
<p>Green: acknowledged, red: rejected. The shaded band is the downtime; the dashed outlines are the write freezes (switchover in amber, failback in purple); all on the same time axis as the phases.</p>
<svg width="${width}" height="${chartH + 18}" role="img" aria-label="writes per second">${marks(chartH)}${axis(chartH + 14, chartH)}${bars}<line x1="${left}" x2="${width - 20}" y1="${chartH}" y2="${chartH}" stroke="#8c959f"/></svg></section>
<section><h2>Replication lag</h2>
${lagSection}</section>
<section><h2>Modelled by the local cloud</h2>
<p>These AWS delays and behaviours are played by the local cloud, with these figures; they are not measured on AWS.</p>
<table class="modelled"><thead><tr><th>Behaviour</th><th>Figure</th><th>What it stands for</th></tr></thead><tbody>
${report.modelled.map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.figure)}</td><td>${esc(m.description)}</td></tr>`).join('\n')}
</tbody></table></section>
</body></html>
`;
}
