// Writes the generator (the default PyTorch-style random initialisation from a fixed seed, evaluation mode; N(0, 0.02)
// weights would shrink the activations into denormal floats, which CPUs process far slower) as ONNX, and its weights as safetensors,
// for the peers. Usage: node --import tsx bench/peers/export.ts <out.onnx> [<out.safetensors>]
import { writeFileSync } from 'node:fs';
import { init, close, DTVG, manualSeed, saveSafetensors } from '../../src/node.js';
import { exportGenerator } from './onnx.js';

await init();
manualSeed(1);
const g = new DTVG().eval();
writeFileSync(process.argv[2]!, await exportGenerator(g));
if (process.argv[3]) await saveSafetensors(process.argv[3], g);
await close();
