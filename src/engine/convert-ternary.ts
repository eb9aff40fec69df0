// Ternary projections for `bitnet convert`: read one projection (and its llama.cpp `.scale`) from any
// source format as values + scales, encode it in the target type so that every effective weight
// (value x block scale x tensor scale) is kept, and compare a written tensor with its source.
import { BitnetError } from '../errors.js';
import type { ModelFile } from '../formats/model-file.js';
import { TENSOR } from '../formats/names.js';
import { countCode3, type TernaryPlain } from '../formats/quants/codec.js';
import { QK_K } from '../formats/quants/tq-blocks.js';
import { hasNonzero, ternaryFromFloat, uniformScale } from '../formats/ternarize.js';
import { I2_S, TQ2_0, type TensorType } from '../formats/types.js';
import { roundF16 } from '../util/f16.js';

/** A projection as stored: values, per-block or per-tensor scales, and the optional output scale. */
export interface TernarySource extends TernaryPlain {
  /** the one-element `.scale` tensor that multiplies the projection's output (llama.cpp's bitnet arch) */
  tensorScale: number | undefined;
}

/** Where the conversion of one tensor changed its effective weights (only with allowLossy). */
export interface LossyNote {
  tensor: string;
  reason: string;
}

/** The same error with the file and tensor named, when the codec that threw did not know them. */
function named(e: unknown, file: string, name: string): unknown {
  if (e instanceof BitnetError && e.subject === undefined) return new BitnetError(e.code, e.message, { file, name, cause: e });
  return e;
}

/**
 * Reads a projection exactly as stored. GGUF float weights must be ternary-valued (0 or +-a for one a)
 * unless allowLossy (then absmean, as the engine does at load); Hugging Face master weights are always
 * ternarized with absmean; codes that are not ternary (I2_S / TQ2_0 / packed HF code 3) are CORRUPT.
 */
export async function readTernarySource(file: ModelFile, name: string, allowLossy: boolean): Promise<{ src: TernarySource; lossy?: string }> {
  const t = file.tensors.get(name);
  if (!t) throw new BitnetError('MISSING_TENSOR', 'required tensor is missing', { file: file.path, name });
  let plain: TernaryPlain;
  let lossy: string | undefined;
  try {
    if (file.format === 'gguf' && t.storage === 'float') {
      const r = ternaryFromFloat(await t.readF32());
      if (!r.exact) {
        if (!allowLossy) {
          throw new BitnetError(
            'LOSSY_CONVERSION',
            `${t.typeName} weights that are not ternary (every value 0 or +-a for one a), in a model whose projections are ternary; ` +
              '--allow-lossy ternarizes them with absmean, as the engine does when it loads them',
            { file: file.path, name },
          );
        }
        lossy = `${t.typeName} weights were not ternary: ternarized with absmean`;
      }
      plain = r.plain;
    } else {
      const data = await t.readTernaryData();
      if (data.kind === 'plain') {
        plain = data.plain;
      } else if (data.kind === 'i2s') {
        const bad = countCode3(data.bytes.subarray(0, t.nElements / 4));
        if (bad) throw new BitnetError('CORRUPT', `${bad} I2_S code byte(s) hold code 3, which is not a ternary value`, { file: file.path, name });
        plain = I2_S.ternary!.decodeTernary(data.bytes, t.nElements);
      } else {
        plain = TQ2_0.ternary!.decodeTernary(data.bytes, t.nElements);
      }
    }
  } catch (e) {
    throw named(e, file.path, name);
  }
  let tensorScale: number | undefined;
  const se = file.tensors.get(TENSOR.scaleOf(name));
  if (se) {
    const v = await se.readF32();
    if (v.length !== 1 || !Number.isFinite(v[0])) {
      throw new BitnetError('BAD_METADATA', `a projection scale must be one finite number, got [${Array.from(v.slice(0, 4)).join(', ')}]`, { file: file.path, name: se.name });
    }
    tensorScale = v[0]!;
  }
  return { src: { ...plain, tensorScale }, ...(lossy ? { lossy } : {}) };
}

/** Effective scale of block b: block scale times the tensor scale, in float32 as the engine multiplies them. */
function effScale(s: TernarySource, b: number): number {
  return s.tensorScale === undefined ? s.scales[b]! : Math.fround(s.scales[b]! * s.tensorScale);
}

/** Per-block sources (TQ) keep their blocks in TQ targets; per-tensor sources carry one scale. */
export function isPerBlock(typeName: string): boolean {
  return typeName === 'TQ1_0' || typeName === 'TQ2_0';
}

export interface EncodedTernary {
  bytes: Uint8Array;
  /** the value of the `.scale` tensor to write after this one (TQ targets that carry scales) */
  tensorScale: number | undefined;
  lossy?: string;
}

/**
 * Encodes a projection in the target type (perBlock: the source is TQ, whose scales are per 256 weights).
 * - I2_S: one f32 scale per tensor = the common effective block scale; blocks that differ are lossy.
 * - TQ with scale tensors (llama.cpp's bitnet arch): TQ blocks are copied with their f16 scales and the
 *   source `.scale`; a per-tensor scale becomes d = 1 in every block and the f32 scale in `.scale`.
 * - TQ without (llama arch): the per-tensor scale goes into the f16 block scales, lossy unless exact in f16.
 */
export function encodeTernary(name: string, src: TernarySource, perBlock: boolean, type: TensorType, scaleTensors: boolean, allowLossy: boolean): EncodedTernary {
  const codec = type.ternary!;
  const { values, scales, scaleBlock } = src;
  const refuse = (why: string): never => {
    throw new BitnetError('LOSSY_CONVERSION', `${why}; --allow-lossy converts anyway`, { name });
  };
  try {
    if (type === I2_S) {
      if (!hasNonzero(values, 0, values.length)) {
        // nothing to keep but a scale: the source's own one
        let max = 0;
        for (const s of scales) max = Math.max(max, Math.abs(s));
        return { bytes: codec.encodeTernary(values, Math.abs(src.tensorScale ?? max)), tensorScale: undefined };
      }
      const u = uniformScale(src);
      if (u !== undefined) return { bytes: codec.encodeTernary(values, src.tensorScale === undefined ? u : Math.fround(u * src.tensorScale)), tensorScale: undefined };
      // differing block scales: report two, or use their mean over the nonzero weights
      let sum = 0;
      let count = 0;
      const seen: number[] = [];
      for (let b = 0; b < scales.length; b++) {
        let nz = 0;
        for (let i = b * scaleBlock; i < (b + 1) * scaleBlock; i++) if (values[i] !== 0) nz++;
        if (!nz) continue;
        const e = effScale(src, b);
        if (seen.length < 2 && !seen.includes(e)) seen.push(e);
        sum += e * nz;
        count += nz;
      }
      if (!allowLossy) refuse(`its ${scaleBlock}-element blocks carry different scales (e.g. ${seen.join(' and ')}), and I2_S stores one scale per tensor`);
      const alpha = Math.fround(sum / count);
      return { bytes: codec.encodeTernary(values, alpha), tensorScale: undefined, lossy: `block scales differ: one scale ${alpha} (their mean over the nonzero weights)` };
    }
    // TQ1_0 / TQ2_0
    if (perBlock) {
      if (scaleBlock !== QK_K) throw new BitnetError('INVALID_ARGUMENT', `blocks of ${scaleBlock} cannot become TQ blocks of ${QK_K}`, { name });
      if (scaleTensors || src.tensorScale === undefined) return { bytes: codec.encodeTernaryBlocks!(values, scales), tensorScale: src.tensorScale };
      // fold the tensor scale into the f16 block scales
      const folded = new Float32Array(scales.length);
      let inexact = 0;
      for (let b = 0; b < scales.length; b++) {
        folded[b] = effScale(src, b);
        if (roundF16(folded[b]!) !== folded[b] && hasNonzero(values, b * QK_K, (b + 1) * QK_K)) inexact++;
      }
      if (inexact && !allowLossy) refuse(`${inexact} block scale(s) times the tensor scale are not exact in f16, and this architecture has no .scale tensors`);
      return { bytes: codec.encodeTernaryBlocks!(values, folded), tensorScale: undefined, ...(inexact ? { lossy: `${inexact} block scale(s) rounded to f16` } : {}) };
    }
    const alpha = src.tensorScale === undefined ? scales[0]! : Math.fround(scales[0]! * src.tensorScale);
    if (scaleTensors) return { bytes: codec.encodeTernary(values, 1), tensorScale: alpha };
    const h = roundF16(alpha);
    if (h !== alpha) {
      if (!allowLossy) refuse(`its scale ${alpha} is not exact in the f16 scales of TQ blocks, and this architecture has no .scale tensors`);
      return { bytes: codec.encodeTernary(values, alpha), tensorScale: undefined, lossy: `scale ${alpha} rounded to f16 ${h}` };
    }
    return { bytes: codec.encodeTernary(values, alpha), tensorScale: undefined };
  } catch (e) {
    throw e instanceof BitnetError && e.subject === undefined ? new BitnetError(e.code, e.message, { name, cause: e }) : e;
  }
}

/**
 * Compares a written projection with its source: identical values, and (unless the conversion was lossy)
 * identical effective scales wherever a block holds a nonzero weight. Returns what differs, or undefined.
 */
export function compareTernary(a: TernarySource, b: TernarySource, lossy: boolean): string | undefined {
  if (a.values.length !== b.values.length) return `${a.values.length} weights in the source, ${b.values.length} written`;
  for (let i = 0; i < a.values.length; i++) {
    if (a.values[i] !== b.values[i]) return `weight ${i} is ${a.values[i]} in the source but ${b.values[i]} written`;
  }
  if (lossy) return undefined;
  const g = Math.min(a.scaleBlock, b.scaleBlock);
  for (let k = 0; k * g < a.values.length; k++) {
    if (!hasNonzero(a.values, k * g, (k + 1) * g)) continue;
    const ea = effScale(a, Math.floor((k * g) / a.scaleBlock));
    const eb = effScale(b, Math.floor((k * g) / b.scaleBlock));
    if (!Object.is(ea, eb)) return `the scale of weights ${k * g}..${(k + 1) * g - 1} is ${ea} in the source but ${eb} written`;
  }
  return undefined;
}
