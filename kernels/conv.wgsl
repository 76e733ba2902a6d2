// Convolution data movement: im2col and its adjoint col2im, for 1-3 spatial dims (2-D runs as D = 1).
//
// A convolution is a matrix product once the input patches are laid out as columns:
//   cols[n, k, p] = x[n, ci, od*SD - PD + kd*DD, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]   (0 outside the input)
// with k = ((ci*KD + kd)*KH + kh)*KW + kw (the weight's own [Ci, KD, KH, KW] order; TAP_RING: another order, below)
// and p = (od*OH + oh)*OW + ow.
// Then conv(x, w) = w[Co, K] · cols[n, K, P] (kernels/matmul.wgsl) and the transposed convolution is
// col2im(wᵀ · x). Rows k >= K (up to Kp, a multiple of 4 for the matmul) are zero.
//
// col2im is the exact adjoint: out[n, ci, d, h, w] = sum of cols[n, k, p] over every (k, p) that im2col read from
// (n, ci, d, h, w). It gathers (no atomics): for each tap (kd, kh, kw) it checks whether d + PD - kd*DD is a
// non-negative multiple of SD below OD*SD, and so on.
//
// im2col can leave a gap after each row of cols (a row pitch, p.rows.y): a matmul reading cols as its B operand runs
// faster when B's rows are not a multiple of 2-4 KiB apart (kernels/matmul.wgsl).
//
// Chunks: one launch covers samples [n0, n0 + nc) and output rows r = od*OH + oh in [r0, r0 + rc), so cols has
// P = rc*OW columns (p = (r - r0)*OW + ow). The host cuts big convolutions into chunks to keep cols within the
// adapter's binding size.
//
// Shaped for lavapipe: 8-lane workgroups whose lanes run along the innermost spatial axis (consecutive addresses);
// each workgroup walks many rows, so the per-workgroup cost is paid once per plane, not once per row; strides and
// dilations are pipeline constants (SD.. / DD..), so the divisions of col2im become shifts or vanish.
// Grids:
//   im2col: x = ceil(OW / (WG*ITEMS)), y = k (Kp rows), z = n - n0; loops over the chunk's output rows
//   col2im: x = ceil(W / (WG*ITEMS)),  y = ci, z = n - n0;     loops over the input rows (d, h)

override WG: u32 = 8u;
override ITEMS: u32 = 16u;
override SD: i32 = 1;
override SH: i32 = 1;
override SW: i32 = 1;
override DD: i32 = 1;
override DH: i32 = 1;
override DW: i32 = 1;
// im2col only: the rows of a 2x2 window in the tap-major "ring" order of col_row, whose blocks of C rows each of the
// four sub-pixel phases of a k3 s2 transposed convolution reads as one contiguous run (src/ops/conv.ts)
override TAP_RING: bool = false;

struct Params {
  in_size: vec4<u32>,    // D, H, W, C (channels of x for im2col, of the output for col2im)
  out_size: vec4<u32>,   // OD, OH, OW, P = OD*OH*OW
  ksize: vec4<u32>,      // KD, KH, KW, K = C*KD*KH*KW
  rows: vec4<u32>,       // Kp (rows of cols), im2col's row pitch of cols (0: the chunk's rc·OW columns, packed), unused...
  pad: vec4<i32>,        // PD, PH, PW, unused
  chunk: vec4<u32>,      // r0, rc, n0, nc
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// The column-matrix row k of sample n: its tap (kd, kh, kw), the first input row of its (n, ci) plane, and whether
// k is a real row (rows K..Kp are zero).
struct ColRow { kd: i32, kh: i32, kw: i32, plane: u32, live: bool }

fn col_row(k: u32, n: u32) -> ColRow {
  let KW = p.ksize.z;
  let KH = p.ksize.y;
  let KD = p.ksize.x;
  if (TAP_RING) {
    // a 2x2 window (KD = 1), tap-major: block t = k / C holds tap (kh, kw) = (0,1), (0,0), (1,0), (1,1) for t = 0..3
    let C = p.in_size.w;
    let t = k / C;
    let kh = t >> 1u;
    return ColRow(0, i32(kh), i32((t & 1u) ^ (1u - kh)), (n * C + k % C) * p.in_size.x, k < p.ksize.w);
  }
  let ci = k / (KW * KH * KD);
  return ColRow(i32((k / (KW * KH)) % KD), i32((k / KW) % KH), i32(k % KW), (n * p.in_size.w + ci) * p.in_size.x, k < p.ksize.w);
}

// Where output row r (= od·OH + oh) of column-matrix row c reads x: the input row's first element, and whether that
// row lies inside x (else every tap of the row is 0).
struct SrcRow { base: u32, ok: bool }

fn src_row(c: ColRow, r: u32) -> SrcRow {
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let od = i32(r / p.out_size.y);
  let oh = i32(r % p.out_size.y);
  let id = od * SD - p.pad.x + c.kd * DD;
  let ih = oh * SH - p.pad.y + c.kh * DH;
  let ok = c.live && id >= 0 && id < D && ih >= 0 && ih < H;
  return SrcRow(((c.plane + u32(max(id, 0))) * u32(H) + u32(max(ih, 0))) * p.in_size.z, ok);
}

@compute @workgroup_size(WG)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = wid.y;
  let n_local = wid.z;
  let c = col_row(k, p.chunk.z + n_local);
  let OW = p.out_size.z;
  let W = i32(p.in_size.z);
  let out0 = (n_local * p.rows.x + k) * select(p.chunk.y * OW, p.rows.y, p.rows.y != 0u);
  let col0 = wid.x * WG * ITEMS + lid;
  for (var rr = 0u; rr < p.chunk.y; rr++) {
    let sr = src_row(c, p.chunk.x + rr);
    let dst_row = out0 + rr * OW;
    for (var t = 0u; t < ITEMS; t++) {
      let ow = col0 + t * WG;
      if (ow >= OW) { break; }
      let iw = i32(ow) * SW - p.pad.z + c.kw * DW;
      var v = 0.0;
      if (sr.ok && iw >= 0 && iw < W) { v = src[sr.base + u32(iw)]; }
      dst[dst_row + ow] = v;
    }
  }
}

// im2col for rows of OW % 4 == 0 columns: a lane's unit is a quad of 4 consecutive output columns, stored as one vec4
// (lavapipe charges a per-lane scalar store about what it charges a vec4 one). Grid x = ceil(OW / (4·WG·ITEMS)).
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn im2col4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = wid.y;
  let n_local = wid.z;
  let c = col_row(k, p.chunk.z + n_local);
  let OW = p.out_size.z;
  let W = i32(p.in_size.z);
  let out0 = (n_local * p.rows.x + k) * select(p.chunk.y * OW, p.rows.y, p.rows.y != 0u);
  let q0 = wid.x * WG * ITEMS + lid;
  for (var rr = 0u; rr < p.chunk.y; rr++) {
    let sr = src_row(c, p.chunk.x + rr);
    let dst_row = out0 + rr * OW;
    for (var t = 0u; t < ITEMS; t++) {
      let ow = 4u * (q0 + t * WG);
      if (ow >= OW) { break; }
      let iw = vec4<i32>(i32(ow) * SW - p.pad.z + c.kw * DW) + vec4<i32>(0, 1, 2, 3) * SW;
      let ok = vec4<bool>(sr.ok) & (iw >= vec4<i32>(0)) & (iw < vec4<i32>(W));
      // taps outside x are read at a safe address (the buffer's first row when the row is outside) and masked
      let at = vec4<u32>(clamp(iw, vec4<i32>(0), vec4<i32>(W - 1))) + vec4<u32>(select(0u, sr.base, sr.ok));
      let v = vec4<f32>(src[at.x], src[at.y], src[at.z], src[at.w]);
      dst4[(dst_row + ow) / 4u] = select(vec4<f32>(0.0), v, ok);
    }
  }
}

// Output index t/S along a dim when tap t lands on the output grid (t >= 0, t % S == 0, t/S < n), else -1.
fn on_grid(t: i32, s: i32, n: i32) -> i32 {
  if (t < 0 || t % s != 0) { return -1; }
  let q = t / s;
  return select(-1, q, q < n);
}

@compute @workgroup_size(WG)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.in_size.w;
  let ci = wid.y;
  let n_local = wid.z;
  let n = p.chunk.z + n_local;
  let D = p.in_size.x;
  let H = p.in_size.y;
  let W = p.in_size.z;
  let OD = i32(p.out_size.x);
  let OH = i32(p.out_size.y);
  let OW = i32(p.out_size.z);
  let r0 = i32(p.chunk.x);
  let r1 = r0 + i32(p.chunk.y);
  let P = p.chunk.y * p.out_size.z;
  let cols_n = n_local * p.rows.x * P;
  let col0 = wid.x * WG * ITEMS + lid;
  for (var d = 0u; d < D; d++) {
    for (var h = 0u; h < H; h++) {
      let out_row = ((n_local * C + ci) * D + d) * H * W + h * W;
      for (var t = 0u; t < ITEMS; t++) {
        let w = col0 + t * WG;
        if (w >= W) { break; }
        var acc = 0.0;
        // Without dilation only every S-th tap can land on the output grid: start at the one that does.
        let kd0 = select(0u, u32(i32(d) + p.pad.x) % u32(SD), DD == 1);
        let kh0 = select(0u, u32(i32(h) + p.pad.y) % u32(SH), DH == 1);
        let kw0 = select(0u, u32(i32(w) + p.pad.z) % u32(SW), DW == 1);
        let sd = select(1u, u32(SD), DD == 1);
        let sh = select(1u, u32(SH), DH == 1);
        let sw = select(1u, u32(SW), DW == 1);
        for (var kd = kd0; kd < p.ksize.x; kd += sd) {
          let od = on_grid(i32(d) + p.pad.x - i32(kd) * DD, SD, OD);
          if (od < 0) { continue; }
          for (var kh = kh0; kh < p.ksize.y; kh += sh) {
            let oh = on_grid(i32(h) + p.pad.y - i32(kh) * DH, SH, OH);
            let r = od * OH + oh;                     // output row this tap came from
            if (oh < 0 || r < r0 || r >= r1) { continue; }
            let krow = ((ci * p.ksize.x + kd) * p.ksize.y + kh) * p.ksize.z;
            let prow = u32(r - r0) * u32(OW);
            for (var kw = kw0; kw < p.ksize.z; kw += sw) {
              let ow = on_grid(i32(w) + p.pad.z - i32(kw) * DW, SW, OW);
              if (ow >= 0) { acc += src[cols_n + (krow + kw) * P + prow + u32(ow)]; }
            }
          }
        }
        dst[out_row + w] = acc;
      }
    }
  }
}
