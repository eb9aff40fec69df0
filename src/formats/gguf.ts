// GGUF v2/v3 reader: metadata (every value type, nested arrays), tensor infos with types resolved through
// the type table, alignment, and per-tensor absolute offsets taken from the file. Tensor data is not read
// here; callers read one tensor at a time through the ByteSource. Counts are checked against the file size
// before anything is allocated, so a hostile header cannot make us allocate 2^60 entries.
import { BitnetError } from '../errors.js';
import type { ByteSource } from './source.js';
import { KEY } from './names.js';
import { resolveTensorType, type TensorType } from './types.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const GGUF_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GGUF_TYPE)[keyof typeof GGUF_TYPE];
export const GGUF_TYPE_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'str', 'arr', 'u64', 'i64', 'f64'];

export type GgufNumericArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array;
/** A metadata value: 8-32 bit ints and floats are numbers, 64-bit ints bigints, arrays typed arrays / string[] / boolean[]. */
export type GgufValue = number | bigint | boolean | string | GgufNumericArray | string[] | boolean[] | GgufTypedValue[];
/** A value with its GGUF type (itemType for arrays), as stored, so files can be written back unchanged. */
export interface GgufTypedValue {
  type: GgufValueType;
  itemType?: GgufValueType;
  value: GgufValue;
}

export interface GgufTensorInfo {
  name: string;
  /** ggml dims, ne[0] innermost (a PyTorch [out, in] weight has shape [in, out]) */
  shape: number[];
  nElements: number;
  type: TensorType;
  /** absolute byte offset in the file */
  offset: number;
  byteSize: number;
}

export interface GgufFile {
  source: ByteSource;
  version: number;
  /** metadata values by key, in file order */
  metadata: Map<string, GgufValue>;
  /** the same entries with their on-disk types */
  metadataTyped: Map<string, GgufTypedValue>;
  tensors: GgufTensorInfo[];
  tensorByName: Map<string, GgufTensorInfo>;
  alignment: number;
  /** absolute offset of the data section */
  dataOffset: number;
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
/** smallest encoded size of a value of each type, used to bound counts before allocating */
const MIN_SIZE: Record<number, number> = { ...SCALAR_SIZE, 8: 8, 9: 12 };

/** Nested arrays deeper than this are rejected (real files do not nest at all; deep nesting would overflow the stack). */
const MAX_ARRAY_DEPTH = 64;

/** Thrown inside the synchronous parser when the buffered prefix of the file is too short. */
class NeedMore {
  constructor(readonly upTo: number) {}
}

const utf8 = new TextDecoder('utf-8');

class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly fileSize: number,
    private readonly file: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  need(n: number, what: string): void {
    const end = this.pos + n;
    if (end > this.fileSize) {
      throw new BitnetError('TRUNCATED', `header ends early: ${what} needs bytes up to ${end}, file has ${this.fileSize}`, {
        file: this.file,
      });
    }
    if (end > this.buf.byteLength) throw new NeedMore(end);
  }
  /** Checks that `count` items of at least `minSize` bytes could fit in the rest of the file. */
  checkCount(count: number | bigint, minSize: number, what: string): number {
    const remaining = this.fileSize - this.pos;
    if (typeof count === 'bigint') {
      if (count > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new BitnetError('CORRUPT', `${what}: count ${count} is absurd (file has ${this.fileSize} bytes)`, { file: this.file });
      }
      count = Number(count);
    }
    if (count * minSize > remaining) {
      // a plausible count in a cut file is truncation; counts beyond any file size were rejected above
      throw new BitnetError('TRUNCATED', `${what}: count ${count} cannot fit in the remaining ${remaining} bytes of the file (truncated or corrupt)`, {
        file: this.file,
      });
    }
    return count;
  }
  u8(): number { this.need(1, 'u8'); return this.view.getUint8(this.pos++); }
  u32(what = 'u32'): number { this.need(4, what); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(what = 'u64'): bigint { this.need(8, what); const v = this.view.getBigUint64(this.pos, true); this.pos += 8; return v; }
  /** u64 that must fit a safe integer (lengths, counts, offsets) */
  size(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new BitnetError('CORRUPT', `${what} is ${v}, larger than any file`, { file: this.file });
    }
    return Number(v);
  }
  string(what: string): string {
    const len = this.checkCount(this.u64(`${what} length`), 1, `${what} length`);
    this.need(len, what);
    const s = utf8.decode(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  scalar(type: number, what: string): number | bigint | boolean | string {
    const size = SCALAR_SIZE[type];
    if (type === GGUF_TYPE.STRING) return this.string(what);
    if (size === undefined) throw new BitnetError('CORRUPT', `${what}: unknown value type ${type}`, { file: this.file });
    this.need(size, what);
    const p = this.pos;
    this.pos += size;
    const v = this.view;
    switch (type) {
      case GGUF_TYPE.UINT8: return v.getUint8(p);
      case GGUF_TYPE.INT8: return v.getInt8(p);
      case GGUF_TYPE.UINT16: return v.getUint16(p, true);
      case GGUF_TYPE.INT16: return v.getInt16(p, true);
      case GGUF_TYPE.UINT32: return v.getUint32(p, true);
      case GGUF_TYPE.INT32: return v.getInt32(p, true);
      case GGUF_TYPE.FLOAT32: return v.getFloat32(p, true);
      case GGUF_TYPE.BOOL: return v.getUint8(p) !== 0;
      case GGUF_TYPE.UINT64: return v.getBigUint64(p, true);
      case GGUF_TYPE.INT64: return v.getBigInt64(p, true);
      default: return v.getFloat64(p, true);
    }
  }
  value(type: number, what: string, depth = 0): GgufTypedValue {
    if (type !== GGUF_TYPE.ARRAY) return { type: type as GgufValueType, value: this.scalar(type, what) };
    if (depth >= MAX_ARRAY_DEPTH) throw new BitnetError('CORRUPT', `${what}: arrays nested deeper than ${MAX_ARRAY_DEPTH} levels`, { file: this.file });
    const itemType = this.u32(`${what} array type`);
    const minSize = MIN_SIZE[itemType];
    if (minSize === undefined) throw new BitnetError('CORRUPT', `${what}: unknown array element type ${itemType}`, { file: this.file });
    const count = this.checkCount(this.u64(`${what} array length`), minSize, `${what} array`);
    return { type: GGUF_TYPE.ARRAY, itemType: itemType as GgufValueType, value: this.array(itemType, count, what, depth) };
  }
  private array(itemType: number, count: number, what: string, depth: number): GgufValue {
    if (itemType === GGUF_TYPE.STRING) {
      const out: string[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = this.string(`${what}[${i}]`);
      return out;
    }
    if (itemType === GGUF_TYPE.ARRAY) {
      const out: GgufTypedValue[] = [];
      for (let i = 0; i < count; i++) out.push(this.value(GGUF_TYPE.ARRAY, `${what}[${i}]`, depth + 1));
      return out;
    }
    if (itemType === GGUF_TYPE.BOOL) {
      this.need(count, what);
      const out = Array.from(this.buf.subarray(this.pos, this.pos + count), (b) => b !== 0);
      this.pos += count;
      return out;
    }
    const size = SCALAR_SIZE[itemType]!;
    this.need(count * size, what);
    // copy into a fresh, aligned buffer (the file position may not be aligned for the element size)
    const bytes = this.buf.slice(this.pos, this.pos + count * size).buffer;
    this.pos += count * size;
    switch (itemType) {
      case GGUF_TYPE.UINT8: return new Uint8Array(bytes);
      case GGUF_TYPE.INT8: return new Int8Array(bytes);
      case GGUF_TYPE.UINT16: return new Uint16Array(bytes);
      case GGUF_TYPE.INT16: return new Int16Array(bytes);
      case GGUF_TYPE.UINT32: return new Uint32Array(bytes);
      case GGUF_TYPE.INT32: return new Int32Array(bytes);
      case GGUF_TYPE.FLOAT32: return new Float32Array(bytes);
      case GGUF_TYPE.UINT64: return new BigUint64Array(bytes);
      case GGUF_TYPE.INT64: return new BigInt64Array(bytes);
      default: return new Float64Array(bytes);
    }
  }
}

interface RawTensorInfo {
  name: string;
  shape: number[];
  typeId: number;
  relOffset: number;
}

interface ParsedHeader {
  version: number;
  metadataTyped: Map<string, GgufTypedValue>;
  infos: RawTensorInfo[];
  end: number;
}

function parseHeader(buf: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const c = new Cursor(buf, fileSize, file);
  if (fileSize < 4) throw new BitnetError('TRUNCATED', `file is ${fileSize} bytes, too short for a GGUF header`, { file });
  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) {
    const text = Array.from(buf.subarray(0, 4), (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    throw new BitnetError('BAD_MAGIC', `not a GGUF file: magic is "${text}" (0x${magic.toString(16)}), expected "GGUF"`, { file });
  }
  const version = c.u32('version');
  if (version === 0x03000000 || version === 0x02000000) {
    throw new BitnetError('UNSUPPORTED_VERSION', 'big-endian GGUF files are not supported', { file });
  }
  if (version !== 2 && version !== 3) {
    throw new BitnetError('UNSUPPORTED_VERSION', `GGUF version ${version} is not supported (this reader handles versions 2 and 3)`, { file });
  }
  const nTensors = c.checkCount(c.u64('tensor count'), 24, 'tensor count');
  const nKv = c.checkCount(c.u64('metadata count'), 13, 'metadata count');
  const metadataTyped = new Map<string, GgufTypedValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`metadata key #${i}`);
    const type = c.u32(`type of ${key}`);
    if (metadataTyped.has(key)) throw new BitnetError('CORRUPT', `duplicate metadata key "${key}"`, { file });
    metadataTyped.set(key, c.value(type, key));
  }
  const infos: RawTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`tensor #${i} name`);
    const nDims = c.u32(`${name} dimension count`);
    if (nDims < 1 || nDims > 4) throw new BitnetError('CORRUPT', `has ${nDims} dimensions (must be 1 to 4)`, { file, name });
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) shape.push(c.size(`${name} ne[${d}]`));
    const typeId = c.u32(`${name} type`);
    const relOffset = c.size(`${name} offset`);
    infos.push({ name, shape, typeId, relOffset });
  }
  return { version, metadataTyped, infos, end: c.pos };
}

/** Reads and validates a GGUF header. Tensor data stays on disk. */
export async function readGguf(source: ByteSource): Promise<GgufFile> {
  const file = source.name;
  let want = Math.min(source.size, 1 << 20);
  let header: ParsedHeader;
  for (;;) {
    const buf = await source.read(0, want);
    try {
      header = parseHeader(buf, source.size, file);
      break;
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      want = Math.min(source.size, Math.max(e.upTo, want * 2));
    }
  }
  const metadata = new Map<string, GgufValue>();
  for (const [k, v] of header.metadataTyped) metadata.set(k, v.value);

  const alignValue = metadata.get(KEY.alignment);
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignValue !== undefined) {
    if (typeof alignValue !== 'number' || !Number.isInteger(alignValue) || alignValue <= 0 || (alignValue & (alignValue - 1)) !== 0) {
      throw new BitnetError('BAD_METADATA', `must be a power of two, got ${String(alignValue)}`, { file, name: KEY.alignment });
    }
    alignment = alignValue;
  }
  const dataOffset = Math.ceil(header.end / alignment) * alignment;
  const arch = metadata.get(KEY.architecture);
  const fileType = metadata.get(KEY.fileType);
  const tensors: GgufTensorInfo[] = [];
  const tensorByName = new Map<string, GgufTensorInfo>();
  for (const info of header.infos) {
    const name = info.name;
    if (tensorByName.has(name)) throw new BitnetError('CORRUPT', 'duplicate tensor name', { file, name });
    const type = resolveTensorType(info.typeId, {
      arch: typeof arch === 'string' ? arch : '',
      fileType: typeof fileType === 'number' ? fileType : undefined,
      file,
      tensor: name,
    });
    let nElements = 1;
    for (const d of info.shape) {
      if (d < 1) throw new BitnetError('CORRUPT', `has a zero dimension (shape [${info.shape.join(', ')}])`, { file, name });
      nElements *= d;
    }
    if (!Number.isSafeInteger(nElements) || nElements > source.size * 8) {
      throw new BitnetError('CORRUPT', `shape [${info.shape.join(', ')}] is too large for a ${source.size}-byte file`, { file, name });
    }
    if (info.shape[0]! % type.blockSize !== 0) {
      throw new BitnetError('CORRUPT', `row length ${info.shape[0]} is not a multiple of the ${type.name} block size ${type.blockSize}`, {
        file,
        name,
      });
    }
    if (info.relOffset % alignment !== 0) {
      throw new BitnetError('CORRUPT', `data offset ${info.relOffset} is not a multiple of the alignment ${alignment}`, { file, name });
    }
    const byteSize = type.byteSize(nElements);
    const offset = dataOffset + info.relOffset;
    if (offset + byteSize > source.size) {
      throw new BitnetError(
        'TRUNCATED',
        `tensor data (${type.name}, ${byteSize} bytes at offset ${offset}) ends at byte ${offset + byteSize}, but the file has ${source.size} bytes`,
        { file, name },
      );
    }
    const t: GgufTensorInfo = { name, shape: info.shape, nElements, type, offset, byteSize };
    tensors.push(t);
    tensorByName.set(name, t);
  }
  // tensors must not overlap (this also catches a wrong size rule for a type)
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.offset + prev.byteSize > cur.offset) {
      throw new BitnetError('CORRUPT', `tensor data overlaps "${cur.name}" (${prev.type.name}, ${prev.byteSize} bytes at ${prev.offset})`, {
        file,
        name: prev.name,
      });
    }
  }
  return { source, version: header.version, metadata, metadataTyped: header.metadataTyped, tensors, tensorByName, alignment, dataOffset };
}

/** Reads the raw bytes of one tensor. */
export function readTensorBytes(file: GgufFile, t: GgufTensorInfo): Promise<Uint8Array> {
  return file.source.read(t.offset, t.byteSize);
}
