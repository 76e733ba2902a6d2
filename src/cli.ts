// The `dtvnet` command line (Node). `dtvnet --help` lists the commands.

import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import {
  init, close, loadGenerator, generate, readImage, writeGif, writePngFrames, writeMp4, hasFfmpeg, loadFlowModel, encodePng,
  writeFileAtomic, saveSafetensors, estimateFlow, framesTensor, resizeFlow, scope, setWinogradTile,
} from './node.js';
import { writeSynthDataset, listClips, readFrame, writeNpyFile } from './data/sky.js';
import { PairDataset, trainFlow, evaluateFlow, DEFAULT_MODEL } from './flow/train.js';
import { DEFAULT_BIDIRECTIONAL, DEFAULT_REFINE_STEPS, DEFAULT_SYMMETRY, type FlowSymmetry } from './flow/estimate.js';
import { DEFAULT_REFINE } from './flow/refine.js';
import { encodeFlo, flowToRgb, planarToInterleaved } from './io/flo.js';

const HELP = `dtvnet — DTVNet on WebGPU: one still landscape photo in, a 32-frame time-lapse out.

Usage:
  dtvnet generate <image.png|jpg> [options]       a time-lapse from one photo
  dtvnet synth --out <dir> --clips N [options]    procedural sky time-lapses with exact optical flow
  dtvnet train-flow --data <dir> [options]        train the unsupervised flow estimator (PWC-Lite)
  dtvnet eval-flow --data <dir> [options]         its end-point error against synthetic ground truth
  dtvnet flow <frame A> <frame B> [options]       the flow between two frames (.png colour wheel and .flo)
  dtvnet flows <clip dir> [options]               the flows a DTVNet training sample needs, cached as .npy
  dtvnet --help

generate options:
  --model <file>          generator weights (.safetensors with the official PyTorch keys). Without it the
                          generator is randomly initialised: no trained model ships yet, so the output is an
                          untrained network's video (a warning says so)
  --seed <N>              seed of the motion vector z ~ N(0, I) (default 0)
  --count <K>             K videos with seeds N, N+1, ..., N+K-1 (default 1)
  --motion-from <clip>    take the motion from a real clip instead of a seed (needs a trained DTVNet)
  --out <path>            output base name (default: <image>-timelapse next to the image); writes
                          <out>.gif, <out>_frames/frame_000.png..., and <out>.mp4 when ffmpeg is on the PATH
                          (with --count K: <out>-<seed>.gif, ...)
  --formats <list>        comma list of gif, png, mp4 (default gif,png,mp4; mp4 is skipped without ffmpeg)
  --fit stretch|crop      make the image 128x128 by stretching it (the spec's pipeline, default) or by
                          cropping the centred square first
  --scaling tanh|stretch  frame values: map [-1,1] to [0,255] (default), or stretch each frame's min..max
                          like the released test code
  --latent-norm none|batch  'none' (default): each video's motion follows its own z; 'batch': the code's batch
                          standardisation (at batch 1 every seed then gives the same video)
  --fps <n>               frames per second of the GIF and MP4 (default 25)
  --batch <n>             videos per generator pass (default 4)
  --quiet                 no progress output

synth options:
  --out <dir>             dataset root (Sky Time-lapse layout: <split>/<vid>/<clip>/<vid>_frames_%08d.png, plus
                          flow/, gtflow/ (exact forward flows, .npy) and params/)
  --clips <N>             number of clips (required)
  --size <n>              frame side (default 128)   --frames <n>  frames per clip (default 33)
  --seed <S>              seed (default 0; clip i of seed S is always the same)
  --split train|test      write sky_train (default) or sky_test
  --mode default|pure-advection   pure-advection moves the sky gradient too (exact brightness constancy)

train-flow options:
  --data <dir>            synth or Sky Time-lapse root; trains on every consecutive frame pair of <dir>/sky_train
  --eval-data <dir>       root whose sky_test clips (with gtflow/) are evaluated during training (default --data)
  --steps <n>             updates (default 1000)     --batch <n>   pairs per update (default 2)
  --lr <x>                Adam learning rate (default 3e-4; divided by 4 from --decay-at on)
  --decay-at <f>          fraction of the steps after which the learning rate is divided by 4 (default 0.8)
  --stage2-at <f>         fraction of the steps after which census + forward-backward occlusion replace stage
                          1's photometric term + range-map occlusion (default 1 = never: on a model that is not yet
                          forward-backward consistent every pixel is masked; ARFlow switches after 50 epochs)
  --distill-at <f>        fraction after which self-supervised distillation runs (default 1 = never)
  --distill-weight <x>    weight of the distillation term against the photometric one (default 1)
  --scale-weights <w,..>  photometric weight per pyramid scale, finest first (default 1,1,1,1,0 as ARFlow)
  --average <d>           keep a moving average of the weights (Polyak averaging), d of the old average kept
                          per step (e.g. 0.995; default 0 = off); --out then holds the average (what
                          --ship writes) and the log tracks both errors
  --average-at <f>        fraction of the steps after which the average starts (default 0)
  --smooth-order 2|1      the edge-aware smoothness term on second differences of the flow (default, ARFlow)
                          or first ones (the test-time refinement's term)
  --smooth-weight <x>     its weight (default 75, ARFlow's sky recipe)
  --census-patch 3|5|7|9  side of the census term's patch (default 3, ARFlow's; DDFlow and SelFlow use 7)
  --winograd-tile 4|2     Winograd tile of the 3x3 convolutions: 4 (default, F(4x4, 3x3): steps about 1.26x
                          faster) or 2 (F(2x2, 3x3), rounding closer to a direct convolution: the tile of the
                          README's training runs)
  --init-from <file>      start from these weights (a checkpoint or a shipped float16 file) with a fresh
                          optimiser: fine-tuning; not with --resume
  --eval-every <n>        steps between end-point-error evaluations (default 100)
  --max-gap <k>           train on frame pairs up to k frames apart (default 3; 1 = consecutive pairs only, as
                          ARFlow): larger motions that the coarse levels can see
  --photometric census|l1-ssim   stage 1's photometric term: the census distance (default, --census-patch; measured
                          better on SynthSky) or 0.15 L1 + 0.85 SSIM (ARFlow's sky recipe), both with the
                          range-map occlusion
  --augment flip-x|dihedral   random horizontal flips and frame swaps (default flip-x, ARFlow); dihedral adds
                          vertical flips and x/y transposition
  --dihedral-at <f>       fraction of the steps after which dihedral's extra flips start (default 0)
  --dihedral-until <f>    fraction after which they stop again (default 1)
  --crop <n>              train on random n x n windows of each pair (a multiple of 64; default --size, the
                          whole frame): 64 costs about a quarter per pair; evaluation uses whole frames
  --crop-until <f>        fraction of the steps after which training uses whole frames again (default 1)
  --crop-batch <n>        pairs per update while training on windows (default --batch)
  --out <file>            checkpoint (default pwclite.safetensors; optimiser state in <file>.train.safetensors)
  --resume                continue from --out          --seed <S>    (default 0)
  --log <file.jsonl>      append every step's losses and every evaluation as JSON lines
  --ship <file>           also write the final weights as float16 (the format of the shipped model)
  --input-norm center|none    subtract each frame's channel means before the pyramid (default center)
  --corr-norm moments|none    centre and scale the feature maps before each correlation (default moments);
                          none|none is ARFlow's plain forward pass. Both are stored in the checkpoint.

eval-flow options:
  --data <dir>            root with sky_test clips and gtflow/ (as written by synth --split test)
  --split <name>          split folder (default sky_test)   --model <file>  (as for flow)
  --json                  print one JSON object ({"epe", "zero_epe", "ratio", "pairs", ...})
  --symmetry <k>          as for flow (default ${DEFAULT_SYMMETRY})   --bidirectional on|off  as for flow
  --refine <steps>        as for flow (default ${DEFAULT_REFINE_STEPS})   --refine-patch 3|5|7|9  as for flow

flow / flows options:
  --model <file>          PWC-Lite weights (default: the shipped model, src/assets/pwclite-synth.safetensors)
  --size <n>              side the frames are resized to before estimation (default 128)
  --symmetry 1|2|4|8      average the flows of k mirrored / transposed views of each pair (default ${DEFAULT_SYMMETRY};
                          k times the time; 1 = one pass)
  --bidirectional on|off  average each view's forward flow with its backward flow, negated and sampled where the
                          forward flow lands (default ${DEFAULT_BIDIRECTIONAL ? 'on' : 'off'}; twice the time)
  --refine <steps>        test-time refinement: Adam steps on the flow field that lower the pair's census +
                          smoothness energy (default ${DEFAULT_REFINE_STEPS}; the estimate then takes about 1.5 times the
                          network's time, less with --refine-patch 3; 0 = the network's estimate as it is)
  --refine-patch 3|5|7|9  side of the refinement's census patch (default ${DEFAULT_REFINE.patch}; wider patches see more texture,
                          7 costs about 1.7 times the refinement's time of 3)
  flow:  --out <file.png> colour-wheel picture (default flow.png) and the raw flow as <file>.flo next to it
  flows: --out <dir>      where the .npy files go (default: the official flow/<split>/<vid>/<clip> folder when the
                          clip sits in a Sky Time-lapse tree (flow_estimated/... in a synthetic one, whose flow/ holds the exact flows),
                          else <clip dir>/flow). Frame 0 gets a self-pair flow,
                          frame t >= 1 the flow (t-1 -> t) (FLOW.md §7), each [size, size, 2]; 64x64/ holds the
                          targets resized with resize_flow. Existing files newer than their frames are kept (cache)
                          unless the model, --size, --symmetry, --bidirectional, --refine or --refine-patch differ from the run that wrote them
                          (recorded in <out>/flows.json).

Any image size and colour type (gray, RGB, with or without alpha) is accepted; alpha is composited over black.
Errors print one line and exit with status 1 (2 for bad usage); no partial output file is left behind.`;

class UsageError extends Error {}

interface Args {
  cmd: string | null;
  positional: string[];
  opts: Map<string, string | true>;
}

function parse(argv: string[]): Args {
  const positional: string[] = [];
  const opts = new Map<string, string | true>();
  const flags = new Set(['quiet', 'help', 'h', 'json', 'resume']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-')) {
      const [k, v] = a.replace(/^--?/, '').split('=', 2) as [string, string | undefined];
      if (flags.has(k)) opts.set(k, true);
      else if (v !== undefined) opts.set(k, v);
      else if (i + 1 < argv.length) opts.set(k, argv[++i]!);
      else throw new UsageError(`option --${k} needs a value`);
    } else positional.push(a);
  }
  return { cmd: positional.shift() ?? null, positional, opts };
}

function intOpt(opts: Map<string, string | true>, name: string, dflt: number, min: number): number {
  const v = opts.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${String(v)}'`);
  return n;
}

/** --symmetry: views averaged per pair by estimateFlow. */
function symmetryOpt(a: Args): FlowSymmetry {
  return Number(choice(a.opts, 'symmetry', ['1', '2', '4', '8'] as const, String(DEFAULT_SYMMETRY) as '1')) as FlowSymmetry;
}

/** --bidirectional on|off: estimateFlow's forward-backward average. */
function bidirectionalOpt(a: Args): boolean {
  return choice(a.opts, 'bidirectional', ['on', 'off'] as const, DEFAULT_BIDIRECTIONAL ? 'on' : 'off') === 'on';
}

/**
 * --refine <steps> and --refine-patch <side>: estimateFlow's test-time refinement (0 steps = the network's estimate
 * as it is; the patch then changes nothing).
 */
function refineOpt(a: Args): { steps: number; patch: number } {
  const steps = intOpt(a.opts, 'refine', DEFAULT_REFINE_STEPS, 0);
  const patch = Number(choice(a.opts, 'refine-patch', ['3', '5', '7', '9'] as const, String(DEFAULT_REFINE.patch) as '3'));
  return { steps, patch };
}

function choice<T extends string>(opts: Map<string, string | true>, name: string, values: readonly T[], dflt: T): T {
  const v = opts.get(name);
  if (v === undefined) return dflt;
  if (!values.includes(v as T)) throw new UsageError(`--${name} must be one of ${values.join(', ')}, got '${String(v)}'`);
  return v as T;
}

/** Reject options the command does not take (--quiet is common to all). */
function known(a: Args, names: string[]): void {
  const set = new Set([...names, 'quiet']);
  for (const k of a.opts.keys()) if (!set.has(k)) throw new UsageError(`unknown option --${k} for ${a.cmd}`);
}

/** Progress and messages on stderr: transient lines overwrite each other on a terminal; nothing with --quiet. */
function reporter(a: Args) {
  const quiet = a.opts.has('quiet');
  const tty = process.stderr.isTTY && !quiet;
  return (msg: string, transient = false) => {
    if (quiet) return;
    if (tty) process.stderr.write(`\r\x1b[K${msg}${transient ? '' : '\n'}`);
    else if (!transient) process.stderr.write(msg + '\n');
  };
}

async function cmdGenerate(a: Args): Promise<void> {
  known(a, ['model', 'seed', 'count', 'motion-from', 'out', 'formats', 'fit', 'scaling', 'latent-norm', 'fps', 'batch']);
  if (a.positional.length !== 1) throw new UsageError(`generate needs exactly one image, got ${a.positional.length}`);
  const imagePath = a.positional[0]!;
  const say = reporter(a);
  if (a.opts.has('motion-from')) {
    throw new Error('--motion-from needs a trained flow encoder (DTVNet\'s OFE) to turn the clip\'s flows (dtvnet flows <clip>) into a motion vector, and no trained DTVNet ships yet; use --seed');
  }
  const seed = intOpt(a.opts, 'seed', 0, 0);
  const count = intOpt(a.opts, 'count', 1, 1);
  const fps = intOpt(a.opts, 'fps', 25, 1);
  const batch = intOpt(a.opts, 'batch', 4, 1);
  const fit = choice(a.opts, 'fit', ['stretch', 'crop'] as const, 'stretch');
  const scaling = choice(a.opts, 'scaling', ['tanh', 'stretch'] as const, 'tanh');
  const latentNorm = choice(a.opts, 'latent-norm', ['none', 'batch'] as const, 'none');
  const formats = new Set(String(a.opts.get('formats') ?? 'gif,png,mp4').split(',').map((s) => s.trim()));
  for (const f of formats) if (!['gif', 'png', 'mp4'].includes(f)) throw new UsageError(`--formats: unknown format '${f}' (gif, png, mp4)`);
  const modelPath = a.opts.get('model');
  if (modelPath === true) throw new UsageError('--model needs a file');
  if (modelPath && !existsSync(modelPath)) throw new Error(`${modelPath}: no such model file`);

  const image = readImage(imagePath); // fails fast on a missing or non-image file
  const base = typeof a.opts.get('out') === 'string'
    ? resolve(String(a.opts.get('out'))).replace(/\.(gif|mp4)$/i, '')
    : resolve(imagePath.slice(0, imagePath.length - extname(imagePath).length) + '-timelapse');
  if (existsSync(base) && statSync(base).isDirectory()) throw new Error(`${base} is a folder; give --out a file base name`);
  const mp4 = formats.has('mp4') && hasFfmpeg();
  if (formats.has('mp4') && !mp4 && a.opts.has('formats')) say('note: ffmpeg is not on the PATH, so no MP4 is written');

  say('starting WebGPU...', true);
  const e = await init();
  say(`loading the generator${modelPath ? ` from ${modelPath}` : ''}...`, true);
  const { model, trained } = await loadGenerator(modelPath || undefined, { latentNorm });
  if (!trained) say('warning: no --model given and no trained model ships yet: these are the videos of an untrained generator');
  const seeds = Array.from({ length: count }, (_, i) => seed + i);
  const t0 = performance.now();
  say(`generating ${count} video${count > 1 ? 's' : ''} on ${e.adapter.description || e.adapter.device}...`, true);
  const videos = await generate(model, image, {
    seeds, fit, scaling, batch,
    onProgress: (done, total) => say(`generating: ${done}/${total} videos (${((performance.now() - t0) / 1000).toFixed(1)} s)`, true),
  });
  const secs = (performance.now() - t0) / 1000;
  say(`generated ${count} video${count > 1 ? 's' : ''} of ${videos[0]!.frames.length} frames in ${secs.toFixed(1)} s (${((count * videos[0]!.frames.length) / secs).toFixed(1)} frames/s)`);
  for (const v of videos) {
    const name = count > 1 ? `${base}-${v.seed}` : base;
    if (formats.has('gif')) { writeGif(`${name}.gif`, v.frames, fps); say(`wrote ${name}.gif`); }
    if (formats.has('png')) { writePngFrames(`${name}_frames`, v.frames); say(`wrote ${name}_frames/ (${v.frames.length} PNG frames)`); }
    if (mp4) { await writeMp4(`${name}.mp4`, v.frames, fps); say(`wrote ${name}.mp4`); }
  }
  model.dispose();
}

// ------------------------------------------------------------------------------------------------ flow commands

function strOpt(a: Args, name: string, dflt?: string): string {
  const v = a.opts.get(name);
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`${a.cmd} needs --${name}`);
    return dflt;
  }
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

function numOpt(a: Args, name: string, dflt: number): number {
  const v = a.opts.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a positive number, got '${String(v)}'`);
  return n;
}

async function cmdSynth(a: Args): Promise<void> {
  known(a, ['out', 'clips', 'size', 'frames', 'seed', 'split', 'mode']);
  const say = reporter(a);
  const out = resolve(strOpt(a, 'out'));
  const clips = intOpt(a.opts, 'clips', 0, 1);
  if (!a.opts.has('clips')) throw new UsageError('synth needs --clips N');
  const size = intOpt(a.opts, 'size', 128, 8);
  const frames = intOpt(a.opts, 'frames', 33, 2);
  const seed = intOpt(a.opts, 'seed', 0, 0);
  const split = choice(a.opts, 'split', ['train', 'test'] as const, 'train');
  const mode = choice(a.opts, 'mode', ['default', 'pure-advection'] as const, 'default');
  const t0 = performance.now();
  const r = await writeSynthDataset(out, {
    clips, size, frames, seed, split: split === 'train' ? 'sky_train' : 'sky_test', mode,
    onClip: (done, total) => say(`synth: ${done}/${total} clips (${((performance.now() - t0) / 1000).toFixed(0)} s)`, true),
  });
  say(`wrote ${r.clips.length} clips of ${frames} frames (${size}x${size}) to ${join(out, split === 'train' ? 'sky_train' : 'sky_test')} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function cmdTrainFlow(a: Args): Promise<void> {
  known(a, ['data', 'eval-data', 'steps', 'batch', 'lr', 'out', 'resume', 'seed', 'log', 'ship', 'size', 'stage2-at', 'distill-at', 'eval-every', 'max-gap', 'input-norm', 'corr-norm', 'augment', 'photometric', 'crop', 'crop-until', 'crop-batch', 'dihedral-at', 'dihedral-until', 'decay-at', 'distill-weight', 'scale-weights', 'average', 'average-at', 'smooth-order', 'smooth-weight', 'init-from', 'census-patch', 'winograd-tile']);
  const say = reporter(a);
  const data = resolve(strOpt(a, 'data'));
  const evalRoot = resolve(strOpt(a, 'eval-data', data));
  const steps = intOpt(a.opts, 'steps', 1000, 1);
  const batch = intOpt(a.opts, 'batch', 2, 1);
  const size = intOpt(a.opts, 'size', 128, 64);
  if (size % 64) throw new UsageError(`--size must be a multiple of 64, got ${size}`);
  const crop = intOpt(a.opts, 'crop', size, 64);
  if (crop % 64 || crop > size) throw new UsageError(`--crop must be a multiple of 64 no larger than --size ${size}, got ${crop}`);
  const lr = numOpt(a, 'lr', 3e-4);
  const frac = (name: string, dflt: number) => {
    const v = a.opts.has(name) ? Number(a.opts.get(name)) : dflt;
    if (!(v >= 0 && v <= 1)) throw new UsageError(`--${name} must be a fraction of the steps in [0, 1], got '${String(a.opts.get(name))}'`);
    return v;
  };
  const stage2At = frac('stage2-at', 1);
  const distillAt = frac('distill-at', 1);
  const wDistill = numOpt(a, 'distill-weight', 1);
  const dihedralAt = frac('dihedral-at', 0);
  const dihedralUntil = frac('dihedral-until', 1);
  const cropUntil = frac('crop-until', 1);
  const decayAt = frac('decay-at', 0.8);
  const average = numOpt(a, 'average', 0);
  if (!(average >= 0 && average < 1)) throw new UsageError(`--average must be in [0, 1) (the share of the old weight average kept per step, e.g. 0.995; 0 = off), got '${String(a.opts.get('average'))}'`);
  const averageAt = frac('average-at', 0);
  if (a.opts.has('average-at') && !(average > 0)) throw new UsageError('--average-at needs --average <d> (it says when the weight average starts)');
  let scaleWeights: number[] | undefined;
  if (a.opts.has('scale-weights')) {
    const text = String(a.opts.get('scale-weights'));
    scaleWeights = text.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
    if (scaleWeights.length > 5 || !scaleWeights.every((v) => v >= 0 && Number.isFinite(v)) || !scaleWeights.some((v) => v > 0)) {
      throw new UsageError(`--scale-weights must be 1 to 5 comma-separated weights >= 0, finest scale first, not all 0 (e.g. 1,1,0,0,0), got '${text}'`);
    }
  }
  const smoothOrder = Number(choice(a.opts, 'smooth-order', ['2', '1'] as const, '2')) as 1 | 2;
  const smoothWeight = a.opts.has('smooth-weight') ? Number(a.opts.get('smooth-weight')) : 75;
  if (!(smoothWeight >= 0 && Number.isFinite(smoothWeight))) throw new UsageError(`--smooth-weight must be a number >= 0, got '${String(a.opts.get('smooth-weight'))}'`);
  const censusPatch = Number(choice(a.opts, 'census-patch', ['3', '5', '7', '9'] as const, '3'));
  setWinogradTile(Number(choice(a.opts, 'winograd-tile', ['4', '2'] as const, '4')) as 2 | 4);
  const initFrom = a.opts.has('init-from') ? resolve(strOpt(a, 'init-from')) : undefined;
  if (initFrom && a.opts.has('resume')) throw new UsageError('--init-from starts a new run from given weights and --resume continues one (to continue an interrupted fine-tuning run, drop --init-from)');
  if (initFrom && !existsSync(initFrom)) throw new UsageError(`--init-from: no such file ${initFrom}`);
  const cropBatch = intOpt(a.opts, 'crop-batch', batch, 1);
  if ((a.opts.has('crop-until') || a.opts.has('crop-batch')) && crop === size) throw new UsageError(`--crop-until and --crop-batch need --crop smaller than the frame (--size ${size}): they say how long and in batches of how many pairs to train on windows`);
  const evalEvery = intOpt(a.opts, 'eval-every', 100, 1);
  const seed = intOpt(a.opts, 'seed', 0, 0);
  const out = resolve(strOpt(a, 'out', 'pwclite.safetensors'));
  const log = a.opts.has('log') ? resolve(strOpt(a, 'log')) : null;
  const ship = a.opts.has('ship') ? resolve(strOpt(a, 'ship')) : null;
  const warn = (m: string) => say(`warning: ${m}`);
  const train = listClips(data, 'sky_train', { minFrames: 2 });
  train.problems.forEach(warn);
  const evalClips = existsSync(join(evalRoot, 'sky_test')) ? listClips(evalRoot, 'sky_test', { minFrames: 2 }) : null;
  evalClips?.problems.forEach(warn);
  if (!evalClips) say(`note: ${join(evalRoot, 'sky_test')} does not exist, so no end-point error is tracked (make one with dtvnet synth --split test)`);
  const e = await init();
  const maxGap = intOpt(a.opts, 'max-gap', 3, 1);
  const augment = choice(a.opts, 'augment', ['flip-x', 'dihedral'] as const, 'flip-x');
  for (const name of ['dihedral-at', 'dihedral-until']) {
    if (a.opts.has(name) && augment !== 'dihedral') throw new UsageError(`--${name} needs --augment dihedral (it says when dihedral's extra flips ${name.endsWith('at') ? 'start' : 'stop'})`);
  }
  const photometric = choice(a.opts, 'photometric', ['census', 'l1-ssim'] as const, 'census');
  const model = { inputNorm: choice(a.opts, 'input-norm', ['center', 'none'] as const, DEFAULT_MODEL.inputNorm), corrNorm: choice(a.opts, 'corr-norm', ['moments', 'none'] as const, DEFAULT_MODEL.corrNorm) };
  const ds = new PairDataset(train.clips, size, (d, t) => say(`loading frames: ${d}/${t}`, true), maxGap);
  const plan = crop === size ? `${steps} steps of ${batch}` : cropUntil >= 1 ? `${steps} steps of ${cropBatch} ${crop}x${crop} windows` : `${Math.round(cropUntil * steps)} steps of ${cropBatch} ${crop}x${crop} windows, then ${steps - Math.round(cropUntil * steps)} of ${batch} whole frames`;
  say(`training PWC-Lite on ${ds.pairs.length} frame pairs from ${train.clips.length} clips, ${plan}, on ${e.adapter.description || e.adapter.device}`);
  if (log && !a.opts.has('resume')) writeFileSync(log, '');
  const t0 = performance.now();
  let warnedMask = false;
  const net = await trainFlow(ds, evalClips?.clips.filter((c) => c.gtflow) ?? [], {
    steps, batch, lr, seed, size, out, resume: a.opts.has('resume'), stage2At, distillAt, evalEvery, model, augment, photometric, crop, cropUntil, cropBatch, dihedralAt, dihedralUntil, decayAt, wDistill, scaleWeights, average, averageAt, smoothOrder, smoothWeight, censusPatch, initFrom,
    onOptionChange: (name, was, now) => {
      const flag = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      say(`note: the run being resumed used --${flag} ${was}; it continues with ${now} (pass --${flag} ${was} to keep it)`);
    },
    onLog: (entry) => {
      if (typeof entry.visible === 'number' && entry.visible < 0.05 && !warnedMask) {
        warnedMask = true;
        say(`warning: step ${entry.step}: the occlusion check leaves ${(100 * entry.visible).toFixed(1)} % of pixels visible, so the photometric loss sees almost nothing (the forward and backward flows disagree); an earlier --stage2-at on a weak model does this`);
      }
      if (log) appendFileSync(log, JSON.stringify({ ...entry, elapsed_s: Math.round((performance.now() - t0) / 100) / 10 }) + '\n');
      const el = (performance.now() - t0) / 1000;
      const avg = 'avg_epe' in entry ? `; weight average ${Number(entry.avg_epe).toFixed(3)} px, ratio ${(Number(entry.avg_epe) / Number(entry.zero_epe)).toFixed(3)}` : '';
      if ('epe' in entry) say(`step ${entry.step}: EPE ${Number(entry.epe).toFixed(3)} px (zero flow ${Number(entry.zero_epe).toFixed(3)}, ratio ${(Number(entry.epe) / Number(entry.zero_epe)).toFixed(3)}${avg}) [${el.toFixed(0)} s]`);
      else say(`step ${entry.step}/${steps} stage ${entry.stage} loss ${Number(entry.total).toFixed(4)} (${entry.ms} ms/step, ${el.toFixed(0)} s, ETA ${(((steps - Number(entry.step)) * Number(entry.ms)) / 1000).toFixed(0)} s)`, true);
    },
  });
  if (ship) {
    await saveSafetensors(ship, net, { dtype: 'F16', metadata: { ...net.metadata(), steps: String(steps) } });
    say(`wrote ${ship} (float16)`);
  }
  say(`trained in ${((performance.now() - t0) / 1000).toFixed(0)} s; weights in ${out}`);
  net.dispose();
}

async function cmdEvalFlow(a: Args): Promise<void> {
  known(a, ['data', 'split', 'model', 'json', 'size', 'symmetry', 'bidirectional', 'refine', 'refine-patch']);
  const say = reporter(a);
  const data = resolve(strOpt(a, 'data'));
  const split = strOpt(a, 'split', 'sky_test');
  const size = intOpt(a.opts, 'size', 128, 64);
  const model = a.opts.has('model') ? strOpt(a, 'model') : undefined;
  const { clips, problems } = listClips(data, split, { minFrames: 2 });
  problems.forEach((p) => say(`warning: ${p}`));
  const { model: net, path } = await loadFlowModel(model);
  const t0 = performance.now();
  const symmetry = symmetryOpt(a);
  const bidirectional = bidirectionalOpt(a);
  const refine = refineOpt(a);
  const r = await evaluateFlow(net, clips, { size, symmetry, bidirectional, refine, onProgress: (d, t) => say(`evaluating: ${d}/${t} pairs`, true) });
  const res = { ...r, ratio: r.epe / r.zero_epe, clips: clips.length, model: path, symmetry, bidirectional, refine: refine.steps, refine_patch: refine.steps ? refine.patch : null, seconds: Math.round((performance.now() - t0) / 100) / 10 };
  if (a.opts.has('json')) console.log(JSON.stringify(res));
  else console.log(`EPE ${r.epe.toFixed(4)} px over ${r.pairs} pairs of ${clips.length} clips; zero-flow EPE ${r.zero_epe.toFixed(4)} px; ratio ${res.ratio.toFixed(3)} (model ${path}, symmetry ${symmetry}, bidirectional ${bidirectional ? 'on' : 'off'}, refine ${refine.steps ? `${refine.steps} steps, ${refine.patch}x${refine.patch} census` : 'off'})`);
  net.dispose();
}

async function cmdFlow(a: Args): Promise<void> {
  known(a, ['model', 'out', 'size', 'symmetry', 'bidirectional', 'refine', 'refine-patch']);
  const say = reporter(a);
  if (a.positional.length !== 2) throw new UsageError(`flow needs two frames, got ${a.positional.length}`);
  const size = intOpt(a.opts, 'size', 128, 64);
  const out = resolve(strOpt(a, 'out', 'flow.png'));
  if (!/\.png$/i.test(out)) throw new UsageError(`--out must name a .png file (the .flo goes next to it), got ${out}`);
  const [fa, fb] = a.positional.map((p) => readFrame(p, size));
  const { model: net } = await loadFlowModel(a.opts.has('model') ? strOpt(a, 'model') : undefined);
  const symmetry = symmetryOpt(a);
  const bidirectional = bidirectionalOpt(a);
  const refine = refineOpt(a);
  const flow = await scope(async () => estimateFlow(net, framesTensor([fa!], size, size), framesTensor([fb!], size, size), { symmetry, bidirectional, refine }));
  const planar = await flow.data();
  flow.dispose();
  const inter = planarToInterleaved(planar, size, size);
  const flo = out.replace(/\.png$/i, '.flo');
  writeFileAtomic(out, encodePng({ width: size, height: size, channels: 3, data: flowToRgb(inter, size, size) }));
  writeFileAtomic(flo, encodeFlo(inter, size, size));
  let mag = 0;
  for (let i = 0; i < size * size; i++) mag += Math.hypot(inter[2 * i]!, inter[2 * i + 1]!);
  say(`wrote ${out} and ${flo} (${size}x${size}, mean |flow| ${(mag / size / size).toFixed(3)} px)`);
  net.dispose();
}

/** The official flow folder for a clip inside a Sky Time-lapse tree (<root>/<split>/<vid>/<clip>), else null. */
function officialFlowDir(clipDir: string): string | null {
  const parts = clipDir.split(sep);
  const i = parts.length - 3;
  if (i < 1 || !/^sky_/.test(parts[i]!)) return null;
  const root = parts.slice(0, i).join(sep) || sep;
  // a synthetic data set keeps its exact flows in flow/: estimated ones go next to them, never over them
  return join(root, existsSync(join(root, 'gtflow')) ? 'flow_estimated' : 'flow', ...parts.slice(i));
}

async function cmdFlows(a: Args): Promise<void> {
  known(a, ['model', 'out', 'size', 'symmetry', 'bidirectional', 'refine', 'refine-patch']);
  const say = reporter(a);
  if (a.positional.length !== 1) throw new UsageError(`flows needs one clip folder, got ${a.positional.length}`);
  const clip = resolve(a.positional[0]!);
  if (!existsSync(clip) || !statSync(clip).isDirectory()) throw new Error(`${clip}: no such clip folder`);
  const size = intOpt(a.opts, 'size', 128, 64);
  const frames = readdirSync(clip).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().map((f) => join(clip, f));
  if (frames.length < 2) throw new Error(`${clip} holds ${frames.length} frame(s); flows need at least 2 (a DTVNet sample needs 33)`);
  if (frames.length < 33) say(`note: ${frames.length} frames give ${frames.length - 1} flows; a DTVNet training sample needs 32 (33 frames)`);
  const out = a.opts.has('out') ? resolve(strOpt(a, 'out')) : officialFlowDir(clip) ?? join(clip, 'flow');
  const out64 = join(out, '64x64');
  mkdirSync(out64, { recursive: true });
  const symmetry = symmetryOpt(a);
  const { model: net, path: modelPath } = await loadFlowModel(a.opts.has('model') ? strOpt(a, 'model') : undefined);
  // the settings the cached files were computed with: files from other settings are recomputed, not kept
  const settingsFile = join(out, 'flows.json');
  const bidirectional = bidirectionalOpt(a);
  const refine = refineOpt(a);
  // the patch only matters when there is a refinement: --refine 0 files stay cached whatever --refine-patch says
  const settings = JSON.stringify({ model: resolve(modelPath), size, symmetry, bidirectional, refine: refine.steps, refinePatch: refine.steps ? refine.patch : null });
  let sameSettings = false;
  if (existsSync(settingsFile)) {
    sameSettings = readFileSync(settingsFile, 'utf8').trim() === settings;
    if (!sameSettings) say(`note: ${settingsFile} records other settings (model, --size, --symmetry, --bidirectional, --refine or --refine-patch); every flow is recomputed`);
  }
  const stem = (f: string) => basename(f).replace(/\.[^.]+$/, '');
  // (frame for the file, pair): frame 0 gets the self pair, frame t the pair (t-1, t); the last frame none (FLOW.md §7)
  const jobs = frames.slice(0, -1).map((f, t) => ({ file: stem(f), a: frames[Math.max(0, t - 1)]!, b: f }));
  const fresh = (file: string, src: string[]) => existsSync(file) && src.every((s) => statSync(s).mtimeMs <= statSync(file).mtimeMs);
  const todo = jobs
    .map((j) => ({ ...j, f128: join(out, `${j.file}.npy`), f64: join(out64, `${j.file}.npy`) }))
    .filter((j) => !(sameSettings && fresh(j.f128, [j.a, j.b]) && fresh(j.f64, [j.a, j.b])));
  const cached = jobs.length - todo.length;
  const t0 = performance.now();
  // FLOWS_BATCH pairs per estimate: one stacked network pass and one refinement loop for them all; each frame decoded
  // once per batch
  for (let i = 0; i < todo.length; i += FLOWS_BATCH) {
    const part = todo.slice(i, i + FLOWS_BATCH);
    const decoded = new Map<string, Float32Array>();
    const frame = (path: string) => decoded.get(path) ?? decoded.set(path, readFrame(path, size)).get(path)!;
    const [fl, fl64] = await scope(async () => {
      const f = await estimateFlow(net, framesTensor(part.map((j) => frame(j.a)), size, size), framesTensor(part.map((j) => frame(j.b)), size, size), { symmetry, bidirectional, refine });
      return [f, resizeFlow(f, 64, 64)];
    });
    const [d, d64] = [await fl.data(), await fl64.data()];
    fl.dispose();
    fl64.dispose();
    for (const [k, j] of part.entries()) {
      writeNpyFile(j.f128, planarToInterleaved(d.subarray(k * 2 * size * size, (k + 1) * 2 * size * size), size, size), [size, size, 2]);
      writeNpyFile(j.f64, planarToInterleaved(d64.subarray(k * 2 * 64 * 64, (k + 1) * 2 * 64 * 64), 64, 64), [64, 64, 2]);
    }
    say(`flows: ${i + part.length}/${todo.length}`, true);
  }
  if (!sameSettings) writeFileAtomic(settingsFile, new TextEncoder().encode(settings + '\n'));
  const rel = relative(process.cwd(), out) || '.';
  say(`${jobs.length - cached} flows computed, ${cached} cached, in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${rel}/<frame>.npy [${size}, ${size}, 2] and ${rel}/64x64/`);
  net.dispose();
}

/** Pairs per estimate in `flows`. */
const FLOWS_BATCH = 8;

const COMMANDS: Record<string, (a: Args) => Promise<void>> = {
  generate: cmdGenerate, synth: cmdSynth, 'train-flow': cmdTrainFlow, 'eval-flow': cmdEvalFlow, flow: cmdFlow, flows: cmdFlows,
};

export async function main(argv: string[]): Promise<number> {
  let a: Args;
  try {
    a = parse(argv);
    if (a.opts.has('help') || a.opts.has('h') || a.cmd === 'help' || !a.cmd) {
      console.log(HELP);
      return a.cmd || a.opts.size ? 0 : 2;
    }
    const run = COMMANDS[a.cmd];
    if (!run) throw new UsageError(`unknown command '${a.cmd}'`);
    await run(a);
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError;
    process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}dtvnet: ${(e as Error).message}${usage ? ' (see dtvnet --help)' : ''}\n`);
    return usage ? 2 : 1;
  } finally {
    await close();
  }
}

// Run when executed directly (tools/dtvnet.mjs imports this module and calls main).
if (process.argv[1] && basename(process.argv[1]).startsWith('cli.')) process.exitCode = await main(process.argv.slice(2));
