// Test runner: every test/*.test.ts through uvu on one shared engine, then the closing line CI reads:
//   N passed, N failed
// Usage: node --import tsx test/run.ts [filter]   (filter: substring of the file name)
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts') && f.includes(filter)).sort();
if (!files.length) {
  console.error(`no test files match '${filter}'`);
  process.exit(1);
}

type Runner = () => Promise<[string | true, number, number, number]>;
const g = globalThis as unknown as { UVU_DEFER: number; UVU_QUEUE: [string | null, ...Runner[]][]; UVU_INDEX: number };
g.UVU_DEFER = 1;
const uvu = await import('uvu');
g.UVU_QUEUE = [];
for (const [i, f] of files.entries()) {
  g.UVU_INDEX = i;
  g.UVU_QUEUE.push([f]);
  await import(pathToFileURL(join(dir, f)).href);
}
// Count test cases as uvu runs them.
let passed = 0;
let total = 0;
for (const group of g.UVU_QUEUE) {
  for (let k = 1; k < group.length; k++) {
    const run = group[k] as Runner;
    group[k] = async () => {
      const r = await run();
      passed += r[1];
      total += r[3];
      return r;
    };
  }
}
const t0 = performance.now();
await uvu.exec();
const { close } = await import('../src/node.js');
await close();
const failed = total - passed;
console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || total === 0 || process.exitCode ? 1 : 0;
if (total === 0) console.error('no test case ran');
