// Tests for the float64 CPU reference: hand-computed forward values, and
// central finite-difference checks of every hand-derived vjp.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  RT,
  rt,
  randRT,
  mulberry32,
  zerosRT,
  ref,
  vjp,
  mlpForward,
  mlpInputGrad,
  mlpPenalty,
  mlpPenaltyGradFD,
  type MlpParams,
} from './reference.js';

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function close(actual: RT, shape: number[], expected: number[], tol = 1e-12): void {
  assert.equal(actual.shape, shape, `shape ${JSON.stringify(actual.shape)} != ${JSON.stringify(shape)}`);
  assert.is(actual.size, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual.data[i];
    const e = expected[i];
    assert.ok(Math.abs(a - e) <= tol * (1 + Math.abs(e)), `element ${i}: got ${a}, expected ${e}`);
  }
}

function arange(shape: number[]): RT {
  let n = 1;
  for (const d of shape) n *= d;
  const data: number[] = [];
  for (let i = 0; i < n; i++) data.push(i);
  return rt(shape, data);
}

/** Uniform in [lo, hi) with a random sign: values with lo <= |v| < hi. */
function awayRT(shape: number[], rng: () => number, lo: number, hi: number): RT {
  const x = randRT(shape, rng, lo, hi);
  for (let i = 0; i < x.size; i++) if (rng() < 0.5) x.data[i] = -x.data[i];
  return x;
}

/** All values distinct and spread over [-1, 1] (no near-ties), in random order. */
function distinctRT(shape: number[], rng: () => number): RT {
  const x = randRT(shape, rng);
  const n = x.size;
  const vals: number[] = [];
  for (let i = 0; i < n; i++) vals.push(-1 + (2 * (i + 0.5)) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = vals[i];
    vals[i] = vals[j];
    vals[j] = t;
  }
  for (let i = 0; i < n; i++) x.data[i] = vals[i];
  return x;
}

/** Random pair whose broadcast elementwise differences all exceed 1e-3 in magnitude. */
function separatedPair(sa: number[], sb: number[], rng: () => number): [RT, RT] {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const a = randRT(sa, rng);
    const b = randRT(sb, rng);
    const d = ref.abs(ref.sub(a, b));
    let ok = true;
    for (let i = 0; i < d.size; i++) if (d.data[i] <= 1e-3) ok = false;
    if (ok) return [a, b];
  }
  throw new Error('separatedPair: could not find separated inputs');
}

const H = 1e-6;

/** L = sum(gy * y). */
function dot(gy: RT, y: RT): number {
  let s = 0;
  for (let i = 0; i < y.size; i++) s += gy.data[i] * y.data[i];
  return s;
}

/**
 * Finite-difference check of a vjp. For every element e_i of every input,
 * (L(x + h e_i) - L(x - h e_i)) / 2h must match the analytic gradient g_i
 * to |diff| <= 1e-6 (1 + |g_i|). Inputs listed in `nondiff` must get a zero
 * gradient and are not perturbed.
 */
function fdCheck(
  label: string,
  inputs: RT[],
  f: (xs: RT[]) => RT,
  g: (gy: RT, xs: RT[]) => RT[],
  rng: () => number,
  nondiff: number[] = [],
): void {
  const snapshot = inputs.map((x) => Float64Array.from(x.data));
  const y = f(inputs);
  const gy = randRT(y.shape, rng);
  const grads = g(gy, inputs);
  // Neither the forward op nor the vjp may mutate its inputs.
  for (let t = 0; t < inputs.length; t++) {
    assert.equal(Array.from(inputs[t].data), Array.from(snapshot[t]), `${label}: input ${t} was mutated`);
  }
  assert.is(grads.length, inputs.length, `${label}: one gradient per input`);
  const work = inputs.map((x) => rt(x.shape, x.data));
  for (let t = 0; t < inputs.length; t++) {
    const gx = grads[t];
    assert.equal(gx.shape, inputs[t].shape, `${label}: gradient ${t} shape`);
    if (nondiff.includes(t)) {
      for (let i = 0; i < gx.size; i++) assert.is(gx.data[i], 0, `${label}: gradient ${t} must be zero`);
      continue;
    }
    let worst = 0;
    let worstMsg = '';
    for (let i = 0; i < gx.size; i++) {
      const orig = work[t].data[i];
      work[t].data[i] = orig + H;
      const plus = dot(gy, f(work));
      work[t].data[i] = orig - H;
      const minus = dot(gy, f(work));
      work[t].data[i] = orig;
      const numeric = (plus - minus) / (2 * H);
      const analytic = gx.data[i];
      const ratio = Math.abs(numeric - analytic) / (1e-6 * (1 + Math.abs(analytic)));
      if (ratio > worst) {
        worst = ratio;
        worstMsg = `input ${t} element ${i}: analytic ${analytic}, numeric ${numeric}`;
      }
    }
    assert.ok(worst <= 1, `${label}: finite differences disagree (${worstMsg})`);
  }
}

// ---------------------------------------------------------------------------
// Forward sanity on hand-computed values
// ---------------------------------------------------------------------------

const forward = suite('reference forward');

forward('construction: rt, scalars, randRT, mulberry32', () => {
  const s = rt([], [3.5]);
  assert.equal(s.shape, []);
  assert.is(s.size, 1);
  const x = rt([2, 3], [1, 2, 3, 4, 5, 6]);
  assert.is(x.size, 6);
  assert.ok(x.data instanceof Float64Array);
  const r1 = mulberry32(42);
  const r2 = mulberry32(42);
  for (let i = 0; i < 10; i++) {
    const v = r1();
    assert.is(v, r2());
    assert.ok(v >= 0 && v < 1);
  }
  const r = randRT([4, 5], mulberry32(1), 2, 3);
  assert.equal(r.shape, [4, 5]);
  for (let i = 0; i < r.size; i++) assert.ok(r.data[i] >= 2 && r.data[i] < 3);
});

forward('unary ops', () => {
  close(ref.neg(rt([2], [1, -2])), [2], [-1, 2]);
  close(ref.exp(rt([2], [0, 1])), [2], [1, Math.E]);
  close(ref.log(rt([2], [1, Math.E])), [2], [0, 1]);
  close(ref.sqrt(rt([2], [4, 9])), [2], [2, 3]);
  close(ref.rsqrt(rt([2], [4, 0.25])), [2], [0.5, 2]);
  close(ref.abs(rt([3], [-2, 0, 3])), [3], [2, 0, 3]);
  close(ref.tanh(rt([2], [0, 1])), [2], [0, (Math.E - 1 / Math.E) / (Math.E + 1 / Math.E)]);
  close(ref.sigmoid(rt([3], [0, 800, -800])), [3], [0.5, 1, 0]);
  close(ref.relu(rt([3], [-1, 0, 2])), [3], [0, 0, 2]);
  close(ref.sin(rt([2], [0, Math.PI / 2])), [2], [0, 1]);
  close(ref.cos(rt([2], [0, Math.PI])), [2], [1, -1]);
  close(ref.reciprocal(rt([2], [2, -4])), [2], [0.5, -0.25]);
  close(ref.square(rt([2], [3, -2])), [2], [9, 4]);
  close(ref.leakyRelu(rt([3], [-2, 0, 3]), 0.1), [3], [-0.2, 0, 3]);
  close(ref.affine(rt([2], [1, -1]), 2, 0.5), [2], [2.5, -1.5]);
  close(ref.powScalar(rt([3], [2, 4, 9]), 1.5), [3], [Math.pow(2, 1.5), 8, 27]);
  close(ref.powScalar(rt([], [-2]), 3), [], [-8]);
});

forward('binary broadcasting [2,1,3] + [4,1]', () => {
  const a = rt([2, 1, 3], [1, 2, 3, 4, 5, 6]);
  const b = rt([4, 1], [10, 20, 30, 40]);
  const y = ref.add(a, b);
  const expected: number[] = [];
  for (const row of [[1, 2, 3], [4, 5, 6]]) for (const c of [10, 20, 30, 40]) for (const v of row) expected.push(v + c);
  close(y, [2, 4, 3], expected);
  assert.is(y.data[(1 * 4 + 2) * 3 + 0], 34);
  close(ref.sub(rt([2], [5, 7]), rt([], [1])), [2], [4, 6]);
  close(ref.mul(rt([2, 1], [2, 3]), rt([1, 3], [1, 10, 100])), [2, 3], [2, 20, 200, 3, 30, 300]);
  close(ref.div(rt([3], [1, 2, 3]), rt([1], [2])), [3], [0.5, 1, 1.5]);
  close(ref.maximum(rt([3], [1, 5, 3]), rt([3], [4, 2, 3])), [3], [4, 5, 3]);
  close(ref.minimum(rt([3], [1, 5, 3]), rt([], [2])), [3], [1, 2, 2]);
});

forward('comparisons and where', () => {
  const a = rt([3], [1, 2, 3]);
  const b = rt([], [2]);
  close(ref.gt(a, b), [3], [0, 0, 1]);
  close(ref.ge(a, b), [3], [0, 1, 1]);
  close(ref.lt(a, b), [3], [1, 0, 0]);
  close(ref.le(a, b), [3], [1, 1, 0]);
  close(ref.eq(a, b), [3], [0, 1, 0]);
  close(ref.ne(a, b), [3], [1, 0, 1]);
  // cond [2,1], a [1,3], b scalar -> [2,3]
  const y = ref.where(rt([2, 1], [1, 0]), rt([1, 3], [7, 8, 9]), rt([], [-1]));
  close(y, [2, 3], [7, 8, 9, -1, -1, -1]);
  close(ref.where(rt([3], [0.5, 0, -2]), rt([3], [1, 2, 3]), rt([3], [4, 5, 6])), [3], [1, 5, 3]);
});

forward('reductions: sum/mean/max/min over axes, keepdim', () => {
  // x[i][j][k] = 6i + 2j + k
  const x = arange([2, 3, 2]);
  close(ref.sum(x, [0, 2]), [3], [14, 22, 30]);
  close(ref.sum(x, [0, 2], true), [1, 3, 1], [14, 22, 30]);
  close(ref.sum(x, [-1, 0]), [3], [14, 22, 30]);
  close(ref.sum(x), [], [66]);
  close(ref.sum(x, undefined, true), [1, 1, 1], [66]);
  close(ref.sum(x, [1]), [2, 2], [6, 9, 24, 27]);
  close(ref.sum(x, []), [2, 3, 2], Array.from(x.data));
  close(ref.mean(x, [0, 2]), [3], [3.5, 5.5, 7.5]);
  close(ref.mean(x), [], [5.5]);
  close(ref.max(x, [1]), [2, 2], [4, 5, 10, 11]);
  close(ref.min(x, [0, 2], true), [1, 3, 1], [0, 2, 4]);
  close(ref.max(rt([2, 2], [1, -5, 3, 2]), [-1]), [2], [1, 3]);
  close(ref.sum(rt([], [4])), [], [4]);
});

forward('variance biased and unbiased', () => {
  const x = rt([4], [1, 2, 3, 4]);
  close(ref.variance(x), [], [1.25]);
  close(ref.variance(x, undefined, false, true), [], [5 / 3]);
  const y = rt([2, 3], [1, 2, 3, 2, 4, 6]);
  close(ref.variance(y, [1]), [2], [2 / 3, 8 / 3]);
  close(ref.variance(y, [1], true, true), [2, 1], [1, 4]);
  close(ref.variance(y, [0], false, true), [3], [0.5, 2, 4.5]);
});

forward('shape ops: reshape, permute, transpose, slice, diff, concat, expand', () => {
  const x = arange([2, 3, 4]); // x[i][j][k] = 12i + 4j + k
  close(ref.reshape(x, [4, -1]), [4, 6], Array.from(x.data));
  close(ref.reshape(rt([1, 1], [5]), []), [], [5]);

  const p = ref.permute(x, [2, 0, 1]); // p[k][i][j] = x[i][j][k]
  assert.equal(p.shape, [4, 2, 3]);
  assert.is(p.data[(1 * 2 + 0) * 3 + 2], 9); // p[1][0][2] = x[0][2][1]
  assert.is(p.data[(3 * 2 + 1) * 3 + 0], 15); // p[3][1][0] = x[1][0][3]
  close(ref.permute(rt([2, 2], [1, 2, 3, 4]), [-1, 0]), [2, 2], [1, 3, 2, 4]);

  close(ref.transpose(rt([2, 3], [1, 2, 3, 4, 5, 6]), 0, 1), [3, 2], [1, 4, 2, 5, 3, 6]);
  const t = ref.transpose(x, 0, -1); // t[k][j][i] = x[i][j][k]
  assert.equal(t.shape, [4, 3, 2]);
  assert.is(t.data[(3 * 3 + 1) * 2 + 1], 12 + 4 + 3);

  const a = arange([2, 5]);
  close(ref.slice(a, 1, 1, 3), [2, 2], [1, 2, 6, 7]);
  close(ref.slice(a, 0, 1, 2), [1, 5], [5, 6, 7, 8, 9]);
  close(ref.slice(a, -1, 4, 5), [2, 1], [4, 9]);
  close(ref.slice(a, 1, 2, 2), [2, 0], []);
  close(ref.diff(a, 1), [2, 4], [1, 1, 1, 1, 1, 1, 1, 1]);
  close(ref.diff(a, 0), [1, 5], [5, 5, 5, 5, 5]);

  close(ref.concat([rt([1, 2], [1, 2]), rt([2, 2], [3, 4, 5, 6])], 0), [3, 2], [1, 2, 3, 4, 5, 6]);
  close(ref.concat([rt([2, 1], [1, 2]), rt([2, 2], [3, 4, 5, 6])], 1), [2, 3], [1, 3, 4, 2, 5, 6]);
  close(ref.concat([rt([2, 1], [1, 2]), rt([2, 1], [3, 4]), rt([2, 1], [5, 6])], -1), [2, 3], [1, 3, 5, 2, 4, 6]);

  close(ref.expand(rt([3, 1], [1, 2, 3]), [2, 3, 2]), [2, 3, 2], [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
  close(ref.expand(rt([], [7]), [2, 2]), [2, 2], [7, 7, 7, 7]);
});

forward('outputs never alias or mutate inputs', () => {
  const x = rt([2, 2], [1, 2, 3, 4]);
  const y = ref.reshape(x, [4]);
  y.data[0] = 100;
  assert.is(x.data[0], 1);
  const z = ref.expand(x, [2, 2]);
  z.data[1] = 100;
  assert.is(x.data[1], 2);
  const data = [1, 2];
  const r = rt([2], data);
  data[0] = 9;
  assert.is(r.data[0], 1);
});

forward('matmul: plain, batch broadcast, transA/transB', () => {
  close(ref.matmul(rt([2, 3], [1, 2, 3, 4, 5, 6]), rt([3, 1], [1, 0, -1])), [2, 1], [-2, -2]);
  // a [2,2,2] (two matrices) @ b [2,2] broadcast over the batch
  const a = rt([2, 2, 2], [1, 2, 3, 4, 0, 1, 1, 0]);
  const b = rt([2, 2], [5, 6, 7, 8]);
  close(ref.matmul(a, b), [2, 2, 2], [19, 22, 43, 50, 7, 8, 5, 6]);
  // b batched [2,2,2] against a single a [2,2]
  const b2 = rt([2, 2, 2], [1, 0, 0, 1, 0, 1, 1, 0]);
  close(ref.matmul(rt([2, 2], [1, 2, 3, 4]), b2), [2, 2, 2], [1, 2, 3, 4, 2, 1, 4, 3]);
  // batch dims [2,1] and [3] broadcast to [2,3]
  const rng = mulberry32(7);
  const A = randRT([2, 1, 3, 4], rng);
  const B = randRT([3, 4, 5], rng);
  const Y = ref.matmul(A, B);
  assert.equal(Y.shape, [2, 3, 3, 5]);
  // spot check Y[1][2][0][4] = sum_k A[1][0][0][k] * B[2][k][4]
  let s = 0;
  for (let k = 0; k < 4; k++) s += A.data[1 * 12 + k] * B.data[2 * 20 + k * 5 + 4];
  assert.ok(Math.abs(Y.data[((1 * 3 + 2) * 3 + 0) * 5 + 4] - s) < 1e-14);
  // transposed storage gives the same product
  const At = ref.transpose(A, -1, -2);
  const Bt = ref.transpose(B, -1, -2);
  close(ref.matmul(At, B, { transA: true }), Y.shape, Array.from(Y.data));
  close(ref.matmul(A, Bt, { transB: true }), Y.shape, Array.from(Y.data));
  close(ref.matmul(At, Bt, { transA: true, transB: true }), Y.shape, Array.from(Y.data));
});

forward('linear', () => {
  const x = rt([1, 2], [1, 2]);
  const w = rt([3, 2], [1, 0, 0, 1, 1, 1]);
  close(ref.linear(x, w, rt([3], [0.5, -1, 0])), [1, 3], [1.5, 1, 3]);
  close(ref.linear(x, w), [1, 3], [1, 2, 3]);
  close(ref.linear(rt([2], [1, 2]), w), [3], [1, 2, 3]);
  const y = ref.linear(rt([2, 1, 2], [1, 2, 3, 4]), w);
  close(y, [2, 1, 3], [1, 2, 3, 3, 4, 7]);
});

forward('vjp conventions at kinks and ties', () => {
  const one3 = rt([3], [1, 1, 1]);
  close(vjp.relu(one3, rt([3], [-1, 0, 2]))[0], [3], [0, 0, 1]);
  close(vjp.abs(one3, rt([3], [-1, 0, 2]))[0], [3], [-1, 0, 1]);
  close(vjp.leakyRelu(one3, rt([3], [-1, 0, 2]), 0.1)[0], [3], [0.1, 0.1, 1]);
  // max over ties: the gradient is split equally
  close(vjp.max(rt([], [6]), rt([3], [1, 3, 3]))[0], [3], [0, 3, 3]);
  close(vjp.min(rt([2], [4, 1]), rt([2, 2], [2, 2, 5, 1]), [1])[0], [2, 2], [2, 2, 0, 1]);
  // elementwise maximum: a where a > b, b where b > a, half each on ties
  const [ga, gb] = vjp.maximum(rt([3], [2, 2, 2]), rt([3], [1, 5, 3]), rt([3], [4, 2, 3]));
  close(ga, [3], [0, 2, 1]);
  close(gb, [3], [2, 0, 1]);
  // broadcast b: its gradient sums over the stretched positions
  const [ga2, gb2] = vjp.minimum(rt([3], [1, 1, 1]), rt([3], [1, 2, 3]), rt([], [2]));
  close(ga2, [3], [1, 0.5, 0]);
  close(gb2, [], [1.5]);
  // where: zero gradient for cond
  const [gc, gwa, gwb] = vjp.where(rt([2], [3, 4]), rt([2], [1, 0]), rt([2], [0, 0]), rt([], [0]));
  close(gc, [2], [0, 0]);
  close(gwa, [2], [3, 0]);
  close(gwb, [], [4]);
  // comparisons have zero gradient
  const [gg1, gg2] = vjp.gt(rt([2], [1, 1]), rt([2], [1, 2]), rt([2], [2, 1]));
  close(gg1, [2], [0, 0]);
  close(gg2, [2], [0, 0]);
  // linear without bias returns two gradients
  assert.is(vjp.linear(rt([1, 3], [1, 1, 1]), rt([1, 2], [1, 2]), rt([3, 2], [1, 0, 0, 1, 1, 1])).length, 2);
});

forward.run();

// ---------------------------------------------------------------------------
// Finite-difference checks of every vjp
// ---------------------------------------------------------------------------

const fd = suite('reference vjp vs finite differences');

type Domain = 'any' | 'pos' | 'away';

function unaryInput(shape: number[], dom: Domain, rng: () => number): RT {
  if (dom === 'pos') return randRT(shape, rng, 0.3, 2);
  if (dom === 'away') return awayRT(shape, rng, 0.01, 1.5);
  return randRT(shape, rng, -1.5, 1.5);
}

const unaryCases: Array<{ name: string; dom: Domain; f: (x: RT) => RT; g: (gy: RT, x: RT) => RT[] }> = [
  { name: 'neg', dom: 'any', f: (x) => ref.neg(x), g: (gy, x) => vjp.neg(gy, x) },
  { name: 'exp', dom: 'any', f: (x) => ref.exp(x), g: (gy, x) => vjp.exp(gy, x) },
  { name: 'log', dom: 'pos', f: (x) => ref.log(x), g: (gy, x) => vjp.log(gy, x) },
  { name: 'sqrt', dom: 'pos', f: (x) => ref.sqrt(x), g: (gy, x) => vjp.sqrt(gy, x) },
  { name: 'rsqrt', dom: 'pos', f: (x) => ref.rsqrt(x), g: (gy, x) => vjp.rsqrt(gy, x) },
  { name: 'abs', dom: 'away', f: (x) => ref.abs(x), g: (gy, x) => vjp.abs(gy, x) },
  { name: 'tanh', dom: 'any', f: (x) => ref.tanh(x), g: (gy, x) => vjp.tanh(gy, x) },
  { name: 'sigmoid', dom: 'any', f: (x) => ref.sigmoid(x), g: (gy, x) => vjp.sigmoid(gy, x) },
  { name: 'relu', dom: 'away', f: (x) => ref.relu(x), g: (gy, x) => vjp.relu(gy, x) },
  { name: 'sin', dom: 'any', f: (x) => ref.sin(x), g: (gy, x) => vjp.sin(gy, x) },
  { name: 'cos', dom: 'any', f: (x) => ref.cos(x), g: (gy, x) => vjp.cos(gy, x) },
  { name: 'reciprocal', dom: 'pos', f: (x) => ref.reciprocal(x), g: (gy, x) => vjp.reciprocal(gy, x) },
  { name: 'square', dom: 'any', f: (x) => ref.square(x), g: (gy, x) => vjp.square(gy, x) },
  {
    name: 'leakyRelu',
    dom: 'away',
    f: (x) => ref.leakyRelu(x, 0.07),
    g: (gy, x) => vjp.leakyRelu(gy, x, 0.07),
  },
  {
    name: 'affine',
    dom: 'any',
    f: (x) => ref.affine(x, -1.7, 0.3),
    g: (gy, x) => vjp.affine(gy, x, -1.7, 0.3),
  },
  {
    name: 'powScalar p=3',
    dom: 'any',
    f: (x) => ref.powScalar(x, 3),
    g: (gy, x) => vjp.powScalar(gy, x, 3),
  },
  {
    name: 'powScalar p=2.5',
    dom: 'pos',
    f: (x) => ref.powScalar(x, 2.5),
    g: (gy, x) => vjp.powScalar(gy, x, 2.5),
  },
  {
    name: 'powScalar p=-1.5',
    dom: 'pos',
    f: (x) => ref.powScalar(x, -1.5),
    g: (gy, x) => vjp.powScalar(gy, x, -1.5),
  },
];

const unaryShapes = [[3, 1, 7], [], [1], [2, 3]];

for (const c of unaryCases) {
  fd(`unary ${c.name}`, () => {
    const rng = mulberry32(101);
    for (const shape of unaryShapes) {
      const x = unaryInput(shape, c.dom, rng);
      fdCheck(`${c.name} ${JSON.stringify(shape)}`, [x], (xs) => c.f(xs[0]), (gy, xs) => c.g(gy, xs[0]), rng);
    }
  });
}

const binaryShapes: Array<[number[], number[]]> = [
  [[3, 1, 5], [4, 5]],
  [[2, 1, 3], [4, 1]],
  [[7], []],
  [[], [2, 3]],
  [[1, 3], [3, 1]],
  [[2, 3], [2, 3]],
];

type BinOp = (a: RT, b: RT) => RT;
type BinVjp = (gy: RT, a: RT, b: RT) => RT[];

const binaryCases: Array<{ name: string; f: BinOp; g: BinVjp; kind: 'any' | 'divisor' | 'separated' }> = [
  { name: 'add', f: ref.add, g: vjp.add, kind: 'any' },
  { name: 'sub', f: ref.sub, g: vjp.sub, kind: 'any' },
  { name: 'mul', f: ref.mul, g: vjp.mul, kind: 'any' },
  { name: 'div', f: ref.div, g: vjp.div, kind: 'divisor' },
  { name: 'maximum', f: ref.maximum, g: vjp.maximum, kind: 'separated' },
  { name: 'minimum', f: ref.minimum, g: vjp.minimum, kind: 'separated' },
  { name: 'gt', f: ref.gt, g: vjp.gt, kind: 'separated' },
  { name: 'ge', f: ref.ge, g: vjp.ge, kind: 'separated' },
  { name: 'lt', f: ref.lt, g: vjp.lt, kind: 'separated' },
  { name: 'le', f: ref.le, g: vjp.le, kind: 'separated' },
  { name: 'eq', f: ref.eq, g: vjp.eq, kind: 'separated' },
  { name: 'ne', f: ref.ne, g: vjp.ne, kind: 'separated' },
];

for (const c of binaryCases) {
  fd(`binary ${c.name}`, () => {
    const rng = mulberry32(202);
    for (const [sa, sb] of binaryShapes) {
      let a: RT;
      let b: RT;
      if (c.kind === 'separated') [a, b] = separatedPair(sa, sb, rng);
      else if (c.kind === 'divisor') [a, b] = [randRT(sa, rng), awayRT(sb, rng, 0.5, 1.5)];
      else [a, b] = [randRT(sa, rng), randRT(sb, rng)];
      fdCheck(
        `${c.name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
        [a, b],
        (xs) => c.f(xs[0], xs[1]),
        (gy, xs) => c.g(gy, xs[0], xs[1]),
        rng,
      );
    }
  });
}

fd('where (three-way broadcasting)', () => {
  const rng = mulberry32(303);
  const shapes: Array<[number[], number[], number[]]> = [
    [[3, 1, 5], [4, 5], [1]],
    [[2, 3], [2, 3], [2, 3]],
    [[], [2, 3], [3]],
    [[4, 1], [1, 3], []],
  ];
  for (const [sc, sa, sb] of shapes) {
    const cond = randRT(sc, rng);
    for (let i = 0; i < cond.size; i++) cond.data[i] = cond.data[i] < 0 ? 0 : 1;
    fdCheck(
      `where ${JSON.stringify([sc, sa, sb])}`,
      [cond, randRT(sa, rng), randRT(sb, rng)],
      (xs) => ref.where(xs[0], xs[1], xs[2]),
      (gy, xs) => vjp.where(gy, xs[0], xs[1], xs[2]),
      rng,
      [0],
    );
  }
});

type ReduceCase = { axes?: number[]; keepdim: boolean; shape: number[] };
const reduceCases: ReduceCase[] = [
  { axes: undefined, keepdim: false, shape: [3, 4, 5] },
  { axes: undefined, keepdim: true, shape: [3, 4, 5] },
  { axes: [0, 2], keepdim: false, shape: [3, 4, 5] },
  { axes: [0, 2], keepdim: true, shape: [3, 4, 5] },
  { axes: [-1], keepdim: false, shape: [3, 4, 5] },
  { axes: [1], keepdim: true, shape: [3, 1, 7] },
  { axes: [], keepdim: false, shape: [2, 3] },
  { axes: undefined, keepdim: false, shape: [] },
];

for (const name of ['sum', 'mean', 'max', 'min'] as const) {
  fd(`reduction ${name}`, () => {
    const rng = mulberry32(404);
    for (const rc of reduceCases) {
      // max/min need inputs without near-ties.
      const x = name === 'max' || name === 'min' ? distinctRT(rc.shape, rng) : randRT(rc.shape, rng);
      fdCheck(
        `${name} ${JSON.stringify(rc)}`,
        [x],
        (xs) => ref[name](xs[0], rc.axes, rc.keepdim),
        (gy, xs) => vjp[name](gy, xs[0], rc.axes, rc.keepdim),
        rng,
      );
    }
  });
}

fd('reduction variance (biased and unbiased)', () => {
  const rng = mulberry32(505);
  for (const rc of reduceCases.slice(0, 6)) {
    for (const unbiased of [false, true]) {
      const x = randRT(rc.shape, rng);
      fdCheck(
        `variance ${JSON.stringify(rc)} unbiased=${unbiased}`,
        [x],
        (xs) => ref.variance(xs[0], rc.axes, rc.keepdim, unbiased),
        (gy, xs) => vjp.variance(gy, xs[0], rc.axes, rc.keepdim, unbiased),
        rng,
      );
    }
  }
});

fd('shape reshape', () => {
  const rng = mulberry32(606);
  const cases: Array<[number[], number[]]> = [
    [[2, 3, 4], [4, -1]],
    [[3, 1, 7], [21]],
    [[1, 1], []],
    [[5], [1, 5, 1]],
  ];
  for (const [sx, shape] of cases) {
    fdCheck(
      `reshape ${JSON.stringify(sx)} -> ${JSON.stringify(shape)}`,
      [randRT(sx, rng)],
      (xs) => ref.reshape(xs[0], shape),
      (gy, xs) => vjp.reshape(gy, xs[0], shape),
      rng,
    );
  }
});

fd('shape permute', () => {
  const rng = mulberry32(707);
  const cases: Array<[number[], number[]]> = [
    [[2, 3, 4], [2, 0, 1]],
    [[2, 3, 4], [1, 0, 2]],
    [[3, 1, 7], [-1, 0, 1]],
    [[2, 1, 3, 2], [3, 1, 0, 2]],
    [[], []],
  ];
  for (const [sx, perm] of cases) {
    fdCheck(
      `permute ${JSON.stringify(sx)} ${JSON.stringify(perm)}`,
      [randRT(sx, rng)],
      (xs) => ref.permute(xs[0], perm),
      (gy, xs) => vjp.permute(gy, xs[0], perm),
      rng,
    );
  }
});

fd('shape transpose', () => {
  const rng = mulberry32(808);
  const cases: Array<[number[], number, number]> = [
    [[2, 3, 4], 0, 2],
    [[3, 1, 7], -1, -2],
    [[5, 3], 0, 1],
    [[2, 3], 1, 1],
  ];
  for (const [sx, d0, d1] of cases) {
    fdCheck(
      `transpose ${JSON.stringify(sx)} ${d0} ${d1}`,
      [randRT(sx, rng)],
      (xs) => ref.transpose(xs[0], d0, d1),
      (gy, xs) => vjp.transpose(gy, xs[0], d0, d1),
      rng,
    );
  }
});

fd('shape slice', () => {
  const rng = mulberry32(909);
  const cases: Array<[number[], number, number, number]> = [
    [[2, 5, 3], 1, 1, 4],
    [[2, 5, 3], -1, 0, 2],
    [[7], 0, 3, 7],
    [[3, 1, 7], 0, 2, 3],
    [[3, 4], 1, 2, 2],
  ];
  for (const [sx, axis, start, end] of cases) {
    fdCheck(
      `slice ${JSON.stringify(sx)} axis ${axis} [${start}, ${end})`,
      [randRT(sx, rng)],
      (xs) => ref.slice(xs[0], axis, start, end),
      (gy, xs) => vjp.slice(gy, xs[0], axis, start, end),
      rng,
    );
  }
});

fd('shape diff', () => {
  const rng = mulberry32(911);
  for (const [sx, axis] of [[[2, 5, 3], 1], [[2, 5, 3], -1], [[7], 0], [[2, 3], 0]] as Array<[number[], number]>) {
    fdCheck(`diff ${JSON.stringify(sx)} axis ${axis}`, [randRT(sx, rng)], (xs) => ref.diff(xs[0], axis), (gy, xs) => vjp.diff(gy, xs[0], axis), rng);
  }
});

fd('shape concat', () => {
  const rng = mulberry32(1010);
  const cases: Array<[number[][], number]> = [
    [[[2, 2, 3], [2, 1, 3], [2, 3, 3]], 1],
    [[[2, 1], [2, 3]], -1],
    [[[1, 5], [3, 5]], 0],
    [[[7]], 0],
  ];
  for (const [shapes, axis] of cases) {
    fdCheck(
      `concat ${JSON.stringify(shapes)} axis ${axis}`,
      shapes.map((s) => randRT(s, rng)),
      (xs) => ref.concat(xs, axis),
      (gy, xs) => vjp.concat(gy, xs, axis),
      rng,
    );
  }
});

fd('shape expand', () => {
  const rng = mulberry32(1111);
  const cases: Array<[number[], number[]]> = [
    [[3, 1], [2, 3, 4]],
    [[], [2, 3]],
    [[1, 5], [4, 5]],
    [[3, 1, 5], [2, 3, 7, 5]],
    [[2, 3], [2, 3]],
  ];
  for (const [sx, shape] of cases) {
    fdCheck(
      `expand ${JSON.stringify(sx)} -> ${JSON.stringify(shape)}`,
      [randRT(sx, rng)],
      (xs) => ref.expand(xs[0], shape),
      (gy, xs) => vjp.expand(gy, xs[0], shape),
      rng,
    );
  }
});

fd('matmul (batch broadcasting, transA/transB)', () => {
  const rng = mulberry32(1212);
  const cases: Array<[number[], number[], { transA?: boolean; transB?: boolean }]> = [
    [[3, 4], [4, 5], {}],
    [[2, 1, 3, 4], [5, 4, 7], {}],
    [[3, 4], [2, 4, 5], {}],
    [[2, 4, 3], [4, 5], { transA: true }],
    [[3, 4], [2, 5, 4], { transB: true }],
    [[1, 4, 3], [2, 5, 4], { transA: true, transB: true }],
    [[3, 1, 2, 7], [1, 2, 2, 3], { transA: true }],
    [[1, 1], [1, 1], {}],
  ];
  for (const [sa, sb, opts] of cases) {
    fdCheck(
      `matmul ${JSON.stringify(sa)} ${JSON.stringify(sb)} ${JSON.stringify(opts)}`,
      [randRT(sa, rng), randRT(sb, rng)],
      (xs) => ref.matmul(xs[0], xs[1], opts),
      (gy, xs) => vjp.matmul(gy, xs[0], xs[1], opts),
      rng,
    );
  }
});

fd('linear (with and without bias)', () => {
  const rng = mulberry32(1313);
  const cases: Array<[number[], number[], boolean]> = [
    [[2, 3, 4], [5, 4], true],
    [[4], [3, 4], true],
    [[7, 4], [1, 4], false],
    [[1, 3], [7, 3], false],
  ];
  for (const [sx, sw, withBias] of cases) {
    const inputs = [randRT(sx, rng), randRT(sw, rng)];
    if (withBias) inputs.push(randRT([sw[0]], rng));
    fdCheck(
      `linear ${JSON.stringify(sx)} ${JSON.stringify(sw)} bias=${withBias}`,
      inputs,
      (xs) => ref.linear(xs[0], xs[1], xs[2]),
      (gy, xs) => vjp.linear(gy, xs[0], xs[1], xs[2]),
      rng,
    );
  }
});

fd.run();

// ---------------------------------------------------------------------------
// MLP penalty (double-backward ground truth)
// ---------------------------------------------------------------------------

const mlp = suite('reference mlp penalty');

function mlpParams(seed: number): MlpParams {
  const rng = mulberry32(seed);
  const B = 4;
  const I = 3;
  const Hd = 5;
  const O = 2;
  return {
    x: randRT([B, I], rng),
    W1: randRT([Hd, I], rng),
    b1: randRT([Hd], rng),
    W2: randRT([O, Hd], rng),
    b2: randRT([O], rng),
  };
}

/** Smallest |pre-activation| of the hidden layer: FD steps must not cross a kink. */
function minAbsHidden(p: MlpParams): number {
  const h = ref.linear(p.x, p.W1, p.b1);
  let m = Infinity;
  for (let i = 0; i < h.size; i++) m = Math.min(m, Math.abs(h.data[i]));
  return m;
}

mlp('forward shape, input gradient by FD, penalty > 0', () => {
  const p = mlpParams(2024);
  const slope = 0.2;
  assert.ok(minAbsHidden(p) > 1e-3, 'hidden pre-activations too close to the kink');
  const y = mlpForward(p, slope);
  assert.equal(y.shape, [4, 2]);
  const g = mlpInputGrad(p, slope);
  assert.equal(g.shape, [4, 3]);
  // g = d(sum(y))/dx checked by finite differences on x
  const xw = rt(p.x.shape, p.x.data);
  const sumY = (): number => ref.sum(mlpForward({ ...p, x: xw }, slope)).data[0];
  for (let i = 0; i < xw.size; i++) {
    const orig = xw.data[i];
    xw.data[i] = orig + H;
    const plus = sumY();
    xw.data[i] = orig - H;
    const minus = sumY();
    xw.data[i] = orig;
    const numeric = (plus - minus) / (2 * H);
    assert.ok(Math.abs(numeric - g.data[i]) <= 1e-6 * (1 + Math.abs(g.data[i])), `x[${i}]: ${g.data[i]} vs ${numeric}`);
  }
  assert.ok(mlpPenalty(p, slope) > 0);
  assert.ok(mlpPenalty(mlpParams(7), 0.01) > 0);
});

mlp('penalty gradient: FD step 1e-6 agrees with step 1e-4', () => {
  const p = mlpParams(31337);
  const slope = 0.1;
  assert.ok(minAbsHidden(p) > 1e-3, 'hidden pre-activations too close to the kink');
  const snapshot = Array.from(p.W1.data);
  const fine = mlpPenaltyGradFD(p, slope);
  const coarse = mlpPenaltyGradFD(p, slope, 1e-4);
  assert.equal(Array.from(p.W1.data), snapshot, 'inputs must not be mutated');
  let nonzero = 0;
  for (const k of ['W1', 'b1', 'W2', 'b2'] as const) {
    assert.equal(fine[k].shape, p[k].shape);
    for (let i = 0; i < fine[k].size; i++) {
      const a = fine[k].data[i];
      const b = coarse[k].data[i];
      assert.ok(Math.abs(a - b) <= 1e-5 * (1 + Math.abs(b)), `${k}[${i}]: ${a} vs ${b}`);
      if (Math.abs(a) > 1e-3) nonzero++;
    }
  }
  // g does not depend on b2 at all, and on b1 only through the (locally constant) mask.
  for (let i = 0; i < fine.b2.size; i++) assert.ok(Math.abs(fine.b2.data[i]) < 1e-6);
  for (let i = 0; i < fine.b1.size; i++) assert.ok(Math.abs(fine.b1.data[i]) < 1e-6);
  assert.ok(nonzero > 0, 'penalty gradient should not vanish');
});

mlp.run();

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const errors = suite('reference errors');

errors('construction', () => {
  assert.throws(() => rt([2, 3], [1, 2, 3]), /rt.*\[2,3\]/);
  assert.throws(() => rt([2, -1], []), /rt/);
  assert.throws(() => new RT([2], new Float64Array(3)), /RT.*\[2\]/);
});

errors('mismatched broadcast shapes', () => {
  const a = zerosRT([2, 3]);
  const b = zerosRT([4]);
  assert.throws(() => ref.add(a, b), /add.*\[2,3\].*\[4\]/);
  assert.throws(() => ref.mul(zerosRT([3, 1, 5]), zerosRT([4, 4])), /mul.*\[3,1,5\].*\[4,4\]/);
  assert.throws(() => ref.gt(a, b), /gt/);
  assert.throws(() => ref.where(zerosRT([2]), a, zerosRT([3])), /where.*\[2\].*\[2,3\].*\[3\]/);
  assert.throws(() => ref.expand(zerosRT([3]), [4, 2]), /expand.*\[3\].*\[4,2\]/);
  assert.throws(() => ref.expand(zerosRT([2, 3]), [3]), /expand/);
  assert.throws(() => vjp.add(zerosRT([2, 2]), a, zerosRT([3])), /vjp\.add.*\[2,2\].*\[2,3\]/);
  assert.throws(() => ref.matmul(zerosRT([2, 3, 4]), zerosRT([3, 4, 5])), /matmul.*batch.*\[2,3,4\].*\[3,4,5\]/);
});

errors('bad permutation', () => {
  const x = zerosRT([2, 3, 4]);
  assert.throws(() => ref.permute(x, [0, 0, 1]), /permute.*\[0,0,1\].*\[2,3,4\]/);
  assert.throws(() => ref.permute(x, [0, 1]), /permute/);
  assert.throws(() => ref.permute(x, [0, 1, 3]), /permute/);
  assert.throws(() => ref.permute(x, [0, 1, 1.5]), /permute/);
  assert.throws(() => ref.transpose(x, 0, 3), /transpose.*\[2,3,4\]/);
});

errors('slice out of range', () => {
  const x = zerosRT([2, 5]);
  assert.throws(() => ref.slice(x, 1, 2, 6), /slice.*\[2,5\]/);
  assert.throws(() => ref.slice(x, 1, -1, 2), /slice/);
  assert.throws(() => ref.slice(x, 1, 3, 2), /slice/);
  assert.throws(() => ref.slice(x, 2, 0, 1), /slice.*axis 2.*\[2,5\]/);
  assert.throws(() => ref.slice(x, 0, 0.5, 1), /slice/);
});

errors('other invalid inputs', () => {
  const x = zerosRT([2, 3]);
  assert.throws(() => ref.reshape(x, [4, 2]), /reshape.*\[2,3\].*\[4,2\]/);
  assert.throws(() => ref.reshape(x, [-1, -1]), /reshape/);
  assert.throws(() => ref.sum(x, [0, -2]), /sum.*duplicate/);
  assert.throws(() => ref.max(x, [2]), /max.*axis 2.*\[2,3\]/);
  assert.throws(() => ref.max(zerosRT([0, 3]), [0]), /max.*zero elements/);
  assert.throws(() => ref.concat([x, zerosRT([3, 3])], 1), /concat.*\[2,3\].*\[3,3\]/);
  assert.throws(() => ref.concat([], 0), /concat/);
  assert.throws(() => ref.matmul(zerosRT([2, 3]), zerosRT([4, 5])), /matmul.*inner.*\[2,3\].*\[4,5\]/);
  assert.throws(() => ref.matmul(zerosRT([3]), zerosRT([3, 1])), /matmul.*rank/);
  assert.throws(() => ref.linear(zerosRT([2, 3]), zerosRT([4, 2])), /linear.*\[2,3\].*\[4,2\]/);
  assert.throws(() => ref.linear(zerosRT([2, 3]), zerosRT([4, 3]), zerosRT([3])), /linear.*b/);
  assert.throws(() => ref.leakyRelu(x, NaN), /leakyRelu.*slope/);
  assert.throws(() => vjp.sum(zerosRT([3]), x, [1]), /vjp\.sum.*gy.*\[3\].*\[2\]/);
  assert.throws(() => vjp.matmul(zerosRT([2, 2]), x, zerosRT([3, 4])), /vjp\.matmul.*\[2,2\].*\[2,4\]/);
  assert.throws(
    () => mlpPenalty({ x, W1: zerosRT([4, 2]), b1: zerosRT([4]), W2: zerosRT([1, 4]), b2: zerosRT([1]) }, 0.1),
    /mlpInputGrad.*\[2,3\].*\[4,2\]/,
  );
});

errors.run();
