// AssemblyScript: the float ops of the WASM backend, op for op the same float32 arithmetic as the reference
// backend (kernels/ref/ops.ts, kernels/math.ts), so logits match bit for bit: activation quantization,
// rms_norm, RoPE, gated activations, the shared expf, int8 requantization (attention is in attention.ts).
// All arguments are byte offsets into the shared memory; row/head ranges [a, b) let threads split work.
import { f16ToF32, f16x4ToF32x4 } from './half';
import { LN2_HI, LN2_LO, LOG2E, P0, P1, P2, P3, P4, P5 } from './expf-poly';

// ---------------------------------------------------------------- splat constants
// V8 rematerializes a v128 constant at every use (a load, a move and a shuffle), inside hot loops too; a
// vector it computed stays in a register. So the kernels splat these runtime values once per call. They
// are written only by set_splat_constants (never called with other values), which keeps the optimizer
// from folding them back into constants.

export let splat3: i32 = 3;
export let splat64: i32 = 64;
export let splatF16Mask: i32 = 0x8fffffff;
export let splatF16Scale: f32 = reinterpret<f32>(0x77800000); // 2^112
export let splatI8Min: i32 = -128;
export let splatI8Max: i32 = 127;

export function set_splat_constants(three: i32, sixtyFour: i32, f16Mask: i32, f16Scale: f32, i8Min: i32, i8Max: i32): void {
  splat3 = three;
  splat64 = sixtyFour;
  splatF16Mask = f16Mask;
  splatF16Scale = f16Scale;
  splatI8Min = i8Min;
  splatI8Max = i8Max;
}

// ---------------------------------------------------------------- expf (kernels/math.ts)

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
  const lo = i32x4.splat(splatI8Min);
  const hi = i32x4.splat(splatI8Max);
  for (let t = t0; t < t1; t++) {
    const row = x + (<usize>t * <usize>K << 2);
    // absmax: max is exact, so the lanes may take the elements in any order
    let vmax = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= K; i += 4) vmax = f32x4.max(vmax, f32x4.abs(v128.load(row + (<usize>i << 2))));
    let mx = max<f32>(max<f32>(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max<f32>(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
    for (; i < K; i++) mx = max<f32>(mx, abs<f32>(load<f32>(row + (<usize>i << 2))));
    const m: f64 = max<f64>(0.00001, <f64>mx);
    const s = <f32>(127.0 / m);
    const vs = f32x4.splat(s);
    const qrow = q + <usize>t * <usize>K;
    // q = clamp(round_half_even(x * s)), eight at a time; the sum of the integers is order-free
    let vacc = i32x4.splat(0);
    i = 0;
    for (; i + 8 <= K; i += 8) {
      let a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(row + (<usize>i << 2)), vs)));
      let b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(row + (<usize>i << 2), 16), vs)));
      a = i32x4.min_s(i32x4.max_s(a, lo), hi);
      b = i32x4.min_s(i32x4.max_s(b, lo), hi);
      vacc = i32x4.add(vacc, i32x4.add(a, b));
      v128.store64_lane(qrow + <usize>i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.splat(0)), 0);
    }
    let acc = i32x4.extract_lane(vacc, 0) + i32x4.extract_lane(vacc, 1) + i32x4.extract_lane(vacc, 2) + i32x4.extract_lane(vacc, 3);
    for (; i < K; i++) {
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

/** Streaming read for the bandwidth probe: items [i0, i1) of `itemBytes` bytes each, one xor-fold per item. */
export function stream_read(base: usize, itemBytes: i32, out: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const p = base + <usize>i * <usize>itemBytes;
    let a = i32x4.splat(0), b = a, c = a, d = a;
    for (let o: usize = 0; o < <usize>itemBytes; o += 64) {
      a = v128.xor(a, v128.load(p + o));
      b = v128.xor(b, v128.load(p + o + 16));
      c = v128.xor(c, v128.load(p + o + 32));
      d = v128.xor(d, v128.load(p + o + 48));
    }
    const r = v128.xor(v128.xor(a, b), v128.xor(c, d));
    store<i32>(out + (<usize>i << 2), i32x4.extract_lane(r, 0) ^ i32x4.extract_lane(r, 3));
  }
}
