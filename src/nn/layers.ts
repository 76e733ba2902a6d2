// Layers with PyTorch's parameter names, shapes and default initialisation (drawn from the engine's seeded random
// sequence: `manualSeed(s)` before building a model makes its weights repeatable).

import { EngineError } from '../runtime/engine.js';
import type { Tensor } from '../tensor.js';
import { ones, rand, zeros } from '../ops/creation.js';
import { leakyRelu, relu, sigmoid, tanh } from '../ops/elementwise.js';
import { linear } from '../ops/matmul.js';
import { conv2d, conv3d, convTranspose2d, convTranspose3d, type ConvOptions, type ConvTransposeOptions } from '../ops/conv.js';
import { batchNorm, instanceNorm, pad, type NormActivation, type PadMode } from '../ops/nn.js';
import { Module } from './module.js';

/** A module with one input and one output. */
export abstract class Layer extends Module {
  abstract forward(x: Tensor): Tensor;
}

const asList = (v: number | readonly number[], nd: number): number[] => (typeof v === 'number' ? new Array(nd).fill(v) : [...v]);

/** U(-bound, bound), PyTorch's default for linear and convolution weights and biases (bound = 1/sqrt(fan_in)). */
function uniform(shape: number[], bound: number): Tensor {
  return rand(shape, { lo: -bound, hi: bound });
}

export class Linear extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    if (!Number.isInteger(inFeatures) || !Number.isInteger(outFeatures) || inFeatures < 1 || outFeatures < 1) {
      throw new EngineError(`Linear: feature counts must be positive integers, got ${inFeatures} -> ${outFeatures}`);
    }
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', uniform([outFeatures, inFeatures], bound));
    this.bias = opts.bias === false ? null : this.param('bias', uniform([outFeatures], bound));
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

abstract class ConvBase extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(name: string, readonly nd: number, inC: number, outC: number, kernel: number | readonly number[], transposed: boolean, bias: boolean) {
    super();
    const k = asList(kernel, nd);
    if (![inC, outC, ...k].every((v) => Number.isInteger(v) && v >= 1) || k.length !== nd) {
      throw new EngineError(`${name}: channels and kernel sizes must be positive integers (${nd} kernel sizes), got ${inC} -> ${outC}, kernel ${JSON.stringify(kernel)}`);
    }
    const kvol = k.reduce((a, b) => a * b, 1);
    // PyTorch computes fan_in from weight.size(1): Cin for a conv, Cout for a transposed conv
    const bound = 1 / Math.sqrt((transposed ? outC : inC) * kvol);
    this.weight = this.param('weight', uniform(transposed ? [inC, outC, ...k] : [outC, inC, ...k], bound));
    this.bias = bias ? this.param('bias', uniform([outC], bound)) : null;
  }
}

export class Conv2d extends ConvBase {
  constructor(inC: number, outC: number, kernel: number | readonly number[], readonly opts: ConvOptions & { bias?: boolean } = {}) {
    super('Conv2d', 2, inC, outC, kernel, false, opts.bias ?? true);
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.opts);
  }
}

export class Conv3d extends ConvBase {
  constructor(inC: number, outC: number, kernel: number | readonly number[], readonly opts: ConvOptions & { bias?: boolean } = {}) {
    super('Conv3d', 3, inC, outC, kernel, false, opts.bias ?? true);
  }
  forward(x: Tensor): Tensor {
    return conv3d(x, this.weight, this.bias, this.opts);
  }
}

export class ConvTranspose2d extends ConvBase {
  constructor(inC: number, outC: number, kernel: number | readonly number[], readonly opts: ConvTransposeOptions & { bias?: boolean } = {}) {
    super('ConvTranspose2d', 2, inC, outC, kernel, true, opts.bias ?? true);
  }
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, this.opts);
  }
}

export class ConvTranspose3d extends ConvBase {
  constructor(inC: number, outC: number, kernel: number | readonly number[], readonly opts: ConvTransposeOptions & { bias?: boolean } = {}) {
    super('ConvTranspose3d', 3, inC, outC, kernel, true, opts.bias ?? true);
  }
  forward(x: Tensor): Tensor {
    return convTranspose3d(x, this.weight, this.bias, this.opts);
  }
}

/** BatchNorm1d/2d/3d (the input rank decides): weight, bias, running_mean, running_var, PyTorch semantics. */
export class BatchNorm extends Layer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  constructor(readonly channels: number, readonly opts: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super();
    const affine = opts.affine ?? true;
    this.weight = affine ? this.param('weight', ones([channels])) : null;
    this.bias = affine ? this.param('bias', zeros([channels])) : null;
    this.runningMean = this.buffer('running_mean', zeros([channels]));
    this.runningVar = this.buffer('running_var', ones([channels]));
  }
  forward(x: Tensor, activation: NormActivation = null): Tensor {
    return batchNorm(x, {
      weight: this.weight, bias: this.bias, runningMean: this.runningMean, runningVar: this.runningVar,
      training: this.training, momentum: this.opts.momentum, eps: this.opts.eps, activation,
    });
  }
}

/** InstanceNorm2d/3d: per-sample statistics in both modes (no running statistics), optional affine. */
export class InstanceNorm extends Layer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(readonly channels: number, readonly opts: { eps?: number; affine?: boolean } = {}) {
    super();
    this.weight = opts.affine ? this.param('weight', ones([channels])) : null;
    this.bias = opts.affine ? this.param('bias', zeros([channels])) : null;
  }
  forward(x: Tensor): Tensor {
    return instanceNorm(x, { eps: this.opts.eps, weight: this.weight, bias: this.bias });
  }
}

export class ReLU extends Layer {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class LeakyReLU extends Layer {
  constructor(readonly slope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.slope);
  }
}

export class Tanh extends Layer {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

export class Sigmoid extends Layer {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** ReflectionPad2d / ZeroPad2d: [left, right, top, bottom] like PyTorch, or one number for every side. */
export class Pad2d extends Layer {
  constructor(readonly padding: number | readonly [number, number, number, number], readonly mode: PadMode = 'reflect') {
    super();
  }
  /** [left, right, top, bottom] */
  private sides(): readonly [number, number, number, number] {
    const p = this.padding;
    return typeof p === 'number' ? [p, p, p, p] : p;
  }
  forward(x: Tensor): Tensor {
    const [l, r, t, b] = this.sides();
    return pad(x, [t, b, l, r], this.mode); // the op lists dims first to last
  }
  /** [top, left]: the padding that `conv`, unpadded itself, can take over from this layer — null where it cannot. */
  convPadding(conv: Conv2d): [number, number] | null {
    const [l, r, t, b] = this.sides();
    const own = conv.opts.padding ?? 0;
    const unpadded = typeof own === 'number' ? own === 0 : own.every((v) => v === 0);
    return l === r && t === b && unpadded && (conv.opts.paddingMode ?? 'zeros') === 'zeros' ? [t, l] : null;
  }
}

/** Layers applied in order; children are named "0", "1", ... like torch.nn.Sequential. */
export class Sequential extends Layer {
  readonly layers: Layer[];
  constructor(...layers: Layer[]) {
    super();
    this.layers = layers.map((l, i) => this.child(String(i), l));
  }
  /**
   * Runs the layers in order; a BatchNorm followed by a ReLU or LeakyReLU runs as one fused pass, and a Pad2d
   * (symmetric per side) followed by an unpadded Conv2d as one convolution with that padding and mode (a Winograd
   * layer without a gradient to record reads the mirrored pixels itself instead of a padded copy).
   */
  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i]!;
      const after = this.layers[i + 1];
      let next: Tensor;
      const padding = l instanceof Pad2d && after?.constructor === Conv2d ? l.convPadding(after as Conv2d) : null;
      if (l instanceof BatchNorm && (after instanceof ReLU || after instanceof LeakyReLU)) {
        next = l.forward(y, after instanceof ReLU ? 'relu' : { leakyRelu: after.slope });
        i++;
      } else if (padding && after instanceof Conv2d) {
        next = conv2d(y, after.weight, after.bias, { ...after.opts, padding, paddingMode: (l as Pad2d).mode });
        i++;
      } else next = l.forward(y);
      if (y !== x) y.dispose();
      y = next;
    }
    return y;
  }
}

/** Modules kept in a list, named "0", "1", ... like torch.nn.ModuleList (no forward of its own). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.child(String(i), m));
  }
}
