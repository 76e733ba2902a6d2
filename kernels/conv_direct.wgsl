// Direct convolutions for layers with few channels (1-3 spatial dims; 2-D runs as D = 1), no im2col columns:
//
//   conv_direct:  y[n, co, o] = Σ_{ci, k}  x[n, ci, o·S − P + k·Dil] · w[co, ci, k]          (taps outside x: 0)
//   convt_direct: y[n, co, o] = Σ_{ci, k : o + P − k·Dil = i·S}  x[n, ci, i] · w[ci, co, k]   (the transposed conv)
//
// with o, k, i, S, P, Dil triples over (D, H, W). For an RGB layer (conv3d 3->32 k(3,4,4) s(1,2,2), or the
// generator's convT3d 3->3) the im2col route writes and re-reads a column buffer 48x the input and runs a matmul with
// an inner dimension of 3; here every input value is read straight from x (from cache: neighbouring lanes and taps
// share it) and the only arithmetic is the convolution's own multiply-adds.
//
// The weights come packed by the host as vec4s over output channels: wv[(g·Ci + ci)·KVOL + k] = w[4g..4g+3, ci, k]
// (zero past Co; for the transposed conv w is first read as [Co, Ci, k]). One workgroup computes 4 output channels
// (group g) of ITEMS·WG outputs of one output row (od, oh): lane l, item j owns column ow = (x·ITEMS + j)·WG + l, so
// the lanes' loads of x and stores of y are consecutive, and every weight vec4 feeds 4·ITEMS multiply-adds from
// 4·ITEMS accumulators in registers.
//
// convt_direct splits the output by its phase along W (ow ≡ pw mod SW, a grid dimension): within a workgroup the taps
// that reach an output are the same for every lane (kw ≡ pw + PW mod SW along W; along D and H the row is fixed), so
// control flow stays uniform and no lane computes a tap that does not exist — the sub-pixel form of a strided
// transposed convolution without splitting the weights.
//
// Each workgroup walks ROWS output rows (oh) of one plane od one after the other, so its fixed cost (a coroutine
// switch on lavapipe) is paid once for ROWS rows (measured: no faster on the layers here, nor slower; kept so that
// small rows do not multiply workgroups).
// Grids: conv_direct  x = ceil(OW / (WG·ITEMS)),          y = OD·ceil(OH / ROWS), z = N·G
//        convt_direct x = ceil(ceil(OW / SW) / (WG·ITEMS)), y = OD·ceil(OH / ROWS), z = N·G·SW
// Strides and dilations are pipeline constants, so divisions by them are shifts.

#if SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 8u;
override SD: i32 = 1;
override SH: i32 = 1;
override SW: i32 = 1;
override DD: i32 = 1;
override DH: i32 = 1;
override DW: i32 = 1;
override ROWS: u32 = 16u;
override KD: u32 = 1u;      // kernel size: constants, so the tap loops unroll (measured 1.85x on convT3d 3->3)
override KH: u32 = 1u;
override KW: u32 = 1u;   // output rows (oh) one workgroup computes, one after the other
const ITEMS: u32 = 4u;

struct Params {
  in_size: vec4<u32>,    // D, H, W, Ci (of x)
  out_size: vec4<u32>,   // OD, OH, OW, G = ceil(Co / 4)
  ksize: vec4<u32>,      // KD, KH, KW, Co
  pad: vec4<i32>,        // PD, PH, PW, unused
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wv: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// x[base + ix] inside the row, 0 outside it (the zero padding).
fn ld(base: u32, ix: i32, W: i32) -> f32 {
  return select(0.0, x[base + u32(clamp(ix, 0, W - 1))], ix >= 0 && ix < W);
}

// The accumulators of one lane: items j = 0..3, each 4 output channels, as named fields (no dynamic indexing for
// the compiler to resolve).
struct Acc { a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32> }

// One tap: item j reads x at column ix + j·step of the row at xrow, times the tap's 4 weights wk.
fn tap(acc: Acc, xrow: u32, ix: i32, step: i32, W: i32, wk: vec4<f32>) -> Acc {
  return Acc(
    fma(vec4<f32>(ld(xrow, ix, W)), wk, acc.a0),
    fma(vec4<f32>(ld(xrow, ix + step, W)), wk, acc.a1),
    fma(vec4<f32>(ld(xrow, ix + 2 * step, W)), wk, acc.a2),
    fma(vec4<f32>(ld(xrow, ix + 3 * step, W)), wk, acc.a3),
  );
}

// y[n, 4g + c, row, ow] = v[c] for the channels below Co, when ow is inside the row.
fn store1(v: vec4<f32>, n: u32, g: u32, row: u32, ow: u32) {
  let OW = p.out_size.z;
  if (ow >= OW) { return; }
  let plane = p.out_size.x * p.out_size.y * OW;
  let Co = p.ksize.w;
  let base = (n * Co + 4u * g) * plane + row * OW + ow;
  for (var c = 0u; c < 4u; c++) {
    if (4u * g + c < Co) { y[base + c * plane] = v[c]; }
  }
}

// Item j goes to column ow0 + j·ostep of output row (od, oh).
fn store(acc: Acc, n: u32, g: u32, od: i32, oh: i32, ow0: u32, ostep: u32) {
  let row = u32(od) * p.out_size.y + u32(oh);
  store1(acc.a0, n, g, row, ow0);
  store1(acc.a1, n, g, row, ow0 + ostep);
  store1(acc.a2, n, g, row, ow0 + 2u * ostep);
  store1(acc.a3, n, g, row, ow0 + 3u * ostep);
}

// What a workgroup works on: plane od, first row oh0, sample n, channel group g (and the rest of wid.z).
struct Place { od: i32, oh0: u32, n: u32, g: u32, rest: u32 }

fn place(wid: vec3<u32>, phases: u32) -> Place {
  let blocks = (p.out_size.y + ROWS - 1u) / ROWS;
  let ng = wid.z / phases;
  return Place(i32(wid.y / blocks), (wid.y % blocks) * ROWS, ng / p.out_size.w, ng % p.out_size.w, wid.z % phases);
}

@compute @workgroup_size(WG)
fn conv_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = i32(p.in_size.z);
  let Ci = p.in_size.w;
  let at = place(wid, 1u);
  let ow0 = wid.x * ITEMS * WG + lid;
  // the input column of item j at tap kw: (ow0 + j·WG)·SW − PW + kw·DW
  let ix0 = i32(ow0) * SW - p.pad.z;
  for (var r = 0u; r < ROWS; r++) {
    let oh = i32(at.oh0 + r);
    if (oh >= i32(p.out_size.y)) { break; }
    var acc = Acc(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var ci = 0u; ci < Ci; ci++) {
      let xc = (at.n * Ci + ci) * u32(D * H * W);
      for (var kd = 0u; kd < KD; kd++) {
        let iz = at.od * SD - p.pad.x + i32(kd) * DD;
        if (iz < 0 || iz >= D) { continue; }
        for (var kh = 0u; kh < KH; kh++) {
          let iy = oh * SH - p.pad.y + i32(kh) * DH;
          if (iy < 0 || iy >= H) { continue; }
          let xrow = xc + u32(iz * H + iy) * u32(W);
          let wrow = ((at.g * Ci + ci) * KD + kd) * KH * KW + kh * KW;
          for (var kw = 0u; kw < KW; kw++) {
            acc = tap(acc, xrow, ix0 + i32(kw) * DW, i32(WG) * SW, W, wv[wrow + kw]);
          }
        }
      }
    }
    store(acc, at.n, at.g, at.od, oh, ow0, WG);
  }
}

// The transposed conv's input index i that output o reaches through tap k (o + pad − k·dil = i·s), or -1 where there
// is none (not a multiple of the stride, or outside 0..n-1).
fn tap_src(o: i32, pad: i32, k: u32, dil: i32, s: i32, n: i32) -> i32 {
  let t = o + pad - i32(k) * dil;
  let i = t / s;
  return select(-1, i, t >= 0 && i * s == t && i < n);
}

@compute @workgroup_size(WG)
fn convt_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = i32(p.in_size.z);
  let Ci = p.in_size.w;
  let at = place(wid, u32(SW));
  let pw = at.rest;
  // outputs ow = pw + SW·m, m = (x·ITEMS + j)·WG + lane
  let m0 = wid.x * ITEMS * WG + lid;
  for (var r = 0u; r < ROWS; r++) {
    let oh = i32(at.oh0 + r);
    if (oh >= i32(p.out_size.y)) { break; }
    var acc = Acc(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var ci = 0u; ci < Ci; ci++) {
      let xc = (at.n * Ci + ci) * u32(D * H * W);
      for (var kd = 0u; kd < KD; kd++) {
        let iz = tap_src(at.od, p.pad.x, kd, DD, SD, D);
        if (iz < 0) { continue; }
        for (var kh = 0u; kh < KH; kh++) {
          let iy = tap_src(oh, p.pad.y, kh, DH, SH, H);
          if (iy < 0) { continue; }
          let xrow = xc + u32(iz * H + iy) * u32(W);
          let wrow = ((at.g * Ci + ci) * KD + kd) * KH * KW + kh * KW;
          for (var kw = 0u; kw < KW; kw++) {
            // ix = (ow + PW − kw·DW) / SW = m + c with c = (pw + PW − kw·DW) / SW when the division is exact
            let t = i32(pw) + p.pad.z - i32(kw) * DW;
            let c = (t - (((t % SW) + SW) % SW)) / SW;   // floor(t / SW)
            if (c * SW != t) { continue; }
            acc = tap(acc, xrow, i32(m0) + c, i32(WG), W, wv[wrow + kw]);
          }
        }
      }
    }
    store(acc, at.n, at.g, at.od, oh, pw + u32(SW) * m0, u32(SW) * WG);
  }
}

// convt_direct2: convt_direct for the common stride-2 case along W (SW = 2, DW = 1, rows of a multiple of 4 inputs,
// OW = 2·W, every tap's offset c below within ±1 — the host checks), with vectors instead of one scalar load per tap:
// lane q owns input columns 4q..4q+3 and all 8 outputs ow = 8q..8q+7 of the row, both phases. Output ow = 2m + pw
// receives x[m + c]·w[kw] for the taps with pw + PW − kw = 2c, so per (ci, kd, kh) the lane loads one vec4 of x
// (and one value on each side), and tap kw feeds the 4 items of phase pw = (PW − kw) mod 2 with that vec4 shifted by
// c = (pw + PW − kw) / 2. PW2 (= PW) is a constant, so each unrolled tap's phase and shift are known at compile
// time. The accumulators are vec4s over those 4 items, one per output channel and phase (CO below). The 8 outputs
// leave as two vec4s per channel (phases interleaved). Grid: x = ceil(W / (4·WG)), y and z as conv_direct.
override PW2: i32 = 0;
// convt_direct2 and conv_direct2 keep their accumulators per output channel, as vec4s over a lane's 4 items, and CO
// (the channels of a group that exist, min(Co, 4); 4 with PAIR) is a constant: an RGB layer keeps 3 such vec4s per
// phase, not 4 vec4s over channels with a discarded fourth, and does 3 vec4 multiply-adds a tap instead of 4
// (measured 1.1-1.16x faster on the generator's RGB layers, README kernel notes).
override CO: u32 = 4u;

@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;          // convt_direct2: x and y as vec4s
@group(0) @binding(3) var<storage, read_write> y4: array<vec4<f32>>;

// A row of KW weight vec4s, wv[row .. row + KW), which every lane needs at the same time. On lavapipe per-lane loads
// of a common address cost as much as divergent ones (kernels/matmul.wgsl), so with subgroups (#if SUBGROUPS, a
// workgroup of WG = 8 lanes is one subgroup) lane l loads only weight min(l, KW − 1) of the row (w_share) and w_tap
// fetches tap k's from lane k with one shuffle; rows wider than the workgroup, and devices without subgroups, load
// each tap directly. Callers keep every lane active (no early return) so that the lanes being read are.
// w_share2 does the same for two rows at once (conv_direct2 with PAIR; the host sets it only when 2·KW <= WG):
// lanes KW..2·KW−1 hold the second row's.
fn w_share(row: u32, lid: u32) -> vec4<f32> {
#if SUBGROUPS
  return wv[row + min(lid, KW - 1u)];
#else
  return vec4<f32>(0.0);
#endif
}

fn w_share2(row0: u32, row1: u32, lid: u32) -> vec4<f32> {
#if SUBGROUPS
  return wv[select(row1 + min(lid - KW, KW - 1u), row0 + lid, lid < KW)];
#else
  return vec4<f32>(0.0);
#endif
}

// Tap k of the row at `row`, held by lane `lane` of the share (k for w_share, KW + k for w_share2's second row).
fn w_tap(share: vec4<f32>, row: u32, k: u32, lane: u32) -> vec4<f32> {
#if SUBGROUPS
  if (KW <= WG) { return subgroupShuffle(share, lane); }
#endif
  return wv[row + k];
}

// The quad of a row's vec4 columns that lane lid of workgroup column wid.x owns, among Q: lanes past the row take
// the last quad's (a duplicate they compute but do not store, `live` false), so every lane stays active for the
// weight shuffles.
struct QuadLane { q: u32, live: bool }

fn quad_lane(wid: vec3<u32>, lid: u32, Q: u32) -> QuadLane {
  let q = wid.x * WG + lid;
  return QuadLane(min(q, Q - 1u), q < Q);
}

// The accumulators of convt_direct2 and conv_direct2: q[ch][j] is item j (of a lane's 4) of channel 4g + ch, ch < CO.
alias Quad = array<vec4<f32>, 4>;

fn quad_zero() -> Quad {
  var r: Quad;
  // explicit zeros: a `var` declared inside a loop body was measured to keep the previous iteration's values here
  for (var ch = 0u; ch < CO; ch++) { r[ch] = vec4<f32>(0.0); }
  return r;
}

// q[ch][j] += xs[j] · wk[ch]
fn tap_ch(q: Quad, xs: vec4<f32>, wk: vec4<f32>) -> Quad {
  var r = q;
  for (var ch = 0u; ch < CO; ch++) { r[ch] = fma(xs, vec4<f32>(wk[ch]), r[ch]); }
  return r;
}

@compute @workgroup_size(WG)
fn convt_direct2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = p.in_size.z;
  let Ci = p.in_size.w;
  let at = place(wid, 1u);
  let Q = W / 4u;
  let lane = quad_lane(wid, lid, Q);
  let q = lane.q;
  let OW = p.out_size.z;
  let plane = p.out_size.x * p.out_size.y * OW;
  let Co = p.ksize.w;
  for (var r = 0u; r < ROWS; r++) {
    let oh = i32(at.oh0 + r);
    if (oh >= i32(p.out_size.y)) { break; }
    var e = quad_zero();   // e[ch][j]: phase 0, ow = 8q + 2j, channel 4g + ch
    var o = e;             // o[ch][j]: phase 1, ow = 8q + 2j + 1
    for (var ci = 0u; ci < Ci; ci++) {
      let xc = (at.n * Ci + ci) * u32(D * H) * W;
      for (var kd = 0u; kd < KD; kd++) {
        let iz = tap_src(at.od, p.pad.x, kd, DD, SD, D);
        if (iz < 0) { continue; }
        for (var kh = 0u; kh < KH; kh++) {
          let iy = tap_src(oh, p.pad.y, kh, DH, SH, H);
          if (iy < 0) { continue; }
          let row4 = (xc + u32(iz * H + iy) * W) / 4u;
          let v = x4[row4 + q];
          let left = select(0.0, x4[row4 + max(q, 1u) - 1u].w, q > 0u);
          let right = select(0.0, x4[row4 + min(q + 1u, Q - 1u)].x, q + 1u < Q);
          let wrow = ((at.g * Ci + ci) * KD + kd) * KH * KW + kh * KW;
          let ws = w_share(wrow, lid);
          for (var kw = 0u; kw < KW; kw++) {
            let t = PW2 - i32(kw);
            let pw = ((t % 2) + 2) % 2;
            let c = (pw + t) / 2;
            let xv = select(select(vec4<f32>(v.yzw, right), v, c == 0), vec4<f32>(left, v.xyz), c < 0);
            let wk = w_tap(ws, wrow, kw, kw);
            if (pw == 0) { e = tap_ch(e, xv, wk); } else { o = tap_ch(o, xv, wk); }
          }
        }
      }
    }
    let out4 = ((at.n * Co + 4u * at.g) * plane + (u32(at.od) * p.out_size.y + u32(oh)) * OW) / 4u + 2u * q;
    for (var ch = 0u; ch < CO; ch++) {
      if (4u * at.g + ch < Co && lane.live) {
        y4[out4 + ch * plane / 4u] = vec4<f32>(e[ch].x, o[ch].x, e[ch].y, o[ch].y);
        y4[out4 + ch * plane / 4u + 1u] = vec4<f32>(e[ch].z, o[ch].z, e[ch].w, o[ch].w);
      }
    }
  }
}

// conv_direct2: conv_direct for the common stride-2 case along W (SW = 2, DW = 1, OW a multiple of 4, W = 2·OW, every
// tap within one column of the lane's 8 inputs: PW2 <= 1 and KW − PW2 <= 3 — the host checks), with vectors instead
// of one strided scalar load per tap: lane q owns the outputs ow = 4q..4q+3 and, per (ci, kd, kh), reads the input
// columns 8q−1..8q+8 as two vec4s and one value on each side (window8). Item j at tap kw reads column
// 8q + 2j − PW2 + kw, a window index known at compile time once the tap loop unrolls, so each tap is 4 multiply-adds
// of vec4s and no load but the weights' (shared between lanes, w_share). With PAIR a workgroup computes two channel
// groups (8 output channels: groups 2g' and 2g' + 1, out_size.w = ceil(G / 2)) from each window: half the windows
// and workgroups, for layers with more than 4 output channels (the critic's conv3d 3->32: 1.4-1.55x faster than one
// group per workgroup, or than im2col, in interleaved runs). Outputs leave as one vec4 per channel. Grid: x = ceil(OW / (4·WG)), y as conv_direct,
// z = N·out_size.w.
override PAIR: bool = false;

// Input columns 8q−1..8q+8 of the row that starts at vec4 row4 (2Q vec4s long; 0 past either end): quad q's window.
fn window8(row4: u32, q: u32, Q: u32) -> array<f32, 10> {
  let v0 = x4[row4 + 2u * q];
  let v1 = x4[row4 + 2u * q + 1u];
  let left = select(0.0, x4[row4 + max(2u * q, 1u) - 1u].w, q > 0u);
  let right = select(0.0, x4[row4 + min(2u * q + 2u, 2u * Q - 1u)].x, q + 1u < Q);
  return array<f32, 10>(left, v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w, right);
}

// Stores one channel group's quad (acc[ch][j] is column 4q + j of channel 4g + ch) for the channels below Co.
fn store_quad(acc: Quad, n: u32, g: u32, row: u32, q: u32) {
  let OW = p.out_size.z;
  let plane = p.out_size.x * p.out_size.y * OW;
  let Co = p.ksize.w;
  let out4 = ((n * Co + 4u * g) * plane + row * OW) / 4u + q;
  for (var ch = 0u; ch < CO; ch++) {
    if (4u * g + ch < Co) { y4[out4 + ch * plane / 4u] = acc[ch]; }
  }
}

// acc[ch][j] += win[e + 2j] · wk[ch]: one tap of a quad (item j is column 4q + j).
fn tap_quad(acc: Quad, win: array<f32, 10>, e: i32, wk: vec4<f32>) -> Quad {
  return tap_ch(acc, vec4<f32>(win[e], win[e + 2], win[e + 4], win[e + 6]), wk);
}

@compute @workgroup_size(WG)
fn conv_direct2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = p.in_size.z;
  let Ci = p.in_size.w;
  let at = place(wid, 1u);
  let Q = p.out_size.z / 4u;
  let lane = quad_lane(wid, lid, Q);
  let q = lane.q;
  let G = (p.ksize.w + 3u) / 4u;
  let g0 = select(at.g, 2u * at.g, PAIR);
  let g1 = min(g0 + 1u, G - 1u);   // PAIR's second group (a duplicate of the first when G is odd: not stored)
  for (var r = 0u; r < ROWS; r++) {
    let oh = i32(at.oh0 + r);
    if (oh >= i32(p.out_size.y)) { break; }
    var acc = quad_zero();
    var acc1 = acc;
    for (var ci = 0u; ci < Ci; ci++) {
      let xc = (at.n * Ci + ci) * u32(D * H) * W;
      for (var kd = 0u; kd < KD; kd++) {
        let iz = at.od * SD - p.pad.x + i32(kd) * DD;
        if (iz < 0 || iz >= D) { continue; }
        for (var kh = 0u; kh < KH; kh++) {
          let iy = oh * SH - p.pad.y + i32(kh) * DH;
          if (iy < 0 || iy >= H) { continue; }
          let win = window8((xc + u32(iz * H + iy) * W) / 4u, q, Q);
          let tap = (ci * KD + kd) * KH * KW + kh * KW;   // the row's offset within a group's weights
          let row0 = g0 * Ci * KD * KH * KW + tap;
          let row1 = g1 * Ci * KD * KH * KW + tap;
          var ws: vec4<f32>;
          if (PAIR) { ws = w_share2(row0, row1, lid); } else { ws = w_share(row0, lid); }
          for (var kw = 0u; kw < KW; kw++) {
            let e = 1 - PW2 + i32(kw);   // window index of item 0's column
            acc = tap_quad(acc, win, e, w_tap(ws, row0, kw, kw));
            if (PAIR) { acc1 = tap_quad(acc1, win, e, w_tap(ws, row1, kw, KW + kw)); }
          }
        }
      }
    }
    if (lane.live) {
      let row = u32(at.od) * p.out_size.y + u32(oh);
      store_quad(acc, at.n, g0, row, q);
      if (PAIR && g1 > g0) { store_quad(acc1, at.n, g1, row, q); }
    }
  }
}

// ------------------------------------------------------------------------------------------------ weight gradient
// patch_product: the weight gradient of both direct convolutions, for an A side of at most 4 channels:
//   out[a, b, kd, kh, kw] = Σ_n Σ_o  A[n, a, o] · src[n, b, o·S − P + k·Dil]          (src = 0 outside)
// (conv: A = dy, src = x; transposed conv: A = x, src = dy). One workgroup takes a chunk of ROWS output rows
// (n, od, oh) for one (b, kd, kh); each lane sweeps the row's columns ow = lane, lane + WG, ... and keeps one vec4
// accumulator (over a) per kw, so every A value it loads feeds KW taps. The lanes' sums meet in workgroup memory
// once, at the end; the chunks' partial sums are added by the host (a sum over the chunk axis).
// Grid: x = ceil(N·OD·OH / ROWS), y = B·KD·KH. Params: in_size = src's (D, H, W, B), out_size = A's grid
// (OD, OH, OW, A channels), ksize.w = N. Requires KW <= 8.

@group(0) @binding(4) var<storage, read> pa: array<f32>;
@group(0) @binding(5) var<storage, read> ps: array<f32>;
@group(0) @binding(6) var<storage, read_write> pout: array<vec4<f32>>;

var<workgroup> lanes: array<vec4<f32>, 64>;   // WG (8) lanes x KW (<= 8) taps

// Output row `row` of A's grid (n, od, oh; arow = od·OH + oh) and the src row (iz, iy) that tap (kd, kh) reads.
struct PatchRow { inside: bool, n: u32, arow: u32, iz: u32, iy: u32 }

fn patch_row(row: u32, kd: u32, kh: u32) -> PatchRow {
  let OD = p.out_size.x;
  let OH = p.out_size.y;
  let od = i32((row / OH) % OD);
  let oh = i32(row % OH);
  let iz = od * SD - p.pad.x + i32(kd) * DD;
  let iy = oh * SH - p.pad.y + i32(kh) * DH;
  let inside = iz >= 0 && iz < i32(p.in_size.x) && iy >= 0 && iy < i32(p.in_size.y);
  return PatchRow(inside, row / (OD * OH), u32(od) * OH + u32(oh), u32(iz), u32(iy));
}

// The lanes' sums of every kw tap meet in workgroup memory; lane kw writes the chunk's partial sum, laid out as
// [chunk, b, kd, kh, kw] of vec4s over a.
fn patch_finish(acc: array<vec4<f32>, 8>, lid: u32, chunk: u32, b: u32, kd: u32, kh: u32) {
  for (var k = 0u; k < KW; k++) { lanes[lid * 8u + k] = acc[k]; }
  workgroupBarrier();
  if (lid < KW) {
    var t = vec4<f32>(0.0);
    for (var l = 0u; l < WG; l++) { t += lanes[l * 8u + lid]; }
    pout[((chunk * p.in_size.w + b) * KD + kd) * KH * KW + kh * KW + lid] = t;
  }
}

@compute @workgroup_size(WG)
fn patch_product(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let D = i32(p.in_size.x);
  let H = i32(p.in_size.y);
  let W = i32(p.in_size.z);
  let B = p.in_size.w;
  let OD = p.out_size.x;
  let OH = p.out_size.y;
  let OW = p.out_size.z;
  let Ac = p.out_size.w;
  let rows = p.ksize.w * OD * OH;
  let kh = wid.y % KH;
  let kd = (wid.y / KH) % KD;
  let b = wid.y / (KH * KD);
  var acc: array<vec4<f32>, 8>;
  for (var k = 0u; k < KW; k++) { acc[k] = vec4<f32>(0.0); }
  let plane = OD * OH * OW;
  for (var r = 0u; r < ROWS; r++) {
    let row = wid.x * ROWS + r;
    if (row >= rows) { break; }
    let at = patch_row(row, kd, kh);
    if (!at.inside) { continue; }
    let srow = ((at.n * B + b) * u32(D) + at.iz) * u32(H * W) + at.iy * u32(W);
    let abase = at.n * Ac * plane + at.arow * OW;
    for (var ow = lid; ow < OW; ow += WG) {
      var av = vec4<f32>(0.0);
      for (var a = 0u; a < Ac; a++) { av[a] = pa[abase + a * plane + ow]; }
      let ix0 = i32(ow) * SW - p.pad.z;
      for (var kw = 0u; kw < KW; kw++) {
        let ix = ix0 + i32(kw) * DW;
        let s = select(0.0, ps[srow + u32(clamp(ix, 0, W - 1))], ix >= 0 && ix < W);
        acc[kw] = fma(av, vec4<f32>(s), acc[kw]);
      }
    }
  }
  patch_finish(acc, lid, wid.x, b, kd, kh);
}

// patch_product2: patch_product for conv_direct2's geometry (SW = 2, DW = 1, A rows of a multiple of 4 columns, src
// rows twice as long, PW2 <= 1, KW − PW2 <= 3), laid out for lavapipe's loads: lane t owns tap (b, kd, kh) = t of the
// B·KD·KH taps (the host sets WG to that, rounded up to 8; spare lanes repeat the last tap and write nothing) and its
// KW sums. All lanes walk the same quads of A's columns in the same rows, so A's loads have one address for the whole
// workgroup (AC, A's channel count, is a constant); each lane reads its own src row's columns 8q−1..8q+8 through
// window8, so tap kw of column j is window index 2j − PW2 + kw + 1, known once the loops unroll: one dot product of
// 4 columns per tap and channel. A row whose tap falls outside src reads a clamped row scaled by 0 (no divergent
// branch). No workgroup reduction: each lane writes its own partial sums, as patch_product lays them out.
// Measured against a lane-per-quad layout (every lane its own A loads, the taps split over workgroups): 1.4x faster.
// Grid: x = ceil(N·OD·OH / ROWS).
// (src is read through x4, binding 1, so that window8 serves conv_direct2 as well)
@group(0) @binding(4) var<storage, read> pa4: array<vec4<f32>>;
override AC: u32 = 4u;

@compute @workgroup_size(WG)
fn patch_product2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32
#if SUBGROUPS
                  , @builtin(subgroup_invocation_id) sg: u32
#endif
) {
  let W = p.in_size.z;
  let B = p.in_size.w;
  let OD = p.out_size.x;
  let OH = p.out_size.y;
  let OW = p.out_size.z;
  let Q = OW / 4u;
  let rows = p.ksize.w * OD * OH;
  let taps = B * KD * KH;
  let t = min(lid, taps - 1u);
  let kh = t % KH;
  let kd = (t / KH) % KD;
  let b = t / (KH * KD);
  var acc: array<vec4<f32>, 8>;
  for (var k = 0u; k < KW; k++) { acc[k] = vec4<f32>(0.0); }
  let plane4 = OD * OH * OW / 4u;
  for (var r = 0u; r < ROWS; r++) {
    let row = wid.x * ROWS + r;
    if (row >= rows) { break; }
    let at = patch_row(row, kd, kh);
    let keep = select(0.0, 1.0, at.inside);
    let iz = min(at.iz, p.in_size.x - 1u);
    let iy = min(at.iy, p.in_size.y - 1u);
    let srow4 = (((at.n * B + b) * p.in_size.x + iz) * p.in_size.y + iy) * W / 4u;
    let arow4 = at.n * AC * plane4 + at.arow * OW / 4u;
    for (var q = 0u; q < Q; q++) {
      // A's 4 columns of each channel (scaled by 0 where the tap is outside src): one address for the whole
      // workgroup, so with subgroups the subgroup's lane l loads channel min(l, AC − 1) and the others take it by
      // shuffle (1.4x faster on the convT3d 3->3 weight gradient: README kernel notes)
      var m: array<vec4<f32>, 4>;
#if SUBGROUPS
      let mine = pa4[arow4 + min(sg, AC - 1u) * plane4 + q];
      for (var a = 0u; a < AC; a++) { m[a] = subgroupShuffle(mine, a) * keep; }
#else
      for (var a = 0u; a < AC; a++) { m[a] = pa4[arow4 + a * plane4 + q] * keep; }
#endif
      let win = window8(srow4, q, Q);
      for (var kw = 0u; kw < KW; kw++) {
        let e = 1 - PW2 + i32(kw);
        let xs = vec4<f32>(win[e], win[e + 2], win[e + 4], win[e + 6]);   // the src value each column meets
        for (var a = 0u; a < AC; a++) { acc[kw][a] += dot(m[a], xs); }
      }
    }
  }
  if (lid < taps) {
    for (var k = 0u; k < KW; k++) { pout[((wid.x * B + b) * KD + kd) * KH * KW + kh * KW + k] = acc[k]; }
  }
}
