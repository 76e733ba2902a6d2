// Reductions over any set of axes: sum, mean, max, min (kernels/reduce.wgsl), variance (composed), and sumTo, the
// broadcasting adjoint that every binary op's backward rule uses.

import { record } from '../autograd.js';
import { EngineError, itemsGrid } from '../runtime/engine.js';
import { Tensor, empty, engine, live } from '../tensor.js';
import { div, eq, mul, square, sub } from './elementwise.js';
import { expand, reshape } from './shape.js';
import { fmt, normAxes, numel, sameShape } from './shapes.js';

const OPS = { sum: 0, max: 1, min: 2 } as const;
type ReduceName = keyof typeof OPS;

/** Shortest row (inner = 1) that gets reduce_rows' 8-lane workgroup per row. */
const SHORT_ROW = 64;

/** Reduce [outer, r, inner] -> [outer, inner]: one launch, plus passes over the partial results of long rows. */
function reducePass(x: Tensor, outer: number, r: number, inner: number, op: ReduceName): Tensor {
  const e = engine();
  const label = `${op} [${outer}, ${r}, ${inner}] over the middle dim`;
  const params = (chunk: number) => {
    const b = new ArrayBuffer(32);
    new Uint32Array(b).set([outer, r, inner, chunk]);
    new Float32Array(b)[4] = Infinity;
    return b;
  };
  // Rows shorter than SHORT_ROW go to reduce_cols below with inner = 1: a lane per row, walking it element by element
  // (an 8-lane workgroup per row of 2 cost 23 ms for 98304 rows in a PWC-Lite training step).
  if (inner === 1 && r >= SHORT_ROW) {
    const vec = r % 4 === 0;
    const units = vec ? r / 4 : r;
    // Enough (row, part) workgroups to keep both CPU threads busy, each at least 64 units of work.
    const wantParts = Math.max(1, Math.min(Math.ceil(64 / outer), Math.floor(units / 64)));
    const chunk = Math.ceil(units / wantParts / 8) * 8;
    const parts = Math.ceil(units / chunk);
    const rz = Math.ceil(outer / 65535);
    const y = empty([outer * parts], op);
    e.dispatch({
      kernel: 'reduce', entry: 'reduce_rows', constants: { OP: OPS[op], WG: 8, VEC4: vec }, params: params(chunk),
      buffers: [x.buffer, y.buffer], grid: [parts, Math.min(outer, 65535), rz], label,
    });
    if (parts === 1) return y;
    const z = reducePass(y, outer, parts, 1, op);
    y.dispose();
    return z;
  }
  const vec = inner % 4 === 0;
  const y = empty([outer * inner], op);
  const g = itemsGrid(vec ? (outer * inner) / 4 : outer * inner);
  e.dispatch({
    kernel: 'reduce', entry: 'reduce_cols', constants: { OP: OPS[op], WG: g.wg, ITEMS: g.items, VEC4: vec }, params: params(0),
    buffers: [x.buffer, y.buffer], grid: g.grid, label,
  });
  return y;
}

/** Launch the reduction of `axes` (sorted, normalised); result has keepdim shape. No autograd. */
function reduceRaw(x: Tensor, axes: number[], op: ReduceName): Tensor {
  const shape = [...x.shape];
  let cur = x;
  // Reduce each run of adjacent axes in one pass, innermost run first.
  const runs: [number, number][] = [];
  for (const a of axes) {
    if (shape[a] === 1) continue;
    const last = runs[runs.length - 1];
    // joins the previous run when only size-1 dims lie between them
    if (last && shape.slice(last[1] + 1, a).every((d) => d === 1)) last[1] = a;
    else runs.push([a, a]);
  }
  for (let k = runs.length - 1; k >= 0; k--) {
    const [lo, hi] = runs[k]!;
    const outer = numel(shape.slice(0, lo));
    const r = numel(shape.slice(lo, hi + 1));
    const inner = numel(shape.slice(hi + 1));
    const next = reducePass(cur, outer, r, inner, op);
    if (cur !== x) cur.dispose();
    cur = next;
    for (let a = lo; a <= hi; a++) shape[a] = 1;
  }
  const out = cur === x ? x.view(shape) : cur.view(shape);
  if (cur !== x) cur.dispose();
  return out;
}

function keptShape(shape: readonly number[], axes: number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function finish(y: Tensor, x: Tensor, axes: number[], keepdim: boolean): Tensor {
  if (keepdim) return y;
  const v = y.view(keptShape(x.shape, axes, false));
  y.dispose();
  return v;
}

/** Sum over `axes` (default: all). */
export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  live('sum', x);
  const ax = normAxes('sum', x.rank, axes);
  const y = finish(reduceRaw(x, ax, 'sum'), x, ax, keepdim);
  return record(y, 'sum', [x], (g, [xi]) => [expand(reshape(g, keptShape(xi!.shape, ax, true)), xi!.shape)]);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  live('mean', x);
  const ax = normAxes('mean', x.rank, axes);
  const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
  const s = sum(x, ax, keepdim);
  const m = mul(s, 1 / n);
  s.dispose();
  return m;
}

function extremum(op: 'max' | 'min') {
  return (x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor => {
    live(op, x);
    const ax = normAxes(op, x.rank, axes);
    const yk = reduceRaw(x, ax, op);
    const y = finish(yk, x, ax, keepdim);
    // The gradient is shared equally by every element equal to the extremum (recomputed: the rule must not
    // depend on the caller keeping y alive).
    return record(y, op, [x], (g, [xi]) => {
      const kept = keptShape(xi!.shape, ax, true);
      const mask = eq(xi!, extremum(op)(xi!, ax, true));
      const count = sum(mask, ax, true);
      return [mul(mask, div(reshape(g, kept), count))];
    });
  };
}
export const max = extremum('max');
export const min = extremum('min');

/** Variance over `axes` (biased by default, unbiased divides by n - 1). Composed: mean((x - mean(x))²). */
export function variance(x: Tensor, axes?: number | readonly number[], keepdim = false, unbiased = false): Tensor {
  live('variance', x);
  const ax = normAxes('variance', x.rank, axes);
  const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
  if (unbiased && n < 2) throw new EngineError(`variance: unbiased variance needs at least 2 elements per group, got ${n} for ${fmt(x.shape)} over ${fmt(ax)}`);
  const m = mean(x, ax, true);
  const d = sub(x, m);
  const d2 = square(d);
  const s = sum(d2, ax, keepdim);
  const v = mul(s, 1 / (unbiased ? n - 1 : n));
  for (const t of [m, d, d2, s]) t.dispose();
  return v;
}

/** Sum a broadcast gradient back to `shape` (the adjoint of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  live('sumTo', g);
  if (sameShape(g.shape, shape)) return reshape(g, shape);
  const lead = g.rank - shape.length;
  if (lead < 0) throw new EngineError(`sumTo: cannot reduce ${fmt(g.shape)} to the larger rank ${fmt(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== g.shape[i]) throw new EngineError(`sumTo: ${fmt(g.shape)} is not a broadcast of ${fmt(shape)}`);
  }
  const s = sum(g, axes, true);
  const r = reshape(s, shape);
  s.dispose();
  return r;
}
