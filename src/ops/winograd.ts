// Winograd F(2x2, 3x3) convolution for 3x3 stride-1 layers (kernels/winograd.wgsl): 2.25x fewer multiplies than the
// direct convolution. Three linear transforms around a batched matmul; each transform's backward rule is its
// adjoint kernel and vice versa, so gradients (and gradients of gradients) run through Winograd too.

import { record } from '../autograd.js';
import { EngineError } from '../runtime/engine.js';
import { Tensor, empty, engine, keep, live, noGrad } from '../tensor.js';
import { zeros } from './creation.js';
import { matmul } from './matmul.js';
import { fmt } from './shapes.js';

interface Tiles {
  N: number;
  H: number;
  W: number;
  P: number;
  OH: number;
  OW: number;
  TH: number;
  TW: number;
  /** tile columns, rounded up to a multiple of 4 for the matmul */
  Tp: number;
}

function tiles(N: number, H: number, W: number, P: number): Tiles {
  const OH = H + 2 * P - 2;
  const OW = W + 2 * P - 2;
  const TH = Math.ceil(OH / 2);
  const TW = Math.ceil(OW / 2);
  return { N, H, W, P, OH, OW, TH, TW, Tp: Math.ceil((N * TH * TW) / 4) * 4 };
}

/** The kernels' uniform block; Cp is the padded channel count of the F(4x4) input and weight transforms. */
function params(t: Tiles, C: number, O = 0, Cp = 0): Uint32Array {
  return new Uint32Array([t.N, C, t.H, t.W, t.TH, t.TW, t.Tp, t.P, O, t.OH, t.OW, Cp]);
}

const WG = 8;

/** V [16, C, Tp] from x [N, C, H, W]. */
function winoInput(x: Tensor, t: Tiles): Tensor {
  const C = x.shape[1]!;
  const v = t.Tp === t.N * t.TH * t.TW ? empty([16, C, t.Tp], 'winograd V') : zeros([16, C, t.Tp], { label: 'winograd V' });
  engine().dispatch({
    kernel: 'winograd', entry: 'input_transform', constants: { WG }, params: params(t, C), buffers: [x.buffer, v.buffer],
    grid: [Math.ceil(t.TW / WG), C, t.N], label: `winograd input ${fmt(x.shape)}`,
  });
  return record(v, 'winogradInput', [x], (g) => [winoInputAdjoint(g, t)]);
}

function winoInputAdjoint(dv: Tensor, t: Tiles): Tensor {
  const C = dv.shape[1]!;
  const dx = empty([t.N, C, t.H, t.W], 'winograd input adjoint');
  const s = empty([16, C, t.Tp], 'winograd tile gradients');
  const e = engine();
  e.dispatch({
    kernel: 'winograd', entry: 'tile_adjoint', constants: { WG }, params: params(t, C), buffers: [dv.buffer, s.buffer],
    grid: [Math.ceil(t.TW / WG), C, t.N], label: `winograd tile adjoint ${fmt(dv.shape)}`,
  });
  e.dispatch({
    kernel: 'winograd', entry: 'overlap_add', constants: { WG }, params: params(t, C), buffers: [s.buffer, dx.buffer],
    grid: [Math.ceil(t.W / WG), C, t.N], label: `winograd overlap-add ${fmt(dx.shape)}`,
  });
  s.dispose();
  return record(dx, 'winogradInputAdjoint', [dv], (g) => [winoInput(g, t)]);
}

/** U [16, O, C] from w [O, C, 3, 3]. */
function winoWeight(w: Tensor): Tensor {
  const [O, C] = w.shape as [number, number];
  const u = empty([16, O, C], 'winograd U');
  const n = O * C;
  engine().dispatch({
    kernel: 'winograd', entry: 'weight_transform', constants: { WG }, params: params(tiles(1, 3, 3, 0), C, O),
    buffers: [w.buffer, u.buffer], grid: [Math.min(65535, Math.ceil(n / WG)), Math.ceil(n / WG / 65535), 1], label: `winograd weights ${fmt(w.shape)}`,
  });
  return record(u, 'winogradWeight', [w], (g) => [winoWeightAdjoint(g)]);
}

function winoWeightAdjoint(du: Tensor): Tensor {
  const [, O, C] = du.shape as [number, number, number];
  const dw = empty([O, C, 3, 3], 'winograd weight adjoint');
  const n = O * C;
  engine().dispatch({
    kernel: 'winograd', entry: 'weight_adjoint', constants: { WG }, params: params(tiles(1, 3, 3, 0), C, O),
    buffers: [du.buffer, dw.buffer], grid: [Math.min(65535, Math.ceil(n / WG)), Math.ceil(n / WG / 65535), 1], label: `winograd weight adjoint ${fmt(dw.shape)}`,
  });
  return record(dw, 'winogradWeightAdjoint', [du], (g) => [winoWeight(g)]);
}

/** y [N, O, OH, OW] from M [16, O, Tp]. */
function winoOutput(m: Tensor, t: Tiles): Tensor {
  const O = m.shape[1]!;
  const y = empty([t.N, O, t.OH, t.OW], 'winograd output');
  engine().dispatch({
    kernel: 'winograd', entry: 'output_transform', constants: { WG }, params: params(t, O), buffers: [m.buffer, y.buffer],
    grid: [Math.ceil(t.TW / WG), O, t.N], label: `winograd output ${fmt(y.shape)}`,
  });
  return record(y, 'winogradOutput', [m], (g) => [winoOutputAdjoint(g, t)]);
}

function winoOutputAdjoint(dy: Tensor, t: Tiles): Tensor {
  const O = dy.shape[1]!;
  const dm = t.Tp === t.N * t.TH * t.TW ? empty([16, O, t.Tp], 'winograd dM') : zeros([16, O, t.Tp], { label: 'winograd dM' });
  engine().dispatch({
    kernel: 'winograd', entry: 'output_adjoint', constants: { WG }, params: params(t, O), buffers: [dy.buffer, dm.buffer],
    grid: [Math.ceil(t.TW / WG), O, t.N], label: `winograd output adjoint ${fmt(dy.shape)}`,
  });
  return record(dm, 'winogradOutputAdjoint', [dy], (g) => [winoOutput(g, t)]);
}

/**
 * 3x3, stride-1, dilation-1 convolution with zero padding `padding` (same on both dims), no bias, by Winograd
 * F(2x2, 3x3). x [N, C, H, W], w [O, C, 3, 3] (the caller validated them).
 */
export function conv2dWinograd(x: Tensor, w: Tensor, padding: number): Tensor {
  live('conv2dWinograd', x, w);
  const [N, , H, W] = x.shape as [number, number, number, number];
  if (w.shape[2] !== 3 || w.shape[3] !== 3) throw new EngineError(`conv2dWinograd: needs a 3x3 kernel, got ${fmt(w.shape)}`);
  if (N > 65535) throw new EngineError(`conv2dWinograd: batch ${N} exceeds 65535`);
  const t = tiles(N, H, W, padding);
  const v = winoInput(x, t);
  const u = winoWeight(w);
  const m = matmul(u, v); // [16, O, Tp]
  const y = winoOutput(m, t);
  v.dispose();
  u.dispose();
  m.dispose();
  return y;
}

/**
 * Inference-only Winograd F(4x4, 3x3): 4x fewer multiplies than the direct convolution. Records nothing for
 * autograd (the caller uses it only when no gradient is needed); same arguments as conv2dWinograd, plus an optional
 * bias [O] added by the output transform. The summed channel axis is padded to a multiple of 4 inside V and U, so the
 * matmul copies neither.
 */
export function conv2dWinograd4(x: Tensor, w: Tensor, padding: number, bias: Tensor | null = null): Tensor {
  live('conv2dWinograd4', x, w, ...(bias ? [bias] : []));
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const O = w.shape[0]!;
  if (N > 65535) throw new EngineError(`conv2dWinograd4: batch ${N} exceeds 65535`);
  const Cp = Math.ceil(C / 4) * 4;
  const OH = H + 2 * padding - 2;
  const OW = W + 2 * padding - 2;
  const TH = Math.ceil(OH / 4);
  const TW = Math.ceil(OW / 4);
  const t: Tiles = { N, H, W, P: padding, OH, OW, TH, TW, Tp: Math.ceil((N * TH * TW) / 4) * 4 };
  const e = engine();
  const v = t.Tp === N * TH * TW ? empty([36, Cp, t.Tp], 'winograd4 V') : zeros([36, Cp, t.Tp], { label: 'winograd4 V' });
  e.dispatch({
    kernel: 'winograd', entry: 'input_transform6', constants: { WG }, params: params(t, C, 0, Cp), buffers: [x.buffer, v.buffer],
    grid: [Math.ceil(TW / WG), Cp, N], label: `winograd4 input ${fmt(x.shape)}`,
  });
  const shared = sharedU?.get(w);
  const u = shared ?? winoWeight4(w);
  if (sharedU && !shared) sharedU.set(w, keep(u));
  const m = noGrad(() => matmul(u, v)); // [36, O, Tp]
  const y = empty([N, O, OH, OW], 'winograd4 output');
  e.dispatch({
    kernel: 'winograd', entry: bias ? 'output_transform6_bias' : 'output_transform6', constants: { WG }, params: params(t, O),
    buffers: bias ? [m.buffer, y.buffer, bias.buffer] : [m.buffer, y.buffer],
    grid: [Math.ceil(TW / WG), O, N], label: `winograd4 output ${fmt(y.shape)}${bias ? ' + bias' : ''}`,
  });
  for (const z of sharedU ? [v, m] : [v, u, m]) z.dispose();
  return y;
}

/** U [36, O, Cp] from w [O, C, 3, 3]: the F(4x4) weight transform, channels padded to a multiple of 4. */
function winoWeight4(w: Tensor): Tensor {
  const [O, C] = w.shape as [number, number];
  const Cp = Math.ceil(C / 4) * 4;
  const u = empty([36, O, Cp], 'winograd4 U');
  const oc = O * Cp;
  engine().dispatch({
    kernel: 'winograd', entry: 'weight_transform6', constants: { WG }, params: params(tiles(1, 3, 3, 0), C, O, Cp),
    buffers: [w.buffer, u.buffer], grid: [Math.min(65535, Math.ceil(oc / WG)), Math.ceil(oc / WG / 65535), 1], label: `winograd4 weights ${fmt(w.shape)}`,
  });
  return u;
}

/** The weight tensors' F(4x4) transforms while a sharedWinogradWeights call runs (null otherwise). */
let sharedU: Map<Tensor, Tensor> | null = null;

/**
 * Run `fn` — synchronous, so no optimiser step or other code can change a weight meanwhile — with each weight
 * tensor's F(4x4) transform computed once and reused by every inference-mode 3x3 convolution with that weight (a
 * decoder shared across pyramid levels transforms its weights once, not once per level). The transforms (36/9 = 4x
 * the weights' size) are freed when `fn` returns; nested calls share the outer one's.
 */
export function sharedWinogradWeights<T>(fn: () => T): T {
  if (sharedU) return fn();
  sharedU = new Map();
  try {
    return fn();
  } finally {
    for (const u of sharedU.values()) u.dispose();
    sharedU = null;
  }
}
