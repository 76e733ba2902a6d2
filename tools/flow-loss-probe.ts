// Which flow field does each photometric term prefer? Scores the ground truth, variants of it, zero flow and a
// model's prediction with the L1, SSIM and census terms of src/flow/loss.ts (all five scales, no occlusion mask) and
// the weighted smoothness, averaged over 8 fresh SynthSky clips (seed 4242, never used for training or evaluation).
//
//   node --import tsx tools/flow-loss-probe.ts [--model file] [--gap k] [--mode default|pure-advection] [--symmetry k] [--bidirectional on|off]
// (--symmetry / --bidirectional: as estimateFlow's for the model's prediction; default 1 view, off: the network itself; never test-time refinement)
//
// --gap k scores frame 0 against frame k (the ground truth summed over the k steps: the fields are smooth and slow,
// so this is close to the composed flow). The README's table ("Flow estimator", training status) is --gap 1.
import { init, close, loadFlowModel, estimateFlow, framesTensor, tensor, drawSynthParams, renderSynthClip, toPlanarRGB, type FlowSymmetry } from '../src/node.js';
import { concat } from '../src/ops/shape.js';
import { neg } from '../src/ops/elementwise.js';
import { resizeFlow } from '../src/ops/flow.js';
import { flowLoss, STAGE1, STAGE1_CENSUS } from '../src/flow/loss.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const gap = Number(opt('gap', '1'));
const symmetry = Number(opt('symmetry', '1')) as FlowSymmetry;
const bidirectional = opt('bidirectional', 'off') === 'on';
const mode = opt('mode', 'default');
if (!(Number.isInteger(gap) && gap >= 1)) throw new Error(`--gap must be a positive integer, got ${opt('gap', '')}`);
if (mode !== 'default' && mode !== 'pure-advection') throw new Error(`--mode must be default or pure-advection, got ${mode}`);

await init();
const { model, path } = await loadFlowModel(args.includes('--model') ? opt('model', '') : undefined);
const S = 128;
const CLIPS = 8;
const planar = (rgb: Uint8Array) => toPlanarRGB({ width: S, height: S, channels: 3, data: rgb });
const fields: [string, (u: number, v: number, pu: number, pv: number) => [number, number]][] = [
  ['ground truth', (u, v) => [u, v]],
  ['ground truth with v = 0', (u) => [u, 0]],
  ['ground truth with u = 0', (_u, v) => [0, v]],
  ['0.8 x ground truth', (u, v) => [0.8 * u, 0.8 * v]],
  ['the model\'s prediction', (_u, _v, pu, pv) => [pu, pv]],
  ['the model\'s u with the true v', (_u, v, pu) => [pu, v]],
  ['zero', () => [0, 0]],
];
const terms = { l1: { ...STAGE1, wL1: 1, wSsim: 0 }, ssim: { ...STAGE1, wL1: 0, wSsim: 1 }, census: STAGE1_CENSUS };
const totals = fields.map(() => ({ l1: 0, ssim: 0, census: 0, smooth: 0 }));
for (let k = 0; k < CLIPS; k++) {
  const clip = renderSynthClip({ ...drawSynthParams(4242, k, S), mode }, { size: S, frames: gap + 1 });
  const g = new Float32Array(2 * S * S);
  for (let t = 0; t < gap; t++) for (let i = 0; i < 2 * S * S; i++) g[i]! += clip.flows[t]![i]!;
  const a = framesTensor([planar(clip.frames[0]!)], S, S);
  const b = framesTensor([planar(clip.frames[gap]!)], S, S);
  const pred = await (await estimateFlow(model, a, b, { symmetry, bidirectional, refine: 0 })).data();
  for (const [n, [, make]] of fields.entries()) {
    const f = new Float32Array(2 * S * S);
    for (let i = 0; i < S * S; i++) [f[i], f[S * S + i]] = make(g[2 * i]!, g[2 * i + 1]!, pred[i]!, pred[S * S + i]!);
    const fw = tensor(f, [1, 2, S, S]);
    // both directions as the loss expects them; the backward field taken as minus the forward one
    const stacked = concat([fw, neg(fw)], 0);
    const flows = [stacked, ...[1, 2, 3, 4].map((s) => resizeFlow(stacked, S >> s, S >> s))];
    for (const [name, cfg] of Object.entries(terms) as [keyof typeof terms, typeof STAGE1][]) {
      const l = flowLoss(a, b, flows, { ...cfg, occlusion: 'none' });
      totals[n]![name] += (await l.photometric.item()) / CLIPS;
      if (name === 'l1') totals[n]!.smooth += (STAGE1.wSmooth * (await l.smooth.item())) / CLIPS;
    }
  }
}
console.log(`${CLIPS} fresh ${mode} clips, frame 0 against frame ${gap}; model ${path}`);
console.log(`| flow field | L1 | SSIM | census | ${STAGE1.wSmooth} x smoothness |\n|---|---|---|---|---|`);
for (const [n, [name]] of fields.entries()) {
  const t = totals[n]!;
  console.log(`| ${name} | ${t.l1.toFixed(5)} | ${t.ssim.toFixed(5)} | ${t.census.toFixed(4)} | ${t.smooth.toFixed(5)} |`);
}
await close();
