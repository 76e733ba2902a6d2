// nn.Module (names, state dicts, train/eval), layers, and safetensors I/O (round trips and every kind of bad file).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Module, Sequential, Conv2d, Conv3d, ConvTranspose2d, Linear, BatchNorm, InstanceNorm, ReLU, LeakyReLU, Pad2d, Tanh,
  encodeSafetensors, decodeSafetensors, halfToFloat, floatToHalf, saveSafetensors, loadSafetensors,
  manualSeed, randn, tensor, sum, mean, variance, scope, type HostTensor, type Tensor,
} from '../src/node.js';
import { setup, throwsMatching } from './helpers.js';

const st = suite('safetensors');

const host = (shape: number[], f: (i: number) => number): HostTensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)) });

st('F32 round trip keeps names, order, shapes, values and metadata', () => {
  const m = new Map<string, HostTensor>([['b.weight', host([2, 3], (i) => i - 2.5)], ['a', host([5], (i) => Math.PI * i)], ['s', host([], () => 7)]]);
  const bytes = encodeSafetensors(m, { metadata: { format: 'pt' } });
  const back = decodeSafetensors(bytes);
  assert.equal([...back.tensors.keys()], ['b.weight', 'a', 's']);
  assert.equal(back.metadata, { format: 'pt' });
  for (const [k, v] of m) {
    assert.equal(back.tensors.get(k)!.shape, v.shape);
    assert.equal([...back.tensors.get(k)!.data], [...v.data]);
  }
  // the data region starts 8-byte aligned
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is((8 + n) % 8, 0);
});

st('F16 storage: exact for representable values, rounds the rest to the nearest half', () => {
  const vals = [0, 1, -2, 0.5, 65504, 1e-3, 3.14159, -0.1, 6e-8, 1e6];
  const back = decodeSafetensors(encodeSafetensors([['x', { shape: [vals.length], data: Float32Array.from(vals) }]], { dtype: 'F16' }));
  const got = [...back.tensors.get('x')!.data];
  assert.equal(got.slice(0, 5), [0, 1, -2, 0.5, 65504]);
  assert.ok(Math.abs(got[5]! - 1e-3) < 1e-6);
  assert.ok(Math.abs(got[6]! - 3.14159) < 2e-3);
  assert.is(got[9], Infinity, 'overflow');
  assert.is(back.dtypes.get('x'), 'F16');
  for (const h of [0x3c00, 0xc000, 0x7bff, 0x0001, 0x8400, 0x3555]) assert.is(floatToHalf(halfToFloat(h)), h, `half ${h.toString(16)}`);
});

function withHeader(header: object, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

st('bad files are clear errors that name the problem and the tensor', () => {
  throwsMatching(() => decodeSafetensors(new Uint8Array(5), { what: 'f.safetensors' }), /f\.safetensors: 5 bytes is too short/, 'tiny');
  const good = encodeSafetensors([['w', host([4, 4], (i) => i)]]);
  throwsMatching(() => decodeSafetensors(good.subarray(0, good.length - 10)), /tensor 'w': data \[0, 64\) lies past the end/, 'truncated data');
  throwsMatching(() => decodeSafetensors(good.subarray(0, 20)), /header length \d+ does not fit/, 'truncated header');
  const junk = new Uint8Array(good);
  junk[9] = 0x7b; junk[10] = 0x7b; // '{{'
  throwsMatching(() => decodeSafetensors(junk), /header is not valid JSON/, 'json');
  throwsMatching(() => decodeSafetensors(withHeader({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, 16)), /tensor 'w': holds 12 bytes but shape \[2, 2\] of F32 needs 16/, 'size');
  throwsMatching(() => decodeSafetensors(withHeader({ w: { dtype: 'Q7', shape: [1], data_offsets: [0, 4] } }, 4)), /tensor 'w': unknown dtype "Q7"/, 'dtype');
  throwsMatching(() => decodeSafetensors(withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4)), /tensor 'w': shape \[-1\]/, 'shape');
  throwsMatching(
    () => decodeSafetensors(withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12)),
    /tensors 'a' and 'b' overlap/, 'overlap');
  throwsMatching(() => decodeSafetensors(withHeader({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8), { strictDtypes: true }), /dtype I64 is not supported/, 'strict dtype');
  // integer counters (PyTorch's num_batches_tracked) are skipped by default
  const skip = decodeSafetensors(withHeader({ n: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, 8));
  assert.is(skip.tensors.size, 0);
  assert.is(skip.dtypes.get('n'), 'I64');
});

const mod = suite('nn.Module and layers');
mod.before(setup);

class Tiny extends Module {
  readonly body = this.child('body', new Sequential(new Conv2d(3, 4, 3, { padding: 1, bias: false }), new BatchNorm(4), new ReLU()));
  readonly head = this.child('head', new Linear(4, 2));
  forward(x: Tensor): Tensor {
    return this.head.forward(mean(this.body.forward(x), [2, 3]));
  }
}

mod('state dict names and order follow PyTorch', () => {
  manualSeed(1);
  const m = new Tiny();
  assert.equal([...m.stateDict().keys()], [
    'body.0.weight', 'body.1.weight', 'body.1.bias', 'body.1.running_mean', 'body.1.running_var', 'head.weight', 'head.bias',
  ]);
  assert.equal(m.namedParameters().map(([k]) => k), ['body.0.weight', 'body.1.weight', 'body.1.bias', 'head.weight', 'head.bias']);
  assert.is(m.numParameters(), 4 * 3 * 9 + 4 + 4 + 8 + 2);
  m.dispose();
});

mod('parameter counts and shapes of the layers match PyTorch', () => {
  const count = (l: Module) => { const n = l.numParameters(); l.dispose(); return n; };
  assert.is(count(new Conv2d(3, 64, 5, { bias: false })), 4800); // DTVNet's first encoder conv
  assert.is(count(new Conv3d(3, 32, [3, 4, 4], { bias: false })), 4608); // the critic's first conv
  assert.is(count(new ConvTranspose2d(96, 96, 3, { bias: false })), 82944);
  assert.is(count(new Linear(512, 512)), 262656);
  assert.is(count(new BatchNorm(128)), 256);
  const ct = new ConvTranspose2d(5, 7, [3, 2]);
  assert.equal([...ct.weight.shape], [5, 7, 3, 2]);
  ct.dispose();
});

mod('same seed, same weights; the default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in))', async () => {
  manualSeed(3);
  const a = new Linear(100, 50);
  manualSeed(3);
  const b = new Linear(100, 50);
  const wa = await a.weight.data();
  assert.equal([...wa], [...(await b.weight.data())]);
  const bound = 0.1;
  assert.ok(wa.every((v) => v >= -bound && v < bound));
  assert.ok(Math.max(...wa) > 0.09 && Math.min(...wa) < -0.09, 'spread over the whole range');
  a.dispose();
  b.dispose();
});

mod('batch norm: training updates running statistics, eval uses them', async () => {
  const bn = new BatchNorm(2, { momentum: 0.5 });
  const x = randn([4, 2, 3, 3], { seed: 5, mean: 3, std: 2 });
  const y = bn.forward(x);
  const m = await mean(x, [0, 2, 3]).data();
  const v = await variance(x, [0, 2, 3], false, true).data();
  const rm = await bn.runningMean.data();
  const rv = await bn.runningVar.data();
  for (let c = 0; c < 2; c++) {
    assert.ok(Math.abs(rm[c]! - 0.5 * m[c]!) < 1e-5, 'running mean');
    assert.ok(Math.abs(rv[c]! - (0.5 + 0.5 * v[c]!)) < 1e-4, 'running var (unbiased)');
  }
  assert.ok(Math.abs(await mean(y).item()) < 1e-5, 'training output is normalised by batch statistics');
  bn.eval();
  const ye = bn.forward(x);
  const expect = (await x.data()).map((xv, i) => {
    const c = Math.floor(i / 9) % 2;
    return (xv - rm[c]!) / Math.sqrt(rv[c]! + 1e-5);
  });
  const got = await ye.data();
  assert.ok(got.every((g, i) => Math.abs(g - expect[i]!) < 1e-4), 'eval uses running statistics');
  bn.dispose();
});

mod('save and load through a file: same outputs, atomic write, clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dtvnet-'));
  manualSeed(11);
  const a = new Tiny();
  const x = randn([2, 3, 5, 5], { seed: 12 });
  a.eval();
  const ya = await a.forward(x).data();
  const file = join(dir, 'tiny.safetensors');
  await saveSafetensors(file, a);
  assert.ok(existsSync(file));
  assert.equal(readdirSync(dir), ['tiny.safetensors'], 'no temporary file left behind');
  manualSeed(99);
  const b = new Tiny();
  b.loadStateDict(loadSafetensors(file), { what: file });
  b.eval();
  assert.equal([...(await b.forward(x).data())], [...ya]);
  // errors name the tensor
  const sd = loadSafetensors(file);
  sd.set('head.weight', { shape: [3, 4], data: new Float32Array(12) });
  throwsMatching(() => b.loadStateDict(sd), /tensor 'head\.weight' has shape \[3, 4\], the model expects \[2, 4\]/, 'shape');
  sd.delete('head.weight');
  throwsMatching(() => b.loadStateDict(sd), /missing tensor 'head\.weight'/, 'missing');
  const extra = loadSafetensors(file);
  extra.set('tail.bias', { shape: [1], data: new Float32Array(1) });
  throwsMatching(() => b.loadStateDict(extra), /unexpected tensor\(s\), e\.g\. 'tail\.bias'/, 'extra');
  b.loadStateDict(extra, { strict: false });
  throwsMatching(() => loadSafetensors(join(dir, 'nope.safetensors')), /cannot read .*nope\.safetensors/, 'missing file');
  writeFileSync(join(dir, 'bad.safetensors'), readFileSync(file).subarray(0, 100));
  throwsMatching(() => loadSafetensors(join(dir, 'bad.safetensors')), /bad\.safetensors: /, 'truncated file');
  a.dispose();
  b.dispose();
});

mod('layers compute what their ops compute, and gradients reach every parameter', async () => {
  manualSeed(21);
  const net = new Sequential(new Pad2d(1), new Conv2d(2, 3, 3), new InstanceNorm(3, { affine: true }), new LeakyReLU(0.2), new Tanh());
  const x = randn([1, 2, 4, 4], { seed: 22 });
  const loss = scope(() => sum(net.forward(x)));
  loss.backward();
  for (const [k, p] of net.namedParameters()) assert.ok(p.grad, `${k} got a gradient`);
  assert.equal(net.namedParameters().map(([k]) => k), ['1.weight', '1.bias', '2.weight', '2.bias']);
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
  net.dispose();
  throwsMatching(() => new Linear(0, 3), /Linear: feature counts must be positive integers/, 'linear');
  throwsMatching(() => new Conv2d(3, 4, [3, 3, 3]), /Conv2d: channels and kernel sizes/, 'conv kernel');
});

for (const s of [st, mod]) s.run();
