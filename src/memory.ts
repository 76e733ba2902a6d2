import type { MemoryInfo } from './runtime/engine.js';
import { engine } from './tensor.js';

/** Live bytes (held by tensors), pooled bytes (free for reuse) and the peak of live bytes, on the current engine. */
export function memory(): MemoryInfo {
  return engine().memory();
}
