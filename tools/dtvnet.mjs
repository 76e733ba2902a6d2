#!/usr/bin/env node
// Launcher of the `dtvnet` command: the built package (dist/) when it exists, else the TypeScript sources via tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const built = new URL('../dist/src/cli.js', import.meta.url);
let cli;
if (existsSync(fileURLToPath(built))) {
  cli = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli.ts', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
