// DTVNet's three networks (../shared/spec/DTVNET.md), with the official code's module layout, so that every
// parameter and buffer carries the PyTorch state-dict key of zhangzjn/DTVNet (models/dtv.py, models/flowencoder.py)
// and a converted checkpoint loads by name:
//   FlowEncoder (the optical flow encoder ψ): flows [B, 2, 32, 128, 128] -> motion vector [B, 512]
//   DTVG (the dynamic video generator φ): first frame [B, 3, 128, 128] + motion vector -> video [B, 3, 32, 128, 128]
//     and the low-resolution flows [B, 64, 64, 64]
//   DTVD (the 3D critic): video [B, 3, 32, 128, 128] -> score [B, 1]

import { EngineError } from '../runtime/engine.js';
import { Tensor, noGrad, scope } from '../tensor.js';
import { add, leakyRelu, mul, sub, rsqrt, affine } from '../ops/elementwise.js';
import { full, randn } from '../ops/creation.js';
import { linear } from '../ops/matmul.js';
import { adain } from '../ops/nn.js';
import { concat, reshape, slice } from '../ops/shape.js';
import { mean, variance } from '../ops/reduce.js';
import { Module } from '../nn/module.js';
import {
  BatchNorm, Conv2d, Conv3d, ConvTranspose2d, ConvTranspose3d, InstanceNorm, Layer, LeakyReLU, Linear, ModuleList, Pad2d,
  ReLU, Sequential, Tanh,
} from '../nn/layers.js';

// ------------------------------------------------------------------------------------------------ building blocks

/** The parameters of EqualLinear's inner nn.Linear, registered in the official order: bias, then weight_orig. */
class EqualLinearInner extends Module {
  readonly bias: Tensor;
  readonly weightOrig: Tensor;
  constructor(readonly inDim: number, outDim: number) {
    super();
    this.bias = this.param('bias', full([outDim], 0));
    this.weightOrig = this.param('weight_orig', randn([outDim, inDim]));
  }
}

/** StyleGAN's equalised-learning-rate linear layer: the weight used is weight_orig · sqrt(2 / in). */
export class EqualLinear extends Layer {
  readonly linear: EqualLinearInner;
  constructor(inDim: number, outDim: number) {
    super();
    this.linear = this.child('linear', new EqualLinearInner(inDim, outDim));
  }
  forward(x: Tensor): Tensor {
    return scope(() => linear(x, mul(this.linear.weightOrig, Math.sqrt(2 / this.linear.inDim)), this.linear.bias));
  }
}

/** x + [pad 1, conv 3x3, BN, ReLU, pad 1, conv 3x3, BN](x); children named like the official `conv_block`. */
export class ResnetBlock extends Layer {
  readonly convBlock: Sequential;
  constructor(dim: number) {
    super();
    this.convBlock = this.child('conv_block', new Sequential(
      new Pad2d(1, 'reflect'), new Conv2d(dim, dim, 3, { bias: false }), new BatchNorm(dim), new ReLU(),
      new Pad2d(1, 'reflect'), new Conv2d(dim, dim, 3, { bias: false }), new BatchNorm(dim),
    ));
  }
  forward(x: Tensor): Tensor {
    return scope(() => add(x, this.convBlock.forward(x)));
  }
}

/** AdaIN: instance norm, then γ ⊙ x̂ + β with [γ, β] = EqualLinear(style) (γ's bias starts at 1). */
export class AdaptiveInstanceNorm extends Module {
  readonly norm: InstanceNorm;
  readonly style: EqualLinear;
  constructor(readonly channels: number, styleDim: number) {
    super();
    this.norm = this.child('norm', new InstanceNorm(channels));
    this.style = this.child('style', new EqualLinear(styleDim, 2 * channels));
    noGrad(() => {
      const b = concat([full([channels], 1), full([channels], 0)], 0);
      this.style.linear.bias.assign_(b);
      b.dispose();
    });
  }
  forward(x: Tensor, style: Tensor): Tensor {
    return scope(() => {
      const s = this.style.forward(style); // [B, 2C]
      return adain(x, slice(s, 1, 0, this.channels), slice(s, 1, this.channels, 2 * this.channels));
    });
  }
}

const convBnRelu = (cin: number, cout: number, k: number, stride: number, padding: number): Layer[] =>
  [new Conv2d(cin, cout, k, { stride, padding, bias: false }), new BatchNorm(cout), new ReLU()];

// ------------------------------------------------------------------------------------------------ generator

/** The motion stream φ_M (official class G_synthesis, key prefix `opt_path`). */
export class GSynthesis extends Module {
  readonly conv: Sequential;
  readonly opt: Sequential;
  readonly modelImg: ModuleList<ResnetBlock>;
  readonly modelA: ModuleList<Sequential>;
  readonly modelAdaIN: ModuleList<AdaptiveInstanceNorm>;
  readonly modelOpt: Sequential;
  constructor(ngf: number, dlatent: number, readonly nBlocks = 6, frames = 32) {
    super();
    this.conv = this.child('conv', new Sequential(...convBnRelu(2 * ngf, ngf, 3, 1, 1)));
    this.opt = this.child('opt', new Sequential(...[0, 1, 2].flatMap(() => [new EqualLinear(dlatent, dlatent), new LeakyReLU(0.2)])));
    this.modelImg = this.child('model_img', new ModuleList(Array.from({ length: nBlocks }, () => new ResnetBlock(ngf))));
    this.modelA = this.child('model_A', new ModuleList(Array.from({ length: nBlocks }, () =>
      new Sequential(new EqualLinear(dlatent, dlatent), new LeakyReLU(0.2), new EqualLinear(dlatent, dlatent), new LeakyReLU(0.2)))));
    this.modelAdaIN = this.child('model_AdaIN', new ModuleList(Array.from({ length: nBlocks }, () => new AdaptiveInstanceNorm(ngf, dlatent))));
    this.modelOpt = this.child('model_opt', new Sequential(new Conv2d(ngf, 2 * frames, 3, { padding: 1 }), new LeakyReLU(0.1)));
  }
  forward(x: Tensor, dlatent: Tensor): Tensor {
    return scope(() => {
      let h = this.conv.forward(x);
      const w = this.opt.forward(dlatent);
      for (let i = 0; i < this.nBlocks; i++) {
        h = this.modelImg.items[i]!.forward(h);
        h = this.modelAdaIN.items[i]!.forward(h, this.modelA.items[i]!.forward(w));
      }
      return this.modelOpt.forward(h);
    });
  }
}

export interface DTVGOptions {
  ngf?: number;
  dlatentSize?: number;
  nBlocks?: number;
  frames?: number;
  /** the 2-D decoder of the released config (default true); false builds the 3-D transposed-convolution decoder */
  use2d?: boolean;
  /**
   * How the motion vector is normalised before use (DTVNET.md §4). 'batch' is the code's: standardise every
   * dimension over the batch (at batch 1 this zeroes z, so every seed gives the same video). 'none' (default) uses z
   * as given — sample it from N(0, I) — so a single video's motion depends on its z.
   */
  latentNorm?: 'batch' | 'none';
}

/** The dynamic video generator (official class DTVG). */
export class DTVG extends Module {
  readonly share: Sequential;
  readonly imgPath: Sequential;
  readonly optPath: GSynthesis;
  readonly decoder: Sequential;
  readonly decoder3d: Sequential | null;
  readonly opts: Required<DTVGOptions>;
  constructor(opts: DTVGOptions = {}) {
    super();
    const o: Required<DTVGOptions> = { ngf: 64, dlatentSize: 512, nBlocks: 9, frames: 32, use2d: true, latentNorm: 'none', ...opts };
    if (o.latentNorm !== 'batch' && o.latentNorm !== 'none') throw new EngineError(`DTVG: latentNorm must be 'batch' or 'none', got '${String(o.latentNorm)}'`);
    this.opts = o;
    const { ngf, frames } = o;
    const out = 3 * frames; // 96 channels = 3 colours x 32 frames
    this.share = this.child('share', new Sequential(
      new Pad2d(2, 'reflect'), ...convBnRelu(3, ngf, 5, 1, 0), ...convBnRelu(ngf, 2 * ngf, 3, 2, 1), ...convBnRelu(2 * ngf, 2 * ngf, 3, 1, 1),
    ));
    this.imgPath = this.child('img_path', new Sequential(...Array.from({ length: o.nBlocks }, () => new ResnetBlock(2 * ngf))));
    this.optPath = this.child('opt_path', new GSynthesis(ngf, o.dlatentSize, 6, frames));
    // The official code declares 3·ngf inputs; that equals 2·ngf + 2·frames only for ngf = 64 (DTVNET.md §14).
    const decoder: Layer[] = [...convBnRelu(2 * ngf + 2 * frames, out, 3, 1, 1), ...convBnRelu(out, out, 3, 1, 1)];
    if (o.use2d) {
      decoder.push(
        new ConvTranspose2d(out, out, 3, { stride: 2, padding: 1, outputPadding: 1, bias: false }), new BatchNorm(out), new ReLU(),
        new Pad2d(2, 'reflect'), new Conv2d(out, out, 5), new Tanh(),
      );
    }
    this.decoder = this.child('decoder', new Sequential(...decoder));
    this.decoder3d = o.use2d ? null : this.child('decoder_3d', new Sequential(
      new ConvTranspose3d(3, 3, 1, { bias: false }), new BatchNorm(3), new LeakyReLU(0.2),
      new ConvTranspose3d(3, 3, 1, { bias: false }), new BatchNorm(3), new LeakyReLU(0.2),
      new ConvTranspose3d(3, 3, [3, 4, 4], { stride: [1, 2, 2], padding: 1, bias: false }), new Tanh(),
    ));
  }

  /** The motion vector as the generator uses it (see latentNorm). */
  normalizeLatent(z: Tensor): Tensor {
    if (this.opts.latentNorm === 'none') return reshape(z, z.shape);
    return scope(() => mul(sub(z, mean(z, 0, true)), rsqrt(affine(variance(z, 0, true), 1, 1e-5))));
  }

  /** image [B, 3, H, W] in [-1, 1], z [B, dlatent] -> { video [B, 3, T, 2H', 2W'], flows [B, 2T, H', W'] } */
  forward(image: Tensor, z: Tensor): { video: Tensor; flows: Tensor } {
    if (image.rank !== 4 || image.shape[1] !== 3) throw new EngineError(`DTVG: image must be [B, 3, H, W], got [${image.shape.join(', ')}]`);
    if (z.rank !== 2 || z.shape[0] !== image.shape[0] || z.shape[1] !== this.opts.dlatentSize) {
      throw new EngineError(`DTVG: motion vector must be [${image.shape[0]}, ${this.opts.dlatentSize}], got [${z.shape.join(', ')}]`);
    }
    return scope(() => {
      const zn = this.normalizeLatent(z);
      const x = this.share.forward(image);
      const xImg = this.imgPath.forward(x);
      const flows = this.optPath.forward(x, zn);
      const y = this.decoder.forward(concat([xImg, flows], 1));
      const [B, , H, W] = y.shape as [number, number, number, number];
      let video = reshape(y, [B, 3, this.opts.frames, H, W]);
      if (this.decoder3d) video = this.decoder3d.forward(video);
      return { video, flows };
    });
  }
}

// ------------------------------------------------------------------------------------------------ flow encoder

/** The optical flow encoder ψ (official class FlowEncoder): flows [B, 2, T, H, W] -> [B, dlatent]. */
export class FlowEncoder extends Module {
  readonly convs: Conv3d[];
  readonly bns: BatchNorm[];
  readonly fc1: Linear;
  constructor(ngf = 32, dlatentSize = 512) {
    super();
    const spec: [number, number, number[], number[], number[]][] = [
      [2, ngf, [3, 4, 4], [1, 2, 2], [1, 1, 1]],
      [ngf, 2 * ngf, [4, 4, 4], [2, 2, 2], [1, 1, 1]],
      [2 * ngf, 4 * ngf, [4, 4, 4], [2, 2, 2], [1, 1, 1]],
      [4 * ngf, 8 * ngf, [4, 4, 4], [2, 2, 2], [1, 1, 1]],
      [8 * ngf, 16 * ngf, [4, 4, 4], [2, 2, 2], [1, 1, 1]],
      [16 * ngf, 16 * ngf, [2, 4, 4], [1, 1, 1], [0, 0, 0]],
    ];
    this.convs = spec.map(([ci, co, k, s, p], i) => this.child(`downConv${i + 1}`, new Conv3d(ci, co, k, { stride: s, padding: p, bias: false })));
    this.bns = [2, 3, 4, 5].map((i) => this.child(`downBN${i}`, new BatchNorm(spec[i - 1]![1])));
    this.fc1 = this.child('fc1', new Linear(16 * ngf, dlatentSize));
  }
  forward(flows: Tensor): Tensor {
    if (flows.rank !== 5 || flows.shape[1] !== 2) throw new EngineError(`FlowEncoder: flows must be [B, 2, T, H, W], got [${flows.shape.join(', ')}]`);
    return scope(() => {
      let h = this.convs[0]!.forward(flows); // layer 1: no norm, no activation (faithful to the code)
      for (let i = 1; i < 5; i++) h = leakyRelu(this.bns[i - 1]!.forward(this.convs[i]!.forward(h)), 0.2);
      h = this.convs[5]!.forward(h);
      return this.fc1.forward(reshape(h, [h.shape[0]!, h.shape[1]!]));
    });
  }
}

// ------------------------------------------------------------------------------------------------ critic

/** The 3-D critic (official class DTVD): video [B, 3, T, H, W] -> [B, 1]. */
export class DTVD extends Module {
  readonly slice1: Sequential;
  readonly slice2: Sequential;
  readonly slice3: Sequential;
  readonly slice4: Sequential;
  constructor(ndf = 32) {
    super();
    const c3 = (ci: number, co: number, k: number | number[], s: number | number[], p: number | number[]) => new Conv3d(ci, co, k, { stride: s, padding: p, bias: false });
    this.slice1 = this.child('slice1', new Sequential(c3(3, ndf, [3, 4, 4], [1, 2, 2], 1), new LeakyReLU(0.2)));
    this.slice2 = this.child('slice2', new Sequential(
      c3(ndf, 2 * ndf, 4, 2, 1), new InstanceNorm(2 * ndf), new LeakyReLU(0.2),
      c3(2 * ndf, 4 * ndf, 4, 2, 1), new InstanceNorm(4 * ndf), new LeakyReLU(0.2),
    ));
    this.slice3 = this.child('slice3', new Sequential(
      c3(4 * ndf, 8 * ndf, 4, 2, 1), new InstanceNorm(8 * ndf), new LeakyReLU(0.2),
      c3(8 * ndf, 16 * ndf, 4, 2, 1), new InstanceNorm(16 * ndf), new LeakyReLU(0.01), // the code's default slope here
    ));
    this.slice4 = this.child('slice4', new Sequential(c3(16 * ndf, 1, [2, 4, 4], 1, 0)));
  }
  forward(video: Tensor): Tensor {
    if (video.rank !== 5 || video.shape[1] !== 3) throw new EngineError(`DTVD: video must be [B, 3, T, H, W], got [${video.shape.join(', ')}]`);
    return scope(() => {
      const y = this.slice4.forward(this.slice3.forward(this.slice2.forward(this.slice1.forward(video))));
      return reshape(y, [-1, 1]);
    });
  }
}

/** Initialise G and D like the official `init_weights` (type normal, gain 0.02): every Conv/ConvTranspose weight
 * ~ N(0, 0.02) and bias 0, every BatchNorm weight ~ N(1, 0.02) and bias 0. EqualLinear layers keep their own init. */
export function initWeightsNormal(m: Module, gain = 0.02): void {
  const entries = m.stateDict();
  noGrad(() => {
    for (const [name, t] of m.namedParameters()) {
      if (name.includes('.linear.')) continue; // EqualLinear keeps N(0, 1) / its biases
      const dot = name.lastIndexOf('.');
      const owner = name.slice(0, dot + 1);
      const leaf = name.slice(dot + 1);
      const isBn = entries.has(`${owner}running_mean`);
      const v = leaf === 'weight' ? randn([...t.shape], { mean: isBn ? 1 : 0, std: gain }) : leaf === 'bias' ? full([...t.shape], 0) : null;
      if (v) {
        t.assign_(v);
        v.dispose();
      }
    }
  });
}
