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
  C: u32,       // elements per row
  n: u32,       // the axis' length in the undifferenced tensor (x of diff, out of diff_adjoint)
  inner: u32,
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
