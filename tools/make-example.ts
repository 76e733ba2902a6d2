// Renders the bundled example still (src/assets/example-landscape.png): a procedural sky with fractal clouds over
// dark hills, 256x144 (16:9, so the CLI's resize path is exercised). Deterministic; run it again to rebuild the file.
// Usage: node --import tsx tools/make-example.ts
import { writeFileAtomic, encodePng } from '../src/io/files.js';

const W = 256;
const H = 144;
let s = 12345;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const G = 32;
const grid = Array.from({ length: G * G }, rnd);
const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
const smooth = (t: number) => t * t * (3 - 2 * t);
function noise(x: number, y: number): number {
  const xi = Math.floor(x), yi = Math.floor(y);
  const fx = smooth(x - xi), fy = smooth(y - yi);
  const g = (i: number, j: number) => grid[(((j % G) + G) % G) * G + (((i % G) + G) % G)]!;
  return lerp(lerp(g(xi, yi), g(xi + 1, yi), fx), lerp(g(xi, yi + 1), g(xi + 1, yi + 1), fx), fy);
}
const fbm = (x: number, y: number) => [0, 1, 2, 3, 4].reduce((acc, o) => acc + noise(x * 2 ** o, y * 2 ** o) / 2 ** (o + 1), 0);

const data = new Uint8Array(W * H * 4);
for (let y = 0; y < H; y++) {
  for (let x = 0; x < W; x++) {
    const t = y / H;
    // sky: deep blue at the top to pale near the horizon
    let r = lerp(40, 170, t), g = lerp(90, 200, t), b = lerp(180, 235, t);
    const c = Math.max(0, fbm(x / 48, y / 32) - 0.45) * 2.2; // clouds
    const cl = Math.min(1, c * (1.2 - t));
    r = lerp(r, 245, cl); g = lerp(g, 245, cl); b = lerp(b, 250, cl);
    const hill = H * (0.72 + 0.08 * Math.sin(x / 23) + 0.05 * fbm(x / 40, 7));
    if (y > hill) {
      const d = (y - hill) / (H - hill);
      r = lerp(40, 20, d); g = lerp(70, 40, d); b = lerp(45, 25, d);
    }
    data.set([r, g, b, 255].map(Math.round), 4 * (y * W + x));
  }
}
writeFileAtomic(new URL('../src/assets/example-landscape.png', import.meta.url).pathname, encodePng({ width: W, height: H, channels: 4, data }));
console.log('wrote src/assets/example-landscape.png');
