// Where does a flow model's error come from? End-point error on the held-out pairs of a synthetic set (every other
// consecutive pair of <data>/sky_test, exact flows from gtflow/), split three ways:
//   * by local texture: mean |∇I| of frame t (forward differences, averaged over RGB) over a 9x9 window, in bins;
//     the static ground (ground-truth flow exactly 0) is its own row;
//   * by component: mean |u error|, |v error| next to the true mean |u|, |v|;
//   * the predicted u and v against the true ones: standard deviations and correlation.
//
//   node --import tsx tools/flow-error-bins.ts [--data data/synth] [--model file] [--symmetry k] [--bidirectional on|off]
// (--symmetry / --bidirectional: as estimateFlow's; default 1 view, off: the network itself; never test-time refinement)
import { init, close, loadFlowModel, estimateFlow, framesTensor, scope, type FlowSymmetry } from '../src/node.js';
import { listClips, readFrame, readNpyFile } from '../src/data/sky.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const data = opt('data', 'data/synth');
const symmetry = Number(opt('symmetry', '1')) as FlowSymmetry;
const bidirectional = opt('bidirectional', 'off') === 'on';
const clips = listClips(data, 'sky_test').clips.filter((c) => c.gtflow);
if (!clips.length) throw new Error(`${data}/sky_test has no clips with ground truth (make them with: npm start -- synth --out ${data} --split test)`);

await init();
const { model, path } = await loadFlowModel(args.includes('--model') ? opt('model', '') : undefined);
const S = 128;
const N = S * S;
const edges = [0, 0.002, 0.005, 0.01, 0.02, 0.04, Infinity];
const bins = edges.slice(1).map(() => ({ n: 0, e: 0, zero: 0 }));
const ground = { n: 0, e: 0, zero: 0 };
// per component: Σ|err|, Σ|true|, Σpred, Σpred², Σtrue, Σtrue², Σpred·true
const comp = [0, 1].map(() => ({ err: 0, abs: 0, p: 0, pp: 0, t: 0, tt: 0, pt: 0 }));
let pixels = 0;
let pairs = 0;
for (const c of clips) {
  for (let t = 0; t + 1 < c.frames.length; t += 2) {
    const a = readFrame(c.frames[t]!, S);
    const f = await scope(async () => estimateFlow(model, framesTensor([a], S, S), framesTensor([readFrame(c.frames[t + 1]!, S)], S, S), { symmetry, bidirectional, refine: 0 }));
    const pred = await f.data();
    f.dispose();
    const g = readNpyFile(c.gtflow![t]!).data;
    const grad = new Float32Array(N);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        let s = 0;
        for (let ch = 0; ch < 3; ch++) {
          const o = ch * N + y * S + x;
          s += Math.abs(a[o + (x < S - 1 ? 1 : 0)]! - a[o]!) + Math.abs(a[o + (y < S - 1 ? S : 0)]! - a[o]!);
        }
        grad[y * S + x] = s / 3;
      }
    }
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x;
        const gt = [g[2 * i]!, g[2 * i + 1]!];
        const pr = [pred[i]!, pred[N + i]!];
        for (const k of [0, 1]) {
          const s = comp[k]!;
          s.err += Math.abs(pr[k]! - gt[k]!);
          s.abs += Math.abs(gt[k]!);
          s.p += pr[k]!;
          s.pp += pr[k]! ** 2;
          s.t += gt[k]!;
          s.tt += gt[k]! ** 2;
          s.pt += pr[k]! * gt[k]!;
        }
        pixels++;
        const e = Math.hypot(pr[0]! - gt[0]!, pr[1]! - gt[1]!);
        const zero = Math.hypot(gt[0]!, gt[1]!);
        let row = ground;
        if (gt[0] !== 0 || gt[1] !== 0) {
          let sum = 0;
          let cnt = 0;
          for (let dy = -4; dy <= 4; dy++) {
            for (let dx = -4; dx <= 4; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              if (yy >= 0 && yy < S && xx >= 0 && xx < S) {
                sum += grad[yy * S + xx]!;
                cnt++;
              }
            }
          }
          const tex = sum / cnt;
          let b = 0;
          while (tex >= edges[b + 1]!) b++;
          row = bins[b]!;
        }
        row.n++;
        row.e += e;
        row.zero += zero;
      }
    }
    pairs++;
  }
}
console.log(`${pairs} held-out pairs of ${data}; model ${path}, ${symmetry} view(s)`);
console.log('| pixels | share | EPE (px) | zero-flow EPE (px) |\n|---|---|---|---|');
bins.forEach((b, j) => {
  if (b.n) console.log(`| sky, texture in [${edges[j]}, ${edges[j + 1]}) | ${(b.n / pixels).toFixed(3)} | ${(b.e / b.n).toFixed(3)} | ${(b.zero / b.n).toFixed(3)} |`);
});
if (ground.n) console.log(`| static ground | ${(ground.n / pixels).toFixed(3)} | ${(ground.e / ground.n).toFixed(3)} | 0 |`);
console.log('\n| component | mean abs error | true mean abs | predicted std | true std | correlation |\n|---|---|---|---|---|---|');
comp.forEach((s, k) => {
  const mp = s.p / pixels;
  const mt = s.t / pixels;
  const sp = Math.sqrt(Math.max(s.pp / pixels - mp * mp, 0));
  const st = Math.sqrt(Math.max(s.tt / pixels - mt * mt, 0));
  const corr = sp > 0 && st > 0 ? (s.pt / pixels - mp * mt) / (sp * st) : NaN;
  console.log(`| ${k ? 'v' : 'u'} | ${(s.err / pixels).toFixed(3)} | ${(s.abs / pixels).toFixed(3)} | ${sp.toFixed(3)} | ${st.toFixed(3)} | ${corr.toFixed(3)} |`);
});
model.dispose();
await close();
