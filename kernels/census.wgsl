// Soft census (ternary) distance of two RGB images and its gradient (FLOW.md §6.2), over a K = (2R + 1)² patch:
// R = RADIUS, 1 (3x3, ARFlow's, the default) up to 4 (9x9; DDFlow and SelFlow use 7x7, R = 3).
//
//   gray(p)   = 255 · (0.2989 R + 0.5870 G + 0.1140 B)                         per image, at pixel p (CH = 3)
//             = 255 · L(p)                                                     for a luminance image L (CH = 1)
//   Δ_o(p)    = gray(p + o) − gray(p)                                          o one of the offsets of the patch
//   τ(Δ)      = Δ / sqrt(0.81 + Δ²)                                            a soft sign
//   t_o(p)    = τ(Δᵃ_o(p)) − τ(Δᵇ_o(p))
//   d(p)      = m(p) / K · Σ_o ψ(t_o(p)),   ψ(t) = t² / (0.1 + t²)              m = 1 inside, 0 on the R-pixel border
//
// The centre offset o = 0 has Δ = 0 in both images and adds nothing, so the K-term mean is over K − 1 terms plus a
// zero. Only interior pixels have a nonzero d, and their patches lie inside the image, so the zero padding of the
// spec never enters a value.
//
// census_fwd   out[n, 0, p] = d(p)                                  src_a = a, src_b = b (both [N, CH, H, W])
// census_bwd   the gradient of Σ_p g(p)·d(p) w.r.t. a (SIDE 0) or b (SIDE 1), written to out ([N, CH, H, W]) as
//   ∂gray/∂channel · Gᵃ(q) (or Gᵇ(q); one launch a side, since a flow loss needs only the warped image's). With
//   G(p) = g(p)·m(p)/K, ψ'(t) = 0.2·t / (0.1 + t²)², τ'(Δ) = 0.81 / (0.81 + Δ²)^(3/2) and, for each
//   neighbour n = q − o of q, Dᵃ = grayᵃ(q) − grayᵃ(n) (likewise Dᵇ):
//     Gᵃ(q) = Σ_n (G(n) + G(q)) · ψ'(τ(Dᵃ) − τ(Dᵇ)) · τ'(Dᵃ)
//     Gᵇ(q) = −Σ_n (G(n) + G(q)) · ψ'(τ(Dᵃ) − τ(Dᵇ)) · τ'(Dᵇ)
//   The G(n) part is term o of the neighbour's own patch, in which q is the tap (Δ_o(n) = D); the G(q) part is q's
//   own term −o, whose Δ is −D (τ and ψ' are odd, τ' even, so both parts share one factor). A neighbour outside
//   the image has G(n) = 0, and then q is on the border and G(q) = 0 too: its zero-padded gray enters with weight 0.
//   A gather: each pixel reads its patch-sized neighbourhood, no scatter, no atomics.
//
// A lane owns quads of 4 pixels of a row (x0 = 4·qx .. x0 + 3) and reads each row of the patches as a window of 12
// columns, x0 − 4 .. x0 + 7 (`Win`: three vec4s per channel, instead of a scalar load per tap and pixel); the
// neighbours of the quad's pixels are that window shifted by −R .. R, so all the arithmetic runs on vec4s.
// ALIGNED (W % 4 == 0): the vec4s are loaded and stored whole; otherwise element by element, pixels past the row's
// end masked.
//
// Grid (WG-lane workgroups, ITEMS quads a lane at qx = wid.x·WG·ITEMS + lid + t·WG): x = ceil(ceil(W / 4) / (WG·ITEMS)),
// y = H (row), z = N (sample).

override WG: u32 = 8u;
override ITEMS: u32 = 4u;
override ALIGNED: bool = true;
override SIDE: u32 = 0u;
override RADIUS: u32 = 1u;   // the patch is (2·RADIUS + 1)², RADIUS 1 ..= 4
override CH: u32 = 3u;       // channels of the inputs: 3 (RGB) or 1 (luminance, so one load where RGB needs three)
override GCONST: bool = false;  // census_bwd: g is one value for every pixel, in dims.w (as f32 bits), gout unread

struct Params {
  dims: vec4<u32>,   // N, H, W, and census_bwd's constant g as f32 bits (GCONST)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src_a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src_b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;   // d [N, 1, H, W] or a gradient [N, CH, H, W]
@group(0) @binding(4) var<storage, read> gout: array<vec4<f32>>;        // census_bwd: g [N, 1, H, W] (census_fwd: unread,
                                                                        // bound to a: `elem` names it)

const GRAY = vec3<f32>(0.2989 * 255.0, 0.587 * 255.0, 0.114 * 255.0);
const SRC_A = 0u;
const SRC_B = 1u;
const GOUT = 2u;

// ∂gray/∂(channel c) (a constant at every call once the channel loops unroll).
fn gray_weight(c: u32) -> f32 { return select(GRAY[c], 255.0, CH == 1u); }

// Element i of input `which` (a constant at every call, so the switch folds away).
fn elem(which: u32, i: u32) -> f32 {
  switch which {
    case 0u: { return src_a[i >> 2u][i & 3u]; }
    case 1u: { return src_b[i >> 2u][i & 3u]; }
    default: { return gout[i >> 2u][i & 3u]; }
  }
}

// Elements i .. i + 3 of input `which`, i being a row's pixel x0 (its row starts at `row`); past the row's end, 0.
fn quad(which: u32, row: u32, x0: u32, W: u32) -> vec4<f32> {
  if (ALIGNED) {
    let k = (row + x0) >> 2u;
    switch which {
      case 0u: { return src_a[k]; }
      case 1u: { return src_b[k]; }
      default: { return gout[k]; }
    }
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (x0 + j < W) { v[j] = elem(which, row + x0 + j); }
  }
  return v;
}

// Columns x0 − 4 .. x0 − 1 (l), x0 .. x0 + 3 (c) and x0 + 4 .. x0 + 7 (r) of one row, 0 outside the image.
struct Win {
  l: vec4<f32>,
  c: vec4<f32>,
  r: vec4<f32>,
}

fn window(which: u32, row: u32, x0: u32, W: u32) -> Win {
  var w = Win(vec4<f32>(0.0), quad(which, row, x0, W), vec4<f32>(0.0));
  if (RADIUS == 1u) {
    // 3x3 patches reach one column to each side: two scalar loads instead of two vec4s (whole vec4s made the 3x3
    // kernel 20-30 % slower: a vec4 gather is 4 loads per lane on lavapipe)
    if (x0 > 0u) { w.l.w = elem(which, row + x0 - 1u); }
    if (x0 + 4u < W) { w.r.x = elem(which, row + x0 + 4u); }
    return w;
  }
  if (x0 >= 4u) { w.l = quad(which, row, x0 - 4u, W); }
  if (x0 + 4u < W) { w.r = quad(which, row, x0 + 4u, W); }
  return w;
}

// The window's values at column offset s (−4 ..= 4) from each of the quad's 4 pixels (callers pass s as a literal,
// so the switch folds away when the kernel is compiled: fwd_term, bwd_term).
fn shifted(w: Win, s: i32) -> vec4<f32> {
  switch s {
    case -4: { return w.l; }
    case -3: { return vec4<f32>(w.l.yzw, w.c.x); }
    case -2: { return vec4<f32>(w.l.zw, w.c.xy); }
    case -1: { return vec4<f32>(w.l.w, w.c.xyz); }
    case 0: { return w.c; }
    case 1: { return vec4<f32>(w.c.yzw, w.r.x); }
    case 2: { return vec4<f32>(w.c.zw, w.r.xy); }
    case 3: { return vec4<f32>(w.c.w, w.r.xyz); }
    default: { return w.r; }
  }
}

// Gray window of row y (0 outside the image) of image `which` of sample n.
fn gray_window(which: u32, n: u32, y: i32, x0: u32, H: u32, W: u32) -> Win {
  var g = Win(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  if (y < 0 || u32(y) >= H) { return g; }
  for (var c = 0u; c < CH; c++) {
    let w = window(which, ((n * CH + c) * H + u32(y)) * W, x0, W);
    g.l += gray_weight(c) * w.l;
    g.c += gray_weight(c) * w.c;
    g.r += gray_weight(c) * w.r;
  }
  return g;
}

fn soft_sign(d: vec4<f32>) -> vec4<f32> { return d * inverseSqrt(0.81 + d * d); }

// m(p) for the window's columns in row y: 1 on interior pixels (the whole patch inside the image).
fn interior(y: i32, x0: u32, H: u32, W: u32) -> Win {
  let R = i32(RADIUS);
  if (y < R || y + R >= i32(H)) { return Win(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0)); }
  let x = vec4<i32>(i32(x0)) + vec4<i32>(0, 1, 2, 3);
  let lo = vec4<i32>(R);
  let hi = vec4<i32>(i32(W) - 1 - R);
  let one = vec4<f32>(1.0);
  let zero = vec4<f32>(0.0);
  let l = x - vec4<i32>(4);
  let r = x + vec4<i32>(4);
  return Win(select(zero, one, (l >= lo) & (l <= hi)), select(zero, one, (x >= lo) & (x <= hi)), select(zero, one, (r >= lo) & (r <= hi)));
}

// The patch's side, 2R + 1.
fn patch_side() -> u32 { return 2u * RADIUS + 1u; }

// First pixel x0 of the t-th quad of this lane.
fn quad_start(wid: vec3<u32>, lid: u32, t: u32) -> u32 { return 4u * (wid.x * WG * ITEMS + lid + t * WG); }

// ψ(t_o) of offset ox (of a row of the patch, whose gray windows are wa, wb) for the quad's pixels (grays ca, cb);
// 0 for offsets beyond RADIUS. Called with each ox a literal, like bwd_term below, and for the same reason.
fn fwd_term(wa: Win, wb: Win, ca: vec4<f32>, cb: vec4<f32>, ox: i32) -> vec4<f32> {
  if (abs(ox) > i32(RADIUS)) { return vec4<f32>(0.0); }
  let tt = soft_sign(shifted(wa, ox) - ca) - soft_sign(shifted(wb, ox) - cb);
  let t2 = tt * tt;
  return t2 / (0.1 + t2);
}

@compute @workgroup_size(WG)
fn census_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let H = p.dims.y;
  let W = p.dims.z;
  let n = wid.z;
  let row = (n * H + wid.y) * W;
  let y = i32(wid.y);
  for (var t = 0u; t < ITEMS; t++) {
    let x0 = quad_start(wid, lid, t);
    if (x0 >= W) { break; }
    let m = interior(y, x0, H, W).c;
    var acc = vec4<f32>(0.0);
    if (any(m > vec4<f32>(0.0))) {
      let ca = gray_window(SRC_A, n, y, x0, H, W).c;
      let cb = gray_window(SRC_B, n, y, x0, H, W).c;
      let R = i32(RADIUS);
      for (var ky = 0u; ky < patch_side(); ky++) {
        let oy = i32(ky) - R;
        let wa = gray_window(SRC_A, n, y + oy, x0, H, W);
        let wb = gray_window(SRC_B, n, y + oy, x0, H, W);
        // the row's offsets written out, as in census_bwd (fwd_term)
        acc += fwd_term(wa, wb, ca, cb, -4) + fwd_term(wa, wb, ca, cb, -3) + fwd_term(wa, wb, ca, cb, -2);
        acc += fwd_term(wa, wb, ca, cb, -1) + fwd_term(wa, wb, ca, cb, 0) + fwd_term(wa, wb, ca, cb, 1);
        acc += fwd_term(wa, wb, ca, cb, 2) + fwd_term(wa, wb, ca, cb, 3) + fwd_term(wa, wb, ca, cb, 4);
      }
    }
    store(row, x0, W, m * acc / f32(patch_side() * patch_side()));
  }
}

// Write the quad's values v to out at elements row + x0 .. row + x0 + 3 (those < W).
fn store(row: u32, x0: u32, W: u32, v: vec4<f32>) {
  if (ALIGNED) {
    out[(row + x0) >> 2u] = v;
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let i = row + x0 + j;
    if (x0 + j < W) { out[i >> 2u][i & 3u] = v[j]; }
  }
}

// G = g·m/K over the window of row yy (0 outside the image and on the border).
fn g_window(n: u32, yy: i32, x0: u32, H: u32, W: u32) -> Win {
  let K = f32(patch_side() * patch_side());
  let m = interior(yy, x0, H, W);
  if (GCONST) {
    // the same g at every pixel (the refinement's mean over pixels): no g window to load
    let c = bitcast<f32>(p.dims.w) / K;
    return Win(c * m.l, c * m.c, c * m.r);
  }
  if (dot(m.l + m.c + m.r, vec4<f32>(1.0)) > 0.0) {
    let g = window(GOUT, (n * H + u32(yy)) * W, x0, W);
    return Win(g.l * m.l / K, g.c * m.c / K, g.r * m.r / K);
  }
  return Win(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
}

// The term of offset ox (of a row of the patch) in Gᵃ(q) or Gᵇ(q) for the quad: gr, wa, wb are the row's windows of
// G and of both grays, gq, ca, cb the quad's own values. Callers write each ox out as a literal, 9 calls per row, and
// the offsets beyond RADIUS fold away: the same sum as a loop over ox, but with every `shifted` resolved when the
// kernel is compiled — lavapipe left a loop of 5 to 9 offsets rolled, where `shifted`'s switch and the row windows
// cost 1.4-1.7x the time (census_bwd 7x7 on [8, 1, 128, 128], interleaved: 45.5 -> 27.8 ms; 3x3 as before).
fn bwd_term(gr: Win, gq: vec4<f32>, ca: vec4<f32>, cb: vec4<f32>, wa: Win, wb: Win, ox: i32) -> vec4<f32> {
  if (abs(ox) > i32(RADIUS)) { return vec4<f32>(0.0); }
  // τ'(D) = 0.81 / (0.81 + D²)^(3/2) = 0.81 · r³ for the side's D; b's enters t with a minus sign
  let w = shifted(gr, ox) + gq;
  let dA = ca - shifted(wa, ox);
  let dB = cb - shifted(wb, ox);
  let ra = inverseSqrt(0.81 + dA * dA);
  let rb = inverseSqrt(0.81 + dB * dB);
  let tt = dA * ra - dB * rb;
  let den = 0.1 + tt * tt;
  let s = w * 0.2 * tt / (den * den);
  let r = select(ra, rb, SIDE == 1u);
  return select(s, -s, SIDE == 1u) * (0.81 * r * r * r);
}

@compute @workgroup_size(WG)
fn census_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let H = p.dims.y;
  let W = p.dims.z;
  let n = wid.z;
  let y = i32(wid.y);
  for (var t = 0u; t < ITEMS; t++) {
    let x0 = quad_start(wid, lid, t);
    if (x0 >= W) { break; }
    let gq = g_window(n, y, x0, H, W).c;
    let ca = gray_window(SRC_A, n, y, x0, H, W).c;
    let cb = gray_window(SRC_B, n, y, x0, H, W).c;
    var sum = vec4<f32>(0.0);
    for (var ky = 0u; ky < patch_side(); ky++) {
      let yy = y + i32(ky) - i32(RADIUS);
      let gr = g_window(n, yy, x0, H, W);
      let wa = gray_window(SRC_A, n, yy, x0, H, W);
      let wb = gray_window(SRC_B, n, yy, x0, H, W);
      // the row's offsets written out (see bwd_term); the centre (0, 0) has D = 0 and adds 0
      sum += bwd_term(gr, gq, ca, cb, wa, wb, -4) + bwd_term(gr, gq, ca, cb, wa, wb, -3) + bwd_term(gr, gq, ca, cb, wa, wb, -2);
      sum += bwd_term(gr, gq, ca, cb, wa, wb, -1) + bwd_term(gr, gq, ca, cb, wa, wb, 0) + bwd_term(gr, gq, ca, cb, wa, wb, 1);
      sum += bwd_term(gr, gq, ca, cb, wa, wb, 2) + bwd_term(gr, gq, ca, cb, wa, wb, 3) + bwd_term(gr, gq, ca, cb, wa, wb, 4);
    }
    for (var c = 0u; c < CH; c++) {
      store(((n * CH + c) * H + wid.y) * W, x0, W, gray_weight(c) * sum);
    }
  }
}
