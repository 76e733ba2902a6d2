// Tensor creation: from data, constants, and seeded random numbers generated on the GPU (kernels/fill.wgsl).

import { EngineError, itemsGrid } from '../runtime/engine.js';
import { Tensor, checkShape, empty, engine } from '../tensor.js';
import { fmt, numel } from './shapes.js';

const DIST = { uniform: 0, normal: 1, constant: 2 } as const;

export interface CreateOptions {
  requiresGrad?: boolean;
  /** name used in errors and profiles */
  label?: string;
}

export interface RandomOptions extends CreateOptions {
  /** Same seed, same numbers, on every run and adapter. Default: the next seed of the global sequence (manualSeed). */
  seed?: number;
}

function fill(shape: readonly number[], dist: keyof typeof DIST, a: number, b: number, seed: number, opts: CreateOptions): Tensor {
  const label = opts.label ?? (dist === 'constant' ? 'full' : dist === 'uniform' ? 'rand' : 'randn');
  const y = empty(shape, label);
  const buf = new ArrayBuffer(16);
  new Uint32Array(buf).set([y.size, seed >>> 0]);
  new Float32Array(buf).set([a, b], 2);
  const g = itemsGrid(y.size);
  engine().dispatch({ kernel: 'fill', entry: 'fill', constants: { DIST: DIST[dist], WG: g.wg, ITEMS: g.items }, params: buf, buffers: [y.buffer], grid: g.grid, label: `${label} ${fmt(shape)}` });
  if (opts.requiresGrad) y.requiresGrad = true;
  return y;
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  if (typeof value !== 'number') throw new EngineError(`full: value must be a number, got ${typeof value}`);
  return fill(shape, 'constant', value, 0, 0, opts);
}
export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 0, { label: 'zeros', ...opts });
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 1, { label: 'ones', ...opts });

let baseSeed = 0;
let counter = 0;

/** Reset the global random sequence: after manualSeed(s), the same program draws the same tensors. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed)) throw new EngineError(`manualSeed: seed must be an integer, got ${seed}`);
  baseSeed = seed >>> 0;
  counter = 0;
}

function nextSeed(opts: RandomOptions): number {
  if (opts.seed !== undefined) {
    if (!Number.isInteger(opts.seed)) throw new EngineError(`random: seed must be an integer, got ${opts.seed}`);
    return opts.seed >>> 0;
  }
  // splitmix-style step so consecutive draws get unrelated seeds
  let z = (baseSeed + Math.imul(++counter, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Uniform random numbers in [lo, hi). */
export function rand(shape: readonly number[], opts: RandomOptions & { lo?: number; hi?: number } = {}): Tensor {
  return fill(shape, 'uniform', opts.lo ?? 0, opts.hi ?? 1, nextSeed(opts), opts);
}

/** Normal random numbers (Box-Muller), mean 0 and std 1 unless given. */
export function randn(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  return fill(shape, 'normal', opts.mean ?? 0, opts.std ?? 1, nextSeed(opts), opts);
}

type Nested = number | Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let d: Nested = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0]!;
  }
  return shape;
}

/** A tensor from numbers: a typed array or flat array with a shape, or nested arrays (shape inferred). */
export function tensor(data: Float32Array | Float64Array | ArrayLike<number> | Nested, shape?: readonly number[], opts: CreateOptions = {}): Tensor {
  let flat: Float32Array;
  if (ArrayBuffer.isView(data) || !Array.isArray(data) || !data.some(Array.isArray)) {
    flat = data instanceof Float32Array ? data : Float32Array.from(typeof data === 'number' ? [data] : (data as ArrayLike<number>));
    shape ??= typeof data === 'number' ? [] : [flat.length];
  } else {
    const inferred = inferShape(data as Nested);
    flat = Float32Array.from((data as unknown[]).flat(Infinity) as number[]);
    if (flat.length !== numel(inferred)) throw new EngineError(`tensor: nested arrays are ragged (expected ${numel(inferred)} numbers for shape ${fmt(inferred)}, got ${flat.length})`);
    shape ??= inferred;
  }
  checkShape(shape, 'tensor');
  if (flat.length !== numel(shape)) {
    throw new EngineError(`tensor: ${flat.length} values do not fill shape ${fmt(shape)} (${numel(shape)} elements)`);
  }
  const t = empty(shape, opts.label ?? 'tensor');
  engine().write(t.buffer, flat);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}
