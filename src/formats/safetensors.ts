// safetensors reader: `u64 N` + N-byte JSON header + data; tensors are read one at a time by offset. Also
// resolves sharded checkpoints through `model.safetensors.index.json`. Validates the header against the
// file size before trusting any offset.
import { BitnetError } from '../errors.js';
import type { ByteSource } from './source.js';

export const SAFETENSORS_DTYPE_SIZE: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8,
  F8_E4M3: 1, F8_E5M2: 1,
};

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  /** PyTorch order, outermost first (a weight [out, in]) */
  shape: number[];
  nElements: number;
  /** absolute byte offset in the file */
  offset: number;
  byteSize: number;
  source: ByteSource;
}

export interface SafetensorsFile {
  source: ByteSource;
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

export async function readSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const file = source.name;
  if (source.size < 8) throw new BitnetError('TRUNCATED', `file is ${source.size} bytes, too short for a safetensors header`, { file });
  const lenBytes = await source.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) {
    throw new BitnetError('BAD_MAGIC', `not a safetensors file: header length ${n} exceeds ${MAX_HEADER} bytes`, { file });
  }
  const headerLen = Number(n);
  if (8 + headerLen > source.size) {
    throw new BitnetError('TRUNCATED', `header of ${headerLen} bytes does not fit in the ${source.size}-byte file`, { file });
  }
  const headerBytes = await source.read(8, headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new BitnetError('BAD_MAGIC', `not a safetensors file: header is not valid JSON (${(e as Error).message})`, { file, cause: e });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new BitnetError('CORRUPT', 'safetensors header must be a JSON object', { file });
  }
  const dataStart = 8 + headerLen;
  const dataSize = source.size - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw && typeof raw === 'object') metadata = raw as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bad = (why: string): never => {
      throw new BitnetError('CORRUPT', why, { file, name });
    };
    if (typeof entry !== 'object' || entry === null) bad('header entry is not an object');
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') bad('missing dtype');
    const elSize = SAFETENSORS_DTYPE_SIZE[dtype as string];
    if (elSize === undefined) throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `unknown safetensors dtype "${String(dtype)}"`, { file, name });
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad('shape must be a list of non-negative integers');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad('data_offsets must be [begin, end]');
    }
    const [begin, end] = offsets as [number, number];
    const nElements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end - begin !== nElements * elSize) {
      bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${String(dtype)}[${(shape as number[]).join(', ')}] needs ${nElements * elSize}`);
    }
    if (end > dataSize) {
      throw new BitnetError('TRUNCATED', `tensor data ends at byte ${dataStart + end} but the file has ${source.size} bytes`, { file, name });
    }
    tensors.set(name, { name, dtype: dtype as string, shape: shape as number[], nElements, offset: dataStart + begin, byteSize: end - begin, source });
  }
  return { source, tensors, metadata };
}

/** Reads `model.safetensors.index.json`: tensor name -> shard file name. */
export function parseSafetensorsIndex(text: string, file: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BitnetError('CORRUPT', `invalid JSON: ${(e as Error).message}`, { file, cause: e });
  }
  const map = (json as { weight_map?: unknown })?.weight_map;
  if (!map || typeof map !== 'object') throw new BitnetError('CORRUPT', 'missing "weight_map"', { file });
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
    if (typeof v !== 'string' || v.includes('/') || v.includes('\\') || v.startsWith('.')) {
      throw new BitnetError('CORRUPT', `weight_map entry for "${k}" must be a plain shard file name`, { file });
    }
    out.set(k, v);
  }
  return out;
}

export interface SafetensorsWriteTensor {
  name: string;
  dtype: string;
  /** PyTorch order, outermost first */
  shape: number[];
  data: Uint8Array;
}

/** Serializes tensors (in the given order) into one safetensors file image. */
export function serializeSafetensors(tensors: readonly SafetensorsWriteTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    const el = SAFETENSORS_DTYPE_SIZE[t.dtype];
    if (el === undefined) throw new BitnetError('INVALID_ARGUMENT', `unknown dtype ${t.dtype}`, { name: t.name });
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.byteLength !== n * el) {
      throw new BitnetError('INVALID_ARGUMENT', `has ${t.data.byteLength} bytes, ${t.dtype}[${t.shape.join(', ')}] needs ${n * el}`, { name: t.name });
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8; // keep the data 8-byte aligned, padding with spaces as the reference writer does
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of tensors) {
    out.set(t.data, p);
    p += t.data.byteLength;
  }
  return out;
}
