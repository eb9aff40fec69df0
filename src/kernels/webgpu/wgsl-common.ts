// WGSL helpers every WebGPU kernel shares, written so results match the reference backend's bits:
// float32 division rounded to nearest even in integer arithmetic (WGSL only promises 2.5 ULP for `/`),
// f32 <-> f16/bf16 conversions with the reference's rounding, the shared expf, and the packed int8 dot
// (the packed_4x8_integer_dot_product builtin where the runtime has it, else an unpack-and-multiply twin).

/** Division a / b correctly rounded (ties to even) for normal a, b; other operands use WGSL's `/`. */
const DIV_RN = /* wgsl */ `
fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let ea = (ua >> 23u) & 0xffu;
  let eb = (ub >> 23u) & 0xffu;
  if (ea == 0u || ea == 255u || eb == 0u || eb == 255u) { return a / b; }
  let ma = (ua & 0x7fffffu) | 0x800000u;
  let mb = (ub & 0x7fffffu) | 0x800000u;
  var e = i32(ea) - i32(eb) + 127;
  var r = ma;
  if (ma < mb) { r = ma << 1u; e = e - 1; }
  var q = 0u;
  for (var i = 0u; i < 25u; i = i + 1u) {
    q = q << 1u;
    if (r >= mb) { r = r - mb; q = q | 1u; }
    r = r << 1u;
  }
  let guard = q & 1u;
  q = q >> 1u;
  if (guard == 1u && (r != 0u || (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0x1000000u) { q = 0x800000u; e = e + 1; }
  if (e <= 0 || e >= 255) { return a / b; }
  return bitcast<f32>(((ua ^ ub) & 0x80000000u) | (u32(e) << 23u) | (q & 0x7fffffu));
}
`;

const HALF = /* wgsl */ `
fn f32_to_f16(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let sign = (u >> 16u) & 0x8000u;
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }
  if (a >= 0x38800000u) { return sign | ((a + 0xfffu + ((a >> 13u) & 1u) - 0x38000000u) >> 13u); }
  let e = a >> 23u;
  if (e < 102u) { return sign; }
  let mant = (a & 0x7fffffu) | 0x800000u;
  let sh = 126u - e;
  let q = mant >> sh;
  let rest = mant & ((1u << sh) - 1u);
  let half = 1u << (sh - 1u);
  if (rest > half || (rest == half && (q & 1u) == 1u)) { return sign | (q + 1u); }
  return sign | q;
}
fn f16_to_f32(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(s | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); }
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}
fn round_f16(x: f32) -> f32 { return f16_to_f32(f32_to_f16(x)); }
fn round_bf16(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return bitcast<f32>(((u >> 16u) | 64u) << 16u); }
  return bitcast<f32>(((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) << 16u);
}
`;

/** kernels/math.ts's expf: Cephes' polynomial after Cody-Waite reduction, in float32. */
const EXPF = /* wgsl */ `
fn expf(x: f32) -> f32 {
  if (x > 88.72283935546875) { return x * 3.0e38; } // +inf (WGSL has no inf literal)
  if (x < -103.97208404541016) { return 0.0; }
  if (x != x) { return x; }
  let n = round(x * 1.44269504088896341);
  var r = x - n * 0.693359375;
  r = r - n * -2.12194440e-4;
  let r2 = r * r;
  var p = 1.9875691500e-4;
  p = p * r + 1.3981999507e-3;
  p = p * r + 8.3334519073e-3;
  p = p * r + 4.1665795894e-2;
  p = p * r + 1.6666665459e-1;
  p = p * r + 5.0000001201e-1;
  p = p * r2 + r + 1.0;
  let ni = i32(n);
  let n1 = clamp(ni, -126, 127);
  return ldexp(ldexp(p, n1), ni - n1);
}
`;

const DOT_UNPACK = /* wgsl */ `
fn dot4(a: u32, b: u32) -> i32 {
  let x = bitcast<i32>(a);
  let y = bitcast<i32>(b);
  return ((x << 24u) >> 24u) * ((y << 24u) >> 24u) + ((x << 16u) >> 24u) * ((y << 16u) >> 24u)
       + ((x << 8u) >> 24u) * ((y << 8u) >> 24u) + (x >> 24u) * (y >> 24u);
}
`;
const DOT_PACKED = /* wgsl */ `
fn dot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }
`;

/** The prelude of every kernel: the shared functions, with `dot4` built on the packed builtin or not. */
export function prelude(packedDot: boolean): string {
  return DIV_RN + HALF + EXPF + (packedDot ? DOT_PACKED : DOT_UNPACK);
}

/** Threads per workgroup of the row-reduction kernels (quantize, rms_norm, attention). */
export const WG = 64;
