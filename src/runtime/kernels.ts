// Kernel sources: the WGSL files under kernels/, handed to the engine at init, plus the one template step the engine
// applies to them. Nothing here reads files: src/node.ts reads kernels/ from disk, a browser can fetch them
// (loadKernelsFromUrl).

/** Every kernel family the engine runs, by file name without `.wgsl`. */
export const KERNEL_FILES = ['elementwise', 'copy', 'reduce', 'matmul', 'fill', 'conv', 'conv_direct', 'warp', 'resize', 'correlation', 'pad', 'norm', 'winograd', 'optim', 'census', 'diff'] as const;
export type KernelFile = (typeof KERNEL_FILES)[number];
export type KernelSources = Record<KernelFile, string>;

/**
 * The template step: lines between `#if FLAG` and `#else`/`#endif` are kept only when FLAG is set (and the `#else`
 * branch only when it is not). Directives are whole lines; nesting is allowed. Used for code that WGSL cannot switch
 * with an `override` constant, such as `enable subgroups;`.
 */
export function preprocess(source: string, flags: Record<string, boolean>, file = 'kernel'): string {
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean; sawElse: boolean }[] = [];
  let active = true;
  source.split('\n').forEach((line, i) => {
    const m = /^\s*#(if|else|endif)\b\s*(\w*)/.exec(line);
    if (!m) {
      out.push(active ? line : '');
      return;
    }
    const [, dir, flag] = m;
    if (dir === 'if') {
      if (!flag) throw new Error(`${file}.wgsl:${i + 1}: #if needs a flag name`);
      stack.push({ active, parentActive: active, sawElse: false });
      active = active && !!flags[flag];
    } else if (dir === 'else') {
      const top = stack[stack.length - 1];
      if (!top || top.sawElse) throw new Error(`${file}.wgsl:${i + 1}: #else without #if`);
      top.sawElse = true;
      active = top.parentActive && !active;
    } else {
      const top = stack.pop();
      if (!top) throw new Error(`${file}.wgsl:${i + 1}: #endif without #if`);
      active = top.parentActive;
    }
    out.push('');   // keep line numbers of compiler messages equal to the file's
  });
  if (stack.length) throw new Error(`${file}.wgsl: #if without #endif`);
  return out.join('\n');
}

/** Browser helper: fetch every kernel file from a base URL (e.g. where the package's kernels/ folder is served). */
export async function loadKernelsFromUrl(baseUrl: string): Promise<KernelSources> {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const entries = await Promise.all(
    KERNEL_FILES.map(async (name) => {
      const res = await fetch(base + name + '.wgsl');
      if (!res.ok) throw new Error(`cannot load kernel ${name}.wgsl from ${base}: HTTP ${res.status}`);
      return [name, await res.text()] as const;
    }),
  );
  return Object.fromEntries(entries) as KernelSources;
}
