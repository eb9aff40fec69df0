// AssemblyScript: f16 <-> f32 conversions shared by the float ops (common.ts, attention.ts), bit for bit as
// util/f16.ts; imported, not exported from the entries.

/** float32 -> f16 bits, round to nearest even, overflow to inf (as util/f16.ts f32ToF16). */
// @ts-ignore: decorator
@inline export function f32ToF16(v: f32): u32 {
  const x = reinterpret<u32>(v);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant != 0 ? 0x200 : 0);
  let e = <i32>exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = <u32>(14 - e);
    const half = <u32>1 << (shift - 1);
    const rest = mant & ((<u32>1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest == half && (m & 1) != 0)) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let m = mant >>> 13;
  if (rest > 0x1000 || (rest == 0x1000 && (m & 1) != 0)) {
    m++;
    if (m == 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (<u32>e << 10) | m;
}

// @ts-ignore: decorator
@inline export function f16ToF32(h: u32): f32 {
  const em = h & 0x7fff;
  let bits = em << 13;
  if (em >= 0x7c00) bits |= 0x7f800000;
  const f = reinterpret<f32>(bits) * (em >= 0x7c00 ? <f32>1 : reinterpret<f32>(0x77800000)); // * 2^112
  return (h & 0x8000) != 0 ? -f : f;
}

/** Four f16 bit patterns (zero-extended in i32 lanes) -> f32x4, exact (subnormals, inf, NaN). */
// @ts-ignore: decorator
@inline export function f16x4ToF32x4(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const special = i32x4.ge_u(em, i32x4.splat(0x7c00));
  let bits = i32x4.shl(em, 13);
  const scaled = f32x4.mul(bits, f32x4.splat(reinterpret<f32>(0x77800000)));
  bits = v128.bitselect(v128.or(bits, i32x4.splat(0x7f800000)), scaled, special);
  return v128.or(bits, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// @ts-ignore: decorator
@inline export function roundF16(v: f32): f32 {
  return f16ToF32(f32ToF16(v));
}

/**
 * Four f16 halves (zero-extended i32 lanes) -> f32x4 for finite values: sign and exponent moved into place,
 * times 2^112 (exact, subnormals too). mask = i32x4.splat(0x8fffffff), scale = f32x4.splat(2^112), passed in
 * so hot loops keep them in registers (common.ts, splat constants).
 */
// @ts-ignore: decorator
@inline export function f16x4Finite(h: v128, mask: v128, scale: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(h, 16), 3), mask), scale);
}
