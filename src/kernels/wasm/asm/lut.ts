// AssemblyScript: the table-lookup (LUT, T-MAC / TL1 style) ternary kernels, shared by both builds. Weights
// are repacked from I2_S into tiles of 16 rows: vector v of a tile holds, in byte j, row j's I2_S byte v, whose
// low nibble indexes the pair (96+p, 64+p) and high nibble the pair (32+p, p) of block v/32 (p = v%32). Per
// token, four 16-entry tables per vector (signed-nibble split of q: q = 16h + l) give each pair's exact sum.
// Twin of kernels/ref/ternary-lut.ts; i8x16.relaxed_swizzle (plain pshufb) in the relaxed build.

// splat constants (see common.ts): written only by the host, so they stay runtime values in registers
export let splatLutNibble: i32 = 15;
export let splatLutOne: i32 = 1;
export let splatLutZeroIdx: i32 = 0x55;

// @ts-ignore: decorator
@inline function swz(table: v128, idx: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, idx);
  return i8x16.swizzle(table, idx);
}

// @ts-ignore: decorator
@inline function lo8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
// @ts-ignore: decorator
@inline function hi8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/** One interleave round of the 16x16 byte transpose (four rounds transpose), in place on 16 locals. */
// @ts-ignore: decorator
@inline function round16(buf: usize): void {
  // on a 256-byte scratch: out[2i] = lo8(in[i], in[i+8]), out[2i+1] = hi8(in[i], in[i+8])
  const a0 = v128.load(buf), a1 = v128.load(buf, 16), a2 = v128.load(buf, 32), a3 = v128.load(buf, 48);
  const a4 = v128.load(buf, 64), a5 = v128.load(buf, 80), a6 = v128.load(buf, 96), a7 = v128.load(buf, 112);
  const b0 = v128.load(buf, 128), b1 = v128.load(buf, 144), b2 = v128.load(buf, 160), b3 = v128.load(buf, 176);
  const b4 = v128.load(buf, 192), b5 = v128.load(buf, 208), b6 = v128.load(buf, 224), b7 = v128.load(buf, 240);
  v128.store(buf, lo8(a0, b0)); v128.store(buf, hi8(a0, b0), 16);
  v128.store(buf, lo8(a1, b1), 32); v128.store(buf, hi8(a1, b1), 48);
  v128.store(buf, lo8(a2, b2), 64); v128.store(buf, hi8(a2, b2), 80);
  v128.store(buf, lo8(a3, b3), 96); v128.store(buf, hi8(a3, b3), 112);
  v128.store(buf, lo8(a4, b4), 128); v128.store(buf, hi8(a4, b4), 144);
  v128.store(buf, lo8(a5, b5), 160); v128.store(buf, hi8(a5, b5), 176);
  v128.store(buf, lo8(a6, b6), 192); v128.store(buf, hi8(a6, b6), 208);
  v128.store(buf, lo8(a7, b7), 224); v128.store(buf, hi8(a7, b7), 240);
}

/** Transposes the 16x16 bytes at buf (row i at buf + 16 i) in place. */
// @ts-ignore: decorator
@inline function transpose16(buf: usize): void {
  round16(buf);
  round16(buf);
  round16(buf);
  round16(buf);
}

/**
 * The 16 entries (index ca | cb << 2, c = w + 1) of a pair's table over 16 pairs at once: E_j = (ca-1) a + (cb-1) b,
 * written as 16 rows at buf, then transposed so that row v is pair v's table; stored at dst + 64 v.
 */
// @ts-ignore: decorator
@inline function pairTables(a: v128, b: v128, buf: usize, dst: usize): void {
  const z = i8x16.splat(0);
  const na = i8x16.neg(a), nb = i8x16.neg(b);
  v128.store(buf, i8x16.sub(na, b));
  v128.store(buf, nb, 16);
  v128.store(buf, i8x16.sub(a, b), 32);
  v128.store(buf, z, 48);
  v128.store(buf, na, 64);
  v128.store(buf, z, 80);
  v128.store(buf, a, 96);
  v128.store(buf, z, 112);
  v128.store(buf, i8x16.sub(b, a), 128);
  v128.store(buf, b, 144);
  v128.store(buf, i8x16.add(a, b), 160);
  for (let o: usize = 176; o < 256; o += 16) v128.store(buf + o, z);
  transpose16(buf);
  for (let v: usize = 0; v < 16; v++) v128.store(dst + (v << 6), v128.load(buf + (v << 4)));
}

/**
 * Tables of items [i0, i1) (token i / (K/128), 128-column block i % (K/128)): token t's at tables + t * 16 K, 64
 * bytes per weight vector v: TL and TH of the low-nibble pair, then TL and TH of the high-nibble pair. `scratch`: 256 bytes.
 */
export function lut_tables(q: usize, K: i32, tables: usize, scratch: usize, i0: i32, i1: i32): void {
  const one = i8x16.splat(<i8>splatLutOne);
  const nb = K >> 7;
  // items: (token, 128-column block) pairs
  for (let i = i0; i < i1; i++) {
    const t = i / nb;
    const qrow = q + <usize>t * <usize>K;
    const trow = tables + (<usize>t * <usize>K << 4);
    const b = <usize>(i - t * nb) << 7;
    {
      for (let p: usize = 0; p < 32; p += 16) {
        const src = qrow + b + p;
        const dst = trow + ((b >> 2) + p << 6);
        // signed nibbles: h = q >> 4 (+1 when bit 3 is set), l = q - 16 h in [-8, 7], h in [-8, 8]
        const q0 = v128.load(src), q1 = v128.load(src, 32), q2 = v128.load(src, 64), q3 = v128.load(src, 96);
        const h0 = i8x16.add(i8x16.shr_s(q0, 4), v128.and(i8x16.shr_u(q0, 3), one));
        const h1 = i8x16.add(i8x16.shr_s(q1, 4), v128.and(i8x16.shr_u(q1, 3), one));
        const h2 = i8x16.add(i8x16.shr_s(q2, 4), v128.and(i8x16.shr_u(q2, 3), one));
        const h3 = i8x16.add(i8x16.shr_s(q3, 4), v128.and(i8x16.shr_u(q3, 3), one));
        // low nibble: ca from element 96+p, cb from 64+p; high nibble: ca from 32+p, cb from p
        pairTables(i8x16.sub(q3, i8x16.shl(h3, 4)), i8x16.sub(q2, i8x16.shl(h2, 4)), scratch, dst);
        pairTables(h3, h2, scratch, dst + 16);
        pairTables(i8x16.sub(q1, i8x16.shl(h1, 4)), i8x16.sub(q0, i8x16.shl(h0, 4)), scratch, dst + 32);
        pairTables(h1, h0, scratch, dst + 48);
      }
    }
  }
}

/**
 * I2_S rows -> LUT tiles [tile0, tile1): tile t's vector v (at dst + t * 4 K + 16 v) is the 16 rows' byte v;
 * rows past `rows` get 0x55 (every code 1: weight 0). `scratch`: 256 bytes.
 */
export function lut_repack(src: usize, dst: usize, rows: i32, K: i32, scratch: usize, tile0: i32, tile1: i32): void {
  const rowBytes = <usize>(K >> 2);
  const pad = i8x16.splat(<i8>splatLutZeroIdx);
  for (let t = tile0; t < tile1; t++) {
    const tdst = dst + <usize>t * (rowBytes << 4);
    for (let v: usize = 0; v < rowBytes; v += 16) {
      for (let j = 0; j < 16; j++) {
        const r = t * 16 + j;
        v128.store(scratch + (<usize>j << 4), r < rows ? v128.load(src + <usize>r * rowBytes + v) : pad);
      }
      transpose16(scratch);
      for (let j: usize = 0; j < 16; j++) v128.store(tdst + ((v + j) << 4), v128.load(scratch + (j << 4)));
    }
  }
}

// @ts-ignore: decorator
@inline function epilogue(d: i32, s: f32, scale: f32): f32 {
  return <f32>(<f64>d / <f64>s) * scale;
}

// The lookups: a vector's low nibbles (i0) index the tables at +0 (TL) and +16 (TH), its high nibbles (i1)
// those at +32 and +48. Each i8 lane sums at most 6 lookups of |x| <= 16 (3 vectors) before it is widened
// into i16 sums of 16 H + L (|pair sum| <= 256: at most 63 vectors), which go into i32 every 63 vectors.
const GROUP = 3;
const BLOCK = 63;

/** i16 lanes 16 h + l of i8 sums l, h (rows 0-7 of the tile, then 8-15). */
// @ts-ignore: decorator
@inline function comb(l: v128, h: v128, high: bool): v128 {
  return high
    ? i16x8.add(i16x8.extend_high_i8x16_s(l), i16x8.shl(i16x8.extend_high_i8x16_s(h), 4))
    : i16x8.add(i16x8.extend_low_i8x16_s(l), i16x8.shl(i16x8.extend_low_i8x16_s(h), 4));
}

/** Adds i16 sums s (8 rows) into the i32 totals at p (8 rows). */
// @ts-ignore: decorator
@inline function spill(p: usize, s: v128): void {
  v128.store(p, i32x4.add(v128.load(p), i32x4.extend_low_i16x8_s(s)));
  v128.store(p, i32x4.add(v128.load(p, 16), i32x4.extend_high_i16x8_s(s)), 16);
}

/** One tile (weights wp) x one token (tables tp): the 16 rows' D into acc (16 i32, zeroed here). */
function lut1(wp: usize, tp: usize, nv: i32, acc: usize): void {
  const m = i8x16.splat(<i8>splatLutNibble);
  memory.fill(acc, 0, 64);
  let v = 0;
  while (v < nv) {
    let s0 = i16x8.splat(0), s1 = s0;
    const end = min<i32>(nv, v + BLOCK);
    while (v < end) {
      let aL = i8x16.splat(0), aH = aL;
      const g = min<i32>(end, v + GROUP);
      for (; v < g; v++) {
        const x = v128.load(wp);
        const i0 = v128.and(x, m), i1 = v128.and(i16x8.shr_u(x, 4), m);
        aL = i8x16.add(aL, i8x16.add(swz(v128.load(tp), i0), swz(v128.load(tp, 32), i1)));
        aH = i8x16.add(aH, i8x16.add(swz(v128.load(tp, 16), i0), swz(v128.load(tp, 48), i1)));
        wp += 16;
        tp += 64;
      }
      s0 = i16x8.add(s0, comb(aL, aH, false));
      s1 = i16x8.add(s1, comb(aL, aH, true));
    }
    spill(acc, s0);
    spill(acc + 32, s1);
  }
}

/** Two tiles (weights wa, wb) x one token: each table vector loaded once for both; D into acc (32 i32). */
function lutTiles2(wa: usize, wb: usize, tp: usize, nv: i32, acc: usize): void {
  const m = i8x16.splat(<i8>splatLutNibble);
  memory.fill(acc, 0, 128);
  let v = 0;
  while (v < nv) {
    let s0 = i16x8.splat(0), s1 = s0, u0 = s0, u1 = s0;
    const end = min<i32>(nv, v + BLOCK);
    while (v < end) {
      let aL = i8x16.splat(0), aH = aL, bL = aL, bH = aL;
      const g = min<i32>(end, v + GROUP);
      for (; v < g; v++) {
        const x = v128.load(wa), y = v128.load(wb);
        const i0 = v128.and(x, m), i1 = v128.and(i16x8.shr_u(x, 4), m);
        const j0 = v128.and(y, m), j1 = v128.and(i16x8.shr_u(y, 4), m);
        let tab = v128.load(tp);
        aL = i8x16.add(aL, swz(tab, i0));
        bL = i8x16.add(bL, swz(tab, j0));
        tab = v128.load(tp, 32);
        aL = i8x16.add(aL, swz(tab, i1));
        bL = i8x16.add(bL, swz(tab, j1));
        tab = v128.load(tp, 16);
        aH = i8x16.add(aH, swz(tab, i0));
        bH = i8x16.add(bH, swz(tab, j0));
        tab = v128.load(tp, 48);
        aH = i8x16.add(aH, swz(tab, i1));
        bH = i8x16.add(bH, swz(tab, j1));
        wa += 16;
        wb += 16;
        tp += 64;
      }
      s0 = i16x8.add(s0, comb(aL, aH, false));
      s1 = i16x8.add(s1, comb(aL, aH, true));
      u0 = i16x8.add(u0, comb(bL, bH, false));
      u1 = i16x8.add(u1, comb(bL, bH, true));
    }
    spill(acc, s0);
    spill(acc + 32, s1);
    spill(acc + 64, u0);
    spill(acc + 96, u1);
  }
}

/** One tile x two tokens (tables ta, tb): each weight vector loaded and split once; D into acc (token a, then b). */
function lutTokens2(wp: usize, ta: usize, tb: usize, nv: i32, acc: usize): void {
  const m = i8x16.splat(<i8>splatLutNibble);
  memory.fill(acc, 0, 128);
  let v = 0;
  while (v < nv) {
    let s0 = i16x8.splat(0), s1 = s0, u0 = s0, u1 = s0;
    const end = min<i32>(nv, v + BLOCK);
    while (v < end) {
      let aL = i8x16.splat(0), aH = aL, bL = aL, bH = aL;
      const g = min<i32>(end, v + GROUP);
      for (; v < g; v++) {
        const x = v128.load(wp);
        const i0 = v128.and(x, m), i1 = v128.and(i16x8.shr_u(x, 4), m);
        aL = i8x16.add(aL, i8x16.add(swz(v128.load(ta), i0), swz(v128.load(ta, 32), i1)));
        aH = i8x16.add(aH, i8x16.add(swz(v128.load(ta, 16), i0), swz(v128.load(ta, 48), i1)));
        bL = i8x16.add(bL, i8x16.add(swz(v128.load(tb), i0), swz(v128.load(tb, 32), i1)));
        bH = i8x16.add(bH, i8x16.add(swz(v128.load(tb, 16), i0), swz(v128.load(tb, 48), i1)));
        wp += 16;
        ta += 64;
        tb += 64;
      }
      s0 = i16x8.add(s0, comb(aL, aH, false));
      s1 = i16x8.add(s1, comb(aL, aH, true));
      u0 = i16x8.add(u0, comb(bL, bH, false));
      u1 = i16x8.add(u1, comb(bL, bH, true));
    }
    spill(acc, s0);
    spill(acc + 32, s1);
    spill(acc + 64, u0);
    spill(acc + 96, u1);
  }
}

/** out[t, r0 + j] for j < n from the i32 D at acc. */
// @ts-ignore: decorator
@inline function store16(acc: usize, n: i32, s: f32, alpha: f32, o: usize): void {
  for (let j = 0; j < n; j++) store<f32>(o + (<usize>j << 2), epilogue(load<i32>(acc + (<usize>j << 2)), s, alpha));
}

/**
 * LUT ternary matmul of the 16-row tiles covering rows [r0, r1) for T tokens: out[t, r] = (float)(D / s_t) * alpha,
 * D = sum((code - 1) * q) exactly. Single tokens go two tiles at a time; batches token by token (relaxed: by pairs).
 * `scratch`: 128 bytes of this thread's.
 */
export function ternary_lut(w: usize, K: i32, tables: usize, T: i32, scales: usize, alpha: f32, out: usize, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const nv = K >> 2;
  const tileBytes = <usize>nv << 4;
  const tabBytes = <usize>K << 4;
  let r = r0 & ~15;
  while (r < r1) {
    const wt = w + <usize>(r >> 4) * tileBytes;
    const o = out + (<usize>r << 2);
    const ro = <usize>rows << 2;
    if (T == 1 && r + 16 < r1 && r + 16 < rows) {
      lutTiles2(wt, wt + tileBytes, tables, nv, scratch);
      store16(scratch, min<i32>(32, rows - r), load<f32>(scales), alpha, o);
      r += 32;
      continue;
    }
    const n = min<i32>(16, rows - r);
    let t = 0;
    // token pairs share each weight load (relaxed); the portable build's swizzles need too many registers for it
    for (; ASC_FEATURE_RELAXED_SIMD && t + 2 <= T; t += 2) {
      const tt = tables + <usize>t * tabBytes;
      lutTokens2(wt, tt, tt + tabBytes, nv, scratch);
      store16(scratch, n, load<f32>(scales + (<usize>t << 2)), alpha, o + <usize>t * ro);
      store16(scratch + 64, n, load<f32>(scales + (<usize>t << 2), 4), alpha, o + <usize>(t + 1) * ro);
    }
    for (; t < T; t++) {
      lut1(wt, tables + <usize>t * tabBytes, nv, scratch);
      store16(scratch, n, load<f32>(scales + (<usize>t << 2)), alpha, o + <usize>t * ro);
    }
    r += 16;
  }
}
