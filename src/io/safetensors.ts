// safetensors (https://github.com/huggingface/safetensors) encode/decode, browser-safe (bytes in, bytes out).
//
// Layout: 8-byte little-endian header length n, then n bytes of JSON
//   { "<name>": { "dtype": "F32" | "F16" | ..., "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }
// then the data region; offsets are relative to its start. Everything a file claims is checked before it is used:
// header bounds, JSON shape, dtype, that each tensor's byte length matches its shape, that offsets lie inside the
// data region and do not overlap. A corrupt, truncated or mismatched file is an error naming the tensor.

export type DType = 'F32' | 'F16';

export interface HostTensor {
  shape: number[];
  /** values as float32 (F16 files are widened on read) */
  data: Float32Array;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const MAX_HEADER = 100 * 1024 * 1024;

// ------------------------------------------------------------------------------------------------ half floats

/** IEEE 754 binary16 -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** number -> IEEE 754 binary16 (round to nearest even; overflow to ±Infinity). */
export function floatToHalf(v: number): number {
  const f32 = new Float32Array([v]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

// ------------------------------------------------------------------------------------------------ decode

export interface DecodedFile {
  tensors: Map<string, HostTensor>;
  /** the tensors' dtypes as stored */
  dtypes: Map<string, string>;
  metadata: Record<string, string>;
}

/**
 * Parse a safetensors file. F32 and F16 tensors are returned as Float32Array; other dtypes are skipped unless
 * `strictDtypes`, and listed in dtypes either way (PyTorch's integer buffers such as num_batches_tracked).
 */
export function decodeSafetensors(bytes: Uint8Array, opts: { what?: string; strictDtypes?: boolean } = {}): DecodedFile {
  const what = opts.what ?? 'safetensors file';
  if (bytes.byteLength < 8) throw new SafetensorsError(`${what}: ${bytes.byteLength} bytes is too short for a safetensors header (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER || 8 + n > bytes.byteLength) {
    throw new SafetensorsError(`${what}: header length ${n} does not fit in the file's ${bytes.byteLength} bytes (truncated or not a safetensors file)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(`${what}: the header is not valid JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError(`${what}: the header is not a JSON object`);
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, HostTensor>();
  const dtypes = new Map<string, string>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info && typeof info === 'object') metadata = info as Record<string, string>;
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bad = (msg: string) => new SafetensorsError(`${what}: tensor '${name}': ${msg}`);
    if (!t || typeof t !== 'object') throw bad('entry is not an object');
    if (typeof t.dtype !== 'string' || !(t.dtype in BYTES)) throw bad(`unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape ${JSON.stringify(t.shape)} is not a list of sizes`);
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((v) => Number.isInteger(v) && v >= 0) || off[0] > off[1]) {
      throw bad(`data_offsets ${JSON.stringify(off)} are not [begin, end]`);
    }
    const [begin, end] = off as [number, number];
    const count = (t.shape as number[]).reduce((a, b) => a * b, 1);
    const expected = count * BYTES[t.dtype]!;
    if (end - begin !== expected) throw bad(`holds ${end - begin} bytes but shape [${(t.shape as number[]).join(', ')}] of ${t.dtype} needs ${expected}`);
    if (end > dataLen) throw bad(`data [${begin}, ${end}) lies past the end of the file's ${dataLen} data bytes (truncated?)`);
    spans.push([begin, end, name]);
    dtypes.set(name, t.dtype);
    const abs = dataStart + begin;
    if (t.dtype === 'F32') {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(abs + 4 * i, true);
      tensors.set(name, { shape: [...(t.shape as number[])], data: out });
    } else if (t.dtype === 'F16') {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(abs + 2 * i, true));
      tensors.set(name, { shape: [...(t.shape as number[])], data: out });
    } else if (opts.strictDtypes) {
      throw bad(`dtype ${t.dtype} is not supported (F32 and F16 are)`);
    }
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) throw new SafetensorsError(`${what}: tensors '${spans[i - 1]![2]}' and '${spans[i]![2]}' overlap`);
  }
  return { tensors, dtypes, metadata };
}

// ------------------------------------------------------------------------------------------------ encode

/** Serialise tensors (in the given order) as safetensors, stored as F32 or F16. */
export function encodeSafetensors(tensors: Iterable<[string, HostTensor]>, opts: { dtype?: DType; metadata?: Record<string, string> } = {}): Uint8Array {
  const dtype = opts.dtype ?? 'F32';
  const size = BYTES[dtype]!;
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = opts.metadata;
  const list = [...tensors];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError(`'__metadata__' cannot be a tensor name`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor '${name}': ${t.data.length} values do not fill shape [${t.shape.join(', ')}]`);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + count * size] };
    offset += count * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // align the data region to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  let at = 8 + head.byteLength;
  for (const [, t] of list) {
    if (dtype === 'F32') {
      for (let i = 0; i < t.data.length; i++, at += 4) view.setFloat32(at, t.data[i]!, true);
    } else {
      for (let i = 0; i < t.data.length; i++, at += 2) view.setUint16(at, floatToHalf(t.data[i]!), true);
    }
  }
  return out;
}
