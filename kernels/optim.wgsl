// Optimiser family: parameter updates, one dispatch per parameter tensor.
//
// adam — Adam (Kingma & Ba 2015) with PyTorch's coupled L2 weight decay (torch.optim.Adam(weight_decay=wd)):
//   g' = g + wd·p
//   m  = β1·m + (1 − β1)·g'
//   v  = β2·v + (1 − β2)·g'²
//   p  = p − lr · (m / bc1) / (sqrt(v / bc2) + ε)        bc1 = 1 − β1^t, bc2 = 1 − β2^t
//
// average — exponential moving average of the weights (Polyak averaging), a shadow copy updated after each step:
//   a  = a + (1 − k)·(p − a)      k: the share of the old average kept, min(decay, (1 + t)/(10 + t)) after t updates
//                                 (the host's WeightAverage computes it; src/train/average.ts)
// Everything is in place. WG invocations per workgroup, ITEMS elements per invocation (g*WG*ITEMS + l + k*WG).

override WG: u32 = 8u;
override ITEMS: u32 = 64u;

struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  wd: f32,
  bc1: f32,
  bc2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;

// One Adam update of up to 4 values (the element entry uses the first component): the formula of the header.
struct AdamUpdate { w: vec4<f32>, m: vec4<f32>, v: vec4<f32> }

fn adam_update(w: vec4<f32>, grad_w: vec4<f32>, m_old: vec4<f32>, v_old: vec4<f32>) -> AdamUpdate {
  let g = grad_w + p.wd * w;
  let m = p.beta1 * m_old + (1.0 - p.beta1) * g;
  let v = p.beta2 * v_old + (1.0 - p.beta2) * g * g;
  return AdamUpdate(w - p.lr * (m / p.bc1) / (sqrt(v / p.bc2) + p.eps), m, v);
}

@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    let u = adam_update(vec4<f32>(param[i]), vec4<f32>(grad[i]), vec4<f32>(m1[i]), vec4<f32>(m2[i]));
    m1[i] = u.m.x;
    m2[i] = u.v.x;
    param[i] = u.w.x;
  }
}

// adam over vec4s, for parameters of a multiple of 4 values (most weights): n counts vec4s here. The same update
// (adam_update) as adam, identical results; [8, 2, 128, 128] 5.40 → 2.61 ms, 2.2M values (PWC-Lite's size) 30.2 →
// 19.8 ms, interleaved on the slowed machine.
@group(0) @binding(1) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m14: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m24: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn adam4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    let u = adam_update(param4[i], grad4[i], m14[i], m24[i]);
    m14[i] = u.m;
    m24[i] = u.v;
    param4[i] = u.w;
  }
}

struct AverageParams {
  n: u32,
  keep: f32,
}

@group(0) @binding(0) var<uniform> q: AverageParams;
@group(0) @binding(1) var<storage, read_write> avg: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;

@compute @workgroup_size(WG)
fn average(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= q.n) { break; }
    avg[i] = avg[i] + (1.0 - q.keep) * (weight[i] - avg[i]);
  }
}
