// Strided copy family: one kernel moves data for permute, expand (broadcast_to), slice, concat and contiguous copies.
//
// The index space has up to 8 dims (`shape`, innermost last). For each index k = (k0..k7):
//   dst[dst_off + sum_d k_d * dst_stride_d] = src[src_off + sum_d k_d * src_stride_d]
// Permute: dst contiguous, src strides permuted. Expand: src stride 0 on stretched dims. Slice: src offset + strides
// of the full tensor. Concat: one launch per input, dst offset/strides of the output block.
// The host merges dims that stay contiguous in both src and dst, so most copies run at rank 1-3.
//
// Specialisation: WG invocations per workgroup (8 = one lavapipe SIMD vector), ITEMS elements per invocation
// (invocation l of workgroup g copies elements g*WG*ITEMS + l + k*WG, k < ITEMS).
// copy_vec4 is the contiguous special case (rank 1, unit strides, 16-byte aligned): one vec4 per step; splat4 the
// broadcast of one element (rank 1, source stride 0).
// copy_rows4 is the row case: the innermost dim is contiguous in src and dst with a length that is a multiple of 4
// and every offset 16-byte aligned (slices and concats along outer axes, expand of whole rows): rows run on grid y
// (and z), the index arithmetic of a row is done once per invocation, and the row moves as vec4s.
// copy_rows is the same with scalar elements and any innermost strides, for rows of at least 64 elements;
// copy_lane_rows gives each lane whole rows, for shorter ones.

override WG: u32 = 8u;
override ITEMS: u32 = 64u;

struct Params {
  n: u32,
  rank: u32,
  src_off: u32,
  dst_off: u32,
  shape: array<vec4<u32>, 2>,
  ss: array<vec4<u32>, 2>,
  ds: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d >> 2u][d & 3u]; }

@group(0) @binding(3) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dst4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn strided_copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    var rem = i;
    var is = p.src_off;
    var id = p.dst_off;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
      let s = dim(p.shape, u32(d));
      let q = rem / s;
      let j = rem - q * s;
      rem = q;
      is += j * dim(p.ss, u32(d));
      id += j * dim(p.ds, u32(d));
    }
    dst[id] = src[is];
  }
}

// n, src_off and dst_off count vec4s here.
@compute @workgroup_size(WG)
fn copy_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    dst4[p.dst_off + i] = src4[p.src_off + i];
  }
}

// splat4: dst4[dst_off + i] = vec4(src[src_off]) for i < n — one value broadcast to a contiguous block (expand of a
// single element: the gradient of a full sum or mean). n and dst_off count vec4s, src_off floats.
@compute @workgroup_size(WG)
fn splat4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let v = vec4<f32>(src[p.src_off]);
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    dst4[p.dst_off + i] = v;
  }
}

// transpose4: dst[b, c, r] = src[b, r, c] for src [B, R, C] with R % 4 == 0 and C % 4 == 0 (n = R/4, src_off = C/4
// in the Params below, dst_off = B). Each invocation moves one 4x4 block: four vec4 loads along a row of src
// (neighbouring lanes take neighbouring blocks, so the loads are consecutive), a register transpose, four vec4 stores.
// Grid: x = ceil(C/4 / (WG*ITEMS)) block columns, y = R/4 block rows (split over z when > 65535... the host keeps
// R/4 <= 65535 per batch), z = B.
@compute @workgroup_size(WG)
fn transpose4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let R4 = p.n;
  let C4 = p.src_off;
  let br = wid.y;
  let b = wid.z;
  let base = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let bc = base + k * WG;
    if (bc >= C4) { break; }
    let s = (b * R4 * 4u + br * 4u) * C4 + bc;     // vec4 index of src[b, 4br, 4bc]
    let r0 = src4[s];
    let r1 = src4[s + C4];
    let r2 = src4[s + 2u * C4];
    let r3 = src4[s + 3u * C4];
    let d = (b * C4 * 4u + bc * 4u) * R4 + br;     // vec4 index of dst[b, 4bc, 4br]
    dst4[d] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
    dst4[d + R4] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
    dst4[d + 2u * R4] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
    dst4[d + 3u * R4] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
  }
}

// Start of row `row` (the outer dims' index, innermost dim excluded) in src and dst: the only divisions of the row
// kernels, once per invocation instead of once per element and dim as in strided_copy.
fn row_start(row: u32) -> vec2<u32> {
  var rem = row;
  var is = p.src_off;
  var id = p.dst_off;
  for (var d = i32(p.rank) - 2; d >= 0; d--) {
    let s = dim(p.shape, u32(d));
    let q = rem / s;
    let j = rem - q * s;
    rem = q;
    is += j * dim(p.ss, u32(d));
    id += j * dim(p.ds, u32(d));
  }
  return vec2<u32>(is, id);
}

// Rows of any strides (permutes that move the innermost dim, slices and concats at unaligned offsets): rows run on
// grid y (and z) as in copy_rows4, the lanes walk the row's elements with its src and dst strides.
@compute @workgroup_size(WG)
fn copy_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let last = p.rank - 1u;
  let start = row_start(wid.y + wid.z * nwg.y);
  let n = dim(p.shape, last);
  let ss = dim(p.ss, last);
  let ds = dim(p.ds, last);
  let base = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let c = base + k * WG;
    if (c >= n) { break; }
    dst[start.y + c * ds] = src[start.x + c * ss];
  }
}

// Short rows (under 64 elements: the space-to-batch permutes of dilated convolutions, narrow slices): one row per
// lane, ITEMS rows per lane (row = (g·ITEMS + k)·WG + l), each walked with its src and dst strides. p.n = row count.
@compute @workgroup_size(WG)
fn copy_lane_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let last = p.rank - 1u;
  let n = dim(p.shape, last);
  let ss = dim(p.ss, last);
  let ds = dim(p.ds, last);
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let row = base + k * WG;
    if (row >= p.n) { break; }
    let start = row_start(row);
    for (var c = 0u; c < n; c++) {
      dst[start.y + c * ds] = src[start.x + c * ss];
    }
  }
}

// Rows: wid.y + wid.z * nwg.y; shape[rank-1] / 4 vec4s per row; strides of the outer dims in elements.
@compute @workgroup_size(WG)
fn copy_rows4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let last = p.rank - 1u;
  let start = row_start(wid.y + wid.z * nwg.y);
  let is = start.x;
  let id = start.y;
  let n4 = dim(p.shape, last) / 4u;
  let base = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let c = base + k * WG;
    if (c >= n4) { break; }
    dst4[id / 4u + c] = src4[is / 4u + c];
  }
}

// zip4: two sources interleaved element by element along their rows, dst row r = (a[r,0], b[r,0], a[r,1], b[r,1],
// ...) — how the sub-pixel transposed convolution (src/ops/conv.ts) writes its two column phases into an output row.
// a (src4) and b (src4b) are contiguous, ROW4 vec4s per row; p.n = vec4s per source; dst row r starts at vec4
// p.dst_off + r * p.ds[0].x. A lane takes ITEMS vec4 pairs (two vec4 loads, two vec4 stores each); the row split is
// a division by the pipeline constant ROW4.
override ROW4: u32 = 1u;
@group(0) @binding(5) var<storage, read> src4b: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn zip4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    let row = i / ROW4;
    let d = p.dst_off + row * p.ds[0].x + 2u * (i - row * ROW4);
    let a = src4[i];
    let b = src4b[i];
    dst4[d] = vec4<f32>(a.x, b.x, a.y, b.y);
    dst4[d + 1u] = vec4<f32>(a.z, b.z, a.w, b.w);
  }
}
