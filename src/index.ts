// dtvnet-webgpu core: browser-safe (nothing Node-only). Node users import the package root (src/node.ts), which
// adds device creation through the `webgpu` package and reads kernels/ from disk.

import { Engine, type EngineOptions } from './runtime/engine.js';
import { setEngine } from './tensor.js';

export { Engine, EngineError, DeviceLostError, sizeClass, type EngineOptions, type MemoryInfo, type ProfileEntry, type AdapterSummary } from './runtime/engine.js';
export { KERNEL_FILES, loadKernelsFromUrl, preprocess, type KernelSources } from './runtime/kernels.js';
export { Tensor, scope, keep, noGrad, isGradEnabled, engine } from './tensor.js';
export { GradNode, type BackwardOptions, type GradOptions } from './autograd.js';
export * from './ops/index.js';
export { Module } from './nn/module.js';
export * from './nn/layers.js';
export * from './io/safetensors.js';
export * from './models/dtvnet.js';
export * from './models/pwclite.js';
export { Adam, type AdamOptions } from './train/adam.js';
export { WeightAverage } from './train/average.js';
export * from './flow/loss.js';
export * from './flow/estimate.js';
export { refineFlow, refineEnergy, refineGradient, refineOptions, DEFAULT_REFINE, type RefineOptions } from './flow/refine.js';
export * from './io/flo.js';
export * from './io/npy.js';
export * from './data/synth.js';
export * from './io/image.js';
export { generate, type GenerateOptions, type GeneratedVideo } from './generate.js';

/** Create an engine from a WebGPU entry point and kernel sources, and make it the current one. */
export async function initWith(opts: EngineOptions): Promise<Engine> {
  const e = await Engine.create(opts);
  setEngine(e);
  return e;
}

/** Destroy the current engine (tests' teardown; a script can also just exit). */
export function shutdown(e: Engine): void {
  e.destroy();
  setEngine(null);
}

/** Memory statistics of the current engine: live bytes, pooled bytes, peak. */
export { memory } from './memory.js';
