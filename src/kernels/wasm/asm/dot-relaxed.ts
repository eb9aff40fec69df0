// AssemblyScript: the integer dot kernels with relaxed SIMD (i8 x i7 dot products; V8 lowers them to
// pmaddubsw / vpdpbusd, which read the i7 operand as unsigned, so it must be in [0, 127]). Weights are
// bitnet.cpp's I2_S layout: 128-element blocks of 32 bytes, element 32g+p in byte p at bits 7-6-2g, code =
// w + 1 in {0,1,2} (the i7 operand). The int8 lm_head's weights in [-63, 63] are offset by +64 in the kernel.
// Twin of dot-simd.ts (portable SIMD128): same exports, same results, checked against kernels/ref.
import { splat3, splat64 } from './common';

// @ts-ignore: decorator
@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function epilogue(d: i32, s: f32, scale: f32): f32 {
  return <f32>(<f64>d / <f64>s) * scale;
}

// @ts-ignore: decorator
@inline function dot(acc: v128, x: v128, codes: v128): v128 {
  return i16x8.add(acc, i16x8.relaxed_dot_i8x16_i7x16_s(x, codes));
}

/** Unsigned-code dot sum(code * x) of one I2_S row (nb blocks) with int8 x; i16 partial sums widened every 15 blocks. */
// @ts-ignore: decorator
@inline function rowDot(wp: usize, xp: usize, nb: i32): i32 {
  const m3 = i8x16.splat(<i8>splat3);
  let acc = i32x4.splat(0);
  let b = 0;
  while (b < nb) {
    // per block each i16 lane gains at most 4 * 2 * 2 * 128 = 2048: 15 blocks stay below 32767
    let s0 = i16x8.splat(0);
    let s1 = i16x8.splat(0);
    const end = min<i32>(nb, b + 15);
    for (; b < end; b++) {
      const a = v128.load(wp);
      const c = v128.load(wp, 16);
      s0 = dot(s0, v128.load(xp), v128.and(i16x8.shr_u(a, 6), m3));
      s1 = dot(s1, v128.load(xp, 16), v128.and(i16x8.shr_u(c, 6), m3));
      s0 = dot(s0, v128.load(xp, 32), v128.and(i16x8.shr_u(a, 4), m3));
      s1 = dot(s1, v128.load(xp, 48), v128.and(i16x8.shr_u(c, 4), m3));
      s0 = dot(s0, v128.load(xp, 64), v128.and(i16x8.shr_u(a, 2), m3));
      s1 = dot(s1, v128.load(xp, 80), v128.and(i16x8.shr_u(c, 2), m3));
      s0 = dot(s0, v128.load(xp, 96), v128.and(a, m3));
      s1 = dot(s1, v128.load(xp, 112), v128.and(c, m3));
      wp += 32;
      xp += 128;
    }
    acc = i32x4.add(acc, i32x4.add(i32x4.extadd_pairwise_i16x8_s(s0), i32x4.extadd_pairwise_i16x8_s(s1)));
  }
  return hsum(acc);
}

/**
 * The same dot accumulated straight into i32 lanes: one vpdpbusd on AVX-VNNI (three ops on plain AVX2). Eight
 * independent accumulators: with two, the chain of dependent dot-adds (~5 cycles each) bounds the loop.
 */
// @ts-ignore: decorator
@inline function rowDot32(wp: usize, xp: usize, nb: i32): i32 {
  const m3 = i8x16.splat(<i8>splat3);
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let b = 0; b < nb; b++) {
    const a = v128.load(wp);
    const c = v128.load(wp, 16);
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp), v128.and(i16x8.shr_u(a, 6), m3), a0);
    a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp, 16), v128.and(i16x8.shr_u(c, 6), m3), a1);
    a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp, 32), v128.and(i16x8.shr_u(a, 4), m3), a2);
    a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp, 48), v128.and(i16x8.shr_u(c, 4), m3), a3);
    a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp, 64), v128.and(i16x8.shr_u(a, 2), m3), a4);
    a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp, 80), v128.and(i16x8.shr_u(c, 2), m3), a5);
    a6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp, 96), v128.and(a, m3), a6);
    a7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xp, 112), v128.and(c, m3), a7);
    wp += 32;
    xp += 128;
  }
  return hsum(i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7))));
}

/**
 * Which dots to use, chosen at run time by timing (both give the same integers): bit 0, single tokens with
 * i32 dot-adds (rowDot32) instead of i16 partial sums; bit 1, prompt batches in 4-row x 4-token tiles of i32
 * dot-adds (tile4x4) instead of 2 x 4 tiles of i16 partial sums. The dot-adds win where the CPU has VNNI.
 */
let gemvVariant: i32 = 0;
export function set_gemv_variant(v: i32): void {
  gemvVariant = v;
}

/**
 * Rows r, r+1 x tokens t..t+3: for each 2-bit code position, both rows' codes dotted with four tokens'
 * activations. The four code positions are unrolled by hand: a loop over them makes the shift amount a
 * variable (V8 then emits a variable shift) and measured ~15% slower; an inline helper cannot update the
 * eight accumulators.
 */
// @ts-ignore: decorator
@inline function tile2x4(wr: usize, rowBytes: usize, x0: usize, kk: usize, nb: i32, sums: usize, scales: usize, alpha: f32, out: usize, rows: i32, r: i32, t: i32, m3: v128): void {
  let acc0 = i32x4.splat(0), acc1 = i32x4.splat(0), acc2 = i32x4.splat(0), acc3 = i32x4.splat(0);
  let acc4 = i32x4.splat(0), acc5 = i32x4.splat(0), acc6 = i32x4.splat(0), acc7 = i32x4.splat(0);
  let b = 0;
  let wp = wr;
  let xp = x0;
  while (b < nb) {
    // per block each i16 lane gains at most 8 * 512 = 4096: 7 blocks stay below 32767
    let s0 = i16x8.splat(0), s1 = i16x8.splat(0), s2 = i16x8.splat(0), s3 = i16x8.splat(0);
    let u0 = i16x8.splat(0), u1 = i16x8.splat(0), u2 = i16x8.splat(0), u3 = i16x8.splat(0);
    const end = min<i32>(nb, b + 7);
    for (; b < end; b++) {
      for (let half: usize = 0; half < 32; half += 16) {
        const va = v128.load(wp + half);
        const vb = v128.load(wp + rowBytes + half);
        {
          const ca = v128.and(i16x8.shr_u(va, 6), m3);
          const cb = v128.and(i16x8.shr_u(vb, 6), m3);
          const p = xp + half + 0;
          let xv = v128.load(p);
          s0 = dot(s0, xv, ca); u0 = dot(u0, xv, cb);
          xv = v128.load(p + kk);
          s1 = dot(s1, xv, ca); u1 = dot(u1, xv, cb);
          xv = v128.load(p + 2 * kk);
          s2 = dot(s2, xv, ca); u2 = dot(u2, xv, cb);
          xv = v128.load(p + 3 * kk);
          s3 = dot(s3, xv, ca); u3 = dot(u3, xv, cb);
        }
        {
          const ca = v128.and(i16x8.shr_u(va, 4), m3);
          const cb = v128.and(i16x8.shr_u(vb, 4), m3);
          const p = xp + half + 32;
          let xv = v128.load(p);
          s0 = dot(s0, xv, ca); u0 = dot(u0, xv, cb);
          xv = v128.load(p + kk);
          s1 = dot(s1, xv, ca); u1 = dot(u1, xv, cb);
          xv = v128.load(p + 2 * kk);
          s2 = dot(s2, xv, ca); u2 = dot(u2, xv, cb);
          xv = v128.load(p + 3 * kk);
          s3 = dot(s3, xv, ca); u3 = dot(u3, xv, cb);
        }
        {
          const ca = v128.and(i16x8.shr_u(va, 2), m3);
          const cb = v128.and(i16x8.shr_u(vb, 2), m3);
          const p = xp + half + 64;
          let xv = v128.load(p);
          s0 = dot(s0, xv, ca); u0 = dot(u0, xv, cb);
          xv = v128.load(p + kk);
          s1 = dot(s1, xv, ca); u1 = dot(u1, xv, cb);
          xv = v128.load(p + 2 * kk);
          s2 = dot(s2, xv, ca); u2 = dot(u2, xv, cb);
          xv = v128.load(p + 3 * kk);
          s3 = dot(s3, xv, ca); u3 = dot(u3, xv, cb);
        }
        {
          const ca = v128.and(va, m3);
          const cb = v128.and(vb, m3);
          const p = xp + half + 96;
          let xv = v128.load(p);
          s0 = dot(s0, xv, ca); u0 = dot(u0, xv, cb);
          xv = v128.load(p + kk);
          s1 = dot(s1, xv, ca); u1 = dot(u1, xv, cb);
          xv = v128.load(p + 2 * kk);
          s2 = dot(s2, xv, ca); u2 = dot(u2, xv, cb);
          xv = v128.load(p + 3 * kk);
          s3 = dot(s3, xv, ca); u3 = dot(u3, xv, cb);
        }
      }
      wp += 32;
      xp += 128;
    }
    acc0 = i32x4.add(acc0, i32x4.extadd_pairwise_i16x8_s(s0));
    acc1 = i32x4.add(acc1, i32x4.extadd_pairwise_i16x8_s(s1));
    acc2 = i32x4.add(acc2, i32x4.extadd_pairwise_i16x8_s(s2));
    acc3 = i32x4.add(acc3, i32x4.extadd_pairwise_i16x8_s(s3));
    acc4 = i32x4.add(acc4, i32x4.extadd_pairwise_i16x8_s(u0));
    acc5 = i32x4.add(acc5, i32x4.extadd_pairwise_i16x8_s(u1));
    acc6 = i32x4.add(acc6, i32x4.extadd_pairwise_i16x8_s(u2));
    acc7 = i32x4.add(acc7, i32x4.extadd_pairwise_i16x8_s(u3));
  }
  const ts = <usize>t << 2;
  const o = out + ((<usize>t * <usize>rows + <usize>r) << 2);
  const ro = <usize>rows << 2;
  store<f32>(o, epilogue(hsum(acc0) - load<i32>(sums + ts), load<f32>(scales + ts), alpha));
  store<f32>(o + ro, epilogue(hsum(acc1) - load<i32>(sums + ts, 4), load<f32>(scales + ts, 4), alpha));
  store<f32>(o + 2 * ro, epilogue(hsum(acc2) - load<i32>(sums + ts, 8), load<f32>(scales + ts, 8), alpha));
  store<f32>(o + 3 * ro, epilogue(hsum(acc3) - load<i32>(sums + ts, 12), load<f32>(scales + ts, 12), alpha));
  store<f32>(o, epilogue(hsum(acc4) - load<i32>(sums + ts), load<f32>(scales + ts), alpha), 4);
  store<f32>(o + ro, epilogue(hsum(acc5) - load<i32>(sums + ts, 4), load<f32>(scales + ts, 4), alpha), 4);
  store<f32>(o + 2 * ro, epilogue(hsum(acc6) - load<i32>(sums + ts, 8), load<f32>(scales + ts, 8), alpha), 4);
  store<f32>(o + 3 * ro, epilogue(hsum(acc7) - load<i32>(sums + ts, 12), load<f32>(scales + ts, 12), alpha), 4);
}

/**
 * Rows r..r+3 x tokens t..t+3 with i32 dot-adds (one vpdpbusd each on AVX-VNNI): sixteen accumulators, each
 * decoded code vector serving four tokens and each activation load four rows; no i16 partial sums to widen.
 * Unrolled by hand (a loop over the code positions makes V8 emit variable shifts).
 */
// @ts-ignore: decorator
@inline function tile4x4(wr: usize, rowBytes: usize, x0: usize, kk: usize, nb: i32, sums: usize, scales: usize, alpha: f32, out: usize, rows: i32, r: i32, t: i32, m3: v128): void {
  let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
  let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
  let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a22 = i32x4.splat(0), a23 = i32x4.splat(0);
  let a30 = i32x4.splat(0), a31 = i32x4.splat(0), a32 = i32x4.splat(0), a33 = i32x4.splat(0);
  let wp = wr;
  let xp = x0;
  for (let b = 0; b < nb; b++) {
    for (let half: usize = 0; half < 32; half += 16) {
      const v0 = v128.load(wp + 0 * rowBytes + half);
      const v1 = v128.load(wp + 1 * rowBytes + half);
      const v2 = v128.load(wp + 2 * rowBytes + half);
      const v3 = v128.load(wp + 3 * rowBytes + half);
      {
        const c0 = v128.and(i16x8.shr_u(v0, 6), m3);
        const c1 = v128.and(i16x8.shr_u(v1, 6), m3);
        const c2 = v128.and(i16x8.shr_u(v2, 6), m3);
        const c3 = v128.and(i16x8.shr_u(v3, 6), m3);
        const p = xp + half + 0;
        let xv = v128.load(p + 0 * kk);
        a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a00); a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a10); a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a20); a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a30);
        xv = v128.load(p + 1 * kk);
        a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a01); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a11); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a21); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a31);
        xv = v128.load(p + 2 * kk);
        a02 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a02); a12 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a12); a22 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a22); a32 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a32);
        xv = v128.load(p + 3 * kk);
        a03 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a03); a13 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a13); a23 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a23); a33 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a33);
      }
      {
        const c0 = v128.and(i16x8.shr_u(v0, 4), m3);
        const c1 = v128.and(i16x8.shr_u(v1, 4), m3);
        const c2 = v128.and(i16x8.shr_u(v2, 4), m3);
        const c3 = v128.and(i16x8.shr_u(v3, 4), m3);
        const p = xp + half + 32;
        let xv = v128.load(p + 0 * kk);
        a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a00); a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a10); a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a20); a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a30);
        xv = v128.load(p + 1 * kk);
        a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a01); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a11); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a21); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a31);
        xv = v128.load(p + 2 * kk);
        a02 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a02); a12 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a12); a22 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a22); a32 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a32);
        xv = v128.load(p + 3 * kk);
        a03 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a03); a13 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a13); a23 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a23); a33 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a33);
      }
      {
        const c0 = v128.and(i16x8.shr_u(v0, 2), m3);
        const c1 = v128.and(i16x8.shr_u(v1, 2), m3);
        const c2 = v128.and(i16x8.shr_u(v2, 2), m3);
        const c3 = v128.and(i16x8.shr_u(v3, 2), m3);
        const p = xp + half + 64;
        let xv = v128.load(p + 0 * kk);
        a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a00); a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a10); a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a20); a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a30);
        xv = v128.load(p + 1 * kk);
        a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a01); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a11); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a21); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a31);
        xv = v128.load(p + 2 * kk);
        a02 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a02); a12 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a12); a22 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a22); a32 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a32);
        xv = v128.load(p + 3 * kk);
        a03 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a03); a13 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a13); a23 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a23); a33 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a33);
      }
      {
        const c0 = v128.and(v0, m3);
        const c1 = v128.and(v1, m3);
        const c2 = v128.and(v2, m3);
        const c3 = v128.and(v3, m3);
        const p = xp + half + 96;
        let xv = v128.load(p + 0 * kk);
        a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a00); a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a10); a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a20); a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a30);
        xv = v128.load(p + 1 * kk);
        a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a01); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a11); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a21); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a31);
        xv = v128.load(p + 2 * kk);
        a02 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a02); a12 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a12); a22 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a22); a32 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a32);
        xv = v128.load(p + 3 * kk);
        a03 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c0, a03); a13 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c1, a13); a23 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c2, a23); a33 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xv, c3, a33);
      }
    }
    wp += 32;
    xp += 128;
  }
  const ro = <usize>rows << 2;
  {
    const sum = load<i32>(sums + (<usize>(t + 0) << 2));
    const st = load<f32>(scales + (<usize>(t + 0) << 2));
    const o = out + ((<usize>(t + 0) * <usize>rows + <usize>r) << 2);
    store<f32>(o, epilogue(hsum(a00) - sum, st, alpha), 0);
    store<f32>(o, epilogue(hsum(a10) - sum, st, alpha), 4);
    store<f32>(o, epilogue(hsum(a20) - sum, st, alpha), 8);
    store<f32>(o, epilogue(hsum(a30) - sum, st, alpha), 12);
  }
  {
    const sum = load<i32>(sums + (<usize>(t + 1) << 2));
    const st = load<f32>(scales + (<usize>(t + 1) << 2));
    const o = out + ((<usize>(t + 1) * <usize>rows + <usize>r) << 2);
    store<f32>(o, epilogue(hsum(a01) - sum, st, alpha), 0);
    store<f32>(o, epilogue(hsum(a11) - sum, st, alpha), 4);
    store<f32>(o, epilogue(hsum(a21) - sum, st, alpha), 8);
    store<f32>(o, epilogue(hsum(a31) - sum, st, alpha), 12);
  }
  {
    const sum = load<i32>(sums + (<usize>(t + 2) << 2));
    const st = load<f32>(scales + (<usize>(t + 2) << 2));
    const o = out + ((<usize>(t + 2) * <usize>rows + <usize>r) << 2);
    store<f32>(o, epilogue(hsum(a02) - sum, st, alpha), 0);
    store<f32>(o, epilogue(hsum(a12) - sum, st, alpha), 4);
    store<f32>(o, epilogue(hsum(a22) - sum, st, alpha), 8);
    store<f32>(o, epilogue(hsum(a32) - sum, st, alpha), 12);
  }
  {
    const sum = load<i32>(sums + (<usize>(t + 3) << 2));
    const st = load<f32>(scales + (<usize>(t + 3) << 2));
    const o = out + ((<usize>(t + 3) * <usize>rows + <usize>r) << 2);
    store<f32>(o, epilogue(hsum(a03) - sum, st, alpha), 0);
    store<f32>(o, epilogue(hsum(a13) - sum, st, alpha), 4);
    store<f32>(o, epilogue(hsum(a23) - sum, st, alpha), 8);
    store<f32>(o, epilogue(hsum(a33) - sum, st, alpha), 12);
  }
}

/**
 * Ternary matmul rows [r0, r1) for T tokens: out[t, r] = (float)((D - sum_t) / s_t) * alpha, D the unsigned-code
 * dot (bitnet.cpp's epilogue). Tokens go four at a time so each decoded weight vector serves four dots.
 */
export function ternary_matmul(w: usize, K: i32, x: usize, x16: usize, T: i32, sums: usize, scales: usize, alpha: f32, out: usize, rows: i32, r0: i32, r1: i32): void {
  const nb = K >> 7;
  const rowBytes = <usize>(K >> 2);
  const m3 = i8x16.splat(<i8>splat3);
  let r = r0;
  if (T >= 4) {
    if ((gemvVariant & 2) != 0) {
      // prompt batches on VNNI: four rows x four tokens of i32 dot-adds per tile
      for (; r + 4 <= r1; r += 4) {
        const wr = w + <usize>r * rowBytes;
        let t = 0;
        for (; t + 4 <= T; t += 4) tile4x4(wr, rowBytes, x + <usize>t * <usize>K, <usize>K, nb, sums, scales, alpha, out, rows, r, t, m3);
        for (; t < T; t++) {
          const xt = x + <usize>t * <usize>K;
          const sum = load<i32>(sums + (<usize>t << 2));
          const st = load<f32>(scales + (<usize>t << 2));
          for (let i = 0; i < 4; i++) store<f32>(out + ((<usize>t * <usize>rows + <usize>(r + i)) << 2), epilogue(rowDot32(wr + <usize>i * rowBytes, xt, nb) - sum, st, alpha));
        }
      }
    }
    // prompt batches: two rows x four tokens per tile, one code of both rows at a time (14 live vectors)
    for (; r + 2 <= r1; r += 2) {
      const wr = w + <usize>r * rowBytes;
      let t = 0;
      for (; t + 4 <= T; t += 4) tile2x4(wr, rowBytes, x + <usize>t * <usize>K, <usize>K, nb, sums, scales, alpha, out, rows, r, t, m3);
      for (; t < T; t++) {
        const xt = x + <usize>t * <usize>K;
        const sum = load<i32>(sums + (<usize>t << 2));
        const st = load<f32>(scales + (<usize>t << 2));
        store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(rowDot(wr, xt, nb) - sum, st, alpha));
        store<f32>(out + ((<usize>t * <usize>rows + <usize>r + 1) << 2), epilogue(rowDot(wr + rowBytes, xt, nb) - sum, st, alpha));
      }
    }
  }
  for (; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      const x0 = x + <usize>t * <usize>K;
      const kk = <usize>K;
      let acc0 = i32x4.splat(0), acc1 = i32x4.splat(0), acc2 = i32x4.splat(0), acc3 = i32x4.splat(0);
      let b = 0;
      let wp = wr;
      let xp = x0;
      while (b < nb) {
        // per block each i16 lane gains at most 8 * 512 = 4096: 7 blocks stay below 32767
        let s0 = i16x8.splat(0), s1 = i16x8.splat(0), s2 = i16x8.splat(0), s3 = i16x8.splat(0);
        const end = min<i32>(nb, b + 7);
        for (; b < end; b++) {
          for (let half: usize = 0; half < 32; half += 16) {
            const v = v128.load(wp + half);
            const c0 = v128.and(i16x8.shr_u(v, 6), m3);
            const c1 = v128.and(i16x8.shr_u(v, 4), m3);
            const c2 = v128.and(i16x8.shr_u(v, 2), m3);
            const c3 = v128.and(v, m3);
            const p = xp + half;
            s0 = dot(dot(dot(dot(s0, v128.load(p), c0), v128.load(p, 32), c1), v128.load(p, 64), c2), v128.load(p, 96), c3);
            s1 = dot(dot(dot(dot(s1, v128.load(p + kk), c0), v128.load(p + kk, 32), c1), v128.load(p + kk, 64), c2), v128.load(p + kk, 96), c3);
            s2 = dot(dot(dot(dot(s2, v128.load(p + 2 * kk), c0), v128.load(p + 2 * kk, 32), c1), v128.load(p + 2 * kk, 64), c2), v128.load(p + 2 * kk, 96), c3);
            s3 = dot(dot(dot(dot(s3, v128.load(p + 3 * kk), c0), v128.load(p + 3 * kk, 32), c1), v128.load(p + 3 * kk, 64), c2), v128.load(p + 3 * kk, 96), c3);
          }
          wp += 32;
          xp += 128;
        }
        acc0 = i32x4.add(acc0, i32x4.extadd_pairwise_i16x8_s(s0));
        acc1 = i32x4.add(acc1, i32x4.extadd_pairwise_i16x8_s(s1));
        acc2 = i32x4.add(acc2, i32x4.extadd_pairwise_i16x8_s(s2));
        acc3 = i32x4.add(acc3, i32x4.extadd_pairwise_i16x8_s(s3));
      }
      const ts = <usize>t << 2;
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(hsum(acc0) - load<i32>(sums + ts), load<f32>(scales + ts), alpha));
      store<f32>(out + ((<usize>(t + 1) * <usize>rows + <usize>r) << 2), epilogue(hsum(acc1) - load<i32>(sums + ts, 4), load<f32>(scales + ts, 4), alpha));
      store<f32>(out + ((<usize>(t + 2) * <usize>rows + <usize>r) << 2), epilogue(hsum(acc2) - load<i32>(sums + ts, 8), load<f32>(scales + ts, 8), alpha));
      store<f32>(out + ((<usize>(t + 3) * <usize>rows + <usize>r) << 2), epilogue(hsum(acc3) - load<i32>(sums + ts, 12), load<f32>(scales + ts, 12), alpha));
    }
    for (; t < T; t++) {
      const xt = x + <usize>t * <usize>K;
      const d = ((gemvVariant & 1) != 0 ? rowDot32(wr, xt, nb) : rowDot(wr, xt, nb)) - load<i32>(sums + (<usize>t << 2));
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(d, load<f32>(scales + (<usize>t << 2)), alpha));
    }
  }
}

/**
 * int8 lm_head rows [r0, r1): out[t, r] = (float)(D / s_t) * rowScale[r], D = sum(w * x) with w in [-63, 63].
 * The dot runs on w + 64 (in [1, 127], a valid i7 operand) and subtracts 64 * sum(x).
 */
export function int8_matmul(w: usize, cols: i32, x: usize, x16: usize, T: i32, scales: usize, sums: usize, rowScales: usize, out: usize, rows: i32, r0: i32, r1: i32): void {
  const kk = <usize>cols;
  const off = i8x16.splat(<i8>splat64);
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * kk;
    const rs = load<f32>(rowScales + (<usize>r << 2));
    let t = 0;
    // independent accumulators (4 for token pairs, 8 for single tokens): chains of dependent dot-adds bound the loop
    for (; t + 2 <= T; t += 2) {
      const xa = x + <usize>t * kk;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let i = 0;
      for (; i + 32 <= cols; i += 32) {
        const w0 = i8x16.add(v128.load(wr + <usize>i), off);
        const w1 = i8x16.add(v128.load(wr + <usize>i, 16), off);
        a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa + <usize>i), w0, a0);
        a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa + kk + <usize>i), w0, a1);
        a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa + <usize>i, 16), w1, a2);
        a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa + kk + <usize>i, 16), w1, a3);
      }
      for (; i + 16 <= cols; i += 16) {
        const wv = i8x16.add(v128.load(wr + <usize>i), off);
        a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa + <usize>i), wv, a0);
        a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa + kk + <usize>i), wv, a1);
      }
      let d0 = hsum(i32x4.add(a0, a2)) - 64 * load<i32>(sums + (<usize>t << 2));
      let d1 = hsum(i32x4.add(a1, a3)) - 64 * load<i32>(sums + (<usize>t << 2), 4);
      // the tail was never offset: plain products
      for (; i < cols; i++) {
        const wi = <i32>load<i8>(wr + <usize>i);
        d0 += wi * <i32>load<i8>(xa + <usize>i) + 64 * <i32>load<i8>(xa + <usize>i);
        d1 += wi * <i32>load<i8>(xa + kk + <usize>i) + 64 * <i32>load<i8>(xa + kk + <usize>i);
      }
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(d0, load<f32>(scales + (<usize>t << 2)), rs));
      store<f32>(out + ((<usize>(t + 1) * <usize>rows + <usize>r) << 2), epilogue(d1, load<f32>(scales + (<usize>t << 2), 4), rs));
    }
    for (; t < T; t++) {
      const xa = x + <usize>t * kk;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      let i = 0;
      for (; i + 128 <= cols; i += 128) {
        const p = xa + <usize>i;
        const q = wr + <usize>i;
        a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p), i8x16.add(v128.load(q), off), a0);
        a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p, 16), i8x16.add(v128.load(q, 16), off), a1);
        a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p, 32), i8x16.add(v128.load(q, 32), off), a2);
        a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p, 48), i8x16.add(v128.load(q, 48), off), a3);
        a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p, 64), i8x16.add(v128.load(q, 64), off), a4);
        a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p, 80), i8x16.add(v128.load(q, 80), off), a5);
        a6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p, 96), i8x16.add(v128.load(q, 96), off), a6);
        a7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p, 112), i8x16.add(v128.load(q, 112), off), a7);
      }
      for (; i + 16 <= cols; i += 16) a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa + <usize>i), i8x16.add(v128.load(wr + <usize>i), off), a0);
      let d = hsum(i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)))) - 64 * load<i32>(sums + (<usize>t << 2));
      for (; i < cols; i++) d += (<i32>load<i8>(wr + <usize>i) + 64) * <i32>load<i8>(xa + <usize>i);
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), epilogue(d, load<f32>(scales + (<usize>t << 2)), rs));
    }
  }
}

/** The relaxed kernels read int8 activations directly. */
export const NEEDS_X16: bool = false;

/** Self-check input: returns sum(x * y) over 16 lanes via the relaxed dot, to detect runtimes that compute it wrong. */
export function relaxed_probe(a: usize, b: usize): i32 {
  return hsum(i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a), v128.load(b), i32x4.splat(0)));
}
