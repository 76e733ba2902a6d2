// Elementwise ops: unary functions, binary arithmetic and comparisons with broadcasting, where.
// Kernel: kernels/elementwise.wgsl. Each op = one launch + one backward rule written in these same ops.

import { record } from '../autograd.js';
import { EngineError, itemsGrid } from '../runtime/engine.js';
import { Tensor, empty, engine, live } from '../tensor.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, fmt, mergeDims, packDims, sameShape } from './shapes.js';
import { full } from './creation.js';
import { sumTo } from './reduce.js';


// Op codes: must match the switch statements in kernels/elementwise.wgsl.
const UNARY = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, abs: 5, sign: 6, tanh: 7, sigmoid: 8, relu: 9, leaky_relu: 10,
  sin: 11, cos: 12, reciprocal: 13, square: 14, affine: 15, pow: 16, step: 17,
} as const;
const BINARY = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, gt: 6, ge: 7, lt: 8, le: 9, eq: 10, ne: 11 } as const;
export type UnaryName = keyof typeof UNARY;
export type BinaryName = keyof typeof BINARY;

function params(n: number, rank: number, alpha: number, beta: number, shape: number[] = [], sa: number[] = [], sb: number[] = [], sc: number[] = []): ArrayBuffer {
  const buf = new ArrayBuffer(36 * 4);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u[0] = n;
  u[1] = rank;
  f[2] = alpha;
  f[3] = beta;
  u.set(packDims(shape), 4);
  u.set(packDims(sa), 12);
  u.set(packDims(sb), 20);
  u.set(packDims(sc), 28);
  return buf;
}

function checkTensor(op: string, t: unknown): Tensor {
  live(op, t);
  return t as Tensor;
}

/** Launch a unary kernel (no autograd). */
export function unaryRaw(x: Tensor, op: UnaryName, alpha = 0, beta = 0): Tensor {
  const y = empty(x.shape, op);
  const n4 = Math.ceil(x.size / 4);
  const g = itemsGrid(n4);
  engine().dispatch({
    kernel: 'elementwise', entry: 'unary_vec4', constants: { OP: UNARY[op], WG: g.wg, ITEMS: g.items },
    params: params(n4, 0, alpha, beta), buffers: [x.buffer, y.buffer], bindings: [1, 3], grid: g.grid,
    label: `${op} ${fmt(x.shape)}`,
  });
  return y;
}

function unaryOp(op: UnaryName, rule: ((g: Tensor, x: Tensor) => Tensor) | null, alpha = 0, beta = 0) {
  return (x: Tensor): Tensor => {
    checkTensor(op, x);
    const y = unaryRaw(x, op, alpha, beta);
    return rule ? record(y, op, [x], (g, [xi]) => [rule(g, xi!)]) : y;
  };
}

// Every backward rule below is written with differentiable ops, so it can itself be differentiated.
export const neg = unaryOp('neg', (g) => neg(g));
export const exp = unaryOp('exp', (g, x) => mul(g, exp(x)));
export const log = unaryOp('log', (g, x) => div(g, x));
export const sqrt = unaryOp('sqrt', (g, x) => div(g, affine(sqrt(x), 2, 0)));
export const rsqrt = unaryOp('rsqrt', (g, x) => mul(g, affine(mul(rsqrt(x), reciprocal(x)), -0.5, 0)));
export const abs = unaryOp('abs', (g, x) => mul(g, sign(x)));
/** sign(x): -1, 0 or 1; zero gradient. */
export const sign = unaryOp('sign', null);
export const tanh = unaryOp('tanh', (g, x) => mul(g, affine(square(tanh(x)), -1, 1)));
export const sigmoid = unaryOp('sigmoid', (g, x) => {
  const s = sigmoid(x);
  return mul(g, mul(s, affine(s, -1, 1)));
});
export const relu = unaryOp('relu', (g, x) => mul(g, step(x)));
export const sin = unaryOp('sin', (g, x) => mul(g, cos(x)));
export const cos = unaryOp('cos', (g, x) => neg(mul(g, sin(x))));
export const reciprocal = unaryOp('reciprocal', (g, x) => neg(mul(g, square(reciprocal(x)))));
export const square = unaryOp('square', (g, x) => mul(g, affine(x, 2, 0)));
/** step(x) = x > 0 ? 1 : 0; zero gradient. */
export const step = unaryOp('step', null);

/** LeakyReLU: x > 0 ? x : slope * x. */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  checkTensor('leakyRelu', x);
  if (!Number.isFinite(slope)) throw new EngineError(`leakyRelu: slope must be a finite number, got ${slope}`);
  const y = unaryRaw(x, 'leaky_relu', slope);
  // d/dx = 1 where x > 0 else slope  ==  step(x) * (1 - slope) + slope
  return record(y, 'leakyRelu', [x], (g, [xi]) => [mul(g, affine(step(xi!), 1 - slope, slope))]);
}

/** a * x + b with scalars a, b. */
export function affine(x: Tensor, a: number, b: number): Tensor {
  checkTensor('affine', x);
  const y = unaryRaw(x, 'affine', a, b);
  return record(y, 'affine', [x], (g) => [affine(g, a, 0)]);
}

/** x ** p for a scalar exponent p. */
export function powScalar(x: Tensor, p: number): Tensor {
  checkTensor('powScalar', x);
  if (p === 1) return affine(x, 1, 0);
  const y = unaryRaw(x, 'pow', p);
  return record(y, 'powScalar', [x], (g, [xi]) => [p === 0 ? mul(g, full(xi!.shape, 0)) : mul(g, affine(powScalar(xi!, p - 1), p, 0))]);
}

// ------------------------------------------------------------------------------------------------ binary

/** Launch a binary kernel with broadcasting (no autograd). */
export function binaryRaw(a: Tensor, b: Tensor, op: BinaryName): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const y = empty(shape, op);
  const e = engine();
  const label = `${op} ${fmt(a.shape)} ${fmt(b.shape)}`;
  if (sameShape(a.shape, b.shape)) {
    const n4 = Math.ceil(y.size / 4);
    const g = itemsGrid(n4);
    e.dispatch({ kernel: 'elementwise', entry: 'binary_vec4', constants: { OP: BINARY[op], WG: g.wg, ITEMS: g.items }, params: params(n4, 0, 0, 0), buffers: [a.buffer, b.buffer, y.buffer], grid: g.grid, label });
  } else {
    const m = mergeDims(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape), contiguousStrides(shape)]);
    const r = m.shape.length - 1;
    const inner = m.shape[r]!;
    const rows = y.size / inner;
    // vec4 path: operands walk the inner dim with stride 1 (vec4 loads: row offsets must stay 16-byte aligned) or
    // stride 0 (one value per row, splat); groups of rows on grid y (and z), the innermost dim on x
    const vec = inner % 4 === 0 &&
      m.strides.slice(0, 2).every((st) => st[r] === 0 || (st[r] === 1 && st.slice(0, r).every((v) => v % 4 === 0)));
    let g = itemsGrid(y.size);
    let alpha = 0;
    if (vec) {
      let items = 64;
      while (items > 1 && inner / 4 < 8 * items) items >>= 1;
      const xs = Math.ceil(inner / 4 / (8 * items));
      // about 256 workgroups in all, measured: fewer, longer workgroups beat many short ones on lavapipe
      const perGroup = Math.max(1, Math.floor((rows * xs) / 256));
      const groups = Math.ceil(rows / perGroup);
      const gz = Math.ceil(groups / 65535);
      g = { wg: 8, items, grid: [xs, Math.ceil(groups / gz), gz] };
      alpha = perGroup;
    }
    e.dispatch({
      kernel: 'elementwise', entry: vec ? 'binary_bcast4' : 'binary_bcast', constants: { OP: BINARY[op], WG: g.wg, ITEMS: g.items },
      params: params(y.size, m.shape.length, alpha, 0, m.shape, m.strides[0], m.strides[1]),
      buffers: [a.buffer, b.buffer, y.buffer], grid: g.grid, label,
    });
  }
  return y;
}

type Operand = Tensor | number;

function toTensor(op: string, v: Operand): Tensor {
  if (v instanceof Tensor) return v;
  if (typeof v !== 'number') throw new EngineError(`${op}: operands must be Tensors or numbers, got ${typeof v}`);
  return full([], v, { label: `${op} scalar` });
}

function binaryOp(op: BinaryName, rule: ((g: Tensor, a: Tensor, b: Tensor, needs: readonly boolean[]) => (Tensor | null)[]) | null) {
  return (a: Operand, b: Operand): Tensor => {
    if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new EngineError(`${op}: at least one operand must be a Tensor`);
    for (const v of [a, b]) if (v instanceof Tensor) live(op, v);
    const ta = toTensor(op, a);
    const tb = toTensor(op, b);
    const y = binaryRaw(ta, tb, op);
    const out = rule ? record(y, op, [ta, tb], (g, [x, z], needs) => rule(g, x!, z!, needs)) : y;
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
    return out;
  };
}

const addT = binaryOp('add', (g, a, b, n) => [n[0] ? sumTo(g, a.shape) : null, n[1] ? sumTo(g, b.shape) : null]);
const subT = binaryOp('sub', (g, a, b, n) => [n[0] ? sumTo(g, a.shape) : null, n[1] ? sumTo(neg(g), b.shape) : null]);
const mulT = binaryOp('mul', (g, a, b, n) => [n[0] ? sumTo(mul(g, b), a.shape) : null, n[1] ? sumTo(mul(g, a), b.shape) : null]);
const divT = binaryOp('div', (g, a, b, n) => [
  n[0] ? sumTo(div(g, b), a.shape) : null,
  n[1] ? sumTo(neg(div(mul(g, a), square(b))), b.shape) : null,
]);

// Scalar operands take the affine path: one launch, no temporary tensor.
export function add(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, 1, b);
  if (typeof a === 'number' && b instanceof Tensor) return affine(b, 1, a);
  return addT(a, b);
}
export function sub(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, 1, -b);
  if (typeof a === 'number' && b instanceof Tensor) return affine(b, -1, a);
  return subT(a, b);
}
export function mul(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, b, 0);
  if (typeof a === 'number' && b instanceof Tensor) return affine(b, a, 0);
  return mulT(a, b);
}
export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, 1 / b, 0);
  return divT(a, b);
}

// maximum/minimum: the gradient goes to the larger (smaller) operand, split in half on ties.
const tieSplit = (win: Tensor, tie: Tensor) => add(win, mul(tie, 0.5));
export const maximum = binaryOp('maximum', (g, a, b, n) => {
  const tie = eq(a, b);
  return [
    n[0] ? sumTo(mul(g, tieSplit(gt(a, b), tie)), a.shape) : null,
    n[1] ? sumTo(mul(g, tieSplit(lt(a, b), tie)), b.shape) : null,
  ];
});
export const minimum = binaryOp('minimum', (g, a, b, n) => {
  const tie = eq(a, b);
  return [
    n[0] ? sumTo(mul(g, tieSplit(lt(a, b), tie)), a.shape) : null,
    n[1] ? sumTo(mul(g, tieSplit(gt(a, b), tie)), b.shape) : null,
  ];
});

// Comparisons return 1.0 / 0.0 and have no gradient.
export const gt = binaryOp('gt', null);
export const ge = binaryOp('ge', null);
export const lt = binaryOp('lt', null);
export const le = binaryOp('le', null);
export const eq = binaryOp('eq', null);
export const ne = binaryOp('ne', null);

/** cond != 0 ? a : b, broadcasting all three. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  live('where', cond, ...[a, b].filter((v) => v instanceof Tensor));
  const ta = toTensor('where', a);
  const tb = toTensor('where', b);
  const shape = broadcastShapes('where', cond.shape, ta.shape, tb.shape);
  const y = empty(shape, 'where');
  const m = mergeDims(shape, [
    broadcastStrides(ta.shape, shape), broadcastStrides(tb.shape, shape), broadcastStrides(cond.shape, shape), contiguousStrides(shape),
  ]);
  const gw = itemsGrid(y.size);
  engine().dispatch({
    kernel: 'elementwise', entry: 'where_bcast', constants: { WG: gw.wg, ITEMS: gw.items },
    params: params(y.size, m.shape.length, 0, 0, m.shape, m.strides[0], m.strides[1], m.strides[2]),
    buffers: [ta.buffer, tb.buffer, y.buffer, cond.buffer], grid: gw.grid,
    label: `where ${fmt(cond.shape)} ${fmt(ta.shape)} ${fmt(tb.shape)}`,
  });
  const out = record(y, 'where', [cond, ta, tb], (g, [c, x, z], n) => {
    const zero = full([], 0);
    return [null, n[1] ? sumTo(where(c!, g, zero), x!.shape) : null, n[2] ? sumTo(where(c!, zero, g), z!.shape) : null];
  });
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return out;
}
