// Autograd semantics: accumulation, no-grad, detach, retainGraph, grad() with non-leaf inputs, graph memory.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor, ones, add, mul, sum, square, exp, grad, noGrad, scope, memory, engine, isGradEnabled, matmul } from '../src/node.js';
import { setup, throwsMatching } from './helpers.js';

const t = suite('autograd');
t.before(setup);

const vals = async (x: { data(): Promise<Float32Array> }) => [...(await x.data())].map((v) => Math.round(v * 1e5) / 1e5);

t('gradients accumulate across backward calls and zeroGrad clears them', async () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  sum(mul(x, x)).backward();
  sum(mul(x, 3)).backward();
  assert.equal(await vals(x.grad!), [5, 7, 9]);
  x.zeroGrad();
  assert.is(x.grad, null);
  x.dispose();
});

t('a tensor used twice gets the sum of both paths', async () => {
  const x = tensor([2, -1], [2], { requiresGrad: true });
  const y = sum(add(mul(x, x), exp(x)));
  y.backward();
  assert.equal(await vals(x.grad!), [4 + Math.round(Math.exp(2) * 1e5) / 1e5, -2 + Math.round(Math.exp(-1) * 1e5) / 1e5]);
});

t('broadcast operands receive gradients summed back to their shape', async () => {
  const a = ones([2, 3], { requiresGrad: true });
  const b = tensor([1, 2, 3], [3], { requiresGrad: true });
  sum(mul(a, b)).backward();
  assert.equal(await vals(b.grad!), [2, 2, 2]);
  assert.equal(await vals(a.grad!), [1, 2, 3, 1, 2, 3]);
});

t('noGrad records nothing; isGradEnabled reflects it', () => {
  const x = ones([2], { requiresGrad: true });
  const y = noGrad(() => {
    assert.not.ok(isGradEnabled());
    return mul(x, 2);
  });
  assert.ok(isGradEnabled());
  assert.not.ok(y.requiresGrad);
  assert.is(y.node, null);
});

t('detach cuts the graph', async () => {
  const x = tensor([3], [1], { requiresGrad: true });
  const y = mul(x, x);
  const z = sum(mul(y.detach(), x)); // d/dx = y (treated as constant) = 9
  z.backward();
  assert.equal(await vals(x.grad!), [9]);
});

t('a second backward through a freed graph is a clear error; retainGraph allows it', async () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const y = sum(square(x));
  y.backward({ retainGraph: true });
  y.backward();
  assert.equal(await vals(x.grad!), [4, 8]);
  throwsMatching(() => y.backward(), /already freed.*retainGraph/, 'third backward');
});

t('non-scalar backward needs a gradient of the same shape', () => {
  const x = ones([2, 2], { requiresGrad: true });
  const y = mul(x, 2);
  throwsMatching(() => y.backward(), /gradient is needed for a non-scalar output of shape \[2, 2\]/, 'no gradient');
  throwsMatching(() => y.backward({ gradient: ones([3]) }), /gradient shape \[3\] does not match output shape \[2, 2\]/, 'bad gradient');
});

t('grad() returns gradients for non-leaf inputs and leaves .grad alone', async () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const h = mul(x, 3);
  const y = sum(square(h));
  const [gh, gx] = grad(y, [h, x]);
  assert.equal(await vals(gh!), [6, 12]);
  assert.equal(await vals(gx!), [18, 36]);
  assert.is(x.grad, null);
});

t('grad() with allowUnused gives null; without it, a clear error', () => {
  const x = ones([2], { requiresGrad: true });
  const u = ones([2], { requiresGrad: true });
  const y = sum(mul(x, 2));
  assert.is(grad(y, [x, u], { allowUnused: true, retainGraph: true })[1], null);
  throwsMatching(() => grad(y, [u]), /was not used to compute the outputs/, 'unused');
});

t('createGraph gives differentiable gradients (d²/dx² of x³ = 6x)', async () => {
  const x = tensor([1, -2, 0.5], [3], { requiresGrad: true });
  const y = sum(mul(mul(x, x), x));
  const [g] = grad(y, x, { createGraph: true });
  assert.ok(g!.requiresGrad);
  const [h] = grad(sum(g!), x);
  assert.equal(await vals(h!), [6, -12, 3]);
});

t('backward frees the graph: memory returns to where it was', async () => {
  const w = ones([64, 64], { requiresGrad: true });
  const x = ones([8, 64]);
  await engine().sync();
  const before = memory().liveBytes;
  scope(() => {
    const y = sum(square(matmul(x, w)));
    y.backward();
  });
  w.zeroGrad();
  assert.is(memory().liveBytes, before);
});

t('dropping an output without backward frees its graph', () => {
  const w = ones([32], { requiresGrad: true });
  const before = memory().liveBytes;
  const y = scope(() => sum(exp(mul(w, 2)))); // the scope frees the intermediates; y's graph keeps what it needs
  y.dispose();
  assert.is(memory().liveBytes, before);
});

t('requiresGrad_ on a computed tensor is refused', () => {
  const x = ones([2], { requiresGrad: true });
  throwsMatching(() => mul(x, 2).requiresGrad_(), /requiresGrad_\(\) is for leaf tensors/, 'non-leaf');
});

t.run();
