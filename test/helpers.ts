// Shared test helpers: the engine, moving reference tensors (RT, float64) to the GPU and comparing back.
import * as assert from 'uvu/assert';
import { init, tensor, type Tensor } from '../src/node.js';
import { RT } from './reference.js';

export async function setup(): Promise<void> {
  await init();
}

/** The GPU tensor holding an RT's values (as f32). */
export function gpu(r: RT, requiresGrad = false): Tensor {
  return tensor(Float32Array.from(r.data), r.shape, { requiresGrad });
}

export interface Tol {
  atol?: number;
  rtol?: number;
}

/** Assert |gpu - ref| <= atol + rtol * |ref| elementwise, and equal shapes. Default tolerance fits f32 vs f64. */
export async function close(t: Tensor, r: RT, what: string, tol: Tol = {}): Promise<void> {
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-4;
  assert.equal([...t.shape], [...r.shape], `${what}: shape`);
  const d = await t.data();
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < d.length; i++) {
    const err = Math.abs(d[i]! - r.data[i]!);
    const lim = atol + rtol * Math.abs(r.data[i]!);
    if (!(err <= lim) && (worst < 0 || err - lim > worstErr)) {
      worst = i;
      worstErr = err - lim;
    }
  }
  if (worst >= 0) {
    assert.unreachable(`${what}: element ${worst} is ${d[worst]} on the GPU, ${r.data[worst]} in the float64 reference (atol ${atol}, rtol ${rtol})`);
  }
}

/** Assert that fn throws an error whose message matches re. */
export function throwsMatching(fn: () => unknown, re: RegExp, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.match((e as Error).message, re, `${what}: wrong message: ${(e as Error).message}`);
    return;
  }
  assert.unreachable(`${what}: no error was thrown`);
}
