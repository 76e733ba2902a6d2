// Neural-network ops on [N, C, ...spatial] tensors: padding (kernels/pad.wgsl), instance norm and AdaIN
// (kernels/norm.wgsl), batch norm, pooling and losses. Fused kernels where they save memory traffic; the backward
// rules are written with differentiable ops, so second derivatives (the WGAN-GP critic) work through all of them —
// except the census distance (kernels/census.wgsl), a flow loss whose gradient is a kernel of its own (first order).

import { record } from '../autograd.js';
import { EngineError, rowItems as items } from '../runtime/engine.js';
import { Tensor, empty, engine, live, noGrad, scope } from '../tensor.js';
import { abs, add, affine, div, maximum, minimum, mul, neg, powScalar, rsqrt, square, step, sub } from './elementwise.js';
import { ones, tensor, zeros } from './creation.js';
import { mean, sum, variance } from './reduce.js';
import { reshape, slice } from './shape.js';
import { fmt, numel, sameShape } from './shapes.js';

// ------------------------------------------------------------------------------------------------ padding

export type PadMode = 'zeros' | 'reflect';

interface PadGeometry {
  /** spatial sizes as 3 dims (2-D: D = 1) */
  inSize: [number, number, number];
  outSize: [number, number, number];
  before: [number, number, number];
  after: [number, number, number];
  outer: number;
  mode: PadMode;
  nd: number;
}

function padParams(g: PadGeometry): ArrayBuffer {
  const b = new ArrayBuffer(64);
  new Uint32Array(b).set([...g.inSize, 0, ...g.outSize, 0]);
  new Int32Array(b).set([...g.before, 0, ...g.after, 0], 8);
  return b;
}

function padLaunch(x: Tensor, g: PadGeometry, adjoint: boolean): Tensor {
  const lead = x.shape.slice(0, x.rank - g.nd);
  const size = adjoint ? g.inSize : g.outSize;
  const y = empty([...lead, ...size.slice(3 - g.nd)], adjoint ? 'pad adjoint' : 'pad');
  if (g.outer > 65535) throw new EngineError(`pad: ${fmt(x.shape)} has more than 65535 planes`);
  const it = items(size[2]);
  engine().dispatch({
    kernel: 'pad', entry: adjoint ? 'pad_adjoint' : 'pad', constants: { MODE: g.mode === 'reflect' ? 0 : 1, WG: 8, ITEMS: it },
    params: padParams(g), buffers: [x.buffer, y.buffer], grid: [Math.ceil(size[2] / (8 * it)), g.outer, 1],
    label: `${g.mode} pad${adjoint ? ' adjoint' : ''} ${fmt(x.shape)} by ${fmt(g.before)}/${fmt(g.after)}`,
  });
  return y;
}

function padPrimitive(x: Tensor, g: PadGeometry): Tensor {
  return record(padLaunch(x, g, false), 'pad', [x], (gy) => [padAdjoint(gy, g)]);
}
function padAdjoint(gy: Tensor, g: PadGeometry): Tensor {
  return record(padLaunch(gy, g, true), 'padAdjoint', [gy], (gg) => [padPrimitive(gg, g)]);
}

/**
 * Pad the last 2 or 3 dims. `pads` lists [before, after] for each padded dim from the first padded dim to the last,
 * e.g. [top, bottom, left, right] for 2-D (note: PyTorch's F.pad lists the LAST dim first). A single number pads
 * every side of the last 2 dims. Reflect mode needs pad < size (PyTorch ReflectionPad).
 */
export function pad(x: Tensor, pads: number | readonly number[], mode: PadMode = 'zeros'): Tensor {
  live('pad', x);
  const list = typeof pads === 'number' ? [pads, pads, pads, pads] : [...pads];
  if (list.length !== 4 && list.length !== 6) throw new EngineError(`pad: give [before, after] for 2 or 3 dims (4 or 6 numbers), got ${JSON.stringify(pads)}`);
  if (mode !== 'zeros' && mode !== 'reflect') throw new EngineError(`pad: mode must be 'zeros' or 'reflect', got '${String(mode)}'`);
  const nd = list.length / 2;
  if (x.rank < nd) throw new EngineError(`pad: ${nd} padded dims need a tensor of rank >= ${nd}, got ${fmt(x.shape)}`);
  if (list.some((v) => !Number.isInteger(v) || v < 0)) throw new EngineError(`pad: paddings must be non-negative integers, got ${fmt(list)}`);
  const sp = x.shape.slice(x.rank - nd);
  const before = list.filter((_, i) => i % 2 === 0);
  const after = list.filter((_, i) => i % 2 === 1);
  if (mode === 'reflect') {
    sp.forEach((n, i) => {
      if (before[i]! >= n || after[i]! >= n) throw new EngineError(`pad: reflect padding ${fmt(list)} must be smaller than the padded dims ${fmt(sp)} of ${fmt(x.shape)}`);
    });
  }
  const to3 = (a: number[], f: number) => [...new Array(3 - a.length).fill(f), ...a] as [number, number, number];
  const g: PadGeometry = {
    inSize: to3(sp, 1),
    outSize: to3(sp.map((n, i) => n + before[i]! + after[i]!), 1),
    before: to3(before, 0),
    after: to3(after, 0),
    outer: numel(x.shape.slice(0, x.rank - nd)),
    mode,
    nd,
  };
  return padPrimitive(x, g);
}

// ------------------------------------------------------------------------------------------------ normalisation

function spatialAxes(x: Tensor): number[] {
  return [...Array(x.rank - 2).keys()].map((i) => i + 2);
}

/** An activation a norm kernel applies on its way out. */
export type NormActivation = null | 'relu' | { leakyRelu: number };

function actCode(act: NormActivation): { ACT: number; slope: number } {
  if (!act) return { ACT: 0, slope: 0 };
  if (act === 'relu') return { ACT: 1, slope: 0 };
  if (typeof act === 'object' && Number.isFinite(act.leakyRelu)) return { ACT: 2, slope: act.leakyRelu };
  throw new EngineError(`norm: activation must be null, 'relu' or { leakyRelu: slope }, got ${JSON.stringify(act)}`);
}

/**
 * The fused kernel: (x - mean)/sqrt(var + eps) per (n, c), then the optional affine and activation. No autograd of
 * its own.
 */
function normLaunch(x: Tensor, eps: number, affine: 0 | 1 | 2, gamma: Tensor | null, beta: Tensor | null, act: NormActivation = null): Tensor {
  const [N, C] = x.shape as [number, number];
  const S = numel(x.shape.slice(2));
  const y = empty(x.shape, 'instanceNorm');
  const groups = N * C;
  const { ACT, slope } = actCode(act);
  for (let g0 = 0; g0 < groups; g0 += 65535) {
    const buf = new ArrayBuffer(32);
    new Uint32Array(buf).set([S, C, g0]);
    new Float32Array(buf).set([eps, slope], 3);
    engine().dispatch({
      kernel: 'norm', entry: 'instance_norm', constants: { AFFINE: affine, ACT, VEC4: S % 4 === 0, WG: 8 }, params: buf,
      buffers: [x.buffer, y.buffer, (gamma ?? x).buffer, (beta ?? x).buffer], grid: [Math.min(65535, groups - g0), 1, 1],
      label: `${affine === 2 ? 'adain' : 'instanceNorm'}${ACT ? '+act' : ''} ${fmt(x.shape)}`,
    });
  }
  return y;
}

/** g · act'(pre) for the fused activations, in differentiable ops (pre is the value before the activation). */
function actBackward(g: Tensor, pre: Tensor, act: NormActivation): Tensor {
  if (!act) return g;
  const slope = act === 'relu' ? 0 : act.leakyRelu;
  return mul(g, affine(step(pre), 1 - slope, slope));
}

/**
 * x̂ = (x - mean) / sqrt(var + eps) over the spatial dims of each (n, c), and its backward
 *   dx = rstd · (g - mean(g) - x̂ · mean(g · x̂))
 * written with ops (x̂ comes from this op again), so it is differentiable.
 */
function normalize(x: Tensor, eps: number): Tensor {
  const y = normLaunch(x, eps, 0, null, null);
  return record(y, 'instanceNormalize', [x], (g, [xi]) => [gradNormalize(xi!, g, eps)]);
}

/**
 * The gradient w.r.t. x of normalize(x) for the upstream gradient gy ⊙ s: s·r·(gy - mean(gy) - z·mean(gy ⊙ z)), one
 * fused kernel, with s an optional per-group scale (`mode` 1: per channel [C], the affine weight; 2: per sample and
 * channel [N, C], AdaIN's γ). Its own backward (needed for the WGAN-GP double backward) is ../shared/spec/WGAN_GP.md
 * §3.3, written with differentiable ops: w.r.t. gy the same scaled projection, w.r.t. x (with a' = a ⊙ s)
 *   x̄ = -r²·[ z·(mean(a'⊙gy) - mean(a')·mean(gy) - 3·mean(a'⊙z)·mean(gy⊙z)) + mean(a'⊙z)·(gy - mean(gy))
 *            + mean(gy⊙z)·(a' - mean(a')) ]
 * and w.r.t. s the per-group sums of a ⊙ (the unscaled gradient).
 */
function gradNormalize(x: Tensor, gy: Tensor, eps: number, scale: Tensor | null = null, mode: 1 | 2 = 2): Tensor {
  const [N, C] = x.shape as [number, number];
  const S = numel(x.shape.slice(2));
  const y = empty(x.shape, 'instanceNorm backward');
  const groups = N * C;
  for (let g0 = 0; g0 < groups; g0 += 65535) {
    const buf = new ArrayBuffer(32);
    new Uint32Array(buf).set([S, C, g0]);
    new Float32Array(buf).set([eps, 0], 3);
    engine().dispatch({
      kernel: 'norm', entry: 'instance_norm_backward', constants: { AFFINE: scale ? mode : 0, VEC4: S % 4 === 0, WG: 8 }, params: buf,
      buffers: [x.buffer, y.buffer, (scale ?? x).buffer, gy.buffer], bindings: [1, 2, 3, 5], grid: [Math.min(65535, groups - g0), 1, 1],
      label: `instanceNorm backward${scale ? ' (scaled)' : ''} ${fmt(x.shape)}`,
    });
  }
  const sshape = mode === 1 ? [C, ...new Array(x.rank - 2).fill(1)] : [N, C, ...new Array(x.rank - 2).fill(1)];
  return record(y, 'instanceNormBackward', scale ? [x, gy, scale] : [x, gy], (a, [xi, gi, si], needs) => {
    const ax = spatialAxes(xi!);
    const m = (t: Tensor) => mean(t, ax, true);
    const as = si ? mul(a, reshape(si, sshape)) : a;
    let xbar: Tensor | null = null;
    if (needs[0]) {
      const z = normalize(xi!, eps);
      const r = rsqrt(affine(variance(xi!, ax, true), 1, eps));
      const maz = m(mul(as, z));
      const mgz = m(mul(gi!, z));
      const inner = sub(sub(m(mul(as, gi!)), mul(m(as), m(gi!))), mul(mul(maz, mgz), 3));
      const sumTerms = add(add(mul(z, inner), mul(maz, sub(gi!, m(gi!)))), mul(mgz, sub(as, m(as))));
      xbar = neg(mul(sumTerms, square(r)));
    }
    const out: (Tensor | null)[] = [xbar, needs[1] ? gradNormalize(xi!, a, eps, si ?? null, mode) : null];
    if (si) out.push(needs[2] ? reshape(sum(mul(a, gradNormalize(xi!, gi!, eps)), mode === 1 ? [0, ...ax] : ax), [...si.shape]) : null);
    return out;
  });
}

function checkNormInput(op: string, x: Tensor): void {
  if (x.rank < 3) throw new EngineError(`${op}: input must be [N, C, ...spatial] with at least one spatial dim, got ${fmt(x.shape)}`);
}

/**
 * InstanceNorm (2-D or 3-D): per sample and channel over the spatial dims, biased variance, optional affine
 * weight/bias [C] (PyTorch InstanceNorm*d, no running statistics).
 */
export function instanceNorm(x: Tensor, opts: { eps?: number; weight?: Tensor | null; bias?: Tensor | null; activation?: NormActivation } = {}): Tensor {
  live('instanceNorm', x, ...[opts.weight, opts.bias].filter((t): t is Tensor => !!t));
  checkNormInput('instanceNorm', x);
  const eps = opts.eps ?? 1e-5;
  const C = x.shape[1]!;
  const w = opts.weight ?? null;
  const b = opts.bias ?? null;
  for (const [name, t] of [['weight', w], ['bias', b]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== C)) throw new EngineError(`instanceNorm: ${name} ${fmt(t.shape)} does not match ${C} channels of ${fmt(x.shape)}`);
  }
  const act = opts.activation ?? null;
  actCode(act);
  if (!w && !b && !act) return normalize(x, eps);
  // Fused forward (affine and activation in the same write); the backward goes through act(x̂ · w + b).
  const wt = w ?? ones([C]);
  const bt = b ?? zeros([C]);
  const y = normLaunch(x, eps, 1, wt, bt, act);
  if (wt !== w) wt.dispose();
  if (bt !== b) bt.dispose();
  const bshape = [C, ...new Array(x.rank - 2).fill(1)];
  const inputs = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
  return record(y, act ? 'instanceNorm+act' : 'instanceNorm', inputs, (g, ins, needs) => {
    const wi = w ? ins[1]! : null;
    const bi = b ? ins[w ? 2 : 1]! : null;
    // x̂ only when something needs it (the activation's mask or the weight's gradient): it costs a norm pass
    const xh = act || (w && needs[1]) ? normalize(ins[0]!, eps) : null;
    const pre = act ? add(wi ? mul(xh!, reshape(wi, bshape)) : xh!, bi ? reshape(bi, bshape) : 0) : null;
    const gp = pre ? actBackward(g, pre, act) : g;
    const out: (Tensor | null)[] = [];
    out.push(needs[0] ? gradNormalize(ins[0]!, gp, eps, wi, 1) : null);
    if (w) out.push(needs[1] ? reshape(sum(mul(gp, xh!), [0, ...spatialAxes(gp)]), [C]) : null);
    if (b) out.push(needs[out.length] ? reshape(sum(gp, [0, ...spatialAxes(gp)]), [C]) : null);
    return out;
  });
}

/**
 * AdaIN: instanceNorm(x) · gamma + beta with per-sample, per-channel gamma and beta [N, C] (from a style vector).
 * DTVNet's motion stream uses it with the code's σ = sqrt(biased var + eps).
 */
export function adain(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5, activation: NormActivation = null): Tensor {
  live('adain', x, gamma, beta);
  checkNormInput('adain', x);
  const [N, C] = x.shape as [number, number];
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 2 || t.shape[0] !== N || t.shape[1] !== C) throw new EngineError(`adain: ${name} must be [N, C] = [${N}, ${C}] for input ${fmt(x.shape)}, got ${fmt(t.shape)}`);
  }
  const y = normLaunch(x, eps, 2, gamma, beta, activation);
  const bshape = [N, C, ...new Array(x.rank - 2).fill(1)];
  return record(y, 'adain', [x, gamma, beta], (g, [xi, gi, bi], needs) => {
    const ax = spatialAxes(xi!);
    const xh = activation || needs[1] ? normalize(xi!, eps) : null; // a norm pass, only when needed
    const gp = activation ? actBackward(g, add(mul(xh!, reshape(gi!, bshape)), reshape(bi!, bshape)), activation) : g;
    return [
      needs[0] ? gradNormalize(xi!, gp, eps, gi!, 2) : null,
      needs[1] ? reshape(sum(mul(gp, xh!), ax), [N, C]) : null,
      needs[2] ? reshape(sum(gp, ax), [N, C]) : null,
    ];
  });
}

/**
 * y = act(x · scale[c] + shift[c]) for x [N, C, ...] and per-channel scale, shift [C]: one kernel pass (when the
 * spatial size is a multiple of 4) with a backward in ops. The evaluation form of batch norm, and the affine that
 * batch statistics produce in training, both run through it with the activation that follows fused in.
 */
export function scaleShift(x: Tensor, scale: Tensor, shift: Tensor, activation: NormActivation = null): Tensor {
  live('scaleShift', x, scale, shift);
  const C = x.shape[1]!;
  for (const [name, t] of [['scale', scale], ['shift', shift]] as const) {
    if (t.rank !== 1 || t.shape[0] !== C) throw new EngineError(`scaleShift: ${name} ${fmt(t.shape)} does not match ${C} channels of ${fmt(x.shape)}`);
  }
  const { ACT, slope } = actCode(activation);
  const bshape = [C, ...new Array(x.rank - 2).fill(1)];
  const inner = numel(x.shape.slice(2));
  const rows = numel(x.shape.slice(0, 2));
  let y: Tensor;
  if (inner % 4 === 0 && rows <= 65535) {
    y = empty(x.shape, 'scaleShift');
    let items = 64;
    while (items > 1 && inner / 4 < 8 * items) items >>= 1;
    const buf = new ArrayBuffer(36 * 4);
    new Uint32Array(buf).set([inner / 4, C]);
    new Float32Array(buf)[2] = slope;
    engine().dispatch({
      kernel: 'elementwise', entry: 'scale_shift', constants: { OP: ACT, WG: 8, ITEMS: items }, params: buf,
      buffers: [x.buffer, scale.buffer, y.buffer, shift.buffer], grid: [Math.ceil(inner / 4 / (8 * items)), rows, 1],
      label: `scaleShift${ACT ? '+act' : ''} ${fmt(x.shape)}`,
    });
  } else {
    y = noGrad(() => scope(() => {
      const pre = add(mul(x, reshape(scale, bshape)), reshape(shift, bshape));
      return activation ? mul(pre, affine(step(pre), 1 - (activation === 'relu' ? 0 : activation.leakyRelu), activation === 'relu' ? 0 : activation.leakyRelu)) : pre;
    }));
  }
  return record(y, 'scaleShift', [x, scale, shift], (g, [xi, si, hi], needs) => {
    const pre = activation ? add(mul(xi!, reshape(si!, bshape)), reshape(hi!, bshape)) : null;
    const gp = pre ? actBackward(g, pre, activation) : g;
    const axes = [0, ...spatialAxes(xi!)];
    return [
      needs[0] ? mul(gp, reshape(si!, bshape)) : null,
      needs[1] ? reshape(sum(mul(gp, xi!), axes), [C]) : null,
      needs[2] ? reshape(sum(gp, axes), [C]) : null,
    ];
  });
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** running statistics [C]; updated in place in training mode when given */
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  training?: boolean;
  momentum?: number;
  eps?: number;
  /** activation applied in the same pass */
  activation?: NormActivation;
}

/**
 * BatchNorm (2-D or 3-D, PyTorch semantics). Training: batch statistics over N and the spatial dims (biased
 * variance to normalise; the running variance is updated with the unbiased one). Evaluation: running statistics.
 * Composed of ops, so every derivative order works.
 */
export function batchNorm(x: Tensor, opts: BatchNormOptions = {}): Tensor {
  live('batchNorm', x, ...[opts.weight, opts.bias, opts.runningMean, opts.runningVar].filter((t): t is Tensor => !!t));
  checkNormInput('batchNorm', x);
  const C = x.shape[1]!;
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  const training = opts.training ?? true;
  for (const [name, t] of Object.entries({ weight: opts.weight, bias: opts.bias, runningMean: opts.runningMean, runningVar: opts.runningVar })) {
    if (t && (t.rank !== 1 || t.shape[0] !== C)) throw new EngineError(`batchNorm: ${name} ${fmt(t.shape)} does not match ${C} channels of ${fmt(x.shape)}`);
  }
  const axes = [0, ...spatialAxes(x)];
  // y = act((x - mean) / sqrt(var + eps) · w + b) = act(x · scale + shift), scale = w / sqrt(var + eps),
  // shift = b - mean · scale, with batch statistics (training) or running ones (evaluation).
  return scope(() => {
    let m: Tensor;
    let v: Tensor;
    if (training) {
      m = reshape(mean(x, axes, true), [C]);
      v = reshape(variance(x, axes, true), [C]);
      if (opts.runningMean && opts.runningVar) {
        const n = numel(x.shape) / C;
        noGrad(() => {
          const rm = add(affine(opts.runningMean!, 1 - momentum, 0), mul(m, momentum));
          const rv = add(affine(opts.runningVar!, 1 - momentum, 0), mul(v, (momentum * n) / Math.max(1, n - 1)));
          opts.runningMean!.assign_(rm);
          opts.runningVar!.assign_(rv);
        });
      }
    } else {
      if (!opts.runningMean || !opts.runningVar) throw new EngineError('batchNorm: evaluation mode needs runningMean and runningVar');
      m = opts.runningMean;
      v = opts.runningVar;
    }
    const r = rsqrt(affine(v, 1, eps));
    const scale = opts.weight ? mul(r, opts.weight) : r;
    const shift = sub(opts.bias ?? 0, mul(m, scale));
    return scaleShift(x, scale, shift, opts.activation ?? null);
  });
}

// ------------------------------------------------------------------------------------------------ pooling

/** Average pooling with kernel = stride over the last kernel.length dims (sizes must divide). Composed: a reshape
 * that splits every pooled dim into (out, k), then a mean. */
export function avgPool(x: Tensor, kernel: readonly number[]): Tensor {
  live('avgPool', x);
  const nd = kernel.length;
  if (nd < 1 || nd > x.rank) throw new EngineError(`avgPool: kernel ${fmt(kernel)} does not fit ${fmt(x.shape)}`);
  const lead = x.shape.slice(0, x.rank - nd);
  const sp = x.shape.slice(x.rank - nd);
  sp.forEach((n, i) => {
    const k = kernel[i]!;
    if (!Number.isInteger(k) || k < 1 || n % k !== 0) throw new EngineError(`avgPool: kernel ${fmt(kernel)} must divide the pooled dims ${fmt(sp)} of ${fmt(x.shape)}`);
  });
  const split = sp.flatMap((n, i) => [n / kernel[i]!, kernel[i]!]);
  const v = reshape(x, [...lead, ...split]);
  const axes = sp.map((_, i) => lead.length + 2 * i + 1);
  const y = mean(v, axes);
  v.dispose();
  return y;
}

/** 2x2 average pooling (area downsampling by 2) of the last two dims. */
export const avgPool2x = (x: Tensor): Tensor => avgPool(x, [2, 2]);

// ------------------------------------------------------------------------------------------------ losses

function checkPair(op: string, a: Tensor, b: Tensor): void {
  live(op, a, b);
  if (a.shape.join() !== b.shape.join()) throw new EngineError(`${op}: shapes ${fmt(a.shape)} and ${fmt(b.shape)} differ`);
}

/** mean |a - b| */
export function l1Loss(a: Tensor, b: Tensor): Tensor {
  checkPair('l1Loss', a, b);
  return mean(abs(sub(a, b)));
}

/** mean (a - b)² */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  checkPair('mseLoss', a, b);
  return mean(square(sub(a, b)));
}

/** mean ((a - b)² + eps²)^alpha, the robust penalty of the flow literature (alpha 0.5: Charbonnier). */
export function charbonnierLoss(a: Tensor, b: Tensor, eps = 1e-3, alpha = 0.5): Tensor {
  checkPair('charbonnierLoss', a, b);
  return mean(powScalar(affine(square(sub(a, b)), 1, eps * eps), alpha));
}

// ------------------------------------------------------------------------------------------------ image comparison

/** 3x3 box mean with no padding over the last two dims: [.., H, W] -> [.., H-2, W-2]. Composed of slices. */
function box3(x: Tensor): Tensor {
  const H = x.shape[x.rank - 2]!;
  const W = x.shape[x.rank - 1]!;
  let acc: Tensor | null = null;
  for (let i = 0; i < 3; i++) {
    const rows = slice(x, -2, i, i + H - 2);
    for (let j = 0; j < 3; j++) {
      const win = slice(rows, -1, j, j + W - 2);
      const next: Tensor = acc ? add(acc, win) : win;
      if (acc) {
        acc.dispose();
        win.dispose();
      }
      acc = next;
    }
    rows.dispose();
  }
  const m = mul(acc!, 1 / 9);
  acc!.dispose();
  return m;
}

/**
 * SSIM dissimilarity map (FLOW.md §6.2): per channel, 3x3 box statistics without padding, C1 = 0.01², C2 = 0.03²,
 * clamp((1 - SSIM) / 2, 0, 1). [N, C, H, W] -> [N, C, H-2, W-2]. Composed of ops (differentiable to any order).
 */
export function ssimMap(x: Tensor, y: Tensor): Tensor {
  checkPair('ssimMap', x, y);
  if (x.rank !== 4 || x.shape[2]! < 3 || x.shape[3]! < 3) throw new EngineError(`ssimMap: inputs must be [N, C, H, W] with H, W >= 3, got ${fmt(x.shape)}`);
  return scope(() => {
    const C1 = 0.01 ** 2;
    const C2 = 0.03 ** 2;
    const mx = box3(x);
    const my = box3(y);
    const sxx = sub(box3(square(x)), square(mx));
    const syy = sub(box3(square(y)), square(my));
    const sxy = sub(box3(mul(x, y)), mul(mx, my));
    const num = mul(affine(mul(mx, my), 2, C1), affine(sxy, 2, C2));
    const den = mul(add(add(square(mx), square(my)), C1), add(add(sxx, syy), C2));
    const d = affine(div(num, den), -0.5, 0.5);
    return minimum(maximum(d, 0), 1);
  });
}

/** Whether `patch` is a side census takes: odd, 3 to 9 (the kernel's shifts reach 4 columns). */
export function isCensusPatch(patch: number): boolean {
  return Number.isInteger(patch) && patch % 2 === 1 && patch >= 3 && patch <= 9;
}

/** The luminance census takes from an RGB image: 0.2989 R + 0.5870 G + 0.1140 B, [N, 3, H, W] -> [N, 1, H, W]. */
export function luminance(x: Tensor): Tensor {
  live('luminance', x);
  if (x.rank !== 4 || x.shape[1] !== 3) throw new EngineError(`luminance: input must be RGB [N, 3, H, W], got ${fmt(x.shape)}`);
  return scope(() => sum(mul(x, tensor(LUMA, [1, 3, 1, 1])), 1, true));
}

const LUMA = [0.2989, 0.587, 0.114];

/**
 * Soft census (ternary) distance map (FLOW.md §6.2): gray = 255·(0.2989 R + 0.5870 G + 0.1140 B); for the offsets k
 * of a `patch` × `patch` window (default 3, ARFlow's; DDFlow and SelFlow use 7; odd, 3 to 9; zero padding)
 * t_k = Δ_k / sqrt(0.81 + Δ_k²); d = mean_k (t¹_k - t²_k)² / (0.1 + (t¹_k - t²_k)²), zero on the border of
 * (patch − 1) / 2 pixels. [N, 3, H, W] pair -> [N, 1, H, W]; a pair of luminance images [N, 1, H, W] (`luminance`)
 * gives the same map with gray = 255·L, for a third of the loads (census(a, b) = census(luminance(a), luminance(b))
 * up to rounding). One kernel (kernels/census.wgsl), and one launch for each gradient asked for (a flow loss needs
 * only the warped image's); first order only: differentiating the gradient again throws.
 */
export function census(a: Tensor, b: Tensor, patch = 3): Tensor {
  const [N, H, W] = censusInputs('census', a, b, patch);
  const y = empty([N, 1, H, W], 'census');
  censusLaunch('census_fwd', 0, patch, a, b, y, a, `census${censusTag(patch)} ${fmt(a.shape)}`);
  return record(y, 'census', [a, b], (g, [ai, bi], needs) => needs.map((need, side) => (need ? censusGrad(g, ai!, bi!, patch, side as 0 | 1) : null)));
}

/**
 * census's backward: the gradient of Σ g · census(a, b, patch) with respect to a (side 0) or b (side 1), g [N, 1, H, W]
 * or one number for every pixel (the flow refinement's mean over pixels: then no g is read, 16-22 % faster at 7x7).
 * It needs no forward value, so a caller that wants only the gradient (the flow refinement) skips census's forward
 * kernel. First order only: differentiating it again throws.
 */
export function censusGrad(g: Tensor | number, a: Tensor, b: Tensor, patch: number, side: 0 | 1): Tensor {
  const constG = typeof g === 'number';
  if (!constG) live('censusGrad', g);
  const [N, H, W] = censusInputs('censusGrad', a, b, patch);
  if (constG ? !Number.isFinite(g) : !sameShape(g.shape, [N, 1, H, W])) {
    throw new EngineError(`censusGrad: g must be [N, 1, H, W] = ${fmt([N, 1, H, W])} for inputs ${fmt(a.shape)} or a finite number, got ${constG ? String(g) : fmt(g.shape)}`);
  }
  if (side !== 0 && side !== 1) throw new EngineError(`censusGrad: side must be 0 (a) or 1 (b), got ${String(side)}`);
  const d = empty(a.shape, side ? 'census grad b' : 'census grad a');
  censusLaunch('census_bwd', side, patch, a, b, d, g, `census${censusTag(patch)} backward (${side ? 'b' : 'a'}${constG ? ', constant g' : ''}) ${fmt(a.shape)}`);
  return record(d, 'censusGrad', constG ? [a, b] : [g, a, b], () => {
    throw new EngineError(`census: second-order gradients are not implemented (census's gradient for ${fmt(a.shape)} was differentiated again)`);
  });
}

/**
 * s · ∂TV/∂F + base for the edge-weighted total variation of a field F [B, K, H, W] (the flow refinement's first-order
 * smoothness term), TV(F) = Σ wx · |F[.., x+1] − F[.., x]| + Σ wy · |F[.., y+1, :] − F[.., y, :]| with weights wx
 * [B, 1, H, W − 1] and wy [B, 1, H − 1, W] shared by the K channels (sign(0) = 0, as abs's gradient): one kernel
 * (kernels/diff.wgsl `tv_grad`, `tv_grad4` for rows of whole vec4s) for what diff, abs, the products and diff's
 * adjoint give through autograd in about ten dispatches (tested against the float64 reference's VJP; the refinement's
 * gradient with it and autograd's both against a float64 evaluation). `base` [B, K, H, W], if given, is added (the
 * refinement's data-term gradient).
 * A gradient, not differentiable again: its result has no graph.
 */
export function tvGrad(F: Tensor, [wx, wy]: [Tensor, Tensor], s = 1, base: Tensor | null = null): Tensor {
  live('tvGrad', F, wx, wy, ...(base ? [base] : []));
  const [B, K, H, W] = F.shape as [number, number, number, number];
  if (F.rank !== 4 || H < 2 || W < 2 || !sameShape(wx.shape, [B, 1, H, W - 1]) || !sameShape(wy.shape, [B, 1, H - 1, W]) || (base && !sameShape(base.shape, F.shape))) {
    throw new EngineError(`tvGrad: need a field [B, K, H, W] (H, W >= 2), weights wx [B, 1, H, W - 1] and wy [B, 1, H - 1, W]${base ? ', base like the field' : ''}; got ${fmt(F.shape)}, ${fmt(wx.shape)}, ${fmt(wy.shape)}${base ? `, ${fmt(base.shape)}` : ''}`);
  }
  if (!Number.isFinite(s)) throw new EngineError(`tvGrad: the scale must be a finite number, got ${String(s)}`);
  const y = empty(F.shape, 'tvGrad');
  const R = B * K * H;
  const quads = W % 4 === 0 && !tvInternals.scalar;   // whole vec4 rows: tv_grad4
  const cols = quads ? W / 4 : W;
  const it = items(cols);
  const params = new ArrayBuffer(32);
  new Uint32Array(params).set([R, W, H, K]);
  new Float32Array(params)[4] = s;
  engine().dispatch({
    kernel: 'diff', entry: quads ? 'tv_grad4' : 'tv_grad', constants: { WG: 8, ITEMS: it, HAS_BASE: !!base }, params,
    buffers: [F.buffer, y.buffer, wx.buffer, wy.buffer, (base ?? F).buffer], // (no base: F bound there, unread)
    grid: [Math.ceil(cols / (8 * it)), Math.min(R, 65535), Math.ceil(R / 65535)], label: `tvGrad ${fmt(F.shape)}`,
  });
  return y;
}

/** @internal test and benchmark hook: tvGrad by elements even where rows are whole vec4s. */
export const tvInternals = { scalar: false };

/** census's and censusGrad's checks of the image pair and the patch; [N, H, W]. */
function censusInputs(op: string, a: Tensor, b: Tensor, patch: number): [number, number, number] {
  checkPair(op, a, b);
  if (a.rank !== 4 || (a.shape[1] !== 3 && a.shape[1] !== 1)) throw new EngineError(`${op}: inputs must be RGB [N, 3, H, W] or luminance [N, 1, H, W], got ${fmt(a.shape)}`);
  if (!isCensusPatch(patch)) throw new EngineError(`${op}: patch must be an odd side from 3 to 9, got ${patch}`);
  const [N, , H, W] = a.shape as [number, number, number, number];
  if (N > 65535 || H > 65535) throw new EngineError(`${op}: N and H must be at most 65535, got ${fmt(a.shape)}`);
  return [N, H, W];
}

/** The patch in the dispatch labels (3x3 unmarked). */
const censusTag = (patch: number): string => (patch === 3 ? '' : ` ${patch}x${patch}`);

/** One launch of kernels/census.wgsl over the [N, ·, H, W] pixels of a and b into out, reading g (census_bwd). */
function censusLaunch(entry: 'census_fwd' | 'census_bwd', side: number, patch: number, a: Tensor, b: Tensor, out: Tensor, g: Tensor | number, label: string): void {
  const [N, C, H, W] = a.shape as [number, number, number, number];
  const quads = Math.ceil(W / 4);
  const it = items(quads);
  const params = new Uint32Array([N, H, W, 0]);
  if (typeof g === 'number') new Float32Array(params.buffer)[3] = g;   // GCONST: g in dims.w (a bound in its place)
  engine().dispatch({
    kernel: 'census', entry, constants: { WG: 8, ITEMS: it, ALIGNED: W % 4 === 0, SIDE: side, RADIUS: (patch - 1) / 2, CH: C, GCONST: typeof g === 'number' }, params,
    buffers: [a.buffer, b.buffer, out.buffer, (typeof g === 'number' ? a : g).buffer], grid: [Math.ceil(quads / (8 * it)), H, N], label,
  });
}
