// The neural-network ops against the float64 NN reference (reference-nn.ts): forward values and the backward pass
// (y.backward({ gradient: gy })) of every input, for convolutions (2-D, 3-D, transposed, chunked), padding,
// normalisation, pooling, losses and the image-comparison maps; second derivatives of the WGAN-GP critic's ops
// against finite differences of the reference vjps, including a tiny critic's gradient penalty end to end; and
// the argument errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  scope, engine, grad, sum, mul, add, square, leakyRelu, zeros, noGrad, sharedWinogradWeights, setWinogradTile, type Tensor,
  conv2d, conv3d, convTranspose2d, convTranspose3d, pad, instanceNorm, adain, batchNorm,
  avgPool, avgPool2x, l1Loss, mseLoss, charbonnierLoss, ssimMap, census, censusGrad, luminance, tvGrad, Sequential, Pad2d, Conv2d,
} from '../src/node.js';
import { setConvColsBudget } from '../src/ops/conv.js';
import { conv2dWinograd, winogradInternals } from '../src/ops/winograd.js';
import { RT, rt, randRT, mulberry32, zerosRT, fullRT, ref, vjp } from './reference.js';
import { nnRef, nnVjp, batchNormStats, type ConvOptions, type ConvTransposeOptions, type PadMode } from './reference-nn.js';
import { setup, gpu, close, check, throwsMatching, type Tol } from './helpers.js';

// Convolutions and normalisations add up many f32 products / squares in another order than the reference.
const SUM_TOL: Tol = { atol: 1e-4, rtol: 1e-3 };
// Second derivatives vs finite differences of the reference: f32 on the GPU, several ops deep.
const SECOND_TOL: Tol = { atol: 1e-3, rtol: 1e-2 };

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

// ------------------------------------------------------------------------------------------------ helpers

/** Values with lo <= |v| < hi and random signs. */
function awayRT(shape: number[], rng: () => number, lo = 0.1, hi = 1): RT {
  const x = randRT(shape, rng, lo, hi);
  for (let i = 0; i < x.size; i++) if (rng() < 0.5) x.data[i] = -x.data[i]!;
  return x;
}

/** |got - want| <= atol + rtol |want| elementwise, for two plain arrays (e.g. two GPU results). */
function closeArrays(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol: Tol): void {
  assert.is(got.length, want.length, `${what}: length`);
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-4;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= atol + rtol * Math.abs(want[i]!))) assert.unreachable(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** d f / d args[i] by central differences over every element of args[i], in float64. */
function centralFD(f: (args: RT[]) => number, args: RT[], i: number, eps = 1e-5): RT {
  const x = args[i]!;
  const out = new Float64Array(x.size);
  for (let j = 0; j < x.size; j++) {
    const at = (d: number) => {
      const moved = rt(x.shape, x.data);
      moved.data[j] = x.data[j]! + d;
      return f(args.map((a, k) => (k === i ? moved : a)));
    };
    out[j] = (at(eps) - at(-eps)) / (2 * eps);
  }
  return new RT([...x.shape], out);
}

const optText = (o: object) => JSON.stringify(o).replace(/"/g, '');

// ------------------------------------------------------------------------------------------------ convolutions

const convs = suite('nn: convolutions');
convs.before(setup);

interface ConvCase {
  x: number[];
  w: number[];
  bias: boolean;
  /** the reference's options, plus the GPU op's algorithm and Winograd tile choices (ignored by the reference) */
  opts: ConvTransposeOptions & { algorithm?: 'col2im' | 'subpixel' | 'direct' | 'im2col' | 'winograd'; winogradTile?: 2 | 4 };
}

/** Forward and the gradients of x, w (and b) of one conv/convTranspose case against the reference. */
async function checkConv(name: string, c: ConvCase, rng: () => number, transposed: boolean): Promise<void> {
  const nd = c.x.length - 2;
  const x = randRT(c.x, rng);
  const w = randRT(c.w, rng, -0.5, 0.5);
  const b = c.bias ? randRT([transposed ? c.w[1]! : c.w[0]!], rng) : null;
  const xs = b ? [x, w, b] : [x, w];
  const gpuOp = transposed ? (nd === 2 ? convTranspose2d : convTranspose3d) : (nd === 2 ? conv2d : conv3d);
  const refOp = transposed ? nnRef.convTranspose : nnRef.conv;
  const refVjp = transposed ? nnVjp.convTranspose : nnVjp.conv;
  await check(`${name} x${fmt(c.x)} w${fmt(c.w)}${c.bias ? ' +b' : ''} ${optText(c.opts)}`, xs, {
    f: ([tx, tw, tb]) => (gpuOp as (x: Tensor, w: Tensor, b: Tensor | null, o: object) => Tensor)(tx!, tw!, tb ?? null, c.opts),
    fr: ([rx, rw, rb]) => refOp(rx!, rw!, rb ?? null, c.opts),
    fv: (gy, [rx, rw, rb]) => refVjp(gy, rx!, rw!, rb ?? null, c.opts),
    tol: SUM_TOL,
  }, rng);
}

const CONV2D: ConvCase[] = [
  // stride 2 over odd sizes, Ci = 3, Co = 5, batch 1 and 3
  { x: [1, 3, 7, 5], w: [5, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1 } },
  { x: [3, 3, 7, 5], w: [5, 3, 3, 3], bias: false, opts: { stride: 2, padding: 1 } },
  // Ci = 13, Co = 6 (K = 117, not a multiple of 4), padding 2
  { x: [1, 13, 6, 7], w: [6, 13, 3, 3], bias: true, opts: { padding: 2 } },
  // rectangular kernel, per-dim stride and padding, batch 3
  { x: [3, 13, 7, 5], w: [6, 13, 5, 3], bias: false, opts: { stride: [2, 1], padding: [2, 1] } },
  // dilation 2, Ci = 5, Co = 7
  { x: [1, 5, 9, 8], w: [7, 5, 3, 3], bias: true, opts: { dilation: 2, padding: 1 } },
  // per-dim dilation with stride and padding, Ci = 7, batch 3
  { x: [3, 7, 8, 9], w: [3, 7, 3, 2], bias: true, opts: { stride: 2, padding: 2, dilation: [2, 3] } },
  // kernel larger than the padding, K = 140
  { x: [2, 7, 9, 6], w: [5, 7, 5, 4], bias: false, opts: { padding: 1 } },
  // K = 129 (Ci = 43), padded to 132 columns
  { x: [2, 43, 5, 4], w: [6, 43, 3, 1], bias: true, opts: { padding: [1, 0] } },
  // Co = 129 output channels (not a multiple of the matmul row tile)
  { x: [1, 3, 6, 5], w: [129, 3, 3, 3], bias: true, opts: { padding: 1 } },
  // 1x1 kernel, no options
  { x: [1, 3, 5, 4], w: [4, 3, 1, 1], bias: true, opts: {} },
  // output rows of 64 columns (im2col's vec4 path), k4 s2 p1 along W: taps before and after the row
  { x: [1, 3, 3, 128], w: [5, 3, 3, 4], bias: true, opts: { stride: [1, 2], padding: 1 } },
  // 16x32 = 512 output pixels: the patches at a row pitch (convPitched), its weight gradient from the kept patches
  // (Co = 8) and through patchProduct (Co = 6, batch 2)
  { x: [1, 5, 16, 32], w: [8, 5, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [2, 6, 16, 32], w: [6, 6, 3, 3], bias: false, opts: { padding: 1 } },
  // kernel height 1 with stride 2: its input gradient is a sub-pixel transposed conv with a row phase without taps
  { x: [1, 3, 64, 64], w: [5, 3, 1, 3], bias: false, opts: { stride: 2, padding: [0, 1] } },
];

convs('conv2d: forward and gradients of x, w, b', async () => {
  const rng = mulberry32(2001);
  for (const c of CONV2D) await checkConv('conv2d', c, rng, false);
});

const CONV3D: ConvCase[] = [
  { x: [1, 2, 5, 6, 7], w: [3, 2, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1 } },
  { x: [3, 2, 5, 5, 4], w: [4, 2, 3, 3, 3], bias: false, opts: { stride: 2, padding: 1 } },
  { x: [2, 3, 4, 5, 6], w: [5, 3, 2, 3, 3], bias: true, opts: { dilation: [1, 2, 2], padding: [0, 2, 1] } },
  // output rows of 64 columns (im2col's vec4 path) with padded planes outside the input, batch 2
  { x: [2, 2, 3, 3, 66], w: [5, 2, 2, 2, 3], bias: false, opts: { padding: [1, 0, 0] } },
  // 4x8x16 = 512 output pixels: the pitched patches (convPitched), batch 2
  { x: [2, 5, 4, 8, 16], w: [4, 5, 3, 3, 3], bias: false, opts: { padding: 1 } },
];

convs('conv3d: forward and gradients of x, w, b', async () => {
  const rng = mulberry32(2002);
  for (const c of CONV3D) await checkConv('conv3d', c, rng, false);
});

const CONVT2D: ConvCase[] = [
  { x: [2, 3, 4, 5], w: [3, 5, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1 } },
  { x: [1, 3, 4, 5], w: [3, 5, 3, 3], bias: false, opts: { stride: 2, padding: 1, outputPadding: 1 } },
  // dilated (no stride)
  { x: [1, 4, 5, 4], w: [4, 3, 3, 2], bias: false, opts: { dilation: 2, padding: 1 } },
  // dilated with stride 2
  { x: [2, 4, 3, 4], w: [4, 3, 3, 3], bias: true, opts: { stride: 2, dilation: 2, padding: 2, outputPadding: 1 } },
  // per-dim stride / padding / outputPadding, batch 3, Ci = 7
  { x: [3, 7, 3, 4], w: [7, 6, 4, 3], bias: true, opts: { stride: [2, 3], padding: [1, 0], outputPadding: [0, 2] } },
  // the sub-pixel split: k4 s2 p1 (DCGAN), a phase without taps (k1 s2), stride 3 with padding 2 (phases whose first
  // tap reads before the input), k3 s2 p1 op1 (the generator's layer), and the DCGAN layer through col2im
  { x: [1, 3, 5, 4], w: [3, 2, 4, 4], bias: true, opts: { stride: 2, padding: 1, algorithm: 'subpixel' } },
  { x: [2, 2, 3, 3], w: [2, 3, 1, 1], bias: false, opts: { stride: 2, outputPadding: 1, algorithm: 'subpixel' } },
  { x: [1, 2, 3, 4], w: [2, 2, 5, 5], bias: true, opts: { stride: 3, padding: 2, outputPadding: 2, algorithm: 'subpixel' } },
  { x: [2, 3, 4, 5], w: [3, 5, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1, algorithm: 'subpixel' } },
  { x: [1, 3, 5, 4], w: [3, 2, 4, 4], bias: true, opts: { stride: 2, padding: 1 } },
  // phases of 16x32 = 512 pixels: the patches at a row pitch of 528 (matmulPitched, even for the 1x1 phase), rows
  // of 32 zipped; 32x32 phases (1024 pixels) are what 'auto' sends the sub-pixel way
  { x: [1, 5, 16, 32], w: [5, 6, 3, 3], bias: false, opts: { stride: 2, padding: 1, outputPadding: 1, algorithm: 'subpixel' } },
  { x: [1, 5, 32, 32], w: [5, 6, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1 } },
  // a row phase without taps (kernel height 1, stride 2) next to zipped column phases; stride 3 along H
  { x: [1, 5, 16, 32], w: [5, 6, 1, 3], bias: false, opts: { stride: 2, padding: [0, 1], outputPadding: 1, algorithm: 'subpixel' } },
  { x: [1, 4, 8, 16], w: [4, 3, 3, 3], bias: true, opts: { stride: [3, 2], padding: 1, outputPadding: [2, 1], algorithm: 'subpixel' } },
  // k3 s2 p1 with Ci % 4 == 0: one shared 2x2 im2col in ring order, each phase reading its block of rows — two
  // samples with rows of 5 (strided writes, no zip), 16x32 phases (zipped; 12 input channels, so blocks of 12 rows)
  { x: [2, 4, 4, 5], w: [4, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1, algorithm: 'subpixel' } },
  { x: [1, 12, 16, 32], w: [12, 5, 3, 3], bias: false, opts: { stride: 2, padding: 1, outputPadding: 1, algorithm: 'subpixel' } },
];

convs('convTranspose2d: forward and gradients of x, w, b', async () => {
  const rng = mulberry32(2003);
  for (const c of CONVT2D) await checkConv('convTranspose2d', c, rng, true);
});

convs('convTranspose2d: auto takes the sub-pixel form for stride-2 layers with phases of >= 1024 pixels, else col2im', async () => {
  const route = async (xs: number[]) => scope(async () => {
    const x = gpu(randRT(xs, mulberry32(2004)), true);
    const w = gpu(randRT([xs[1]!, 6, 3, 3], mulberry32(2005), -0.5, 0.5), true);
    engine().profileStart();
    const y = convTranspose2d(x, w, null, { stride: 2, padding: 1, outputPadding: 1 });
    await y.data();
    const p = await engine().profileStop();
    return p.entries.map((e) => e.label).join('\n');
  });
  assert.match(await route([1, 5, 32, 32]), /subpixel interleave/, '32x32 phases: sub-pixel');
  const ring = await route([1, 8, 32, 32]);
  const im2cols = ring.match(/^im2col.*$/gm) ?? [];
  assert.ok(im2cols.length === 1 && im2cols[0]!.endsWith(' ring'), `8 input channels: one shared im2col (ring order) for the four phases, got\n${ring}`);
  assert.match(await route([2, 5, 16, 32]), /subpixel interleave/, '2 samples of 16x32 phases: sub-pixel');
  const small = await route([1, 5, 16, 32]);
  assert.ok(/col2im/.test(small) && !/subpixel/.test(small), '16x32 phases of one sample: col2im');
  const odd = await route([2, 5, 32, 30]);
  assert.ok(/col2im/.test(odd) && !/subpixel/.test(odd), 'rows of 30 (not quads): col2im');
  // patches beyond the column budget: auto falls back to col2im (it works in chunks), an explicit request is refused
  setConvColsBudget(4096);
  try {
    assert.ok(/col2im/.test(await route([1, 5, 32, 32])), 'over the budget: col2im');
    await scope(async () => throwsMatching(() => convTranspose2d(gpu(randRT([1, 5, 32, 32], mulberry32(2006))), gpu(randRT([5, 6, 3, 3], mulberry32(2007))), null,
      { stride: 2, padding: 1, outputPadding: 1, algorithm: 'subpixel' }), /convTranspose2d: the sub-pixel form's patches for \[1, 5, 32, 32\] exceed the column budget; use algorithm 'col2im'/, 'explicit sub-pixel over the budget'));
  } finally {
    setConvColsBudget(null);
  }
});

convs('convTranspose3d: auto takes convt_direct2 for 3 output channels whatever the input channels (stride 2 along W), col2im without that shape', async () => {
  const route = async (xs: number[], w: number[], stride: number[]) => scope(async () => {
    const x = gpu(randRT(xs, mulberry32(2008)));
    const wt = gpu(randRT(w, mulberry32(2009), -0.5, 0.5));
    engine().profileStart();
    const y = convTranspose3d(x, wt, null, { stride, padding: 1 });
    await y.data();
    const p = await engine().profileStop();
    return p.entries.map((e) => e.label).join('\n');
  });
  assert.match(await route([1, 32, 2, 4, 8], [32, 3, 3, 4, 4], [1, 2, 2]), /^convt_direct2 /m, '32 -> 3, stride (1, 2, 2)');
  assert.match(await route([1, 3, 2, 4, 8], [3, 3, 3, 4, 4], [1, 2, 2]), /^convt_direct2 /m, '3 -> 3');
  const plain = await route([1, 32, 2, 4, 8], [32, 3, 3, 4, 4], [1, 1, 1]);
  assert.ok(/col2im/.test(plain) && !/convt_direct/.test(plain), `32 -> 3 at stride 1: col2im, got ${plain}`);
});

const CONVT3D: ConvCase[] = [
  { x: [1, 2, 3, 4, 3], w: [2, 3, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1 } },
  { x: [2, 2, 3, 3, 4], w: [2, 2, 2, 3, 2], bias: false, opts: { dilation: 2, padding: [0, 1, 1] } },
  { x: [3, 3, 2, 3, 3], w: [3, 4, 2, 2, 2], bias: false, opts: { stride: [1, 2, 2], padding: [0, 1, 0], outputPadding: [0, 1, 1] } },
];

convs('convTranspose3d: forward and gradients of x, w, b', async () => {
  const rng = mulberry32(2004);
  for (const c of CONVT3D) await checkConv('convTranspose3d', c, rng, true);
});

// The direct kernels (kernels/conv_direct.wgsl), which 'auto' picks for layers with at most 4 channels, and the
// im2col / col2im route forced on the same small layers (so both stay covered whatever 'auto' picks).
const DIRECT: [string, ConvCase, boolean][] = [
  // the critic's RGB layer shape: k(3,4,4) s(1,2,2), Co = 5 (a partial group of 4), batch 3, odd sizes
  ['conv3d', { x: [3, 3, 5, 7, 9], w: [5, 3, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1, algorithm: 'direct' } }, false],
  // dilation, per-dim padding, Co = 8 (two full groups), rows wider than one workgroup's 32 columns
  ['conv3d', { x: [1, 2, 3, 4, 37], w: [8, 2, 2, 3, 3], bias: false, opts: { dilation: [1, 2, 2], padding: [0, 2, 1], algorithm: 'direct' } }, false],
  ['conv2d', { x: [2, 3, 7, 5], w: [5, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1, algorithm: 'direct' } }, false],
  ['conv2d', { x: [1, 1, 6, 9], w: [3, 1, 5, 2], bias: false, opts: { stride: [1, 3], padding: [2, 0], dilation: [1, 2], algorithm: 'direct' } }, false],
  // the generator's last layer: convT3d 3->3 k(3,4,4) s(1,2,2) p(1,1,1); and odd outputs, stride 3, dilation
  ['convTranspose3d', { x: [2, 3, 3, 4, 5], w: [3, 3, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1, algorithm: 'direct' } }, true],
  ['convTranspose3d', { x: [1, 2, 2, 3, 3], w: [2, 5, 2, 3, 3], bias: false, opts: { stride: [2, 2, 3], padding: [0, 1, 2], outputPadding: [1, 0, 2], algorithm: 'direct' } }, true],
  ['convTranspose3d', { x: [1, 2, 3, 3, 3], w: [2, 2, 2, 2, 2], bias: false, opts: { dilation: 2, outputPadding: [1, 0, 1], algorithm: 'direct' } }, true],
  ['convTranspose2d', { x: [3, 3, 4, 5], w: [3, 2, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1, algorithm: 'direct' } }, true],
  ['convTranspose2d', { x: [1, 4, 3, 2], w: [4, 4, 2, 2], bias: false, opts: { stride: 2, dilation: 3, outputPadding: 2, algorithm: 'direct' } }, true],
  // stride 2 along W on rows of a multiple of 8 (conv_direct2; their gradient to x is convt_direct2's case): 2 and 3
  // quads per row, Co = 5; 10 quads (more than one workgroup's 8 lanes); no padding with k2
  ['conv3d', { x: [3, 3, 5, 7, 16], w: [5, 3, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1, algorithm: 'direct' } }, false],
  ['conv2d', { x: [1, 2, 5, 24], w: [3, 2, 3, 3], bias: false, opts: { stride: 2, padding: 1, algorithm: 'direct' } }, false],
  ['conv3d', { x: [1, 2, 2, 3, 80], w: [3, 2, 2, 3, 4], bias: false, opts: { stride: [1, 1, 2], padding: [0, 1, 1], algorithm: 'direct' } }, false],
  ['conv2d', { x: [2, 1, 4, 16], w: [2, 1, 2, 2], bias: true, opts: { stride: 2, algorithm: 'direct' } }, false],
  // the same rows with rows of a multiple of 4 outputs (conv_direct2, and patch_product2 for the weight gradient):
  // Co = 4 fills the vec4 of the weight gradient's A side; 10 quads per row, more than one workgroup's 8 lanes
  ['conv2d', { x: [1, 3, 6, 16], w: [4, 3, 4, 4], bias: true, opts: { stride: 2, padding: 1, algorithm: 'direct' } }, false],
  // two channel groups per workgroup (PAIR): Co = 12 is 3 groups, so the last pair has no second group
  ['conv3d', { x: [2, 3, 3, 5, 8], w: [12, 3, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1, algorithm: 'direct' } }, false],
  // convt_direct2 (stride 2 along W, rows of a multiple of 4, output twice as wide): 3 quads per row (both edges and
  // an inner one), Co = 5; k3 with outputPadding 1; 9 quads, more than one workgroup's 8 lanes
  ['convTranspose3d', { x: [2, 3, 3, 4, 12], w: [3, 5, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1, algorithm: 'direct' } }, true],
  ['convTranspose2d', { x: [1, 3, 5, 8], w: [3, 2, 3, 3], bias: false, opts: { stride: 2, padding: 1, outputPadding: 1, algorithm: 'direct' } }, true],
  ['convTranspose3d', { x: [1, 2, 2, 3, 36], w: [2, 3, 2, 4, 4], bias: false, opts: { stride: [2, 1, 2], padding: [0, 1, 1], algorithm: 'direct' } }, true],
  // many input channels, 3 outputs: the input gradient of an RGB conv (the critic's conv3d 3->32), which 'auto' sends
  // to convt_direct2 whatever the input channels
  ['convTranspose3d', { x: [2, 9, 3, 4, 8], w: [9, 3, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1, algorithm: 'direct' } }, true],
];

convs('direct kernels (few channels): forward and gradients of x, w, b, and the im2col route on the same layers', async () => {
  const rng = mulberry32(2007);
  for (const [name, c, transposed] of DIRECT) {
    await checkConv(name, c, rng, transposed);
    await checkConv(name, { ...c, opts: { ...c.opts, algorithm: transposed ? 'col2im' : 'im2col' } }, rng, transposed);
  }
});

// PyTorch allows outputPadding < max(stride, dilation), so with stride 1 an outputPadding of 1 is legal when the
// dilation is 2; the output then has one more row/column than the stride-1 formula without it.
// The engine accepts these (its check mirrors PyTorch's) and must then compute them.
convs('convTranspose2d: outputPadding below the dilation but not below the stride', async () => {
  const rng = mulberry32(2005);
  await checkConv('convTranspose2d', { x: [1, 3, 4, 5], w: [3, 2, 3, 3], bias: true, opts: { dilation: 2, padding: 1, outputPadding: 1 } }, rng, true);
  await checkConv('convTranspose2d', { x: [1, 1, 3, 3], w: [1, 1, 2, 2], bias: false, opts: { stride: 2, dilation: 3, outputPadding: 2 } }, rng, true);
});

convs('convTranspose3d: outputPadding below the dilation but not below the stride', async () => {
  const rng = mulberry32(2006);
  await checkConv('convTranspose3d', { x: [1, 2, 3, 3, 3], w: [2, 2, 2, 2, 2], bias: false, opts: { dilation: 2, outputPadding: [1, 0, 1] } }, rng, true);
});

interface ChunkCase {
  name: string;
  f: (x: Tensor, w: Tensor, b: Tensor | null) => Tensor;
  c: ConvCase;
  transposed: boolean;
  /** budgets in bytes; each comment says which chunking it forces */
  budgets: number[];
}

const CHUNK_CASES: ChunkCase[] = [
  // kRows = 48, OW = 8: one output row of patches is 1536 bytes, 9 rows per sample.
  //   4096  -> 2 rows per launch (5 row chunks, the last of 1 row), one sample at a time
  //   16000 -> all 9 rows, one sample at a time (3 sample chunks)
  //   27648 -> 2 samples per launch (chunks of 2 and 1)
  { name: 'conv2d', f: (x, w, b) => conv2d(x, w, b, { padding: 1 }), c: { x: [3, 5, 9, 8], w: [6, 5, 3, 3], bias: true, opts: { padding: 1 } }, transposed: false, budgets: [4096, 16000, 27648] },
  // kRows = 96, OW = 3: 1152 bytes a row, 15 rows: 2500 -> 2 rows per launch (the last chunk 1 row), per sample
  { name: 'conv3d', f: (x, w, b) => conv3d(x, w, b, { stride: [1, 2, 2], padding: 1, algorithm: 'im2col' }), c: { x: [2, 2, 5, 6, 7], w: [3, 2, 3, 4, 4], bias: true, opts: { stride: [1, 2, 2], padding: 1 } }, transposed: false, budgets: [2500] },
  // 3840 bytes of patches per sample: 4096 -> one sample per launch, 8000 -> chunks of 2 and 1
  { name: 'convTranspose2d', f: (x, w, b) => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }), c: { x: [3, 3, 4, 5], w: [3, 5, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1 } }, transposed: true, budgets: [4096, 8000] },
];

for (const cc of CHUNK_CASES) {
  convs(`${cc.name}: a tiny cols budget (chunks of rows and of samples) gives the same forward and gradients`, async () => {
    const rng = mulberry32(2010);
    const x = randRT(cc.c.x, rng);
    const w = randRT(cc.c.w, rng, -0.5, 0.5);
    const b = randRT([cc.transposed ? cc.c.w[1]! : cc.c.w[0]!], rng);
    const refOp = cc.transposed ? nnRef.convTranspose : nnRef.conv;
    const refVjp = cc.transposed ? nnVjp.convTranspose : nnVjp.conv;
    const yr = refOp(x, w, b, cc.c.opts);
    const gy = randRT(yr.shape, rng);
    const want = [yr, ...refVjp(gy, x, w, b, cc.c.opts)];
    /** forward, gx, gw, gb on the GPU under the current budget */
    const run = () => scope(async () => {
      const tx = gpu(x, true);
      const tw = gpu(w, true);
      const tb = gpu(b, true);
      const y = cc.f(tx, tw, tb);
      y.backward({ gradient: gpu(gy) });
      return [await y.data(), await tx.grad!.data(), await tw.grad!.data(), await tb.grad!.data()];
    });
    const labels = ['forward', 'dx', 'dw', 'db'];
    const base = await run();
    base.forEach((a, i) => closeArrays(a, want[i]!.data, `${cc.name} default budget: ${labels[i]} vs reference`, SUM_TOL));
    try {
      for (const budget of cc.budgets) {
        setConvColsBudget(budget);
        const got = await run();
        got.forEach((a, i) => {
          closeArrays(a, base[i]!, `${cc.name} budget ${budget}: ${labels[i]} vs the default budget`, { atol: 1e-5, rtol: 1e-4 });
          closeArrays(a, want[i]!.data, `${cc.name} budget ${budget}: ${labels[i]} vs reference`, SUM_TOL);
        });
      }
    } finally {
      setConvColsBudget(null);
    }
  });
}

// ------------------------------------------------------------------------------------------------ padding

const pads = suite('nn: pad');
pads.before(setup);

const PADS: [number[], number[], PadMode][] = [
  [[2, 3, 5, 6], [1, 2, 0, 3], 'zeros'],
  [[2, 3, 5, 6], [2, 1, 3, 4], 'reflect'],
  [[2, 3, 9, 37], [1, 1, 4, 2], 'reflect'], // a wide row: several items per thread
  [[3, 5, 6], [0, 0, 1, 2], 'reflect'], // rank 3 padded in its last 2 dims
  [[1, 2, 4, 5, 6], [1, 0, 2, 3, 0, 4], 'zeros'],
  [[1, 2, 4, 5, 6], [3, 1, 0, 2, 4, 5], 'reflect'], // every pad up to size - 1
  [[2, 1, 3, 4, 5], [2, 2, 3, 3, 4, 4], 'reflect'],
];

pads('pad: zeros and reflect, 2-D and 3-D, asymmetric: forward and gradient', async () => {
  const rng = mulberry32(2101);
  for (const [shape, p, mode] of PADS) {
    await check(`pad ${fmt(shape)} ${fmt(p)} ${mode}`, [randRT(shape, rng)], {
      f: ([t]) => pad(t!, p, mode),
      fr: ([r]) => nnRef.pad(r!, p, mode),
      fv: (g, [r]) => nnVjp.pad(g, r!, p, mode),
    }, rng);
  }
});

// ------------------------------------------------------------------------------------------------ normalisation

const norms = suite('nn: normalisation');
norms.before(setup);

type Affine = 'none' | 'weight' | 'bias' | 'both';
const IN_CASES: [number[], Affine, number][] = [
  [[2, 3, 5, 6], 'none', 1e-5],
  [[2, 3, 5, 6], 'both', 1e-5],
  [[1, 4, 4, 4], 'weight', 1e-3], // 16 values a plane: the vec4 path
  [[2, 3, 3, 4, 5], 'both', 1e-5],
  [[1, 2, 4, 4, 4], 'none', 1e-5],
  [[2, 2, 3, 5, 3], 'bias', 1e-5],
];

norms('instanceNorm: 2-D and 3-D, with and without affine: forward and gradients', async () => {
  const rng = mulberry32(2201);
  for (const [shape, aff, eps] of IN_CASES) {
    const C = shape[1]!;
    const x = randRT(shape, rng, -1, 2); // a non-zero mean per plane
    const hasW = aff === 'weight' || aff === 'both';
    const hasB = aff === 'bias' || aff === 'both';
    const xs = [x, ...(hasW ? [randRT([C], rng, 0.5, 1.5)] : []), ...(hasB ? [randRT([C], rng)] : [])];
    const split = (a: RT[]) => ({ w: hasW ? a[1]! : null, b: hasB ? a[hasW ? 2 : 1]! : null });
    const splitT = (a: Tensor[]) => ({ w: hasW ? a[1]! : null, b: hasB ? a[hasW ? 2 : 1]! : null });
    await check(`instanceNorm ${fmt(shape)} ${aff} eps ${eps}`, xs, {
      f: (ts) => {
        const { w, b } = splitT(ts);
        return instanceNorm(ts[0]!, { eps, weight: w, bias: b });
      },
      fr: (rs) => {
        const { w, b } = split(rs);
        return nnRef.instanceNorm(rs[0]!, eps, w, b);
      },
      fv: (g, rs) => {
        const { w, b } = split(rs);
        return nnVjp.instanceNorm(g, rs[0]!, eps, w, b);
      },
      tol: SUM_TOL,
    }, rng);
  }
});

norms('adain: 2-D and 3-D: forward and gradients of x, gamma, beta', async () => {
  const rng = mulberry32(2202);
  for (const [shape, eps] of [[[2, 3, 5, 6], 1e-5], [[1, 2, 3, 4, 5], 1e-5], [[3, 5, 4, 4], 1e-3]] as [number[], number][]) {
    const NC = shape.slice(0, 2);
    await check(`adain ${fmt(shape)}`, [randRT(shape, rng, -1, 2), randRT(NC, rng, 0.5, 1.5), randRT(NC, rng)], {
      f: ([x, g, b]) => adain(x!, g!, b!, eps),
      fr: ([x, g, b]) => nnRef.adain(x!, g!, b!, eps),
      fv: (gy, [x, g, b]) => nnVjp.adain(gy, x!, g!, b!, eps),
      tol: SUM_TOL,
    }, rng);
  }
});

norms('batchNorm with a fused activation equals batch norm followed by the activation (forward and gradients)', async () => {
  const rng = mulberry32(2210);
  for (const [shape, act, slope] of [[[3, 4, 5, 6], { leakyRelu: 0.2 }, 0.2], [[2, 3, 4, 3, 4], 'relu', 0], [[2, 3, 3, 5], { leakyRelu: 0.1 }, 0.1]] as [number[], 'relu' | { leakyRelu: number }, number][]) {
    const C = shape[1]!;
    const xs = [randRT(shape, rng, -1, 2), randRT([C], rng, 0.5, 1.5), randRT([C], rng)];
    // the kinks of the activation: the reference ReLU gradient at exactly 0 never occurs for random data
    await check(`batchNorm+${JSON.stringify(act)} ${fmt(shape)}`, xs, {
      f: ([tx, tw, tb]) => batchNorm(tx!, { weight: tw, bias: tb, training: true, activation: act }),
      fr: ([rx, rw, rb]) => ref.leakyRelu(nnRef.batchNormTrain(rx!, rw!, rb!, 1e-5), slope),
      fv: (g, [rx, rw, rb]) => nnVjp.batchNormTrain(vjp.leakyRelu(g, nnRef.batchNormTrain(rx!, rw!, rb!, 1e-5), slope)[0]!, rx!, rw!, rb!, 1e-5),
      tol: SUM_TOL,
    }, rng);
  }
});

norms('batchNorm training: forward, gradients of x, weight, bias, and the running statistics update', async () => {
  const rng = mulberry32(2203);
  const cases: [number[], number | undefined, boolean][] = [
    [[4, 3, 5, 6], 0.3, true],
    [[2, 3, 3, 4, 5], undefined, true], // default momentum 0.1
    [[3, 2, 4, 3], 0.5, false], // no running statistics given
  ];
  for (const [shape, momentum, running] of cases) {
    const C = shape[1]!;
    const x = randRT(shape, rng, -1, 2);
    const w = randRT([C], rng, 0.5, 1.5);
    const b = randRT([C], rng);
    const rm0 = randRT([C], rng);
    const rv0 = randRT([C], rng, 0.5, 2);
    const what = `batchNorm train ${fmt(shape)} momentum ${momentum ?? 'default'}`;
    await scope(async () => {
      const rm = gpu(rm0);
      const rv = gpu(rv0);
      await check(what, [x, w, b], {
        f: ([tx, tw, tb]) => batchNorm(tx!, { weight: tw, bias: tb, training: true, momentum, ...(running ? { runningMean: rm, runningVar: rv } : {}) }),
        fr: ([rx, rw, rb]) => nnRef.batchNormTrain(rx!, rw!, rb!, 1e-5),
        fv: (g, [rx, rw, rb]) => nnVjp.batchNormTrain(g, rx!, rw!, rb!, 1e-5),
        tol: SUM_TOL,
      }, rng);
      const m = momentum ?? 0.1;
      const st = batchNormStats(x);
      // PyTorch: running = (1 - m) running + m batch_stat, with the unbiased batch variance for runningVar
      const wantM = running ? rt([C], rm0.data.map((v, c) => (1 - m) * v + m * st.mean.data[c]!)) : rm0;
      const wantV = running ? rt([C], rv0.data.map((v, c) => (1 - m) * v + m * st.unbiasedVariance.data[c]!)) : rv0;
      await close(rm, wantM, `${what}: runningMean`, SUM_TOL);
      await close(rv, wantV, `${what}: runningVar (unbiased batch variance)`, SUM_TOL);
    });
  }
});

norms('batchNorm evaluation: running statistics, with and without affine: forward and gradients', async () => {
  const rng = mulberry32(2204);
  for (const [shape, affine] of [[[3, 4, 5, 2], true], [[2, 3, 2, 3, 4], false]] as [number[], boolean][]) {
    const C = shape[1]!;
    const x = randRT(shape, rng, -1, 2);
    const rm = randRT([C], rng);
    const rv = randRT([C], rng, 0.5, 2);
    const xs = affine ? [x, rm, rv, randRT([C], rng, 0.5, 1.5), randRT([C], rng)] : [x, rm, rv];
    await check(`batchNorm eval ${fmt(shape)}${affine ? ' affine' : ''}`, xs, {
      f: ([tx, tm, tv, tw, tb]) => batchNorm(tx!, { runningMean: tm, runningVar: tv, weight: tw, bias: tb, training: false }),
      fr: ([rx, m, v, w, b]) => nnRef.batchNormEval(rx!, m!, v!, w ?? null, b ?? null),
      fv: (g, [rx, m, v, w, b]) => nnVjp.batchNormEval(g, rx!, m!, v!, w ?? null, b ?? null),
      needs: xs.map((_, i) => i === 0 || i >= 3),
      tol: SUM_TOL,
    }, rng);
  }
});

// ------------------------------------------------------------------------------------------------ pooling

const pools = suite('nn: pooling');
pools.before(setup);

pools('avgPool (1-, 2- and 3-D kernels) and avgPool2x: forward and gradient', async () => {
  const rng = mulberry32(2301);
  const cases: [number[], number[]][] = [
    [[2, 3, 6, 8], [2, 2]],
    [[2, 3, 6, 8], [3, 4]],
    [[1, 2, 4, 6, 6], [2, 3, 2]],
    [[2, 3, 5, 12], [4]],
    [[1, 1, 5, 7], [5, 7]], // one window over the whole plane
  ];
  for (const [shape, k] of cases) {
    await check(`avgPool ${fmt(shape)} k${fmt(k)}`, [randRT(shape, rng)], {
      f: ([t]) => avgPool(t!, k), fr: ([r]) => nnRef.avgPool(r!, k), fv: (g, [r]) => nnVjp.avgPool(g, r!, k),
    }, rng);
  }
  for (const shape of [[2, 3, 6, 4], [1, 2, 4, 6, 10]]) {
    await check(`avgPool2x ${fmt(shape)}`, [randRT(shape, rng)], {
      f: ([t]) => avgPool2x(t!), fr: ([r]) => nnRef.avgPool2x(r!), fv: (g, [r]) => nnVjp.avgPool2x(g, r!),
    }, rng);
  }
});

// ------------------------------------------------------------------------------------------------ losses and maps

const losses = suite('nn: losses and image comparison');
losses.before(setup);

losses('l1, mse and charbonnier losses: value and gradients of both inputs', async () => {
  const rng = mulberry32(2401);
  for (const shape of [[2, 3, 5, 7], [1, 2, 3, 4, 5]]) {
    const a = randRT(shape, rng);
    const b = ref.add(a, awayRT(shape, rng, 0.05, 1)); // |a - b| >= 0.05: away from l1's kink
    await check(`l1 ${fmt(shape)}`, [a, b], { f: ([x, y]) => l1Loss(x!, y!), fr: ([x, y]) => nnRef.l1(x!, y!), fv: (g, [x, y]) => nnVjp.l1(g, x!, y!), tol: SUM_TOL }, rng);
    await check(`mse ${fmt(shape)}`, [a, b], { f: ([x, y]) => mseLoss(x!, y!), fr: ([x, y]) => nnRef.mse(x!, y!), fv: (g, [x, y]) => nnVjp.mse(g, x!, y!), tol: SUM_TOL }, rng);
    for (const [eps, alpha] of [[1e-3, 0.5], [0.01, 0.45], [0.1, 1]]) {
      // small differences too, where eps matters
      const c = ref.add(a, randRT(shape, rng, -0.02, 0.02));
      for (const [bb, tag] of [[b, 'large'], [c, 'small']] as [RT, string][]) {
        await check(`charbonnier ${fmt(shape)} eps ${eps} alpha ${alpha} (${tag} differences)`, [a, bb], {
          f: ([x, y]) => charbonnierLoss(x!, y!, eps, alpha),
          fr: ([x, y]) => nnRef.charbonnier(x!, y!, eps, alpha),
          fv: (g, [x, y]) => nnVjp.charbonnier(g, x!, y!, eps, alpha),
          tol: SUM_TOL,
        }, rng);
      }
    }
  }
});

/** An image in [0, 1] and a related one (the first plus noise, clamped), like two frames. */
function imagePair(shape: number[], rng: () => number, noise: number, lo = 0, hi = 1): [RT, RT] {
  const a = randRT(shape, rng, lo, hi);
  const b = rt(shape, a.data.map((v) => Math.min(hi, Math.max(lo, v + noise * (2 * rng() - 1)))));
  return [a, b];
}

losses('ssimMap: forward and gradients of both inputs', async () => {
  const rng = mulberry32(2402);
  for (const [shape, noise] of [[[2, 3, 6, 7], 0.3], [[1, 2, 5, 9], 1], [[1, 1, 3, 3], 0.2]] as [number[], number][]) {
    const [x, y] = imagePair(shape, rng, noise);
    // precondition: no window sits at the clamp of (1 - SSIM) / 2 (where the gradient jumps)
    const raw = nnRef.ssimMap(x, y);
    for (const v of raw.data) assert.ok(v > 1e-4 && v < 1 - 1e-4, `ssimMap ${fmt(shape)}: a window is at the clamp (${v})`);
    await check(`ssimMap ${fmt(shape)}`, [x, y], {
      f: ([a, b]) => ssimMap(a!, b!), fr: ([a, b]) => nnRef.ssimMap(a!, b!), fv: (g, [a, b]) => nnVjp.ssimMap(g, a!, b!), tol: SUM_TOL,
    }, rng);
  }
});

// census works on gray = 255 (0.2989 R + 0.587 G + 0.114 B), about 127 for mid-gray images, where one f32 ulp is
// ~8e-6: the gray differences D (of order 1 for near-flat images) carry a relative error of ~1e-5, well inside the
// forward's atol 1e-4 (the map's values are in [0, 1)). The gradients are scaled by 255 · (gray weight) and reach
// ~130 for near-flat images, and each pixel's gradient sums the 9 windows that contain it with partly cancelling
// signs, so an element's error follows the gradient's scale, not its own size (seen: 4e-3 at scale 133, 3e-5 of
// it). Hence an atol of 1e-4 of the largest reference gradient of that input, plus rtol 1e-3.
const CENSUS_TOL: Tol = { atol: 1e-4, rtol: 1e-3 };
const censusGradTol = (want: RT): Tol => ({ atol: 1e-6 + 1e-4 * Math.max(...want.data.map(Math.abs)), rtol: 1e-3 });

losses('census: forward and gradients of both inputs (random and near-flat images)', async () => {
  const rng = mulberry32(2403);
  const cases: [number[], number, number, number][] = [
    [[2, 3, 6, 7], 0.2, 0, 1], // gray steps of tens: the soft sign saturates
    [[1, 3, 5, 8], 0.004, 0.5, 0.51], // gray steps of about 1: the soft sign's linear range
    [[1, 3, 3, 3], 0.1, 0, 1], // only one interior pixel
    [[3, 3, 17, 37], 0.1, 0, 1], // batch 3, odd sizes: quads past the row's end, elementwise loads and stores
    [[2, 3, 7, 72], 0.1, 0, 1], // rows of 18 quads: vec4 loads and stores, 2 quads a lane, a part-filled workgroup
    [[1, 3, 2, 9], 0.1, 0, 1], // no interior pixel: all zero, zero gradients
  ];
  for (const [shape, noise, lo, hi] of cases) {
    const [a, b] = imagePair(shape, rng, noise, lo, hi);
    await check(`census ${fmt(shape)} in [${lo}, ${hi}]`, [a, b], {
      f: ([x, y]) => census(x!, y!), fr: ([x, y]) => nnRef.census(x!, y!), fv: (g, [x, y]) => nnVjp.census(g, x!, y!),
      tol: CENSUS_TOL, gradTol: censusGradTol,
    }, rng);
  }
});

losses('census with wider patches (5x5, 7x7, 9x9): forward and gradients of both inputs; bad patch sizes are named', async () => {
  const rng = mulberry32(2405);
  const cases: [number[], number, number, number, number][] = [
    [[2, 3, 9, 11], 5, 0.1, 0, 1], // odd sizes: elementwise loads, quads past the row's end
    [[1, 3, 12, 40], 7, 0.1, 0, 1], // rows of 10 quads: vec4 loads, windows reaching 3 columns into the next quads
    [[1, 3, 8, 8], 7, 0.004, 0.5, 0.51], // near-flat (the soft sign's linear range); a 2x2 interior
    [[1, 3, 13, 16], 9, 0.1, 0, 1], // the widest patch: shifts of ±4, whole neighbouring quads
    [[1, 3, 6, 16], 7, 0.1, 0, 1], // no interior row: all zero, zero gradients
  ];
  for (const [shape, patch, noise, lo, hi] of cases) {
    const [a, b] = imagePair(shape, rng, noise, lo, hi);
    await check(`census ${patch}x${patch} ${fmt(shape)}`, [a, b], {
      f: ([x, y]) => census(x!, y!, patch), fr: ([x, y]) => nnRef.census(x!, y!, patch), fv: (g, [x, y]) => nnVjp.census(g, x!, y!, patch),
      tol: CENSUS_TOL, gradTol: censusGradTol,
    }, rng);
  }
  await scope(async () => {
    const [ra, rb] = imagePair([1, 3, 8, 8], rng, 0.1);
    for (const patch of [4, 1, 11, 2.5]) {
      throwsMatching(() => census(gpu(ra), gpu(rb), patch), new RegExp(`^census: patch must be an odd side from 3 to 9, got ${patch}`), `patch ${patch}`);
    }
  });
});

losses('census of luminance images [N, 1, H, W] (gray = 255 L): forward and gradients of both inputs; other channel counts named', async () => {
  const rng = mulberry32(2406);
  const cases: [number[], number, number, number, number][] = [
    [[2, 1, 9, 11], 3, 0.1, 0, 1], // odd sizes: elementwise loads and stores
    [[3, 1, 17, 36], 3, 0.004, 0.5, 0.51], // near-flat, vec4 rows of 9 quads, batch 3
    [[1, 1, 12, 40], 7, 0.1, 0, 1], // the refinement's patch: windows reaching 3 columns into the next quads
    [[2, 1, 11, 13], 5, 0.1, 0, 1],
  ];
  for (const [shape, patch, noise, lo, hi] of cases) {
    const [a, b] = imagePair(shape, rng, noise, lo, hi);
    await check(`census ${patch}x${patch} luminance ${fmt(shape)}`, [a, b], {
      f: ([x, y]) => census(x!, y!, patch), fr: ([x, y]) => nnRef.census(x!, y!, patch), fv: (g, [x, y]) => nnVjp.census(g, x!, y!, patch),
      tol: CENSUS_TOL, gradTol: censusGradTol,
    }, rng);
  }
  await scope(async () => {
    const [ra, rb] = imagePair([1, 2, 8, 8], rng, 0.1);
    throwsMatching(() => census(gpu(ra), gpu(rb)), /^census: inputs must be RGB \[N, 3, H, W\] or luminance \[N, 1, H, W\], got \[1, 2, 8, 8\]/, '2 channels');
  });
});

losses('luminance: forward and gradient; census(luminance(a), luminance(b)) = census(a, b) on the GPU; non-RGB input named', async () => {
  const rng = mulberry32(2407);
  await check('luminance [2,3,5,7]', [randRT([2, 3, 5, 7], rng)], {
    f: ([x]) => luminance(x!), fr: ([x]) => nnRef.luminance(x!), fv: (g, [x]) => nnVjp.luminance(g, x!), tol: { atol: 1e-6, rtol: 1e-6 },
  }, rng);
  const [ra, rb] = imagePair([2, 3, 12, 16], rng, 0.1);
  await scope(async () => {
    const [a, b] = [gpu(ra), gpu(rb)];
    await close(census(luminance(a), luminance(b), 7), nnRef.census(ra, rb, 7), 'census 7x7 of the luminance pair vs the RGB reference', CENSUS_TOL);
    throwsMatching(() => luminance(gpu(randRT([1, 1, 4, 4], rng))), /^luminance: input must be RGB \[N, 3, H, W\], got \[1, 1, 4, 4\]/, 'one channel');
  });
});

losses('tvGrad: s · ∂TV/∂F (+ base) against the float64 VJP of the edge-weighted total variation; bad shapes named', async () => {
  const rng = mulberry32(2408);
  const cases: [number[], number, boolean][] = [
    [[2, 2, 5, 7], 0.37, true],    // the refinement's shape (K = 2), odd sizes, with the data term's gradient added
    [[1, 3, 4, 9], 1, false],      // K = 3, a row longer than a lane's items
    [[3, 1, 6, 2], -2, true],      // the narrowest field
    [[1, 2, 2, 70], 0.5, false],   // two rows: every pixel on the border, rows of several workgroups' items
    [[2, 2, 5, 12], 0.37, true],   // whole vec4 rows (tv_grad4): quads with both neighbours, first and last quads
    [[1, 3, 3, 4], 1.5, false],    // one quad a row: both side scalars outside
    [[1, 2, 4, 132], -0.8, true],  // 33 quads a row: several items a lane
  ];
  for (const [shape, s, withBase] of cases) {
    const [B, , H, W] = shape as [number, number, number, number];
    const F = randRT(shape, rng, -2, 2);
    const wx = randRT([B, 1, H, W - 1], rng, 0.1, 1);
    const wy = randRT([B, 1, H - 1, W], rng, 0.1, 1);
    const base = withBase ? randRT(shape, rng, -1, 1) : null;
    const [gF] = nnVjp.tv(rt([], [s]), F, wx, wy);
    const want = rt(shape, gF!.data.map((v, i) => v + (base ? base.data[i]! : 0)));
    await scope(async () => {
      await close(tvGrad(gpu(F), [gpu(wx), gpu(wy)], s, base ? gpu(base) : null), want, `tvGrad ${fmt(shape)} s ${s}${withBase ? ' + base' : ''}`, { atol: 1e-5, rtol: 1e-5 });
    });
  }
  await scope(async () => {
    const F = gpu(randRT([1, 2, 4, 5], rng));
    const wx = gpu(randRT([1, 1, 4, 4], rng));
    const wy = gpu(randRT([1, 1, 3, 5], rng));
    throwsMatching(() => tvGrad(F, [wy, wx]), /^tvGrad: need a field \[B, K, H, W\].*got \[1, 2, 4, 5\], \[1, 1, 3, 5\], \[1, 1, 4, 4\]/, 'weights swapped');
    throwsMatching(() => tvGrad(F, [wx, wy], 1, gpu(randRT([1, 1, 4, 5], rng))), /^tvGrad: .*base like the field.*\[1, 1, 4, 5\]/, 'base shape');
    throwsMatching(() => tvGrad(F, [wx, wy], NaN), /^tvGrad: the scale must be a finite number, got NaN/, 'scale');
  });
});

losses('censusGrad: census\'s gradient as an op (either side, a given g or one number for every pixel) against the float64 VJP; bad arguments named', async () => {
  const rng = mulberry32(2405);
  const shape = [2, 3, 9, 11];
  const [ra, rb] = imagePair(shape, rng, 1);
  const rg = rt([2, 1, 9, 11], Array.from({ length: 2 * 9 * 11 }, () => rng() - 0.5));
  for (const patch of [3, 5]) {
    const want = nnVjp.census(rg, ra, rb, patch);
    for (const side of [0, 1] as const) {
      await scope(async () => {
        const got = censusGrad(gpu(rg), gpu(ra), gpu(rb), patch, side);
        assert.equal(got.shape, shape);
        await close(got, want[side]!, `censusGrad ${patch}x${patch} side ${side}`, censusGradTol(want[side]!));
      });
    }
  }
  // g as one number (the refinement's mean over pixels): the reference's g field filled with it; RGB and luminance
  for (const [shape, patch] of [[[2, 3, 9, 11], 3], [[1, 1, 12, 40], 7], [[2, 1, 9, 13], 5]] as [number[], number][]) {
    const [ca, cb] = imagePair(shape, rng, 1);
    const [N, , H, W] = shape as [number, number, number, number];
    const want = nnVjp.census(rt([N, 1, H, W], new Array(N * H * W).fill(0.37)), ca, cb, patch);
    for (const side of [0, 1] as const) {
      await scope(async () => {
        await close(censusGrad(0.37, gpu(ca), gpu(cb), patch, side), want[side]!, `censusGrad ${patch}x${patch} ${fmt(shape)} constant g, side ${side}`, censusGradTol(want[side]!));
      });
    }
  }
  await scope(async () => {
    const [a, b] = [gpu(ra), gpu(rb)];
    throwsMatching(() => censusGrad(gpu(rt([2, 1, 9, 10], new Array(180).fill(0))), a, b, 3, 0), /^censusGrad: g must be \[N, 1, H, W\] = \[2, 1, 9, 11\] for inputs \[2, 3, 9, 11\] or a finite number, got \[2, 1, 9, 10\]/, 'g shape');
    throwsMatching(() => censusGrad(NaN, a, b, 3, 0), /^censusGrad: g must be .* or a finite number, got NaN/, 'g NaN');
    throwsMatching(() => censusGrad(gpu(rg), a, b, 4, 0), /^censusGrad: patch must be an odd side from 3 to 9, got 4/, 'patch');
    throwsMatching(() => censusGrad(gpu(rg), a, b, 3, 2 as 0), /^censusGrad: side must be 0 \(a\) or 1 \(b\), got 2/, 'side');
  });
});

losses('census: first order only — differentiating its gradient again is a named error', async () => {
  await scope(async () => {
    const rng = mulberry32(2404);
    const [ra, rb] = imagePair([1, 3, 5, 6], rng, 0.2);
    const a = gpu(ra, true);
    const b = gpu(rb, true);
    const [ga] = grad(sum(census(a, b)), [a], { createGraph: true });
    throwsMatching(() => sum(ga!).backward(), /census: second-order gradients are not implemented .*\[1, 3, 5, 6\]/, 'census double backward');
  });
});

// ------------------------------------------------------------------------------------------------ double backward

const second = suite('nn: double backward (the WGAN-GP critic)');
second.before(setup);

interface SecondCase {
  f: (ts: Tensor[]) => Tensor;
  fr: (xs: RT[]) => RT;
  fv: (gy: RT, xs: RT[]) => RT[];
}

/**
 * On the GPU: gs = grad(f(xs), xs, { gradOutputs: [gy], createGraph: true }), s = Σ_i sum(gs[i] · v[i]), then
 * grad(s, xs), and with withGy also w.r.t. gy (then gy requires grad: the adjoint input, on which gs depends
 * linearly, as torch.autograd.grad's grad_outputs with create_graph). In float64: h(xs, gy) = Σ_i <vjp(gy, xs)[i],
 * v[i]> and its central finite differences w.r.t. every element of every input (and of gy).
 */
async function checkSecond(what: string, xs: RT[], c: SecondCase, rng: () => number, withGy = false): Promise<void> {
  const gy = randRT(c.fr(xs).shape, rng);
  const vs = xs.map((x) => randRT(x.shape, rng));
  const h = (args: RT[]) => {
    const gs = c.fv(args[xs.length]!, args.slice(0, xs.length));
    let s = 0;
    gs.forEach((g, i) => g.data.forEach((val, j) => (s += val * vs[i]!.data[j]!)));
    return s;
  };
  const args = [...xs, gy];
  const want = (withGy ? args : xs).map((_, i) => centralFD(h, args, i));
  const firstRef = c.fv(gy, xs);
  await scope(async () => {
    const ts = xs.map((x) => gpu(x, true));
    const tg = gpu(gy, withGy);
    const y = c.f(ts);
    const gs = grad(y, ts, { gradOutputs: [tg], createGraph: true });
    for (let i = 0; i < ts.length; i++) {
      assert.ok(gs[i], `${what}: no first gradient for input ${i}`);
      await close(gs[i]!, firstRef[i]!, `${what}: first derivative of input ${i}`, SUM_TOL);
    }
    let s: Tensor | null = null;
    gs.forEach((g, i) => {
      const term = sum(mul(g!, gpu(vs[i]!)));
      s = s ? add(s, term) : term;
    });
    assert.ok(s!.requiresGrad, `${what}: the first derivatives carry no graph`);
    const got = grad(s!, withGy ? [...ts, tg] : ts, { allowUnused: true });
    for (let i = 0; i < ts.length; i++) {
      const label = `${what}: second derivative w.r.t. input ${i}`;
      if (got[i]) await close(got[i]!, want[i]!, label, SECOND_TOL);
      else await close(gpu(zerosRT(xs[i]!.shape)), want[i]!, `${label} (no graph path: zero)`, SECOND_TOL);
    }
    if (withGy) {
      const gg = got[ts.length];
      assert.ok(gg, `${what}: grad(s, gy) is null: the gradients computed with createGraph from gradOutputs [gy] (which requires grad) are not connected to gy, but they depend on it linearly (reference d s / d gy has max |.| ${Math.max(...want[ts.length]!.data.map(Math.abs)).toFixed(3)})`);
      await close(gg!, want[ts.length]!, `${what}: derivative w.r.t. the adjoint input gy`, SECOND_TOL);
    }
  });
}

const CONV3D_2ND: ConvOptions = { stride: [1, 2, 2], padding: 1 };
const conv3dSecond: SecondCase = {
  f: ([tx, tw]) => conv3d(tx!, tw!, null, CONV3D_2ND),
  fr: ([rx, rw]) => nnRef.conv(rx!, rw!, null, CONV3D_2ND),
  fv: (g, [rx, rw]) => nnVjp.conv(g, rx!, rw!, null, CONV3D_2ND),
};
const inSecond: SecondCase = { f: ([t]) => instanceNorm(t!), fr: ([r]) => nnRef.instanceNorm(r!), fv: (g, [r]) => nnVjp.instanceNorm(g, r!) };

second('conv3d: second derivatives w.r.t. x and w', async () => {
  const rng = mulberry32(2501);
  await checkSecond('conv3d x[1,2,4,5,5] w[3,2,2,3,3]', [randRT([1, 2, 4, 5, 5], rng), randRT([3, 2, 2, 3, 3], rng, -0.5, 0.5)], conv3dSecond, rng);
  // 2 input channels take the direct kernel under 'auto'; the im2col route's second derivatives on the same layer,
  // and the direct route on a layer with more channels than 'auto' would give it
  const im2col = { ...CONV3D_2ND, algorithm: 'im2col' as const };
  await checkSecond('conv3d im2col x[1,2,4,5,5] w[3,2,2,3,3]', [randRT([1, 2, 4, 5, 5], rng), randRT([3, 2, 2, 3, 3], rng, -0.5, 0.5)], { ...conv3dSecond, f: ([tx, tw]) => conv3d(tx!, tw!, null, im2col) }, rng);
  // 512 output pixels: the pitched patches, whose weight gradient is recomputed through patchProduct under createGraph
  const pitched = { padding: 1, algorithm: 'im2col' as const };
  await checkSecond('conv3d pitched x[1,1,1,16,32] w[4,1,1,3,3]', [randRT([1, 1, 1, 16, 32], rng), randRT([4, 1, 1, 3, 3], rng, -0.5, 0.5)], {
    f: ([tx, tw]) => conv3d(tx!, tw!, null, pitched),
    fr: ([rx, rw]) => nnRef.conv(rx!, rw!, null, pitched),
    fv: (g, [rx, rw]) => nnVjp.conv(g, rx!, rw!, null, pitched),
  }, rng);
  const direct = { ...CONV3D_2ND, algorithm: 'direct' as const };
  await checkSecond('conv3d direct x[1,6,3,4,5] w[5,6,2,3,3]', [randRT([1, 6, 3, 4, 5], rng), randRT([5, 6, 2, 3, 3], rng, -0.5, 0.5)], { ...conv3dSecond, f: ([tx, tw]) => conv3d(tx!, tw!, null, direct) }, rng);
});

second('instanceNorm on a 3-D input: second derivatives, without and with affine', async () => {
  const rng = mulberry32(2502);
  await checkSecond('instanceNorm [2,2,3,4,3]', [randRT([2, 2, 3, 4, 3], rng, -1, 2)], inSecond, rng);
  const x2 = randRT([1, 3, 2, 3, 4], rng, -1, 2);
  await checkSecond('instanceNorm [1,3,2,3,4] affine', [x2, randRT([3], rng, 0.5, 1.5), randRT([3], rng)], {
    f: ([t, w, b]) => instanceNorm(t!, { weight: w, bias: b }),
    fr: ([r, w, b]) => nnRef.instanceNorm(r!, 1e-5, w!, b!),
    fv: (g, [r, w, b]) => nnVjp.instanceNorm(g, r!, 1e-5, w!, b!),
  }, rng);
});

second('conv3d and instanceNorm: derivatives w.r.t. the adjoint input (gradOutputs that require grad)', async () => {
  const rng = mulberry32(2503);
  await checkSecond('conv3d x[1,2,4,5,5] w[3,2,2,3,3]', [randRT([1, 2, 4, 5, 5], rng), randRT([3, 2, 2, 3, 3], rng, -0.5, 0.5)], conv3dSecond, rng, true);
  await checkSecond('instanceNorm [2,2,3,4,3]', [randRT([2, 2, 3, 4, 3], rng, -1, 2)], inSecond, rng, true);
});

// A tiny critic: out = sum(conv3d(leakyRelu(instanceNorm(conv3d(x, w1, b1), wn, bn), 0.2), w2, b2)), and its
// gradient penalty P = sum((d out / d x)²), differentiated w.r.t. every parameter.
const CRITIC_O1: ConvOptions = { padding: 1 };
const CRITIC_O2: ConvOptions = { stride: [1, 2, 2], padding: [0, 1, 1] };
const CRITIC_EPS = 1e-5;
const CRITIC_SLOPE = 0.2;
const CRITIC_NAMES = ['w1', 'b1', 'wn', 'bn', 'w2', 'b2'] as const;

interface Critic {
  x: RT;
  /** w1, b1, wn, bn, w2, b2 */
  params: RT[];
}

function criticParams(seed: number): Critic {
  const rng = mulberry32(seed);
  return {
    x: randRT([1, 2, 4, 6, 6], rng),
    params: [
      randRT([3, 2, 3, 3, 3], rng, -0.5, 0.5),
      randRT([3], rng),
      randRT([3], rng, 0.5, 1.5),
      randRT([3], rng, -0.5, 0.5),
      randRT([1, 3, 2, 3, 3], rng, -0.5, 0.5),
      randRT([1], rng),
    ],
  };
}

/** The pre-activation (instanceNorm output) and d out / d x, in float64. */
function criticRef(x: RT, [w1, b1, wn, bn, w2, b2]: RT[]): { pre: RT; gx: RT } {
  const z = nnRef.conv(x, w1!, b1!, CRITIC_O1);
  const pre = nnRef.instanceNorm(z, CRITIC_EPS, wn!, bn!);
  const a = ref.leakyRelu(pre, CRITIC_SLOPE);
  const out = nnRef.conv(a, w2!, b2!, CRITIC_O2);
  const ga = nnVjp.conv(fullRT(out.shape, 1), a, w2!, b2!, CRITIC_O2)[0]!;
  const gpre = vjp.leakyRelu(ga, pre, CRITIC_SLOPE)[0]!;
  const gz = nnVjp.instanceNorm(gpre, z, CRITIC_EPS, wn!, bn!)[0]!;
  const gx = nnVjp.conv(gz, x, w1!, b1!, CRITIC_O1)[0]!;
  return { pre, gx };
}

const penaltyRef = (x: RT, params: RT[]) => criticRef(x, params).gx.data.reduce((s, v) => s + v * v, 0);

for (const seed of [2601, 2602]) {
  second(`tiny critic conv3d -> instanceNorm -> leakyRelu -> conv3d: gradient penalty and its parameter gradients (seed ${seed})`, async () => {
    const c = criticParams(seed);
    const { pre, gx } = criticRef(c.x, c.params);
    // Precondition for finite differences through leakyRelu: no pre-activation near the kink.
    const nearest = Math.min(...pre.data.map(Math.abs));
    assert.ok(nearest > 1e-3, `seed ${seed}: a pre-activation is ${nearest} from the leakyRelu kink`);
    const wantP = penaltyRef(c.x, c.params);
    const fd = c.params.map((_, i) => centralFD((ps) => penaltyRef(c.x, ps), c.params, i));
    await scope(async () => {
      const x = gpu(c.x, true);
      const [w1, b1, wn, bn, w2, b2] = c.params.map((p) => gpu(p, true));
      const out = conv3d(leakyRelu(instanceNorm(conv3d(x, w1!, b1!, CRITIC_O1), { eps: CRITIC_EPS, weight: wn, bias: bn }), CRITIC_SLOPE), w2!, b2!, CRITIC_O2);
      const [g] = grad(sum(out), x, { createGraph: true });
      assert.ok(g, 'grad() returned no gradient for x');
      assert.ok(g!.requiresGrad, 'g was computed with createGraph but does not require grad');
      await close(g!, gx, 'd out / dx', SUM_TOL);
      const P = sum(square(g!));
      const pv = await P.item();
      assert.ok(Math.abs(pv - wantP) <= 1e-4 + 1e-3 * Math.abs(wantP), `P is ${pv} on the GPU, ${wantP} in the reference`);
      P.backward();
      const ts = [w1, b1, wn, bn, w2, b2];
      for (let i = 0; i < ts.length; i++) {
        const name = CRITIC_NAMES[i]!;
        const t = ts[i]!;
        // b1 is removed by the instance norm and b2 is a constant shift: P does not depend on them; bn moves only
        // the leakyRelu mask (piecewise constant). The engine may leave those .grad null or give zeros.
        if (name === 'b1' || name === 'b2' || name === 'bn') {
          for (const v of fd[i]!.data) assert.ok(Math.abs(v) < 1e-4, `reference dP/d${name} is not ~0: ${v}`);
          if (t.grad) await close(t.grad, fd[i]!, `dP/d${name}`, SECOND_TOL);
          continue;
        }
        assert.ok(t.grad, `dP/d${name} is missing`);
        await close(t.grad!, fd[i]!, `dP/d${name} vs finite differences`, SECOND_TOL);
      }
    });
  });
}

// ------------------------------------------------------------------------------------------------ errors

const errors = suite('nn: argument errors');
errors.before(setup);

const z = (shape: number[]) => gpu(zerosRT(shape));

errors('conv2d/conv3d: negative padding, kernel larger than the padded input, channel mismatch, rank, bias size', () => {
  scope(() => {
    const x = z([1, 3, 5, 5]);
    const w = z([4, 3, 3, 3]);
    throwsMatching(() => conv2d(x, w, null, { padding: -1 }), /^conv2d: padding .*non-negative.*-1/, 'negative padding');
    throwsMatching(() => conv2d(x, w, null, { padding: [1, -2] }), /^conv2d: padding .*non-negative/, 'negative padding in one dim');
    throwsMatching(() => conv2d(x, w, null, { stride: 0 }), /^conv2d: stride/, 'stride 0');
    throwsMatching(() => conv2d(x, z([4, 3, 7, 3])), /^conv2d: kernel \[7, 3\].*larger than the padded input \[5, 5\]/, 'kernel larger than the input');
    throwsMatching(() => conv2d(x, w, null, { dilation: 3 }), /^conv2d: kernel \[3, 3\] \(dilation \[3, 3\]\) is larger than the padded input \[5, 5\]/, 'dilated kernel larger than the input');
    throwsMatching(() => conv2d(x, z([4, 2, 3, 3])), /^conv2d: input has 3 channels but the weight \[4, 2, 3, 3\] expects 2/, 'channel mismatch');
    throwsMatching(() => conv2d(z([1, 3, 5, 5, 5]), w), /^conv2d: input must be \[N, C, H, W\], got \[1, 3, 5, 5, 5\]/, 'x of rank 5');
    throwsMatching(() => conv2d(x, z([4, 3, 3])), /^conv2d: weight must be .*got \[4, 3, 3\]/, 'w of rank 3');
    throwsMatching(() => conv3d(x, w), /^conv3d: input must be \[N, C, D, H, W\], got \[1, 3, 5, 5\]/, 'conv3d of a 4-D x');
    throwsMatching(() => conv3d(z([1, 3, 4, 5, 5]), w), /^conv3d: weight must be .*got \[4, 3, 3, 3\]/, 'conv3d with a 4-D w');
    throwsMatching(() => conv2d(x, w, z([3])), /^conv2d: bias \[3\] does not match 4 output channels/, 'bias of the wrong size');
    throwsMatching(() => conv2d(x, w, z([4, 1])), /^conv2d: bias \[4, 1\] does not match 4 output channels/, 'bias of the wrong rank');
    throwsMatching(() => conv3d(z([1, 2, 3, 3, 3]), z([1, 2, 2, 2, 2]), null, { stride: [1, 2] }), /^conv3d: stride .*\[1,2\]/, 'stride with 2 entries for 3-D');
  });
});

errors('convTranspose2d/3d: outputPadding >= stride, channel mismatch, bias size', () => {
  scope(() => {
    const x = z([1, 3, 4, 4]);
    const w = z([3, 2, 3, 3]);
    throwsMatching(() => convTranspose2d(x, w, null, { stride: 2, outputPadding: 2 }), /^convTranspose2d: outputPadding \[2, 2\] must be smaller than stride \[2, 2\]/, 'outputPadding = stride');
    throwsMatching(() => convTranspose2d(x, w, null, { stride: [2, 1], outputPadding: [1, 1] }), /^convTranspose2d: outputPadding \[1, 1\] must be smaller than stride \[2, 1\]/, 'outputPadding >= stride in one dim');
    throwsMatching(() => convTranspose3d(z([1, 3, 2, 2, 2]), z([3, 2, 2, 2, 2]), null, { outputPadding: 1 }), /^convTranspose3d: outputPadding \[1, 1, 1\] must be smaller than stride \[1, 1, 1\]/, 'outputPadding 1 with stride 1');
    throwsMatching(() => convTranspose2d(x, z([2, 3, 3, 3])), /^convTranspose2d: input has 3 channels but the weight \[2, 3, 3, 3\] expects 2/, 'channel mismatch');
    throwsMatching(() => convTranspose2d(x, w, z([3])), /^convTranspose2d: bias \[3\] does not match 2 output channels/, 'bias of the wrong size');
    throwsMatching(() => convTranspose2d(x, w, null, { padding: -1 }), /^convTranspose2d: padding/, 'negative padding');
  });
});

errors('pad: reflect padding >= size, wrong pad count, negative pads, unknown mode', () => {
  scope(() => {
    const x = z([1, 1, 3, 4]);
    throwsMatching(() => pad(x, [3, 0, 0, 0], 'reflect'), /^pad: reflect padding \[3, 0, 0, 0\] must be smaller than the padded dims \[3, 4\] of \[1, 1, 3, 4\]/, 'reflect pad = size');
    throwsMatching(() => pad(x, [0, 0, 0, 5], 'reflect'), /^pad: reflect padding .*\[3, 4\]/, 'reflect pad > size');
    throwsMatching(() => pad(z([1, 2, 3, 4, 5]), [0, 3, 0, 0, 0, 0], 'reflect'), /^pad: reflect padding \[0, 3, 0, 0, 0, 0\] must be smaller than the padded dims \[3, 4, 5\] of \[1, 2, 3, 4, 5\]/, '3-D reflect pad = size');
    throwsMatching(() => pad(x, [1, 1]), /^pad: give \[before, after\] for 2 or 3 dims/, 'two numbers');
    throwsMatching(() => pad(x, [1, -1, 0, 0]), /^pad: paddings must be non-negative/, 'negative pad');
    throwsMatching(() => pad(x, [1, 1, 1, 1], 'edge' as PadMode), /^pad: mode must be/, 'unknown mode');
  });
});

errors('adain, instanceNorm and batchNorm: parameter shapes', () => {
  scope(() => {
    const x = z([2, 3, 4, 4]);
    throwsMatching(() => adain(x, z([3, 2]), z([2, 3])), /^adain: gamma must be \[N, C\] = \[2, 3\] for input \[2, 3, 4, 4\], got \[3, 2\]/, 'gamma transposed');
    throwsMatching(() => adain(x, z([2, 3]), z([2, 3, 1])), /^adain: beta must be \[N, C\] = \[2, 3\].*got \[2, 3, 1\]/, 'beta of rank 3');
    throwsMatching(() => adain(x, z([3]), z([2, 3])), /^adain: gamma .*got \[3\]/, 'gamma [C]');
    throwsMatching(() => adain(z([2, 3]), z([2, 3]), z([2, 3])), /^adain: input must be \[N, C, \.\.\.spatial\]/, 'adain of a 2-D x');
    throwsMatching(() => instanceNorm(x, { weight: z([4]) }), /^instanceNorm: weight \[4\] does not match 3 channels/, 'instanceNorm weight');
    throwsMatching(() => batchNorm(x, { bias: z([2]) }), /^batchNorm: bias \[2\] does not match 3 channels/, 'batchNorm bias');
    throwsMatching(() => batchNorm(x, { training: false }), /^batchNorm: evaluation mode needs runningMean and runningVar/, 'batchNorm eval without statistics');
  });
});

// ------------------------------------------------------------------------------------------------ Winograd

const wino = suite('nn: Winograd conv2d, F(2x2, 3x3), F(4x4, 3x3) and F(2x2, 5x5)');

/** conv2d's route options (not the reference's) */
type WinoChoice = { algorithm?: 'winograd' | 'im2col'; winogradTile?: 2 | 4 };
wino.before(setup);

const WINO: ConvCase[] = [
  // forced on small channel counts, odd sizes (partial last tiles), padding 0, 1 and 2, batch 1 and 3
  { x: [1, 3, 7, 5], w: [5, 3, 3, 3], bias: true, opts: { padding: 1, algorithm: 'winograd' } },
  { x: [3, 4, 6, 9], w: [2, 4, 3, 3], bias: false, opts: { padding: 0, algorithm: 'winograd' } },
  { x: [2, 5, 5, 6], w: [3, 5, 3, 3], bias: true, opts: { padding: 2, algorithm: 'winograd' } },
  // chosen by 'auto' (>= 8 channels each way); Ci = 9 is not a multiple of 4, Co = 12
  { x: [2, 9, 8, 7], w: [12, 9, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [1, 16, 4, 4], w: [8, 16, 3, 3], bias: false, opts: { padding: 1 } },
  // dilated layers whose sides divide by the dilation ('auto' folds the residue sub-grids into the batch): padding
  // d ('same', the context network's), 0 and 2d; sub-grids of 4x4, 4x5, 4x4 and 5x4 pixels
  { x: [2, 9, 8, 8], w: [10, 9, 3, 3], bias: true, opts: { dilation: 2, padding: 2 } },
  { x: [1, 8, 12, 15], w: [8, 8, 3, 3], bias: false, opts: { dilation: 3, padding: 0 } },
  { x: [1, 8, 16, 16], w: [9, 8, 3, 3], bias: true, opts: { dilation: 4, padding: 8 } },
  { x: [3, 8, 20, 16], w: [8, 8, 3, 3], bias: false, opts: { dilation: 4, padding: 4 } },
] as ConvCase[];

wino('forward and gradients of x, w, b against the reference, with either tile', async () => {
  const rng = mulberry32(4001);
  for (const winogradTile of [2, 4] as const) {
    for (const c of WINO) await checkConv(`conv2d winograd${winogradTile}`, { ...c, opts: { ...c.opts, winogradTile } }, rng, false);
  }
});

const WINO5: ConvCase[] = [
  // forced on small channel counts, partial last tiles, padding 0, 1 and 2, batch 1 and 2; then chosen by 'auto'
  { x: [1, 3, 7, 6], w: [4, 3, 5, 5], bias: true, opts: { padding: 2, algorithm: 'winograd' } },
  { x: [2, 2, 8, 5], w: [3, 2, 5, 5], bias: false, opts: { padding: 1, algorithm: 'winograd' } },
  { x: [2, 9, 6, 9], w: [8, 9, 5, 5], bias: false, opts: { padding: 1 } },
  { x: [1, 8, 9, 7], w: [10, 8, 5, 5], bias: true, opts: { padding: 0 } },
] as ConvCase[];

wino('5x5 layers that record gradients take F(2x2, 5x5) too: forward and gradients of x, w, b against the reference', async () => {
  const rng = mulberry32(4080);
  for (const c of WINO5) await checkConv('conv2d winograd25', c, rng, false);
  await scope(async () => {
    const x = gpu(randRT([1, 8, 7, 7], mulberry32(4070)), true);
    const w = gpu(randRT([8, 8, 5, 5], mulberry32(4071), -0.5, 0.5), true);
    engine().profileStart();
    const [gx] = grad(sum(conv2d(x, w, null, { padding: 2 })), x);
    await gx!.data();
    const kernels = new Set((await engine().profileStop()).entries.map((e) => e.kernel));
    for (const k of ['winograd.input_transform6', 'winograd.tile_adjoint6', 'winograd.overlap_add', 'winograd.output_adjoint6']) assert.ok(kernels.has(k), `${k} in ${[...kernels].join(', ')}`);
  });
});

wino('gradient-recording layers take F(4x4, 3x3) by default; setWinogradTile(2) and the winogradTile option choose F(2x2, 3x3)', async () => {
  const transforms = async (opts: WinoChoice) => {
    const x = gpu(randRT([1, 8, 6, 6], mulberry32(4060)), true);
    const w = gpu(randRT([8, 8, 3, 3], mulberry32(4061), -0.5, 0.5), true);
    engine().profileStart();
    const [gx] = grad(sum(conv2d(x, w, null, { padding: 1, ...opts })), [x]);
    await gx!.data();
    const p = await engine().profileStop();
    return p.entries.map((e) => e.kernel).filter((k) => k.startsWith('winograd.input')).sort();
  };
  await scope(async () => {
    assert.equal(await transforms({}), ['winograd.input_transform6'], 'default');
    assert.equal(await transforms({ winogradTile: 2 }), ['winograd.input_transform'], 'option 2');
    const was = setWinogradTile(2);
    try {
      assert.is(was, 4, 'the default is 4');
      assert.equal(await transforms({}), ['winograd.input_transform'], 'setWinogradTile(2)');
      assert.equal(await transforms({ winogradTile: 4 }), ['winograd.input_transform6'], 'the option wins');
    } finally {
      setWinogradTile(was);
    }
  });
});

wino('inference (no gradient) uses F(4x4, 3x3): forward (with and without bias) against the reference', async () => {
  const rng = mulberry32(4010);
  const cases: [number[], number[], number, boolean][] = [[[1, 8, 6, 6], [8, 8, 3, 3], 1, false], [[2, 9, 7, 5], [12, 9, 3, 3], 1, true], [[1, 16, 9, 10], [8, 16, 3, 3], 0, true], [[3, 8, 5, 8], [8, 8, 3, 3], 2, false], [[1, 12, 13, 11], [9, 12, 3, 3], 1, true], [[1, 11, 6, 7], [10, 11, 3, 3], 1, true]];
  for (const [xs, ws, pad, withBias] of cases) {
    const x = randRT(xs, rng);
    const w = randRT(ws, rng, -0.5, 0.5);
    const b = withBias ? randRT([ws[0]!], rng) : null;
    await scope(async () => {
      const y = noGrad(() => conv2d(gpu(x), gpu(w), b ? gpu(b) : null, { padding: pad }));
      // F(4x4, 3x3) rounds more than the direct product: its transforms scale values by up to 4-8
      await close(y, nnRef.conv(x, w, b, { padding: pad }), `winograd4 x${fmt(xs)} p${pad}${b ? ' bias' : ''}`, { atol: 2e-4, rtol: 2e-3 });
    });
  }
});

wino('F(4x4, 3x3) with channels not a multiple of 4: V and U come padded, so the matmul copies neither; the bias rides on the output transform', async () => {
  await scope(async () => {
    const x = gpu(randRT([1, 9, 8, 8], mulberry32(4030)));
    const w = gpu(randRT([8, 9, 3, 3], mulberry32(4031), -0.5, 0.5), true);   // parameters (requiresGrad) under noGrad
    const b = gpu(randRT([8], mulberry32(4032)), true);
    engine().profileStart();
    const y = noGrad(() => conv2d(x, w, b, { padding: 1 }));
    await y.data();
    const p = await engine().profileStop();
    const names = p.entries.map((e) => `${e.kernel} ${e.label}`);
    assert.equal(p.entries.map((e) => e.kernel).sort(), ['matmul.matmul', 'winograd.input_transform6', 'winograd.output_transform6_bias', 'winograd.weight_transform6'], names.join('; '));
  });
});

wino('sharedWinogradWeights: each weight tensor is transformed once for all its inference convolutions, same values, freed on return', async () => {
  await scope(async () => {
    const x1 = gpu(randRT([1, 9, 8, 8], mulberry32(4050)));
    const x2 = gpu(randRT([2, 9, 4, 12], mulberry32(4051)));
    // parameters, as a module holds them: they require grad, and noGrad() is what makes the forward inference
    const w = gpu(randRT([8, 9, 3, 3], mulberry32(4052), -0.5, 0.5), true);
    const b = gpu(randRT([8], mulberry32(4053)), true);
    const transforms = async (shared: boolean) => {
      const run = () => [conv2d(x1, w, b, { padding: 1 }), conv2d(x2, w, b, { padding: 0 })];
      engine().profileStart();
      const ys = noGrad(() => (shared ? sharedWinogradWeights(run) : run()));
      const out = await Promise.all(ys.map((y) => y.data()));
      const p = await engine().profileStop();
      ys.forEach((y) => y.dispose());
      return { count: p.entries.filter((e) => e.kernel === 'winograd.weight_transform6').reduce((t, e) => t + e.calls, 0), out };
    };
    const before = engine().memory().liveBytes;
    const plain = await transforms(false);
    const shared = await transforms(true);
    assert.is(plain.count, 2, 'two convolutions, two transforms');
    assert.is(shared.count, 1, 'one transform shared by both');
    shared.out.forEach((o, i) => assert.equal([...o], [...plain.out[i]!], `output ${i} identical`));
    assert.is(engine().memory().liveBytes, before, 'the shared transform is freed when the call returns');
  });
});

wino('a bias that needs its gradient keeps the gradient-recording route (bias added after) even when x and w need none', async () => {
  await scope(async () => {
    const xr = randRT([1, 8, 6, 6], mulberry32(4040));
    const wr = randRT([8, 8, 3, 3], mulberry32(4041), -0.5, 0.5);
    const b = gpu(randRT([8], mulberry32(4042)), true);
    const y = conv2d(gpu(xr), gpu(wr), b, { padding: 1 });
    const [gb] = grad(sum(y), [b]);
    // d(sum y)/d b[o] = the number of output pixels
    assert.equal([...(await gb!.data())], new Array(8).fill(36));
  });
});

wino('dilated layers take the Winograd route when their sides divide by the dilation into sub-grids of at least 4x4, else im2col', async () => {
  const kernels = async (xs: number[], d: number, pad: number, inference: boolean) => {
    const x = gpu(randRT(xs, mulberry32(4020)), !inference);
    const w = gpu(randRT([8, xs[1]!, 3, 3], mulberry32(4021), -0.5, 0.5), !inference);
    engine().profileStart();
    const y = inference ? noGrad(() => conv2d(x, w, null, { dilation: d, padding: pad })) : conv2d(x, w, null, { dilation: d, padding: pad });
    await y.data();
    const p = await engine().profileStop();
    // inference: F(4x4, 3x3) over the sub-grids, checked against the reference like the undilated layers
    if (inference) await close(y, nnRef.conv(randRT(xs, mulberry32(4020)), randRT([8, xs[1]!, 3, 3], mulberry32(4021), -0.5, 0.5), null, { dilation: d, padding: pad }), `winograd4 dilation ${d}`, { atol: 2e-4, rtol: 2e-3 });
    for (const t of [x, w, y]) t.dispose();
    return new Set(p.entries.map((e) => e.kernel.split('.')[0]!));
  };
  await scope(async () => {
    assert.ok((await kernels([1, 8, 8, 8], 2, 2, false)).has('winograd'), 'dilation 2 on 8x8: Winograd');
    assert.ok((await kernels([2, 8, 16, 20], 4, 4, true)).has('winograd'), 'dilation 4 on 16x20, inference: Winograd');
    const odd = await kernels([1, 8, 9, 8], 2, 2, false);
    assert.ok(odd.has('conv') && !odd.has('winograd'), '9 rows do not divide by 2: im2col');
    const small = await kernels([1, 8, 12, 12], 4, 4, false);
    assert.ok(small.has('conv') && !small.has('winograd'), '3x3 sub-grids: im2col');
    const offGrid = await kernels([1, 8, 8, 8], 2, 1, false);
    assert.ok(offGrid.has('conv') && !offGrid.has('winograd'), 'padding 1 with dilation 2 (not a multiple): im2col');
  });
});

/** d/dw |dx|² of conv2d(x, w, padding) with the given route, x [xs] and w [ws] random from `seed` on. */
async function secondDerivative(xs: number[], ws: number[], padding: number, seed: number, opts: WinoChoice): Promise<Float32Array> {
  return scope(async () => {
    const x = gpu(randRT(xs, mulberry32(seed)), true);
    const w = gpu(randRT(ws, mulberry32(seed + 1), -0.5, 0.5), true);
    const gy = gpu(randRT([xs[0]!, ws[0]!, xs[2]!, xs[3]!], mulberry32(seed + 2)));
    const y = conv2d(x, w, null, { padding, ...opts });
    const [gx] = grad(sum(mul(y, gy)), x, { createGraph: true });
    const [h] = grad(sum(square(gx!)), w);
    return h!.data();
  });
}

wino('second derivatives agree with the im2col path, with each tile', async () => {
  const b = await secondDerivative([2, 9, 7, 6], [8, 9, 3, 3], 1, 4002, { algorithm: 'im2col' });
  for (const winogradTile of [2, 4] as const) {
    closeArrays(await secondDerivative([2, 9, 7, 6], [8, 9, 3, 3], 1, 4002, { algorithm: 'winograd', winogradTile }), b, `d/dw |dx|² (winograd${winogradTile} vs im2col)`, { atol: 1e-3, rtol: 1e-3 });
  }
  const b5 = await secondDerivative([1, 8, 8, 7], [8, 8, 5, 5], 2, 4005, { algorithm: 'im2col' });
  closeArrays(await secondDerivative([1, 8, 8, 7], [8, 8, 5, 5], 2, 4005, { algorithm: 'winograd' }), b5, 'd/dw |dx|² (winograd25 vs im2col)', { atol: 1e-3, rtol: 1e-3 });
});


wino('inference (no gradient) 5x5 layers use F(4x4, 5x5): forward (with and without bias, zero and reflect padding) against the reference, the 8x8-patch kernels', async () => {
  const rng = mulberry32(4050);
  const cases: [number[], number[], number, boolean, boolean][] = [
    [[1, 8, 9, 9], [8, 8, 5, 5], 2, false, false], [[2, 9, 7, 11], [12, 9, 5, 5], 1, true, false], [[1, 16, 12, 10], [8, 16, 5, 5], 0, true, false],
    [[3, 8, 6, 6], [9, 8, 5, 5], 2, false, false], [[1, 10, 5, 13], [8, 10, 5, 5], 0, true, false], [[1, 8, 17, 19], [8, 8, 5, 5], 2, false, false],
    [[2, 11, 13, 9], [10, 11, 5, 5], 2, true, true], [[1, 8, 6, 7], [8, 8, 5, 5], 1, false, true],
  ];
  for (const [xs, ws, pad, withBias, reflect] of cases) {
    const x = randRT(xs, rng);
    const w = randRT(ws, rng, -0.5, 0.5);
    const b = withBias ? randRT([ws[0]!], rng) : null;
    await scope(async () => {
      engine().profileStart();
      const y = noGrad(() => conv2d(gpu(x), gpu(w, true), b ? gpu(b, true) : null, { padding: pad, paddingMode: reflect ? 'reflect' : 'zeros' }));
      await y.data();
      // (plus a zero fill of V where the tile count is not a multiple of 4)
      const kernels = (await engine().profileStop()).entries.map((e) => e.kernel).filter((k) => k !== 'fill.fill').sort();
      assert.equal(kernels, ['matmul.matmul', 'winograd.input_transform8', `winograd.output_transform8${b ? '_bias' : ''}`, 'winograd.weight_transform8'], `the route for x${fmt(xs)}`);
      const want = reflect ? nnRef.conv(nnRef.pad(x, [pad, pad, pad, pad], 'reflect'), w, b, { padding: 0 }) : nnRef.conv(x, w, b, { padding: pad });
      // rounding a little above F(2x2, 5x5)'s (transforms scaling values by up to 21/4 and 32/45 · 16): the same bound
      await close(y, want, `winograd45 x${fmt(xs)} p${pad}${b ? ' bias' : ''}${reflect ? ' reflect' : ''}`, { atol: 2e-4, rtol: 2e-3 });
    });
  }
});

wino('F(4x4, 5x5) falls back to F(2x2, 5x5) (bias and reflect padding in its transforms) where one image\'s 8x8-patch tiles exceed the binding size but the 6x6 ones fit', async () => {
  const x = randRT([1, 8, 3, 3], mulberry32(4055));
  const w = randRT([8, 8, 5, 5], mulberry32(4056), -0.5, 0.5);
  const b = randRT([8], mulberry32(4057));
  const was = winogradInternals.bindingLimit;
  // a 3x3 output: F(4x4, 5x5) needs 64 planes x 16 channels x (1 tile + 3 rounding) x 4 bytes = 16384,
  // F(2x2, 5x5) 36 x 16 x (4 + 3) x 4 = 16128
  winogradInternals.bindingLimit = 16200;
  try {
    await scope(async () => {
      engine().profileStart();
      const y = noGrad(() => conv2d(gpu(x), gpu(w), gpu(b), { padding: 2, paddingMode: 'reflect' }));
      await y.data();
      const kernels = (await engine().profileStop()).entries.map((e) => e.kernel).filter((k) => k !== 'fill.fill').sort();
      assert.equal(kernels, ['matmul.matmul', 'winograd.input_transform6', 'winograd.output_transform6_bias', 'winograd.weight_transform6']);
      await close(y, nnRef.conv(nnRef.pad(x, [2, 2, 2, 2], 'reflect'), w, b, { padding: 0 }), 'winograd25 fallback', { atol: 2e-4, rtol: 2e-3 });
    });
  } finally {
    winogradInternals.bindingLimit = was;
  }
});

wino('F(4x4, 5x5) runs a batch whose transformed tiles exceed the binding size in slices of images, same values', async () => {
  const xs = [3, 8, 10, 10];
  const ws = [8, 8, 5, 5];
  const x = randRT(xs, mulberry32(4060));
  const w = randRT(ws, mulberry32(4061), -0.5, 0.5);
  const was = winogradInternals.bindingLimit;
  // one image: 64 planes x (8 + 8 channels) x 9 tiles x 4 bytes (+ 3 columns of rounding): one image a launch
  winogradInternals.bindingLimit = 64 * 16 * 12 * 4;
  try {
    await scope(async () => {
      engine().profileStart();
      const y = noGrad(() => conv2d(gpu(x), gpu(w), null, { padding: 2 }));
      await y.data();
      const p = await engine().profileStop();
      const launches = p.entries.filter((e) => e.kernel === 'winograd.input_transform8').reduce((t, e) => t + e.calls, 0);
      assert.is(launches, 3, 'one input transform per image');
      await close(y, nnRef.conv(x, w, null, { padding: 2 }), 'winograd45 in slices', { atol: 2e-4, rtol: 2e-3 });
      winogradInternals.bindingLimit = 1000;
      throwsMatching(() => conv2dWinograd(gpu(x), gpu(w), 2), /conv2dWinograd: one image's transformed tiles for \[3, 8, 10, 10\] \* \[8, 8, 5, 5\] exceed the adapter's binding size \(1000 bytes\)/, 'not even one image');
      // and 'auto' then takes im2col
      engine().profileStart();
      const y2 = noGrad(() => conv2d(gpu(x), gpu(w), null, { padding: 2 }));
      await y2.data();
      const kernels = new Set((await engine().profileStop()).entries.map((e) => e.kernel.split('.')[0]));
      assert.ok(kernels.has('conv') && !kernels.has('winograd'), `'auto' when not even one image fits: ${[...kernels].join(', ')}`);
      await close(y2, nnRef.conv(x, w, null, { padding: 2 }), 'im2col when Winograd does not fit', SUM_TOL);
    });
  } finally {
    winogradInternals.bindingLimit = was;
  }
});

wino('reflect padding (paddingMode): a Winograd layer without a gradient reads the mirrored pixels (no pad pass); with gradients, or off Winograd, the input is padded first; forward and gradients against the reference', async () => {
  const rng = mulberry32(4090);
  const cases: [number[], number[], number][] = [[[1, 8, 9, 7], [8, 8, 3, 3], 1], [[2, 9, 6, 10], [12, 9, 5, 5], 2], [[1, 8, 5, 5], [8, 8, 3, 3], 2], [[1, 3, 6, 5], [4, 3, 3, 3], 1]];
  for (const [xs, ws, p] of cases) {
    const x = randRT(xs, rng);
    const w = randRT(ws, rng, -0.5, 0.5);
    const b = randRT([ws[0]!], rng);
    const pads = [p, p, p, p];
    const winograd = xs[1]! >= 8;
    await scope(async () => {
      engine().profileStart();
      const y = noGrad(() => conv2d(gpu(x), gpu(w), gpu(b), { padding: p, paddingMode: 'reflect' }));
      await y.data();
      const kernels = (await engine().profileStop()).entries.map((e) => e.kernel);
      assert.is(kernels.includes('pad.pad'), !winograd, `a pad pass for x${fmt(xs)}: ${kernels.join(', ')}`);
      await close(y, nnRef.conv(nnRef.pad(x, pads, 'reflect'), w, b, { padding: 0 }), `reflect x${fmt(xs)} p${p}, no gradient`, { atol: 2e-4, rtol: 2e-3 });
    });
    await check(`reflect x${fmt(xs)} w${fmt(ws)} p${p}, with gradients`, [x, w, b], {
      f: ([tx, tw, tb]) => conv2d(tx!, tw!, tb!, { padding: p, paddingMode: 'reflect' }),
      fr: ([rx, rw, rb]) => nnRef.conv(nnRef.pad(rx!, pads, 'reflect'), rw!, rb!, { padding: 0 }),
      fv: (gy, [rx, rw, rb]) => {
        const [gxp, gw, gb] = nnVjp.conv(gy, nnRef.pad(rx!, pads, 'reflect'), rw!, rb!, { padding: 0 });
        return [nnVjp.pad(gxp!, rx!, pads, 'reflect')[0]!, gw!, gb!];
      },
      tol: SUM_TOL,
    }, rng);
  }
  // conv3d: the padded copy
  const x3 = randRT([1, 2, 4, 5, 6], rng);
  const w3 = randRT([3, 2, 3, 3, 3], rng, -0.5, 0.5);
  await scope(async () => close(conv3d(gpu(x3), gpu(w3), null, { padding: 1, paddingMode: 'reflect' }), nnRef.conv(nnRef.pad(x3, [1, 1, 1, 1, 1, 1], 'reflect'), w3, null, { padding: 0 }), 'conv3d reflect', SUM_TOL));
});

wino('a Sequential runs a Pad2d before an unpadded Conv2d as one padded convolution: same values, reflect or zeros, with and without gradients', async () => {
  const rng = mulberry32(4095);
  for (const mode of ['reflect', 'zeros'] as const) {
    const net = new Sequential(new Pad2d(1, mode), new Conv2d(8, 8, 3, { bias: false }), new Pad2d([2, 2, 1, 1], mode), new Conv2d(8, 4, [3, 5]));
    const x = gpu(randRT([2, 8, 7, 9], rng));
    for (const grads of [false, true]) {
      await scope(async () => {
        const run = (fused: boolean) => (grads ? (f: () => Tensor) => f() : noGrad)(() => {
          if (fused) return net.forward(x);
          let y = x;
          for (const l of net.layers) y = l.forward(y);
          return y;
        });
        closeArrays(await run(true).data(), await run(false).data(), `${mode}, gradients ${grads}`, { atol: 2e-4, rtol: 2e-3 });
      });
    }
  }
});

wino('a layer that cannot use Winograd says so when it is forced', () => {
  const x = zeros([1, 2, 6, 6]);
  throwsMatching(() => conv2d(x, zeros([2, 2, 3, 3]), null, { stride: 2, algorithm: 'winograd' }), /conv2d: the Winograd algorithm needs a 3x3 or 5x5 kernel, stride 1/, 'stride 2');
  throwsMatching(() => conv2d(zeros([1, 2, 8, 8]), zeros([2, 2, 7, 7]), null, { algorithm: 'winograd' }), /Winograd algorithm needs a 3x3 or 5x5 kernel/, '7x7');
  throwsMatching(() => conv2d(x, zeros([2, 2, 5, 5]), null, { padding: 3, algorithm: 'winograd' }), /equal padding <= 2/, '5x5, padding 3');
  throwsMatching(() => conv2d(x, zeros([2, 2, 3, 3]), null, { padding: 1, paddingMode: 'circular' as 'zeros' }), /conv2d: paddingMode must be 'zeros' or 'reflect', got 'circular'/, 'circular');
  throwsMatching(() => conv2d(x, zeros([2, 2, 3, 3]), null, { padding: 6, paddingMode: 'reflect' }), /conv2d: reflect padding \[6, 6\] needs each padding below its side of \[1, 2, 6, 6\]/, 'reflect padding 6 on 6x6');
  throwsMatching(() => conv2d(x, zeros([2, 2, 3, 3]), null, { algorithm: 'fft' as 'auto' }), /algorithm must be 'auto', 'im2col', 'winograd' or 'direct'/, 'unknown');
  throwsMatching(() => conv2d(x, zeros([2, 2, 3, 3]), null, { algorithm: 'winograd', winogradTile: 3 as 2 }), /conv2d: winogradTile must be 2 or 4, got 3/, 'tile 3');
  throwsMatching(() => setWinogradTile(6 as 4), /setWinogradTile: the tile must be 2 or 4, got 6/, 'setWinogradTile(6)');
});

for (const s of [convs, pads, norms, pools, losses, second, errors, wino]) s.run();
