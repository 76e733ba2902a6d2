// Padding of the last 2 or 3 dims (2-D runs as D = 1), and its adjoint.
//
//   pad:         y[o, od, oh, ow] = x[o, src(od - PD, D), src(oh - PH, H), src(ow - PW, W)]
//                MODE 0 reflect: src(j, n) = |j| reflected at both ends (the edge is not repeated, PyTorch
//                ReflectionPad: j < 0 -> -j, j >= n -> 2(n-1) - j; the host checks pad < n);
//                MODE 1 zeros:   0 when j is outside [0, n).
//   pad_adjoint: x̄[o, d, h, w] = sum of ȳ over every output position that pad read (o, d, h, w) from: the identity
//                position j = i + P, and for reflect also j = P - i (when 1 <= i <= P_before) and
//                j = P + 2(n-1) - i (when n-1-P_after <= i <= n-2). Up to 3 candidates per dim, gathered, no atomics.
// `o` runs over every leading dim together (N·C). Grids (8-lane workgroups, ITEMS columns per lane; every
// workgroup walks all rows of its plane, so its fixed cost is paid once per plane):
//   pad:         x = ceil(OW / (WG*ITEMS)), y = o
//   pad_adjoint: x = ceil(W / (WG*ITEMS)),  y = o

override MODE: u32 = 0u;
override WG: u32 = 8u;
override ITEMS: u32 = 16u;

struct Params {
  in_size: vec4<u32>,    // D, H, W, unused
  out_size: vec4<u32>,   // OD, OH, OW, unused
  before: vec4<i32>,     // PD, PH, PW (padding before each dim)
  after: vec4<i32>,      // PD', PH', PW' (padding after)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// Source index of padded position j along a dim of size n; -1 when it reads a zero.
fn source(j: i32, n: i32) -> i32 {
  if (MODE == 1u) { return select(-1, j, j >= 0 && j < n); }
  var r = j;
  if (r < 0) { r = -r; }
  if (r >= n) { r = 2 * (n - 1) - r; }
  return r;
}

@compute @workgroup_size(WG)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = wid.y;
  let OH = p.out_size.y;
  let OW = p.out_size.z;
  for (var r = 0u; r < p.out_size.x * OH; r++) {
  let od = r / OH;
  let oh = r % OH;
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = i32(p.in_size.z);
  let d = source(i32(od) - p.before.x, D);
  let h = source(i32(oh) - p.before.y, H);
  let row = ((o * u32(D) + u32(max(d, 0))) * u32(H) + u32(max(h, 0))) * u32(W);
  let out_row = ((o * p.out_size.x + od) * OH + oh) * OW;
  let base = wid.x * WG * ITEMS + lid;
  for (var t = 0u; t < ITEMS; t++) {
    let ow = base + t * WG;
    if (ow >= OW) { break; }
    let w = source(i32(ow) - p.before.z, W);
    var v = 0.0;
    if (d >= 0 && h >= 0 && w >= 0) { v = src[row + u32(w)]; }
    dst[out_row + ow] = v;
  }
  }
}

// Padded positions that read source index i along a dim of size n (padding b before, a after), as up to 3
// candidates; unused slots are -1.
fn readers(i: i32, n: i32, b: i32, a: i32) -> vec3<i32> {
  var c = vec3<i32>(i + b, -1, -1);
  if (MODE == 0u) {
    if (i >= 1 && i <= b) { c.y = b - i; }
    if (i <= n - 2 && i >= n - 1 - a) { c.z = b + 2 * (n - 1) - i; }
  }
  return c;
}

@compute @workgroup_size(WG)
fn pad_adjoint(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = wid.y;
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = p.in_size.z;
  for (var r = 0; r < D * H; r++) {
  let d = r / H;
  let h = r % H;
  let OD = p.out_size.x;
  let OH = p.out_size.y;
  let OW = p.out_size.z;
  let cd = readers(d, D, p.before.x, p.after.x);
  let ch = readers(h, H, p.before.y, p.after.y);
  let base = wid.x * WG * ITEMS + lid;
  for (var t = 0u; t < ITEMS; t++) {
    let w = base + t * WG;
    if (w >= W) { break; }
    let cw = readers(i32(w), i32(W), p.before.z, p.after.z);
    var acc = 0.0;
    for (var a = 0u; a < 3u; a++) {
      if (cd[a] < 0) { continue; }
      for (var b = 0u; b < 3u; b++) {
        if (ch[b] < 0) { continue; }
        let row = ((o * OD + u32(cd[a])) * OH + u32(ch[b])) * OW;
        for (var c = 0u; c < 3u; c++) {
          if (cw[c] >= 0) { acc += src[row + u32(cw[c])]; }
        }
      }
    }
    dst[((o * u32(D) + u32(d)) * u32(H) + u32(h)) * W + w] = acc;
  }
  }
}
