// PWC-Net correlation (cost volume, FLOW.md §3) and the two gradients of its trilinear form.
//
// With m = max displacement, D = 2m+1, displacement channel d = (dy+m)·D + (dx+m) and f = 0 outside the image:
//   corr:   out[n, d, y, x]   = (1/C) Σ_c f1[n,c,y,x] · f2[n,c,y+dy,x+dx]
// All three entry points are partial derivatives of T(g, f1, f2) = (1/C) Σ g[n,d,y,x] f1[n,c,y,x] f2[n,c,y+dy,x+dx]:
//   corr_grad1: gf1[n,c,y,x]   = (1/C) Σ_d g[n,d,y,x] · f2[n,c,y+dy,x+dx]                 (= ∂T/∂f1)
//   corr_grad2: gf2[n,c,y',x'] = (1/C) Σ_d g[n,d,y'-dy,x'-dx] · f1[n,c,y'-dy,x'-dx]         (= ∂T/∂f2)
// Every one is a gather (no atomics). Displacements along x are handled KT at a time (KT = min(D, 9), an override
// constant so the per-lane arrays stay in registers); a tile of displacements dx = -m + tile·KT + k, k < KT, whose
// index passes D is masked. Out-of-image neighbours are read at a clamped address and masked (corr: the sum is
// replaced by 0; gradients: the g factor is 0).
//
// Bindings: 1 a, 2 b, 3 out — corr: (f1, f2); corr_grad1: (g, f2); corr_grad2: (g, f1).
// Grids (8-lane workgroups, one output pixel per lane, lanes along x):
//   corr:       x = ceil(W/WG), y = H, z = (n·D + dy index)·T + tile,   T = ceil(D/KT)
//   corr_grad*: x = ceil(W/WG), y = H, z = n·(C/CT) + channel tile     (CT channels per lane, CT divides C)

override WG: u32 = 8u;
override KT: u32 = 9u;   // displacements along x per tile (<= 9)
override CT: u32 = 8u;   // channels per lane in the gradient kernels (<= 8)

struct Params {
  dims: vec4<u32>,   // N, C, H, W
  disp: vec4<u32>,   // m, D, T (x tiles), unused
  inv_c: f32,        // 1/C
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn corr(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let C = p.dims.y;
  let H = p.dims.z;
  let W = p.dims.w;
  let HW = H * W;
  let m = i32(p.disp.x);
  let D = p.disp.y;
  let T = p.disp.z;
  let tile = wid.z % T;
  let dyi = (wid.z / T) % D;
  let n = wid.z / (T * D);
  let y = wid.y;
  let x = wid.x * WG + lid;
  if (x >= W) { return; }
  let y2 = i32(y) + i32(dyi) - m;
  let row_ok = y2 >= 0 && y2 < i32(H);
  let k0 = tile * KT;                     // index of this tile's first dx
  var off: array<u32, 9>;                 // clamped column of each neighbour
  var ok: array<bool, 9>;
  for (var k = 0u; k < KT; k++) {
    let x2 = i32(x) + i32(k0 + k) - m;
    ok[k] = row_ok && k0 + k < D && x2 >= 0 && x2 < i32(W);
    off[k] = u32(clamp(x2, 0, i32(W) - 1));
  }
  var acc: array<f32, 9>;
  for (var k = 0u; k < KT; k++) { acc[k] = 0.0; }
  if (row_ok) {
    var i1 = n * C * HW + y * W + x;
    var r2 = n * C * HW + u32(y2) * W;
    for (var c = 0u; c < C; c++) {
      let v = a[i1];
      for (var k = 0u; k < KT; k++) { acc[k] += v * b[r2 + off[k]]; }
      i1 += HW;
      r2 += HW;
    }
  }
  let DD = D * D;
  for (var k = 0u; k < KT; k++) {
    if (k0 + k < D) {
      out[((n * DD + dyi * D + k0 + k) * H + y) * W + x] = select(0.0, acc[k] * p.inv_c, ok[k]);
    }
  }
}

// Shared body of the gradient kernels. shift = +1: gf1 (neighbour at +d, g at the pixel itself);
// shift = -1: gf2 (neighbour and g both at -d). Per row of displacements the lane loads its KT values of g once and
// uses each for CT channels (CT accumulators), so the inner loop is one load and one FMA.
fn corr_grad(wid: vec3<u32>, lid: u32, shift: i32) {
  let C = p.dims.y;
  let H = p.dims.z;
  let W = p.dims.w;
  let HW = H * W;
  let m = i32(p.disp.x);
  let D = p.disp.y;
  let T = p.disp.z;
  let DD = D * D;
  let tiles_c = C / CT;
  let n = wid.z / tiles_c;
  let c0 = (wid.z % tiles_c) * CT;
  let y = wid.y;
  let x = wid.x * WG + lid;
  if (x >= W) { return; }
  var acc: array<f32, 8>;
  for (var ci = 0u; ci < CT; ci++) { acc[ci] = 0.0; }
  let gn = n * DD * HW;
  let plane0 = (n * C + c0) * HW;
  for (var tile = 0u; tile < T; tile++) {
    let k0 = tile * KT;
    // column of each neighbour (and of g), which does not depend on the row: computed once per tile
    var xc: array<u32, 9>;
    var gcol: array<u32, 9>;
    var ok: array<bool, 9>;
    for (var k = 0u; k < KT; k++) {
      let x2 = i32(x) + shift * (i32(k0 + k) - m);
      ok[k] = k0 + k < D && x2 >= 0 && x2 < i32(W);
      xc[k] = u32(clamp(x2, 0, i32(W) - 1));
      gcol[k] = select(x, xc[k], shift < 0);
    }
    for (var dyi = 0u; dyi < D; dyi++) {
      let y2 = i32(y) + shift * (i32(dyi) - m);     // row of the neighbour (and, for gf2, of g)
      if (y2 < 0 || y2 >= i32(H)) { continue; }
      // g of displacements (dyi, k0 + k) at the row of g; the index of a masked k past D is clamped
      var gi = gn + (dyi * D + k0) * HW + select(y * W, u32(y2) * W, shift < 0);
      let glast = gn + DD * HW - 1u;
      var gk: array<f32, 9>;
      for (var k = 0u; k < KT; k++) {
        gk[k] = select(0.0, a[min(gi + gcol[k], glast)], ok[k]);
        gi += HW;
      }
      let o0 = plane0 + u32(y2) * W;
      for (var k = 0u; k < KT; k++) {
        let o = o0 + xc[k];
        let gv = gk[k];
        for (var ci = 0u; ci < CT; ci++) { acc[ci] += gv * b[o + ci * HW]; }
      }
    }
  }
  var o = plane0 + y * W + x;
  for (var ci = 0u; ci < CT; ci++) {
    out[o] = acc[ci] * p.inv_c;
    o += HW;
  }
}

@compute @workgroup_size(WG)
fn corr_grad1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  corr_grad(wid, lid, 1);
}

@compute @workgroup_size(WG)
fn corr_grad2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  corr_grad(wid, lid, -1);
}
