// Prints the WebGPU adapter that Dawn (npm `webgpu`) finds, as one JSON line.
// Exit 0: an adapter exists. Exit 3: no adapter. Exit 4: the `webgpu` package itself is missing or broken.
// Used by tools/setup.sh; plain .mjs so it runs before any TypeScript tooling is installed.
let create;
try {
  ({ create } = await import('webgpu'));
} catch (e) {
  console.log(JSON.stringify({ ok: false, reason: `cannot load the webgpu package: ${e.message}` }));
  process.exit(4);
}
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.log(JSON.stringify({ ok: false, reason: 'requestAdapter() returned null: no Vulkan driver found' }));
  process.exit(3);
}
const i = adapter.info;
console.log(JSON.stringify({ ok: true, vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, fallback: i.isFallbackAdapter ?? false }));
