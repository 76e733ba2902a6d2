// Images on the CPU: RGB(A) pixel buffers, resampling and conversion to and from tensors. Browser-safe (no Node
// APIs); decoding and encoding files lives in src/io/files.ts.

import { EngineError } from '../runtime/engine.js';
import type { Tensor } from '../tensor.js';
import { tensor } from '../ops/creation.js';

/** 8-bit pixels, row-major, `channels` values per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
export interface Image {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

/** RGB floats in [0, 1], planar [3, H, W]. Gray is replicated; alpha is composited over black (as PIL's convert). */
export function toPlanarRGB(img: Image): Float32Array {
  const { width: W, height: H, channels: C, data } = img;
  if (data.length !== W * H * C) throw new EngineError(`image: ${data.length} bytes do not hold ${W}x${H} pixels of ${C} channels`);
  const out = new Float32Array(3 * W * H);
  for (let i = 0; i < W * H; i++) {
    const px = i * C;
    const gray = C <= 2;
    const alpha = C === 2 ? data[px + 1]! / 255 : C === 4 ? data[px + 3]! / 255 : 1;
    for (let c = 0; c < 3; c++) out[c * W * H + i] = (data[px + (gray ? 0 : c)]! / 255) * alpha;
  }
  return out;
}

/**
 * Resample planar channels [C, H, W] to [C, outH, outW] with a triangle (bilinear) filter whose support widens when
 * shrinking — the antialiased bilinear resize of PIL that DTVNet's data pipeline used (DTVNET.md §7).
 */
export function resizePlanar(src: Float32Array, C: number, H: number, W: number, outH: number, outW: number): Float32Array {
  const pass = (input: Float32Array, rows: number, n: number, m: number, stride: number, along: 'x' | 'y'): Float32Array => {
    // resample n -> m along one axis; `rows` independent lines of the other axis
    const scale = n / m;
    const support = Math.max(1, scale);
    const weights: { start: number; w: Float32Array }[] = [];
    for (let j = 0; j < m; j++) {
      const center = (j + 0.5) * scale;
      const start = Math.max(0, Math.floor(center - support));
      const stop = Math.min(n, Math.ceil(center + support));
      const w = new Float32Array(stop - start);
      let total = 0;
      for (let k = start; k < stop; k++) {
        const v = Math.max(0, 1 - Math.abs((k + 0.5 - center) / support));
        w[k - start] = v;
        total += v;
      }
      for (let k = 0; k < w.length; k++) w[k]! /= total || 1;
      weights.push({ start, w });
    }
    const out = new Float32Array((input.length / n) * m);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < m; j++) {
        const { start, w } = weights[j]!;
        let acc = 0;
        for (let k = 0; k < w.length; k++) {
          const idx = along === 'x' ? r * n + start + k : (start + k) * stride + r;
          acc += w[k]! * input[idx]!;
        }
        out[along === 'x' ? r * m + j : j * stride + r] = acc;
      }
    }
    return out;
  };
  const out = new Float32Array(C * outH * outW);
  for (let c = 0; c < C; c++) {
    const plane = src.subarray(c * H * W, (c + 1) * H * W);
    const horiz = pass(plane, H, W, outW, 0, 'x'); // [H, outW]
    const vert = pass(horiz, outW, H, outH, outW, 'y'); // [outH, outW]
    out.set(vert, c * outH * outW);
  }
  return out;
}

export type Fit = 'stretch' | 'crop';

/**
 * A still image as DTVNet's input tensor [1, 3, size, size] in [-1, 1]: 'stretch' resizes the whole image to a
 * square (what the spec's data pipeline does to 640x360 frames), 'crop' takes the centred square first.
 */
export function imageToInput(img: Image, size = 128, fit: Fit = 'stretch'): Tensor {
  if (!(img.width >= 1 && img.height >= 1)) throw new EngineError(`image: ${img.width}x${img.height} is empty`);
  let rgb = toPlanarRGB(img);
  let H = img.height;
  let W = img.width;
  if (fit === 'crop' && H !== W) {
    const s = Math.min(H, W);
    const y0 = Math.floor((H - s) / 2);
    const x0 = Math.floor((W - s) / 2);
    const crop = new Float32Array(3 * s * s);
    for (let c = 0; c < 3; c++) for (let y = 0; y < s; y++) crop.set(rgb.subarray(c * H * W + (y + y0) * W + x0, c * H * W + (y + y0) * W + x0 + s), c * s * s + y * s);
    rgb = crop;
    H = W = s;
  } else if (fit !== 'stretch' && fit !== 'crop') {
    throw new EngineError(`image: fit must be 'stretch' or 'crop', got '${String(fit)}'`);
  }
  const resized = H === size && W === size ? rgb : resizePlanar(rgb, 3, H, W, size, size);
  for (let i = 0; i < resized.length; i++) resized[i] = resized[i]! * 2 - 1;
  return tensor(resized, [1, 3, size, size]);
}

export type FrameScaling = 'tanh' | 'stretch';

/**
 * The frames of one video [3, T, H, W] as RGBA images. 'tanh' maps the generator's [-1, 1] to [0, 255]; 'stretch'
 * min-max stretches every frame to the full range, as the released test code did before writing PNGs.
 */
export function videoToFrames(video: Float32Array, T: number, H: number, W: number, scaling: FrameScaling = 'tanh'): Image[] {
  const frames: Image[] = [];
  const plane = H * W;
  for (let t = 0; t < T; t++) {
    let lo = -1;
    let hi = 1;
    if (scaling === 'stretch') {
      lo = Infinity;
      hi = -Infinity;
      for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) {
        const v = video[(c * T + t) * plane + i]!;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      if (hi <= lo) hi = lo + 1;
    }
    const data = new Uint8ClampedArray(plane * 4);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) data[4 * i + c] = Math.round(((video[(c * T + t) * plane + i]! - lo) / (hi - lo)) * 255);
      data[4 * i + 3] = 255;
    }
    frames.push({ width: W, height: H, channels: 4, data });
  }
  return frames;
}
