/**
 * npm run bench:rehearsal [-- --runs N] : runs N default rehearsals (auto-approved) and prints
 * the median application-observed downtime, the median orchestration overhead (downtime minus
 * the time the local operations themselves took) and the total time of each run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runRehearsal } from '../local/rehearsal';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function main() {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a whole number of rehearsals, at least 1');
  const rows: { downtime: number; overhead: number; operations: number; total: number; lost: number }[] = [];
  for (let i = 1; i <= runs; i++) {
    const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-rehearsal-'));
    fs.chmodSync(workdir, 0o755);
    try {
      const r = await runRehearsal({ workdir, approval: 'auto-approve' });
      if (r.status !== 'SUCCEEDED' || r.downtimeMs === null)
        throw new Error(`run ${i} ended ${r.status}: ${r.error?.cause ?? ''}`);
      const row = {
        downtime: r.downtimeMs,
        overhead: r.downtimeMs - r.operationsMs,
        operations: r.operationsMs,
        total: r.totalMs,
        lost: r.writes.lost,
      };
      rows.push(row);
      console.log(
        `run ${i}: downtime ${row.downtime} ms, operations ${row.operations} ms, overhead ${row.overhead} ms (${((100 * row.overhead) / row.downtime).toFixed(1)} %), total ${(row.total / 1000).toFixed(1)} s, lost ${row.lost}`,
      );
    } finally {
      fs.rmSync(workdir, { recursive: true, force: true });
    }
  }
  const d = median(rows.map((r) => r.downtime));
  const o = median(rows.map((r) => r.overhead));
  console.log(`\n${runs} rehearsals on ${os.cpus().length} cores, poll interval 1 s:`);
  console.log(`  median downtime              ${d} ms`);
  console.log(`  median orchestration overhead ${o} ms (${((100 * o) / d).toFixed(1)} % of the downtime; goal < 5 %)`);
  console.log(`  median total time            ${(median(rows.map((r) => r.total)) / 1000).toFixed(1)} s (goal < 60 s)`);
  console.log(`  lost writes                  ${rows.reduce((n, r) => n + r.lost, 0)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
