// The WebGPU runtime: device, pipeline cache, buffer pool, command batching, readback, errors, GPU timing.
// Browser-safe: it only uses the WebGPU API (a `GPU` object is handed in) and standard JS.

import { KERNEL_FILES, preprocess, type KernelFile, type KernelSources } from './kernels.js';

/* eslint-disable no-bitwise */
const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */
const UNIFORM_USAGE = 0x40 /* UNIFORM */ | 0x08; /* COPY_DST */
const READBACK_USAGE = 0x01 /* MAP_READ */ | 0x08; /* COPY_DST */
const MAP_READ = 0x1;
const UNIFORM_CHUNK = 64 * 1024;
const MAX_GROUPS = 65535;

export class EngineError extends Error {
  override name = 'EngineError';
}
export class DeviceLostError extends EngineError {
  override name = 'DeviceLostError';
}

export interface EngineOptions {
  /** A WebGPU entry point: `navigator.gpu` in a browser, `create([...])` from the `webgpu` package in Node. */
  gpu: GPU;
  /** WGSL source of every kernel family (see KERNEL_FILES). */
  kernels: KernelSources;
  /** Submit and check every dispatch on its own, so an error names exactly one kernel (slow). */
  debug?: boolean;
  /** Freed buffers kept for reuse, in bytes, before the pool starts destroying them (default 1 GiB). */
  poolLimitBytes?: number;
  /**
   * Submit recorded work after this many dispatches even when nothing reads a result (default 1024), so the device
   * starts on a long recording early and no command buffer grows without bound. A long loop that never waits still
   * needs fence() (see there): submitting alone did not stop the crash it describes.
   */
  maxBatchDispatches?: number;
  /** Called once when the device is lost for a reason other than destroy(). Default: print to stderr. */
  onDeviceLost?: (message: string) => void;
  /**
   * Use the `subgroups` feature where the adapter has it with at least 8 lanes (default true). false runs every
   * kernel's plain path, as on a device without subgroups: for comparisons and tests.
   */
  subgroups?: boolean;
  /**
   * How to wait for a promise of the device (work done, a readback mapped, error scopes): every wait of the engine
   * goes through it, with the number of dispatches recorded since the previous wait. Default: a plain await. In Node,
   * Dawn's binding polls the device on every turn of the event loop while any of its promises is pending, so a plain
   * await keeps a CPU core busy — a core that lavapipe's compute threads then share; src/node.ts passes a wait that
   * sleeps between those polls (`sleepyWait`).
   */
  wait?: <T>(p: Promise<T>, dispatches: number) => Promise<T>;
}

export interface Dispatch {
  kernel: KernelFile;
  entry: string;
  /** override constants of the pipeline (the specialisation, part of the cache key) */
  constants?: Record<string, number | boolean>;
  /** uniform parameter block at binding 0, or null when the kernel has none */
  params: ArrayBuffer | ArrayBufferView | null;
  /** storage buffers bound at 1, 2, ... in order (or at `bindings`) */
  buffers: GPUBuffer[];
  /** binding numbers of `buffers` when they are not 1, 2, ... */
  bindings?: number[];
  /** workgroups */
  grid: [number, number, number];
  /** what a person reads in an error or a profile: op name and shapes */
  label: string;
}

export interface MemoryInfo {
  /** bytes in buffers that tensors hold now (size classes, so slightly above the tensors' own sizes) */
  liveBytes: number;
  /** most liveBytes ever held at once since start or the last resetPeak() */
  peakBytes: number;
  /** bytes in freed buffers kept for reuse */
  pooledBytes: number;
  liveBuffers: number;
  pooledBuffers: number;
  /** pipelines compiled so far */
  pipelines: number;
}

export interface ProfileEntry {
  label: string;
  kernel: string;
  calls: number;
  totalMs: number;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallback: boolean;
  subgroups: boolean;
  timestamps: boolean;
}

/** Round a byte size up to its pool size class: powers of two up to 1 KiB, then 8 classes per octave. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes));
  if (b <= 1024) return 1 << Math.ceil(Math.log2(b));
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

/** Split `groups` workgroups into an (x, y) grid within the 65535 limit; kernels rebuild the index as y*nx + x. */
export function grid1d(invocations: number, wg: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(invocations / wg));
  if (groups <= MAX_GROUPS) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * Launch shape for the kernels that give each invocation ITEMS elements (g*WG*ITEMS + l + k*WG): 8-lane workgroups
 * (one lavapipe SIMD vector, measured fastest there), up to 64 items each, and at least ~32 workgroups when the
 * work allows it so both CPU threads stay busy. ITEMS is a power of two (it is a pipeline constant).
 */
export function itemsGrid(n: number, wg = 8): { grid: [number, number, number]; items: number; wg: number } {
  let items = 64;
  while (items > 1 && n < wg * items * 32) items >>= 1;
  return { grid: grid1d(Math.ceil(n / items), wg), items, wg };
}

/** Items per lane for kernels whose 8 lanes sweep one row of n values: up to 16, fewer for short rows. */
export function rowItems(n: number): number {
  let it = 16;
  while (it > 1 && n < 8 * it) it >>= 1;
  return it;
}

interface Batch {
  labels: string[];
}

export class Engine {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  readonly limits: { maxStorageBinding: number; maxBuffer: number; uniformAlign: number };
  debug: boolean;
  /** the `GPU` object: held for the life of the engine (Dawn in Node crashes if it is collected while in use) */
  private readonly gpu: GPU;
  private readonly sources: Record<string, string>;
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly flags: Record<string, boolean>;
  private readonly waitHook: <T>(p: Promise<T>, dispatches: number) => Promise<T>;
  private waitedDispatches = 0;

  // buffer pool
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private readonly poolLimit: number;
  private readonly maxBatch: number;
  private batchDispatches = 0;
  private live = 0;
  private liveCount = 0;
  private pooled = 0;
  private pooledCount = 0;
  private peak = 0;
  private toDestroy: GPUBuffer[] = [];

  // command batching
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batch: Batch | null = null;
  private readonly uniformChunks: GPUBuffer[] = [];
  private uniformStaging = new Uint8Array(UNIFORM_CHUNK);
  private uniformChunk = 0;
  private uniformOffset = 0;
  private readonly pendingUniformWrites: { chunk: number; bytes: Uint8Array }[] = [];
  private readonly readbackPool = new Map<number, GPUBuffer[]>();

  // errors
  private errorChecks: Promise<string | null>[] = [];
  private lostMessage: string | null = null;
  private destroyed = false;

  // profiling
  private profiling: { querySet: GPUQuerySet | null; next: number; labels: string[]; pending: Promise<void>[]; totals: Map<string, ProfileEntry> } | null = null;

  /** Dispatches recorded since the engine started (for tests and for counting work per forward pass). */
  dispatchCount = 0;
  submitCount = 0;

  static async create(opts: EngineOptions): Promise<Engine> {
    const mb = opts.maxBatchDispatches;
    if (mb !== undefined && !(Number.isInteger(mb) && mb >= 1)) throw new EngineError(`maxBatchDispatches must be an integer >= 1, got ${String(mb)}`);
    for (const name of KERNEL_FILES) {
      if (typeof opts.kernels?.[name] !== 'string') throw new EngineError(`kernel source '${name}.wgsl' was not provided to the engine`);
    }
    const adapter = await opts.gpu.requestAdapter();
    if (!adapter) {
      throw new EngineError(
        'No WebGPU adapter found. On Linux without a GPU, install Mesa lavapipe (a CPU Vulkan driver) by running ' +
          '`bash tools/setup.sh` (as root, or it prints the command to run).',
      );
    }
    const want: GPUFeatureName[] = [];
    const info = adapter.info;
    const subgroups = opts.subgroups !== false && adapter.features.has('subgroups') && (info.subgroupMinSize ?? 0) >= 8;
    if (subgroups) want.push('subgroups' as GPUFeatureName);
    const timestamps = adapter.features.has('timestamp-query');
    if (timestamps) want.push('timestamp-query');
    const device = await adapter.requestDevice({
      requiredFeatures: want,
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
        maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      },
    });
    const summary: AdapterSummary = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      isFallback: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      subgroups,
      timestamps,
    };
    return new Engine(opts, device, summary);
  }

  private constructor(opts: EngineOptions, device: GPUDevice, adapter: AdapterSummary) {
    this.gpu = opts.gpu;
    this.device = device;
    this.adapter = adapter;
    this.debug = !!opts.debug;
    this.waitHook = opts.wait ?? ((p) => p);
    this.poolLimit = opts.poolLimitBytes ?? 1 << 30;
    this.maxBatch = opts.maxBatchDispatches ?? 1024;
    this.sources = { ...opts.kernels };
    this.flags = { SUBGROUPS: adapter.subgroups };
    this.limits = {
      maxStorageBinding: device.limits.maxStorageBufferBindingSize,
      maxBuffer: device.limits.maxBufferSize,
      uniformAlign: device.limits.minUniformBufferOffsetAlignment,
    };
    const onLost = opts.onDeviceLost ?? ((m: string) => console.error(`dtvnet-webgpu: ${m}`));
    device.lost.then((info) => {
      if (this.destroyed) return;
      this.lostMessage = `WebGPU device lost (${info.reason}): ${info.message}`;
      onLost(this.lostMessage);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.errorChecks.push(Promise.resolve(`uncaptured WebGPU error: ${err.message}`));
    });
  }

  // ---------------------------------------------------------------------------------------------- pipelines

  private module(kernel: KernelFile): GPUShaderModule {
    let m = this.modules.get(kernel);
    if (!m) {
      const code = preprocess(this.sources[kernel]!, this.flags, kernel);
      m = this.device.createShaderModule({ label: kernel, code });
      this.modules.set(kernel, m);
    }
    return m;
  }

  /** The compiled pipeline for kernel + entry point + specialisation (created once, then cached). */
  pipeline(kernel: KernelFile, entry: string, constants: Record<string, number | boolean> = {}): GPUComputePipeline {
    const keys = Object.keys(constants).sort();
    const key = `${kernel}:${entry}:${keys.map((k) => `${k}=${Number(constants[k])}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const c: Record<string, number> = {};
      for (const k of keys) c[k] = Number(constants[k]);
      p = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module: this.module(kernel), entryPoint: entry, constants: c },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  // ---------------------------------------------------------------------------------------------- buffers

  private checkAlive(what: string): void {
    if (this.destroyed) throw new EngineError(`${what}: the engine was destroyed`);
    if (this.lostMessage) throw new DeviceLostError(`${what}: ${this.lostMessage}`);
  }

  /** A storage buffer of at least `bytes` bytes, from the pool when one of its size class is free. */
  alloc(bytes: number, label = 'tensor'): GPUBuffer {
    this.checkAlive(`allocating ${bytes} bytes for ${label}`);
    if (bytes > this.limits.maxStorageBinding) {
      throw new EngineError(
        `${label}: ${bytes} bytes is more than this adapter can bind as one storage buffer ` +
          `(maxStorageBufferBindingSize = ${this.limits.maxStorageBinding}); split the tensor or use a smaller batch`,
      );
    }
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.pooled -= size;
      this.pooledCount--;
    } else {
      this.beginBatch(`alloc ${size} B (${label})`);
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.sizes.set(buf, size);
    }
    this.live += size;
    this.liveCount++;
    if (this.live > this.peak) this.peak = this.live;
    return buf;
  }

  /** Return a buffer to the pool. Safe while recorded commands still use it: work runs in queue order. */
  release(buf: GPUBuffer): void {
    const size = this.sizes.get(buf);
    if (size === undefined) throw new EngineError('release(): this buffer was not allocated by the engine');
    this.live -= size;
    this.liveCount--;
    if (this.destroyed) return;
    if (this.pooled + size > this.poolLimit) {
      this.toDestroy.push(buf);
      if (!this.encoder) this.destroyPending();
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.pooled += size;
    this.pooledCount++;
  }

  private destroyPending(): void {
    for (const b of this.toDestroy) b.destroy();
    this.toDestroy = [];
  }

  /** Destroy every pooled buffer (memory goes back to the driver). */
  trim(): void {
    for (const list of this.free.values()) this.toDestroy.push(...list);
    this.free.clear();
    this.pooled = 0;
    this.pooledCount = 0;
    if (!this.encoder) this.destroyPending();
  }

  memory(): MemoryInfo {
    return {
      liveBytes: this.live,
      peakBytes: this.peak,
      pooledBytes: this.pooled,
      liveBuffers: this.liveCount,
      pooledBuffers: this.pooledCount,
      pipelines: this.pipelines.size,
    };
  }

  resetPeak(): void {
    this.peak = this.live;
  }

  /** Upload data into a buffer. Recorded work is submitted first, so the write lands after it in queue order. */
  write(buf: GPUBuffer, data: Float32Array | Uint32Array, byteOffset = 0): void {
    this.checkAlive('upload');
    this.flush();
    this.device.queue.writeBuffer(buf, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  // ---------------------------------------------------------------------------------------------- recording

  private beginBatch(label: string): void {
    if (!this.batch) {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.batch = { labels: [] };
    }
    this.batch.labels.push(label);
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private uniform(params: ArrayBuffer | ArrayBufferView): GPUBufferBinding {
    const bytes =
      params instanceof ArrayBuffer ? new Uint8Array(params) : new Uint8Array(params.buffer, params.byteOffset, params.byteLength);
    const size = Math.ceil(bytes.byteLength / 16) * 16;
    if (size > UNIFORM_CHUNK) throw new EngineError(`uniform parameter block of ${size} bytes is too large`);
    if (this.uniformOffset + size > UNIFORM_CHUNK) this.closeUniformChunk();
    if (this.uniformChunk >= this.uniformChunks.length) {
      this.uniformChunks.push(this.device.createBuffer({ size: UNIFORM_CHUNK, usage: UNIFORM_USAGE, label: 'params' }));
    }
    const offset = this.uniformOffset;
    this.uniformStaging.set(bytes, offset);
    this.uniformOffset = Math.ceil((offset + size) / this.limits.uniformAlign) * this.limits.uniformAlign;
    return { buffer: this.uniformChunks[this.uniformChunk]!, offset, size };
  }

  private closeUniformChunk(): void {
    if (this.uniformOffset > 0) {
      this.pendingUniformWrites.push({ chunk: this.uniformChunk, bytes: this.uniformStaging.slice(0, this.uniformOffset) });
      this.uniformChunk++;
      this.uniformOffset = 0;
    }
  }

  /** Record one compute dispatch. Nothing runs until flush() (or a readback, which flushes). */
  dispatch(d: Dispatch): void {
    this.checkAlive(d.label);
    for (const [i, n] of d.grid.entries()) {
      if (!(n >= 1 && n <= MAX_GROUPS && Number.isInteger(n))) {
        throw new EngineError(`${d.label}: workgroup count ${n} on axis ${'xyz'[i]} is outside 1..${MAX_GROUPS}`);
      }
    }
    this.beginBatch(d.label);
    const pipe = this.pipeline(d.kernel, d.entry, d.constants);
    const entries: GPUBindGroupEntry[] = [];
    if (d.params) entries.push({ binding: 0, resource: this.uniform(d.params) });
    d.buffers.forEach((buffer, i) => entries.push({ binding: d.bindings?.[i] ?? i + 1, resource: { buffer } }));
    const bindGroup = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
    const enc = this.ensureEncoder();
    const prof = this.profiling;
    if (prof?.querySet) {
      if (prof.next + 2 > prof.querySet.count) this.flush();
      const pass = this.ensureEncoder().beginComputePass({
        timestampWrites: { querySet: prof.querySet, beginningOfPassWriteIndex: prof.next, endOfPassWriteIndex: prof.next + 1 },
      });
      prof.labels.push(`${d.kernel}.${d.entry}\u0000${d.label}`);
      prof.next += 2;
      pass.setPipeline(pipe);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
      pass.end();
    } else {
      if (!this.pass) this.pass = enc.beginComputePass();
      this.pass.setPipeline(pipe);
      this.pass.setBindGroup(0, bindGroup);
      this.pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
    }
    this.dispatchCount++;
    this.batchDispatches++;
    if (prof && !prof.querySet) {
      // wall-clock profiling: one submit per dispatch, timed from when the previous one finished
      this.flush();
      const key = `${d.kernel}.${d.entry}\u0000${d.label}`;
      const start = prof.pending[prof.pending.length - 1] ?? Promise.resolve();
      prof.pending.push(
        start.then(async () => {
          const t0 = performance.now();
          await this.wait(this.device.queue.onSubmittedWorkDone());
          this.addProfile(key, performance.now() - t0);
        }),
      );
    } else if (this.debug || this.batchDispatches >= this.maxBatch) this.flush();
  }

  /** Record a buffer-to-buffer copy (bytes must be a multiple of 4). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number, label = 'copy'): void {
    this.checkAlive(label);
    this.beginBatch(label);
    const enc = this.ensureEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submit everything recorded so far as one command buffer. Cheap when nothing is recorded. */
  flush(): void {
    if (!this.encoder && !this.batch) return;
    this.checkAlive('submit');
    this.batchDispatches = 0;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    const prof = this.profiling;
    if (prof?.querySet && prof.next > 0 && this.encoder) this.resolveProfile(this.encoder);
    this.closeUniformChunk();
    for (const w of this.pendingUniformWrites) this.device.queue.writeBuffer(this.uniformChunks[w.chunk]!, 0, w.bytes);
    this.pendingUniformWrites.length = 0;
    this.uniformChunk = 0;
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.submitCount++;
      this.encoder = null;
    }
    this.destroyPending();
    const batch = this.batch;
    if (batch) {
      this.batch = null;
      const validation = this.device.popErrorScope();
      const oom = this.device.popErrorScope();
      this.errorChecks.push(
        Promise.all([validation, oom]).then(([v, o]) => {
          const e = v ?? o;
          if (!e) return null;
          const kind = v ? 'validation' : 'out-of-memory';
          const list = batch.labels.length > 6 ? [...batch.labels.slice(0, 6), `… ${batch.labels.length - 6} more`] : batch.labels;
          const hint = batch.labels.length > 1 ? ' (set debug: true, or DTVNET_DEBUG=1, to check each kernel on its own)' : '';
          return `WebGPU ${kind} error in ${list.join(', ')}${hint}: ${e.message}`;
        }),
      );
    }
  }

  /**
   * Submit what is recorded and return a promise that resolves when all work submitted so far has finished (errors
   * are reported by the next sync() or readback). For long loops that read nothing back: recording runs far ahead of
   * lavapipe, and every dispatch in flight holds a bind group — with 80,000 or more in flight lavapipe crashed in its
   * descriptor-pool allocation (a segmentation fault; flow refinement, then about 540 dispatches a step). Awaiting the fence taken one
   * chunk of work earlier bounds what is in flight without leaving the device idle:
   *
   *     let previous = Promise.resolve();
   *     for (...) { record a chunk; const f = engine.fence(); await previous; previous = f; }
   */
  fence(): Promise<void> {
    this.checkAlive('fence');
    this.flush();
    return this.wait(this.device.queue.onSubmittedWorkDone());
  }

  /** A device promise through the wait hook, with the dispatches recorded since the previous wait. */
  private wait<T>(p: Promise<T>): Promise<T> {
    const n = this.dispatchCount - this.waitedDispatches;
    this.waitedDispatches = this.dispatchCount;
    return this.waitHook(p, n);
  }

  /** Wait until all submitted work is done; throws the first GPU error it produced. */
  async sync(): Promise<void> {
    this.flush();
    await this.wait(this.device.queue.onSubmittedWorkDone());
    await this.throwErrors();
  }

  private async throwErrors(): Promise<void> {
    if (!this.errorChecks.length) return;
    const checks = this.errorChecks;
    this.errorChecks = [];
    const msgs = (await this.wait(Promise.all(checks))).filter((m): m is string => m !== null);
    if (msgs.length) throw new EngineError(msgs[0]!);
    if (this.lostMessage) throw new DeviceLostError(this.lostMessage);
  }

  /** Copy `bytes` bytes of a buffer back to the CPU. Submits recorded work first. */
  async read(buf: GPUBuffer, bytes: number, byteOffset = 0): Promise<ArrayBuffer> {
    this.checkAlive('readback');
    const size = sizeClass(bytes);
    const staging = this.readbackPool.get(size)?.pop() ?? this.device.createBuffer({ size, usage: READBACK_USAGE, label: 'readback' });
    this.copy(buf, byteOffset, staging, 0, Math.ceil(bytes / 4) * 4, 'readback');
    this.flush();
    try {
      await this.wait(staging.mapAsync(MAP_READ, 0, size));
    } catch (e) {
      await this.throwErrors();
      throw new EngineError(`readback failed: ${(e as Error).message}${this.lostMessage ? ` (${this.lostMessage})` : ''}`);
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    let list = this.readbackPool.get(size);
    if (!list) this.readbackPool.set(size, (list = []));
    if (list.length < 4) list.push(staging);
    else staging.destroy();
    await this.throwErrors();
    return out;
  }

  // ---------------------------------------------------------------------------------------------- profiling

  /**
   * Start a per-dispatch profile. With timestamp queries every dispatch runs in its own pass and is timed on the
   * GPU timeline; without them every dispatch is submitted alone and timed by wall clock around submit + wait.
   */
  profileStart(): void {
    this.flush();
    const querySet = this.adapter.timestamps ? this.device.createQuerySet({ type: 'timestamp', count: 4096 }) : null;
    this.profiling = { querySet, next: 0, labels: [], pending: [], totals: new Map() };
  }

  /** Stop profiling; entries are summed per (kernel entry, label), slowest first. */
  async profileStop(): Promise<{ method: 'timestamp' | 'wall'; entries: ProfileEntry[] }> {
    const prof = this.profiling;
    if (!prof) throw new EngineError('profileStop() without profileStart()');
    this.flush();
    await this.wait(this.device.queue.onSubmittedWorkDone());
    await this.wait(Promise.all(prof.pending));
    this.profiling = null;
    prof.querySet?.destroy();
    return { method: prof.querySet ? 'timestamp' : 'wall', entries: [...prof.totals.values()].sort((a, b) => b.totalMs - a.totalMs) };
  }

  private resolveProfile(enc: GPUCommandEncoder): void {
    const prof = this.profiling!;
    const n = prof.next;
    const resolve = this.device.createBuffer({ size: n * 8, usage: 0x200 /* QUERY_RESOLVE */ | 0x04 });
    const out = this.device.createBuffer({ size: n * 8, usage: READBACK_USAGE });
    enc.resolveQuerySet(prof.querySet!, 0, n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, out, 0, n * 8);
    const labels = prof.labels;
    prof.labels = [];
    prof.next = 0;
    const done = (async () => {
      await this.wait(this.device.queue.onSubmittedWorkDone());
      await this.wait(out.mapAsync(MAP_READ));
      const t = new BigInt64Array(out.getMappedRange().slice(0));
      out.unmap();
      out.destroy();
      resolve.destroy();
      labels.forEach((l, i) => this.addProfile(l, Number(t[2 * i + 1]! - t[2 * i]!) / 1e6));
    })();
    prof.pending.push(done);
  }

  private addProfile(key: string, ms: number): void {
    const [kernel, label] = key.split('\u0000') as [string, string];
    const totals = this.profiling?.totals;
    if (!totals) return;
    const e = totals.get(key) ?? { kernel, label, calls: 0, totalMs: 0 };
    e.calls++;
    e.totalMs += ms;
    totals.set(key, e);
  }

  /** Release the device. Pending work is abandoned; the engine cannot be used afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    this.device.destroy();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}
