// Half (IEEE binary16) and bfloat16 <-> float32 conversions, bit-exact with ggml's GGML_FP16_TO_FP32 /
// GGML_FP32_TO_FP16 (round to nearest even) and ggml_bf16_t. Lowest layer; no dependencies.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Table of all 65536 half values as float32 (256 KiB), built on first use. */
let halfTable: Float32Array | undefined;

function halfToFloatSlow(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function halfTableF32(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfToFloatSlow(i);
  }
  return halfTable;
}

export function f16ToF32(h: number): number {
  return halfTableF32()[h & 0xffff]!;
}

/** float32 -> half bits, round to nearest even, overflow to inf, NaN kept. */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero (even after rounding)
    mant |= 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m; // carry into exponent field is the correct result
  }
  const rest = mant & 0x1fff;
  let m = mant >>> 13;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Rounds a number to the nearest half value (returned as a double). */
export function roundF16(v: number): number {
  return f16ToF32(f32ToF16(v));
}

export function bf16ToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** float32 -> bf16 bits, round to nearest even (as torch and ggml_compute_fp32_to_bf16). */
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 64) & 0xffff; // quiet NaN
  return ((x + (0x7fff + ((x >>> 16) & 1))) >>> 16) & 0xffff;
}
