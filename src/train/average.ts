// Polyak averaging: an exponential moving average of a module's weights, kept in a second module of the same
// architecture (so the average is evaluated, saved and shipped like any network). One fused kernel launch per
// parameter (kernels/optim.wgsl, `average`). Browser-safe.
//
// After each optimiser step:  a ← a + (1 − k)·(p − a),  k = min(decay, (1 + t) / (10 + t)),  t = updates so far.
// The warm-up term (as TensorFlow's ExponentialMovingAverage with num_updates) lets a young average follow the
// weights closely instead of remembering where averaging started.

import { EngineError, itemsGrid } from '../runtime/engine.js';
import { engine, noGrad, type Tensor } from '../tensor.js';
import { clone } from '../ops/shape.js';

export class WeightAverage {
  /** updates folded in so far (the warm-up and checkpoints use it) */
  count = 0;
  private readonly pairs: { name: string; avg: Tensor; src: Tensor }[];

  /**
   * @param avg  the averaged module's named parameters (overwritten with `src`'s values now)
   * @param src  the trained module's named parameters, in the same order with the same shapes
   * @param decay  the share of the old average kept per update once warmed up, in [0, 1)
   */
  constructor(avg: [string, Tensor][], src: [string, Tensor][], readonly decay: number) {
    if (!(decay >= 0 && decay < 1)) throw new EngineError(`WeightAverage: decay must be in [0, 1), got ${decay}`);
    if (avg.length !== src.length || !src.length) throw new EngineError(`WeightAverage: the averaged module has ${avg.length} parameters, the trained one ${src.length}`);
    this.pairs = src.map(([name, s], i) => {
      const [aName, a] = avg[i]!;
      if (aName !== name || a.shape.join() !== s.shape.join()) {
        throw new EngineError(`WeightAverage: parameter ${i} is '${aName}' [${a.shape}] in the averaged module and '${name}' [${s.shape}] in the trained one`);
      }
      return { name, avg: a, src: s };
    });
    noGrad(() => {
      for (const { avg: a, src: s } of this.pairs) {
        // a copy: assign_ alone would share the trained weights' buffer
        const c = clone(s);
        a.assign_(c);
        c.dispose();
      }
    });
  }

  /** The share of the old average the next update keeps. */
  get keep(): number {
    return Math.min(this.decay, (1 + this.count) / (10 + this.count));
  }

  /** Fold the trained module's current weights into the average. */
  update(): void {
    const keep = this.keep;
    for (const { name, avg, src } of this.pairs) {
      const buf = new ArrayBuffer(8);
      new Uint32Array(buf, 0, 1)[0] = src.size;
      new Float32Array(buf, 4, 1)[0] = keep;
      const g = itemsGrid(src.size);
      engine().dispatch({
        kernel: 'optim', entry: 'average', constants: { WG: g.wg, ITEMS: g.items }, params: buf,
        buffers: [avg.buffer, src.buffer], grid: g.grid, label: `average ${name} [${src.shape}]`,
      });
    }
    this.count++;
  }
}
