// Shared test helpers: the engine, moving reference tensors (RT, float64) to the GPU and comparing back.
import * as assert from 'uvu/assert';
import { init, scope, tensor, type Tensor } from '../src/node.js';
import { RT, randRT } from './reference.js';

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

/** Assert that the promise rejects with an error whose message matches re. */
export async function rejectsMatching(p: Promise<unknown>, re: RegExp, what: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re, `${what}: wrong message: ${(e as Error).message}`);
    return;
  }
  assert.unreachable(`${what}: no error was thrown`);
}

export interface Check {
  /** the op on the GPU tensors (same order as xs) */
  f: (ts: Tensor[]) => Tensor;
  /** the reference forward */
  fr: (xs: RT[]) => RT;
  /** the reference vjp: one gradient per input, or one per input that requires grad (in input order) */
  fv?: (gy: RT, xs: RT[]) => RT[];
  tol?: Tol;
  /** tolerance of the gradients (default: tol), or a function of the reference gradient */
  gradTol?: Tol | ((want: RT) => Tol);
  /** which inputs require grad (default: all, when fv is given) */
  needs?: boolean[];
}

/**
 * Run the op on GPU copies of xs, compare the result with the reference, then backpropagate a random gy and compare
 * the .grad of every input that requires grad with the reference vjp. All tensors made here are disposed.
 */
export async function check(what: string, xs: RT[], c: Check, rng: () => number): Promise<void> {
  await scope(async () => {
    const needs = c.needs ?? xs.map(() => c.fv !== undefined);
    const ts = xs.map((x, i) => gpu(x, needs[i]));
    const y = c.f(ts);
    const yr = c.fr(xs);
    await close(y, yr, `${what}: forward`, c.tol);
    if (!c.fv) return;
    const gy = randRT(yr.shape, rng);
    y.backward({ gradient: gpu(gy) });
    const want = c.fv(gy, xs);
    const perInput = want.length === ts.length;
    const needed = needs.filter(Boolean).length;
    if (!perInput) assert.is(want.length, needed, `${what}: the reference gave ${want.length} gradients, ${needed} inputs require grad`);
    let k = 0;
    for (let i = 0; i < ts.length; i++) {
      if (!needs[i]) continue;
      const g = ts[i]!.grad;
      assert.ok(g, `${what}: input ${i} received no gradient`);
      const w = perInput ? want[i]! : want[k]!;
      k++;
      const tol = typeof c.gradTol === 'function' ? c.gradTol(w) : c.gradTol ?? c.tol;
      await close(g!, w, `${what}: gradient of input ${i}`, tol);
    }
  });
}
