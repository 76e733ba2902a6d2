// Batched matrix multiply   C[z] = A[z] · B[z]    A: M×K, B: K×N, C: M×N, all row-major.
// The host guarantees K % 4 == 0 and N % 4 == 0 (it zero-pads otherwise) and materialises a transposed A (a
// transposed B is read in place where its rows are a multiple of 4 long: TRANS_B), so this file holds the whole
// arithmetic of every matmul the engine runs.
//
// Shaped for how lavapipe (Mesa's CPU Vulkan driver) executes compute shaders — invocations are the lanes of an
// 8-wide SIMD vector:
//   * each invocation owns one vec4 column group of B and C for TM = 8 rows, so it keeps 8 vec4 accumulators in
//     registers and every B vec4 it loads feeds 32 fused multiply-adds;
//   * B is read as one vec4 per lane per k: consecutive lanes read consecutive 16-byte blocks;
//   * A is the operand every lane needs at the same time. Measured on lavapipe, per-lane loads of a common address
//     cost as much as divergent loads, so with subgroups (#if SUBGROUPS) lane l loads ONE vec4 of A — row m0 + l % 8,
//     k..k+3 — and subgroupBroadcast hands each row to every lane (a register shuffle). Without subgroups every lane
//     loads the A values itself.
//   * workgroups are small (WG lanes) and the grid walks M first (x) and N second (y): the workgroups that one CPU
//     thread runs back to back reuse the same K × 4·WG slab of B from cache.
//   * B's rows may be further apart than N (ldb4 > N4): a lane walks down a K × 4 column slab of B, and when the row
//     pitch is a multiple of 2-4 KiB every row of the slab falls into the same few cache sets, so the slab thrashes
//     the caches (measured on lavapipe: 96x384x4096 19.5 GFLOP/s, the same B at a pitch of 4104 floats 23.2; 2048³
//     26.7 vs 28.7 at 2064). Producers that can write B at any pitch (im2col) use N + 16 (matmulPitch in
//     src/ops/matmul.ts); copying B just to re-pitch it cost as much as it saved in a PWC-Lite training step.
//     A's rows may likewise be lda4 apart (the same pitched patches as A of a convolution's weight gradient).
// Classic shared-memory tiling measured about 2x slower on lavapipe (barriers are coroutine switches there).
//
// B may also be stored transposed (TRANS_B: as Bᵀ [N, K], rows ldb4 vec4s apart — a Winograd weight gradient's
// dM · Vᵀ): the lane then loads rows 4·col..4·col+3 of Bᵀ at k..k+3 — the same 4 vec4 loads a step — and transposes
// the 4x4 block in registers, instead of the host copying Bᵀ out first (rows past N are clamped, as rows past M).
// Grid: x = ceil(M / 8), y = ceil(N / 4 / (WG * NCOLS)), z = batch. Rows past M are clamped on load and never stored.
// Specialisation: WG (lanes per workgroup), NCOLS (column blocks each workgroup does one after the other: with a short
// K a workgroup's work is small, and its fixed cost would dominate), TRANS_B. Template flag: SUBGROUPS (device has
// the `subgroups` feature).
#if SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 16u;
override NCOLS: u32 = 1u;
override TRANS_B: bool = false;

struct Params {
  M: u32,
  N4: u32,        // N / 4
  K4: u32,        // K / 4
  a_batch: u32,   // vec4s between batches of A (0: A is shared by every batch)
  b_batch: u32,   // vec4s between batches of B (0: shared)
  c_batch: u32,   // vec4s between batches of C
  ldb4: u32,      // vec4s between rows of B (N4, or more: see above); of Bᵀ with TRANS_B (K4, or more)
  lda4: u32,      // vec4s between rows of A (K4, or more)
  nrows: u32,     // TRANS_B: N, the rows of Bᵀ (the last column block's rows past it are clamped)
  b_off: u32,     // vec4s before B's first row in its buffer (a block of rows of a larger matrix: the sub-pixel
                  // transposed convolution's phases read their rows of one shared patch matrix)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;

// acc_r += A[m0 + r, k..k+3] · B[k..k+3, cols]  for one row r, written out so that a reader sees every FMA.
fn fma4(acc: vec4<f32>, av: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(av.w), b3, fma(vec4<f32>(av.z), b2, fma(vec4<f32>(av.y), b1, fma(vec4<f32>(av.x), b0, acc))));
}

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32
#if SUBGROUPS
          , @builtin(subgroup_invocation_id) lane: u32
#endif
) {
  let m0 = wid.x * 8u;
  let a0 = wid.z * p.a_batch;
  let last = p.M - 1u;
#if SUBGROUPS
  let my_row = a0 + min(m0 + (lane & 7u), last) * p.lda4;
#else
  let r0 = a0 + min(m0, last) * p.lda4;
  let r1 = a0 + min(m0 + 1u, last) * p.lda4;
  let r2 = a0 + min(m0 + 2u, last) * p.lda4;
  let r3 = a0 + min(m0 + 3u, last) * p.lda4;
  let r4 = a0 + min(m0 + 4u, last) * p.lda4;
  let r5 = a0 + min(m0 + 5u, last) * p.lda4;
  let r6 = a0 + min(m0 + 6u, last) * p.lda4;
  let r7 = a0 + min(m0 + 7u, last) * p.lda4;
#endif
  for (var blk = 0u; blk < NCOLS; blk++) {
    let col = (wid.y * NCOLS + blk) * WG + lid;
    let colc = min(col, p.N4 - 1u);   // lanes past N compute a clamped duplicate and store nothing
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0); var c5 = vec4<f32>(0.0); var c6 = vec4<f32>(0.0); var c7 = vec4<f32>(0.0);
    var bi = p.b_off + wid.z * p.b_batch + colc;
    // TRANS_B: the first vec4 of rows 4·colc .. 4·colc + 3 of Bᵀ (clamped to its last row)
    let bt0 = p.b_off + wid.z * p.b_batch + min(4u * colc, p.nrows - 1u) * p.ldb4;
    let bt1 = p.b_off + wid.z * p.b_batch + min(4u * colc + 1u, p.nrows - 1u) * p.ldb4;
    let bt2 = p.b_off + wid.z * p.b_batch + min(4u * colc + 2u, p.nrows - 1u) * p.ldb4;
    let bt3 = p.b_off + wid.z * p.b_batch + min(4u * colc + 3u, p.nrows - 1u) * p.ldb4;
    for (var k4 = 0u; k4 < p.K4; k4++) {
      var b0: vec4<f32>;
      var b1: vec4<f32>;
      var b2: vec4<f32>;
      var b3: vec4<f32>;
      if (TRANS_B) {
        let r0 = b[bt0 + k4];
        let r1 = b[bt1 + k4];
        let r2 = b[bt2 + k4];
        let r3 = b[bt3 + k4];
        b0 = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        b1 = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        b2 = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
        b3 = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
      } else {
        b0 = b[bi];
        b1 = b[bi + p.ldb4];
        b2 = b[bi + 2u * p.ldb4];
        b3 = b[bi + 3u * p.ldb4];
      }
#if SUBGROUPS
      let av = a[my_row + k4];
      c0 = fma4(c0, subgroupBroadcast(av, 0u), b0, b1, b2, b3);
      c1 = fma4(c1, subgroupBroadcast(av, 1u), b0, b1, b2, b3);
      c2 = fma4(c2, subgroupBroadcast(av, 2u), b0, b1, b2, b3);
      c3 = fma4(c3, subgroupBroadcast(av, 3u), b0, b1, b2, b3);
      c4 = fma4(c4, subgroupBroadcast(av, 4u), b0, b1, b2, b3);
      c5 = fma4(c5, subgroupBroadcast(av, 5u), b0, b1, b2, b3);
      c6 = fma4(c6, subgroupBroadcast(av, 6u), b0, b1, b2, b3);
      c7 = fma4(c7, subgroupBroadcast(av, 7u), b0, b1, b2, b3);
#else
      c0 = fma4(c0, a[r0 + k4], b0, b1, b2, b3);
      c1 = fma4(c1, a[r1 + k4], b0, b1, b2, b3);
      c2 = fma4(c2, a[r2 + k4], b0, b1, b2, b3);
      c3 = fma4(c3, a[r3 + k4], b0, b1, b2, b3);
      c4 = fma4(c4, a[r4 + k4], b0, b1, b2, b3);
      c5 = fma4(c5, a[r5 + k4], b0, b1, b2, b3);
      c6 = fma4(c6, a[r6 + k4], b0, b1, b2, b3);
      c7 = fma4(c7, a[r7 + k4], b0, b1, b2, b3);
#endif
      bi += 4u * p.ldb4;
    }
    if (col < p.N4) {
      let ci = wid.z * p.c_batch + m0 * p.N4 + col;
      c[ci] = c0;
      if (m0 + 1u < p.M) { c[ci + p.N4] = c1; }
      if (m0 + 2u < p.M) { c[ci + 2u * p.N4] = c2; }
      if (m0 + 3u < p.M) { c[ci + 3u * p.N4] = c3; }
      if (m0 + 4u < p.M) { c[ci + 4u * p.N4] = c4; }
      if (m0 + 5u < p.M) { c[ci + 5u * p.N4] = c5; }
      if (m0 + 6u < p.M) { c[ci + 6u * p.N4] = c6; }
      if (m0 + 7u < p.M) { c[ci + 7u * p.N4] = c7; }
    }
  }
}

// matmul_rows: the same product for a narrow B (N4 = N / 4 small: Winograd's per-tile products of one small map, a
// matrix times a few vectors). The kernel above gives each lane a column block, so with N4 = 1 seven of its 8 lanes
// compute discarded duplicates; here lane l of workgroup x owns rows m0 = (x·WG + l)·8 .. m0 + 7 of one vec4 column
// block (grid y), so every lane does useful work. Each lane loads its 8 rows of A (its own addresses) and the 4 B
// vec4s of the step (one address for all lanes) per k step: 12 loads for 32 vec4 FMAs.
// Grid: x = ceil(M / (8·WG)), y = N4, z = batch.
@compute @workgroup_size(WG)
fn matmul_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = (wid.x * WG + lid) * 8u;
  let col = wid.y;
  var row: array<u32, 8>;   // the first vec4 of each of the lane's rows of A (rows past M clamped to the last)
  var acc: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) {
    row[i] = wid.z * p.a_batch + min(m0 + i, p.M - 1u) * p.lda4;
    acc[i] = vec4<f32>(0.0);
  }
  var bi = p.b_off + wid.z * p.b_batch + col;
  for (var k4 = 0u; k4 < p.K4; k4++) {
    let b0 = b[bi];
    let b1 = b[bi + p.ldb4];
    let b2 = b[bi + 2u * p.ldb4];
    let b3 = b[bi + 3u * p.ldb4];
    for (var i = 0u; i < 8u; i++) { acc[i] = fma4(acc[i], a[row[i] + k4], b0, b1, b2, b3); }
    bi += 4u * p.ldb4;
  }
  let ci = wid.z * p.c_batch + m0 * p.N4 + col;
  for (var i = 0u; i < 8u; i++) {
    if (m0 + i < p.M) { c[ci + i * p.N4] = acc[i]; }
  }
}
