// AssemblyScript: the float ops of the WASM backend, op for op the same float32 arithmetic as the reference
// backend (kernels/ref/ops.ts, kernels/math.ts), so logits match bit for bit: activation quantization,
// rms_norm, RoPE, f16 KV storage and attention, gated activations, the shared expf, int8 requantization.
// All arguments are byte offsets into the shared memory; row/head ranges [a, b) let threads split work.

// ---------------------------------------------------------------- f16 <-> f32

/** float32 -> f16 bits, round to nearest even, overflow to inf (as util/f16.ts f32ToF16). */
// @ts-ignore: decorator
@inline function f32ToF16(v: f32): u32 {
  const x = reinterpret<u32>(v);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant != 0 ? 0x200 : 0);
  let e = <i32>exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = <u32>(14 - e);
    const half = <u32>1 << (shift - 1);
    const rest = mant & ((<u32>1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest == half && (m & 1) != 0)) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let m = mant >>> 13;
  if (rest > 0x1000 || (rest == 0x1000 && (m & 1) != 0)) {
    m++;
    if (m == 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (<u32>e << 10) | m;
}

// @ts-ignore: decorator
@inline function f16ToF32(h: u32): f32 {
  const em = h & 0x7fff;
  let bits = em << 13;
  if (em >= 0x7c00) bits |= 0x7f800000;
  const f = reinterpret<f32>(bits) * (em >= 0x7c00 ? <f32>1 : reinterpret<f32>(0x77800000)); // * 2^112
  return (h & 0x8000) != 0 ? -f : f;
}

/** Four f16 bit patterns (zero-extended in i32 lanes) -> f32x4, exact (subnormals, inf, NaN). */
// @ts-ignore: decorator
@inline function f16x4ToF32x4(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const special = i32x4.ge_u(em, i32x4.splat(0x7c00));
  let bits = i32x4.shl(em, 13);
  const scaled = f32x4.mul(bits, f32x4.splat(reinterpret<f32>(0x77800000)));
  bits = v128.bitselect(v128.or(bits, i32x4.splat(0x7f800000)), scaled, special);
  return v128.or(bits, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// @ts-ignore: decorator
@inline function roundF16(v: f32): f32 {
  return f16ToF32(f32ToF16(v));
}

// ---------------------------------------------------------------- expf (kernels/math.ts)

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;

// @ts-ignore: decorator
@inline function pow2(n: i32): f32 {
  return reinterpret<f32>((n + 127) << 23);
}

export function expf(x: f32): f32 {
  if (x > <f32>88.72283935546875) return Infinity;
  if (x < <f32>-103.97208404541016) return 0;
  if (x != x) return NaN;
  const n = nearest<f32>(x * LOG2E);
  let r = x - n * LN2_HI;
  r = r - n * LN2_LO;
  const r2 = r * r;
  let p = P0;
  p = p * r + P1;
  p = p * r + P2;
  p = p * r + P3;
  p = p * r + P4;
  p = p * r + P5;
  p = p * r2 + r + <f32>1;
  const ni = <i32>n;
  const n1 = ni > 0 ? min<i32>(ni, 127) : max<i32>(ni, -126);
  return p * pow2(n1) * pow2(ni - n1);
}

// ---------------------------------------------------------------- activation quantization (quantize_row_i8_s)

export function quantize_acts(x: usize, K: i32, q: usize, scale: usize, sum: usize, t0: i32, t1: i32): void {
  for (let t = t0; t < t1; t++) {
    const row = x + (<usize>t * <usize>K << 2);
    let mx: f32 = 0;
    for (let i = 0; i < K; i++) mx = max<f32>(mx, abs<f32>(load<f32>(row + (<usize>i << 2))));
    const m: f64 = max<f64>(0.00001, <f64>mx);
    const s = <f32>(127.0 / m);
    const qrow = q + <usize>t * <usize>K;
    let acc: i32 = 0;
    for (let i = 0; i < K; i++) {
      let v = <i32>nearest<f32>(load<f32>(row + (<usize>i << 2)) * s);
      v = v > 127 ? 127 : v < -128 ? -128 : v;
      store<i8>(qrow + <usize>i, <i8>v);
      acc += v;
    }
    store<f32>(scale + (<usize>t << 2), s);
    store<i32>(sum + (<usize>t << 2), acc);
  }
}

/** i8 -> i16 copy, for the portable dot kernels. */
export function widen_i8(q: usize, q16: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<i16>(q16 + (<usize>i << 1), <i16>load<i8>(q + <usize>i));
}

// ---------------------------------------------------------------- rms_norm, residual ops

export function rms_norm(x: usize, n: i32, eps: f32, w: usize, out: usize, t0: i32, t1: i32): void {
  for (let t = t0; t < t1; t++) {
    const row = x + (<usize>t * <usize>n << 2);
    const orow = out + (<usize>t * <usize>n << 2);
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) {
      const v = load<f32>(row + (<usize>i << 2));
      sum += <f64>(v * v);
    }
    const mean = <f32>(sum / <f64>n);
    const sc = <f32>1 / sqrt<f32>(mean + eps);
    let i = 0;
    const vs = f32x4.splat(sc);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(row + o), vs), v128.load(w + o)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(orow + o, load<f32>(row + o) * sc * load<f32>(w + o));
    }
  }
}

export function add_f32(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
  }
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) + load<f32>(y + (<usize>i << 2)));
}

export function scale_f32(x: usize, n: i32, s: f32): void {
  for (let i = 0; i < n; i++) store<f32>(x + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) * s);
}

export function gated_act(gate: usize, up: usize, n: i32, silu: bool): void {
  if (!silu) {
    let i = 0;
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const g = f32x4.max(v128.load(gate + o), zero);
      v128.store(gate + o, f32x4.mul(f32x4.mul(g, g), v128.load(up + o)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      const g = max<f32>(load<f32>(gate + o), 0);
      store<f32>(gate + o, g * g * load<f32>(up + o));
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    store<f32>(gate + o, (g / (<f32>1 + expf(-g))) * load<f32>(up + o));
  }
}

// ---------------------------------------------------------------- RoPE (table from kernels/math.ts ropeTable)

export function rope(x: usize, T: i32, nHead: i32, headDim: i32, nRot: i32, neox: bool, table: usize): void {
  const half = nRot >> 1;
  for (let t = 0; t < T; t++) {
    const tab = table + (<usize>t * <usize>nRot << 2);
    for (let h = 0; h < nHead; h++) {
      const base = x + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      for (let i = 0; i < half; i++) {
        const c = load<f32>(tab + (<usize>i << 3));
        const s = load<f32>(tab + (<usize>i << 3), 4);
        const p0 = base + ((neox ? <usize>i : <usize>(2 * i)) << 2);
        const p1 = base + ((neox ? <usize>(i + half) : <usize>(2 * i + 1)) << 2);
        const x0 = load<f32>(p0);
        const x1 = load<f32>(p1);
        store<f32>(p0, x0 * c - x1 * s);
        store<f32>(p1, x0 * s + x1 * c);
      }
    }
  }
}

// ---------------------------------------------------------------- KV cache and attention
// Layout per layer: K in blocks of 8 positions per kv head, [g][pos/8][d][8] (the 8 keys of a block and all
// their dims are contiguous, so scores for 8 keys load 16 bytes per dim); V as rows [pos][g*headDim + d].
// Elements are f16 bits (u16) or f32. kvBlocks = ceil(nCtx / 8).

/** Four f16 halves (zero-extended i32 lanes) -> f32x4 for finite values: sign and exponent moved into place, times 2^112 (exact, subnormals too). */
// @ts-ignore: decorator
@inline function f16x4Finite(h: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(h, 16), 3), i32x4.splat(0x8fffffff)), f32x4.splat(reinterpret<f32>(0x77800000)));
}

/** Eight f16 halves -> two f32x4; inf/NaN (exponent 31) take the exact slow path. */
// @ts-ignore: decorator
@inline function f16x8Special(h: v128): bool {
  return v128.any_true(i16x8.ge_u(v128.and(h, i16x8.splat(0x7fff)), i16x8.splat(0x7c00)));
}

export function kv_store(kl: usize, vl: usize, k: usize, v: usize, T: i32, pos0: i32, nHeadKv: i32, headDim: i32, nCtx: i32, f16: bool): void {
  const width = nHeadKv * headDim;
  const es: usize = f16 ? 2 : 4;
  const nb = <usize>((nCtx + 7) >> 3);
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
          store<u16>(kBase + (<usize>d << 4), <u16>f32ToF16(kv));
          store<u16>(vOff, <u16>f32ToF16(vv));
        } else {
          store<f32>(kBase + (<usize>d << 5), kv);
          store<f32>(vOff, vv);
        }
      }
    }
  }
}

/**
 * Attention for query heads [h0, h1): scores Q·K in float32 over d (eight keys per step), softmax as ggml
 * (max, expf, float64 sum, 1/sum), P·V in float32 over positions (32 dims per pass).
 * scratch: 4 * (nCtx + 8) + 4 * headDim bytes for this thread.
 */
export function attention(q: usize, kl: usize, vl: usize, out: usize, T: i32, nHead: i32, nHeadKv: i32, headDim: i32, pos0: i32, nCtx: i32, scale: f32, f16: bool, h0: i32, h1: i32, scratch: usize): void {
  const width = nHeadKv * headDim;
  const group = nHead / nHeadKv;
  const nb = <usize>((nCtx + 7) >> 3);
  const probs = scratch;
  const qh = scratch + (<usize>(nCtx + 8) << 2);
  const vscale = f32x4.splat(scale);
  for (let t = 0; t < T; t++) {
    const nVis = pos0 + t + 1;
    for (let h = h0; h < h1; h++) {
      const g = h / group;
      const qOff = q + (<usize>((t * nHead + h) * headDim) << 2);
      for (let d = 0; d < headDim; d++) {
        const v = load<f32>(qOff + (<usize>d << 2));
        store<f32>(qh + (<usize>d << 2), f16 ? roundF16(v) : v);
      }
      // scores for 8 keys at a time
      const kHead = kl + <usize>g * nb * <usize>headDim * 8 * (f16 ? 2 : 4);
      for (let j = 0; j < nVis; j += 8) {
        let a = f32x4.splat(0);
        let b = f32x4.splat(0);
        if (f16) {
          let p = kHead + (<usize>(j >> 3) * <usize>headDim << 4);
          for (let d = 0; d < headDim; d++) {
            const hv = v128.load(p);
            const qd = f32x4.splat(load<f32>(qh + (<usize>d << 2)));
            if (f16x8Special(hv)) {
              a = f32x4.add(a, f32x4.mul(qd, f16x4ToF32x4(i32x4.extend_low_i16x8_u(hv))));
              b = f32x4.add(b, f32x4.mul(qd, f16x4ToF32x4(i32x4.extend_high_i16x8_u(hv))));
            } else {
              a = f32x4.add(a, f32x4.mul(qd, f16x4Finite(i32x4.extend_low_i16x8_u(hv))));
              b = f32x4.add(b, f32x4.mul(qd, f16x4Finite(i32x4.extend_high_i16x8_u(hv))));
            }
            p += 16;
          }
        } else {
          let p = kHead + (<usize>(j >> 3) * <usize>headDim << 5);
          for (let d = 0; d < headDim; d++) {
            const qd = f32x4.splat(load<f32>(qh + (<usize>d << 2)));
            a = f32x4.add(a, f32x4.mul(qd, v128.load(p)));
            b = f32x4.add(b, f32x4.mul(qd, v128.load(p, 16)));
            p += 32;
          }
        }
        v128.store(probs + (<usize>j << 2), f32x4.mul(a, vscale));
        v128.store(probs + (<usize>j << 2), f32x4.mul(b, vscale), 16);
      }
      let mx: f32 = -Infinity;
      for (let j = 0; j < nVis; j++) mx = max<f32>(mx, load<f32>(probs + (<usize>j << 2)));
      let sum: f64 = 0;
      for (let j = 0; j < nVis; j++) {
        const e = expf(load<f32>(probs + (<usize>j << 2)) - mx);
        store<f32>(probs + (<usize>j << 2), e);
        sum += <f64>e;
      }
      const inv = <f32>(1.0 / sum);
      for (let j = 0; j < nVis; j++) {
        const p = load<f32>(probs + (<usize>j << 2)) * inv;
        store<f32>(probs + (<usize>j << 2), f16 && T == 1 ? roundF16(p) : p);
      }
      // P·V, 32 dims per pass with the accumulators in registers, positions in order
      const oOff = out + (<usize>((t * nHead + h) * headDim) << 2);
      for (let d = 0; d < headDim; d += 32) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
        for (let j = 0; j < nVis; j++) {
          const pj = f32x4.splat(load<f32>(probs + (<usize>j << 2)));
          const idx = <usize>j * <usize>width + <usize>(g * headDim + d);
          if (f16) {
            const p = vl + (idx << 1);
            for (let part: usize = 0; part < 64; part += 16) {
              const hv = v128.load(p + part);
              let lo: v128, hi: v128;
              if (f16x8Special(hv)) {
                lo = f16x4ToF32x4(i32x4.extend_low_i16x8_u(hv));
                hi = f16x4ToF32x4(i32x4.extend_high_i16x8_u(hv));
              } else {
                lo = f16x4Finite(i32x4.extend_low_i16x8_u(hv));
                hi = f16x4Finite(i32x4.extend_high_i16x8_u(hv));
              }
              if (part == 0) { a0 = f32x4.add(a0, f32x4.mul(pj, lo)); a1 = f32x4.add(a1, f32x4.mul(pj, hi)); }
              else if (part == 16) { a2 = f32x4.add(a2, f32x4.mul(pj, lo)); a3 = f32x4.add(a3, f32x4.mul(pj, hi)); }
              else if (part == 32) { a4 = f32x4.add(a4, f32x4.mul(pj, lo)); a5 = f32x4.add(a5, f32x4.mul(pj, hi)); }
              else { a6 = f32x4.add(a6, f32x4.mul(pj, lo)); a7 = f32x4.add(a7, f32x4.mul(pj, hi)); }
            }
          } else {
            const p = vl + (idx << 2);
            a0 = f32x4.add(a0, f32x4.mul(pj, v128.load(p)));
            a1 = f32x4.add(a1, f32x4.mul(pj, v128.load(p, 16)));
            a2 = f32x4.add(a2, f32x4.mul(pj, v128.load(p, 32)));
            a3 = f32x4.add(a3, f32x4.mul(pj, v128.load(p, 48)));
            a4 = f32x4.add(a4, f32x4.mul(pj, v128.load(p, 64)));
            a5 = f32x4.add(a5, f32x4.mul(pj, v128.load(p, 80)));
            a6 = f32x4.add(a6, f32x4.mul(pj, v128.load(p, 96)));
            a7 = f32x4.add(a7, f32x4.mul(pj, v128.load(p, 112)));
          }
        }
        const o = oOff + (<usize>d << 2);
        v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
        v128.store(o, a4, 64); v128.store(o, a5, 80); v128.store(o, a6, 96); v128.store(o, a7, 112);
      }
    }
  }
}

// ---------------------------------------------------------------- load-time conversions

/** int8 lm_head rows [r0, r1) from f16 rows (kernels/requant.ts): 63/absmax, round to nearest even, 7 bits. */
export function requant_f16_rows(src: usize, cols: i32, dstValues: usize, dstScales: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const row = src + (<usize>r * <usize>cols << 1);
    let vmax = f32x4.splat(0);
    let i = 0;
    for (; i + 8 <= cols; i += 8) {
      const h = v128.load(row + (<usize>i << 1));
      vmax = f32x4.max(vmax, f32x4.abs(f16x4ToF32x4(i32x4.extend_low_i16x8_u(h))));
      vmax = f32x4.max(vmax, f32x4.abs(f16x4ToF32x4(i32x4.extend_high_i16x8_u(h))));
    }
    let amax = max<f32>(max<f32>(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max<f32>(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
    for (; i < cols; i++) amax = max<f32>(amax, abs<f32>(f16ToF32(load<u16>(row + (<usize>i << 1)))));
    const inv: f32 = amax > 0 ? <f32>63 / amax : 0;
    const vinv = f32x4.splat(inv);
    const drow = dstValues + <usize>r * <usize>cols;
    i = 0;
    for (; i + 8 <= cols; i += 8) {
      const h = v128.load(row + (<usize>i << 1));
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)), vinv)));
      const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f16x4ToF32x4(i32x4.extend_high_i16x8_u(h)), vinv)));
      v128.store64_lane(drow + <usize>i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.splat(0)), 0);
    }
    for (; i < cols; i++) store<i8>(drow + <usize>i, <i8>(<i32>nearest<f32>(f16ToF32(load<u16>(row + (<usize>i << 1))) * inv)));
    store<f32>(dstScales + (<usize>r << 2), amax / <f32>63);
  }
}

/** TQ2_0 -> I2_S codes: each 32-byte half of a block's qs, with the four 2-bit fields of every byte reversed. */
export function tq2_to_i2s(src: usize, dst: usize, nBlocks: i32): void {
  const m03 = i8x16.splat(0x03), m0c = i8x16.splat(0x0c), m30 = i8x16.splat(0x30), mc0 = i8x16.splat(<i8>0xc0);
  for (let b = 0; b < nBlocks; b++) {
    const s = src + <usize>b * 66;
    const d = dst + (<usize>b << 6);
    for (let o: usize = 0; o < 64; o += 16) {
      const v = v128.load(s + o);
      const r = v128.or(
        v128.or(v128.and(i16x8.shl(v, 6), mc0), v128.and(i16x8.shl(v, 2), m30)),
        v128.or(v128.and(i16x8.shr_u(v, 2), m0c), v128.and(i16x8.shr_u(v, 6), m03)),
      );
      v128.store(d + o, r);
    }
  }
}
