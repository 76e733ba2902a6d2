// Convolution data movement: im2col and its adjoint col2im, for 1-3 spatial dims (2-D runs as D = 1).
//
// A convolution is a matrix product once the input patches are laid out as columns:
//   cols[n, k, p] = x[n, ci, od*SD - PD + kd*DD, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]   (0 outside the input)
// with k = ((ci*KD + kd)*KH + kh)*KW + kw (the weight's own [Ci, KD, KH, KW] order) and p = (od*OH + oh)*OW + ow.
// Then conv(x, w) = w[Co, K] · cols[n, K, P] (kernels/matmul.wgsl) and the transposed convolution is
// col2im(wᵀ · x). Rows k >= K (up to Kp, a multiple of 4 for the matmul) are zero.
//
// col2im is the exact adjoint: out[n, ci, d, h, w] = sum of cols[n, k, p] over every (k, p) that im2col read from
// (n, ci, d, h, w). It gathers (no atomics): for each tap (kd, kh, kw) it checks whether d + PD - kd*DD is a
// non-negative multiple of SD below OD*SD, and so on.
//
// Chunks: one launch covers samples [n0, n0 + nc) and output rows r = od*OH + oh in [r0, r0 + rc), so cols has
// P = rc*OW columns (p = (r - r0)*OW + ow). The host cuts big convolutions into chunks to keep cols within the
// adapter's binding size and every grid axis within 65535.
// Grids (8-lane workgroups, lanes along the innermost spatial axis, ITEMS columns per lane):
//   im2col: x = ceil(OW / (WG*ITEMS)), y = k (Kp rows), z = (n - n0)*rc + (r - r0)
//   col2im: x = ceil(W / (WG*ITEMS)),  y = (n - n0)*C + ci, z = d*H + h

override WG: u32 = 8u;
override ITEMS: u32 = 16u;

struct Params {
  in_size: vec4<u32>,    // D, H, W, C (channels of x for im2col, of the output for col2im)
  out_size: vec4<u32>,   // OD, OH, OW, P = OD*OH*OW
  ksize: vec4<u32>,      // KD, KH, KW, K = C*KD*KH*KW
  stride: vec4<u32>,     // SD, SH, SW, Kp (rows of cols)
  pad: vec4<i32>,        // PD, PH, PW, unused
  dil: vec4<u32>,        // DD, DH, DW, unused
  chunk: vec4<u32>,      // r0, rc, n0, nc
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = wid.y;
  let OH = p.out_size.y;
  let OW = p.out_size.z;
  let rc = p.chunk.y;
  let r = p.chunk.x + wid.z % rc;       // output row od*OH + oh
  let n_local = wid.z / rc;
  let n = p.chunk.z + n_local;
  let oh = r % OH;
  let od = r / OH;
  let KW = p.ksize.z;
  let KH = p.ksize.y;
  let KD = p.ksize.x;
  let kw = k % KW;
  let kh = (k / KW) % KH;
  let kd = (k / (KW * KH)) % KD;
  let ci = k / (KW * KH * KD);
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = i32(p.in_size.z);
  let id = i32(od * p.stride.x + kd * p.dil.x) - p.pad.x;
  let ih = i32(oh * p.stride.y + kh * p.dil.y) - p.pad.y;
  let row_ok = k < p.ksize.w && id >= 0 && id < D && ih >= 0 && ih < H;
  let src_row = ((n * p.in_size.w + ci) * u32(D) + u32(id)) * u32(H) + u32(ih);   // used only when row_ok
  let P = rc * OW;
  let dst_row = (n_local * p.stride.w + k) * P + (r - p.chunk.x) * OW;
  let base = wid.x * WG * ITEMS + lid;
  for (var t = 0u; t < ITEMS; t++) {
    let ow = base + t * WG;
    if (ow >= OW) { break; }
    let iw = i32(ow * p.stride.z + kw * p.dil.z) - p.pad.z;
    var v = 0.0;
    if (row_ok && iw >= 0 && iw < W) { v = src[src_row * u32(W) + u32(iw)]; }
    dst[dst_row + ow] = v;
  }
}

@compute @workgroup_size(WG)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.in_size.w;
  let n_local = wid.y / C;
  let n = p.chunk.z + n_local;
  let ci = wid.y % C;
  let H = p.in_size.y;
  let W = p.in_size.z;
  let h = wid.z % H;
  let d = wid.z / H;
  let OD = i32(p.out_size.x);
  let OH = i32(p.out_size.y);
  let OW = i32(p.out_size.z);
  let r0 = i32(p.chunk.x);
  let r1 = r0 + i32(p.chunk.y);
  let S = vec3<i32>(p.stride.xyz);
  let P = p.chunk.y * p.out_size.z;
  let cols_n = n_local * p.stride.w * P;
  let base = wid.x * WG * ITEMS + lid;
  for (var t = 0u; t < ITEMS; t++) {
    let w = base + t * WG;
    if (w >= W) { break; }
    var acc = 0.0;
    for (var kd = 0u; kd < p.ksize.x; kd++) {
      let td = i32(d) + p.pad.x - i32(kd * p.dil.x);
      if (td < 0 || td % S.x != 0 || td / S.x >= OD) { continue; }
      for (var kh = 0u; kh < p.ksize.y; kh++) {
        let th = i32(h) + p.pad.y - i32(kh * p.dil.y);
        if (th < 0 || th % S.y != 0 || th / S.y >= OH) { continue; }
        let r = (td / S.x) * OH + th / S.y;          // output row this tap came from
        if (r < r0 || r >= r1) { continue; }
        let krow = ((ci * p.ksize.x + kd) * p.ksize.y + kh) * p.ksize.z;
        let prow = u32(r - r0) * u32(OW);
        for (var kw = 0u; kw < p.ksize.z; kw++) {
          let tw = i32(w) + p.pad.z - i32(kw * p.dil.z);
          if (tw < 0 || tw % S.z != 0 || tw / S.z >= OW) { continue; }
          acc += src[cols_n + (krow + kw) * P + prow + u32(tw / S.z)];
        }
      }
    }
    dst[((n_local * C + ci) * p.in_size.x + d) * H * W + h * W + w] = acc;
  }
}
