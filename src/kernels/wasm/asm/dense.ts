// AssemblyScript: the exact lm_head (F16, BF16, F32 weights), bit for bit as kernels/ref/dense.ts: per row
// acc = fround(acc + fround(w * x)) in column order. The order forbids vectorizing across columns, so the
// matrix is repacked at load into groups of 32 rows with each column's 32 values contiguous, and every f32x4
// lane accumulates its own row (f32x4.mul then f32x4.add: two roundings, as the reference). Portable SIMD128.
import { f16x4ToF32x4 } from './half';
import { splatF16Mask } from './common';

/** rows per group of the packed layout */
const G: i32 = 32;

// ---------------------------------------------------------------- packed layout
// Group g (rows 32g .. 32g+31) holds cols columns; column i is 32 values (64 bytes for f16/bf16, 128 for f32).
// 16-bit types: the column's 4 v128 k = 0..3 each hold rows 8k .. 8k+7 as i16 lanes [r0 r4 r1 r5 r2 r6 r3 r7]
// (row 8k+j in lane 2j, row 8k+4+j in lane 2j+1), so that the i32 view's low halves are rows 8k..8k+3 and its
// high halves rows 8k+4..8k+7: each half widens to f32x4 in a few integer ops, in row order. f32: rows in order.
// Rows past the matrix are zero.

/**
 * Packs rows [0, nRows) of row-major `src` (elemBytes 2 or 4) into groups [g0, g1) at `dst` (group 0 = row 0);
 * sets the i32 at `flag` to 1 if a 16-bit value has an all-ones f16 exponent (inf/NaN as f16). Each source
 * row is read in order and scattered to its slot (stride 64 or 128 bytes: a group's columns stay in cache).
 */
export function dense_pack(elemBytes: i32, src: usize, cols: i32, nRows: i32, dst: usize, flag: usize, g0: i32, g1: i32): void {
  const c = <usize>cols;
  const stride: usize = elemBytes == 4 ? 128 : 64;
  const exp = i16x8.splat(<i16>0x7c00);
  let special = i16x8.splat(0);
  for (let g = g0; g < g1; g++) {
    const base = dst + <usize>g * c * stride;
    for (let r = 0; r < G; r++) {
      const row = g * G + r;
      // 16-bit: row 8k+j at byte 4j (j < 4) or 4(j-4)+2 of the column's v128 k; f32: in row order
      const slot: usize = elemBytes == 4 ? <usize>r << 2 : <usize>((r >> 3) * 16 + ((r & 7) < 4 ? (r & 7) * 4 : (r & 3) * 4 + 2));
      let d = base + slot;
      const end = d + c * stride;
      if (row >= nRows) {
        if (elemBytes == 4) for (; d < end; d += stride) store<f32>(d, 0);
        else for (; d < end; d += stride) store<u16>(d, 0);
        continue;
      }
      let s = src + <usize>row * c * <usize>elemBytes;
      if (elemBytes == 4) {
        for (; d + 4 * stride <= end; d += 4 * stride, s += 16) {
          const v = v128.load(s);
          v128.store32_lane(d, v, 0);
          v128.store32_lane(d + stride, v, 1);
          v128.store32_lane(d + 2 * stride, v, 2);
          v128.store32_lane(d + 3 * stride, v, 3);
        }
        for (; d < end; d += stride, s += 4) store<f32>(d, load<f32>(s));
        continue;
      }
      for (; d + 8 * stride <= end; d += 8 * stride, s += 16) {
        const v = v128.load(s);
        special = v128.or(special, i16x8.eq(v128.and(v, exp), exp));
        v128.store16_lane(d, v, 0);
        v128.store16_lane(d + stride, v, 1);
        v128.store16_lane(d + 2 * stride, v, 2);
        v128.store16_lane(d + 3 * stride, v, 3);
        v128.store16_lane(d + 4 * stride, v, 4);
        v128.store16_lane(d + 5 * stride, v, 5);
        v128.store16_lane(d + 6 * stride, v, 6);
        v128.store16_lane(d + 7 * stride, v, 7);
      }
      for (; d < end; d += stride, s += 2) {
        const h = load<u16>(s);
        if ((h & 0x7c00) == 0x7c00) special = i16x8.splat(-1);
        store<u16>(d, h);
      }
    }
  }
  if (v128.any_true(special)) store<i32>(flag, 1);
}

// ---------------------------------------------------------------- matmul

/** Stores four results for rows row..row+3 of the output (those below `rows`). */
// @ts-ignore: decorator
@inline function put(y: usize, row: i32, rows: i32, v: v128): void {
  const p = y + (<usize>row << 2);
  if (row + 4 <= rows) {
    v128.store(p, v);
    return;
  }
  if (row < rows) store<f32>(p, f32x4.extract_lane(v, 0));
  if (row + 1 < rows) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (row + 2 < rows) store<f32>(p, f32x4.extract_lane(v, 2), 8);
  if (row + 3 < rows) store<f32>(p, f32x4.extract_lane(v, 3), 12);
}

/**
 * Row groups [g0, g1) of y [T, rows] = x [T, cols] · wᵀ for packed w. kind: 0 f16 with x pre-multiplied by
 * 2^112 (see below), 1 f16 converted exactly per weight (inf/NaN too), 2 bf16, 3 f32. x is the input as the
 * reference uses it (already rounded to f16/bf16 where it rounds). Each group's T passes reread it from cache.
 *
 * kind 0, why it is exact: for a finite f16 h, the bits (sign, exponent, mantissa) placed in an f32 as
 * (h sign-extended << 13) & 0x8fffe000 are exactly h·2^-112 (normal f16s land on normal f32s; subnormal f16s
 * m·2^-24 land on m·2^-136, an f32 subnormal, exactly since 2^-136 is a multiple of 2^-149). The caller
 * passes x' = x·2^112, exact whenever it is finite (scaling by a power of two only moves the exponent; the
 * caller checks that no finite x overflows, and an infinite or NaN x stays so). IEEE multiplication rounds
 * the exact real product once, and (h·2^-112)·(x·2^112) = h·x as real numbers, so the rounded product is the
 * same float32, subnormal or zero results and their sign included (WASM never flushes subnormals). The sums
 * then see identical operands in identical order. Matrices holding f16 inf/NaN use kind 1.
 */
export function dense_matmul(kind: i32, w: usize, cols: i32, x: usize, T: i32, y: usize, rows: i32, g0: i32, g1: i32): void {
  if (kind == 0) denseF16Scaled(w, cols, x, T, y, rows, g0, g1);
  else if (kind == 1) denseF16Exact(w, cols, x, T, y, rows, g0, g1);
  else if (kind == 2) denseBf16(w, cols, x, T, y, rows, g0, g1);
  else denseF32(w, cols, x, T, y, rows, g0, g1);
}

function denseF16Scaled(w: usize, cols: i32, x: usize, T: i32, y: usize, rows: i32, g0: i32, g1: i32): void {
  const m = i32x4.splat(splatF16Mask & 0xffffe000);
  const c = <usize>cols;
  for (let g = g0; g < g1; g++) {
    const base = w + <usize>g * c * 64;
    const end = base + c * 64;
    for (let t = 0; t < T; t++) {
      let xp = x + <usize>t * c * 4;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (let p = base; p < end; p += 64) {
        const xv = v128.load32_splat(xp);
        xp += 4;
        const h0 = v128.load(p);
        const h1 = v128.load(p, 16);
        const h2 = v128.load(p, 32);
        const h3 = v128.load(p, 48);
        a0 = f32x4.add(a0, f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(h0, 16), 3), m), xv));
        a1 = f32x4.add(a1, f32x4.mul(v128.and(i32x4.shr_s(h0, 3), m), xv));
        a2 = f32x4.add(a2, f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(h1, 16), 3), m), xv));
        a3 = f32x4.add(a3, f32x4.mul(v128.and(i32x4.shr_s(h1, 3), m), xv));
        a4 = f32x4.add(a4, f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(h2, 16), 3), m), xv));
        a5 = f32x4.add(a5, f32x4.mul(v128.and(i32x4.shr_s(h2, 3), m), xv));
        a6 = f32x4.add(a6, f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(h3, 16), 3), m), xv));
        a7 = f32x4.add(a7, f32x4.mul(v128.and(i32x4.shr_s(h3, 3), m), xv));
      }
      store8(y + (<usize>t * <usize>rows << 2), g * G, rows, a0, a1, a2, a3, a4, a5, a6, a7);
    }
  }
}

function denseF16Exact(w: usize, cols: i32, x: usize, T: i32, y: usize, rows: i32, g0: i32, g1: i32): void {
  const c = <usize>cols;
  for (let g = g0; g < g1; g++) {
    const base = w + <usize>g * c * 64;
    const end = base + c * 64;
    for (let t = 0; t < T; t++) {
      let xp = x + <usize>t * c * 4;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (let p = base; p < end; p += 64) {
        const xv = v128.load32_splat(xp);
        xp += 4;
        const h0 = v128.load(p);
        const h1 = v128.load(p, 16);
        const h2 = v128.load(p, 32);
        const h3 = v128.load(p, 48);
        a0 = f32x4.add(a0, f32x4.mul(f16x4ToF32x4(v128.and(h0, i32x4.splat(0xffff))), xv));
        a1 = f32x4.add(a1, f32x4.mul(f16x4ToF32x4(i32x4.shr_u(h0, 16)), xv));
        a2 = f32x4.add(a2, f32x4.mul(f16x4ToF32x4(v128.and(h1, i32x4.splat(0xffff))), xv));
        a3 = f32x4.add(a3, f32x4.mul(f16x4ToF32x4(i32x4.shr_u(h1, 16)), xv));
        a4 = f32x4.add(a4, f32x4.mul(f16x4ToF32x4(v128.and(h2, i32x4.splat(0xffff))), xv));
        a5 = f32x4.add(a5, f32x4.mul(f16x4ToF32x4(i32x4.shr_u(h2, 16)), xv));
        a6 = f32x4.add(a6, f32x4.mul(f16x4ToF32x4(v128.and(h3, i32x4.splat(0xffff))), xv));
        a7 = f32x4.add(a7, f32x4.mul(f16x4ToF32x4(i32x4.shr_u(h3, 16)), xv));
      }
      store8(y + (<usize>t * <usize>rows << 2), g * G, rows, a0, a1, a2, a3, a4, a5, a6, a7);
    }
  }
}

function denseBf16(w: usize, cols: i32, x: usize, T: i32, y: usize, rows: i32, g0: i32, g1: i32): void {
  const m = i32x4.splat(splatF16Mask << 16); // 0xffff0000
  const c = <usize>cols;
  for (let g = g0; g < g1; g++) {
    const base = w + <usize>g * c * 64;
    const end = base + c * 64;
    for (let t = 0; t < T; t++) {
      let xp = x + <usize>t * c * 4;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (let p = base; p < end; p += 64) {
        const xv = v128.load32_splat(xp);
        xp += 4;
        const h0 = v128.load(p);
        const h1 = v128.load(p, 16);
        const h2 = v128.load(p, 32);
        const h3 = v128.load(p, 48);
        // bf16 -> f32 is the bits in the high half: exact for every value
        a0 = f32x4.add(a0, f32x4.mul(i32x4.shl(h0, 16), xv));
        a1 = f32x4.add(a1, f32x4.mul(v128.and(h0, m), xv));
        a2 = f32x4.add(a2, f32x4.mul(i32x4.shl(h1, 16), xv));
        a3 = f32x4.add(a3, f32x4.mul(v128.and(h1, m), xv));
        a4 = f32x4.add(a4, f32x4.mul(i32x4.shl(h2, 16), xv));
        a5 = f32x4.add(a5, f32x4.mul(v128.and(h2, m), xv));
        a6 = f32x4.add(a6, f32x4.mul(i32x4.shl(h3, 16), xv));
        a7 = f32x4.add(a7, f32x4.mul(v128.and(h3, m), xv));
      }
      store8(y + (<usize>t * <usize>rows << 2), g * G, rows, a0, a1, a2, a3, a4, a5, a6, a7);
    }
  }
}

function denseF32(w: usize, cols: i32, x: usize, T: i32, y: usize, rows: i32, g0: i32, g1: i32): void {
  const c = <usize>cols;
  for (let g = g0; g < g1; g++) {
    const base = w + <usize>g * c * 128;
    const end = base + c * 128;
    for (let t = 0; t < T; t++) {
      let xp = x + <usize>t * c * 4;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (let p = base; p < end; p += 128) {
        const xv = v128.load32_splat(xp);
        xp += 4;
        a0 = f32x4.add(a0, f32x4.mul(v128.load(p), xv));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), xv));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), xv));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), xv));
        a4 = f32x4.add(a4, f32x4.mul(v128.load(p, 64), xv));
        a5 = f32x4.add(a5, f32x4.mul(v128.load(p, 80), xv));
        a6 = f32x4.add(a6, f32x4.mul(v128.load(p, 96), xv));
        a7 = f32x4.add(a7, f32x4.mul(v128.load(p, 112), xv));
      }
      store8(y + (<usize>t * <usize>rows << 2), g * G, rows, a0, a1, a2, a3, a4, a5, a6, a7);
    }
  }
}

/** A group's 32 results, rows row0 + 4i .. + 3 in a_i, into the token's output row (rows below `rows`). */
// @ts-ignore: decorator
@inline function store8(y: usize, row0: i32, rows: i32, a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, a6: v128, a7: v128): void {
  put(y, row0, rows, a0);
  put(y, row0 + 4, rows, a1);
  put(y, row0 + 8, rows, a2);
  put(y, row0 + 12, rows, a3);
  put(y, row0 + 16, rows, a4);
  put(y, row0 + 20, rows, a5);
  put(y, row0 + 24, rows, a6);
  put(y, row0 + 28, rows, a7);
}
