// The flow estimator's pieces: PWC-Lite's layout and shapes, Adam against a float64 reference, the occlusion masks
// and the unsupervised loss of FLOW.md §6.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PWCLite, Adam, WeightAverage, flowLoss, nonOccluded, swapHalves, STAGE1, STAGE1_CENSUS, STAGE2, manualSeed, rand, randn, tensor, zeros, full, concat, add, scope, noGrad, grad,
  networkSize, endPointErrors, estimateFlow, framesTensor, loadFlowModel, toPlanarRGB, type FlowSymmetry, type Tensor,
} from '../src/node.js';
import { flipX, flipY, transposeXY } from '../src/flow/train.js';
import { drawSynthParams, renderSynthClip } from '../src/data/synth.js';
import { mulberry32, rt } from './reference.js';
import { nnRef } from './reference-nn.js';
import { setup, throwsMatching, rejectsMatching } from './helpers.js';

const model = suite('pwclite: network');
model.before(setup);

model('parameter count and ARFlow state-dict keys (FLOW.md §2)', () => {
  manualSeed(0);
  const net = new PWCLite();
  assert.is(net.numParameters(), 2_236_660);
  const count = (prefix: string) => net.namedParameters().filter(([k]) => k.startsWith(prefix)).reduce((s, [, t]) => s + t.size, 0);
  assert.is(count('feature_pyramid_extractor.'), 1_022_160);
  assert.is(count('flow_estimators.'), 678_402);
  assert.is(count('context_networks.'), 519_554);
  assert.is(count('conv_1x1.'), 16_544);
  const keys = new Set(net.stateDict().keys());
  for (const k of ['feature_pyramid_extractor.convs.0.0.0.weight', 'feature_pyramid_extractor.convs.5.1.0.bias', 'flow_estimators.conv1.0.weight',
    'flow_estimators.predict_flow.0.weight', 'context_networks.convs.6.0.weight', 'conv_1x1.4.0.weight']) assert.ok(keys.has(k), k);
  net.dispose();
});

model('forward: five flows finest first, both directions from one pass equal separate passes', async () => {
  manualSeed(3);
  const net = new PWCLite().eval();
  const a = rand([2, 3, 64, 128], { seed: 1 });
  const b = rand([2, 3, 64, 128], { seed: 2 });
  const out = noGrad(() => net.forward(a, b, { backward: true }));
  assert.equal(out.forward.map((f) => [...f.shape]), [[2, 2, 64, 128], [2, 2, 32, 64], [2, 2, 16, 32], [2, 2, 8, 16], [2, 2, 4, 8]]);
  assert.equal([...out.stacked[0]!.shape], [4, 2, 64, 128]);
  const fw = noGrad(() => net.forward(a, b).forward[0]!);
  const bw = noGrad(() => net.forward(b, a).forward[0]!);
  const [x1, y1, x2, y2] = await Promise.all([out.forward[0]!.data(), fw.data(), out.backward![0]!.data(), bw.data()]);
  for (let i = 0; i < x1.length; i++) {
    assert.ok(Math.abs(x1[i]! - y1[i]!) < 1e-4 && Math.abs(x2[i]! - y2[i]!) < 1e-4, `element ${i}`);
  }
  for (const t of [a, b, fw, bw, ...out.stacked, ...out.forward, ...out.backward!]) t.dispose();
  net.dispose();
});

model('initKaiming: N(0, 2/fan_in) weights, zero biases (what ARFlow\'s init_weights means to do)', async () => {
  manualSeed(5);
  const net = new PWCLite().initKaiming();
  const sd = net.stateDict();
  const w = await sd.get('flow_estimators.conv3.0.weight')!.data(); // [96, 256, 3, 3]: fan_in 2304
  const rms = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  assert.ok(Math.abs(rms / Math.sqrt(2 / 2304) - 1) < 0.02, `rms ${rms}`);
  assert.ok((await sd.get('context_networks.convs.3.0.bias')!.data()).every((v) => v === 0));
  net.dispose();
});

model('inputNorm center: flows do not change when both frames get a brightness offset; options travel as metadata', async () => {
  manualSeed(4);
  const net = new PWCLite({ inputNorm: 'center', corrNorm: 'moments' }).initKaiming().eval();
  const plain = new PWCLite().eval();
  plain.loadStateDict(await net.stateDictHost());
  const a = rand([1, 3, 64, 64], { seed: 1 });
  const b = rand([1, 3, 64, 64], { seed: 2 });
  const flows = (m: PWCLite, x: Tensor, y: Tensor) => noGrad(() => m.forward(x, y).forward[0]!);
  const a2 = a.add(0.25);
  const b2 = b.add(0.25);
  const shifted = [flows(net, a, b), flows(net, a2, b2), flows(plain, a, b), flows(plain, a2, b2)];
  const [f0, f1, g0, g1] = await Promise.all(shifted.map((t) => t.data()));
  const maxDiff = (x: Float32Array, y: Float32Array) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
  const scale = f0!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(maxDiff(f0!, f1!) < 1e-4 * scale, `normalised: ${maxDiff(f0!, f1!)} of ${scale}`);
  // the plain (ARFlow) pass does depend on the offset, so the invariance above is the options' doing
  assert.ok(maxDiff(g0!, g1!) > 1e-2 * scale, `plain: ${maxDiff(g0!, g1!)}`);
  assert.equal(net.metadata(), { format: 'pwclite', corr_norm: 'moments', input_norm: 'center' });
  assert.equal(PWCLite.optionsFrom(net.metadata()), { corrNorm: 'moments', inputNorm: 'center' });
  assert.equal(PWCLite.optionsFrom({}), { corrNorm: 'none', inputNorm: 'none' });
  throwsMatching(() => PWCLite.optionsFrom({ corr_norm: 'l2' }, 'x.safetensors'), /x\.safetensors.*corr_norm is 'l2'.*none, moments/, 'bad metadata');
  throwsMatching(() => new PWCLite({ inputNorm: 'scale' as 'center' }), /inputNorm must be 'none' or 'center'/, 'bad option');
  for (const t of [a, b, a2, b2, ...shifted]) t.dispose();
  net.dispose();
  plain.dispose();
});

model('bad frames get errors naming the shapes; networkSize rounds to multiples of 64', () => {
  manualSeed(0);
  const net = new PWCLite();
  const a = zeros([1, 3, 96, 128]);
  throwsMatching(() => net.forward(a, a), /multiples of 64.*96x128/, 'size');
  const g = zeros([1, 1, 64, 64]);
  throwsMatching(() => net.forward(g, g), /\[1, 3, H, W\]|\[N, 3, H, W\]/, 'channels');
  assert.equal(networkSize(360, 640), [384, 640]);
  assert.equal(networkSize(20, 100), [64, 128]);
  for (const t of [a, g]) t.dispose();
  net.dispose();
});

// A flow field [2, S, S] (planar) of a pair, mapped to the flow of the same pair mirrored or transposed (FLOW.md's
// pixel convention): a left-right mirror reverses u, an up-down mirror v, the transposition swaps them.
function mapFlow(f: Float32Array, S: number, T: 'fx' | 'fy' | 't'): Float32Array {
  const out = new Float32Array(2 * S * S);
  for (let c = 0; c < 2; c++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const o = c * S * S + y * S + x;
        if (T === 'fx') out[o] = (c === 0 ? -1 : 1) * f[c * S * S + y * S + (S - 1 - x)]!;
        else if (T === 'fy') out[o] = (c === 1 ? -1 : 1) * f[c * S * S + (S - 1 - y) * S + x]!;
        else out[o] = f[(1 - c) * S * S + x * S + y]!;
      }
    }
  }
  return out;
}

model('estimateFlow symmetry: averaging 8 views makes the estimate equivariant to mirrors and transposition, 2 to the left-right mirror, 4 to both mirrors', async () => {
  const { model: net } = await loadFlowModel();
  const S = 64;
  const clip = renderSynthClip(drawSynthParams(77, 0, S), { size: S, frames: 2 });
  const planar = (rgb: Uint8Array) => toPlanarRGB({ width: S, height: S, channels: 3, data: rgb });
  const [a, b] = [planar(clip.frames[0]!), planar(clip.frames[1]!)];
  const see = { fx: flipX, fy: flipY, t: transposeXY } as const;
  const est = async (x: Float32Array, y: Float32Array, symmetry: FlowSymmetry) => {
    const f = await scope(async () => estimateFlow(net, framesTensor([x], S, S), framesTensor([y], S, S), { symmetry, refine: 0 }));
    const d = await f.data();
    f.dispose();
    return d;
  };
  const gap = (p: Float32Array, q: Float32Array) => p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i]!)), 0);
  for (const [k, views] of [[1, ['fx', 'fy', 't']], [2, ['fx']], [4, ['fx', 'fy']], [8, ['fx', 'fy', 't']]] as const) {
    const base = await est(a, b, k);
    for (const T of views) {
      const d = gap(await est(see[T](a, S), see[T](b, S), k), mapFlow(base, S, T));
      // one pass: the network alone is not equivariant (shows the check can fail); the group averages are, to rounding
      if (k === 1) assert.ok(d > 0.02, `symmetry 1, ${T}: ${d}`);
      else assert.ok(d < 2e-3, `symmetry ${k}, ${T}: max difference ${d} px`);
    }
  }
  await rejectsMatching(scope(async () => estimateFlow(net, framesTensor([a], S, S), framesTensor([b], S, S), { symmetry: 3 as FlowSymmetry })), /symmetry must be 1, 2, 4 or 8 \(views averaged\), got 3/, 'symmetry 3');
  net.dispose();
});

model('estimateFlow bidirectional: the forward flow averaged with the backward flow negated and sampled at the match', async () => {
  const { model: net } = await loadFlowModel();
  const S = 64;
  const clip = renderSynthClip(drawSynthParams(78, 0, S), { size: S, frames: 2 });
  const planar = (rgb: Uint8Array) => toPlanarRGB({ width: S, height: S, channels: 3, data: rgb });
  await scope(async () => {
    const [a, b] = [framesTensor([planar(clip.frames[0]!)], S, S), framesTensor([planar(clip.frames[1]!)], S, S)];
    const both = noGrad(() => net.forward(a, b, { backward: true }));
    const fwd = rt([1, 2, S, S], await both.forward[0]!.data());
    const bwd = rt([1, 2, S, S], await both.backward![0]!.data());
    // the same formula in float64 on the host: (F_ab(x) − F_ba(x + F_ab(x))) / 2, F_ba sampled bilinearly (border)
    const back = nnRef.warp(bwd, fwd, 'border');
    const want = fwd.data.map((v, i) => (v - back.data[i]!) / 2);
    const got = await (await estimateFlow(net, a, b, { symmetry: 1, bidirectional: true, refine: 0 })).data();
    const gap = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);
    assert.ok(gap < 1e-4, `bidirectional vs the host formula: max difference ${gap} px`);
    const plain = await (await estimateFlow(net, a, b, { symmetry: 1, bidirectional: false, refine: 0 })).data();
    assert.ok(plain.reduce((m, v, i) => Math.max(m, Math.abs(v - fwd.data[i]!)), 0) < 1e-5, 'bidirectional false is the forward flow');
    assert.ok(got.reduce((m, v, i) => Math.max(m, Math.abs(v - plain[i]!)), 0) > 0.01, 'the average differs from the forward flow');
  });
  net.dispose();
});

const adam = suite('pwclite: Adam');
adam.before(setup);

adam('matches a float64 Adam with coupled weight decay (weights only) over 5 steps (by vec4s and by elements)', async () => {
  const r = mulberry32(5);
  const n = 40; // whole vec4s: the adam4 entry; the bias (3 values) takes adam
  const p0 = Array.from({ length: n }, () => r() * 2 - 1);
  const b0 = Array.from({ length: 3 }, () => r() * 2 - 1);
  const grads = Array.from({ length: 5 }, () => Array.from({ length: n }, () => r() * 2 - 1));
  const w = tensor(p0, [n], { requiresGrad: true });
  const bias = tensor(b0, [3], { requiresGrad: true });
  const opt = new Adam([['layer.weight', w], ['layer.bias', bias]], { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 });
  const ref = p0.slice();
  const refB = b0.slice();
  const m = new Array(n).fill(0);
  const v = new Array(n).fill(0);
  const mb = [0, 0, 0];
  const vb = [0, 0, 0];
  for (let t = 1; t <= 5; t++) {
    w.grad = tensor(grads[t - 1]!, [n]);
    bias.grad = tensor(grads[t - 1]!.slice(0, 3), [3]);
    opt.update();
    opt.zeroGrad();
    const step = (p: number[], mm: number[], vv: number[], g: number[], wd: number) => {
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! + wd * p[i]!;
        mm[i] = 0.8 * mm[i]! + 0.2 * gi;
        vv[i] = 0.99 * vv[i]! + 0.01 * gi * gi;
        p[i] = p[i]! - (0.01 * (mm[i]! / (1 - 0.8 ** t))) / (Math.sqrt(vv[i]! / (1 - 0.99 ** t)) + 1e-6);
      }
    };
    step(ref, m, v, grads[t - 1]!, 0.1);
    step(refB, mb, vb, grads[t - 1]!.slice(0, 3), 0);
  }
  const got = await w.data();
  const gotB = await bias.data();
  ref.forEach((x, i) => assert.ok(Math.abs(got[i]! - x) < 1e-5, `weight ${i}: ${got[i]} vs ${x}`));
  refB.forEach((x, i) => assert.ok(Math.abs(gotB[i]! - x) < 1e-5, `bias ${i}: ${gotB[i]} vs ${x}`));
  // state round trip
  const st = await opt.state();
  assert.is(st.step, 5);
  const opt2 = new Adam([['layer.weight', w], ['layer.bias', bias]], { lr: 0.01 });
  opt2.loadState(st);
  assert.is(opt2.step, 5);
  assert.equal([...(await (opt2 as unknown as { params: { m: Tensor }[] }).params[0]!.m.data())], [...st.tensors.get('layer.weight.exp_avg')!.data]);
  throwsMatching(() => opt2.loadState({ step: 1, tensors: new Map() }), /missing 'layer.weight.exp_avg'/, 'missing state');
  throwsMatching(() => new Adam([['x', w]], { lr: -1 }), /lr > 0/, 'bad lr');
  for (const o of [opt, opt2]) o.dispose();
  w.dispose();
  bias.dispose();
});

adam('WeightAverage follows a float64 moving average with its warm-up, and refuses mismatched modules', async () => {
  const r = mulberry32(8);
  const n = 29;
  const w = tensor(Array.from({ length: n }, () => r() * 2 - 1), [n]);
  const a = tensor(new Float32Array(n), [n]);
  const avg = new WeightAverage([['layer.weight', a]], [['layer.weight', w]], 0.9);
  // the average starts as a copy, not a view: changing the trained weights leaves it alone
  const ref = [...(await w.data())];
  assert.equal([...(await a.data())], ref);
  for (let t = 0; t < 12; t++) {
    const next = Array.from({ length: n }, () => r() * 2 - 1);
    const nt = tensor(next, [n]);
    w.assign_(nt);
    nt.dispose();
    // k = min(decay, (1 + t) / (10 + t)): 0.1, 0.18, ... until it reaches 0.9 at t = 71 (never here: warm-up only)
    const k = Math.min(0.9, (1 + t) / (10 + t));
    assert.ok(Math.abs(avg.keep - k) < 1e-12, `keep at update ${t}: ${avg.keep} vs ${k}`);
    avg.update();
    for (let i = 0; i < n; i++) ref[i] = ref[i]! + (1 - k) * (next[i]! - ref[i]!);
  }
  assert.is(avg.count, 12);
  const got = await a.data();
  ref.forEach((x, i) => assert.ok(Math.abs(got[i]! - x) < 1e-6, `average ${i}: ${got[i]} vs ${x}`));
  // once warmed up, the decay caps k
  avg.count = 1000;
  assert.is(avg.keep, 0.9);
  throwsMatching(() => new WeightAverage([['layer.weight', a]], [['layer.weight', w]], 1), /decay must be in \[0, 1\)/, 'decay 1');
  const b = tensor(new Float32Array(n - 1), [n - 1]);
  throwsMatching(() => new WeightAverage([['layer.weight', b]], [['layer.weight', w]], 0.5), /'layer.weight' \[28\] in the averaged module and 'layer.weight' \[29\]/, 'shape mismatch');
  throwsMatching(() => new WeightAverage([], [['layer.weight', w]], 0.5), /averaged module has 0 parameters, the trained one 1/, 'count mismatch');
  for (const t of [w, a, b]) t.dispose();
});

const loss = suite('pwclite: unsupervised loss');
loss.before(setup);

/** A smooth random texture [1, 3, S, S] and the same texture moved by (dx, dy) pixels (sampled analytically). */
function texturePair(S: number, dx: number, dy: number): [Tensor, Tensor] {
  const r = mulberry32(11);
  const waves = Array.from({ length: 12 }, () => ({ kx: (r() - 0.5) * 0.9, ky: (r() - 0.5) * 0.9, ph: r() * 6.28, c: [r(), r(), r()] }));
  const img = (ox: number, oy: number) => {
    const out = new Float32Array(3 * S * S);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          let v = 0.5;
          for (const w of waves) v += (0.04 * w.c[c]!) * Math.sin(w.kx * (x - ox) + w.ky * (y - oy) + w.ph);
          out[c * S * S + y * S + x] = v;
        }
      }
    }
    return tensor(out, [1, 3, S, S]);
  };
  // frame 2 shows frame 1's content moved by (dx, dy): I1(p) = I2(p + d)
  return [img(0, 0), img(dx, dy)];
}

/** Stacked flows at 5 scales for a constant forward flow d and backward -d (finest first). */
function constantFlows(S: number, dx: number, dy: number): Tensor[] {
  return [0, 1, 2, 3, 4].map((s) => {
    const n = S >> s;
    const f = (u: number, v: number) => concat([full([1, 1, n, n], u / 2 ** s), full([1, 1, n, n], v / 2 ** s)], 1);
    return concat([f(dx, dy), f(-dx, -dy)], 0);
  });
}

loss('occlusion masks: zero flow is visible everywhere; a flow that leaves the frame occludes the pixels that leave', async () => {
  const S = 16;
  const z = zeros([2, 2, S, S]);
  for (const m of ['range', 'fb'] as const) {
    const mask = nonOccluded(z, m);
    assert.ok((await mask.data()).every((x) => x === 1), m);
    mask.dispose();
  }
  // forward flow +3 px in x, backward -3: frame-1 pixels with x + 3 > S - 1 have no match
  const [f] = constantFlows(S, 3, 0);
  for (const m of ['range', 'fb'] as const) {
    const mask = await nonOccluded(f!, m).data();
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const vis = mask[y * S + x]!;
        if (x + 3 <= S - 1) assert.is(vis, 1, `${m} (${x}, ${y}) should be visible`);
        else assert.is(vis, 0, `${m} (${x}, ${y}) should be occluded`);
      }
    }
  }
  const sw = await swapHalves(f!).data();
  assert.is(sw[0], -3);
  z.dispose();
});

loss('the true translation scores lower than zero flow or the wrong direction, in both stages', async () => {
  const S = 64;
  const [a, b] = texturePair(S, 2, -1);
  for (const cfg of [STAGE1, STAGE2]) {
    const score = async (dx: number, dy: number) => {
      const fl = constantFlows(S, dx, dy);
      const l = scope(() => flowLoss(a, b, fl, { ...cfg, wSmooth: 0 }).photometric);
      const v = await l.item();
      for (const t of [l, ...fl]) t.dispose();
      return v;
    };
    const right = await score(2, -1);
    const none = await score(0, 0);
    const wrong = await score(-2, 1);
    assert.ok(right < 0.5 * none && right < 0.5 * wrong, `${cfg.occlusion}: ${right} vs zero ${none} vs wrong ${wrong}`);
  }
  a.dispose();
  b.dispose();
});

loss('census alone runs on the frames\' luminance: the same loss and flow gradients as the RGB path (census patches 3 and 7, both stages)', async () => {
  // flowLoss takes the luminance when census is the only photometric term; a negligible L1 weight keeps the RGB path
  const S = 32;
  const [a, b] = texturePair(S, 2, -1);
  for (const cfg of [STAGE1_CENSUS, STAGE2, { ...STAGE1_CENSUS, censusPatch: 7 }]) {
    await scope(async () => {
      // the pair's translation, perturbed (so the forward-backward check keeps most pixels and the census is not at 0)
      const flows = constantFlows(S, 2, -1).map((f, s) => noGrad(() => add(f, randn([...f.shape], { seed: 40 + s, std: 0.5 / 2 ** s }))).requiresGrad_());
      const run = (c: typeof cfg) => {
        const l = flowLoss(a, b, flows, c).total;
        return [l, ...grad(l, flows.slice(0, 4))] as Tensor[]; // the coarsest scale has weight 0
      };
      const luma = run(cfg);
      const rgb = run({ ...cfg, wL1: 1e-12 });
      const what = `${cfg.occlusion}, ${cfg.censusPatch}x${cfg.censusPatch}`;
      const [l0, l1] = [await luma[0]!.item(), await rgb[0]!.item()];
      assert.ok(l0 > 0.01 && Math.abs(l0 - l1) <= 1e-5 * l1, `${what}: loss ${l0} (luminance) vs ${l1} (RGB)`);
      for (let i = 1; i < luma.length; i++) {
        const [g0, g1] = [await luma[i]!.data(), await rgb[i]!.data()];
        let big = 0;
        let diff = 0;
        g1.forEach((v, j) => { big = Math.max(big, Math.abs(v)); diff = Math.max(diff, Math.abs(v - g0[j]!)); });
        // (a scale with no census-interior pixel — 4x4 under a 7x7 patch — has only the 1e-12 L1 term's gradient)
        const tol = i === 1 || big > 1e-9 ? 1e-3 * big : 1e-9;
        assert.ok((i > 1 || big > 1e-6) && diff <= tol, `${what}: flow gradient of scale ${i - 1}: largest difference ${diff} (largest entry ${big})`);
      }
    });
  }
  a.dispose();
  b.dispose();
});

loss('exclude leaves pixels out of the photometric term (distillation: what the noise patches hide)', async () => {
  const S = 64;
  const [a, b] = texturePair(S, 2, -1);
  const cfg = { ...STAGE1, wScales: [1, 0, 0, 0, 0], wSmooth: 0 };
  // forward flow right on the left half, zero on the right half; backward flow right everywhere
  const fw = new Float32Array(2 * S * S);
  for (let y = 0; y < S; y++) for (let x = 0; x < S / 2; x++) { fw[y * S + x] = 2; fw[S * S + y * S + x] = -1; }
  const flows = [concat([tensor(fw, [1, 2, S, S]), concat([full([1, 1, S, S], -2), full([1, 1, S, S], 1)], 1)], 0), ...constantFlows(S, 2, -1).slice(1)];
  const rightHalf = new Float32Array(2 * S * S);
  for (let y = 0; y < S; y++) for (let x = S / 2; x < S; x++) rightHalf[y * S + x] = 1;
  const score = async (ex?: Tensor) => scope(() => flowLoss(a, b, flows, cfg, ex).photometric).item();
  const all = await score();
  const none = await score(zeros([2, 1, S, S]));
  const cut = await score(tensor(rightHalf, [2, 1, S, S]));
  assert.is(none, all, 'excluding nothing changes nothing');
  assert.ok(cut < 0.6 * all, `leaving out the wrong half: ${cut} vs ${all}`);
  throwsMatching(() => flowLoss(a, b, flows, cfg, zeros([1, 1, S, S])), /^flowLoss: exclude must be \[2, 1, 64, 64\], got \[1, 1, 64, 64\]/, 'exclude shape');
  for (const t of [a, b, ...flows]) t.dispose();
});

loss('smoothness is zero for an affine flow and, for a kinked one, what FLOW.md §6.3 gives by hand (and the first-order variant); gradients reach the flows', async () => {
  const S = 64;
  const [a, b] = texturePair(S, 0, 0);
  const cfg = { ...STAGE1, wScales: [0, 0, 0, 0, 0] };
  const ramp = (kink: boolean) => [0, 1, 2, 3, 4].map((s) => {
    const n = S >> s;
    const d = new Float32Array(4 * n * n);
    for (let i = 0; i < n * n; i++) {
      const x = i % n;
      d[i] = kink ? Math.abs(x - n / 2) * 0.1 : x * 0.1;
    }
    return tensor(d, [2, 2, n, n], { requiresGrad: s === 0 });
  });
  const flat = ramp(false);
  const l0 = await scope(() => flowLoss(a, b, flat, cfg).smooth).item();
  assert.ok(Math.abs(l0) < 1e-7, `affine flow smoothness ${l0}`);
  const kinked = ramp(true);
  const l1 = scope(() => flowLoss(a, b, kinked, cfg).total);
  // FLOW.md §6.3 on the host: the ramp fills the first flow's u only (n² of its 4n² values); its kink's second
  // difference along x is 0.2 (÷ S, the flow's scale) at column S/2 of every row, weighted by wx there
  // (exp(-10 · mean_c |∂x I|) of that direction's frame, a); ∂yy F = 0. smooth = ½ Σ_dir ½ (mean wx·|∂xx F| + 0)
  // with the mean over both channels, the total wSmooth times that.
  const img = await a.data();
  let acc = 0;
  for (let y = 0; y < S; y++) {
    let d = 0;
    for (let c = 0; c < 3; c++) d += Math.abs(img[(c * S + y) * S + S / 2 + 1]! - img[(c * S + y) * S + S / 2]!) / 3;
    acc += Math.exp(-10 * d) * (0.2 / S);
  }
  const want = (0.25 * acc) / (2 * S * (S - 2));
  const smooth = await scope(() => flowLoss(a, b, kinked, cfg).smooth).item();
  assert.ok(Math.abs(smooth - want) < 1e-3 * want, `kinked flow smoothness ${smooth}, by hand ${want}`);
  assert.ok(Math.abs((await l1.item()) - cfg.wSmooth * want) < 1e-3 * cfg.wSmooth * want, 'the total is wSmooth times it');
  // first order (smoothOrder 1): |∂x F| = 0.1 (÷ S) between every pair of columns, each weighted by the edge between
  // them; ∂y F = 0
  let acc1 = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x + 1 < S; x++) {
      let d = 0;
      for (let c = 0; c < 3; c++) d += Math.abs(img[(c * S + y) * S + x + 1]! - img[(c * S + y) * S + x]!) / 3;
      acc1 += Math.exp(-10 * d) * (0.1 / S);
    }
  }
  const want1 = (0.25 * acc1) / (2 * S * (S - 1));
  const smooth1 = await scope(() => flowLoss(a, b, kinked, { ...cfg, smoothOrder: 1 }).smooth).item();
  assert.ok(Math.abs(smooth1 - want1) < 1e-3 * want1, `kinked flow first-order smoothness ${smooth1}, by hand ${want1}`);
  l1.backward();
  const g = await kinked[0]!.grad!.data();
  assert.ok(g.some((x) => x !== 0), 'gradient reaches the flow');
  for (const t of [a, b, l1, ...flat, ...kinked]) t.dispose();
});

loss('end-point errors of a known field', () => {
  const pred = new Float32Array([1, 0, 0, 0, /* v */ 0, 0, 0, 0]);
  const gt = new Float32Array([1, 0, 3, 4, 0, 0, 0, 0]); // interleaved: (1,0) (3,4) (0,0) (0,0)
  const r = endPointErrors(pred, gt, 2, 2);
  assert.ok(Math.abs(r.epe - 5) < 1e-9 && Math.abs(r.zero - 6) < 1e-9, JSON.stringify(r));
  throwsMatching(() => endPointErrors(pred, gt.subarray(2), 2, 2), /2x2x2/, 'sizes');
});

model.run();
adam.run();
loss.run();
