// The `dtvnet` command line (Node). `dtvnet --help` lists the commands.

import { basename, extname, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { init, close, loadGenerator, generate, readImage, writeGif, writePngFrames, writeMp4, hasFfmpeg } from './node.js';

const HELP = `dtvnet — DTVNet on WebGPU: one still landscape photo in, a 32-frame time-lapse out.

Usage:
  dtvnet generate <image.png|jpg> [options]
  dtvnet --help

generate options:
  --model <file>          generator weights (.safetensors with the official PyTorch keys). Without it the
                          generator is randomly initialised: no trained model ships yet, so the output is an
                          untrained network's video (a warning says so)
  --seed <N>              seed of the motion vector z ~ N(0, I) (default 0)
  --count <K>             K videos with seeds N, N+1, ..., N+K-1 (default 1)
  --motion-from <clip>    take the motion from a real clip instead of a seed (needs the flow estimator)
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
  const flags = new Set(['quiet', 'help', 'h']);
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

function choice<T extends string>(opts: Map<string, string | true>, name: string, values: readonly T[], dflt: T): T {
  const v = opts.get(name);
  if (v === undefined) return dflt;
  if (!values.includes(v as T)) throw new UsageError(`--${name} must be one of ${values.join(', ')}, got '${String(v)}'`);
  return v as T;
}

async function cmdGenerate(a: Args): Promise<void> {
  const known = new Set(['model', 'seed', 'count', 'motion-from', 'out', 'formats', 'fit', 'scaling', 'latent-norm', 'fps', 'batch', 'quiet']);
  for (const k of a.opts.keys()) if (!known.has(k)) throw new UsageError(`unknown option --${k}`);
  if (a.positional.length !== 1) throw new UsageError(`generate needs exactly one image, got ${a.positional.length}`);
  const imagePath = a.positional[0]!;
  const quiet = a.opts.has('quiet');
  const tty = process.stderr.isTTY && !quiet;
  const say = (msg: string, transient = false) => {
    if (quiet) return;
    if (tty) process.stderr.write(`\r\x1b[K${msg}${transient ? '' : '\n'}`);
    else if (!transient) process.stderr.write(msg + '\n');
  };
  if (a.opts.has('motion-from')) {
    throw new Error('--motion-from needs the unsupervised flow estimator to turn the clip into flows, and it is not part of this version yet; use --seed');
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

export async function main(argv: string[]): Promise<number> {
  let a: Args;
  try {
    a = parse(argv);
    if (a.opts.has('help') || a.opts.has('h') || a.cmd === 'help' || !a.cmd) {
      console.log(HELP);
      return a.cmd || a.opts.size ? 0 : 2;
    }
    if (a.cmd !== 'generate') throw new UsageError(`unknown command '${a.cmd}'`);
    await cmdGenerate(a);
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
