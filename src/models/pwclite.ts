// PWC-Lite, the unsupervised optical-flow network DTVNet's official code uses (ARFlow, models/pwclite.py), built
// exactly as ../shared/spec/FLOW.md §2 specifies, with ARFlow's module layout so the parameter names are the
// PyTorch state-dict keys ("feature_pyramid_extractor.convs.0.0.0.weight", "flow_estimators.conv1.0.weight", ...).
//
//   frames [N, 3, H, W] x2 (H, W multiples of 64, values in [0, 1])
//     -> flows at 1/1, 1/2, 1/4, 1/8, 1/16 of the input, each [N, 2, h, w] in pixels of its own grid
//
// Both directions are estimated in one pass: the decoder runs on the batch [frame1 -> frame2 ; frame2 -> frame1],
// so one set of kernels serves the forward and the backward flow (FLOW.md §6: `with_bk`).

import { EngineError } from '../runtime/engine.js';
import type { Tensor } from '../tensor.js';
import { noGrad, scope } from '../tensor.js';
import { add, affine, leakyRelu, mul, rsqrt, square, sub } from '../ops/elementwise.js';
import { mean } from '../ops/reduce.js';
import { randn, zeros } from '../ops/creation.js';
import { correlation, resizeBilinear, warp } from '../ops/flow.js';
import { concat, slice } from '../ops/shape.js';
import { fmt } from '../ops/shapes.js';
import { sharedWinogradWeights } from '../ops/winograd.js';
import { Module } from '../nn/module.js';
import { Conv2d, Layer, LeakyReLU, ModuleList, Sequential } from '../nn/layers.js';

/** ARFlow's conv(): Conv2d with bias and "same" padding ((k-1)·d/2), then LeakyReLU(0.1) unless `relu` is false. */
function conv(cin: number, cout: number, k = 3, stride = 1, dilation = 1, relu = true): Sequential {
  const c = new Conv2d(cin, cout, k, { stride, dilation, padding: ((k - 1) * dilation) / 2 });
  return relu ? new Sequential(c, new LeakyReLU(0.1)) : new Sequential(c);
}

/** Six levels of (stride-2 conv, conv): 3 -> 16 -> 32 -> 64 -> 96 -> 128 -> 192 channels. */
export class FeatureExtractor extends Module {
  readonly convs: ModuleList<Sequential>;
  constructor(readonly channels: readonly number[] = [3, 16, 32, 64, 96, 128, 192]) {
    super();
    const levels: Sequential[] = [];
    for (let i = 1; i < channels.length; i++) levels.push(new Sequential(conv(channels[i - 1]!, channels[i]!, 3, 2), conv(channels[i]!, channels[i]!)));
    this.convs = this.child('convs', new ModuleList(levels));
  }
  /** Features of every level, coarsest first (the decoder's order). */
  forward(x: Tensor): Tensor[] {
    const out: Tensor[] = [];
    let y = x;
    for (const level of this.convs.items) {
      y = level.forward(y);
      out.push(y);
    }
    return out.reverse();
  }
}

/** The "reduce" flow estimator (FLOW.md §2.2 step 4): densely chained convs that each see the previous two outputs. */
export class FlowEstimatorReduce extends Module {
  readonly conv1: Sequential;
  readonly conv2: Sequential;
  readonly conv3: Sequential;
  readonly conv4: Sequential;
  readonly conv5: Sequential;
  readonly predict_flow: Sequential;
  constructor(cin = 115) {
    super();
    this.conv1 = this.child('conv1', conv(cin, 128));
    this.conv2 = this.child('conv2', conv(128, 128));
    this.conv3 = this.child('conv3', conv(128 + 128, 96));
    this.conv4 = this.child('conv4', conv(128 + 96, 64));
    this.conv5 = this.child('conv5', conv(96 + 64, 32));
    this.predict_flow = this.child('predict_flow', conv(64 + 32, 2, 3, 1, 1, false));
  }
  /** [features a5 (32 channels), flow increment (2 channels)] */
  forward(x: Tensor): [Tensor, Tensor] {
    const a1 = this.conv1.forward(x);
    const a2 = this.conv2.forward(a1);
    const a3 = this.conv3.forward(concat([a1, a2], 1));
    const a4 = this.conv4.forward(concat([a2, a3], 1));
    const a5 = this.conv5.forward(concat([a3, a4], 1));
    return [a5, this.predict_flow.forward(concat([a4, a5], 1))];
  }
}

/** Dilated context network (FLOW.md §2.2 step 5): 34 -> 128 (d1) -> 128 (d2) -> 128 (d4) -> 96 (d8) -> 64 (d16) -> 32 -> 2. */
export class ContextNetwork extends Layer {
  readonly convs: Sequential;
  constructor(cin = 34) {
    super();
    this.convs = this.child('convs', new Sequential(
      conv(cin, 128, 3, 1, 1), conv(128, 128, 3, 1, 2), conv(128, 128, 3, 1, 4), conv(128, 96, 3, 1, 8),
      conv(96, 64, 3, 1, 16), conv(64, 32, 3, 1, 1), conv(32, 2, 3, 1, 1, false),
    ));
  }
  forward(x: Tensor): Tensor {
    return this.convs.forward(x);
  }
}

export interface PWCLiteOutput {
  /** forward flows frame1 -> frame2, finest first: [N, 2, H, W], [N, 2, H/2, W/2], ..., [N, 2, H/16, W/16] */
  forward: Tensor[];
  /** backward flows frame2 -> frame1 (only when requested), same layout */
  backward: Tensor[] | null;
  /** both directions stacked on the batch axis ([forward; backward], batch 2N), finest first, when backward was asked */
  stacked: Tensor[];
}

/** Weight-free choices of the forward pass; a checkpoint records them in its metadata (see `metadata`). */
export interface PWCLiteOptions {
  corrNorm?: 'none' | 'moments';
  inputNorm?: 'none' | 'center';
}

export class PWCLite extends Module {
  readonly feature_pyramid_extractor: FeatureExtractor;
  readonly flow_estimators: FlowEstimatorReduce;
  readonly context_networks: ContextNetwork;
  readonly conv_1x1: ModuleList<Sequential>;
  /** pyramid level where the decoder stops: 4 = stride 4 (the last of the 5 processed levels) */
  readonly outputLevel = 4;
  readonly searchRange = 4;
  /**
   * 'none' (ARFlow, the default): the cost volume correlates the raw features. 'moments' (after UFlow, Jonschkowski et
   * al. 2020, which normalises by moments over all channels; here each channel is centred on its own): before each
   * correlation, every channel of a pair's two maps is centred by its mean over both maps' pixels and both are divided
   * by their joint standard deviation, so the cost volume peaks at the matching displacement from the first step
   * instead of holding a large, displacement-independent product of the features' means. No weights; the choice is
   * stored in a checkpoint's metadata (`corr_norm`).
   */
  readonly corrNorm: 'none' | 'moments';

  /** 'none' (ARFlow): frames enter the pyramid as [0, 1]. 'center': each frame's per-channel mean is subtracted first. */
  readonly inputNorm: 'none' | 'center';

  constructor(opts: PWCLiteOptions = {}) {
    super();
    this.corrNorm = opts.corrNorm ?? 'none';
    this.inputNorm = opts.inputNorm ?? 'none';
    if (this.inputNorm !== 'none' && this.inputNorm !== 'center') throw new EngineError(`PWCLite: inputNorm must be 'none' or 'center', got ${String(this.inputNorm)}`);
    if (this.corrNorm !== 'none' && this.corrNorm !== 'moments') throw new EngineError(`PWCLite: corrNorm must be 'none' or 'moments', got ${String(this.corrNorm)}`);
    this.feature_pyramid_extractor = this.child('feature_pyramid_extractor', new FeatureExtractor());
    const corrChannels = (2 * this.searchRange + 1) ** 2;
    this.flow_estimators = this.child('flow_estimators', new FlowEstimatorReduce(corrChannels + 32 + 2));
    this.context_networks = this.child('context_networks', new ContextNetwork(32 + 2));
    this.conv_1x1 = this.child('conv_1x1', new ModuleList([192, 128, 96, 64, 32].map((c) => conv(c, 32, 1))));
  }

  /**
   * The initialisation ARFlow's `init_weights` means to apply — He (Kaiming) normal weights N(0, 2/fan_in) and zero
   * biases for every conv — which the released code never reaches (it tests `isinstance` on (name, module) pairs, so
   * the network keeps PyTorch's default U(±1/√fan_in), FLOW.md §2). With the default, activations shrink by about half
   * per layer, so the coarse pyramid levels carry almost nothing but biases and training stalls; the trainer uses
   * this by default. Draws from the engine's seeded sequence.
   */
  initKaiming(): this {
    noGrad(() => {
      for (const [k, p] of this.namedParameters()) {
        const v = k.endsWith('.bias') ? zeros(p.shape) : randn(p.shape, { std: Math.sqrt(2 / (p.size / p.shape[0]!)) });
        p.assign_(v);
        v.dispose();
      }
    });
    return this;
  }

  /** The options as safetensors metadata ({corr_norm, input_norm}), so a loader rebuilds the same forward pass. */
  metadata(): Record<string, string> {
    return { format: 'pwclite', corr_norm: this.corrNorm, input_norm: this.inputNorm };
  }

  /** Options from a checkpoint's metadata; keys that are absent mean ARFlow's forward pass ('none'). */
  static optionsFrom(meta: Record<string, string>, what = 'checkpoint'): PWCLiteOptions {
    const pick = <T extends string>(key: string, allowed: readonly T[]): T => {
      const v = meta[key] ?? 'none';
      if (!(allowed as readonly string[]).includes(v)) throw new EngineError(`${what}: metadata ${key} is '${v}', expected one of ${allowed.join(', ')}`);
      return v as T;
    };
    return { corrNorm: pick('corr_norm', ['none', 'moments'] as const), inputNorm: pick('input_norm', ['none', 'center'] as const) };
  }

  /**
   * Flows between frame1 and frame2 ([N, 3, H, W], values in [0, 1], H and W multiples of 64). With `backward`
   * the frame2 -> frame1 flows come from the same pass (the batch is doubled).
   */
  forward(frame1: Tensor, frame2: Tensor, opts: { backward?: boolean } = {}): PWCLiteOutput {
    const s1 = frame1.shape;
    if (frame1.rank !== 4 || s1[1] !== 3 || s1.join() !== frame2.shape.join()) {
      throw new EngineError(`PWCLite: frames must be two [N, 3, H, W] tensors of one shape, got ${fmt(s1)} and ${fmt(frame2.shape)}`);
    }
    if (s1[2]! % 64 !== 0 || s1[3]! % 64 !== 0 || s1[2]! < 64 || s1[3]! < 64) {
      throw new EngineError(`PWCLite: frame height and width must be multiples of 64 (6 stride-2 levels), got ${s1[2]}x${s1[3]}; resize the frames first`);
    }
    const N = s1[0]!;
    const both = opts.backward ?? false;
    // a decoder shared over 5 levels: in inference its Winograd weight transforms are computed once per forward
    const flows = sharedWinogradWeights(() => scope(() => {
      // one pyramid pass over both frames
      const x = concat([frame1, frame2], 0);
      const feats = this.feature_pyramid_extractor.forward(this.inputNorm === 'center' ? sub(x, mean(x, [2, 3], true)) : x);
      const pairs = feats.map((f) => {
        const a = slice(f, 0, 0, N);
        const b = slice(f, 0, N, 2 * N);
        return both ? [concat([a, b], 0), concat([b, a], 0)] as const : [a, b] as const;
      });
      return this.decode(pairs.slice(0, this.outputLevel + 1));
    }));
    // flows are coarsest first; upsample each x4 (values x4) and return finest first
    const H = s1[2]!;
    const W = s1[3]!;
    const stacked = scope(() => flows.reverse().map((f, i) => affine(resizeBilinear(f, H >> i, W >> i, { alignCorners: true }), 4, 0)));
    for (const f of flows) f.dispose();
    if (!both) return { forward: stacked, backward: null, stacked };
    return {
      forward: stacked.map((f) => slice(f, 0, 0, N)),
      backward: stacked.map((f) => slice(f, 0, N, 2 * N)),
      stacked,
    };
  }

  /** The coarse-to-fine decoder (FLOW.md §2.2) over [f1, f2] feature pairs, coarsest first. Flows coarsest first. */
  private decode(pairs: (readonly [Tensor, Tensor])[]): Tensor[] {
    const out: Tensor[] = [];
    let flow: Tensor | null = null;
    pairs.forEach(([x1, x2], l) => {
      const [B, , h, w] = x1.shape as [number, number, number, number];
      let f2w: Tensor;
      if (flow === null) {
        flow = zeros([B, 2, h, w]);
        f2w = x2;
      } else {
        flow = resizeBilinear(affine(flow, 2, 0), h, w, { alignCorners: true });
        f2w = warp(x2, flow, 'border');
      }
      const [c1, c2] = this.corrNorm === 'moments' ? normalisePair(x1, f2w) : [x1, f2w];
      const cost = leakyRelu(correlation(c1, c2, this.searchRange), 0.1);
      const g = this.conv_1x1.items[l]!.forward(x1);
      const [feat, delta] = this.flow_estimators.forward(concat([cost, g, flow], 1));
      flow = add(flow, delta);
      flow = add(flow, this.context_networks.forward(concat([feat, flow], 1)));
      out.push(flow);
    });
    return out;
  }
}

/**
 * Feature normalisation before the correlation: each channel of a sample's two maps is centred by its mean over both
 * maps' pixels, then both maps are divided by their joint standard deviation over (C, H, W).
 */
function normalisePair(a: Tensor, b: Tensor): [Tensor, Tensor] {
  const m = affine(add(mean(a, [2, 3], true), mean(b, [2, 3], true)), 0.5, 0);
  const ca = sub(a, m);
  const cb = sub(b, m);
  const v = affine(add(mean(square(ca), [1, 2, 3], true), mean(square(cb), [1, 2, 3], true)), 0.5, 1e-12);
  const r = rsqrt(v);
  return [mul(ca, r), mul(cb, r)];
}
