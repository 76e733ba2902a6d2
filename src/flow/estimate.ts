// Running a trained PWC-Lite: flows for frame pairs of any size, and the end-point error against ground truth.
// Browser-safe.

import { EngineError } from '../runtime/engine.js';
import { Tensor, noGrad, scope } from '../tensor.js';
import { tensor } from '../ops/creation.js';
import { resizeBilinear, resizeFlow, warp } from '../ops/flow.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { flip, transpose } from '../ops/shape.js';
import type { PWCLite } from '../models/pwclite.js';
import { refineFlow, refineOptions, type RefineOptions } from './refine.js';

/** The network's input size for a frame of H x W: each side rounded to the nearest multiple of 64 (at least 64). */
export function networkSize(H: number, W: number): [number, number] {
  return [Math.max(64, Math.round(H / 64) * 64), Math.max(64, Math.round(W / 64) * 64)];
}

/**
 * Views of a pair for test-time symmetry averaging (`symmetry` k uses the first k): the identity, mirrors and the
 * x/y transposition — the dihedral group of the square, in the order 1 → 2 (left-right mirror) → 4 (up-down
 * mirrors) → 8 (transposed). Transposition applied first, then the mirrors.
 */
const VIEWS: { t: boolean; fx: boolean; fy: boolean }[] = [
  { t: false, fx: false, fy: false }, { t: false, fx: true, fy: false }, { t: false, fx: false, fy: true }, { t: false, fx: true, fy: true },
  { t: true, fx: false, fy: false }, { t: true, fx: true, fy: false }, { t: true, fx: false, fy: true }, { t: true, fx: true, fy: true },
];

/** Number of views averaged by estimateFlow: 1 (one pass), 2, 4 or 8 (see VIEWS). */
export type FlowSymmetry = 1 | 2 | 4 | 8;

/**
 * estimateFlow's and the CLI's default number of views: 2 (the pair and its left-right mirror), with
 * `bidirectional` on. Measured on the 128 held-out SynthSky pairs with the run-20 model (README), ratio to the
 * zero-flow error: 1 view 0.337, 2 views 0.305, 4 views 0.297 (66 s), 8 views 0.328; with the forward-backward
 * average: 1 view 0.296 (31 s), 2 views 0.282 (57 s), 4 views 0.288 (114 s).
 */
export const DEFAULT_SYMMETRY: FlowSymmetry = 2;

export interface EstimateOptions {
  /**
   * test-time symmetry averaging (default DEFAULT_SYMMETRY): run the network on k mirrored / transposed views of the pair
   * and average the flows mapped back to the original frame (k times the cost). A network trained with dihedral
   * augmentation (`augment: 'dihedral'`) is meant to be equivariant to these views; the average cancels part of
   * what it is not.
   */
  symmetry?: FlowSymmetry;
  /**
   * average each view's forward flow with its backward flow, negated and sampled where the forward flow lands:
   * F(x) = (F_ab(x) − F_ba(x + F_ab(x))) / 2 (default DEFAULT_BIDIRECTIONAL). Both flows come out of one stacked
   * network pass, twice the work of the forward flow alone; the two directions' errors partly cancel.
   */
  bidirectional?: boolean;
  /**
   * test-time refinement (src/flow/refine.ts): Adam steps on the averaged field that lower the census + smoothness
   * energy of the pair; a step count, `true` for DEFAULT_REFINE, or the whole options; 0 / false: none
   * (default DEFAULT_REFINE_STEPS). Runs at the network's input size, before the flow is resized back.
   */
  refine?: number | boolean | Partial<RefineOptions>;
}

/** estimateFlow's and the CLI's default for `bidirectional`. */
export const DEFAULT_BIDIRECTIONAL = true;

/** estimateFlow's and the CLI's default refinement: steps of DEFAULT_REFINE (0: the network's estimate as it is). */
export const DEFAULT_REFINE_STEPS = 100;

/**
 * Forward flows frame1 -> frame2 ([N, 3, H, W] in [0, 1]) at the frames' own size, in its pixels: frames of other
 * sizes are resized (bilinear) to `networkSize` and the flow resized back with FLOW.md §5's resize_flow, as ARFlow's
 * inference does for 360x640 frames. Runs in eval mode without gradients (the refinement's own, on the field, aside).
 */
export async function estimateFlow(net: PWCLite, frame1: Tensor, frame2: Tensor, opts: EstimateOptions = {}): Promise<Tensor> {
  const k = opts.symmetry ?? DEFAULT_SYMMETRY;
  if (![1, 2, 4, 8].includes(k)) throw new EngineError(`estimateFlow: symmetry must be 1, 2, 4 or 8 (views averaged), got ${String(opts.symmetry)}`);
  const refine = refineOptions(opts.refine ?? DEFAULT_REFINE_STEPS);
  const [, , H, W] = frame1.shape as [number, number, number, number];
  const [h, w] = networkSize(H, W);
  const same = h === H && w === W;
  const [a, b, f] = noGrad(() => scope(() => {
    const a = same ? frame1 : resizeBilinear(frame1, h, w, { alignCorners: false });
    const b = same ? frame2 : resizeBilinear(frame2, h, w, { alignCorners: false });
    const bi = opts.bidirectional ?? DEFAULT_BIDIRECTIONAL;
    let f = viewFlow(net, a, b, VIEWS[0]!, bi);
    for (const v of VIEWS.slice(1, k)) f = add(f, viewFlow(net, a, b, v, bi));
    return [a, b, k > 1 ? mul(f, 1 / k) : f];
  }));
  // f (and a, b when resized) are ours to free unless f itself is the answer
  const owned = same ? [f] : [f, a, b];
  let out: Tensor | null = null;
  try {
    const r = refine.steps ? await refineFlow(a, b, f, refine) : f;
    out = same ? r : noGrad(() => resizeFlow(r, H, W));
    if (r !== f && r !== out) r.dispose();
    return out;
  } finally {
    for (const t of owned) if (t !== out) t.dispose();
  }
}

/** The flow of the pair seen through view v, mapped back to the pair's own frame. */
function viewFlow(net: PWCLite, a: Tensor, b: Tensor, v: { t: boolean; fx: boolean; fy: boolean }, bidirectional: boolean): Tensor {
  const see = (x: Tensor) => {
    let y = v.t ? transpose(x, 2, 3) : x;
    if (v.fx) y = flip(y, 3);
    return v.fy ? flip(y, 2) : y;
  };
  let f: Tensor;
  if (bidirectional) {
    // F = (F_ab − F_ba(x + F_ab(x))) / 2: both directions come out of one stacked pass
    const out = net.forward(see(a), see(b), { backward: true });
    f = mul(sub(out.forward[0]!, warp(out.backward![0]!, out.forward[0]!, 'border')), 0.5);
  } else {
    f = net.forward(see(a), see(b)).forward[0]!;
  }
  // a mirror along x maps the flow (u, v) to (−u, v) and back; the transposition swaps u and v
  if (v.fy) f = mul(flip(f, 2), tensor([1, -1], [1, 2, 1, 1]));
  if (v.fx) f = mul(flip(f, 3), tensor([-1, 1], [1, 2, 1, 1]));
  // reversing the 2-channel axis swaps u and v
  return v.t ? flip(transpose(f, 2, 3), 1) : f;
}

/** Stack planar frames ([3, H, W] each) into one [N, 3, H, W] tensor. */
export function framesTensor(frames: Float32Array[], H: number, W: number): Tensor {
  if (!frames.length) throw new EngineError('framesTensor: no frames');
  const out = new Float32Array(frames.length * 3 * H * W);
  frames.forEach((f, i) => {
    if (f.length !== 3 * H * W) throw new EngineError(`framesTensor: frame ${i} holds ${f.length} values, expected 3x${H}x${W}`);
    out.set(f, i * 3 * H * W);
  });
  return tensor(out, [frames.length, 3, H, W]);
}

/**
 * Sum of end-point errors ‖F − F_gt‖₂ over the pixels of one flow, and the zero-flow baseline's (Σ ‖F_gt‖₂).
 * `pred` is planar [2, H, W]; `gt` interleaved [H, W, 2] (the .npy layout).
 */
export function endPointErrors(pred: Float32Array, gt: Float32Array, H: number, W: number): { epe: number; zero: number } {
  if (pred.length !== 2 * H * W || gt.length !== 2 * H * W) throw new EngineError(`endPointErrors: flows must hold 2x${H}x${W} values, got ${pred.length} and ${gt.length}`);
  let epe = 0;
  let zero = 0;
  const n = H * W;
  for (let i = 0; i < n; i++) {
    const gu = gt[2 * i]!;
    const gv = gt[2 * i + 1]!;
    epe += Math.hypot(pred[i]! - gu, pred[n + i]! - gv);
    zero += Math.hypot(gu, gv);
  }
  return { epe, zero };
}
