// What TQ1_0 and TQ2_0 share: 256-element super-blocks ending in an f16 scale d, ggml's reference
// quantizer (d = block absmax, code = lroundf(x / d) + 1), exact ternary decode, and encoding ternary
// values with one scale (all-zero blocks get d = 0, as the reference quantizer writes). Each type supplies
// only how a block's 2-bit codes are packed and unpacked.
import type { TernaryPlain } from './codec.js';
import { checkBytes, checkCount, checkTernaryInput, f16Scale, roundHalfAway } from './codec.js';
import { f32ToF16, halfTableF32 } from '../../util/f16.js';
import { BitnetError } from '../../errors.js';

export const QK_K = 256;

export interface TqLayout {
  name: string;
  blockBytes: number;
  /** byte offset of the f16 d inside a block */
  dOffset: number;
  /** writes codes (0..2, from code(e) for element e of the block) into out[b ..] */
  packBlock(out: Uint8Array, b: number, code: (e: number) => number): void;
  /** writes the block's values (-1..1) to values[y .. y+256); throws on a code that is not ternary */
  decodeBlock(src: Uint8Array, b: number, values: Int8Array, y: number, block: number): void;
}

function writeD(l: TqLayout, out: Uint8Array, b: number, h: number): void {
  out[b + l.dOffset] = h & 0xff;
  out[b + l.dOffset + 1] = h >>> 8;
}

export function readD(l: TqLayout, src: Uint8Array, b: number, table: Float32Array): number {
  return table[src[b + l.dOffset]! | (src[b + l.dOffset + 1]! << 8)]!;
}

/** quantize_row_tq*_ref: per block d = absmax, codes lroundf(x * (1/d)) + 1. */
export function quantizeTq(l: TqLayout, src: Float32Array): Uint8Array {
  checkCount(l.name, src.length, QK_K);
  const nb = src.length / QK_K;
  const out = new Uint8Array(nb * l.blockBytes);
  for (let i = 0; i < nb; i++) {
    const x = i * QK_K;
    let amax = 0;
    for (let j = 0; j < QK_K; j++) {
      const a = Math.abs(src[x + j]!);
      if (!(amax > a)) amax = a;
    }
    const id = amax ? Math.fround(1 / amax) : 0;
    writeD(l, out, i * l.blockBytes, f32ToF16(amax));
    l.packBlock(out, i * l.blockBytes, (e) => roundHalfAway(Math.fround(src[x + e]! * id)) + 1);
  }
  return out;
}

export function decodeTernaryTq(l: TqLayout, src: Uint8Array, n: number): TernaryPlain {
  checkCount(l.name, n, QK_K);
  const nb = n / QK_K;
  checkBytes(l.name, src, nb * l.blockBytes, n);
  const values = new Int8Array(n);
  const scales = new Float32Array(nb);
  const table = halfTableF32();
  for (let i = 0; i < nb; i++) {
    scales[i] = readD(l, src, i * l.blockBytes, table);
    l.decodeBlock(src, i * l.blockBytes, values, i * QK_K, i);
  }
  return { values, scales, scaleBlock: QK_K };
}

/** Each block gets d = f16(alpha), except all-zero blocks, which get d = 0 as the reference quantizer writes. */
export function encodeTernaryTq(l: TqLayout, values: Int8Array, alpha: number): Uint8Array {
  checkTernaryInput(l.name, values, QK_K, alpha);
  const nb = values.length / QK_K;
  const out = new Uint8Array(nb * l.blockBytes);
  const h = f16Scale(l.name, alpha);
  for (let i = 0; i < nb; i++) {
    const x = i * QK_K;
    let nonzero = false;
    for (let j = 0; j < QK_K && !nonzero; j++) nonzero = values[x + j] !== 0;
    writeD(l, out, i * l.blockBytes, nonzero ? h : 0);
    l.packBlock(out, i * l.blockBytes, (e) => values[x + e]! + 1);
  }
  return out;
}

/** Each block i gets d = f16(scales[i]) (bit for bit the d it came from when the scales are decodeTernaryTq's). */
export function encodeTernaryTqBlocks(l: TqLayout, values: Int8Array, scales: Float32Array): Uint8Array {
  checkTernaryInput(l.name, values, QK_K, 0);
  const nb = values.length / QK_K;
  if (scales.length !== nb) {
    throw new BitnetError('INVALID_ARGUMENT', `${l.name}: ${scales.length} block scales for ${nb} blocks of ${QK_K}`);
  }
  const out = new Uint8Array(nb * l.blockBytes);
  for (let i = 0; i < nb; i++) {
    const x = i * QK_K;
    writeD(l, out, i * l.blockBytes, f32ToF16(scales[i]!));
    l.packBlock(out, i * l.blockBytes, (e) => values[x + e]! + 1);
  }
  return out;
}
