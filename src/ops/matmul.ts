// Batched matmul (numpy semantics, optional transposes) and linear. Kernel: kernels/matmul.wgsl.
//
// The kernel wants row-major A [M, K] and B [K, N] with K and N multiples of 4. Operands that are transposed,
// unaligned, or broadcast over part of the batch are first copied into that layout (one strided copy, O(size)),
// which is small next to the O(M·N·K) product for the shapes where speed matters — except a transposed B stored as
// [.., N, K] with K % 4 == 0, which the kernel reads in place (TRANS_B: a Winograd weight gradient's dM · Vᵀ).

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
  const Np = up4(N);
  // A transposed B stored as [.., N, K] with K % 4 == 0 is read in place by the kernel (TRANS_B), not copied out
  const bBatch = b.shape.slice(0, -2);
  const bShared = numel(bBatch) === 1;
  const inPlaceT = transB && K % 4 === 0 && (bShared || (bBatch.length === batch.length && bBatch.every((d, i) => d === batch[i]))) &&
    !narrow(M, Np) && matmulInternals.transBInPlace;
  if (inPlaceT) {
    const out = launch(A.t, A.shared, b, bShared, { M, Kp, Np, nb, batch, ldb: K, transB: N }, desc);
    if (A.t !== a) A.t.dispose();
    return unpad(out, batch, M, N, Np);
  }
  let B = operand(b, transB, batch, K, N, 'B');
  if (Kp !== K) {
    // B needs zero rows K..Kp so the padded columns of A multiply zeros.
    const padded = zeros([...(B.shared ? [] : batch), Kp, Np], { label: 'B' });
    stridedCopy(B.t, padded, [B.shared ? 1 : nb, K, Np], [K * Np, Np, 1], 0, [Kp * Np, Np, 1], 0, 'matmul B pad K');
    if (B.t !== b) B.t.dispose();
    B = { t: padded, shared: B.shared };
  }
  const out = launch(A.t, A.shared, B.t, B.shared, { M, Kp, Np, nb, batch }, desc);
  if (A.t !== a) A.t.dispose();
  if (B.t !== b) B.t.dispose();
  return unpad(out, batch, M, N, Np);
}

/** C [...batch, M, Np] cut to its N real columns. */
function unpad(out: Tensor, batch: readonly number[], M: number, N: number, Np: number): Tensor {
  if (Np === N) return out;
  const y = empty([...batch, M, N], 'matmul');
  stridedCopy(out, y, [numel(batch) * M, N], [Np, 1], 0, [N, 1], 0, 'matmul unpad N');
  out.dispose();
  return y;
}

/**
 * @internal probe / test hooks: the widest B (in vec4 columns) that goes to matmul_rows; whether a transposed B
 * whose rows are a multiple of 4 long is read in place (TRANS_B) rather than copied out first.
 */
export const matmulInternals = { rowsMaxN4: 2, transBInPlace: true };

/** Whether a product goes to matmul_rows (lanes over row blocks of a narrow B). */
const narrow = (M: number, Np: number) => Np / 4 <= matmulInternals.rowsMaxN4 && M >= 16;

interface Launch {
  M: number; Kp: number; Np: number; nb: number; batch: readonly number[]; lda?: number; ldb?: number;
  /** B is rows bRow .. bRow + Kp of a matrix of bRowsTotal rows (default 0 and Kp) per batch */
  bRow?: number;
  bRowsTotal?: number;
  /** B is stored transposed, as Bᵀ [N, Kp] with rows ldb apart; the value is N (not for narrow products) */
  transB?: number;
}

/**
 * The kernel launch: A [M, Kp] per batch (or shared), rows lda apart (default Kp); B [Kp, Np] per batch (or shared),
 * rows ldb apart (default Np; the columns past Np are never read) — or, with transB, Bᵀ [N, Kp] with rows ldb apart.
 * Returns C [...batch, M, Np].
 */
function launch(A: Tensor, aShared: boolean, B: Tensor, bShared: boolean, s: Launch, desc: string): Tensor {
  const { M, Kp, Np, nb } = s;
  const lda = s.lda ?? Kp;
  const ldb = s.ldb ?? Np;
  const out = empty([...s.batch, M, Np], 'matmul');
  const N4 = Np / 4;
  const bBatch = s.transB !== undefined ? s.transB * ldb : (s.bRowsTotal ?? Kp) * ldb;
  const params = new Uint32Array([M, N4, Kp / 4, aShared ? 0 : (M * lda) / 4, bShared ? 0 : bBatch / 4, (M * Np) / 4, ldb / 4, lda / 4, s.transB ?? 0, ((s.bRow ?? 0) * ldb) / 4, 0, 0]);
  if (narrow(M, Np)) {
    if (s.transB !== undefined) throw new EngineError(`matmul: internal error, a narrow product with B transposed in place (${desc})`);
    // narrow B: lanes over row blocks (matmul_rows), so no lane computes a discarded duplicate column
    engine().dispatch({
      kernel: 'matmul', entry: 'matmul_rows', constants: { WG: 8 }, params, buffers: [A.buffer, B.buffer, out.buffer],
      grid: [Math.ceil(M / 64), N4, nb], label: `matmul ${desc}`,
    });
    return out;
  }
  const WG = N4 <= 8 ? 8 : 16;
  // Short K: give each workgroup several column blocks so its fixed cost is amortised (measured on lavapipe).
  let NCOLS = 1;
  while (NCOLS < 8 && (Kp / 4) * NCOLS < 64 && N4 >= WG * NCOLS * 2 * 8) NCOLS *= 2;
  engine().dispatch({
    kernel: 'matmul', entry: 'matmul', constants: { WG, NCOLS, ...(s.transB !== undefined ? { TRANS_B: 1 } : {}) }, params,
    buffers: [A.buffer, B.buffer, out.buffer], grid: [Math.ceil(M / 8), Math.ceil(N4 / (WG * NCOLS)), nb],
    label: `matmul ${desc}`,
  });
  return out;
}

/**
 * Row pitch (floats) for a [K, n] matrix that will be a matmul's B operand: n + 16 when n is a multiple of 512
 * (a pitch of a multiple of 2 KiB makes the kernel's K × 4 column slab thrash the caches, kernels/matmul.wgsl),
 * else n. Producers that can write rows at any pitch (im2col) use it, then call matmulPitched.
 */
export function matmulPitch(n: number): number {
  return n % 512 === 0 ? n + 16 : n;
}

/**
 * a · b for operands stored with row pitches: a [..., M, lda] read as [..., M, k] and b [..., k, ldb] read as
 * [..., k, n] (k = b's rows, or the block `bRows` = [first row, k] of them; n given, default ldb); rank 2 means shared
 * by every batch, rank 3 is [nb, rows, pitch].
 * k, n and both pitches must be multiples of 4. Returns [nb, M, n] (or [M, n]). Not differentiable: for ops that
 * record their own backward rule.
 */
export function matmulPitched(a: Tensor, b: Tensor, n = b.shape[b.rank - 1]!, bRows?: readonly [number, number]): Tensor {
  live('matmul', a, b);
  const [M, lda] = a.shape.slice(-2) as [number, number];
  const [rowsB, ldb] = b.shape.slice(-2) as [number, number];
  const [row0, k] = bRows ?? [0, rowsB];
  if (row0 < 0 || row0 % 4 !== 0 || row0 + k > rowsB) throw new EngineError(`matmulPitched: rows ${row0}+${k} of b ${fmt(b.shape)} are not a block of its rows starting at a multiple of 4`);
  const nbA = a.rank === 3 ? a.shape[0]! : 1;
  const nbB = b.rank === 3 ? b.shape[0]! : 1;
  const nb = Math.max(nbA, nbB);
  const desc = `${fmt(a.shape)} · ${fmt(b.shape)} as k ${k}, n ${n}`;
  if (a.rank < 2 || a.rank > 3 || b.rank < 2 || b.rank > 3 || (nbA !== nb && a.rank === 3) || (nbB !== nb && b.rank === 3) ||
      k > lda || n > ldb || [k, n, lda, ldb].some((v) => v % 4 !== 0) || nb > 65535) {
    throw new EngineError(`matmulPitched: needs a [(nb,) M, lda >= k] and b [(nb,) k, ldb >= n] with k, n and the pitches multiples of 4, got ${desc}`);
  }
  return launch(a, a.rank === 2, b, b.rank === 2, { M, Kp: k, Np: n, nb, batch: a.rank === 3 || b.rank === 3 ? [nb] : [], lda, ldb, bRow: row0, bRowsTotal: rowsB }, desc);
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
