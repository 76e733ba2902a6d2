// Bilinear resizing (PyTorch F.interpolate(mode='bilinear'), FLOW.md §5) and its exact adjoint.
//
// Along each axis (input size n, output size n'), output index j reads the input coordinate
//   s(j) = max(a·j + b, 0),   align_corners true:  a = (n-1)/(n'-1) (0 when n' = 1), b = 0
//                             align_corners false: a = n/n', b = a/2 - 1/2
// with taps i0 = min(floor(s), n-1), i1 = min(i0+1, n-1) and weights (1-λ, λ), λ = s - i0. The 2-D resize is the
// product of the two axes' weights:
//   resize:         out[pl, jy, jx] = Σ wy(iy, jy) · wx(ix, jx) · x[pl, iy, ix]
//   resize_adjoint: gx[pl, iy, ix]  = Σ wy(iy, jy) · wx(ix, jx) · g[pl, jy, jx]      (a gather, no atomics)
// where w(i, j) = (i0(j) == i ? 1-λ(j) : 0) + (i1(j) == i ? λ(j) : 0). Since s is increasing in j, the outputs j
// that touch input i have s(j) ∈ [i-1, i+1), i.e. j ∈ [(i-1-b)/a, (i+1-b)/a); the adjoint scans that range widened
// by one on each side and re-evaluates the forward's own tap formula for each candidate, so it is the exact
// transpose of the forward kernel (a = 0: every j is a candidate). Per input pixel that is about
// (n'/n + 3)² candidates: O(1) for downsampling, the upsampling factor squared for upsampling.
// Planes pl = n·C + c of [N, C, ·, ·] tensors are independent.
//
// Bindings: 1 src (x for resize, g for resize_adjoint), 2 dst.
// Grid (8-lane workgroups, lanes along the row, ITEMS outputs per lane at wid.x*WG*ITEMS + lid + t*WG):
//   resize:         x = ceil(OW / (WG*ITEMS)), y = OH (output row), z = planes in this launch (from plane0)
//   resize_adjoint: x = ceil(W  / (WG*ITEMS)), y = H  (input row),  z = planes in this launch

override WG: u32 = 8u;
override ITEMS: u32 = 8u;

struct Params {
  size: vec4<u32>,   // H, W (input), OH, OW (output)
  ay: vec4<f32>,     // y axis: a, b, 1/a (0 when a = 0), unused
  ax: vec4<f32>,     // x axis: a, b, 1/a, unused
  plane0: u32,       // first plane of this launch
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

struct Tap {
  i0: u32,
  i1: u32,
  lam: f32,
}

// The forward's taps of output index j on an axis with coefficients ab = (a, b) and n input samples.
fn tap(j: u32, ab: vec4<f32>, n: u32) -> Tap {
  let s = max(ab.x * f32(j) + ab.y, 0.0);
  let i0 = min(u32(s), n - 1u);            // s >= 0, so u32() is floor()
  let i1 = min(i0 + 1u, n - 1u);
  return Tap(i0, i1, s - f32(i0));
}

// Weight of input index i in output j's interpolation.
fn weight(i: u32, t: Tap) -> f32 {
  return select(0.0, 1.0 - t.lam, t.i0 == i) + select(0.0, t.lam, t.i1 == i);
}

// Candidate outputs [lo, hi] (inclusive) that may read input index i; nout outputs on the axis.
fn candidates(i: u32, ab: vec4<f32>, nout: u32) -> vec2<u32> {
  if (ab.x == 0.0) { return vec2<u32>(0u, nout - 1u); }
  let lo = floor((f32(i) - 1.0 - ab.y) * ab.z) - 1.0;
  let hi = ceil((f32(i) + 1.0 - ab.y) * ab.z) + 1.0;
  return vec2<u32>(u32(max(lo, 0.0)), u32(clamp(hi, 0.0, f32(nout - 1u))));
}

@compute @workgroup_size(WG)
fn resize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let H = p.size.x;
  let W = p.size.y;
  let OH = p.size.z;
  let OW = p.size.w;
  let plane = p.plane0 + wid.z;
  let jy = wid.y;
  let ty = tap(jy, p.ay, H);
  let r0 = (plane * H + ty.i0) * W;
  let r1 = (plane * H + ty.i1) * W;
  let out_row = (plane * OH + jy) * OW;
  let first = wid.x * WG * ITEMS + lid;
  for (var it = 0u; it < ITEMS; it++) {
    let jx = first + it * WG;
    if (jx >= OW) { break; }
    let tx = tap(jx, p.ax, W);
    let top = mix(src[r0 + tx.i0], src[r0 + tx.i1], tx.lam);
    let bot = mix(src[r1 + tx.i0], src[r1 + tx.i1], tx.lam);
    dst[out_row + jx] = mix(top, bot, ty.lam);
  }
}

@compute @workgroup_size(WG)
fn resize_adjoint(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let H = p.size.x;
  let W = p.size.y;
  let OH = p.size.z;
  let OW = p.size.w;
  let plane = p.plane0 + wid.z;
  let iy = wid.y;
  let ry = candidates(iy, p.ay, OH);
  let g_plane = plane * OH * OW;
  let out_row = (plane * H + iy) * W;
  let first = wid.x * WG * ITEMS + lid;
  for (var it = 0u; it < ITEMS; it++) {
    let ix = first + it * WG;
    if (ix >= W) { break; }
    let rx = candidates(ix, p.ax, OW);
    var total = 0.0;
    for (var jy = ry.x; jy <= ry.y; jy++) {
      let wy = weight(iy, tap(jy, p.ay, H));
      if (wy == 0.0) { continue; }
      let row = g_plane + jy * OW;
      var s = 0.0;
      for (var jx = rx.x; jx <= rx.y; jx++) {
        s += weight(ix, tap(jx, p.ax, W)) * src[row + jx];
      }
      total += wy * s;
    }
    dst[out_row + ix] = total;
  }
}
