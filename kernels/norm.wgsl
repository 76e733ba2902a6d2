// Instance normalisation and AdaIN: for each group g = (n, c) of S = spatial elements,
//   y = (x - mean) / sqrt(var + eps) * gamma + beta,   var biased (divides by S)
// AFFINE 0: no gamma/beta; 1: per channel (gamma[c], InstanceNorm affine); 2: per sample and channel
// (gamma[n*C + c], AdaIN, whose scale and shift come from a style vector).
//
// ACT applies an activation in the same write for free: 0 none, 1 ReLU, 2 LeakyReLU (slope in the params).
//
// One 8-lane workgroup per group (grid x = groups, up to 65535 per launch; `g0` offsets later launches). Two sweeps
// over the group — moments (sums of shifted values and their squares), then the write — with consecutive lanes on
// consecutive vec4s; a group of DTVNet (≤ 16K floats) stays in the CPU cache between sweeps. The lanes' partial sums
// meet in one subgroupAdd where the device has subgroups of at least WG = 8 lanes (template flag SUBGROUPS: the
// workgroup is one subgroup), else in workgroup memory between two barriers (a coroutine switch each on lavapipe).
// Requires S % 4 == 0 (VEC4) or uses scalar loads.
#if SUBGROUPS
enable subgroups;
#endif
//
// This kernel has no backward of its own: the op's backward rule is written with differentiable ops (it calls this
// op for x̂), so second derivatives work.

override AFFINE: u32 = 0u;
override ACT: u32 = 0u;
override VEC4: bool = true;
override WG: u32 = 8u;

struct Params {
  S: u32,        // elements per group
  C: u32,        // channels (to find c of group g)
  g0: u32,       // first group of this launch
  eps: f32,
  slope: f32,    // LeakyReLU slope (ACT 2)
}

fn act4(v: vec4<f32>) -> vec4<f32> {
  switch ACT {
    case 1u: { return max(v, vec4<f32>(0.0)); }
    case 2u: { return select(p.slope * v, v, v > vec4<f32>(0.0)); }
    default: { return v; }
  }
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;

#if SUBGROUPS
#else
var<workgroup> partial: array<f32, WG>;
#endif

fn x_at(i: u32) -> f32 { return x4[i >> 2u][i & 3u]; }

// Sum of v over the workgroup, returned to every lane.
fn wg_sum(v: f32, lid: u32) -> f32 {
#if SUBGROUPS
  return subgroupAdd(v);
#else
  partial[lid] = v;
  workgroupBarrier();
  var t = 0.0;
  for (var l = 0u; l < WG; l++) { t += partial[l]; }
  workgroupBarrier();
  return t;
#endif
}

// Mean and variance of group g in one sweep: sums of (x - s) and (x - s)² with the shift s = the group's first
// element (this keeps the cancellation of E[d²] - E[d]² small for data far from 0), returned as (mean, var).
fn moments(base: u32, S: u32, lid: u32) -> vec2<f32> {
  let shift = x_at(base);
  var s1 = 0.0;
  var s2 = 0.0;
  if (VEC4) {
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    for (var i = lid; i < S / 4u; i += WG) { let d = x4[base / 4u + i] - shift; a1 += d; a2 += d * d; }
    s1 = a1.x + a1.y + a1.z + a1.w;
    s2 = a2.x + a2.y + a2.z + a2.w;
  } else {
    for (var i = lid; i < S; i += WG) { let d = x_at(base + i) - shift; s1 += d; s2 += d * d; }
  }
  let m1 = wg_sum(s1, lid) / f32(S);
  let m2 = wg_sum(s2, lid) / f32(S);
  return vec2<f32>(shift + m1, max(m2 - m1 * m1, 0.0));
}

@compute @workgroup_size(WG)
fn instance_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = p.g0 + wid.x;
  let S = p.S;
  let base = g * S;
  let mv = moments(base, S, lid);
  let mean = mv.x;
  let rstd = inverseSqrt(mv.y + p.eps);
  var scale = rstd;
  var shift = -mean * rstd;
  if (AFFINE > 0u) {
    let k = select(g, g % p.C, AFFINE == 1u);
    scale = rstd * gamma[k];
    shift = fma(-mean, scale, beta[k]);
  }
  if (VEC4) {
    for (var i = lid; i < S / 4u; i += WG) { y4[base / 4u + i] = act4(fma(x4[base / 4u + i], vec4<f32>(scale), vec4<f32>(shift))); }
  } else {
    for (var i = lid; i < S; i += WG) { let j = base + i; y4[j >> 2u][j & 3u] = act4(vec4<f32>(fma(x_at(j), scale, shift))).x; }
  }
}

// The backward of the normalisation itself (no affine, no activation): with z = (x - mean)·r, r = (var + eps)^-1/2,
//   dx = r · (g - mean(g) - z · mean(g ⊙ z))         per group.
// Two sweeps (all four sums at once, then the write) over data that stays in cache. The op that uses it
// (src/ops/nn.ts) gives it a backward rule of its own in differentiable ops (../shared/spec/WGAN_GP.md §3.3), so
// it is also a step of a double backward.
@group(0) @binding(5) var<storage, read> g4: array<vec4<f32>>;

fn g_at(i: u32) -> f32 { return g4[i >> 2u][i & 3u]; }

@compute @workgroup_size(WG)
fn instance_norm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = p.g0 + wid.x;
  let S = p.S;
  let base = g * S;
  let b4 = base / 4u;
  // One sweep for all four sums, with d = x - shift: Σd, Σd², Σg, Σg·d.
  let shift = x_at(base);
  var s1 = 0.0;
  var s2 = 0.0;
  var sg = 0.0;
  var sgd = 0.0;
  if (VEC4) {
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var ag = vec4<f32>(0.0);
    var agd = vec4<f32>(0.0);
    for (var i = lid; i < S / 4u; i += WG) {
      let d = x4[b4 + i] - shift;
      let gv = g4[b4 + i];
      a1 += d; a2 += d * d; ag += gv; agd += gv * d;
    }
    s1 = a1.x + a1.y + a1.z + a1.w;
    s2 = a2.x + a2.y + a2.z + a2.w;
    sg = ag.x + ag.y + ag.z + ag.w;
    sgd = agd.x + agd.y + agd.z + agd.w;
  } else {
    for (var i = lid; i < S; i += WG) {
      let d = x_at(base + i) - shift;
      let gv = g_at(base + i);
      s1 += d; s2 += d * d; sg += gv; sgd += gv * d;
    }
  }
  let m1 = wg_sum(s1, lid) / f32(S);
  let m2 = wg_sum(s2, lid) / f32(S);
  let mg = wg_sum(sg, lid) / f32(S);
  let mgd = wg_sum(sgd, lid) / f32(S);
  let mean = shift + m1;
  let r = inverseSqrt(max(m2 - m1 * m1, 0.0) + p.eps);
  // mean(g ⊙ z) = r · mean(g · (x - mean)) = r · (mean(g·d) - m1 · mean(g))
  let mgz = r * (mgd - m1 * mg);
  // dx = r·g - r·mg - r·z·mgz, with z = (x - mean)·r — times the group's scale when AFFINE > 0 (the γ of an affine
  // instance norm or AdaIN, which multiplies g; every term is linear in g)
  var sc = 1.0;
  if (AFFINE > 0u) { sc = gamma[select(g, g % p.C, AFFINE == 1u)]; }
  let k = sc * r * r * mgz;
  let rs = sc * r;
  if (VEC4) {
    for (var i = lid; i < S / 4u; i += WG) { y4[b4 + i] = rs * (g4[b4 + i] - mg) - k * (x4[b4 + i] - mean); }
  } else {
    for (var i = lid; i < S; i += WG) { let j = base + i; y4[j >> 2u][j & 3u] = rs * (g_at(j) - mg) - k * (x_at(j) - mean); }
  }
}
