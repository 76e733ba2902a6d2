// Test-time refinement of an estimated flow field: a few Adam steps on the field itself (not on the network) that
// lower an energy of the two frames alone — the census photometric term the network is trained with (over 7x7 patches
// by default where the training's are 3x3) plus first-order edge-aware smoothness. No labels: the estimate stays
// unsupervised. FlowNet's "+v" variants refine their output the same way (variational refinement); here the
// network's estimate is the starting point and the energy's minimiser near it is the answer. Browser-safe.
//
//   E(F) = mean_x census(I₂(x + F(x)), I₁(x)) + λ · mean_{x,k} ½ Σ_{d ∈ {x, y}} exp(−α · mean_c |∂_d I₁|) · |∂_d F_k| / min(H, W)
//
// (the flow in units of the frame's shorter side inside the smoothness term, as in the training loss). Every
// operation is an engine op, so autograd supplies ∂E/∂F; the steps use refineGradient, the same gradient without
// the census forward pass it does not need, the smoothness term's from one kernel (tvGrad), and the data term's on
// the frames' luminance: census sees only gray = 255 · luminance, and warping is linear in the image, so warping
// the luminance of I₂ is warping I₂ and taking its luminance — one channel to warp and to read instead of three.

import { EngineError } from '../runtime/engine.js';
import { Tensor, engine, keep, noGrad, scope } from '../tensor.js';
import { add, affine } from '../ops/elementwise.js';
import { census, censusGrad, isCensusPatch, luminance, tvGrad } from '../ops/nn.js';
import { warp, warpFlowGrad } from '../ops/flow.js';
import { sum } from '../ops/reduce.js';
import { clone } from '../ops/shape.js';
import { edgeWeights, smoothnessTerms } from './loss.js';
import { fmt } from '../ops/shapes.js';
import { Adam } from '../train/adam.js';

export interface RefineOptions {
  /** Adam steps on the field (0 = no refinement) */
  steps: number;
  /** Adam's learning rate: about the largest move of a flow vector per step, in pixels */
  lr: number;
  /** λ, the weight of the smoothness term */
  smooth: number;
  /** α, how strongly image edges lower the smoothness weight */
  edgeAlpha: number;
  /**
   * side of the census term's patch, odd, 3 to 9 (default 7, as DDFlow and SelFlow train with: at rate 0.2, λ 400
   * run 20's held-out ratio 0.174 against 0.189 for the 3x3 patch the network trains with; about 1.7 times the
   * refinement's time of 3x3 since the census kernels' offsets were written out)
   */
  patch: number;
}

/**
 * The defaults, tuned on fresh SynthSky clips (seed 4242, never used for training or evaluation; README "Flow
 * estimator" lists what was tried), then checked on the held-out clips.
 */
export const DEFAULT_REFINE: RefineOptions = { steps: 100, lr: 0.4, smooth: 250, edgeAlpha: 10, patch: 7 };

/** `refine` as estimateFlow and the CLI take it: a step count, or the whole options; 0 / false: none. */
export function refineOptions(r: number | boolean | Partial<RefineOptions> | undefined): RefineOptions {
  const o: RefineOptions = r === undefined || r === true ? { ...DEFAULT_REFINE }
    : r === false ? { ...DEFAULT_REFINE, steps: 0 }
      : typeof r === 'number' ? { ...DEFAULT_REFINE, steps: r } : { ...DEFAULT_REFINE, ...r };
  if (!Number.isInteger(o.steps) || o.steps < 0) throw new EngineError(`refine: steps must be an integer >= 0, got ${String(o.steps)}`);
  if (!(o.lr > 0) || !(o.smooth >= 0) || !(o.edgeAlpha >= 0)) {
    throw new EngineError(`refine: need lr > 0, smooth >= 0 and edgeAlpha >= 0, got lr ${o.lr}, smooth ${o.smooth}, edgeAlpha ${o.edgeAlpha}`);
  }
  if (!isCensusPatch(o.patch)) throw new EngineError(`refine: patch must be an odd census patch side from 3 to 9, got ${String(o.patch)}`);
  return o;
}

/** E(F) summed over the batch (each pair's energy is a mean over its pixels, so pairs do not scale each other). */
export function refineEnergy(frame1: Tensor, frame2: Tensor, flow: Tensor, o: Pick<RefineOptions, 'smooth' | 'edgeAlpha'> & { patch?: number }): Tensor {
  return scope(() => energy(frame1, frame2, flow, o.smooth, edgeWeights(frame1, o.edgeAlpha), o.patch ?? DEFAULT_REFINE.patch));
}

/** E(F) with frame1's edge weights given (they do not change while the field does). */
function energy(frame1: Tensor, frame2: Tensor, flow: Tensor, smooth: number, weights: [Tensor, Tensor], patch: number): Tensor {
  const [, , H, W] = flow.shape as [number, number, number, number];
  const data = affine(sum(census(warp(frame2, flow, 'border'), frame1, patch)), 1 / (H * W), 0);
  return smooth ? add(data, smoothness(flow, smooth, weights)) : data;
}

/** E's smoothness term: each pair's mean over its pixels and the two flow channels (Σ / 2HW), then ½ for the two axes. */
function smoothness(flow: Tensor, smooth: number, weights: [Tensor, Tensor]): Tensor {
  const [, , H, W] = flow.shape as [number, number, number, number];
  const [sx, sy] = smoothnessTerms(flow, weights, 1);
  return affine(add(sum(sx), sum(sy)), (0.25 * smooth) / (H * W), 0);
}

/**
 * ∂E/∂F, as refineFlow's steps take it: the data term's by the chain rule written out — census's gradient at the
 * warped frame (censusGrad needs no census forward value: that kernel was 29 % of a 7x7 step), then warp's flow
 * gradient, both on the frames' luminance — and the smoothness term's from one kernel (tvGrad) instead of autograd.
 * Equal to the gradient of refineEnergy (tested). A new tensor without gradient; the flow need not require grad.
 */
export function refineGradient(frame1: Tensor, frame2: Tensor, flow: Tensor, o: Pick<RefineOptions, 'smooth' | 'edgeAlpha'> & { patch?: number }): Tensor {
  return scope(() => {
    const [l1, l2] = noGrad(() => [luminance(frame1), luminance(frame2)]);
    return gradient(l1, l2, flow, o.smooth, noGrad(() => edgeWeights(frame1, o.edgeAlpha)), o.patch ?? DEFAULT_REFINE.patch);
  });
}

/**
 * ∂E/∂F from the frames' luminance (l1, l2 [N, 1, H, W]), with frame1's edge weights given. ∂E_data/∂census is
 * 1/(HW) at every pixel (each pair's census map is averaged): censusGrad takes it as one number.
 */
function gradient(l1: Tensor, l2: Tensor, flow: Tensor, smooth: number, weights: [Tensor, Tensor], patch: number): Tensor {
  const [, , H, W] = flow.shape as [number, number, number, number];
  return noGrad(() => {
    const data = warpFlowGrad(censusGrad(1 / (H * W), warp(l2, flow, 'border'), l1, patch, 0), l2, flow, 'border');
    if (!smooth) return data;
    // the smoothness term's gradient, s · ∂TV/∂F with smoothness()'s factors: 0.25 λ / (HW) and the flow in units of
    // min(H, W) inside |∂F|; one kernel instead of autograd through smoothness() (both tested against float64)
    return tvGrad(flow, weights, (0.25 * smooth) / (H * W * Math.min(H, W)), data);
  });
}

/**
 * Refine flows [N, 2, H, W] (frame1 -> frame2, frames [N, 3, H, W] in [0, 1]) by `steps` Adam steps on E. Resolves to
 * a new tensor without gradient; the inputs are left as they are. Asynchronous because nothing is read back during
 * the steps: every CHUNK steps it waits for the work of the chunk before (engine.fence), so the device stays busy but
 * at most two chunks are in flight — unbounded, 300 steps on 16 pairs crashed lavapipe (Engine.fence).
 */
export async function refineFlow(frame1: Tensor, frame2: Tensor, flow: Tensor, opts: number | Partial<RefineOptions> = {}): Promise<Tensor> {
  const o = refineOptions(opts);
  const [N, C, H, W] = frame1.shape as [number, number, number, number];
  if (frame1.rank !== 4 || C !== 3 || frame2.shape.join() !== frame1.shape.join() || flow.shape.join() !== [N, 2, H, W].join()) {
    throw new EngineError(`refineFlow: need frames [N, 3, H, W] of one shape and a flow [N, 2, H, W], got ${fmt(frame1.shape)}, ${fmt(frame2.shape)}, ${fmt(flow.shape)}`);
  }
  const field = keep(noGrad(() => clone(flow))).requiresGrad_();
  const weights = noGrad(() => scope(() => edgeWeights(frame1, o.edgeAlpha))).map(keep) as [Tensor, Tensor];
  const lumas = noGrad(() => [luminance(frame1), luminance(frame2)]).map(keep) as [Tensor, Tensor];
  const adam = new Adam([['flow', field]], { lr: o.lr });
  let previous: Promise<void> = Promise.resolve();
  try {
    for (let s = 0; s < o.steps; s++) {
      adam.lr = o.lr * refineSchedule(s, o.steps);
      scope(() => {
        field.grad = keep(gradient(lumas[0], lumas[1], field, o.smooth, weights, o.patch));
      });
      adam.update();
      adam.zeroGrad();
      if ((s + 1) % CHUNK === 0) {
        const f = engine().fence();
        await previous;
        previous = f;
      }
    }
    await previous;
    return noGrad(() => clone(field));
  } finally {
    adam.dispose();
    field.dispose();
    for (const w of [...weights, ...lumas]) w.dispose();
  }
}

/**
 * The learning rate's factor at step s of n: a linear warm-up over the first WARMUP steps, then a cosine decay to 0.1.
 * Adam's first steps move every value by about the full rate, whatever its gradient's size; against the smoothness
 * term's |∂F| (whose gradient is ±1 everywhere) a full-rate start roughens the field (energy 0.19 → 0.82 after 5
 * steps at 0.1 on two 64² pairs), and a constant rate leaves it jittering at the end.
 */
export function refineSchedule(s: number, n: number): number {
  const warm = Math.min(1, (s + 1) / WARMUP);
  const cos = 0.55 + 0.45 * Math.cos((Math.PI * s) / Math.max(1, n - 1));
  return warm * cos;
}

const WARMUP = 10;

/** Steps per chunk of refineFlow's in-flight work (5 dispatches a step; 540 before census and diff were kernels). */
const CHUNK = 10;
