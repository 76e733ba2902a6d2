// ONNX Runtime peer: times the exported generator with one execution provider.
// Usage: node bench/peers/ort.mjs <model.onnx> <cpu|webgpu> <batch> <seconds>; prints one JSON line.
import ort from 'onnxruntime-node';
import { timePeer } from './timing.mjs';

const [file, ep, batchArg, secondsArg] = process.argv.slice(2);
const batch = Number(batchArg ?? 1);
const seconds = Number(secondsArg ?? 10);
const session = await ort.InferenceSession.create(file, { executionProviders: [ep] });
const image = new ort.Tensor('float32', Float32Array.from({ length: batch * 3 * 128 * 128 }, (_, i) => Math.sin(i) * 0.5), [batch, 3, 128, 128]);
const z = new ort.Tensor('float32', Float32Array.from({ length: batch * 512 }, (_, i) => Math.cos(i)), [batch, 512]);
const run = async () => {
  const out = await session.run({ image, z });
  const v = Object.values(out)[0];
  await v.getData?.();
  return v;
};
await timePeer(`onnxruntime-node ${ep}`, batch, seconds, run);
