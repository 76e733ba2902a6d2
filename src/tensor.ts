// Tensor handles, reference-counted GPU storage, memory scopes and the current engine.
//
// Lifetime model:
//  * A Tensor is a handle on a Storage (one pooled GPU buffer). Views (reshape) are new handles on the same storage.
//  * Storage is reference counted; the buffer goes back to the pool when the last handle is disposed.
//  * The autograd graph keeps its own handles on the tensors a backward rule needs, so disposing a tensor the graph
//    still needs is always safe: the memory lives until backward() runs or the graph is dropped.
//  * scope(fn) disposes every tensor created inside fn except the ones it returns (and ones passed to keep()).

import { Engine, EngineError } from './runtime/engine.js';
import type { GradNode } from './autograd.js';

let current: Engine | null = null;

/** Make `e` the engine every tensor operation uses. */
export function setEngine(e: Engine | null): void {
  current = e;
}

/** The engine in use; throws a clear error before init(). */
export function engine(): Engine {
  if (!current) throw new EngineError('no WebGPU engine: call `await init()` (from dtvnet-webgpu) before creating tensors');
  return current;
}

export const MAX_RANK = 8;

export class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) engine().release(this.buffer);
  }
}

let nextId = 1;

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly id = nextId++;
  /** Does autograd track operations on this tensor? Set on leaves with requiresGrad_() or the creation option. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(). */
  grad: Tensor | null = null;
  /** The operation that produced this tensor (null for leaves and for results computed without grad). */
  node: GradNode | null = null;
  /** For the graph's own handles on a leaf: the leaf whose .grad receives the gradient. */
  leaf: Tensor | null = null;
  private storage_: Storage | null;
  private disposedAt: string | null = null;

  /** @internal use the creation functions (tensor, zeros, randn, ...) */
  constructor(shape: readonly number[], storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.size = shape.reduce((a, b) => a * b, 1);
    this.storage_ = storage;
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get storage(): Storage {
    if (!this.storage_) throw new EngineError(this.disposedMessage());
    return this.storage_;
  }

  /** @internal */
  disposedMessage(): string {
    return `tensor #${this.id} [${this.shape.join(', ')}] was used after dispose()${this.disposedAt ? ` (disposed ${this.disposedAt})` : ''}`;
  }

  get buffer(): GPUBuffer {
    return this.storage.buffer;
  }

  get isDisposed(): boolean {
    return this.storage_ === null;
  }

  /** Free this handle. The GPU buffer returns to the pool once no handle (and no graph) needs it. Idempotent. */
  dispose(): void {
    if (!this.storage_) return;
    this.storage_.release();
    this.storage_ = null;
    this.disposedAt = scopeStack.length ? 'by a scope' : 'explicitly';
    untrack(this);
    if (this.node) {
      this.node.release();
      this.node = null;
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** A new handle on the same storage with another shape (no copy). The caller checked the sizes. */
  view(shape: readonly number[]): Tensor {
    return new Tensor(shape, this.storage.retain());
  }

  /** Read the values back to the CPU (waits for the GPU). */
  async data(): Promise<Float32Array> {
    const buf = await engine().read(this.buffer, this.size * 4);
    return new Float32Array(buf);
  }

  /** Nested arrays in the tensor's shape. */
  async array(): Promise<unknown> {
    const d = await this.data();
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return d[off];
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new EngineError(`item() needs a tensor with one element, got shape [${this.shape.join(', ')}]`);
    return (await this.data())[0]!;
  }

  /** Mark a leaf tensor as a parameter whose gradient backward() accumulates into .grad. */
  requiresGrad_(flag = true): this {
    if (this.node) throw new EngineError(`requiresGrad_() is for leaf tensors; tensor #${this.id} was computed by ${this.node.name}`);
    this.requiresGrad = flag;
    return this;
  }

  /**
   * Make this tensor hold src's values (it shares src's storage; src stays usable). For parameters and buffers
   * (optimizer steps, running statistics): graphs recorded earlier keep the old values they saw.
   */
  assign_(src: Tensor): this {
    if (this.node) throw new EngineError(`assign_(): tensor #${this.id} was computed by ${this.node.name}; only leaves can be assigned`);
    if (src.shape.join() !== this.shape.join()) throw new EngineError(`assign_(): shape [${src.shape.join(', ')}] does not match [${this.shape.join(', ')}]`);
    const next = src.storage.retain();
    this.storage.release();
    this.storage_ = next;
    return this;
  }

  /** Set .grad to null (disposing the old gradient). */
  zeroGrad(): void {
    if (this.grad) this.grad.dispose();
    this.grad = null;
  }

  toString(): string {
    return `Tensor#${this.id}[${this.shape.join(', ')}]${this.requiresGrad ? ' requiresGrad' : ''}${this.node ? ` (${this.node.name})` : ''}${this.isDisposed ? ' disposed' : ''}`;
  }
}

// ------------------------------------------------------------------------------------------------ scopes

const scopeStack: Set<Tensor>[] = [];

function track(t: Tensor): void {
  scopeStack[scopeStack.length - 1]?.add(t);
}
function untrack(t: Tensor): void {
  for (const s of scopeStack) s.delete(t);
}

/** @internal Put a tensor under the innermost scope (as if it had just been created there). */
export function adopt<T extends Tensor>(t: T): T {
  track(t);
  return t;
}

/** Exclude a tensor from every enclosing scope's clean-up (it lives until you dispose it). */
export function keep<T extends Tensor>(t: T): T {
  untrack(t);
  return t;
}

function collect(value: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value instanceof Tensor) out.add(value);
  else if (value && typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    for (const v of Array.isArray(value) ? value : Object.values(value)) collect(v, out, seen);
  }
}

function closeScope(set: Set<Tensor>, result: unknown): void {
  const kept = new Set<Tensor>();
  collect(result, kept);
  scopeStack.pop();
  for (const t of set) if (!kept.has(t)) t.dispose();
  for (const t of kept) if (set.has(t)) track(t);   // returned tensors belong to the enclosing scope
}

/**
 * Run fn and dispose every tensor it created, except the tensors in its result (found in arrays and plain objects)
 * and those passed to keep(). An async fn is supported, but scopes must not interleave: do not run two async scopes
 * concurrently.
 */
export function scope<T>(fn: () => T): T {
  const set = new Set<Tensor>();
  scopeStack.push(set);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(set, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        closeScope(set, v);
        return v;
      },
      (e) => {
        closeScope(set, undefined);
        throw e;
      },
    ) as T;
  }
  closeScope(set, result);
  return result;
}

// ------------------------------------------------------------------------------------------------ grad mode

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording operations for autograd. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** @internal used by backward() with createGraph */
export function withGrad<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Throw a clear error naming the op if any input is not a live tensor. Every op calls it first. */
export function live(op: string, ...ts: unknown[]): void {
  ts.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new EngineError(`${op}: input ${i} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (t.isDisposed) throw new EngineError(`${op}: ${t.disposedMessage()}`);
  });
}

/** Allocate an uninitialised tensor of a shape (validated) on the current engine. */
export function empty(shape: readonly number[], label = 'tensor'): Tensor {
  checkShape(shape, label);
  const size = shape.reduce((a, b) => a * b, 1);
  const e = engine();
  return new Tensor(shape, new Storage(e.alloc(size * 4, label), size * 4));
}

export function checkShape(shape: readonly number[], label: string): void {
  if (!Array.isArray(shape)) throw new EngineError(`${label}: shape must be an array of sizes, got ${String(shape)}`);
  if (shape.length > MAX_RANK) throw new EngineError(`${label}: rank ${shape.length} is above the supported ${MAX_RANK} (shape [${shape.join(', ')}])`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new EngineError(`${label}: sizes must be non-negative integers, got [${shape.join(', ')}]`);
    if (d === 0) throw new EngineError(`${label}: empty tensors are not supported (shape [${shape.join(', ')}] has a 0)`);
  }
}
