// Shared helpers for the file-format tests: BitnetError assertions, per-file temp folders, and a small
// little-endian byte builder for hand-made (often deliberately malformed) GGUF and safetensors files.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { BitnetError, type BitnetErrorCode } from '../../../src/errors.js';

function checkError(e: unknown, code: BitnetErrorCode, patterns: RegExp[]): BitnetError {
  assert.ok(e instanceof BitnetError, `expected a BitnetError (${code}), got ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
  assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
  for (const p of patterns) assert.match(e.message, p);
  return e;
}

/** Awaits `p` (or calls it), which must reject with a BitnetError of `code` whose message matches every pattern. */
export async function rejectsBitnet(p: Promise<unknown> | (() => Promise<unknown>), code: BitnetErrorCode, ...patterns: RegExp[]): Promise<BitnetError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return checkError(e, code, patterns);
  }
  assert.fail(`expected a BitnetError ${code}, but nothing was thrown`);
}

export function throwsBitnet(fn: () => unknown, code: BitnetErrorCode, ...patterns: RegExp[]): BitnetError {
  try {
    fn();
  } catch (e) {
    return checkError(e, code, patterns);
  }
  assert.fail(`expected a BitnetError ${code}, but nothing was thrown`);
}

/** A fresh folder under os.tmpdir(), removed after the test file's tests have run. */
export async function tempFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `bitnet-formats-${prefix}-`));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Escapes a string for use inside a RegExp. */
export function re(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

/** Deterministic pseudo-random bytes (xorshift32), for tensor payloads whose content does not matter. */
export function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 255;
  }
  return out;
}

const encoder = new TextEncoder();

/** Little-endian byte builder for hand-made GGUF / safetensors files. */
export class Bytes {
  private parts: number[] = [];
  get length(): number {
    return this.parts.length;
  }
  u8(v: number): this {
    this.parts.push(v & 255);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 255);
    return this;
  }
  u64(v: number | bigint): this {
    let b = BigInt(v) & 0xffffffffffffffffn;
    for (let i = 0; i < 8; i++) {
      this.parts.push(Number(b & 255n));
      b >>= 8n;
    }
    return this;
  }
  f32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.raw(b);
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]! & 255);
    return this;
  }
  /** gguf_string: u64 byte length, then UTF-8 bytes */
  str(s: string): this {
    const b = encoder.encode(s);
    return this.u64(b.length).raw(b);
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  padTo(alignment: number): this {
    return this.zeros((alignment - (this.parts.length % alignment)) % alignment);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export const GGUF_MAGIC_BYTES = [0x47, 0x47, 0x55, 0x46]; // "GGUF"

/** Value-type ids of GGUF metadata (spec 4.1). */
export const VT = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10, I64: 11, F64: 12 } as const;

export interface RawTensor {
  name: string;
  dims: Array<number | bigint>;
  type: number;
  offset: number | bigint;
}

/** GGUF header prefix: magic, version, n_tensors, n_kv. */
export function ggufHead(nTensors: number | bigint, nKv: number | bigint, version = 3): Bytes {
  return new Bytes().raw(GGUF_MAGIC_BYTES).u32(version).u64(nTensors).u64(nKv);
}

export function tensorInfo(b: Bytes, t: RawTensor): Bytes {
  b.str(t.name).u32(t.dims.length);
  for (const d of t.dims) b.u64(d);
  return b.u32(t.type).u64(t.offset);
}

/**
 * A whole hand-made GGUF: `kvs` writes the metadata into the builder and returns how many it wrote,
 * tensors are described raw, and `dataBytes` zero bytes follow the aligned data-section start.
 */
export function handGguf(opts: { kvs?: (b: Bytes) => number; tensors?: RawTensor[]; dataBytes?: number; alignment?: number; version?: number }): Uint8Array {
  const kv = new Bytes();
  const nKv = opts.kvs ? opts.kvs(kv) : 0;
  const tensors = opts.tensors ?? [];
  const b = ggufHead(tensors.length, nKv, opts.version ?? 3).raw(kv.bytes());
  for (const t of tensors) tensorInfo(b, t);
  return b.padTo(opts.alignment ?? 32).zeros(opts.dataBytes ?? 0).bytes();
}

/** A raw safetensors image: u64 header length (or `declaredLength`), the header text, then `data`. */
export function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: number | bigint): Uint8Array {
  const json = typeof header === 'string' ? encoder.encode(header) : encoder.encode(JSON.stringify(header));
  return new Bytes()
    .u64(declaredLength ?? json.length)
    .raw(json)
    .raw(data)
    .bytes();
}
