// DTVNet inference: one generator forward for B 32-frame 128x128 videos from random weights (the speed does not
// depend on the values), plus the readback of the video. median_ms and fps are per video: fps = 32 x videos / s.
// GFLOP/s counts the generator's 38.5 GFLOP per video (DTVNET.md §3.6, multiply-adds x 2).
import { DTVG, manualSeed, randn, noGrad, type Tensor } from '../src/node.js';
import type { BenchCase } from './cases.js';

const GFLOP_PER_VIDEO = 38.519;

function generateCase(batch: number): BenchCase {
  return {
    name: `dtvnet.generate b${batch}`,
    group: 'inference',
    kind: 'compute',
    work: GFLOP_PER_VIDEO * 1e9 * batch,
    setup: () => {
      manualSeed(1);
      const g = new DTVG().eval();
      return { g, img: randn([batch, 3, 128, 128], { seed: 2 }), z: randn([batch, 512], { seed: 3 }) };
    },
    run: async (s) => {
      const { g, img, z } = s as { g: DTVG; img: Tensor; z: Tensor };
      const { video, flows } = noGrad(() => g.forward(img, z));
      await video.data();
      video.dispose();
      flows.dispose();
    },
    teardown: (s) => {
      const { g, img, z } = s as { g: DTVG; img: Tensor; z: Tensor };
      g.dispose();
      img.dispose();
      z.dispose();
    },
    extra: (ms, peak) => ({ ms_per_video: +(ms / batch).toFixed(1), fps: +((32 * batch) / (ms / 1000)).toFixed(2), peak_gpu_mb: +(peak / 2 ** 20).toFixed(1) }),
  };
}

export const inferenceCases: BenchCase[] = [generateCase(1), generateCase(4)];
