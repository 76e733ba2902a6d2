// Benchmark harness (tinybench). `npm run bench` prints a table; `npm run bench -- --json [filter]` prints one JSON
// object per line. The roofline (best SGEMM GFLOP/s and best copy GB/s) is measured in the same run on the same
// adapter, and every row reports its percentage of it. `--profile` also prints a per-kernel GPU-time profile of one
// run of each selected case (timestamp queries where the adapter has them). Timings are warm: each case runs once untimed first (its
// pipelines JIT-compile then; that first run is reported as cold_ms), then tinybench warms up and measures.
import { Bench } from 'tinybench';
import { init, engine } from '../src/node.js';
import { coreCases, type BenchCase } from './cases.js';
import { convCases } from './cases-conv.js';
import { nnCases } from './cases-nn.js';
import { flowCases } from './cases-flow.js';
import { inferenceCases } from './cases-inference.js';
import { pwcliteCases } from './cases-pwclite.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const profile = args.includes('--profile');
const filter = args.filter((a) => !a.startsWith('--'))[0] ?? '';
const timeMs = Number(process.env.BENCH_TIME_MS ?? 1500);
const STREAM = 20;

const cases: BenchCase[] = [...coreCases, ...convCases, ...nnCases, ...flowCases, ...inferenceCases, ...pwcliteCases];
const selected = cases.filter((c) => `${c.group ?? ''} ${c.name}`.includes(filter));
if (!selected.length) {
  console.error(`no benchmark matches '${filter}'. Cases:\n  ${cases.map((c) => c.name).join('\n  ')}`);
  process.exit(1);
}
// Roofline cases always run (quietly when not selected) so every percentage is relative to this run.
const toRun = cases.filter((c) => selected.includes(c) || c.roofline);

const e = await init();
const device = e.adapter.description || e.adapter.device;
if (!json) {
  console.log(`adapter: ${device} (${e.adapter.architecture}${e.adapter.isFallback ? ', fallback' : ''}); subgroups ${e.adapter.subgroups}; LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? 'default'}`);
  console.log(`timing: wall clock of record + submit + GPU done, median of >= 5 runs or ${timeMs} ms, warm\n`);
}

interface Row { name: string; median_ms: number; mean_ms: number; samples: number; cold_ms: number; gflops?: number; gbps?: number; roofline_pct?: number; kind: string; device: string; [extra: string]: number | string | undefined }
const rows: Row[] = [];

for (const c of toRun) {
  const state = c.setup();
  await e.sync();
  e.resetPeak();
  const t0 = performance.now();
  await c.run(state);
  await e.sync();
  const cold = performance.now() - t0;
  const peak = e.memory().peakBytes;
  const bench = new Bench({ time: timeMs, iterations: 5, warmupIterations: 2, warmupTime: 0, throws: true });
  bench.add(c.name, async () => {
    await c.run(state);
    await e.sync();
  });
  await bench.run();
  // Back to back: STREAM runs recorded one after the other with one wait at the end (as ops run inside a model),
  // per run, median of 5 such streams. Only for rows under 5 ms, where the submit and wait of the table's own
  // timing (about 0.1 ms) could be a visible share; `stream_ms` close to the median means the kernels themselves
  // take the time.
  let streamMs: number | undefined;
  const res0 = bench.tasks[0]!.result;
  if (c.kind !== 'latency' && res0.state === 'completed' && res0.latency.p50 < 5) {
    const per: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const t1 = performance.now();
      for (let i = 0; i < STREAM; i++) await c.run(state);
      await e.sync();
      per.push((performance.now() - t1) / STREAM);
    }
    streamMs = per.sort((a, b) => a - b)[2]!;
  }
  if (profile && selected.includes(c)) {
    e.profileStart();
    await c.run(state);
    const p = await e.profileStop();
    const total = p.entries.reduce((t, x) => t + x.totalMs, 0);
    const lines = p.entries.slice(0, Number(process.env.PROFILE_ROWS ?? 12)).map((x) => `    ${x.totalMs.toFixed(3).padStart(10)} ms ${((100 * x.totalMs) / total).toFixed(1).padStart(5)}%  ${x.calls}x  ${x.kernel}  ${x.label}`);
    (json ? console.error : console.log)(`profile of one run of '${c.name}' (${p.method}, GPU time ${total.toFixed(3)} ms):\n${lines.join('\n')}`);
  }
  c.teardown?.(state);
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`${c.name}: benchmark ${r.state}`);
  const med = r.latency.p50;
  const row: Row = { name: c.name, median_ms: +med.toFixed(3), mean_ms: +r.latency.mean.toFixed(3), samples: r.latency.samplesCount, cold_ms: +cold.toFixed(1), kind: c.kind, device };
  if (c.kind === 'compute') row.gflops = +(c.work! / med / 1e6).toFixed(2);
  if (c.kind === 'memory') row.gbps = +(c.work! / med / 1e6).toFixed(2);
  if (streamMs !== undefined) row.stream_ms = +streamMs.toFixed(3);
  if (c.extra) Object.assign(row, c.extra(med, peak));
  rows.push(row);
  // progress on stderr (the whole table takes minutes on lavapipe): a median per case as it completes
  if (process.stderr.isTTY || process.env.BENCH_PROGRESS === '1') console.error(`[${rows.length}/${toRun.length}] ${c.name}: ${row.median_ms} ms`);
}

const sgemm = Math.max(...rows.filter((r) => cases.find((c) => c.name === r.name)?.roofline === 'sgemm').map((r) => r.gflops!));
const copy = Math.max(...rows.filter((r) => cases.find((c) => c.name === r.name)?.roofline === 'copy').map((r) => r.gbps!));
for (const r of rows) {
  if (r.gflops !== undefined) r.roofline_pct = +((100 * r.gflops) / sgemm).toFixed(1);
  if (r.gbps !== undefined) r.roofline_pct = +((100 * r.gbps) / copy).toFixed(1);
  if (r.stream_ms !== undefined && r.roofline_pct !== undefined) r.stream_pct = +((r.roofline_pct * r.median_ms) / (r.stream_ms as number)).toFixed(1);
}
const shown = rows.filter((r) => selected.some((c) => c.name === r.name));
if (json) {
  for (const r of shown) console.log(JSON.stringify({ ...r, roofline_sgemm_gflops: sgemm, roofline_copy_gbps: copy }));
} else {
  console.table(shown.map((r) => ({
    name: r.name,
    'median ms': r.median_ms,
    'GFLOP/s': r.gflops ?? '',
    'GB/s': r.gbps ?? '',
    '% roofline': r.roofline_pct ?? '',
    'stream ms (%)': r.stream_ms === undefined ? '' : `${r.stream_ms}${r.stream_pct === undefined ? '' : ` (${r.stream_pct})`}`,
    fps: r.fps ?? '',
    ...(r.us_per_dispatch !== undefined ? { 'µs/dispatch': r.us_per_dispatch } : {}),
    'cold ms': r.cold_ms,
    runs: r.samples,
  })));
  console.log(`roofline: SGEMM ${sgemm} GFLOP/s, copy ${copy} GB/s (best of this run's roofline cases)`);
}
engine().destroy();
