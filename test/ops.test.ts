// Every op against the float64 reference: forward values, and the backward pass (y.backward({ gradient: gy }))
// against the hand-derived vjp. Shapes are chosen to hit the kernels' awkward paths: sizes that are not multiples of
// 4 (vec4 loads), 8 (matmul row tiles) or 256 (workgroups), size-1 and scalar operands, broadcasting, and the
// multi-pass reductions.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, zeros, ones, scope, engine, type Tensor,
  neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, sin, cos, reciprocal, square, leakyRelu, affine, powScalar,
  add, sub, mul, div, maximum, minimum, gt, ge, lt, le, eq, ne, where,
  sum, mean, max, min, variance,
  reshape, permute, transpose, flip, slice, concat, expand, diff, grad,
  matmul, linear, matmulPitched,
} from '../src/node.js';
import { RT, rt, randRT, mulberry32, ref, vjp } from './reference.js';
import { setup, gpu, close, check, throwsMatching, type Tol } from './helpers.js';
import { matmulInternals } from '../src/ops/matmul.js';

// Reductions and matmul add up many f32 terms (in another order than the reference), so they get a looser
// tolerance than the elementwise ops, which use the helpers' default (atol 1e-5, rtol 1e-4).
const SUM_TOL: Tol = { atol: 1e-4, rtol: 1e-3 };

// ------------------------------------------------------------------------------------------------ helpers


/** Values with lo <= |v| < hi and random signs (keeps kinked ops away from their kink). */
function awayRT(shape: number[], rng: () => number, lo = 0.1, hi = 1): RT {
  const x = randRT(shape, rng, lo, hi);
  for (let i = 0; i < x.size; i++) if (rng() < 0.5) x.data[i] = -x.data[i];
  return x;
}

/** Small integers in [lo, hi] (exact in f32): many ties on purpose. */
function intRT(shape: number[], rng: () => number, lo: number, hi: number): RT {
  const x = randRT(shape, rng, 0, 1);
  for (let i = 0; i < x.size; i++) x.data[i] = lo + Math.floor(x.data[i]! * (hi - lo + 1));
  return x;
}

/** Multiples of 0.5 in [-1.5, 1.5]. */
function onGridRT(shape: number[], rng: () => number): RT {
  const x = intRT(shape, rng, -3, 3);
  return rt(shape, x.data.map((v) => v * 0.5));
}

/** Values in [-1.5, 1.5) at least 0.1 away from every multiple of 0.5. */
function offGridRT(shape: number[], rng: () => number): RT {
  const x = intRT(shape, rng, -3, 2);
  return rt(shape, x.data.map((v) => v * 0.5 + 0.1 + 0.3 * rng()));
}

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

// ------------------------------------------------------------------------------------------------ unary

const unary = suite('ops: unary');
unary.before(setup);

interface UnaryCase {
  name: string;
  f: (x: Tensor) => Tensor;
  fr: (x: RT) => RT;
  fv: (gy: RT, x: RT) => RT[];
  /** input values */
  make: (shape: number[], rng: () => number) => RT;
}

const anyOf = (lo: number, hi: number) => (s: number[], rng: () => number) => randRT(s, rng, lo, hi);
const positive = anyOf(0.5, 2);
const awayFromZero = (s: number[], rng: () => number) => awayRT(s, rng, 0.1, 1.5);

const UNARY: UnaryCase[] = [
  { name: 'neg', f: neg, fr: ref.neg, fv: vjp.neg, make: anyOf(-2, 2) },
  { name: 'exp', f: exp, fr: ref.exp, fv: vjp.exp, make: anyOf(-2, 2) },
  { name: 'log', f: log, fr: ref.log, fv: vjp.log, make: positive },
  { name: 'sqrt', f: sqrt, fr: ref.sqrt, fv: vjp.sqrt, make: positive },
  { name: 'rsqrt', f: rsqrt, fr: ref.rsqrt, fv: vjp.rsqrt, make: positive },
  { name: 'abs', f: abs, fr: ref.abs, fv: vjp.abs, make: awayFromZero },
  { name: 'tanh', f: tanh, fr: ref.tanh, fv: vjp.tanh, make: anyOf(-3, 3) },
  { name: 'sigmoid', f: sigmoid, fr: ref.sigmoid, fv: vjp.sigmoid, make: anyOf(-4, 4) },
  { name: 'relu', f: relu, fr: ref.relu, fv: vjp.relu, make: awayFromZero },
  { name: 'sin', f: sin, fr: ref.sin, fv: vjp.sin, make: anyOf(-3, 3) },
  { name: 'cos', f: cos, fr: ref.cos, fv: vjp.cos, make: anyOf(-3, 3) },
  { name: 'reciprocal', f: reciprocal, fr: ref.reciprocal, fv: vjp.reciprocal, make: positive },
  { name: 'square', f: square, fr: ref.square, fv: vjp.square, make: anyOf(-2, 2) },
  { name: 'leakyRelu(0.2)', f: (x) => leakyRelu(x, 0.2), fr: (x) => ref.leakyRelu(x, 0.2), fv: (g, x) => vjp.leakyRelu(g, x, 0.2), make: awayFromZero },
  { name: 'leakyRelu(default 0.01)', f: (x) => leakyRelu(x), fr: (x) => ref.leakyRelu(x, 0.01), fv: (g, x) => vjp.leakyRelu(g, x, 0.01), make: awayFromZero },
  { name: 'affine(-1.5, 0.25)', f: (x) => affine(x, -1.5, 0.25), fr: (x) => ref.affine(x, -1.5, 0.25), fv: (g, x) => vjp.affine(g, x, -1.5, 0.25), make: anyOf(-2, 2) },
  { name: 'powScalar(2)', f: (x) => powScalar(x, 2), fr: (x) => ref.powScalar(x, 2), fv: (g, x) => vjp.powScalar(g, x, 2), make: anyOf(-1.5, 1.5) },
  { name: 'powScalar(3)', f: (x) => powScalar(x, 3), fr: (x) => ref.powScalar(x, 3), fv: (g, x) => vjp.powScalar(g, x, 3), make: anyOf(-1.5, 1.5) },
  { name: 'powScalar(0.5)', f: (x) => powScalar(x, 0.5), fr: (x) => ref.powScalar(x, 0.5), fv: (g, x) => vjp.powScalar(g, x, 0.5), make: positive },
  { name: 'powScalar(-1.5)', f: (x) => powScalar(x, -1.5), fr: (x) => ref.powScalar(x, -1.5), fv: (g, x) => vjp.powScalar(g, x, -1.5), make: positive },
];

const UNARY_SHAPES = [[129], [3, 7, 5], [1], [], [1027]];

for (const [k, u] of UNARY.entries()) {
  unary(`${u.name}: forward and backward on ${UNARY_SHAPES.map(fmt).join(' ')}`, async () => {
    const rng = mulberry32(100 + k);
    for (const shape of UNARY_SHAPES) {
      await check(`${u.name} ${fmt(shape)}`, [u.make(shape, rng)], { f: ([x]) => u.f(x!), fr: ([x]) => u.fr(x!), fv: (g, [x]) => u.fv(g, x!) }, rng);
    }
  });
}

unary('powScalar(3) and powScalar(2) keep the sign rule for negative bases', async () => {
  const x = rt([6], [-2, -1.5, -0.5, 0.5, 1.5, 2]);
  await check('pow3 negative', [x], { f: ([t]) => powScalar(t!, 3), fr: ([r]) => ref.powScalar(r!, 3), fv: (g, [r]) => vjp.powScalar(g, r!, 3) }, mulberry32(7));
  await check('pow2 negative', [x], { f: ([t]) => powScalar(t!, 2), fr: ([r]) => ref.powScalar(r!, 2), fv: (g, [r]) => vjp.powScalar(g, r!, 2) }, mulberry32(8));
});

// ------------------------------------------------------------------------------------------------ binary

const binary = suite('ops: binary and broadcasting');
binary.before(setup);

interface BinaryCase {
  name: string;
  f: (a: Tensor, b: Tensor) => Tensor;
  fr: (a: RT, b: RT) => RT;
  fv: (gy: RT, a: RT, b: RT) => RT[];
}

const BINARY: BinaryCase[] = [
  { name: 'add', f: add, fr: ref.add, fv: vjp.add },
  { name: 'sub', f: sub, fr: ref.sub, fv: vjp.sub },
  { name: 'mul', f: mul, fr: ref.mul, fv: vjp.mul },
  { name: 'div', f: div, fr: ref.div, fv: vjp.div },
  { name: 'maximum', f: maximum, fr: ref.maximum, fv: vjp.maximum },
  { name: 'minimum', f: minimum, fr: ref.minimum, fv: vjp.minimum },
];

// Same shapes (vec4 path, odd sizes), and broadcasting pairs (strided path).
const PAIRS: [number[], number[]][] = [
  [[3, 7, 5], [3, 7, 5]],
  [[129], [129]],
  [[1], [1]],
  [[3, 1, 5], [4, 5]],
  [[7, 1], [1, 129]],
  [[], [3, 7]],
  [[3, 7], []],
  [[1], [3, 7]],
  [[129], [1]],
  [[2, 1, 3, 1], [5, 1, 4]],
  [[4, 5], [3, 1, 5]],
];

for (const [k, op] of BINARY.entries()) {
  binary(`${op.name}: forward and backward on same-shape and broadcast pairs`, async () => {
    const rng = mulberry32(200 + k);
    for (const [sa, sb] of PAIRS) {
      // div: keep the divisor in [0.5, 2]. maximum/minimum: a is never within 0.1 of a multiple of 0.5 and b is a
      // multiple of 0.5, so the operands never tie or come close, whatever broadcasts against what.
      const minmax = op.name === 'maximum' || op.name === 'minimum';
      const a = minmax ? offGridRT(sa, rng) : randRT(sa, rng, -2, 2);
      const b = op.name === 'div' ? randRT(sb, rng, 0.5, 2) : minmax ? onGridRT(sb, rng) : randRT(sb, rng, -2, 2);
      await check(`${op.name} ${fmt(sa)} ${fmt(sb)}`, [a, b], {
        f: ([x, y]) => op.f(x!, y!),
        fr: ([x, y]) => op.fr(x!, y!),
        fv: (g, [x, y]) => op.fv(g, x!, y!),
      }, rng);
    }
  });
}

binary('maximum and minimum split the gradient in half on ties', async () => {
  const rng = mulberry32(210);
  // integer data: about a third of the positions tie
  for (const [sa, sb] of [[[3, 7, 5], [3, 7, 5]], [[3, 1, 5], [4, 5]], [[129], [129]]] as [number[], number[]][]) {
    const a = intRT(sa, rng, -1, 1);
    const b = intRT(sb, rng, -1, 1);
    await check(`maximum ties ${fmt(sa)} ${fmt(sb)}`, [a, b], { f: ([x, y]) => maximum(x!, y!), fr: ([x, y]) => ref.maximum(x!, y!), fv: (g, [x, y]) => vjp.maximum(g, x!, y!) }, rng);
    await check(`minimum ties ${fmt(sa)} ${fmt(sb)}`, [a, b], { f: ([x, y]) => minimum(x!, y!), fr: ([x, y]) => ref.minimum(x!, y!), fv: (g, [x, y]) => vjp.minimum(g, x!, y!) }, rng);
  }
});

binary('number operands: add, sub, mul, div with a scalar on either side', async () => {
  const rng = mulberry32(220);
  const x = randRT([3, 7, 5], rng, 0.5, 2);
  const one = (what: string, f: (t: Tensor) => Tensor, fr: (r: RT) => RT, fv: (g: RT, r: RT) => RT[]) =>
    check(what, [x], { f: ([t]) => f(t!), fr: ([r]) => fr(r!), fv: (g, [r]) => fv(g, r!) }, rng);
  await one('x + 2.5', (t) => add(t, 2.5), (r) => ref.affine(r, 1, 2.5), (g, r) => vjp.affine(g, r, 1, 2.5));
  await one('2.5 + x', (t) => add(2.5, t), (r) => ref.affine(r, 1, 2.5), (g, r) => vjp.affine(g, r, 1, 2.5));
  await one('x - 1.5', (t) => sub(t, 1.5), (r) => ref.affine(r, 1, -1.5), (g, r) => vjp.affine(g, r, 1, -1.5));
  await one('1.5 - x', (t) => sub(1.5, t), (r) => ref.affine(r, -1, 1.5), (g, r) => vjp.affine(g, r, -1, 1.5));
  await one('x * -3', (t) => mul(t, -3), (r) => ref.affine(r, -3, 0), (g, r) => vjp.affine(g, r, -3, 0));
  await one('-3 * x', (t) => mul(-3, t), (r) => ref.affine(r, -3, 0), (g, r) => vjp.affine(g, r, -3, 0));
  await one('x / 4', (t) => div(t, 4), (r) => ref.affine(r, 0.25, 0), (g, r) => vjp.affine(g, r, 0.25, 0));
  const two = rt([], [2]);
  await one('2 / x', (t) => div(2, t), (r) => ref.div(two, r), (g, r) => [vjp.div(g, two, r)[1]!]);
});

binary('an input used as both operands gets both gradients', async () => {
  const rng = mulberry32(230);
  const x = randRT([3, 7], rng, 0.5, 2);
  await check('mul(x, x)', [x], { f: ([t]) => mul(t!, t!), fr: ([r]) => ref.mul(r!, r!), fv: (g, [r]) => { const [ga, gb] = vjp.mul(g, r!, r!); return [ref.add(ga!, gb!)]; } }, rng);
  await check('div(x, x)', [x], { f: ([t]) => div(t!, t!), fr: ([r]) => ref.div(r!, r!), fv: (g, [r]) => { const [ga, gb] = vjp.div(g, r!, r!); return [ref.add(ga!, gb!)]; } }, rng);
});

// ------------------------------------------------------------------------------------------------ comparisons, where

const cmp = suite('ops: comparisons and where');
cmp.before(setup);

const COMPARISONS: [string, (a: Tensor, b: Tensor) => Tensor, (a: RT, b: RT) => RT][] = [
  ['gt', gt, ref.gt], ['ge', ge, ref.ge], ['lt', lt, ref.lt], ['le', le, ref.le], ['eq', eq, ref.eq], ['ne', ne, ref.ne],
];

cmp('gt, ge, lt, le, eq, ne on integer data (with ties), same shape and broadcast', async () => {
  const rng = mulberry32(300);
  for (const [name, f, fr] of COMPARISONS) {
    for (const [sa, sb] of PAIRS) {
      const a = intRT(sa, rng, -1, 1);
      const b = intRT(sb, rng, -1, 1);
      await check(`${name} ${fmt(sa)} ${fmt(sb)}`, [a, b], { f: ([x, y]) => f(x!, y!), fr: ([x, y]) => fr(x!, y!) }, rng);
    }
  }
});

cmp('comparisons have no gradient: the result does not require grad', async () => {
  await scope(async () => {
    const rng = mulberry32(301);
    const a = gpu(randRT([3, 7], rng), true);
    const b = gpu(randRT([7], rng), true);
    for (const [name, f] of COMPARISONS) {
      const y = f(a, b);
      assert.is(y.requiresGrad, false, `${name} result requires grad`);
      // and the reference agrees that the vjp is zero
      const z = vjp[name as 'gt'](randRT([3, 7], rng), randRT([3, 7], rng), randRT([7], rng));
      assert.ok(z.every((g) => g.data.every((v) => v === 0)), `${name}: reference vjp is not zero`);
    }
  });
});

cmp('where: forward and backward with three-way broadcasting', async () => {
  const rng = mulberry32(310);
  const triples: [number[], number[], number[]][] = [
    [[3, 7, 5], [3, 7, 5], [3, 7, 5]],
    [[129], [129], [129]],
    [[3, 1, 5], [4, 5], []],
    [[7, 1], [1, 129], [7, 129]],
    [[], [3, 7], [3, 7]],
    [[4, 1], [1], [3, 1, 5]],
  ];
  for (const [sc, sa, sb] of triples) {
    const c = intRT(sc, rng, 0, 1);
    const a = randRT(sa, rng);
    const b = randRT(sb, rng);
    await check(`where ${fmt(sc)} ${fmt(sa)} ${fmt(sb)}`, [c, a, b], {
      f: ([tc, ta, tb]) => where(tc!, ta!, tb!),
      fr: ([rc, ra, rb]) => ref.where(rc!, ra!, rb!),
      fv: (g, [rc, ra, rb]) => vjp.where(g, rc!, ra!, rb!),
      needs: [false, true, true],
    }, rng);
  }
});

cmp('where with a condition computed by a comparison', async () => {
  const rng = mulberry32(320);
  const a = randRT([5, 9], rng);
  const b = randRT([9], rng);
  await check('where(gt(a, b), a, b)', [a, b], {
    f: ([ta, tb]) => where(gt(ta!, tb!), ta!, tb!),
    fr: ([ra, rb]) => ref.where(ref.gt(ra!, rb!), ra!, rb!),
    fv: (g, [ra, rb]) => vjp.where(g, ref.gt(ra!, rb!), ra!, rb!).slice(1),
  }, rng);
});

// ------------------------------------------------------------------------------------------------ reductions

const red = suite('ops: reductions');
red.before(setup);

type Axes = number[] | undefined;
interface ReduceCase {
  name: string;
  f: (x: Tensor, axes: Axes, keepdim: boolean) => Tensor;
  fr: (x: RT, axes: Axes, keepdim: boolean) => RT;
  fv: (gy: RT, x: RT, axes: Axes, keepdim: boolean) => RT[];
}

const REDUCTIONS: ReduceCase[] = [
  { name: 'sum', f: sum, fr: ref.sum, fv: vjp.sum },
  { name: 'mean', f: mean, fr: ref.mean, fv: vjp.mean },
  { name: 'max', f: max, fr: ref.max, fv: vjp.max },
  { name: 'min', f: min, fr: ref.min, fv: vjp.min },
  { name: 'variance', f: (x, a, k) => variance(x, a, k), fr: (x, a, k) => ref.variance(x, a, k), fv: (g, x, a, k) => vjp.variance(g, x, a, k) },
];

/** Every subset of the axes of a rank-3 tensor, [] included, and undefined (= all). */
const AXIS_SUBSETS: Axes[] = [...Array(8).keys()].map((m) => [0, 1, 2].filter((a) => m & (1 << a)));
AXIS_SUBSETS.push(undefined);

function reduceCheck(r: ReduceCase, x: RT, axes: Axes, keepdim: boolean, rng: () => number, extra = ''): Promise<void> {
  return check(`${r.name}${extra} ${fmt(x.shape)} axes ${axes ? fmt(axes) : 'all'} keepdim ${keepdim}`, [x], {
    f: ([t]) => r.f(t!, axes, keepdim),
    fr: ([v]) => r.fr(v!, axes, keepdim),
    fv: (g, [v]) => r.fv(g, v!, axes, keepdim),
    tol: SUM_TOL,
  }, rng);
}

for (const [k, r] of REDUCTIONS.entries()) {
  red(`${r.name} over every axis subset of [3, 4, 5], keepdim true and false`, async () => {
    const rng = mulberry32(400 + k);
    for (const axes of AXIS_SUBSETS) {
      for (const keepdim of [false, true]) await reduceCheck(r, randRT([3, 4, 5], rng), axes, keepdim, rng);
    }
  });
}

red('max and min with ties share the gradient equally, over every axis subset', async () => {
  const rng = mulberry32(410);
  for (const r of REDUCTIONS.filter((q) => q.name === 'max' || q.name === 'min')) {
    for (const axes of AXIS_SUBSETS) {
      for (const keepdim of [false, true]) await reduceCheck(r, intRT([3, 4, 5], rng, -2, 1), axes, keepdim, rng, ' (ties)');
    }
  }
  // a whole row of equal values
  const flat = rt([2, 6], [3, 3, 3, 3, 3, 3, -1, 2, 2, 0, 2, -5]);
  for (const r of REDUCTIONS.filter((q) => q.name === 'max' || q.name === 'min')) {
    await reduceCheck(r, flat, [1], false, rng, ' (constant row)');
    await reduceCheck(r, flat, undefined, false, rng, ' (constant row)');
  }
});

red('unbiased variance over every non-empty axis subset', async () => {
  const rng = mulberry32(420);
  for (const axes of AXIS_SUBSETS.filter((a) => a === undefined || a.length > 0)) {
    for (const keepdim of [false, true]) {
      const x = randRT([3, 4, 5], rng);
      await check(`unbiased variance axes ${axes ? fmt(axes) : 'all'} keepdim ${keepdim}`, [x], {
        f: ([t]) => variance(t!, axes, keepdim, true),
        fr: ([v]) => ref.variance(v!, axes, keepdim, true),
        fv: (g, [v]) => vjp.variance(g, v!, axes, keepdim, true),
        tol: SUM_TOL,
      }, rng);
    }
  }
});

red('negative axes and a single-number axis', async () => {
  const rng = mulberry32(430);
  const x = randRT([3, 4, 5], rng);
  await check('sum axis -1', [x], { f: ([t]) => sum(t!, -1), fr: ([v]) => ref.sum(v!, [2]), fv: (g, [v]) => vjp.sum(g, v!, [2]), tol: SUM_TOL }, rng);
  await check('max axes [-3, -1] keepdim', [x], { f: ([t]) => max(t!, [-3, -1], true), fr: ([v]) => ref.max(v!, [0, 2], true), fv: (g, [v]) => vjp.max(g, v!, [0, 2], true), tol: SUM_TOL }, rng);
});

red('reductions over size-1 axes and of rank-1 / scalar-like tensors', async () => {
  const rng = mulberry32(440);
  for (const r of REDUCTIONS) {
    await reduceCheck(r, randRT([3, 1, 5], rng), [1], false, rng);
    await reduceCheck(r, randRT([3, 1, 5], rng), [0, 1], true, rng);
    await reduceCheck(r, randRT([1], rng), undefined, false, rng);
    await reduceCheck(r, randRT([129], rng), [0], true, rng);
    await reduceCheck(r, randRT([2, 1, 3, 1], rng), [0, 2], false, rng);
    // axes 0 and 2 around a size-1 dim are reduced in one merged pass
    await reduceCheck(r, randRT([3, 1, 5], rng), [0, 2], false, rng);
    await reduceCheck(r, randRT([2, 3, 1, 4], rng), [1, 3], true, rng);
  }
});

// Long rows take the multi-pass path (reduce_rows split into chunks, then a second pass), long columns the
// strided column walk. Positive data keeps the sums far from 0, where the relative tolerance applies.
red('long reductions: [70000] vector (multi-pass)', async () => {
  const rng = mulberry32(450);
  const x = randRT([70000], rng, 0, 1);
  for (const r of REDUCTIONS) await reduceCheck(r, x, undefined, false, rng);
  await reduceCheck(REDUCTIONS[0]!, x, [0], true, rng);
});

red('long reductions: [3, 5000] over axis 1 and [5000, 3] over axis 0', async () => {
  const rng = mulberry32(460);
  const rows = randRT([3, 5000], rng, 0, 1);
  const cols = randRT([5000, 3], rng, 0, 1);
  for (const r of REDUCTIONS) {
    await reduceCheck(r, rows, [1], false, rng);
    await reduceCheck(r, cols, [0], true, rng);
  }
  // many rows, each long enough for the row kernel (one chunk per row)
  await reduceCheck(REDUCTIONS[0]!, randRT([70, 1100], rng, 0, 1), [1], false, rng);
  await reduceCheck(REDUCTIONS[2]!, randRT([70, 1100], rng, 0, 1), [1], false, rng);
});

// ------------------------------------------------------------------------------------------------ shape ops

const shp = suite('ops: shape ops');
shp.before(setup);

shp('reshape, with and without -1', async () => {
  const rng = mulberry32(500);
  const x = randRT([3, 4, 5], rng);
  for (const s of [[60], [5, -1], [-1, 3, 1, 2, 2], [3, 20], [1, 60, 1]]) {
    await check(`reshape to ${fmt(s)}`, [x], { f: ([t]) => reshape(t!, s), fr: ([v]) => ref.reshape(v!, s), fv: (g, [v]) => vjp.reshape(g, v!, s) }, rng);
  }
  await check('reshape [1] to []', [randRT([1], rng)], { f: ([t]) => reshape(t!, []), fr: ([v]) => ref.reshape(v!, []), fv: (g, [v]) => vjp.reshape(g, v!, []) }, rng);
  // a reshape followed by a real op (the backward reaches the reshaped input through a view)
  await check('exp(reshape)', [x], {
    f: ([t]) => exp(reshape(t!, [12, 5])),
    fr: ([v]) => ref.exp(ref.reshape(v!, [12, 5])),
    fv: (g, [v]) => vjp.reshape(vjp.exp(g, ref.reshape(v!, [12, 5]))[0]!, v!, [12, 5]),
  }, rng);
});

shp('permute of 3-D, 4-D and 5-D tensors, and transpose', async () => {
  const rng = mulberry32(510);
  const cases: [number[], number[]][] = [
    [[3, 4, 5], [2, 0, 1]],
    [[3, 4, 5], [0, 1, 2]],
    [[2, 3, 4, 5], [3, 1, 0, 2]],
    [[2, 3, 4, 5], [0, 2, 1, 3]],
    [[3, 1, 7, 2], [2, 3, 1, 0]],
    [[2, 3, 1, 4, 5], [4, 2, 0, 3, 1]],
    [[2, 3, 2, 3, 5], [1, 0, 3, 4, 2]],
    // rows of >= 64 strided elements (copy_rows: lanes along a row) and the dilated-conv space-to-batch permutes
    // (copy_lane_rows: a row per lane, rows of 2-8 strided elements), rank 6
    [[2, 70, 3], [0, 2, 1]],
    [[2, 5, 4, 2, 4, 2], [0, 3, 5, 1, 2, 4]],
    [[2, 2, 2, 5, 4, 4], [0, 3, 4, 1, 5, 2]],
  ];
  for (const [s, p] of cases) {
    await check(`permute ${fmt(s)} by ${fmt(p)}`, [randRT(s, rng)], { f: ([t]) => permute(t!, p), fr: ([v]) => ref.permute(v!, p), fv: (g, [v]) => vjp.permute(g, v!, p) }, rng);
  }
  const x = randRT([3, 4, 5], rng);
  for (const [d0, d1] of [[0, 2], [1, 2], [0, 1], [-1, -3]]) {
    await check(`transpose ${d0} ${d1}`, [x], { f: ([t]) => transpose(t!, d0, d1), fr: ([v]) => ref.transpose(v!, d0!, d1!), fv: (g, [v]) => vjp.transpose(g, v!, d0!, d1!) }, rng);
  }
  await check('transpose default (last two)', [x], { f: ([t]) => transpose(t!), fr: ([v]) => ref.transpose(v!, 1, 2), fv: (g, [v]) => vjp.transpose(g, v!, 1, 2) }, rng);
});

shp('flip along one axis, several (adjacent ones merge into one reversed run), negative axes', async () => {
  const rng = mulberry32(515);
  const cases: [number[], number[]][] = [
    [[3, 4, 5], [2]],
    [[3, 4, 5], [1]],
    [[3, 4, 5], [0, 2]],
    [[2, 3, 4, 8], [2, 3]],
    [[2, 3, 4, 8], [-2]],
    [[2, 2, 3, 8], [0, 1, 2, 3]],
    [[7], [0]],
    // rows of >= 64 read backwards (copy_rows with a wrapped negative innermost stride)
    [[3, 70], [1]],
    [[2, 3, 128], [2]],
  ];
  for (const [s, axes] of cases) {
    await check(`flip ${fmt(s)} axes ${fmt(axes)}`, [randRT(s, rng)], { f: ([t]) => flip(t!, axes), fr: ([v]) => ref.flip(v!, axes), fv: (g, [v]) => vjp.flip(g, v!, axes) }, rng);
  }
  // flipping twice is the identity, and flip(x, []) a copy of x
  const x = randRT([2, 3, 5], rng);
  const t = gpu(x);
  assert.equal(Array.from(await flip(flip(t, [0, 2]), [2, 0]).data()), Array.from(await t.data()));
  assert.equal(Array.from(await flip(t, []).data()), Array.from(await t.data()));
});

shp('slice at the start, middle and end of each axis', async () => {
  const rng = mulberry32(520);
  const x = randRT([3, 7, 5], rng);
  const cases: [number, number, number][] = [
    [1, 0, 2], [1, 2, 5], [1, 5, 7], [1, 0, 7], [1, 3, 4],
    [0, 0, 1], [0, 1, 2], [0, 2, 3],
    [2, 0, 3], [2, 1, 4], [2, 4, 5], [-1, 2, 5],
  ];
  for (const [axis, s, e] of cases) {
    await check(`slice axis ${axis} [${s}, ${e})`, [x], { f: ([t]) => slice(t!, axis, s, e), fr: ([v]) => ref.slice(v!, axis, s, e), fv: (g, [v]) => vjp.slice(g, v!, axis, s, e) }, rng);
  }
  const v = randRT([129], rng);
  await check('slice [129] [1, 128)', [v], { f: ([t]) => slice(t!, 0, 1, 128), fr: ([r]) => ref.slice(r!, 0, 1, 128), fv: (g, [r]) => vjp.slice(g, r!, 0, 1, 128) }, rng);
  // rows of 128 at an unaligned offset (copy_rows), more than one row
  const w = randRT([2, 3, 130], rng);
  await check('slice [2, 3, 130] axis 2 [1, 129)', [w], { f: ([t]) => slice(t!, 2, 1, 129), fr: ([r]) => ref.slice(r!, 2, 1, 129), fv: (g, [r]) => vjp.slice(g, r!, 2, 1, 129) }, rng);
});

shp('concat of 3 tensors along a middle axis, the first and the last axis', async () => {
  const rng = mulberry32(530);
  const cases: [number[][], number][] = [
    [[[2, 3, 5], [2, 1, 5], [2, 4, 5]], 1],
    [[[2, 3, 5], [2, 1, 5], [2, 4, 5]], -2],
    [[[1, 3, 5], [4, 3, 5], [2, 3, 5]], 0],
    [[[2, 3, 1], [2, 3, 7], [2, 3, 2]], 2],
    [[[3, 2, 4, 5], [3, 1, 4, 5], [3, 3, 4, 5]], 1],
    [[[129], [1], [3]], 0],
  ];
  for (const [shapes, axis] of cases) {
    const xs = shapes.map((s) => randRT(s, rng));
    await check(`concat ${shapes.map(fmt).join(' ')} axis ${axis}`, xs, { f: (ts) => concat(ts, axis), fr: (rs) => ref.concat(rs, axis), fv: (g, rs) => vjp.concat(g, rs, axis) }, rng);
  }
});

shp('diff: along the last, a middle and the first axis; odd sizes; rows past one workgroup', async () => {
  const rng = mulberry32(545);
  const cases: [number[], number][] = [
    [[2, 3, 7], -1], // LAST: rows along the axis
    [[2, 5, 3], 1], // a middle axis: rows of inner elements
    [[4, 9], 0],
    [[2], 0], // one difference
    [[8, 2, 40, 131], 3], // the refinement's smoothness shapes, rows longer than one lane's run
    [[3, 2, 33, 20], 2],
    [[65540, 3], 1], // more than 65535 rows: the grid's z takes the rest
  ];
  for (const [s, axis] of cases) {
    await check(`diff ${fmt(s)} axis ${axis}`, [randRT(s, rng)], { f: ([x]) => diff(x!, axis), fr: ([v]) => ref.diff(v!, axis), fv: (g, [v]) => vjp.diff(g, v!, axis) }, rng);
  }
  // the gradient's own gradient (diff's adjoint, differentiated w.r.t. the upstream gradient) is diff again
  await scope(async () => {
    const x = gpu(randRT([2, 6, 5], rng), true);
    const gy = gpu(randRT([2, 5, 5], rng), true);
    const v = randRT([2, 6, 5], rng);
    const [gx] = grad(diff(x, 1), [x], { gradOutputs: [gy], createGraph: true });
    await close(gx!, vjp.diff(rt([2, 5, 5], Array.from(await gy.data())), rt([2, 6, 5], Array.from(await x.data())), 1)[0]!, 'diff: first gradient');
    const [ggy] = grad(sum(mul(gx!, gpu(v))), [gy]);
    await close(ggy!, ref.diff(v, 1), 'diff: gradient of its gradient w.r.t. gy');
  });
  throwsMatching(() => diff(ones([3, 1, 4]), 1), /^diff: axis 1 of \[3, 1, 4\] has 1 element\(s\)/, 'diff of a single element');
});

shp('expand', async () => {
  const rng = mulberry32(540);
  const cases: [number[], number[]][] = [
    [[3, 1], [2, 3, 4]],
    [[1, 5], [4, 5]],
    [[], [3, 7]],
    [[1], [129]],
    [[1, 1, 1, 1], [3, 2, 7, 12]], // one value to a multiple of 4: vec4 stores (splat4)
    [[], [64, 130]], // the same with several vec4s a lane (a full sum's gradient)
    [[3, 1, 5], [2, 3, 4, 5]],
    [[3, 4], [3, 4]],
  ];
  for (const [s, t] of cases) {
    await check(`expand ${fmt(s)} to ${fmt(t)}`, [randRT(s, rng)], { f: ([x]) => expand(x!, t), fr: ([v]) => ref.expand(v!, t), fv: (g, [v]) => vjp.expand(g, v!, t) }, rng);
  }
});

// ------------------------------------------------------------------------------------------------ matmul, linear

const mm = suite('ops: matmul and linear');
mm.before(setup);

interface MatmulCase {
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
}

function mmCheck(c: MatmulCase, rng: () => number): Promise<void> {
  const opts = { transA: c.transA, transB: c.transB };
  const what = `matmul ${fmt(c.a)}${c.transA ? 'ᵀ' : ''} x ${fmt(c.b)}${c.transB ? 'ᵀ' : ''}`;
  return check(what, [randRT(c.a, rng), randRT(c.b, rng)], {
    f: ([a, b]) => matmul(a!, b!, opts),
    fr: ([a, b]) => ref.matmul(a!, b!, opts),
    fv: (g, [a, b]) => vjp.matmul(g, a!, b!, opts),
    tol: SUM_TOL,
  }, rng);
}

mm('2-D shapes (M, K, N), odd and aligned', async () => {
  const rng = mulberry32(600);
  for (const [M, K, N] of [[1, 1, 1], [3, 7, 5], [8, 4, 4], [129, 65, 33], [64, 128, 96], [9, 8, 12], [1, 5, 1], [17, 3, 2]]) {
    await mmCheck({ a: [M!, K!], b: [K!, N!] }, rng);
  }
});

mm('narrow B (N <= 8, M >= 16) goes to matmul_rows (lanes over row blocks): odd M, batched, shared A, pitched A; wider B to matmul', async () => {
  const rng = mulberry32(607);
  const entries = async (f: () => Tensor) => {
    engine().profileStart();
    const y = f();
    await y.data();
    const p = await engine().profileStop();
    y.dispose();
    return p.entries.filter((e) => e.kernel.startsWith('matmul.')).map((e) => e.kernel);
  };
  for (const c of [
    { a: [70, 12], b: [12, 4] }, { a: [16, 5], b: [5, 8] }, { a: [3, 130, 9], b: [3, 9, 5] }, { a: [131, 8], b: [2, 8, 3] },
    { a: [2, 66, 7], b: [7, 6] },
  ] as MatmulCase[]) {
    await mmCheck(c, rng);
    await scope(async () => assert.equal(await entries(() => matmul(gpu(randRT(c.a, rng)), gpu(randRT(c.b, rng)))), ['matmul.matmul_rows'], `${fmt(c.a)} x ${fmt(c.b)}`));
  }
  await scope(async () => {
    assert.equal(await entries(() => matmul(gpu(randRT([70, 12], rng)), gpu(randRT([12, 12], rng)))), ['matmul.matmul'], 'N = 12');
    assert.equal(await entries(() => matmul(gpu(randRT([15, 12], rng)), gpu(randRT([12, 4], rng)))), ['matmul.matmul'], 'M = 15');
    // A read through a row pitch (lda 20 > k 16)
    const A = randRT([2, 40, 20], rng);
    const B = randRT([2, 16, 8], rng);
    const cutA = rt([2, 40, 16], A.data.filter((_, i) => i % 20 < 16));
    await close(matmulPitched(gpu(A), gpu(B), 8), ref.matmul(cutA, B), 'matmulPitched [2, 40, 20] x [2, 16, 8] as k 16', SUM_TOL);
  });
});

mm('matmulPitched: operands read through row pitches (columns past k / n ignored), shared and batched A', async () => {
  const rng = mulberry32(605);
  // the logical operand: the first `cols` columns of each row of a wider stored matrix
  const cut = (x: RT, cols: number) => {
    const [rows, pitch] = x.shape.slice(-2) as [number, number];
    const lead = x.shape.slice(0, -2);
    const outer = x.data.length / (rows * pitch);
    const d: number[] = [];
    for (let o = 0; o < outer; o++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) d.push(x.data[(o * rows + r) * pitch + c]!);
    return rt([...lead, rows, cols], d);
  };
  for (const [aShape, bShape, n] of [[[5, 12], [2, 8, 20], 12], [[2, 9, 16], [2, 16, 8], 8], [[2, 5, 12], [8, 20], 12], [[3, 4], [4, 4], 4]] as [number[], number[], number][]) {
    const [A, B] = [randRT(aShape, rng), randRT(bShape, rng)];
    const k = bShape.at(-2)!;
    await scope(async () => close(matmulPitched(gpu(A), gpu(B), n), ref.matmul(cut(A, k), cut(B, n)), `matmulPitched ${fmt(aShape)} x ${fmt(bShape)} as k ${k}, n ${n}`, SUM_TOL));
  }
  // a block of B's rows (the sub-pixel phases' rows of one shared patch matrix): rows 4..11 of [2, 16, 20] per sample,
  // through matmul (n 12) and, for a narrow n, matmul_rows
  const rowsOf = (x: RT, r0: number, count: number) => {
    const [rows, pitch] = x.shape.slice(-2) as [number, number];
    const outer = x.data.length / (rows * pitch);
    const d: number[] = [];
    for (let o = 0; o < outer; o++) d.push(...x.data.slice((o * rows + r0) * pitch, (o * rows + r0 + count) * pitch));
    return rt([...x.shape.slice(0, -2), count, pitch], d);
  };
  for (const [aShape, n] of [[[6, 8], 12], [[70, 8], 4]] as [number[], number][]) {
    const [A, B] = [randRT(aShape, rng), randRT([2, 16, 20], rng)];
    await scope(async () => close(matmulPitched(gpu(A), gpu(B), n, [4, 8]), ref.matmul(A, cut(rowsOf(B, 4, 8), n)), `matmulPitched ${fmt(aShape)} x rows 4+8 of [2, 16, 20] as n ${n}`, SUM_TOL));
  }
  await scope(async () => {
    throwsMatching(() => matmulPitched(gpu(randRT([5, 8], rng)), gpu(randRT([16, 12], rng)), 12, [12, 8]), /matmulPitched: rows 12\+8 of b \[16, 12\] are not a block of its rows starting at a multiple of 4/, 'rows past b');
    throwsMatching(() => matmulPitched(gpu(randRT([5, 4], rng)), gpu(randRT([8, 12], rng))), /matmulPitched: needs a \[\(nb,\) M, lda >= k\].*got \[5, 4\] · \[8, 12\] as k 8, n 12/, 'k beyond a\'s pitch');
    throwsMatching(() => matmulPitched(gpu(randRT([5, 8], rng)), gpu(randRT([8, 12], rng)), 16), /as k 8, n 16/, 'n beyond b\'s pitch');
  });
});

mm('batched and broadcast batch dims', async () => {
  const rng = mulberry32(610);
  const cases: MatmulCase[] = [
    { a: [2, 3, 7], b: [2, 7, 5] },
    { a: [2, 3, 8], b: [2, 8, 4] },
    { a: [3, 5, 7], b: [7, 6] },
    { a: [5, 7], b: [3, 7, 6] },
    { a: [1, 3, 5], b: [4, 5, 7] },
    { a: [4, 3, 5], b: [1, 5, 7] },
    { a: [2, 1, 3, 4], b: [3, 4, 5] },
    { a: [2, 1, 9, 4], b: [1, 3, 4, 8] },
  ];
  for (const c of cases) await mmCheck(c, rng);
});

mm('all four transA / transB combinations, 2-D and batched', async () => {
  const rng = mulberry32(620);
  const [M, K, N] = [5, 7, 6];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a2 = transA ? [K, M] : [M, K];
      const b2 = transB ? [N, K] : [K, N];
      await mmCheck({ a: a2, b: b2, transA, transB }, rng);
      await mmCheck({ a: [2, ...a2], b: [2, ...b2], transA, transB }, rng);
      await mmCheck({ a: [3, ...a2], b: b2, transA, transB }, rng);
      await mmCheck({ a: transA ? [8, 4] : [4, 8], b: transB ? [12, 8] : [8, 12], transA, transB }, rng);
    }
  }
});

mm('a transposed B whose rows are a multiple of 4 long is read in place (TRANS_B, no layout copy): forward and gradients against the reference, N not a multiple of 4, shared and batched B', async () => {
  const rng = mulberry32(625);
  for (const c of [
    { a: [9, 12], b: [10, 12], transB: true }, { a: [2, 17, 8], b: [2, 13, 8], transB: true }, { a: [3, 24, 16], b: [36, 16], transB: true },
    { a: [8, 20], b: [2, 9, 8], transA: true, transB: true },
  ] as MatmulCase[]) {
    await mmCheck(c, rng);
    await scope(async () => {
      engine().profileStart();
      const y = matmul(gpu(randRT(c.a, rng)), gpu(randRT(c.b, rng)), { transA: !!c.transA, transB: true });
      await y.data();
      const kernels = (await engine().profileStop()).entries.map((e) => `${e.kernel} ${e.label}`);
      assert.ok(!kernels.some((k) => k.includes('B layout')), `no copy of B for ${fmt(c.a)} x ${fmt(c.b)}ᵀ: ${kernels.join('; ')}`);
    });
  }
  // and the copied route, the hook off, gives the same values
  await scope(async () => {
    const A = gpu(randRT([2, 17, 8], rng));
    const B = gpu(randRT([2, 13, 8], rng));
    const inPlace = await matmul(A, B, { transB: true }).data();
    matmulInternals.transBInPlace = false;
    try {
      assert.equal([...await matmul(A, B, { transB: true }).data()], [...inPlace], 'in place = copied');
    } finally {
      matmulInternals.transBInPlace = true;
    }
  });
});

mm('linear with and without bias on [5, 7] and [2, 3, 7] inputs', async () => {
  const rng = mulberry32(630);
  const w = randRT([4, 7], rng);
  const b = randRT([4], rng);
  for (const xs of [[5, 7], [2, 3, 7], [1, 7]]) {
    const x = randRT(xs, rng);
    await check(`linear ${fmt(xs)} with bias`, [x, w, b], {
      f: ([tx, tw, tb]) => linear(tx!, tw!, tb!), fr: ([rx, rw, rb]) => ref.linear(rx!, rw!, rb!), fv: (g, [rx, rw, rb]) => vjp.linear(g, rx!, rw!, rb!), tol: SUM_TOL,
    }, rng);
    await check(`linear ${fmt(xs)} without bias`, [x, w], {
      f: ([tx, tw]) => linear(tx!, tw!), fr: ([rx, rw]) => ref.linear(rx!, rw!), fv: (g, [rx, rw]) => vjp.linear(g, rx!, rw!), tol: SUM_TOL,
    }, rng);
  }
});

// ------------------------------------------------------------------------------------------------ errors

const err = suite('ops: errors name the op');
err.before(setup);

err('mismatched broadcast shapes for add (and the other binary ops)', () => {
  scope(() => {
    throwsMatching(() => add(ones([3, 4]), ones([5])), /^add: .*\[3, 4\].*\[5\]/, 'add');
    throwsMatching(() => add(ones([2, 3, 4]), ones([3, 1, 4])), /^add: /, 'add rank 3');
    throwsMatching(() => mul(ones([7, 1]), ones([3, 2])), /^mul: /, 'mul');
    throwsMatching(() => maximum(ones([4]), ones([3])), /^maximum: /, 'maximum');
    throwsMatching(() => where(ones([2]), ones([3]), ones([3])), /^where: /, 'where');
  });
});

err('matmul with different inner dims and with a 1-D operand', () => {
  scope(() => {
    throwsMatching(() => matmul(ones([3, 4]), ones([5, 6])), /^matmul: .*(4.*5|inner)/, 'inner dims');
    throwsMatching(() => matmul(ones([3, 4]), ones([3, 4]), { transA: false, transB: false }), /^matmul: /, 'inner dims, no transpose');
    throwsMatching(() => matmul(ones([4, 3]), ones([4, 5]), { transA: false }), /^matmul: /, 'inner dims, untransposed');
    throwsMatching(() => matmul(ones([4]), ones([4, 2])), /^matmul: .*rank/, '1-D a');
    throwsMatching(() => matmul(ones([2, 4]), ones([4])), /^matmul: .*rank/, '1-D b');
    throwsMatching(() => matmul(ones([2, 3, 4]), ones([3, 4, 5])), /matmul/, 'batch mismatch');
    throwsMatching(() => linear(ones([2, 5]), ones([3, 4])), /^linear: /, 'linear features');
  });
});

err('reshape to a wrong size, permute with a bad permutation', () => {
  scope(() => {
    throwsMatching(() => reshape(ones([2, 3]), [4, 2]), /^reshape: .*\[2, 3\]/, 'reshape size');
    throwsMatching(() => reshape(ones([2, 3]), [-1, 4]), /^reshape: /, 'reshape -1');
    throwsMatching(() => reshape(ones([2, 3]), [-1, -1]), /^reshape: /, 'reshape two -1');
    throwsMatching(() => permute(ones([2, 3, 4]), [0, 0, 1]), /^permute: /, 'permute repeat');
    throwsMatching(() => permute(ones([2, 3, 4]), [0, 1]), /^permute: /, 'permute too short');
    throwsMatching(() => permute(ones([2, 3, 4]), [0, 1, 3]), /^permute: /, 'permute out of range');
    throwsMatching(() => flip(ones([2, 3, 4]), [1, -2]), /^flip: axes \[1, -2\] name a dim of \[2, 3, 4\] twice/, 'flip repeat');
    throwsMatching(() => flip(ones([2, 3, 4]), 3), /^flip: /, 'flip out of range');
    throwsMatching(() => transpose(ones([2, 3]), 0, 2), /^transpose: /, 'transpose axis');
    throwsMatching(() => expand(ones([3, 2]), [3, 4]), /^expand: /, 'expand');
  });
});

err('slice out of range, concat with mismatched shapes', () => {
  scope(() => {
    throwsMatching(() => slice(ones([2, 3]), 1, 2, 5), /^slice: /, 'slice end');
    throwsMatching(() => slice(ones([2, 3]), 1, -1, 2), /^slice: /, 'slice negative start');
    throwsMatching(() => slice(ones([2, 3]), 1, 2, 1), /^slice: /, 'slice reversed');
    throwsMatching(() => slice(ones([2, 3]), 2, 0, 1), /^slice: /, 'slice axis');
    throwsMatching(() => concat([ones([2, 3]), ones([3, 3])], 1), /^concat: /, 'concat shapes');
    throwsMatching(() => concat([ones([2, 3]), ones([2, 3, 1])], 0), /^concat: /, 'concat ranks');
    throwsMatching(() => concat([], 0), /^concat: /, 'concat empty list');
    throwsMatching(() => concat([ones([2, 3])], 2), /^concat: /, 'concat axis');
  });
});

err('reductions: bad axes and an unbiased variance of one element', () => {
  scope(() => {
    throwsMatching(() => sum(ones([2, 3]), [0, 0]), /^sum: /, 'sum repeated axis');
    throwsMatching(() => max(ones([2, 3]), [3]), /^max: /, 'max axis');
    throwsMatching(() => variance(ones([2, 1]), [1], false, true), /^variance: /, 'unbiased n = 1');
  });
});

err('an empty tensor (shape [3, 0]) in tensor()', () => {
  throwsMatching(() => tensor(new Float32Array(0), [3, 0]), /^tensor: .*empty/, 'tensor');
});

err('an empty tensor (shape [3, 0]) in zeros()', () => {
  throwsMatching(() => zeros([3, 0]), /empty/, 'zeros: empty');
  throwsMatching(() => zeros([3, 0]), /^zeros: /, 'zeros names the op');
});

err('a tensor used after dispose(): the error says so', async () => {
  const x = ones([3]);
  x.dispose();
  throwsMatching(() => exp(x), /dispose/, 'exp');
  try {
    await x.data();
    assert.unreachable('data() of a disposed tensor did not throw');
  } catch (e) {
    assert.match((e as Error).message, /dispose/);
  }
});

err('a tensor used after dispose(): the error names the op it was passed to', () => {
  const x = ones([3, 4]);
  const w = ones([4, 4]);
  x.dispose();
  const failures: string[] = [];
  const ops: [string, () => unknown][] = [
    ['exp', () => exp(x)],
    ['add', () => add(x, w.slice(0, 0, 3))],
    ['sum', () => sum(x)],
    ['matmul', () => matmul(x, w)],
    ['permute', () => permute(x, [1, 0])],
    ['reshape', () => reshape(x, [12])],
  ];
  for (const [name, f] of ops) {
    try {
      f();
      failures.push(`${name}: no error`);
    } catch (e) {
      const msg = (e as Error).message;
      if (!new RegExp(`\\b${name}\\b`).test(msg) || !/dispose/.test(msg)) failures.push(`${name}: "${msg}"`);
    }
  }
  w.dispose();
  assert.ok(failures.length === 0, `errors that do not name the op:\n  ${failures.join('\n  ')}`);
});

for (const s of [unary, binary, cmp, red, shp, mm, err]) s.run();
