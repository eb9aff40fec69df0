// Shared shape of the tensor-type codecs (one file per ggml type in this folder) and the size checks
// they all use. Codecs follow ggml's `type_traits`: blockSize elements stored in typeSize bytes,
// `dequantize` = `dequantize_row_*`, `quantize` = `quantize_row_*_ref`.

import { BitnetError } from '../../errors.js';
import { f32ToF16 } from '../../util/f16.js';

export interface BlockCodec {
  /** ggml type name, e.g. "q6_K" */
  readonly name: string;
  /** elements per block (1 for F32/F16/BF16) */
  readonly blockSize: number;
  /** bytes per block */
  readonly typeSize: number;
  /** Dequantize n elements (n a multiple of blockSize) from src (byte offset 0) into dst starting at dstOffset. */
  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset?: number): void;
  /** Reference quantizer, bit-exact with ggml's *_ref. src.length must be a multiple of blockSize. */
  quantize(src: Float32Array): Uint8Array;
}

/** Ternary weights in plain form: one value in {-1, 0, +1} per element, row-major [rows, cols]. */
export interface TernaryPlain {
  values: Int8Array;
  /** scale per block of `scaleBlock` consecutive elements (a single element when the tensor has one scale) */
  scales: Float32Array;
  scaleBlock: number;
}

export interface TernaryCodec {
  /** Exact decode without float multiplication: values + scales. n = element count. */
  decodeTernary(src: Uint8Array, n: number): TernaryPlain;
  /**
   * Encode values in {-1,0,1} with the given per-tensor scale alpha. Round-trips decodeTernary exactly
   * (up to the scale's storage precision: f16 for TQ*, f32 for I2_S).
   */
  encodeTernary(values: Int8Array, alpha: number): Uint8Array;
  /** Block types only: encode with one given scale per block (exactly the scales decodeTernary returned). */
  encodeTernaryBlocks?(values: Int8Array, scales: Float32Array): Uint8Array;
}

/** Throws INVALID_ARGUMENT unless n is a non-negative integer multiple of blockSize. */
export function checkCount(name: string, n: number, blockSize: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n % blockSize !== 0) {
    throw new BitnetError(
      'INVALID_ARGUMENT',
      `${name}: element count ${n} is not a multiple of the block size ${blockSize}`,
    );
  }
}

/** Throws TRUNCATED when src holds fewer than `expected` bytes. */
export function checkBytes(name: string, src: Uint8Array, expected: number, n: number): void {
  if (src.length < expected) {
    throw new BitnetError(
      'TRUNCATED',
      `${name}: ${n} elements need ${expected} bytes, but only ${src.length} bytes were given`,
    );
  }
}

/** Throws INVALID_ARGUMENT when dst cannot take n elements from dstOffset. */
export function checkDst(name: string, dst: Float32Array, dstOffset: number, n: number): void {
  if (!Number.isSafeInteger(dstOffset) || dstOffset < 0 || dstOffset + n > dst.length) {
    throw new BitnetError(
      'INVALID_ARGUMENT',
      `${name}: destination of length ${dst.length} cannot take ${n} elements at offset ${dstOffset}`,
    );
  }
}

/** Common prologue of every block dequantizer: validates n, src size and dst room. Returns the block count. */
export function checkDequantize(
  codec: Pick<BlockCodec, 'name' | 'blockSize' | 'typeSize'>,
  src: Uint8Array,
  n: number,
  dst: Float32Array,
  dstOffset: number,
): number {
  checkCount(codec.name, n, codec.blockSize);
  const nb = n / codec.blockSize;
  checkBytes(codec.name, src, nb * codec.typeSize, n);
  checkDst(codec.name, dst, dstOffset, n);
  return nb;
}

/** Validates ternary input for encodeTernary: length a multiple of blockSize, every value in {-1,0,1}, alpha finite and >= 0. */
export function checkTernaryInput(name: string, values: Int8Array, blockSize: number, alpha: number): void {
  checkCount(name, values.length, blockSize);
  if (!Number.isFinite(alpha) || alpha < 0) {
    throw new BitnetError('INVALID_ARGUMENT', `${name}: scale alpha must be finite and >= 0, got ${alpha}`);
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < -1 || v > 1) {
      throw new BitnetError('INVALID_ARGUMENT', `${name}: value ${v} at index ${i} is not in {-1, 0, 1}`);
    }
  }
}

/** f16 bits of a per-block scale for encodeTernary; throws INVALID_ARGUMENT when alpha overflows f16. */
export function f16Scale(name: string, alpha: number): number {
  const h = f32ToF16(alpha);
  if ((h & 0x7c00) === 0x7c00) {
    throw new BitnetError('INVALID_ARGUMENT', `${name}: scale alpha ${alpha} does not fit in an f16 block scale`);
  }
  return h;
}

/** True on little-endian hosts (all supported ones); the typed-array fast paths rely on it. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const f32Scratch = new Float32Array(1);
const i32Scratch = new Int32Array(f32Scratch.buffer);

/**
 * ggml's `nearest_int` (float + 12582912.f, then the low mantissa bits): round half to even for
 * |f| <= 4194303; outside that range it returns the same garbage the C code does.
 */
export function nearestInt(f: number): number {
  const v = Math.fround(f + 12582912);
  if (Math.abs(f) <= 4194303) return v - 12582912;
  f32Scratch[0] = v;
  return (i32Scratch[0]! & 0x007fffff) - 0x00400000;
}

/** C `lroundf` / `roundf`: round half away from zero (input already a float32 value). */
export function roundHalfAway(f: number): number {
  return f < 0 ? -Math.floor(-f + 0.5) : Math.floor(f + 0.5);
}

/**
 * Bytes of 2-bit ternary codes (I2_S, Hugging Face packed: 0, 1, 2 for -1, 0, +1) that hold code 3, which
 * no writer produces and readers take as 0: a count of corrupt bytes, for checks that refuse them.
 */
export function countCode3(codes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < codes.length; i++) {
    const b = codes[i]!;
    if (b & (b >> 1) & 0x55) n++;
  }
  return n;
}
