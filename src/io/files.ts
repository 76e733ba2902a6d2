// Image and video files (Node): PNG/JPEG decoding, animated GIF, PNG frame folders and MP4 (through ffmpeg when it
// is on the PATH). Every output is written under a temporary name and renamed into place, so a failure never
// leaves a partial file or folder behind.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import gifenc from 'gifenc';
import type { Image } from './image.js';

export class FileError extends Error {
  override name = 'FileError';
}

const tmpName = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);

/** Write bytes atomically (temporary file, then rename). */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = tmpName(path);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new FileError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/** Decode a PNG (any colour type and bit depth) or JPEG file by its magic bytes. */
export function readImage(path: string): Image {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileError(code === 'ENOENT' ? `${path}: no such file` : code === 'EISDIR' ? `${path} is a folder, not an image` : `cannot read ${path}: ${(e as Error).message}`);
  }
  const isPng = bytes.length > 8 && bytes.readUInt32BE(0) === 0x89504e47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  try {
    if (isPng) {
      const png = pngjs.PNG.sync.read(bytes); // any colour type -> 8-bit RGBA
      return { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
    }
    if (isJpeg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, channels: 4, data: img.data };
    }
  } catch (e) {
    throw new FileError(`${path}: cannot decode the ${isPng ? 'PNG' : 'JPEG'} image (${(e as Error).message})`);
  }
  throw new FileError(`${path} is not a PNG or JPEG image`);
}

function rgba(img: Image): Uint8Array {
  if (img.channels === 4) return new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length);
  const out = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) out[4 * i + c] = img.data[i * img.channels + (img.channels <= 2 ? 0 : c)]!;
    out[4 * i + 3] = img.channels === 2 ? img.data[2 * i + 1]! : 255;
  }
  return out;
}

export function encodePng(img: Image): Uint8Array {
  const png = new pngjs.PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(rgba(img));
  return pngjs.PNG.sync.write(png);
}

/** Animated GIF, one 256-colour palette per frame, looping forever. */
export function writeGif(path: string, frames: Image[], fps = 25): void {
  const gif = gifenc.GIFEncoder();
  const delay = Math.round(1000 / fps);
  for (const f of frames) {
    const data = rgba(f);
    const palette = gifenc.quantize(data, 256);
    gif.writeFrame(gifenc.applyPalette(data, palette), f.width, f.height, { palette, delay, repeat: 0 });
  }
  gif.finish();
  writeFileAtomic(path, gif.bytes());
}

/** A folder of frame_000.png, frame_001.png, ... (built in a temporary folder, then renamed). */
export function writePngFrames(dir: string, frames: Image[]): void {
  const tmp = tmpName(dir);
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    frames.forEach((f, i) => writeFileSync(join(tmp, `frame_${String(i).padStart(3, '0')}.png`), encodePng(f)));
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new FileError(`cannot write frames to ${dir}: ${(e as Error).message}`);
  }
}

/** Is ffmpeg on the PATH? */
export function hasFfmpeg(): boolean {
  return spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
}

/** H.264 MP4 through ffmpeg (raw RGB frames on its stdin). */
export async function writeMp4(path: string, frames: Image[], fps = 25): Promise<void> {
  if (!frames.length) throw new FileError('writeMp4: no frames');
  const { width: W, height: H } = frames[0]!;
  const tmp = tmpName(path) + '.mp4';
  const args = ['-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', String(fps), '-i', '-',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', tmp];
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ffmpeg', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => reject(new FileError(`cannot run ffmpeg: ${e.message}`)));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new FileError(`ffmpeg failed (exit ${code}): ${err.trim()}`))));
    for (const f of frames) {
      const rgb = new Uint8Array(W * H * 3);
      const src = rgba(f);
      for (let i = 0; i < W * H; i++) rgb.set(src.subarray(4 * i, 4 * i + 3), 3 * i);
      p.stdin.write(rgb);
    }
    p.stdin.end();
  }).catch((e) => {
    rmSync(tmp, { force: true });
    throw e;
  });
  renameSync(tmp, path);
}

