// GGUF v3 writer: metadata of every type and tensors at aligned offsets. Serializes to memory (tests,
// browser) or streams to a file one tensor at a time (written to a temp name, then renamed into place).
import { BitnetError } from '../errors.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE, type GgufTypedValue, type GgufValue, type GgufValueType } from './gguf.js';
import type { TensorType } from './types.js';

/** A tensor's bytes: all at once, or as consecutive chunks (so a large tensor never sits in memory whole). */
export type GgufTensorBytes = Uint8Array | AsyncIterable<Uint8Array>;

export interface GgufWriteTensor {
  name: string;
  /** ggml dims, ne[0] innermost */
  shape: number[];
  type: TensorType;
  /** the tensor bytes, or a function producing them (or their chunks) when the writer gets to this tensor */
  data: Uint8Array | (() => GgufTensorBytes | Promise<GgufTensorBytes>);
}

export type GgufMetadataInput = Iterable<readonly [string, GgufTypedValue]>;

/** Typed metadata value constructors: gv.u32(5), gv.str('llama'), gv.strs([...]), ... */
export const gv = {
  u8: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.UINT8, value: v }),
  i8: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.INT8, value: v }),
  u16: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.UINT16, value: v }),
  i16: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.INT16, value: v }),
  u32: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.UINT32, value: v }),
  i32: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.INT32, value: v }),
  f32: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.FLOAT32, value: v }),
  f64: (v: number): GgufTypedValue => ({ type: GGUF_TYPE.FLOAT64, value: v }),
  u64: (v: bigint): GgufTypedValue => ({ type: GGUF_TYPE.UINT64, value: v }),
  i64: (v: bigint): GgufTypedValue => ({ type: GGUF_TYPE.INT64, value: v }),
  bool: (v: boolean): GgufTypedValue => ({ type: GGUF_TYPE.BOOL, value: v }),
  str: (v: string): GgufTypedValue => ({ type: GGUF_TYPE.STRING, value: v }),
  strs: (v: string[]): GgufTypedValue => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value: v }),
  i32s: (v: Int32Array): GgufTypedValue => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.INT32, value: v }),
  u32s: (v: Uint32Array): GgufTypedValue => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.UINT32, value: v }),
  f32s: (v: Float32Array): GgufTypedValue => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.FLOAT32, value: v }),
};

const encoder = new TextEncoder();

/** The typed array whose bytes are exactly the GGUF encoding of an array of each numeric item type. */
const TYPED_ARRAY_OF: Partial<Record<number, new (n: number) => ArrayBufferView>> = {
  [GGUF_TYPE.UINT8]: Uint8Array, [GGUF_TYPE.INT8]: Int8Array, [GGUF_TYPE.UINT16]: Uint16Array, [GGUF_TYPE.INT16]: Int16Array,
  [GGUF_TYPE.UINT32]: Uint32Array, [GGUF_TYPE.INT32]: Int32Array, [GGUF_TYPE.FLOAT32]: Float32Array, [GGUF_TYPE.FLOAT64]: Float64Array,
  [GGUF_TYPE.UINT64]: BigUint64Array, [GGUF_TYPE.INT64]: BigInt64Array,
};

class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  len = 0;
  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.len); this.len += b.length; }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.len, v); this.len += 1; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.len, v, true); this.len += 4; }
  u64(v: number | bigint): void { this.reserve(8); this.view.setBigUint64(this.len, BigInt(v), true); this.len += 8; }
  string(s: string): void { const b = encoder.encode(s); this.u64(b.length); this.bytes(b); }
  pad(alignment: number): void { const n = (alignment - (this.len % alignment)) % alignment; this.reserve(n); this.len += n; }
  result(): Uint8Array { return this.buf.slice(0, this.len); }

  scalar(type: GgufValueType, v: GgufValue, key: string): void {
    const bad = (): never => {
      throw new BitnetError('INVALID_ARGUMENT', `value ${String(v)} does not match GGUF type ${type}`, { name: key });
    };
    this.reserve(8);
    const p = this.len;
    switch (type) {
      case GGUF_TYPE.STRING: if (typeof v !== 'string') bad(); this.string(v as string); return;
      case GGUF_TYPE.BOOL: if (typeof v !== 'boolean') bad(); this.u8(v ? 1 : 0); return;
      case GGUF_TYPE.UINT64: case GGUF_TYPE.INT64:
        if (typeof v !== 'bigint') bad();
        if (type === GGUF_TYPE.UINT64) this.view.setBigUint64(p, v as bigint, true); else this.view.setBigInt64(p, v as bigint, true);
        this.len += 8; return;
      default: break;
    }
    if (typeof v !== 'number') bad();
    const n = v as number;
    switch (type) {
      case GGUF_TYPE.UINT8: this.view.setUint8(p, n); this.len += 1; return;
      case GGUF_TYPE.INT8: this.view.setInt8(p, n); this.len += 1; return;
      case GGUF_TYPE.UINT16: this.view.setUint16(p, n, true); this.len += 2; return;
      case GGUF_TYPE.INT16: this.view.setInt16(p, n, true); this.len += 2; return;
      case GGUF_TYPE.UINT32: this.view.setUint32(p, n, true); this.len += 4; return;
      case GGUF_TYPE.INT32: this.view.setInt32(p, n, true); this.len += 4; return;
      case GGUF_TYPE.FLOAT32: this.view.setFloat32(p, n, true); this.len += 4; return;
      case GGUF_TYPE.FLOAT64: this.view.setFloat64(p, n, true); this.len += 8; return;
      default: bad();
    }
  }

  value(tv: GgufTypedValue, key: string): void {
    if (tv.type !== GGUF_TYPE.ARRAY) return this.scalar(tv.type, tv.value, key);
    const itemType = tv.itemType;
    if (itemType === undefined) throw new BitnetError('INVALID_ARGUMENT', 'array value needs an itemType', { name: key });
    const items = tv.value;
    if (typeof items !== 'object' || !('length' in items)) {
      throw new BitnetError('INVALID_ARGUMENT', 'array value must be an array', { name: key });
    }
    this.u32(itemType);
    this.u64(items.length);
    if (itemType === GGUF_TYPE.ARRAY) {
      for (const item of items as GgufTypedValue[]) this.value(item, key);
    } else if (TYPED_ARRAY_OF[itemType] && items instanceof TYPED_ARRAY_OF[itemType]) {
      // typed arrays of the item type are written as their little-endian bytes (others element by element)
      this.bytes(new Uint8Array(items.buffer, items.byteOffset, items.byteLength));
    } else {
      for (const item of Array.from(items as ArrayLike<GgufValue>)) this.scalar(itemType, item, key);
    }
  }
}

interface Layout {
  header: Uint8Array;
  /** relative offsets of each tensor in the data section */
  offsets: number[];
  sizes: number[];
  alignment: number;
}

function layout(metadata: GgufMetadataInput, tensors: readonly GgufWriteTensor[], requested: number | undefined): Layout {
  const w = new ByteWriter();
  const kvs = [...metadata];
  // a general.alignment key in the metadata is the alignment the reader will use, so the layout must follow it
  const alignmentKey = kvs.find(([k]) => k === 'general.alignment')?.[1].value;
  const alignment = alignmentKey ?? requested ?? GGUF_DEFAULT_ALIGNMENT;
  if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 ||
    (requested !== undefined && alignment !== requested)) {
    throw new BitnetError('INVALID_ARGUMENT', `alignment must be a power of two, and the option and the key must agree (option ${requested}, key ${String(alignmentKey)})`, { name: 'general.alignment' });
  }
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && alignmentKey === undefined) kvs.push(['general.alignment', gv.u32(alignment)]);
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const [key, value] of kvs) {
    w.string(key);
    w.u32(value.type);
    w.value(value, key);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape[0]! % t.type.blockSize !== 0) {
      throw new BitnetError('INVALID_ARGUMENT', `row length ${t.shape[0]} is not a multiple of the ${t.type.name} block size`, { name: t.name });
    }
    const size = t.type.byteSize(n);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of t.shape) w.u64(d);
    w.u32(t.type.id);
    w.u64(off);
    offsets.push(off);
    sizes.push(size);
    off += Math.ceil(size / alignment) * alignment;
  }
  w.pad(alignment);
  return { header: w.result(), offsets, sizes, alignment };
}

function sizeError(t: GgufWriteTensor, got: number, expected: number): BitnetError {
  return new BitnetError('INVALID_ARGUMENT', `has ${got} bytes of ${t.type.name} data, expected ${expected} for shape [${t.shape.join(', ')}]`, {
    name: t.name,
  });
}

/** Feeds the tensor's bytes to `sink` chunk by chunk, checking that exactly `expected` bytes come. */
async function tensorData(t: GgufWriteTensor, expected: number, sink: (b: Uint8Array) => void | Promise<void>): Promise<void> {
  const data = typeof t.data === 'function' ? await t.data() : t.data;
  if (data instanceof Uint8Array) {
    if (data.byteLength !== expected) throw sizeError(t, data.byteLength, expected);
    await sink(data);
    return;
  }
  let got = 0;
  for await (const chunk of data) {
    got += chunk.byteLength;
    if (got > expected) throw sizeError(t, got, expected);
    await sink(chunk);
  }
  if (got !== expected) throw sizeError(t, got, expected);
}

/** Serializes a whole GGUF file into memory. */
export async function serializeGguf(
  metadata: GgufMetadataInput,
  tensors: readonly GgufWriteTensor[],
  opts: { alignment?: number } = {},
): Promise<Uint8Array> {
  const l = layout(metadata, tensors, opts.alignment);
  const last = tensors.length ? l.offsets[tensors.length - 1]! + Math.ceil(l.sizes[tensors.length - 1]! / l.alignment) * l.alignment : 0;
  const out = new Uint8Array(l.header.length + last);
  out.set(l.header);
  for (let i = 0; i < tensors.length; i++) {
    let pos = l.header.length + l.offsets[i]!;
    await tensorData(tensors[i]!, l.sizes[i]!, (b) => {
      out.set(b, pos);
      pos += b.length;
    });
  }
  return out;
}

export interface GgufFileWriteOptions {
  alignment?: number;
  onProgress?: (done: number, total: number) => void;
  /** runs on the complete temporary file before it is renamed to `path`; throwing removes it */
  beforeRename?: (tmpPath: string) => Promise<void>;
}

/** Writes a GGUF file, streaming one tensor at a time; the file appears under `path` only when complete. */
export async function writeGgufFile(path: string, metadata: GgufMetadataInput, tensors: readonly GgufWriteTensor[], opts: GgufFileWriteOptions = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  const l = layout(metadata, tensors, opts.alignment);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await fs.open(tmp, 'w');
  try {
    let pos = 0;
    const write = async (b: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, b.length - done, pos + done);
        done += bytesWritten;
      }
      pos += b.length;
    };
    await write(l.header);
    for (let i = 0; i < tensors.length; i++) {
      const size = l.sizes[i]!;
      await tensorData(tensors[i]!, size, write);
      const padded = Math.ceil(size / l.alignment) * l.alignment;
      if (padded > size) await write(new Uint8Array(padded - size));
      opts.onProgress?.(i + 1, tensors.length);
    }
    await fh.close();
    if (opts.beforeRename) await opts.beforeRename(tmp);
    await fs.rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
