// AssemblyScript: the quantized KV caches of the WASM backend (a q8_0 / q4_0 K or V, the other of any type), the
// same arithmetic as kernels/ref/ops.ts attentionRef: rows stored as ggml's 32-element blocks (quantize_row_*_ref),
// Q quantized to q8_0 per head, Q·K as ggml's integer block dots (i32x4.dot_i16x8_s in the SIMD build; the relaxed
// build's i8 x i7 dot on |k| and sign-applied q, or on the q4_0 nibbles, which are in [0, 15]; an f32/f16 K: the
// float dot in dim order, four heads in the lanes), P·V over the
// exactly dequantized values. Passes: kvq_scores, then attention.ts's attn_softmax, then kvq_pv.
import { f32ToF16, f16ToF32, f16x4Finite, f16x4ToF32x4, roundF16 } from './half';
import { splatF16Mask, splatF16Scale } from './common';

// Layout per layer: K and V as rows [pos][row bytes], a row being nHeadKv * headDim values: f32, f16 bits, or
// (width / 32) ggml blocks, block_q8_0 { f16 d; i8 qs[32] } (34 bytes) or block_q4_0 { f16 d; u8 qs[16] }
// (18 bytes, element j in the low nibble of byte j, j + 16 in the high one, stored q + 8): byte for byte
// the reference backend's rows. Type codes: 0 f32, 1 f16, 2 q8_0, 3 q4_0.

// @ts-ignore: decorator
@inline function rowBytes(type: i32, width: i32): usize {
  return type == 0 ? <usize>width << 2 : type == 1 ? <usize>width << 1 : <usize>(width >> 5) * (type == 2 ? 34 : 18);
}

// @ts-ignore: decorator
@inline function blockBytes(type: i32): usize {
  return type == 2 ? 34 : 18;
}

/** C's roundf to int8 (ties away from zero; NaN -> 0 as x86's conversion gives), for |v| <= 127.5. */
// @ts-ignore: decorator
@inline function roundI8(v: f32): i32 {
  if (v != v) return 0;
  const d = <f64>v;
  return <i32>(d < 0 ? -Math.floor(-d + 0.5) : Math.floor(d + 0.5));
}

/** quantize_row_q8_0_ref of one 32-block at x (f32) into dst (34 bytes). */
function quantBlockQ8(x: usize, dst: usize): void {
  let amax: f32 = 0;
  for (let j = 0; j < 32; j++) {
    const a = Mathf.abs(load<f32>(x + (<usize>j << 2)));
    amax = amax > a ? amax : a; // ggml's MAX (NaN is replaced by the next element)
  }
  const d: f32 = amax / 127;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(dst, <u16>f32ToF16(d));
  for (let j = 0; j < 32; j++) store<i8>(dst + 2 + <usize>j, <i8>roundI8(load<f32>(x + (<usize>j << 2)) * id));
}

/** C's (int8_t)(x0 + 8.5f), then MIN(15, .) as a byte (NaN -> 0). */
// @ts-ignore: decorator
@inline function nibble(x: f32, id: f32): u32 {
  const y: f32 = x * id + <f32>8.5; // two f32 roundings, as the C code
  const v = y != y ? 0 : <i32><i8><i32>y;
  return <u32>min<i32>(15, v) & 0xff;
}

/** quantize_row_q4_0_ref of one 32-block at x (f32) into dst (18 bytes). */
function quantBlockQ4(x: usize, dst: usize): void {
  let amax: f32 = 0;
  let mx: f32 = 0;
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    if (amax < Mathf.abs(v)) {
      amax = Mathf.abs(v);
      mx = v;
    }
  }
  const d: f32 = mx / <f32>-8;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(dst, <u16>f32ToF16(d));
  for (let j = 0; j < 16; j++) {
    const lo = nibble(load<f32>(x + (<usize>j << 2)), id);
    const hi = nibble(load<f32>(x + (<usize>(j + 16) << 2)), id);
    store<u8>(dst + 2 + <usize>j, <u8>((lo | (hi << 4)) & 0xff));
  }
}

/**
 * Stores T rows of x [T, width] (f32) at positions pos0.. of one side (K or V) of a layer, as `type`. Returns 1
 * when an f16 value stored is inf or NaN (the caller then keeps P·V on the exact f16 widening), else 0.
 */
export function kvq_store(dst: usize, x: usize, T: i32, pos0: i32, width: i32, type: i32): i32 {
  const rb = rowBytes(type, width);
  let special: u32 = 0;
  for (let t = 0; t < T; t++) {
    const src = x + (<usize>(t * width) << 2);
    const row = dst + <usize>(pos0 + t) * rb;
    if (type == 0) memory.copy(row, src, rb);
    else if (type == 1) {
      for (let i = 0; i < width; i++) {
        const h = f32ToF16(load<f32>(src + (<usize>i << 2)));
        special |= <u32>((h & 0x7c00) == 0x7c00);
        store<u16>(row + (<usize>i << 1), <u16>h);
      }
    }
    else if (type == 2) for (let b = 0; b < width >> 5; b++) quantBlockQ8(src + (<usize>b << 7), row + <usize>b * 34);
    else for (let b = 0; b < width >> 5; b++) quantBlockQ4(src + (<usize>b << 7), row + <usize>b * 18);
  }
  return <i32>special;
}

// ---------------------------------------------------------------- Q·K on the integer dots

// @ts-ignore: decorator
@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** [hsum(a), hsum(b), hsum(c), hsum(d)] */
// @ts-ignore: decorator
@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/**
 * Scratch of one query group: per head h (qs = headScratch bytes apart) its q8_0 values at +0 (headDim bytes),
 * their negation at +headDim (relaxed build) or the values widened to i16 (SIMD build, 2 * headDim bytes); then,
 * after all heads, per block b and head h the f16-rounded scale dq at dqAt(b, h) (f32, heads padded to 4) and
 * the block's sum of q at dqAt(b, h) + sumOff (i32).
 */
// @ts-ignore: decorator
@inline function headScratch(headDim: i32): usize {
  return <usize>headDim * 3;
}

/** Quantizes one head row of Q (f32, headDim) into its scratch; aux/gp: the group's dq table and its head stride. */
function prepareQ(qRow: usize, headDim: i32, s: usize, aux: usize, h: i32, gp: i32, blk: usize): void {
  const nb = headDim >> 5;
  for (let b = 0; b < nb; b++) {
    quantBlockQ8(qRow + (<usize>b << 7), blk);
    const qv = s + (<usize>b << 5);
    memory.copy(qv, blk + 2, 32);
    let sum = 0;
    for (let j = 0; j < 32; j++) sum += <i32>load<i8>(qv + <usize>j);
    const at = aux + (<usize>(b * gp + h) << 2);
    store<f32>(at, f16ToF32(<u32>load<u16>(blk)));
    store<i32>(at + (<usize>(nb * gp) << 2), sum);
    const lo = v128.load(qv);
    const hi = v128.load(qv, 16);
    if (ASC_FEATURE_RELAXED_SIMD) {
      v128.store(s + <usize>headDim + (<usize>b << 5), i8x16.neg(lo));
      v128.store(s + <usize>headDim + (<usize>b << 5), i8x16.neg(hi), 16);
    } else {
      const w = s + <usize>headDim + (<usize>b << 6);
      v128.store(w, i16x8.extend_low_i8x16_s(lo));
      v128.store(w, i16x8.extend_high_i8x16_s(lo), 16);
      v128.store(w, i16x8.extend_low_i8x16_s(hi), 32);
      v128.store(w, i16x8.extend_high_i8x16_s(hi), 48);
    }
  }
}

/**
 * The i32x4 partial sums of a K block's integer dot with query block b of the head scratch at s (exact; their
 * lanes add up to the dot). q8_0: x0/x1 are |k| and m0/m1 the k < 0 masks (relaxed) or k widened lo/hi (SIMD,
 * x0..x3 as i16); q4_0: x0/x1 the nibbles of elements 0..15 / 16..31 (relaxed) or x0..x3 nibble - 8 as i16.
 * The relaxed q4_0 sums lack the -8 * sum(q) the caller subtracts.
 */
// @ts-ignore: decorator
@inline function blockDot(q8: bool, x0: v128, x1: v128, x2: v128, x3: v128, m0: v128, m1: v128, s: usize, headDim: i32, b: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const q = s + (<usize>b << 5);
    if (q8) {
      // sum q * k = sum (sign(k) q) * |k|: |k| <= 127 is a valid i7 operand (and |q| <= 127 negates safely)
      const nq = s + <usize>headDim + (<usize>b << 5);
      const a0 = v128.bitselect(v128.load(nq), v128.load(q), m0);
      const a1 = v128.bitselect(v128.load(nq, 16), v128.load(q, 16), m1);
      return i32x4.relaxed_dot_i8x16_i7x16_add_s(a1, x1, i32x4.relaxed_dot_i8x16_i7x16_add_s(a0, x0, i32x4.splat(0)));
    }
    // nibbles in [0, 15] are valid i7 operands
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(q, 16), x1, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(q), x0, i32x4.splat(0)));
  } else {
    const w = s + <usize>headDim + (<usize>b << 6);
    let acc = i32x4.dot_i16x8_s(x0, v128.load(w));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(x1, v128.load(w, 16)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(x2, v128.load(w, 32)));
    return i32x4.add(acc, i32x4.dot_i16x8_s(x3, v128.load(w, 48)));
  }
}

/**
 * Scores of query heads [h0, h0 + n) (n <= 4) of a group for key row kRow: per block in order, sumi exact,
 * sumf = fround(sumf + fround(sumi * fround(dk * dq))) in the lanes, then * scale; written to rows + h * stride.
 */
// @ts-ignore: decorator
@inline function scoreKey(q8: bool, kRow: usize, scratch: usize, aux: usize, gp: i32, h0: i32, n: i32, headDim: i32, j: i32, rows: usize, stride: usize, vscale: v128): void {
  const nb = headDim >> 5;
  const hs = headScratch(headDim);
  const bb: usize = q8 ? 34 : 18;
  const z = i32x4.splat(0);
  let sumf = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const kb = kRow + <usize>b * bb;
    let x0: v128, x1: v128, x2 = z, x3 = z, m0 = z, m1 = z;
    if (q8) {
      const k0 = v128.load(kb, 2);
      const k1 = v128.load(kb, 18);
      if (ASC_FEATURE_RELAXED_SIMD) {
        x0 = i8x16.abs(k0);
        x1 = i8x16.abs(k1);
        m0 = i8x16.lt_s(k0, z);
        m1 = i8x16.lt_s(k1, z);
      } else {
        x0 = i16x8.extend_low_i8x16_s(k0);
        x1 = i16x8.extend_high_i8x16_s(k0);
        x2 = i16x8.extend_low_i8x16_s(k1);
        x3 = i16x8.extend_high_i8x16_s(k1);
      }
    } else {
      const x = v128.load(kb, 2);
      const mask = i8x16.splat(0x0f);
      const lo = v128.and(x, mask); // elements 0..15
      const hi = v128.and(i16x8.shr_u(x, 4), mask); // elements 16..31
      if (ASC_FEATURE_RELAXED_SIMD) {
        x0 = lo;
        x1 = hi;
      } else {
        const e = i16x8.splat(8);
        x0 = i16x8.sub(i16x8.extend_low_i8x16_u(lo), e);
        x1 = i16x8.sub(i16x8.extend_high_i8x16_u(lo), e);
        x2 = i16x8.sub(i16x8.extend_low_i8x16_u(hi), e);
        x3 = i16x8.sub(i16x8.extend_high_i8x16_u(hi), e);
      }
    }
    const s0 = scratch + <usize>h0 * hs;
    const d0 = blockDot(q8, x0, x1, x2, x3, m0, m1, s0, headDim, b);
    const d1 = n > 1 ? blockDot(q8, x0, x1, x2, x3, m0, m1, s0 + hs, headDim, b) : z;
    const d2 = n > 2 ? blockDot(q8, x0, x1, x2, x3, m0, m1, s0 + 2 * hs, headDim, b) : z;
    const d3 = n > 3 ? blockDot(q8, x0, x1, x2, x3, m0, m1, s0 + 3 * hs, headDim, b) : z;
    let sumi = hsum4(d0, d1, d2, d3);
    const at = aux + (<usize>(b * gp + h0) << 2);
    if (!q8 && ASC_FEATURE_RELAXED_SIMD) sumi = i32x4.sub(sumi, i32x4.shl(v128.load(at + (<usize>(nb * gp) << 2)), 3));
    const dk = f32x4.splat(f16ToF32(<u32>load<u16>(kb)));
    sumf = f32x4.add(sumf, f32x4.mul(f32x4.convert_i32x4_s(sumi), f32x4.mul(dk, v128.load(at))));
  }
  const sc = f32x4.mul(sumf, vscale);
  const dst = rows + <usize>h0 * stride + (<usize>j << 2);
  store<f32>(dst, f32x4.extract_lane(sc, 0));
  if (n > 1) store<f32>(dst + stride, f32x4.extract_lane(sc, 1));
  if (n > 2) store<f32>(dst + 2 * stride, f32x4.extract_lane(sc, 2));
  if (n > 3) store<f32>(dst + 3 * stride, f32x4.extract_lane(sc, 3));
}

/**
 * Scores of query heads [h0, h0 + 4) for key row kRow of an f32 / f16 K (beside a quantized V): per head the
 * reference's float32 dot in dim order, four heads in the lanes; qT: the group's Q transposed [d][gp] (rounded
 * to f16 for an f16 K).
 */
// @ts-ignore: decorator
@inline function scoreKeyFloat(f16: bool, kRow: usize, qT: usize, gp: i32, h0: i32, n: i32, headDim: i32, j: i32, rows: usize, stride: usize, vscale: v128): void {
  let acc = f32x4.splat(0);
  const qs = <usize>gp << 2;
  let qp = qT + (<usize>h0 << 2);
  for (let d = 0; d < headDim; d += 4) {
    // four keys' dims widened at once (exactly), each splat in turn
    const k4 = f16 ? f16x4ToF32x4(i32x4.extend_low_i16x8_u(v128.load64_zero(kRow + (<usize>d << 1)))) : v128.load(kRow + (<usize>d << 2));
    acc = f32x4.add(acc, f32x4.mul(v128.load(qp), i32x4.shuffle(k4, k4, 0, 0, 0, 0)));
    acc = f32x4.add(acc, f32x4.mul(v128.load(qp + qs), i32x4.shuffle(k4, k4, 1, 1, 1, 1)));
    acc = f32x4.add(acc, f32x4.mul(v128.load(qp + 2 * qs), i32x4.shuffle(k4, k4, 2, 2, 2, 2)));
    acc = f32x4.add(acc, f32x4.mul(v128.load(qp + 3 * qs), i32x4.shuffle(k4, k4, 3, 3, 3, 3)));
    qp += 4 * qs;
  }
  const sc = f32x4.mul(acc, vscale);
  const dst = rows + <usize>h0 * stride + (<usize>j << 2);
  store<f32>(dst, f32x4.extract_lane(sc, 0));
  if (n > 1) store<f32>(dst + stride, f32x4.extract_lane(sc, 1));
  if (n > 2) store<f32>(dst + 2 * stride, f32x4.extract_lane(sc, 2));
  if (n > 3) store<f32>(dst + 3 * stride, f32x4.extract_lane(sc, 3));
}

/**
 * Pass 1 for a q8_0 / q4_0 K (kType 2 / 3), or an f32 / f16 K (0 / 1) beside a quantized V: scaled scores for items [i0, i1) of (query t, kv head g, chunk of
 * `chunk` positions) into probs[t * nHead + h][j] (rows `stride` bytes apart), each ggml's block dot:
 * sumf = fround(sumf + fround(sumi * fround(dk * dq))) over the head's blocks, times scale (four heads in the
 * lanes of one vector). Query t sits at pos0 + t and sees pos0 + t + 1 keys. scratch: kvqScratchBytes.
 */
export function kvq_scores(q: usize, kl: usize, kType: i32, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, T: i32, scale: f32, probs: usize, stride: i32, chunk: i32, i0: i32, i1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const gp = (group + 3) & ~3;
  const nb = headDim >> 5;
  const nChunks = (pos0 + T + chunk - 1) / chunk;
  const rb = rowBytes(kType, nHeadKv * headDim);
  const bb = blockBytes(kType);
  const hs = headScratch(headDim);
  const aux = scratch + <usize>group * hs;
  const blk = aux + (<usize>(2 * nb * gp) << 2);
  const st = <usize>stride;
  const vscale = f32x4.splat(scale);
  let lastTg = -1;
  for (let i = i0; i < i1; i++) {
    const tg = i / nChunks;
    const c = i % nChunks;
    const t = tg / nHeadKv;
    const g = tg % nHeadKv;
    const nVis = pos0 + t + 1;
    if (c * chunk >= nVis) continue;
    if (tg != lastTg) {
      if (kType >= 2) {
        for (let h = 0; h < group; h++) prepareQ(q + (<usize>((t * nHead + g * group + h) * headDim) << 2), headDim, scratch + <usize>h * hs, aux, h, gp, blk);
      } else {
        // Q transposed to [d][gp], rounded to f16 for an f16 K (as ggml converts src1 for the F16 matmul)
        for (let h = 0; h < group; h++) {
          const src = q + (<usize>((t * nHead + g * group + h) * headDim) << 2);
          for (let d = 0; d < headDim; d++) {
            const x = load<f32>(src + (<usize>d << 2));
            store<f32>(scratch + (<usize>(d * gp + h) << 2), kType == 1 ? roundF16(x) : x);
          }
        }
      }
      lastTg = tg;
    }
    const j1 = min<i32>(nVis, (c + 1) * chunk);
    const rows = probs + <usize>(t * nHead + g * group) * st;
    for (let j = c * chunk; j < j1; j++) {
      for (let h = 0; h < group; h += 4) {
        const n = min<i32>(4, group - h);
        if (kType == 2) scoreKey(true, kl + <usize>j * rb + <usize>(g * nb) * bb, scratch, aux, gp, h, n, headDim, j, rows, st, vscale);
        else if (kType == 3) scoreKey(false, kl + <usize>j * rb + <usize>(g * nb) * bb, scratch, aux, gp, h, n, headDim, j, rows, st, vscale);
        else if (kType == 1) scoreKeyFloat(true, kl + <usize>j * rb + (<usize>(g * headDim) << 1), scratch, gp, h, n, headDim, j, rows, st, vscale);
        else scoreKeyFloat(false, kl + <usize>j * rb + (<usize>(g * headDim) << 2), scratch, gp, h, n, headDim, j, rows, st, vscale);
      }
    }
  }
}

/** Scratch bytes kvq_scores needs per thread for a group of query heads (either kind of K). */
export function kvq_scratch_bytes(group: i32, headDim: i32): i32 {
  const gp = (group + 3) & ~3;
  return max<i32>(group * <i32>headScratch(headDim) + 2 * (headDim >> 5) * gp * 4 + 48, headDim * gp * 4);
}

// ---------------------------------------------------------------- P·V

// @ts-ignore: decorator
@inline function pvGroup(vType: i32, vl: usize, rb: usize, col: i32, pr: usize, st: usize, n: i32, nVis: i32, o: usize, os: usize): void {
  const fm = i32x4.splat(splatF16Mask);
  const fs = f32x4.splat(splatF16Scale);
  const e8 = i32x4.splat(8);
  const qo = <usize>((col & 31) & (vType == 3 ? 15 : 31)); // byte of the slice in its block
  const cb = <usize>(col >> 5) * (vType == 2 ? 34 : 18); // the slice's block in a row
  let a0 = f32x4.splat(0), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
  for (let j = 0; j < nVis; j++) {
    const row = vl + <usize>j * rb;
    let lo: v128, hi: v128;
    if (vType == 0) {
      lo = v128.load(row + (<usize>col << 2));
      hi = v128.load(row + (<usize>col << 2), 16);
    } else if (vType == 1 || vType == 4) {
      // 4: no inf / NaN stored, the fast widening; 1: the exact one
      const hv = v128.load(row + (<usize>col << 1));
      lo = vType == 4 ? f16x4Finite(i32x4.extend_low_i16x8_u(hv), fm, fs) : f16x4ToF32x4(i32x4.extend_low_i16x8_u(hv));
      hi = vType == 4 ? f16x4Finite(i32x4.extend_high_i16x8_u(hv), fm, fs) : f16x4ToF32x4(i32x4.extend_high_i16x8_u(hv));
    } else {
      const blk = row + cb;
      const d = f32x4.splat(f16ToF32(<u32>load<u16>(blk)));
      let w: v128;
      if (vType == 2) w = i16x8.extend_low_i8x16_s(v128.load64_zero(blk + 2 + qo));
      else {
        w = i16x8.extend_low_i8x16_u(v128.load64_zero(blk + 2 + qo));
        w = (col & 31) < 16 ? v128.and(w, i16x8.splat(0x0f)) : i16x8.shr_u(w, 4);
      }
      let wl = i32x4.extend_low_i16x8_s(w);
      let wh = i32x4.extend_high_i16x8_s(w);
      if (vType == 3) {
        wl = i32x4.sub(wl, e8);
        wh = i32x4.sub(wh, e8);
      }
      // q * d: a small integer times an f16 value, exact in f32 (the reference's fround(q * d))
      lo = f32x4.mul(f32x4.convert_i32x4_s(wl), d);
      hi = f32x4.mul(f32x4.convert_i32x4_s(wh), d);
    }
    const pj = pr + (<usize>j << 2);
    const p0 = v128.load32_splat(pj);
    a0 = f32x4.add(a0, f32x4.mul(p0, lo)); b0 = f32x4.add(b0, f32x4.mul(p0, hi));
    if (n > 1) {
      const p1 = v128.load32_splat(pj + st);
      a1 = f32x4.add(a1, f32x4.mul(p1, lo)); b1 = f32x4.add(b1, f32x4.mul(p1, hi));
    }
    if (n > 2) {
      const p2 = v128.load32_splat(pj + 2 * st);
      a2 = f32x4.add(a2, f32x4.mul(p2, lo)); b2 = f32x4.add(b2, f32x4.mul(p2, hi));
    }
    if (n > 3) {
      const p3 = v128.load32_splat(pj + 3 * st);
      a3 = f32x4.add(a3, f32x4.mul(p3, lo)); b3 = f32x4.add(b3, f32x4.mul(p3, hi));
    }
  }
  v128.store(o, a0); v128.store(o, b0, 16);
  if (n > 1) { v128.store(o + os, a1); v128.store(o + os, b1, 16); }
  if (n > 2) { v128.store(o + 2 * os, a2); v128.store(o + 2 * os, b2, 16); }
  if (n > 3) { v128.store(o + 3 * os, a3); v128.store(o + 3 * os, b3, 16); }
}

/**
 * Pass 3 for a cache with a q8_0 / q4_0 K: out[t][h][d] = sum over positions in order of fround(p * v), for items
 * [i0, i1) of (query t, kv head g, 8 dims); V of type vType (0 f32, 1 f16, 2 q8_0, 3 q4_0; 4: f16 known to hold
 * no inf / NaN, widened by the fast path).
 */
export function kvq_pv(probs: usize, stride: i32, vl: usize, vType: i32, out: usize, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, i0: i32, i1: i32): void {
  const group = nHead / nHeadKv;
  const slices = headDim >> 3;
  const perT = nHeadKv * slices;
  const rb = rowBytes(vType == 4 ? 1 : vType, nHeadKv * headDim);
  const st = <usize>stride;
  const os = <usize>headDim << 2;
  for (let i = i0; i < i1; i++) {
    const t = i / perT;
    const g = (i % perT) / slices;
    const d0 = (i % slices) << 3;
    const col = g * headDim + d0;
    const nVis = pos0 + t + 1;
    for (let h = 0; h < group; h += 4) {
      const n = min<i32>(4, group - h);
      const hh = g * group + h;
      const pr = probs + <usize>(t * nHead + hh) * st;
      const o = out + (<usize>((t * nHead + hh) * headDim + d0) << 2);
      if (vType == 0) pvGroup(0, vl, rb, col, pr, st, n, nVis, o, os);
      else if (vType == 1) pvGroup(1, vl, rb, col, pr, st, n, nVis, o, os);
      else if (vType == 4) pvGroup(4, vl, rb, col, pr, st, n, nVis, o, os);
      else if (vType == 2) pvGroup(2, vl, rb, col, pr, st, n, nVis, o, os);
      else pvGroup(3, vl, rb, col, pr, st, n, nVis, o, os);
    }
  }
}
