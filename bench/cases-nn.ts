// Normalisation benchmarks. Work = the bytes a perfect kernel must move: read x, write y (forward); read x and g,
// write dx (backward). Compared with the copy kernel's bandwidth, as every memory-bound row.
import { randn, grad, instanceNorm, adain, type Tensor } from '../src/node.js';
import type { BenchCase } from './cases.js';

function normCases(name: string, shape: number[], fn: (x: Tensor, s: Tensor[]) => Tensor, style: number[][]): BenchCase[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const setup = () => {
    const x = randn(shape, { seed: 1 }).requiresGrad_();
    const s = style.map((sh, i) => randn(sh, { seed: 10 + i }));
    const y = fn(x, s);
    const gy = randn(shape, { seed: 2 });
    return { x, s, y, gy };
  };
  type S = ReturnType<typeof setup>;
  const teardown = (st: unknown) => {
    const t = st as S;
    for (const v of [t.x, ...t.s, t.y, t.gy]) v.dispose();
  };
  return [
    { name, kind: 'memory', work: 2 * n * 4, setup, teardown, run: (st) => fn((st as S).x, (st as S).s).dispose() },
    {
      name: `${name} backward`, kind: 'memory', work: 3 * n * 4, setup, teardown,
      run: (st) => {
        const t = st as S;
        grad(t.y, t.x, { gradOutputs: [t.gy], retainGraph: true })[0]!.dispose();
      },
    },
  ];
}

export const nnCases: BenchCase[] = [
  ...normCases('instance norm 3d 64x16x32x32', [1, 64, 16, 32, 32], (x) => instanceNorm(x), []),
  ...normCases('adain 64x64x64', [1, 64, 64, 64], (x, [g, b]) => adain(x, g!, b!), [[1, 64], [1, 64]]),
];
