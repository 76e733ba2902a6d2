// Node entry point: creates the WebGPU device through Dawn (npm `webgpu`) and reads the WGSL kernels from disk.

import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './io/files.js';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import {
  Engine, EngineError, KERNEL_FILES, initWith, decodeSafetensors, encodeSafetensors, Module, DTVG, manualSeed,
  PWCLite, type DTVGOptions, type DType, type HostTensor, type KernelSources, type DecodedFile,
} from './index.js';

export * from './index.js';
export * from './data/sky.js';
export { PairDataset, trainFlow, evaluateFlow, type FlowTrainOptions, type EvalResult } from './flow/train.js';

// Dawn aborts the process if the GPU object from create() is garbage-collected while its device is in use, so it is
// created once and held here for the life of the process.
let gpu: GPU | null = null;
let current: Promise<Engine> | null = null;

function packageRoot(): string {
  // src/node.ts (tsx) and dist/src/node.js (built) both sit below the package root
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      readFileSync(join(dir, 'kernels', 'matmul.wgsl'));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new EngineError(`cannot find the kernels/ folder above ${fileURLToPath(import.meta.url)}`);
}

export function readKernels(root = packageRoot()): KernelSources {
  return Object.fromEntries(KERNEL_FILES.map((k) => [k, readFileSync(join(root, 'kernels', `${k}.wgsl`), 'utf8')])) as KernelSources;
}

export interface InitOptions {
  /** submit and check each dispatch alone so errors name one kernel (also: DTVNET_DEBUG=1) */
  debug?: boolean;
  /** extra Dawn toggles for create() */
  dawnFlags?: string[];
  /** wait for the device with plain awaits, Dawn polling it on every event-loop turn (default false: sleepyWait; also DTVNET_BUSY_WAIT=1) */
  busyWait?: boolean;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * The engine's wait in Node. While any WebGPU promise is pending, Dawn's Node binding polls the device on every turn
 * of the event loop (a setImmediate chain), so a plain await keeps one CPU core at 100 % — on lavapipe a core taken
 * from the driver's compute threads (2-core machine, `top -H` during a convolution's input gradient: the main thread
 * 99.9 %, lavapipe's two threads 35 % each). This wait lets Dawn poll freely for a while (0.2 ms, or 40 µs per
 * dispatch it covers, whichever is longer), then puts a sleep between the polls: a tenth of the time waited so far,
 * at most 1 ms, so a wait ends at most about 10 % (and 1 ms) after its work. The spin at the start is for runs of
 * tiny dispatches: with the main thread asleep the cores go idle between them, and lavapipe's threads then wake
 * slowly for each (200 dispatches of 4 floats: 6 ms spinning, 16 ms asleep). Measured on that machine: SGEMM 2048³
 * 734 → 486 ms, `dtvnet.generate b1` 871 → 460–500 ms, a PWC-Lite training step b4 3389 → 1675–1750 ms (README,
 * Benchmarks).
 */
export function sleepyWait<T>(p: Promise<T>, dispatches = 0): Promise<T> {
  waiting++;
  newest = performance.now();
  spin = Math.max(0.2, 0.04 * dispatches);
  if (!ticking) {
    ticking = true;
    setImmediate(tick);
  }
  return p.finally(() => {
    waiting--;
  });
}

// One ticker for all pending waits (a training loop keeps a fence pending while it awaits the previous one), timed
// from the newest wait's start.
let waiting = 0;
let newest = 0;
let spin = 0.2;
let ticking = false;

function tick(): void {
  if (!waiting) {
    ticking = false;
    return;
  }
  const waited = performance.now() - newest;
  if (waited >= spin) Atomics.wait(sleeper, 0, 0, Math.min(1, waited / 10));
  setImmediate(tick);
}

/** Create (once) and return the engine every tensor op uses. Safe to call many times. */
export function init(opts: InitOptions = {}): Promise<Engine> {
  if (current) return current;
  process.env.XDG_RUNTIME_DIR ??= '/tmp'; // silences a lavapipe warning
  current = (async () => {
    let webgpu: typeof import('webgpu');
    try {
      webgpu = await import('webgpu');
    } catch (e) {
      throw new EngineError(`cannot load the 'webgpu' package (${(e as Error).message}); run \`npm ci\` or \`bash tools/setup.sh\``);
    }
    Object.assign(globalThis, webgpu.globals);
    // full-resolution GPU timestamps (Dawn quantises them to 65 µs by default)
    gpu ??= webgpu.create(['disable-dawn-features=timestamp_quantization', ...(opts.dawnFlags ?? [])]);
    return initWith({ gpu, kernels: readKernels(), debug: opts.debug ?? process.env.DTVNET_DEBUG === '1', wait: (opts.busyWait ?? process.env.DTVNET_BUSY_WAIT === '1') ? undefined : sleepyWait });
  })();
  current.catch(() => {
    current = null;
  });
  return current;
}

/** Destroy the engine made by init() (a later init() makes a new one). */
export async function close(): Promise<void> {
  if (!current) return;
  const e = await current;
  current = null;
  e.destroy();
}

/**
 * Write a module's state dict (or any named tensors) to a .safetensors file. The file is written to a temporary
 * name next to the target and renamed into place, so a crash never leaves a half-written file behind.
 */
export async function saveSafetensors(path: string, source: Module | Map<string, HostTensor>, opts: { dtype?: DType; metadata?: Record<string, string> } = {}): Promise<void> {
  const tensors = source instanceof Module ? await source.stateDictHost() : source;
  writeFileAtomic(path, encodeSafetensors(tensors, opts));
}

/** Read a .safetensors file (F32 or F16 tensors); errors name the file and the tensor. */
export function loadSafetensors(path: string): Map<string, HostTensor> {
  return readSafetensorsFile(path).tensors;
}

/** A .safetensors file's tensors and its metadata; errors name the file and the tensor. */
export function readSafetensorsFile(path: string): DecodedFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new EngineError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return decodeSafetensors(bytes, { what: path });
}

export { readImage, writeGif, writePngFrames, writeMp4, hasFfmpeg, encodePng, writeFileAtomic, FileError } from './io/files.js';

/** Load a .safetensors file into a fresh model (checked by name and shape) and switch it to eval mode; the model is
 * freed when the file does not fit. */
function loadWeightsInto<M extends Module>(model: M, path: string, tensors = loadSafetensors(path)): M {
  try {
    model.loadStateDict(tensors, { what: path });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model.eval();
}

/**
 * A DTVNet generator: with `path`, the weights of a .safetensors file (official state-dict keys, checked by name and
 * shape); without, an untrained model (`trained: false`) with PyTorch's default layer initialisation drawn from
 * `seed`. (The code's N(0, 0.02) initialisation, `initWeightsNormal`, is for training: with untouched batch-norm
 * statistics its activations shrink into denormal floats, which make CPU adapters several times slower.)
 */
export async function loadGenerator(path?: string, opts: DTVGOptions & { seed?: number } = {}): Promise<{ model: DTVG; trained: boolean }> {
  await init();
  const { seed, ...g } = opts;
  manualSeed(seed ?? 0);
  const model = new DTVG(g);
  if (!path) return { model: model.eval(), trained: false };
  return { model: loadWeightsInto(model, path), trained: true };
}

/** The package's trained flow estimator (float16; README "Flow estimator" says how it was trained and how good it is). */
export const SHIPPED_FLOW_MODEL = 'src/assets/pwclite-synth.safetensors';

/**
 * PWC-Lite weights from `path` (ARFlow's state-dict keys), or the shipped model when no path is given. Eval mode. The
 * forward-pass options come from the file's metadata (corr_norm, input_norm; absent = ARFlow's plain pass).
 */
export async function loadFlowModel(path?: string): Promise<{ model: PWCLite; path: string }> {
  await init();
  const file = path ?? join(packageRoot(), SHIPPED_FLOW_MODEL);
  if (!existsSync(file)) {
    throw new EngineError(path ? `${path}: no such model file` : `the shipped flow estimator ${file} is missing from this installation (reinstall the package, or train one with \`dtvnet train-flow\` and pass --model)`);
  }
  const { tensors, metadata } = readSafetensorsFile(file);
  return { model: loadWeightsInto(new PWCLite(PWCLite.optionsFrom(metadata, file)), file, tensors), path: file };
}
