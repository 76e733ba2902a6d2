// Elementwise family: unary, binary (with broadcasting) and select (where).
//
// Specialisation (override constants, one pipeline per value):
//   OP     which function (codes below; the TypeScript side names them in src/ops/elementwise.ts)
//   WG     invocations per workgroup (1-D). 8 = one lavapipe SIMD vector, measured fastest there
//   ITEMS  elements (or vec4s) per invocation: invocation l of workgroup g handles g*WG*ITEMS + l + k*WG,
//          k < ITEMS, so the 8 lanes sweep consecutive addresses together
// Per-dispatch values (shapes, strides, scalars) live in the uniform `p`, so one pipeline serves every shape.
//
// Entry points:
//   unary_vec4   y = f(x, alpha, beta)      contiguous, 4 elements per invocation
//   binary_vec4  y = g(a, b)                same shape, contiguous, 4 per invocation
//   binary_bcast4 the same, 4 outputs per step, when the innermost dim is a multiple of 4, each operand walks it
//                 with stride 1 (vec4 load) or 0 (one value, splat) and every other stride is a multiple of 4
//   binary_bcast y = g(a[ia], b[ib])        any broadcasting: ia/ib from the output index and per-operand strides
//   where_bcast  y = c != 0 ? a : b         broadcasting over three operands
//   scale_shift  y = act(x · scale[ch] + shift[ch]) over rows of a [rows, inner] view, ch = row % C: a per-channel
//                affine with its activation (batch norm in evaluation form, fused with the ReLU that follows it)
// Buffers are bound as arrays of vec4 (vec4 paths) or f32; buffers are allocated in 16-byte multiples so the last
// partial vec4 reads/writes padding that no tensor element owns.
// Dispatch: 2-D grid of workgroups (x up to 65535); workgroup g = wg.y * nwg.x + wg.x.

override OP: u32 = 0u;
override WG: u32 = 8u;
override ITEMS: u32 = 64u;

struct Params {
  n: u32,          // elements (scalar entry points) or vec4 groups (vec4 entry points)
  rank: u32,       // dims used in shape/strides (broadcast entry points), <= 8, innermost last
  alpha: f32,      // scalar parameters of the unary functions
  beta: f32,
  shape: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,   // strides of a (0 on broadcast dims)
  sb: array<vec4<u32>, 2>,   // strides of b
  sc: array<vec4<u32>, 2>,   // strides of the condition (where only)
}
// binary_bcast4 reads the innermost stride of a and b (0 or 1) from sa/sb like every other stride.

@group(0) @binding(0) var<uniform> p: Params;

// First index of this invocation; the others follow every WG.
fn first_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
}

// ---- unary: codes 0..19 ----------------------------------------------------------------------------
// 0 neg  1 exp  2 log  3 sqrt  4 rsqrt  5 abs  6 sign  7 tanh  8 sigmoid  9 relu  10 leaky_relu(alpha = slope)
// 11 sin  12 cos  13 reciprocal  14 square  15 affine (alpha*x + beta)  16 pow (x^alpha)  17 step (x > 0)
fn unary(x: vec4<f32>) -> vec4<f32> {
  switch OP {
    case 0u:  { return -x; }
    case 1u:  { return exp(x); }
    case 2u:  { return log(x); }
    case 3u:  { return sqrt(x); }
    case 4u:  { return inverseSqrt(x); }
    case 5u:  { return abs(x); }
    case 6u:  { return sign(x); }
    case 7u:  { // tanh without overflow: sign(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|})
      let e = exp(-2.0 * abs(x));
      return sign(x) * (1.0 - e) / (1.0 + e);
    }
    case 8u:  { // sigmoid, stable on both tails
      let e = exp(-abs(x));
      return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vec4<f32>(0.0));
    }
    case 9u:  { return max(x, vec4<f32>(0.0)); }
    case 10u: { return select(p.alpha * x, x, x > vec4<f32>(0.0)); }
    case 11u: { return sin(x); }
    case 12u: { return cos(x); }
    case 13u: { return 1.0 / x; }
    case 14u: { return x * x; }
    case 15u: { return fma(vec4<f32>(p.alpha), x, vec4<f32>(p.beta)); }
    case 16u: { return pow_signed(x, p.alpha); }
    case 17u: { return select(vec4<f32>(0.0), vec4<f32>(1.0), x > vec4<f32>(0.0)); }
    default:  { return x; }
  }
}

// x^a for any sign of x when a is an integer (like Math.pow); NaN for a negative x and a fractional a.
fn pow_signed(x: vec4<f32>, a: f32) -> vec4<f32> {
  let m = pow(abs(x), vec4<f32>(a));                       // |x|^a, computed as exp2(a log2|x|)
  let is_int = fract(a) == 0.0;
  let odd = is_int && fract(a * 0.5) != 0.0;
  let neg = x < vec4<f32>(0.0);
  var r = select(m, -m, neg & vec4<bool>(odd));
  r = select(r, pow(x, vec4<f32>(a)), neg & vec4<bool>(!is_int));   // log2 of a negative number: NaN
  return select(r, vec4<f32>(1.0), (x == vec4<f32>(0.0)) & vec4<bool>(a == 0.0));   // 0^0 = 1
}

// ---- binary: codes 0..11 ---------------------------------------------------------------------------
// 0 add  1 sub  2 mul  3 div  4 maximum  5 minimum  6 gt  7 ge  8 lt  9 le  10 eq  11 ne   (comparisons give 1.0 / 0.0)
fn binary(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  let one = vec4<f32>(1.0);
  let zero = vec4<f32>(0.0);
  switch OP {
    case 0u:  { return a + b; }
    case 1u:  { return a - b; }
    case 2u:  { return a * b; }
    case 3u:  { return a / b; }
    case 4u:  { return max(a, b); }
    case 5u:  { return min(a, b); }
    case 6u:  { return select(zero, one, a > b); }
    case 7u:  { return select(zero, one, a >= b); }
    case 8u:  { return select(zero, one, a < b); }
    case 9u:  { return select(zero, one, a <= b); }
    case 10u: { return select(zero, one, a == b); }
    case 11u: { return select(zero, one, a != b); }
    default:  { return a; }
  }
}

// Bindings shared by every entry point (each uses the ones it needs). Scalar access goes through vec4 arrays:
// element i is v[i >> 2][i & 3].
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> c4: array<vec4<f32>>;

fn ld_a(i: u32) -> f32 { return a4[i >> 2u][i & 3u]; }
fn ld_b(i: u32) -> f32 { return b4[i >> 2u][i & 3u]; }
fn ld_c(i: u32) -> f32 { return c4[i >> 2u][i & 3u]; }

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d >> 2u][d & 3u]; }

@compute @workgroup_size(WG)
fn unary_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let base = first_index(wid, nwg, lid);
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    y4[i] = unary(a4[i]);
  }
}

@compute @workgroup_size(WG)
fn binary_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let base = first_index(wid, nwg, lid);
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    y4[i] = binary(a4[i], b4[i]);
  }
}

// Grid: x over the innermost dim in chunks of WG*ITEMS vec4s, y (and z) over groups of p.alpha rows (a row count,
// passed as a float): each workgroup walks its rows one after the other, so the fixed cost of a workgroup is paid
// once per group, and the division chain that finds a row's operand offsets runs once per row, not per element.
@compute @workgroup_size(WG)
fn binary_bcast4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let last = p.rank - 1u;
  let inner4 = dim(p.shape, last) / 4u;
  let rows_per = u32(p.alpha);
  let rows = p.n / dim(p.shape, last);
  let first_row = (wid.y + wid.z * nwg.y) * rows_per;
  let a_vec = dim(p.sa, last) == 1u;   // else 0: one value for the whole row
  let b_vec = dim(p.sb, last) == 1u;
  let base = wid.x * WG * ITEMS + lid;
  for (var row = first_row; row < min(first_row + rows_per, rows); row++) {
    var rem = row;
    var oa = 0u;
    var ob = 0u;
    for (var d = i32(last) - 1; d >= 0; d--) {
      let s = dim(p.shape, u32(d));
      let q = rem / s;
      let j = rem - q * s;
      rem = q;
      oa += j * dim(p.sa, u32(d));
      ob += j * dim(p.sb, u32(d));
    }
    let a_one = vec4<f32>(ld_a(oa));
    let b_one = vec4<f32>(ld_b(ob));
    for (var k = 0u; k < ITEMS; k++) {
      let c = base + k * WG;
      if (c >= inner4) { break; }
      var av = a_one;
      var bv = b_one;
      if (a_vec) { av = a4[(oa >> 2u) + c]; }   // uniform branches: a splat operand is not loaded again
      if (b_vec) { bv = b4[(ob >> 2u) + c]; }
      y4[row * inner4 + c] = binary(av, bv);
    }
  }
}

// Offsets of output element i in a, b and the condition: its index along each dim times the operand's stride.
fn bcast_offsets(i: u32) -> vec3<u32> {
  var rem = i;
  var o = vec3<u32>(0u);
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.shape, u32(d));
    let q = rem / s;
    let j = rem - q * s;
    rem = q;
    o += j * vec3<u32>(dim(p.sa, u32(d)), dim(p.sb, u32(d)), dim(p.sc, u32(d)));
  }
  return o;
}

@compute @workgroup_size(WG)
fn binary_bcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let base = first_index(wid, nwg, lid);
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    let o = bcast_offsets(i);
    y4[i >> 2u][i & 3u] = binary(vec4<f32>(ld_a(o.x)), vec4<f32>(ld_b(o.y))).x;
  }
}

@compute @workgroup_size(WG)
fn where_bcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let base = first_index(wid, nwg, lid);
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    let o = bcast_offsets(i);
    y4[i >> 2u][i & 3u] = select(ld_b(o.y), ld_a(o.x), ld_c(o.z) != 0.0);
  }
}

// x = a4, scale = b4, shift = c4 (scalars at [ch >> 2][ch & 3]). p.n = inner / 4 (vec4s per row), p.rank = C.
// OP: 0 no activation, 1 ReLU, 2 LeakyReLU(alpha). Grid: x = ceil(p.n / (WG*ITEMS)), y (and z) = rows.
@compute @workgroup_size(WG)
fn scale_shift(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let row = wid.y + wid.z * nwg.y;
  let ch = row % p.rank;
  let sc = vec4<f32>(ld_b(ch));
  let sh = vec4<f32>(ld_c(ch));
  let base = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let c = base + k * WG;
    if (c >= p.n) { break; }
    let v = fma(a4[row * p.n + c], sc, sh);
    var y = v;
    if (OP == 1u) { y = max(v, vec4<f32>(0.0)); }
    if (OP == 2u) { y = select(p.alpha * v, v, v > vec4<f32>(0.0)); }
    y4[row * p.n + c] = y;
  }
}
