// Batched matmul (numpy semantics, optional transposes) and linear. Kernel: kernels/matmul.wgsl.
//
// The kernel wants row-major A [M, K] and B [K, N] with K and N multiples of 4. Operands that are transposed,
// unaligned, or broadcast over part of the batch are first copied into that layout (one strided copy, O(size)),
// which is small next to the O(M·N·K) product for the shapes where speed matters.

import { record } from '../autograd.js';
import { EngineError } from '../runtime/engine.js';
import { Tensor, empty, engine, live } from '../tensor.js';
import { add } from './elementwise.js';
import { zeros } from './creation.js';
import { sumTo } from './reduce.js';
import { reshape, stridedCopy, transpose, transposeLast2Raw } from './shape.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, fmt, numel } from './shapes.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

const up4 = (n: number) => Math.ceil(n / 4) * 4;

/**
 * Lay out x (logical [..xBatch, R, C], stored transposed when `trans`) as a contiguous [batch, R, Cp] block with
 * Cp = C rounded up to 4 (zero padded). Returns x itself when it already is that block.
 */
function operand(x: Tensor, trans: boolean, batch: readonly number[], rows: number, cols: number, what: string): { t: Tensor; shared: boolean } {
  const xb = x.shape.slice(0, -2);
  const shared = numel(xb) === 1;
  const fullBatch = shared ? [] : [...batch];
  const aligned = cols % 4 === 0;
  const batchOk = shared || xb.length === batch.length && xb.every((d, i) => d === batch[i]);
  if (!trans && aligned && batchOk) return { t: x, shared };
  if (trans && batchOk && rows % 4 === 0 && aligned) {
    const t = transposeLast2Raw(x, `matmul ${what} layout ${fmt(x.shape)}ᵀ`);
    if (t) return { t, shared };
  }
  const cp = up4(cols);
  const shape = [...fullBatch, rows, cols];
  const out = aligned ? empty([...fullBatch, rows, cp], what) : zeros([...fullBatch, rows, cp], { label: what });
  // source strides for (batch..., row, col) of the logical (possibly transposed) operand
  const st = contiguousStrides(x.shape);
  const r = x.rank;
  const rowStride = trans ? st[r - 1]! : st[r - 2]!;
  const colStride = trans ? st[r - 2]! : st[r - 1]!;
  const bStrides = shared ? [] : broadcastStrides(xb, fullBatch).map((s) => s * rows * cols);
  const dst = contiguousStrides([...fullBatch, rows, cp]);
  stridedCopy(x, out, shape, [...bStrides, rowStride, colStride], 0, dst, 0, `matmul ${what} layout ${fmt(x.shape)}${trans ? 'ᵀ' : ''}`);
  return { t: out, shared };
}

function matmulRaw(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  live('matmul', a, b);
  if (a.rank < 2 || b.rank < 2) throw new EngineError(`matmul: both operands need rank >= 2, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  const [M, K] = transA ? [a.shape[a.rank - 1]!, a.shape[a.rank - 2]!] : [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [K2, N] = transB ? [b.shape[b.rank - 1]!, b.shape[b.rank - 2]!] : [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  const desc = `${fmt(a.shape)}${transA ? 'ᵀ' : ''} · ${fmt(b.shape)}${transB ? 'ᵀ' : ''}`;
  if (K !== K2) throw new EngineError(`matmul: inner dimensions differ (${K} vs ${K2}) in ${desc}`);
  const batch = broadcastShapes(`matmul ${desc}`, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = numel(batch);
  if (nb > 65535) throw new EngineError(`matmul: batch of ${nb} exceeds 65535 in ${desc}`);
  const A = operand(a, transA, batch, M, K, 'A');
  // B is laid out as [K, N] rows; its K must also be padded to A's padded K.
  const Kp = up4(K);
  let B = operand(b, transB, batch, K, N, 'B');
  if (Kp !== K) {
    // B needs zero rows K..Kp so the padded columns of A multiply zeros.
    const padded = zeros([...(B.shared ? [] : batch), Kp, up4(N)], { label: 'B' });
    stridedCopy(B.t, padded, [B.shared ? 1 : nb, K, up4(N)], [K * up4(N), up4(N), 1], 0, [Kp * up4(N), up4(N), 1], 0, 'matmul B pad K');
    if (B.t !== b) B.t.dispose();
    B = { t: padded, shared: B.shared };
  }
  const Np = up4(N);
  const out = empty([...batch, M, Np], 'matmul');
  const N4 = Np / 4;
  const WG = N4 <= 8 ? 8 : 16;
  // Short K: give each workgroup several column blocks so its fixed cost is amortised (measured on lavapipe).
  let NCOLS = 1;
  while (NCOLS < 8 && (Kp / 4) * NCOLS < 64 && N4 >= WG * NCOLS * 2 * 8) NCOLS *= 2;
  engine().dispatch({
    kernel: 'matmul', entry: 'matmul', constants: { WG, NCOLS },
    params: new Uint32Array([M, N4, Kp / 4, A.shared ? 0 : (M * Kp) / 4, B.shared ? 0 : (Kp * Np) / 4, (M * Np) / 4]),
    buffers: [A.t.buffer, B.t.buffer, out.buffer],
    grid: [Math.ceil(M / 8), Math.ceil(N4 / (WG * NCOLS)), nb],
    label: `matmul ${desc}`,
  });
  if (A.t !== a) A.t.dispose();
  if (B.t !== b) B.t.dispose();
  if (Np === N) return out;
  const y = empty([...batch, M, N], 'matmul');
  stridedCopy(out, y, [nb * M, N], [Np, 1], 0, [N, 1], 0, 'matmul unpad N');
  out.dispose();
  return y;
}

/** op(a) · op(b) over the last two dims, batch dims broadcast (numpy matmul); op = transpose when asked. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const y = matmulRaw(a, b, transA, transB);
  return record(y, 'matmul', [a, b], (g, [x, w], needs) => {
    // dA = g·op(B)ᵀ and dB = op(A)ᵀ·g. Each needs one operand laid out transposed; when that operand is much
    // larger than g (a convolution's im2col columns), compute the transposed product instead and transpose the
    // (small) result: dA = (op(B)·gᵀ)ᵀ, dB = (gᵀ·op(A))ᵀ.
    const plain = !transA && !transB;
    const [M, K, N] = [y.shape[y.rank - 2]!, x!.shape[x!.rank - 1]!, y.shape[y.rank - 1]!];
    const ga = !needs[0] ? null
      : plain && K * N > 2 * (M * N + M * K) ? transpose(matmul(w!, g, { transB: true }))
      : transA ? matmul(w!, g, { transA: transB, transB: true }) : matmul(g, w!, { transB: !transB });
    const gb = !needs[1] ? null
      : plain && M * K > 2 * (M * N + N * K) ? transpose(matmul(g, x!, { transA: true }))
      : transB ? matmul(g, x!, { transA: true, transB: transA }) : matmul(x!, g, { transA: !transA });
    return [ga ? sumTo(ga, x!.shape) : null, gb ? sumTo(gb, w!.shape) : null];
  });
}

/** x · wᵀ + b with x [..., in], w [out, in], b [out] (PyTorch's nn.Linear convention). Composed of matmul and add. */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  live('linear', x, w, ...(b ? [b] : []));
  if (w.rank !== 2) throw new EngineError(`linear: weight must be [out, in], got ${fmt(w.shape)}`);
  const inF = w.shape[1]!;
  if (x.shape[x.rank - 1] !== inF) throw new EngineError(`linear: input ${fmt(x.shape)} does not end in ${inF} features (weight ${fmt(w.shape)})`);
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[0])) throw new EngineError(`linear: bias ${fmt(b.shape)} does not match weight ${fmt(w.shape)}`);
  const x2 = x.rank === 2 ? x : reshape(x, [-1, inF]);
  const y2 = matmul(x2, w, { transB: true });
  const yb = b ? add(y2, b) : y2;
  const y = x.rank === 2 ? yb : reshape(yb, [...x.shape.slice(0, -1), w.shape[0]!]);
  if (x2 !== x) x2.dispose();
  if (yb !== y2) y2.dispose();
  if (y !== yb) yb.dispose();
  return y;
}
