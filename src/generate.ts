// The public generation API: one still image in, time-lapse frames out. Browser-safe.

import { EngineError } from './runtime/engine.js';
import { Tensor, noGrad, scope } from './tensor.js';
import { randn } from './ops/creation.js';
import { concat, expand, slice } from './ops/shape.js';
import type { DTVG } from './models/dtvnet.js';
import { imageToInput, videoToFrames, type Fit, type FrameScaling, type Image } from './io/image.js';

export interface GenerateOptions {
  /** one video per seed: its motion vector is z ~ N(0, I) drawn with that seed (default: [0]) */
  seeds?: number[];
  /** motion vectors [K, dlatent] to use instead of seeds (e.g. a FlowEncoder's output for a real clip) */
  motion?: Tensor;
  /** how a non-square image becomes 128x128: 'stretch' (the spec's pipeline, default) or centred 'crop' */
  fit?: Fit;
  /** 'tanh' maps [-1, 1] to [0, 255] (default); 'stretch' min-max stretches each frame like the released test code */
  scaling?: FrameScaling;
  /** videos per generator forward (default 4) */
  batch?: number;
  /** called after each batch with (videos done, videos total) */
  onProgress?: (done: number, total: number) => void;
}

export interface GeneratedVideo {
  /** the seed of its motion vector, or null when the motion was given */
  seed: number | null;
  /** T frames, RGBA */
  frames: Image[];
}

/**
 * Generate time-lapse videos from one still image with a DTVNet generator. The generator runs in evaluation mode
 * (batch norm uses its running statistics); each video's motion comes from its own seed or motion vector.
 */
export async function generate(model: DTVG, image: Image, opts: GenerateOptions = {}): Promise<GeneratedVideo[]> {
  const size = 128;
  const dl = model.opts.dlatentSize;
  const seeds = opts.motion ? null : opts.seeds ?? [0];
  if (seeds && (!seeds.length || seeds.some((s) => !Number.isInteger(s)))) throw new EngineError(`generate: seeds must be a non-empty list of integers, got ${JSON.stringify(opts.seeds)}`);
  if (opts.motion && (opts.motion.rank !== 2 || opts.motion.shape[1] !== dl)) throw new EngineError(`generate: motion must be [K, ${dl}], got [${opts.motion.shape.join(', ')}]`);
  const total = seeds ? seeds.length : opts.motion!.shape[0]!;
  const batch = Math.max(1, Math.min(opts.batch ?? 4, total));
  const wasTraining = model.training;
  model.eval();
  const out: GeneratedVideo[] = [];
  try {
    const input = imageToInput(image, size, opts.fit ?? 'stretch');
    try {
      for (let k0 = 0; k0 < total; k0 += batch) {
        const n = Math.min(batch, total - k0);
        const video = await scope(async () => {
          const z = seeds
            ? concat(seeds.slice(k0, k0 + n).map((s) => randn([1, dl], { seed: s })), 0)
            : slice(opts.motion!, 0, k0, k0 + n);
          const img = n === 1 ? input : expand(input, [n, 3, size, size]);
          const { video: v, flows } = noGrad(() => model.forward(img, z));
          flows.dispose(); // free the large outputs as soon as possible rather than at the scope's end
          const data = await v.data();
          v.dispose();
          return data;
        });
        const T = model.opts.frames;
        const H = size; // the decoder brings the encoder's 64x64 back to the input size
        const per = 3 * T * H * H;
        for (let i = 0; i < n; i++) {
          out.push({ seed: seeds ? seeds[k0 + i]! : null, frames: videoToFrames(video.subarray(i * per, (i + 1) * per), T, H, H, opts.scaling ?? 'tanh') });
        }
        opts.onProgress?.(k0 + n, total);
      }
    } finally {
      input.dispose();
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}
