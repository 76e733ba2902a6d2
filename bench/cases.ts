// Benchmark cases of the engine foundation. Each case records GPU work in run(); the harness submits and waits,
// so a timing is what a caller experiences: encode + submit + GPU execution + completion.
import { engine, ones, rand, add, relu, sum, matmul, tensor, type Tensor } from '../src/node.js';
import { stridedCopy } from '../src/ops/shape.js';

export interface BenchCase {
  name: string;
  /** compute: work is flops; memory: work is bytes moved (read + written); latency: neither */
  kind: 'compute' | 'memory' | 'latency';
  work?: number;
  /** roofline cases set the ceiling that the others are compared with */
  roofline?: 'sgemm' | 'copy';
  /** a word the filter also matches (e.g. 'inference') */
  group?: string;
  /** extra fields of the JSON row, from the median time and the peak bytes of one run */
  extra?: (medianMs: number, peakBytes: number) => Record<string, number>;
  setup(): unknown;
  run(state: unknown): void | Promise<unknown>;
  teardown?(state: unknown): void;
}

const MiB = 1 << 20;

function matmulCase(n: number, roofline = true): BenchCase {
  return {
    name: `matmul ${n}x${n}x${n}`,
    kind: 'compute',
    work: 2 * n * n * n,
    roofline: roofline ? 'sgemm' : undefined,
    setup: () => [rand([n, n], { seed: 1 }), rand([n, n], { seed: 2 })],
    run: (s) => {
      const [a, b] = s as Tensor[];
      matmul(a!, b!).dispose();
    },
    teardown: (s) => (s as Tensor[]).forEach((t) => t.dispose()),
  };
}

/**
 * The memory roofline: the engine's own vec4 copy kernel (kernels/copy.wgsl copy_vec4) on 64 MiB. Smaller copies are
 * listed for reference, not as rooflines: the size of the small memory-bound rows (AdaIN moves 2 MiB, warp 0.5 MiB).
 */
function kernelCopy(bytes: number, roofline = true): BenchCase {
  const n = bytes / 4;
  return {
    name: `copy kernel ${bytes / MiB} MiB`,
    kind: 'memory',
    work: 2 * bytes,
    ...(roofline ? { roofline: 'copy' as const } : {}),
    setup: () => [rand([n], { seed: 9 }), rand([n], { seed: 10 })],
    run: (s) => {
      const [src, dst] = s as Tensor[];
      stridedCopy(src!, dst!, [n], [1], 0, [1], 0, 'bench copy kernel');
    },
    teardown: (s) => (s as Tensor[]).forEach((t) => t.dispose()),
  };
}

/** For reference: the driver's buffer-to-buffer copy (a memcpy on lavapipe), not a shader. */
function bufferCopy(bytes: number): BenchCase {
  return {
    name: `copyBufferToBuffer ${bytes / MiB} MiB`,
    kind: 'memory',
    work: 2 * bytes,
    setup: () => {
      const e = engine();
      return [e.alloc(bytes, 'bench src'), e.alloc(bytes, 'bench dst')];
    },
    run: (s) => {
      const [src, dst] = s as GPUBuffer[];
      engine().copy(src!, 0, dst!, 0, bytes, 'bench copy');
    },
    teardown: (s) => (s as GPUBuffer[]).forEach((b) => engine().release(b)),
  };
}

function elementwise(name: string, n: number, inputs: number, fn: (ts: Tensor[]) => Tensor): BenchCase {
  return {
    name,
    kind: 'memory',
    work: (inputs + 1) * n * 4,
    setup: () => Array.from({ length: inputs }, (_, i) => rand([n], { seed: i })),
    run: (s) => fn(s as Tensor[]).dispose(),
    teardown: (s) => (s as Tensor[]).forEach((t) => t.dispose()),
  };
}

export const coreCases: BenchCase[] = [
  matmulCase(1024),
  matmulCase(2048),
  matmulCase(256, false),
  kernelCopy(64 * MiB),
  kernelCopy(1 * MiB, false),
  bufferCopy(64 * MiB),
  elementwise('elementwise add 16M', 16 * MiB, 2, ([a, b]) => add(a!, b!)),
  elementwise('elementwise relu 16M', 16 * MiB, 1, ([a]) => relu(a!)),
  {
    // the row vector is made once in setup: the row measures the broadcasting add alone
    name: 'elementwise add broadcast [4096,4096]+[4096]',
    kind: 'memory',
    work: 2 * 4096 * 4096 * 4, // read a, write y (the 16 KiB row vector stays in cache)
    setup: () => [rand([4096, 4096], { seed: 7 }), ones([4096])],
    run: (s) => {
      const [a, b] = s as Tensor[];
      add(a!, b!).dispose();
    },
    teardown: (s) => (s as Tensor[]).forEach((t) => t.dispose()),
  },
  {
    name: 'reduce sum 16M',
    kind: 'memory',
    work: 16 * MiB * 4,
    setup: () => rand([16 * MiB], { seed: 3 }),
    run: (s) => sum(s as Tensor).dispose(),
    teardown: (s) => (s as Tensor).dispose(),
  },
  {
    name: 'reduce sum [4096,4096] axis 1',
    kind: 'memory',
    work: 4096 * 4096 * 4,
    setup: () => rand([4096, 4096], { seed: 4 }),
    run: (s) => sum(s as Tensor, 1).dispose(),
    teardown: (s) => (s as Tensor).dispose(),
  },
  {
    name: 'reduce sum [4096,4096] axis 0',
    kind: 'memory',
    work: 4096 * 4096 * 4,
    setup: () => rand([4096, 4096], { seed: 5 }),
    run: (s) => sum(s as Tensor, 0).dispose(),
    teardown: (s) => (s as Tensor).dispose(),
  },
  {
    name: 'roundtrip tiny dispatch+submit+readback',
    kind: 'latency',
    setup: () => tensor([1, 2, 3, 4], [4]),
    run: async (s) => {
      const y = add(s as Tensor, 1);
      await y.data();
      y.dispose();
    },
    teardown: (s) => (s as Tensor).dispose(),
  },
  {
    // What every dispatch costs on the device however little it does: 200 ReLUs of 4 floats recorded into one
    // batch (one submission, no readback between them). On lavapipe this floor exceeds the whole ideal time of
    // small memory-bound rows (warp 3x128x128 moves 524 KB: 47 µs at 11 GB/s).
    name: 'dispatch floor: 200 tiny dispatches, one submit',
    kind: 'latency',
    extra: (ms) => ({ us_per_dispatch: +((1000 * ms) / 200).toFixed(1) }),
    setup: () => tensor([1, -2, 3, -4], [4]),
    run: (s) => {
      for (let i = 0; i < 200; i++) relu(s as Tensor).dispose();
    },
    teardown: (s) => (s as Tensor).dispose(),
  },
];
