// `npm run bench:peers`: the same DTVNet generator (random weights from one seed, evaluation mode, identical
// inputs) on this engine and on its peers, each in its own process, one after the other, then the ratios.
//   - ONNX Runtime's WebGPU execution provider (same substrate: WebGPU on this machine's adapter)
//   - TensorFlow.js with its WebGPU backend on the same Dawn instance kind (bench/peers/tfjs.mjs)
//   - ONNX Runtime's CPU execution provider (the native limit on this CPU)
// The ONNX model is exported from this engine's generator (bench/peers/onnx.ts); its output matches ours to ~1e-6.
// The tfjs model is the same layers written with tfjs ops, reading the same weights (safetensors).
// Options: --seconds N (timing budget per peer and batch, default 10), --batches 1,4
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const seconds = opt('seconds', '10');
const batches = opt('batches', '1,4').split(',').map(Number);
const root = new URL('../..', import.meta.url).pathname;
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

function child(cmd: string[], what: string, json = true): Record<string, number | string> | null {
  process.stderr.write(`running ${what}...\n`);
  const r = spawnSync(process.execPath, cmd, { cwd: root, env, encoding: 'utf8', timeout: 30 * 60 * 1000 });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || (json && !line)) {
    process.stderr.write(`  ${what} failed (exit ${r.status}): ${(r.stderr || '').split('\n').filter((l) => l && !l.startsWith('Warning:')).slice(-3).join(' | ')}\n`);
    return null;
  }
  return line ? JSON.parse(line) : {};
}

const dir = mkdtempSync(join(tmpdir(), 'dtvnet-peers-'));
const model = join(dir, 'dtvg.onnx');
const weights = join(dir, 'dtvg.safetensors');
if (!child(['--import', 'tsx', 'bench/peers/export.ts', model, weights], 'ONNX export', false)) process.exit(1);

const rows: Record<string, number | string>[] = [];
for (const b of batches) {
  const ours = child(['--import', 'tsx', 'bench/peers/ours.ts', String(b), seconds], `dtvnet-webgpu b${b}`);
  const peers = [
    child(['bench/peers/ort.mjs', model, 'webgpu', String(b), seconds], `onnxruntime-node webgpu b${b}`),
    child(['bench/peers/tfjs.mjs', weights, String(b), seconds], `tfjs-backend-webgpu b${b}`),
    child(['bench/peers/ort.mjs', model, 'cpu', String(b), seconds], `onnxruntime-node cpu b${b}`),
  ];
  for (const r of [ours, ...peers]) {
    if (!r) continue;
    rows.push({ ...r, 'ours / peer (fps)': ours ? +((ours.fps as number) / (r.fps as number)).toFixed(2) : '' });
  }
}
if (args.includes('--json')) for (const r of rows) console.log(JSON.stringify(r));
else console.table(rows.map(({ peer, batch, median_ms, fps, cold_ms, ...rest }) => ({ peer, batch, 'median ms': median_ms, fps, 'cold ms': cold_ms, 'ours / peer': rest['ours / peer (fps)'] })));
