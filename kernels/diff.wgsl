// Finite differences along one axis, and their adjoint. A tensor is viewed as [outer, n, inner] around the axis:
//
//   diff          out[o, i, k] = x[o, i + 1, k] − x[o, i, k]                          i < n − 1   out [outer, n − 1, inner]
//   diff_adjoint  out[o, i, k] = g[o, i − 1, k]·[i ≥ 1] − g[o, i, k]·[i ≤ n − 2]        i < n       out [outer, n, inner]
//
// diff_adjoint is diff's transpose (Σ out·x = Σ g·diff(x) for every x), so each is the other's backward and
// gradients of any order are exact. The edge-aware smoothness terms of the flow losses are made of these
// (first differences, and second differences as diff of diff).
//
// Rows: with LAST (inner == 1) a row is one o and its elements run along the axis (C = the output's axis length);
// otherwise a row is one (o, i) and its elements run along k (C = inner), so the index arithmetic is done once per
// row. Lanes sweep a row: element c = wid.x·WG·ITEMS + lid + t·WG of row r = wid.y + 65535·wid.z.
// Bindings: 1 src (x or g), 2 dst.

override WG: u32 = 8u;
override ITEMS: u32 = 8u;
override LAST: bool = false;

struct Params {
  R: u32,       // rows of the output
  C: u32,       // elements per row (tv_grad: W)
  n: u32,       // the axis' length in the undifferenced tensor (x of diff, out of diff_adjoint; tv_grad: H)
  inner: u32,   // (tv_grad: K)
  s: f32,       // tv_grad: the scale s
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn row_of(wid: vec3<u32>) -> u32 { return wid.y + 65535u * wid.z; }
fn col(wid: vec3<u32>, lid: u32, t: u32) -> u32 { return wid.x * WG * ITEMS + lid + t * WG; }

@compute @workgroup_size(WG)
fn diff(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wid);
  if (r >= p.R) { return; }
  // x's index of the row's first element and the step to its neighbour along the axis
  var base = r * p.n;
  var step = 1u;
  if (!LAST) {
    let o = r / (p.n - 1u);
    base = (o * p.n + r - o * (p.n - 1u)) * p.inner;
    step = p.inner;
  }
  for (var t = 0u; t < ITEMS; t++) {
    let c = col(wid, lid, t);
    if (c >= p.C) { break; }
    dst[r * p.C + c] = src[base + c + step] - src[base + c];
  }
}

@compute @workgroup_size(WG)
fn diff_adjoint(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wid);
  if (r >= p.R) { return; }
  let m = p.n - 1u;   // g's axis length
  // g's index of element (o, i, 0) of this row (LAST: of (o, 0)), the step back to i − 1, and i itself
  var base = r * m;
  var step = 1u;
  var i = 0u;
  if (!LAST) {
    let o = r / p.n;
    i = r - o * p.n;
    base = (o * m + i) * p.inner;
    step = p.inner;
  }
  for (var t = 0u; t < ITEMS; t++) {
    let c = col(wid, lid, t);
    if (c >= p.C) { break; }
    let ii = select(i, c, LAST);
    var v = 0.0;
    if (ii >= 1u) { v += src[base + c - step]; }
    if (ii < m) { v -= src[base + c]; }
    dst[r * p.C + c] = v;
  }
}

// The gradient of an edge-weighted total variation of a field F [B, K, H, W] (the flow refinement's smoothness term),
//   TV(F) = Σ_{b,k,y,x} wx[b, y, x] · |F[b,k,y,x+1] − F[b,k,y,x]| + wy[b, y, x] · |F[b,k,y+1,x] − F[b,k,y,x]|
// with wx [B, 1, H, W − 1] and wy [B, 1, H − 1, W] (image-edge weights, shared by the K channels):
//   tv_grad  out = s · ∂TV/∂F + base
//     ∂TV/∂F[y, x] = wx[y, x−1]·sign(F[y,x] − F[y,x−1]) − wx[y, x]·sign(F[y,x+1] − F[y,x])
//                  + wy[y−1, x]·sign(F[y,x] − F[y−1,x]) − wy[y, x]·sign(F[y+1,x] − F[y,x])   (terms outside dropped)
// — what diff, abs, the weights' product and diff_adjoint give through autograd (sign(0) = 0 as abs's backward),
// in one pass instead of about ten. Rows: one (b, k, y) per wid.y + 65535·wid.z, columns x along it as in diff.
// Bindings: 1 F, 2 out, 3 wx, 4 wy, 5 base (HAS_BASE; else unread).
override HAS_BASE: bool = false;

@group(0) @binding(3) var<storage, read> wx: array<f32>;
@group(0) @binding(4) var<storage, read> wy: array<f32>;
@group(0) @binding(5) var<storage, read> base_g: array<f32>;

// Where row r = (b, k, y) of F [B, K, H, W] (W = p.C, H = p.n, K = p.inner) starts in F, in wx [B, 1, H, W − 1] and in
// wy [B, 1, H − 1, W].
struct TvRow { y: u32, row: u32, xrow: u32, yrow: u32 }

fn tv_row(r: u32) -> TvRow {
  let W = p.C;
  let H = p.n;
  let y = r % H;
  let b = r / (p.inner * H);
  return TvRow(y, r * W, (b * H + y) * (W - 1u), (b * (H - 1u) + y) * W);
}

@compute @workgroup_size(WG)
fn tv_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wid);
  if (r >= p.R) { return; }
  let W = p.C;
  let H = p.n;
  let at = tv_row(r);
  let y = at.y;
  let row = at.row;
  let xrow = at.xrow;
  let yrow = at.yrow;
  for (var t = 0u; t < ITEMS; t++) {
    let x = col(wid, lid, t);
    if (x >= W) { break; }
    let f = src[row + x];
    var g = 0.0;
    if (x >= 1u) { g += wx[xrow + x - 1u] * sign(f - src[row + x - 1u]); }
    if (x + 1u < W) { g -= wx[xrow + x] * sign(src[row + x + 1u] - f); }
    if (y >= 1u) { g += wy[yrow - W + x] * sign(f - src[row + x - W]); }
    if (y + 1u < H) { g -= wy[yrow + x] * sign(src[row + x + W] - f); }
    var v = p.s * g;
    if (HAS_BASE) { v += base_g[row + x]; }
    dst[row + x] = v;
  }
}

// tv_grad for rows of W % 4 == 0 (the refinement's 128 columns): a lane takes quads x0 .. x0 + 3 as vec4s of F, its
// rows above and below, wy and base, and the two values beside the quad; wx (rows of W − 1, unaligned) by elements.
// The same values as tv_grad (tested); [8, 2, 128, 128] 11.6 → 8.1 and 7.1 → 5.1 ms in two interleaved runs.
@group(0) @binding(1) var<storage, read> f4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> o4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> wy4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> base4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn tv_grad4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = row_of(wid);
  if (r >= p.R) { return; }
  let W = p.C;
  let H = p.n;
  let at = tv_row(r);
  let y = at.y;
  let row = at.row;
  let xrow = at.xrow;
  let yrow = at.yrow;
  let zero = vec4<f32>(0.0);
  for (var t = 0u; t < ITEMS; t++) {
    let x0 = 4u * col(wid, lid, t);
    if (x0 >= W) { break; }
    let f = f4[(row + x0) >> 2u];
    var left = 0.0;
    var right = 0.0;
    if (x0 >= 1u) { left = f4[(row + x0) / 4u - 1u].w; }
    if (x0 + 4u < W) { right = f4[(row + x0) / 4u + 1u].x; }
    // weights of the differences to the left (wx[x − 1]) and to the right (wx[x]) of each pixel; 0 past the row
    var wl = zero;
    var wr = zero;
    for (var j = 0u; j < 4u; j++) {
      if (x0 + j >= 1u) { wl[j] = wx[xrow + x0 + j - 1u]; }
      if (x0 + j + 1u < W) { wr[j] = wx[xrow + x0 + j]; }
    }
    let fl = vec4<f32>(left, f.xyz);
    let fr = vec4<f32>(f.yzw, right);
    var g = wl * sign(f - fl) - wr * sign(fr - f);
    if (y >= 1u) { g += wy4[(yrow - W + x0) >> 2u] * sign(f - f4[(row + x0 - W) >> 2u]); }
    if (y + 1u < H) { g -= wy4[(yrow + x0) >> 2u] * sign(f4[(row + x0 + W) >> 2u] - f); }
    var v = p.s * g;
    if (HAS_BASE) { v += base4[(row + x0) >> 2u]; }
    o4[(row + x0) >> 2u] = v;
  }
}
