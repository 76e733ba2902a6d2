// NumPy .npy files holding little-endian float32 arrays in C order — the format of the flow files of the Sky
// Time-lapse pipeline (DATA.md §1.2, §2.7). Browser-safe: bytes in, bytes out, no file-system access.
//
// Layout (NumPy format spec): the magic "\x93NUMPY", a major and a minor version byte, the header length (u16
// little-endian in version 1.0, u32 in 2.0 and 3.0), then an ASCII header holding a Python dict literal
// {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded with spaces and ended by '\n' so that the data
// starts at a multiple of 64 bytes, then the raw data.

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93 N U M P Y
const ALIGN = 64;

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function shapeLiteral(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** A NumPy 1.0 file of float32 values ('<f4', C order) with the given shape. */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`encodeNpy: bad dimension ${d} in shape [${shape.join(', ')}]`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new Error(`encodeNpy: shape [${shape.join(', ')}] holds ${count} values but the data has ${data.length}`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  // magic (6) + version (2) + length (2) + dict + padding + '\n' must be a multiple of ALIGN
  const unpadded = 10 + dict.length + 1;
  const total = Math.ceil(unpadded / ALIGN) * ALIGN;
  const headerLen = total - 10;
  if (headerLen > 0xffff) throw new Error(`encodeNpy: shape [${shape.join(', ')}] needs a header too long for version 1.0`);
  const out = new Uint8Array(total + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = headerLen & 0xff;
  out[9] = headerLen >>> 8;
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  for (let i = 10 + dict.length; i < total - 1; i++) out[i] = 0x20;
  out[total - 1] = 0x0a;
  if (littleEndianHost) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.length * 4), total);
  } else {
    const view = new DataView(out.buffer, out.byteOffset + total, data.length * 4);
    for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  }
  return out;
}

/**
 * Parse a .npy file of little-endian float32 values in C order (format versions 1.0, 2.0 and 3.0). `name` (usually
 * the file path) prefixes every error message.
 */
export function decodeNpy(bytes: Uint8Array, name: string): { shape: number[]; data: Float32Array } {
  const fail = (what: string): never => {
    throw new Error(`${name}: ${what}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy file (bad magic; expected "\\x93NUMPY")');
  const major = bytes[6]!;
  const minor = bytes[7]!;
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerStart = 10;
    headerLen = bytes[8]! | (bytes[9]! << 8);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(`truncated .npy header (${bytes.length} bytes)`);
    headerStart = 12;
    headerLen = (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16) | (bytes[11]! << 24)) >>> 0;
  } else {
    return fail(`unsupported .npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) fail(`truncated .npy header (needs ${dataStart} bytes, the file has ${bytes.length})`);
  let header = '';
  for (let i = headerStart; i < dataStart; i++) header += String.fromCharCode(bytes[i]!);
  header = header.trim();

  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  if (!descr) fail(`the .npy header has no 'descr' entry: ${header}`);
  const dtype = descr![1]!;
  if (dtype !== '<f4') fail(`unsupported dtype '${dtype}' (expected '<f4', little-endian float32)`);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!fortran) fail(`the .npy header has no 'fortran_order' entry: ${header}`);
  if (fortran![1] === 'True') fail(`fortran_order True is not supported (expected C order)`);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeMatch) fail(`the .npy header has no 'shape' entry: ${header}`);
  const shape: number[] = [];
  for (const part of shapeMatch![1]!.split(',')) {
    const s = part.trim().replace(/L$/, '');
    if (s === '') continue;
    if (!/^\d+$/.test(s)) fail(`bad shape (${shapeMatch![1]}) in the .npy header`);
    shape.push(Number(s));
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const have = bytes.length - dataStart;
  if (have !== count * 4) {
    fail(`shape ${shapeLiteral(shape)} of '<f4' needs ${count * 4} data bytes, the file holds ${have}`);
  }
  const data = new Float32Array(count);
  if (littleEndianHost) {
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart, dataStart + count * 4));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, count * 4);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
  }
  return { shape, data };
}
