// SynthSky (DATA.md §2): .npy files, the generator's acceptance checks (§2.9), and the data set on disk. CPU only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, copyFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, decodeNpy } from '../src/io/npy.js';
import { encodePng } from '../src/io/files.js';
import { drawSynthParams, renderSynthClip, flowMap, cosine, type SynthParams } from '../src/data/synth.js';
import { writeSynthDataset, listClips, readFrame, readNpyFile, writeNpyFile } from '../src/data/sky.js';
import { throwsMatching } from './helpers.js';

// ---------------------------------------------------------------------------------------------------------------
const npy = suite('npy');

/** A .npy file with a hand-written header dict (format major.0) and `dataBytes` bytes of data. */
function npyWith(dict: string, dataBytes: number, major = 1): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  let header = dict;
  while ((pre + header.length + 1) % 64) header += ' ';
  header += '\n';
  const out = new Uint8Array(pre + header.length + dataBytes);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  return out;
}

npy('encode: NumPy 1.0 header, <f4, C order, data 64-byte aligned; decode round trips', () => {
  for (const shape of [[4, 3, 2], [7], [], [128, 128, 2]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e3 - 0.5);
    const bytes = encodeNpy(data, shape);
    assert.equal([...bytes.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLen = bytes[8]! | (bytes[9]! << 8);
    assert.is((10 + headerLen) % 64, 0, 'data offset is a multiple of 64');
    assert.is(bytes.length, 10 + headerLen + 4 * n);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
    const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
    assert.is(header.trimEnd(), `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`);
    assert.is(header.at(-1), '\n');
    const back = decodeNpy(bytes, 'x.npy');
    assert.equal(back.shape, shape);
    assert.equal([...back.data], [...data]);
  }
  // a view at an odd offset of a larger buffer decodes too
  const bytes = encodeNpy(Float32Array.of(1, 2, 3), [3]);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.equal([...decodeNpy(shifted.subarray(1), 'odd.npy').data], [1, 2, 3]);
  throwsMatching(() => encodeNpy(new Float32Array(5), [2, 3]), /shape \[2, 3\] holds 6 values but the data has 5/, 'encode count');
});

npy('decode: version 2.0 headers; bad magic, other dtypes, fortran order and wrong sizes throw naming the file', () => {
  const v2 = npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", 8, 2);
  new DataView(v2.buffer).setFloat32(v2.length - 8, 1.5, true);
  new DataView(v2.buffer).setFloat32(v2.length - 4, -2, true);
  const d = decodeNpy(v2, 'v2.npy');
  assert.equal(d.shape, [2, 1]);
  assert.equal([...d.data], [1.5, -2]);
  const good = encodeNpy(new Float32Array(6), [2, 3]);
  const badMagic = good.slice();
  badMagic[1] = 0x58;
  throwsMatching(() => decodeNpy(badMagic, 'flows/a.npy'), /^flows\/a\.npy: not a \.npy file \(bad magic/, 'magic');
  throwsMatching(() => decodeNpy(new Uint8Array(3), 'tiny.npy'), /^tiny\.npy: not a \.npy file/, 'too short');
  throwsMatching(() => decodeNpy(npyWith("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16), 'f8.npy'),
    /^f8\.npy: unsupported dtype '<f8' \(expected '<f4'/, 'f8');
  throwsMatching(() => decodeNpy(npyWith("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8), 'be.npy'),
    /^be\.npy: unsupported dtype '>f4'/, 'big-endian');
  throwsMatching(() => decodeNpy(npyWith("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16), 'fo.npy'),
    /^fo\.npy: fortran_order True is not supported/, 'fortran');
  throwsMatching(() => decodeNpy(good.subarray(0, good.length - 4), 'short.npy'),
    /^short\.npy: shape \(2, 3\) of '<f4' needs 24 data bytes, the file holds 20/, 'truncated data');
  throwsMatching(() => decodeNpy(npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12), 'long.npy'),
    /^long\.npy: .*needs 8 data bytes, the file holds 12/, 'extra data');
  const v9 = good.slice();
  v9[6] = 9;
  throwsMatching(() => decodeNpy(v9, 'v9.npy'), /^v9\.npy: unsupported \.npy format version 9\.0/, 'version');
});

// ---------------------------------------------------------------------------------------------------------------
const gen = suite('SynthSky generator');

/** A clip of the given kind among the first 200 of seed 0. */
function find(pred: (p: SynthParams) => boolean, size = 128): SynthParams {
  for (let i = 0; i < 200; i++) {
    const p = drawSynthParams(0, i, size);
    if (pred(p)) return p;
  }
  throw new Error('no such clip in the first 200');
}
const isStatic = (p: SynthParams) => p.wind.speed === 0 && p.swirl.every((s) => s.amp === 0);

gen('parameters: JSON, deterministic, ranges of §2.2/§2.4/§2.5 scaled with the size, ~10 % static, some sky-only', () => {
  const a = drawSynthParams(3, 17);
  assert.equal(drawSynthParams(3, 17), a);
  assert.equal(JSON.parse(JSON.stringify(a)), a);
  assert.not.equal(drawSynthParams(3, 18), a);
  assert.not.equal(drawSynthParams(4, 17), a);
  let statics = 0;
  let skyOnly = 0;
  for (let i = 0; i < 300; i++) {
    const p = drawSynthParams(1, i);
    const h = drawSynthParams(1, i, 64);
    assert.ok(Math.abs(h.lambda0 * 2 - p.lambda0) < 1e-9 && Math.abs(h.wind.speed * 2 - p.wind.speed) < 1e-9, 'scaled with size');
    if (isStatic(p)) statics++;
    else assert.ok(p.wind.speed >= 0 && p.wind.speed <= 2, `wind ${p.wind.speed}`);
    if (p.horizon - p.horizonAmp > 127) skyOnly++;
    else assert.ok(p.horizon >= 80 && p.horizon <= 120, `y_h ${p.horizon}`);
    assert.ok(p.swirl.length >= 2 && p.swirl.length <= 4);
    assert.ok(p.swirl.reduce((s, m) => s + m.amp, 0) < 1);
    for (const m of p.swirl) {
      const wl = (2 * Math.PI) / Math.hypot(m.kx, m.ky);
      assert.ok(wl >= 48 - 1e-9 && wl <= 160 + 1e-9, `wavelength ${wl}`);
      assert.ok(Math.abs(m.drift) <= 0.05);
    }
    const dir = Math.abs(Math.atan2(Math.sin(p.wind.direction), Math.cos(p.wind.direction)));
    assert.ok(dir <= Math.PI / 6 + 1e-9 || dir >= (5 * Math.PI) / 6 - 1e-9, `direction ${p.wind.direction}`);
    assert.ok(p.lambda0 >= 48 && p.lambda0 <= 128 && p.coverage >= 0.3 && p.coverage <= 0.7);
  }
  assert.ok(statics >= 15 && statics <= 50, `${statics} static clips of 300`);
  assert.ok(skyOnly >= 20, `${skyOnly} sky-only clips of 300`);
  let worst = 0;
  for (let x = -40; x < 40; x += 0.0137) worst = Math.max(worst, Math.abs(cosine(x) - Math.cos(x)));
  assert.ok(worst < 1e-12, `cosine error ${worst}`);
});

gen('check 2: Φ_{t+1→t}(Φ_{t→t+1}(p)) = p within 1e-4 px; flows are Φ_{t→t+1}(p) − p', () => {
  const moving = [0, 1, 2, 3].map((i) => find((p) => !isStatic(p) && p.index >= i * 10));
  let worst = 0;
  for (const p of moving) {
    for (let y = -4; y < 132; y += 9) {
      for (let x = -4; x < 132; x += 7) {
        for (const t of [0, 13, 31]) {
          const [a, b] = flowMap(p, x, y, t, t + 1);
          const [c, d] = flowMap(p, a, b, t + 1, t);
          worst = Math.max(worst, Math.hypot(c - x, d - y));
        }
      }
    }
    // Φ composes: two frames at once = one frame twice (to float rounding)
    const [a, b] = flowMap(p, 40.5, 60.25, 3, 5);
    const [c, d] = flowMap(p, ...flowMap(p, 40.5, 60.25, 3, 4), 4, 5);
    assert.ok(Math.hypot(a - c, b - d) < 1e-9);
  }
  assert.ok(worst < 1e-4, `round trip error ${worst} px`);
  const p = find((q) => !isStatic(q) && q.horizon - q.horizonAmp > 31, 32); // sky-only: every pixel has cloud flow
  const clip = renderSynthClip(p, { frames: 3 });
  assert.is(clip.size, 32);
  assert.is(clip.frames.length, 3);
  assert.is(clip.flows.length, 2);
  assert.is(clip.frames[0]!.length, 32 * 32 * 3);
  assert.is(clip.flows[0]!.length, 32 * 32 * 2);
  for (const [x, y, t] of [[0, 0, 0], [31, 5, 1], [17, 30, 1]] as const) {
    const [a, b] = flowMap(p, x, y, t, t + 1);
    const i = y * 32 + x;
    assert.ok(Math.abs(clip.flows[t]![2 * i]! - (a - x)) < 1e-5 && Math.abs(clip.flows[t]![2 * i + 1]! - (b - y)) < 1e-5);
  }
});

gen('check 3: a static clip has zero flow and identical frames', () => {
  const p = find(isStatic, 32);
  const clip = renderSynthClip(p, { frames: 4 });
  for (const f of clip.flows) assert.ok(f.every((v) => v === 0));
  for (const f of clip.frames.slice(1)) assert.equal(f, clip.frames[0]);
  assert.ok(clip.frames[0]!.some((v, i) => v !== clip.frames[0]![i % 3]), 'the frame is not blank');
});

/** mean |warp_border(I_{t+1}, F_t) − I_t| (in 1/255 units) over pixels whose p + F lies inside the frame */
function warpError(frames: Uint8Array[], flows: Float32Array[], S: number): number {
  let sum = 0;
  let count = 0;
  for (let t = 0; t + 1 < frames.length; t++) {
    const next = frames[t + 1]!;
    const cur = frames[t]!;
    const F = flows[t]!;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x;
        const sx = x + F[2 * i]!;
        const sy = y + F[2 * i + 1]!;
        if (!(sx >= 0 && sy >= 0 && sx <= S - 1 && sy <= S - 1)) continue;
        // bilinear with border clamping, float64
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const ax = sx - x0;
        const ay = sy - y0;
        const x1 = Math.min(x0 + 1, S - 1);
        const y1 = Math.min(y0 + 1, S - 1);
        for (let c = 0; c < 3; c++) {
          const at = (xx: number, yy: number) => next[3 * (yy * S + xx) + c]!;
          const v = (1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x1, y0)) + ay * ((1 - ax) * at(x0, y1) + ax * at(x1, y1));
          sum += Math.abs(v - cur[3 * i + c]!);
          count++;
        }
      }
    }
  }
  return sum / count;
}

gen('check 1: pure-advection frames warp onto each other (mean error < 1/255), size 64, 3 frames', () => {
  let clips = 0;
  for (let i = 0; clips < 3; i++) {
    const p: SynthParams = { ...drawSynthParams(5, i, 64), mode: 'pure-advection' };
    if (isStatic(p)) continue;
    const clip = renderSynthClip(p, { frames: 3 });
    let moved = 0;
    for (const v of clip.flows[0]!) moved = Math.max(moved, Math.abs(v));
    assert.ok(moved > 0.05, 'the clip moves');
    const err = warpError(clip.frames, clip.flows, 64);
    assert.ok(err < 1, `clip ${i}: mean warp error ${err.toFixed(3)}/255`);
    // without the flow the frames differ more
    const zero = clip.flows.map((f) => new Float32Array(f.length));
    assert.ok(warpError(clip.frames, zero, 64) > err, 'zero flow is worse');
    clips++;
  }
});

gen('a steady wind without swirl: flow = wind on the cloud layer, 0 on the ground (which does not change)', () => {
  const base = drawSynthParams(2, 0, 32);
  const p: SynthParams = {
    ...base,
    wind: { speed: 1.3, direction: 0.4, modAmp: 0, modPeriod: 64, modPhase: 0 },
    swirl: [],
    horizon: 20,
    horizonAmp: 3,
  };
  const [wx, wy] = [1.3 * Math.cos(0.4), 1.3 * Math.sin(0.4)];
  const [a, b] = flowMap(p, 3.5, -2, 2, 7);
  assert.ok(Math.abs(a - (3.5 + 5 * wx)) < 1e-9 && Math.abs(b - (-2 + 5 * wy)) < 1e-9);
  const clip = renderSynthClip(p, { frames: 3 });
  for (const f of clip.flows) {
    for (let x = 0; x < 32; x++) {
      let seenGround = false;
      for (let y = 0; y < 32; y++) {
        const i = y * 32 + x;
        const [u, v] = [f[2 * i]!, f[2 * i + 1]!];
        const ground = u === 0 && v === 0;
        if (y <= 16) assert.ok(!ground, `(${x}, ${y}) is sky`);
        if (y >= 24) assert.ok(ground, `(${x}, ${y}) is ground`);
        if (seenGround) assert.ok(ground, 'the ground is below the horizon');
        seenGround ||= ground;
        if (!ground) assert.ok(Math.abs(u - wx) < 1e-6 && Math.abs(v - wy) < 1e-6, `flow (${u}, ${v}) at (${x}, ${y})`);
      }
    }
  }
  const rows = (f: Uint8Array) => f.subarray(24 * 32 * 3);
  assert.equal(rows(clip.frames[2]!), rows(clip.frames[0]!), 'the ground is static');
  assert.not.equal(clip.frames[1]!.subarray(0, 16 * 32 * 3), clip.frames[0]!.subarray(0, 16 * 32 * 3), 'the sky moves');
});

gen('determinism: the same parameters (also through JSON) give identical bytes; another seed differs', () => {
  const p = drawSynthParams(9, 4, 32);
  const a = renderSynthClip(p, { frames: 3 });
  const b = renderSynthClip(JSON.parse(JSON.stringify(p)) as SynthParams, { frames: 3 });
  for (let t = 0; t < 3; t++) assert.equal(b.frames[t], a.frames[t]);
  for (let t = 0; t < 2; t++) assert.equal(b.flows[t], a.flows[t]);
  const c = renderSynthClip(drawSynthParams(10, 4, 32), { frames: 3 });
  assert.not.equal(c.frames[0], a.frames[0]);
  // another render size shows the rescaled scene
  const big = renderSynthClip(p, { size: 64, frames: 2 });
  assert.is(big.size, 64);
  assert.is(big.frames[0]!.length, 64 * 64 * 3);
  let frames = 0;
  renderSynthClip(p, { frames: 2, onFrame: () => frames++ });
  assert.is(frames, 2);
});

// ---------------------------------------------------------------------------------------------------------------
const disk = suite('SynthSky data set on disk');
const temps: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'dtvnet-synth-'));
  temps.push(d);
  return d;
};
disk.after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

disk('writeSynthDataset writes the official layout; listClips finds it; flow/ pairs frame 0 with zeros and t with F_{t−1}', async () => {
  const root = tempDir();
  const progress: string[] = [];
  const r = await writeSynthDataset(root, { clips: 2, size: 32, frames: 4, seed: 7, onClip: (d, t) => progress.push(`${d}/${t}`) });
  assert.equal(r.clips, ['synth7_0000/1', 'synth7_0001/1']);
  assert.equal(progress, ['1/2', '2/2']);
  const vid = 'synth7_0001';
  const stems = [0, 1, 2, 3].map((t) => `${vid}_frames_${String(t).padStart(8, '0')}`);
  assert.equal(readdirSync(join(root, 'sky_train', vid, '1')), stems.map((s) => `${s}.png`));
  assert.equal(readdirSync(join(root, 'flow', 'sky_train', vid, '1')), stems.map((s) => `${s}.npy`));
  assert.equal(readdirSync(join(root, 'gtflow', 'sky_train', vid, '1')), stems.slice(0, 3).map((s) => `${s}.npy`));
  const params = JSON.parse(readFileSync(join(root, 'params', 'sky_train', vid, '1.json'), 'utf8')) as SynthParams;
  assert.equal(params, drawSynthParams(7, 1, 32));
  assert.ok(!readdirSync(join(root, 'sky_train', vid, '1')).some((f) => f.includes('.tmp')), 'no temporary files left');

  const clip = renderSynthClip(params, { frames: 4 });
  const flowAt = (kind: string, t: number) => readNpyFile(join(root, kind, 'sky_train', vid, '1', `${stems[t]}.npy`));
  const f0 = flowAt('flow', 0);
  assert.equal(f0.shape, [32, 32, 2]);
  assert.ok(f0.data.every((v) => v === 0), 'frame 0: zero self-flow');
  for (let t = 1; t < 4; t++) assert.equal(flowAt('flow', t).data, clip.flows[t - 1], `flow/ frame ${t} holds F_${t - 1}`);
  for (let t = 0; t < 3; t++) assert.equal(flowAt('gtflow', t).data, clip.flows[t], `gtflow/ frame ${t} holds F_${t}`);

  const { clips, problems } = listClips(root, 'sky_train', { minFrames: 2 });
  assert.equal(problems, []);
  assert.equal(clips.map((c) => c.id), r.clips);
  const c = clips[1]!;
  assert.is(c.dir, join(root, 'sky_train', vid, '1'));
  assert.equal(c.frames, stems.map((s) => join(c.dir, `${s}.png`)));
  assert.equal(c.gtflow, stems.slice(0, 3).map((s) => join(root, 'gtflow', 'sky_train', vid, '1', `${s}.npy`)));
  // the PNG holds the rendered frame exactly
  const px = readFrame(c.frames[2]!, 32);
  assert.is(px.length, 3 * 32 * 32);
  for (const i of [0, 100, 1023]) for (let ch = 0; ch < 3; ch++) assert.is(Math.round(px[ch * 1024 + i]! * 255), clip.frames[2]![3 * i + ch]);

  // a clip that is too short is reported, not silently dropped; a clip without complete ground truth has none
  const short = join(root, 'sky_train', 'real_a', '7');
  mkdirSync(short, { recursive: true });
  copyFileSync(c.frames[0]!, join(short, 'real_a_frames_00000001.png'));
  const gap = join(root, 'sky_train', 'real_b', '1');
  mkdirSync(gap, { recursive: true });
  for (const f of c.frames) copyFileSync(f, join(gap, f.split('/').pop()!.replace(vid, 'real_b')));
  mkdirSync(join(root, 'gtflow', 'sky_train', 'real_b', '1'), { recursive: true });
  mkdirSync(join(root, 'sky_train', 'empty_video'), { recursive: true });
  const again = listClips(root, 'sky_train', { minFrames: 2 });
  assert.equal(again.clips.map((x) => x.id), ['real_b/1', ...r.clips]);
  assert.is(again.clips[0]!.gtflow, null);
  assert.is(again.problems.length, 3, again.problems.join('\n'));
  assert.match(again.problems.join('\n'), /empty_video: no clip folders/);
  assert.match(again.problems.join('\n'), new RegExp(`${short}: 1 frame, fewer than the 2 needed`));
  assert.match(again.problems.join('\n'), /gtflow\/sky_train\/real_b\/1: 3 of 3 ground-truth flow files missing/);
  assert.is(listClips(root, 'sky_train').problems.length, 2, 'one frame is enough by default');
});

disk('listClips: a missing root or split, or no usable clip, is an error naming the path', async () => {
  const root = tempDir();
  throwsMatching(() => listClips(join(root, 'nope')), new RegExp(`${join(root, 'nope')} does not exist.*dtvnet synth --out <dir>`), 'root');
  throwsMatching(() => listClips(root, 'sky_test'), new RegExp(`${join(root, 'sky_test')} does not exist.*dtvnet synth --out`), 'split');
  mkdirSync(join(root, 'sky_test', 'v', '1'), { recursive: true });
  writeFileSync(join(root, 'sky_test', 'v', '1', 'notes.txt'), 'not a frame');
  throwsMatching(() => listClips(root, 'sky_test', { minFrames: 2 }), /no clip folders with at least 2 frames under .*sky_test \(1 problem: .*v\/1: 0 frames/, 'empty');
});

disk('readFrame stretches other sizes to size×size; a corrupt frame is an error naming it; npy files round trip atomically', () => {
  const dir = tempDir();
  const wide = new Uint8Array(40 * 20 * 3);
  for (let i = 0; i < 40 * 20; i++) wide.set([200, 100, 50], 3 * i);
  writeFileSync(join(dir, 'wide.png'), encodePng({ width: 40, height: 20, channels: 3, data: wide }));
  const f = readFrame(join(dir, 'wide.png'), 16);
  assert.is(f.length, 3 * 16 * 16);
  for (let i = 0; i < 256; i++) {
    assert.ok(Math.abs(f[i]! - 200 / 255) < 1e-5 && Math.abs(f[256 + i]! - 100 / 255) < 1e-5 && Math.abs(f[512 + i]! - 50 / 255) < 1e-5);
  }
  writeFileSync(join(dir, 'broken.jpg'), 'garbage');
  throwsMatching(() => readFrame(join(dir, 'broken.jpg'), 16), /broken\.jpg/, 'corrupt');
  throwsMatching(() => readFrame(join(dir, 'missing.png'), 16), /missing\.png: no such file/, 'missing');
  const path = join(dir, 'deep', 'er', 'f.npy');
  writeNpyFile(path, Float32Array.of(1, 2, 3, 4, 5, 6), [1, 3, 2]);
  assert.equal(readNpyFile(path), { shape: [1, 3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
  assert.equal(readdirSync(join(dir, 'deep', 'er')), ['f.npy']);
  throwsMatching(() => readNpyFile(join(dir, 'none.npy')), /none\.npy: no such file/, 'missing npy');
  writeFileSync(join(dir, 'bad.npy'), 'hello');
  throwsMatching(() => readNpyFile(join(dir, 'bad.npy')), /bad\.npy: not a \.npy file/, 'bad npy');
  assert.ok(!existsSync(join(dir, 'deep', 'er', '.f.npy.tmp')));
});

for (const s of [npy, gen, disk]) s.run();
