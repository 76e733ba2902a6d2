// Sky time-lapse data on disk (Node): writing SynthSky data sets in the official layout (DATA.md §1.2, §2.7),
// listing the clip folders of a data set (real or synthetic), reading frames and .npy flow files.
//
//   <root>/<split>/<vid>/<clip>/<vid>_frames_%08d.png          frames 0..T
//   <root>/flow/<split>/<vid>/<clip>/<frame stem>.npy          official pairing: frame 0 → zeros, frame t ≥ 1 → F_{t−1}
//   <root>/gtflow/<split>/<vid>/<clip>/<frame stem>.npy        exact forward flow F_t under frame t's stem, t = 0..T−1
//   <root>/params/<split>/<vid>/<clip>.json                    the clip's SynthParams

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { readImage, writeFileAtomic, encodePng } from '../io/files.js';
import { toPlanarRGB, resizePlanar } from '../io/image.js';
import { encodeNpy, decodeNpy } from '../io/npy.js';
import { drawSynthParams, renderSynthClip, type SynthMode } from './synth.js';

export type SkySplit = 'sky_train' | 'sky_test';

export interface SynthDatasetOptions {
  clips: number;
  /** frame size (default 128) */
  size?: number;
  /** frames per clip (default 33: 32 flows) */
  frames?: number;
  /** data set seed (default 0); clip i uses drawSynthParams(seed, i, size) */
  seed?: number;
  split?: SkySplit;
  mode?: SynthMode;
  /** called after every clip */
  onClip?: (done: number, total: number) => void;
}

/** The video folder name of clip `index` of data set `seed`. */
export function synthVideoId(seed: number, index: number): string {
  return `synth${seed}_${String(index).padStart(4, '0')}`;
}

/** Write a .npy file (float32, C order) atomically, creating its folder. */
export function writeNpyFile(path: string, data: Float32Array, shape: number[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, encodeNpy(data, shape));
}

/** Read a .npy file of '<f4' values; errors name the file. */
export function readNpyFile(path: string): { shape: number[]; data: Float32Array } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path}: ${(e as Error).message}`);
  }
  return decodeNpy(bytes, path);
}

/**
 * Render `clips` SynthSky clips and write them in the official layout (see the top of this file) under `root`.
 * Every file is written atomically; an existing clip is overwritten file by file. Returns the clip ids
 * ('<vid>/<clip>').
 */
export async function writeSynthDataset(root: string, opts: SynthDatasetOptions): Promise<{ clips: string[] }> {
  const { clips, size = 128, frames = 33, seed = 0, split = 'sky_train', mode = 'default' } = opts;
  if (!(Number.isInteger(clips) && clips >= 0)) throw new Error(`writeSynthDataset: clips must be an integer >= 0, got ${clips}`);
  if (!(Number.isInteger(frames) && frames >= 2)) throw new Error(`writeSynthDataset: frames must be an integer >= 2, got ${frames}`);
  if (!(Number.isInteger(size) && size >= 2)) throw new Error(`writeSynthDataset: size must be an integer >= 2, got ${size}`);
  if (split !== 'sky_train' && split !== 'sky_test') throw new Error(`writeSynthDataset: split must be 'sky_train' or 'sky_test', got '${String(split)}'`);
  const ids: string[] = [];
  const clipName = '1';
  const zeros = new Float32Array(size * size * 2);
  const flowShape = [size, size, 2];
  for (let i = 0; i < clips; i++) {
    const vid = synthVideoId(seed, i);
    const params = { ...drawSynthParams(seed, i, size), mode };
    const clip = renderSynthClip(params, { size, frames });
    const frameDir = join(root, split, vid, clipName);
    const flowDir = join(root, 'flow', split, vid, clipName);
    const gtDir = join(root, 'gtflow', split, vid, clipName);
    const paramDir = join(root, 'params', split, vid);
    for (const d of [frameDir, flowDir, gtDir, paramDir]) mkdirSync(d, { recursive: true });
    const stems = clip.frames.map((_, t) => `${vid}_frames_${String(t).padStart(8, '0')}`);
    clip.frames.forEach((rgb, t) => {
      writeFileAtomic(join(frameDir, `${stems[t]}.png`), encodePng({ width: size, height: size, channels: 3, data: rgb }));
      // official pairing (DTVNET.md §7): frame 0 holds the zero self-flow, frame t ≥ 1 the flow from t − 1 to t
      writeNpyFile(join(flowDir, `${stems[t]}.npy`), t === 0 ? zeros : clip.flows[t - 1]!, flowShape);
    });
    clip.flows.forEach((f, t) => writeNpyFile(join(gtDir, `${stems[t]}.npy`), f, flowShape));
    writeFileAtomic(join(paramDir, `${clipName}.json`), new TextEncoder().encode(JSON.stringify(params, null, 2) + '\n'));
    ids.push(`${vid}/${clipName}`);
    opts.onClip?.(i + 1, clips);
    await new Promise<void>((r) => setImmediate(r)); // let progress output and signals through between clips
  }
  return { clips: ids };
}

export interface ClipInfo {
  /** '<vid>/<clip>' */
  id: string;
  /** the clip's frame folder */
  dir: string;
  /** absolute frame paths, sorted by name */
  frames: string[];
  /**
   * when <root>/gtflow/<split>/<vid>/<clip> exists: gtflow[t] is the path of the exact flow F_t from frame t to
   * frame t + 1 (stored under frame t's stem), t = 0..frames.length − 2
   */
  gtflow: string[] | null;
}

const FRAME_EXT = new Set(['.png', '.jpg', '.jpeg']);

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function subdirs(path: string): string[] {
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && isDir(join(path, e.name)))))
    .map((e) => e.name)
    .sort();
}

/**
 * The clip folders <root>/<split>/<vid>/<clip> with their frames (*.png, *.jpg, *.jpeg, sorted by name) and, for
 * synthetic data, the ground-truth flows. Folders with fewer than `minFrames` frames (default 1), video folders
 * without clip folders and clips with incomplete ground truth are reported in `problems`, never skipped silently.
 * Throws when the root or split folder is missing or no usable clip is found.
 */
export function listClips(root: string, split = 'sky_train', opts: { minFrames?: number } = {}): { clips: ClipInfo[]; problems: string[] } {
  const minFrames = opts.minFrames ?? 1;
  const hint = 'make a synthetic data set with `dtvnet synth --out <dir> --clips N` or point to the Sky Time-lapse folder';
  const absRoot = resolve(root);
  if (!isDir(absRoot)) throw new Error(`data folder ${absRoot} does not exist (${hint})`);
  const splitDir = join(absRoot, split);
  if (!isDir(splitDir)) throw new Error(`split folder ${splitDir} does not exist (${hint})`);
  const clips: ClipInfo[] = [];
  const problems: string[] = [];
  for (const vid of subdirs(splitDir)) {
    const vidDir = join(splitDir, vid);
    const clipNames = subdirs(vidDir);
    if (!clipNames.length) {
      problems.push(`${vidDir}: no clip folders (expected ${split}/<videoID>/<clipID>/<frames>)`);
      continue;
    }
    for (const clip of clipNames) {
      const dir = join(vidDir, clip);
      const frames = readdirSync(dir)
        .filter((f) => !f.startsWith('.') && FRAME_EXT.has(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(dir, f));
      if (frames.length < minFrames) {
        problems.push(`${dir}: ${frames.length} frame${frames.length === 1 ? '' : 's'}, fewer than the ${minFrames} needed; skipped`);
        continue;
      }
      let gtflow: string[] | null = null;
      const gtDir = join(absRoot, 'gtflow', split, vid, clip);
      if (isDir(gtDir)) {
        const paths = frames.slice(0, -1).map((f) => join(gtDir, `${basename(f, extname(f))}.npy`));
        const missing = paths.filter((p) => !existsSync(p));
        if (missing.length) {
          problems.push(`${gtDir}: ${missing.length} of ${paths.length} ground-truth flow files missing (first: ${basename(missing[0]!)}); the clip has no ground truth`);
        } else {
          gtflow = paths;
        }
      }
      clips.push({ id: `${vid}/${clip}`, dir, frames, gtflow });
    }
  }
  if (!clips.length) {
    const shown = problems.slice(0, 3).join('; ');
    throw new Error(`no clip folders with at least ${minFrames} frame${minFrames === 1 ? '' : 's'} under ${splitDir}` +
      (problems.length ? ` (${problems.length} problem${problems.length === 1 ? '' : 's'}: ${shown}${problems.length > 3 ? '; …' : ''})` : ` (${hint})`));
  }
  return { clips, problems };
}

/**
 * A frame as planar RGB [3, size, size] in [0, 1], stretched to size×size (antialiased bilinear, as the data
 * pipeline resizes the 640×360 frames) when the file has another size. Errors name the file.
 */
export function readFrame(path: string, size: number): Float32Array {
  const img = readImage(path);
  const rgb = toPlanarRGB(img);
  if (img.width === size && img.height === size) return rgb;
  return resizePlanar(rgb, 3, img.height, img.width, size, size);
}
