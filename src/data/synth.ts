// SynthSky (DATA.md §2): procedural sky time-lapse clips with exactly known optical flow, on the CPU.
// Browser-safe (no Node APIs).
//
// A clip is a divergence-free velocity field v(x, y, t) = w(t) + ∇⊥ψ(x, y, t) (wind plus swirl modes). Particles move
// along it (classical RK4, 4 sub-steps per frame); the cloud layer is a function of the texture coordinate
// c = Φ_{t→0}(p), so it is transported exactly by the flow, and the ground-truth forward flow is
// F_t(p) = Φ_{t→t+1}(p) − p. A static foreground (ground below a noisy horizon) has F = 0.
//
// Portability (DATA.md §2.6): the noise uses 32-bit integer lattice hashing (Math.imul, >>> 0) and a fixed table of 8
// unit gradients, no trigonometry; the velocity field's cosines come from `cosine` (basic arithmetic only), so the
// output is bit-identical on every JavaScript engine. A WGSL port must use the same constants (PCG hash, salts,
// gradient tables, FBM_CONTRAST, sample offsets) and matches up to float32 and its own cos, compared with a tolerance.
//
// Speed: c = Φ_{t→0}(p) is integrated backwards from frame t for every anti-aliasing sample of every frame (O(T²)
// RK4 steps per sample, exactly as specified); the time-only terms are tabulated per clip, the integrator works on
// preallocated Float64Arrays in groups of 8 independent points, and steady fields continue frame t − 1's
// coordinates instead (bit-identical).

// ---------------------------------------------------------------------------------------------------------------
// Parameters

export type SynthMode = 'default' | 'pure-advection';

/** One swirl mode of the stream function ψ: (amp / |k|)·sin(kx·x + ky·y + phase + drift·t); peak speed `amp`. */
export interface SwirlMode {
  /** peak speed A_m, pixels per frame */
  amp: number;
  /** wave vector k_m, radians per pixel */
  kx: number;
  ky: number;
  /** phase φ_m, radians */
  phase: number;
  /** drift ω_m, radians per frame (0 for a steady mode) */
  drift: number;
}

/** Every per-clip parameter of SynthSky; plain JSON (lengths in pixels of a `size`×`size` frame). */
export interface SynthParams {
  version: 1;
  /** where the parameters came from (drawSynthParams), informational */
  seed: number;
  index: number;
  /** frame size the pixel quantities below refer to */
  size: number;
  mode: SynthMode;
  wind: {
    /** s_w, pixels per frame */
    speed: number;
    /** θ, radians (0 = towards +x, y down) */
    direction: number;
    /** a_w, relative modulation amplitude */
    modAmp: number;
    /** P_w, frames */
    modPeriod: number;
    /** φ_w, radians */
    modPhase: number;
  };
  swirl: SwirlMode[];
  /** base wavelength λ₀ of the density fBm, pixels (shading uses λ₀/2) */
  lambda0: number;
  /** κ: opacity = smoothstep(κ − 0.15, κ + 0.15, density) */
  coverage: number;
  /** offsets o added to c/λ₀ (density) and to c/(λ₀/2) (shading), noise-lattice units */
  densityOffset: [number, number];
  shadeOffset: [number, number];
  /** weight in [0, 1] of the warm tint (0.03, 0.02, 0) added to the cloud colour */
  tint: number;
  /** per-channel jitter added to both ends of the sky gradient */
  skyJitter: [number, number, number];
  /** y_h: the sky gradient reaches the horizon colour here; the ground starts below h(x) = y_h + fBm(x) */
  horizon: number;
  /** amplitude (pixels), base wavelength (pixels) and offset of the 3-octave horizon fBm */
  horizonAmp: number;
  horizonWavelength: number;
  horizonOffset: number;
  /** ground base colour (RGB in [0, 1]), modulated by a static 2-D noise texture of the given wavelength */
  ground: [number, number, number];
  groundWavelength: number;
  groundOffset: [number, number];
}

/** Deterministic PRNG on u32 (mulberry32): uniform numbers in [0, 1). Also the flow trainer's batch sampler. */
export function mulberry32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** PCG-style permuted congruential hash of a u32 (DATA.md §2.6); bit-exact with WGSL u32 arithmetic. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * The parameters of clip `index` of the data set `seed`, drawn from the ranges of DATA.md §2.2, §2.4 and §2.5 (pixel
 * quantities scaled by size/128). About 10 % of the clips are static (no wind, no swirl) and about 20 % are sky-only
 * (horizon below the frame).
 */
export function drawSynthParams(seed: number, index: number, size = 128): SynthParams {
  if (!(Number.isInteger(size) && size >= 2)) throw new Error(`drawSynthParams: size must be an integer >= 2, got ${size}`);
  const rng = mulberry32(pcgHash((pcgHash(seed >>> 0) + Math.imul(index >>> 0, 0x9e3779b9)) >>> 0));
  const U = (a: number, b: number) => a + (b - a) * rng();
  const sc = size / 128;
  const TAU = 2 * Math.PI;
  const deg = Math.PI / 180;

  // Draw every number unconditionally, in a fixed order, then apply the clip type.
  const isStatic = rng() < 0.1;
  const skyOnly = rng() < 0.2;
  const wind = {
    speed: U(0, 2) * sc,
    direction: U(-30, 30) * deg + (rng() < 0.5 ? Math.PI : 0),
    modAmp: U(0, 0.3),
    modPeriod: U(32, 128),
    modPhase: U(0, TAU),
  };
  const M = 2 + Math.min(2, Math.floor(rng() * 3));
  const swirl: SwirlMode[] = [];
  for (let m = 0; m < M; m++) {
    const wavelength = U(48, 160) * sc;
    const angle = U(0, TAU);
    const k = TAU / wavelength;
    swirl.push({ amp: U(0, 0.4) * sc, kx: k * cosine(angle), ky: k * sine(angle), phase: U(0, TAU), drift: U(-0.05, 0.05) });
  }
  const ampSum = swirl.reduce((a, s) => a + s.amp, 0);
  if (ampSum >= 0.95 * sc) for (const s of swirl) s.amp *= (0.95 * sc) / ampSum; // keep Σ A_m < 1 px/frame at 128
  const lambda0 = U(48, 128) * sc;
  const coverage = U(0.3, 0.7);
  const densityOffset: [number, number] = [U(0, 256), U(0, 256)];
  const shadeOffset: [number, number] = [U(0, 256), U(0, 256)];
  const tint = rng();
  const skyJitter: [number, number, number] = [U(-0.05, 0.05), U(-0.05, 0.05), U(-0.05, 0.05)];
  const horizonAmp = U(6, 20) * sc;
  const horizonWavelength = U(32, 96) * sc;
  const horizonOffset = U(0, 256);
  const yh = U(80, 120) * sc;
  const below = size - 1 + horizonAmp + U(1, 0.25 * size); // h(x) > H − 1 everywhere
  const earth = rng();
  const brightness = U(0.7, 1.2);
  const ground: [number, number, number] = [
    (0.1 + 0.14 * earth) * brightness,
    (0.17 - 0.01 * earth) * brightness,
    (0.07 + 0.03 * earth) * brightness,
  ];
  const groundWavelength = U(4, 10) * sc;
  const groundOffset: [number, number] = [U(0, 256), U(0, 256)];

  if (isStatic) {
    wind.speed = 0;
    for (const s of swirl) s.amp = 0;
  }
  return {
    version: 1, seed, index, size, mode: 'default', wind, swirl, lambda0, coverage, densityOffset, shadeOffset, tint,
    skyJitter, horizon: skyOnly ? below : yh, horizonAmp, horizonWavelength, horizonOffset, ground, groundWavelength,
    groundOffset,
  };
}

/** The same scene seen on a `size`×`size` grid: every pixel quantity scaled by size / p.size. */
export function rescaleSynthParams(p: SynthParams, size: number): SynthParams {
  if (!(Number.isInteger(size) && size >= 2)) throw new Error(`rescaleSynthParams: size must be an integer >= 2, got ${size}`);
  if (size === p.size) return p;
  const r = size / p.size;
  return {
    ...p,
    size,
    wind: { ...p.wind, speed: p.wind.speed * r },
    swirl: p.swirl.map((s) => ({ ...s, amp: s.amp * r, kx: s.kx / r, ky: s.ky / r })),
    lambda0: p.lambda0 * r,
    horizon: p.horizon * r,
    horizonAmp: p.horizonAmp * r,
    horizonWavelength: p.horizonWavelength * r,
    groundWavelength: p.groundWavelength * r,
    densityOffset: [...p.densityOffset],
    shadeOffset: [...p.shadeOffset],
    skyJitter: [...p.skyJitter],
    ground: [...p.ground],
    groundOffset: [...p.groundOffset],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Velocity field and flow map

const TWO_PI = 2 * Math.PI;
const INV_TWO_PI = 1 / TWO_PI;
const HALF_PI = Math.PI / 2;
/** 1.5·2^52: (v + ROUND) − ROUND rounds v to an integer (ties to even) for |v| < 2^51 */
const ROUND = 6755399441055744;
/** Taylor coefficients (−1)^k / (2k)!, k = 1..8 */
const C1 = -1 / 2;
const C2 = 1 / 24;
const C3 = -1 / 720;
const C4 = 1 / 40320;
const C5 = -1 / 3628800;
const C6 = 1 / 479001600;
const C7 = -1 / 87178291200;
const C8 = 1 / 20922789888000;

/**
 * cos(x) from basic arithmetic only, so SynthSky's output is bit-identical on every JavaScript engine (Math.cos is
 * not specified to the last bit): reduce to r ∈ [−π, π], take the degree-16 Taylor polynomial of cos(r/2)
 * (|r/2| ≤ π/2) and double the angle, cos r = 2·cos²(r/2) − 1. Absolute error below 1e-12 for |x| < 1e6. No
 * branches, so it is also faster than Math.cos in the integrator.
 */
export function cosine(x: number): number {
  const k = x * INV_TWO_PI + ROUND - ROUND;
  const h = 0.5 * (x - TWO_PI * k);
  const z = h * h;
  const c = 1 + z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * (C6 + z * (C7 + z * C8)))))));
  return 2 * c * c - 1;
}

/** sin(x) = cos(x − π/2), see cosine. */
export function sine(x: number): number {
  return cosine(x - HALF_PI);
}

/** points integrated together (see Field.integrate) */
const MAX_LANES = 8;

const NODES_PER_FRAME = 8; // RK4 stage times t0 + k·h/2 with h = ±1/4 fall on multiples of 1/8

/**
 * The velocity field of a clip, compiled: active modes as flat arrays and the time-only terms (wind, mode phases)
 * tabulated at every RK4 stage time of frames [tMin, tMax].
 */
class Field {
  readonly m: number;
  readonly kx: Float64Array;
  readonly ky: Float64Array;
  /** velocity per unit cos: A·k̂_y and −A·k̂_x */
  readonly ax: Float64Array;
  readonly ay: Float64Array;
  readonly drift: Float64Array;
  readonly phase: Float64Array;
  /** no motion at all: Φ is the identity */
  readonly still: boolean;
  /** time-independent: Φ_{s→t} depends on t − s only */
  readonly steady: boolean;
  tMin = 0;
  tMax = -1;
  wx = new Float64Array(0);
  wy = new Float64Array(0);
  /** phase φ_m + ω_m·t of mode m at node n: ph[n·M + m] */
  ph = new Float64Array(0);
  /** RK4 scratch, one entry per lane */
  private readonly x = new Float64Array(MAX_LANES);
  private readonly y = new Float64Array(MAX_LANES);
  private readonly sx = new Float64Array(MAX_LANES);
  private readonly sy = new Float64Array(MAX_LANES);
  private readonly px = new Float64Array(MAX_LANES);
  private readonly py = new Float64Array(MAX_LANES);
  private readonly vx = new Float64Array(MAX_LANES);
  private readonly vy = new Float64Array(MAX_LANES);

  constructor(private readonly p: SynthParams) {
    const modes = p.swirl.filter((s) => s.amp !== 0);
    this.m = modes.length;
    this.kx = Float64Array.from(modes, (s) => s.kx);
    this.ky = Float64Array.from(modes, (s) => s.ky);
    this.ax = Float64Array.from(modes, (s) => (s.amp * s.ky) / Math.sqrt(s.kx * s.kx + s.ky * s.ky));
    this.ay = Float64Array.from(modes, (s) => (-s.amp * s.kx) / Math.sqrt(s.kx * s.kx + s.ky * s.ky));
    this.drift = Float64Array.from(modes, (s) => s.drift);
    this.phase = Float64Array.from(modes, (s) => s.phase);
    for (const s of modes) {
      if (!(Math.sqrt(s.kx * s.kx + s.ky * s.ky) > 0)) throw new Error(`SynthSky: swirl mode with a zero wave vector (amp ${s.amp})`);
    }
    this.still = p.wind.speed === 0 && this.m === 0;
    this.steady = (p.wind.speed === 0 || p.wind.modAmp === 0) && modes.every((s) => s.drift === 0);
  }

  /** Tabulate the time-only terms for frames tMin..tMax (integers). */
  ensure(t0: number, t1: number): void {
    const lo = Math.min(t0, t1);
    const hi = Math.max(t0, t1);
    if (lo >= this.tMin && hi <= this.tMax) return;
    const tMin = Math.min(lo, this.tMax >= this.tMin ? this.tMin : lo);
    const tMax = Math.max(hi, this.tMax >= this.tMin ? this.tMax : hi);
    const nodes = (tMax - tMin) * NODES_PER_FRAME + 1;
    const { speed, direction, modAmp, modPeriod, modPhase } = this.p.wind;
    const cx = speed * cosine(direction);
    const cy = speed * sine(direction);
    const M = this.m;
    this.wx = new Float64Array(nodes);
    this.wy = new Float64Array(nodes);
    this.ph = new Float64Array(nodes * M);
    for (let n = 0; n < nodes; n++) {
      const t = tMin + n / NODES_PER_FRAME; // exact: n/8 is a dyadic fraction
      const mod = 1 + modAmp * sine((2 * Math.PI * t) / modPeriod + modPhase);
      this.wx[n] = cx * mod;
      this.wy[n] = cy * mod;
      for (let m = 0; m < M; m++) this.ph[n * M + m] = this.phase[m]! + this.drift[m]! * t;
    }
    this.tMin = tMin;
    this.tMax = tMax;
  }

  /**
   * Advance the points (xs[i], ys[i]), i ∈ [from, to), in place from frame t0 to frame t1 (integers): classical RK4,
   * 4 sub-steps of h = ±1/4 per frame. Needs ensure(t0, t1) first. The points go through in groups of MAX_LANES,
   * which only lets the CPU overlap their independent, latency-bound arithmetic: every point gets exactly the
   * operations it would get alone.
   */
  integrate(xs: Float64Array, ys: Float64Array, from: number, to: number, t0: number, t1: number): void {
    if (this.still || t0 === t1) return;
    for (let o = from; o < to; o += MAX_LANES) this.integrateLanes(xs, ys, o, Math.min(MAX_LANES, to - o), t0, t1);
  }

  private integrateLanes(xs: Float64Array, ys: Float64Array, o: number, lanes: number, t0: number, t1: number): void {
    const dir = t1 > t0 ? 1 : -1;
    const steps = 4 * (t1 - t0) * dir;
    const h = 0.25 * dir;
    const half = 0.125 * dir;
    const sixth = h / 6;
    const x = this.x; // current position
    const y = this.y;
    const sx = this.sx; // Σ of the weighted stages so far
    const sy = this.sy;
    const px = this.px; // position of the stage
    const py = this.py;
    const vx = this.vx; // velocity at the stage
    const vy = this.vy;
    for (let l = 0; l < lanes; l++) {
      x[l] = xs[o + l]!;
      y[l] = ys[o + l]!;
    }
    let n = (t0 - this.tMin) * NODES_PER_FRAME; // node of the current step's start time
    for (let s = 0; s < steps; s++) {
      const nMid = n + dir;
      const nEnd = n + 2 * dir;
      // k1 = v(x, t)
      this.velocity(x, y, lanes, n);
      for (let l = 0; l < lanes; l++) {
        sx[l] = vx[l]!;
        sy[l] = vy[l]!;
        px[l] = x[l]! + half * vx[l]!;
        py[l] = y[l]! + half * vy[l]!;
      }
      // k2 = v(x + h/2·k1, t + h/2)
      this.velocity(px, py, lanes, nMid);
      for (let l = 0; l < lanes; l++) {
        sx[l] = sx[l]! + 2 * vx[l]!;
        sy[l] = sy[l]! + 2 * vy[l]!;
        px[l] = x[l]! + half * vx[l]!;
        py[l] = y[l]! + half * vy[l]!;
      }
      // k3 = v(x + h/2·k2, t + h/2)
      this.velocity(px, py, lanes, nMid);
      for (let l = 0; l < lanes; l++) {
        sx[l] = sx[l]! + 2 * vx[l]!;
        sy[l] = sy[l]! + 2 * vy[l]!;
        px[l] = x[l]! + h * vx[l]!;
        py[l] = y[l]! + h * vy[l]!;
      }
      // k4 = v(x + h·k3, t + h); x += h/6·(k1 + 2·k2 + 2·k3 + k4)
      this.velocity(px, py, lanes, nEnd);
      for (let l = 0; l < lanes; l++) {
        x[l] = x[l]! + sixth * (sx[l]! + vx[l]!);
        y[l] = y[l]! + sixth * (sy[l]! + vy[l]!);
      }
      n = nEnd;
    }
    for (let l = 0; l < lanes; l++) {
      xs[o + l] = x[l]!;
      ys[o + l] = y[l]!;
    }
  }

  /** v at the points (xs[l], ys[l]) and time node n, into this.vx, this.vy. */
  private velocity(xs: Float64Array, ys: Float64Array, lanes: number, n: number): void {
    const vx = this.vx;
    const vy = this.vy;
    const w0 = this.wx[n]!;
    const w1 = this.wy[n]!;
    for (let l = 0; l < lanes; l++) {
      vx[l] = w0;
      vy[l] = w1;
    }
    const M = this.m;
    const b = n * M;
    for (let m = 0; m < M; m++) {
      const kx = this.kx[m]!;
      const ky = this.ky[m]!;
      const ax = this.ax[m]!;
      const ay = this.ay[m]!;
      const ph = this.ph[b + m]!;
      for (let l = 0; l < lanes; l++) {
        const c = cosine(kx * xs[l]! + ky * ys[l]! + ph);
        vx[l] = vx[l]! + ax * c;
        vy[l] = vy[l]! + ay * c;
      }
    }
  }
}

const laneX = new Float64Array(1);
const laneY = new Float64Array(1);

const fields = new WeakMap<SynthParams, Field>();

function fieldOf(p: SynthParams): Field {
  let f = fields.get(p);
  if (!f) {
    f = new Field(p);
    fields.set(p, f);
  }
  return f;
}

function checkFrame(t: number, what: string): void {
  if (!Number.isInteger(t)) throw new Error(`flowMap: ${what} must be an integer frame index, got ${t}`);
}

/**
 * Φ_{t0→t1}(x, y): where the particle at (x, y) at frame t0 is at frame t1 (RK4, 4 sub-steps per frame). The
 * parameters object is treated as immutable (its compiled field is cached).
 */
export function flowMap(p: SynthParams, x: number, y: number, t0: number, t1: number): [number, number] {
  checkFrame(t0, 't0');
  checkFrame(t1, 't1');
  const f = fieldOf(p);
  f.ensure(t0, t1);
  laneX[0] = x;
  laneY[0] = y;
  f.integrate(laneX, laneY, 0, 1, t0, t1);
  return [laneX[0]!, laneY[0]!];
}

// ---------------------------------------------------------------------------------------------------------------
// Noise (integer lattice hashing, no trigonometry)

const S = Math.SQRT1_2;
/** 8 unit gradient vectors, picked by the top 3 bits of the lattice hash */
const GX = new Float64Array([1, S, 0, -S, -1, -S, 0, S]);
const GY = new Float64Array([0, S, 1, S, 0, -S, -1, -S]);
/** 8 gradients of 1-D noise */
const G1 = new Float64Array([-1, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1]);

/** Field salts (u32): separate lattices for the separate noise fields, and per octave. */
const SALT_DENSITY = 0x1000;
const SALT_SHADE = 0x2000;
const SALT_GROUND = 0x3000;
const SALT_HORIZON = 0x4000;
const SALT_OCTAVE = 101;

/** 2-D gradient (Perlin) noise with quintic fade; range about ±0.7. */
function perlin2(x: number, y: number, salt: number): number {
  const fx = Math.floor(x);
  const fy = Math.floor(y);
  const dx = x - fx;
  const dy = y - fy;
  const ix = fx | 0;
  const iy = fy | 0;
  const r0 = pcgHash((iy + salt) >>> 0);
  const r1 = pcgHash((iy + 1 + salt) >>> 0);
  const h00 = pcgHash((r0 + ix) >>> 0) >>> 29;
  const h10 = pcgHash((r0 + ix + 1) >>> 0) >>> 29;
  const h01 = pcgHash((r1 + ix) >>> 0) >>> 29;
  const h11 = pcgHash((r1 + ix + 1) >>> 0) >>> 29;
  const n00 = GX[h00]! * dx + GY[h00]! * dy;
  const n10 = GX[h10]! * (dx - 1) + GY[h10]! * dy;
  const n01 = GX[h01]! * dx + GY[h01]! * (dy - 1);
  const n11 = GX[h11]! * (dx - 1) + GY[h11]! * (dy - 1);
  const u = dx * dx * dx * (dx * (dx * 6 - 15) + 10);
  const v = dy * dy * dy * (dy * (dy * 6 - 15) + 10);
  const a = n00 + u * (n10 - n00);
  const b = n01 + u * (n11 - n01);
  return a + v * (b - a);
}

/** 1-D gradient noise with quintic fade; range ±0.5. */
function perlin1(x: number, salt: number): number {
  const fx = Math.floor(x);
  const dx = x - fx;
  const ix = fx | 0;
  const g0 = G1[pcgHash((ix + salt) >>> 0) >>> 29]!;
  const g1 = G1[pcgHash((ix + 1 + salt) >>> 0) >>> 29]!;
  const u = dx * dx * dx * (dx * (dx * 6 - 15) + 10);
  return g0 * dx + u * (g1 * (dx - 1) - g0 * dx);
}

/** Σ_o gain^o·perlin2(2^o·(x, y)) / Σ_o gain^o (lacunarity 2, gain 0.5); mean 0, standard deviation about 0.13. */
function fbm2(x: number, y: number, octaves: number, salt: number): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1;
  for (let o = 0; o < octaves; o++) {
    sum += amp * perlin2(x * f, y * f, salt + o * SALT_OCTAVE);
    norm += amp;
    amp *= 0.5;
    f *= 2;
  }
  return sum / norm;
}

/** fBm rescaled to [0, 1]: 0.5 + FBM_CONTRAST·fbm2, clamped (the raw fBm is concentrated near 0). */
const FBM_CONTRAST = 1.25;

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function smoothstep(e0: number, e1: number, v: number): number {
  const t = clamp01((v - e0) / (e1 - e0));
  return t * t * (3 - 2 * t);
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

const ZENITH = [0.25, 0.45, 0.8] as const;
const HORIZON_SKY = [0.7, 0.8, 0.92] as const;
const CLOUD = [0.96, 0.96, 0.98] as const;
const WARM = [0.03, 0.02, 0] as const;
/** anti-aliasing sample offsets (±1/4, ±1/4) */
const OX = [-0.25, 0.25, -0.25, 0.25] as const;
const OY = [-0.25, -0.25, 0.25, 0.25] as const;

/** h(x) = y_h + amplitude·(3-octave 1-D fBm in [−1, 1]). */
function horizonAt(p: SynthParams, x: number): number {
  const q = x / p.horizonWavelength + p.horizonOffset;
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1;
  for (let o = 0; o < 3; o++) {
    sum += amp * perlin1(q * f, SALT_HORIZON + o * SALT_OCTAVE);
    norm += amp;
    amp *= 0.5;
    f *= 2;
  }
  return p.horizon + p.horizonAmp * (sum / (0.5 * norm));
}

export interface SynthClip {
  size: number;
  /** `frames` RGB images, interleaved 8-bit, H×W×3 */
  frames: Uint8Array[];
  /** frames − 1 forward flows F_t (t → t+1), H×W×2 (u, v) float32, pixels */
  flows: Float32Array[];
}

/**
 * Render a clip: `frames` frames (default 33) of size×size (default p.size; another size renders the rescaled
 * scene) and the exact forward flows between consecutive frames. `onFrame(t)` is called after frame t.
 */
export function renderSynthClip(p: SynthParams, opts: { size?: number; frames?: number; onFrame?: (t: number) => void } = {}): SynthClip {
  const size = opts.size ?? p.size;
  const T = opts.frames ?? 33;
  if (!(Number.isInteger(T) && T >= 1)) throw new Error(`renderSynthClip: frames must be an integer >= 1, got ${T}`);
  if (p.mode !== 'default' && p.mode !== 'pure-advection') throw new Error(`renderSynthClip: unknown mode '${String(p.mode)}'`);
  const q = rescaleSynthParams(p, size);
  const pure = q.mode === 'pure-advection';
  const field = new Field(q);
  field.ensure(0, T);
  const N = size * size;
  const NS = 4 * N; // samples

  // Per clip constants.
  const skyLo = [0, 1, 2].map((c) => ZENITH[c]! + q.skyJitter[c]!);
  const skyHi = [0, 1, 2].map((c) => HORIZON_SKY[c]! + q.skyJitter[c]!);
  const skyD = [0, 1, 2].map((c) => skyHi[c]! - skyLo[c]!);
  const skyLo0 = skyLo[0]!, skyLo1 = skyLo[1]!, skyLo2 = skyLo[2]!;
  const skyD0 = skyD[0]!, skyD1 = skyD[1]!, skyD2 = skyD[2]!;
  const invYh = q.horizon > 0 ? 1 / q.horizon : 0;
  const cloud0base = CLOUD[0] + q.tint * WARM[0];
  const cloud1base = CLOUD[1] + q.tint * WARM[1];
  const cloud2base = CLOUD[2] + q.tint * WARM[2];
  const invL = 1 / q.lambda0;
  const invL2 = 2 / q.lambda0;
  const dox = q.densityOffset[0];
  const doy = q.densityOffset[1];
  const sox = q.shadeOffset[0];
  const soy = q.shadeOffset[1];
  const e0 = q.coverage - 0.15;
  const e1 = q.coverage + 0.15;

  // Static parts: foreground mask per pixel (flows) and per sample, and the colour of every sample that does not
  // depend on c (ground; the sky gradient in default mode).
  const groundPix = new Uint8Array(N);
  const groundSample = new Uint8Array(NS);
  const fixed = new Float64Array(pure ? 0 : 3 * NS);
  if (!pure) {
    const hPix = new Float64Array(size);
    const hLo = new Float64Array(size); // at x − 1/4
    const hHi = new Float64Array(size); // at x + 1/4
    for (let x = 0; x < size; x++) {
      hPix[x] = horizonAt(q, x);
      hLo[x] = horizonAt(q, x - 0.25);
      hHi[x] = horizonAt(q, x + 0.25);
    }
    const gInv = 1 / q.groundWavelength;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        if (y > hPix[x]!) groundPix[i] = 1;
        for (let s = 0; s < 4; s++) {
          const xs = x + OX[s]!;
          const ys = y + OY[s]!;
          const j = 4 * i + s;
          if (ys > (s & 1 ? hHi[x]! : hLo[x]!)) {
            groundSample[j] = 1;
            const g = clamp01(0.5 + FBM_CONTRAST * fbm2(xs * gInv + q.groundOffset[0], ys * gInv + q.groundOffset[1], 3, SALT_GROUND));
            const k = 0.6 + 0.8 * g;
            fixed[3 * j] = q.ground[0] * k;
            fixed[3 * j + 1] = q.ground[1] * k;
            fixed[3 * j + 2] = q.ground[2] * k;
          } else {
            const a = clamp01(ys * invYh);
            fixed[3 * j] = skyLo0 + a * skyD0;
            fixed[3 * j + 1] = skyLo1 + a * skyD1;
            fixed[3 * j + 2] = skyLo2 + a * skyD2;
          }
        }
      }
    }
  }

  // The cloud samples (sample j = 4·pixel + s at pixel + (OX[s], OY[s])), and the cloud pixels, as compact lists.
  let nCloud = 0;
  for (let j = 0; j < NS; j++) if (!groundSample[j]) nCloud++;
  const cloudSample = new Int32Array(nCloud);
  for (let j = 0, k = 0; j < NS; j++) if (!groundSample[j]) cloudSample[k++] = j;
  let nFlow = 0;
  for (let i = 0; i < N; i++) if (!groundPix[i]) nFlow++;
  const flowPix = new Int32Array(nFlow);
  for (let i = 0, k = 0; i < N; i++) if (!groundPix[i]) flowPix[k++] = i;
  const sampleX = (j: number) => ((j >> 2) % size) + OX[j & 3]!;
  const sampleY = (j: number) => Math.floor((j >> 2) / size) + OY[j & 3]!;

  // Texture coordinates c = Φ_{t→0}(sample) of the cloud samples. For a steady field Φ_{t→0} = Φ_{t→t−1} ∘ Φ_{t−1→0}
  // with every step the same arithmetic whatever its start time, so frame t continues frame t − 1's coordinates one
  // frame further back (bit-identical to integrating from t).
  const cx = new Float64Array(nCloud);
  const cy = new Float64Array(nCloud);
  const fx = new Float64Array(nFlow);
  const fy = new Float64Array(nFlow);
  const col = pure ? new Float64Array(3 * NS) : Float64Array.from(fixed); // colour of every sample
  const steady = field.steady;
  const frames: Uint8Array[] = [];
  const flows: Float32Array[] = [];
  for (let t = 0; t < T; t++) {
    if (t === 0 || !steady) {
      for (let k = 0; k < nCloud; k++) {
        cx[k] = sampleX(cloudSample[k]!);
        cy[k] = sampleY(cloudSample[k]!);
      }
      field.integrate(cx, cy, 0, nCloud, t, 0);
    } else {
      field.integrate(cx, cy, 0, nCloud, t, t - 1);
    }
    // sample colours: the ground's are fixed, the cloud layer's are lerp(sky, cloud(c), α(c))
    for (let k = 0; k < nCloud; k++) {
      const j = cloudSample[k]!;
      const c0 = cx[k]!;
      const c1 = cy[k]!;
      let sr: number;
      let sg: number;
      let sb: number;
      if (pure) {
        const a = clamp01(c1 * invYh);
        sr = skyLo0 + a * skyD0;
        sg = skyLo1 + a * skyD1;
        sb = skyLo2 + a * skyD2;
      } else {
        sr = fixed[3 * j]!;
        sg = fixed[3 * j + 1]!;
        sb = fixed[3 * j + 2]!;
      }
      const d = clamp01(0.5 + FBM_CONTRAST * fbm2(c0 * invL + dox, c1 * invL + doy, 5, SALT_DENSITY));
      const alpha = smoothstep(e0, e1, d);
      if (alpha > 0) {
        const sh = clamp01(0.5 + FBM_CONTRAST * fbm2(c0 * invL2 + sox, c1 * invL2 + soy, 4, SALT_SHADE));
        const kk = 1 - 0.35 * sh;
        sr += alpha * (cloud0base * kk - sr);
        sg += alpha * (cloud1base * kk - sg);
        sb += alpha * (cloud2base * kk - sb);
      }
      col[3 * j] = sr;
      col[3 * j + 1] = sg;
      col[3 * j + 2] = sb;
    }
    // pixel = mean of its 4 samples, clamped and quantised
    const img = new Uint8Array(3 * N);
    for (let i = 0; i < N; i++) {
      for (let ch = 0; ch < 3; ch++) {
        const b = 12 * i + ch;
        const v = (col[b]! + col[b + 3]! + col[b + 6]! + col[b + 9]!) * 0.25;
        img[3 * i + ch] = Math.round(clamp01(v) * 255);
      }
    }
    frames.push(img);

    if (t + 1 < T) {
      // F_t(p) = Φ_{t→t+1}(p) − p on the cloud layer, 0 on the foreground
      const flow = new Float32Array(2 * N);
      if (!field.still) {
        for (let k = 0; k < nFlow; k++) {
          const i = flowPix[k]!;
          fx[k] = i % size;
          fy[k] = Math.floor(i / size);
        }
        field.integrate(fx, fy, 0, nFlow, t, t + 1);
        for (let k = 0; k < nFlow; k++) {
          const i = flowPix[k]!;
          flow[2 * i] = fx[k]! - (i % size);
          flow[2 * i + 1] = fy[k]! - Math.floor(i / size);
        }
      }
      flows.push(flow);
    }
    opts.onFrame?.(t);
  }
  return { size, frames, flows };
}
