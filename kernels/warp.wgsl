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
// Entry points (one invocation = one pixel (x, y) of one sample n, looping over the channels, so the taps and
// weights are computed once per pixel and reused C times):
//   warp_fwd        dst[n,c,p] = Σ_j w_j · src[n,c,tap_j]                         src = img, dst = out
//   warp_adjoint    acc[n,c,tap_j] += w_j · src[n,c,p]                          src = g, acc = zero-filled image
//                   (the transpose of warp_fwd in the image: a scatter, done with float atomic adds emulated by a
//                   compare-exchange loop on the u32 bit pattern; summation order is not deterministic)
//   warp_flow_grad  dst[n,0,p] = Σ_c gout[n,c,p] · Σ_j ∂w_j/∂px · src[n,c,tap_j]    src = img, dst = flow-shaped
//                   dst[n,1,p] likewise with ∂w_j/∂py. Border padding: 0 in a direction whose coordinate was
//                   clamped (px < 0 or px > W-1).
// Layout: images [N, C, H, W], flow [N, 2, H, W], row-major; p = y*W + x.
// Grid (8-lane workgroups, lanes along x, ITEMS pixels per lane at x = wid.x*WG*ITEMS + lid + t*WG):
//   x = ceil(W / (WG*ITEMS)), y = H (row), z = N (sample).

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
@group(0) @binding(4) var<storage, read_write> acc: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read> gout: array<f32>;

struct Taps {
  idx: vec4<u32>,   // y*W + x of the four taps (clamped into the image, so always a safe address)
  ok: vec4<bool>,   // the tap lies inside the image (always true with border padding)
  w: vec4<f32>,     // bilinear weights, 0 for dropped taps
  dwx: vec4<f32>,   // ∂w/∂px (0 in a clamped direction)
  dwy: vec4<f32>,   // ∂w/∂py
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
  return t;
}

// The four tap values of one channel plane starting at `base` (0 for dropped taps).
fn gather(base: u32, t: Taps) -> vec4<f32> {
  let s = vec4<f32>(src[base + t.idx.x], src[base + t.idx.y], src[base + t.idx.z], src[base + t.idx.w]);
  return select(vec4<f32>(0.0), s, t.ok);
}

// acc[i] += v as an f32, by compare-exchange on the bit pattern (WGSL has no float atomics).
fn atomic_add_f32(i: u32, v: f32) {
  var old = atomicLoad(&acc[i]);
  loop {
    let r = atomicCompareExchangeWeak(&acc[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

@compute @workgroup_size(WG)
fn warp_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.dims.y;
  let W = p.dims.w;
  let HW = p.dims.z * W;
  let y = wid.y;
  let n = wid.z;
  let fbase = n * 2u * HW + y * W;
  let ibase = n * C * HW;
  let x_first = wid.x * WG * ITEMS + lid;
  for (var it = 0u; it < ITEMS; it++) {
    let x = x_first + it * WG;
    if (x >= W) { break; }
    let t = taps(x, y, flow[fbase + x], flow[fbase + HW + x]);
    var b = ibase;
    let o = y * W + x;
    for (var c = 0u; c < C; c++) {
      dst[b + o] = dot(t.w, gather(b, t));
      b += HW;
    }
  }
}

@compute @workgroup_size(WG)
fn warp_adjoint(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.dims.y;
  let W = p.dims.w;
  let HW = p.dims.z * W;
  let y = wid.y;
  let n = wid.z;
  let fbase = n * 2u * HW + y * W;
  let ibase = n * C * HW;
  let x_first = wid.x * WG * ITEMS + lid;
  for (var it = 0u; it < ITEMS; it++) {
    let x = x_first + it * WG;
    if (x >= W) { break; }
    let t = taps(x, y, flow[fbase + x], flow[fbase + HW + x]);
    var b = ibase;
    let o = y * W + x;
    for (var c = 0u; c < C; c++) {
      let g = src[b + o];
      for (var j = 0u; j < 4u; j++) {
        let wj = t.w[j];
        if (wj != 0.0) { atomic_add_f32(b + t.idx[j], wj * g); }
      }
      b += HW;
    }
  }
}

@compute @workgroup_size(WG)
fn warp_flow_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.dims.y;
  let W = p.dims.w;
  let HW = p.dims.z * W;
  let y = wid.y;
  let n = wid.z;
  let fbase = n * 2u * HW + y * W;
  let ibase = n * C * HW;
  let x_first = wid.x * WG * ITEMS + lid;
  for (var it = 0u; it < ITEMS; it++) {
    let x = x_first + it * WG;
    if (x >= W) { break; }
    let t = taps(x, y, flow[fbase + x], flow[fbase + HW + x]);
    var b = ibase;
    let o = y * W + x;
    var gu = 0.0;
    var gv = 0.0;
    for (var c = 0u; c < C; c++) {
      let s = gather(b, t);
      let g = gout[b + o];
      gu += g * dot(t.dwx, s);
      gv += g * dot(t.dwy, s);
      b += HW;
    }
    dst[fbase + x] = gu;
    dst[fbase + HW + x] = gv;
  }
}
