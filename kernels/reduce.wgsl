// Reduction family. The host views the input as [outer, R, inner] (adjacent reduced axes merged into R; axis
// groups that are not adjacent are reduced one pass at a time) and writes [outer, inner].
//
// Specialisation: OP 0 sum, 1 max, 2 min; VEC4 (the contiguous axis is walked as vec4: R % 4 == 0 for the rows
// kernel, inner % 4 == 0 for the columns kernel); WG invocations per workgroup; ITEMS (columns kernel only).
//
// Entry points (shaped for lavapipe: 8-lane workgroups, consecutive lanes on consecutive addresses):
//   reduce_rows   inner == 1, rows of 64 or more. One 8-lane workgroup per (row, part): the row is cut into
//                 `parts` chunks of `chunk` elements (vec4s with VEC4) so that both CPU threads get work even for
//                 one long row; lane l accumulates chunk elements l, l+8, ...; the 8 partial results meet in
//                 workgroup memory (one barrier). Output [outer, parts]; the host reduces the parts again when
//                 parts > 1.
//   reduce_cols   inner > 1, or shorter rows (inner == 1: a lane per row). Each invocation owns one output column
//                 (or 4 with VEC4) and walks R with stride inner, so neighbouring lanes read neighbouring addresses.

override OP: u32 = 0u;
override WG: u32 = 8u;
override ITEMS: u32 = 1u;
override VEC4: bool = false;

struct Params {
  outer: u32,
  r: u32,        // reduced length, in elements
  inner: u32,
  chunk: u32,    // reduce_rows: elements (or vec4s with VEC4) per workgroup; parts = ceil(r / chunk)
  inf: f32,      // +infinity, passed in because WGSL constant expressions cannot hold it
}

@group(0) @binding(0) var<uniform> p: Params;
// Buffers are vec4 arrays; scalar element i is v[i >> 2][i & 3] (buffers come in 16-byte multiples).
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;

fn x_at(i: u32) -> f32 { return x4[i >> 2u][i & 3u]; }

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

fn combine4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  switch OP {
    case 1u: { return max(a, b); }
    case 2u: { return min(a, b); }
    default: { return a + b; }
  }
}

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let part = wid.x;
  let row = wid.y + wid.z * 65535u;
  let parts = (select(p.r, p.r / 4u, VEC4) + p.chunk - 1u) / p.chunk;
  if (row >= p.outer) { return; }   // uniform over the workgroup: safe before the barrier
  var acc = identity();
  if (VEC4) {
    let r4 = p.r / 4u;
    let base = row * r4;
    let stop = min((part + 1u) * p.chunk, r4);
    var a4 = vec4<f32>(identity());
    for (var j = part * p.chunk + lid; j < stop; j += WG) { a4 = combine4(a4, x4[base + j]); }
    acc = combine(combine(a4.x, a4.y), combine(a4.z, a4.w));
  } else {
    let base = row * p.r;
    let stop = min((part + 1u) * p.chunk, p.r);
    for (var j = part * p.chunk + lid; j < stop; j += WG) { acc = combine(acc, x_at(base + j)); }
  }
  partial[lid] = acc;
  workgroupBarrier();
  if (lid == 0u) {
    var total = partial[0];
    for (var l = 1u; l < WG; l++) { total = combine(total, partial[l]); }
    let o = row * parts + part;
    y4[o >> 2u][o & 3u] = total;
  }
}

@compute @workgroup_size(WG)
fn reduce_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  let cols = select(p.inner, p.inner / 4u, VEC4);     // output columns per outer index, in this kernel's units
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.outer * cols) { break; }
    let o = i / cols;
    let c = i - o * cols;
    var at = o * p.r * cols + c;
    if (VEC4) {
      var acc = vec4<f32>(identity());
      for (var j = 0u; j < p.r; j++) {
        acc = combine4(acc, x4[at]);
        at += cols;
      }
      y4[i] = acc;
    } else {
      var acc = identity();
      for (var j = 0u; j < p.r; j++) {
        acc = combine(acc, x_at(at));
        at += cols;
      }
      y4[i >> 2u][i & 3u] = acc;
    }
  }
}
