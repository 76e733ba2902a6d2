// Tests for the float64 NN reference (reference-nn.ts): hand-checked forward
// values, structural identities (conv3d as a sum of conv2d, convTranspose as
// the adjoint of conv), central finite-difference checks of every vjp, and
// argument validation.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RT, rt, randRT, mulberry32, zerosRT, fullRT, ref } from './reference.js';
import { nnRef, nnVjp, batchNormStats, type ConvOptions, type ConvTransposeOptions } from './reference-nn.js';

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

function closeRT(actual: RT, expected: RT, tol = 1e-12): void {
  close(actual, expected.shape, Array.from(expected.data), tol);
}

function arange(shape: number[], start = 0): RT {
  let n = 1;
  for (const d of shape) n *= d;
  const data: number[] = [];
  for (let i = 0; i < n; i++) data.push(start + i);
  return rt(shape, data);
}

function dot(a: RT, b: RT): number {
  assert.equal(a.shape, b.shape, 'dot: shapes differ');
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i] * b.data[i];
  return s;
}

/** Random permutation of [0, n). */
function shuffled(n: number, rng: () => number): number[] {
  const v: number[] = [];
  for (let i = 0; i < n; i++) v.push(i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
  return v;
}

const H = 1e-6;

/**
 * Central finite-difference check of a vjp: for every element of every input,
 * (L(x + h e_i) - L(x - h e_i)) / 2h with L = <gy, f(x)> must match the analytic
 * gradient g_i to |diff| <= 1e-6 (1 + |g_i|). Also checks that neither the
 * forward nor the vjp mutates its inputs.
 */
function fdCheck(label: string, inputs: RT[], f: (xs: RT[]) => RT, g: (gy: RT, xs: RT[]) => RT[], rng: () => number): void {
  const snapshot = inputs.map((x) => Array.from(x.data));
  const y = f(inputs);
  const gy = randRT(y.shape, rng);
  const grads = g(gy, inputs);
  for (let t = 0; t < inputs.length; t++) {
    assert.equal(Array.from(inputs[t].data), snapshot[t], `${label}: input ${t} was mutated`);
  }
  assert.is(grads.length, inputs.length, `${label}: one gradient per input`);
  const work = inputs.map((x) => rt(x.shape, x.data));
  for (let t = 0; t < inputs.length; t++) {
    const gx = grads[t];
    assert.equal(gx.shape, inputs[t].shape, `${label}: gradient ${t} shape`);
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

/** x[:, :, z] of a 5-D tensor as a 4-D tensor. */
function depthSlice(x: RT, z: number): RT {
  const s = ref.slice(x, 2, z, z + 1);
  return ref.reshape(s, [x.shape[0], x.shape[1], x.shape[3], x.shape[4]]);
}

/**
 * Flow whose sample points x + u, y + v are b + f with b an integer in
 * [-2, W] (resp. [-2, H]) and f in [0.15, 0.85]: never within 0.15 of an
 * integer (bilinear kinks) nor of the clamp boundaries 0 and W-1 / H-1.
 */
function kinkFreeFlow(N: number, Hh: number, W: number, rng: () => number): RT {
  const f = zerosRT([N, 2, Hh, W]);
  const HW = Hh * W;
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < Hh; y++) {
      for (let x = 0; x < W; x++) {
        const tx = -2 + Math.floor(rng() * (W + 3)) + 0.15 + 0.7 * rng();
        const ty = -2 + Math.floor(rng() * (Hh + 3)) + 0.15 + 0.7 * rng();
        f.data[(n * 2 + 0) * HW + y * W + x] = tx - x;
        f.data[(n * 2 + 1) * HW + y * W + x] = ty - y;
      }
    }
  }
  return f;
}

/** RGB image whose gray values are spread at least ~1/(H W) apart (census away from flat spots). */
function spreadRGB(N: number, Hh: number, W: number, rng: () => number): RT {
  const HW = Hh * W;
  const x = zerosRT([N, 3, Hh, W]);
  for (let n = 0; n < N; n++) {
    const perm = shuffled(HW, rng);
    for (let p = 0; p < HW; p++) {
      const v = (perm[p] + 0.5) / HW;
      for (let c = 0; c < 3; c++) x.data[(n * 3 + c) * HW + p] = v + 0.004 * (rng() - 0.5);
    }
  }
  return x;
}

// ---------------------------------------------------------------------------
// Forward values
// ---------------------------------------------------------------------------

const forward = suite('reference-nn forward');

forward('conv2d by hand: bias, stride/padding, dilation', () => {
  const x = arange([1, 1, 3, 3], 1); // x[i][j] = 3i + j + 1
  const w = rt([1, 1, 2, 2], [1, 0, 0, -1]); // y = x[i][j] - x[i+1][j+1]
  close(nnRef.conv(x, w, rt([1], [0.5]), {}), [1, 1, 2, 2], [-3.5, -3.5, -3.5, -3.5]);
  // padding 1, stride 2 on 3x3 -> 2x2; taps at rows/cols {-1,0} and {1,2}
  close(nnRef.conv(x, w, null, { stride: [2, 2], padding: [1, 1] }), [1, 1, 2, 2], [-1, -3, -7, -4]);
  // dilation 2, all-ones 2x2 kernel on 4x4 x[i][j] = 4i + j + 1
  const x4 = arange([1, 1, 4, 4], 1);
  close(nnRef.conv(x4, fullRT([1, 1, 2, 2], 1), null, { dilation: [2, 2] }), [1, 1, 2, 2], [24, 28, 40, 44]);
  // two input channels, two output channels: weights pick channel sums / differences
  const x2 = rt([1, 2, 1, 2], [1, 2, 10, 20]);
  const w2 = rt([2, 2, 1, 1], [1, 1, 1, -1]);
  close(nnRef.conv(x2, w2, rt([2], [0, 100])), [1, 2, 1, 2], [11, 22, 91, 82]);
});

forward('conv1d and convTranspose1d by hand', () => {
  const x = rt([1, 1, 5], [1, 2, 3, 4, 5]);
  close(nnRef.conv(x, rt([1, 1, 3], [1, 10, 100]), null, { stride: [2], padding: [1] }), [1, 1, 3], [210, 432, 54]);
  // convTranspose1d: out size (2-1)*2 + 3 = 5; each input scatters its kernel copy
  close(nnRef.convTranspose(rt([1, 1, 2], [1, 2]), rt([1, 1, 3], [1, 10, 100]), null, { stride: [2] }), [1, 1, 5], [1, 10, 102, 20, 200]);
});

forward('convTranspose2d k3 s2 p1 op1 by hand (DTVNet decoder geometry)', () => {
  const x = rt([1, 1, 2, 2], [1, 2, 3, 4]);
  const w = fullRT([1, 1, 3, 3], 1);
  const y = nnRef.convTranspose(x, w, rt([1], [0.25]), { stride: [2, 2], padding: [1, 1], outputPadding: [1, 1] });
  const e = [1, 3, 2, 2, 4, 10, 6, 6, 3, 7, 4, 4, 3, 7, 4, 4].map((v) => v + 0.25);
  close(y, [1, 1, 4, 4], e);
  // 64 -> 128 as in DTVNET.md §3.4, scaled down: 5 -> 10
  const big = nnRef.convTranspose(zerosRT([2, 3, 5, 5]), zerosRT([3, 4, 3, 3]), null, {
    stride: 2,
    padding: 1,
    outputPadding: 1,
  });
  assert.equal(big.shape, [2, 4, 10, 10]);
});

forward('conv3d equals a sum of conv2d over kernel depth', () => {
  const rng = mulberry32(7);
  const x = randRT([2, 2, 5, 6, 7], rng);
  const w = randRT([3, 2, 3, 4, 4], rng);
  const b = randRT([3], rng);
  const sd = 2;
  const pd = 1;
  const dd = 1;
  const opts3: ConvOptions = { stride: [sd, 2, 1], padding: [pd, 1, 2], dilation: [dd, 1, 2] };
  const opts2: ConvOptions = { stride: [2, 1], padding: [1, 2], dilation: [1, 2] };
  const y3 = nnRef.conv(x, w, b, opts3);
  const [N, Co, T, Ho, Wo] = y3.shape;
  assert.equal(y3.shape, [2, 3, 3, 3, 5]);
  for (let t = 0; t < T; t++) {
    let acc: RT | null = null;
    for (let kd = 0; kd < w.shape[2]; kd++) {
      const z = t * sd - pd + kd * dd;
      if (z < 0 || z >= x.shape[2]) continue;
      const part = nnRef.conv(depthSlice(x, z), depthSlice(w, kd), null, opts2);
      acc = acc === null ? part : ref.add(acc, part);
    }
    assert.ok(acc !== null);
    const withBias = ref.add(acc, ref.reshape(b, [1, Co, 1, 1]));
    const slice = depthSlice(y3, t);
    assert.equal(slice.shape, [N, Co, Ho, Wo]);
    closeRT(slice, withBias);
  }
});

forward('convTranspose is the adjoint of conv (1-D, 2-D, 3-D, any stride/padding/dilation)', () => {
  const rng = mulberry32(11);
  const cases: Array<{ X: number[]; K: number[]; s: number[]; p: number[]; d: number[] }> = [
    { X: [9], K: [3], s: [2], p: [1], d: [2] },
    { X: [7, 5], K: [3, 2], s: [2, 3], p: [1, 2], d: [2, 1] },
    { X: [8, 8], K: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
    { X: [4, 5, 6], K: [2, 3, 3], s: [1, 2, 2], p: [0, 1, 1], d: [1, 1, 2] },
    { X: [6, 7, 7], K: [3, 4, 4], s: [1, 2, 2], p: [1, 1, 1], d: [1, 1, 1] },
  ];
  for (const c of cases) {
    const x = randRT([2, 3, ...c.X], rng);
    const w = randRT([4, 3, ...c.K], rng);
    const opts: ConvOptions = { stride: c.s, padding: c.p, dilation: c.d };
    const y = nnRef.conv(x, w, null, opts);
    const yr = randRT(y.shape, rng);
    const op = c.X.map((X, a) => (X + 2 * c.p[a] - c.d[a] * (c.K[a] - 1) - 1) % c.s[a]);
    const xt = nnRef.convTranspose(yr, w, null, { ...opts, outputPadding: op });
    assert.equal(xt.shape, x.shape, `convTranspose must reproduce x's shape for ${JSON.stringify(c)}`);
    const lhs = dot(y, yr);
    const rhs = dot(x, xt);
    assert.ok(Math.abs(lhs - rhs) <= 1e-12 * (1 + Math.abs(lhs)), `<conv x, y> ${lhs} != <x, convT y> ${rhs}`);
    // the data gradient of conv is exactly convTranspose
    closeRT(nnVjp.conv(yr, x, w, null, opts)[0], xt);
  }
});

forward('pad: reflect [1,2,3] by (2,1), zeros, order of pairs', () => {
  close(nnRef.pad(rt([3], [1, 2, 3]), [2, 1], 'reflect'), [6], [3, 2, 1, 2, 3, 2]);
  close(nnRef.pad(rt([3], [1, 2, 3]), [2, 1], 'zeros'), [6], [0, 0, 1, 2, 3, 0]);
  // [1, 2, 3] rows x cols; pads = [top, bottom, left, right] (first padded dim first)
  const x = rt([1, 2, 3], [1, 2, 3, 4, 5, 6]);
  close(nnRef.pad(x, [1, 0, 0, 2], 'zeros'), [1, 3, 5], [0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0]);
  close(nnRef.pad(x, [1, 1, 2, 1], 'reflect'), [1, 4, 6], [
    6, 5, 4, 5, 6, 5,
    3, 2, 1, 2, 3, 2,
    6, 5, 4, 5, 6, 5,
    3, 2, 1, 2, 3, 2,
  ]);
  // pads only the last dim when given one pair; zero pairs are the identity
  close(nnRef.pad(x, [0, 1], 'reflect'), [1, 2, 4], [1, 2, 3, 2, 4, 5, 6, 5]);
  closeRT(nnRef.pad(x, [0, 0, 0, 0], 'reflect'), x);
});

forward('instanceNorm: per (n, c) mean 0 and variance var/(var+eps); affine', () => {
  close(
    nnRef.instanceNorm(rt([1, 1, 1, 4], [1, 2, 3, 4])),
    [1, 1, 1, 4],
    [-1.5, -0.5, 0.5, 1.5].map((v) => v / Math.sqrt(1.25 + 1e-5)),
  );
  const rng = mulberry32(3);
  for (const shape of [[2, 3, 4, 5], [2, 2, 3, 4, 2]]) {
    const x = randRT(shape, rng, -2, 3);
    const y = nnRef.instanceNorm(x);
    const M = shape.slice(2).reduce((a, b) => a * b, 1);
    for (let g = 0; g < shape[0] * shape[1]; g++) {
      let m = 0;
      let v = 0;
      let mx = 0;
      for (let i = 0; i < M; i++) {
        m += y.data[g * M + i];
        mx += x.data[g * M + i];
      }
      m /= M;
      mx /= M;
      let vx = 0;
      for (let i = 0; i < M; i++) {
        v += (y.data[g * M + i] - m) ** 2;
        vx += (x.data[g * M + i] - mx) ** 2;
      }
      v /= M;
      vx /= M;
      assert.ok(Math.abs(m) < 1e-12, `group ${g}: mean ${m}`);
      assert.ok(Math.abs(v - vx / (vx + 1e-5)) < 1e-12, `group ${g}: var ${v}`);
      assert.ok(Math.abs(v - 1) < 1e-3);
    }
  }
  // eps 0: channel 0 [1, 3] -> z = [-1, 1]; channel 1 [5, 9] -> z = [-1, 1]
  const x = rt([1, 2, 1, 2], [1, 3, 5, 9]);
  const y = nnRef.instanceNorm(x, 0, rt([2], [2, 3]), rt([2], [10, 20]));
  close(y, [1, 2, 1, 2], [8, 12, 17, 23]);
});

forward('batchNorm train / eval / stats by hand', () => {
  // channel 0 values 1,2,5,6 (mean 3.5, var 4.25); channel 1 values 3,4,7,8 (mean 5.5, var 4.25)
  const x = rt([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const r = 1 / Math.sqrt(4.25 + 1e-5);
  close(
    nnRef.batchNormTrain(x, rt([2], [1, 2]), rt([2], [0, -1])),
    [2, 2, 2],
    [-2.5 * r, -1.5 * r, 2 * -2.5 * r - 1, 2 * -1.5 * r - 1, 1.5 * r, 2.5 * r, 2 * 1.5 * r - 1, 2 * 2.5 * r - 1],
  );
  closeRT(nnRef.batchNormTrain(x, null, null), nnRef.batchNormTrain(x, rt([2], [1, 1]), rt([2], [0, 0])));
  const st = batchNormStats(x);
  close(st.mean, [2], [3.5, 5.5]);
  close(st.variance, [2], [4.25, 4.25]);
  close(st.unbiasedVariance, [2], [17 / 3, 17 / 3]);
  const e = nnRef.batchNormEval(x, rt([2], [1, 0]), rt([2], [4, 0.25]), rt([2], [3, 1]), null, 0);
  close(e, [2, 2, 2], [0, 1.5, 6, 8, 6, 7.5, 14, 16]);
  // eval with the batch statistics equals train
  closeRT(nnRef.batchNormEval(x, st.mean, st.variance, null, null), nnRef.batchNormTrain(x, null, null));
});

forward('adain = gamma[n,c] * IN(x) + beta[n,c] (not 1 + gamma)', () => {
  const rng = mulberry32(5);
  const x = randRT([2, 3, 4, 4], rng);
  const gamma = randRT([2, 3], rng);
  const beta = randRT([2, 3], rng);
  const y = nnRef.adain(x, gamma, beta);
  const z = nnRef.instanceNorm(x);
  const e = ref.add(ref.mul(z, ref.reshape(gamma, [2, 3, 1, 1])), ref.reshape(beta, [2, 3, 1, 1]));
  closeRT(y, e);
  closeRT(nnRef.adain(x, fullRT([2, 3], 1), zerosRT([2, 3])), z);
  // gamma = 0 gives beta everywhere
  closeRT(nnRef.adain(x, zerosRT([2, 3]), beta), ref.expand(ref.reshape(beta, [2, 3, 1, 1]), [2, 3, 4, 4]));
});

forward('warp: FLOW.md §4 examples (W = 8, S[x] = x)', () => {
  const S = arange([1, 1, 1, 8]);
  const flowU = (u: number): RT => {
    const f = zerosRT([1, 2, 1, 8]);
    for (let x = 0; x < 8; x++) f.data[x] = u;
    return f;
  };
  close(nnRef.warp(S, flowU(0), 'border'), [1, 1, 1, 8], [0, 1, 2, 3, 4, 5, 6, 7]);
  close(nnRef.warp(S, flowU(0), 'zeros'), [1, 1, 1, 8], [0, 1, 2, 3, 4, 5, 6, 7]);
  close(nnRef.warp(S, flowU(0.5), 'border'), [1, 1, 1, 8], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.0]);
  const S1 = arange([1, 1, 1, 8], 1);
  const z = nnRef.warp(S1, flowU(0.5), 'zeros');
  close(z, [1, 1, 1, 8], [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 4.0]);
  // u = -1.25 with border: clamps at the left
  close(nnRef.warp(S, flowU(-1.25), 'border'), [1, 1, 1, 8], [0, 0, 0.75, 1.75, 2.75, 3.75, 4.75, 5.75]);
  // 2-D: v = +1 on a 2x2 image reads the next row; border repeats the last row, zeros drops it
  const img = rt([1, 1, 2, 2], [1, 2, 3, 4]);
  const fv = rt([1, 2, 2, 2], [0, 0, 0, 0, 1, 1, 1, 1]);
  close(nnRef.warp(img, fv, 'border'), [1, 1, 2, 2], [3, 4, 3, 4]);
  close(nnRef.warp(img, fv, 'zeros'), [1, 1, 2, 2], [3, 4, 0, 0]);
  // diagonal half-pixel shift: average of the four pixels
  const fd = rt([1, 2, 2, 2], [0.5, 0, 0, 0, 0.5, 0, 0, 0]);
  close(nnRef.warp(img, fd, 'zeros'), [1, 1, 2, 2], [2.5, 2, 3, 4]);
});

forward('warp vjp: flow gradient is 0 in a clamped direction (border), taps dropped (zeros)', () => {
  const S = arange([1, 1, 2, 8]); // rows 0..7, 8..15
  const f = zerosRT([1, 2, 2, 8]);
  f.data[0] = -3.4; // pixel (0,0): x clamped to 0
  f.data[16 + 0] = 0.5; // and y inside
  f.data[7] = 0.3; // pixel (0,7): x clamped to 7
  f.data[16 + 7] = 0.25;
  f.data[2] = 0.5; // pixel (0,2): x inside (2.5)
  f.data[16 + 2] = 4; // y clamped to 1
  const g = fullRT([1, 1, 2, 8], 1);
  const [, gf] = nnVjp.warp(g, S, f, 'border');
  assert.is(gf.data[0], 0, 'du at a clamped x must be 0');
  assert.ok(Math.abs(gf.data[16] - 8) < 1e-12, 'dv inside = S[1,0] - S[0,0] = 8');
  assert.is(gf.data[7], 0);
  assert.ok(Math.abs(gf.data[16 + 7] - 8) < 1e-12);
  assert.ok(Math.abs(gf.data[2] - 1) < 1e-12, 'du inside = 1');
  assert.is(gf.data[16 + 2], 0, 'dv at a clamped y must be 0');
  // zeros padding at x = 7.5: tap x1 = 8 is dropped, so d/du = (0 - S[7]) = -7
  const f2 = zerosRT([1, 2, 2, 8]);
  f2.data[7] = 0.5;
  const [gi, gz] = nnVjp.warp(g, S, f2, 'zeros');
  assert.ok(Math.abs(gz.data[7] + 7) < 1e-12);
  // pixel (0,7) is read only by itself, with weight 0.5; every other pixel reads itself with weight 1
  assert.ok(Math.abs(gi.data[7] - 0.5) < 1e-12);
  assert.ok(Math.abs(gi.data[6] - 1) < 1e-12 && Math.abs(gi.data[15] - 1) < 1e-12);
});

forward('resizeBilinear: align_corners true / false (PyTorch semantics)', () => {
  const r = rt([1, 1, 1, 3], [0, 1, 2]);
  close(nnRef.resizeBilinear(r, 1, 5, true), [1, 1, 1, 5], [0, 0.5, 1, 1.5, 2]);
  close(nnRef.resizeBilinear(r, 1, 5, false), [1, 1, 1, 5], [0, 0.4, 1, 1.6, 2]);
  const r4 = rt([1, 1, 1, 4], [0, 1, 2, 3]);
  close(nnRef.resizeBilinear(r4, 1, 2, false), [1, 1, 1, 2], [0.5, 2.5]);
  close(nnRef.resizeBilinear(r4, 1, 2, true), [1, 1, 1, 2], [0, 3]);
  close(nnRef.resizeBilinear(r4, 1, 1, true), [1, 1, 1, 1], [0]);
  close(nnRef.resizeBilinear(r4, 1, 1, false), [1, 1, 1, 1], [1.5]);
  close(nnRef.resizeBilinear(rt([1, 1, 1, 2], [0, 1]), 1, 4, false), [1, 1, 1, 4], [0, 0.25, 0.75, 1]);
  close(nnRef.resizeBilinear(rt([1, 1, 2, 2], [0, 1, 2, 3]), 3, 3, true), [1, 1, 3, 3], [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3]);
  const x = randRT([2, 3, 4, 5], mulberry32(9));
  closeRT(nnRef.resizeBilinear(x, 4, 5, true), x);
  closeRT(nnRef.resizeBilinear(x, 4, 5, false), x);
});

forward('resizeFlow: align-corners resize, then u *= W\'/W, v *= H\'/H', () => {
  const f = zerosRT([1, 2, 4, 4]);
  for (let i = 0; i < 16; i++) {
    f.data[i] = 3;
    f.data[16 + i] = -2;
  }
  close(nnRef.resizeFlow(f, 2, 2), [1, 2, 2, 2], [1.5, 1.5, 1.5, 1.5, -1, -1, -1, -1]);
  // anisotropic: 4x4 -> 8x2: u * 2/4, v * 8/4
  close(nnRef.resizeFlow(f, 8, 2), [1, 2, 8, 2], [...new Array(16).fill(1.5), ...new Array(16).fill(-4)]);
  // ramp u[x] = x on W = 5 -> W' = 3 reads x = 0, 2, 4, times 3/5
  const ramp = zerosRT([1, 2, 1, 5]);
  for (let x = 0; x < 5; x++) ramp.data[x] = x;
  close(nnRef.resizeFlow(ramp, 1, 3), [1, 2, 1, 3], [0, 1.2, 2.4, 0, 0, 0]);
});

forward('avgPool2x and avgPool (3-D kernel)', () => {
  const x = arange([1, 1, 4, 4]);
  close(nnRef.avgPool2x(x), [1, 1, 2, 2], [2.5, 4.5, 10.5, 12.5]);
  // odd size: the last row/column is dropped like PyTorch's floor mode
  close(nnRef.avgPool2x(arange([1, 3, 5])), [1, 1, 2], [3, 5]);
  const v = arange([1, 1, 2, 4, 4]);
  close(nnRef.avgPool(v, [2, 2, 2]), [1, 1, 1, 2, 2], [10.5, 12.5, 18.5, 20.5]);
  close(nnRef.avgPool(v, [2, 4]), [1, 1, 2, 2, 1], [3.5, 11.5, 19.5, 27.5]);
  closeRT(nnRef.avgPool(v, [1]), v);
});

forward('correlation: 81 channels, impulse gives channel 52 for (dy, dx) = (1, 3), 1/C, zero padding', () => {
  const C = 2;
  const f1 = zerosRT([1, C, 9, 10]);
  const f2 = zerosRT([1, C, 9, 10]);
  const HW = 90;
  for (let c = 0; c < C; c++) {
    f1.data[c * HW + 3 * 10 + 4] = 1; // (y, x) = (3, 4)
    f2.data[c * HW + 4 * 10 + 7] = 2; // (4, 7)
  }
  const y = nnRef.correlation(f1, f2);
  assert.equal(y.shape, [1, 81, 9, 10]);
  let nonzero = 0;
  for (let i = 0; i < y.size; i++) {
    if (y.data[i] !== 0) {
      nonzero++;
      assert.is(i, 52 * HW + 3 * 10 + 4);
      assert.ok(Math.abs(y.data[i] - 2) < 1e-15, '(1/C) * sum_c 1 * 2 = 2');
    }
  }
  assert.is(nonzero, 1);
  // zero padding: constant ones correlate to 1 where the displaced pixel exists, else 0
  const ones = fullRT([1, 1, 3, 3], 1);
  const c1 = nnRef.correlation(ones, ones, 1);
  assert.equal(c1.shape, [1, 9, 3, 3]);
  // channel 0 = (dy, dx) = (-1, -1): valid only for y >= 1, x >= 1
  close(nnRef.correlation(ones, ones, 0), [1, 1, 3, 3], new Array(9).fill(1));
  assert.equal(Array.from(c1.data.slice(0, 9)), [0, 0, 0, 0, 1, 1, 0, 1, 1]);
  assert.equal(Array.from(c1.data.slice(8 * 9, 9 * 9)), [1, 1, 0, 1, 1, 0, 0, 0, 0]);
});

forward('losses: l1, mse, charbonnier', () => {
  const a = rt([2, 2], [1, 2, 3, 4]);
  const b = rt([2, 2], [1, 0, 5, 4.5]);
  close(nnRef.l1(a, b), [], [(0 + 2 + 2 + 0.5) / 4]);
  close(nnRef.mse(a, b), [], [(0 + 4 + 4 + 0.25) / 4]);
  close(nnRef.charbonnier(rt([2], [3, 0]), rt([2], [0, 4])), [], [(Math.sqrt(9 + 1e-6) + Math.sqrt(16 + 1e-6)) / 2]);
  close(nnRef.charbonnier(rt([1], [0]), rt([1], [0])), [], [1e-3]);
  close(nnRef.charbonnier(rt([1], [2]), rt([1], [0]), 0.5, 0.25), [], [Math.pow(4.25, 0.25)]);
});

forward('ssimMap: identical inputs -> 0, constants by hand, window means by hand', () => {
  const rng = mulberry32(21);
  const x = randRT([2, 2, 5, 6], rng, 0, 1);
  const d0 = nnRef.ssimMap(x, x);
  assert.equal(d0.shape, [2, 2, 3, 4]);
  for (let i = 0; i < d0.size; i++) assert.ok(Math.abs(d0.data[i]) < 1e-12);
  const C1 = 1e-4;
  const s = (2 * 0.2 * 0.6 + C1) / (0.04 + 0.36 + C1);
  close(nnRef.ssimMap(fullRT([1, 1, 3, 4], 0.2), fullRT([1, 1, 3, 4], 0.6)), [1, 1, 1, 2], [(1 - s) / 2, (1 - s) / 2], 1e-10);
  // 3x3 window by hand: x = 0..8, y = 2x -> mx = 4, my = 8, vx = 20/3, vy = 80/3, cxy = 40/3
  const xa = arange([1, 1, 3, 3]);
  const ya = ref.affine(xa, 2, 0);
  const C2 = 9e-4;
  const S = ((2 * 4 * 8 + C1) * ((2 * 40) / 3 + C2)) / ((16 + 64 + C1) * (20 / 3 + 80 / 3 + C2));
  close(nnRef.ssimMap(xa, ya), [1, 1, 1, 1], [(1 - S) / 2], 1e-10);
});

forward('census by hand: one bright centre pixel, border masked (3x3 and 5x5 patches)', () => {
  // a: 3x3 black image with a centre of gray 1 (after x255); b: black
  const v = 1 / (255 * (0.2989 + 0.587 + 0.114));
  const a = zerosRT([1, 3, 3, 3]);
  for (let c = 0; c < 3; c++) a.data[c * 9 + 4] = v;
  const b = zerosRT([1, 3, 3, 3]);
  const y = nnRef.census(a, b);
  const t2 = 1 / 1.81; // t = -1 / sqrt(0.81 + 1) for the 8 neighbours, 0 for the centre
  const d = ((8 / 9) * t2) / (0.1 + t2);
  close(y, [1, 1, 3, 3], [0, 0, 0, 0, d, 0, 0, 0, 0], 1e-10);
  // symmetric in its arguments, zero for identical inputs
  closeRT(nnRef.census(b, a), y);
  const r = randRT([2, 3, 4, 5], mulberry32(4), 0, 1);
  closeRT(nnRef.census(r, r), zerosRT([2, 1, 4, 5]));
  // a 5x5 patch: on a 5x5 image only the centre is interior; its 24 neighbours each differ by the same step
  const a5 = zerosRT([1, 3, 5, 5]);
  for (let c = 0; c < 3; c++) a5.data[c * 25 + 12] = v;
  const y5 = nnRef.census(a5, zerosRT([1, 3, 5, 5]), 5);
  const want5 = new Array(25).fill(0);
  want5[12] = ((24 / 25) * t2) / (0.1 + t2);
  close(y5, [1, 1, 5, 5], want5, 1e-10);
  assert.equal(Array.from(nnRef.census(a, b, 5).data), new Array(9).fill(0), 'no pixel of a 3x3 image is interior to a 5x5 patch');
  // the same pair as luminance images: a centre of gray 1 is a luminance of 1/255, and the map is the same
  const la = zerosRT([1, 1, 3, 3]);
  la.data[4] = 1 / 255;
  close(nnRef.census(la, zerosRT([1, 1, 3, 3])), [1, 1, 3, 3], [0, 0, 0, 0, d, 0, 0, 0, 0], 1e-10);
});

forward('luminance by hand: 0.2989 R + 0.5870 G + 0.1140 B per pixel; census of the luminance pair = census of the RGB pair', () => {
  const x = zerosRT([1, 3, 1, 2]);
  x.data.set([1, 0.5, 0, 0.25, 0, 1]); // R = (1, 0.5), G = (0, 0.25), B = (0, 1)
  close(nnRef.luminance(x), [1, 1, 1, 2], [0.2989, 0.2989 * 0.5 + 0.587 * 0.25 + 0.114], 1e-12);
  const rng = mulberry32(5);
  const a = randRT([2, 3, 6, 7], rng, 0, 1);
  const b = randRT([2, 3, 6, 7], rng, 0, 1);
  for (const patch of [3, 5]) closeRT(nnRef.census(nnRef.luminance(a), nnRef.luminance(b), patch), nnRef.census(a, b, patch), 1e-12);
});

forward.run();

// ---------------------------------------------------------------------------
// Finite-difference checks of every vjp
// ---------------------------------------------------------------------------

const fd = suite('reference-nn vjp vs finite differences');

const conv2dCases: Array<{ x: number[]; w: number[]; bias: boolean; opts: ConvOptions }> = [
  { x: [3, 3, 7, 5], w: [5, 3, 3, 3], bias: true, opts: { stride: [2, 2], padding: [1, 1] } },
  { x: [1, 3, 7, 5], w: [5, 3, 3, 2], bias: false, opts: { stride: [2, 1], padding: [2, 2], dilation: [2, 2] } },
  { x: [3, 3, 7, 5], w: [5, 3, 2, 3], bias: true, opts: { stride: [1, 2], padding: [1, 2], dilation: [2, 1] } },
  { x: [1, 3, 7, 5], w: [5, 3, 4, 4], bias: true, opts: { stride: 2, padding: 1 } },
];

for (const [k, c] of conv2dCases.entries()) {
  fd(`conv2d case ${k}: x ${JSON.stringify(c.x)} w ${JSON.stringify(c.w)} ${JSON.stringify(c.opts)}`, () => {
    const rng = mulberry32(100 + k);
    const inputs = [randRT(c.x, rng), randRT(c.w, rng)];
    if (c.bias) inputs.push(randRT([c.w[0]], rng));
    fdCheck(
      `conv2d ${k}`,
      inputs,
      (xs) => nnRef.conv(xs[0], xs[1], c.bias ? xs[2] : null, c.opts),
      (gy, xs) => nnVjp.conv(gy, xs[0], xs[1], c.bias ? xs[2] : null, c.opts),
      rng,
    );
  });
}

fd('conv3d [1,2,5,6,7] k (3,4,4) stride (1,2,2) padding 1, and padding 0', () => {
  const rng = mulberry32(200);
  for (const padding of [[1, 1, 1], [0, 0, 0]]) {
    const opts: ConvOptions = { stride: [1, 2, 2], padding };
    fdCheck(
      `conv3d padding ${JSON.stringify(padding)}`,
      [randRT([1, 2, 5, 6, 7], rng), randRT([3, 2, 3, 4, 4], rng), randRT([3], rng)],
      (xs) => nnRef.conv(xs[0], xs[1], xs[2], opts),
      (gy, xs) => nnVjp.conv(gy, xs[0], xs[1], xs[2], opts),
      rng,
    );
  }
});

fd('conv1d stride 2 dilation 2', () => {
  const rng = mulberry32(201);
  const opts: ConvOptions = { stride: [2], padding: [1], dilation: [2] };
  fdCheck(
    'conv1d',
    [randRT([2, 2, 9], rng), randRT([3, 2, 3], rng)],
    (xs) => nnRef.conv(xs[0], xs[1], null, opts),
    (gy, xs) => nnVjp.conv(gy, xs[0], xs[1], null, opts),
    rng,
  );
});

fd('convTranspose2d stride 2 padding 1 outputPadding 1 (with bias; and dilation 2 without)', () => {
  const rng = mulberry32(300);
  const o1: ConvTransposeOptions = { stride: [2, 2], padding: [1, 1], outputPadding: [1, 1] };
  fdCheck(
    'convTranspose2d',
    [randRT([2, 3, 4, 3], rng), randRT([3, 5, 3, 3], rng), randRT([5], rng)],
    (xs) => nnRef.convTranspose(xs[0], xs[1], xs[2], o1),
    (gy, xs) => nnVjp.convTranspose(gy, xs[0], xs[1], xs[2], o1),
    rng,
  );
  const o2: ConvTransposeOptions = { stride: [2, 1], padding: [1, 2], outputPadding: [1, 1], dilation: [2, 2] };
  fdCheck(
    'convTranspose2d dilated',
    [randRT([1, 3, 4, 5], rng), randRT([3, 2, 3, 2], rng)],
    (xs) => nnRef.convTranspose(xs[0], xs[1], null, o2),
    (gy, xs) => nnVjp.convTranspose(gy, xs[0], xs[1], null, o2),
    rng,
  );
});

fd('convTranspose3d stride 2 padding 1 outputPadding 1', () => {
  const rng = mulberry32(301);
  const opts: ConvTransposeOptions = { stride: 2, padding: 1, outputPadding: 1 };
  fdCheck(
    'convTranspose3d',
    [randRT([1, 2, 3, 3, 4], rng), randRT([2, 3, 3, 3, 4], rng), randRT([3], rng)],
    (xs) => nnRef.convTranspose(xs[0], xs[1], xs[2], opts),
    (gy, xs) => nnVjp.convTranspose(gy, xs[0], xs[1], xs[2], opts),
    rng,
  );
});

fd('pad zeros / reflect (2-D and 3-D)', () => {
  const rng = mulberry32(400);
  const cases: Array<{ shape: number[]; pads: number[] }> = [
    { shape: [2, 3, 4, 5], pads: [1, 2, 2, 1] },
    { shape: [1, 2, 3, 4, 5], pads: [2, 1, 0, 3, 1, 1] },
    { shape: [2, 3, 4], pads: [3, 2] },
  ];
  for (const c of cases) {
    for (const mode of ['zeros', 'reflect'] as const) {
      fdCheck(
        `pad ${mode} ${JSON.stringify(c)}`,
        [randRT(c.shape, rng)],
        (xs) => nnRef.pad(xs[0], c.pads, mode),
        (gy, xs) => nnVjp.pad(gy, xs[0], c.pads, mode),
        rng,
      );
    }
  }
});

fd('instanceNorm 2-D / 3-D, with and without affine', () => {
  const rng = mulberry32(500);
  fdCheck(
    'instanceNorm plain',
    [randRT([2, 3, 4, 5], rng)],
    (xs) => nnRef.instanceNorm(xs[0]),
    (gy, xs) => nnVjp.instanceNorm(gy, xs[0]),
    rng,
  );
  fdCheck(
    'instanceNorm affine 3-D',
    [randRT([2, 2, 3, 3, 4], rng), randRT([2], rng), randRT([2], rng)],
    (xs) => nnRef.instanceNorm(xs[0], 1e-3, xs[1], xs[2]),
    (gy, xs) => nnVjp.instanceNorm(gy, xs[0], 1e-3, xs[1], xs[2]),
    rng,
  );
  fdCheck(
    'instanceNorm weight only',
    [randRT([1, 3, 2, 5], rng), randRT([3], rng)],
    (xs) => nnRef.instanceNorm(xs[0], 1e-5, xs[1], null),
    (gy, xs) => nnVjp.instanceNorm(gy, xs[0], 1e-5, xs[1], null),
    rng,
  );
});

fd('batchNormTrain and batchNormEval (w.r.t. x, weight, bias)', () => {
  const rng = mulberry32(600);
  fdCheck(
    'batchNormTrain affine',
    [randRT([3, 2, 3, 4], rng), randRT([2], rng), randRT([2], rng)],
    (xs) => nnRef.batchNormTrain(xs[0], xs[1], xs[2]),
    (gy, xs) => nnVjp.batchNormTrain(gy, xs[0], xs[1], xs[2]),
    rng,
  );
  fdCheck(
    'batchNormTrain 3-D plain',
    [randRT([2, 3, 2, 2, 3], rng)],
    (xs) => nnRef.batchNormTrain(xs[0], null, null, 1e-3),
    (gy, xs) => nnVjp.batchNormTrain(gy, xs[0], null, null, 1e-3),
    rng,
  );
  fdCheck(
    'batchNormTrain [N, C]',
    [randRT([5, 3], rng), randRT([3], rng), randRT([3], rng)],
    (xs) => nnRef.batchNormTrain(xs[0], xs[1], xs[2]),
    (gy, xs) => nnVjp.batchNormTrain(gy, xs[0], xs[1], xs[2]),
    rng,
  );
  const rm = randRT([3], rng);
  const rv = randRT([3], rng, 0.2, 2);
  fdCheck(
    'batchNormEval',
    [randRT([2, 3, 4, 3], rng), randRT([3], rng), randRT([3], rng)],
    (xs) => nnRef.batchNormEval(xs[0], rm, rv, xs[1], xs[2]),
    (gy, xs) => nnVjp.batchNormEval(gy, xs[0], rm, rv, xs[1], xs[2]),
    rng,
  );
});

fd('adain (x, gamma, beta)', () => {
  const rng = mulberry32(700);
  fdCheck(
    'adain',
    [randRT([2, 3, 4, 5], rng), randRT([2, 3], rng, 0.5, 1.5), randRT([2, 3], rng)],
    (xs) => nnRef.adain(xs[0], xs[1], xs[2]),
    (gy, xs) => nnVjp.adain(gy, xs[0], xs[1], xs[2]),
    rng,
  );
});

fd('warp border / zeros with kink-free random flows', () => {
  const rng = mulberry32(800);
  for (const padding of ['border', 'zeros'] as const) {
    for (const [N, C, Hh, W] of [[2, 3, 5, 6], [1, 2, 4, 7]]) {
      const flow = kinkFreeFlow(N, Hh, W, rng);
      fdCheck(
        `warp ${padding} [${N},${C},${Hh},${W}]`,
        [randRT([N, C, Hh, W], rng), flow],
        (xs) => nnRef.warp(xs[0], xs[1], padding),
        (gy, xs) => nnVjp.warp(gy, xs[0], xs[1], padding),
        rng,
      );
    }
  }
});

fd('resizeBilinear (up/down, both align modes) and resizeFlow', () => {
  const rng = mulberry32(900);
  for (const align of [true, false]) {
    for (const [oh, ow] of [[7, 9], [2, 3], [1, 4]]) {
      fdCheck(
        `resizeBilinear ${align} ${oh}x${ow}`,
        [randRT([2, 2, 4, 5], rng)],
        (xs) => nnRef.resizeBilinear(xs[0], oh, ow, align),
        (gy, xs) => nnVjp.resizeBilinear(gy, xs[0], oh, ow, align),
        rng,
      );
    }
  }
  for (const [oh, ow] of [[8, 10], [2, 3]]) {
    fdCheck(
      `resizeFlow ${oh}x${ow}`,
      [randRT([2, 2, 4, 5], rng)],
      (xs) => nnRef.resizeFlow(xs[0], oh, ow),
      (gy, xs) => nnVjp.resizeFlow(gy, xs[0], oh, ow),
      rng,
    );
  }
});

fd('avgPool2x and avgPool 3-D', () => {
  const rng = mulberry32(1000);
  fdCheck('avgPool2x', [randRT([2, 3, 4, 5], rng)], (xs) => nnRef.avgPool2x(xs[0]), (gy, xs) => nnVjp.avgPool2x(gy, xs[0]), rng);
  fdCheck(
    'avgPool [2,2,2]',
    [randRT([1, 2, 4, 5, 4], rng)],
    (xs) => nnRef.avgPool(xs[0], [2, 2, 2]),
    (gy, xs) => nnVjp.avgPool(gy, xs[0], [2, 2, 2]),
    rng,
  );
});

fd('correlation maxDisp 2 on [1,3,5,6], maxDisp 1 on [2,2,4,4]', () => {
  const rng = mulberry32(1100);
  for (const [shape, md] of [[[1, 3, 5, 6], 2], [[2, 2, 4, 4], 1]] as Array<[number[], number]>) {
    fdCheck(
      `correlation ${md}`,
      [randRT(shape, rng), randRT(shape, rng)],
      (xs) => nnRef.correlation(xs[0], xs[1], md),
      (gy, xs) => nnVjp.correlation(gy, xs[0], xs[1], md),
      rng,
    );
  }
});

fd('losses l1 (away from a = b), mse, charbonnier', () => {
  const rng = mulberry32(1200);
  const a = randRT([2, 3, 4], rng);
  const b = randRT([2, 3, 4], rng);
  for (let i = 0; i < a.size; i++) {
    if (Math.abs(a.data[i] - b.data[i]) < 1e-2) a.data[i] += 0.05;
  }
  fdCheck('l1', [a, b], (xs) => nnRef.l1(xs[0], xs[1]), (gy, xs) => nnVjp.l1(gy, xs[0], xs[1]), rng);
  fdCheck('mse', [a, b], (xs) => nnRef.mse(xs[0], xs[1]), (gy, xs) => nnVjp.mse(gy, xs[0], xs[1]), rng);
  fdCheck(
    'charbonnier default',
    [a, b],
    (xs) => nnRef.charbonnier(xs[0], xs[1]),
    (gy, xs) => nnVjp.charbonnier(gy, xs[0], xs[1]),
    rng,
  );
  fdCheck(
    'charbonnier eps 0.1 alpha 0.45',
    [a, b],
    (xs) => nnRef.charbonnier(xs[0], xs[1], 0.1, 0.45),
    (gy, xs) => nnVjp.charbonnier(gy, xs[0], xs[1], 0.1, 0.45),
    rng,
  );
});

fd('ssimMap with the clamp inactive', () => {
  const rng = mulberry32(1300);
  const x = randRT([2, 2, 5, 6], rng, 0, 1);
  const y = ref.add(x, randRT([2, 2, 5, 6], rng, -0.3, 0.3));
  const d = nnRef.ssimMap(x, y);
  for (let i = 0; i < d.size; i++) assert.ok(d.data[i] > 1e-3 && d.data[i] < 1 - 1e-3, 'clamp must be inactive');
  fdCheck('ssimMap', [x, y], (xs) => nnRef.ssimMap(xs[0], xs[1]), (gy, xs) => nnVjp.ssimMap(gy, xs[0], xs[1]), rng);
  // anti-correlated inputs: the map still lies in [0, 1]
  const yn = ref.neg(x);
  const dn = nnRef.ssimMap(x, yn);
  for (let i = 0; i < dn.size; i++) assert.ok(dn.data[i] >= 0 && dn.data[i] <= 1);
});

fd('census on images with spread gray values (3x3 and 5x5 patches)', () => {
  const rng = mulberry32(1400);
  const a = spreadRGB(2, 5, 6, rng);
  const b = spreadRGB(2, 5, 6, rng);
  fdCheck('census', [a, b], (xs) => nnRef.census(xs[0], xs[1]), (gy, xs) => nnVjp.census(gy, xs[0], xs[1]), rng);
  // a 5x5 patch on a 7x8 image (interior 3x4)
  const a7 = spreadRGB(1, 7, 8, rng);
  const b7 = spreadRGB(1, 7, 8, rng);
  fdCheck('census 5x5', [a7, b7], (xs) => nnRef.census(xs[0], xs[1], 5), (gy, xs) => nnVjp.census(gy, xs[0], xs[1], 5), rng);
  // luminance pairs (gray = 255 L): the luminance of spread RGB images keeps their spread
  const la = nnRef.luminance(spreadRGB(2, 6, 7, rng));
  const lb = nnRef.luminance(spreadRGB(2, 6, 7, rng));
  fdCheck('census luminance', [la, lb], (xs) => nnRef.census(xs[0], xs[1]), (gy, xs) => nnVjp.census(gy, xs[0], xs[1]), rng);
  fdCheck('census 5x5 luminance', [la, lb], (xs) => nnRef.census(xs[0], xs[1], 5), (gy, xs) => nnVjp.census(gy, xs[0], xs[1], 5), rng);
});

fd('edge-weighted total variation (the refinement\'s smoothness term)', () => {
  const rng = mulberry32(1402);
  fdCheck('tv', [randRT([2, 3, 4, 5], rng, -1, 1), randRT([2, 1, 4, 4], rng), randRT([2, 1, 3, 5], rng)],
    (xs) => nnRef.tv(xs[0], xs[1], xs[2]), (gy, xs) => nnVjp.tv(gy, xs[0], xs[1], xs[2]), rng);
});

fd('luminance', () => {
  const rng = mulberry32(1401);
  fdCheck('luminance', [randRT([2, 3, 3, 4], rng)], (xs) => nnRef.luminance(xs[0]), (gy, xs) => nnVjp.luminance(gy, xs[0]), rng);
});

fd.run();

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const errors = suite('reference-nn errors');

errors('conv / convTranspose geometry', () => {
  const x = zerosRT([1, 3, 5, 5]);
  const w = zerosRT([2, 3, 3, 3]);
  assert.throws(() => nnRef.conv(x, zerosRT([2, 4, 3, 3]), null), /conv: channel mismatch.*\[1,3,5,5\].*\[2,4,3,3\]/);
  assert.throws(() => nnRef.conv(x, w, null, { padding: [-1, 0] }), /conv: padding.*\[1,3,5,5\]/);
  assert.throws(() => nnRef.conv(x, zerosRT([2, 3, 6, 3]), null), /conv: kernel extent 6 larger than padded input 5.*\[2,3,6,3\]/);
  assert.throws(() => nnRef.conv(x, w, null, { dilation: [3, 1] }), /conv: kernel extent 7 larger than padded input 5/);
  assert.throws(() => nnRef.conv(x, w, null, { stride: [0, 1] }), /conv: stride/);
  assert.throws(() => nnRef.conv(x, w, null, { stride: [1, 1, 1] }), /conv: stride.*one entry per spatial dim/);
  assert.throws(() => nnRef.conv(x, w, zerosRT([3]), {}), /conv: b must be \[2\].*b \[3\]/);
  assert.throws(() => nnRef.conv(zerosRT([1, 3]), zerosRT([2, 3]), null), /conv: x must be/);
  assert.throws(() => nnRef.conv(x, zerosRT([2, 3, 3, 3, 1]), null), /conv: w must have the rank of x.*\[2,3,3,3,1\]/);
  const y = zerosRT([1, 3, 4, 4]);
  assert.throws(() => nnRef.convTranspose(y, zerosRT([2, 5, 3, 3]), null), /convTranspose: channel mismatch.*\[1,3,4,4\].*\[2,5,3,3\]/);
  assert.throws(
    () => nnRef.convTranspose(y, zerosRT([3, 5, 3, 3]), null, { stride: 2, outputPadding: 2 }),
    /convTranspose: outputPadding \[2,2\] must be smaller than stride \[2,2\]/,
  );
  assert.throws(
    () => nnRef.convTranspose(zerosRT([1, 3, 1, 1]), zerosRT([3, 5, 1, 1]), null, { padding: 1 }),
    /convTranspose: output size -1/,
  );
  assert.throws(() => nnRef.convTranspose(y, zerosRT([3, 5, 3, 3]), null, { padding: -1 }), /convTranspose: padding/);
  assert.throws(() => nnVjp.conv(zerosRT([1, 2, 2, 2]), x, w, null), /nnVjp\.conv: gy shape \[1,2,2,2\].*\[1,2,3,3\]/);
});

errors('pad', () => {
  const x = zerosRT([1, 2, 3, 4]);
  assert.throws(() => nnRef.pad(x, [1, 2, 3], 'zeros'), /pad: pads \[1,2,3\].*\[1,2,3,4\]/);
  assert.throws(() => nnRef.pad(x, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), /pad: pads/);
  assert.throws(() => nnRef.pad(x, [1, -1]), /pad: pads \[1,-1\] must be non-negative.*\[1,2,3,4\]/);
  assert.throws(() => nnRef.pad(x, [3, 0, 0, 0], 'reflect'), /pad: reflect padding \(3, 0\).*size 3.*\[1,2,3,4\]/);
  assert.throws(() => nnRef.pad(x, [0, 4], 'reflect'), /pad: reflect padding \(0, 4\).*size 4/);
  assert.throws(() => nnRef.pad(x, [1, 1], 'circular' as 'zeros'), /pad: mode/);
});

errors('normalisation and adain', () => {
  assert.throws(() => nnRef.instanceNorm(zerosRT([2, 3])), /instanceNorm: x must be.*\[2,3\]/);
  assert.throws(() => nnRef.instanceNorm(zerosRT([2, 3, 4]), 1e-5, zerosRT([2])), /instanceNorm: weight must be \[3\].*weight \[2\]/);
  assert.throws(() => nnRef.instanceNorm(zerosRT([2, 3, 4]), -1), /instanceNorm: eps/);
  assert.throws(() => nnRef.batchNormTrain(zerosRT([1, 3, 1, 1]), null, null), /batchNormTrain: expected more than 1 value per channel.*\[1,3,1,1\]/);
  assert.throws(() => nnRef.batchNormTrain(zerosRT([2, 3, 4]), null, zerosRT([4])), /batchNormTrain: bias must be \[3\]/);
  assert.throws(
    () => nnRef.batchNormEval(zerosRT([2, 3, 4]), zerosRT([3]), zerosRT([2]), null, null),
    /batchNormEval: runningVar must be \[3\].*runningVar \[2\]/,
  );
  assert.throws(
    () => nnRef.batchNormEval(zerosRT([2, 3, 4]), zerosRT([3]), fullRT([3], -1), null, null),
    /batchNormEval: runningVar \+ eps must be > 0/,
  );
  assert.throws(
    () => nnRef.adain(zerosRT([2, 3, 4, 4]), zerosRT([3]), zerosRT([2, 3])),
    /adain: gamma and beta must be \[2,3\].*gamma \[3\]/,
  );
  assert.throws(() => nnVjp.adain(zerosRT([2, 3, 4]), zerosRT([2, 3, 4, 4]), zerosRT([2, 3]), zerosRT([2, 3])), /nnVjp\.adain: gy/);
});

errors('warp, resize, pooling, correlation', () => {
  const img = zerosRT([1, 3, 4, 5]);
  assert.throws(() => nnRef.warp(img, zerosRT([1, 3, 4, 5])), /warp: flow must be \[N, 2, H, W\].*flow \[1,3,4,5\]/);
  assert.throws(() => nnRef.warp(img, zerosRT([1, 2, 4, 6])), /warp: flow batch\/spatial dims must match.*img \[1,3,4,5\], flow \[1,2,4,6\]/);
  assert.throws(() => nnRef.warp(img, zerosRT([2, 2, 4, 5])), /warp: flow batch/);
  assert.throws(() => nnRef.warp(img, zerosRT([1, 2, 4, 5]), 'reflect' as 'border'), /warp: padding/);
  assert.throws(() => nnRef.warp(zerosRT([3, 4, 5]), zerosRT([1, 2, 4, 5])), /warp: img must be \[N, C, H, W\]/);
  const nanFlow = zerosRT([1, 2, 4, 5]);
  nanFlow.data[3] = NaN;
  assert.throws(() => nnRef.warp(img, nanFlow), /warp: flow contains a non-finite/);
  assert.throws(() => nnRef.resizeBilinear(img, 0, 3, true), /resizeBilinear: outH.*\[1,3,4,5\]/);
  assert.throws(() => nnRef.resizeBilinear(zerosRT([3, 4, 5]), 2, 3, true), /resizeBilinear: x must be \[N, C, H, W\].*\[3,4,5\]/);
  assert.throws(() => nnRef.resizeFlow(img, 2, 3), /resizeFlow: flow must be \[N, 2, H, W\].*\[1,3,4,5\]/);
  assert.throws(() => nnRef.avgPool2x(zerosRT([1, 1, 1, 4])), /avgPool2x: kernel 2 larger than input dim 2 of size 1.*\[1,1,1,4\]/);
  assert.throws(() => nnRef.avgPool(img, [2, 0]), /avgPool: kernel entry/);
  assert.throws(() => nnRef.avgPool(zerosRT([4, 4]), [2, 2, 2]), /avgPool: kernel.*\[4,4\]/);
  assert.throws(() => nnRef.correlation(img, zerosRT([1, 3, 4, 6])), /correlation: f1 and f2.*\[1,3,4,5\].*\[1,3,4,6\]/);
  assert.throws(() => nnRef.correlation(img, img, -1), /correlation: maxDisp/);
  assert.throws(() => nnVjp.correlation(zerosRT([1, 81, 4, 5]), img, img, 2), /nnVjp\.correlation: gy shape \[1,81,4,5\].*\[1,25,4,5\]/);
});

errors('losses, ssimMap, census', () => {
  assert.throws(() => nnRef.l1(zerosRT([2, 3]), zerosRT([3, 2])), /l1: a \[2,3\] and b \[3,2\]/);
  assert.throws(() => nnRef.mse(zerosRT([2]), zerosRT([2, 1])), /mse: a \[2\] and b \[2,1\]/);
  assert.throws(() => nnRef.charbonnier(zerosRT([2]), zerosRT([3])), /charbonnier: a \[2\] and b \[3\]/);
  assert.throws(() => nnRef.charbonnier(zerosRT([2]), zerosRT([2]), NaN), /charbonnier: eps/);
  assert.throws(() => nnRef.l1(zerosRT([0]), zerosRT([0])), /l1: inputs must not be empty/);
  assert.throws(() => nnVjp.mse(zerosRT([1]), zerosRT([2]), zerosRT([2])), /nnVjp\.mse: gy shape \[1\].*\[\]/);
  assert.throws(() => nnRef.ssimMap(zerosRT([1, 1, 2, 5]), zerosRT([1, 1, 2, 5])), /ssimMap: H and W must be >= 3.*\[1,1,2,5\]/);
  assert.throws(() => nnRef.ssimMap(zerosRT([1, 1, 4, 5]), zerosRT([1, 2, 4, 5])), /ssimMap: x and y.*\[1,1,4,5\].*\[1,2,4,5\]/);
  assert.throws(() => nnRef.census(zerosRT([1, 2, 4, 5]), zerosRT([1, 2, 4, 5])), /census: a and b must be RGB \[N, 3, H, W\] or luminance \[N, 1, H, W\].*\[1,2,4,5\]/);
  assert.throws(() => nnRef.luminance(zerosRT([1, 1, 4, 5])), /luminance: x must be RGB.*\[1,1,4,5\]/);
  assert.throws(() => nnRef.census(zerosRT([1, 3, 4, 5]), zerosRT([1, 3, 5, 4])), /census: .*\[1,3,4,5\].*\[1,3,5,4\]/);
});

errors.run();
