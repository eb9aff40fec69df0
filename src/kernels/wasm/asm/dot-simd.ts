// AssemblyScript: the integer dot kernels in portable SIMD128 (no relaxed SIMD: Node 20, older browsers).
// Codes are widened to i16 and dotted with activations widened once per call (x16) by i32x4.dot_i16x8_s.
// Twin of dot-relaxed.ts: same exports, same results, checked against kernels/ref.
import { splat3 } from './common';

// @ts-ignore: decorator
@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function epilogue(d: i32, s: f32, scale: f32): f32 {
  return <f32>(<f64>d / <f64>s) * scale;
}

/** acc + dot of 16 unsigned codes with 16 i16 activations at xp. */
// @ts-ignore: decorator
@inline function dot16(acc: v128, codes: v128, xp: usize): v128 {
  return i32x4.add(
    acc,
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(codes), v128.load(xp)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(codes), v128.load(xp, 16))),
  );
}

// @ts-ignore: decorator
@inline function rowDot(wp: usize, xp: usize, nb: i32): i32 {
  const m3 = i8x16.splat(<i8>splat3);
  let s0 = i32x4.splat(0);
  let s1 = i32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const a = v128.load(wp);
    const c = v128.load(wp, 16);
    s0 = dot16(s0, v128.and(i16x8.shr_u(a, 6), m3), xp);
    s1 = dot16(s1, v128.and(i16x8.shr_u(c, 6), m3), xp + 32);
    s0 = dot16(s0, v128.and(i16x8.shr_u(a, 4), m3), xp + 64);
    s1 = dot16(s1, v128.and(i16x8.shr_u(c, 4), m3), xp + 96);
    s0 = dot16(s0, v128.and(i16x8.shr_u(a, 2), m3), xp + 128);
    s1 = dot16(s1, v128.and(i16x8.shr_u(c, 2), m3), xp + 160);
    s0 = dot16(s0, v128.and(a, m3), xp + 192);
    s1 = dot16(s1, v128.and(c, m3), xp + 224);
    wp += 32;
    xp += 256;
  }
  return hsum(i32x4.add(s0, s1));
}

export function ternary_matmul(w: usize, K: i32, x: usize, x16: usize, T: i32, sums: usize, scales: usize, alpha: f32, out: usize, rows: i32, r0: i32, r1: i32): void {
  const nb = K >> 7;
  const rowBytes = <usize>(K >> 2);
  const m3 = i8x16.splat(<i8>splat3);
  const k2 = <usize>K << 1;
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      let wp = wr;
      let xp = x16 + <usize>t * k2;
      for (let b = 0; b < nb; b++) {
        for (let half: usize = 0; half < 32; half += 16) {
          const v = v128.load(wp + half);
          const p = xp + (half << 1);
          for (let s = 0; s < 4; s++) {
            const c = v128.and(i16x8.shr_u(v, 6 - 2 * s), m3);
            const q = p + (<usize>s << 6);
            a0 = dot16(a0, c, q);
            a1 = dot16(a1, c, q + k2);
            a2 = dot16(a2, c, q + 2 * k2);
            a3 = dot16(a3, c, q + 3 * k2);
          }
        }
        wp += 32;
        xp += 256;
      }
      const ts = <usize>t << 2;
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(hsum(a0) - load<i32>(sums + ts), load<f32>(scales + ts), alpha));
      store<f32>(out + ((<usize>(t + 1) * <usize>rows + <usize>r) << 2), epilogue(hsum(a1) - load<i32>(sums + ts, 4), load<f32>(scales + ts, 4), alpha));
      store<f32>(out + ((<usize>(t + 2) * <usize>rows + <usize>r) << 2), epilogue(hsum(a2) - load<i32>(sums + ts, 8), load<f32>(scales + ts, 8), alpha));
      store<f32>(out + ((<usize>(t + 3) * <usize>rows + <usize>r) << 2), epilogue(hsum(a3) - load<i32>(sums + ts, 12), load<f32>(scales + ts, 12), alpha));
    }
    for (; t < T; t++) {
      const d = rowDot(wr, x16 + <usize>t * k2, nb) - load<i32>(sums + (<usize>t << 2));
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(d, load<f32>(scales + (<usize>t << 2)), alpha));
    }
  }
}

export function int8_matmul(w: usize, cols: i32, x: usize, x16: usize, T: i32, scales: usize, sums: usize, rowScales: usize, out: usize, rows: i32, r0: i32, r1: i32): void {
  const kk = <usize>cols;
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * kk;
    const rs = load<f32>(rowScales + (<usize>r << 2));
    for (let t = 0; t < T; t++) {
      const xa = x16 + ((<usize>t * kk) << 1);
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0);
      let i = 0;
      for (; i + 16 <= cols; i += 16) {
        const wv = v128.load(wr + <usize>i);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(wv), v128.load(xa + (<usize>i << 1))));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(wv), v128.load(xa + (<usize>i << 1), 16)));
      }
      let d = hsum(i32x4.add(a0, a1));
      for (; i < cols; i++) d += <i32>load<i8>(wr + <usize>i) * <i32>load<i16>(xa + (<usize>i << 1));
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(d, load<f32>(scales + (<usize>t << 2)), rs));
    }
  }
}

/** The portable build has one single-token dot. */
export function set_gemv_variant(v: i32): void {}

/** The portable kernels read activations widened to i16 (widen_i8 into x16 first). */
export const NEEDS_X16: bool = true;

export function relaxed_probe(a: usize, b: usize): i32 {
  return 0;
}
