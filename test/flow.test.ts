// The optical-flow ops (src/ops/flow.ts) against the float64 reference (test/reference-nn.ts) and FLOW.md's own
// numeric examples: bilinear warping (border and zeros padding, flows that sample far outside the image, every pixel
// sampling one point, smooth flows; the fused and the separate gradient kernels), bilinear resizing (both align
// modes, up and down, per axis), resizeFlow, the PWC-Net correlation (displacement ranges larger than one 9-wide
// tile and larger than the image, maps from 1x1 up, batches whose pixels share a tile, with and without subgroup
// shuffles), second-order gradients where they are supported, the clear error where they are not, argument errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  scope, grad, sum, mul, tensor, memory, type Tensor,
  warp, warpAdjoint, resizeBilinear, resizeBilinearAdjoint, resizeFlow, correlation,
} from '../src/node.js';
import { warpFlowGrad, correlationInternals } from '../src/ops/flow.js';
import { RT, rt, randRT, mulberry32 } from './reference.js';
import { nnRef, nnVjp } from './reference-nn.js';
import { setup, gpu, close, throwsMatching, type Tol } from './helpers.js';

// Sums over channels / taps of f32 products: the reductions tolerance.
const GRAD_TOL: Tol = { atol: 1e-4, rtol: 1e-3 };
const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * Run f on GPU copies of xs, compare with the reference forward, backpropagate a random gy and compare each input's
 * gradient with the reference vjp.
 */
async function check(what: string, xs: RT[], f: (ts: Tensor[]) => Tensor, fr: RT, fv: (gy: RT) => RT[], rng: () => number, tol: Tol = GRAD_TOL): Promise<void> {
  await scope(async () => {
    const ts = xs.map((x) => gpu(x, true));
    const y = f(ts);
    await close(y, fr, `${what}: forward`, tol);
    const gy = randRT(fr.shape, rng);
    y.backward({ gradient: gpu(gy) });
    const want = fv(gy);
    for (let i = 0; i < ts.length; i++) {
      assert.ok(ts[i]!.grad, `${what}: input ${i} received no gradient`);
      await close(ts[i]!.grad!, want[i]!, `${what}: gradient of input ${i}`, tol);
    }
  });
}

/** A flow whose values are mostly small, with a share of large ones that sample well outside the image. */
function flowRT(N: number, H: number, W: number, rng: () => number): RT {
  const f = randRT([N, 2, H, W], rng, -2, 2);
  for (let i = 0; i < f.size; i++) {
    const r = rng();
    if (r < 0.3) f.data[i] = (rng() * 2 - 1) * 3 * Math.max(H, W);   // far outside on either side
    else if (r < 0.4) f.data[i] = Math.round(f.data[i]!) + 0.5;       // half-pixel positions
  }
  return f;
}

// ------------------------------------------------------------------------------------------------ warp

const warpSuite = suite('flow: warp');
warpSuite.before(setup);

warpSuite('FLOW.md §4 examples: identity, +0.5 with border, +0.5 with zeros padding', async () => {
  await scope(async () => {
    const S = tensor(Float32Array.from({ length: 8 }, (_, i) => i), [1, 1, 1, 8]);
    const S1 = tensor(Float32Array.from({ length: 8 }, (_, i) => i + 1), [1, 1, 1, 8]);
    const flow = (u: number) => tensor(Float32Array.from({ length: 16 }, (_, i) => (i < 8 ? u : 0)), [1, 2, 1, 8]);
    assert.equal([...(await warp(S, flow(0)).data())], [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal([...(await warp(S, flow(0.5)).data())], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7]);
    const z = await warp(S1, flow(0.5), 'zeros').data();
    assert.equal([...z], [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 4]);
    assert.is(z[7], 4.0, 'zeros padding: last value 4.0');
  });
});

const WARP_SHAPES: [number, number, number, number][] = [[1, 1, 5, 7], [3, 3, 5, 7], [1, 3, 9, 4], [3, 1, 1, 11], [1, 2, 17, 33]];

for (const padding of ['border', 'zeros'] as const) {
  warpSuite(`warp (${padding}): forward, image and flow gradients on ${WARP_SHAPES.map(fmt).join(' ')}`, async () => {
    const rng = mulberry32(padding === 'border' ? 11 : 12);
    for (const [N, C, H, W] of WARP_SHAPES) {
      const img = randRT([N, C, H, W], rng);
      const flow = flowRT(N, H, W, rng);
      await check(
        `warp ${padding} ${fmt([N, C, H, W])}`, [img, flow], ([i, f]) => warp(i!, f!, padding),
        nnRef.warp(img, flow, padding), (gy) => nnVjp.warp(gy, img, flow, padding), rng,
      );
    }
  });
}

/**
 * A smooth flow (slow sinusoids plus a constant shift with a fractional part), so neighbouring pixels sample
 * neighbouring cells and the scatter joins their taps; `push` adds a band of rows and columns driven far outside
 * (clamped border taps that coincide, dropped zeros taps).
 */
function smoothFlowRT(N: number, H: number, W: number, push: boolean): RT {
  const f = new Float64Array(N * 2 * H * W);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = ((n * 2) * H + y) * W + x;
        f[i] = 0.37 + n + 0.8 * Math.sin(0.3 * y + 0.11 * x);
        f[i + H * W] = -0.61 + 0.5 * Math.cos(0.2 * x - 0.17 * y);
        if (push && x < 3) f[i] = -5 - x;          // left columns sample beyond the left edge
        if (push && y >= H - 2) f[i + H * W] = 3.5;  // bottom rows beyond the bottom edge
      }
    }
  }
  return rt([N, 2, H, W], f);
}

for (const padding of ['border', 'zeros'] as const) {
  warpSuite(`warp (${padding}): smooth flows (joined taps), runs across rows, pixels past the last run`, async () => {
    const rng = mulberry32(padding === 'border' ? 15 : 16);
    for (const [[N, C, H, W], push] of [[[2, 3, 16, 24], false], [[1, 2, 9, 13], true], [[3, 5, 7, 3], true], [[1, 1, 2, 2], false], [[2, 4, 1, 1], true]] as [number[], boolean][]) {
      const img = randRT([N!, C!, H!, W!], rng);
      const flow = smoothFlowRT(N!, H!, W!, push);
      await check(
        `warp ${padding} smooth ${fmt([N!, C!, H!, W!])}${push ? ' pushed' : ''}`, [img, flow], ([i, f]) => warp(i!, f!, padding),
        nnRef.warp(img, flow, padding), (gy) => nnVjp.warp(gy, img, flow, padding), rng,
      );
    }
  });
}

warpSuite('warp: image-only and flow-only gradients (separate kernels) match the fused backward', async () => {
  const rng = mulberry32(17);
  for (const padding of ['border', 'zeros'] as const) {
    for (const [N, C, H, W] of [[2, 3, 11, 17], [1, 2, 4, 4]]) {
      const img = randRT([N!, C!, H!, W!], rng);
      const flow = N === 2 ? flowRT(N, H!, W!, rng) : smoothFlowRT(N!, H!, W!, true);
      const gy = randRT([N!, C!, H!, W!], rng);
      const [wi, wf] = nnVjp.warp(gy, img, flow, padding);
      await scope(async () => {
        await close(warpAdjoint(gpu(gy), gpu(flow), padding), wi!, `${padding} ${fmt([N!, C!, H!, W!])}: warpAdjoint alone`, GRAD_TOL);
        await close(warpFlowGrad(gpu(gy), gpu(img), gpu(flow), padding), wf!, `${padding} ${fmt([N!, C!, H!, W!])}: warpFlowGrad alone`, GRAD_TOL);
        const ti = gpu(img, true);
        const [gi] = grad(sum(mul(warp(ti, gpu(flow), padding), gpu(gy))), ti);
        await close(gi!, wi!, `${padding}: image gradient with a constant flow`, GRAD_TOL);
        const tf = gpu(flow, true);
        const [gf] = grad(sum(mul(warp(gpu(img), tf, padding), gpu(gy))), tf);
        await close(gf!, wf!, `${padding}: flow gradient with a constant image`, GRAD_TOL);
      });
    }
  }
});

warpSuite('warp: default padding is border; flow gradient is 0 in a clamped direction', async () => {
  await scope(async () => {
    const rng = mulberry32(13);
    const img = randRT([1, 2, 4, 6], rng);
    // every x coordinate far right (clamped), y inside
    const f = randRT([1, 2, 4, 6], rng, -0.4, 0.4);
    for (let i = 0; i < 24; i++) f.data[i] = 20;
    const ti = gpu(img, true);
    const tf = gpu(f, true);
    const y = warp(ti, tf);
    await close(y, nnRef.warp(img, f, 'border'), 'default padding');
    sum(y).backward();
    const gf = await tf.grad!.data();
    for (let i = 0; i < 24; i++) assert.is(gf[i], 0, `u gradient ${i} of a clamped sample`);
    assert.ok(gf.slice(24).some((v) => v !== 0), 'v gradient is not all zero');
  });
});

warpSuite('warp: image gradient when every pixel samples the same point (one long list in the adjoint gather)', async () => {
  const rng = mulberry32(14);
  for (const padding of ['border', 'zeros'] as const) {
    const [N, C, H, W] = [2, 3, 16, 24];
    const img = randRT([N, C, H, W], rng);
    const f = new Float64Array(N * 2 * H * W);
    for (let n = 0; n < N; n++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          f[((n * 2 + 0) * H + y) * W + x] = 3.25 - x;
          f[((n * 2 + 1) * H + y) * W + x] = 4.5 - y;
        }
      }
    }
    const flow = rt([N, 2, H, W], f);
    await check(`warp ${padding} to one point`, [img, flow], ([i, fl]) => warp(i!, fl!, padding), nnRef.warp(img, flow, padding), (gy) => nnVjp.warp(gy, img, flow, padding), rng);
  }
});

// ------------------------------------------------------------------------------------------------ resize

const resizeSuite = suite('flow: resize');
resizeSuite.before(setup);

resizeSuite('FLOW.md §5: align-corners output j reads input j·(N-1)/(N′-1); align false matches PyTorch', async () => {
  await scope(async () => {
    const S = tensor(Float32Array.from({ length: 8 }, (_, i) => i), [1, 1, 1, 8]);
    const up = await resizeBilinear(S, 1, 15, { alignCorners: true }).data();
    assert.equal([...up], Array.from({ length: 15 }, (_, j) => j * 0.5));
    // PyTorch: F.interpolate(arange(8), size=4, mode='linear', align_corners=False) = [0.5, 2.5, 4.5, 6.5]
    assert.equal([...(await resizeBilinear(S, 1, 4, { alignCorners: false }).data())], [0.5, 2.5, 4.5, 6.5]);
    // and upsampling [0, 1] to 4 without align corners gives [0, 0.25, 0.75, 1]
    const two = tensor([0, 1], [1, 1, 1, 2]);
    assert.equal([...(await resizeBilinear(two, 1, 4, { alignCorners: false }).data())], [0, 0.25, 0.75, 1]);
  });
});

const RESIZES: [number[], number, number][] = [
  [[2, 3, 5, 7], 9, 13],   // up
  [[2, 3, 5, 7], 3, 4],    // down
  [[1, 1, 5, 7], 11, 3],   // up in H, down in W
  [[1, 2, 5, 7], 1, 1],
  [[3, 1, 1, 1], 4, 5],    // from a single pixel
  [[1, 2, 16, 12], 64, 48], // x4 (more candidates per input in the adjoint)
  [[1, 1, 33, 20], 8, 5],  // strong downsampling
];

for (const align of [true, false]) {
  resizeSuite(`resizeBilinear alignCorners ${align}: forward and gradient`, async () => {
    const rng = mulberry32(align ? 21 : 22);
    for (const [shape, oh, ow] of RESIZES) {
      const x = randRT(shape, rng);
      await check(
        `resize ${fmt(shape)} to ${oh}x${ow} align ${align}`, [x], ([t]) => resizeBilinear(t!, oh, ow, { alignCorners: align }),
        nnRef.resizeBilinear(x, oh, ow, align), (gy) => nnVjp.resizeBilinear(gy, x, oh, ow, align), rng,
      );
    }
  });
}

resizeSuite('resizeFlow: align-corners resize, u × W′/W, v × H′/H (both ratios equal and different)', async () => {
  const rng = mulberry32(23);
  for (const [shape, oh, ow] of [[[1, 2, 5, 7], 9, 13], [[2, 2, 6, 8], 3, 2], [[1, 2, 4, 4], 8, 8], [[1, 2, 128, 128], 64, 64]] as [number[], number, number][]) {
    const f = randRT(shape, rng, -3, 3);
    await check(`resizeFlow ${fmt(shape)} to ${oh}x${ow}`, [f], ([t]) => resizeFlow(t!, oh, ow), nnRef.resizeFlow(f, oh, ow), (gy) => nnVjp.resizeFlow(gy, f, oh, ow), rng);
  }
  await scope(async () => {
    // FLOW.md §5 by hand: a constant flow (u, v) = (4, 2) on H x W = 8 x 4 resized to 2 x 2 is (4·2/4, 2·2/8)
    const f = tensor([...new Array(32).fill(4), ...new Array(32).fill(2)], [1, 2, 8, 4]);
    assert.equal([...(await resizeFlow(f, 2, 2).data())], [2, 2, 2, 2, 0.5, 0.5, 0.5, 0.5]);
  });
});

resizeSuite('resizeBilinear: more than 65535 planes are split into several launches', async () => {
  const rng = mulberry32(24);
  const x = randRT([1, 65537, 1, 2], rng);
  await check('resize [1,65537,1,2] to 1x3', [x], ([t]) => resizeBilinear(t!, 1, 3, { alignCorners: false }),
    nnRef.resizeBilinear(x, 1, 3, false), (gy) => nnVjp.resizeBilinear(gy, x, 1, 3, false), rng);
});

// ------------------------------------------------------------------------------------------------ correlation

const corrSuite = suite('flow: correlation');
corrSuite.before(setup);

corrSuite('FLOW.md §3: a unit impulse gives channel 52 for (dy, dx) = (1, 3); 1/C normalisation', async () => {
  await scope(async () => {
    const C = 3;
    const f1 = new Float64Array(C * 81).fill(1);
    const f2 = new Float64Array(C * 81);
    for (let c = 0; c < C; c++) f2[c * 81 + 5 * 9 + 6] = 1;   // impulse at (y, x) = (5, 6)
    const out = await correlation(gpu(rt([1, C, 9, 9], f1)), gpu(rt([1, C, 9, 9], f2))).data();
    assert.is(out[52 * 81 + 4 * 9 + 3], 1, 'channel 52 at pixel (4, 3)');
    for (let d = 0; d < 81; d++) {
      const dy = Math.floor(d / 9) - 4;
      const dx = (d % 9) - 4;
      for (let p = 0; p < 81; p++) {
        const hit = Math.floor(p / 9) + dy === 5 && (p % 9) + dx === 6;
        assert.is(out[d * 81 + p], hit ? 1 : 0, `channel ${d} pixel ${p}`);
      }
    }
  });
});

const CORRS: [number[], number][] = [
  [[1, 3, 9, 11], 4],
  [[2, 5, 6, 7], 2],
  [[1, 8, 5, 6], 4],   // channel tile of 4 in the gradient kernels, two channel tiles
  [[1, 4, 7, 5], 6],   // D = 13: two displacement tiles, displacements beyond the image
  [[2, 2, 3, 4], 0],
  [[1, 4, 3, 20], 9],  // D = 19: three displacement tiles (9, 9, 1), W a multiple of 4 but m != 4 (generic kernels)
  // m = 4 with W % 4 == 0 (PWC-Lite's levels): full 32-pixel tiles, tiles spanning rows and samples
  [[1, 8, 6, 16], 4],  // two quads per lane in the forward, every quad full
  [[3, 5, 5, 12], 4],  // batch 3, odd number of quads per row (the forward's last lane has one), C = 5 (one channel per lane)
  [[2, 12, 9, 8], 4],  // C = 12: three channel tiles
  [[2, 6, 1, 4], 4],   // one row, one quad: every displacement but dy = 0 leaves the image
  [[1, 2, 4, 36], 4],  // a wide row: interior quads away from both edges
  // PWC-Lite's coarsest levels: maps smaller than the search window
  [[2, 16, 2, 2], 4],
  [[3, 8, 1, 1], 4],
  [[1, 4, 3, 3], 1],
];

corrSuite(`correlation: forward and both gradients on ${CORRS.map(([s, m]) => `${fmt(s)} d${m}`).join(', ')}`, async () => {
  const rng = mulberry32(31);
  for (const [shape, m] of CORRS) {
    const f1 = randRT(shape, rng);
    const f2 = randRT(shape, rng);
    await check(
      `correlation ${fmt(shape)} d${m}`, [f1, f2], ([a, b]) => correlation(a!, b!, m),
      nnRef.correlation(f1, f2, m), (gy) => nnVjp.correlation(gy, f1, f2, m), rng,
    );
  }
});

corrSuite('correlation: the kernels without subgroup shuffles (devices without subgroups) give the same results', async () => {
  const rng = mulberry32(33);
  correlationInternals.noShuffle = true;
  try {
    for (const [shape, m] of [[[2, 4, 6, 12], 4], [[1, 4, 7, 5], 6], [[3, 4, 2, 2], 4]] as [number[], number][]) {
      const f1 = randRT(shape, rng);
      const f2 = randRT(shape, rng);
      await check(
        `correlation (no shuffles) ${fmt(shape)} d${m}`, [f1, f2], ([a, b]) => correlation(a!, b!, m),
        nnRef.correlation(f1, f2, m), (gy) => nnVjp.correlation(gy, f1, f2, m), rng,
      );
    }
  } finally {
    correlationInternals.noShuffle = false;
  }
});

corrSuite('correlation: default maxDisp is 4 (81 channels)', async () => {
  await scope(async () => {
    const rng = mulberry32(32);
    const f1 = randRT([1, 2, 4, 5], rng);
    const f2 = randRT([1, 2, 4, 5], rng);
    const y = correlation(gpu(f1), gpu(f2));
    assert.equal([...y.shape], [1, 81, 4, 5]);
    await close(y, nnRef.correlation(f1, f2, 4), 'default maxDisp');
  });
});

// ------------------------------------------------------------------------------------------------ higher order

const second = suite('flow: second-order gradients');
second.before(setup);

// For a linear map y = A(x)·q, grad(<y, q>, x) is Aᵀq; differentiating <Aᵀq, h> w.r.t. q gives A h.

second('correlation: gradients of its gradients (the trilinear form closes under differentiation)', async () => {
  const rng = mulberry32(41);
  for (const [shape, m] of [[[1, 3, 5, 6], 2], [[2, 4, 4, 5], 1]] as [number[], number][]) {
    const [N, , H, W] = shape as [number, number, number, number];
    const D = 2 * m + 1;
    const f1 = randRT(shape, rng);
    const f2 = randRT(shape, rng);
    const q = randRT([N, D * D, H, W], rng);
    const h1 = randRT(shape, rng);
    const h2 = randRT(shape, rng);
    await scope(async () => {
      const t1 = gpu(f1, true);
      const t2 = gpu(f2, true);
      const tq = gpu(q, true);
      const y = correlation(t1, t2, m);
      const [g1, g2] = grad(sum(mul(y, tq)), [t1, t2], { createGraph: true });
      await close(g1!, nnVjp.correlation(q, f1, f2, m)[0]!, 'first-order gf1', GRAD_TOL);
      // L = <g1, h1> + <g2, h2> = T(q, h1, f2) + T(q, f1, h2)
      sum(mul(g1!, gpu(h1))).add(sum(mul(g2!, gpu(h2)))).backward();
      // dL/dq = corr(h1, f2) + corr(f1, h2); dL/df1 = ∂T(q, f1, h2)/∂f1; dL/df2 = ∂T(q, h1, f2)/∂f2
      const cq1 = nnRef.correlation(h1, f2, m);
      const cq2 = nnRef.correlation(f1, h2, m);
      await close(tq.grad!, rt(cq1.shape, cq1.data.map((v, i) => v + cq2.data[i]!)), 'd/dq', GRAD_TOL);
      await close(t1.grad!, nnVjp.correlation(q, f1, h2, m)[0]!, 'd/df1', GRAD_TOL);
      await close(t2.grad!, nnVjp.correlation(q, h1, f2, m)[1]!, 'd/df2', GRAD_TOL);
    });
  }
});

second('resize: the adjoint is differentiable (its adjoint is the resize)', async () => {
  const rng = mulberry32(42);
  for (const align of [true, false]) {
    const x = randRT([2, 2, 5, 7], rng);
    const q = randRT([2, 2, 9, 4], rng);
    const h = randRT([2, 2, 5, 7], rng);
    await scope(async () => {
      const tx = gpu(x, true);
      const tq = gpu(q, true);
      const [gx] = grad(sum(mul(resizeBilinear(tx, 9, 4, { alignCorners: align }), tq)), tx, { createGraph: true });
      await close(gx!, nnVjp.resizeBilinear(q, x, 9, 4, align)[0]!, `align ${align}: first order`, GRAD_TOL);
      sum(mul(gx!, gpu(h))).backward();
      await close(tq.grad!, nnRef.resizeBilinear(h, 9, 4, align), `align ${align}: d/dq of <adjoint(q), h>`, GRAD_TOL);
      // and the adjoint on its own is the transpose: <resize(x), q> = <x, adjoint(q)>
      const a = await sum(mul(resizeBilinear(gpu(x), 9, 4, { alignCorners: align }), gpu(q))).item();
      const b = await sum(mul(gpu(x), resizeBilinearAdjoint(gpu(q), 5, 7, { alignCorners: align }))).item();
      assert.ok(Math.abs(a - b) <= 1e-4 * (1 + Math.abs(a)), `align ${align}: <Rx, q> = ${a}, <x, Rᵀq> = ${b}`);
    });
  }
});

second('warp: second order through the image works; through the flow it throws a clear error', async () => {
  const rng = mulberry32(43);
  for (const padding of ['border', 'zeros'] as const) {
    const img = randRT([2, 3, 5, 7], rng);
    const flow = flowRT(2, 5, 7, rng);
    const q = randRT([2, 3, 5, 7], rng);
    const h = randRT([2, 3, 5, 7], rng);
    await scope(async () => {
      // flow constant: the image gradient warpAdjoint(q, flow) differentiates into warp(h, flow)
      const ti = gpu(img, true);
      const tq = gpu(q, true);
      const [gi] = grad(sum(mul(warp(ti, gpu(flow), padding), tq)), ti, { createGraph: true });
      await close(gi!, nnVjp.warp(q, img, flow, padding)[0]!, `${padding}: image gradient`, GRAD_TOL);
      sum(mul(gi!, gpu(h))).backward();
      await close(tq.grad!, nnRef.warp(h, flow, padding), `${padding}: d/dq <warpAdjoint(q), h>`, GRAD_TOL);
      // <warp(x), q> = <x, warpAdjoint(q)>
      const a = await sum(mul(warp(gpu(img), gpu(flow), padding), gpu(q))).item();
      const b = await sum(mul(gpu(img), warpAdjoint(gpu(q), gpu(flow), padding))).item();
      assert.ok(Math.abs(a - b) <= 1e-4 * (1 + Math.abs(a)), `${padding}: <Wx, q> = ${a}, <x, Wᵀq> = ${b}`);
    });
    await scope(async () => {
      const ti = gpu(img, true);
      const tf = gpu(flow, true);
      const [gi, gf] = grad(sum(mul(warp(ti, tf, padding), gpu(q))), [ti, tf], { createGraph: true });
      throwsMatching(() => sum(mul(gi!, gpu(h))).backward(), /warp: the second derivative with respect to the flow is not implemented/, 'image gradient w.r.t. flow');
      throwsMatching(() => sum(mul(gf!, gf!)).backward(), /warp: second-order gradients through warp's flow gradient are not implemented/, 'flow gradient differentiated');
    });
  }
});

second('forward and backward of every flow op free all their memory', async () => {
  const rng = mulberry32(44);
  const img = randRT([2, 3, 5, 7], rng);
  const flow = flowRT(2, 5, 7, rng);
  const before = memory().liveBytes;
  await scope(async () => {
    const ti = gpu(img, true);
    const tf = gpu(flow, true);
    const a = warp(ti, tf);
    const b = resizeFlow(resizeBilinear(a, 4, 9, { alignCorners: false }).slice(1, 0, 2), 6, 6);
    const c = correlation(a, warp(ti, tf, 'zeros'), 2);
    sum(b).add(sum(c)).backward();
    await ti.grad!.data();
  });
  assert.is(memory().liveBytes, before, 'live bytes after the scope');
});

// ------------------------------------------------------------------------------------------------ errors

const errors = suite('flow: argument errors');
errors.before(setup);

errors('warp, resize and correlation name the op and the shapes', async () => {
  await scope(() => {
    const img = gpu(randRT([2, 3, 5, 7], mulberry32(1)));
    const f = (s: number[]) => gpu(randRT(s, mulberry32(2)));
    throwsMatching(() => warp(img, f([2, 3, 5, 7])), /warp: flow must be \[N, 2, H, W\].*img \[2, 3, 5, 7\], flow \[2, 3, 5, 7\]/, 'flow with 3 channels');
    throwsMatching(() => warp(img, f([1, 2, 5, 7])), /warp: flow's N, H, W must match.*img \[2, 3, 5, 7\], flow \[1, 2, 5, 7\]/, 'N mismatch');
    throwsMatching(() => warp(img, f([2, 2, 5, 6])), /warp: flow's N, H, W must match.*flow \[2, 2, 5, 6\]/, 'W mismatch');
    throwsMatching(() => warp(f([3, 5, 7]), f([2, 2, 5, 7])), /warp: img must be \[N, C, H, W\], got \[3, 5, 7\]/, 'img rank');
    throwsMatching(() => warp(img, f([2, 2, 5, 7]), 'reflect' as 'zeros'), /warp: padding must be 'border' or 'zeros', got "reflect"/, 'padding');
    throwsMatching(() => warpAdjoint(img, f([2, 2, 4, 7])), /warpAdjoint: flow's N, H, W must match the g's, got g \[2, 3, 5, 7\], flow \[2, 2, 4, 7\]/, 'warpAdjoint');
    throwsMatching(() => resizeBilinear(img, 0, 4, { alignCorners: true }), /resizeBilinear: outH must be a positive integer, got 0 \(x \[2, 3, 5, 7\], out 0x4\)/, 'outH 0');
    throwsMatching(() => resizeBilinear(img, 4, -2, { alignCorners: true }), /resizeBilinear: outW must be a positive integer, got -2/, 'outW < 0');
    throwsMatching(() => resizeBilinear(img, 2.5, 4, { alignCorners: false }), /resizeBilinear: outH must be a positive integer, got 2.5/, 'outH fractional');
    throwsMatching(() => resizeBilinear(img, 4, 4, undefined as unknown as { alignCorners: boolean }), /resizeBilinear: pass \{ alignCorners: true \| false \}/, 'missing alignCorners');
    throwsMatching(() => resizeBilinear(f([3, 5, 7]), 4, 4, { alignCorners: true }), /resizeBilinear: x must be \[N, C, H, W\], got \[3, 5, 7\]/, 'resize rank');
    throwsMatching(() => resizeFlow(img, 4, 4), /resizeFlow: flow must be \[N, 2, H, W\].*got \[2, 3, 5, 7\]/, 'resizeFlow channels');
    throwsMatching(() => resizeFlow(f([1, 2, 5, 7]), 0, 4), /resizeBilinear: outH must be a positive integer, got 0/, 'resizeFlow size');
    throwsMatching(() => correlation(img, f([2, 3, 5, 6])), /correlation: f1 and f2 must be \[N, C, H, W\] of the same shape, got f1 \[2, 3, 5, 7\], f2 \[2, 3, 5, 6\]/, 'shape mismatch');
    throwsMatching(() => correlation(f([3, 5, 7]), f([3, 5, 7])), /correlation: f1 and f2 must be \[N, C, H, W\]/, 'correlation rank');
    throwsMatching(() => correlation(img, img, -1), /correlation: maxDisp must be a non-negative integer, got -1 \(f1 \[2, 3, 5, 7\], f2 \[2, 3, 5, 7\]\)/, 'maxDisp < 0');
    throwsMatching(() => correlation(img, img, 1.5), /correlation: maxDisp must be a non-negative integer, got 1.5/, 'maxDisp fractional');
  });
});

for (const s of [warpSuite, resizeSuite, corrSuite, second, errors]) s.run();
