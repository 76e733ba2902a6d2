// Training and evaluating the unsupervised flow estimator (Node: it reads frames from disk and writes checkpoints).
//
// Recipe (FLOW.md §1, §6, §9), up to three stages over one run of `steps` updates (by default only the first: see
// stage2At):
//   1. photometric census (ARFlow's sky recipe: 0.15·L1 + 0.85·SSIM, `photometric: 'l1-ssim'`), occlusion from the
//      backward flow's range map                                                              (steps < stage2)
//   2. census photometric, occlusion from the forward-backward check                          (stage2 <= steps < distill)
//   3. SelFlow-style self-supervised distillation: a frozen copy of the network at the start of this stage is the
//      teacher; the student sees frame 2 with random noise patches pasted in (hiding pixels the teacher could
//      see) and is regressed to the teacher's flow there with ψ(x) = (|x| + 0.01)^0.4, next to the stage-2 loss.
// Always: edge-aware smoothness (α 10; by default second order with weight 75 as ARFlow; `smoothOrder: 1` takes the
// test-time refinement's first-order term). Adam (ε 1e-7, L2 decay 1e-6 on weights only) as
// ARFlow; augmentation: random horizontal flip and random swap of the two frames (ARFlow), optionally also random
// vertical flips and transposition (`augment: 'dihedral'`), so vertical motion is trained exactly as horizontal.
// Departures from the sky recipe, for a one-hour budget on a 2-core CPU adapter (all options): 128x128 input
// instead of 384x640; batch 2 instead of 4 (twice the updates per hour); a learning rate of 3e-4 (ARFlow: 1e-4 over
// ~10^6 steps) divided by 4 for the last 20 % of steps; He initialisation, which ARFlow's init_weights means to apply
// but never reaches (a bug: with PyTorch's default the network's output ignores its input for hundreds of steps),
// with the two flow-output convolutions scaled by 0.01 so training starts near zero flow; centred input frames and
// feature maps centred and scaled before each correlation (DEFAULT_MODEL; without them the cost volume is dominated
// by the features' means and the network ignores its input for the whole hour — measured, see README); and noise
// rectangles instead of SLIC superpixels for the hallucinated occlusions.

import { EngineError } from '../runtime/engine.js';
import { noGrad, scope, type Tensor } from '../tensor.js';
import { manualSeed, tensor } from '../ops/creation.js';
import { gt, mul } from '../ops/elementwise.js';
import { mean } from '../ops/reduce.js';
import { resizeFlow, warp } from '../ops/flow.js';
import { concat, reshape, slice } from '../ops/shape.js';
import { isCensusPatch } from '../ops/nn.js';
import { PWCLite, type PWCLiteOptions } from '../models/pwclite.js';
import { Adam } from '../train/adam.js';
import { WeightAverage } from '../train/average.js';
import { STAGE1, STAGE1_CENSUS, STAGE2, distillLoss, flowLoss, nonOccluded, type FlowLossConfig } from './loss.js';
import { endPointErrors, estimateFlow, framesTensor, type FlowSymmetry } from './estimate.js';
import type { RefineOptions } from './refine.js';
import { readFrame, readNpyFile, type ClipInfo } from '../data/sky.js';
import { mulberry32 } from '../data/synth.js';
import { saveSafetensors, readSafetensorsFile } from '../node.js';
import { existsSync } from 'node:fs';
import type { HostTensor } from '../io/safetensors.js';

// ------------------------------------------------------------------------------------------------ data

/**
 * The frame pairs (t, t + k), 1 <= k <= maxGap, of every clip (maxGap 1: every consecutive pair, as ARFlow), frames
 * decoded once and kept in memory at size x size. Pairs further apart move more, which gives the coarse levels'
 * cost volumes a displacement they can see (time-lapse flows between neighbours are often under a pixel).
 */
export class PairDataset {
  readonly pairs: [number, number][] = [];
  private readonly frames: Float32Array[] = [];
  constructor(readonly clips: ClipInfo[], readonly size: number, onLoad?: (done: number, total: number) => void, readonly maxGap = 1) {
    if (!Number.isInteger(maxGap) || maxGap < 1) throw new EngineError(`PairDataset: maxGap must be a positive integer, got ${maxGap}`);
    const total = clips.reduce((s, c) => s + c.frames.length, 0);
    for (const c of clips) {
      const first = this.frames.length;
      for (const f of c.frames) {
        this.frames.push(readFrame(f, size));
        onLoad?.(this.frames.length, total);
      }
      for (let k = 1; k <= maxGap; k++) for (let t = 0; t + k < c.frames.length; t++) this.pairs.push([first + t, first + t + k]);
    }
    if (!this.pairs.length) throw new EngineError('PairDataset: the clips hold no frame pair (every clip needs at least 2 frames)');
  }
  frame(i: number): Float32Array {
    return this.frames[i]!;
  }
}

/** Mirror a planar [C, S, S] frame left-right (the scene's flow becomes (−u, v)). */
export function flipX(img: Float32Array, S: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let r = 0; r < img.length / S; r++) for (let x = 0; x < S; x++) out[r * S + x] = img[r * S + S - 1 - x]!;
  return out;
}

/** Mirror a planar [C, S, S] frame top-bottom (the scene's flow becomes (u, −v)). */
export function flipY(img: Float32Array, S: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let c = 0; c < img.length / (S * S); c++) {
    for (let y = 0; y < S; y++) out.set(img.subarray(c * S * S + (S - 1 - y) * S, c * S * S + (S - y) * S), c * S * S + y * S);
  }
  return out;
}

/** Swap the x and y axes of a planar [C, S, S] frame (a transposed scene's flow is (v, u)). */
export function transposeXY(img: Float32Array, S: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let c = 0; c < img.length / (S * S); c++) {
    const o = c * S * S;
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) out[o + x * S + y] = img[o + y * S + x]!;
  }
  return out;
}

/** The C x C window at (x0, y0) of a planar [3, S, S] frame. */
export function cropSquare(img: Float32Array, S: number, C: number, x0: number, y0: number): Float32Array {
  const out = new Float32Array(3 * C * C);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < C; y++) out.set(img.subarray(c * S * S + (y0 + y) * S + x0, c * S * S + (y0 + y) * S + x0 + C), c * C * C + y * C);
  }
  return out;
}

/** Noise rectangles pasted into a planar frame (in place); returns the [S, S] mask of pasted pixels. */
function pasteNoise(img: Float32Array, S: number, rand: () => number): Float32Array {
  const mask = new Float32Array(S * S);
  const count = 4 + Math.floor(rand() * 5);
  for (let k = 0; k < count; k++) {
    const w = Math.floor(S * (0.06 + 0.1 * rand()));
    const h = Math.floor(S * (0.06 + 0.1 * rand()));
    const x0 = Math.floor(rand() * (S - w));
    const y0 = Math.floor(rand() * (S - h));
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) {
        mask[y * S + x] = 1;
        for (let c = 0; c < 3; c++) img[c * S * S + y * S + x] = rand();
      }
    }
  }
  return mask;
}

// ------------------------------------------------------------------------------------------------ training

/** The trainer's forward pass: centred inputs and normalised features before each correlation (see PWCLite). */
export const DEFAULT_MODEL: Required<PWCLiteOptions> = { inputNorm: 'center', corrNorm: 'moments' };

export interface FlowTrainOptions {
  steps: number;
  batch?: number;
  lr?: number;
  /**
   * fraction of the steps after which the census / forward-backward stage starts (default 1 = never: started on a
   * model that is not yet forward-backward consistent it masks every pixel, see README; ARFlow: after 50 epochs)
   */
  stage2At?: number;
  /** fraction after which self-supervised distillation starts (default 1 = never) */
  distillAt?: number;
  /** weight of the distillation term (default 1) */
  wDistill?: number;
  /** fraction after which the learning rate is divided by 4 (default 0.8) */
  decayAt?: number;
  seed?: number;
  size?: number;
  /**
   * factor applied to the initial weights and biases of the two flow-output convolutions (flow estimator and context
   * network), so a fresh network starts near zero flow instead of ±10 px of noise (default 0.01; 1 = PyTorch's init)
   */
  outputInitScale?: number;
  /** 'kaiming' (default): the initialisation ARFlow's init_weights intends (see PWCLite.initKaiming); 'pytorch':
   * the layers' default, which is what the released code ends up with */
  init?: 'kaiming' | 'pytorch';
  /**
   * forward-pass options of the network (default { inputNorm: 'center', corrNorm: 'moments' }: see PWCLite; ARFlow's
   * plain pass is { inputNorm: 'none', corrNorm: 'none' }). A resumed run takes them from the checkpoint.
   */
  model?: PWCLiteOptions;
  /** checkpoint path (.safetensors); the optimiser state goes next to it as <path>.train.safetensors */
  out: string;
  checkpointEvery?: number;
  evalEvery?: number;
  /**
   * 'flip-x' (default, ARFlow): random horizontal flip and frame-order swap; 'dihedral': also random vertical flip
   * and x/y transposition, so the network cannot lean on the data's mostly horizontal wind
   */
  augment?: 'flip-x' | 'dihedral';
  /**
   * fraction of the steps after which 'dihedral' adds its flips and transposition (default 0: from the first step).
   * Measured (README, runs 8, 10, 12): from scratch, dihedral runs sat at the zero-flow error for 300-600 steps; after
   * a plain warm-up the switch set the error back and it oscillated.
   */
  dihedralAt?: number;
  /**
   * fraction of the steps after which 'dihedral' drops its extra flips again (default 1: never). Measured (README,
   * run 18): 200 last whole-frame steps with left-right flips only took the error from 0.309 to 0.281 px.
   */
  dihedralUntil?: number;
  /**
   * photometric term of stage 1: 'census' (default: the soft census distance of FLOW.md §6.2 with a censusPatch-sided patch, 3x3 by default, which ARFlow uses in stage 2) or 'l1-ssim'
   * (ARFlow's sky recipe, 0.15·L1 + 0.85·SSIM), both with the range-map occlusion of stage 1. Measured on SynthSky
   * (README): SSIM scores the ground-truth flow worse than v = 0 and worse than the model's own prediction, census
   * and L1 score it best; the census run ends at EPE 0.355 where the L1/SSIM run ends at 0.376.
   */
  photometric?: 'l1-ssim' | 'census';
  /**
   * side of the random square window cut from each training pair (both frames alike, so its flow is the pair's
   * flow): a multiple of 64 up to `size` (default `size`, the whole frame). 64 costs about a quarter of 128 per
   * pair, so an hour's training sees about four times as many pairs; evaluation always uses the whole frame.
   */
  crop?: number;
  /**
   * fraction of the steps after which training switches from `crop` windows to whole frames (default 1: windows
   * throughout). Measured (README, runs 15-16): a network trained on 64x64 windows is better on windows than on whole
   * frames (its coarsest level is 1x1 there, 2x2 on a 128x128 frame), and a few hundred whole-frame steps at the end
   * turn its window skill into whole-frame accuracy.
   */
  cropUntil?: number;
  /**
   * weights of the photometric term per pyramid scale, finest first (default ARFlow's 1, 1, 1, 1, 0), for every
   * stage. Measured on SynthSky (README): the census term of the 1/4 and 1/8 scales scores run 20's model's flow
   * better than the ground truth, while the full and 1/2 scales score the ground truth clearly better.
   */
  scaleWeights?: number[];
  /** pairs per update while training on windows (default `batch`; `batch` applies to the whole-frame steps) */
  cropBatch?: number;
  /**
   * order of the edge-aware smoothness term's differences: 2 (default, ARFlow's sky recipe: |∂²F|) or 1 (|∂F|, the
   * term the test-time refinement minimises, refine.ts)
   */
  smoothOrder?: 1 | 2;
  /** weight of the smoothness term (default 75, ARFlow's sky recipe) */
  smoothWeight?: number;
  /**
   * side of the census term's patch (default 3, ARFlow's; DDFlow and SelFlow use 7; odd, up to 9), in every stage
   * that uses the census term
   */
  censusPatch?: number;
  /**
   * start from these weights (a .safetensors checkpoint or shipped float16 file; its forward-pass options come with
   * it) instead of a fresh initialisation, with a fresh optimiser: fine-tuning. Not with `resume`.
   */
  initFrom?: string;
  /**
   * Polyak averaging: the share d of the old weight average kept per step (e.g. 0.995: about the last 200 steps;
   * default 0 = off). From `averageAt` on, `out` holds the averaged weights (what is evaluated, returned and shipped)
   * and the state file the trained ones; the tracked evaluation reports both (`epe`, `avg_epe`).
   */
  average?: number;
  /** fraction of the steps after which the average starts (default 0) */
  averageAt?: number;
  /** continue from the checkpoint at `out` */
  resume?: boolean;
  /** stop (with a checkpoint) once this many of the `steps` are done, as an interrupted run would; resume later */
  stopAt?: number;
  onLog?: (entry: Record<string, number | string>) => void;
  /** on resume: called for each training option (photometric, augment, scaleWeights, average, smoothOrder, smoothWeight, censusPatch) that differs from the resumed run's */
  onOptionChange?: (name: 'photometric' | 'augment' | 'scaleWeights' | 'average' | 'smoothOrder' | 'smoothWeight' | 'censusPatch', was: string, now: string) => void;
}

export interface EvalResult {
  epe: number;
  zero_epe: number;
  pairs: number;
}

function stageAt(step: number, o: Required<Pick<FlowTrainOptions, 'steps' | 'stage2At' | 'distillAt'>>): 1 | 2 | 3 {
  if (step >= Math.round(o.distillAt * o.steps)) return 3;
  if (step >= Math.round(o.stage2At * o.steps)) return 2;
  return 1;
}

/** Train PWC-Lite on the frame pairs of `train`, evaluating on `evalClips` (with ground truth) as it goes. */
export async function trainFlow(train: PairDataset, evalClips: ClipInfo[], opts: FlowTrainOptions): Promise<PWCLite> {
  const o = {
    batch: 2, lr: 3e-4, stage2At: 1, distillAt: 1, seed: 0, size: 128, checkpointEvery: 100, evalEvery: 100, resume: false,
    ...opts,
    // the effective values, so that the checkpoint's options record them
    photometric: opts.photometric ?? 'census',
    decayAt: opts.decayAt ?? 0.8,
    wDistill: opts.wDistill ?? 1,
    augment: opts.augment ?? 'flip-x',
    scaleWeights: opts.scaleWeights ?? STAGE1.wScales,
    average: opts.average ?? 0,
    averageAt: opts.averageAt ?? 0,
    smoothOrder: opts.smoothOrder ?? STAGE1.smoothOrder,
    smoothWeight: opts.smoothWeight ?? STAGE1.wSmooth,
    censusPatch: opts.censusPatch ?? STAGE1.censusPatch,
  };
  if (o.photometric !== 'l1-ssim' && o.photometric !== 'census') throw new EngineError(`trainFlow: photometric must be 'l1-ssim' or 'census', got '${String(o.photometric)}'`);
  if (!(Array.isArray(o.scaleWeights) && o.scaleWeights.length >= 1 && o.scaleWeights.length <= 5 && o.scaleWeights.every((v) => v >= 0 && Number.isFinite(v)) && o.scaleWeights.some((v) => v > 0))) {
    throw new EngineError(`trainFlow: scaleWeights must be 1 to 5 finite weights >= 0 (finest scale first), not all 0, got ${JSON.stringify(o.scaleWeights)}`);
  }
  if (o.smoothOrder !== 1 && o.smoothOrder !== 2) throw new EngineError(`trainFlow: smoothOrder must be 1 or 2, got ${String(o.smoothOrder)}`);
  if (!(o.smoothWeight >= 0 && Number.isFinite(o.smoothWeight))) throw new EngineError(`trainFlow: smoothWeight must be a finite number >= 0, got ${o.smoothWeight}`);
  if (!isCensusPatch(o.censusPatch)) throw new EngineError(`trainFlow: censusPatch must be an odd patch side from 3 to 9, got ${String(o.censusPatch)}`);
  const smoothing = { wScales: [...o.scaleWeights], smoothOrder: o.smoothOrder, wSmooth: o.smoothWeight, censusPatch: o.censusPatch };
  const stage1: FlowLossConfig = { ...(o.photometric === 'l1-ssim' ? STAGE1 : STAGE1_CENSUS), ...smoothing };
  const stage2: FlowLossConfig = { ...STAGE2, ...smoothing };
  if (o.augment !== 'flip-x' && o.augment !== 'dihedral') throw new EngineError(`trainFlow: augment must be 'flip-x' or 'dihedral', got '${String(o.augment)}'`);
  if (!(o.dihedralAt === undefined || (o.dihedralAt >= 0 && o.dihedralAt <= 1))) throw new EngineError(`trainFlow: dihedralAt must be a fraction of the steps in [0, 1], got ${o.dihedralAt}`);
  if (!(o.wDistill >= 0 && Number.isFinite(o.wDistill))) throw new EngineError(`trainFlow: wDistill must be a finite number >= 0, got ${o.wDistill}`);
  if (!(o.decayAt >= 0 && o.decayAt <= 1)) throw new EngineError(`trainFlow: decayAt must be a fraction of the steps in [0, 1], got ${o.decayAt}`);
  if (!(o.dihedralUntil === undefined || (o.dihedralUntil >= 0 && o.dihedralUntil <= 1))) throw new EngineError(`trainFlow: dihedralUntil must be a fraction of the steps in [0, 1], got ${o.dihedralUntil}`);
  if (!(o.average >= 0 && o.average < 1)) throw new EngineError(`trainFlow: average must be in [0, 1) (the share of the old weight average kept per step; 0 = off), got ${o.average}`);
  if (!(o.averageAt >= 0 && o.averageAt <= 1)) throw new EngineError(`trainFlow: averageAt must be a fraction of the steps in [0, 1], got ${o.averageAt}`);
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new EngineError(`trainFlow: steps must be a positive integer, got ${o.steps}`);
  const S = o.size;
  const C = o.crop ?? S;
  if (!Number.isInteger(C) || C < 64 || C > S || C % 64 !== 0) throw new EngineError(`trainFlow: crop must be a multiple of 64 between 64 and the frame size ${S}, got ${C}`);
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new EngineError(`trainFlow: batch must be a positive integer, got ${o.batch}`);
  const cropUntil = o.cropUntil ?? 1;
  if (!(cropUntil >= 0 && cropUntil <= 1)) throw new EngineError(`trainFlow: cropUntil must be a fraction of the steps in [0, 1], got ${o.cropUntil}`);
  const cropBatch = o.cropBatch ?? o.batch;
  if (!Number.isInteger(cropBatch) || cropBatch < 1) throw new EngineError(`trainFlow: cropBatch must be a positive integer, got ${o.cropBatch}`);
  manualSeed(o.seed);
  if (o.initFrom !== undefined && o.resume) throw new EngineError('trainFlow: initFrom starts a new run from given weights; resume continues one (to continue an interrupted fine-tuning run, resume without initFrom)');
  const statePath = `${o.out}.train.safetensors`;
  if (o.resume && (!existsSync(o.out) || !existsSync(statePath))) throw new EngineError(`--resume: no checkpoint at ${o.out} (with ${statePath}); start without --resume`);
  if (o.initFrom !== undefined && !existsSync(o.initFrom)) throw new EngineError(`trainFlow: initFrom: no weights file at ${o.initFrom}`);
  // the weights a run starts from: the checkpoint it resumes, or the file it fine-tunes (with their model options)
  const source = o.resume ? o.out : o.initFrom;
  const saved = source !== undefined ? readSafetensorsFile(source) : null;
  const net = new PWCLite(saved ? PWCLite.optionsFrom(saved.metadata, source) : { ...DEFAULT_MODEL, ...o.model });
  if (saved && !o.resume) {
    net.loadStateDict(saved.tensors, { what: source });
  } else if (!saved) {
    if ((o.init ?? 'kaiming') === 'kaiming') net.initKaiming();
    noGrad(() => {
      for (const [k, p] of net.namedParameters()) {
        if (k.startsWith('flow_estimators.predict_flow.') || k.startsWith('context_networks.convs.6.')) {
          const scaled = mul(p, o.outputInitScale ?? 0.01);
          p.assign_(scaled);
          scaled.dispose();
        }
      }
    });
  }
  const adam = new Adam(net.namedParameters(), { lr: o.lr, eps: 1e-7, weightDecay: 1e-6 });
  let teacher: PWCLite | null = null;
  // the weight average (a second network) once averaging has started
  let averaged = null as { net: PWCLite; avg: WeightAverage } | null;
  const startAverage = () => {
    const avgNet = new PWCLite(net).eval();
    averaged = { net: avgNet, avg: new WeightAverage(avgNet.namedParameters(), net.namedParameters(), o.average) };
  };
  if (saved && o.resume) {
    const st = readSafetensorsFile(statePath);
    // an averaging run keeps its trained weights in the state file and the average at `out`
    const raw = new Map([...st.tensors].filter(([k]) => k.startsWith('raw.')).map(([k, v]) => [k.slice(4), v] as [string, HostTensor]));
    net.loadStateDict(raw.size ? raw : saved.tensors, { what: raw.size ? `${statePath} (trained weights)` : o.out });
    if (raw.size && o.average > 0) {
      startAverage();
      averaged!.net.loadStateDict(saved.tensors, { what: `${o.out} (weight average)` });
      averaged!.avg.count = Number(st.metadata.average_count ?? 0);
    }
    adam.loadState({ step: Number(st.metadata.step), tensors: st.tensors });
    // what the resumed run trained with (checkpoints from before an option existed ran its first default)
    let ran: { photometric?: string; augment?: string; scaleWeights?: number[]; average?: number; smoothOrder?: number; smoothWeight?: number; censusPatch?: number } = {};
    try {
      ran = JSON.parse(st.metadata.options ?? '{}');
    } catch {
      ran = {};
    }
    const was = {
      photometric: ran.photometric ?? 'l1-ssim', augment: ran.augment ?? 'flip-x', scaleWeights: (ran.scaleWeights ?? STAGE1.wScales).join(','), average: String(ran.average ?? 0),
      smoothOrder: String(ran.smoothOrder ?? STAGE1.smoothOrder), smoothWeight: String(ran.smoothWeight ?? STAGE1.wSmooth), censusPatch: String(ran.censusPatch ?? STAGE1.censusPatch),
    };
    const now = {
      photometric: o.photometric, augment: o.augment, scaleWeights: o.scaleWeights.join(','), average: String(o.average),
      smoothOrder: String(o.smoothOrder), smoothWeight: String(o.smoothWeight), censusPatch: String(o.censusPatch),
    };
    for (const name of ['photometric', 'augment', 'scaleWeights', 'average', 'smoothOrder', 'smoothWeight', 'censusPatch'] as const) {
      if (was[name] !== now[name]) o.onOptionChange?.(name, was[name], now[name]);
    }
    const tw = new Map([...st.tensors].filter(([k]) => k.startsWith('teacher.')).map(([k, v]) => [k.slice(8), v] as [string, HostTensor]));
    // a checkpoint from before the distillation stage has no teacher: it is snapshot when that stage begins
    if (tw.size) {
      teacher = new PWCLite(net).eval();
      teacher.loadStateDict(tw, { what: `${statePath} (teacher)` });
    }
  }
  const save = async (step: number) => {
    const meta: Record<string, string> = { ...net.metadata(), step: String(step) };
    if (averaged) meta.averaged = JSON.stringify({ decay: o.average, updates: averaged.avg.count });
    await saveSafetensors(o.out, averaged?.net ?? net, { metadata: meta });
    const st = await adam.state();
    if (teacher) for (const [k, v] of await teacher.stateDictHost()) st.tensors.set(`teacher.${k}`, v);
    if (averaged) for (const [k, v] of await net.stateDictHost()) st.tensors.set(`raw.${k}`, v);
    const stMeta: Record<string, string> = { step: String(st.step), options: JSON.stringify({ ...o, onLog: undefined, onOptionChange: undefined }) };
    if (averaged) stMeta.average_count = String(averaged.avg.count);
    await saveSafetensors(statePath, st.tensors, { metadata: stMeta });
  };

  const stopAt = Math.min(o.stopAt ?? o.steps, o.steps);
  while (adam.step < stopAt) {
    const step = adam.step;
    const t0 = performance.now();
    const stage = stageAt(step, o);
    const cfg: FlowLossConfig = stage === 1 ? stage1 : stage2;
    adam.lr = step >= Math.round(o.decayAt * o.steps) ? o.lr / 4 : o.lr;
    if (stage === 3 && !teacher) {
      teacher = new PWCLite(net).eval();
      teacher.loadStateDict(await net.stateDictHost(), { what: 'teacher snapshot' });
    }
    // the batch: pairs drawn from a generator seeded by (seed, step), so a resumed run sees the same data
    const rand = mulberry32((o.seed * 1000003 + step * 7919) >>> 0);
    const A: Float32Array[] = [];
    const B: Float32Array[] = [];
    const P: Float32Array[] = [];
    // this step's window side and batch: `crop` windows until cropUntil, whole frames after
    const windows = C < S && step < Math.round(cropUntil * o.steps);
    const side = windows ? C : S;
    const nb = windows ? cropBatch : o.batch;
    const dihedral = o.augment === 'dihedral' && step >= Math.round((o.dihedralAt ?? 0) * o.steps) && step < Math.round((o.dihedralUntil ?? 1) * o.steps);
    for (let i = 0; i < nb; i++) {
      const [ia, ib] = train.pairs[Math.floor(rand() * train.pairs.length)]!;
      let a = train.frame(ia);
      let b = train.frame(ib);
      if (rand() < 0.5) [a, b] = [flipX(a, S), flipX(b, S)];
      if (rand() < 0.5) [a, b] = [b, a];
      if (dihedral) {
        if (rand() < 0.5) [a, b] = [flipY(a, S), flipY(b, S)];
        if (rand() < 0.5) [a, b] = [transposeXY(a, S), transposeXY(b, S)];
      }
      if (windows) {
        const x0 = Math.floor(rand() * (S - C + 1));
        const y0 = Math.floor(rand() * (S - C + 1));
        [a, b] = [cropSquare(a, S, C, x0, y0), cropSquare(b, S, C, x0, y0)];
      }
      A.push(a);
      B.push(b);
    }
    const a = framesTensor(A, side, side);
    const b = framesTensor(B, side, side);
    const parts = scope(() => {
      if (stage < 3) {
        const out = net.forward(a, b, { backward: true });
        const l = flowLoss(a, b, out.stacked, cfg);
        l.total.backward();
        return { total: l.total, photometric: l.photometric, smooth: l.smooth, distill: null, visible: mean(l.mask) };
      }
      // distillation: the teacher's flows and masks on the clean pair, the student on a pair with noise patches
      const [tFlow, tMask] = noGrad(() => {
        const to = teacher!.forward(a, b, { backward: true });
        return [to.stacked[0]!, nonOccluded(to.stacked[0]!, 'fb')];
      });
      const B2 = B.map((f) => f.slice());
      for (const f of B2) P.push(pasteNoise(f, side, rand));
      const b2 = framesTensor(B2, side, side);
      const patch = tensor(concatArrays(P), [nb, 1, side, side]);
      // hidden for the student: frame-1 pixels whose match lands in a patch; frame-2 pixels inside a patch
      const hidden = noGrad(() => concat([gt(warp(patch, slice(tFlow, 0, 0, nb), 'border'), 0.5), patch], 0));
      const selfMask = mul(hidden, tMask);
      const out = net.forward(a, b2, { backward: true });
      // the photometric term leaves out what the patches hide (matching noise is no evidence of motion)
      const l = flowLoss(a, b2, out.stacked, cfg, hidden);
      const d = distillLoss(out.stacked[0]!, tFlow, selfMask);
      const total = l.total.add(d.mul(o.wDistill));
      total.backward();
      return { total, photometric: l.photometric, smooth: l.smooth, distill: d, visible: mean(l.mask) };
    });
    adam.update();
    adam.zeroGrad();
    if (o.average > 0 && !averaged && step >= Math.round(o.averageAt * o.steps)) startAverage();
    averaged?.avg.update();
    a.dispose();
    b.dispose();
    const entry: Record<string, number | string> = { step: step + 1, stage, lr: adam.lr, batch: nb, window: side, dihedral: dihedral ? 1 : 0 };
    // the step's scalars in one readback
    const logged = Object.entries(parts).filter((kv): kv is [string, Tensor] => kv[1] !== null);
    const row = scope(() => concat(logged.map(([, t]) => reshape(t, [1])), 0));
    const values = await row.data();
    logged.forEach(([k, t], i) => {
      entry[k] = values[i]!;
      t.dispose();
    });
    row.dispose();
    if (!Number.isFinite(entry.total as number)) throw new EngineError(`trainFlow: the loss became ${entry.total} at step ${step + 1}; lower --lr`);
    entry.ms = Math.round(performance.now() - t0);
    o.onLog?.(entry);
    const done = adam.step === stopAt;
    if (evalClips.length && (adam.step % o.evalEvery === 0 || done)) {
      // one view (the network itself), so the curve tracks training, not test-time averaging
      const ev = { size: S, maxPairs: 48, symmetry: 1, bidirectional: false, refine: 0 } as const;
      const r: Record<string, number> = { step: adam.step, ...(await evaluateFlow(net, evalClips, ev)) };
      if (averaged) r.avg_epe = (await evaluateFlow(averaged.net, evalClips, ev)).epe;
      o.onLog?.(r);
    }
    if (adam.step % o.checkpointEvery === 0 || done) await save(adam.step);
  }
  teacher?.dispose();
  adam.dispose();
  if (!averaged) return net;
  net.dispose();
  return averaged.net.train();
}

function concatArrays(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs.reduce((s, x) => s + x.length, 0));
  let off = 0;
  for (const x of xs) {
    out.set(x, off);
    off += x.length;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ evaluation

/**
 * Mean end-point error of the network's forward flows against the clips' ground truth (gtflow), next to the
 * zero-flow baseline, over every consecutive pair (or the first `maxPairs`, spread over the clips); `symmetry` and
 * `bidirectional` as estimateFlow's (defaults DEFAULT_SYMMETRY views, DEFAULT_BIDIRECTIONAL).
 */
export async function evaluateFlow(net: PWCLite, clips: ClipInfo[], opts: { size?: number; maxPairs?: number; batch?: number; symmetry?: FlowSymmetry; bidirectional?: boolean; refine?: number | Partial<RefineOptions>; onProgress?: (done: number, total: number) => void } = {}): Promise<EvalResult> {
  const size = opts.size ?? 128;
  const jobs: { a: string; b: string; gt: string }[] = [];
  for (const c of clips) {
    if (!c.gtflow) throw new EngineError(`evaluateFlow: clip ${c.id} has no ground-truth flow folder (gtflow/); only synthetic clips carry one`);
    for (let t = 0; t + 1 < c.frames.length; t++) jobs.push({ a: c.frames[t]!, b: c.frames[t + 1]!, gt: c.gtflow[t]! });
  }
  if (!jobs.length) throw new EngineError('evaluateFlow: no frame pairs to evaluate');
  let pick = jobs;
  if (opts.maxPairs && jobs.length > opts.maxPairs) {
    const stride = jobs.length / opts.maxPairs;
    pick = Array.from({ length: opts.maxPairs }, (_, i) => jobs[Math.floor(i * stride)]!);
  }
  const wasTraining = net.training;
  net.eval();
  const batch = opts.batch ?? 8;
  let epe = 0;
  let zero = 0;
  let pixels = 0;
  for (let i = 0; i < pick.length; i += batch) {
    const part = pick.slice(i, i + batch);
    const gts = part.map((j) => readNpyFile(j.gt));
    const [H, W] = gts[0]!.shape as [number, number];
    const fa = framesTensor(part.map((j) => readFrame(j.a, size)), size, size);
    const fb = framesTensor(part.map((j) => readFrame(j.b, size)), size, size);
    const flow = await estimateFlow(net, fa, fb, { symmetry: opts.symmetry, bidirectional: opts.bidirectional, refine: opts.refine });
    // compare at the ground truth's grid (resize_flow when the evaluation size differs)
    const atGt = H === size && W === size ? null : resizeFlow(flow, H, W);
    const host = await (atGt ?? flow).data();
    atGt?.dispose();
    for (const [k, g] of gts.entries()) {
      if (g.shape.join() !== [H, W, 2].join()) throw new EngineError(`evaluateFlow: ${part[k]!.gt} has shape [${g.shape}], expected [${H}, ${W}, 2]`);
      const r = endPointErrors(host.subarray(k * 2 * H * W, (k + 1) * 2 * H * W), g.data, H, W);
      epe += r.epe;
      zero += r.zero;
      pixels += H * W;
    }
    for (const t of [fa, fb, flow]) t.dispose();
    opts.onProgress?.(Math.min(i + batch, pick.length), pick.length);
  }
  net.train(wasTraining);
  return { epe: epe / pixels, zero_epe: zero / pixels, pairs: pick.length };
}
