// Which flow does the census term prefer at each pyramid scale? Scores the ground truth, the ground truth passed
// through a coarser grid (downsampled, then upsampled with resize_flow: what a network whose output is at that
// resolution could at best produce) and a model's prediction with the census term of src/flow/loss.ts at one scale
// at a time (full, 1/2, 1/4, 1/8; no occlusion mask), and their end-point error against the ground truth, over 8
// fresh SynthSky clips (seed 4242, never used for training or evaluation), frame 0 against frame 1.
//
//   node --import tsx tools/flow-scale-probe.ts [--model file]
//
// The README's table ("Flow estimator") is this tool's output for run 20's model (the shipped one when it was measured).
import { init, close, loadFlowModel, estimateFlow, framesTensor, tensor, drawSynthParams, renderSynthClip, toPlanarRGB, scope, type Tensor } from '../src/node.js';
import { concat } from '../src/ops/shape.js';
import { neg, sub, square, sqrt } from '../src/ops/elementwise.js';
import { mean, sum } from '../src/ops/reduce.js';
import { resizeFlow } from '../src/ops/flow.js';
import { flowLoss, STAGE1_CENSUS } from '../src/flow/loss.js';

const args = process.argv.slice(2);
const i = args.indexOf('--model');
if (i >= 0 && !args[i + 1]) throw new Error('--model needs a file');
await init();
const { model, path } = await loadFlowModel(i >= 0 ? args[i + 1] : undefined);
const S = 128;
const CLIPS = 8;
const planar = (rgb: Uint8Array) => toPlanarRGB({ width: S, height: S, channels: 3, data: rgb });
const names = ['ground truth', 'ground truth through 64x64', 'ground truth through 32x32 (the network\'s output grid)', 'ground truth through 16x16', 'the model (one pass)', 'the model (2 views, bidirectional; no refinement)'];
const totals = names.map(() => ({ epe: 0, scale: [0, 0, 0, 0] }));
for (let k = 0; k < CLIPS; k++) await scope(async () => {
  const clip = renderSynthClip({ ...drawSynthParams(4242, k, S), mode: 'default' }, { size: S, frames: 2 });
  const g = new Float32Array(2 * S * S);
  for (let p = 0; p < S * S; p++) [g[p], g[S * S + p]] = [clip.flows[0]![2 * p]!, clip.flows[0]![2 * p + 1]!];
  const a = framesTensor([planar(clip.frames[0]!)], S, S);
  const b = framesTensor([planar(clip.frames[1]!)], S, S);
  const gt = tensor(g, [1, 2, S, S]);
  const through = (n: number) => resizeFlow(resizeFlow(gt, n, n), S, S);
  const fields: Tensor[] = [gt, through(64), through(32), through(16), await estimateFlow(model, a, b, { symmetry: 1, bidirectional: false, refine: 0 }), await estimateFlow(model, a, b, { refine: 0 })];
  for (const [n, f] of fields.entries()) {
    // both directions as the loss expects them; the backward field taken as minus the forward one
    const stacked = concat([f, neg(f)], 0);
    const flows = [stacked, ...[1, 2, 3, 4].map((s) => resizeFlow(stacked, S >> s, S >> s))];
    for (let s = 0; s < 4; s++) {
      const wScales = [0, 0, 0, 0, 0];
      wScales[s] = 1;
      const l = flowLoss(a, b, flows, { ...STAGE1_CENSUS, occlusion: 'none', wScales });
      totals[n]!.scale[s]! += (await l.photometric.item()) / CLIPS;
    }
    totals[n]!.epe += (await mean(sqrt(sum(square(sub(f, gt)), 1))).item()) / CLIPS;
  }
});
console.log(`${CLIPS} fresh default clips, frame 0 against frame 1; census term per scale; model ${path}`);
console.log('| flow field | EPE (px) | census, full | 1/2 | 1/4 | 1/8 |\n|---|---|---|---|---|---|');
for (const [n, name] of names.entries()) {
  const t = totals[n]!;
  console.log(`| ${name} | ${t.epe.toFixed(3)} | ${t.scale.map((v) => v.toFixed(4)).join(' | ')} |`);
}
await close();
