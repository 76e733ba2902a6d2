// Convolutions (1-3 spatial dims) and transposed convolutions, as im2col/col2im (kernels/conv.wgsl) around the
// matmul kernel:
//   conv(x, w)          = w[Co, K] · im2col(x)[n, K, P]            (+ bias)
//   convTranspose(x, w) = col2im(w[Ci, Co·k]ᵀ · x[n, Ci, P])       (+ bias)
// im2col and col2im are each other's adjoint, so their backward rules are each other, and everything else is
// matmul, reshape and add: the gradients (and gradients of gradients, which the WGAN-GP critic needs) of both
// convolutions come from the same few rules with no hand-written backward kernel. Faster forms record one rule
// for the whole op (convRule / convTRule), written in the same ops: layers with few channels take the direct
// kernels (kernels/conv_direct.wgsl: conv, transposed conv, and the weight gradient's patch product); convolutions
// whose output has a multiple of 512 pixels write their patches at a row pitch the matmul kernel runs faster on
// (convPitched); stride-2 transposed convolutions run as one matmul per output phase (the sub-pixel form).

import { record, type BackwardRule } from '../autograd.js';
import { EngineError, itemsGrid, rowItems as items } from '../runtime/engine.js';
import { Tensor, empty, engine, isGradEnabled, live, noGrad } from '../tensor.js';
import { add } from './elementwise.js';
import { zeros } from './creation.js';
import { matmul, matmulPitch, matmulPitched } from './matmul.js';
import { concat, permute, reshape, slice, stridedCopy, transpose, transposeLast2Raw } from './shape.js';
import { sum } from './reduce.js';
import { fmt, numel } from './shapes.js';
import { pad } from './nn.js';
import { conv2dWinograd, conv2dWinogradInference, winogradFits } from './winograd.js';

export interface ConvOptions {
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  /**
   * conv2d / conv3d: what the padding adds (PyTorch's padding_mode) — 'zeros' (default), or 'reflect': the image
   * mirrored at its edges (padding below each side). A 3x3 or 5x5 stride-1 layer that Winograd runs without a gradient
   * to record reads the mirrored pixels in its input transform; every other case pads the input first.
   */
  paddingMode?: 'zeros' | 'reflect';
  dilation?: number | readonly number[];
  /**
   * conv2d only. 'auto' (default): Winograd for 3x3 stride-1 undilated layers with at least 8 input and
   * output channels and equal padding <= 2 (dilated ones too when their sides divide by the dilation into sub-grids of
   * at least 4x4 and the padding is a multiple of it <= 2d: one undilated layer over the dilation² residue sub-grids),
   * and for such 5x5 layers (F(2x2, 5x5); F(4x4, 5x5) without a gradient) — where one image's transformed tiles fit
   * the adapter's binding size;
   * the direct kernel (kernels/conv_direct.wgsl) for layers with at most 4 input and 4 output channels, or at most 4
   * input channels and stride 2 along W (conv_direct2); else im2col.
   * 'im2col', 'winograd' or 'direct' force one.
   */
  algorithm?: 'auto' | 'im2col' | 'winograd' | 'direct';
  /**
   * conv2d only: the Winograd tile where a gradient is recorded — 4, F(4x4, 3x3): 36 batched matmuls, 4x fewer
   * multiplies than the direct convolution; or 2, F(2x2, 3x3): 16 matmuls, 2.25x fewer, rounding closer to the direct
   * convolution. Default: setWinogradTile's (4). Without a gradient to record, 'auto' always takes F(4x4).
   */
  winogradTile?: 2 | 4;
}

let winogradTileDefault: 2 | 4 = 4;

/**
 * The Winograd tile of conv2d's gradient-recording 3x3 layers when a call does not name one (ConvOptions.winogradTile):
 * 4 (the default; PWC-Lite's training step about 1.26x faster than with 2) or 2 (F(2x2, 3x3): the tile flow
 * training used before). Returns the previous setting.
 */
export function setWinogradTile(tile: 2 | 4): 2 | 4 {
  if (tile !== 2 && tile !== 4) throw new EngineError(`setWinogradTile: the tile must be 2 or 4, got ${String(tile)}`);
  const was = winogradTileDefault;
  winogradTileDefault = tile;
  return was;
}
export interface ConvTransposeOptions extends Omit<ConvOptions, 'algorithm' | 'winogradTile' | 'paddingMode'> {
  outputPadding?: number | readonly number[];
  /**
   * 'col2im': one matmul to patches, then the col2im scatter-add. 'subpixel' (2-D undilated layers whose output
   * sides are multiples of the stride): one matmul per output phase (stride² of them: the phase's taps times the
   * input's patches at stride 1), written into the output interleaved — no scatter. 'direct'
   * (kernels/conv_direct.wgsl): a gather over the taps of each output. 'auto' (default): direct when both channel
   * counts are at most 4, or the output's are and the layer has convt_direct2's stride-2 shape (the input gradient of
   * an RGB layer such as the critic's conv3d 3->32), sub-pixel for layers with stride 2 along W that are large enough (see subpixelPays;
   * 96->96 k3 s2 @64x64: 39.7 ms vs col2im's 53.6), else col2im.
   */
  algorithm?: 'auto' | 'col2im' | 'subpixel' | 'direct';
}

/** The geometry of one convolution, always as 3 spatial dims (2-D: D = KD = 1). */
export interface ConvGeometry {
  /** input spatial size (of x for conv; of the output for the transposed conv) */
  inSize: [number, number, number];
  outSize: [number, number, number];
  kernel: [number, number, number];
  stride: [number, number, number];
  padding: [number, number, number];
  dilation: [number, number, number];
  /** channels of the im2col input */
  channels: number;
  /** spatial dims of the op (2 or 3; 1-D runs as 2-D with H = 1 is not exposed) */
  nd: number;
}

function spatial(op: string, name: string, v: number | readonly number[] | undefined, nd: number, dflt: number, min: number): number[] {
  const arr = v === undefined ? new Array(nd).fill(dflt) : typeof v === 'number' ? new Array(nd).fill(v) : [...v];
  if (arr.length !== nd || arr.some((x) => !Number.isInteger(x) || x < min)) {
    throw new EngineError(`${op}: ${name} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer or ${nd} of them, got ${JSON.stringify(v)}`);
  }
  return arr;
}

const to3 = (a: number[], fill: number): [number, number, number] => [...new Array(3 - a.length).fill(fill), ...a] as [number, number, number];

/** Validate and compute the output size of conv(x: [N, C, ...in], kernel size k). */
export function convGeometry(op: string, inSpatial: readonly number[], channels: number, k: readonly number[], opts: ConvOptions): ConvGeometry {
  const nd = inSpatial.length;
  const s = spatial(op, 'stride', opts.stride, nd, 1, 1);
  const p = spatial(op, 'padding', opts.padding, nd, 0, 0);
  const d = spatial(op, 'dilation', opts.dilation, nd, 1, 1);
  const out = inSpatial.map((n, i) => {
    const span = d[i]! * (k[i]! - 1) + 1;
    if (n + 2 * p[i]! < span) {
      throw new EngineError(`${op}: kernel ${fmt(k)} (dilation ${fmt(d)}) is larger than the padded input ${fmt(inSpatial.map((v, j) => v + 2 * p[j]!))}`);
    }
    return Math.floor((n + 2 * p[i]! - span) / s[i]!) + 1;
  });
  return { inSize: to3([...inSpatial], 1), outSize: to3(out, 1), kernel: to3([...k], 1), stride: to3(s, 1), padding: to3(p, 0), dilation: to3(d, 1), channels, nd };
}

const up4 = (n: number) => Math.ceil(n / 4) * 4;

/** Output rows r = od*OH + oh covered by one im2col/col2im launch: [r0, r0 + count). */
export type RowRange = [number, number];

function params(g: ConvGeometry, kRows: number, rows: RowRange, nCount: number, pitch = 0): ArrayBuffer {
  const b = new ArrayBuffer(96);
  const u = new Uint32Array(b);
  const i = new Int32Array(b);
  const P = g.outSize[0] * g.outSize[1] * g.outSize[2];
  const K = g.channels * g.kernel[0] * g.kernel[1] * g.kernel[2];
  u.set([...g.inSize, g.channels], 0);
  u.set([...g.outSize, P], 4);
  u.set([...g.kernel, K], 8);
  u.set([kRows, pitch, 0, 0], 12);
  i.set([...g.padding, 0], 16);
  u.set([rows[0], rows[1], 0, nCount], 20);
  return b;
}

/** Strides and dilations are pipeline constants: the kernels' divisions by them compile to shifts. */
function constants(g: ConvGeometry, it: number): Record<string, number> {
  const [SD, SH, SW] = g.stride;
  const [DD, DH, DW] = g.dilation;
  return { WG: 8, ITEMS: it, SD, SH, SW, DD, DH, DW };
}

const allRows = (g: ConvGeometry): RowRange => [0, g.outSize[0] * g.outSize[1]];
const rangeText = (g: ConvGeometry, r: RowRange) => (r[0] === 0 && r[1] === g.outSize[0] * g.outSize[1] ? '' : ` rows ${r[0]}+${r[1]}`);

/**
 * cols [N, kRows, rows·OW] of x [N, C, ...in] for the output rows `rows` (default all; rows >= K are zero).
 * Differentiable; its adjoint is col2im with the same rows.
 */
export function im2col(x: Tensor, g: ConvGeometry, kRows: number, rows: RowRange = allRows(g)): Tensor {
  const y = im2colRaw(x, g, kRows, rows);
  return record(y, 'im2col', [x], (gy) => [col2im(gy, g, rows)]);
}

/** im2col's launch; with a pitch, cols is [N, kRows, pitch] whose columns past rows·OW are left unwritten. */
function im2colRaw(x: Tensor, g: ConvGeometry, kRows: number, rows: RowRange, pitch = 0, ring = false): Tensor {
  live('im2col', x);
  const N = x.shape[0]!;
  const OW = g.outSize[2];
  if (kRows > 65535 || N > 65535) throw new EngineError(`im2col: grid of ${kRows} rows x ${N} samples exceeds 65535`);
  const y = empty([N, kRows, pitch || rows[1] * OW], 'im2col');
  // rows of a multiple of 4 columns and at least 64 (so the 8 lanes are full): quads per lane step, stored as
  // vec4s (im2col4; measured on conv3d 3->32 forward: 98-107 ms before, 90-101 after, a small gain inside the
  // ±10 % run-to-run spread; on the 16- and 32-column rows of the critic's deeper layers it left lanes idle)
  const quad = OW % 4 === 0 && OW >= 64 && pitch % 4 === 0 ? 4 : 1;
  const it = items(OW / quad);
  engine().dispatch({
    kernel: 'conv', entry: quad === 4 ? 'im2col4' : 'im2col', constants: { ...constants(g, it), ...(ring ? { TAP_RING: 1 } : {}) }, params: params(g, kRows, rows, N, pitch),
    buffers: [x.buffer, y.buffer], grid: [Math.ceil(OW / (quad * 8 * it)), kRows, N],
    label: `im2col ${fmt(x.shape)} k${fmt(g.kernel)} s${fmt(g.stride)} p${fmt(g.padding)} d${fmt(g.dilation)}${rangeText(g, rows)}${pitch ? ` pitch ${pitch}` : ''}${ring ? ' ring' : ''}`,
  });
  return y;
}

/**
 * The adjoint of im2col: x-shaped [N, C, ...in] sums of cols [N, kRows, rows·OW] (only the taps of `rows`).
 * Differentiable; its adjoint is im2col.
 */
export function col2im(cols: Tensor, g: ConvGeometry, rows: RowRange = allRows(g)): Tensor {
  live('col2im', cols);
  const [N, kRows] = cols.shape as [number, number, number];
  const C = g.channels;
  if (cols.shape[2] !== rows[1] * g.outSize[2]) throw new EngineError(`col2im: cols ${fmt(cols.shape)} do not hold ${rows[1]} rows of ${g.outSize[2]}`);
  if (N > 65535 || C > 65535) throw new EngineError(`col2im: grid for ${N} samples x ${C} channels exceeds 65535`);
  const y = empty([N, C, ...g.inSize.slice(3 - g.nd)], 'col2im');
  const it = items(g.inSize[2]);
  engine().dispatch({
    kernel: 'conv', entry: 'col2im', constants: constants(g, it), params: params(g, kRows, rows, N),
    buffers: [cols.buffer, y.buffer], grid: [Math.ceil(g.inSize[2] / (8 * it)), C, N],
    label: `col2im ${fmt(cols.shape)} to ${fmt(y.shape)} k${fmt(g.kernel)} s${fmt(g.stride)}${rangeText(g, rows)}`,
  });
  return record(y, 'col2im', [cols], (gy) => [im2col(gy, g, kRows, rows)]);
}

let budgetOverride: number | null = null;
/** @internal tests force small chunks with this; null restores the default. */
export function setConvColsBudget(bytes: number | null): void {
  budgetOverride = bytes;
}
/** Bytes of cols one im2col/col2im launch may hold: the adapter's binding limit. */
function colsBudget(): number {
  return budgetOverride ?? engine().limits.maxStorageBinding;
}

/** Weights [O, K] padded with zero columns to [O, up4(K)] (a matmul needs K % 4 == 0). */
function padColumns(w2: Tensor, kRows: number): Tensor {
  const [o, k] = w2.shape as [number, number];
  if (kRows === k) return w2;
  const z = zeros([o, kRows - k]);
  const r = concat([w2, z], 1);
  z.dispose();
  return r;
}

/** y + bias broadcast over [N, Co, ...spatial] (y itself when there is no bias). */
function withBias(y: Tensor, b: Tensor | null | undefined, co: number, nd: number): Tensor {
  if (!b) return y;
  const bb = reshape(b, [co, ...new Array(nd).fill(1)]);
  const yb = add(y, bb);
  y.dispose();
  bb.dispose();
  return yb;
}

/** Validate x [N, Cin, ...], w ([Cout, Cin, k...], or [Cin, Cout, k...] when transposed) and bias [Cout]. */
function checkArgs(op: string, nd: number, x: Tensor, w: Tensor, b: Tensor | null | undefined, transposed: boolean): { N: number; Ci: number; Co: number } {
  live(op, x, w, ...(b ? [b] : []));
  const sp = nd === 2 ? 'H, W' : 'D, H, W';
  if (x.rank !== nd + 2) throw new EngineError(`${op}: input must be [N, C, ${sp}], got ${fmt(x.shape)}`);
  if (w.rank !== nd + 2) throw new EngineError(`${op}: weight must be [${transposed ? 'Cin, Cout' : 'Cout, Cin'}, ${nd === 2 ? 'kH, kW' : 'kD, kH, kW'}], got ${fmt(w.shape)}`);
  const [N, Ci] = x.shape as [number, number];
  const [w0, w1] = w.shape as [number, number];
  const [Cw, Co] = transposed ? [w0, w1] : [w1, w0];
  if (Cw !== Ci) throw new EngineError(`${op}: input has ${Ci} channels but the weight ${fmt(w.shape)} expects ${Cw}`);
  if (b && (b.rank !== 1 || b.shape[0] !== Co)) throw new EngineError(`${op}: bias ${fmt(b.shape)} does not match ${Co} output channels`);
  return { N, Ci, Co };
}

// Smallest sub-grid side worth the fold: on sub-grids under 4x4 the Winograd transforms' tiles are mostly padding
// and the two permutes cost more than the multiplies saved (PWC-Lite training step, batch 2 at 128x128: 2.20 s with
// every dilated layer on im2col, 2.09 / 1.92 / 2.29 s with a minimum side of 8 / 4 / 2).
const ATROUS_MIN = 4;

/**
 * A 3x3 stride-1 layer with dilation d on both dims, padding a multiple of d (at most 2d) and sides divisible by d
 * is d² independent undilated convolutions, one per (row, column) residue mod d: output pixel (d·i + r, d·j + s)
 * reads only input pixels of residue (r, s), at offsets −1, 0, 1 on that sub-grid. PWC-Lite's context network is
 * made of such layers (dilations 2–16; on the 32x32 level of a 128x128 pair the sub-grids of its d = 2, 4 and 8
 * layers are large enough for the fold, see ATROUS_MIN); folding the residues into the batch lets them use Winograd.
 */
function atrousFits(g: ConvGeometry, k: readonly number[], N: number, C: number, Co: number): boolean {
  const d = g.dilation[1];
  const [, H, W] = g.inSize;
  return k[0] === 3 && k[1] === 3 && g.stride.every((v) => v === 1) && g.dilation[2] === d && g.padding[1] === g.padding[2] &&
    g.padding[1] % d === 0 && g.padding[1] <= 2 * d && H % d === 0 && W % d === 0 && H / d >= ATROUS_MIN && W / d >= ATROUS_MIN && C >= 8 && Co >= 8 &&
    N * d * d <= 65535; // the Winograd kernels' batch limit
}

/** The dilation-d layer of atrousFits as one undilated convolution over the d² residue sub-grids (space to batch). */
function atrousConv(op: string, x: Tensor, w: Tensor, d: number, padding: number, winogradTile: 2 | 4 | undefined): Tensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const h = H / d;
  const wd = W / d;
  // x[n, c, d·i + r, d·j + s] -> xs[(n, r, s), c, i, j]
  const x6 = reshape(x, [N, C, h, d, wd, d]);
  const xp = permute(x6, [0, 3, 5, 1, 2, 4]);
  const xs = reshape(xp, [N * d * d, C, h, wd]);
  const ys = convNd(op, 2, xs, w, null, { padding, algorithm: 'auto', winogradTile });
  const [, Co, oh, ow] = ys.shape as [number, number, number, number];
  const y6 = reshape(ys, [N, d, d, Co, oh, ow]);
  const yp = permute(y6, [0, 3, 4, 1, 5, 2]);
  const y = reshape(yp, [N, Co, oh * d, ow * d]);
  for (const t of [x6, xp, xs, ys, y6, yp]) t.dispose();
  return y;
}

function convNd(op: string, nd: number, x: Tensor, w: Tensor, b: Tensor | null | undefined, opts: ConvOptions): Tensor {
  const { N, Ci: C, Co } = checkArgs(op, nd, x, w, b, false);
  const k = w.shape.slice(2);
  const g = convGeometry(op, x.shape.slice(2), C, k, opts);
  const algo = opts.algorithm ?? 'auto';
  if (algo !== 'auto' && algo !== 'im2col' && algo !== 'winograd' && algo !== 'direct') throw new EngineError(`${op}: algorithm must be 'auto', 'im2col', 'winograd' or 'direct', got '${String(algo)}'`);
  // Without a gradient to compute (inference), the larger tiles, F(4x4, 3x3) and F(4x4, 5x5), their output transforms
  // adding the bias.
  const inference = !isGradEnabled() || (!x.requiresGrad && !w.requiresGrad && !b?.requiresGrad);
  const winogradShape = nd === 2 && k[0] === k[1] && g.stride.every((v) => v === 1) && g.dilation.every((v) => v === 1) &&
    g.padding[1] === g.padding[2] && g.padding[1] <= 2;
  const winogradOk = winogradShape && (k[0] === 3 || k[0] === 5);
  if (algo === 'winograd' && !winogradOk) throw new EngineError(`${op}: the Winograd algorithm needs a 3x3 or 5x5 kernel, stride 1, dilation 1 and equal padding <= 2`);
  const mode = opts.paddingMode ?? 'zeros';
  if (mode !== 'zeros' && mode !== 'reflect') throw new EngineError(`${op}: paddingMode must be 'zeros' or 'reflect', got '${String(mode)}'`);
  const winogradGo = algo === 'winograd' || (algo === 'auto' && winogradOk && C >= 8 && Co >= 8 && winogradFits(C, Co, g.inSize[1], g.inSize[2], g.padding[1], k[0]!, inference));
  if (mode === 'reflect' && g.padding.some((p) => p > 0)) {
    const spatial = x.shape.slice(2);
    const pads = g.padding.slice(3 - nd);
    if (pads.some((p, i) => p >= spatial[i]!)) throw new EngineError(`${op}: reflect padding ${fmt(pads)} needs each padding below its side of ${fmt(x.shape)}`);
    if (!(winogradGo && inference && (algo === 'auto' || k[0] === 5))) {
      // pad the input by reflection, then the convolution without padding (any algorithm, gradients included)
      const xp = pad(x, pads.flatMap((p) => [p, p]), 'reflect');
      const y = convNd(op, nd, xp, w, b, { ...opts, padding: 0, paddingMode: 'zeros' });
      xp.dispose();
      return y;
    }
  }
  const dl = g.dilation[1];
  if (algo === 'auto' && nd === 2 && dl > 1 && atrousFits(g, k, N, C, Co)) return withBias(atrousConv(op, x, w, dl, g.padding[1] / dl, opts.winogradTile), b, Co, nd);
  if (winogradGo) {
    if (inference && (algo === 'auto' || k[0] === 5)) return conv2dWinogradInference(x, w, g.padding[1], b ?? null, mode === 'reflect');
    const tile = opts.winogradTile ?? winogradTileDefault;
    if (tile !== 2 && tile !== 4) throw new EngineError(`${op}: winogradTile must be 2 or 4, got ${String(tile)}`);
    return withBias(conv2dWinograd(x, w, g.padding[1], tile), b, Co, nd);
  }
  const directOk = directFits(g, N, Co, 1);
  if (algo === 'direct' || (algo === 'auto' && C <= DIRECT_MAX_CHANNELS && (Co <= DIRECT_MAX_CHANNELS || stride2Pairs(g)) && directOk)) {
    if (!directOk) throw new EngineError(`${op}: the direct kernel's grid (${g.outSize[0] * g.outSize[1]} rows, ${N} x ${Math.ceil(Co / 4)} sample-channel groups) exceeds 65535; use algorithm 'im2col'`);
    return withBias(convDirect(x, w, g), b, Co, nd);
  }
  const K = C * numel(k);
  const kRows = up4(K);
  const out = nd === 2 ? g.outSize.slice(1) : g.outSize;
  const P = numel(g.outSize);
  if (matmulPitch(P) !== P && N <= 65535 && kRows <= 65535 && N * kRows * matmulPitch(P) * 4 <= colsBudget()) return withBias(convPitched(x, w, g, kRows), b, Co, nd);
  const w2 = reshape(w, [Co, K]);
  const w2p = padColumns(w2, kRows);
  // Chunks: whole samples while cols fit the budget, else ranges of output rows of one sample.
  const rowsTotal = g.outSize[0] * g.outSize[1];
  const rowBytes = kRows * g.outSize[2] * 4;
  const maxRows = Math.floor(colsBudget() / rowBytes);
  if (maxRows < 1) throw new EngineError(`${op}: one output row of patches (${rowBytes} bytes) exceeds the adapter's binding size`);
  const rc = Math.min(rowsTotal, maxRows);
  const nc = rc < rowsTotal ? 1 : Math.max(1, Math.min(N, Math.floor(maxRows / rowsTotal), 65535));
  const perSample: Tensor[] = [];
  for (let n0 = 0; n0 < N; n0 += nc) {
    const xc = nc >= N ? x : slice(x, 0, n0, Math.min(N, n0 + nc));
    const parts: Tensor[] = [];
    for (let r0 = 0; r0 < rowsTotal; r0 += rc) {
      const cols = im2col(xc, g, kRows, [r0, Math.min(rc, rowsTotal - r0)]);
      parts.push(matmul(w2p, cols)); // [nc, Co, rows*OW]
      cols.dispose();
    }
    perSample.push(parts.length === 1 ? parts[0]! : concat(parts, 2));
    if (parts.length > 1) parts.forEach((t) => t.dispose());
    if (xc !== x) xc.dispose();
  }
  const y3 = perSample.length === 1 ? perSample[0]! : concat(perSample, 0);
  if (perSample.length > 1) perSample.forEach((t) => t.dispose());
  const y = reshape(y3, [N, Co, ...out]);
  for (const t of new Set([w2, w2p, y3])) t.dispose();
  return withBias(y, b, Co, nd);
}

/**
 * The im2col route with the patches of every sample at once at a matmul-friendly row pitch (their P output columns
 * are a multiple of 512, a pitch the matmul kernel thrashes the caches on; kernels/matmul.wgsl): conv3d 3->32's
 * 32x144x131072 product 14.3 -> 19.1 GFLOP/s, 64x512x32768 21.2 -> 27.1. Its own backward rule, since the patches'
 * layout is not a tensor's: to x the transposed convolution, to w the kept patches times the output gradient
 * (recomputed by patchProduct when the backward pass is itself recorded, for gradients of gradients).
 */
function convPitched(x: Tensor, w: Tensor, g: ConvGeometry, kRows: number): Tensor {
  const [N, C] = x.shape as [number, number];
  const Co = w.shape[0]!;
  const K = C * numel(g.kernel);
  const P = numel(g.outSize);
  const cols = im2colRaw(x, g, kRows, allRows(g), matmulPitch(P)); // [N, kRows, pitch]
  const y = noGrad(() => {
    const w2 = reshape(w, [Co, K]);
    const w2p = padColumns(w2, kRows);
    const y3 = matmulPitched(w2p, cols, P); // [N, Co, P]
    const r = reshape(y3, [N, Co, ...g.outSize.slice(3 - g.nd)]);
    for (const t of new Set([w2, w2p, y3])) t.dispose();
    return r;
  });
  if (!isGradEnabled() || !(x.requiresGrad || w.requiresGrad)) {
    cols.dispose();
    return y;
  }
  const out = record(y, 'convPitched', [x, w, cols], (gy, [xx, ww, cc], needs) => {
    const o = spatialOpts(g);
    let gw: Tensor | null = null;
    if (needs[1] && (isGradEnabled() || Co % 4 !== 0)) {
      gw = weightGrad(gy, xx!, g, ww!.shape);
    } else if (needs[1]) {
      // Σ_n cols[n] · gy[n]ᵀ: [N, kRows, Co], summed over the samples, then [Co, K]
      const gy3 = reshape(gy, [N, Co, P]);
      const gyT = transposeLast2Raw(gy3, `conv weight gradient layout ${fmt(gy3.shape)}ᵀ`) ?? transpose(gy3);
      const prod = matmulPitched(cc!, gyT);
      const tot = sum(prod, 0);
      const cut = kRows === K ? tot : slice(tot, 0, 0, K);
      const t = transpose(cut);
      gw = reshape(t, ww!.shape);
      for (const z of new Set([gy3, gyT, prod, tot, cut, t])) z.dispose();
    }
    return [needs[0] ? convTFit(g.nd, gy, ww!, o, xx!) : null, gw, null];
  });
  cols.dispose(); // the graph node holds its own reference
  return out;
}

function convTransposeNd(op: string, nd: number, x: Tensor, w: Tensor, b: Tensor | null | undefined, opts: ConvTransposeOptions): Tensor {
  const { N, Ci, Co } = checkArgs(op, nd, x, w, b, true);
  const k = w.shape.slice(2);
  const inSp = x.shape.slice(2);
  const s = spatial(op, 'stride', opts.stride, nd, 1, 1);
  const p = spatial(op, 'padding', opts.padding, nd, 0, 0);
  const d = spatial(op, 'dilation', opts.dilation, nd, 1, 1);
  const op_ = spatial(op, 'outputPadding', opts.outputPadding, nd, 0, 0);
  op_.forEach((v, i) => {
    if (v >= s[i]! && v >= d[i]!) throw new EngineError(`${op}: outputPadding ${fmt(op_)} must be smaller than stride ${fmt(s)} or dilation ${fmt(d)}`);
  });
  const outSp = inSp.map((n, i) => (n - 1) * s[i]! - 2 * p[i]! + d[i]! * (k[i]! - 1) + op_[i]! + 1);
  if (outSp.some((v) => v < 1)) throw new EngineError(`${op}: output size ${fmt(outSp)} is empty for input ${fmt(x.shape)}, kernel ${fmt(k)}, stride ${fmt(s)}, padding ${fmt(p)}`);
  const algo = opts.algorithm ?? 'auto';
  if (algo !== 'auto' && algo !== 'col2im' && algo !== 'subpixel' && algo !== 'direct') throw new EngineError(`${op}: algorithm must be 'auto', 'col2im', 'subpixel' or 'direct', got '${String(algo)}'`);
  const subpixelOk = nd === 2 && d.every((v) => v === 1) && outSp.every((o, i) => o % s[i]! === 0);
  if (algo === 'subpixel' && !subpixelOk) throw new EngineError(`${op}: the sub-pixel algorithm needs a 2-D layer without dilation whose output sides ${fmt(outSp)} are multiples of the stride ${fmt(s)}`);
  // The forward convolution that maps the output back onto x's grid. Its natural output can be larger than x when
  // outputPadding >= stride (allowed below the dilation): the extra output rows simply receive no taps.
  const g = { ...convGeometry(op, outSp, Co, k, { stride: s, padding: p, dilation: d }), outSize: to3(inSp, 1) };
  const gt: ConvGeometry = { ...g, inSize: to3(inSp, 1), outSize: to3(outSp, 1), channels: Ci };
  const directOk = directFits(gt, N, Co, gt.stride[2]);
  if (algo === 'direct' || (algo === 'auto' && Co <= DIRECT_MAX_CHANNELS && (Ci <= DIRECT_MAX_CHANNELS || stride2Quads(gt)) && directOk)) {
    if (!directOk) throw new EngineError(`${op}: the direct kernel's grid exceeds 65535 for output ${fmt(outSp)} and ${N} samples; use algorithm 'col2im'`);
    return withBias(convTransposeDirect(x, w, gt, g), b, Co, nd);
  }
  // the sub-pixel form's largest patches (one phase, every sample at once) must fit the column budget
  const subpixelFits = subpixelOk && N <= 65535 && 4 * N * up4(Ci * numel(k.map((kk, i) => Math.ceil(kk / s[i]!)))) * matmulPitch(numel(outSp) / numel(s)) <= colsBudget();
  if (algo === 'subpixel' && !subpixelFits) throw new EngineError(`${op}: the sub-pixel form's patches for ${fmt(x.shape)} exceed the column budget; use algorithm 'col2im' (it works in chunks of samples)`);
  if (algo === 'subpixel' || (algo === 'auto' && subpixelFits && subpixelPays(outSp, s, N))) {
    return withBias(convTranspose2dSubpixel(x, w, g, gt), b, Co, nd);
  }
  const K = Co * numel(k);
  const kRows = up4(K);
  const w2 = reshape(w, [Ci, K]);
  const w2p = padColumns(w2, kRows);
  const pin = numel(inSp);
  const nc = Math.max(1, Math.min(N, Math.floor(colsBudget() / (kRows * pin * 4)), 65535));
  if (kRows * pin * 4 > engine().limits.maxStorageBinding) throw new EngineError(`${op}: the patches of one sample (${kRows * pin * 4} bytes) exceed the adapter's binding size`);
  const ys: Tensor[] = [];
  for (let n0 = 0; n0 < N; n0 += nc) {
    const xc = nc >= N ? x : slice(x, 0, n0, Math.min(N, n0 + nc));
    const x2 = reshape(xc, [xc.shape[0]!, Ci, pin]);
    const cols = matmul(w2p, x2, { transA: true }); // [nc, kRows, Pin]
    ys.push(col2im(cols, g));
    for (const t of new Set([x2, cols, ...(xc !== x ? [xc] : [])])) t.dispose();
  }
  const y = ys.length === 1 ? ys[0]! : concat(ys, 0);
  if (ys.length > 1) ys.forEach((t) => t.dispose());
  for (const t of new Set([w2, w2p])) t.dispose();
  return withBias(y, b, Co, nd);
}

/**
 * Whether 'auto' takes the sub-pixel form (over col2im; the direct kernels are decided before): stride 2 along W with
 * phase rows of a multiple of 4 (the zipped interleave) and at least 1024 output pixels per phase over the batch.
 * Measured (96->96 k3 s2, forward, ms col2im / sub-pixel): N1 @64² 53.6 / 39.7, N4 @64² 190 / 160, N1 @32² 13.9 /
 * 11.5, N4 @16² 14.4 / 12.8, 16->16 N1 @64² 4.6 / 2.5; 192->192 N1 @16² (256 pixels a phase) 11.3 / 15.0; 8->8 N2
 * @32² 1.24 / 1.27.
 */
function subpixelPays(outSp: number[], s: number[], N: number): boolean {
  const [My, Mx] = [outSp[0]! / s[0]!, outSp[1]! / s[1]!];
  return s[1] === 2 && Mx % 4 === 0 && N * My * Mx >= 1024;
}

/**
 * The sub-pixel form of a 2-D transposed convolution: output pixel o = s·m + r (phase r along each axis) receives the
 * taps k ≡ r + p (mod s) from inputs i = m + (r + p − k)/s, so each of the s_y·s_x phases is an ordinary stride-1
 * correlation of x with the phase's taps (flipped): the phase's weights [Co, Ci·ty·tx] times the patches of x at the
 * phase's offsets (im2col with stride 1; none for a 1×1 phase that reads x as it is), written into the output at
 * stride s (stride 2 along W on rows of quads: kernels/copy.wgsl's zip4 pairs the two column phases; else a strided
 * copy per phase). Same multiply-adds as the col2im form, no scatter. `g` / `gt` are the geometry pair of
 * convTransposeNd; the gradients are the col2im route's (convolution to x, patch product to w).
 */
function convTranspose2dSubpixel(x: Tensor, w: Tensor, g: ConvGeometry, gt: ConvGeometry): Tensor {
  const [N, Ci, H, W] = x.shape as [number, number, number, number];
  const [Co, KH, KW] = [w.shape[1]!, w.shape[2]!, w.shape[3]!];
  const [s, p, out] = [gt.stride.slice(1), gt.padding.slice(1), gt.outSize.slice(1)] as [number[], number[], number[]];
  // per axis and phase r: the taps in correlation order (descending k), the input offset of the first, output count
  const phases = (axis: 0 | 1) => Array.from({ length: s[axis]! }, (_, r) => {
    const K = axis === 0 ? KH : KW;
    const k0 = (((r + p[axis]!) % s[axis]!) + s[axis]!) % s[axis]!;
    const top = k0 + s[axis]! * Math.floor((K - 1 - k0) / s[axis]!); // the largest tap of the phase
    const taps = k0 < K ? (top - k0) / s[axis]! + 1 : 0;
    return { r, top, taps, start: (r + p[axis]! - top) / s[axis]!, M: out[axis]! / s[axis]! };
  });
  const yShape = [N, Co, out[0]!, out[1]!];
  const [py, px] = [phases(0), phases(1)];
  const y = [...py, ...px].some((a) => !a.taps) ? zeros(yShape) : empty(yShape, 'convTranspose2d');
  // stride 2 along W with quads of output columns: the two column phases are zipped into the output in one pass
  const [ax0, ax1] = px;
  const zip = s[1] === 2 && ax0!.taps > 0 && ax1!.taps > 0 && ax0!.M % 4 === 0;
  const row: Tensor[] = [];
  // Shared patches: with stride 2 and a 1-tap and a 2-tap phase on each axis that start at the same input (a k3 s2
  // layer), every phase's window lies in the 2x2 window of the (1, 1) phase, and in the tap-major ring order of
  // kernels/conv.wgsl (blocks (0,1), (0,0), (1,0), (1,1) of Ci rows) each phase's taps are one run of blocks: one
  // im2col serves all four phases, each matmul reading its rows of it (three im2col passes fewer).
  const ringAxis = (a: typeof py) => a.length === 2 && a[0]!.start === a[1]!.start && a[0]!.taps + a[1]!.taps === 3;
  const ring = s[0] === 2 && s[1] === 2 && ringAxis(py) && ringAxis(px) && Ci % 4 === 0;
  noGrad(() => {
    const Pall = py[0]!.M * px[0]!.M;
    const shared = ring ? im2colRaw(x, {
      inSize: [1, H, W], outSize: [1, py[0]!.M, px[0]!.M], kernel: [1, 2, 2], stride: [1, 1, 1],
      padding: [0, -py[0]!.start, -px[0]!.start], dilation: [1, 1, 1], channels: Ci, nd: 2,
    }, 4 * Ci, [0, py[0]!.M], matmulPitch(Pall), true) : null;
    for (const ay of py) {
      for (const ax of px) {
        if (!ay.taps || !ax.taps) continue;
        if (shared) {
          // the phase's blocks: (kh, kw) < (taps_y, taps_x) in ring order b = 0: (0,1), 1: (0,0), 2: (1,0), 3: (1,1)
          const blocks = ([[0, 1], [0, 0], [1, 0], [1, 1]] as const).map(([kh, kw], b) => ({ kh, kw, b })).filter((t) => t.kh < ay.taps && t.kw < ax.taps);
          const wp = empty([Co, blocks.length * Ci], 'subpixel weights');
          for (const [j, t] of blocks.entries()) {
            // window offset (kh, kw) is the phase's correlation tap a = (kh, kw): w's tap top − a·s
            stridedCopy(w, wp, [Co, Ci], [KH * KW, Co * KH * KW], (ay.top - 2 * t.kh) * KW + (ax.top - 2 * t.kw),
              [blocks.length * Ci, 1], j * Ci, `subpixel weights phase (${ay.r}, ${ax.r}) tap (${t.kh}, ${t.kw})`);
          }
          const yp = matmulPitched(wp, shared, Pall, [blocks[0]!.b * Ci, blocks.length * Ci]);
          wp.dispose();
          if (zip) row.push(yp);
          else {
            stridedCopy(yp, y, [N * Co, ay.M, ax.M], [ay.M * ax.M, ax.M, 1], 0, [out[0]! * out[1]!, s[0]! * out[1]!, s[1]!],
              ay.r * out[1]! + ax.r, `subpixel interleave phase (${ay.r}, ${ax.r})`);
            yp.dispose();
          }
          continue;
        }
        const K = Ci * ay.taps * ax.taps;
        const kRows = up4(K);
        // the phase's weights [Co, Ci, ty, tx] (tap a of the correlation is w's tap top − a·s), zero-padded to kRows
        const wp = kRows === K ? empty([Co, K], 'subpixel weights') : zeros([Co, kRows], { label: 'subpixel weights' });
        stridedCopy(w, wp, [Co, Ci, ay.taps, ax.taps], [KH * KW, Co * KH * KW, -s[0]! * KW, -s[1]!], ay.top * KW + ax.top,
          [kRows, ay.taps * ax.taps, ax.taps, 1], 0, `subpixel weights phase (${ay.r}, ${ax.r})`);
        // the patches at a matmul-friendly row pitch (x itself for a 1×1 phase on x's own grid: its planes may be a
        // multiple of 512 floats apart, which only thrashes the caches for long K — 96x96x4096 ran as fast at a pitch
        // of 4096 as at 4112, 4.34-4.45 ms either way; the re-pitching im2col it saves took 0.6 ms)
        const P = ay.M * ax.M;
        const pitch = matmulPitch(P);
        let cols: Tensor;
        if (K === Ci && ay.start === 0 && ax.start === 0 && ay.M === H && ax.M === W && kRows === K && (pitch === P || K <= 128)) {
          cols = reshape(x, [N, Ci, P]);
        } else {
          const gp: ConvGeometry = {
            inSize: [1, H, W], outSize: [1, ay.M, ax.M], kernel: [1, ay.taps, ax.taps], stride: [1, 1, 1],
            padding: [0, -ay.start, -ax.start], dilation: [1, 1, 1], channels: Ci, nd: 2,
          };
          cols = im2colRaw(x, gp, kRows, allRows(gp), pitch === P ? 0 : pitch);
        }
        const yp = cols.shape[2] === P ? matmul(wp, cols) : matmulPitched(wp, cols, P); // [N, Co, My·Mx]
        for (const t of new Set([wp, cols])) t.dispose();
        if (zip) {
          row.push(yp);
        } else {
          stridedCopy(yp, y, [N * Co, ay.M, ax.M], [ay.M * ax.M, ax.M, 1], 0, [out[0]! * out[1]!, s[0]! * out[1]!, s[1]!],
            ay.r * out[1]! + ax.r, `subpixel interleave phase (${ay.r}, ${ax.r})`);
          yp.dispose();
        }
      }
      if (zip && ay.taps) {
        // both column phases of output rows s·m + r in one pass: vec4 loads of each, vec4 stores of the zipped row
        const [a, b] = row as [Tensor, Tensor];
        const n4 = a.size / 4;
        const gr = itemsGrid(n4);
        const u = new Uint32Array(28);
        u.set([n4, 0, 0, (ay.r * out[1]!) / 4]);
        u[20] = (s[0]! * out[1]!) / 4;
        engine().dispatch({
          kernel: 'copy', entry: 'zip4', constants: { WG: gr.wg, ITEMS: gr.items, ROW4: ax0.M / 4 }, params: u.buffer,
          buffers: [a.buffer, b.buffer, y.buffer], bindings: [3, 5, 4], grid: gr.grid, label: `subpixel interleave phases (${ay.r}, 0|1)`,
        });
        a.dispose();
        b.dispose();
        row.length = 0;
      }
    }
    shared?.dispose();
  });
  return record(y, 'convTranspose2dSubpixel', [x, w], convTRule(g, gt));
}

// ------------------------------------------------------------------------------------------------ direct kernels

/**
 * Channel counts up to which 'auto' picks the direct kernels: both the input's and the output's (measured, README
 * "Benchmarks": 2.4-2.9x faster than im2col/col2im on the generator's convT3d 3->3, its input and its weight gradient). A conv
 * with few input channels and stride 2 along W (stride2Pairs: the critic's conv3d 3->32, the flow encoder's 2->32,
 * PWC-Lite's first 3->16 layer) takes conv_direct2 whatever its output channels: 1.4-1.9x faster than im2col there since its weights are
 * shared by subgroup shuffles and each workgroup computes two channel groups. Likewise a transposed conv with few
 * output channels and convt_direct2's stride-2 shape (the input gradient of those layers: conv3d 3->32's is a
 * convT3d 32->3) takes it whatever its input channels: no 75 MB column buffer (peak 78 -> 6 MiB) and GPU time
 * 292 -> 238 ms (medians of 6 interleaved runs on a slowed machine, README kernel notes).
 */
const DIRECT_MAX_CHANNELS = 4;
/** Output rows per workgroup of the direct kernels (ROWS in conv_direct.wgsl). */
const DIRECT_ROWS = 16;

/** Whether the direct kernel's grid (rows OD·OH, N·G·phases) fits the 65535 workgroups per dimension. */
function directFits(g: ConvGeometry, N: number, Co: number, phases: number): boolean {
  return g.outSize[0] * Math.ceil(g.outSize[1] / DIRECT_ROWS) <= 65535 && N * Math.ceil(Co / 4) * phases <= 65535;
}

/** Weights [Co, Ci, ...k] as vec4s over output channels: [G, Ci·kvol, 4], zero past Co (conv_direct.wgsl's layout). */
function packDirect(w: Tensor): Tensor {
  const [Co, Ci] = w.shape as [number, number];
  const K = Ci * numel(w.shape.slice(2));
  const G = Math.ceil(Co / 4);
  const w2 = reshape(w, [Co, K]);
  const z = G * 4 > Co ? zeros([G * 4 - Co, K]) : null;
  const wp = z ? concat([w2, z], 0) : w2;
  const w3 = reshape(wp, [G, 4, K]);
  const packed = permute(w3, [0, 2, 1]);
  for (const t of new Set([w2, wp, w3, ...(z ? [z] : [])])) t.dispose();
  return packed;
}

/**
 * conv_direct.wgsl's uniform block: in_size (D, H, W, ·), out_size (OD, OH, OW, ·), ksize (KD, KH, KW, ·), pad; each
 * entry point gives the three fourth fields its own meaning (`last`).
 */
function directParams(g: ConvGeometry, inSize: readonly number[], last: [number, number, number]): ArrayBuffer {
  const b = new ArrayBuffer(64);
  const u = new Uint32Array(b);
  u.set([...inSize, last[0]], 0);
  u.set([...g.outSize, last[1]], 4);
  u.set([...g.kernel, last[2]], 8);
  new Int32Array(b).set([...g.padding, 0], 12);
  return b;
}

/** conv_direct.wgsl's pipeline constants: strides, dilations and kernel size (so the tap loops unroll), rows per workgroup. */
function directConstants(g: ConvGeometry, rows: number): Record<string, number> {
  const [SD, SH, SW] = g.stride;
  const [DD, DH, DW] = g.dilation;
  return { WG: 8, ROWS: rows, SD, SH, SW, DD, DH, DW, KD: g.kernel[0], KH: g.kernel[1], KW: g.kernel[2] };
}

/**
 * Σ_n a[n, A, P] · patches(src[n])ᵀ, the patches of `src` under geometry g (im2col) cut to their K rows: [A, K].
 * The weight gradient of both convolutions: conv's with a = dy and src = x; the transposed conv's with a = x and src =
 * dy. With at most 4 channels on the a side it is the patch_product kernel (patchProductDirect), else im2col, matmul
 * and sum; both are differentiable again.
 */
function patchProduct(a: Tensor, src: Tensor, g: ConvGeometry): Tensor {
  // the kernel's limits: one vec4 over a's channels, at most 8 kw taps per lane, and its grid
  const chunks = Math.ceil((a.shape[0]! * g.outSize[0] * g.outSize[1]) / PATCH_ROWS);
  if (a.shape[1]! <= 4 && g.kernel[2] <= 8 && g.channels * g.kernel[0] * g.kernel[1] <= 65535 && chunks <= 65535) return patchProductDirect(a, src, g);
  const N = a.shape[0]!;
  const K = g.channels * numel(g.kernel);
  const P = numel(g.outSize);
  const kRows = up4(K);
  if (kRows * P * 4 > colsBudget()) throw new EngineError(`conv weight gradient: the patches of one sample (${kRows * P * 4} bytes) exceed the adapter's binding size`);
  const nc = Math.max(1, Math.floor(colsBudget() / (kRows * P * 4)));
  const parts: Tensor[] = [];
  for (let n0 = 0; n0 < N; n0 += nc) {
    const n1 = Math.min(N, n0 + nc);
    const ac = n0 === 0 && n1 === N ? a : slice(a, 0, n0, n1);
    const sc = n0 === 0 && n1 === N ? src : slice(src, 0, n0, n1);
    const a3 = reshape(ac, [n1 - n0, a.shape[1]!, P]);
    const cols = im2col(sc, g, kRows);
    // (cols · aᵀ), so the operand laid out transposed is a (A rows), not the columns (kRows rows)
    const prod = matmul(cols, a3, { transB: true }); // [nc, kRows, A]
    parts.push(sum(prod, 0));
    for (const t of new Set([a3, cols, prod, ...(ac !== a ? [ac] : []), ...(sc !== src ? [sc] : [])])) t.dispose();
  }
  let total = parts[0]!;
  for (const t of parts.slice(1)) {
    const next = add(total, t);
    total.dispose();
    t.dispose();
    total = next;
  }
  const cut = kRows === K ? total : slice(total, 0, 0, K);
  const out = transpose(cut);
  for (const t of new Set([total, cut])) t.dispose();
  return out;
}

type SpatialOpts = { stride: number[]; padding: number[]; dilation: number[] };

/** patchProduct(a, src, g) (a weight gradient) in the weight's shape. */
function weightGrad(a: Tensor, src: Tensor, g: ConvGeometry, shape: readonly number[]): Tensor {
  const flat = patchProduct(a, src, g);
  const r = reshape(flat, shape);
  flat.dispose();
  return r;
}

/**
 * The backward rule of y = conv(x, w) with geometry g, whichever kernel ran it: to x the transposed convolution of
 * gy, to w the patch product of gy with x.
 */
const convRule = (g: ConvGeometry): BackwardRule => (gy, [xx, ww], needs) =>
  [needs[0] ? convTFit(g.nd, gy, ww!, spatialOpts(g), xx!) : null, needs[1] ? weightGrad(gy, xx!, g, ww!.shape) : null];

/**
 * The backward rule of y = convTranspose(x, w) (geometry gt; g is the forward conv from y's grid onto x's): to x
 * the forward convolution with the same geometry (w read as [Cout = Ci, Cin = Co, k]), to w the patch product of x
 * with gy ([Ci, Co·kvol]).
 */
const convTRule = (g: ConvGeometry, gt: ConvGeometry): BackwardRule => (gy, [xx, ww], needs) =>
  [needs[0] ? convCut(gt.nd, gy, ww!, spatialOpts(gt), xx!) : null, needs[1] ? weightGrad(xx!, gy, g, ww!.shape) : null];

/**
 * conv(x, w) cut to the spatial size of `like`: the adjoint of a transposed conv whose outputPadding reached past
 * the stride (allowed below the dilation) has extra rows that no input feeds.
 */
function convCut(nd: number, x: Tensor, w: Tensor, o: SpatialOpts, like: Tensor): Tensor {
  let y = convNd(nd === 2 ? 'conv2d' : 'conv3d', nd, x, w, null, o);
  for (let i = 0; i < nd; i++) {
    if (y.shape[2 + i]! > like.shape[2 + i]!) {
      const cut: Tensor = slice(y, 2 + i, 0, like.shape[2 + i]!);
      y.dispose();
      y = cut;
    }
  }
  return y;
}

/** convTranspose(x, w) with the outputPadding that gives the spatial size of `like` (a conv input's adjoint). */
function convTFit(nd: number, x: Tensor, w: Tensor, o: SpatialOpts, like: Tensor): Tensor {
  const k = w.shape.slice(2);
  const outputPadding = like.shape.slice(2).map((n, i) => n - ((x.shape[2 + i]! - 1) * o.stride[i]! - 2 * o.padding[i]! + o.dilation[i]! * (k[i]! - 1) + 1));
  return convTransposeNd(nd === 2 ? 'convTranspose2d' : 'convTranspose3d', nd, x, w, null, { ...o, outputPadding });
}

/** The spatial stride, padding and dilation of g (its last nd entries). */
const spatialOpts = (g: ConvGeometry): SpatialOpts => ({ stride: g.stride.slice(3 - g.nd), padding: g.padding.slice(3 - g.nd), dilation: g.dilation.slice(3 - g.nd) });

/** Output rows per workgroup of patch_product (a chunk; the chunks' partial sums are added by a sum). */
const PATCH_ROWS = 64;

/**
 * patchProduct by kernels/conv_direct.wgsl's patch_product, for an A side of at most 4 channels: [A, B·kvol].
 * Differentiable: w.r.t. a it is the convolution of src with the incoming gradient as weights, w.r.t. src the
 * transposed convolution of a with them.
 */
function patchProductDirect(a: Tensor, src: Tensor, g: ConvGeometry): Tensor {
  const [N, A] = a.shape as [number, number];
  const B = g.channels;
  const kvol = numel(g.kernel);
  const chunks = Math.ceil((N * g.outSize[0] * g.outSize[1]) / PATCH_ROWS);
  const partial = empty([chunks, B * kvol, 4], 'patchProduct');
  // patch_product2 puts the B·KD·KH taps on one workgroup's lanes (at most 256 invocations)
  const taps = B * g.kernel[0] * g.kernel[1];
  const pairs = stride2Pairs(g) && taps <= 256;
  engine().dispatch({
    kernel: 'conv_direct', entry: pairs ? 'patch_product2' : 'patch_product', params: directParams(g, g.inSize, [B, A, N]),
    buffers: [a.buffer, src.buffer, partial.buffer], bindings: pairs ? [4, 1, 6] : [4, 5, 6],
    constants: { ...directConstants(g, PATCH_ROWS), ...(pairs ? { PW2: g.padding[2], AC: A, WG: Math.ceil(taps / 8) * 8 } : {}) },
    grid: pairs ? [chunks, 1, 1] : [chunks, taps, 1],
    label: `patchProduct ${fmt(a.shape)} x ${fmt(src.shape)} k${fmt(g.kernel)} s${fmt(g.stride)}`,
  });
  const total = sum(partial, 0); // [B·kvol, 4]
  partial.dispose();
  const t = transpose(total);
  total.dispose();
  const out = A === 4 ? t : slice(t, 0, 0, A);
  if (out !== t) t.dispose();
  return record(out, 'patchProduct', [a, src], (gy, [aa, ss], needs) => {
    const o = spatialOpts(g);
    const wG = reshape(gy, [A, B, ...g.kernel.slice(3 - g.nd)]);
    // w.r.t. a: Σ_{b,k} gy[a, b, k] · src[n, b, o·S − P + k·Dil], the convolution of src with gy as weights;
    // w.r.t. src: the transposed convolution of a with them
    return [needs[0] ? convCut(g.nd, ss!, wG, o, aa!) : null, needs[1] ? convTFit(g.nd, aa!, wG, o, ss!) : null];
  });
}

function launchDirect(entry: 'conv_direct' | 'convt_direct', x: Tensor, packed: Tensor, g: ConvGeometry, Co: number, outShape: number[]): Tensor {
  const N = x.shape[0]!;
  const y = empty(outShape, entry);
  const SW = g.stride[2];
  const OW = g.outSize[2];
  const quads = entry === 'convt_direct' ? stride2Quads(g) : stride2Pairs(g);
  const name = quads ? `${entry}2` : entry;
  // conv_direct2 takes two channel groups per workgroup where there are two (its weight share spans 2·KW lanes)
  const pair = entry === 'conv_direct' && quads && Co > 4 && 2 * g.kernel[2] <= 8;
  const groups = pair ? Math.ceil(Co / 8) : Math.ceil(Co / 4);
  // what a row's lanes walk (32 per workgroup): outputs (conv_direct, in quads for conv_direct2), the outputs of one
  // phase along W with a grid slice per phase (convt_direct), or input columns in quads that serve both phases
  // (convt_direct2)
  const [cols, phases] = entry === 'conv_direct' ? [OW, 1] : quads ? [g.inSize[2], 1] : [Math.ceil(OW / SW), SW];
  engine().dispatch({
    kernel: 'conv_direct', entry: name,
    constants: {
      ...directConstants(g, DIRECT_ROWS), ...(quads ? { PW2: g.padding[2] } : {}), ...(pair ? { PAIR: 1 } : {}),
      ...(quads ? { CO: pair ? 4 : Math.min(Co, 4) } : {}),
    },
    params: directParams(g, to3(x.shape.slice(2), 1), [x.shape[1]!, groups, Co]),
    buffers: [x.buffer, packed.buffer, y.buffer],
    grid: [Math.ceil(cols / 32), g.outSize[0] * Math.ceil(g.outSize[1] / DIRECT_ROWS), N * groups * phases],
    label: `${name} ${fmt(x.shape)} to ${fmt(outShape)} k${fmt(g.kernel)} s${fmt(g.stride)} p${fmt(g.padding)} d${fmt(g.dilation)}`,
  });
  return y;
}

/**
 * Whether convt_direct2 (vec4 rows, both W phases per lane) applies to the transposed conv with geometry g: stride 2
 * and no dilation along W, input rows of a multiple of 4, output rows exactly twice as long, and every tap's shift
 * c = (pw + PW − kw) / 2 within ±1 (k 3 or 4 with padding 1, as in DTVNet).
 */
function stride2Quads(g: ConvGeometry): boolean {
  const [W, PW, KW] = [g.inSize[2], g.padding[2], g.kernel[2]];
  // c = ceil((PW − kw) / 2) falls as kw grows: its largest value is at kw = 0, its smallest at kw = KW − 1
  return g.stride[2] === 2 && g.dilation[2] === 1 && W % 4 === 0 && g.outSize[2] === 2 * W &&
    Math.ceil(PW / 2) <= 1 && Math.ceil((PW - KW + 1) / 2) >= -1;
}

/**
 * Whether conv_direct2 and patch_product2 (outputs in quads, the input row read as vec4s) apply to the conv with
 * geometry g: stride 2 and no dilation along W, output rows of a multiple of 4, input rows exactly twice as long, and
 * every tap within one column of a quad's 8 inputs (padding at most 1, kernel at most padding + 3: k 2 with padding
 * 0, k 3 or 4 with padding 1, as in the critic's first layer and the gradients of DTVNet's last one).
 */
function stride2Pairs(g: ConvGeometry): boolean {
  const [W, OW, PW, KW] = [g.inSize[2], g.outSize[2], g.padding[2], g.kernel[2]];
  return g.stride[2] === 2 && g.dilation[2] === 1 && OW % 4 === 0 && W === 2 * OW && PW <= 1 && KW - PW <= 3;
}

/** conv(x, w) by the direct kernel; gradients: the transposed conv (to x) and patchProduct (to w). */
function convDirect(x: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  const [N, Co] = [x.shape[0]!, w.shape[0]!];
  const packed = packDirect(w);
  const y = launchDirect('conv_direct', x, packed, g, Co, [N, Co, ...g.outSize.slice(3 - g.nd)]);
  packed.dispose();
  return record(y, 'convDirect', [x, w], convRule(g));
}

/** convTranspose(x, w) (w [Ci, Co, ...k]) by the direct kernel; g is the forward conv from the output onto x's grid. */
function convTransposeDirect(x: Tensor, w: Tensor, gt: ConvGeometry, g: ConvGeometry): Tensor {
  const N = x.shape[0]!;
  const Co = w.shape[1]!;
  const wT = permute(w, [1, 0, ...w.shape.slice(2).map((_, i) => 2 + i)]);
  const packed = packDirect(wT);
  wT.dispose();
  const y = launchDirect('convt_direct', x, packed, gt, Co, [N, Co, ...gt.outSize.slice(3 - gt.nd)]);
  packed.dispose();
  return record(y, 'convTransposeDirect', [x, w], convTRule(g, gt));
}

/** 2-D convolution (PyTorch Conv2d): x [N, Cin, H, W], w [Cout, Cin, kH, kW], optional bias [Cout]. */
export const conv2d = (x: Tensor, w: Tensor, b?: Tensor | null, opts: ConvOptions = {}) => convNd('conv2d', 2, x, w, b, opts);
/** 3-D convolution (PyTorch Conv3d): x [N, Cin, D, H, W], w [Cout, Cin, kD, kH, kW]. */
export const conv3d = (x: Tensor, w: Tensor, b?: Tensor | null, opts: ConvOptions = {}) => convNd('conv3d', 3, x, w, b, opts);
/** 2-D transposed convolution (PyTorch ConvTranspose2d): w [Cin, Cout, kH, kW]. */
export const convTranspose2d = (x: Tensor, w: Tensor, b?: Tensor | null, opts: ConvTransposeOptions = {}) => convTransposeNd('convTranspose2d', 2, x, w, b, opts);
/** 3-D transposed convolution (PyTorch ConvTranspose3d): w [Cin, Cout, kD, kH, kW]. */
export const convTranspose3d = (x: Tensor, w: Tensor, b?: Tensor | null, opts: ConvTransposeOptions = {}) => convTransposeNd('convTranspose3d', 3, x, w, b, opts);
