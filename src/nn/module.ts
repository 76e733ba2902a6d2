// Module: named parameters, buffers and children, train/eval mode, state dicts with PyTorch's key names
// ("encoder.0.weight", "bn.running_mean"), so a checkpoint converted from PyTorch loads by name.

import { EngineError } from '../runtime/engine.js';
import { Tensor, keep, noGrad } from '../tensor.js';
import { tensor } from '../ops/creation.js';
import type { HostTensor } from '../io/safetensors.js';

export class Module {
  /** training mode (batch norm uses batch statistics and updates running ones) */
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownChildren = new Map<string, Module>();

  /** Register a trainable tensor (it requires grad and is not freed by scopes). */
  protected param(name: string, t: Tensor): Tensor {
    this.checkName(name);
    keep(t).requiresGrad_();
    this.ownParams.set(name, t);
    return t;
  }

  /** Register state that is saved but not trained (running statistics). */
  protected buffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    keep(t);
    this.ownBuffers.set(name, t);
    return t;
  }

  /** Register a child module; its entries appear as "<name>.<entry>". */
  protected child<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.ownChildren.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new EngineError(`module entry name '${name}' must be non-empty and contain no '.'`);
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.ownChildren.has(name)) throw new EngineError(`module entry '${name}' is registered twice`);
  }

  /** Parameters with their dotted names, in PyTorch's order (own entries first, then children, depth first). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.ownParams].map(([k, v]) => [prefix + k, v]);
    for (const [k, m] of this.ownChildren) out.push(...m.namedParameters(`${prefix}${k}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.ownBuffers].map(([k, v]) => [prefix + k, v]);
    for (const [k, m] of this.ownChildren) out.push(...m.namedBuffers(`${prefix}${k}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Number of trainable values. */
  numParameters(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /** Parameters and buffers by name, in the order PyTorch's state_dict() lists them (per module: params, buffers). */
  stateDict(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, v] of this.ownParams) out.set(prefix + k, v);
    for (const [k, v] of this.ownBuffers) out.set(prefix + k, v);
    for (const [k, m] of this.ownChildren) for (const [kk, v] of m.stateDict(`${prefix}${k}.`)) out.set(kk, v);
    return out;
  }

  /** The state dict read back to the CPU (for saving). */
  async stateDictHost(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [k, t] of this.stateDict()) out.set(k, { shape: [...t.shape], data: await t.data() });
    return out;
  }

  /**
   * Copy values into the parameters and buffers by name. Every entry of the module must be present with the same
   * shape; with `strict` (default) the file may not hold entries the module lacks either (PyTorch's integer
   * `num_batches_tracked` counters are ignored). Errors name the tensor; nothing is changed unless all entries fit.
   */
  loadStateDict(values: Map<string, HostTensor>, opts: { strict?: boolean; what?: string } = {}): void {
    const what = opts.what ?? 'state dict';
    const mine = this.stateDict();
    for (const [k, t] of mine) {
      const v = values.get(k);
      if (!v) throw new EngineError(`${what}: missing tensor '${k}' (shape [${t.shape.join(', ')}])`);
      if (v.shape.join() !== t.shape.join()) throw new EngineError(`${what}: tensor '${k}' has shape [${v.shape.join(', ')}], the model expects [${t.shape.join(', ')}]`);
    }
    if (opts.strict ?? true) {
      const extra = [...values.keys()].filter((k) => !mine.has(k) && !k.endsWith('num_batches_tracked'));
      if (extra.length) throw new EngineError(`${what}: ${extra.length} unexpected tensor(s), e.g. '${extra.slice(0, 3).join("', '")}' (pass strict: false to ignore)`);
    }
    noGrad(() => {
      for (const [k, t] of mine) {
        const v = values.get(k)!;
        const src = tensor(v.data, v.shape);
        t.assign_(src);
        src.dispose();
      }
    });
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.ownChildren.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Free every parameter and buffer (the module cannot be used afterwards). */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}
