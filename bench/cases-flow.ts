// Optical-flow op benchmarks (../shared/spec/FLOW.md §3-§4) at the sizes the flow estimator and DTVNet use.
// Work is the bytes an ideal kernel moves: every input read once and every output written once (gathers of
// neighbouring pixels are assumed to hit cache).
import { randn, rand, grad, warp, correlation, census, type Tensor } from '../src/node.js';
import type { BenchCase } from './cases.js';

const F32 = 4;

interface State {
  a: Tensor;
  b: Tensor;
  y: Tensor;
  gy: Tensor;
}

function pair(name: string, kind: 'memory' | 'compute', workFwd: number, workBwd: number, make: () => [Tensor, Tensor], op: (a: Tensor, b: Tensor) => Tensor): BenchCase[] {
  const setup = (): State => {
    const [a, b] = make();
    a.requiresGrad_();
    b.requiresGrad_();
    const y = op(a, b);
    const gy = randn([...y.shape], { seed: 3 });
    return { a, b, y, gy };
  };
  const teardown = (s: unknown) => {
    const t = s as State;
    for (const v of [t.a, t.b, t.y, t.gy]) v.dispose();
  };
  return [
    { name, kind, work: workFwd, setup, teardown, run: (s) => op((s as State).a, (s as State).b).dispose() },
    {
      name: `${name} backward`, kind, work: workBwd, setup, teardown,
      run: (s) => {
        const t = s as State;
        for (const g of grad(t.y, [t.a, t.b], { gradOutputs: [t.gy], retainGraph: true })) g!.dispose();
      },
    },
  ];
}

// warp of a [1, 3, 128, 128] image by a [1, 2, 128, 128] flow of a few pixels (some samples leave the image).
const HW = 128 * 128;
const warpCases = pair(
  'warp 3x128x128',
  'memory',
  (3 + 2 + 3) * HW * F32,                 // image + flow in, warped image out
  (3 + 3 + 2 + 3 + 2) * HW * F32,         // g, image, flow in; image and flow gradients out
  () => [rand([1, 3, 128, 128], { seed: 1 }), randn([1, 2, 128, 128], { seed: 2, std: 4 })],
  (img, flow) => warp(img, flow, 'border'),
);

// PWC-Net cost volume of two [1, 64, 32, 32] feature maps, search range 4 (81 displacement channels). Each output
// is a C-long dot product, so this is compute (2·81·C flops per pixel forward, twice that for both gradients),
// compared with the SGEMM roofline rather than with copy bandwidth.
const P = 32 * 32;
const corrCases = pair(
  'correlation 32x32',
  'compute',
  2 * 81 * 64 * P,
  2 * 2 * 81 * 64 * P,
  () => [randn([1, 64, 32, 32], { seed: 1 }), randn([1, 64, 32, 32], { seed: 2 })],
  (f1, f2) => correlation(f1, f2, 4),
);

// The soft census distance (FLOW.md §6.2) of 8 pairs of 128² frames: the photometric term of flow training and
// of test-time refinement (which runs it on 8 pairs at once): one kernel forward, one launch per gradient (the
// backward rows ask for both). Per pixel the 3x3 rows evaluate the patch of both images (about 60 flops forward), so even at cache speed it is not a pure copy; the 7x7 rows are
// DDFlow's and SelFlow's patch (`--census-patch 7`): 49 taps a pixel instead of 9, the same bytes. The last pair
// is the same 7x7 census on luminance images [8, 1, 128, 128], as the refinement runs it (a third of the loads).
const CN = 8;
const censusCases = ([[3, 3], [7, 3], [7, 1]] as const).flatMap(([patch, C]) => pair(
  `census ${patch === 3 ? '' : `${patch}x${patch} `}8x${C}x128x128${C === 1 ? ' (luminance)' : ''}`,
  'memory',
  (C + C + 1) * CN * HW * F32,            // both images in, distance map out
  (1 + 4 * C) * CN * HW * F32,            // g and both images in; both image gradients out
  () => [rand([CN, C, 128, 128], { seed: 1 }), rand([CN, C, 128, 128], { seed: 2 })],
  (a, b) => census(a, b, patch),
));

export const flowCases: BenchCase[] = [...warpCases, ...corrCases, ...censusCases];
