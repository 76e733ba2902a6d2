// This engine as a peer: the same generator (same seed and initialisation as export.ts), same inputs and timing
// loop (timing.mjs). Usage: node --import tsx bench/peers/ours.ts <batch> <seconds>; prints one JSON line.
import { init, close, DTVG, manualSeed, tensor, noGrad } from '../../src/node.js';
import { timePeer } from './timing.mjs';

const batch = Number(process.argv[2] ?? 1);
const seconds = Number(process.argv[3] ?? 10);
const e = await init();
manualSeed(1);
const g = new DTVG().eval();
const image = tensor(Float32Array.from({ length: batch * 3 * 128 * 128 }, (_, i) => Math.sin(i) * 0.5), [batch, 3, 128, 128]);
const z = tensor(Float32Array.from({ length: batch * 512 }, (_, i) => Math.cos(i)), [batch, 512]);
const run = async () => {
  const { video, flows } = noGrad(() => g.forward(image, z));
  await video.data();
  video.dispose();
  flows.dispose();
};
await timePeer(`dtvnet-webgpu (${e.adapter.description || e.adapter.device})`, batch, seconds, run);
await close();
