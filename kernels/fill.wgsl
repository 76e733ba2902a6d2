// Fill family: tensors generated from nothing but parameters — constants and counter-based random numbers.
//
// Random numbers: element i of a tensor drawn with seed s is a pure function of (s, i), so the same
// seed gives the same tensor on every run, adapter and dispatch shape.
//
// Hash: a 3-round PCG-style permutation of (i, seed) (Jarzynski & Olano, "Hash Functions for GPU Rendering",
// JCGT 2020, pcg3d), 24-bit mantissa to [0,1). Normal numbers: Box-Muller on two uniforms from counters 2i, 2i+1.
//
// Specialisation: DIST 0 uniform [a, b), 1 normal (mean a, std b), 2 constant a. WG invocations per workgroup,
// ITEMS elements per invocation (g*WG*ITEMS + l + k*WG, k < ITEMS).

override DIST: u32 = 0u;
override WG: u32 = 8u;
override ITEMS: u32 = 64u;

struct Params {
  n: u32,
  seed: u32,
  a: f32,   // lo or mean
  b: f32,   // hi or std
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

fn pcg3d(v0: vec3<u32>) -> vec3<u32> {
  var v = v0 * 1664525u + 1013904223u;
  v.x += v.y * v.z; v.y += v.z * v.x; v.z += v.x * v.y;
  v ^= v >> vec3<u32>(16u);
  v.x += v.y * v.z; v.y += v.z * v.x; v.z += v.x * v.y;
  return v;
}

// Uniform in [0, 1) from counter c.
fn uniform01(c: u32) -> f32 {
  let h = pcg3d(vec3<u32>(c, p.seed, 0x9e3779b9u ^ p.seed));
  return f32(h.x >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= p.n) { break; }
    if (DIST == 2u) {
      y[i] = p.a;
    } else if (DIST == 0u) {
      y[i] = p.a + (p.b - p.a) * uniform01(i);
    } else {
      let u1 = 1.0 - uniform01(2u * i);          // (0, 1]: log is finite
      let u2 = uniform01(2u * i + 1u);
      y[i] = p.a + p.b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    }
  }
}
