// Running a trained PWC-Lite: flows for frame pairs of any size, and the end-point error against ground truth.
// Browser-safe.

import { EngineError } from '../runtime/engine.js';
import { Tensor, noGrad, scope } from '../tensor.js';
import { tensor } from '../ops/creation.js';
import { resizeBilinear, resizeFlow } from '../ops/flow.js';
import type { PWCLite } from '../models/pwclite.js';

/** The network's input size for a frame of H x W: each side rounded to the nearest multiple of 64 (at least 64). */
export function networkSize(H: number, W: number): [number, number] {
  return [Math.max(64, Math.round(H / 64) * 64), Math.max(64, Math.round(W / 64) * 64)];
}

/**
 * Forward flows frame1 -> frame2 ([N, 3, H, W] in [0, 1]) at the frames' own size, in its pixels: frames of other
 * sizes are resized (bilinear) to `networkSize` and the flow resized back with FLOW.md §5's resize_flow, as ARFlow's
 * inference does for 360x640 frames. Runs in eval mode without gradients.
 */
export function estimateFlow(net: PWCLite, frame1: Tensor, frame2: Tensor): Tensor {
  const [, , H, W] = frame1.shape as [number, number, number, number];
  const [h, w] = networkSize(H, W);
  return noGrad(() => scope(() => {
    const same = h === H && w === W;
    const a = same ? frame1 : resizeBilinear(frame1, h, w, { alignCorners: false });
    const b = same ? frame2 : resizeBilinear(frame2, h, w, { alignCorners: false });
    const f = net.forward(a, b).forward[0]!;
    return same ? f : resizeFlow(f, H, W);
  }));
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
