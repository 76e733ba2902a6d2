// DTVNet's networks: parameter counts equal to the spec's table, the official state-dict keys, output shapes for the
// spec's inputs, determinism, and the motion-vector normalisation modes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DTVG, DTVD, FlowEncoder, manualSeed, randn, noGrad, scope, sub, abs, max, encodeSafetensors, decodeSafetensors } from '../src/node.js';
import { setup, throwsMatching } from './helpers.js';

const t = suite('models');
t.before(setup);

t('parameter counts equal DTVNET.md §6', () => {
  const count = (m: { numParameters(): number; dispose(): void }) => {
    const n = m.numParameters();
    m.dispose();
    return n;
  };
  assert.is(count(new DTVG()), 8_336_800, 'G, 2-D decoder');
  assert.is(count(new DTVG({ use2d: false })), 8_023_630, 'G, 3-D decoder');
  assert.is(count(new FlowEncoder()), 19_797_376, 'OFE (ngf 32)');
  assert.is(count(new DTVD()), 11_162_112, 'D (ndf 32)');
});

t('state-dict keys are the official PyTorch keys', () => {
  const g = new DTVG();
  const keys = [...g.stateDict().keys()];
  for (const k of [
    'share.1.weight', 'share.2.running_var', 'share.7.weight', 'img_path.8.conv_block.5.weight', 'img_path.0.conv_block.2.bias',
    'opt_path.conv.0.weight', 'opt_path.opt.4.linear.weight_orig', 'opt_path.model_img.5.conv_block.6.bias',
    'opt_path.model_A.3.2.linear.bias', 'opt_path.model_AdaIN.0.style.linear.weight_orig', 'opt_path.model_opt.0.bias',
    'decoder.0.weight', 'decoder.6.weight', 'decoder.7.running_mean', 'decoder.10.weight', 'decoder.10.bias',
  ]) assert.ok(keys.includes(k), `G has ${k}`);
  // EqualLinear entries come as bias, then weight_orig (DTVNET.md §14)
  assert.ok(keys.indexOf('opt_path.opt.0.linear.bias') === keys.indexOf('opt_path.opt.0.linear.weight_orig') - 1);
  assert.equal([...g.stateDict().get('decoder.6.weight')!.shape], [96, 96, 3, 3]);
  g.dispose();
  const d = new DTVD();
  assert.equal([...d.stateDict().keys()], ['slice1.0.weight', 'slice2.0.weight', 'slice2.3.weight', 'slice3.0.weight', 'slice3.3.weight', 'slice4.0.weight']);
  d.dispose();
  const f = new FlowEncoder();
  const fk = [...f.stateDict().keys()];
  assert.equal(fk.slice(0, 6), [1, 2, 3, 4, 5, 6].map((i) => `downConv${i}.weight`));
  assert.ok(fk.includes('downBN5.running_mean') && fk.at(-1) === 'fc1.bias');
  f.dispose();
});

t('output shapes for the spec inputs (full size, batch 1)', async () => {
  manualSeed(5);
  const g = new DTVG().eval();
  const d = new DTVD();
  const ofe = new FlowEncoder();
  await scope(async () => {
    const { video, flows } = noGrad(() => g.forward(randn([1, 3, 128, 128], { seed: 1 }), randn([1, 512], { seed: 2 })));
    assert.equal([...video.shape], [1, 3, 32, 128, 128]);
    assert.equal([...flows.shape], [1, 64, 64, 64]);
    const v = await video.data();
    assert.ok(v.every((x) => x >= -1 && x <= 1 && Number.isFinite(x)), 'tanh output in [-1, 1]');
    assert.equal([...noGrad(() => d.forward(video)).shape], [1, 1]);
    assert.equal([...noGrad(() => ofe.forward(randn([1, 2, 32, 128, 128], { seed: 3 }))).shape], [1, 512]);
  });
  for (const m of [g, d, ofe]) m.dispose();
});

// A scaled-down generator (ngf 16, 8 frames, 32x32 input) for the behaviour tests: same code paths, 1/100 the work.
const small = (latentNorm: 'batch' | 'none' = 'none') => new DTVG({ ngf: 16, frames: 8, nBlocks: 2, latentNorm }).eval();

t('same weights, image and z give bit-identical videos; another z gives another video', async () => {
  manualSeed(7);
  const g = small();
  const img = randn([1, 3, 32, 32], { seed: 1 });
  const run = async (seed: number) => scope(async () => noGrad(() => g.forward(img, randn([1, 512], { seed }))).video.data());
  const a = await run(10);
  const b = await run(10);
  const c = await run(11);
  assert.equal([...a], [...b]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - c[i]!));
  assert.ok(diff > 1e-3, `different z, different video (max diff ${diff})`);
  g.dispose();
});

t("latentNorm 'batch' (the code's) makes a single video independent of z; 'none' does not", async () => {
  manualSeed(8);
  const g = small('batch');
  const img = randn([1, 3, 32, 32], { seed: 1 });
  const out = (seed: number) => noGrad(() => g.forward(img, randn([1, 512], { seed }))).video;
  const d = await scope(async () => max(abs(sub(out(1), out(2)))).item());
  assert.is(d, 0, 'batch standardisation at batch 1 zeroes z');
  g.dispose();
  throwsMatching(() => new DTVG({ latentNorm: 'whatever' as 'none' }), /latentNorm must be 'batch' or 'none'/, 'mode');
});

t('a generator saved and loaded by name reproduces its output', async () => {
  manualSeed(9);
  const a = small();
  const img = randn([1, 3, 32, 32], { seed: 3 });
  const z = randn([1, 512], { seed: 4 });
  const ya = await scope(async () => noGrad(() => a.forward(img, z)).video.data());
  const file = decodeSafetensors(encodeSafetensors(await a.stateDictHost()));
  manualSeed(10);
  const b = small();
  b.loadStateDict(file.tensors);
  const yb = await scope(async () => noGrad(() => b.forward(img, z)).video.data());
  assert.equal([...yb], [...ya]);
  a.dispose();
  b.dispose();
});

t('bad inputs name the model and the shapes', () => {
  const g = small();
  throwsMatching(() => g.forward(randn([1, 1, 32, 32]), randn([1, 512])), /DTVG: image must be \[B, 3, H, W\], got \[1, 1, 32, 32\]/, 'gray image');
  throwsMatching(() => g.forward(randn([2, 3, 32, 32]), randn([1, 512])), /motion vector must be \[2, 512\], got \[1, 512\]/, 'z batch');
  g.dispose();
  const d = new DTVD(4);
  throwsMatching(() => d.forward(randn([1, 2, 8, 32, 32])), /DTVD: video must be \[B, 3, T, H, W\]/, 'critic input');
  d.dispose();
});

t.run();
