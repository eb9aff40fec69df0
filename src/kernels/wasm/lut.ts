// The WASM backend's table-lookup (LUT) ternary path (asm/lut.ts; plain twin: kernels/ref/ternary-lut.ts): the
// tiled weight layout's size, the per-runtime choice between it and the multiply-add kernels (timed once per
// device on a representative matrix), and the per-token tables built once per quantized activation.
import type { QuantizedActs } from '../backend.js';
import type { Heap } from './heap.js';
import type { KernelExports } from './module.js';

/** 'mad': multiply-add dots on I2_S rows (asm/dot-*.ts); 'lut': table lookups on 16-row tiles (asm/lut.ts). */
export type TernaryKernel = 'mad' | 'lut';

/** Tokens whose tables are built at once (16 bytes per activation): longer batches go in chunks of this many. */
export const LUT_TOKENS = 64;
/** per-thread scratch of the LUT jobs */
export const LUT_SCRATCH = 256;

/** Bytes of a matrix in the LUT layout: rows padded to whole 16-row tiles, 2 bits per weight. */
export const lutBytes = (rows: number, cols: number): number => (Math.ceil(rows / 16) * 16 * cols) / 4;

/** Bytes of the tables of T tokens of width K. */
export const lutTableBytes = (T: number, K: number): number => T * K * 16;

/**
 * Times both kernels single-threaded on a 1536 x 2560 matrix (T = 1 and T = 8, tables included, best of 5
 * interleaved runs after warm-up) and returns 'lut' where it is clearly faster per token and not clearly
 * slower on prompts: one layout is kept per matrix, so it serves both. Takes a few tens of milliseconds.
 */
export function pickTernaryKernel(k: KernelExports, heap: Heap): TernaryKernel {
  const rows = 1536;
  const K = 2560;
  const T = 8;
  const w = heap.alloc((rows * K) / 4);
  const wl = heap.alloc(lutBytes(rows, K));
  const x = heap.alloc(T * K);
  const x16 = heap.alloc(T * K * 2);
  const small = heap.alloc(64);
  const tables = heap.alloc(lutTableBytes(T, K));
  const scratch = heap.alloc(LUT_SCRATCH);
  const out = heap.alloc(T * rows * 4);
  try {
    const codes = heap.u8(w, (rows * K) / 4);
    for (let i = 0; i < codes.length; i++) codes[i] = (i * 0x9e3779b1) >>> 24 & 0xaa; // codes 0 and 2
    const q = heap.i8(x, T * K);
    for (let i = 0; i < q.length; i++) q[i] = ((i * 0x85ebca6b) >>> 25) - 64;
    heap.f32(small, 8).fill(1);
    k.widen_i8(x, x16, T * K);
    k.lut_repack(w, wl, rows, K, scratch, 0, rows / 16);
    const mad = (n: number): void => k.ternary_matmul(w, K, x, x16, n, small + 32, small, 1, out, rows, 0, rows);
    const lut = (n: number): void => {
      k.lut_tables(x, K, tables, scratch, 0, (n * K) / 128);
      k.ternary_lut(wl, K, tables, n, small, 1, out, rows, 0, rows, scratch);
    };
    const best = { mad1: Infinity, lut1: Infinity, mad8: Infinity, lut8: Infinity };
    for (let rep = -2; rep < 5; rep++) {
      for (const [name, f, n] of [['mad1', mad, 1], ['lut1', lut, 1], ['mad8', mad, T], ['lut8', lut, T]] as const) {
        const t = performance.now();
        f(n);
        if (rep >= 0) best[name] = Math.min(best[name], performance.now() - t);
      }
    }
    return best.lut1 < best.mad1 * 0.95 && best.lut8 < best.mad8 * 1.1 ? 'lut' : 'mad';
  } finally {
    for (const p of [out, scratch, tables, small, x16, x, wl, w]) heap.release(p);
  }
}

/**
 * The tables of each quantized activation (at most LUT_TOKENS tokens), built at the first LUT matmul that reads
 * it and reused until quantizeActs writes it again (q, k and v share one; gate and up share one).
 */
export class LutTableCache {
  private readonly entries = new WeakMap<QuantizedActs, { ptr: number; valid: boolean }>();

  constructor(
    private readonly alloc: (bytes: number) => number,
    private readonly release: (ptr: number) => void,
  ) {}

  /** The tables' offset, built by `build(ptr)` unless still valid. */
  get(xq: QuantizedActs, build: (ptr: number) => void): number {
    let e = this.entries.get(xq);
    if (!e) {
      e = { ptr: this.alloc(lutTableBytes(xq.T, xq.K)), valid: false };
      this.entries.set(xq, e);
    }
    if (!e.valid) {
      build(e.ptr);
      e.valid = true;
    }
    return e.ptr;
  }

  /** quantizeActs wrote new values. */
  invalidate(xq: QuantizedActs): void {
    const e = this.entries.get(xq);
    if (e) e.valid = false;
  }

  /** The activations are freed. */
  drop(xq: QuantizedActs): void {
    const e = this.entries.get(xq);
    if (!e) return;
    this.release(e.ptr);
    this.entries.delete(xq);
  }
}
