// Images (decode, resize, tensor conversion), generate(), and the dtvnet command line as a user runs it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import {
  readImage, resizePlanar, imageToInput, videoToFrames, generate, DTVG, manualSeed, encodePng, hasFfmpeg, type Image,
} from '../src/node.js';
import { setup, throwsMatching } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;
const example = join(root, 'src/assets/example-landscape.png');

const img = suite('images');
img.before(setup);

function pngOf(width: number, height: number, colorType: 0 | 2 | 4 | 6, pixel: (x: number, y: number) => number[]): Buffer {
  const p = new pngjs.PNG({ width, height, colorType, inputColorType: 6, inputHasAlpha: true } as pngjs.PNGOptions);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) p.data.set(pixel(x, y), 4 * (y * width + x));
  return pngjs.PNG.sync.write(p, { colorType, inputColorType: 6, inputHasAlpha: true } as pngjs.PNGOptions);
}

img('PNG of every colour type and JPEG decode to RGBA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dtvnet-img-'));
  for (const ct of [0, 2, 4, 6] as const) {
    const f = join(dir, `ct${ct}.png`);
    writeFileSync(f, pngOf(5, 3, ct, (x, y) => [x * 50, y * 100, 200, 128 + x]));
    const im = readImage(f);
    assert.is(im.width, 5);
    assert.is(im.height, 3);
    assert.is(im.channels, 4);
    assert.is(im.data.length, 60);
  }
  const jpg = join(dir, 'a.jpg');
  const raw = Buffer.alloc(16 * 8 * 4, 255);
  writeFileSync(jpg, jpeg.encode({ data: raw, width: 16, height: 8 }, 90).data);
  const j = readImage(jpg);
  assert.equal([j.width, j.height, j.channels], [16, 8, 4]);
  writeFileSync(join(dir, 'text.png'), 'not an image');
  throwsMatching(() => readImage(join(dir, 'text.png')), /text\.png is not a PNG or JPEG image/, 'text');
  const broken = Buffer.from(pngOf(5, 3, 2, () => [1, 2, 3, 255])).subarray(0, 40);
  writeFileSync(join(dir, 'broken.png'), broken);
  throwsMatching(() => readImage(join(dir, 'broken.png')), /broken\.png: cannot decode the PNG image/, 'truncated png');
  throwsMatching(() => readImage(join(dir, 'nope.png')), /nope\.png: no such file/, 'missing');
});

img('resize: identity at the same size, PIL-style triangle filter when shrinking, constant images stay constant', () => {
  const src = Float32Array.from({ length: 2 * 4 * 6 }, (_, i) => (i * 37) % 11);
  assert.equal([...resizePlanar(src, 2, 4, 6, 4, 6)], [...src]);
  // halving: the filter widens to 2 input pixels, so output 0 (centre 1.0) weighs inputs 0, 1, 2 by 0.75, 0.75, 0.25
  const half = resizePlanar(Float32Array.from([1, 3, 5, 7]), 1, 1, 4, 1, 2);
  assert.ok(Math.abs(half[0]! - 17 / 7) < 1e-6 && Math.abs(half[1]! - 39 / 7) < 1e-6, `halving: ${[...half]}`);
  const flat = resizePlanar(new Float32Array(3 * 90 * 160).fill(0.25), 3, 90, 160, 128, 128);
  assert.ok(flat.every((v) => Math.abs(v - 0.25) < 1e-6));
});

img('imageToInput: [1, 3, 128, 128] in [-1, 1]; gray is replicated, alpha composited; crop takes the centre', async () => {
  const gray: Image = { width: 4, height: 2, channels: 2, data: Uint8Array.from([255, 255, 0, 255, 255, 0, 128, 255, 255, 255, 0, 255, 255, 0, 128, 255]) };
  const t = imageToInput(gray, 4, 'stretch');
  assert.equal([...t.shape], [1, 3, 4, 4]);
  const v = await t.data();
  assert.ok(v.every((x) => x >= -1 && x <= 1));
  assert.is(v[0], v[16], 'R = G for a gray image');
  const wide: Image = { width: 6, height: 2, channels: 3, data: Uint8Array.from({ length: 36 }, (_, i) => (Math.floor(i / 3) % 6 < 2 || Math.floor(i / 3) % 6 > 3 ? 0 : 255)) };
  const c = await imageToInput(wide, 2, 'crop').data();
  assert.ok(c.every((x) => Math.abs(x - 1) < 1e-6), 'the centred 2x2 square is the white middle');
  throwsMatching(() => imageToInput({ width: 0, height: 3, channels: 3, data: new Uint8Array(0) }), /0x3 is empty/, 'empty');
});

img('videoToFrames maps [-1, 1] to [0, 255], or stretches each frame', () => {
  const v = Float32Array.from([-1, 1, 0, 0.5, -1, 1, 0, 0.5, -1, 1, 0, 0.5]); // [3, T=1, 2, 2]
  const [f] = videoToFrames(v, 1, 2, 2, 'tanh');
  assert.equal([...f!.data.slice(0, 8)], [0, 0, 0, 255, 255, 255, 255, 255]);
  const [s] = videoToFrames(Float32Array.from([0.2, 0.4, 0.3, 0.3, 0.2, 0.4, 0.3, 0.3, 0.2, 0.4, 0.3, 0.3]), 1, 2, 2, 'stretch');
  assert.equal([s!.data[0], s!.data[4]], [0, 255]);
});

const gen = suite('generate()');
gen.before(setup);

gen('one video per seed, 32 RGBA frames of 128x128; seeds change the motion; the model is left as it was', async () => {
  manualSeed(3);
  const g = new DTVG({ ngf: 16, nBlocks: 1 });
  const image = readImage(example);
  const videos = await generate(g, image, { seeds: [1, 2, 1], batch: 2 });
  assert.is(videos.length, 3);
  for (const v of videos) {
    assert.is(v.frames.length, 32);
    assert.equal([v.frames[0]!.width, v.frames[0]!.height, v.frames[0]!.data.length], [128, 128, 128 * 128 * 4]);
  }
  assert.equal([...videos[0]!.frames[5]!.data], [...videos[2]!.frames[5]!.data], 'same seed, same video');
  assert.not.equal([...videos[0]!.frames[5]!.data], [...videos[1]!.frames[5]!.data], 'other seed, other video');
  assert.ok(g.training, 'training mode restored');
  let threw = false;
  try {
    await generate(g, image, { seeds: [] });
  } catch (e) {
    threw = /seeds must be a non-empty list/.test((e as Error).message);
  }
  assert.ok(threw, 'empty seed list is refused');
  g.dispose();
});

const cli = suite('dtvnet CLI');

function dtvnet(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'tools/dtvnet.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('Warning: maxDynamic')).join('\n') };
}

cli('--help documents the commands and exits 0; bad usage exits 2 with one line', () => {
  const h = dtvnet(['--help']);
  assert.is(h.status, 0);
  assert.match(h.stdout, /dtvnet generate <image\.png\|jpg>/);
  for (const opt of ['--model', '--seed', '--count', '--motion-from', '--out', '--formats', '--fit', '--latent-norm']) assert.ok(h.stdout.includes(opt), opt);
  const bad = dtvnet(['generate', example, '--seed', 'x']);
  assert.is(bad.status, 2);
  assert.is(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /dtvnet: --seed must be an integer >= 0, got 'x'/);
  assert.is(dtvnet(['frobnicate']).status, 2);
});

cli('missing file, non-image and unreadable model: one line, exit 1, nothing written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dtvnet-cli-'));
  const out = join(dir, 'out');
  const missing = dtvnet(['generate', join(dir, 'nope.png'), '--out', out]);
  assert.is(missing.status, 1);
  assert.match(missing.stderr.trim(), /^dtvnet: .*nope\.png: no such file$/);
  writeFileSync(join(dir, 'notes.txt'), 'hello');
  const text = dtvnet(['generate', join(dir, 'notes.txt'), '--out', out]);
  assert.is(text.status, 1);
  assert.match(text.stderr, /notes\.txt is not a PNG or JPEG image/);
  writeFileSync(join(dir, 'bad.safetensors'), Buffer.from('garbage that is not a model'));
  const model = dtvnet(['generate', example, '--model', join(dir, 'bad.safetensors'), '--out', out]);
  assert.is(model.status, 1);
  assert.match(model.stderr, /bad\.safetensors: header length \d+ does not fit/);
  const motion = dtvnet(['generate', example, '--motion-from', dir, '--out', out]);
  assert.is(motion.status, 1);
  assert.match(motion.stderr, /--motion-from needs a trained flow encoder/);
  assert.equal(readdirSync(dir).sort(), ['bad.safetensors', 'notes.txt'], 'no output and no temporary file');
});

cli('generate writes a GIF and a folder of 32 PNG frames (and an MP4 when ffmpeg is there)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dtvnet-cli-'));
  const out = join(dir, 'sky');
  const r = dtvnet(['generate', example, '--out', out, '--seed', '3']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /untrained generator/);
  const gif = readFileSync(`${out}.gif`);
  assert.is(gif.subarray(0, 6).toString('latin1'), 'GIF89a');
  const frames = readdirSync(`${out}_frames`);
  assert.is(frames.length, 32);
  assert.is(frames[0], 'frame_000.png');
  const png = pngjs.PNG.sync.read(readFileSync(join(`${out}_frames`, 'frame_031.png')));
  assert.equal([png.width, png.height], [128, 128]);
  assert.is(existsSync(`${out}.mp4`), hasFfmpeg(), 'an MP4 exactly when ffmpeg is on the PATH');
  assert.ok(readdirSync(dir).every((f) => !f.includes('.tmp')), 'no temporary files left');
});

for (const s of [img, gen, cli]) s.run();
