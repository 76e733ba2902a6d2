// Optical flow files and pictures: Middlebury .flo encode/decode, the Middlebury colour wheel, planar/interleaved
// layouts. CPU only; no engine needed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFlo, encodeFlo, flowToRgb, interleavedToPlanar, planarToInterleaved } from '../src/io/flo.js';
import { throwsMatching } from './helpers.js';

// ------------------------------------------------------------------------------------------------------ .flo

const flo = suite('flo files');

/** A field with distinct, non-trivial values: u = x + 0.25 y, v = -y - 0.5 x + 0.125 at pixel (x, y). */
function field(H: number, W: number): Float32Array {
  const f = new Float32Array(H * W * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      f[2 * (y * W + x)] = x + 0.25 * y;
      f[2 * (y * W + x) + 1] = -y - 0.5 * x + 0.125;
    }
  }
  return f;
}

flo('round trip of an odd-sized field; header and layout as Middlebury writes them', () => {
  const H = 5;
  const W = 7;
  const f = field(H, W);
  f[3] = -1e10; // unknown-flow marker survives
  f[10] = 1.2345678;
  const bytes = encodeFlo(f, H, W);
  assert.is(bytes.length, 12 + H * W * 8);
  assert.equal([...bytes.subarray(0, 4)].map((b) => String.fromCharCode(b)).join(''), 'PIEH');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.is(dv.getInt32(4, true), W, 'width first');
  assert.is(dv.getInt32(8, true), H, 'then height');
  // pixel (x=2, y=3): u then v, row-major
  const at = 12 + 8 * (3 * W + 2);
  assert.is(dv.getFloat32(at, true), 2 + 0.75);
  assert.is(dv.getFloat32(at + 4, true), -3 - 1 + 0.125);
  const back = decodeFlo(bytes, 'a.flo');
  assert.is(back.H, H);
  assert.is(back.W, W);
  assert.equal([...back.flow], [...f]);
  // a view into a larger buffer at an odd offset (as a Node Buffer from a pool may be)
  const big = new Uint8Array(bytes.length + 3);
  big.set(bytes, 1);
  assert.equal([...decodeFlo(big.subarray(1, 1 + bytes.length), 'b.flo').flow], [...f]);
  // 1x1
  const one = decodeFlo(encodeFlo(Float32Array.of(-2.5, 3), 1, 1), 'c.flo');
  assert.equal([one.H, one.W, ...one.flow], [1, 1, -2.5, 3]);
});

flo('decode errors name the file and the problem', () => {
  const good = encodeFlo(field(3, 4), 3, 4);
  const edit = (fn: (dv: DataView) => void): Uint8Array => {
    const b = good.slice();
    fn(new DataView(b.buffer));
    return b;
  };
  throwsMatching(() => decodeFlo(new Uint8Array(5), 'tiny.flo'), /tiny\.flo: truncated \.flo file: 5 bytes/, 'shorter than the header');
  throwsMatching(() => decodeFlo(edit((dv) => dv.setFloat32(0, 1, true)), 'tag.flo'), /tag\.flo: not a \.flo file: the tag is 1/, 'bad tag');
  const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13);
  throwsMatching(() => decodeFlo(png, 'pic.png'), /pic\.png: not a \.flo file/, 'a PNG');
  throwsMatching(() => decodeFlo(edit((dv) => dv.setFloat32(0, 202021.25, false)), 'be.flo'), /be\.flo: big-endian/, 'big-endian');
  throwsMatching(() => decodeFlo(good.subarray(0, good.length - 1), 'cut.flo'), /cut\.flo: truncated \.flo file: 107 bytes, a 4x3 field needs 108/, 'truncated data');
  throwsMatching(() => decodeFlo(good.subarray(0, 12), 'head.flo'), /head\.flo: truncated/, 'header only');
  const long = new Uint8Array(good.length + 4);
  long.set(good);
  throwsMatching(() => decodeFlo(long, 'long.flo'), /long\.flo: \.flo file is too long: 112 bytes/, 'trailing bytes');
  throwsMatching(() => decodeFlo(edit((dv) => dv.setInt32(4, 1 << 30, true)), 'huge.flo'), /huge\.flo: .*impossible size 1073741824x3/, 'absurd width');
  throwsMatching(() => decodeFlo(edit((dv) => dv.setInt32(8, -3, true)), 'neg.flo'), /neg\.flo: .*impossible size 4x-3/, 'negative height');
  throwsMatching(() => decodeFlo(edit((dv) => dv.setInt32(4, 0, true)), 'zero.flo'), /zero\.flo: .*impossible size 0x3/, 'zero width');
  // a size that passes the per-side limit but does not match the bytes
  throwsMatching(() => decodeFlo(edit((dv) => dv.setInt32(8, 50000, true)), 'big.flo'), /big\.flo: truncated .*needs 1600012/, 'large size, few bytes');
});

flo('encode and layout helpers reject sizes that do not match the data', () => {
  throwsMatching(() => encodeFlo(new Float32Array(10), 2, 3), /encodeFlo: 10 values do not hold a 2x3 field/, 'encode length');
  throwsMatching(() => encodeFlo(new Float32Array(0), 0, 0), /encodeFlo: size 0x0/, 'encode empty');
  throwsMatching(() => planarToInterleaved(new Float32Array(7), 2, 2), /planarToInterleaved: 7 values/, 'planar length');
  throwsMatching(() => interleavedToPlanar(new Float32Array(8), 2.5, 2), /interleavedToPlanar: size 2.5x2/, 'fractional size');
  throwsMatching(() => flowToRgb(new Float32Array(6), 2, 2), /flowToRgb: 6 values/, 'rgb length');
  throwsMatching(() => flowToRgb(new Float32Array(8), 2, 2, { maxMagnitude: 0 }), /maxMagnitude must be a positive/, 'zero max');
});

flo('planar <-> interleaved round trip', () => {
  const H = 3;
  const W = 5;
  const planar = Float32Array.from({ length: 2 * H * W }, (_, i) => i * 1.5 - 7);
  const inter = planarToInterleaved(planar, H, W);
  // pixel (x=4, y=1) = index 9: u from plane 0, v from plane 1
  assert.is(inter[18], planar[9]);
  assert.is(inter[19], planar[H * W + 9]);
  assert.equal([...interleavedToPlanar(inter, H, W)], [...planar]);
  const f = field(H, W);
  assert.equal([...planarToInterleaved(interleavedToPlanar(f, H, W), H, W)], [...f]);
});

// ---------------------------------------------------------------------------------------------- colour wheel

const wheel = suite('flow colour wheel');

/**
 * The Middlebury colour wheel, written out independently of src/io/flo.ts: six segments, each holding one channel
 * fixed at 255, one ramping (up from 0 or down from 255 by floor(255 j / n)), one at 0.
 */
function referenceWheel(): number[][] {
  const segs: [n: number, from: number[], ch: number, up: boolean][] = [
    [15, [255, 0, 0], 1, true], // red -> yellow: G rises
    [6, [255, 255, 0], 0, false], // yellow -> green: R falls
    [4, [0, 255, 0], 2, true], // green -> cyan: B rises
    [11, [0, 255, 255], 1, false], // cyan -> blue: G falls
    [13, [0, 0, 255], 0, true], // blue -> magenta: R rises
    [6, [255, 0, 255], 2, false], // magenta -> red: B falls
  ];
  const out: number[][] = [];
  for (const [n, from, ch, up] of segs) {
    for (let j = 0; j < n; j++) {
      const c = [...from];
      const step = Math.floor((255 * j) / n);
      c[ch] = up ? step : 255 - step;
      out.push(c);
    }
  }
  return out;
}

const REF = referenceWheel();

/** Expected RGB of a flow vector at normalised radius `rad`, with its angle a = atan2(-v, -u) / π given. */
function expected(a: number, rad: number): number[] {
  const ncols = REF.length;
  const fk = ((a + 1) / 2) * (ncols - 1);
  const k0 = Math.floor(fk);
  const k1 = k0 + 1 === ncols ? 0 : k0 + 1;
  const f = fk - k0;
  return [0, 1, 2].map((c) => {
    let col = ((1 - f) * REF[k0]![c]! + f * REF[k1]![c]!) / 255;
    col = rad <= 1 ? 1 - rad * (1 - col) : col * 0.75;
    return Math.floor(255 * col);
  });
}

const rgbAt = (img: Uint8Array, i: number): number[] => [img[3 * i]!, img[3 * i + 1]!, img[3 * i + 2]!];

wheel('the wheel has 55 colours and starts red', () => {
  assert.is(REF.length, 55);
  assert.equal(REF[0], [255, 0, 0]);
  assert.equal(REF[15], [255, 255, 0]);
  assert.equal(REF[21], [0, 255, 0]);
});

wheel('zero flow is white; an all-zero field does not divide by zero', () => {
  const img = flowToRgb(new Float32Array(2 * 6), 2, 3);
  assert.is(img.length, 18);
  assert.ok(img.every((b) => b === 255), `${[...img]}`);
});

wheel('directions map to the Middlebury hues: +u red, +v orange-yellow, -u cyan-blue, -v violet', () => {
  // One pixel per direction, all of magnitude 2 (the field's maximum, so each is at full saturation).
  const f = Float32Array.of(2, 0, 0, 2, -2, 0, 0, -2);
  const img = flowToRgb(f, 1, 4);
  // +u, v = 0: atan2(-0, -2) = -π -> a = -1 -> fk = 0: the wheel's first colour
  assert.equal(rgbAt(img, 0), expected(-1, 1), '+u (rightward)');
  assert.equal(rgbAt(img, 0), [255, 0, 0], '+u is red');
  // +v: atan2(-2, -0) = -π/2 -> a = -1/2 -> fk = 13.5: halfway between wheel colours 13 and 14
  assert.equal(rgbAt(img, 1), expected(-0.5, 1), '+v (downward)');
  assert.equal(rgbAt(img, 1), [255, Math.floor((221 + 238) / 2), 0], '+v is orange-yellow');
  // -u: atan2(-0, 2) = -0 -> a = 0 -> fk = 27: wheel colour 27 (cyan -> blue segment, j = 2)
  assert.equal(rgbAt(img, 2), expected(0, 1), '-u (leftward)');
  assert.equal(rgbAt(img, 2), [0, 255 - Math.floor(510 / 11), 255], '-u is cyan-blue');
  // -v: atan2(2, -0) = π/2 -> a = 1/2 -> fk = 40.5: between colours 40 and 41 (blue -> magenta, j = 4, 5)
  assert.equal(rgbAt(img, 3), expected(0.5, 1), '-v (upward)');
  assert.equal(rgbAt(img, 3), [Math.floor((78 + 98) / 2), 0, 255], '-v is violet');
  // a diagonal: u = v = 1 (down-right) at half the maximum
  const d = flowToRgb(Float32Array.of(1, 1, 2, 0), 1, 2);
  assert.equal(rgbAt(d, 0), expected(Math.atan2(-1, -1) / Math.PI, Math.SQRT2 / 2), 'down-right');
});

wheel('saturation grows monotonically with magnitude; beyond maxMagnitude it darkens by 0.75', () => {
  const n = 12;
  const f = new Float32Array(2 * n);
  // direction up-left (3-4-5 triangle, so magnitudes are exact): magnitudes 0, 5, ..., 55 against maxMagnitude 50
  const [du, dv] = [-3, -4];
  for (let i = 0; i < n; i++) {
    f[2 * i] = du * i;
    f[2 * i + 1] = dv * i;
  }
  const img = flowToRgb(f, 1, n, { maxMagnitude: 50 });
  const a = Math.atan2(-dv, -du) / Math.PI;
  const full = expected(a, 1);
  for (let i = 0; i < n; i++) assert.equal(rgbAt(img, i), expected(a, i / 10), `magnitude ${5 * i}`);
  assert.equal(rgbAt(img, 0), [255, 255, 255]);
  for (let i = 1; i <= 10; i++) {
    const prev = rgbAt(img, i - 1);
    const cur = rgbAt(img, i);
    // each channel moves from 255 toward the full colour, never back
    for (let c = 0; c < 3; c++) assert.ok(cur[c]! <= prev[c]! && cur[c]! >= full[c]!, `channel ${c} at step ${i}: ${prev} -> ${cur}`);
    assert.ok(Math.min(...cur) < Math.min(...prev), `step ${i} strictly more saturated: ${prev} -> ${cur}`);
  }
  assert.equal(rgbAt(img, 10), full, 'magnitude = maxMagnitude is the full colour');
  const dark = rgbAt(img, 11);
  assert.ok(dark.every((x, c) => Math.abs(x - full[c]! * 0.75) <= 1), `out of range darkened: ${full} -> ${dark}`);
  // the default maximum is the field's largest magnitude: scaling the whole field changes nothing
  const g = flowToRgb(f.map((x) => x * 32), 1, n);
  assert.equal([...g], [...flowToRgb(f, 1, n, { maxMagnitude: 55 })]);
});

wheel('non-finite and unknown flow are black and do not set the default maximum', () => {
  const f = Float32Array.of(NaN, 0, 0, Infinity, -Infinity, 1, 1e10, 0, 1, 0, 0, 0);
  const img = flowToRgb(f, 2, 3);
  for (let i = 0; i < 4; i++) assert.equal(rgbAt(img, i), [0, 0, 0], `pixel ${i}`);
  assert.equal(rgbAt(img, 4), [255, 0, 0], 'the finite +u pixel is the maximum, full red');
  assert.equal(rgbAt(img, 5), [255, 255, 255], 'zero is white');
  const allNaN = flowToRgb(Float32Array.of(NaN, NaN), 1, 1);
  assert.equal([...allNaN], [0, 0, 0]);
});

flo.run();
wheel.run();
