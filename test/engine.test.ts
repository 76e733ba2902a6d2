// Runtime: buffer pool, memory accounting, scopes, batching, readback, errors, random numbers, the template step.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  engine, tensor, zeros, ones, full, rand, randn, manualSeed, add, mul, sum, matmul, scope, keep, memory, preprocess,
  sizeClass, Engine, EngineError, KERNEL_FILES, type KernelSources, readKernels, instanceNorm, adain, grad, convTranspose3d, conv3d,
  sleepyWait,
} from '../src/node.js';
import { create as createGpu } from 'webgpu';
import { setEngine } from '../src/tensor.js';
import { setup, throwsMatching, rejectsMatching } from './helpers.js';

const pool = suite('buffer pool and memory');
pool.before(setup);

pool('size classes round up by at most 1/8 and are 16-byte multiples', () => {
  for (const n of [1, 4, 15, 16, 17, 1000, 1025, 4096, 5000, 123457, 1 << 20]) {
    const c = sizeClass(n);
    assert.ok(c >= n && c % 16 === 0, `class ${c} for ${n}`);
    if (n > 1024) assert.ok(c <= n * 1.125 + 16, `class ${c} wastes too much for ${n}`);
  }
});

pool('a disposed tensor buffer is reused by the next tensor of its size class', async () => {
  await engine().sync();
  const before = memory();
  const a = zeros([1000]);
  const mid = memory();
  assert.is(mid.liveBytes - before.liveBytes, sizeClass(4000));
  a.dispose();
  const after = memory();
  assert.is(after.liveBytes, before.liveBytes);
  assert.is(after.pooledBytes, mid.pooledBytes + sizeClass(4000));
  const b = zeros([999]); // same class
  assert.is(memory().pooledBytes, after.pooledBytes - sizeClass(4000), 'taken from the pool');
  b.dispose();
});

pool('peak tracks the high-water mark and resetPeak() lowers it', () => {
  engine().resetPeak();
  const base = memory().peakBytes;
  const t = zeros([1 << 16]);
  t.dispose();
  assert.ok(memory().peakBytes >= base + (1 << 18));
  engine().resetPeak();
  assert.is(memory().peakBytes, memory().liveBytes);
});

pool('reshape is a view: no new buffer, storage freed only with the last handle', async () => {
  const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const live = memory().liveBuffers;
  const v = a.reshape([3, 2]);
  assert.is(memory().liveBuffers, live);
  a.dispose();
  assert.is(memory().liveBuffers, live, 'the view keeps the storage');
  assert.equal([...(await v.data())], [1, 2, 3, 4, 5, 6]);
  v.dispose();
  assert.is(memory().liveBuffers, live - 1);
});

const life = suite('lifetime and scopes');
life.before(setup);

life('scope frees intermediates and keeps what it returns', async () => {
  const live = memory().liveBuffers;
  const out = scope(() => {
    const a = ones([64]);
    const b = mul(a, 3);
    return { result: add(b, 1), note: 'x' };
  });
  assert.is(memory().liveBuffers, live + 1);
  assert.equal([...(await out.result.data())].slice(0, 2), [4, 4]);
  out.result.dispose();
  assert.is(memory().liveBuffers, live);
});

life('keep() exempts a tensor from its scope', () => {
  const live = memory().liveBuffers;
  let kept: ReturnType<typeof ones> | null = null;
  scope(() => {
    kept = keep(ones([8]));
    ones([8]);
  });
  assert.is(memory().liveBuffers, live + 1);
  kept!.dispose();
});

life('nested scopes hand returned tensors to the enclosing scope', () => {
  const live = memory().liveBuffers;
  scope(() => {
    const inner = scope(() => ones([4]));
    assert.not.ok(inner.isDisposed);
  });
  assert.is(memory().liveBuffers, live);
});

life('a scope that throws still frees its tensors', () => {
  const live = memory().liveBuffers;
  try {
    scope(() => {
      ones([16]);
      throw new Error('boom');
    });
  } catch {
    /* expected */
  }
  assert.is(memory().liveBuffers, live);
});

life('async scope frees after the promise settles', async () => {
  const live = memory().liveBuffers;
  const v = await scope(async () => {
    const t = full([4], 2.5);
    return (await t.data())[0];
  });
  assert.is(v, 2.5);
  assert.is(memory().liveBuffers, live);
});

life('use after dispose is a clear error; dispose twice is harmless', async () => {
  const t = ones([3]);
  t.dispose();
  t.dispose();
  throwsMatching(() => add(t, t), /used after dispose\(\)/, 'add');
  try {
    await t.data();
    assert.unreachable('data() after dispose');
  } catch (e) {
    assert.match((e as Error).message, /tensor #\d+ \[3\] was used after dispose/);
  }
});

life('disposing an input the graph needs is safe: backward still works', async () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const h = mul(x, x);
  const y = sum(h);
  h.dispose(); // the graph holds its own handle
  y.backward();
  assert.equal([...(await x.grad!.data())], [2, 4, 6]);
  y.dispose();
  x.dispose();
});

const batching = suite('command batching and readback');
batching.before(setup);

batching('many ops and the readback copy are recorded into one submit', async () => {
  await engine().sync();
  const e = engine();
  const s0 = e.submitCount;
  const d0 = e.dispatchCount;
  const r = scope(() => {
    let t = ones([256]);
    for (let i = 0; i < 20; i++) t = add(t, 1);
    return t;
  });
  assert.is(e.submitCount, s0, 'nothing submitted before a readback');
  assert.ok(e.dispatchCount - d0 >= 21);
  const v = await r.data();
  assert.is(v[0], 21);
  assert.is(e.submitCount - s0, 1, 'one submit for the ops and the readback copy');
  r.dispose();
});

batching('a long recording is submitted every maxBatchDispatches dispatches, before any readback', async () => {
  const main = engine();
  await main.sync();
  for (const bad of [0, 1.5]) {
    await rejectsMatching(Engine.create({ gpu: createGpu([]), kernels: readKernels(), maxBatchDispatches: bad }), /maxBatchDispatches must be an integer >= 1, got/, `maxBatchDispatches ${bad}`);
  }
  const small = await Engine.create({ gpu: createGpu([]), kernels: readKernels(), maxBatchDispatches: 8 });
  setEngine(small);
  try {
    const r = scope(() => {
      let t = ones([64]);
      for (let i = 0; i < 20; i++) t = add(t, 1);
      return t;
    });
    // ones + 20 adds = 21 dispatches: submitted after the 8th and the 16th, the rest with the readback
    assert.is(small.submitCount, 2, 'two submits before the readback');
    assert.is((await r.data())[0], 21);
    assert.is(small.submitCount, 3);
    r.dispose();
  } finally {
    setEngine(main);
    small.destroy();
  }
});

batching('fence() submits what is recorded and resolves when that work is done', async () => {
  const e = engine();
  await e.sync();
  const s0 = e.submitCount;
  const r = scope(() => add(ones([256]), 2));
  const done = e.fence();
  assert.is(e.submitCount, s0 + 1, 'submitted by the fence');
  await done;
  assert.is(e.submitCount, s0 + 1);
  assert.is((await r.data())[0], 3);
  r.dispose();
});

batching('every wait for the device goes through the engine\'s wait (sleepyWait in Node), which passes values and errors on', async () => {
  // sleepyWait: a value after a wait long enough for it to sleep between Dawn's polls, an error, an immediate value
  assert.is(await sleepyWait(new Promise((r) => setTimeout(() => r(7), 20))), 7);
  await rejectsMatching(sleepyWait(Promise.reject(new Error('device gone'))), /device gone/, 'a rejection passes through');
  assert.is(await sleepyWait(Promise.resolve('now')), 'now');
  // an engine with a counting wait: sync, a readback, fence and a profile all wait through it
  const main = engine();
  let waits = 0;
  const own = await Engine.create({ gpu: createGpu([]), kernels: readKernels(), wait: (p) => { waits++; return sleepyWait(p); } });
  setEngine(own);
  try {
    const t = add(ones([64]), 2);
    await own.sync();
    const afterSync = waits;
    assert.ok(afterSync >= 1, 'sync waited through it');
    assert.equal(Array.from(await t.data()).slice(0, 2), [3, 3]);
    assert.ok(waits > afterSync, 'the readback waited through it');
    const beforeFence = waits;
    add(t, 1).dispose();
    await own.fence();
    assert.ok(waits > beforeFence, 'fence waited through it');
    own.profileStart();
    add(t, 1).dispose();
    const beforeProfile = waits;
    await own.profileStop();
    assert.ok(waits > beforeProfile, 'profileStop waited through it');
    t.dispose();
  } finally {
    setEngine(main);
    own.destroy();
  }
});

batching('readback of a large tensor is exact', async () => {
  const n = 1 << 20;
  const src = new Float32Array(n);
  for (let i = 0; i < n; i++) src[i] = (i % 977) - 488.5;
  const t = tensor(src, [n]);
  const back = await t.data();
  assert.is(back.length, n);
  let same = true;
  for (let i = 0; i < n; i++) if (back[i] !== src[i]) same = false;
  assert.ok(same);
  t.dispose();
});

batching('uploading into a recycled buffer does not overwrite data pending work still reads', async () => {
  const a = full([1024], 7);
  const b = add(a, 1); // recorded, not submitted
  a.dispose(); // its buffer returns to the pool...
  const c = tensor(new Float32Array(1024).fill(-5), [1024]); // ...and may be written right now
  assert.is((await b.data())[0], 8);
  assert.is((await c.data())[0], -5);
  b.dispose();
  c.dispose();
});

batching('per-op profile: every dispatch is timed and attributed to its op and shapes', async () => {
  const e = engine();
  const a = ones([256, 256]);
  e.profileStart();
  const c = matmul(a, a);
  const d = sum(c);
  await d.data();
  const prof = await e.profileStop();
  assert.is(prof.method, e.adapter.timestamps ? 'timestamp' : 'wall');
  const mm = prof.entries.find((x) => x.label.startsWith('matmul [256, 256] · [256, 256]'));
  assert.ok(mm, `matmul entry in ${prof.entries.map((x) => x.label).join('; ')}`);
  assert.is(mm!.calls, 1);
  assert.ok(mm!.totalMs > 0 && mm!.totalMs < 10000, `matmul took ${mm!.totalMs} ms`);
  assert.ok(prof.entries.some((x) => x.kernel === 'reduce.reduce_rows'));
  for (const t of [a, c, d]) t.dispose();
});

const errors = suite('errors');
errors.before(setup);

errors('bad shapes and ranks are clear errors naming the op', () => {
  throwsMatching(() => zeros([3, 0]), /empty tensors are not supported/, 'empty');
  throwsMatching(() => zeros([2, -1]), /non-negative integers/, 'negative');
  throwsMatching(() => zeros([1.5]), /non-negative integers/, 'fraction');
  throwsMatching(() => zeros([1, 1, 1, 1, 1, 1, 1, 1, 2]), /rank 9 is above/, 'rank');
  throwsMatching(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/, 'tensor fill');
  throwsMatching(() => tensor([[1, 2], [3]]), /ragged/, 'ragged');
  throwsMatching(() => add(ones([2, 3]), ones([4])), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/, 'add');
  throwsMatching(() => matmul(ones([2, 3]), ones([4, 5])), /matmul: inner dimensions differ \(3 vs 4\)/, 'matmul');
  throwsMatching(() => matmul(ones([3]), ones([3, 2])), /matmul: both operands need rank >= 2/, 'matmul rank');
  throwsMatching(() => sum(ones([2, 3]), [2]), /sum: axis 2 is out of range/, 'sum axis');
  throwsMatching(() => ones([2]).backward(), /does not require grad/, 'backward');
  throwsMatching(() => add(ones([2]), 'x' as unknown as number), /add: operands must be Tensors or numbers/, 'add string');
});

errors('a tensor too large to bind is refused before any GPU call', () => {
  const lim = engine().limits.maxStorageBinding;
  throwsMatching(() => zeros([Math.ceil(lim / 4) + 16]), /maxStorageBufferBindingSize/, 'huge');
});

errors('a GPU validation error is thrown at the next sync and names the kernel and shapes', async () => {
  const e = engine();
  const t = ones([16]);
  await e.sync();
  // A deliberately broken dispatch: the unary kernel needs binding 3, we give it only binding 1.
  e.dispatch({ kernel: 'elementwise', entry: 'unary_vec4', constants: { OP: 0, WG: 64 }, params: new Uint32Array(36), buffers: [t.buffer], grid: [1, 1, 1], label: 'broken-op [16]' });
  try {
    await e.sync();
    assert.unreachable('no error');
  } catch (err) {
    assert.instance(err, EngineError);
    assert.match((err as Error).message, /WebGPU validation error in broken-op \[16\]/);
  }
  // the engine keeps working afterwards
  assert.is(await sum(t).item(), 16);
  t.dispose();
});

errors('workgroup counts past the limit are refused with the label', () => {
  const t = ones([4]);
  throwsMatching(
    () => engine().dispatch({ kernel: 'fill', entry: 'fill', constants: { DIST: 2, WG: 64 }, params: new Uint32Array(4), buffers: [t.buffer], grid: [70000, 1, 1], label: 'toobig [4]' }),
    /toobig \[4\]: workgroup count 70000 on axis x/,
    'grid',
  );
  t.dispose();
});

errors('an engine without an adapter explains how to get one', async () => {
  const fakeGpu = { requestAdapter: async () => null } as unknown as GPU;
  const kernels = Object.fromEntries(KERNEL_FILES.map((k) => [k, ''])) as KernelSources;
  try {
    await Engine.create({ gpu: fakeGpu, kernels });
    assert.unreachable('no error');
  } catch (err) {
    assert.match((err as Error).message, /No WebGPU adapter found.*tools\/setup\.sh/s);
  }
});

const plainPaths = suite('kernels without subgroups');
plainPaths.before(setup);

plainPaths('the kernels\' paths without subgroups (a device that lacks them) give the same results as with them', async () => {
  const main = engine();
  const host = (shape: number[], seed: number) => randn(shape, { seed }).data();
  const [a, b, x, gy, gam, bet, wt, gt, w8] = await Promise.all([
    host([37, 52], 1), host([52, 41], 2), host([2, 3, 5, 6, 8], 3), host([2, 3, 5, 6, 8], 4), host([2, 3], 5), host([2, 3], 6),
    host([3, 3, 3, 4, 4], 7), host([2, 3, 5, 12, 16], 8), host([8, 3, 3, 4, 4], 9),
  ]);
  // matmul (subgroup broadcast of A), instance norm and AdaIN forward and backward (subgroupAdd of the moments), the
  // generator's RGB transposed conv by the direct kernels and its input and weight gradients (the weight gradient's
  // patch_product2 shares x's loads by shuffles), an RGB conv to 8 channels (two channel groups per workgroup;
  // weights shuffled between lanes)
  const run = async () => {
    const xt = tensor(x, [2, 3, 5, 6, 8], { requiresGrad: true });
    const yi = instanceNorm(xt);
    const ya = adain(xt, tensor(gam, [2, 3]), tensor(bet, [2, 3]));
    const [gx] = grad(ya, xt, { gradOutputs: [tensor(gy, [2, 3, 5, 6, 8])] });
    const wtt = tensor(wt, [3, 3, 3, 4, 4], { requiresGrad: true });
    const yt = convTranspose3d(xt, wtt, null, { stride: [1, 2, 2], padding: 1, algorithm: 'direct' });
    const [gxt, gwt] = grad(yt, [xt, wtt], { gradOutputs: [tensor(gt, [2, 3, 5, 12, 16])] });
    const yc = conv3d(tensor(gt, [2, 3, 5, 12, 16]), tensor(w8, [8, 3, 3, 4, 4]), null, { stride: [1, 2, 2], padding: 1 });
    return Promise.all([matmul(tensor(a, [37, 52]), tensor(b, [52, 41])).data(), yi.data(), ya.data(), gx!.data(), yt.data(), gxt!.data(), gwt!.data(), yc.data()]);
  };
  const withSub = await run();
  const plain = await Engine.create({ gpu: createGpu([]), kernels: readKernels(), subgroups: false });
  assert.is(plain.adapter.subgroups, false, 'subgroups off');
  setEngine(plain);
  let without: Float32Array[];
  try {
    without = await run();
  } finally {
    setEngine(main);
    plain.destroy();
  }
  ['matmul', 'instanceNorm', 'adain', 'adain backward', 'convTranspose3d direct', 'its input gradient', 'its weight gradient', 'conv3d 3->8 direct'].forEach((name, k) => {
    const [u, v] = [withSub[k]!, without[k]!];
    assert.is(u.length, v.length);
    const worst = u.reduce((m, val, i) => Math.max(m, Math.abs(val - v[i]!) / (1 + Math.abs(val))), 0);
    assert.ok(worst < 1e-4, `${name}: largest difference ${worst}`);
  });
});

const random = suite('random numbers');
random.before(setup);

random('same seed, same numbers; other seed, other numbers', async () => {
  const a = await randn([1000], { seed: 42 }).data();
  const b = await randn([1000], { seed: 42 }).data();
  const c = await randn([1000], { seed: 43 }).data();
  assert.equal([...a], [...b]);
  assert.not.equal([...a], [...c]);
});

random('manualSeed makes the global sequence repeatable', async () => {
  manualSeed(7);
  const a1 = await rand([64]).data();
  const a2 = await rand([64]).data();
  manualSeed(7);
  const b1 = await rand([64]).data();
  assert.equal([...a1], [...b1]);
  assert.not.equal([...a1], [...a2]);
});

random('uniform and normal have the right moments', async () => {
  const n = 1 << 18;
  const u = await rand([n], { seed: 1, lo: -2, hi: 4 }).data();
  const z = await randn([n], { seed: 2, mean: 1, std: 3 }).data();
  const moments = (d: Float32Array) => {
    let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
    for (const v of d) { s += v; s2 += v * v; lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const m = s / d.length;
    return { m, sd: Math.sqrt(s2 / d.length - m * m), lo, hi };
  };
  const mu = moments(u);
  assert.ok(mu.lo >= -2 && mu.hi < 4, 'uniform range');
  assert.ok(Math.abs(mu.m - 1) < 0.02, `uniform mean ${mu.m}`);
  assert.ok(Math.abs(mu.sd - Math.sqrt(3)) < 0.02, `uniform sd ${mu.sd}`);
  const mz = moments(z);
  assert.ok(Math.abs(mz.m - 1) < 0.03, `normal mean ${mz.m}`);
  assert.ok(Math.abs(mz.sd - 3) < 0.03, `normal sd ${mz.sd}`);
});

const template = suite('kernel template step');

template('#if keeps or drops lines and preserves line numbers', () => {
  const src = 'a\n#if X\nb\n#else\nc\n#endif\nd';
  assert.equal(preprocess(src, { X: true }).split('\n'), ['a', '', 'b', '', '', '', 'd']);
  assert.equal(preprocess(src, { X: false }).split('\n'), ['a', '', '', '', 'c', '', 'd']);
  throwsMatching(() => preprocess('#if X\n', {}), /#if without #endif/, 'unclosed');
  throwsMatching(() => preprocess('#endif\n', {}), /#endif without #if/, 'stray');
});

for (const s of [pool, life, batching, errors, plainPaths, random, template]) s.run();
