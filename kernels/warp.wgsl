// Bilinear backward warping (FLOW.md §4) and the two halves of its gradient.
//
//   out[n, c, y, x] = bilinear sample of img[n, c] at (px, py) = (x + flow[n, 0, y, x], y + flow[n, 1, y, x])
//
// Pixel centres sit at integer coordinates (align-corners convention); px, py are computed directly in pixels.
// With x0 = floor(px), ax = px - x0 (same for y), the four taps (x0,y0), (x1,y0), (x0,y1), (x1,y1) have weights
//   w = ((1-ax)(1-ay), ax(1-ay), (1-ax)ay, ax·ay).
//   border (ZEROS = false): px, py are first clamped to [0, W-1] x [0, H-1], x1 = min(x0 + 1, W - 1).
//   zeros  (ZEROS = true):  x1 = x0 + 1; a tap outside the image contributes 0 (its weight is dropped).
//
// Entry points (except warp_gather: one invocation = a run of ITEMS consecutive pixels p of one sample n, flattened
// p = y·W + x, runs may continue on the next row — looping over the channels, so the taps and weights of a pixel are
// computed once and reused C times):
//   warp_fwd        dst[n,c,p] = Σ_j w_j · src[n,c,tap_j]                         src = img, dst = out
//   warp_fwd4       the same for rows of a multiple of 4 pixels, a lane's unit being a quad of 4 pixels (below)
//   warp_flow_grad  dst[n,0,p] = Σ_c gout[n,c,p] · Σ_j ∂w_j/∂px · src[n,c,tap_j]    src = img, dst = flow-shaped
//                   dst[n,1,p] likewise with ∂w_j/∂py. Border padding: 0 in a direction whose coordinate was
//                   clamped (px < 0 or px > W-1).
// The image adjoint (the transpose of warp_fwd in the image), out[n,c,q] = Σ_{p, j: tap_j(p) = q} w_j(p) · g[n,c,p],
// is a scatter from the sources' side; it is computed as a gather, exactly, in two passes (no float atomics — on
// lavapipe every atomic is a locked instruction per lane, the dearest thing a kernel can do — and no zero fill):
//   warp_link       files each source under the cell (x0, y0) of its taps: one linked list per cell, built with one
//                   atomicExchange per source pixel (head[cell] <- p + 1, links[p].x <- the previous head; 0 ends a
//                   list); links[p].yz keep the source's fractions ax, ay.
//   warp_link_flow_grad  warp_link and warp_flow_grad in one pass (taps, flow and gout read once for both).
//   warp_gather     dst[n,c,q] = Σ over the sources p in the lists of the cells (x0, y0) = q - (i, k), i, k ∈ {0, 1},
//                   of w · src[n,c,p] with w = (i ? ax : 1-ax)·(k ? ay : 1-ay) — the forward's weight products —
//                   and src = g. A lane owns a run of ITEMS consecutive targets of one row and walks each cell column
//                   once for the run: an entry of column x0 adds its left-tap weight to target x0 and its right-tap
//                   weight to target x0 + 1 (2 lists walked per target instead of 4), 4 channels per walk.
//   Cells are stored at (y0 + 1)·(W + 1) + x0 + 1 ([N, H+1, W+1]): with zeros padding, x0 = -1 (or y0 = -1) still
//   reaches column 0; a source whose cell lies outside [-1, W-1] x [-1, H-1] reaches no pixel and is not linked.
//   With border padding the clamped tap x1 = min(x0 + 1, W - 1) differs from x0 + 1 only at x0 = W - 1, where ax = 0
//   (px <= W - 1), so the weight formula holds there too. The order in which a list is summed follows the order of
//   the atomic exchanges: exact up to rounding, like float atomic adds, but not bitwise reproducible.
// Layout: images [N, C, H, W], flow [N, 2, H, W], row-major.
// Grids (WG-lane workgroups; workgroup g = wid.y · nx + wid.x over a 2-D grid within the 65535 limit; z = sample n):
//   pixel runs (all but warp_gather): lane l of workgroup g owns pixels (g·WG + l)·ITEMS + r, r < ITEMS;
//                                      ceil(H·W / (WG·ITEMS)) workgroups
//   warp_fwd4: lane l of workgroup g owns quads (g·ITEMS + r)·WG + l (pixels 4q..4q+3); ceil(H·W/4 / (WG·ITEMS))
//   warp_gather: lane l of workgroup g owns run g·WG + l of the H·ceil(W / ITEMS) row runs; ceil(that / WG) workgroups

override WG: u32 = 8u;
override ITEMS: u32 = 4u;
override ZEROS: bool = false;

struct Params {
  dims: vec4<u32>,   // N, C, H, W
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> flow: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read> gout: array<f32>;
@group(0) @binding(6) var<storage, read_write> head: array<atomic<u32>>;    // warp_link: [N, H+1, W+1], zero-filled
@group(0) @binding(7) var<storage, read_write> links: array<vec4<u32>>;     // warp_link: [N, H, W] (next, ax, ay, -)
@group(0) @binding(6) var<storage, read> heads: array<u32>;                 // warp_gather: the same two, read
@group(0) @binding(7) var<storage, read> chains: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> flow4: array<vec4<f32>>;           // warp_fwd4: flow and out as vec4s
@group(0) @binding(3) var<storage, read_write> dst4: array<vec4<f32>>;

struct Taps {
  idx: vec4<u32>,   // y*W + x of the four taps (clamped into the image, so always a safe address)
  ok: vec4<bool>,   // the tap lies inside the image (always true with border padding)
  w: vec4<f32>,     // bilinear weights, 0 for dropped taps
  dwx: vec4<f32>,   // ∂w/∂px (0 in a clamped direction)
  dwy: vec4<f32>,   // ∂w/∂py
  cell: vec2<i32>,  // (x0, y0) before clamping into the image
  frac: vec2<f32>,  // (ax, ay)
}

fn taps(x: u32, y: u32, u: f32, v: f32) -> Taps {
  let W = i32(p.dims.w);
  let H = i32(p.dims.z);
  let wm = f32(W - 1);
  let hm = f32(H - 1);
  var px = f32(x) + u;
  var py = f32(y) + v;
  var onx = 1.0;
  var ony = 1.0;
  if (ZEROS) {
    // beyond one pixel outside, every tap is dropped: clamping there changes nothing but keeps i32() in range
    px = clamp(px, -2.0, wm + 2.0);
    py = clamp(py, -2.0, hm + 2.0);
  } else {
    if (px < 0.0 || px > wm) { onx = 0.0; }
    if (py < 0.0 || py > hm) { ony = 0.0; }
    px = clamp(px, 0.0, wm);
    py = clamp(py, 0.0, hm);
  }
  let fx = floor(px);
  let fy = floor(py);
  let ax = px - fx;
  let ay = py - fy;
  let x0 = i32(fx);
  let y0 = i32(fy);
  var x1 = x0 + 1;
  var y1 = y0 + 1;
  var t: Taps;
  if (ZEROS) {
    let okx = vec2<bool>((x0 >= 0) && (x0 < W), (x1 >= 0) && (x1 < W));
    let oky = vec2<bool>((y0 >= 0) && (y0 < H), (y1 >= 0) && (y1 < H));
    t.ok = vec4<bool>(okx.x && oky.x, okx.y && oky.x, okx.x && oky.y, okx.y && oky.y);
  } else {
    x1 = min(x1, W - 1);
    y1 = min(y1, H - 1);
    t.ok = vec4<bool>(true);
  }
  let cx = vec2<u32>(vec2<i32>(clamp(x0, 0, W - 1), clamp(x1, 0, W - 1)));
  let cy = vec2<u32>(vec2<i32>(clamp(y0, 0, H - 1), clamp(y1, 0, H - 1))) * u32(W);
  t.idx = vec4<u32>(cy.x + cx.x, cy.x + cx.y, cy.y + cx.x, cy.y + cx.y);
  let bx = 1.0 - ax;
  let by = 1.0 - ay;
  t.w = select(vec4<f32>(0.0), vec4<f32>(bx * by, ax * by, bx * ay, ax * ay), t.ok);
  t.dwx = vec4<f32>(-by, by, -ay, ay) * onx;
  t.dwy = vec4<f32>(-bx, -ax, bx, ax) * ony;
  t.cell = vec2<i32>(x0, y0);
  t.frac = vec2<f32>(ax, ay);
  return t;
}

// The four tap values of one channel plane starting at `base` (0 for dropped taps).
fn gather(base: u32, t: Taps) -> vec4<f32> {
  let s = vec4<f32>(src[base + t.idx.x], src[base + t.idx.y], src[base + t.idx.z], src[base + t.idx.w]);
  return select(vec4<f32>(0.0), s, t.ok);
}

// One pixel of a lane's run: its flattened index, x, y, and whether it lies in the map.
struct Pixel {
  p: u32,
  x: u32,
  y: u32,
  live: bool,
}

fn run_start(wid: vec3<u32>, nwg: vec3<u32>, lane: u32) -> Pixel {
  let q = ((wid.y * nwg.x + wid.x) * WG + lane) * ITEMS;
  let y = q / p.dims.w;
  return Pixel(q, q - y * p.dims.w, y, q < p.dims.z * p.dims.w);
}

fn next_pixel(a: Pixel) -> Pixel {
  var b = Pixel(a.p + 1u, a.x + 1u, a.y, a.p + 1u < p.dims.z * p.dims.w);
  if (b.x == p.dims.w) { b.x = 0u; b.y += 1u; }
  return b;
}

fn pixel_taps(n: u32, a: Pixel) -> Taps {
  let HW = p.dims.z * p.dims.w;
  let f = n * 2u * HW + min(a.p, HW - 1u);
  return taps(a.x, a.y, flow[f], flow[f + HW]);
}

@compute @workgroup_size(WG)
fn warp_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.dims.y;
  let HW = p.dims.z * p.dims.w;
  let n = wid.z;
  var a = run_start(wid, nwg, lid);
  for (var r = 0u; r < ITEMS; r++) {
    if (!a.live) { break; }
    let t = pixel_taps(n, a);
    var b = n * C * HW;
    for (var c = 0u; c < C; c++) {
      dst[b + a.p] = dot(t.w, gather(b, t));
      b += HW;
    }
    a = next_pixel(a);
  }
}

// warp_fwd for W % 4 == 0: lane l owns the quads (4 pixels of one row) k = (g·ITEMS + r)·WG + l, so its flow and
// output move as one vec4 each (a per-lane scalar access costs lavapipe about as much as a vec4).
@compute @workgroup_size(WG)
fn warp_fwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.dims.y;
  let W = p.dims.w;
  let HW4 = p.dims.z * W / 4u;
  let n = wid.z;
  var k = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var r = 0u; r < ITEMS; r++) {
    if (k >= HW4) { break; }
    let y = (4u * k) / W;
    let x = 4u * k - y * W;
    let u = flow4[n * 2u * HW4 + k];
    let v = flow4[n * 2u * HW4 + HW4 + k];
    let t0 = taps(x, y, u.x, v.x);
    let t1 = taps(x + 1u, y, u.y, v.y);
    let t2 = taps(x + 2u, y, u.z, v.z);
    let t3 = taps(x + 3u, y, u.w, v.w);
    var b = n * C * HW4 * 4u;
    for (var c = 0u; c < C; c++) {
      dst4[b / 4u + k] = vec4<f32>(dot(t0.w, gather(b, t0)), dot(t1.w, gather(b, t1)), dot(t2.w, gather(b, t2)), dot(t3.w, gather(b, t3)));
      b += 4u * HW4;
    }
    k += WG;
  }
}

// The flow gradient of pixel a (taps t): dst[n, 0|1, a.p] (src = img, gout = g).
fn flow_grad_pixel(n: u32, a: Pixel, t: Taps) {
  let C = p.dims.y;
  let HW = p.dims.z * p.dims.w;
  var b = n * C * HW;
  var gu = 0.0;
  var gv = 0.0;
  for (var c = 0u; c < C; c++) {
    let s = gather(b, t);
    let g = gout[b + a.p];
    gu += g * dot(t.dwx, s);
    gv += g * dot(t.dwy, s);
    b += HW;
  }
  let f = n * 2u * HW + a.p;
  dst[f] = gu;
  dst[f + HW] = gv;
}

// Link source pixel a (taps t) into the list of its cell, if that cell reaches the image.
fn link_pixel(n: u32, a: Pixel, t: Taps) {
  let H = i32(p.dims.z);
  let W = i32(p.dims.w);
  if (all(t.cell >= vec2<i32>(-1)) && t.cell.x < W && t.cell.y < H) {
    let src_p = n * p.dims.z * p.dims.w + a.p;
    let cell = n * u32((H + 1) * (W + 1)) + u32((t.cell.y + 1) * (W + 1) + t.cell.x + 1);
    let prev = atomicExchange(&head[cell], src_p + 1u);
    links[src_p] = vec4<u32>(prev, bitcast<u32>(t.frac.x), bitcast<u32>(t.frac.y), 0u);
  }
}

@compute @workgroup_size(WG)
fn warp_flow_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var a = run_start(wid, nwg, lid);
  for (var r = 0u; r < ITEMS; r++) {
    if (!a.live) { break; }
    flow_grad_pixel(wid.z, a, pixel_taps(wid.z, a));
    a = next_pixel(a);
  }
}

@compute @workgroup_size(WG)
fn warp_link(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var a = run_start(wid, nwg, lid);
  for (var r = 0u; r < ITEMS; r++) {
    if (!a.live) { break; }
    link_pixel(wid.z, a, pixel_taps(wid.z, a));
    a = next_pixel(a);
  }
}

@compute @workgroup_size(WG)
fn warp_link_flow_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var a = run_start(wid, nwg, lid);
  for (var r = 0u; r < ITEMS; r++) {
    if (!a.live) { break; }
    let t = pixel_taps(wid.z, a);
    link_pixel(wid.z, a, t);
    flow_grad_pixel(wid.z, a, t);
    a = next_pixel(a);
  }
}

// See the header: lane = one run of targets [xs, xe) in row y, cell columns walked left to right.
@compute @workgroup_size(WG)
fn warp_gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.dims.y;
  let H = p.dims.z;
  let W = p.dims.w;
  let HW = H * W;
  let n = wid.z;
  let runs = (W + ITEMS - 1u) / ITEMS;   // runs per row
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let y = i / runs;
  if (y >= H) { return; }
  let xs = (i - y * runs) * ITEMS;
  let xe = min(xs + ITEMS, W);
  let row0 = n * (H + 1u) * (W + 1u) + y * (W + 1u);   // cell (x0 = -1, y0 = y - 1); + (W + 1) for y0 = y
  for (var c0 = 0u; c0 < C; c0 += 4u) {
    let nc = min(C - c0, 4u);
    let out0 = (n * C + c0) * HW + y * W;
    var cur = vec4<f32>(0.0);   // target x0 (complete once column x0 is walked)
    var nxt = vec4<f32>(0.0);   // target x0 + 1
    for (var col = xs; col <= xe; col++) {   // cell column x0 = col - 1
      for (var k = 0u; k < 2u; k++) {        // cell row y0 = y - 1 + k (k = 0: the target row is y0 + 1)
        var e = heads[row0 + k * (W + 1u) + col];
        loop {
          if (e == 0u) { break; }
          let l = chains[e - 1u];
          let ax = bitcast<f32>(l.y);
          let ay = bitcast<f32>(l.z);
          let wy = select(ay, 1.0 - ay, k == 1u);
          let b = (n * C + c0) * HW + (e - 1u - n * HW);   // the source pixel in channel c0 of sample n
          var v = vec4<f32>(src[b], 0.0, 0.0, 0.0);
          if (nc > 1u) { v.y = src[b + HW]; }
          if (nc > 2u) { v.z = src[b + 2u * HW]; }
          if (nc > 3u) { v.w = src[b + 3u * HW]; }
          cur += ((1.0 - ax) * wy) * v;
          nxt += (ax * wy) * v;
          e = l.x;
        }
      }
      if (col > xs) {   // target x0 = col - 1 is complete
        let o = out0 + col - 1u;
        dst[o] = cur.x;
        if (nc > 1u) { dst[o + HW] = cur.y; }
        if (nc > 2u) { dst[o + 2u * HW] = cur.z; }
        if (nc > 3u) { dst[o + 3u * HW] = cur.w; }
      }
      cur = nxt;
      nxt = vec4<f32>(0.0);
    }
  }
}
