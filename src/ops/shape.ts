// Shape ops: reshape (a view), permute/transpose, flip, slice, concat, expand. Data moves through one strided-copy
// kernel (kernels/copy.wgsl). Also diff, the finite difference along an axis (kernels/diff.wgsl), which replaces a
// pair of slices and a subtraction.

import { record } from '../autograd.js';
import { EngineError, itemsGrid, rowItems } from '../runtime/engine.js';
import { Tensor, checkShape, empty, engine, live } from '../tensor.js';
import { zeros } from './creation.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, fmt, mergeDims, normAxis, numel, packDims, sameShape } from './shapes.js';
import { sumTo } from './reduce.js';


/** dst[dstOff + k·dstStrides] = src[srcOff + k·srcStrides] for every index k of `shape`. */
export function stridedCopy(
  src: Tensor, dst: Tensor, shape: readonly number[], srcStrides: number[], srcOff: number, dstStrides: number[], dstOff: number, label: string,
): void {
  const m = mergeDims(shape, [srcStrides, dstStrides]);
  const n = numel(shape);
  const buf = new ArrayBuffer(28 * 4);
  const u = new Uint32Array(buf);
  u.set([n, m.shape.length, srcOff, dstOff]);
  u.set(packDims(m.shape), 4);
  u.set(packDims(m.strides[0]!), 12);
  u.set(packDims(m.strides[1]!), 20);
  const e = engine();
  const s0 = m.strides[0]!;
  const d0 = m.strides[1]!;
  if (m.shape.length === 1 && s0[0] === 1 && d0[0] === 1 && n % 4 === 0 && srcOff % 4 === 0 && dstOff % 4 === 0) {
    // contiguous run: whole vec4s
    u.set([n / 4, 1, srcOff / 4, dstOff / 4]);
    const g = itemsGrid(n / 4);
    e.dispatch({ kernel: 'copy', entry: 'copy_vec4', constants: { WG: g.wg, ITEMS: g.items }, params: buf, buffers: [src.buffer, dst.buffer], bindings: [3, 4], grid: g.grid, label });
    return;
  }
  if (m.shape.length === 1 && s0[0] === 0 && d0[0] === 1 && n % 4 === 0 && dstOff % 4 === 0) {
    // one element everywhere (expand of a scalar): whole vec4s of it
    u.set([n / 4, 1, srcOff, dstOff / 4]);
    const g = itemsGrid(n / 4);
    e.dispatch({ kernel: 'copy', entry: 'splat4', constants: { WG: g.wg, ITEMS: g.items }, params: buf, buffers: [src.buffer, dst.buffer], bindings: [1, 4], grid: g.grid, label });
    return;
  }
  const r = m.shape.length - 1;
  const inner = m.shape[r]!;
  const rows = n / inner;
  const rz = Math.ceil(rows / 65535);
  const aligned = (v: number) => v % 4 === 0;
  if (r > 0 && s0[r] === 1 && d0[r] === 1 && aligned(inner) && aligned(srcOff) && aligned(dstOff) &&
      s0.slice(0, r).every(aligned) && d0.slice(0, r).every(aligned) && rows % rz === 0) {
    let items = 64;
    while (items > 1 && inner / 4 < 8 * items) items >>= 1;
    e.dispatch({
      kernel: 'copy', entry: 'copy_rows4', constants: { WG: 8, ITEMS: items }, params: buf, buffers: [src.buffer, dst.buffer], bindings: [3, 4],
      grid: [Math.ceil(inner / 4 / (8 * items)), rows / rz, rz], label,
    });
    return;
  }
  if (r > 0 && inner < 64) {
    u[0] = rows;
    const g = itemsGrid(rows);
    e.dispatch({ kernel: 'copy', entry: 'copy_lane_rows', constants: { WG: g.wg, ITEMS: g.items }, params: buf, buffers: [src.buffer, dst.buffer], grid: g.grid, label });
    return;
  }
  if (r > 0 && rows % rz === 0 && Math.ceil(inner / 512) <= 65535) {
    let items = 64;
    while (items > 1 && inner < 8 * items) items >>= 1;
    e.dispatch({
      kernel: 'copy', entry: 'copy_rows', constants: { WG: 8, ITEMS: items }, params: buf, buffers: [src.buffer, dst.buffer],
      grid: [Math.ceil(inner / (8 * items)), rows / rz, rz], label,
    });
    return;
  }
  const g = itemsGrid(n);
  e.dispatch({ kernel: 'copy', entry: 'strided_copy', constants: { WG: g.wg, ITEMS: g.items }, params: buf, buffers: [src.buffer, dst.buffer], grid: g.grid, label });
}

/**
 * [..., R, C] -> [..., C, R] when R and C are multiples of 4: the 4x4-block transpose kernel (vec4 loads and
 * stores). Returns null when it does not apply. No autograd (callers record their own op).
 */
export function transposeLast2Raw(x: Tensor, label: string): Tensor | null {
  if (x.rank < 2) return null;
  const R = x.shape[x.rank - 2]!;
  const C = x.shape[x.rank - 1]!;
  const B = x.size / (R * C);
  if (R % 4 !== 0 || C % 4 !== 0 || R / 4 > 65535 || B > 65535) return null;
  const y = empty([...x.shape.slice(0, -2), C, R], 'transpose');
  const u = new Uint32Array(28);
  u.set([R / 4, 0, C / 4, B]);
  let items = 16;
  while (items > 1 && C / 4 < 8 * items) items >>= 1;
  engine().dispatch({
    kernel: 'copy', entry: 'transpose4', constants: { WG: 8, ITEMS: items }, params: u, buffers: [x.buffer, y.buffer], bindings: [3, 4],
    grid: [Math.ceil(C / 4 / (8 * items)), R / 4, B], label,
  });
  return y;
}

/** Same data, new shape (no copy). One dim may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  live('reshape', x);
  const s = [...shape];
  const neg = s.filter((d) => d === -1).length;
  if (neg > 1) throw new EngineError(`reshape: only one dim can be -1, got ${fmt(shape)}`);
  if (neg === 1) {
    const known = s.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (known === 0 || x.size % known !== 0) throw new EngineError(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
    s[s.indexOf(-1)] = x.size / known;
  }
  checkShape(s, 'reshape');
  if (numel(s) !== x.size) throw new EngineError(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)} (${numel(s)} elements)`);
  const y = x.view(s);
  return record(y, 'reshape', [x], (g, [xi]) => [reshape(g, xi!.shape)]);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  live('permute', x);
  const r = x.rank;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new EngineError(`permute: ${fmt(perm)} is not a permutation of the ${r} dims of ${fmt(x.shape)}`);
  }
  if (perm.every((p, i) => p === i)) return reshape(x, x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  const label = `permute ${fmt(x.shape)} by ${fmt(perm)}`;
  const swapsLast2 = perm.every((p, i) => (i < r - 2 ? p === i : p === (i === r - 2 ? r - 1 : r - 2)));
  let y = swapsLast2 ? transposeLast2Raw(x, label) : null;
  if (!y) {
    y = empty(shape, 'permute');
    const st = contiguousStrides(x.shape);
    stridedCopy(x, y, shape, perm.map((p) => st[p]!), 0, contiguousStrides(shape), 0, label);
  }
  const inv = new Array<number>(r);
  perm.forEach((p, i) => (inv[p] = i));
  return record(y, 'permute', [x], (g) => [permute(g, inv)]);
}

/**
 * x reversed along each of `axes` (negative axes count from the end): y[..., i, ...] = x[..., n − 1 − i, ...]. One
 * strided copy reading x with negative strides (the copy kernels' u32 index sums wrap to the right element). Its
 * gradient is the same flip.
 */
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  live('flip', x);
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normAxis('flip', x.rank, a));
  if (new Set(list).size !== list.length) throw new EngineError(`flip: axes ${fmt(typeof axes === 'number' ? [axes] : axes)} name a dim of ${fmt(x.shape)} twice`);
  if (list.length === 0) return reshape(x, x.shape);
  const st = contiguousStrides(x.shape);
  let off = 0;
  const srcStrides = st.map((s, d) => {
    if (!list.includes(d)) return s;
    off += (x.shape[d]! - 1) * s;
    return -s;
  });
  const y = empty(x.shape, 'flip');
  stridedCopy(x, y, x.shape, srcStrides, off, st, 0, `flip ${fmt(x.shape)} axes ${fmt(list)}`);
  return record(y, 'flip', [x], (g) => [flip(g, list)]);
}

export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  live('transpose', x);
  const a = normAxis('transpose', x.rank, d0);
  const b = normAxis('transpose', x.rank, d1);
  const perm = [...Array(x.rank).keys()];
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** Elements [start, end) along one axis. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  live('slice', x);
  const ax = normAxis('slice', x.rank, axis);
  const n = x.shape[ax]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start >= end) {
    throw new EngineError(`slice: [${start}, ${end}) is not a non-empty range inside 0..${n} of axis ${ax} of ${fmt(x.shape)}`);
  }
  const shape = [...x.shape];
  shape[ax] = end - start;
  const y = empty(shape, 'slice');
  const st = contiguousStrides(x.shape);
  stridedCopy(x, y, shape, st, start * st[ax]!, contiguousStrides(shape), 0, `slice ${fmt(x.shape)} axis ${ax} [${start}, ${end})`);
  // The gradient is g placed back into zeros: concat(zeros, g, zeros), differentiable like everything else.
  return record(y, 'slice', [x], (g, [xi]) => {
    const parts: Tensor[] = [];
    const pad = (len: number) => {
      const s = [...xi!.shape];
      s[ax] = len;
      parts.push(zeros(s));
    };
    if (start > 0) pad(start);
    parts.push(g);
    if (end < n) pad(n - end);
    return [parts.length === 1 ? reshape(g, g.shape) : concat(parts, ax)];
  });
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new EngineError('concat: needs a non-empty array of tensors');
  live('concat', ...xs);
  const first = xs[0]!;
  const ax = normAxis('concat', first.rank, axis);
  for (const t of xs) {
    if (t.rank !== first.rank || t.shape.some((d: number, i: number) => i !== ax && d !== first.shape[i])) {
      throw new EngineError(`concat: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ outside axis ${ax}`);
    }
  }
  const shape = [...first.shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax]!, 0);
  const y = empty(shape, 'concat');
  const dst = contiguousStrides(shape);
  let off = 0;
  for (const t of xs) {
    stridedCopy(t, y, t.shape, contiguousStrides(t.shape), 0, dst, off * dst[ax]!, `concat ${fmt(t.shape)} into ${fmt(shape)} axis ${ax}`);
    off += t.shape[ax]!;
  }
  return record(y, 'concat', xs, (g, ins, needs) => {
    let o = 0;
    return ins.map((t, i) => {
      const len = t.shape[ax]!;
      const r = needs[i] ? slice(g, ax, o, o + len) : null;
      o += len;
      return r;
    });
  });
}

/** Broadcast x to a larger shape (numpy broadcast_to); the result is materialised. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  live('expand', x);
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) throw new EngineError(`expand: ${fmt(x.shape)} cannot be expanded to ${fmt(shape)}`);
  if (sameShape(x.shape, shape)) return reshape(x, shape);
  const y = empty(shape, 'expand');
  stridedCopy(x, y, shape, broadcastStrides(x.shape, shape), 0, contiguousStrides(shape), 0, `expand ${fmt(x.shape)} to ${fmt(shape)}`);
  return record(y, 'expand', [x], (g, [xi]) => [sumTo(g, xi!.shape)]);
}

/**
 * The finite difference along an axis: y[.., i, ..] = x[.., i + 1, ..] − x[.., i, ..] (numpy.diff), the axis one
 * shorter. Its gradient is the adjoint (a difference of g's neighbours), whose own gradient is diff again: linear
 * both ways, so derivatives of any order work.
 */
export function diff(x: Tensor, axis: number): Tensor {
  live('diff', x);
  const ax = normAxis('diff', x.rank, axis);
  const n = x.shape[ax]!;
  if (n < 2) throw new EngineError(`diff: axis ${ax} of ${fmt(x.shape)} has ${n} element(s); a difference needs at least 2`);
  const shape = [...x.shape];
  shape[ax] = n - 1;
  return diffLaunch('diff', x, shape, ax, n, `diff ${fmt(x.shape)} axis ${ax}`);
}

/** diff's transpose: g [.., n − 1, ..] -> [.., n, ..], out_i = g_{i−1} − g_i (terms outside g dropped). */
function diffAdjoint(g: Tensor, ax: number, n: number): Tensor {
  const shape = [...g.shape];
  shape[ax] = n;
  return diffLaunch('diff_adjoint', g, shape, ax, n, `diff adjoint ${fmt(g.shape)} axis ${ax}`);
}

function diffLaunch(entry: 'diff' | 'diff_adjoint', src: Tensor, shape: number[], ax: number, n: number, label: string): Tensor {
  const y = empty(shape, entry);
  const inner = numel(shape.slice(ax + 1));
  const outer = numel(shape.slice(0, ax));
  const last = inner === 1;
  const C = last ? shape[ax]! : inner;
  const R = last ? outer : outer * shape[ax]!;
  if (R > 0 && C > 0) {
    const it = rowItems(C);
    engine().dispatch({
      kernel: 'diff', entry, constants: { WG: 8, ITEMS: it, LAST: last }, params: new Uint32Array([R, C, n, inner, 0, 0, 0, 0]),
      buffers: [src.buffer, y.buffer], grid: [Math.ceil(C / (8 * it)), Math.min(R, 65535), Math.ceil(R / 65535)], label,
    });
  }
  return entry === 'diff'
    ? record(y, 'diff', [src], (g) => [diffAdjoint(g, ax, n)])
    : record(y, 'diffAdjoint', [src], (g) => [diff(g, ax)]);
}

/** A copy with its own storage (no graph link is lost: the gradient passes through). */
export function clone(x: Tensor): Tensor {
  live('clone', x);
  const y = empty(x.shape, 'clone');
  engine().copy(x.buffer, 0, y.buffer, 0, x.size * 4, `clone ${fmt(x.shape)}`);
  return record(y, 'clone', [x], (g) => [reshape(g, g.shape)]);
}
