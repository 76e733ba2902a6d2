// Independent float64 CPU reference implementation of the tensor ops, used by
// the GPU tests as ground truth. It deliberately shares no code with the
// engine in src/: everything here is plain loops over flat row-major indices.
//
// Layout: every RT is contiguous and row-major. For a shape [d0, ..., dn-1]
// the flat index of (i0, ..., in-1) is sum_k ik * stride_k with
// stride_{n-1} = 1 and stride_k = stride_{k+1} * d_{k+1}.

// ---------------------------------------------------------------------------
// Tensor type and constructors
// ---------------------------------------------------------------------------

export class RT {
  constructor(readonly shape: number[], readonly data: Float64Array) {
    checkShapeArg('RT', 'shape', shape);
    if (!(data instanceof Float64Array)) {
      throw new Error('RT: data must be a Float64Array');
    }
    if (data.length !== prod(shape)) {
      throw new Error(
        `RT: data length ${data.length} does not match shape ${fmt(shape)} (size ${prod(shape)})`,
      );
    }
  }

  get size(): number {
    return this.data.length;
  }
}

/** Builds an RT from a shape and values (both are copied). */
export function rt(shape: number[], data: ArrayLike<number>): RT {
  checkShapeArg('rt', 'shape', shape);
  if (data === null || typeof data !== 'object' || typeof data.length !== 'number') {
    throw new Error(`rt: data must be an array-like of numbers (shape ${fmt(shape)})`);
  }
  if (data.length !== prod(shape)) {
    throw new Error(
      `rt: data length ${data.length} does not match shape ${fmt(shape)} (size ${prod(shape)})`,
    );
  }
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i];
  return new RT([...shape], out);
}

/** Uniform random values in [lo, hi). */
export function randRT(shape: number[], rng: () => number, lo = -1, hi = 1): RT {
  checkShapeArg('randRT', 'shape', shape);
  if (typeof rng !== 'function') throw new Error('randRT: rng must be a function');
  checkNumber('randRT', 'lo', lo);
  checkNumber('randRT', 'hi', hi);
  const out = new Float64Array(prod(shape));
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng();
  return new RT([...shape], out);
}

/** Tensor of zeros. */
export function zerosRT(shape: number[]): RT {
  checkShapeArg('zerosRT', 'shape', shape);
  return new RT([...shape], new Float64Array(prod(shape)));
}

/** Tensor filled with one value. */
export function fullRT(shape: number[], value: number): RT {
  checkShapeArg('fullRT', 'shape', shape);
  const out = new Float64Array(prod(shape));
  out.fill(value);
  return new RT([...shape], out);
}

/** Small seeded PRNG (mulberry32) returning numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

function checkShapeArg(op: string, name: string, shape: unknown): asserts shape is number[] {
  if (!Array.isArray(shape)) throw new Error(`${op}: ${name} must be an array of dims`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: ${name} ${JSON.stringify(shape)} must contain non-negative integers`);
    }
  }
}

function checkRT(op: string, name: string, x: unknown): asserts x is RT {
  if (!(x instanceof RT)) throw new Error(`${op}: ${name} must be an RT`);
}

function checkNumber(op: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(`${op}: ${name} must be a finite number, got ${String(v)}`);
  }
}

function checkInt(op: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new Error(`${op}: ${name} must be an integer, got ${String(v)}`);
  }
}

/** Checks the upstream gradient of a vjp against the forward output shape. */
function checkGy(op: string, gy: unknown, outShape: readonly number[]): asserts gy is RT {
  checkRT(`vjp.${op}`, 'gy', gy);
  if (!sameShape(gy.shape, outShape)) {
    throw new Error(
      `vjp.${op}: gy shape ${fmt(gy.shape)} does not match forward output shape ${fmt(outShape)}`,
    );
  }
}

/** Normalizes a python-style axis (negative counts from the end). */
function normAxis(op: string, axis: unknown, rank: number, shape: readonly number[]): number {
  checkInt(op, 'axis', axis);
  if (axis < -rank || axis >= rank) {
    throw new Error(`${op}: axis ${axis} out of range for shape ${fmt(shape)}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** numpy broadcasting of several shapes; returns null when incompatible. */
function tryBroadcast(shapes: readonly (readonly number[])[]): number[] | null {
  let rank = 0;
  for (const s of shapes) rank = Math.max(rank, s.length);
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    let size = 1;
    for (const s of shapes) {
      const k = d - (rank - s.length); // this shape's dim aligned with output dim d
      if (k < 0) continue;
      const v = s[k];
      if (v === 1) continue;
      if (size === 1) size = v;
      else if (size !== v) return null;
    }
    out.push(size);
  }
  return out;
}

function broadcastShapes(op: string, shapes: readonly (readonly number[])[]): number[] {
  const out = tryBroadcast(shapes);
  if (out === null) {
    throw new Error(`${op}: cannot broadcast shapes ${shapes.map(fmt).join(' and ')}`);
  }
  return out;
}

/**
 * Strides of `inShape` seen through an output of rank `outRank` it is
 * broadcast to: trailing dims aligned, 0 for missing or size-1 dims.
 */
function broadcastStrides(inShape: readonly number[], outRank: number): number[] {
  const st: number[] = new Array(outRank).fill(0);
  let stride = 1;
  for (let k = inShape.length - 1; k >= 0; k--) {
    const d = k + outRank - inShape.length;
    st[d] = inShape[k] === 1 ? 0 : stride;
    stride *= inShape[k];
  }
  return st;
}

/** Offset of the element with flat index `flat` in `shape`, using strides `st`. */
function offsetOf(flat: number, shape: readonly number[], st: readonly number[]): number {
  let rem = flat;
  let off = 0;
  for (let d = shape.length - 1; d >= 0; d--) {
    const i = rem % shape[d];
    rem = (rem - i) / shape[d];
    off += i * st[d];
  }
  return off;
}

/** Row-major strides of a shape. */
function stridesOf(shape: readonly number[]): number[] {
  const st: number[] = new Array(shape.length).fill(0);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = stride;
    stride *= shape[d];
  }
  return st;
}

/** Sums a gradient of shape g.shape back down to `shape` (which broadcasts to g.shape). */
function sumTo(op: string, g: RT, shape: readonly number[]): RT {
  const b = tryBroadcast([shape, g.shape]);
  if (b === null || !sameShape(b, g.shape)) {
    throw new Error(`${op}: cannot sum gradient of shape ${fmt(g.shape)} down to ${fmt(shape)}`);
  }
  const st = broadcastStrides(shape, g.shape.length);
  const out = new Float64Array(prod(shape));
  for (let o = 0; o < g.size; o++) out[offsetOf(o, g.shape, st)] += g.data[o];
  return new RT([...shape], out);
}

/** Broadcasts x to `shape` (copy). Caller has validated compatibility. */
function broadcastTo(x: RT, shape: readonly number[]): RT {
  const st = broadcastStrides(x.shape, shape.length);
  const out = new Float64Array(prod(shape));
  for (let o = 0; o < out.length; o++) out[o] = x.data[offsetOf(o, shape, st)];
  return new RT([...shape], out);
}

// ---------------------------------------------------------------------------
// Unary ops
// ---------------------------------------------------------------------------

function unary(op: string, x: RT, fn: (v: number) => number): RT {
  checkRT(op, 'x', x);
  const out = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) out[i] = fn(x.data[i]);
  return new RT([...x.shape], out);
}

/** gx = gy * f'(x), elementwise. */
function unaryVjp(op: string, gy: RT, x: RT, dfn: (v: number) => number): RT[] {
  checkRT(`vjp.${op}`, 'x', x);
  checkGy(op, gy, x.shape);
  const out = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) out[i] = gy.data[i] * dfn(x.data[i]);
  return [new RT([...x.shape], out)];
}

function sigmoidScalar(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

function neg(x: RT): RT {
  return unary('neg', x, (v) => -v);
}
function exp(x: RT): RT {
  return unary('exp', x, (v) => Math.exp(v));
}
function log(x: RT): RT {
  return unary('log', x, (v) => Math.log(v));
}
function sqrt(x: RT): RT {
  return unary('sqrt', x, (v) => Math.sqrt(v));
}
function rsqrt(x: RT): RT {
  return unary('rsqrt', x, (v) => 1 / Math.sqrt(v));
}
function abs(x: RT): RT {
  return unary('abs', x, (v) => Math.abs(v));
}
function tanh(x: RT): RT {
  return unary('tanh', x, (v) => Math.tanh(v));
}
function sigmoid(x: RT): RT {
  return unary('sigmoid', x, sigmoidScalar);
}
function relu(x: RT): RT {
  return unary('relu', x, (v) => (v > 0 ? v : 0));
}
function sin(x: RT): RT {
  return unary('sin', x, (v) => Math.sin(v));
}
function cos(x: RT): RT {
  return unary('cos', x, (v) => Math.cos(v));
}
function reciprocal(x: RT): RT {
  return unary('reciprocal', x, (v) => 1 / v);
}
function square(x: RT): RT {
  return unary('square', x, (v) => v * v);
}
function leakyRelu(x: RT, slope: number): RT {
  checkNumber('leakyRelu', 'slope', slope);
  return unary('leakyRelu', x, (v) => (v > 0 ? v : slope * v));
}
function affine(x: RT, a: number, b: number): RT {
  checkNumber('affine', 'a', a);
  checkNumber('affine', 'b', b);
  return unary('affine', x, (v) => a * v + b);
}
function powScalar(x: RT, p: number): RT {
  checkNumber('powScalar', 'p', p);
  return unary('powScalar', x, (v) => Math.pow(v, p));
}

// ---------------------------------------------------------------------------
// Binary ops (numpy broadcasting) and where
// ---------------------------------------------------------------------------

function binary(op: string, a: RT, b: RT, fn: (x: number, y: number) => number): RT {
  checkRT(op, 'a', a);
  checkRT(op, 'b', b);
  const shape = broadcastShapes(op, [a.shape, b.shape]);
  const sa = broadcastStrides(a.shape, shape.length);
  const sb = broadcastStrides(b.shape, shape.length);
  const out = new Float64Array(prod(shape));
  for (let o = 0; o < out.length; o++) {
    out[o] = fn(a.data[offsetOf(o, shape, sa)], b.data[offsetOf(o, shape, sb)]);
  }
  return new RT(shape, out);
}

/**
 * ga = sumTo(gy * da(a, b)), gb = sumTo(gy * db(a, b)), where da/db are the
 * partial derivatives evaluated at each broadcast output position.
 */
function binaryVjp(
  op: string,
  gy: RT,
  a: RT,
  b: RT,
  da: (x: number, y: number) => number,
  db: (x: number, y: number) => number,
): RT[] {
  checkRT(`vjp.${op}`, 'a', a);
  checkRT(`vjp.${op}`, 'b', b);
  const shape = broadcastShapes(`vjp.${op}`, [a.shape, b.shape]);
  checkGy(op, gy, shape);
  const sa = broadcastStrides(a.shape, shape.length);
  const sb = broadcastStrides(b.shape, shape.length);
  const ga = new Float64Array(prod(shape));
  const gb = new Float64Array(prod(shape));
  for (let o = 0; o < ga.length; o++) {
    const x = a.data[offsetOf(o, shape, sa)];
    const y = b.data[offsetOf(o, shape, sb)];
    ga[o] = gy.data[o] * da(x, y);
    gb[o] = gy.data[o] * db(x, y);
  }
  return [
    sumTo(`vjp.${op}`, new RT([...shape], ga), a.shape),
    sumTo(`vjp.${op}`, new RT([...shape], gb), b.shape),
  ];
}

function add(a: RT, b: RT): RT {
  return binary('add', a, b, (x, y) => x + y);
}
function sub(a: RT, b: RT): RT {
  return binary('sub', a, b, (x, y) => x - y);
}
function mul(a: RT, b: RT): RT {
  return binary('mul', a, b, (x, y) => x * y);
}
function div(a: RT, b: RT): RT {
  return binary('div', a, b, (x, y) => x / y);
}
function maximum(a: RT, b: RT): RT {
  return binary('maximum', a, b, (x, y) => Math.max(x, y));
}
function minimum(a: RT, b: RT): RT {
  return binary('minimum', a, b, (x, y) => Math.min(x, y));
}
function gt(a: RT, b: RT): RT {
  return binary('gt', a, b, (x, y) => (x > y ? 1 : 0));
}
function ge(a: RT, b: RT): RT {
  return binary('ge', a, b, (x, y) => (x >= y ? 1 : 0));
}
function lt(a: RT, b: RT): RT {
  return binary('lt', a, b, (x, y) => (x < y ? 1 : 0));
}
function le(a: RT, b: RT): RT {
  return binary('le', a, b, (x, y) => (x <= y ? 1 : 0));
}
function eq(a: RT, b: RT): RT {
  return binary('eq', a, b, (x, y) => (x === y ? 1 : 0));
}
function ne(a: RT, b: RT): RT {
  return binary('ne', a, b, (x, y) => (x !== y ? 1 : 0));
}

/** Elementwise cond != 0 ? a : b with three-way broadcasting. */
function where(cond: RT, a: RT, b: RT): RT {
  checkRT('where', 'cond', cond);
  checkRT('where', 'a', a);
  checkRT('where', 'b', b);
  const shape = broadcastShapes('where', [cond.shape, a.shape, b.shape]);
  const sc = broadcastStrides(cond.shape, shape.length);
  const sa = broadcastStrides(a.shape, shape.length);
  const sb = broadcastStrides(b.shape, shape.length);
  const out = new Float64Array(prod(shape));
  for (let o = 0; o < out.length; o++) {
    const c = cond.data[offsetOf(o, shape, sc)];
    out[o] = c !== 0 ? a.data[offsetOf(o, shape, sa)] : b.data[offsetOf(o, shape, sb)];
  }
  return new RT(shape, out);
}

function comparisonVjp(op: string, gy: RT, a: RT, b: RT): RT[] {
  return binaryVjp(op, gy, a, b, () => 0, () => 0);
}

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------

interface ReduceInfo {
  keepShape: number[]; // x.shape with reduced dims set to 1
  outShape: number[]; // keepShape, or with reduced dims removed
  count: number; // number of elements reduced into each output
  st: number[]; // strides mapping an x flat index to its output offset
}

function reduceInfo(op: string, x: RT, axes: number[] | undefined, keepdim: boolean): ReduceInfo {
  checkRT(op, 'x', x);
  if (typeof keepdim !== 'boolean') throw new Error(`${op}: keepdim must be a boolean`);
  const rank = x.shape.length;
  const reduced: boolean[] = new Array(rank).fill(axes === undefined);
  if (axes !== undefined) {
    if (!Array.isArray(axes)) throw new Error(`${op}: axes must be an array of integers`);
    for (const ax of axes) {
      const a = normAxis(op, ax, rank, x.shape);
      if (reduced[a]) {
        throw new Error(`${op}: duplicate axis ${ax} in ${JSON.stringify(axes)} for shape ${fmt(x.shape)}`);
      }
      reduced[a] = true;
    }
  }
  const keepShape: number[] = [];
  const outShape: number[] = [];
  let count = 1;
  for (let d = 0; d < rank; d++) {
    if (reduced[d]) {
      keepShape.push(1);
      if (keepdim) outShape.push(1);
      count *= x.shape[d];
    } else {
      keepShape.push(x.shape[d]);
      outShape.push(x.shape[d]);
    }
  }
  // keepShape broadcasts to x.shape, so broadcast strides map x positions to outputs.
  return { keepShape, outShape, count, st: broadcastStrides(keepShape, rank) };
}

function sum(x: RT, axes?: number[], keepdim = false): RT {
  const r = reduceInfo('sum', x, axes, keepdim);
  const out = new Float64Array(prod(r.keepShape));
  for (let i = 0; i < x.size; i++) out[offsetOf(i, x.shape, r.st)] += x.data[i];
  return new RT(r.outShape, out);
}

function mean(x: RT, axes?: number[], keepdim = false): RT {
  const r = reduceInfo('mean', x, axes, keepdim);
  const out = new Float64Array(prod(r.keepShape));
  for (let i = 0; i < x.size; i++) out[offsetOf(i, x.shape, r.st)] += x.data[i];
  for (let o = 0; o < out.length; o++) out[o] /= r.count;
  return new RT(r.outShape, out);
}

function extremum(op: string, x: RT, axes: number[] | undefined, keepdim: boolean, isMax: boolean): RT {
  const r = reduceInfo(op, x, axes, keepdim);
  const out = new Float64Array(prod(r.keepShape));
  if (r.count === 0 && out.length > 0) {
    throw new Error(`${op}: cannot reduce over zero elements (shape ${fmt(x.shape)})`);
  }
  out.fill(isMax ? -Infinity : Infinity);
  for (let i = 0; i < x.size; i++) {
    const o = offsetOf(i, x.shape, r.st);
    out[o] = isMax ? Math.max(out[o], x.data[i]) : Math.min(out[o], x.data[i]);
  }
  return new RT(r.outShape, out);
}

function max(x: RT, axes?: number[], keepdim = false): RT {
  return extremum('max', x, axes, keepdim, true);
}

function min(x: RT, axes?: number[], keepdim = false): RT {
  return extremum('min', x, axes, keepdim, false);
}

/** Variance over axes; divides by (n - 1) when unbiased (NaN when n == 1). */
function variance(x: RT, axes?: number[], keepdim = false, unbiased = false): RT {
  if (typeof unbiased !== 'boolean') throw new Error('variance: unbiased must be a boolean');
  const r = reduceInfo('variance', x, axes, keepdim);
  const m = mean(x, axes, true);
  const out = new Float64Array(prod(r.keepShape));
  for (let i = 0; i < x.size; i++) {
    const o = offsetOf(i, x.shape, r.st);
    const d = x.data[i] - m.data[o];
    out[o] += d * d;
  }
  const denom = r.count - (unbiased ? 1 : 0);
  for (let o = 0; o < out.length; o++) out[o] /= denom;
  return new RT(r.outShape, out);
}

/** gx[i] = gy[output of i] * factor(i, output offset), the common reduction vjp shape. */
function reduceVjp(
  op: string,
  gy: RT,
  x: RT,
  axes: number[] | undefined,
  keepdim: boolean,
  factor: (i: number, o: number, r: ReduceInfo) => number,
): RT[] {
  const r = reduceInfo(`vjp.${op}`, x, axes, keepdim);
  checkGy(op, gy, r.outShape);
  // gy's flat layout equals the keepShape layout (only size-1 dims differ).
  const gx = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const o = offsetOf(i, x.shape, r.st);
    gx[i] = gy.data[o] * factor(i, o, r);
  }
  return [new RT([...x.shape], gx)];
}

/** max/min vjp: gradient split equally among the tied extrema. */
function extremumVjp(op: string, gy: RT, x: RT, axes: number[] | undefined, keepdim: boolean, isMax: boolean): RT[] {
  const m = extremum(`vjp.${op}`, x, axes, true, isMax);
  const r = reduceInfo(`vjp.${op}`, x, axes, keepdim);
  const ties = new Float64Array(m.size);
  for (let i = 0; i < x.size; i++) {
    const o = offsetOf(i, x.shape, r.st);
    if (x.data[i] === m.data[o]) ties[o] += 1;
  }
  return reduceVjp(op, gy, x, axes, keepdim, (i, o) => (x.data[i] === m.data[o] ? 1 / ties[o] : 0));
}

// ---------------------------------------------------------------------------
// Shape ops
// ---------------------------------------------------------------------------

/** Reshape (copy); one dim may be -1 and is inferred. */
function reshape(x: RT, shape: number[]): RT {
  checkRT('reshape', 'x', x);
  if (!Array.isArray(shape)) throw new Error('reshape: shape must be an array');
  let inferAt = -1;
  let known = 1;
  for (let d = 0; d < shape.length; d++) {
    const v = shape[d];
    if (v === -1) {
      if (inferAt >= 0) throw new Error(`reshape: more than one -1 in ${fmt(shape)} (x shape ${fmt(x.shape)})`);
      inferAt = d;
    } else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new Error(`reshape: invalid dim ${String(v)} in ${fmt(shape)} (x shape ${fmt(x.shape)})`);
    } else {
      known *= v;
    }
  }
  const newShape = [...shape];
  if (inferAt >= 0) {
    if (known === 0 || x.size % known !== 0) {
      throw new Error(`reshape: cannot reshape ${fmt(x.shape)} to ${fmt(shape)}`);
    }
    newShape[inferAt] = x.size / known;
  }
  if (prod(newShape) !== x.size) {
    throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (size ${x.size}) to ${fmt(shape)}`);
  }
  return new RT(newShape, Float64Array.from(x.data));
}

/** Validates a permutation (negative entries allowed) and returns it normalized. */
function normPerm(op: string, x: RT, perm: number[]): number[] {
  const rank = x.shape.length;
  const bad = (): Error => new Error(`${op}: invalid permutation ${JSON.stringify(perm)} for shape ${fmt(x.shape)}`);
  if (!Array.isArray(perm) || perm.length !== rank) throw bad();
  const seen: boolean[] = new Array(rank).fill(false);
  const out: number[] = [];
  for (const p of perm) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < -rank || p >= rank) throw bad();
    const q = p < 0 ? p + rank : p;
    if (seen[q]) throw bad();
    seen[q] = true;
    out.push(q);
  }
  return out;
}

/** out.shape[i] = x.shape[perm[i]]. */
function permute(x: RT, perm: number[]): RT {
  checkRT('permute', 'x', x);
  const p = normPerm('permute', x, perm);
  const xs = stridesOf(x.shape);
  const shape: number[] = [];
  const st: number[] = []; // stride in x of each output dim
  for (let i = 0; i < p.length; i++) {
    shape.push(x.shape[p[i]]);
    st.push(xs[p[i]]);
  }
  const out = new Float64Array(x.size);
  for (let o = 0; o < out.length; o++) out[o] = x.data[offsetOf(o, shape, st)];
  return new RT(shape, out);
}

/** x reversed along each of `axes`. */
function flip(x: RT, axes: number[]): RT {
  checkRT('flip', 'x', x);
  const ax = axes.map((a) => normAxis('flip', a, x.shape.length, x.shape));
  const xs = stridesOf(x.shape);
  const out = new Float64Array(x.size);
  for (let o = 0; o < out.length; o++) {
    // the multi-index of o, reversed along the flipped axes, back to an offset of x
    let rem = o;
    let src = 0;
    for (let d = x.shape.length - 1; d >= 0; d--) {
      const n = x.shape[d];
      const i = rem % n;
      rem = (rem - i) / n;
      src += (ax.includes(d) ? n - 1 - i : i) * xs[d];
    }
    out[o] = x.data[src];
  }
  return new RT([...x.shape], out);
}

function transposePerm(op: string, x: RT, d0: number, d1: number): number[] {
  const rank = x.shape.length;
  const a = normAxis(op, d0, rank, x.shape);
  const b = normAxis(op, d1, rank, x.shape);
  const perm: number[] = [];
  for (let d = 0; d < rank; d++) perm.push(d);
  perm[a] = b;
  perm[b] = a;
  return perm;
}

/** Swaps dims d0 and d1. */
function transpose(x: RT, d0: number, d1: number): RT {
  checkRT('transpose', 'x', x);
  return permute(x, transposePerm('transpose', x, d0, d1));
}

/** Half-open slice [start, end) along one axis; requires 0 <= start <= end <= dim. */
function sliceInfo(op: string, x: RT, axis: number, start: number, end: number) {
  checkRT(op, 'x', x);
  const ax = normAxis(op, axis, x.shape.length, x.shape);
  checkInt(op, 'start', start);
  checkInt(op, 'end', end);
  const dim = x.shape[ax];
  if (start < 0 || end > dim || start > end) {
    throw new Error(`${op}: range [${start}, ${end}) out of bounds for axis ${axis} of shape ${fmt(x.shape)}`);
  }
  let outer = 1;
  for (let d = 0; d < ax; d++) outer *= x.shape[d];
  let inner = 1;
  for (let d = ax + 1; d < x.shape.length; d++) inner *= x.shape[d];
  const shape = [...x.shape];
  shape[ax] = end - start;
  return { shape, outer, inner, dim, len: end - start };
}

function slice(x: RT, axis: number, start: number, end: number): RT {
  const s = sliceInfo('slice', x, axis, start, end);
  const out = new Float64Array(prod(s.shape));
  for (let o = 0; o < s.outer; o++) {
    for (let k = 0; k < s.len; k++) {
      for (let i = 0; i < s.inner; i++) {
        out[(o * s.len + k) * s.inner + i] = x.data[(o * s.dim + start + k) * s.inner + i];
      }
    }
  }
  return new RT(s.shape, out);
}

/** numpy.diff along one axis: y[.., i, ..] = x[.., i + 1, ..] - x[.., i, ..]; the axis needs >= 2 elements. */
function diff(x: RT, axis: number): RT {
  checkRT('diff', 'x', x);
  const ax = normAxis('diff', axis, x.shape.length, x.shape);
  const n = x.shape[ax];
  const lo = slice(x, ax, 0, n - 1);
  const hi = slice(x, ax, 1, n);
  return new RT(lo.shape, hi.data.map((v, i) => v - lo.data[i]));
}

function concatInfo(op: string, xs: RT[], axis: number) {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`${op}: needs a non-empty array of tensors`);
  for (let t = 0; t < xs.length; t++) checkRT(op, `xs[${t}]`, xs[t]);
  const first = xs[0].shape;
  const ax = normAxis(op, axis, first.length, first);
  let total = 0;
  for (const x of xs) {
    let ok = x.shape.length === first.length;
    for (let d = 0; ok && d < first.length; d++) if (d !== ax && x.shape[d] !== first[d]) ok = false;
    if (!ok) {
      throw new Error(`${op}: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} do not match outside axis ${axis}`);
    }
    total += x.shape[ax];
  }
  let outer = 1;
  for (let d = 0; d < ax; d++) outer *= first[d];
  let inner = 1;
  for (let d = ax + 1; d < first.length; d++) inner *= first[d];
  const shape = [...first];
  shape[ax] = total;
  return { ax, shape, outer, inner, total };
}

function concat(xs: RT[], axis: number): RT {
  const c = concatInfo('concat', xs, axis);
  const out = new Float64Array(prod(c.shape));
  let offset = 0; // position along the concat axis where the current input starts
  for (const x of xs) {
    const len = x.shape[c.ax];
    for (let o = 0; o < c.outer; o++) {
      for (let k = 0; k < len; k++) {
        for (let i = 0; i < c.inner; i++) {
          out[(o * c.total + offset + k) * c.inner + i] = x.data[(o * len + k) * c.inner + i];
        }
      }
    }
    offset += len;
  }
  return new RT(c.shape, out);
}

function checkExpand(op: string, x: RT, shape: number[]): void {
  checkRT(op, 'x', x);
  checkShapeArg(op, 'shape', shape);
  const b = tryBroadcast([x.shape, shape]);
  if (shape.length < x.shape.length || b === null || !sameShape(b, shape)) {
    throw new Error(`${op}: cannot expand shape ${fmt(x.shape)} to ${fmt(shape)}`);
  }
}

/** numpy broadcast_to (copy). */
function expand(x: RT, shape: number[]): RT {
  checkExpand('expand', x, shape);
  return broadcastTo(x, shape);
}

// ---------------------------------------------------------------------------
// Matmul and linear
// ---------------------------------------------------------------------------

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

function matmulDims(op: string, a: RT, b: RT, opts: MatmulOptions) {
  checkRT(op, 'a', a);
  checkRT(op, 'b', b);
  if (opts === null || typeof opts !== 'object') throw new Error(`${op}: opts must be an object`);
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) {
    throw new Error(`${op}: operands must have rank >= 2, got a ${fmt(a.shape)} and b ${fmt(b.shape)}`);
  }
  const transA = opts.transA === true;
  const transB = opts.transB === true;
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  const desc = `a ${fmt(a.shape)}${transA ? ' (transA)' : ''} and b ${fmt(b.shape)}${transB ? ' (transB)' : ''}`;
  if (K !== Kb) throw new Error(`${op}: inner dims do not match for ${desc}`);
  const batchA = a.shape.slice(0, ra - 2);
  const batchB = b.shape.slice(0, rb - 2);
  const batch = tryBroadcast([batchA, batchB]);
  if (batch === null) throw new Error(`${op}: cannot broadcast batch dims of ${desc}`);
  return { transA, transB, M, K, N, batchA, batchB, batch, shape: [...batch, M, N] };
}

/** numpy matmul for ranks >= 2, with optional transposition of the last two dims of a / b. */
function matmul(a: RT, b: RT, opts: MatmulOptions = {}): RT {
  const m = matmulDims('matmul', a, b, opts);
  const { M, K, N } = m;
  const sa = broadcastStrides(m.batchA, m.batch.length); // in units of whole matrices
  const sb = broadcastStrides(m.batchB, m.batch.length);
  const nb = prod(m.batch);
  const out = new Float64Array(nb * M * N);
  for (let bi = 0; bi < nb; bi++) {
    const offA = offsetOf(bi, m.batch, sa) * M * K;
    const offB = offsetOf(bi, m.batch, sb) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = m.transA ? a.data[offA + k * M + i] : a.data[offA + i * K + k];
          const bv = m.transB ? b.data[offB + j * K + k] : b.data[offB + k * N + j];
          s += av * bv;
        }
        out[(bi * M + i) * N + j] = s;
      }
    }
  }
  return new RT(m.shape, out);
}

function linearDims(op: string, x: RT, w: RT, b: RT | undefined) {
  checkRT(op, 'x', x);
  checkRT(op, 'w', w);
  if (b !== undefined) checkRT(op, 'b', b);
  const desc = `x ${fmt(x.shape)}, w ${fmt(w.shape)}${b !== undefined ? `, b ${fmt(b.shape)}` : ''}`;
  if (x.shape.length < 1 || w.shape.length !== 2 || x.shape[x.shape.length - 1] !== w.shape[1]) {
    throw new Error(`${op}: expected x [..., in], w [out, in], got ${desc}`);
  }
  if (b !== undefined && (b.shape.length !== 1 || b.shape[0] !== w.shape[0])) {
    throw new Error(`${op}: expected b [out], got ${desc}`);
  }
  const nIn = w.shape[1];
  const nOut = w.shape[0];
  const lead = x.shape.slice(0, x.shape.length - 1);
  return { nIn, nOut, rows: prod(lead), shape: [...lead, nOut] };
}

/** y = x @ w^T + b, x [..., in], w [out, in], b [out]. */
function linear(x: RT, w: RT, b?: RT): RT {
  const l = linearDims('linear', x, w, b);
  const out = new Float64Array(l.rows * l.nOut);
  for (let r = 0; r < l.rows; r++) {
    for (let o = 0; o < l.nOut; o++) {
      let s = b !== undefined ? b.data[o] : 0;
      for (let k = 0; k < l.nIn; k++) s += x.data[r * l.nIn + k] * w.data[o * l.nIn + k];
      out[r * l.nOut + o] = s;
    }
  }
  return new RT(l.shape, out);
}

// ---------------------------------------------------------------------------
// Exported op tables
// ---------------------------------------------------------------------------

export const ref = {
  neg,
  exp,
  log,
  sqrt,
  rsqrt,
  abs,
  tanh,
  sigmoid,
  relu,
  sin,
  cos,
  reciprocal,
  square,
  leakyRelu,
  affine,
  powScalar,
  add,
  sub,
  mul,
  div,
  maximum,
  minimum,
  gt,
  ge,
  lt,
  le,
  eq,
  ne,
  where,
  sum,
  mean,
  max,
  min,
  variance,
  reshape,
  permute,
  flip,
  transpose,
  slice,
  diff,
  concat,
  expand,
  matmul,
  linear,
};

/**
 * Hand-derived vector-Jacobian products. Each takes the upstream gradient gy
 * (shape of the forward output) followed by the forward arguments, and returns
 * one gradient per tensor input, with that input's shape.
 */
export const vjp = {
  // ----- unary -----
  neg(gy: RT, x: RT): RT[] {
    return unaryVjp('neg', gy, x, () => -1);
  },
  exp(gy: RT, x: RT): RT[] {
    return unaryVjp('exp', gy, x, (v) => Math.exp(v));
  },
  log(gy: RT, x: RT): RT[] {
    return unaryVjp('log', gy, x, (v) => 1 / v);
  },
  sqrt(gy: RT, x: RT): RT[] {
    return unaryVjp('sqrt', gy, x, (v) => 0.5 / Math.sqrt(v));
  },
  rsqrt(gy: RT, x: RT): RT[] {
    return unaryVjp('rsqrt', gy, x, (v) => -0.5 / (v * Math.sqrt(v)));
  },
  abs(gy: RT, x: RT): RT[] {
    return unaryVjp('abs', gy, x, (v) => (v > 0 ? 1 : v < 0 ? -1 : 0));
  },
  tanh(gy: RT, x: RT): RT[] {
    return unaryVjp('tanh', gy, x, (v) => {
      const t = Math.tanh(v);
      return 1 - t * t;
    });
  },
  sigmoid(gy: RT, x: RT): RT[] {
    return unaryVjp('sigmoid', gy, x, (v) => {
      const s = sigmoidScalar(v);
      return s * (1 - s);
    });
  },
  relu(gy: RT, x: RT): RT[] {
    return unaryVjp('relu', gy, x, (v) => (v > 0 ? 1 : 0));
  },
  sin(gy: RT, x: RT): RT[] {
    return unaryVjp('sin', gy, x, (v) => Math.cos(v));
  },
  cos(gy: RT, x: RT): RT[] {
    return unaryVjp('cos', gy, x, (v) => -Math.sin(v));
  },
  reciprocal(gy: RT, x: RT): RT[] {
    return unaryVjp('reciprocal', gy, x, (v) => -1 / (v * v));
  },
  square(gy: RT, x: RT): RT[] {
    return unaryVjp('square', gy, x, (v) => 2 * v);
  },
  leakyRelu(gy: RT, x: RT, slope: number): RT[] {
    checkNumber('vjp.leakyRelu', 'slope', slope);
    return unaryVjp('leakyRelu', gy, x, (v) => (v > 0 ? 1 : slope));
  },
  affine(gy: RT, x: RT, a: number, b: number): RT[] {
    checkNumber('vjp.affine', 'a', a);
    checkNumber('vjp.affine', 'b', b);
    return unaryVjp('affine', gy, x, () => a);
  },
  powScalar(gy: RT, x: RT, p: number): RT[] {
    checkNumber('vjp.powScalar', 'p', p);
    return unaryVjp('powScalar', gy, x, (v) => (p === 0 ? 0 : p * Math.pow(v, p - 1)));
  },

  // ----- binary -----
  add(gy: RT, a: RT, b: RT): RT[] {
    return binaryVjp('add', gy, a, b, () => 1, () => 1);
  },
  sub(gy: RT, a: RT, b: RT): RT[] {
    return binaryVjp('sub', gy, a, b, () => 1, () => -1);
  },
  mul(gy: RT, a: RT, b: RT): RT[] {
    return binaryVjp('mul', gy, a, b, (_x, y) => y, (x) => x);
  },
  div(gy: RT, a: RT, b: RT): RT[] {
    return binaryVjp('div', gy, a, b, (_x, y) => 1 / y, (x, y) => -x / (y * y));
  },
  maximum(gy: RT, a: RT, b: RT): RT[] {
    return binaryVjp(
      'maximum',
      gy,
      a,
      b,
      (x, y) => (x > y ? 1 : x === y ? 0.5 : 0),
      (x, y) => (y > x ? 1 : x === y ? 0.5 : 0),
    );
  },
  minimum(gy: RT, a: RT, b: RT): RT[] {
    return binaryVjp(
      'minimum',
      gy,
      a,
      b,
      (x, y) => (x < y ? 1 : x === y ? 0.5 : 0),
      (x, y) => (y < x ? 1 : x === y ? 0.5 : 0),
    );
  },
  gt(gy: RT, a: RT, b: RT): RT[] {
    return comparisonVjp('gt', gy, a, b);
  },
  ge(gy: RT, a: RT, b: RT): RT[] {
    return comparisonVjp('ge', gy, a, b);
  },
  lt(gy: RT, a: RT, b: RT): RT[] {
    return comparisonVjp('lt', gy, a, b);
  },
  le(gy: RT, a: RT, b: RT): RT[] {
    return comparisonVjp('le', gy, a, b);
  },
  eq(gy: RT, a: RT, b: RT): RT[] {
    return comparisonVjp('eq', gy, a, b);
  },
  ne(gy: RT, a: RT, b: RT): RT[] {
    return comparisonVjp('ne', gy, a, b);
  },
  /** Returns [gc (zeros), ga, gb]. */
  where(gy: RT, cond: RT, a: RT, b: RT): RT[] {
    checkRT('vjp.where', 'cond', cond);
    checkRT('vjp.where', 'a', a);
    checkRT('vjp.where', 'b', b);
    const shape = broadcastShapes('vjp.where', [cond.shape, a.shape, b.shape]);
    checkGy('where', gy, shape);
    const sc = broadcastStrides(cond.shape, shape.length);
    const ga = new Float64Array(gy.size);
    const gb = new Float64Array(gy.size);
    for (let o = 0; o < gy.size; o++) {
      if (cond.data[offsetOf(o, shape, sc)] !== 0) ga[o] = gy.data[o];
      else gb[o] = gy.data[o];
    }
    return [
      zerosRT(cond.shape),
      sumTo('vjp.where', new RT([...shape], ga), a.shape),
      sumTo('vjp.where', new RT([...shape], gb), b.shape),
    ];
  },

  // ----- reductions -----
  sum(gy: RT, x: RT, axes?: number[], keepdim = false): RT[] {
    return reduceVjp('sum', gy, x, axes, keepdim, () => 1);
  },
  mean(gy: RT, x: RT, axes?: number[], keepdim = false): RT[] {
    return reduceVjp('mean', gy, x, axes, keepdim, (_i, _o, r) => 1 / r.count);
  },
  max(gy: RT, x: RT, axes?: number[], keepdim = false): RT[] {
    return extremumVjp('max', gy, x, axes, keepdim, true);
  },
  min(gy: RT, x: RT, axes?: number[], keepdim = false): RT[] {
    return extremumVjp('min', gy, x, axes, keepdim, false);
  },
  /** d var / d x_i = 2 (x_i - mean) / (n - unbiased); the mean's own dependence cancels. */
  variance(gy: RT, x: RT, axes?: number[], keepdim = false, unbiased = false): RT[] {
    if (typeof unbiased !== 'boolean') throw new Error('vjp.variance: unbiased must be a boolean');
    const m = mean(x, axes, true);
    return reduceVjp('variance', gy, x, axes, keepdim, (i, o, r) => {
      return (2 * (x.data[i] - m.data[o])) / (r.count - (unbiased ? 1 : 0));
    });
  },

  // ----- shape ops -----
  reshape(gy: RT, x: RT, shape: number[]): RT[] {
    const y = reshape(x, shape);
    checkGy('reshape', gy, y.shape);
    return [new RT([...x.shape], Float64Array.from(gy.data))];
  },
  permute(gy: RT, x: RT, perm: number[]): RT[] {
    checkRT('vjp.permute', 'x', x);
    const p = normPerm('vjp.permute', x, perm);
    const outShape = p.map((d) => x.shape[d]);
    checkGy('permute', gy, outShape);
    const inv: number[] = new Array(p.length).fill(0);
    for (let i = 0; i < p.length; i++) inv[p[i]] = i;
    return [permute(gy, inv)];
  },
  flip(gy: RT, x: RT, axes: number[]): RT[] {
    checkRT('vjp.flip', 'x', x);
    checkGy('flip', gy, x.shape);
    return [flip(gy, axes)];
  },
  transpose(gy: RT, x: RT, d0: number, d1: number): RT[] {
    checkRT('vjp.transpose', 'x', x);
    const perm = transposePerm('vjp.transpose', x, d0, d1);
    checkGy('transpose', gy, perm.map((d) => x.shape[d]));
    return [permute(gy, perm)]; // a swap is its own inverse
  },
  slice(gy: RT, x: RT, axis: number, start: number, end: number): RT[] {
    const s = sliceInfo('vjp.slice', x, axis, start, end);
    checkGy('slice', gy, s.shape);
    const gx = new Float64Array(x.size);
    for (let o = 0; o < s.outer; o++) {
      for (let k = 0; k < s.len; k++) {
        for (let i = 0; i < s.inner; i++) {
          gx[(o * s.dim + start + k) * s.inner + i] = gy.data[(o * s.len + k) * s.inner + i];
        }
      }
    }
    return [new RT([...x.shape], gx)];
  },
  /** x_i takes +gy_{i-1} (as the upper neighbour) and -gy_i (as the lower one). */
  diff(gy: RT, x: RT, axis: number): RT[] {
    checkRT('vjp.diff', 'x', x);
    const ax = normAxis('vjp.diff', axis, x.shape.length, x.shape);
    const n = x.shape[ax];
    checkGy('diff', gy, x.shape.map((d, i) => (i === ax ? n - 1 : d)));
    const up = vjp.slice(gy, x, ax, 1, n)[0];
    const down = vjp.slice(gy, x, ax, 0, n - 1)[0];
    return [new RT([...x.shape], up.data.map((v, i) => v - down.data[i]))];
  },
  /** Returns one gradient per tensor in xs. */
  concat(gy: RT, xs: RT[], axis: number): RT[] {
    const c = concatInfo('vjp.concat', xs, axis);
    checkGy('concat', gy, c.shape);
    const grads: RT[] = [];
    let offset = 0;
    for (const x of xs) {
      const len = x.shape[c.ax];
      const gx = new Float64Array(x.size);
      for (let o = 0; o < c.outer; o++) {
        for (let k = 0; k < len; k++) {
          for (let i = 0; i < c.inner; i++) {
            gx[(o * len + k) * c.inner + i] = gy.data[(o * c.total + offset + k) * c.inner + i];
          }
        }
      }
      grads.push(new RT([...x.shape], gx));
      offset += len;
    }
    return grads;
  },
  expand(gy: RT, x: RT, shape: number[]): RT[] {
    checkExpand('vjp.expand', x, shape);
    checkGy('expand', gy, shape);
    return [sumTo('vjp.expand', gy, x.shape)];
  },

  // ----- matmul / linear -----
  /**
   * With A' = op(a), B' = op(b) and Y = A' B':  dA' = gy B'^T, dB' = A'^T gy;
   * transposed back when the option was set, then batch broadcasting summed away.
   */
  matmul(gy: RT, a: RT, b: RT, opts: MatmulOptions = {}): RT[] {
    const m = matmulDims('vjp.matmul', a, b, opts);
    checkGy('matmul', gy, m.shape);
    const r = m.shape.length;
    let ga = matmul(gy, b, { transB: !m.transB }); // [batch, M, K]
    if (m.transA) ga = transpose(ga, r - 2, r - 1);
    let gb = matmul(a, gy, { transA: !m.transA }); // [batch, K, N]
    if (m.transB) gb = transpose(gb, r - 2, r - 1);
    return [sumTo('vjp.matmul', ga, a.shape), sumTo('vjp.matmul', gb, b.shape)];
  },
  /** Returns [gx, gw] or [gx, gw, gb] when b is given. */
  linear(gy: RT, x: RT, w: RT, b?: RT): RT[] {
    const l = linearDims('vjp.linear', x, w, b);
    checkGy('linear', gy, l.shape);
    const gx = new Float64Array(x.size);
    const gw = new Float64Array(w.size);
    const gbias = new Float64Array(l.nOut);
    for (let r = 0; r < l.rows; r++) {
      for (let o = 0; o < l.nOut; o++) {
        const g = gy.data[r * l.nOut + o];
        gbias[o] += g;
        for (let k = 0; k < l.nIn; k++) {
          gx[r * l.nIn + k] += g * w.data[o * l.nIn + k];
          gw[o * l.nIn + k] += g * x.data[r * l.nIn + k];
        }
      }
    }
    const grads = [new RT([...x.shape], gx), new RT([...w.shape], gw)];
    if (b !== undefined) grads.push(new RT([...b.shape], gbias));
    return grads;
  },
};

// ---------------------------------------------------------------------------
// Small MLP for double-backward tests
// ---------------------------------------------------------------------------

export interface MlpParams {
  x: RT; // [B, I]
  W1: RT; // [H, I]
  b1: RT; // [H]
  W2: RT; // [O, H]
  b2: RT; // [O]
}

export interface MlpGrads {
  W1: RT;
  b1: RT;
  W2: RT;
  b2: RT;
}

function checkMlp(op: string, p: MlpParams, slope: number): void {
  if (p === null || typeof p !== 'object') throw new Error(`${op}: params must be an object`);
  for (const k of ['x', 'W1', 'b1', 'W2', 'b2'] as const) checkRT(op, k, p[k]);
  checkNumber(op, 'slope', slope);
  const { x, W1, b1, W2, b2 } = p;
  const ok =
    x.shape.length === 2 &&
    W1.shape.length === 2 &&
    W1.shape[1] === x.shape[1] &&
    b1.shape.length === 1 &&
    b1.shape[0] === W1.shape[0] &&
    W2.shape.length === 2 &&
    W2.shape[1] === W1.shape[0] &&
    b2.shape.length === 1 &&
    b2.shape[0] === W2.shape[0];
  if (!ok) {
    throw new Error(
      `${op}: expected x [B,I], W1 [H,I], b1 [H], W2 [O,H], b2 [O], got x ${fmt(x.shape)}, ` +
        `W1 ${fmt(W1.shape)}, b1 ${fmt(b1.shape)}, W2 ${fmt(W2.shape)}, b2 ${fmt(b2.shape)}`,
    );
  }
}

/** y = linear(leakyRelu(linear(x, W1, b1), slope), W2, b2). */
export function mlpForward(p: MlpParams, slope: number): RT {
  checkMlp('mlpForward', p, slope);
  const h = linear(p.x, p.W1, p.b1);
  return linear(leakyRelu(h, slope), p.W2, p.b2);
}

/** g = d(sum(y))/dx, via the vjp functions. Shape [B, I]. */
export function mlpInputGrad(p: MlpParams, slope: number): RT {
  checkMlp('mlpInputGrad', p, slope);
  const h = linear(p.x, p.W1, p.b1);
  const a = leakyRelu(h, slope);
  const y = linear(a, p.W2, p.b2);
  const gy = fullRT(y.shape, 1);
  const ga = vjp.linear(gy, a, p.W2, p.b2)[0];
  const gh = vjp.leakyRelu(ga, h, slope)[0];
  return vjp.linear(gh, p.x, p.W1, p.b1)[0];
}

/** P = sum(g^2) with g = d(sum(y))/dx. */
export function mlpPenalty(p: MlpParams, slope: number): number {
  const g = mlpInputGrad(p, slope);
  let s = 0;
  for (let i = 0; i < g.size; i++) s += g.data[i] * g.data[i];
  return s;
}

/** dP/d{W1, b1, W2, b2} by central finite differences (inputs are not modified). */
export function mlpPenaltyGradFD(p: MlpParams, slope: number, h = 1e-6): MlpGrads {
  checkMlp('mlpPenaltyGradFD', p, slope);
  checkNumber('mlpPenaltyGradFD', 'h', h);
  const fd = (key: keyof MlpGrads): RT => {
    const base = p[key];
    const work = new RT([...base.shape], Float64Array.from(base.data));
    const q: MlpParams = { ...p, [key]: work };
    const grad = new Float64Array(base.size);
    for (let i = 0; i < base.size; i++) {
      const orig = work.data[i];
      work.data[i] = orig + h;
      const plus = mlpPenalty(q, slope);
      work.data[i] = orig - h;
      const minus = mlpPenalty(q, slope);
      work.data[i] = orig;
      grad[i] = (plus - minus) / (2 * h);
    }
    return new RT([...base.shape], grad);
  };
  return { W1: fd('W1'), b1: fd('b1'), W2: fd('W2'), b2: fd('b2') };
}
