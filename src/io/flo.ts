// Optical flow on the CPU: Middlebury .flo files, the Middlebury colour-wheel visualisation, and conversion between
// the planar [2, H, W] layout of flow tensors and the interleaved H×W×2 (u, v) layout of files and images.
// Browser-safe (bytes in, bytes out; no Node APIs).
//
// .flo (Baker et al., "A Database and Evaluation Methodology for Optical Flow", vision.middlebury.edu/flow):
//   float32 tag 202021.25 (the bytes 'PIEH'), int32 width, int32 height, then width*height (u, v) float32 pairs,
//   row-major, everything little-endian. Nothing may follow the data.

/** A .flo file that cannot be read; the message names the file and what is wrong with it. */
export class FloError extends Error {
  override name = 'FloError';
}

/** The float32 that opens every .flo file; its little-endian bytes spell 'PIEH'. */
export const FLO_TAG = 202021.25;
/** Largest width or height a .flo file may claim (the limit of the Middlebury reader). */
const FLO_MAX_SIDE = 99999;
const FLO_HEADER = 12;
/** The Middlebury code treats |u| or |v| above this as unknown flow (files mark it with 1e10). */
const UNKNOWN_FLOW = 1e9;

function checkSize(what: string, flow: ArrayLike<number>, H: number, W: number): void {
  if (!Number.isInteger(H) || !Number.isInteger(W) || H <= 0 || W <= 0) {
    throw new RangeError(`${what}: size ${H}x${W} is not two positive integers`);
  }
  if (flow.length !== H * W * 2) {
    throw new RangeError(`${what}: ${flow.length} values do not hold a ${H}x${W} field of 2 components (${H * W * 2})`);
  }
}

// --------------------------------------------------------------------------------------------------------- .flo

/** Middlebury .flo bytes of an interleaved H×W×2 (u, v) flow field. */
export function encodeFlo(flow: Float32Array, H: number, W: number): Uint8Array {
  checkSize('encodeFlo', flow, H, W);
  if (H > FLO_MAX_SIDE || W > FLO_MAX_SIDE) throw new RangeError(`encodeFlo: ${H}x${W} exceeds the .flo limit of ${FLO_MAX_SIDE} per side`);
  const out = new Uint8Array(FLO_HEADER + flow.length * 4);
  const dv = new DataView(out.buffer);
  dv.setFloat32(0, FLO_TAG, true);
  dv.setInt32(4, W, true);
  dv.setInt32(8, H, true);
  for (let i = 0; i < flow.length; i++) dv.setFloat32(FLO_HEADER + 4 * i, flow[i]!, true);
  return out;
}

/**
 * Read Middlebury .flo bytes into an interleaved H×W×2 (u, v) field. `name` (usually the file name) is used in
 * errors. The tag, the sizes and the exact byte count are checked before any data is read.
 */
export function decodeFlo(bytes: Uint8Array, name: string): { H: number; W: number; flow: Float32Array } {
  if (bytes.length < FLO_HEADER) {
    throw new FloError(`${name}: truncated .flo file: ${bytes.length} bytes, the header alone is ${FLO_HEADER}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = dv.getFloat32(0, true);
  if (tag !== FLO_TAG) {
    const big = dv.getFloat32(0, false) === FLO_TAG;
    throw new FloError(
      big
        ? `${name}: big-endian .flo file (tag 'HEIP'); only little-endian .flo files are supported`
        : `${name}: not a .flo file: the tag is ${tag}, not ${FLO_TAG} ('PIEH')`,
    );
  }
  const W = dv.getInt32(4, true);
  const H = dv.getInt32(8, true);
  if (W <= 0 || H <= 0 || W > FLO_MAX_SIDE || H > FLO_MAX_SIDE) {
    throw new FloError(`${name}: .flo file claims an impossible size ${W}x${H} (width x height; each must be 1..${FLO_MAX_SIDE})`);
  }
  const want = FLO_HEADER + W * H * 8;
  if (bytes.length < want) {
    throw new FloError(`${name}: truncated .flo file: ${bytes.length} bytes, a ${W}x${H} field needs ${want}`);
  }
  if (bytes.length > want) {
    throw new FloError(`${name}: .flo file is too long: ${bytes.length} bytes, a ${W}x${H} field needs ${want}`);
  }
  const flow = new Float32Array(W * H * 2);
  for (let i = 0; i < flow.length; i++) flow[i] = dv.getFloat32(FLO_HEADER + 4 * i, true);
  return { H, W, flow };
}

// ------------------------------------------------------------------------------------------------------ layouts

/** Planar [2, H, W] (all u, then all v) -> interleaved H×W×2 (u, v per pixel). */
export function planarToInterleaved(flow: Float32Array, H: number, W: number): Float32Array {
  checkSize('planarToInterleaved', flow, H, W);
  const n = H * W;
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = flow[i]!;
    out[2 * i + 1] = flow[n + i]!;
  }
  return out;
}

/** Interleaved H×W×2 (u, v per pixel) -> planar [2, H, W] (all u, then all v). */
export function interleavedToPlanar(flow: Float32Array, H: number, W: number): Float32Array {
  checkSize('interleavedToPlanar', flow, H, W);
  const n = H * W;
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[i] = flow[2 * i]!;
    out[n + i] = flow[2 * i + 1]!;
  }
  return out;
}

// -------------------------------------------------------------------------------------------------- colour wheel

/**
 * The Middlebury colour wheel (makeColorwheel of the flow-code): 55 RGB colours in [0, 255], red -> yellow -> green
 * -> cyan -> blue -> magenta -> back toward red, in segments of 15, 6, 4, 11, 13 and 6 colours. Each segment ramps
 * one channel by floor(255 * j / n), j = 0..n-1.
 */
function makeColorWheel(): Uint8Array {
  const RY = 15, YG = 6, GC = 4, CB = 11, BM = 13, MR = 6;
  const wheel = new Uint8Array((RY + YG + GC + CB + BM + MR) * 3);
  let k = 0;
  const put = (r: number, g: number, b: number): void => {
    wheel[3 * k] = r;
    wheel[3 * k + 1] = g;
    wheel[3 * k + 2] = b;
    k++;
  };
  const ramp = (j: number, n: number): number => Math.floor((255 * j) / n);
  for (let j = 0; j < RY; j++) put(255, ramp(j, RY), 0);
  for (let j = 0; j < YG; j++) put(255 - ramp(j, YG), 255, 0);
  for (let j = 0; j < GC; j++) put(0, 255, ramp(j, GC));
  for (let j = 0; j < CB; j++) put(0, 255 - ramp(j, CB), 255);
  for (let j = 0; j < BM; j++) put(ramp(j, BM), 0, 255);
  for (let j = 0; j < MR; j++) put(255, 0, 255 - ramp(j, MR));
  return wheel;
}

const WHEEL = makeColorWheel();
const NCOLS = WHEEL.length / 3;

/**
 * The Middlebury colour coding of an interleaved H×W×2 (u, v) flow field (flowToColor / computeColor of Baker et
 * al.), as interleaved 8-bit RGB, H×W×3. The direction picks the hue: angle atan2(-v, -u) / π in [-1, 1] indexes
 * the 55-colour wheel, linearly interpolated between neighbouring colours (so +u, rightward, is red; +v, downward,
 * orange-yellow; -u cyan-blue; -v violet). The magnitude, divided by `maxMagnitude`, picks the saturation: 0 is
 * white, 1 the full wheel colour; beyond 1 the full colour is darkened by 0.75. `maxMagnitude` defaults to the
 * largest magnitude in the field (1 when the field is all zero). Pixels with a non-finite component, or one above
 * 1e9 (the Middlebury "unknown flow" marker), are black and take no part in the default maximum.
 */
export function flowToRgb(flow: Float32Array, H: number, W: number, opts: { maxMagnitude?: number } = {}): Uint8Array {
  checkSize('flowToRgb', flow, H, W);
  const n = H * W;
  const known = (u: number, v: number): boolean =>
    Number.isFinite(u) && Number.isFinite(v) && Math.abs(u) <= UNKNOWN_FLOW && Math.abs(v) <= UNKNOWN_FLOW;
  let maxRad = opts.maxMagnitude;
  if (maxRad === undefined) {
    maxRad = 0;
    for (let i = 0; i < n; i++) {
      const u = flow[2 * i]!;
      const v = flow[2 * i + 1]!;
      if (known(u, v)) maxRad = Math.max(maxRad, Math.hypot(u, v));
    }
    if (maxRad === 0) maxRad = 1;
  } else if (!(maxRad > 0) || !Number.isFinite(maxRad)) {
    throw new RangeError(`flowToRgb: maxMagnitude must be a positive finite number, not ${maxRad}`);
  }
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const u = flow[2 * i]!;
    const v = flow[2 * i + 1]!;
    if (!known(u, v)) continue; // black
    const rad = Math.hypot(u, v) / maxRad;
    // Negating keeps the reference's signed zeros: v = +0 gives atan2(-0, -u) = -π for u > 0, the start of the wheel.
    const a = Math.atan2(-v, -u) / Math.PI;
    const fk = ((a + 1) / 2) * (NCOLS - 1);
    const k0 = Math.floor(fk);
    const k1 = (k0 + 1) % NCOLS;
    const f = fk - k0;
    for (let c = 0; c < 3; c++) {
      const col0 = WHEEL[3 * k0 + c]! / 255;
      const col1 = WHEEL[3 * k1 + c]! / 255;
      let col = (1 - f) * col0 + f * col1;
      if (rad <= 1) col = 1 - rad * (1 - col); // toward white for small motion
      else col *= 0.75; // out of range
      out[3 * i + c] = Math.floor(255 * col);
    }
  }
  return out;
}
