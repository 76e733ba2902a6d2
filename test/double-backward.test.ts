// Higher-order gradients: the input-gradient penalty of a small MLP (the case the engine is built for), second
// derivatives of every differentiable op against finite differences of the float64 reference vjps, and the
// retainGraph rules of a repeated backward.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  scope, grad, type Tensor,
  exp, log, sqrt, rsqrt, tanh, sigmoid, sin, cos, reciprocal, square, powScalar, affine, leakyRelu, relu, abs,
  add, mul, div, maximum, sum, mean, variance, matmul, linear,
} from '../src/node.js';
import {
  RT, rt, randRT, mulberry32, zerosRT, ref, vjp,
  mlpInputGrad, mlpPenalty, mlpPenaltyGradFD, type MlpParams,
} from './reference.js';
import { setup, gpu, close, throwsMatching, type Tol } from './helpers.js';

// Gradients of f32 sums of products: the reductions/matmul tolerance.
const GRAD_TOL: Tol = { atol: 1e-4, rtol: 1e-3 };
// Second derivatives vs finite differences of the reference: f32 on the GPU, several ops deep.
const SECOND_TOL: Tol = { atol: 1e-3, rtol: 1e-2 };

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

// ------------------------------------------------------------------------------------------------ MLP penalty

const mlp = suite('double backward: MLP input-gradient penalty');
mlp.before(setup);

const B = 3, I = 5, H = 7, O = 2, SLOPE = 0.2;

function mlpParams(seed: number): MlpParams {
  const rng = mulberry32(seed);
  return {
    x: randRT([B, I], rng),
    W1: randRT([H, I], rng),
    b1: randRT([H], rng),
    W2: randRT([O, H], rng),
    b2: randRT([O], rng),
  };
}

for (const seed of [11, 12]) {
  mlp(`P = sum(g²), g = d sum(y) / dx: value, g, and dP/dW1, db1, dW2, db2 vs finite differences (seed ${seed})`, async () => {
    const p = mlpParams(seed);
    // Precondition for finite differences through leakyRelu: no pre-activation sits near the kink.
    const h = ref.linear(p.x, p.W1, p.b1);
    const nearest = Math.min(...h.data.map(Math.abs));
    assert.ok(nearest > 1e-5, `seed ${seed}: a pre-activation is ${nearest} from the leakyRelu kink`);

    await scope(async () => {
      const x = gpu(p.x, true);
      const W1 = gpu(p.W1, true);
      const b1 = gpu(p.b1, true);
      const W2 = gpu(p.W2, true);
      const b2 = gpu(p.b2, true);
      const y = linear(leakyRelu(linear(x, W1, b1), SLOPE), W2, b2);
      const [g] = grad(sum(y), x, { createGraph: true });
      assert.ok(g, 'grad() returned no gradient for x');
      assert.ok(g!.requiresGrad, 'g was computed with createGraph but does not require grad');
      await close(g!, mlpInputGrad(p, SLOPE), 'g = d sum(y) / dx', GRAD_TOL);

      const P = sum(square(g!));
      assert.equal([...P.shape], [], 'P is a scalar');
      const pv = await P.item();
      const want = mlpPenalty(p, SLOPE);
      assert.ok(Math.abs(pv - want) <= 1e-4 + 1e-3 * Math.abs(want), `P is ${pv} on the GPU, ${want} in the reference`);

      P.backward();
      const fd = mlpPenaltyGradFD(p, SLOPE);
      assert.ok(W1.grad, 'W1.grad is missing');
      assert.ok(W2.grad, 'W2.grad is missing');
      await close(W1.grad!, fd.W1, 'dP/dW1', GRAD_TOL);
      await close(W2.grad!, fd.W2, 'dP/dW2', GRAD_TOL);
      // P depends on b1 only through the leakyRelu mask and not at all on b2: both gradients are zero. The engine
      // may leave .grad null (no path in the graph) or give zeros; either must match the finite differences.
      for (const [name, t, want] of [['b1', b1, fd.b1], ['b2', b2, fd.b2]] as [string, Tensor, RT][]) {
        for (const v of want.data) assert.ok(Math.abs(v) < 1e-6, `reference dP/d${name} is not ~0: ${v}`);
        if (t.grad) await close(t.grad, want, `dP/d${name}`, GRAD_TOL);
      }
    });
  });
}

mlp('the penalty gradient matches when the MLP is written with matmul and an explicit bias add', async () => {
  const p = mlpParams(13);
  await scope(async () => {
    const x = gpu(p.x, true);
    const W1 = gpu(p.W1, true);
    const b1 = gpu(p.b1, true);
    const W2 = gpu(p.W2, true);
    const b2 = gpu(p.b2, true);
    const hid = leakyRelu(add(matmul(x, W1, { transB: true }), b1), SLOPE);
    const y = add(matmul(hid, W2, { transB: true }), b2);
    const [g] = grad(sum(y), x, { createGraph: true });
    const P = sum(square(g!));
    P.backward();
    const fd = mlpPenaltyGradFD(p, SLOPE);
    await close(W1.grad!, fd.W1, 'dP/dW1', GRAD_TOL);
    await close(W2.grad!, fd.W2, 'dP/dW2', GRAD_TOL);
  });
});

// ------------------------------------------------------------------------------------------------ second derivatives

const second = suite('double backward: second derivatives vs finite differences');
second.before(setup);

interface SecondCase {
  f: (ts: Tensor[]) => Tensor;
  fr: (xs: RT[]) => RT;
  fv: (gy: RT, xs: RT[]) => RT[];
}

/** h(xs) = Σ_i Σ_j vjp(gy, xs)[i]_j · v[i]_j, in float64. */
function hRef(c: SecondCase, gy: RT, xs: RT[], vs: RT[]): number {
  const gs = c.fv(gy, xs);
  let s = 0;
  gs.forEach((g, i) => g.data.forEach((val, j) => (s += val * vs[i]!.data[j]!)));
  return s;
}

/** dh/dxs by central differences (eps = 1e-5) over every element of every input. */
function hGradFD(c: SecondCase, gy: RT, xs: RT[], vs: RT[], eps = 1e-5): RT[] {
  return xs.map((x, i) => {
    const out = new Float64Array(x.size);
    for (let j = 0; j < x.size; j++) {
      const at = (d: number) => {
        const moved = rt(x.shape, x.data);
        moved.data[j] = x.data[j]! + d;
        return hRef(c, gy, xs.map((y, k) => (k === i ? moved : y)), vs);
      };
      out[j] = (at(eps) - at(-eps)) / (2 * eps);
    }
    return new RT([...x.shape], out);
  });
}

/**
 * On the GPU: gs = grad(f(xs), xs, { gradOutputs: [gy], createGraph: true }), s = Σ_i sum(gs[i] · v[i]),
 * then grad(s, xs). Compares gs with the vjp and grad(s, xs) with finite differences of the reference.
 * Where the first derivative does not depend on the inputs at all (a linear op, or a piecewise-constant
 * derivative), s carries no graph back to xs: the second derivative is then identically zero, and the finite
 * differences must say so.
 */
async function checkSecond(what: string, xs: RT[], c: SecondCase, rng: () => number): Promise<void> {
  const gy = randRT(c.fr(xs).shape, rng);
  const vs = xs.map((x) => randRT(x.shape, rng));
  const want = hGradFD(c, gy, xs, vs);
  await scope(async () => {
    const ts = xs.map((x) => gpu(x, true));
    const y = c.f(ts);
    const gs = grad(y, ts, { gradOutputs: [gpu(gy)], createGraph: true });
    const firstRef = c.fv(gy, xs);
    for (let i = 0; i < ts.length; i++) {
      assert.ok(gs[i], `${what}: no first gradient for input ${i}`);
      await close(gs[i]!, firstRef[i]!, `${what}: first derivative of input ${i}`, GRAD_TOL);
    }
    let s: Tensor | null = null;
    gs.forEach((g, i) => {
      const term = sum(mul(g!, gpu(vs[i]!)));
      s = s ? add(s, term) : term;
    });
    const got: (Tensor | null)[] = s!.requiresGrad ? grad(s!, ts, { allowUnused: true }) : ts.map(() => null);
    for (let i = 0; i < ts.length; i++) {
      const label = `${what}: second derivative w.r.t. input ${i}`;
      if (got[i]) await close(got[i]!, want[i]!, label, SECOND_TOL);
      else await close(gpu(zerosRT(xs[i]!.shape)), want[i]!, `${label} (no graph path: zero)`, SECOND_TOL);
    }
  });
}

/** Values with lo <= |v| < hi and random signs. */
function awayRT(shape: number[], rng: () => number, lo = 0.1, hi = 1): RT {
  const x = randRT(shape, rng, lo, hi);
  for (let i = 0; i < x.size; i++) if (rng() < 0.5) x.data[i] = -x.data[i]!;
  return x;
}

type Unary = [string, (x: Tensor) => Tensor, (x: RT) => RT, (gy: RT, x: RT) => RT[], (s: number[], rng: () => number) => RT];
const any = (lo: number, hi: number) => (s: number[], rng: () => number) => randRT(s, rng, lo, hi);
const pos = any(0.5, 2);
const away = (s: number[], rng: () => number) => awayRT(s, rng, 0.1, 1.5);

const UNARY: Unary[] = [
  ['exp', exp, ref.exp, vjp.exp, any(-1.5, 1.5)],
  ['log', log, ref.log, vjp.log, pos],
  ['sqrt', sqrt, ref.sqrt, vjp.sqrt, pos],
  ['rsqrt', rsqrt, ref.rsqrt, vjp.rsqrt, pos],
  ['tanh', tanh, ref.tanh, vjp.tanh, any(-2, 2)],
  ['sigmoid', sigmoid, ref.sigmoid, vjp.sigmoid, any(-3, 3)],
  ['sin', sin, ref.sin, vjp.sin, any(-3, 3)],
  ['cos', cos, ref.cos, vjp.cos, any(-3, 3)],
  ['reciprocal', reciprocal, ref.reciprocal, vjp.reciprocal, pos],
  ['square', square, ref.square, vjp.square, any(-2, 2)],
  ['powScalar(3)', (x) => powScalar(x, 3), (x) => ref.powScalar(x, 3), (g, x) => vjp.powScalar(g, x, 3), any(-1.5, 1.5)],
  ['powScalar(2)', (x) => powScalar(x, 2), (x) => ref.powScalar(x, 2), (g, x) => vjp.powScalar(g, x, 2), any(-1.5, 1.5)],
  ['powScalar(0.5)', (x) => powScalar(x, 0.5), (x) => ref.powScalar(x, 0.5), (g, x) => vjp.powScalar(g, x, 0.5), pos],
  ['powScalar(-1.5)', (x) => powScalar(x, -1.5), (x) => ref.powScalar(x, -1.5), (g, x) => vjp.powScalar(g, x, -1.5), pos],
  ['affine(-1.5, 0.25)', (x) => affine(x, -1.5, 0.25), (x) => ref.affine(x, -1.5, 0.25), (g, x) => vjp.affine(g, x, -1.5, 0.25), any(-2, 2)],
  ['leakyRelu(0.2)', (x) => leakyRelu(x, 0.2), (x) => ref.leakyRelu(x, 0.2), (g, x) => vjp.leakyRelu(g, x, 0.2), away],
  ['relu', relu, ref.relu, vjp.relu, away],
  ['abs', abs, ref.abs, vjp.abs, away],
];

for (const [k, [name, f, fr, fv, make]] of UNARY.entries()) {
  second(`${name}`, async () => {
    const rng = mulberry32(700 + k);
    for (const shape of [[3, 4], [7]]) {
      await checkSecond(`${name} ${fmt(shape)}`, [make(shape, rng)], { f: ([t]) => f(t!), fr: ([r]) => fr(r!), fv: (g, [r]) => fv(g, r!) }, rng);
    }
  });
}

// The second derivative of a unary op composed with itself exercises a non-trivial chain of recorded rules.
second('composition tanh(sin(x)) · exp(x)', async () => {
  const rng = mulberry32(760);
  const x = randRT([3, 4], rng, -1.5, 1.5);
  const fr = (r: RT) => ref.mul(ref.tanh(ref.sin(r)), ref.exp(r));
  const fv = (g: RT, r: RT) => {
    const [ga, gb] = vjp.mul(g, ref.tanh(ref.sin(r)), ref.exp(r));
    const viaTanh = vjp.sin(vjp.tanh(ga!, ref.sin(r))[0]!, r)[0]!;
    return [ref.add(viaTanh, vjp.exp(gb!, r)[0]!)];
  };
  await checkSecond('tanh(sin(x)) * exp(x)', [x], { f: ([t]) => mul(tanh(sin(t!)), exp(t!)), fr: ([r]) => fr(r!), fv: (g, [r]) => fv(g, r!) }, rng);
});

type Binary = [string, (a: Tensor, b: Tensor) => Tensor, (a: RT, b: RT) => RT, (gy: RT, a: RT, b: RT) => RT[]];
const BINARY: Binary[] = [
  ['mul', mul, ref.mul, vjp.mul],
  ['div', div, ref.div, vjp.div],
  ['maximum', maximum, ref.maximum, vjp.maximum],
];

for (const [k, [name, f, fr, fv]] of BINARY.entries()) {
  second(`${name}: w.r.t. both inputs, same shape and broadcast`, async () => {
    const rng = mulberry32(800 + k);
    for (const [sa, sb] of [[[3, 4], [3, 4]], [[3, 4], [4]], [[3, 1], [1, 4]]] as [number[], number[]][]) {
      let a: RT;
      let b: RT;
      if (name === 'div') {
        a = randRT(sa, rng, -2, 2);
        b = randRT(sb, rng, 0.5, 2);
      } else if (name === 'maximum') {
        // a off the 0.5-grid, b on it: never within 0.1 of each other (the kink)
        a = rt(sa, randRT(sa, rng).data.map((v) => Math.floor(v * 4) * 0.5 + 0.1 + 0.3 * rng()));
        b = rt(sb, randRT(sb, rng).data.map((v) => Math.round(v * 3) * 0.5));
      } else {
        a = randRT(sa, rng, -2, 2);
        b = randRT(sb, rng, -2, 2);
      }
      await checkSecond(`${name} ${fmt(sa)} ${fmt(sb)}`, [a, b], { f: ([x, y]) => f(x!, y!), fr: ([x, y]) => fr(x!, y!), fv: (g, [x, y]) => fv(g, x!, y!) }, rng);
    }
  });
}

second('sum and mean over an axis and over everything', async () => {
  const rng = mulberry32(850);
  const x = randRT([3, 4], rng);
  await checkSecond('sum axis 1', [x], { f: ([t]) => sum(t!, [1]), fr: ([r]) => ref.sum(r!, [1]), fv: (g, [r]) => vjp.sum(g, r!, [1]) }, rng);
  await checkSecond('sum all', [x], { f: ([t]) => sum(t!), fr: ([r]) => ref.sum(r!), fv: (g, [r]) => vjp.sum(g, r!) }, rng);
  await checkSecond('mean axis 0 keepdim', [x], { f: ([t]) => mean(t!, [0], true), fr: ([r]) => ref.mean(r!, [0], true), fv: (g, [r]) => vjp.mean(g, r!, [0], true) }, rng);
  await checkSecond('mean all', [x], { f: ([t]) => mean(t!), fr: ([r]) => ref.mean(r!), fv: (g, [r]) => vjp.mean(g, r!) }, rng);
});

second('variance: biased over an axis, unbiased over everything, keepdim', async () => {
  const rng = mulberry32(860);
  const x = randRT([3, 4], rng);
  await checkSecond('variance axis 1', [x], { f: ([t]) => variance(t!, [1]), fr: ([r]) => ref.variance(r!, [1]), fv: (g, [r]) => vjp.variance(g, r!, [1]) }, rng);
  await checkSecond('variance axis 0 keepdim', [x], { f: ([t]) => variance(t!, [0], true), fr: ([r]) => ref.variance(r!, [0], true), fv: (g, [r]) => vjp.variance(g, r!, [0], true) }, rng);
  await checkSecond('variance all unbiased', [x], {
    f: ([t]) => variance(t!, undefined, false, true), fr: ([r]) => ref.variance(r!, undefined, false, true), fv: (g, [r]) => vjp.variance(g, r!, undefined, false, true),
  }, rng);
});

second('matmul: w.r.t. both inputs, plain, transposed and batch-broadcast', async () => {
  const rng = mulberry32(870);
  const cases: [number[], number[], { transA?: boolean; transB?: boolean }][] = [
    [[3, 4], [4, 5], {}],
    [[4, 3], [5, 4], { transA: true, transB: true }],
    [[3, 4], [5, 4], { transB: true }],
    [[2, 3, 4], [4, 5], {}],
  ];
  for (const [sa, sb, opts] of cases) {
    await checkSecond(`matmul ${fmt(sa)} ${fmt(sb)} ${JSON.stringify(opts)}`, [randRT(sa, rng), randRT(sb, rng)], {
      f: ([a, b]) => matmul(a!, b!, opts), fr: ([a, b]) => ref.matmul(a!, b!, opts), fv: (g, [a, b]) => vjp.matmul(g, a!, b!, opts),
    }, rng);
  }
});

second('third derivative of a cubic through three nested grad() calls', async () => {
  await scope(async () => {
    const x = gpu(rt([4], [-1.5, -0.5, 0.75, 2]), true);
    const [g1] = grad(sum(powScalar(x, 3)), x, { createGraph: true }); // 3x²
    const [g2] = grad(sum(g1!), x, { createGraph: true }); // 6x
    const [g3] = grad(sum(g2!), x); // 6
    await close(g1!, rt([4], [6.75, 0.75, 1.6875, 12]), 'first derivative', GRAD_TOL);
    await close(g2!, rt([4], [-9, -3, 4.5, 12]), 'second derivative', GRAD_TOL);
    await close(g3!, rt([4], [6, 6, 6, 6]), 'third derivative', GRAD_TOL);
  });
});

// ------------------------------------------------------------------------------------------------ retainGraph

const retain = suite('double backward: repeated backward and retainGraph');
retain.before(setup);

/** y = sum(tanh(x · w) · x₀) with the reference gradients of y w.r.t. x [3, 4] and w [4, 2]. */
function smallGraph(seed: number) {
  const rng = mulberry32(seed);
  const x = randRT([3, 4], rng);
  const w = randRT([4, 2], rng);
  const z = ref.matmul(x, w);
  const gz = vjp.tanh(ref.expand(rt([], [1]), z.shape), z)[0]!;
  const [gx, gw] = vjp.matmul(gz, x, w);
  return { x, w, gx: gx!, gw: gw! };
}

const twice = (r: RT) => ref.mul(r, rt([], [2]));

retain('a second backward through a freed graph throws a clear error', async () => {
  const c = smallGraph(900);
  await scope(async () => {
    const x = gpu(c.x, true);
    const w = gpu(c.w, true);
    const y = sum(tanh(matmul(x, w)));
    y.backward();
    await close(x.grad!, c.gx, 'dy/dx after one backward', GRAD_TOL);
    throwsMatching(() => y.backward(), /already freed.*retainGraph/, 'second backward');
    // the failed call left the accumulated gradients alone
    await close(x.grad!, c.gx, 'dy/dx after the failed backward', GRAD_TOL);
    await close(w.grad!, c.gw, 'dy/dw after the failed backward', GRAD_TOL);
  });
});

retain('grad() without createGraph or retainGraph frees the graph too', async () => {
  const c = smallGraph(901);
  await scope(async () => {
    const x = gpu(c.x, true);
    const w = gpu(c.w, true);
    const y = sum(tanh(matmul(x, w)));
    const [gx] = grad(y, x);
    await close(gx!, c.gx, 'grad(y, x)', GRAD_TOL);
    assert.is(x.grad, null, 'grad() must not write .grad');
    throwsMatching(() => y.backward(), /already freed.*retainGraph/, 'backward after grad()');
  });
});

retain('with retainGraph: true a second backward accumulates: .grad doubles', async () => {
  const c = smallGraph(902);
  await scope(async () => {
    const x = gpu(c.x, true);
    const w = gpu(c.w, true);
    const y = sum(tanh(matmul(x, w)));
    y.backward({ retainGraph: true });
    await close(x.grad!, c.gx, 'dy/dx after the first backward', GRAD_TOL);
    y.backward({ retainGraph: true });
    await close(x.grad!, twice(c.gx), 'dy/dx after two backwards', GRAD_TOL);
    await close(w.grad!, twice(c.gw), 'dy/dw after two backwards', GRAD_TOL);
    // a third, without retainGraph, still works (the graph was kept) and then frees it
    y.backward();
    await close(w.grad!, ref.mul(c.gw, rt([], [3])), 'dy/dw after three backwards', GRAD_TOL);
    throwsMatching(() => y.backward(), /already freed/, 'fourth backward');
  });
});

retain('backward of a penalty built with createGraph can be repeated with retainGraph', async () => {
  const p = mlpParams(903);
  const fd = mlpPenaltyGradFD(p, SLOPE);
  await scope(async () => {
    const x = gpu(p.x, true);
    const W1 = gpu(p.W1, true);
    const b1 = gpu(p.b1, true);
    const W2 = gpu(p.W2, true);
    const b2 = gpu(p.b2, true);
    const y = linear(leakyRelu(linear(x, W1, b1), SLOPE), W2, b2);
    const [g] = grad(sum(y), x, { createGraph: true });
    const P = sum(square(g!));
    P.backward({ retainGraph: true });
    P.backward();
    await close(W1.grad!, twice(fd.W1), 'dP/dW1 accumulated twice', GRAD_TOL);
    await close(W2.grad!, twice(fd.W2), 'dP/dW2 accumulated twice', GRAD_TOL);
    throwsMatching(() => P.backward(), /already freed/, 'third backward of P');
  });
});

for (const s of [mlp, second, retain]) s.run();
