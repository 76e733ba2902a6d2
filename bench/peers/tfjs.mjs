// TensorFlow.js peer: the generator written with tfjs ops (NHWC) on tfjs-backend-webgpu, on the same Dawn/lavapipe
// adapter (npm `webgpu` provides navigator.gpu). Same layer shapes, weights from the exported safetensors file.
// Usage: node bench/peers/tfjs.mjs <weights.safetensors> <batch> <seconds>; prints one JSON line.
// The transposed convolution uses tfjs's 'same' padding, which shifts its output by one pixel against PyTorch's
// padding=1/output_padding=1; the work is identical, so the timing is comparable.
import { readFileSync } from 'node:fs';
import { create, globals } from 'webgpu';
import { timePeer } from './timing.mjs';

Object.assign(globalThis, globals);
const gpu = create([]);
globalThis.navigator = { gpu };
globalThis.__keepGpu = gpu; // Dawn must not lose this object while its device lives
const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-webgpu');
await tf.setBackend('webgpu');
await tf.ready();

const [file, batchArg, secondsArg] = process.argv.slice(2);
const batch = Number(batchArg ?? 1);
const seconds = Number(secondsArg ?? 10);

// safetensors (F32) -> tf tensors
const bytes = readFileSync(file);
const n = Number(bytes.readBigUInt64LE(0));
const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
const W = {};
for (const [k, v] of Object.entries(header)) {
  if (k === '__metadata__') continue;
  const [a, b] = v.data_offsets;
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + n + a, bytes.byteOffset + 8 + n + b));
  W[k] = { shape: v.shape, data };
}
const t = (k) => tf.tensor(W[k].data, W[k].shape);
const convW = (k) => tf.transpose(t(k), [2, 3, 1, 0]); // OIHW -> HWIO
const convTW = (k) => tf.transpose(t(k), [2, 3, 1, 0]); // [in, out, kh, kw] -> [kh, kw, out, in]
const P = {};
for (const k of Object.keys(W)) {
  if (/\.weight$/.test(k) && W[k].shape.length === 4) P[k] = k === 'decoder.6.weight' ? convTW(k) : convW(k);
  else if (k.endsWith('weight_orig')) P[k] = tf.mul(tf.transpose(t(k)), Math.sqrt(2 / W[k].shape[1])); // [in, out]
  else P[k] = t(k);
}

const conv = (x, pre, stride = 1, pad = 0, bias = false) => {
  const y = tf.conv2d(pad ? tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : x, P[`${pre}.weight`], stride, 'valid');
  return bias ? tf.add(y, P[`${pre}.bias`]) : y;
};
const bn = (x, pre) => tf.batchNorm(x, P[`${pre}.running_mean`], P[`${pre}.running_var`], P[`${pre}.bias`], P[`${pre}.weight`], 1e-5);
const reflect = (x, p) => tf.mirrorPad(x, [[0, 0], [p, p], [p, p], [0, 0]], 'reflect');
const res = (x, pre) => {
  let h = tf.relu(bn(conv(reflect(x, 1), `${pre}.conv_block.1`), `${pre}.conv_block.2`));
  h = bn(conv(reflect(h, 1), `${pre}.conv_block.5`), `${pre}.conv_block.6`);
  return tf.add(x, h);
};
const lin = (z, pre) => tf.add(tf.matMul(z, P[`${pre}.linear.weight_orig`]), P[`${pre}.linear.bias`]);

function forward(image, z) {
  return tf.tidy(() => {
    let x = reflect(image, 2);
    x = tf.relu(bn(conv(x, 'share.1'), 'share.2'));
    x = tf.relu(bn(conv(x, 'share.4', 2, 1), 'share.5'));
    x = tf.relu(bn(conv(x, 'share.7', 1, 1), 'share.8'));
    let img = x;
    for (let i = 0; i < 9; i++) img = res(img, `img_path.${i}`);
    let h = tf.relu(bn(conv(x, 'opt_path.conv.0', 1, 1), 'opt_path.conv.1'));
    let s = z;
    for (const j of [0, 2, 4]) s = tf.leakyRelu(lin(s, `opt_path.opt.${j}`), 0.2);
    for (let i = 0; i < 6; i++) {
      h = res(h, `opt_path.model_img.${i}`);
      const a = tf.leakyRelu(lin(tf.leakyRelu(lin(s, `opt_path.model_A.${i}.0`), 0.2), `opt_path.model_A.${i}.2`), 0.2);
      const st = lin(a, `opt_path.model_AdaIN.${i}.style`);
      const [gamma, beta] = tf.split(st, 2, 1);
      const { mean, variance } = tf.moments(h, [1, 2], true);
      const nrm = tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5)));
      h = tf.add(tf.mul(nrm, tf.reshape(gamma, [-1, 1, 1, 64])), tf.reshape(beta, [-1, 1, 1, 64]));
    }
    const flows = tf.leakyRelu(conv(h, 'opt_path.model_opt.0', 1, 1, true), 0.1);
    let d = tf.concat([img, flows], 3);
    d = tf.relu(bn(conv(d, 'decoder.0', 1, 1), 'decoder.1'));
    d = tf.relu(bn(conv(d, 'decoder.3', 1, 1), 'decoder.4'));
    d = tf.conv2dTranspose(d, P['decoder.6.weight'], [d.shape[0], 128, 128, 96], 2, 'same');
    d = tf.relu(bn(d, 'decoder.7'));
    return tf.tanh(conv(reflect(d, 2), 'decoder.10', 1, 0, true));
  });
}

const image = tf.transpose(tf.tensor(Float32Array.from({ length: batch * 3 * 128 * 128 }, (_, i) => Math.sin(i) * 0.5), [batch, 3, 128, 128]), [0, 2, 3, 1]);
const z = tf.tensor(Float32Array.from({ length: batch * 512 }, (_, i) => Math.cos(i)), [batch, 512]);
const run = async () => {
  const y = forward(image, z);
  await y.data();
  y.dispose();
};
await timePeer('tfjs-backend-webgpu', batch, seconds, run);
process.exit(0);
