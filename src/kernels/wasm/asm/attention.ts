// AssemblyScript: the f16/f32 KV cache and attention of the WASM backend, the same float32 arithmetic as
// kernels/ref/ops.ts attentionRef: Q (and P when T == 1) rounded to f16 for an f16 cache, dots summed in
// index order, softmax as ggml (max, expf, float64 sum, 1/sum). Three passes over shared scores
// (attn_scores, attn_softmax, attn_pv) split by (query block, kv head, position chunk), score rows, and
// (query block, kv head, 32 dims), in which the query heads of a kv group share each K/V load and f16
// widening and the queries of a block share each K block and V chunk from L1; prompt batches and decode alike.
import { f32ToF16, f16x4ToF32x4, roundF16 } from './half';
import { expf, splatF16Mask } from './common';
import { LN2_HI, LN2_LO, LOG2E, P0, P1, P2, P3, P4, P5 } from './expf-poly';

// Layout per layer: K in blocks of 8 positions per kv head, [g][pos/8][d][8] (the 8 keys of a block and all
// their dims are contiguous, so scores for 8 keys load 16 bytes per dim); V in slabs of 32 dims per kv head,
// [g][d/32][pos][32] (P·V walks one slab's positions: 64 contiguous bytes per position in f16).
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
        const vOff = vl + ((<usize>(c >> 5) * <usize>nCtx + <usize>pos) * 32 + <usize>(c & 31)) * es;
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
// Mode 1 widens an f16 h to w = h * 2^-112 (its sign, exponent and mantissa moved into f32 place: three
// ops, exact, subnormal for f16 subnormals) and puts the 2^112 on the other factor instead: Q (scores) and P
// (P·V) arrive multiplied by 2^112, which is exact for them (|q| <= 65504 after f16 rounding, p <= 1), so
// each product (2^112 x) * w is the same real number as x * h and rounds to the reference's bits.

/** 2^112: the factor mode 1 moves from the widened f16 values to the other operand. */
const F16_WIDE: f32 = reinterpret<f32>(0x77800000);

// @ts-ignore: decorator
@inline function widenLo(hv: v128, mode: i32, fm: v128): v128 {
  return mode == 2 ? f16x4ToF32x4(i32x4.extend_low_i16x8_u(hv)) : v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(hv), 13), fm);
}
// @ts-ignore: decorator
@inline function widenHi(hv: v128, mode: i32, fm: v128): v128 {
  return mode == 2 ? f16x4ToF32x4(i32x4.extend_high_i16x8_u(hv)) : v128.and(i32x4.shl(i32x4.extend_high_i16x8_s(hv), 13), fm);
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
      lo = widenLo(hv, mode, fm);
      hi = widenHi(hv, mode, fm);
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
      lo = widenLo(hv, mode, fm);
      hi = widenHi(hv, mode, fm);
      p += 16;
    }
    const qd = v128.load32_splat(qh + (<usize>d << 2));
    a = f32x4.add(a, f32x4.mul(qd, lo));
    b = f32x4.add(b, f32x4.mul(qd, hi));
  }
  v128.store(dst, f32x4.mul(a, vscale));
  v128.store(dst, f32x4.mul(b, vscale), 16);
}

/**
 * Pass 1: scaled scores q·k for items [i0, i1) of (block of qBlock queries, kv head g, chunk of `chunk`
 * positions), written to probs[t * nHead + h][j] (rows `stride` bytes apart, whole blocks of 8, so a row
 * holds ceil(nVis/8)*8 floats). Query t sits at position pos0 + t and sees nVis = pos0 + t + 1 keys; blocks
 * past that are skipped. Each block of 8 keys (2 KB in f16 at head size 128) serves every query of the
 * item's block from L1, so a prompt streams K once per query block instead of once per query.
 * scratch: 4 * qBlock * group * headDim bytes for this thread (the block's query rows, f16-rounded).
 */
export function attn_scores(q: usize, kl: usize, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, T: i32, nCtx: i32, scale: f32, f16: bool, probs: usize, stride: i32, chunk: i32, qBlock: i32, i0: i32, i1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const nChunks = (pos0 + T + chunk - 1) / chunk;
  const mode = kvMode(kl, nHeadKv, headDim, nCtx, f16);
  const es: usize = f16 ? 2 : 4;
  const vscale = f32x4.splat(scale);
  const rowLen = group * headDim; // floats of one query's rows of a kv group
  const blockBytes = <usize>headDim * 8 * es;
  let lastTbg = -1;
  for (let i = i0; i < i1; i++) {
    const tbg = i / nChunks;
    const c = i % nChunks;
    const t0 = (tbg / nHeadKv) * qBlock;
    const t1 = min<i32>(t0 + qBlock, T);
    const g = tbg % nHeadKv;
    if (c * chunk >= pos0 + t1) continue; // past what the block's last query sees
    if (tbg != lastTbg) {
      // the block's query rows of this group, rounded to f16 for an f16 cache (as ggml converts src1 for
      // the F16 matmul), times 2^112 in mode 1
      for (let t = t0; t < t1; t++) {
        const src = q + (<usize>((t * nHead + g * group) * headDim) << 2);
        const dst = scratch + (<usize>((t - t0) * rowLen) << 2);
        for (let e = 0; e < rowLen; e++) {
          const v = load<f32>(src + (<usize>e << 2));
          store<f32>(dst + (<usize>e << 2), f16 ? (mode == 1 ? roundF16(v) * F16_WIDE : roundF16(v)) : v);
        }
      }
      lastTbg = tbg;
    }
    const b0 = (c * chunk) >> 3;
    const b1 = min<i32>((pos0 + t1 + 7) >> 3, ((c + 1) * chunk) >> 3);
    const kHead = kl + <usize>g * <usize>((nCtx + 7) >> 3) * blockBytes;
    if (mode == 0) scoreRange(kHead, scratch, t0, t1, pos0, g, nHead, group, headDim, 0, b0, b1, probs, <usize>stride, vscale);
    else if (mode == 1) scoreRange(kHead, scratch, t0, t1, pos0, g, nHead, group, headDim, 1, b0, b1, probs, <usize>stride, vscale);
    else scoreRange(kHead, scratch, t0, t1, pos0, g, nHead, group, headDim, 2, b0, b1, probs, <usize>stride, vscale);
  }
}

// @ts-ignore: decorator
@inline function scoreRange(kHead: usize, qs: usize, t0: i32, t1: i32, pos0: i32, g: i32, nHead: i32, group: i32, headDim: i32, mode: i32, b0: i32, b1: i32, probs: usize, stride: usize, vscale: v128): void {
  const blockBytes = <usize>headDim * (mode == 0 ? 32 : 16);
  const rowBytes = <usize>(group * headDim) << 2;
  for (let b = b0; b < b1; b++) {
    const kb = kHead + <usize>b * blockBytes;
    for (let t = t0; t < t1; t++) {
      if (b << 3 >= pos0 + t + 1) continue; // a block this query does not see
      const qh = qs + <usize>(t - t0) * rowBytes;
      const dst = probs + <usize>(t * nHead + g * group) * stride + (<usize>b << 5);
      let h = 0;
      for (; h + 4 <= group; h += 4) scoreBlock4(kb, qh + (<usize>(h * headDim) << 2), headDim, mode, dst + <usize>h * stride, stride, vscale);
      for (; h < group; h++) scoreBlock1(kb, qh + (<usize>(h * headDim) << 2), headDim, mode, dst + <usize>h * stride, vscale);
    }
  }
}

// ---------------------------------------------------------------- pass 2: softmax
// expf four lanes at a time, op for op common.ts expf (so every lane gets the scalar's bits); the lanes
// hold x = score - max <= 0 of finite scores, and the caller takes the scalar path for rows with inf/NaN.

// @ts-ignore: decorator
@inline function pow2x4(n: v128): v128 {
  return i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
}

/** expf of four lanes x <= 0 (or -inf): the scalar expf's result in each lane. */
// @ts-ignore: decorator
@inline function expx4(x: v128): v128 {
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  const r2 = f32x4.mul(r, r);
  let p = f32x4.splat(P0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1));
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const n1 = i32x4.max_s(i32x4.min_s(ni, i32x4.splat(127)), i32x4.splat(-126));
  const e = f32x4.mul(f32x4.mul(p, pow2x4(n1)), pow2x4(i32x4.sub(ni, n1)));
  // x < -103.97...: 0 (also -inf, whose lanes computed NaN)
  return v128.andnot(e, f32x4.lt(x, f32x4.splat(<f32>-103.97208404541016)));
}

/** roundF16 of four lanes p in [0, 1]: f16's round-to-nearest-even, subnormal quantum 2^-24 below 2^-14. */
// @ts-ignore: decorator
@inline function roundF16x4(p: v128): v128 {
  const bits = p;
  const odd = v128.and(i32x4.shr_u(bits, 13), i32x4.splat(1));
  const normal = v128.and(i32x4.add(i32x4.add(bits, i32x4.splat(0xfff)), odd), i32x4.splat(<i32>0xffffe000));
  const half = f32x4.splat(0.5);
  const sub = f32x4.sub(f32x4.add(p, half), half);
  return v128.bitselect(sub, normal, f32x4.lt(p, f32x4.splat(<f32>6.103515625e-5)));
}

/** One row's softmax the scalar way (rows with inf or NaN scores; bit for bit the reference). */
function softmaxRowScalar(row: usize, nVis: i32, roundP: bool, pscale: f32): void {
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
    store<f32>(row + (<usize>j << 2), (roundP ? roundF16(p) : p) * pscale);
  }
}

/** max over the row and e = expf(s - max) in place; returns max, or NaN/inf when the row needs the scalar path. */
function expRow(row: usize, nVis: i32): f32 {
  let vmax = f32x4.splat(-Infinity);
  const n4 = nVis & ~3;
  for (let j = 0; j < n4; j += 4) vmax = f32x4.max(vmax, v128.load(row + (<usize>j << 2)));
  let mx = max<f32>(max<f32>(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max<f32>(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
  for (let j = n4; j < nVis; j++) mx = max<f32>(mx, load<f32>(row + (<usize>j << 2)));
  if (!(mx - mx == 0)) return mx; // inf or NaN: the caller redoes the row the scalar way
  const vm = f32x4.splat(mx);
  for (let j = 0; j < n4; j += 4) {
    const a = row + (<usize>j << 2);
    v128.store(a, expx4(f32x4.sub(v128.load(a), vm)));
  }
  for (let j = n4; j < nVis; j++) {
    const a = row + (<usize>j << 2);
    store<f32>(a, expf(load<f32>(a) - mx));
  }
  return mx;
}

/** p = e * inv (rounded to f16 when roundP), times pscale (1, or 2^112 for mode 1's P·V), over the row, in place. */
function scaleRow(row: usize, nVis: i32, inv: f32, roundP: bool, pscale: f32): void {
  const vi = f32x4.splat(inv);
  const vs = f32x4.splat(pscale);
  const n4 = nVis & ~3;
  for (let j = 0; j < n4; j += 4) {
    const a = row + (<usize>j << 2);
    const p = f32x4.mul(v128.load(a), vi);
    v128.store(a, f32x4.mul(roundP ? roundF16x4(p) : p, vs));
  }
  for (let j = n4; j < nVis; j++) {
    const a = row + (<usize>j << 2);
    const p = load<f32>(a) * inv;
    store<f32>(a, (roundP ? roundF16(p) : p) * pscale);
  }
}

/**
 * Pass 2: softmax of probs rows [r0, r1) (row r = t * nHead + h, over its pos0 + t + 1 scores), in place;
 * P rounded to f16 when `roundP` (single-token decode with an f16 cache, as ggml). max and expf run four
 * lanes at a time (both exact in any order); each row's float64 sum runs in index order as the reference's,
 * four rows' sums interleaved so the additions' latency overlaps. pscale: 2^112 when P·V runs in mode 1, else 1.
 */
export function attn_softmax(probs: usize, stride: i32, nHead: i32, pos0: i32, roundP: bool, pscale: f32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r += 4) {
    const nr = min<i32>(4, r1 - r);
    const row0 = probs + <usize>r * <usize>stride;
    const row1 = row0 + <usize>stride;
    const row2 = row1 + <usize>stride;
    const row3 = row2 + <usize>stride;
    // rows of one query see the same keys; a group may straddle two queries
    const n0 = pos0 + r / nHead + 1;
    const n1 = nr > 1 ? pos0 + (r + 1) / nHead + 1 : 0;
    const n2 = nr > 2 ? pos0 + (r + 2) / nHead + 1 : 0;
    const n3 = nr > 3 ? pos0 + (r + 3) / nHead + 1 : 0;
    // a row with an inf or NaN score: its own scalar pass, and no sum here (n = 0)
    let m0 = n0, m1 = n1, m2 = n2, m3 = n3;
    const x0 = expRow(row0, n0);
    if (!(x0 - x0 == 0)) { softmaxRowScalar(row0, n0, roundP, pscale); m0 = 0; }
    if (nr > 1) { const x = expRow(row1, n1); if (!(x - x == 0)) { softmaxRowScalar(row1, n1, roundP, pscale); m1 = 0; } }
    if (nr > 2) { const x = expRow(row2, n2); if (!(x - x == 0)) { softmaxRowScalar(row2, n2, roundP, pscale); m2 = 0; } }
    if (nr > 3) { const x = expRow(row3, n3); if (!(x - x == 0)) { softmaxRowScalar(row3, n3, roundP, pscale); m3 = 0; } }
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
    const common = min<i32>(min<i32>(m0, nr > 1 ? m1 : m0), min<i32>(nr > 2 ? m2 : m0, nr > 3 ? m3 : m0));
    let j = 0;
    if (nr == 4) {
      for (; j < common; j++) {
        const o = <usize>j << 2;
        s0 += <f64>load<f32>(row0 + o);
        s1 += <f64>load<f32>(row1 + o);
        s2 += <f64>load<f32>(row2 + o);
        s3 += <f64>load<f32>(row3 + o);
      }
    }
    for (let i = j; i < m0; i++) s0 += <f64>load<f32>(row0 + (<usize>i << 2));
    for (let i = j; i < m1; i++) s1 += <f64>load<f32>(row1 + (<usize>i << 2));
    for (let i = j; i < m2; i++) s2 += <f64>load<f32>(row2 + (<usize>i << 2));
    for (let i = j; i < m3; i++) s3 += <f64>load<f32>(row3 + (<usize>i << 2));
    if (m0 > 0) scaleRow(row0, m0, <f32>(1.0 / s0), roundP, pscale);
    if (m1 > 0) scaleRow(row1, m1, <f32>(1.0 / s1), roundP, pscale);
    if (m2 > 0) scaleRow(row2, m2, <f32>(1.0 / s2), roundP, pscale);
    if (m3 > 0) scaleRow(row3, m3, <f32>(1.0 / s3), roundP, pscale);
  }
}

// ---------------------------------------------------------------- pass 3: P·V
// Items are (block of queries, kv head, 32-dim slab: 64 bytes per position in f16). An item walks the keys
// in chunks of PV_CHUNK positions; for each chunk it runs every query of its block and the four 8-dim
// slices of its 32 dims, so the chunk's V lines (PV_CHUNK lines, 16 KB in f16) come from memory once and
// are reused from L1. Each output lane still adds its keys in index order (the accumulators wait in `out`
// between chunks), so the sums are the reference's.

const PV_CHUNK = 256;

/** acc[4 heads][8 dims] (from `o`, or zero when first) += P[j] V[j] for keys [j0, j1), stored back to `o`. */
// @ts-ignore: decorator
@inline function pvRange4(vp: usize, vStride: usize, pr: usize, stride: usize, j0: i32, j1: i32, mode: i32, o: usize, headDim: i32, first: bool): void {
  const fm = i32x4.splat(splatF16Mask);
  const os = <usize>headDim << 2;
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  if (!first) {
    a0 = v128.load(o); b0 = v128.load(o, 16);
    a1 = v128.load(o + os); b1 = v128.load(o + os, 16);
    a2 = v128.load(o + 2 * os); b2 = v128.load(o + 2 * os, 16);
    a3 = v128.load(o + 3 * os); b3 = v128.load(o + 3 * os, 16);
  }
  let p = vp + <usize>j0 * vStride;
  let pj = pr + (<usize>j0 << 2);
  for (let j = j0; j < j1; j++) {
    let lo: v128, hi: v128;
    if (mode == 0) {
      lo = v128.load(p);
      hi = v128.load(p, 16);
    } else {
      const hv = v128.load(p);
      lo = widenLo(hv, mode, fm);
      hi = widenHi(hv, mode, fm);
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
  v128.store(o, a0); v128.store(o, b0, 16);
  v128.store(o + os, a1); v128.store(o + os, b1, 16);
  v128.store(o + 2 * os, a2); v128.store(o + 2 * os, b2, 16);
  v128.store(o + 3 * os, a3); v128.store(o + 3 * os, b3, 16);
}

/** The same for one head. */
// @ts-ignore: decorator
@inline function pvRange1(vp: usize, vStride: usize, pr: usize, j0: i32, j1: i32, mode: i32, o: usize, first: bool): void {
  const fm = i32x4.splat(splatF16Mask);
  let a = f32x4.splat(0), b = f32x4.splat(0);
  if (!first) {
    a = v128.load(o);
    b = v128.load(o, 16);
  }
  let p = vp + <usize>j0 * vStride;
  let pj = pr + (<usize>j0 << 2);
  for (let j = j0; j < j1; j++) {
    let lo: v128, hi: v128;
    if (mode == 0) {
      lo = v128.load(p);
      hi = v128.load(p, 16);
    } else {
      const hv = v128.load(p);
      lo = widenLo(hv, mode, fm);
      hi = widenHi(hv, mode, fm);
    }
    const pv = v128.load32_splat(pj);
    a = f32x4.add(a, f32x4.mul(pv, lo));
    b = f32x4.add(b, f32x4.mul(pv, hi));
    p += vStride;
    pj += 4;
  }
  v128.store(o, a);
  v128.store(o, b, 16);
}

/** One item in one mode: queries [t0, t1), kv head g, dims [d0, d0 + 32). */
// @ts-ignore: decorator
@inline function pvItem(vl: usize, probs: usize, stride: usize, out: usize, t0: i32, t1: i32, g: i32, d0: i32, nHead: i32, group: i32, headDim: i32, nCtx: i32, pos0: i32, mode: i32): void {
  const es: usize = mode == 0 ? 4 : 2;
  const vStride = 32 * es;
  const slab = vl + <usize>((g * headDim + d0) >> 5) * <usize>nCtx * vStride;
  const nMax = pos0 + t1; // keys the block's last query sees
  for (let c0 = 0; c0 < nMax; c0 += PV_CHUNK) {
    const first = c0 == 0;
    for (let t = t0; t < t1; t++) {
      const nVis = pos0 + t + 1;
      if (c0 >= nVis) continue;
      const c1 = min<i32>(c0 + PV_CHUNK, nVis);
      const pt = probs + <usize>(t * nHead) * stride;
      const ot = out + (<usize>(t * nHead * headDim) << 2);
      for (let s = 0; s < 32; s += 8) {
        const vp = slab + <usize>s * es;
        let h = 0;
        for (; h + 4 <= group; h += 4) {
          const hh = g * group + h;
          pvRange4(vp, vStride, pt + <usize>hh * stride, stride, c0, c1, mode, ot + (<usize>(hh * headDim + d0 + s) << 2), headDim, first);
        }
        for (; h < group; h++) {
          const hh = g * group + h;
          pvRange1(vp, vStride, pt + <usize>hh * stride, c0, c1, mode, ot + (<usize>(hh * headDim + d0 + s) << 2), first);
        }
      }
    }
  }
}

/**
 * Pass 3: out[t][h][d] = sum over positions of P·V, for items [i0, i1) of (block of qBlock queries, kv head,
 * 32 dims); T queries at positions pos0.. (headDim a multiple of 32).
 */
export function attn_pv(probs: usize, stride: i32, kl: usize, vl: usize, out: usize, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, nCtx: i32, f16: bool, T: i32, qBlock: i32, i0: i32, i1: i32): void {
  const group = nHead / nHeadKv;
  const slabs = headDim >> 5;
  const perBlock = nHeadKv * slabs;
  const mode = kvMode(kl, nHeadKv, headDim, nCtx, f16);
  for (let i = i0; i < i1; i++) {
    const t0 = (i / perBlock) * qBlock;
    const t1 = min<i32>(t0 + qBlock, T);
    const g = (i % perBlock) / slabs;
    const d0 = (i % slabs) << 5;
    if (mode == 0) pvItem(vl, probs, <usize>stride, out, t0, t1, g, d0, nHead, group, headDim, nCtx, pos0, 0);
    else if (mode == 1) pvItem(vl, probs, <usize>stride, out, t0, t1, g, d0, nHead, group, headDim, nCtx, pos0, 1);
    else pvItem(vl, probs, <usize>stride, out, t0, t1, g, d0, nHead, group, headDim, nCtx, pos0, 2);
  }
}
