// Adam with PyTorch's semantics (torch.optim.Adam, coupled L2 weight decay), one fused kernel launch per parameter
// (kernels/optim.wgsl). Browser-safe. The moments are tensors on the GPU; `state()` / `loadState()` move them to and
// from the host so a training run can be checkpointed and resumed exactly.

import { EngineError, itemsGrid } from '../runtime/engine.js';
import { Tensor, engine, keep, noGrad } from '../tensor.js';
import { tensor, zeros } from '../ops/creation.js';
import type { HostTensor } from '../io/safetensors.js';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay); see `decay` for which parameters get it */
  weightDecay?: number;
  /** which named parameters are decayed (default: all but biases, as ARFlow's optimiser groups do) */
  decay?: (name: string) => boolean;
}

export class Adam {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** number of steps taken (bias corrections use it) */
  step = 0;
  private readonly params: { name: string; p: Tensor; m: Tensor; v: Tensor; decay: boolean }[];

  constructor(named: [string, Tensor][], opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 1e-3;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    const decay = opts.decay ?? ((n: string) => !n.endsWith('bias'));
    if (!(this.lr > 0) || !(this.eps > 0) || this.weightDecay < 0 || this.betas.some((b) => !(b >= 0 && b < 1))) {
      throw new EngineError(`Adam: need lr > 0, eps > 0, weightDecay >= 0 and betas in [0, 1), got lr ${this.lr}, eps ${this.eps}, weightDecay ${this.weightDecay}, betas ${this.betas}`);
    }
    if (!named.length) throw new EngineError('Adam: no parameters to optimise');
    this.params = named.map(([name, p]) => ({ name, p, m: keep(zeros(p.shape)), v: keep(zeros(p.shape)), decay: decay(name) }));
  }

  /** Apply one update from the parameters' .grad (parameters without a gradient are left alone, like PyTorch). */
  update(): void {
    this.step++;
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    noGrad(() => {
      for (const { name, p, m, v, decay } of this.params) {
        if (!p.grad) continue;
        if (p.grad.shape.join() !== p.shape.join()) throw new EngineError(`Adam: gradient of '${name}' has shape [${p.grad.shape}], the parameter [${p.shape}]`);
        // whole vec4s where the size allows (adam4), else by elements
        const quads = p.size % 4 === 0 && !adamInternals.scalar;
        const n = quads ? p.size / 4 : p.size;
        const buf = new ArrayBuffer(32);
        new Uint32Array(buf, 0, 1)[0] = n;
        new Float32Array(buf, 4, 7).set([this.lr, b1, b2, this.eps, decay ? this.weightDecay : 0, bc1, bc2]);
        const g = itemsGrid(n);
        engine().dispatch({
          kernel: 'optim', entry: quads ? 'adam4' : 'adam', constants: { WG: g.wg, ITEMS: g.items }, params: buf,
          buffers: [p.buffer, p.grad.buffer, m.buffer, v.buffer], grid: g.grid, label: `adam ${name} [${p.shape}]`,
        });
      }
    });
  }

  /** Drop every parameter's gradient. */
  zeroGrad(): void {
    for (const { p } of this.params) p.zeroGrad();
  }

  /** The moments by name ("<param>.exp_avg", "<param>.exp_avg_sq", PyTorch's words) and the step, for checkpoints. */
  async state(): Promise<{ step: number; tensors: Map<string, HostTensor> }> {
    const tensors = new Map<string, HostTensor>();
    for (const { name, m, v } of this.params) {
      tensors.set(`${name}.exp_avg`, { shape: [...m.shape], data: await m.data() });
      tensors.set(`${name}.exp_avg_sq`, { shape: [...v.shape], data: await v.data() });
    }
    return { step: this.step, tensors };
  }

  /** Restore what `state()` returned; every moment must be present with its parameter's shape. */
  loadState(s: { step: number; tensors: Map<string, HostTensor> }): void {
    for (const { name, m } of this.params) {
      for (const key of [`${name}.exp_avg`, `${name}.exp_avg_sq`]) {
        const t = s.tensors.get(key);
        if (!t) throw new EngineError(`Adam state: missing '${key}'`);
        if (t.shape.join() !== m.shape.join()) throw new EngineError(`Adam state: '${key}' has shape [${t.shape}], expected [${m.shape}]`);
      }
    }
    noGrad(() => {
      for (const { name, m, v } of this.params) {
        for (const [key, dst] of [[`${name}.exp_avg`, m], [`${name}.exp_avg_sq`, v]] as const) {
          const t = s.tensors.get(key)!;
          const src = tensor(t.data, t.shape);
          dst.assign_(src);
          src.dispose();
        }
      }
    });
    this.step = s.step;
  }

  dispose(): void {
    for (const { m, v } of this.params) {
      m.dispose();
      v.dispose();
    }
  }
}

/** @internal test and benchmark hook: Adam by elements even where a parameter is whole vec4s. */
export const adamInternals = { scalar: false };
