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


/**
 * Exact sums of float32 values as 128-bit fixed-point integers (vec4<u32>, x lowest), and correctly rounded
 * f32 results from them: where the reference sums in double (RMSNorm squares, softmax), the GPU sums
 * exactly in any order, and the double sum is exact too unless the terms span more than 53 bits.
 */
const FIXED = /* wgsl */ `
fn add128(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
  var r = vec4<u32>(0u);
  var c = 0u;
  for (var i = 0u; i < 4u; i = i + 1u) {
    let s = a[i] + b[i];
    let s2 = s + c;
    c = select(0u, 1u, s < a[i]) + select(0u, 1u, s2 < s);
    r[i] = s2;
  }
  return r;
}
fn sub128(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
  var r = vec4<u32>(0u);
  var br = 0u;
  for (var i = 0u; i < 4u; i = i + 1u) {
    let d = a[i] - b[i];
    let d2 = d - br;
    br = select(0u, 1u, a[i] < b[i]) + select(0u, 1u, d < br);
    r[i] = d2;
  }
  return r;
}
fn ge128(a: vec4<u32>, b: vec4<u32>) -> bool {
  for (var j = 0u; j < 4u; j = j + 1u) {
    let i = 3u - j;
    if (a[i] != b[i]) { return a[i] > b[i]; }
  }
  return true;
}
fn shl128(x: vec4<u32>, k: u32) -> vec4<u32> {
  let w = k / 32u;
  let b = k % 32u;
  var r = vec4<u32>(0u);
  for (var i = 0u; i < 4u; i = i + 1u) {
    if (i >= w) {
      var v = x[i - w] << b;
      if (b > 0u && i > w) { v = v | (x[i - w - 1u] >> (32u - b)); }
      r[i] = v;
    }
  }
  return r;
}
fn bitlen128(x: vec4<u32>) -> u32 {
  for (var j = 0u; j < 4u; j = j + 1u) {
    let i = 3u - j;
    if (x[i] != 0u) { return 32u * i + 32u - countLeadingZeros(x[i]); }
  }
  return 0u;
}
/** x (a positive float32, or 0) as a fixed-point integer in units of 2^unitExp (bits below the unit dropped). */
fn to_fixed(x: f32, unitExp: i32) -> vec4<u32> {
  let u = bitcast<u32>(x);
  let e = i32((u >> 23u) & 0xffu);
  if (e == 0) { return vec4<u32>(0u); }
  let m = (u & 0x7fffffu) | 0x800000u;
  let sh = e - 150 - unitExp;
  if (sh <= -24) { return vec4<u32>(0u); }
  if (sh < 0) { return vec4<u32>(m >> u32(-sh), 0u, 0u, 0u); }
  return shl128(vec4<u32>(m, 0u, 0u, 0u), u32(sh));
}
/** round_f32((N / D) * 2^e) for nonzero N, D below 2^126. */
fn fixed_div_rn(N: vec4<u32>, D: vec4<u32>, e: i32) -> f32 {
  let lN = bitlen128(N);
  let lD = bitlen128(D);
  if (lN == 0u) { return 0.0; }
  var r = shl128(N, 126u - lN);
  let d = shl128(D, 126u - lD);
  var ex = e + i32(lN) - i32(lD);
  if (!ge128(r, d)) { r = shl128(r, 1u); ex = ex - 1; }
  var q = 0u;
  for (var i = 0u; i < 25u; i = i + 1u) {
    q = q << 1u;
    if (ge128(r, d)) { r = sub128(r, d); q = q | 1u; }
    r = shl128(r, 1u);
  }
  let guard = q & 1u;
  q = q >> 1u;
  if (guard == 1u && (bitlen128(r) != 0u || (q & 1u) == 1u)) { q = q + 1u; }
  return ldexp(f32(q), ex - 23);
}
/** a * b as a 64-bit (lo, hi) pair. */
fn mul64(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let mid = ah * bl + ((ll >> 16u) & 0xffffu);
  let mid2 = al * bh + (mid & 0xffffu);
  let hi = ah * bh + (mid >> 16u) + (mid2 >> 16u);
  return vec2<u32>((mid2 << 16u) | (ll & 0xffffu), hi);
}
/** sqrt correctly rounded, for a positive normal float32. */
fn sqrt_rn(a: f32) -> f32 {
  let u = bitcast<u32>(a);
  var m = (u & 0x7fffffu) | 0x800000u;
  var e = i32((u >> 23u) & 0xffu) - 150;
  if ((e & 1) != 0) { m = m << 1u; e = e - 1; }
  let k2 = select(26u, 24u, m >= 0x1000000u);
  let X = vec2<u32>(m << k2, m >> (32u - k2));
  var r = 0u;
  for (var j = 0u; j < 26u; j = j + 1u) {
    let t = r | (1u << (25u - j));
    let tt = mul64(t, t);
    if (tt.y < X.y || (tt.y == X.y && tt.x <= X.x)) { r = t; }
  }
  let rr = mul64(r, r);
  let exact = rr.x == X.x && rr.y == X.y;
  let guard = r & 1u;
  var q = r >> 1u;
  if (guard == 1u && (!exact || (q & 1u) == 1u)) { q = q + 1u; }
  return ldexp(f32(q), (e - i32(k2)) / 2 + 1);
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
  return DIV_RN + HALF + EXPF + FIXED + (packedDot ? DOT_PACKED : DOT_UNPACK);
}

/** Threads per workgroup of the row-reduction kernels (quantize, rms_norm, attention). */
export const WG = 64;
