// AssemblyScript: the f16/f32 KV cache and attention of the WASM backend, the same float32 arithmetic as
// kernels/ref/ops.ts attentionRef: Q (and P when T == 1) rounded to f16 for an f16 cache, dots summed in
// index order, softmax as ggml (max, expf, float64 sum, 1/sum). Three passes over shared scores
// (attn_scores, attn_softmax, attn_pv) split by query, kv head and position chunk / dims, in which the
// query heads of a kv group share each K/V load and f16 widening; prompt batches and decode alike.
import { f32ToF16, f16x4ToF32x4, f16x4Finite, roundF16 } from './half';
import { expf, splatF16Mask, splatF16Scale } from './common';

// Layout per layer: K in blocks of 8 positions per kv head, [g][pos/8][d][8] (the 8 keys of a block and all
// their dims are contiguous, so scores for 8 keys load 16 bytes per dim); V as rows [pos][g*headDim + d].
// Elements are f16 bits (u16) or f32. kvBlocks = ceil(nCtx / 8). After K comes one u32 flag, set once any
// stored f16 is inf or NaN: until then the widening skips the exact slow path.

/** Byte offset of a layer's inf/NaN flag: right after its K blocks. */
// @ts-ignore: decorator
@inline function kvFlag(kl: usize, nHeadKv: i32, headDim: i32, nCtx: i32, es: usize): usize {
  return kl + <usize>nHeadKv * <usize>((nCtx + 7) >> 3) * <usize>headDim * 8 * es;
}

export function kv_store(kl: usize, vl: usize, k: usize, v: usize, T: i32, pos0: i32, nHeadKv: i32, headDim: i32, nCtx: i32, f16: bool): void {
  const width = nHeadKv * headDim;
  const es: usize = f16 ? 2 : 4;
  const nb = <usize>((nCtx + 7) >> 3);
  let special: u32 = 0;
  for (let t = 0; t < T; t++) {
    const pos = pos0 + t;
    const blk = <usize>(pos >> 3);
    const lane = <usize>(pos & 7);
    for (let g = 0; g < nHeadKv; g++) {
      const kBase = kl + ((<usize>g * nb + blk) * <usize>headDim * 8 + lane) * es;
      for (let d = 0; d < headDim; d++) {
        const c = g * headDim + d;
        const kv = load<f32>(k + (<usize>(t * width + c) << 2));
        const vv = load<f32>(v + (<usize>(t * width + c) << 2));
        const vOff = vl + (<usize>pos * <usize>width + <usize>c) * es;
        if (f16) {
          const kh = f32ToF16(kv);
          const vh = f32ToF16(vv);
          special |= <u32>((kh & 0x7c00) == 0x7c00) | <u32>((vh & 0x7c00) == 0x7c00);
          store<u16>(kBase + (<usize>d << 4), <u16>kh);
          store<u16>(vOff, <u16>vh);
        } else {
          store<f32>(kBase + (<usize>d << 5), kv);
          store<f32>(vOff, vv);
        }
      }
    }
  }
  if (special) store<u32>(kvFlag(kl, nHeadKv, headDim, nCtx, es), 1);
}

// ---------------------------------------------------------------- attention passes
// mode: 0 = f32 cache, 1 = f16 cache with finite values only (fast widening), 2 = f16 cache with inf/NaN.
// Every helper is inlined with a constant mode, so each mode gets its own loop.

// @ts-ignore: decorator
@inline function widenLo(hv: v128, mode: i32, fm: v128, fs: v128): v128 {
  return mode == 2 ? f16x4ToF32x4(i32x4.extend_low_i16x8_u(hv)) : f16x4Finite(i32x4.extend_low_i16x8_u(hv), fm, fs);
}
// @ts-ignore: decorator
@inline function widenHi(hv: v128, mode: i32, fm: v128, fs: v128): v128 {
  return mode == 2 ? f16x4ToF32x4(i32x4.extend_high_i16x8_u(hv)) : f16x4Finite(i32x4.extend_high_i16x8_u(hv), fm, fs);
}

/** Cache mode of a layer: f32, or f16 with or without an inf/NaN stored so far. */
// @ts-ignore: decorator
@inline function kvMode(kl: usize, nHeadKv: i32, headDim: i32, nCtx: i32, f16: bool): i32 {
  if (!f16) return 0;
  return load<u32>(kvFlag(kl, nHeadKv, headDim, nCtx, 2)) != 0 ? 2 : 1;
}

/** Scores of 4 query heads (f16-rounded q rows at qh, headDim apart) for the 8 keys of one block. */
// @ts-ignore: decorator
@inline function scoreBlock4(kb: usize, qh: usize, headDim: i32, mode: i32, dst: usize, stride: usize, vscale: v128): void {
  const fm = i32x4.splat(splatF16Mask);
  const fs = f32x4.splat(splatF16Scale);
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  const qs = <usize>headDim << 2;
  let p = kb;
  let qp = qh;
  for (let d = 0; d < headDim; d++) {
    let lo: v128, hi: v128;
    if (mode == 0) {
      lo = v128.load(p);
      hi = v128.load(p, 16);
      p += 32;
    } else {
      const hv = v128.load(p);
      lo = widenLo(hv, mode, fm, fs);
      hi = widenHi(hv, mode, fm, fs);
      p += 16;
    }
    const q0 = v128.load32_splat(qp);
    const q1 = v128.load32_splat(qp + qs);
    const q2 = v128.load32_splat(qp + 2 * qs);
    const q3 = v128.load32_splat(qp + 3 * qs);
    a0 = f32x4.add(a0, f32x4.mul(q0, lo)); b0 = f32x4.add(b0, f32x4.mul(q0, hi));
    a1 = f32x4.add(a1, f32x4.mul(q1, lo)); b1 = f32x4.add(b1, f32x4.mul(q1, hi));
    a2 = f32x4.add(a2, f32x4.mul(q2, lo)); b2 = f32x4.add(b2, f32x4.mul(q2, hi));
    a3 = f32x4.add(a3, f32x4.mul(q3, lo)); b3 = f32x4.add(b3, f32x4.mul(q3, hi));
    qp += 4;
  }
  v128.store(dst, f32x4.mul(a0, vscale)); v128.store(dst, f32x4.mul(b0, vscale), 16);
  v128.store(dst + stride, f32x4.mul(a1, vscale)); v128.store(dst + stride, f32x4.mul(b1, vscale), 16);
  v128.store(dst + 2 * stride, f32x4.mul(a2, vscale)); v128.store(dst + 2 * stride, f32x4.mul(b2, vscale), 16);
  v128.store(dst + 3 * stride, f32x4.mul(a3, vscale)); v128.store(dst + 3 * stride, f32x4.mul(b3, vscale), 16);
}

/** Scores of one query head for the 8 keys of one block. */
// @ts-ignore: decorator
@inline function scoreBlock1(kb: usize, qh: usize, headDim: i32, mode: i32, dst: usize, vscale: v128): void {
  const fm = i32x4.splat(splatF16Mask);
  const fs = f32x4.splat(splatF16Scale);
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let p = kb;
  for (let d = 0; d < headDim; d++) {
    let lo: v128, hi: v128;
    if (mode == 0) {
      lo = v128.load(p);
      hi = v128.load(p, 16);
      p += 32;
    } else {
      const hv = v128.load(p);
      lo = widenLo(hv, mode, fm, fs);
      hi = widenHi(hv, mode, fm, fs);
      p += 16;
    }
    const qd = v128.load32_splat(qh + (<usize>d << 2));
    a = f32x4.add(a, f32x4.mul(qd, lo));
    b = f32x4.add(b, f32x4.mul(qd, hi));
  }
  v128.store(dst, f32x4.mul(a, vscale));
  v128.store(dst, f32x4.mul(b, vscale), 16);
}

// @ts-ignore: decorator
@inline function scoreRange(kHead: usize, qh: usize, group: i32, headDim: i32, mode: i32, b0: i32, b1: i32, probs: usize, stride: usize, vscale: v128): void {
  const blockBytes = <usize>headDim * (mode == 0 ? 32 : 16);
  for (let b = b0; b < b1; b++) {
    const kb = kHead + <usize>b * blockBytes;
    const dst = probs + (<usize>b << 5);
    let h = 0;
    for (; h + 4 <= group; h += 4) scoreBlock4(kb, qh + (<usize>(h * headDim) << 2), headDim, mode, dst + <usize>h * stride, stride, vscale);
    for (; h < group; h++) scoreBlock1(kb, qh + (<usize>(h * headDim) << 2), headDim, mode, dst + <usize>h * stride, vscale);
  }
}

/**
 * Pass 1: scaled scores q·k for items [i0, i1) of (query t, kv head g, chunk of `chunk` positions), written to
 * probs[t * nHead + h][j] (rows `stride` bytes apart, whole blocks of 8, so a row holds ceil(nVis/8)*8 floats).
 * Query t sits at position pos0 + t and sees nVis = pos0 + t + 1 keys; chunks past that are skipped.
 * scratch: 4 * group * headDim bytes for this thread.
 */
export function attn_scores(q: usize, kl: usize, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, T: i32, nCtx: i32, scale: f32, f16: bool, probs: usize, stride: i32, chunk: i32, i0: i32, i1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const nChunks = (pos0 + T + chunk - 1) / chunk;
  const mode = kvMode(kl, nHeadKv, headDim, nCtx, f16);
  const es: usize = f16 ? 2 : 4;
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
      // this group's query rows, rounded to f16 for an f16 cache (as ggml converts src1 for the F16 matmul)
      const n = group * headDim;
      const src = q + (<usize>((t * nHead + g * group) * headDim) << 2);
      for (let e = 0; e < n; e++) {
        const v = load<f32>(src + (<usize>e << 2));
        store<f32>(scratch + (<usize>e << 2), f16 ? roundF16(v) : v);
      }
      lastTg = tg;
    }
    const b0 = (c * chunk) >> 3;
    const b1 = min<i32>((nVis + 7) >> 3, ((c + 1) * chunk) >> 3);
    const kHead = kl + <usize>g * <usize>((nCtx + 7) >> 3) * <usize>headDim * 8 * es;
    const rows = probs + <usize>(t * nHead + g * group) * <usize>stride;
    if (mode == 0) scoreRange(kHead, scratch, group, headDim, 0, b0, b1, rows, <usize>stride, vscale);
    else if (mode == 1) scoreRange(kHead, scratch, group, headDim, 1, b0, b1, rows, <usize>stride, vscale);
    else scoreRange(kHead, scratch, group, headDim, 2, b0, b1, rows, <usize>stride, vscale);
  }
}

/**
 * Pass 2: softmax of probs rows [r0, r1) (row r = t * nHead + h, over its pos0 + t + 1 scores), in place;
 * P rounded to f16 when `roundP` (single-token decode with an f16 cache, as ggml).
 */
export function attn_softmax(probs: usize, stride: i32, nHead: i32, pos0: i32, roundP: bool, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const row = probs + <usize>r * <usize>stride;
    const nVis = pos0 + r / nHead + 1;
    let mx: f32 = -Infinity;
    for (let j = 0; j < nVis; j++) mx = max<f32>(mx, load<f32>(row + (<usize>j << 2)));
    let sum: f64 = 0;
    for (let j = 0; j < nVis; j++) {
      const e = expf(load<f32>(row + (<usize>j << 2)) - mx);
      store<f32>(row + (<usize>j << 2), e);
      sum += <f64>e;
    }
    const inv = <f32>(1.0 / sum);
    for (let j = 0; j < nVis; j++) {
      const p = load<f32>(row + (<usize>j << 2)) * inv;
      store<f32>(row + (<usize>j << 2), roundP ? roundF16(p) : p);
    }
  }
}

// @ts-ignore: decorator
@inline function pvRange4(vp: usize, vStride: usize, pr: usize, stride: usize, nVis: i32, mode: i32, o: usize, headDim: i32): void {
  const fm = i32x4.splat(splatF16Mask);
  const fs = f32x4.splat(splatF16Scale);
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  let p = vp;
  let pj = pr;
  for (let j = 0; j < nVis; j++) {
    let lo: v128, hi: v128;
    if (mode == 0) {
      lo = v128.load(p);
      hi = v128.load(p, 16);
    } else {
      const hv = v128.load(p);
      lo = widenLo(hv, mode, fm, fs);
      hi = widenHi(hv, mode, fm, fs);
    }
    const p0 = v128.load32_splat(pj);
    const p1 = v128.load32_splat(pj + stride);
    const p2 = v128.load32_splat(pj + 2 * stride);
    const p3 = v128.load32_splat(pj + 3 * stride);
    a0 = f32x4.add(a0, f32x4.mul(p0, lo)); b0 = f32x4.add(b0, f32x4.mul(p0, hi));
    a1 = f32x4.add(a1, f32x4.mul(p1, lo)); b1 = f32x4.add(b1, f32x4.mul(p1, hi));
    a2 = f32x4.add(a2, f32x4.mul(p2, lo)); b2 = f32x4.add(b2, f32x4.mul(p2, hi));
    a3 = f32x4.add(a3, f32x4.mul(p3, lo)); b3 = f32x4.add(b3, f32x4.mul(p3, hi));
    p += vStride;
    pj += 4;
  }
  const os = <usize>headDim << 2;
  v128.store(o, a0); v128.store(o, b0, 16);
  v128.store(o + os, a1); v128.store(o + os, b1, 16);
  v128.store(o + 2 * os, a2); v128.store(o + 2 * os, b2, 16);
  v128.store(o + 3 * os, a3); v128.store(o + 3 * os, b3, 16);
}

// @ts-ignore: decorator
@inline function pvRange1(vp: usize, vStride: usize, pr: usize, nVis: i32, mode: i32, o: usize): void {
  const fm = i32x4.splat(splatF16Mask);
  const fs = f32x4.splat(splatF16Scale);
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let p = vp;
  for (let j = 0; j < nVis; j++) {
    let lo: v128, hi: v128;
    if (mode == 0) {
      lo = v128.load(p);
      hi = v128.load(p, 16);
    } else {
      const hv = v128.load(p);
      lo = widenLo(hv, mode, fm, fs);
      hi = widenHi(hv, mode, fm, fs);
    }
    const pv = v128.load32_splat(pr + (<usize>j << 2));
    a = f32x4.add(a, f32x4.mul(pv, lo));
    b = f32x4.add(b, f32x4.mul(pv, hi));
    p += vStride;
  }
  v128.store(o, a);
  v128.store(o, b, 16);
}

// @ts-ignore: decorator
@inline function pvItem(vl: usize, probs: usize, stride: usize, out: usize, g: i32, d0: i32, group: i32, headDim: i32, width: i32, nVis: i32, mode: i32): void {
  const es: usize = mode == 0 ? 4 : 2;
  const vp = vl + <usize>(g * headDim + d0) * es;
  const vStride = <usize>width * es;
  let h = 0;
  for (; h + 4 <= group; h += 4) {
    const hh = g * group + h;
    pvRange4(vp, vStride, probs + <usize>hh * stride, stride, nVis, mode, out + (<usize>(hh * headDim + d0) << 2), headDim);
  }
  for (; h < group; h++) {
    const hh = g * group + h;
    pvRange1(vp, vStride, probs + <usize>hh * stride, nVis, mode, out + (<usize>(hh * headDim + d0) << 2));
  }
}

/** Pass 3: out[t][h][d] = sum over positions of P·V, for items [i0, i1) of (query t, kv head g, 8 dims), positions in order. */
export function attn_pv(probs: usize, stride: i32, kl: usize, vl: usize, out: usize, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, nCtx: i32, f16: bool, i0: i32, i1: i32): void {
  const group = nHead / nHeadKv;
  const width = nHeadKv * headDim;
  const slices = headDim >> 3;
  const perT = nHeadKv * slices;
  const mode = kvMode(kl, nHeadKv, headDim, nCtx, f16);
  for (let i = i0; i < i1; i++) {
    const t = i / perT;
    const g = (i % perT) / slices;
    const d0 = (i % slices) << 3;
    const nVis = pos0 + t + 1;
    const pt = probs + <usize>(t * nHead) * <usize>stride;
    const ot = out + (<usize>(t * nHead * headDim) << 2);
    if (mode == 0) pvItem(vl, pt, <usize>stride, ot, g, d0, group, headDim, width, nVis, 0);
    else if (mode == 1) pvItem(vl, pt, <usize>stride, ot, g, d0, group, headDim, width, nVis, 1);
    else pvItem(vl, pt, <usize>stride, ot, g, d0, group, headDim, width, nVis, 2);
  }
}
