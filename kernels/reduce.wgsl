// Reduction family. The host views the input as [outer, R, inner] (reduced axes merged into R; several
// non-adjacent axis groups are reduced one pass at a time) and writes [outer, inner].
//
// Specialisation: OP 0 sum, 1 max, 2 min. WG invocations per workgroup.
//
// Entry points:
//   reduce_rows   inner == 1: one workgroup per output row; each invocation strides over the row, then a
//                 workgroup tree reduction. Rows longer than `chunk` are split: the workgroup for (row, part)
//                 reduces elements [part*chunk, (part+1)*chunk) and a second pass combines the parts.
//   reduce_cols   inner > 1: one invocation per (outer, inner) output walks R with stride `inner`
//                 (neighbouring invocations read neighbouring addresses).

override OP: u32 = 0u;
override WG: u32 = 256u;

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
  chunk: u32,    // reduce_rows: elements per workgroup (a multiple of WG); parts = ceil(r / chunk)
  inf: f32,      // +infinity, passed in because WGSL constant expressions cannot hold it
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn identity() -> f32 {
  switch OP {
    case 1u: { return -p.inf; }
    case 2u: { return p.inf; }
    default: { return 0.0; }
  }
}

fn combine(a: f32, b: f32) -> f32 {
  switch OP {
    case 1u: { return max(a, b); }
    case 2u: { return min(a, b); }
    default: { return a + b; }
  }
}

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let parts = (p.r + p.chunk - 1u) / p.chunk;
  let row = wid.y;           // one row of `outer` per y
  let part = wid.x;          // one chunk of the row per x
  let base = row * p.r;
  let start = part * p.chunk;
  let stop = min(start + p.chunk, p.r);
  var acc = identity();
  // 4 independent accumulators hide the add latency.
  var acc1 = identity();
  var acc2 = identity();
  var acc3 = identity();
  var j = start + lid;
  for (; j + 3u * WG < stop; j += 4u * WG) {
    acc = combine(acc, x[base + j]);
    acc1 = combine(acc1, x[base + j + WG]);
    acc2 = combine(acc2, x[base + j + 2u * WG]);
    acc3 = combine(acc3, x[base + j + 3u * WG]);
  }
  for (; j < stop; j += WG) { acc = combine(acc, x[base + j]); }
  partial[lid] = combine(combine(acc, acc1), combine(acc2, acc3));
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = combine(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { y[row * parts + part] = partial[0]; }
}

@compute @workgroup_size(WG)
fn reduce_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.outer * p.inner) { return; }
  let o = i / p.inner;
  let k = i - o * p.inner;
  var at = o * p.r * p.inner + k;
  var acc = identity();
  for (var j = 0u; j < p.r; j++) {
    acc = combine(acc, x[at]);
    at += p.inner;
  }
  y[i] = acc;
}
