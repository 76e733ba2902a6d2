// Float64 CPU reference of the neural-network ops (convolutions, padding,
// normalisation, AdaIN, warping, resizing, pooling, correlation, losses),
// used as ground truth for the GPU kernels. Like reference.ts it shares no
// code with src/: plain loops over flat row-major indices.
//
// Conventions (see shared/spec/FLOW.md, DTVNET.md):
// - Tensors are [N, C, ...spatial], contiguous, row-major.
// - Convolutions follow PyTorch (cross-correlation, zero padding, groups = 1).
// - pad(): `pads` lists [before, after] pairs starting at the FIRST padded dim
//   and ending at the last dim. For [N, C, H, W] and pads of length 4 that is
//   [top, bottom, left, right]. (PyTorch's F.pad lists the LAST dim first.)
// - AdaIN: out = gamma[n, c] * IN(x) + beta[n, c]. DTVNET.md §3 defines
//   `out = γ ⊙ IN(x) + β` with γ taken straight from an EqualLinear whose bias
//   starts at 1; the "+1" lives in that bias init, not in the op, so the op
//   multiplies by gamma itself (not by 1 + gamma).
// - warp(): FLOW.md §4, flow in pixels, channel 0 = x (columns), pixel centres
//   at integer coordinates (align-corners convention).
// - Every nnVjp entry takes (gy, ...same args as the forward) and returns one
//   gradient per tensor input that can receive one, in argument order, with that
//   input's shape. Optional tensors (bias, weight) that are null get no entry.
//   batchNormEval returns no gradients for its running statistics (buffers).

import { RT } from './reference.js';

// ---------------------------------------------------------------------------
// Validation and index helpers (private)
// ---------------------------------------------------------------------------

function fmt(shape: readonly number[]): string {
  return '[' + shape.join(',') + ']';
}

function prod(shape: readonly number[]): number {
  let p = 1;
  for (let i = 0; i < shape.length; i++) p *= shape[i];
  return p;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkRT(op: string, name: string, x: unknown): asserts x is RT {
  if (!(x instanceof RT)) throw new Error(`${op}: ${name} must be an RT`);
}

/** Accepts null/undefined (absent) or an RT. */
function checkOptRT(op: string, name: string, x: unknown): asserts x is RT | null | undefined {
  if (x !== null && x !== undefined && !(x instanceof RT)) {
    throw new Error(`${op}: ${name} must be an RT or null`);
  }
}

function checkNumber(op: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(`${op}: ${name} must be a finite number, got ${String(v)}`);
  }
}

function checkPosInt(op: string, name: string, v: unknown, ctx: string): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new Error(`${op}: ${name} must be a positive integer, got ${String(v)} (${ctx})`);
  }
}

function checkEps(op: string, eps: unknown): asserts eps is number {
  checkNumber(op, 'eps', eps);
  if (eps < 0) throw new Error(`${op}: eps must be >= 0, got ${eps}`);
}

/** Checks the upstream gradient of a vjp against the forward output shape. */
function checkGy(op: string, gy: unknown, outShape: readonly number[]): asserts gy is RT {
  checkRT(`nnVjp.${op}`, 'gy', gy);
  if (!sameShape(gy.shape, outShape)) {
    throw new Error(
      `nnVjp.${op}: gy shape ${fmt(gy.shape)} does not match forward output shape ${fmt(outShape)}`,
    );
  }
}

function mk(shape: readonly number[], data: Float64Array): RT {
  return new RT([...shape], data);
}

/** Multi-index of flat index `flat` in `shape`, written into `out`. */
function unravel(flat: number, shape: readonly number[], out: number[]): void {
  let rem = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const i = rem % shape[d];
    out[d] = i;
    rem = (rem - i) / shape[d];
  }
}

function shapeDesc(parts: Array<[string, RT | null | undefined]>): string {
  return parts
    .filter((p): p is [string, RT] => p[1] instanceof RT)
    .map(([n, t]) => `${n} ${fmt(t.shape)}`)
    .join(', ');
}

// ---------------------------------------------------------------------------
// Convolution geometry
// ---------------------------------------------------------------------------

export interface ConvOptions {
  /** One entry per spatial dim (or one number for all); default 1. */
  stride?: number | number[];
  /** Zero padding on both sides of each spatial dim; default 0. */
  padding?: number | number[];
  /** Default 1. */
  dilation?: number | number[];
}

export interface ConvTransposeOptions extends ConvOptions {
  /** Extra size added to one side of each output dim; default 0, must be < max(stride, dilation). */
  outputPadding?: number | number[];
}

function spatialArg(
  op: string,
  name: string,
  v: unknown,
  nd: number,
  dflt: number,
  min: number,
  desc: string,
): number[] {
  if (v === undefined) return new Array<number>(nd).fill(dflt);
  const arr: unknown = typeof v === 'number' ? new Array<number>(nd).fill(v) : v;
  if (!Array.isArray(arr) || arr.length !== nd) {
    throw new Error(`${op}: ${name} ${JSON.stringify(v)} must have one entry per spatial dim (${nd}) for ${desc}`);
  }
  for (const e of arr) {
    if (typeof e !== 'number' || !Number.isInteger(e) || e < min) {
      throw new Error(`${op}: ${name} ${JSON.stringify(v)} must contain integers >= ${min} for ${desc}`);
    }
  }
  return [...(arr as number[])];
}

/**
 * Tap table shared by conv and convTranspose. For every position q of the
 * small grid (conv output / convTranspose input) and every kernel offset k,
 * the flat index into the big grid (conv input / convTranspose output) of
 * position q*s - p + k*d, or -1 when it falls outside (zero padding).
 */
function buildTaps(
  big: readonly number[],
  small: readonly number[],
  K: readonly number[],
  s: readonly number[],
  p: readonly number[],
  d: readonly number[],
): Int32Array {
  const nd = big.length;
  const ss = prod(small);
  const ks = prod(K);
  const taps = new Int32Array(ss * ks);
  const qi: number[] = new Array<number>(nd).fill(0);
  const ki: number[] = new Array<number>(nd).fill(0);
  for (let q = 0; q < ss; q++) {
    unravel(q, small, qi);
    for (let k = 0; k < ks; k++) {
      unravel(k, K, ki);
      let flat = 0;
      for (let a = 0; a < nd; a++) {
        const pos = qi[a] * s[a] - p[a] + ki[a] * d[a];
        if (pos < 0 || pos >= big[a]) {
          flat = -1;
          break;
        }
        flat = flat * big[a] + pos;
      }
      taps[q * ks + k] = flat;
    }
  }
  return taps;
}

interface ConvGeom {
  N: number;
  Ci: number; // channels of x
  Co: number; // channels of the output
  bigSize: number; // spatial size of the big grid
  smallSize: number; // spatial size of the small grid
  kSize: number;
  taps: Int32Array;
  outShape: number[];
}

function checkOpts(op: string, opts: unknown): asserts opts is Record<string, unknown> {
  if (opts === null || typeof opts !== 'object') throw new Error(`${op}: options must be an object`);
}

function convGeom(op: string, x: RT, w: RT, b: RT | null | undefined, opts: ConvOptions): ConvGeom {
  checkRT(op, 'x', x);
  checkRT(op, 'w', w);
  checkOptRT(op, 'b', b);
  checkOpts(op, opts);
  const desc = shapeDesc([['x', x], ['w', w], ['b', b]]);
  const rank = x.shape.length;
  if (rank < 3) throw new Error(`${op}: x must be [N, C, ...spatial] with at least one spatial dim, got ${desc}`);
  if (w.shape.length !== rank) throw new Error(`${op}: w must have the rank of x ([Co, Ci, ...k]), got ${desc}`);
  const nd = rank - 2;
  const [N, Ci] = x.shape;
  const Co = w.shape[0];
  if (w.shape[1] !== Ci) throw new Error(`${op}: channel mismatch, x has ${Ci} channels but w expects ${w.shape[1]} (${desc})`);
  if (b && (b.shape.length !== 1 || b.shape[0] !== Co)) throw new Error(`${op}: b must be [${Co}], got ${desc}`);
  const s = spatialArg(op, 'stride', opts.stride, nd, 1, 1, desc);
  const p = spatialArg(op, 'padding', opts.padding, nd, 0, 0, desc);
  const d = spatialArg(op, 'dilation', opts.dilation, nd, 1, 1, desc);
  const X = x.shape.slice(2);
  const K = w.shape.slice(2);
  const Q: number[] = [];
  for (let a = 0; a < nd; a++) {
    if (K[a] < 1) throw new Error(`${op}: kernel size must be >= 1 in every spatial dim, got ${desc}`);
    if (X[a] < 1) throw new Error(`${op}: spatial dims of x must be >= 1, got ${desc}`);
    const extent = d[a] * (K[a] - 1) + 1;
    const padded = X[a] + 2 * p[a];
    if (padded < extent) {
      throw new Error(
        `${op}: kernel extent ${extent} larger than padded input ${padded} in spatial dim ${a} (${desc}, padding ${fmt(p)}, dilation ${fmt(d)})`,
      );
    }
    Q.push(Math.floor((padded - extent) / s[a]) + 1);
  }
  return {
    N,
    Ci,
    Co,
    bigSize: prod(X),
    smallSize: prod(Q),
    kSize: prod(K),
    taps: buildTaps(X, Q, K, s, p, d),
    outShape: [N, Co, ...Q],
  };
}

function convTransposeGeom(op: string, x: RT, w: RT, b: RT | null | undefined, opts: ConvTransposeOptions): ConvGeom {
  checkRT(op, 'x', x);
  checkRT(op, 'w', w);
  checkOptRT(op, 'b', b);
  checkOpts(op, opts);
  const desc = shapeDesc([['x', x], ['w', w], ['b', b]]);
  const rank = x.shape.length;
  if (rank < 3) throw new Error(`${op}: x must be [N, C, ...spatial] with at least one spatial dim, got ${desc}`);
  if (w.shape.length !== rank) throw new Error(`${op}: w must have the rank of x ([Ci, Co, ...k]), got ${desc}`);
  const nd = rank - 2;
  const [N, Ci] = x.shape;
  const Co = w.shape[1];
  if (w.shape[0] !== Ci) throw new Error(`${op}: channel mismatch, x has ${Ci} channels but w expects ${w.shape[0]} (${desc})`);
  if (b && (b.shape.length !== 1 || b.shape[0] !== Co)) throw new Error(`${op}: b must be [${Co}], got ${desc}`);
  const s = spatialArg(op, 'stride', opts.stride, nd, 1, 1, desc);
  const p = spatialArg(op, 'padding', opts.padding, nd, 0, 0, desc);
  const d = spatialArg(op, 'dilation', opts.dilation, nd, 1, 1, desc);
  const op_ = spatialArg(op, 'outputPadding', opts.outputPadding, nd, 0, 0, desc);
  const S = x.shape.slice(2);
  const K = w.shape.slice(2);
  const O: number[] = [];
  for (let a = 0; a < nd; a++) {
    if (K[a] < 1) throw new Error(`${op}: kernel size must be >= 1 in every spatial dim, got ${desc}`);
    if (S[a] < 1) throw new Error(`${op}: spatial dims of x must be >= 1, got ${desc}`);
    if (op_[a] >= Math.max(s[a], d[a])) {
      throw new Error(
        `${op}: outputPadding ${fmt(op_)} must be smaller than stride ${fmt(s)} or dilation ${fmt(d)} in every dim (${desc})`,
      );
    }
    const o = (S[a] - 1) * s[a] - 2 * p[a] + d[a] * (K[a] - 1) + op_[a] + 1;
    if (o < 1) {
      throw new Error(`${op}: output size ${o} < 1 in spatial dim ${a} (${desc}, padding ${fmt(p)})`);
    }
    O.push(o);
  }
  return {
    N,
    Ci,
    Co,
    bigSize: prod(O),
    smallSize: prod(S),
    kSize: prod(K),
    taps: buildTaps(O, S, K, s, p, d),
    outShape: [N, Co, ...O],
  };
}

/** N-d convolution (cross-correlation): x [N, Ci, ...X], w [Co, Ci, ...K], b [Co] or null. */
function conv(x: RT, w: RT, b: RT | null, opts: ConvOptions = {}): RT {
  const g = convGeom('conv', x, w, b, opts);
  const { N, Ci, Co, bigSize, smallSize, kSize, taps } = g;
  const y = new Float64Array(prod(g.outShape));
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Co; o++) {
      for (let q = 0; q < smallSize; q++) {
        let acc = b ? b.data[o] : 0;
        for (let i = 0; i < Ci; i++) {
          const xb = (n * Ci + i) * bigSize;
          const wb = (o * Ci + i) * kSize;
          for (let k = 0; k < kSize; k++) {
            const t = taps[q * kSize + k];
            if (t >= 0) acc += w.data[wb + k] * x.data[xb + t];
          }
        }
        y[(n * Co + o) * smallSize + q] = acc;
      }
    }
  }
  return mk(g.outShape, y);
}

/** Transposed convolution: x [N, Ci, ...S], w [Ci, Co, ...K], b [Co] or null. */
function convTranspose(x: RT, w: RT, b: RT | null, opts: ConvTransposeOptions = {}): RT {
  const g = convTransposeGeom('convTranspose', x, w, b, opts);
  const { N, Ci, Co, bigSize, smallSize, kSize, taps } = g;
  const y = new Float64Array(prod(g.outShape));
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Co; o++) {
      const yb = (n * Co + o) * bigSize;
      if (b) for (let t = 0; t < bigSize; t++) y[yb + t] = b.data[o];
      for (let i = 0; i < Ci; i++) {
        const xb = (n * Ci + i) * smallSize;
        const wb = (i * Co + o) * kSize;
        for (let q = 0; q < smallSize; q++) {
          const xv = x.data[xb + q];
          for (let k = 0; k < kSize; k++) {
            const t = taps[q * kSize + k];
            if (t >= 0) y[yb + t] += xv * w.data[wb + k];
          }
        }
      }
    }
  }
  return mk(g.outShape, y);
}

// ---------------------------------------------------------------------------
// Padding
// ---------------------------------------------------------------------------

export type PadMode = 'zeros' | 'reflect';

/** Flat source index in x of every output element, -1 for a zero. */
function padInfo(op: string, x: RT, pads: number[], mode: PadMode): { shape: number[]; src: Int32Array } {
  checkRT(op, 'x', x);
  const rank = x.shape.length;
  if (!Array.isArray(pads) || pads.length % 2 !== 0 || pads.length / 2 > rank) {
    throw new Error(
      `${op}: pads ${JSON.stringify(pads)} must be [before, after] pairs for at most ${rank} dims of x ${fmt(x.shape)}`,
    );
  }
  if (mode !== 'zeros' && mode !== 'reflect') {
    throw new Error(`${op}: mode must be 'zeros' or 'reflect', got ${String(mode)} (x ${fmt(x.shape)})`);
  }
  for (const v of pads) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new Error(`${op}: pads ${JSON.stringify(pads)} must be non-negative integers (x ${fmt(x.shape)})`);
    }
  }
  const first = rank - pads.length / 2;
  const shape = [...x.shape];
  const maps: Int32Array[] = [];
  for (let d = 0; d < rank; d++) {
    const S = x.shape[d];
    const before = d >= first ? pads[2 * (d - first)] : 0;
    const after = d >= first ? pads[2 * (d - first) + 1] : 0;
    if (mode === 'reflect' && (before > S - 1 || after > S - 1) && before + after > 0) {
      throw new Error(
        `${op}: reflect padding (${before}, ${after}) must be smaller than dim ${d} of size ${S} (x ${fmt(x.shape)}, pads ${JSON.stringify(pads)})`,
      );
    }
    const len = S + before + after;
    shape[d] = len;
    const m = new Int32Array(len);
    for (let o = 0; o < len; o++) {
      let i = o - before;
      if (mode === 'reflect') {
        if (i < 0) i = -i;
        else if (i >= S) i = 2 * (S - 1) - i;
      } else if (i < 0 || i >= S) {
        i = -1;
      }
      m[o] = i;
    }
    maps.push(m);
  }
  const total = prod(shape);
  const src = new Int32Array(total);
  const idx: number[] = new Array<number>(rank).fill(0);
  for (let o = 0; o < total; o++) {
    unravel(o, shape, idx);
    let flat = 0;
    for (let d = 0; d < rank; d++) {
      const i = maps[d][idx[d]];
      if (i < 0) {
        flat = -1;
        break;
      }
      flat = flat * x.shape[d] + i;
    }
    src[o] = flat;
  }
  return { shape, src };
}

/**
 * Pads the last pads.length/2 dims. pads = [before_0, after_0, before_1, after_1, ...]
 * where dim 0 is the FIRST padded dim (e.g. [top, bottom, left, right] for the
 * last two dims of [N, C, H, W]). 'reflect' mirrors without repeating the edge
 * (PyTorch ReflectionPad) and needs every pad < that dim's size.
 */
function pad(x: RT, pads: number[], mode: PadMode = 'zeros'): RT {
  const p = padInfo('pad', x, pads, mode);
  const y = new Float64Array(p.src.length);
  for (let o = 0; o < y.length; o++) if (p.src[o] >= 0) y[o] = x.data[p.src[o]];
  return mk(p.shape, y);
}

// ---------------------------------------------------------------------------
// Normalisation: shared per-group statistics
// ---------------------------------------------------------------------------

interface GroupStats {
  count: Float64Array;
  mean: Float64Array;
  variance: Float64Array; // biased
  r: Float64Array; // 1 / sqrt(var + eps)
  z: Float64Array; // (x - mean) * r, per element
}

function groupStats(x: Float64Array, group: (i: number) => number, G: number, eps: number): GroupStats {
  const count = new Float64Array(G);
  const mean = new Float64Array(G);
  const variance = new Float64Array(G);
  for (let i = 0; i < x.length; i++) {
    const g = group(i);
    count[g] += 1;
    mean[g] += x[i];
  }
  for (let g = 0; g < G; g++) mean[g] /= count[g];
  for (let i = 0; i < x.length; i++) {
    const dlt = x[i] - mean[group(i)];
    variance[group(i)] += dlt * dlt;
  }
  const r = new Float64Array(G);
  for (let g = 0; g < G; g++) {
    variance[g] /= count[g];
    r[g] = 1 / Math.sqrt(variance[g] + eps);
  }
  const z = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const g = group(i);
    z[i] = (x[i] - mean[g]) * r[g];
  }
  return { count, mean, variance, r, z };
}

/** Backward of z = (x - mean) * r with batch statistics: r (gz - mean(gz) - z mean(gz z)). */
function groupNormBackward(gz: Float64Array, st: GroupStats, group: (i: number) => number, G: number): Float64Array {
  const s1 = new Float64Array(G);
  const s2 = new Float64Array(G);
  for (let i = 0; i < gz.length; i++) {
    const g = group(i);
    s1[g] += gz[i];
    s2[g] += gz[i] * st.z[i];
  }
  const gx = new Float64Array(gz.length);
  for (let i = 0; i < gz.length; i++) {
    const g = group(i);
    gx[i] = st.r[g] * (gz[i] - s1[g] / st.count[g] - (st.z[i] * s2[g]) / st.count[g]);
  }
  return gx;
}

function checkChannelVec(op: string, name: string, v: RT | null | undefined, C: number, desc: string): void {
  checkOptRT(op, name, v);
  if (v && (v.shape.length !== 1 || v.shape[0] !== C)) {
    throw new Error(`${op}: ${name} must be [${C}] (one value per channel), got ${desc}`);
  }
}

interface NormInfo {
  N: number;
  C: number;
  M: number; // elements per (n, c) plane
}

function inInfo(op: string, x: RT, eps: number, weight: RT | null | undefined, bias: RT | null | undefined): NormInfo {
  checkRT(op, 'x', x);
  const desc = shapeDesc([['x', x], ['weight', weight], ['bias', bias]]);
  if (x.shape.length < 3) throw new Error(`${op}: x must be [N, C, ...spatial] (rank >= 3), got ${desc}`);
  checkEps(op, eps);
  const C = x.shape[1];
  checkChannelVec(op, 'weight', weight, C, desc);
  checkChannelVec(op, 'bias', bias, C, desc);
  return { N: x.shape[0], C, M: prod(x.shape.slice(2)) };
}

/**
 * InstanceNorm (PyTorch InstanceNorm1d/2d/3d): per (n, c) over all spatial
 * dims, biased variance, y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c].
 */
function instanceNorm(x: RT, eps = 1e-5, weight: RT | null = null, bias: RT | null = null): RT {
  const { N, C, M } = inInfo('instanceNorm', x, eps, weight, bias);
  const group = (i: number): number => Math.floor(i / M);
  const st = groupStats(x.data, group, N * C, eps);
  const y = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const c = group(i) % C;
    y[i] = st.z[i] * (weight ? weight.data[c] : 1) + (bias ? bias.data[c] : 0);
  }
  return mk(x.shape, y);
}

function bnInfo(op: string, x: RT, weight: RT | null | undefined, bias: RT | null | undefined, eps: number): NormInfo {
  checkRT(op, 'x', x);
  const desc = shapeDesc([['x', x], ['weight', weight], ['bias', bias]]);
  if (x.shape.length < 2) throw new Error(`${op}: x must be [N, C, ...spatial] (rank >= 2), got ${desc}`);
  checkEps(op, eps);
  const C = x.shape[1];
  checkChannelVec(op, 'weight', weight, C, desc);
  checkChannelVec(op, 'bias', bias, C, desc);
  return { N: x.shape[0], C, M: prod(x.shape.slice(2)) };
}

/**
 * BatchNorm in training mode: per channel over N and all spatial dims, biased
 * variance. Like PyTorch it needs more than one value per channel.
 */
function batchNormTrain(x: RT, weight: RT | null, bias: RT | null, eps = 1e-5): RT {
  const { N, C, M } = bnInfo('batchNormTrain', x, weight, bias, eps);
  if (N * M <= 1) {
    throw new Error(`batchNormTrain: expected more than 1 value per channel, got x ${fmt(x.shape)}`);
  }
  const group = (i: number): number => Math.floor(i / M) % C;
  const st = groupStats(x.data, group, C, eps);
  const y = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const c = group(i);
    y[i] = st.z[i] * (weight ? weight.data[c] : 1) + (bias ? bias.data[c] : 0);
  }
  return mk(x.shape, y);
}

export interface BatchStats {
  mean: RT; // [C]
  variance: RT; // [C], biased (used for normalisation)
  unbiasedVariance: RT; // [C], divides by count - 1 (used for running_var updates)
}

/** Batch statistics per channel (over N and spatial), as BatchNorm's training mode computes them. */
export function batchNormStats(x: RT): BatchStats {
  const { N, C, M } = bnInfo('batchNormStats', x, null, null, 0);
  if (N * M <= 1) {
    throw new Error(`batchNormStats: expected more than 1 value per channel, got x ${fmt(x.shape)}`);
  }
  const st = groupStats(x.data, (i) => Math.floor(i / M) % C, C, 0);
  const unb = new Float64Array(C);
  for (let c = 0; c < C; c++) unb[c] = (st.variance[c] * st.count[c]) / (st.count[c] - 1);
  return {
    mean: mk([C], Float64Array.from(st.mean)),
    variance: mk([C], Float64Array.from(st.variance)),
    unbiasedVariance: mk([C], unb),
  };
}

function bnEvalInfo(
  op: string,
  x: RT,
  runningMean: RT,
  runningVar: RT,
  weight: RT | null | undefined,
  bias: RT | null | undefined,
  eps: number,
): NormInfo & { inv: Float64Array } {
  const info = bnInfo(op, x, weight, bias, eps);
  checkRT(op, 'runningMean', runningMean);
  checkRT(op, 'runningVar', runningVar);
  const desc = shapeDesc([
    ['x', x],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ]);
  checkChannelVec(op, 'runningMean', runningMean, info.C, desc);
  checkChannelVec(op, 'runningVar', runningVar, info.C, desc);
  const inv = new Float64Array(info.C);
  for (let c = 0; c < info.C; c++) {
    const v = runningVar.data[c] + eps;
    if (!(v > 0)) throw new Error(`${op}: runningVar + eps must be > 0 (channel ${c}: ${v}), ${desc}`);
    inv[c] = 1 / Math.sqrt(v);
  }
  return { ...info, inv };
}

/** BatchNorm in eval mode: y = (x - runningMean[c]) / sqrt(runningVar[c] + eps) * weight[c] + bias[c]. */
function batchNormEval(
  x: RT,
  runningMean: RT,
  runningVar: RT,
  weight: RT | null,
  bias: RT | null,
  eps = 1e-5,
): RT {
  const { C, M, inv } = bnEvalInfo('batchNormEval', x, runningMean, runningVar, weight, bias, eps);
  const y = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const c = Math.floor(i / M) % C;
    const z = (x.data[i] - runningMean.data[c]) * inv[c];
    y[i] = z * (weight ? weight.data[c] : 1) + (bias ? bias.data[c] : 0);
  }
  return mk(x.shape, y);
}

function adainInfo(op: string, x: RT, gamma: RT, beta: RT, eps: number): NormInfo {
  checkRT(op, 'x', x);
  checkRT(op, 'gamma', gamma);
  checkRT(op, 'beta', beta);
  const desc = shapeDesc([['x', x], ['gamma', gamma], ['beta', beta]]);
  if (x.shape.length < 3) throw new Error(`${op}: x must be [N, C, ...spatial] (rank >= 3), got ${desc}`);
  checkEps(op, eps);
  const NC = [x.shape[0], x.shape[1]];
  if (!sameShape(gamma.shape, NC) || !sameShape(beta.shape, NC)) {
    throw new Error(`${op}: gamma and beta must be ${fmt(NC)} ([N, C] of x), got ${desc}`);
  }
  return { N: NC[0], C: NC[1], M: prod(x.shape.slice(2)) };
}

/**
 * AdaIN (DTVNET.md §3): out = gamma[n, c] * IN(x) + beta[n, c], IN without
 * affine, biased variance. gamma multiplies directly (the spec's "+1" is the
 * EqualLinear bias initialisation that produces gamma, not part of the op).
 */
function adain(x: RT, gamma: RT, beta: RT, eps = 1e-5): RT {
  const { N, C, M } = adainInfo('adain', x, gamma, beta, eps);
  const group = (i: number): number => Math.floor(i / M);
  const st = groupStats(x.data, group, N * C, eps);
  const y = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const g = group(i);
    y[i] = gamma.data[g] * st.z[i] + beta.data[g];
  }
  return mk(x.shape, y);
}

// ---------------------------------------------------------------------------
// Bilinear warping (FLOW.md §4)
// ---------------------------------------------------------------------------

export type WarpPadding = 'border' | 'zeros';

interface Taps {
  idx: Int32Array; // 4 flat spatial indices (y * W + x), -1 = dropped tap
  wt: Float64Array; // bilinear weights
  dwx: Float64Array; // d weight / d px (0 in a clamped direction)
  dwy: Float64Array; // d weight / d py
}

function newTaps(): Taps {
  return { idx: new Int32Array(4), wt: new Float64Array(4), dwx: new Float64Array(4), dwy: new Float64Array(4) };
}

/** The four bilinear taps of sample point (px, py), taps order (x0,y0), (x1,y0), (x0,y1), (x1,y1). */
function bilinearTaps(px: number, py: number, H: number, W: number, border: boolean, t: Taps): void {
  let cx = px;
  let cy = py;
  let onX = 1;
  let onY = 1;
  if (border) {
    if (px < 0) {
      cx = 0;
      onX = 0;
    } else if (px > W - 1) {
      cx = W - 1;
      onX = 0;
    }
    if (py < 0) {
      cy = 0;
      onY = 0;
    } else if (py > H - 1) {
      cy = H - 1;
      onY = 0;
    }
  }
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = border ? Math.min(x0 + 1, W - 1) : x0 + 1;
  const y1 = border ? Math.min(y0 + 1, H - 1) : y0 + 1;
  const ax = cx - x0;
  const ay = cy - y0;
  const xs = [x0, x1, x0, x1];
  const ys = [y0, y0, y1, y1];
  t.wt[0] = (1 - ax) * (1 - ay);
  t.wt[1] = ax * (1 - ay);
  t.wt[2] = (1 - ax) * ay;
  t.wt[3] = ax * ay;
  t.dwx[0] = -(1 - ay) * onX;
  t.dwx[1] = (1 - ay) * onX;
  t.dwx[2] = -ay * onX;
  t.dwx[3] = ay * onX;
  t.dwy[0] = -(1 - ax) * onY;
  t.dwy[1] = -ax * onY;
  t.dwy[2] = (1 - ax) * onY;
  t.dwy[3] = ax * onY;
  for (let j = 0; j < 4; j++) {
    const inside = xs[j] >= 0 && xs[j] < W && ys[j] >= 0 && ys[j] < H;
    t.idx[j] = inside ? ys[j] * W + xs[j] : -1;
  }
}

function warpInfo(op: string, img: RT, flow: RT, padding: WarpPadding): { N: number; C: number; H: number; W: number } {
  checkRT(op, 'img', img);
  checkRT(op, 'flow', flow);
  const desc = shapeDesc([['img', img], ['flow', flow]]);
  if (img.shape.length !== 4) throw new Error(`${op}: img must be [N, C, H, W], got ${desc}`);
  const [N, C, H, W] = img.shape;
  if (flow.shape.length !== 4 || flow.shape[1] !== 2) {
    throw new Error(`${op}: flow must be [N, 2, H, W] (2 channels: x, y), got ${desc}`);
  }
  if (flow.shape[0] !== N || flow.shape[2] !== H || flow.shape[3] !== W) {
    throw new Error(`${op}: flow batch/spatial dims must match img, got ${desc}`);
  }
  if (padding !== 'border' && padding !== 'zeros') {
    throw new Error(`${op}: padding must be 'border' or 'zeros', got ${String(padding)} (${desc})`);
  }
  for (let i = 0; i < flow.size; i++) {
    if (!Number.isFinite(flow.data[i])) throw new Error(`${op}: flow contains a non-finite value (${desc})`);
  }
  return { N, C, H, W };
}

/** out[n, c, y, x] = bilinear sample of img[n, c] at (x + flow[n,0,y,x], y + flow[n,1,y,x]). */
function warp(img: RT, flow: RT, padding: WarpPadding = 'border'): RT {
  const { N, C, H, W } = warpInfo('warp', img, flow, padding);
  const HW = H * W;
  const t = newTaps();
  const y = new Float64Array(img.size);
  for (let n = 0; n < N; n++) {
    for (let yy = 0; yy < H; yy++) {
      for (let xx = 0; xx < W; xx++) {
        const p = yy * W + xx;
        const px = xx + flow.data[(n * 2 + 0) * HW + p];
        const py = yy + flow.data[(n * 2 + 1) * HW + p];
        bilinearTaps(px, py, H, W, padding === 'border', t);
        for (let c = 0; c < C; c++) {
          const base = (n * C + c) * HW;
          let acc = 0;
          for (let j = 0; j < 4; j++) if (t.idx[j] >= 0) acc += t.wt[j] * img.data[base + t.idx[j]];
          y[base + p] = acc;
        }
      }
    }
  }
  return mk(img.shape, y);
}

// ---------------------------------------------------------------------------
// Resizing and pooling
// ---------------------------------------------------------------------------

interface AxisMap {
  i0: Int32Array;
  i1: Int32Array;
  lam: Float64Array; // weight of i1
}

/** PyTorch linear interpolation source indices along one axis. */
function axisMap(inN: number, outN: number, alignCorners: boolean): AxisMap {
  const i0 = new Int32Array(outN);
  const i1 = new Int32Array(outN);
  const lam = new Float64Array(outN);
  for (let j = 0; j < outN; j++) {
    let src: number;
    if (alignCorners) src = outN > 1 ? (j * (inN - 1)) / (outN - 1) : 0;
    else src = Math.max(((j + 0.5) * inN) / outN - 0.5, 0);
    const a = Math.min(Math.floor(src), inN - 1);
    i0[j] = a;
    i1[j] = a < inN - 1 ? a + 1 : a;
    lam[j] = src - a;
  }
  return { i0, i1, lam };
}

interface ResizeInfo {
  N: number;
  C: number;
  H: number;
  W: number;
  my: AxisMap;
  mx: AxisMap;
  outShape: number[];
}

function resizeInfo(op: string, x: RT, outH: number, outW: number, alignCorners: boolean): ResizeInfo {
  checkRT(op, 'x', x);
  if (x.shape.length !== 4) throw new Error(`${op}: x must be [N, C, H, W], got x ${fmt(x.shape)}`);
  const [N, C, H, W] = x.shape;
  const ctx = `x ${fmt(x.shape)}, out ${outH}x${outW}`;
  checkPosInt(op, 'outH', outH, ctx);
  checkPosInt(op, 'outW', outW, ctx);
  if (H < 1 || W < 1) throw new Error(`${op}: input spatial dims must be >= 1 (${ctx})`);
  if (typeof alignCorners !== 'boolean') throw new Error(`${op}: alignCorners must be a boolean (${ctx})`);
  return { N, C, H, W, my: axisMap(H, outH, alignCorners), mx: axisMap(W, outW, alignCorners), outShape: [N, C, outH, outW] };
}

/** F.interpolate(x, size=(outH, outW), mode='bilinear', align_corners). */
function resizeBilinear(x: RT, outH: number, outW: number, alignCorners: boolean): RT {
  const r = resizeInfo('resizeBilinear', x, outH, outW, alignCorners);
  const y = new Float64Array(prod(r.outShape));
  for (let nc = 0; nc < r.N * r.C; nc++) {
    const ib = nc * r.H * r.W;
    for (let oy = 0; oy < outH; oy++) {
      const y0 = r.my.i0[oy];
      const y1 = r.my.i1[oy];
      const ly = r.my.lam[oy];
      for (let ox = 0; ox < outW; ox++) {
        const x0 = r.mx.i0[ox];
        const x1 = r.mx.i1[ox];
        const lx = r.mx.lam[ox];
        y[(nc * outH + oy) * outW + ox] =
          (1 - ly) * ((1 - lx) * x.data[ib + y0 * r.W + x0] + lx * x.data[ib + y0 * r.W + x1]) +
          ly * ((1 - lx) * x.data[ib + y1 * r.W + x0] + lx * x.data[ib + y1 * r.W + x1]);
      }
    }
  }
  return mk(r.outShape, y);
}

function resizeBilinearBackward(gy: RT, r: ResizeInfo, outH: number, outW: number, inShape: number[]): RT {
  const gx = new Float64Array(prod(inShape));
  for (let nc = 0; nc < r.N * r.C; nc++) {
    const ib = nc * r.H * r.W;
    for (let oy = 0; oy < outH; oy++) {
      const y0 = r.my.i0[oy];
      const y1 = r.my.i1[oy];
      const ly = r.my.lam[oy];
      for (let ox = 0; ox < outW; ox++) {
        const x0 = r.mx.i0[ox];
        const x1 = r.mx.i1[ox];
        const lx = r.mx.lam[ox];
        const g = gy.data[(nc * outH + oy) * outW + ox];
        gx[ib + y0 * r.W + x0] += g * (1 - ly) * (1 - lx);
        gx[ib + y0 * r.W + x1] += g * (1 - ly) * lx;
        gx[ib + y1 * r.W + x0] += g * ly * (1 - lx);
        gx[ib + y1 * r.W + x1] += g * ly * lx;
      }
    }
  }
  return mk(inShape, gx);
}

function checkFlow(op: string, flow: RT): void {
  checkRT(op, 'flow', flow);
  if (flow.shape.length !== 4 || flow.shape[1] !== 2) {
    throw new Error(`${op}: flow must be [N, 2, H, W] (2 channels: x, y), got flow ${fmt(flow.shape)}`);
  }
}

/**
 * FLOW.md §5 resize_flow: align-corners bilinear resize to (outH, outW), then
 * u *= outW / W and v *= outH / H (ratios of sizes, not of sizes - 1).
 */
function resizeFlow(flow: RT, outH: number, outW: number): RT {
  checkFlow('resizeFlow', flow);
  const r = resizeInfo('resizeFlow', flow, outH, outW, true);
  const y = resizeBilinear(flow, outH, outW, true);
  const sx = outW / r.W;
  const sy = outH / r.H;
  const P = outH * outW;
  for (let n = 0; n < r.N; n++) {
    for (let p = 0; p < P; p++) {
      y.data[(n * 2 + 0) * P + p] *= sx;
      y.data[(n * 2 + 1) * P + p] *= sy;
    }
  }
  return y;
}

interface PoolInfo {
  outShape: number[];
  /** flat x index of the window origin of each output and the offsets of the window */
  origin: Int32Array;
  offsets: Int32Array;
}

function poolInfo(op: string, x: RT, kernel: number[]): PoolInfo {
  checkRT(op, 'x', x);
  const rank = x.shape.length;
  if (!Array.isArray(kernel) || kernel.length < 1 || kernel.length > rank) {
    throw new Error(`${op}: kernel ${JSON.stringify(kernel)} must have 1..${rank} entries for x ${fmt(x.shape)}`);
  }
  const first = rank - kernel.length;
  const outShape = [...x.shape];
  for (let j = 0; j < kernel.length; j++) {
    const k = kernel[j];
    const ctx = `x ${fmt(x.shape)}, kernel ${JSON.stringify(kernel)}`;
    checkPosInt(op, 'kernel entry', k, ctx);
    const S = x.shape[first + j];
    if (k > S) throw new Error(`${op}: kernel ${k} larger than input dim ${first + j} of size ${S} (${ctx})`);
    outShape[first + j] = Math.floor(S / k);
  }
  const xst: number[] = new Array<number>(rank).fill(0);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    xst[d] = s;
    s *= x.shape[d];
  }
  const total = prod(outShape);
  const origin = new Int32Array(total);
  const idx: number[] = new Array<number>(rank).fill(0);
  for (let o = 0; o < total; o++) {
    unravel(o, outShape, idx);
    let flat = 0;
    for (let d = 0; d < rank; d++) flat += idx[d] * (d >= first ? kernel[d - first] : 1) * xst[d];
    origin[o] = flat;
  }
  const kShape = [...kernel];
  const ks = prod(kShape);
  const offsets = new Int32Array(ks);
  const ki: number[] = new Array<number>(kernel.length).fill(0);
  for (let k = 0; k < ks; k++) {
    unravel(k, kShape, ki);
    let off = 0;
    for (let j = 0; j < kernel.length; j++) off += ki[j] * xst[first + j];
    offsets[k] = off;
  }
  return { outShape, origin, offsets };
}

/**
 * Average pooling over the last kernel.length dims, stride = kernel, no
 * padding; like PyTorch (ceil_mode false) a remainder that does not fill a
 * window is dropped.
 */
function avgPoolImpl(op: string, x: RT, kernel: number[]): RT {
  const p = poolInfo(op, x, kernel);
  const y = new Float64Array(p.origin.length);
  const ks = p.offsets.length;
  for (let o = 0; o < y.length; o++) {
    let acc = 0;
    for (let k = 0; k < ks; k++) acc += x.data[p.origin[o] + p.offsets[k]];
    y[o] = acc / ks;
  }
  return mk(p.outShape, y);
}

function avgPool(x: RT, kernel: number[]): RT {
  return avgPoolImpl('avgPool', x, kernel);
}

/** 2x2 area average with stride 2 on the last two dims. */
function avgPool2x(x: RT): RT {
  return avgPoolImpl('avgPool2x', x, [2, 2]);
}

// ---------------------------------------------------------------------------
// Correlation (FLOW.md §3)
// ---------------------------------------------------------------------------

function corrInfo(op: string, f1: RT, f2: RT, maxDisp: number): { N: number; C: number; H: number; W: number; D: number } {
  checkRT(op, 'f1', f1);
  checkRT(op, 'f2', f2);
  const desc = shapeDesc([['f1', f1], ['f2', f2]]);
  if (f1.shape.length !== 4 || !sameShape(f1.shape, f2.shape)) {
    throw new Error(`${op}: f1 and f2 must be [N, C, H, W] of the same shape, got ${desc}`);
  }
  if (typeof maxDisp !== 'number' || !Number.isInteger(maxDisp) || maxDisp < 0) {
    throw new Error(`${op}: maxDisp must be a non-negative integer, got ${String(maxDisp)} (${desc})`);
  }
  const [N, C, H, W] = f1.shape;
  if (C < 1) throw new Error(`${op}: need at least one channel, got ${desc}`);
  return { N, C, H, W, D: 2 * maxDisp + 1 };
}

/**
 * corr[n, d, y, x] = (1/C) sum_c f1[n,c,y,x] f2[n,c,y+dy,x+dx], d = (dy+m)(2m+1) + (dx+m),
 * f2 = 0 outside the image.
 */
function correlation(f1: RT, f2: RT, maxDisp = 4): RT {
  const { N, C, H, W, D } = corrInfo('correlation', f1, f2, maxDisp);
  const HW = H * W;
  const y = new Float64Array(N * D * D * HW);
  for (let n = 0; n < N; n++) {
    for (let dy = -maxDisp; dy <= maxDisp; dy++) {
      for (let dx = -maxDisp; dx <= maxDisp; dx++) {
        const d = (dy + maxDisp) * D + (dx + maxDisp);
        for (let yy = 0; yy < H; yy++) {
          const y2 = yy + dy;
          if (y2 < 0 || y2 >= H) continue;
          for (let xx = 0; xx < W; xx++) {
            const x2 = xx + dx;
            if (x2 < 0 || x2 >= W) continue;
            let acc = 0;
            for (let c = 0; c < C; c++) {
              acc += f1.data[(n * C + c) * HW + yy * W + xx] * f2.data[(n * C + c) * HW + y2 * W + x2];
            }
            y[(n * D * D + d) * HW + yy * W + xx] = acc / C;
          }
        }
      }
    }
  }
  return mk([N, D * D, H, W], y);
}

// ---------------------------------------------------------------------------
// Losses
// ---------------------------------------------------------------------------

function pairInfo(op: string, a: RT, b: RT, aName = 'a', bName = 'b'): void {
  checkRT(op, aName, a);
  checkRT(op, bName, b);
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: ${aName} ${fmt(a.shape)} and ${bName} ${fmt(b.shape)} must have the same shape`);
  }
  if (a.size === 0) throw new Error(`${op}: inputs must not be empty, got ${aName} ${fmt(a.shape)}`);
}

/** mean |a - b|, shape []. */
function l1(a: RT, b: RT): RT {
  pairInfo('l1', a, b);
  let s = 0;
  for (let i = 0; i < a.size; i++) s += Math.abs(a.data[i] - b.data[i]);
  return mk([], Float64Array.of(s / a.size));
}

/** mean (a - b)^2, shape []. */
function mse(a: RT, b: RT): RT {
  pairInfo('mse', a, b);
  let s = 0;
  for (let i = 0; i < a.size; i++) {
    const d = a.data[i] - b.data[i];
    s += d * d;
  }
  return mk([], Float64Array.of(s / a.size));
}

function charbonnierArgs(op: string, eps: number, alpha: number): void {
  checkNumber(op, 'eps', eps);
  checkNumber(op, 'alpha', alpha);
}

/** mean(((a - b)^2 + eps^2)^alpha), shape []. */
function charbonnier(a: RT, b: RT, eps = 1e-3, alpha = 0.5): RT {
  pairInfo('charbonnier', a, b);
  charbonnierArgs('charbonnier', eps, alpha);
  let s = 0;
  for (let i = 0; i < a.size; i++) {
    const d = a.data[i] - b.data[i];
    s += Math.pow(d * d + eps * eps, alpha);
  }
  return mk([], Float64Array.of(s / a.size));
}

const SSIM_C1 = 0.01 * 0.01;
const SSIM_C2 = 0.03 * 0.03;

function ssimInfo(op: string, x: RT, y: RT): { N: number; C: number; H: number; W: number } {
  checkRT(op, 'x', x);
  checkRT(op, 'y', y);
  const desc = shapeDesc([['x', x], ['y', y]]);
  if (x.shape.length !== 4 || !sameShape(x.shape, y.shape)) {
    throw new Error(`${op}: x and y must be [N, C, H, W] of the same shape, got ${desc}`);
  }
  const [N, C, H, W] = x.shape;
  if (H < 3 || W < 3) throw new Error(`${op}: H and W must be >= 3 for the 3x3 window, got ${desc}`);
  return { N, C, H, W };
}

interface SsimWindow {
  mx: number;
  my: number;
  exx: number;
  eyy: number;
  exy: number;
}

function ssimWindow(x: Float64Array, y: Float64Array, base: number, W: number, oy: number, ox: number): SsimWindow {
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let ky = 0; ky < 3; ky++) {
    for (let kx = 0; kx < 3; kx++) {
      const i = base + (oy + ky) * W + ox + kx;
      const a = x[i];
      const b = y[i];
      sx += a;
      sy += b;
      sxx += a * a;
      syy += b * b;
      sxy += a * b;
    }
  }
  return { mx: sx / 9, my: sy / 9, exx: sxx / 9, eyy: syy / 9, exy: sxy / 9 };
}

/**
 * FLOW.md §6.2 SSIMd map: per channel, 3x3 box means without padding,
 * SSIM = (2 mx my + C1)(2 sxy + C2) / ((mx^2 + my^2 + C1)(sx^2 + sy^2 + C2)),
 * out = clamp((1 - SSIM) / 2, 0, 1), shape [N, C, H-2, W-2].
 */
function ssimMap(x: RT, y: RT): RT {
  const { N, C, H, W } = ssimInfo('ssimMap', x, y);
  const oh = H - 2;
  const ow = W - 2;
  const out = new Float64Array(N * C * oh * ow);
  for (let nc = 0; nc < N * C; nc++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const s = ssimWindow(x.data, y.data, nc * H * W, W, oy, ox);
        const A = 2 * s.mx * s.my + SSIM_C1;
        const B = 2 * (s.exy - s.mx * s.my) + SSIM_C2;
        const Cc = s.mx * s.mx + s.my * s.my + SSIM_C1;
        const D = s.exx - s.mx * s.mx + (s.eyy - s.my * s.my) + SSIM_C2;
        const raw = (1 - (A * B) / (Cc * D)) / 2;
        out[(nc * oh + oy) * ow + ox] = Math.min(Math.max(raw, 0), 1);
      }
    }
  }
  return mk([N, C, oh, ow], out);
}

const GRAY = [0.2989, 0.587, 0.114];

function censusInfo(op: string, a: RT, b: RT): { N: number; H: number; W: number } {
  checkRT(op, 'a', a);
  checkRT(op, 'b', b);
  const desc = shapeDesc([['a', a], ['b', b]]);
  if (a.shape.length !== 4 || (a.shape[1] !== 3 && a.shape[1] !== 1) || !sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: a and b must be RGB [N, 3, H, W] or luminance [N, 1, H, W] of the same shape, got ${desc}`);
  }
  return { N: a.shape[0], H: a.shape[2], W: a.shape[3] };
}

/** The weight of channel c of a C-channel image in gray: 255 · (0.2989, 0.5870, 0.1140) for RGB, 255 for luminance. */
const grayWeight = (C: number, c: number): number => 255 * (C === 1 ? 1 : GRAY[c]);

/** 255 * (0.2989 R + 0.5870 G + 0.1140 B) (RGB) or 255 * L (luminance), [N, H*W] flattened. */
function grayOf(x: RT, N: number, HW: number): Float64Array {
  const C = x.shape[1];
  const g = new Float64Array(N * HW);
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < HW; p++) {
      let v = 0;
      for (let c = 0; c < C; c++) v += grayWeight(C, c) * x.data[(n * C + c) * HW + p];
      g[n * HW + p] = v;
    }
  }
  return g;
}

/**
 * The edge-weighted total variation of a field F [B, K, H, W] (the flow refinement's smoothness term), a scalar:
 * Σ wx[b, 0, y, x] · |F[b, k, y, x+1] − F[b, k, y, x]| + Σ wy[b, 0, y, x] · |F[b, k, y+1, x] − F[b, k, y, x]|,
 * wx [B, 1, H, W − 1], wy [B, 1, H − 1, W]. tvTerms calls visit(i, j, wi, w) for each term: F's element i and its right
 * or lower neighbour j, weighted by w.data[wi] (w is wx or wy).
 */
function tvTerms(F: RT, wx: RT, wy: RT, visit: (i: number, j: number, wi: number, w: RT) => void): void {
  const [B, K, H, W] = F.shape;
  if (F.shape.length !== 4 || !sameShape(wx.shape, [B, 1, H, W - 1]) || !sameShape(wy.shape, [B, 1, H - 1, W])) {
    throw new Error(`tv: F [B, K, H, W], wx [B, 1, H, W - 1], wy [B, 1, H - 1, W], got ${shapeDesc([['F', F], ['wx', wx], ['wy', wy]])}`);
  }
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const f = ((b * K + k) * H) * W;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          if (x + 1 < W) visit(f + y * W + x, f + y * W + x + 1, (b * H + y) * (W - 1) + x, wx);
          if (y + 1 < H) visit(f + y * W + x, f + (y + 1) * W + x, (b * (H - 1) + y) * W + x, wy);
        }
      }
    }
  }
}

function tv(F: RT, wx: RT, wy: RT): RT {
  let s = 0;
  tvTerms(F, wx, wy, (i, j, wi, w) => { s += w.data[wi] * Math.abs(F.data[j] - F.data[i]); });
  return mk([], Float64Array.of(s));
}

/** [N, 1, H, W] luminance of an RGB image: 0.2989 R + 0.5870 G + 0.1140 B. */
function luminance(x: RT): RT {
  checkRT('luminance', 'x', x);
  if (x.shape.length !== 4 || x.shape[1] !== 3) throw new Error(`luminance: x must be RGB [N, 3, H, W], got ${shapeDesc([['x', x]])}`);
  const [N, , H, W] = x.shape;
  const HW = H * W;
  const out = new Float64Array(N * HW);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < 3; c++) for (let p = 0; p < HW; p++) out[n * HW + p] += GRAY[c] * x.data[(n * 3 + c) * HW + p];
  }
  return mk([N, 1, H, W], out);
}

/** Gray value at (yy, xx) with zero padding outside. */
function grayAt(g: Float64Array, base: number, H: number, W: number, yy: number, xx: number): number {
  return yy < 0 || yy >= H || xx < 0 || xx >= W ? 0 : g[base + yy * W + xx];
}

/** Whether the whole patch of radius r around (yy, xx) lies inside the image. */
function interior(H: number, W: number, yy: number, xx: number, r: number): boolean {
  return yy >= r && yy <= H - 1 - r && xx >= r && xx <= W - 1 - r;
}

/**
 * FLOW.md §6.2 CEN map [N, 1, H, W]: patch x patch soft census (3 as the spec; zero padding),
 * t_k = D_k / sqrt(0.81 + D_k^2) with D_k = gray(p+k) - gray(p),
 * d = mean_k (t1_k - t2_k)^2 / (0.1 + (t1_k - t2_k)^2), times a mask zeroing the (patch - 1) / 2-pixel border.
 */
function census(a: RT, b: RT, patch = 3): RT {
  const { N, H, W } = censusInfo('census', a, b);
  const r = (patch - 1) / 2;
  const HW = H * W;
  const ga = grayOf(a, N, HW);
  const gb = grayOf(b, N, HW);
  const out = new Float64Array(N * HW);
  for (let n = 0; n < N; n++) {
    const base = n * HW;
    for (let yy = 0; yy < H; yy++) {
      for (let xx = 0; xx < W; xx++) {
        if (!interior(H, W, yy, xx, r)) continue;
        const ca = ga[base + yy * W + xx];
        const cb = gb[base + yy * W + xx];
        let acc = 0;
        for (let ky = -r; ky <= r; ky++) {
          for (let kx = -r; kx <= r; kx++) {
            const da = grayAt(ga, base, H, W, yy + ky, xx + kx) - ca;
            const db = grayAt(gb, base, H, W, yy + ky, xx + kx) - cb;
            const t = da / Math.sqrt(0.81 + da * da) - db / Math.sqrt(0.81 + db * db);
            acc += (t * t) / (0.1 + t * t);
          }
        }
        out[base + yy * W + xx] = acc / (patch * patch);
      }
    }
  }
  return mk([N, 1, H, W], out);
}

// ---------------------------------------------------------------------------
// Exported op tables
// ---------------------------------------------------------------------------

export const nnRef = {
  conv,
  convTranspose,
  pad,
  instanceNorm,
  batchNormTrain,
  batchNormEval,
  adain,
  warp,
  resizeBilinear,
  resizeFlow,
  avgPool,
  avgPool2x,
  correlation,
  l1,
  mse,
  charbonnier,
  ssimMap,
  census,
  luminance,
  tv,
};

function scalarGy(op: string, gy: RT): number {
  checkGy(op, gy, []);
  return gy.data[0];
}

/**
 * Hand-derived vector-Jacobian products. Each takes the upstream gradient gy
 * (shape of the forward output) followed by the forward arguments, and returns
 * one gradient per (present) tensor input, in argument order.
 */
export const nnVjp = {
  /** Returns [gx, gw] or [gx, gw, gb] when b is given. */
  conv(gy: RT, x: RT, w: RT, b: RT | null, opts: ConvOptions = {}): RT[] {
    const g = convGeom('nnVjp.conv', x, w, b, opts);
    checkGy('conv', gy, g.outShape);
    const { N, Ci, Co, bigSize, smallSize, kSize, taps } = g;
    const gx = new Float64Array(x.size);
    const gw = new Float64Array(w.size);
    const gb = new Float64Array(Co);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < Co; o++) {
        for (let q = 0; q < smallSize; q++) {
          const gv = gy.data[(n * Co + o) * smallSize + q];
          gb[o] += gv;
          for (let i = 0; i < Ci; i++) {
            const xb = (n * Ci + i) * bigSize;
            const wb = (o * Ci + i) * kSize;
            for (let k = 0; k < kSize; k++) {
              const t = taps[q * kSize + k];
              if (t < 0) continue;
              gx[xb + t] += gv * w.data[wb + k];
              gw[wb + k] += gv * x.data[xb + t];
            }
          }
        }
      }
    }
    const out = [mk(x.shape, gx), mk(w.shape, gw)];
    if (b) out.push(mk(b.shape, gb));
    return out;
  },

  /** Returns [gx, gw] or [gx, gw, gb] when b is given. */
  convTranspose(gy: RT, x: RT, w: RT, b: RT | null, opts: ConvTransposeOptions = {}): RT[] {
    const g = convTransposeGeom('nnVjp.convTranspose', x, w, b, opts);
    checkGy('convTranspose', gy, g.outShape);
    const { N, Ci, Co, bigSize, smallSize, kSize, taps } = g;
    const gx = new Float64Array(x.size);
    const gw = new Float64Array(w.size);
    const gb = new Float64Array(Co);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < Co; o++) {
        const yb = (n * Co + o) * bigSize;
        for (let t = 0; t < bigSize; t++) gb[o] += gy.data[yb + t];
        for (let i = 0; i < Ci; i++) {
          const xb = (n * Ci + i) * smallSize;
          const wb = (i * Co + o) * kSize;
          for (let q = 0; q < smallSize; q++) {
            const xv = x.data[xb + q];
            for (let k = 0; k < kSize; k++) {
              const t = taps[q * kSize + k];
              if (t < 0) continue;
              const gv = gy.data[yb + t];
              gx[xb + q] += gv * w.data[wb + k];
              gw[wb + k] += gv * xv;
            }
          }
        }
      }
    }
    const out = [mk(x.shape, gx), mk(w.shape, gw)];
    if (b) out.push(mk(b.shape, gb));
    return out;
  },

  /** Scatter-add of the mirrored / kept taps. */
  pad(gy: RT, x: RT, pads: number[], mode: PadMode = 'zeros'): RT[] {
    const p = padInfo('nnVjp.pad', x, pads, mode);
    checkGy('pad', gy, p.shape);
    const gx = new Float64Array(x.size);
    for (let o = 0; o < p.src.length; o++) if (p.src[o] >= 0) gx[p.src[o]] += gy.data[o];
    return [mk(x.shape, gx)];
  },

  /** Returns [gx], then gweight if weight is given, then gbias if bias is given. */
  instanceNorm(gy: RT, x: RT, eps = 1e-5, weight: RT | null = null, bias: RT | null = null): RT[] {
    const { N, C, M } = inInfo('nnVjp.instanceNorm', x, eps, weight, bias);
    checkGy('instanceNorm', gy, x.shape);
    const group = (i: number): number => Math.floor(i / M);
    const st = groupStats(x.data, group, N * C, eps);
    const gz = new Float64Array(x.size);
    const gw = new Float64Array(C);
    const gb = new Float64Array(C);
    for (let i = 0; i < x.size; i++) {
      const c = group(i) % C;
      gz[i] = gy.data[i] * (weight ? weight.data[c] : 1);
      gw[c] += gy.data[i] * st.z[i];
      gb[c] += gy.data[i];
    }
    const out = [mk(x.shape, groupNormBackward(gz, st, group, N * C))];
    if (weight) out.push(mk([C], gw));
    if (bias) out.push(mk([C], gb));
    return out;
  },

  /** Returns [gx], then gweight if weight is given, then gbias if bias is given. */
  batchNormTrain(gy: RT, x: RT, weight: RT | null, bias: RT | null, eps = 1e-5): RT[] {
    const { N, C, M } = bnInfo('nnVjp.batchNormTrain', x, weight, bias, eps);
    if (N * M <= 1) {
      throw new Error(`nnVjp.batchNormTrain: expected more than 1 value per channel, got x ${fmt(x.shape)}`);
    }
    checkGy('batchNormTrain', gy, x.shape);
    const group = (i: number): number => Math.floor(i / M) % C;
    const st = groupStats(x.data, group, C, eps);
    const gz = new Float64Array(x.size);
    const gw = new Float64Array(C);
    const gb = new Float64Array(C);
    for (let i = 0; i < x.size; i++) {
      const c = group(i);
      gz[i] = gy.data[i] * (weight ? weight.data[c] : 1);
      gw[c] += gy.data[i] * st.z[i];
      gb[c] += gy.data[i];
    }
    const out = [mk(x.shape, groupNormBackward(gz, st, group, C))];
    if (weight) out.push(mk([C], gw));
    if (bias) out.push(mk([C], gb));
    return out;
  },

  /**
   * Returns [gx], then gweight if weight is given, then gbias if bias is given.
   * The running statistics are buffers and get no gradient.
   */
  batchNormEval(
    gy: RT,
    x: RT,
    runningMean: RT,
    runningVar: RT,
    weight: RT | null,
    bias: RT | null,
    eps = 1e-5,
  ): RT[] {
    const { C, M, inv } = bnEvalInfo('nnVjp.batchNormEval', x, runningMean, runningVar, weight, bias, eps);
    checkGy('batchNormEval', gy, x.shape);
    const gx = new Float64Array(x.size);
    const gw = new Float64Array(C);
    const gb = new Float64Array(C);
    for (let i = 0; i < x.size; i++) {
      const c = Math.floor(i / M) % C;
      const z = (x.data[i] - runningMean.data[c]) * inv[c];
      gx[i] = gy.data[i] * inv[c] * (weight ? weight.data[c] : 1);
      gw[c] += gy.data[i] * z;
      gb[c] += gy.data[i];
    }
    const out = [mk(x.shape, gx)];
    if (weight) out.push(mk([C], gw));
    if (bias) out.push(mk([C], gb));
    return out;
  },

  /** Returns [gx, ggamma, gbeta]. */
  adain(gy: RT, x: RT, gamma: RT, beta: RT, eps = 1e-5): RT[] {
    const { N, C, M } = adainInfo('nnVjp.adain', x, gamma, beta, eps);
    checkGy('adain', gy, x.shape);
    const group = (i: number): number => Math.floor(i / M);
    const st = groupStats(x.data, group, N * C, eps);
    const gz = new Float64Array(x.size);
    const gg = new Float64Array(N * C);
    const gbt = new Float64Array(N * C);
    for (let i = 0; i < x.size; i++) {
      const g = group(i);
      gz[i] = gy.data[i] * gamma.data[g];
      gg[g] += gy.data[i] * st.z[i];
      gbt[g] += gy.data[i];
    }
    return [mk(x.shape, groupNormBackward(gz, st, group, N * C)), mk(gamma.shape, gg), mk(beta.shape, gbt)];
  },

  /**
   * Returns [gimg, gflow]. gimg scatters the bilinear weights; gflow[0] =
   * sum_c g * d(sample)/dpx (0 where the x coordinate was clamped by border
   * padding), gflow[1] likewise for y.
   */
  warp(gy: RT, img: RT, flow: RT, padding: WarpPadding = 'border'): RT[] {
    const { N, C, H, W } = warpInfo('nnVjp.warp', img, flow, padding);
    checkGy('warp', gy, img.shape);
    const HW = H * W;
    const t = newTaps();
    const gi = new Float64Array(img.size);
    const gf = new Float64Array(flow.size);
    for (let n = 0; n < N; n++) {
      for (let yy = 0; yy < H; yy++) {
        for (let xx = 0; xx < W; xx++) {
          const p = yy * W + xx;
          const px = xx + flow.data[(n * 2 + 0) * HW + p];
          const py = yy + flow.data[(n * 2 + 1) * HW + p];
          bilinearTaps(px, py, H, W, padding === 'border', t);
          let gu = 0;
          let gv = 0;
          for (let c = 0; c < C; c++) {
            const base = (n * C + c) * HW;
            const g = gy.data[base + p];
            for (let j = 0; j < 4; j++) {
              if (t.idx[j] < 0) continue;
              const s = img.data[base + t.idx[j]];
              gi[base + t.idx[j]] += g * t.wt[j];
              gu += g * t.dwx[j] * s;
              gv += g * t.dwy[j] * s;
            }
          }
          gf[(n * 2 + 0) * HW + p] = gu;
          gf[(n * 2 + 1) * HW + p] = gv;
        }
      }
    }
    return [mk(img.shape, gi), mk(flow.shape, gf)];
  },

  resizeBilinear(gy: RT, x: RT, outH: number, outW: number, alignCorners: boolean): RT[] {
    const r = resizeInfo('nnVjp.resizeBilinear', x, outH, outW, alignCorners);
    checkGy('resizeBilinear', gy, r.outShape);
    return [resizeBilinearBackward(gy, r, outH, outW, x.shape)];
  },

  resizeFlow(gy: RT, flow: RT, outH: number, outW: number): RT[] {
    checkFlow('nnVjp.resizeFlow', flow);
    const r = resizeInfo('nnVjp.resizeFlow', flow, outH, outW, true);
    checkGy('resizeFlow', gy, r.outShape);
    const scaled = Float64Array.from(gy.data);
    const P = outH * outW;
    for (let n = 0; n < r.N; n++) {
      for (let p = 0; p < P; p++) {
        scaled[(n * 2 + 0) * P + p] *= outW / r.W;
        scaled[(n * 2 + 1) * P + p] *= outH / r.H;
      }
    }
    return [resizeBilinearBackward(mk(gy.shape, scaled), r, outH, outW, flow.shape)];
  },

  avgPool(gy: RT, x: RT, kernel: number[]): RT[] {
    return avgPoolVjp('avgPool', gy, x, kernel);
  },

  avgPool2x(gy: RT, x: RT): RT[] {
    return avgPoolVjp('avgPool2x', gy, x, [2, 2]);
  },

  /** Returns [gf1, gf2] (FLOW.md §3 backward). */
  correlation(gy: RT, f1: RT, f2: RT, maxDisp = 4): RT[] {
    const { N, C, H, W, D } = corrInfo('nnVjp.correlation', f1, f2, maxDisp);
    checkGy('correlation', gy, [N, D * D, H, W]);
    const HW = H * W;
    const g1 = new Float64Array(f1.size);
    const g2 = new Float64Array(f2.size);
    for (let n = 0; n < N; n++) {
      for (let dy = -maxDisp; dy <= maxDisp; dy++) {
        for (let dx = -maxDisp; dx <= maxDisp; dx++) {
          const d = (dy + maxDisp) * D + (dx + maxDisp);
          for (let yy = 0; yy < H; yy++) {
            const y2 = yy + dy;
            if (y2 < 0 || y2 >= H) continue;
            for (let xx = 0; xx < W; xx++) {
              const x2 = xx + dx;
              if (x2 < 0 || x2 >= W) continue;
              const g = gy.data[(n * D * D + d) * HW + yy * W + xx] / C;
              for (let c = 0; c < C; c++) {
                const i1 = (n * C + c) * HW + yy * W + xx;
                const i2 = (n * C + c) * HW + y2 * W + x2;
                g1[i1] += g * f2.data[i2];
                g2[i2] += g * f1.data[i1];
              }
            }
          }
        }
      }
    }
    return [mk(f1.shape, g1), mk(f2.shape, g2)];
  },

  /** Returns [ga, gb]; sign(0) = 0. */
  l1(gy: RT, a: RT, b: RT): RT[] {
    pairInfo('nnVjp.l1', a, b);
    const g = scalarGy('l1', gy) / a.size;
    const ga = new Float64Array(a.size);
    for (let i = 0; i < a.size; i++) {
      const d = a.data[i] - b.data[i];
      ga[i] = d > 0 ? g : d < 0 ? -g : 0;
    }
    return [mk(a.shape, ga), mk(b.shape, ga.map((v) => -v))];
  },

  mse(gy: RT, a: RT, b: RT): RT[] {
    pairInfo('nnVjp.mse', a, b);
    const g = scalarGy('mse', gy) / a.size;
    const ga = new Float64Array(a.size);
    for (let i = 0; i < a.size; i++) ga[i] = 2 * g * (a.data[i] - b.data[i]);
    return [mk(a.shape, ga), mk(b.shape, ga.map((v) => -v))];
  },

  charbonnier(gy: RT, a: RT, b: RT, eps = 1e-3, alpha = 0.5): RT[] {
    pairInfo('nnVjp.charbonnier', a, b);
    charbonnierArgs('nnVjp.charbonnier', eps, alpha);
    const g = scalarGy('charbonnier', gy) / a.size;
    const ga = new Float64Array(a.size);
    for (let i = 0; i < a.size; i++) {
      const d = a.data[i] - b.data[i];
      ga[i] = g * 2 * alpha * d * Math.pow(d * d + eps * eps, alpha - 1);
    }
    return [mk(a.shape, ga), mk(b.shape, ga.map((v) => -v))];
  },

  /** Returns [gx, gy_] for ssimMap(x, y); the gradient is 0 where the clamp is active (outside [0, 1]). */
  ssimMap(g: RT, x: RT, y: RT): RT[] {
    const { N, C, H, W } = ssimInfo('nnVjp.ssimMap', x, y);
    const oh = H - 2;
    const ow = W - 2;
    checkGy('ssimMap', g, [N, C, oh, ow]);
    const gx = new Float64Array(x.size);
    const gyy = new Float64Array(y.size);
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * H * W;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const s = ssimWindow(x.data, y.data, base, W, oy, ox);
          const A = 2 * s.mx * s.my + SSIM_C1;
          const B = 2 * (s.exy - s.mx * s.my) + SSIM_C2;
          const Cc = s.mx * s.mx + s.my * s.my + SSIM_C1;
          const D = s.exx - s.mx * s.mx + (s.eyy - s.my * s.my) + SSIM_C2;
          const S = (A * B) / (Cc * D);
          const raw = (1 - S) / 2;
          if (raw < 0 || raw > 1) continue;
          const gS = -0.5 * g.data[(nc * oh + oy) * ow + ox];
          const gA = (gS * B) / (Cc * D);
          const gB = (gS * A) / (Cc * D);
          const gC = (-gS * S) / Cc;
          const gD = (-gS * S) / D;
          // A = 2 mx my + C1; B = 2 (exy - mx my) + C2; C = mx^2 + my^2 + C1; D = exx - mx^2 + eyy - my^2 + C2
          const gmx = 2 * s.my * gA - 2 * s.my * gB + 2 * s.mx * gC - 2 * s.mx * gD;
          const gmy = 2 * s.mx * gA - 2 * s.mx * gB + 2 * s.my * gC - 2 * s.my * gD;
          const gexy = 2 * gB;
          const gexx = gD;
          const geyy = gD;
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const i = base + (oy + ky) * W + ox + kx;
              gx[i] += (gmx + 2 * x.data[i] * gexx + y.data[i] * gexy) / 9;
              gyy[i] += (gmy + 2 * y.data[i] * geyy + x.data[i] * gexy) / 9;
            }
          }
        }
      }
    }
    return [mk(x.shape, gx), mk(y.shape, gyy)];
  },

  /** Returns [ga, gb] for census(a, b, patch). */
  census(g: RT, a: RT, b: RT, patch = 3): RT[] {
    const { N, H, W } = censusInfo('nnVjp.census', a, b);
    const r = (patch - 1) / 2;
    checkGy('census', g, [N, 1, H, W]);
    const HW = H * W;
    const ga = grayOf(a, N, HW);
    const gb = grayOf(b, N, HW);
    const gGa = new Float64Array(N * HW);
    const gGb = new Float64Array(N * HW);
    for (let n = 0; n < N; n++) {
      const base = n * HW;
      for (let yy = 0; yy < H; yy++) {
        for (let xx = 0; xx < W; xx++) {
          if (!interior(H, W, yy, xx, r)) continue;
          const gv = g.data[base + yy * W + xx] / (patch * patch);
          const p = base + yy * W + xx;
          for (let ky = -r; ky <= r; ky++) {
            for (let kx = -r; kx <= r; kx++) {
              const qy = yy + ky;
              const qx = xx + kx;
              const inside = qy >= 0 && qy < H && qx >= 0 && qx < W;
              const da = grayAt(ga, base, H, W, qy, qx) - ga[p];
              const db = grayAt(gb, base, H, W, qy, qx) - gb[p];
              const qa = 0.81 + da * da;
              const qb = 0.81 + db * db;
              const t = da / Math.sqrt(qa) - db / Math.sqrt(qb);
              const den = 0.1 + t * t;
              const gt = (gv * 2 * 0.1 * t) / (den * den); // d/dt of t^2 / (0.1 + t^2)
              const gda = (gt * 0.81) / (qa * Math.sqrt(qa)); // dt/dda = 0.81 / (0.81 + da^2)^1.5
              const gdb = (-gt * 0.81) / (qb * Math.sqrt(qb));
              if (inside) {
                gGa[base + qy * W + qx] += gda;
                gGb[base + qy * W + qx] += gdb;
              }
              gGa[p] -= gda;
              gGb[p] -= gdb;
            }
          }
        }
      }
    }
    const C = a.shape[1];
    const toChannels = (gG: Float64Array, shape: number[]): RT => {
      const out = new Float64Array(prod(shape));
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          for (let p = 0; p < HW; p++) out[(n * C + c) * HW + p] = grayWeight(C, c) * gG[n * HW + p];
        }
      }
      return mk(shape, out);
    };
    return [toChannels(gGa, a.shape), toChannels(gGb, b.shape)];
  },

  /** Returns [gF, gwx, gwy] for tv(F, wx, wy) (sign(0) = 0). */
  tv(gy: RT, F: RT, wx: RT, wy: RT): RT[] {
    const g = scalarGy('tv', gy);
    const gF = new Float64Array(F.size);
    const gx = new Float64Array(wx.size);
    const gw = new Float64Array(wy.size);
    tvTerms(F, wx, wy, (i, j, wi, w) => {
      const d = F.data[j] - F.data[i];
      const sg = g * w.data[wi] * Math.sign(d);
      gF[j] += sg;
      gF[i] -= sg;
      (w === wx ? gx : gw)[wi] += g * Math.abs(d);
    });
    return [mk(F.shape, gF), mk(wx.shape, gx), mk(wy.shape, gw)];
  },

  /** Returns [gx] for luminance(x). */
  luminance(g: RT, x: RT): RT[] {
    const [N, , H, W] = x.shape;
    checkGy('luminance', g, [N, 1, H, W]);
    const HW = H * W;
    const gx = new Float64Array(x.size);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < 3; c++) for (let p = 0; p < HW; p++) gx[(n * 3 + c) * HW + p] = GRAY[c] * g.data[n * HW + p];
    }
    return [mk(x.shape, gx)];
  },
};

function avgPoolVjp(op: string, gy: RT, x: RT, kernel: number[]): RT[] {
  const p = poolInfo(`nnVjp.${op}`, x, kernel);
  checkGy(op, gy, p.outShape);
  const gx = new Float64Array(x.size);
  const ks = p.offsets.length;
  for (let o = 0; o < p.origin.length; o++) {
    const g = gy.data[o] / ks;
    for (let k = 0; k < ks; k++) gx[p.origin[o] + p.offsets[k]] += g;
  }
  return [mk(x.shape, gx)];
}
