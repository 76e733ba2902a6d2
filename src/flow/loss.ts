// The unsupervised flow loss of ARFlow's sky configuration (../shared/spec/FLOW.md §6), written in ops so autograd
// differentiates it: multi-scale occlusion-masked photometric terms (L1 / SSIM / census), second-order (ARFlow) or
// first-order edge-aware smoothness, occlusion from the backward flow's range map (stage 1) or the forward-backward check (stage 2).
//
// Everything works on the stacked batch the network returns: [frame1 -> frame2 ; frame2 -> frame1] (batch 2N), so
// one kernel launch serves both directions; per-direction means are taken on the two halves, as ARFlow does.

import { EngineError } from '../runtime/engine.js';
import { Tensor, noGrad, scope } from '../tensor.js';
import { abs, add, affine, div, exp, ge, gt, maximum, minimum, mul, powScalar, square, sub } from '../ops/elementwise.js';
import { ones, zeros } from '../ops/creation.js';
import { warp, warpAdjoint } from '../ops/flow.js';
import { avgPool2x, census, luminance, ssimMap } from '../ops/nn.js';
import { mean, sum } from '../ops/reduce.js';
import { concat, diff, reshape, slice } from '../ops/shape.js';
import { fmt } from '../ops/shapes.js';

export interface FlowLossConfig {
  /** photometric weights (stage 1 of the sky recipe: 0.15 / 0.85 / 0; stage 2: 0 / 0 / 1) */
  wL1: number;
  wSsim: number;
  wCensus: number;
  /** 'range': non-occluded where the backward flow's splatted range map >= 0.2; 'fb': forward-backward check */
  occlusion: 'range' | 'fb' | 'none';
  /** weights of the photometric term per scale, finest first (ARFlow: 1, 1, 1, 1, 0) */
  wScales: number[];
  /** smoothness weight (sky: 75) and edge sensitivity α (10); applied at the finest scale */
  wSmooth: number;
  edgeAlpha: number;
  /** order of the smoothness term's differences: 2 (ARFlow's sky recipe, FLOW.md §6.3) or 1 (the refinement's energy) */
  smoothOrder: 1 | 2;
  /** side of the census term's patch: 3 (ARFlow, FLOW.md §6.2) or up to 9 (DDFlow and SelFlow: 7) */
  censusPatch: number;
}

export const STAGE1: FlowLossConfig = { wL1: 0.15, wSsim: 0.85, wCensus: 0, occlusion: 'range', wScales: [1, 1, 1, 1, 0], wSmooth: 75, edgeAlpha: 10, smoothOrder: 2, censusPatch: 3 };
/** Stage 1 as `train-flow` runs it by default: the census term with stage 1's range-map occlusion. */
export const STAGE1_CENSUS: FlowLossConfig = { ...STAGE1, wL1: 0, wSsim: 0, wCensus: 1 };
export const STAGE2: FlowLossConfig = { ...STAGE1_CENSUS, occlusion: 'fb' };

/** The other direction's flow for every sample of a stacked batch: [a; b] -> [b; a]. */
export function swapHalves(x: Tensor): Tensor {
  const n = x.shape[0]! / 2;
  return concat([slice(x, 0, n, 2 * n), slice(x, 0, 0, n)], 0);
}

/**
 * Non-occluded masks [2N, 1, H, W] (1 = visible in the other frame) for stacked flows [2N, 2, H, W] (FLOW.md §6.1).
 * No gradient flows through them.
 */
export function nonOccluded(flows: Tensor, method: 'range' | 'fb' | 'none'): Tensor {
  const [B, , H, W] = flows.shape as [number, number, number, number];
  return noGrad(() => scope(() => {
    if (method === 'none') return ones([B, 1, H, W]);
    const other = swapHalves(flows);
    if (method === 'range') {
      // splat weight 1 from every pixel q of the other frame to q + F_other(q): the adjoint of zeros-padded warping
      const range = warpAdjoint(ones([B, 1, H, W]), other, 'zeros');
      return ge(minimum(maximum(range, 0), 1), 0.2);
    }
    const back = warp(other, flows, 'zeros');
    const lhs = sum(square(add(flows, back)), 1, true);
    const rhs = affine(add(sum(square(flows), 1, true), sum(square(back), 1, true)), 0.01, 0.5);
    return sub(1, gt(lhs, rhs));
  }));
}

/** Nearest-neighbour downsampling by 2^s (PyTorch's 'nearest': the top-left pixel of each block). */
function nearestDown(m: Tensor, s: number): Tensor {
  if (s === 0) return m;
  const k = 2 ** s;
  const [B, C, H, W] = m.shape as [number, number, number, number];
  const v = reshape(m, [B, C, H / k, k, W / k, k]);
  return reshape(slice(slice(v, 3, 0, 1), 5, 0, 1), [B, C, H / k, W / k]);
}

/** Per-direction mean of x over all but the batch axis, then [2] (direction 1, direction 2). */
function halfMeans(x: Tensor): Tensor {
  const half = x.size / 2;
  return affine(sum(reshape(x, [2, half]), 1), 1 / half, 0);
}

/**
 * Edge-aware smoothness weights of images [B, C, H, W]: exp(−α · mean_c |∂I|) between neighbours along x
 * ([B, 1, H, W − 1]) and along y ([B, 1, H − 1, W]) (FLOW.md §6.3).
 */
export function edgeWeights(img: Tensor, alpha: number): [Tensor, Tensor] {
  return [exp(affine(mean(abs(diff(img, 3)), 1, true), -alpha, 0)), exp(affine(mean(abs(diff(img, 2)), 1, true), -alpha, 0))];
}

/**
 * The edge-weighted absolute differences of flows [B, 2, H, W] along x and y, of order 1 or 2 (FLOW.md §6.3; the
 * flow in units of the frame's shorter side): w_x · |∂ˣF| ([B, 2, H, W − o]) and w_y · |∂ʸF| ([B, 2, H − o, W]),
 * each weighted by the image edge between the pixels the difference spans (its middle pair for order 2).
 */
export function smoothnessTerms(flow: Tensor, [wx, wy]: [Tensor, Tensor], order: 1 | 2): [Tensor, Tensor] {
  const [, , H, W] = flow.shape as [number, number, number, number];
  const f = affine(flow, 1 / Math.min(H, W), 0);
  if (order === 1) return [mul(wx, abs(diff(f, 3))), mul(wy, abs(diff(f, 2)))];
  const dxx = diff(diff(f, 3), 3);   // F[x+2] − 2F[x+1] + F[x]
  const dyy = diff(diff(f, 2), 2);
  return [mul(slice(wx, 3, 1, W - 1), abs(dxx)), mul(slice(wy, 2, 1, H - 1), abs(dyy))];
}

/** Edge-aware smoothness of flows [B, 2, H, W] given images [B, 3, H, W], per direction [2]: ½ (mean_x + mean_y). */
function smoothness(flow: Tensor, img: Tensor, alpha: number, order: 1 | 2): Tensor {
  const [sx, sy] = smoothnessTerms(flow, edgeWeights(img, alpha), order);
  return affine(add(halfMeans(sx), halfMeans(sy)), 0.5, 0);
}

export interface FlowLossParts {
  total: Tensor;
  photometric: Tensor;
  smooth: Tensor;
  /** the finest scale's non-occluded mask [2N, 1, H, W] (for distillation and inspection) */
  mask: Tensor;
}

/**
 * The loss for frames [N, 3, H, W] and the network's stacked flows (finest first, [2N, 2, H/2^s, W/2^s]).
 * `exclude` ([2N, 1, H, W], 1 = leave out) removes pixels from the photometric term on top of the occlusion mask:
 * the distillation stage leaves out the pixels its noise patches hide (FLOW.md §9: the student is regressed to the
 * teacher there and "elsewhere keeps the photometric loss").
 * Returns scalars; every tensor except the returned ones is freed.
 */
export function flowLoss(img1: Tensor, img2: Tensor, flows: Tensor[], cfg: FlowLossConfig, exclude?: Tensor): FlowLossParts {
  const [N, C, H, W] = img1.shape as [number, number, number, number];
  if (C !== 3 || img2.shape.join() !== img1.shape.join()) throw new EngineError(`flowLoss: frames must be two [N, 3, H, W] of one shape, got ${fmt(img1.shape)}, ${fmt(img2.shape)}`);
  if (!flows.length || flows[0]!.shape.join() !== [2 * N, 2, H, W].join()) {
    throw new EngineError(`flowLoss: the finest flow must be the stacked [${2 * N}, 2, ${H}, ${W}], got ${flows[0] ? fmt(flows[0].shape) : 'none'}`);
  }
  return scope(() => {
    let im1: Tensor = concat([img1, img2], 0);   // the frame each flow is defined on
    let im2: Tensor = concat([img2, img1], 0);   // the frame it points into
    if (!cfg.wL1 && !cfg.wSsim) {
      // census alone sees only the luminance, and pooling, warping and masking are linear in the image: the same
      // term from one channel instead of three
      im1 = luminance(im1);
      im2 = luminance(im2);
    }
    if (exclude && exclude.shape.join() !== [2 * N, 1, H, W].join()) throw new EngineError(`flowLoss: exclude must be [${2 * N}, 1, ${H}, ${W}], got ${fmt(exclude.shape)}`);
    const visible = nonOccluded(flows[0]!, cfg.occlusion);
    const mask0 = exclude ? mul(visible, affine(exclude, -1, 1)) : visible;
    let photometric: Tensor | null = null;
    for (let s = 0; s < flows.length && s < cfg.wScales.length; s++) {
      if (s > 0) {
        im1 = avgPool2x(im1);
        im2 = avgPool2x(im2);
      }
      if (!cfg.wScales[s]) continue;
      const f = flows[s]!;
      const m = nearestDown(mask0, s);
      const rec = warp(im2, f, 'border');
      let ph: Tensor | null = null;
      const addTerm = (t: Tensor) => { ph = ph ? add(ph, t) : t; };
      if (cfg.wL1) addTerm(affine(halfMeans(mul(abs(sub(im1, rec)), m)), cfg.wL1, 0));
      if (cfg.wSsim || cfg.wCensus) {
        const a = mul(rec, m);
        const b = mul(im1, m);
        if (cfg.wSsim) addTerm(affine(halfMeans(ssimMap(a, b)), cfg.wSsim, 0));
        if (cfg.wCensus) addTerm(affine(halfMeans(census(a, b, cfg.censusPatch)), cfg.wCensus, 0));
      }
      // per direction: divide by the mean of its mask; then average the two directions
      const perDir = div(ph!, maximum(halfMeans(m), 1e-6));
      const term = affine(sum(perDir), cfg.wScales[s]! / 2, 0);
      photometric = photometric ? add(photometric, term) : term;
    }
    photometric ??= zeros([]);
    const smooth = affine(sum(smoothness(flows[0]!, concat([img1, img2], 0), cfg.edgeAlpha, cfg.smoothOrder)), 0.5, 0);
    const total = add(photometric, affine(smooth, cfg.wSmooth, 0));
    return { total, photometric, smooth, mask: mask0 };
  });
}

/** SelFlow's robust penalty ψ(x) = (|x| + 0.01)^0.4, used by the distillation loss. */
export function robust(x: Tensor): Tensor {
  return powScalar(affine(abs(x), 1, 0.01), 0.4);
}

/**
 * Self-supervised distillation (FLOW.md §9): regress the student's flow [B, 2, H, W] to the teacher's (no gradient)
 * on the pixels `mask` [B, 1, H, W] (visible for the teacher, hidden from the student), normalised by the mask mean.
 */
export function distillLoss(student: Tensor, teacher: Tensor, mask: Tensor): Tensor {
  return scope(() => div(mean(mul(robust(sub(student, teacher)), mask)), maximum(mean(mask), 1e-6)));
}
