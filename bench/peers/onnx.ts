// A minimal ONNX writer (protobuf by hand: only the fields a model of plain tensors needs) and the export of a
// DTVG generator to an ONNX graph with the same weights — the peers of `npm run bench:peers` run this file.
// Field numbers: onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
import type { DTVG, HostTensor } from '../../src/node.js';

class PB {
  private parts: number[] = [];
  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x) b |= 0x80;
      this.parts.push(b);
    } while (x);
  }
  int(field: number, v: number | bigint): this {
    this.varint((field << 3) | 0);
    this.varint(v);
    return this;
  }
  float(field: number, v: number): this {
    this.varint((field << 3) | 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.parts.push(...b);
    return this;
  }
  bytes(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    for (const b of data) this.parts.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: PB): this {
    return this.bytes(field, m.done());
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

type Attr = number | number[] | string | { f: number };

export class OnnxGraph {
  private nodes: PB[] = [];
  private inits: PB[] = [];
  private n = 0;
  private tmp(prefix: string): string {
    return `${prefix}_${this.n++}`;
  }
  init(name: string, shape: number[], data: Float32Array | BigInt64Array): string {
    const t = new PB();
    for (const d of shape) t.int(1, d);
    t.int(2, data instanceof Float32Array ? 1 : 7);
    t.str(8, name);
    t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.inits.push(t);
    return name;
  }
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, prefix = type.toLowerCase()): string {
    const out = this.tmp(prefix);
    const node = new PB();
    for (const i of inputs) node.str(1, i);
    node.str(2, out).str(3, out).str(4, type);
    for (const [k, v] of Object.entries(attrs)) {
      const a = new PB().str(1, k);
      if (typeof v === 'string') a.bytes(4, new TextEncoder().encode(v)).int(20, 3);
      else if (typeof v === 'object' && !Array.isArray(v)) a.float(2, v.f).int(20, 1);
      else if (Array.isArray(v)) { for (const x of v) a.int(8, x); a.int(20, 7); }
      else a.int(3, v).int(20, 2);
      node.msg(5, a);
    }
    this.nodes.push(node);
    return out;
  }
  model(inputs: [string, number[]][], outputs: [string, number[]][]): Uint8Array {
    const vi = (name: string, shape: number[]) => {
      const dims = new PB();
      for (const d of shape) dims.msg(1, d < 0 ? new PB().str(2, 'B') : new PB().int(1, d));
      return new PB().str(1, name).msg(2, new PB().msg(1, new PB().int(1, 1).msg(2, dims)));
    };
    const g = new PB();
    for (const nd of this.nodes) g.msg(1, nd);
    g.str(2, 'dtvg');
    for (const t of this.inits) g.msg(5, t);
    for (const [n, s] of inputs) g.msg(11, vi(n, s));
    for (const [n, s] of outputs) g.msg(12, vi(n, s));
    return new PB().int(1, 8).str(2, 'dtvnet-webgpu').msg(7, g).msg(8, new PB().str(1, '').int(2, 17)).done();
  }
}

/** The DTVG generator (2-D decoder, latentNorm 'none') as an ONNX graph: inputs image [B,3,128,128], z [B,512]. */
export async function exportGenerator(g: DTVG): Promise<Uint8Array> {
  const sd: Map<string, HostTensor> = await g.stateDictHost();
  const o = new OnnxGraph();
  const w = (k: string) => {
    const t = sd.get(k);
    if (!t) throw new Error(`export: no tensor ${k}`);
    return o.init(k, t.shape, t.data);
  };
  const i64 = (name: string, v: number[]) => o.init(name, [v.length], BigInt64Array.from(v.map(BigInt)));
  const conv = (x: string, pre: string, k: number, stride = 1, pad = 0, bias = false) =>
    o.op('Conv', bias ? [x, w(`${pre}.weight`), w(`${pre}.bias`)] : [x, w(`${pre}.weight`)], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] });
  const bn = (x: string, pre: string) => o.op('BatchNormalization', [x, w(`${pre}.weight`), w(`${pre}.bias`), w(`${pre}.running_mean`), w(`${pre}.running_var`)], { epsilon: { f: 1e-5 } });
  const relu = (x: string) => o.op('Relu', [x]);
  let padN = 0;
  const reflect = (x: string, p: number) => o.op('Pad', [x, i64(`pads_${padN++}`, [0, 0, p, p, 0, 0, p, p])], { mode: 'reflect' });
  const res = (x: string, pre: string) => {
    let h = relu(bn(conv(reflect(x, 1), `${pre}.conv_block.1`, 3), `${pre}.conv_block.2`));
    h = bn(conv(reflect(h, 1), `${pre}.conv_block.5`, 3), `${pre}.conv_block.6`);
    return o.op('Add', [x, h]);
  };
  const equalLinear = (z: string, pre: string) => {
    const t = sd.get(`${pre}.linear.weight_orig`)!;
    const scaled = t.data.map((v) => v * Math.sqrt(2 / t.shape[1]!));
    return o.op('Gemm', [z, o.init(`${pre}.w_eff`, t.shape, scaled), w(`${pre}.linear.bias`)], { transB: 1 });
  };
  const lrelu = (x: string, a: number) => o.op('LeakyRelu', [x], { alpha: { f: a } });
  // shared encoder
  let x = reflect('image', 2);
  x = relu(bn(conv(x, 'share.1', 5), 'share.2'));
  x = relu(bn(conv(x, 'share.4', 3, 2, 1), 'share.5'));
  x = relu(bn(conv(x, 'share.7', 3, 1, 1), 'share.8'));
  let img = x;
  for (let i = 0; i < 9; i++) img = res(img, `img_path.${i}`);
  // motion stream
  let h = relu(bn(conv(x, 'opt_path.conv.0', 3, 1, 1), 'opt_path.conv.1'));
  let s = 'z';
  for (const j of [0, 2, 4]) s = lrelu(equalLinear(s, `opt_path.opt.${j}`), 0.2);
  const C = 64;
  const ones = o.init('in_scale', [C], new Float32Array(C).fill(1));
  const zeros = o.init('in_bias', [C], new Float32Array(C));
  const shape4 = i64('style_shape', [-1, C, 1, 1]);
  for (let i = 0; i < 6; i++) {
    h = res(h, `opt_path.model_img.${i}`);
    const a = lrelu(equalLinear(lrelu(equalLinear(s, `opt_path.model_A.${i}.0`), 0.2), `opt_path.model_A.${i}.2`), 0.2);
    const st = equalLinear(a, `opt_path.model_AdaIN.${i}.style`);
    const gamma = o.op('Reshape', [o.op('Slice', [st, i64(`g0_${i}`, [0]), i64(`g1_${i}`, [C]), i64(`ax_${i}`, [1])]), shape4]);
    const beta = o.op('Reshape', [o.op('Slice', [st, i64(`b0_${i}`, [C]), i64(`b1_${i}`, [2 * C]), i64(`bx_${i}`, [1])]), shape4]);
    const nrm = o.op('InstanceNormalization', [h, ones, zeros], { epsilon: { f: 1e-5 } });
    h = o.op('Add', [o.op('Mul', [nrm, gamma]), beta]);
  }
  const flows = lrelu(conv(h, 'opt_path.model_opt.0', 3, 1, 1, true), 0.1);
  // decoder
  let d = o.op('Concat', [img, flows], { axis: 1 });
  d = relu(bn(conv(d, 'decoder.0', 3, 1, 1), 'decoder.1'));
  d = relu(bn(conv(d, 'decoder.3', 3, 1, 1), 'decoder.4'));
  d = o.op('ConvTranspose', [d, w('decoder.6.weight')], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
  d = relu(bn(d, 'decoder.7'));
  d = o.op('Tanh', [conv(reflect(d, 2), 'decoder.10', 5, 1, 0, true)]);
  const video = o.op('Reshape', [d, i64('video_shape', [-1, 3, 32, 128, 128])], {}, 'video');
  return o.model([['image', [-1, 3, 128, 128]], ['z', [-1, 512]]], [[video, [-1, 3, 32, 128, 128]]]);
}
