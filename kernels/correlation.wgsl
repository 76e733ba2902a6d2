// PWC-Net correlation (cost volume, FLOW.md §3) and the two gradients of its trilinear form.
//
// With m = max displacement, D = 2m+1, displacement channel d = (dy+m)·D + (dx+m) and f = 0 outside the image:
//   corr:   out[n, d, y, x]   = (1/C) Σ_c f1[n,c,y,x] · f2[n,c,y+dy,x+dx]
// All three entry points are partial derivatives of T(g, f1, f2) = (1/C) Σ g[n,d,y,x] f1[n,c,y,x] f2[n,c,y+dy,x+dx]:
//   corr_grad1: gf1[n,c,y,x]   = (1/C) Σ_d g[n,d,y,x] · f2[n,c,y+dy,x+dx]                 (= ∂T/∂f1)
//   corr_grad2: gf2[n,c,y',x'] = (1/C) Σ_d g[n,d,y'-dy,x'-dx] · f1[n,c,y'-dy,x'-dx]         (= ∂T/∂f2)
// In gf2 write ry = -dy, e = -dx: the sum runs over the neighbours (y'+ry, x'+e) of the output pixel, like gf1's over
// (y+dy, x+dx), with g read at the neighbour from channel (m-ry)·D + (m-e). So both gradients are
//   gf[c, p] = (1/C) Σ_{ry, e} G(ry, e, p) · f[c, p + (ry, e)]
// with G = g[(ry+m)·D + e+m, p] (gf1, f = f2) or G = g[(m-ry)·D + m-e, p + (ry, e)] (gf2, f = f1).
// Every entry point is a gather (no atomics, deterministic).
//
// Work layout. lavapipe (Mesa's CPU Vulkan driver) runs the WG = 8 lanes of a workgroup as one SIMD vector; a load of
// per-lane addresses is a loop over the lanes, far dearer than arithmetic, so the kernels load each value once and
// share it between lanes and uses:
//   * pixels are flattened over the whole batch (P = n·H·W + y·W + x) and a workgroup takes a tile of 4·WG
//     consecutive ones: lane l owns P_j = tile·4·WG + l + WG·j, j < 4, the components of one vec4. Tiles may span
//     rows and samples, so a 2x2 or 1x1 map of a batch still fills the lanes. Neighbour (dy, dx) of P is
//     P + dy·W + dx; whether it lies in the image (and in P's sample) is decided from P's own x, y.
//   * the values a row of displacements needs, f[P_j + shift + k] for k < KT (shift = dy·W + k0 - m), are loaded as a
//     "span": lane l loads S[i] = f[P_0 + shift + WG·i], i <= 4 — the 5·WG positions from the tile start on, each
//     once. The value for (j, k) sits in lane (l + k) % WG of S[j] or S[j+1] and subgroupShuffle fetches it (one
//     permute instruction). KT <= 9 = WG + 1 displacements share a span. Without subgroups (SHUFFLE = false) every
//     value is loaded directly instead.
//   * corr keeps 4 pixels x KY rows x KT displacements per lane in registers: per channel it loads f1 once (4 values)
//     and one span per row. The gradients keep 4 pixels x CT channels: per row of displacements they load the KT
//     values of G per pixel once for all CT channels, then one span of f per channel.
//   * out-of-image neighbours are read at a clamped address and masked: corr replaces the finished sum by 0, the
//     gradients zero the G factor (0 · finite = 0).
// Displacements along x are tiled by KT = min(D, 9): dx = -m + k0 + k, tile t: k0 = t·KT, T = ceil(D/KT) tiles.
//
// Bindings: 1 a, 2 b, 3 out — corr: (f1, f2); corr_grad1: (g, f2); corr_grad2: (g, f1).
// Grids (tile = wid.z · nx + wid.x with nx = the grid's x size; tiles past the batch do nothing):
//   corr:       x·z >= ceil(N·H·W / (4·WG)), y = ceil(D / KY) · T  (row group · T + dx tile)
//   corr_grad*: x·z >= ceil(N·H·W / (4·WG)), y = C / CT             (channel tile; CT divides C)
#if SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 8u;          // lanes per workgroup (one subgroup); a span serves KT <= WG + 1 displacements
override M: u32 = 4u;           // max displacement m
override KT: u32 = 9u;          // displacements along x per tile, min(2m+1, 9)
override KY: u32 = 3u;          // corr: rows of displacements per workgroup (<= 3)
override CT: u32 = 8u;          // gradients: channels per workgroup (<= 64)
override SHUFFLE: bool = false; // share spans through subgroupShuffle (set only when the device has subgroups)

struct Params {
  dims: vec4<u32>,   // N, C, H, W
  inv_c: f32,        // 1/C
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// The lane's 4 pixels (flattened over the batch; past N·H·W in the last tile), their x, y and sample n.
struct Pixels {
  p: vec4<i32>,
  x: vec4<i32>,
  y: vec4<i32>,
  n: vec4<i32>,
}

fn pixels(wid: vec3<u32>, nwg: vec3<u32>, lane: u32) -> Pixels {
  let tile = wid.z * nwg.x + wid.x;
  let p = vec4<i32>(i32(tile * 4u * WG + lane)) + vec4<i32>(0, 1, 2, 3) * i32(WG);
  let w = vec4<i32>(i32(u.dims.w));
  let hw = vec4<i32>(i32(u.dims.z * u.dims.w));
  let n = p / hw;
  let q = p - n * hw;
  let y = q / w;
  return Pixels(p, q - y * w, y, n);
}

// Does neighbour (dy, dx) of each pixel lie in the image? (false for pixels past the batch)
fn inside(px: Pixels, dy: i32, dx: i32) -> vec4<bool> {
  let x = px.x + vec4<i32>(dx);
  let y = px.y + vec4<i32>(dy);
  let w = vec4<i32>(i32(u.dims.w));
  let h = vec4<i32>(i32(u.dims.z));
  return (x >= vec4<i32>(0)) & (x < w) & (y >= vec4<i32>(0)) & (y < h) & (px.n < vec4<i32>(i32(u.dims.x)));
}

// Element of channel 0 of a [N, planes, H, W] tensor at flattened pixel P (clamped into the batch).
fn plane_index(P: vec4<i32>, planes: u32) -> vec4<u32> {
  let hw = i32(u.dims.z * u.dims.w);
  let q = clamp(P, vec4<i32>(0), vec4<i32>(i32(u.dims.x) * hw - 1));
  let n = q / vec4<i32>(hw);
  return vec4<u32>(q + n * i32((planes - 1u) * u32(hw)));
}

// i + s, clamped into a [N, planes, H, W] tensor (a safe address for a masked neighbour; the right one otherwise).
fn shifted(i: vec4<u32>, s: i32, planes: u32) -> vec4<u32> {
  let last = i32(u.dims.x * planes * u.dims.z * u.dims.w) - 1;
  return vec4<u32>(clamp(vec4<i32>(i) + vec4<i32>(s), vec4<i32>(0), vec4<i32>(last)));
}

fn load_a(base: u32, i: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(a[base + i.x], a[base + i.y], a[base + i.z], a[base + i.w]);
}

fn load_b(base: u32, i: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(b[base + i.x], b[base + i.y], b[base + i.z], b[base + i.w]);
}

// Where a span of f (C planes) lies: S[i] at f[channel base + s.i[i]] (s.i.w = S[3], s.i4 = S[4]).
struct SpanIndex {
  i: vec4<u32>,
  i4: u32,
}

fn span_index(px: Pixels, shift: i32, C: u32) -> SpanIndex {
  let q = vec4<i32>(px.p.x + shift) + vec4<i32>(0, 1, 2, 3) * i32(WG);
  return SpanIndex(plane_index(q, C), plane_index(vec4<i32>(q.x + 4 * i32(WG)), C).x);
}

// The span of b in the channel at `base` (empty without SHUFFLE, where windows are loaded directly).
fn span_b(base: u32, si: SpanIndex) -> array<f32, 5> {
  var s: array<f32, 5>;
  if (SHUFFLE) {
    s = array<f32, 5>(b[base + si.i.x], b[base + si.i.y], b[base + si.i.z], b[base + si.i.w], b[base + si.i4]);
  }
  return s;
}

// b[P_j + shift + k] for the lane's 4 pixels (own = their index in channel 0 of b): from the span, or loaded.
fn window_b(s: array<f32, 5>, base: u32, own: vec4<u32>, shift: i32, k: u32, lane: u32) -> vec4<f32> {
#if SUBGROUPS
  if (SHUFFLE) {
    let src = (lane + k) % WG;
    let next = lane + k >= WG;   // the value lies in the next WG-block of the span
    let t0 = subgroupShuffle(s[0], src);
    let t1 = subgroupShuffle(s[1], src);
    let t2 = subgroupShuffle(s[2], src);
    let t3 = subgroupShuffle(s[3], src);
    let t4 = subgroupShuffle(s[4], src);
    return select(vec4<f32>(t0, t1, t2, t3), vec4<f32>(t1, t2, t3, t4), vec4<bool>(next));
  }
#endif
  return load_b(base, shifted(own, shift + i32(k), u.dims.y));
}

// Store v[j] at out[base + i[j]] for the pixels that exist.
fn store4(base: u32, i: vec4<u32>, v: vec4<f32>, px: Pixels) {
  let total = i32(u.dims.x * u.dims.z * u.dims.w);
  for (var j = 0u; j < 4u; j++) {
    if (px.p[j] < total) { out[base + i[j]] = v[j]; }
  }
}

@compute @workgroup_size(WG)
fn corr(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
        @builtin(subgroup_invocation_id) lane: u32) {
#else
        @builtin(local_invocation_index) lane: u32) {
#endif
  let C = u.dims.y;
  let HW = u.dims.z * u.dims.w;
  let W = i32(u.dims.w);
  let m = i32(M);
  let D = 2u * M + 1u;
  let T = (D + KT - 1u) / KT;
  let k0 = (wid.y % T) * KT;
  let dy0 = (wid.y / T) * KY;
  let px = pixels(wid, nwg, lane);
  let own = plane_index(px.p, C);
  // where the span of each row lies (the same in every channel)
  var si: array<SpanIndex, 3>;
  for (var ky = 0u; ky < KY; ky++) { si[ky] = span_index(px, (i32(dy0 + ky) - m) * W + i32(k0) - m, C); }
  var acc: array<vec4<f32>, 27>;   // [row ky][displacement k], 4 pixels each
  for (var i = 0u; i < KY * KT; i++) { acc[i] = vec4<f32>(0.0); }
  var base = 0u;
  for (var c = 0u; c < C; c++) {
    let f = load_a(base, own);
    for (var ky = 0u; ky < KY; ky++) {
      if (dy0 + ky < D) {
        let shift = (i32(dy0 + ky) - m) * W + i32(k0) - m;
        let s = span_b(base, si[ky]);
        for (var k = 0u; k < KT; k++) { acc[ky * KT + k] = fma(f, window_b(s, base, own, shift, k, lane), acc[ky * KT + k]); }
      }
    }
    base += HW;
  }
  let o = plane_index(px.p, D * D);
  for (var ky = 0u; ky < KY; ky++) {
    let dyi = dy0 + ky;
    for (var k = 0u; k < KT; k++) {
      if (dyi < D && k0 + k < D) {
        let v = select(vec4<f32>(0.0), acc[ky * KT + k] * u.inv_c, inside(px, i32(dyi) - m, i32(k0 + k) - m));
        store4((dyi * D + k0 + k) * HW, o, v, px);
      }
    }
  }
}

// Shared body of the gradients (see the header); second = false: gf1, true: gf2.
fn corr_grad(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, second: bool) {
  let C = u.dims.y;
  let HW = u.dims.z * u.dims.w;
  let W = i32(u.dims.w);
  let m = i32(M);
  let D = 2u * M + 1u;
  let T = (D + KT - 1u) / KT;
  let px = pixels(wid, nwg, lane);
  let own = plane_index(px.p, C);       // the pixels in channel 0 of f and of the output
  let gown = plane_index(px.p, D * D);  // ... and in channel 0 of g
  let c0 = wid.y * CT;
  var acc: array<vec4<f32>, 64>;        // [channel], 4 pixels each
  for (var ci = 0u; ci < CT; ci++) { acc[ci] = vec4<f32>(0.0); }
  for (var dyi = 0u; dyi < D; dyi++) {
    let ry = select(i32(dyi) - m, m - i32(dyi), second);   // row offset of the neighbour
    for (var t = 0u; t < T; t++) {
      let k0 = t * KT;
      let shift = ry * W + i32(k0) - m;
      var g: array<vec4<f32>, 9>;
      for (var k = 0u; k < KT; k++) {
        let ok = inside(px, ry, i32(k0 + k) - m) & vec4<bool>(k0 + k < D);
        var v: vec4<f32>;
        if (second) {
          v = load_a((dyi * D + D - 1u - min(k0 + k, D - 1u)) * HW, shifted(gown, shift + i32(k), D * D));
        } else {
          v = load_a((dyi * D + min(k0 + k, D - 1u)) * HW, gown);
        }
        g[k] = select(vec4<f32>(0.0), v, ok);
      }
      let si = span_index(px, shift, C);
      var base = c0 * HW;
      for (var ci = 0u; ci < CT; ci++) {
        let s = span_b(base, si);
        var r = acc[ci];
        for (var k = 0u; k < KT; k++) { r = fma(g[k], window_b(s, base, own, shift, k, lane), r); }
        acc[ci] = r;
        base += HW;
      }
    }
  }
  for (var ci = 0u; ci < CT; ci++) { store4((c0 + ci) * HW, own, acc[ci] * u.inv_c, px); }
}

@compute @workgroup_size(WG)
fn corr_grad1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
              @builtin(subgroup_invocation_id) lane: u32) {
#else
              @builtin(local_invocation_index) lane: u32) {
#endif
  corr_grad(wid, nwg, lane, false);
}

@compute @workgroup_size(WG)
fn corr_grad2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
              @builtin(subgroup_invocation_id) lane: u32) {
#else
              @builtin(local_invocation_index) lane: u32) {
#endif
  corr_grad(wid, nwg, lane, true);
}
