// The flow estimator (FLOW.md §2): PWC-Lite forward on one 128x128 pair (eval, one direction, as `dtvnet flow` runs
// it) and one training step of batch 4 (both directions, the stage-1 loss with the census term, backward, Adam), as
// `dtvnet train-flow` runs it by default. GFLOP/s counts the network's 3.49 GFLOP per pair and direction at 128x128
// (FLOW.md §2.2; a training step is counted as forward + 2x for backward, both directions). Both use the trainer's
// forward pass (DEFAULT_MODEL: centred inputs, features normalised before each correlation).
import { PWCLite, Adam, flowLoss, STAGE1_CENSUS, manualSeed, rand, randn, noGrad, scope, refineFlow, DEFAULT_REFINE, type Tensor } from '../src/node.js';
import { DEFAULT_MODEL } from '../src/flow/train.js';
import type { BenchCase } from './cases.js';

const GFLOP_PER_PAIR = 3.49;

const forwardCase: BenchCase = {
  name: 'pwclite.forward 128x128',
  group: 'flow-estimator',
  kind: 'compute',
  work: GFLOP_PER_PAIR * 1e9,
  setup: () => {
    manualSeed(1);
    return { net: new PWCLite(DEFAULT_MODEL).eval(), a: rand([1, 3, 128, 128], { seed: 2 }), b: rand([1, 3, 128, 128], { seed: 3 }) };
  },
  run: async (s) => {
    const { net, a, b } = s as { net: PWCLite; a: Tensor; b: Tensor };
    const f = noGrad(() => scope(() => net.forward(a, b).forward[0]!));
    await f.data();
    f.dispose();
  },
  teardown: (s) => {
    const { net, a, b } = s as { net: PWCLite; a: Tensor; b: Tensor };
    for (const m of [net, a, b]) m.dispose();
  },
  extra: (ms, peak) => ({ pairs_per_s: +(1000 / ms).toFixed(2), peak_gpu_mb: +(peak / 2 ** 20).toFixed(1) }),
};

const BATCH = 4;
const trainCase: BenchCase = {
  name: `pwclite.train_step b${BATCH}`,
  group: 'flow-estimator',
  kind: 'compute',
  work: GFLOP_PER_PAIR * 1e9 * BATCH * 2 * 3,
  setup: () => {
    manualSeed(1);
    const net = new PWCLite(DEFAULT_MODEL);
    const adam = new Adam(net.namedParameters(), { lr: 1e-4, eps: 1e-7, weightDecay: 1e-6 });
    return { net, adam, a: rand([BATCH, 3, 128, 128], { seed: 2 }), b: rand([BATCH, 3, 128, 128], { seed: 3 }) };
  },
  run: async (s) => {
    const { net, adam, a, b } = s as { net: PWCLite; adam: Adam; a: Tensor; b: Tensor };
    const loss = scope(() => {
      const l = flowLoss(a, b, net.forward(a, b, { backward: true }).stacked, STAGE1_CENSUS);
      l.total.backward();
      return l.total;
    });
    adam.update();
    adam.zeroGrad();
    await loss.data();
    loss.dispose();
  },
  teardown: (s) => {
    const { net, adam, a, b } = s as { net: PWCLite; adam: Adam; a: Tensor; b: Tensor };
    for (const m of [net, adam, a, b]) m.dispose();
  },
  extra: (ms, peak) => ({ steps_per_hour: Math.round(3600e3 / ms), peak_gpu_mb: +(peak / 2 ** 20).toFixed(1) }),
};

// The default estimate's test-time refinement (src/flow/refine.ts) alone: DEFAULT_REFINE's 100 Adam steps on the
// census + smoothness energy of 8 pairs at once, as eval-flow and flows batch them, with the census over 3x3 patches
// (what the network trains with) and 7x7 ones (the default). Not counted in flops: 5 dispatches a step (warp, the
// census gradient, warp's flow gradient, tvGrad for the smoothness term plus the data term's gradient, Adam).
const REFINE_BATCH = 8;
const refineCase = (patch: number): BenchCase => ({
  name: `flow.refine b${REFINE_BATCH} 128x128 (${DEFAULT_REFINE.steps} steps, ${patch}x${patch})`,
  group: 'flow-estimator',
  kind: 'latency',
  setup: () => ({
    a: rand([REFINE_BATCH, 3, 128, 128], { seed: 2 }),
    b: rand([REFINE_BATCH, 3, 128, 128], { seed: 3 }),
    f: randn([REFINE_BATCH, 2, 128, 128], { seed: 4, std: 0.5 }),
  }),
  run: async (s) => {
    const { a, b, f } = s as { a: Tensor; b: Tensor; f: Tensor };
    const r = await refineFlow(a, b, f, { patch });
    await r.data();
    r.dispose();
  },
  teardown: (s) => {
    for (const t of Object.values(s as Record<string, Tensor>)) t.dispose();
  },
  extra: (ms, peak) => ({ ms_per_pair: +(ms / REFINE_BATCH).toFixed(1), steps_per_s: +((1000 * DEFAULT_REFINE.steps) / ms).toFixed(2), peak_gpu_mb: +(peak / 2 ** 20).toFixed(1) }),
});

export const pwcliteCases: BenchCase[] = [forwardCase, trainCase, refineCase(3), refineCase(7)];
