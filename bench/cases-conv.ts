// Convolution benchmarks (DTVNet's layers, ../shared/spec/DTVNET.md). Useful work is counted as the direct
// convolution's 2 x multiply-adds, for the forward pass and for each backward pass alike.
import { randn, grad, noGrad, conv2d, conv3d, convTranspose2d, convTranspose3d, type Tensor } from '../src/node.js';
import type { BenchCase } from './cases.js';

type ConvFn = (x: Tensor, w: Tensor) => Tensor;

interface Layer {
  name: string;
  x: number[];
  w: number[];
  fn: ConvFn;
  /** multiply-adds of the direct convolution */
  macs: number;
}

const prod = (a: number[]) => a.reduce((p, v) => p * v, 1);

function layer(name: string, x: number[], w: number[], fn: ConvFn, outSpatial: number[], transposed = false): Layer {
  // forward conv: N * Co * P_out * Ci * kvol; transposed: N * Ci_in * P_in * Co * kvol (the same product)
  const kvol = prod(w.slice(2));
  const macs = transposed ? x[0]! * x[1]! * prod(x.slice(2)) * w[1]! * kvol : x[0]! * w[0]! * prod(outSpatial) * w[1]! * kvol;
  return { name, x, w, fn, macs };
}

function cases(l: Layer): BenchCase[] {
  const setup = () => {
    const x = randn(l.x, { seed: 1 }).requiresGrad_();
    const w = randn(l.w, { seed: 2, std: 0.05 }).requiresGrad_();
    const y = l.fn(x, w);
    const gy = randn([...y.shape], { seed: 3 });
    return { x, w, y, gy };
  };
  type S = ReturnType<typeof setup>;
  const teardown = (s: unknown) => {
    const t = s as S;
    for (const v of [t.x, t.w, t.y, t.gy]) v.dispose();
  };
  const flops = 2 * l.macs;
  return [
    { name: l.name, kind: 'compute', work: flops, setup, teardown, run: (s) => l.fn((s as S).x, (s as S).w).dispose() },
    {
      name: `${l.name} dgrad`, kind: 'compute', work: flops, setup, teardown,
      run: (s) => {
        const t = s as S;
        grad(t.y, t.x, { gradOutputs: [t.gy], retainGraph: true })[0]!.dispose();
      },
    },
    {
      name: `${l.name} wgrad`, kind: 'compute', work: flops, setup, teardown,
      run: (s) => {
        const t = s as S;
        grad(t.y, t.w, { gradOutputs: [t.gy], retainGraph: true })[0]!.dispose();
      },
    },
  ];
}

/**
 * The forward pass of a layer that records no gradient (the generator's case): 'auto' then takes the larger Winograd
 * tiles, F(4x4, 3x3) and F(4x4, 5x5), which have no adjoints. The rows above record gradients, as training does.
 */
function inferenceCase(l: Layer): BenchCase {
  return {
    name: `${l.name} (no gradient)`, kind: 'compute', work: 2 * l.macs,
    setup: () => ({ x: randn(l.x, { seed: 1 }), w: randn(l.w, { seed: 2, std: 0.05 }) }),
    run: (s) => {
      const t = s as { x: Tensor; w: Tensor };
      noGrad(() => l.fn(t.x, t.w)).dispose();
    },
    teardown: (s) => {
      const t = s as { x: Tensor; w: Tensor };
      t.x.dispose();
      t.w.dispose();
    },
  };
}

const conv3x3 = layer('conv2d 128->128 k3 @64x64', [1, 128, 64, 64], [128, 128, 3, 3], (x, w) => conv2d(x, w, null, { padding: 1 }), [64, 64]);
const conv5x5 = layer('conv2d 96->96 k5 @128x128', [1, 96, 128, 128], [96, 96, 5, 5], (x, w) => conv2d(x, w, null, { padding: 2 }), [128, 128]);

export const convCases: BenchCase[] = [
  conv3x3,
  conv5x5,
  layer('conv_transpose2d 96->96 k3 s2 @64x64', [1, 96, 64, 64], [96, 96, 3, 3], (x, w) => convTranspose2d(x, w, null, { stride: 2, padding: 1, outputPadding: 1 }), [128, 128], true),
  layer('conv3d 3->32 k(3,4,4) s(1,2,2) @32x128x128', [1, 3, 32, 128, 128], [32, 3, 3, 4, 4], (x, w) => conv3d(x, w, null, { stride: [1, 2, 2], padding: 1 }), [32, 64, 64]),
  layer('conv3d 32->64 k4 s2 @32x64x64', [1, 32, 32, 64, 64], [64, 32, 4, 4, 4], (x, w) => conv3d(x, w, null, { stride: 2, padding: 1 }), [16, 32, 32]),
  layer('conv3d 64->128 k4 s2 @16x32x32', [1, 64, 16, 32, 32], [128, 64, 4, 4, 4], (x, w) => conv3d(x, w, null, { stride: 2, padding: 1 }), [8, 16, 16]),
  layer('conv_transpose3d 3->3 k(3,4,4) s(1,2,2) @32x64x64', [1, 3, 32, 64, 64], [3, 3, 3, 4, 4], (x, w) => convTranspose3d(x, w, null, { stride: [1, 2, 2], padding: 1 }), [32, 128, 128], true),
  // the generator's RGB layer again through the col2im route that 'auto' no longer picks for it, to compare in one run
  layer('conv_transpose3d 3->3 k(3,4,4) s(1,2,2) @32x64x64 [col2im]', [1, 3, 32, 64, 64], [3, 3, 3, 4, 4], (x, w) => convTranspose3d(x, w, null, { stride: [1, 2, 2], padding: 1, algorithm: 'col2im' }), [32, 128, 128], true),
].flatMap(cases).concat([conv3x3, conv5x5].map(inferenceCase));
