// Winograd convolution for 3x3 stride-1 layers (kernels/winograd.wgsl), with two tiles: F(2x2, 3x3) (16 batched
// matmuls, 2.25x fewer multiplies than the direct convolution) and F(4x4, 3x3) (36 matmuls, 4x fewer, at a somewhat
// larger rounding error). Three linear transforms around a batched matmul; each transform's backward rule is its
// adjoint kernel and vice versa, so gradients (and gradients of gradients) run through Winograd too, with either tile.
// 5x5 stride-1 layers take F(2x2, 5x5) (36 matmuls, 2.8x fewer multiplies): it shares F(4x4, 3x3)'s points, so its
// transforms and their adjoints are the same kernels with the output and filter sides as pipeline constants. Without
// a gradient to record they take F(4x4, 5x5) (64 matmuls of a quarter as many tiles, 6.25x fewer multiplies; 8x8
// patches, inference-only kernels).

import { record } from '../autograd.js';
import { EngineError } from '../runtime/engine.js';
import { Tensor, empty, engine, isGradEnabled, keep, live, noGrad } from '../tensor.js';
import { zeros } from './creation.js';
import { matmul } from './matmul.js';
import { concat, slice } from './shape.js';
import { fmt } from './shapes.js';

/** One Winograd tile: its output side, filter side and the kernels' entry points. */
interface Tile {
  /** output pixels per tile side (2 or 4); the input patch is m + r - 1, so there are (m + r - 1)² transformed planes */
  m: number;
  /** filter side (3 or 5) */
  r: number;
  /** the kernels' pipeline constants beyond WG */
  constants: Record<string, number>;
  /** the summed channel axis padded to a multiple of 4 inside V and U (6x6-patch kernels), so the matmul copies neither */
  padC: boolean;
  /** the transforms' kernels, and their adjoints' (null: an inference-only tile) */
  entry: { input: string; weight: string; output: string; adjoints: { tile: string; overlapAdd: string; weight: string; output: string } | null };
  label: string;
}

const F2: Tile = {
  m: 2, r: 3, padC: false, label: 'winograd', constants: {},
  entry: { input: 'input_transform', weight: 'weight_transform', output: 'output_transform', adjoints: { tile: 'tile_adjoint', overlapAdd: 'overlap_add', weight: 'weight_adjoint', output: 'output_adjoint' } },
};
const F4: Tile = {
  m: 4, r: 3, padC: true, label: 'winograd4', constants: {},
  entry: { input: 'input_transform6', weight: 'weight_transform6', output: 'output_transform6', adjoints: { tile: 'tile_adjoint6', overlapAdd: 'overlap_add', weight: 'weight_adjoint6', output: 'output_adjoint6' } },
};
const F25: Tile = { ...F4, m: 2, r: 5, label: 'winograd25', constants: { OUTS: 2, KR: 5 } };
const F45: Tile = {
  m: 4, r: 5, padC: true, label: 'winograd45', constants: {},
  entry: { input: 'input_transform8', weight: 'weight_transform8', output: 'output_transform8', adjoints: null },
};

/** A tile's adjoint kernels; only layers that record no gradient take an inference-only tile (conv2dWinograd). */
function adjoints(f: Tile) {
  if (!f.entry.adjoints) throw new EngineError(`conv2dWinograd: internal error, a gradient through the inference-only ${f.label} tile`);
  return f.entry.adjoints;
}

/** The tile's transformed planes, (m + r - 1)². */
const planes = (f: Tile) => (f.m + f.r - 1) ** 2;

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

/** The tiles of tile f over a batch of N [H, W] images with padding P. */
function tiles(f: Tile, N: number, H: number, W: number, P: number): Tiles {
  const OH = H + 2 * P - (f.r - 1);
  const OW = W + 2 * P - (f.r - 1);
  const TH = Math.ceil(OH / f.m);
  const TW = Math.ceil(OW / f.m);
  return { N, H, W, P, OH, OW, TH, TW, Tp: Math.ceil((N * TH * TW) / 4) * 4 };
}

/** The channel count of V's rows and U's columns: C, or C rounded up to a multiple of 4 for the 6x6-patch kernels. */
function padded(f: Tile, C: number): number {
  return f.padC ? Math.ceil(C / 4) * 4 : C;
}

/** The kernels' uniform block; Cp is the padded channel count (6x6-patch kernels). */
function params(t: Tiles, C: number, O: number, Cp: number): Uint32Array {
  return new Uint32Array([t.N, C, t.H, t.W, t.TH, t.TW, t.Tp, t.P, O, t.OH, t.OW, Cp]);
}

const WG = 8;

/**
 * A [planes, rows, Tp] tensor of transformed tiles (V, or dM), zero-filled where Tp
 * pads the tile count to a multiple of 4 so the padding columns stay zero in the matmul.
 */
function tilePlanes(f: Tile, rows: number, t: Tiles, label: string): Tensor {
  const shape = [planes(f), rows, t.Tp];
  return t.Tp === t.N * t.TH * t.TW ? empty(shape, label) : zeros(shape, { label });
}

/** The weight kernels read only C, O and Cp from the uniform block; these tile fields fill the rest. */
const WEIGHT_TILES = tiles(F2, 1, 3, 3, 0);

/**
 * The grid of a per-tile kernel over `ch` channels: F(2x2)'s walk the tile rows of one sample per workgroup (x = tile
 * columns / WG, z = n); F(4x4)'s the batch's flattened tiles, TH·WG a workgroup (kernels/winograd.wgsl tile6).
 */
function tileGrid(f: Tile, t: Tiles, ch: number): [number, number, number] {
  if (f === F2) return [Math.ceil(t.TW / WG), ch, t.N];
  const groups = Math.ceil((t.N * t.TW) / WG);
  const nx = Math.min(groups, 65535);
  return [nx, ch, Math.ceil(groups / nx)];
}

/** V [planes, Cp, Tp] from x [N, C, H, W]; `reflect`: padded by mirroring (no gradient recorded: the adjoint assumes zeros). */
function winoInput(f: Tile, x: Tensor, t: Tiles, reflect = false): Tensor {
  const C = x.shape[1]!;
  const Cp = padded(f, C);
  const v = tilePlanes(f, Cp, t, `${f.label} V`);
  engine().dispatch({
    kernel: 'winograd', entry: f.entry.input, constants: { WG, ...f.constants, ...(reflect ? { REFLECT: 1 } : {}) }, params: params(t, C, 0, Cp), buffers: [x.buffer, v.buffer],
    grid: tileGrid(f, t, Cp), label: `${f.label} input ${fmt(x.shape)}`,
  });
  return record(v, 'winogradInput', [x], (g) => [winoInputAdjoint(f, g, t, C)]);
}

/** dx [N, C, H, W] from dV [planes, Cp, Tp]: per-tile patch gradients, then their overlap-add. */
function winoInputAdjoint(f: Tile, dv: Tensor, t: Tiles, C: number): Tensor {
  const Cp = dv.shape[1]!;
  const dx = empty([t.N, C, t.H, t.W], `${f.label} input adjoint`);
  const s = empty([planes(f), Cp, t.Tp], `${f.label} tile gradients`);
  const e = engine();
  e.dispatch({
    kernel: 'winograd', entry: adjoints(f).tile, constants: { WG, ...f.constants }, params: params(t, C, 0, Cp), buffers: [dv.buffer, s.buffer],
    grid: tileGrid(f, t, C), label: `${f.label} tile adjoint ${fmt(dv.shape)}`,
  });
  e.dispatch({
    kernel: 'winograd', entry: adjoints(f).overlapAdd, constants: { WG, TILE: f.m, ...f.constants }, params: params(t, C, 0, Cp), buffers: [s.buffer, dx.buffer],
    grid: [Math.ceil(t.W / WG), C, t.N], label: `${f.label} overlap-add ${fmt(dx.shape)}`,
  });
  s.dispose();
  return record(dx, 'winogradInputAdjoint', [dv], (g) => [winoInput(f, g, t)]);
}

function weightGrid(n: number): [number, number, number] {
  return [Math.min(65535, Math.ceil(n / WG)), Math.ceil(n / WG / 65535), 1];
}

/** U [planes, O, Cp] from w [O, C, r, r]. */
function winoWeight(f: Tile, w: Tensor): Tensor {
  const [O, C] = w.shape as [number, number];
  const Cp = padded(f, C);
  const u = empty([planes(f), O, Cp], `${f.label} U`);
  engine().dispatch({
    kernel: 'winograd', entry: f.entry.weight, constants: { WG, ...f.constants }, params: params(WEIGHT_TILES, C, O, Cp),
    buffers: [w.buffer, u.buffer], grid: weightGrid(O * Cp), label: `${f.label} weights ${fmt(w.shape)}`,
  });
  return record(u, 'winogradWeight', [w], (g) => [winoWeightAdjoint(f, g, C)]);
}

/** dw [O, C, r, r] from dU [planes, O, Cp]. */
function winoWeightAdjoint(f: Tile, du: Tensor, C: number): Tensor {
  const [, O, Cp] = du.shape as [number, number, number];
  const dw = empty([O, C, f.r, f.r], `${f.label} weight adjoint`);
  engine().dispatch({
    kernel: 'winograd', entry: adjoints(f).weight, constants: { WG, ...f.constants }, params: params(WEIGHT_TILES, C, O, Cp),
    buffers: [du.buffer, dw.buffer], grid: weightGrid(O * C), label: `${f.label} weight adjoint ${fmt(dw.shape)}`,
  });
  return record(dw, 'winogradWeightAdjoint', [du], (g) => [winoWeight(f, g)]);
}

/** y [N, O, OH, OW] from M [planes, O, Tp], plus bias[o] when given (6x6-patch kernels; no gradient to the bias). */
function winoOutput(f: Tile, m: Tensor, t: Tiles, bias: Tensor | null = null): Tensor {
  const O = m.shape[1]!;
  const y = empty([t.N, O, t.OH, t.OW], `${f.label} output`);
  engine().dispatch({
    kernel: 'winograd', entry: bias ? `${f.entry.output}_bias` : f.entry.output, constants: { WG, ...f.constants }, params: params(t, O, 0, 0),
    buffers: bias ? [m.buffer, y.buffer, bias.buffer] : [m.buffer, y.buffer],
    grid: tileGrid(f, t, O), label: `${f.label} output ${fmt(y.shape)}${bias ? ' + bias' : ''}`,
  });
  return record(y, 'winogradOutput', [m], (g) => [winoOutputAdjoint(f, g, t)]);
}

function winoOutputAdjoint(f: Tile, dy: Tensor, t: Tiles): Tensor {
  const O = dy.shape[1]!;
  const dm = tilePlanes(f, O, t, `${f.label} dM`);
  engine().dispatch({
    kernel: 'winograd', entry: adjoints(f).output, constants: { WG, ...f.constants }, params: params(t, O, 0, 0), buffers: [dy.buffer, dm.buffer],
    grid: tileGrid(f, t, O), label: `${f.label} output adjoint ${fmt(dy.shape)}`,
  });
  return record(dm, 'winogradOutputAdjoint', [dy], (g) => [winoOutput(f, g, t)]);
}

/** @internal test hook: a smaller binding size (bytes) for the batch slicing below; null: the adapter's. */
export const winogradInternals: { bindingLimit: number | null } = { bindingLimit: null };

const bindingLimit = () => winogradInternals.bindingLimit ?? engine().limits.maxStorageBinding;

/**
 * Images of x per launch whose transformed tiles, V and M together (planes × (C + O) × tiles: both are alive at once),
 * stay within the adapter's binding size — N when all of them do, 0 when not even one image does. (Bounding the pair,
 * not each, keeps the peak memory of the generator's 5x5 layer at batch 4 where im2col's chunks had it.)
 */
function imagesPerLaunch(f: Tile, t1: Tiles, N: number, C: number, O: number): number {
  const columns = Math.floor(bindingLimit() / (planes(f) * (padded(f, C) + O) * 4));
  return Math.max(0, Math.min(N, Math.floor((columns - 3) / (t1.TH * t1.TW))));   // Tp rounds the tiles up by <= 3
}

/**
 * Whether a stride-1 convolution of [·, C, H, W] to O channels with an r x r kernel (3 or 5) and padding P fits the
 * Winograd kernels: one image's transformed tiles within the adapter's binding size (for a 5x5 layer that records
 * no gradient, F(4x4, 5x5)'s or F(2x2, 5x5)'s).
 */
export function winogradFits(C: number, O: number, H: number, W: number, P: number, r: number, inference = false): boolean {
  const fits = (f: Tile) => imagesPerLaunch(f, tiles(f, 1, H, W, P), 1, C, O) >= 1;
  return r === 5 ? fits(F25) || (inference && fits(F45)) : fits(F4);
}

/**
 * Stride-1, dilation-1 convolution with zero padding `padding` (same on both dims) by Winograd. x [N, C, H, W];
 * w [O, C, 3, 3]: F(2x2, 3x3) by default, F(4x4, 3x3) with `tile` 4; w [O, C, 5, 5]: F(2x2, 5x5), or F(4x4, 5x5) with
 * `tile` 4 where no gradient is recorded and one image's tiles fit the binding size.
 * Differentiable in x and w to any order. The caller validated the shapes. A bias [O] is added by the 6x6-patch
 * tiles' output transform when nothing needs its gradient (the caller adds it otherwise). Batches whose transformed
 * tiles exceed the adapter's binding size run in slices of images. `reflect`: the padding mirrors the image instead
 * of adding zeros (the caller checked padding < H, W), with a 6x6-patch tile and no gradient to record.
 */
export function conv2dWinograd(x: Tensor, w: Tensor, padding: number, tile: 2 | 4 = 2, bias: Tensor | null = null, reflect = false): Tensor {
  live('conv2dWinograd', x, w, ...(bias ? [bias] : []));
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const O = w.shape[0]!;
  const r = w.shape[2]!;
  if ((r !== 3 && r !== 5) || w.shape[3] !== r) throw new EngineError(`conv2dWinograd: needs a 3x3 or 5x5 kernel, got ${fmt(w.shape)}`);
  if (N > 65535) throw new EngineError(`conv2dWinograd: batch ${N} exceeds 65535`);
  const recorded = (t: Tensor) => isGradEnabled() && t.requiresGrad;
  // 5x5: F(4x4, 5x5) where nothing is recorded (the caller asked for the larger tile) and one image fits, else F(2x2, 5x5)
  const big5 = tile === 4 && !recorded(x) && !recorded(w) && imagesPerLaunch(F45, tiles(F45, 1, H, W, padding), 1, C, O) >= 1;
  const f = r === 5 ? (big5 ? F45 : F25) : tile === 4 ? F4 : F2;
  if (bias && (f === F2 || recorded(bias))) throw new EngineError('conv2dWinograd: a fused bias needs a 6x6- or 8x8-patch tile (not F(2x2, 3x3)) and no gradient to it');
  if (reflect && (f === F2 || recorded(x) || recorded(w))) throw new EngineError('conv2dWinograd: reflect padding needs a 6x6- or 8x8-patch tile (not F(2x2, 3x3)) and no gradient to record (pad the input first otherwise)');
  const n = imagesPerLaunch(f, tiles(f, 1, H, W, padding), N, C, O);
  if (n < 1) throw new EngineError(`conv2dWinograd: one image's transformed tiles for ${fmt(x.shape)} * ${fmt(w.shape)} exceed the adapter's binding size (${bindingLimit()} bytes); use algorithm 'im2col'`);
  // inside sharedWinogradWeights, a 6x6- or 8x8-patch transform of a weight that needs no gradient is made once and kept
  const share = sharedU !== null && f !== F2 && !recorded(w);
  const key = `${f.label} ${w.id}`;
  const u = (share ? sharedU!.get(key) : undefined) ?? winoWeight(f, w);
  if (share && !sharedU!.has(key)) sharedU!.set(key, keep(u));
  const run = (xs: Tensor) => {
    const t = tiles(f, xs.shape[0]!, H, W, padding);
    const v = winoInput(f, xs, t, reflect);
    const m = matmul(u, v); // [planes, O, Tp]
    const y = winoOutput(f, m, t, bias);
    for (const z of [v, m]) z.dispose();
    return y;
  };
  let y: Tensor;
  if (n >= N) {
    y = run(x);
  } else {
    const parts: Tensor[] = [];
    for (let n0 = 0; n0 < N; n0 += n) {
      const xs = slice(x, 0, n0, Math.min(N, n0 + n));
      parts.push(run(xs));
      xs.dispose();
    }
    y = concat(parts, 0);
    for (const z of parts) z.dispose();
  }
  if (!share) u.dispose();
  return y;
}

/**
 * Inference-only shorthand, recording nothing (the caller needs no gradient): the larger tile for the kernel —
 * F(4x4, 3x3) or F(4x4, 5x5) (F(2x2, 5x5) where an image's 8x8-patch tiles exceed the binding size) — with the bias
 * fused, zero or reflect padding.
 */
export function conv2dWinogradInference(x: Tensor, w: Tensor, padding: number, bias: Tensor | null = null, reflect = false): Tensor {
  return noGrad(() => conv2dWinograd(x, w, padding, 4, bias, reflect));
}

/**
 * The weight tensors' transforms for the 6x6- and 8x8-patch tiles while a sharedWinogradWeights call runs (null
 * otherwise), by tile and tensor (one weight may meet both 5x5 tiles: F(4x4, 5x5) only where its tiles fit).
 */
let sharedU: Map<string, Tensor> | null = null;

/**
 * Run `fn` — synchronous, so no optimiser step or other code can change a weight meanwhile — with each weight
 * tensor's 6x6- or 8x8-patch transform computed once and reused by every such convolution with that weight that needs no
 * gradient to it (a decoder shared across pyramid levels transforms its weights once, not once per level). The
 * transforms (36/9 = 4x a 3x3 weight's size) are freed when `fn` returns; nested calls share the outer one's.
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
