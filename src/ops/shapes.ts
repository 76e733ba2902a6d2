// Shape arithmetic shared by the ops (pure functions, no GPU).

import { EngineError } from '../runtime/engine.js';

export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i]!;
  }
  return st;
}

/** numpy broadcasting of two or more shapes. */
export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = s[s.length - 1 - i]!;
      const j = rank - 1 - i;
      if (d === out[j] || d === 1) continue;
      if (out[j] === 1) out[j] = d;
      else throw new EngineError(`${op}: shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast together (dim ${j}: ${out[j]} vs ${d})`);
    }
  }
  return out;
}

/** Strides of `shape` read as if broadcast to `target` (0 on stretched or missing dims). */
export function broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
  const st = contiguousStrides(shape);
  const off = target.length - shape.length;
  return target.map((_, j) => (j < off || shape[j - off] === 1 ? 0 : st[j - off]!));
}

/**
 * Merge neighbouring dims that every operand walks contiguously (stride[j] == stride[j+1] * shape[j+1] for all
 * operands), and drop size-1 dims. Fewer dims = less index arithmetic per element in the kernels.
 */
export function mergeDims(shape: readonly number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((d, i) => i).filter((i) => shape[i] !== 1);
  let outShape = keep.map((i) => shape[i]!);
  let outStrides = strides.map((st) => keep.map((i) => st[i]!));
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  const ms: number[] = [outShape[0]!];
  const mst = outStrides.map((st) => [st[0]!]);
  for (let i = 1; i < outShape.length; i++) {
    const d = outShape[i]!;
    const last = ms.length - 1;
    if (outStrides.every((st, k) => mst[k]![last] === st[i]! * d)) {
      ms[last] = ms[last]! * d;
      outStrides.forEach((st, k) => (mst[k]![last] = st[i]!));
    } else {
      ms.push(d);
      outStrides.forEach((st, k) => mst[k]!.push(st[i]!));
    }
  }
  outShape = ms;
  outStrides = mst;
  return { shape: outShape, strides: outStrides };
}

/** Normalise reduction axes (negative allowed, undefined = all); sorted, unique-checked. */
export function normAxes(op: string, rank: number, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new EngineError(`${op}: axis ${a} is out of range for a tensor of rank ${rank}`);
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) throw new EngineError(`${op}: axes ${fmt(list)} repeat an axis`);
  return out.sort((a, b) => a - b);
}

export function normAxis(op: string, rank: number, axis: number): number {
  return normAxes(op, rank, [axis])[0]!;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Pack up to 8 dims as two vec4<u32> (innermost last, padded at the end). */
export function packDims(values: readonly number[]): number[] {
  if (values.length > 8) throw new EngineError(`internal: ${values.length} dims exceed the kernels' 8`);
  const out = new Array<number>(8).fill(0);
  values.forEach((v, i) => (out[i] = v));
  return out;
}
