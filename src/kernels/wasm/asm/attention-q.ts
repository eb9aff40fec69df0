// AssemblyScript: the quantized KV cache of the WASM backend (q8_0 / q4_0 K, and V of any type beside it), the
// same arithmetic as kernels/ref/ops.ts attentionRef: rows stored as ggml's 32-element blocks (quantize_row_*_ref),
// Q quantized to q8_0 per head, Q·K as ggml's integer block dots (i32x4.dot_i16x8_s in the SIMD build; the relaxed
// build's i8 x i7 dot on |k| and sign-applied q, or on the q4_0 nibbles, which are in [0, 15]), P·V over the
// exactly dequantized values. Passes: kvq_scores, then attention.ts's attn_softmax, then kvq_pv.
import { f32ToF16, f16ToF32, f16x4ToF32x4 } from './half';

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

/** Stores T rows of x [T, width] (f32) at positions pos0.. of one side (K or V) of a layer, as `type`. */
export function kvq_store(dst: usize, x: usize, T: i32, pos0: i32, width: i32, type: i32): void {
  const rb = rowBytes(type, width);
  for (let t = 0; t < T; t++) {
    const src = x + (<usize>(t * width) << 2);
    const row = dst + <usize>(pos0 + t) * rb;
    if (type == 0) memory.copy(row, src, rb);
    else if (type == 1) for (let i = 0; i < width; i++) store<u16>(row + (<usize>i << 1), <u16>f32ToF16(load<f32>(src + (<usize>i << 2))));
    else if (type == 2) for (let b = 0; b < width >> 5; b++) quantBlockQ8(src + (<usize>b << 7), row + <usize>b * 34);
    else for (let b = 0; b < width >> 5; b++) quantBlockQ4(src + (<usize>b << 7), row + <usize>b * 18);
  }
}

// ---------------------------------------------------------------- Q·K on the integer dots

// @ts-ignore: decorator
@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/**
 * Scratch for one query head (qs bytes apart): its q8_0 blocks' int8 values at +0 (headDim bytes), their
 * negation at +headDim (relaxed build) or the values widened to i16 at +headDim (SIMD build, 2 * headDim
 * bytes), then per block the f16-rounded scale dq (f32) and the block's sum of q (i32).
 */
// @ts-ignore: decorator
@inline function headScratch(headDim: i32): usize {
  return <usize>headDim * 3 + <usize>(headDim >> 5) * 8;
}

/** Quantizes one head row of Q (f32, headDim) into its scratch (layout above); blk: 34 bytes of temporary. */
function prepareQ(qRow: usize, headDim: i32, s: usize, blk: usize): void {
  const nb = headDim >> 5;
  const aux = s + <usize>headDim * 3;
  for (let b = 0; b < nb; b++) {
    quantBlockQ8(qRow + (<usize>b << 7), blk);
    const qv = s + (<usize>b << 5);
    memory.copy(qv, blk + 2, 32);
    let sum = 0;
    for (let j = 0; j < 32; j++) sum += <i32>load<i8>(qv + <usize>j);
    store<f32>(aux + (<usize>b << 3), f16ToF32(<u32>load<u16>(blk)));
    store<i32>(aux + (<usize>b << 3), sum, 4);
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

/** Exact integer dot of a q8_0 K block's 32 values (at k) with query block b (scratch s). */
// @ts-ignore: decorator
@inline function dotQ8(k: usize, s: usize, headDim: i32, b: i32): i32 {
  const k0 = v128.load(k);
  const k1 = v128.load(k, 16);
  if (ASC_FEATURE_RELAXED_SIMD) {
    // sum q * k = sum (sign(k) q) * |k|: |k| <= 127 is a valid i7 operand (and |q| <= 127 negates safely)
    const q = s + (<usize>b << 5);
    const nq = s + <usize>headDim + (<usize>b << 5);
    const zero = i8x16.splat(0);
    const a0 = v128.bitselect(v128.load(nq), v128.load(q), i8x16.lt_s(k0, zero));
    const a1 = v128.bitselect(v128.load(nq, 16), v128.load(q, 16), i8x16.lt_s(k1, zero));
    const acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(a0, i8x16.abs(k0), i32x4.splat(0));
    return hsum(i32x4.relaxed_dot_i8x16_i7x16_add_s(a1, i8x16.abs(k1), acc));
  } else {
    const w = s + <usize>headDim + (<usize>b << 6);
    let acc = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(k0), v128.load(w));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(k0), v128.load(w, 16)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(k1), v128.load(w, 32)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(k1), v128.load(w, 48)));
    return hsum(acc);
  }
}

/** Exact integer dot sum((nibble - 8) * q) of a q4_0 K block's 16 bytes (at k) with query block b. */
// @ts-ignore: decorator
@inline function dotQ4(k: usize, s: usize, headDim: i32, b: i32): i32 {
  const x = v128.load(k);
  const m = i8x16.splat(0x0f);
  const lo = v128.and(x, m); // elements 0..15
  const hi = v128.and(i16x8.shr_u(x, 4), m); // elements 16..31
  if (ASC_FEATURE_RELAXED_SIMD) {
    // nibbles in [0, 15] are valid i7 operands: sum q * nibble - 8 * sum q
    const q = s + (<usize>b << 5);
    const acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(q), lo, i32x4.splat(0));
    const sum = load<i32>(s + <usize>headDim * 3 + (<usize>b << 3), 4);
    return hsum(i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(q, 16), hi, acc)) - 8 * sum;
  } else {
    const w = s + <usize>headDim + (<usize>b << 6);
    const e = i16x8.splat(8);
    let acc = i32x4.dot_i16x8_s(i16x8.sub(i16x8.extend_low_i8x16_u(lo), e), v128.load(w));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.sub(i16x8.extend_high_i8x16_u(lo), e), v128.load(w, 16)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.sub(i16x8.extend_low_i8x16_u(hi), e), v128.load(w, 32)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.sub(i16x8.extend_high_i8x16_u(hi), e), v128.load(w, 48)));
    return hsum(acc);
  }
}

/**
 * Pass 1 for a q8_0 / q4_0 K (kType 2 / 3): scaled scores for items [i0, i1) of (query t, kv head g, chunk of
 * `chunk` positions) into probs[t * nHead + h][j] (rows `stride` bytes apart), each ggml's block dot:
 * sumf = fround(sumf + fround(sumi * fround(dk * dq))) over the head's blocks, times scale. Query t sits at
 * pos0 + t and sees pos0 + t + 1 keys. scratch: group * headScratch(headDim) + 64 bytes for this thread.
 */
export function kvq_scores(q: usize, kl: usize, kType: i32, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, T: i32, scale: f32, probs: usize, stride: i32, chunk: i32, i0: i32, i1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const nb = headDim >> 5;
  const nChunks = (pos0 + T + chunk - 1) / chunk;
  const rb = rowBytes(kType, nHeadKv * headDim);
  const bb = blockBytes(kType);
  const hs = headScratch(headDim);
  const blk = scratch + <usize>group * hs;
  let lastTg = -1;
  for (let i = i0; i < i1; i++) {
    const tg = i / nChunks;
    const c = i % nChunks;
    const t = tg / nHeadKv;
    const g = tg % nHeadKv;
    const nVis = pos0 + t + 1;
    if (c * chunk >= nVis) continue;
    if (tg != lastTg) {
      for (let h = 0; h < group; h++) prepareQ(q + (<usize>((t * nHead + g * group + h) * headDim) << 2), headDim, scratch + <usize>h * hs, blk);
      lastTg = tg;
    }
    const j1 = min<i32>(nVis, (c + 1) * chunk);
    const rows = probs + <usize>(t * nHead + g * group) * <usize>stride;
    for (let j = c * chunk; j < j1; j++) {
      const kRow = kl + <usize>j * rb + <usize>(g * nb) * bb;
      for (let h = 0; h < group; h++) {
        const s = scratch + <usize>h * hs;
        const aux = s + <usize>headDim * 3;
        let sumf: f32 = 0;
        for (let b = 0; b < nb; b++) {
          const kb = kRow + <usize>b * bb;
          const sumi = kType == 2 ? dotQ8(kb + 2, s, headDim, b) : dotQ4(kb + 2, s, headDim, b);
          const dk = f16ToF32(<u32>load<u16>(kb));
          sumf += <f32>sumi * (dk * load<f32>(aux + (<usize>b << 3)));
        }
        store<f32>(rows + <usize>h * <usize>stride + (<usize>j << 2), sumf * scale);
      }
    }
  }
}

// ---------------------------------------------------------------- P·V

/** Values [d0, d0 + 8) of row j of a V side (type vType), as two f32x4 (lo, hi) through `tmp` (32 bytes). */
// @ts-ignore: decorator
@inline function loadV8(vl: usize, rb: usize, vType: i32, col: i32, j: i32, tmp: usize): void {
  const row = vl + <usize>j * rb;
  if (vType == 0) {
    const p = row + (<usize>col << 2);
    v128.store(tmp, v128.load(p));
    v128.store(tmp, v128.load(p, 16), 16);
  } else if (vType == 1) {
    const hv = v128.load(row + (<usize>col << 1));
    v128.store(tmp, f16x4ToF32x4(i32x4.extend_low_i16x8_u(hv)));
    v128.store(tmp, f16x4ToF32x4(i32x4.extend_high_i16x8_u(hv)), 16);
  } else {
    const b = col >> 5;
    const o = col & 31;
    const blk = row + <usize>b * blockBytes(vType);
    const d = f32x4.splat(f16ToF32(<u32>load<u16>(blk)));
    let w: v128;
    if (vType == 2) {
      w = i16x8.extend_low_i8x16_s(v128.load64_zero(blk + 2 + <usize>o));
    } else {
      const x = i16x8.extend_low_i8x16_u(v128.load64_zero(blk + 2 + <usize>(o & 15)));
      w = i16x8.sub(o < 16 ? v128.and(x, i16x8.splat(0x0f)) : i16x8.shr_u(x, 4), i16x8.splat(8));
    }
    // q * d: a small integer times an f16 value, exact in f32 (the reference's fround(q * d))
    v128.store(tmp, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w)), d));
    v128.store(tmp, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w)), d), 16);
  }
}

/**
 * Pass 3 for a cache with a q8_0 / q4_0 K: out[t][h][d] = sum over positions in order of fround(p * v), for items
 * [i0, i1) of (query t, kv head g, 8 dims); V of type vType (0 f32, 1 f16, 2 q8_0, 3 q4_0).
 */
export function kvq_pv(probs: usize, stride: i32, vl: usize, vType: i32, out: usize, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, i0: i32, i1: i32, tmp: usize): void {
  const group = nHead / nHeadKv;
  const slices = headDim >> 3;
  const perT = nHeadKv * slices;
  const rb = rowBytes(vType, nHeadKv * headDim);
  const st = <usize>stride;
  for (let i = i0; i < i1; i++) {
    const t = i / perT;
    const g = (i % perT) / slices;
    const d0 = (i % slices) << 3;
    const col = g * headDim + d0;
    const nVis = pos0 + t + 1;
    let h = 0;
    for (; h < group; h += 4) {
      const n = min<i32>(4, group - h);
      const hh = g * group + h;
      const pr = probs + <usize>(t * nHead + hh) * st;
      let a0 = f32x4.splat(0), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
      for (let j = 0; j < nVis; j++) {
        loadV8(vl, rb, vType, col, j, tmp);
        const lo = v128.load(tmp);
        const hi = v128.load(tmp, 16);
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
      const o = out + (<usize>((t * nHead + hh) * headDim + d0) << 2);
      const os = <usize>headDim << 2;
      v128.store(o, a0); v128.store(o, b0, 16);
      if (n > 1) { v128.store(o + os, a1); v128.store(o + os, b1, 16); }
      if (n > 2) { v128.store(o + 2 * os, a2); v128.store(o + 2 * os, b2, 16); }
      if (n > 3) { v128.store(o + 3 * os, a3); v128.store(o + 3 * os, b3, 16); }
    }
  }
}
