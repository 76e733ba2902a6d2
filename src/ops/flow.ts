// Optical-flow ops (../shared/spec/FLOW.md §3-§5): bilinear backward warping, bilinear resizing and the PWC-Net
// correlation. Kernels: kernels/warp.wgsl, kernels/resize.wgsl, kernels/correlation.wgsl.
//
// Gradients are built from primitives that are each other's adjoints (like im2col/col2im in conv.ts):
//   warp(img, flow)                 image gradient  warpAdjoint(g, flow)        (its adjoint in g is warp again)
//                                   flow gradient   warpFlowGrad(g, img, flow)  (first order only)
//   resizeBilinear(x)               gradient        resizeBilinearAdjoint(g)    (its adjoint is resizeBilinear)
//   correlation(f1, f2)             gradients       correlationGrad1(g, f2), correlationGrad2(g, f1)
// The correlation and its two gradients are the three partial derivatives of one trilinear form, so each one's
// backward rule is made of the others and gradients of any order come out exact. Warping is linear in the image,
// so everything that only differentiates through the image (any order) works; a second derivative that involves the
// flow (through warpAdjoint's flow input or through warpFlowGrad) is not implemented and throws when reached.

import { record } from '../autograd.js';
import { EngineError } from '../runtime/engine.js';
import { Tensor, empty, engine, live } from '../tensor.js';
import { full, zeros } from './creation.js';
import { affine, mul } from './elementwise.js';
import { concat } from './shape.js';
import { fmt } from './shapes.js';

export type WarpPadding = 'border' | 'zeros';

const MAX_GROUPS = 65535;

function checkPadding(op: string, padding: unknown): asserts padding is WarpPadding {
  if (padding !== 'border' && padding !== 'zeros') throw new EngineError(`${op}: padding must be 'border' or 'zeros', got ${JSON.stringify(padding)}`);
}

function check4d(op: string, name: string, t: Tensor, what = '[N, C, H, W]'): void {
  if (t.rank !== 4) throw new EngineError(`${op}: ${name} must be ${what}, got ${fmt(t.shape)}`);
}

/** Validate a flow [N, 2, H, W] against an image-like [N, C, H, W]. */
function checkFlowFor(op: string, imgName: string, img: Tensor, flow: Tensor): void {
  check4d(op, imgName, img);
  const desc = `${imgName} ${fmt(img.shape)}, flow ${fmt(flow.shape)}`;
  if (flow.rank !== 4 || flow.shape[1] !== 2) throw new EngineError(`${op}: flow must be [N, 2, H, W] (channel 0 = x, 1 = y), got ${desc}`);
  if (flow.shape[0] !== img.shape[0] || flow.shape[2] !== img.shape[2] || flow.shape[3] !== img.shape[3]) {
    throw new EngineError(`${op}: flow's N, H, W must match the ${imgName}'s, got ${desc}`);
  }
  if (img.shape[0]! > MAX_GROUPS || img.shape[2]! > MAX_GROUPS) throw new EngineError(`${op}: N and H must be at most ${MAX_GROUPS}, got ${desc}`);
}

// Pixels per lane: enough work per invocation (up to `most`), but at least ~32 workgroups when the image allows it.
// Warp takes up to 64 (a workgroup's fixed cost on lavapipe paid once for 512 pixels; measured against 8 with
// `bench/run.ts warp`: 0.30 -> 0.27 ms forward, 1.24 -> 1.08 ms backward at 3x128x128); resize keeps 8.
function itemsFor(width: number, rows: number, most = 8): number {
  let it = most;
  while (it > 1 && Math.ceil(width / (8 * it)) * rows < 32) it >>= 1;
  return it;
}

function warpParams(N: number, C: number, H: number, W: number): Uint32Array {
  return new Uint32Array([N, C, H, W]);
}

/** `groups` workgroups as an (x, y) grid within the 65535 limit (kernels rebuild g = y·nx + x), z = N. */
function grid2d(groups: number, N: number): [number, number, number] {
  const nx = Math.min(groups, MAX_GROUPS);
  return [nx, Math.ceil(groups / nx), N];
}

/**
 * One launch of kernels/warp.wgsl: `items` units per lane (pixels flattened over H·W, or quads of `quad` = 4
 * pixels for warp_fwd4), z = sample.
 */
function warpDispatch(entry: string, constants: Record<string, number | boolean>, shape: readonly number[], buffers: GPUBuffer[], bindings: number[], label: string, quad = 1): void {
  const [N, C, H, W] = shape as [number, number, number, number];
  const units = (H * W) / quad;
  const items = itemsFor(units, N, 64);
  engine().dispatch({
    kernel: 'warp', entry, constants: { WG: 8, ITEMS: items, ...constants },
    params: warpParams(N, C, H, W), buffers, bindings, grid: grid2d(Math.ceil(units / (8 * items)), N), label,
  });
}

/**
 * The image adjoint of warp (kernels/warp.wgsl, warp_link + warp_gather): the sources are linked into per-cell lists,
 * then each target pixel gathers from the lists of the 4 cells that reach it. With `flowGrad` (a [N, 2, H, W]
 * output and the image), the linking pass also computes the flow gradient. Returns the image gradient.
 */
function adjointGather(g: Tensor, flow: Tensor, padding: WarpPadding, label: string, flowGrad?: { img: Tensor; out: Tensor }): Tensor {
  const [N, , H, W] = g.shape as [number, number, number, number];
  const head = zeros([N * (H + 1) * (W + 1)], { label: `${label} lists` });
  const links = empty([N * H * W * 4], `${label} links`);
  const zerosPad = padding === 'zeros';
  if (flowGrad) {
    warpDispatch('warp_link_flow_grad', { ZEROS: zerosPad }, g.shape, [flowGrad.img.buffer, flow.buffer, flowGrad.out.buffer, g.buffer, head.buffer, links.buffer], [1, 2, 3, 5, 6, 7], `${label} link`);
  } else {
    warpDispatch('warp_link', { ZEROS: zerosPad }, g.shape, [flow.buffer, head.buffer, links.buffer], [2, 6, 7], `${label} link`);
  }
  const out = empty(g.shape, 'warpAdjoint');
  // warp_gather: lanes own runs of `items` targets within a row
  const items = itemsFor(W, H * N, 64);
  engine().dispatch({
    kernel: 'warp', entry: 'warp_gather', constants: { WG: 8, ITEMS: items }, params: warpParams(N, g.shape[1]!, H, W),
    buffers: [g.buffer, out.buffer, head.buffer, links.buffer], bindings: [1, 3, 6, 7], grid: grid2d(Math.ceil((H * Math.ceil(W / items)) / 8), N),
    label: `${label} gather`,
  });
  head.dispose();
  links.dispose();
  return out;
}

/**
 * Bilinear backward warping (FLOW.md §4): out[n, c, y, x] = img[n, c] sampled at (x + flow[n,0,y,x], y + flow[n,1,y,x]),
 * pixel centres at integer coordinates. 'border' clamps the sample point into the image; 'zeros' drops taps outside.
 * Differentiable in img (any order) and flow (first order; the flow gradient is 0 in a clamped direction).
 */
export function warp(img: Tensor, flow: Tensor, padding: WarpPadding = 'border'): Tensor {
  live('warp', img, flow);
  checkPadding('warp', padding);
  checkFlowFor('warp', 'img', img, flow);
  const y = empty(img.shape, 'warp');
  // rows of a multiple of 4 pixels: quads per lane step (flow and output as vec4s)
  const quad = img.shape[3]! % 4 === 0;
  warpDispatch(quad ? 'warp_fwd4' : 'warp_fwd', { ZEROS: padding === 'zeros' }, img.shape, [img.buffer, flow.buffer, y.buffer], [1, 2, 3], `warp ${fmt(img.shape)} ${padding}`, quad ? 4 : 1);
  return record(y, 'warp', [img, flow], (g, [im, fl], needs) => {
    // both: the flow gradient comes out of the image adjoint's linking pass (each recorded as warpAdjoint /
    // warpFlowGrad record theirs)
    if (needs[0] && needs[1]) return warpGradients(g, im!, fl!, padding);
    return [needs[0] ? warpAdjoint(g, fl!, padding) : null, needs[1] ? warpFlowGrad(g, im!, fl!, padding) : null];
  });
}

function recordAdjoint(out: Tensor, g: Tensor, flow: Tensor, padding: WarpPadding): Tensor {
  return record(out, 'warpAdjoint', [g, flow], (gg, [, fl], needs) => {
    if (needs[1]) {
      throw new EngineError(
        `warp: the second derivative with respect to the flow is not implemented (reached through warp's image gradient, ` +
          `warpAdjoint(g ${fmt(g.shape)}, flow ${fmt(flow.shape)})); detach the flow or do not differentiate this gradient again`,
      );
    }
    return [warp(gg, fl!, padding), null];
  });
}

function recordFlowGrad(out: Tensor, g: Tensor, img: Tensor, flow: Tensor): Tensor {
  return record(out, 'warpFlowGrad', [g, img, flow], () => {
    throw new EngineError(
      `warp: second-order gradients through warp's flow gradient are not implemented ` +
        `(warpFlowGrad(g ${fmt(g.shape)}, img ${fmt(img.shape)}, flow ${fmt(flow.shape)}) was differentiated again); ` +
        `only the first derivative of warp w.r.t. the flow is available`,
    );
  });
}

/**
 * The transpose of warp in the image: out[n, c, q] = Σ_p (bilinear weight of tap q in warp's sample at p) · g[n, c, p].
 * A scatter from the sources' side, computed as a gather over per-cell lists of the sources (no float atomics); the
 * order of a list follows the atomic order of its linking, so the last bits can differ between runs. Its own adjoint
 * in g is warp. Differentiable in g; a gradient w.r.t. flow through it (a second-order term of warp) is not
 * implemented and throws.
 */
export function warpAdjoint(g: Tensor, flow: Tensor, padding: WarpPadding = 'border'): Tensor {
  live('warpAdjoint', g, flow);
  checkPadding('warpAdjoint', padding);
  checkFlowFor('warpAdjoint', 'g', g, flow);
  const out = adjointGather(g, flow, padding, `warpAdjoint ${fmt(g.shape)} ${padding}`);
  return recordAdjoint(out, g, flow, padding);
}

/**
 * warp's gradient w.r.t. the flow: out[n, 0, p] = Σ_c g[n,c,p] · ∂warp(img)[n,c,p]/∂px, out[n, 1, p] likewise in y
 * (0 in a direction clamped by border padding). First order only: differentiating it again throws.
 */
export function warpFlowGrad(g: Tensor, img: Tensor, flow: Tensor, padding: WarpPadding = 'border'): Tensor {
  live('warpFlowGrad', g, img, flow);
  checkPadding('warpFlowGrad', padding);
  checkFlowFor('warpFlowGrad', 'img', img, flow);
  if (g.shape.join() !== img.shape.join()) throw new EngineError(`warpFlowGrad: g ${fmt(g.shape)} must have the image's shape ${fmt(img.shape)}`);
  const out = empty(flow.shape, 'warpFlowGrad');
  warpDispatch('warp_flow_grad', { ZEROS: padding === 'zeros' }, img.shape, [img.buffer, flow.buffer, out.buffer, g.buffer], [1, 2, 3, 5], `warpFlowGrad ${fmt(img.shape)} ${padding}`);
  return recordFlowGrad(out, g, img, flow);
}

/** [warpAdjoint(g, flow), warpFlowGrad(g, img, flow)], the flow gradient computed in the adjoint's linking pass. */
function warpGradients(g: Tensor, img: Tensor, flow: Tensor, padding: WarpPadding): [Tensor, Tensor] {
  live('warp backward', g, img, flow);
  const gf = empty(flow.shape, 'warpFlowGrad');
  const gi = adjointGather(g, flow, padding, `warp backward ${fmt(img.shape)} ${padding}`, { img, out: gf });
  return [recordAdjoint(gi, g, flow, padding), recordFlowGrad(gf, g, img, flow)];
}

// ------------------------------------------------------------------------------------------------ resizing

export interface ResizeOptions {
  /** PyTorch's align_corners: true maps the corner pixel centres onto each other, false the corner edges. */
  alignCorners: boolean;
}

/** Per-axis coefficients of s(j) = max(a·j + b, 0) (kernels/resize.wgsl): a, b, 1/a. */
function axis(nIn: number, nOut: number, alignCorners: boolean): [number, number, number, number] {
  const a = alignCorners ? (nOut > 1 ? (nIn - 1) / (nOut - 1) : 0) : nIn / nOut;
  const b = alignCorners ? 0 : a / 2 - 0.5;
  return [a, b, a === 0 ? 0 : 1 / a, 0];
}

function checkSize(op: string, name: string, v: unknown, ctx: string): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new EngineError(`${op}: ${name} must be a positive integer, got ${String(v)} (${ctx})`);
  if (v > MAX_GROUPS) throw new EngineError(`${op}: ${name} = ${v} is above the supported ${MAX_GROUPS} (${ctx})`);
}

function checkAlign(op: string, opts: unknown, ctx: string): boolean {
  const a = (opts as ResizeOptions | undefined)?.alignCorners;
  if (typeof a !== 'boolean') throw new EngineError(`${op}: pass { alignCorners: true | false } (got ${JSON.stringify(opts)}) (${ctx})`);
  return a;
}

/** One resize-family launch per ≤ 65535 planes. src [P, H, W] -> dst [P, OH, OW] (or the adjoint's reverse). */
function resizeLaunch(entry: 'resize' | 'resize_adjoint', src: Tensor, dst: Tensor, H: number, W: number, OH: number, OW: number, align: boolean, label: string): void {
  const planes = src.shape[0]! * src.shape[1]!;
  const buf = new ArrayBuffer(64);
  new Uint32Array(buf, 0, 4).set([H, W, OH, OW]);
  new Float32Array(buf, 16, 4).set(axis(H, OH, align));
  new Float32Array(buf, 32, 4).set(axis(W, OW, align));
  const rows = entry === 'resize' ? OH : H;
  const cols = entry === 'resize' ? OW : W;
  const items = itemsFor(cols, rows * planes);
  for (let p0 = 0; p0 < planes; p0 += MAX_GROUPS) {
    const np = Math.min(MAX_GROUPS, planes - p0);
    const params = buf.slice(0);
    new Uint32Array(params, 48, 1)[0] = p0;
    engine().dispatch({
      kernel: 'resize', entry, constants: { WG: 8, ITEMS: items }, params, buffers: [src.buffer, dst.buffer],
      grid: [Math.ceil(cols / (8 * items)), rows, np], label: planes > MAX_GROUPS ? `${label} planes ${p0}+${np}` : label,
    });
  }
}

/**
 * Bilinear resize of x [N, C, H, W] to [N, C, outH, outW], exactly like PyTorch
 * F.interpolate(x, size=(outH, outW), mode='bilinear', align_corners). Differentiable (any order).
 */
export function resizeBilinear(x: Tensor, outH: number, outW: number, opts: ResizeOptions): Tensor {
  live('resizeBilinear', x);
  const ctx = `x ${fmt(x.shape)}, out ${outH}x${outW}`;
  check4d('resizeBilinear', 'x', x);
  checkSize('resizeBilinear', 'outH', outH, ctx);
  checkSize('resizeBilinear', 'outW', outW, ctx);
  const align = checkAlign('resizeBilinear', opts, ctx);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  if (H > MAX_GROUPS) throw new EngineError(`resizeBilinear: H = ${H} is above the supported ${MAX_GROUPS} (${ctx})`);
  const y = empty([N, C, outH, outW], 'resizeBilinear');
  resizeLaunch('resize', x, y, H, W, outH, outW, align, `resizeBilinear ${fmt(x.shape)} to ${outH}x${outW}${align ? ' align' : ''}`);
  return record(y, 'resizeBilinear', [x], (g) => [resizeBilinearAdjoint(g, H, W, { alignCorners: align })]);
}

/**
 * The adjoint (transpose) of resizeBilinear from [N, C, inH, inW] to g's [N, C, OH, OW]: spreads g back onto the
 * input grid with the same bilinear weights. Differentiable (its adjoint is resizeBilinear).
 */
export function resizeBilinearAdjoint(g: Tensor, inH: number, inW: number, opts: ResizeOptions): Tensor {
  live('resizeBilinearAdjoint', g);
  const ctx = `g ${fmt(g.shape)}, input ${inH}x${inW}`;
  check4d('resizeBilinearAdjoint', 'g', g);
  checkSize('resizeBilinearAdjoint', 'inH', inH, ctx);
  checkSize('resizeBilinearAdjoint', 'inW', inW, ctx);
  const align = checkAlign('resizeBilinearAdjoint', opts, ctx);
  const [N, C, OH, OW] = g.shape as [number, number, number, number];
  const y = empty([N, C, inH, inW], 'resizeBilinearAdjoint');
  resizeLaunch('resize_adjoint', g, y, inH, inW, OH, OW, align, `resizeBilinearAdjoint ${fmt(g.shape)} to ${inH}x${inW}${align ? ' align' : ''}`);
  return record(y, 'resizeBilinearAdjoint', [g], (gg) => [resizeBilinear(gg, OH, OW, { alignCorners: align })]);
}

/**
 * FLOW.md §5 resize_flow: align-corners bilinear resize of flow [N, 2, H, W] to (outH, outW), then the values are
 * rescaled to pixels of the new grid: u ÷ (W/outW), v ÷ (H/outH). Differentiable.
 */
export function resizeFlow(flow: Tensor, outH: number, outW: number): Tensor {
  live('resizeFlow', flow);
  if (flow.rank !== 4 || flow.shape[1] !== 2) throw new EngineError(`resizeFlow: flow must be [N, 2, H, W] (channel 0 = x, 1 = y), got ${fmt(flow.shape)}`);
  const [, , H, W] = flow.shape as [number, number, number, number];
  const r = resizeBilinear(flow, outH, outW, { alignCorners: true });
  const sx = outW / W;
  const sy = outH / H;
  if (sx === sy) {
    const y = affine(r, sx, 0);
    r.dispose();
    return y;
  }
  // per-channel scale [1, 2, 1, 1] = (sx, sy), made on the GPU (no upload, so the batch keeps going)
  const fx = full([1, 1, 1, 1], sx);
  const fy = full([1, 1, 1, 1], sy);
  const s = concat([fx, fy], 1);
  const y = mul(r, s);
  for (const t of [r, fx, fy, s]) t.dispose();
  return y;
}

// ------------------------------------------------------------------------------------------------ correlation

function corrCheck(op: string, maxDisp: unknown, desc: string): number {
  if (typeof maxDisp !== 'number' || !Number.isInteger(maxDisp) || maxDisp < 0) {
    throw new EngineError(`${op}: maxDisp must be a non-negative integer, got ${String(maxDisp)} (${desc})`);
  }
  return maxDisp;
}

function corrParams(N: number, C: number, H: number, W: number): ArrayBuffer {
  const buf = new ArrayBuffer(32);
  new Uint32Array(buf, 0, 4).set([N, C, H, W]);
  new Float32Array(buf, 16, 1)[0] = 1 / C;
  return buf;
}

/** Channels per workgroup in the gradient kernels: the largest of 64, 32, ..., 1 that divides C. */
function channelTile(C: number): number {
  let ct = 64;
  while (C % ct !== 0) ct >>= 1;
  return ct;
}

/** @internal test hook: run the correlation kernels without subgroup shuffles even where the device has them. */
export const correlationInternals = { noShuffle: false };

/**
 * Launch one of kernels/correlation.wgsl's entry points: workgroups of 8 lanes take 32-pixel tiles of the batch's
 * flattened N·H·W pixels (tile = z·nx + x); corr does KY = 3 rows of displacements per workgroup, the gradients CT
 * channels. Subgroup shuffles share the loaded spans where the device has subgroups.
 */
function corrLaunch(op: string, entry: 'corr' | 'corr_grad1' | 'corr_grad2', N: number, C: number, H: number, W: number, m: number, buffers: GPUBuffer[], desc: string, label: string): void {
  const D = 2 * m + 1;
  const kt = Math.min(D, 9);
  const ky = Math.min(D, 3);
  const ct = channelTile(C);
  const tiles = Math.ceil((N * H * W) / 32);
  const nx = Math.min(tiles, MAX_GROUPS);
  const grid: [number, number, number] = [nx, entry === 'corr' ? Math.ceil(D / ky) * Math.ceil(D / kt) : C / ct, Math.ceil(tiles / nx)];
  if (grid.some((g) => g > MAX_GROUPS)) throw new EngineError(`${op}: grid for ${desc} with maxDisp ${m} exceeds ${MAX_GROUPS} workgroups per axis`);
  const e = engine();
  e.dispatch({
    kernel: 'correlation', entry, params: corrParams(N, C, H, W), buffers, grid, label,
    constants: { WG: 8, M: m, KT: kt, KY: ky, CT: ct, SHUFFLE: e.adapter.subgroups && !correlationInternals.noShuffle },
  });
}

/**
 * PWC-Net cost volume (FLOW.md §3): [N, C, H, W] x2 -> [N, (2m+1)², H, W] with
 * out[n, (dy+m)(2m+1) + (dx+m), y, x] = (1/C) Σ_c f1[n,c,y,x] · f2[n,c,y+dy,x+dx], f2 = 0 outside the image.
 * Differentiable in both inputs, to any order.
 */
export function correlation(f1: Tensor, f2: Tensor, maxDisp = 4): Tensor {
  live('correlation', f1, f2);
  const desc = `f1 ${fmt(f1.shape)}, f2 ${fmt(f2.shape)}`;
  if (f1.rank !== 4 || f1.shape.join() !== f2.shape.join()) throw new EngineError(`correlation: f1 and f2 must be [N, C, H, W] of the same shape, got ${desc}`);
  const m = corrCheck('correlation', maxDisp, desc);
  const [N, C, H, W] = f1.shape as [number, number, number, number];
  const D = 2 * m + 1;
  const y = empty([N, D * D, H, W], 'correlation');
  corrLaunch('correlation', 'corr', N, C, H, W, m, [f1.buffer, f2.buffer, y.buffer], desc, `correlation ${fmt(f1.shape)} d${m}`);
  return record(y, 'correlation', [f1, f2], (g, [a, b], needs) => [
    needs[0] ? correlationGrad1(g, b!, m) : null,
    needs[1] ? correlationGrad2(g, a!, m) : null,
  ]);
}

function corrGradLaunch(op: string, entry: 'corr_grad1' | 'corr_grad2', g: Tensor, f: Tensor, m: number): Tensor {
  live(op, g, f);
  const desc = `g ${fmt(g.shape)}, features ${fmt(f.shape)}`;
  corrCheck(op, m, desc);
  check4d(op, 'features', f);
  const [N, C, H, W] = f.shape as [number, number, number, number];
  const D = 2 * m + 1;
  if (g.shape.join() !== [N, D * D, H, W].join()) throw new EngineError(`${op}: g must be [${N}, ${D * D}, ${H}, ${W}] for maxDisp ${m}, got ${desc}`);
  const y = empty(f.shape, op);
  corrLaunch(op, entry, N, C, H, W, m, [g.buffer, f.buffer, y.buffer], desc, `${op} ${fmt(f.shape)} d${m}`);
  return y;
}

/** ∂/∂f1 of Σ g · correlation(f1, f2): (1/C) Σ_d g[d, y, x] · f2[c, y+dy, x+dx]. Differentiable in g and f2. */
export function correlationGrad1(g: Tensor, f2: Tensor, maxDisp: number): Tensor {
  const y = corrGradLaunch('correlationGrad1', 'corr_grad1', g, f2, maxDisp);
  // <h, grad1(g, f2)> = T(g, h, f2): its derivatives are correlation(h, f2) in g and grad2(g, h) in f2
  return record(y, 'correlationGrad1', [g, f2], (h, [gi, fi], needs) => [
    needs[0] ? correlation(h, fi!, maxDisp) : null,
    needs[1] ? correlationGrad2(gi!, h, maxDisp) : null,
  ]);
}

/** ∂/∂f2 of Σ g · correlation(f1, f2): (1/C) Σ_d g[d, y-dy, x-dx] · f1[c, y-dy, x-dx]. Differentiable in g and f1. */
export function correlationGrad2(g: Tensor, f1: Tensor, maxDisp: number): Tensor {
  const y = corrGradLaunch('correlationGrad2', 'corr_grad2', g, f1, maxDisp);
  // <h, grad2(g, f1)> = T(g, f1, h): its derivatives are correlation(f1, h) in g and grad1(g, h) in f1
  return record(y, 'correlationGrad2', [g, f1], (h, [gi, fi], needs) => [
    needs[0] ? correlation(fi!, h, maxDisp) : null,
    needs[1] ? correlationGrad1(gi!, h, maxDisp) : null,
  ]);
}
