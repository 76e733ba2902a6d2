// All ops, and the method forms on Tensor (x.add(y), x.sum(1), loss.backward(), ...).

import { backward as runBackward, grad as runGrad, installAutogradOps, type BackwardOptions, type GradOptions } from '../autograd.js';
import { Tensor } from '../tensor.js';
import * as ew from './elementwise.js';
import { ones } from './creation.js';
import { matmul, linear, type MatmulOptions } from './matmul.js';
import { sum, mean, max, min, variance, sumTo } from './reduce.js';
import { reshape, permute, transpose, flip, slice, concat, expand, clone, diff } from './shape.js';

export * from './elementwise.js';
export * from './creation.js';
export * from './matmul.js';
export * from './conv.js';
export { sharedWinogradWeights } from './winograd.js';
export * from './flow.js';
export * from './nn.js';
export * from './reduce.js';
export { reshape, permute, transpose, flip, slice, concat, expand, clone, diff } from './shape.js';

installAutogradOps((a, b) => ew.add(a, b));

const onesOf = (shape: readonly number[]) => ones(shape);

/** Gradients of outputs w.r.t. inputs (see GradOptions: createGraph for higher-order gradients). */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  return runGrad(Array.isArray(outputs) ? outputs : [outputs], Array.isArray(inputs) ? inputs : [inputs], onesOf, opts);
}

/** A new leaf on the same storage, cut from the graph. */
export function detach(x: Tensor): Tensor {
  return x.view(x.shape);
}

type Operand = Tensor | number;
type Axes = number | readonly number[];

declare module '../tensor.js' {
  interface Tensor {
    add(b: Operand): Tensor;
    sub(b: Operand): Tensor;
    mul(b: Operand): Tensor;
    div(b: Operand): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    leakyRelu(slope?: number): Tensor;
    square(): Tensor;
    pow(p: number): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    min(axes?: Axes, keepdim?: boolean): Tensor;
    variance(axes?: Axes, keepdim?: boolean, unbiased?: boolean): Tensor;
    sumTo(shape: readonly number[]): Tensor;
    reshape(shape: readonly number[]): Tensor;
    permute(perm: readonly number[]): Tensor;
    transpose(d0?: number, d1?: number): Tensor;
    flip(axes: number | readonly number[]): Tensor;
    slice(axis: number, start: number, end: number): Tensor;
    diff(axis: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    clone(): Tensor;
    matmul(b: Tensor, opts?: MatmulOptions): Tensor;
    linear(w: Tensor, b?: Tensor | null): Tensor;
    detach(): Tensor;
    /** Accumulate gradients of this (scalar, or with opts.gradient) into the .grad of every leaf it depends on. */
    backward(opts?: BackwardOptions): void;
  }
}

const methods: Partial<Tensor> = {
  add(this: Tensor, b: Operand) { return ew.add(this, b); },
  sub(this: Tensor, b: Operand) { return ew.sub(this, b); },
  mul(this: Tensor, b: Operand) { return ew.mul(this, b); },
  div(this: Tensor, b: Operand) { return ew.div(this, b); },
  neg(this: Tensor) { return ew.neg(this); },
  exp(this: Tensor) { return ew.exp(this); },
  log(this: Tensor) { return ew.log(this); },
  sqrt(this: Tensor) { return ew.sqrt(this); },
  abs(this: Tensor) { return ew.abs(this); },
  tanh(this: Tensor) { return ew.tanh(this); },
  sigmoid(this: Tensor) { return ew.sigmoid(this); },
  relu(this: Tensor) { return ew.relu(this); },
  leakyRelu(this: Tensor, slope?: number) { return ew.leakyRelu(this, slope); },
  square(this: Tensor) { return ew.square(this); },
  pow(this: Tensor, p: number) { return ew.powScalar(this, p); },
  sum(this: Tensor, axes?: Axes, keepdim?: boolean) { return sum(this, axes, keepdim); },
  mean(this: Tensor, axes?: Axes, keepdim?: boolean) { return mean(this, axes, keepdim); },
  max(this: Tensor, axes?: Axes, keepdim?: boolean) { return max(this, axes, keepdim); },
  min(this: Tensor, axes?: Axes, keepdim?: boolean) { return min(this, axes, keepdim); },
  variance(this: Tensor, axes?: Axes, keepdim?: boolean, unbiased?: boolean) { return variance(this, axes, keepdim, unbiased); },
  sumTo(this: Tensor, shape: readonly number[]) { return sumTo(this, shape); },
  reshape(this: Tensor, shape: readonly number[]) { return reshape(this, shape); },
  permute(this: Tensor, perm: readonly number[]) { return permute(this, perm); },
  transpose(this: Tensor, d0?: number, d1?: number) { return transpose(this, d0, d1); },
  flip(this: Tensor, axes: number | readonly number[]) { return flip(this, axes); },
  slice(this: Tensor, axis: number, start: number, end: number) { return slice(this, axis, start, end); },
  diff(this: Tensor, axis: number) { return diff(this, axis); },
  expand(this: Tensor, shape: readonly number[]) { return expand(this, shape); },
  clone(this: Tensor) { return clone(this); },
  matmul(this: Tensor, b: Tensor, opts?: MatmulOptions) { return matmul(this, b, opts); },
  linear(this: Tensor, w: Tensor, b?: Tensor | null) { return linear(this, w, b); },
  detach(this: Tensor) { return detach(this); },
  backward(this: Tensor, opts?: BackwardOptions) { runBackward(this, onesOf, opts); },
};
Object.assign(Tensor.prototype, methods);
export { concat as cat };
