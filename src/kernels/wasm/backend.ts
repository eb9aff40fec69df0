// The WASM backend: the SIMD kernels of asm/ on one process-wide device (compiled module, shared memory,
// thread pool). Each backend instance (one per model) owns its allocations on the device and frees them on
// dispose. Ternary weights stay in bitnet.cpp's I2_S layout, or the LUT kernels' 16-row tiles where those are
// faster (timed per runtime, lut.ts); the exact lm_head of F16/BF16/F32 weights is repacked into row groups
// (asm/dense.ts); ops with no WASM kernel (exact lm_head of a quantized type, per-block ternary scales, rows
// that are not 128-multiples) run the reference kernels on the same memory, so every result is the reference
// backend's, bit for bit.
import { BitnetError } from '../../errors.js';
import type { DenseData, DenseSource, TernaryData } from '../../formats/model-file.js';
import type { TensorType } from '../../formats/types.js';
import { i2_sCodec, i2sReadScale } from '../../formats/quants/i2_s.js';
import { tq2_0Codec } from '../../formats/quants/tq2_0.js';
import { bf16ToF32, f16ToF32, f32ToBf16, roundF16 } from '../../util/f16.js';
import { uniformScale } from '../../formats/ternarize.js';
import { checkKvTypes, isQuantizedKv, PARALLEL_MIN_WORK, TERNARY_KERNELS, type AttentionParams, type Backend, type DenseMatrix, type KvLayer, type KvStorage, type KvTypes, type QuantizedActs, type RopeParams, type TernaryMatrix } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { checkKvShift } from '../ref/ops.js';
import { REQUANT_CHUNK_ROWS, requantizeInt8Rows, requantizeRows } from '../requant.js';
import { Heap, isSharedBuffer } from './heap.js';
import { shiftWasmKvLayer } from './kv-shift.js';
import { OP_ADD, OP_ATT_PV, OP_ATT_SCORES, OP_ATT_SOFTMAX, OP_DENSE, OP_DENSE_PACK, OP_GATED_ACT, OP_GEMM_NN, OP_GEMM_NT, OP_GEMM_TN, OP_INT8, OP_LUT_REPACK, OP_LUT_TABLES, OP_QUANT_ACTS, OP_REQUANT, OP_RMS_NORM, OP_STREAM, OP_TERNARY, OP_TERNARY_LUT, OP_TRAIN_ATT_BWD, OP_TRAIN_ATT_FWD } from './jobs.js';
import { LUT_SCRATCH, LUT_TOKENS, LutTableCache, lutBytes, lutTableBytes, pickTernaryKernel, type TernaryKernel } from './lut.js';
import { device, type Device } from './device.js';
import { WasmKvQuant } from './kv-quant.js';
import type { KernelExports, KernelVariant } from './module.js';

interface WasmTernary extends TernaryMatrix {
  ptr: number;
  /** ptr holds the LUT kernels' 16-row tiles (else I2_S rows) */
  lut?: boolean;
  /** a matrix the kernels do not cover, kept for the reference kernels */
  fallback: TernaryMatrix | undefined;
}

interface WasmDense extends DenseMatrix {
  values: number;
  scales: number;
  fallback: DenseMatrix | undefined;
  /** the exact lm_head (F16/BF16/F32 rows packed by asm/dense.ts at `values`), else undefined */
  packed: PackedDense | undefined;
}

interface PackedDense {
  type: 'F16' | 'BF16' | 'F32';
  /** bytes per element (the type table's typeSize) */
  es: number;
  /** bytes held at `values` */
  bytes: number;
  /** an f16 inf/NaN in the matrix: the kernel converts each weight exactly instead of prescaling x */
  special: boolean;
}

/** rows per group of asm/dense.ts's packed layout, and groups per thread chunk */
const DENSE_GROUP = 32;
const DENSE_CHUNK_GROUPS = 4;
/** rows per load chunk (a multiple of DENSE_GROUP): the source never sits in memory whole */
const DENSE_LOAD_ROWS = 1024;
const TWO_112 = 2 ** 112;

interface WasmKvLayer {
  k: number;
  v: number;
}

/**
 * Rows per chunk of a ternary matmul: ~128 KB of weights (a long sequential stream per claim: 32-row chunks
 * of 2B4T's 640-byte rows made two threads decode no faster than one), but at least 4 chunks per thread for the
 * balance; a multiple of 16 rows (the kernels' row tiles).
 */
const CHUNK_BYTES = 128 << 10;
function chunkRows(rows: number, rowBytes: number, threads: number): number {
  const n = Math.min(Math.ceil(CHUNK_BYTES / rowBytes), Math.ceil(rows / (4 * threads)));
  return Math.max(16, Math.ceil(n / 16) * 16);
}
/** elements per chunk of the element-wise ops (a multiple of 4: chunks start on vector boundaries) */
const ELEMENT_CHUNK = 4096;
/** attention: positions per scores item, and the most bytes of score rows one query block may use */
const SCORE_CHUNK = 256;
/** attention scores and P·V: queries per item (they share each block of K and each chunk of V lines from L1) */
const SCORE_QUERY_BLOCK = 8;
const PV_QUERY_BLOCK = 8;
const ATT_SCORES_BYTES = 16 << 20;

/** The scale shared by every TQ2_0 block that has a nonzero code, or undefined when blocks differ. */
function tq2UniformScale(bytes: Uint8Array, nBlocks: number): number | undefined {
  let d: number | undefined;
  for (let b = 0; b < nBlocks; b++) {
    const o = b * 66;
    const h = bytes[o + 64]! | (bytes[o + 65]! << 8);
    if (h === d) continue;
    let zero = true; // every code 1 (value 0) is 0x55
    for (let i = 0; i < 64 && zero; i++) zero = bytes[o + i] === 0x55;
    if (zero) continue;
    if (d !== undefined) return undefined;
    d = h;
  }
  return d === undefined ? 0 : f16ToF32(d);
}

export interface WasmBackendOptions {
  threads?: number;
  /** force a kernel build (default: relaxed where the runtime computes it correctly, else portable SIMD128) */
  kernels?: KernelVariant;
  /** most bytes of attention score rows per query block (default 16 MB; small values test the blocking) */
  attentionBlockBytes?: number;
  /** multiply-adds from which an op is split across threads (default PARALLEL_MIN_WORK; tests use 0) */
  parallelMinWork?: number;
  /** ternary matmul kernel (default 'auto': whichever a one-time timing finds faster on this runtime) */
  ternaryKernel?: TernaryKernel | 'auto';
}

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const d = device(opts.kernels);
  const threads = Math.max(1, Math.floor(opts.threads ?? 1));
  await d.pool.ensure(threads);
  const kernel = opts.ternaryKernel ?? 'auto';
  if (!TERNARY_KERNELS.includes(kernel)) throw new BitnetError('INVALID_ARGUMENT', `unknown ternary kernel '${String(kernel)}'`, { name: 'ternaryKernel' });
  return new WasmBackend(d, threads, opts.attentionBlockBytes ?? ATT_SCORES_BYTES, opts.parallelMinWork ?? PARALLEL_MIN_WORK, kernel);
}

export interface TrainAttentionShape {
  B: number;
  T: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
}

export class WasmBackend implements Backend {
  readonly name: string;
  private readonly owned = new Set<number>();
  private readonly k: KernelExports;
  private readonly heap: Heap;

  constructor(
    private readonly d: Device,
    readonly threads: number,
    private readonly attentionBlockBytes: number,
    private readonly parallelMinWork: number,
    private readonly kernelChoice: TernaryKernel | 'auto' = 'auto',
  ) {
    this.name = `wasm-${d.variant}`;
    this.k = d.k;
    this.heap = d.heap;
  }

  get variant(): KernelVariant {
    return this.d.variant;
  }

  /**
   * Plain streaming read of `bytes` of device memory with this backend's threads (64 KB items in dynamic
   * chunks, as the kernels split rows): the best GB/s of `reps` passes. The benchmark's yardstick for how
   * close decode comes to memory bandwidth.
   */
  /**
   * float32 GEMMs on buffers from allocF32 (the trainer's linear maps), threaded by rows:
   * 'nt': c [M, N] = a [M, K] · bᵀ (b [N, K]); 'nn': c [M, K] (+)= a [M, N] · b [N, K];
   * 'tn': c [N, K] += aᵀ · b (a [M, N], b [M, K]). K % 4 == 0 for 'nt', K % 16 == 0 otherwise.
   */
  gemmF32(kind: 'nt' | 'nn' | 'tn', a: Float32Array, b: Float32Array, c: Float32Array, M: number, K: number, N: number, accumulate = false): void {
    if (K % (kind === 'nt' ? 4 : 16) !== 0) throw new BitnetError('INVALID_ARGUMENT', `gemmF32 ${kind}: K = ${K} is not a multiple of ${kind === 'nt' ? 4 : 16}`, { name: 'K' });
    const [pa, pb, pc] = [this.ptr(a), this.ptr(b), this.ptr(c)];
    if (kind === 'nt') this.d.pool.run(OP_GEMM_NT, M, 8, this.threads, [pa, pb, pc, K, N]);
    else if (kind === 'nn') this.d.pool.run(OP_GEMM_NN, M, 8, this.threads, [pa, pb, pc, K, N, accumulate ? 1 : 0]);
    else this.d.pool.run(OP_GEMM_TN, N, 8, this.threads, [pa, pb, pc, M, K, N]);
  }

  /**
   * The trainer's causal attention over B sequences of T positions (buffers from allocF32; head size a
   * multiple of 4): forward writes out and probs [B, nHead, T, T]; backward needs dq, dk, dv zeroed.
   */
  trainAttention(dir: 'fwd', bufs: { q: Float32Array; k: Float32Array; v: Float32Array; out: Float32Array; probs: Float32Array }, s: TrainAttentionShape): void;
  trainAttention(dir: 'bwd', bufs: { dout: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array; probs: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array }, s: TrainAttentionShape): void;
  trainAttention(dir: 'fwd' | 'bwd', b: Record<string, Float32Array>, s: TrainAttentionShape): void {
    const p = (name: string): number => this.ptr(b[name]!);
    if (dir === 'fwd') {
      this.d.pool.run(OP_TRAIN_ATT_FWD, s.B * s.nHead, 1, this.threads, [p('q'), p('k'), p('v'), p('out'), p('probs'), s.T, s.nHead, s.nHeadKv, s.headDim]);
      return;
    }
    const scratch = this.allocF32(s.T * this.threads);
    try {
      const args = [p('dout'), p('q'), p('k'), p('v'), p('probs'), p('dq'), p('dk'), p('dv'), s.T, s.nHead, s.nHeadKv, s.headDim, this.ptr(scratch), s.T * 4];
      this.d.pool.run(OP_TRAIN_ATT_BWD, s.B * s.nHeadKv, 1, this.threads, args);
    } finally {
      this.free(scratch);
    }
  }

  measureReadBandwidth(bytes = 256 << 20, reps = 5): number {
    const item = 64 << 10;
    const items = Math.max(1, Math.floor(bytes / item));
    const base = this.heap.alloc(items * item);
    const out = this.heap.alloc(items * 4);
    try {
      const u8 = this.heap.u8(base, items * item);
      for (let i = 0; i < u8.length; i += 4096) u8[i] = i & 0xff; // touch every page
      let best = 0;
      for (let r = -1; r < reps; r++) {
        const t = performance.now();
        this.d.pool.run(OP_STREAM, items, 16, this.threads, [base, item, out]);
        const s = (performance.now() - t) / 1000;
        if (r >= 0) best = Math.max(best, (items * item) / s / 1e9);
      }
      return best;
    } finally {
      this.heap.release(out);
      this.heap.release(base);
    }
  }

  /**
   * The relaxed build's dot variants (bit 0: single tokens with i32 dot-adds, bit 1: prompt batches in 4x4
   * tiles of i32 dot-adds; one vpdpbusd each on VNNI). Chosen by a load-time autotune; all give the same
   * integers. Process-wide (tests set each).
   */
  get gemvVariant(): number {
    return this.d.pool.gemvVariant;
  }
  set gemvVariant(v: number) {
    this.d.pool.gemvVariant = v;
  }

  /** Jobs handed to worker threads so far, process-wide (tests of the small-op rule). */
  get parallelJobs(): number {
    return this.d.pool.posted;
  }

  /** The ternary kernel new matrices get: forced, or the device's autotune (run here the first time). */
  get ternaryKernel(): TernaryKernel {
    if (this.kernelChoice !== 'auto') return this.kernelChoice;
    this.d.ternaryKernel ??= pickTernaryKernel(this.k, this.heap);
    return this.d.ternaryKernel;
  }

  private readonly lutTables = new LutTableCache(
    (bytes) => this.alloc(bytes),
    (p) => this.release(p),
  );
  private lutScratchPtr = 0;
  private get lutScratch(): number {
    if (!this.lutScratchPtr) this.lutScratchPtr = this.alloc(LUT_SCRATCH * this.threads);
    return this.lutScratchPtr;
  }

  /** A weight buffer for I2_S codes the caller writes at `codes`: the codes themselves, or their LUT repacking. */
  private weights(rows: number, cols: number, write: (codes: number) => void): { ptr: number; lut: boolean } {
    if (this.ternaryKernel === 'mad') {
      const ptr = this.alloc((rows * cols) / 4);
      write(ptr);
      return { ptr, lut: false };
    }
    // the tiles first, the temporary codes above them: releasing those lowers the heap top again
    const ptr = this.alloc(lutBytes(rows, cols));
    const codes = this.heap.alloc((rows * cols) / 4);
    try {
      write(codes);
      this.d.pool.run(OP_LUT_REPACK, Math.ceil(rows / 16), 16, this.threads, [codes, ptr, rows, cols, this.lutScratch]);
    } finally {
      this.heap.release(codes);
    }
    return { ptr, lut: true };
  }

  /** Bytes of device memory this backend holds (weights, caches, buffers). */
  get heldBytes(): number {
    let n = 0;
    for (const p of this.owned) n += this.heap.sizeOf(p);
    return n;
  }

  /**
   * Threads for a row or element op (norm, quantization, activation, add) over `elements` floats: an element
   * costs about what 4 multiply-adds of the int8 kernels do (a float op or two on one lane, against 16 products
   * per instruction), so a quarter of the matmul threshold; prompt batches of 2B4T's width from ~100 tokens are
   * split, single tokens stay on the calling thread.
   */
  private parRows(elements: number): number {
    return elements >= this.parallelMinWork / 4 ? this.threads : 1;
  }

  /** Threads for an op of `work` multiply-adds: all of them, or the calling thread alone for small work. */
  private par(work: number): number {
    return work >= this.parallelMinWork ? this.threads : 1;
  }

  private alloc(bytes: number): number {
    const p = this.heap.alloc(bytes);
    this.owned.add(p);
    return p;
  }
  private release(p: number): void {
    if (this.owned.delete(p)) this.heap.release(p);
  }
  /** byte offset of a view into device memory */
  private ptr(v: ArrayBufferView): number {
    if (this.heap.shared && !isSharedBuffer(v.buffer)) throw new BitnetError('INVALID_ARGUMENT', 'buffer is not in WASM memory (allocate it with the backend)');
    return v.byteOffset;
  }

  createTernary(t: TernaryData, rows: number, cols: number): TernaryMatrix {
    const n = rows * cols;
    let codes: Uint8Array;
    let alpha: number | undefined;
    if (cols % 128 !== 0) {
      return { rows, cols, alpha: undefined, ptr: 0, fallback: refBackend.createTernary(t, rows, cols) } as WasmTernary;
    }
    if (t.kind === 'i2s') {
      codes = t.bytes.subarray(0, n / 4);
      alpha = i2sReadScale(t.bytes, n);
    } else if (t.kind === 'tq2_0') {
      alpha = tq2UniformScale(t.bytes, n / 256);
      if (alpha === undefined) return this.createTernary({ kind: 'plain', plain: tq2_0Codec.decodeTernary(t.bytes, n) }, rows, cols);
      // bit-field reversal of each block's codes by the kernel, straight into the weight buffer
      const { ptr, lut } = this.weights(rows, cols, (dst) => {
        const src = this.heap.alloc(t.bytes.byteLength);
        this.heap.u8(src, t.bytes.byteLength).set(t.bytes);
        this.k.tq2_to_i2s(src, dst, n / 256);
        this.heap.release(src);
      });
      return { rows, cols, alpha, ptr, lut, fallback: undefined } as WasmTernary;
    } else if (t.kind === 'plain') {
      alpha = uniformScale(t.plain);
      if (alpha === undefined) return { rows, cols, alpha: undefined, ptr: 0, fallback: refBackend.createTernary(t, rows, cols) } as WasmTernary;
      codes = i2_sCodec.encodeTernary(t.plain.values, alpha).subarray(0, n / 4);
    } else {
      throw new BitnetError('INVALID_ARGUMENT', `unknown ternary data kind`);
    }
    const { ptr, lut } = this.weights(rows, cols, (dst) => this.heap.u8(dst, n / 4).set(codes));
    const m: WasmTernary = { rows, cols, alpha, ptr, lut, fallback: undefined };
    return m;
  }

  /** Whether the exact lm_head of this type runs in asm/dense.ts (else the reference kernel). */
  private static packable(type: TensorType): type is TensorType & { name: PackedDense['type'] } {
    return type.name === 'F16' || type.name === 'BF16' || type.name === 'F32';
  }

  /** Allocates the packed exact lm_head; rows are added with packRows. */
  private allocPacked(type: TensorType & { name: PackedDense['type'] }, rows: number, cols: number): WasmDense {
    const es = type.typeSize;
    const bytes = Math.ceil(rows / DENSE_GROUP) * DENSE_GROUP * cols * es;
    return { rows, cols, typeName: type.name, values: this.alloc(bytes), scales: 0, fallback: undefined, packed: { type: type.name, es, bytes, special: false } };
  }

  /** Packs source rows [r0, r0 + n) (r0 a multiple of DENSE_GROUP; n too, unless they end the matrix). */
  private packRows(m: WasmDense, r0: number, bytes: Uint8Array): void {
    const p = m.packed!;
    const es = p.es;
    const n = bytes.byteLength / (m.cols * es);
    const src = this.heap.alloc(bytes.byteLength);
    const flag = this.heap.alloc(4);
    try {
      this.heap.u8(src, bytes.byteLength).set(bytes);
      this.heap.i32(flag, 1)[0] = 0;
      const dst = m.values + (r0 / DENSE_GROUP) * DENSE_GROUP * m.cols * es;
      this.d.pool.run(OP_DENSE_PACK, Math.ceil(n / DENSE_GROUP), 1, this.threads, [es, src, m.cols, n, dst, flag]);
      if (p.type === 'F16' && this.heap.i32(flag, 1)[0] !== 0) p.special = true;
    } finally {
      this.heap.release(flag);
      this.heap.release(src);
    }
  }

  createDense(data: DenseData, rows: number, cols: number, opts: { int8?: boolean } = {}): DenseMatrix {
    if (!opts.int8) {
      const type = data.type;
      const name = type.name;
      if (!WasmBackend.packable(type)) return { rows, cols, typeName: name, values: 0, scales: 0, fallback: refBackend.createDense(data, rows, cols), packed: undefined } as WasmDense;
      const rowBytes = cols * type.typeSize;
      if (data.bytes.byteLength !== rowBytes * rows) {
        throw new BitnetError('SHAPE_MISMATCH', `${name} matrix [${rows}, ${cols}] needs ${rowBytes * rows} bytes, got ${data.bytes.byteLength}`);
      }
      const m = this.allocPacked(type, rows, cols);
      for (let r0 = 0; r0 < rows; r0 += DENSE_LOAD_ROWS) this.packRows(m, r0, data.bytes.subarray(r0 * rowBytes, Math.min(rows, r0 + DENSE_LOAD_ROWS) * rowBytes));
      return m;
    }
    const values = this.alloc(rows * cols);
    const scales = this.alloc(rows * 4);
    if (data.type.name === 'F16') {
      // requantize in WASM, rows split over the threads
      const src = this.heap.alloc(data.bytes.byteLength);
      this.heap.u8(src, data.bytes.byteLength).set(data.bytes);
      this.d.pool.run(OP_REQUANT, rows, 256, this.threads, [src, cols, values, scales]);
      this.heap.release(src);
    } else {
      const r = requantizeInt8Rows(data, rows, cols);
      this.heap.i8(values, rows * cols).set(r.values);
      this.heap.f32(scales, rows).set(r.scales);
    }
    const m: WasmDense = { rows, cols, typeName: 'I8_ROWS', values, scales, fallback: undefined, packed: undefined };
    return m;
  }

  async createDenseFrom(src: DenseSource, opts: { int8?: boolean } = {}): Promise<DenseMatrix> {
    const { type, rows, cols } = src;
    if (!opts.int8) {
      if (!WasmBackend.packable(type)) return this.createDense({ type, bytes: await src.read(0, rows) }, rows, cols);
      const m = this.allocPacked(type, rows, cols);
      const rowBytes = cols * type.typeSize;
      for (let r0 = 0; r0 < rows; r0 += DENSE_LOAD_ROWS) {
        const r1 = Math.min(rows, r0 + DENSE_LOAD_ROWS);
        const bytes = await src.read(r0, r1);
        if (bytes.byteLength !== (r1 - r0) * rowBytes) throw new BitnetError('SHAPE_MISMATCH', `${type.name} rows [${r0}, ${r1}) of ${cols} columns: read ${bytes.byteLength} bytes`);
        this.packRows(m, r0, bytes);
      }
      return m;
    }
    const values = this.alloc(rows * cols);
    const scales = this.alloc(rows * 4);
    const rowBytes = (cols / type.blockSize) * type.typeSize;
    // one reused chunk buffer: the f16 matrix never sits in memory whole
    const temp = type.name === 'F16' ? this.heap.alloc(REQUANT_CHUNK_ROWS * rowBytes) : 0;
    try {
      for (let r0 = 0; r0 < rows; r0 += REQUANT_CHUNK_ROWS) {
        const r1 = Math.min(rows, r0 + REQUANT_CHUNK_ROWS);
        const bytes = await src.read(r0, r1);
        if (temp) {
          this.heap.u8(temp, bytes.byteLength).set(bytes);
          this.d.pool.run(OP_REQUANT, r1 - r0, 64, this.threads, [temp, cols, values + r0 * cols, scales + r0 * 4]);
        } else {
          requantizeRows({ type, bytes }, cols, 0, r1 - r0, { values: this.heap.i8(values + r0 * cols, (r1 - r0) * cols), scales: this.heap.f32(scales + r0 * 4, r1 - r0) });
        }
      }
    } finally {
      if (temp) this.heap.release(temp);
    }
    const m: WasmDense = { rows, cols, typeName: 'I8_ROWS', values, scales, fallback: undefined, packed: undefined };
    return m;
  }

  matrixBytes(m: TernaryMatrix | DenseMatrix): number {
    if ('ptr' in m) {
      const t = m as WasmTernary;
      return t.fallback ? refBackend.matrixBytes(t.fallback) : t.lut ? lutBytes(t.rows, t.cols) : (t.rows * t.cols) / 4;
    }
    const d = m as WasmDense;
    if (d.packed) return d.packed.bytes;
    return d.fallback ? refBackend.matrixBytes(d.fallback) : d.rows * d.cols + d.rows * 4;
  }

  allocF32(n: number): Float32Array {
    return this.heap.f32(this.alloc(Math.max(4, n * 4)), n);
  }
  allocActs(T: number, K: number): QuantizedActs {
    return { q: this.heap.i8(this.alloc(T * K), T * K), scale: this.heap.f32(this.alloc(T * 4), T), sum: this.heap.i32(this.alloc(T * 4), T), T, K };
  }
  free(buf: Float32Array | QuantizedActs): void {
    if (buf instanceof Float32Array) this.release(buf.byteOffset);
    else {
      this.lutTables.drop(buf);
      for (const b of [buf.q, buf.scale, buf.sum]) this.release(b.byteOffset);
    }
  }
  upload(): void {
    // kernels run on the CPU in the same memory: nothing to copy
  }
  async read(buf: Float32Array): Promise<Float32Array> {
    return buf;
  }
  /** Copies a vector (norm weights) into device memory. */
  createVector(v: Float32Array): Float32Array {
    const out = this.allocF32(v.length);
    out.set(v);
    return out;
  }

  private kvqCache: WasmKvQuant | undefined;
  /** the caches with a q8_0 / q4_0 K or V (kv-quant.ts) */
  private get kvq(): WasmKvQuant {
    this.kvqCache ??= new WasmKvQuant({
      d: this.d, threads: this.threads, blockBytes: this.attentionBlockBytes,
      alloc: (b) => this.alloc(b), release: (p) => this.release(p), ptr: (v) => this.ptr(v), par: (w) => this.par(w),
    });
    return this.kvqCache;
  }

  createKv(nLayer: number, nHeadKv: number, headDim: number, nCtx: number, types: KvTypes): KvStorage {
    checkKvTypes(types, headDim);
    if (isQuantizedKv(types.k) || isQuantizedKv(types.v)) return this.kvq.create(nLayer, nHeadKv, headDim, nCtx, types);
    // the attention kernel works on 32 dims at a time and one type for K and V: other head sizes, and f16 beside
    // f32, use the reference cache and attention
    if (headDim % 32 !== 0 || types.k !== types.v) return refBackend.createKv(nLayer, nHeadKv, headDim, nCtx, types);
    const type = types.k;
    const es = type === 'f16' ? 2 : 4;
    const width = nHeadKv * headDim;
    // the whole context up front: pages the cache has not touched yet cost no physical memory
    const layers: WasmKvLayer[] = [];
    // K in blocks of 8 positions, padded to whole blocks; V in slabs of 32 dims (asm/attention.ts)
    const kElems = nHeadKv * Math.ceil(nCtx / 8) * 8 * headDim;
    for (let l = 0; l < nLayer; l++) {
      // after K: the layer's inf/NaN flag (asm/attention.ts), cleared here
      const layer = { k: this.alloc(kElems * es + 16), v: this.alloc((nCtx * width + 8) * es) };
      this.heap.u8(layer.k + kElems * es, 16).fill(0);
      this.kvShape.set(layer, { nHeadKv, headDim, nCtx, f16: type === 'f16' });
      layers.push(layer);
    }
    // positions ever reserved: what the cache has touched (bytes() reports it, not the whole range)
    let reserved = 0;
    return {
      layers,
      reserve: (n) => {
        reserved = Math.max(reserved, n);
      },
      copyFrom: (src, n) => {
        const from = src.layers as WasmKvLayer[];
        const s = from[0] && this.kvShape.get(from[0]);
        if (from.length !== nLayer || !s || s.nHeadKv !== nHeadKv || s.headDim !== headDim || s.f16 !== (type === 'f16')) {
          throw new BitnetError('INVALID_ARGUMENT', 'KV caches of different shapes or types', { name: 'kv' });
        }
        // K: the first ceil(n/8) blocks of each kv head (each cache's own block count); V: n positions of each
        // 32-dim slab (each cache's own slab length); and the inf/NaN flag (a set flag only selects the exact
        // widening, so taking the source's is always safe)
        const blockBytes = headDim * 8 * es;
        const srcBlocks = Math.ceil(s.nCtx / 8);
        const dstBlocks = Math.ceil(nCtx / 8);
        const u8 = this.heap.u8(0, this.heap.buffer.byteLength);
        layers.forEach((l, i) => {
          const f = from[i]!;
          for (let g = 0; g < nHeadKv; g++) {
            const at = f.k + g * srcBlocks * blockBytes;
            u8.copyWithin(l.k + g * dstBlocks * blockBytes, at, at + Math.ceil(n / 8) * blockBytes);
          }
          for (let slab = 0; slab < width / 32; slab++) {
            const at = f.v + slab * s.nCtx * 32 * es;
            u8.copyWithin(l.v + slab * nCtx * 32 * es, at, at + n * 32 * es);
          }
          u8.copyWithin(l.k + nHeadKv * dstBlocks * blockBytes, f.k + nHeadKv * srcBlocks * blockBytes, f.k + nHeadKv * srcBlocks * blockBytes + 4);
        });
      },
      shift: (keep, discard, n, rope) => {
        checkKvShift(keep, discard, n, nCtx);
        const shape = { nHeadKv, headDim, nCtx, f16: type === 'f16' };
        for (const l of layers) shiftWasmKvLayer(this.heap, l.k, l.v, shape, keep, discard, n, rope);
      },
      bytes: () => nLayer * width * es * (Math.ceil(reserved / 8) * 8 + reserved),
      free: () => {
        for (const l of layers) {
          this.release(l.k);
          this.release(l.v);
        }
        layers.length = 0;
        reserved = 0;
      },
    };
  }

  quantizeActs(x: Float32Array, out: QuantizedActs): void {
    // rows split across the threads for prompt batches (each row's scale and sum are its own)
    this.d.pool.run(OP_QUANT_ACTS, out.T, 1, this.parRows(out.T * out.K), [this.ptr(x), out.K, this.ptr(out.q), this.ptr(out.scale), this.ptr(out.sum)]);
    this.lutTables.invalidate(out);
  }

  /** Activations widened to i16 for the portable kernels (a temporary the caller frees), or 0. */
  private widen(q: Int8Array): number {
    if (!this.d.needsX16) return 0;
    const p = this.alloc(q.length * 2);
    this.k.widen_i8(this.ptr(q), p, q.length);
    return p;
  }

  matmulTernary(w: TernaryMatrix, xq: QuantizedActs, y: Float32Array): void {
    const m = w as WasmTernary;
    if (m.fallback) return refBackend.matmulTernary(m.fallback, xq, y);
    if (m.lut) return this.matmulLut(m, xq, y);
    const x16 = this.widen(xq.q);
    try {
      const threads = this.par(m.rows * m.cols * xq.T);
      this.d.pool.run(OP_TERNARY, m.rows, chunkRows(m.rows, m.cols / 4, threads), threads, [m.ptr, m.cols, this.ptr(xq.q), x16, xq.T, this.ptr(xq.sum), this.ptr(xq.scale), { f32: m.alpha! }, this.ptr(y), m.rows]);
    } finally {
      if (x16) this.release(x16);
    }
  }

  /**
   * Tables of T tokens of q (width K) into `tables`: a few tokens' on this thread (microseconds: a job would cost
   * more in handing over), longer batches split over the threads by 128-column blocks.
   */
  private buildTables(q: number, K: number, T: number, tables: number): void {
    const items = (T * K) / 128;
    const threads = T < 8 ? 1 : this.parRows(T * K);
    this.d.pool.run(OP_LUT_TABLES, items, Math.max(1, Math.ceil(items / (4 * threads))), threads, [q, K, tables, this.lutScratch]);
  }

  private matmulLut(m: WasmTernary, xq: QuantizedActs, y: Float32Array): void {
    const K = m.cols;
    const lut = (tables: number, t0: number, T: number): void =>
      this.d.pool.run(OP_TERNARY_LUT, m.rows, chunkRows(m.rows, K / 4, this.threads), this.par(m.rows * K * T), [
        m.ptr, K, tables, T, this.ptr(xq.scale) + 4 * t0, { f32: m.alpha! }, this.ptr(y) + 4 * t0 * m.rows, m.rows, this.lutScratch,
      ]);
    if (xq.T <= LUT_TOKENS) {
      lut(this.lutTables.get(xq, (p) => this.buildTables(this.ptr(xq.q), K, xq.T, p)), 0, xq.T);
      return;
    }
    // long batches: tables for LUT_TOKENS tokens at a time
    const tables = this.alloc(lutTableBytes(LUT_TOKENS, K));
    try {
      for (let t0 = 0; t0 < xq.T; t0 += LUT_TOKENS) {
        const T = Math.min(LUT_TOKENS, xq.T - t0);
        this.buildTables(this.ptr(xq.q) + t0 * K, K, T, tables);
        lut(tables, t0, T);
      }
    } finally {
      this.release(tables);
    }
  }

  matmulDense(w: DenseMatrix, x: Float32Array, T: number, y: Float32Array, roundInput: boolean): void {
    const m = w as WasmDense;
    if (m.fallback) return refBackend.matmulDense(m.fallback, x, T, y, roundInput);
    if (m.packed) return this.matmulPacked(m, m.packed, x, T, y, roundInput);
    const xq = this.allocActs(T, m.cols);
    try {
      this.quantizeActs(x, xq);
      const x16 = this.widen(xq.q);
      try {
        this.d.pool.run(OP_INT8, m.rows, 256, this.par(m.rows * m.cols * T), [m.values, m.cols, this.ptr(xq.q), x16, T, this.ptr(xq.scale), this.ptr(xq.sum), m.scales, this.ptr(y), m.rows]);
      } finally {
        if (x16) this.release(x16);
      }
    } finally {
      this.free(xq);
    }
  }

  /** The exact lm_head: x as the reference uses it (rounded to f16/bf16 when roundInput), then asm/dense.ts. */
  private matmulPacked(m: WasmDense, p: PackedDense, x: Float32Array, T: number, y: Float32Array, roundInput: boolean): void {
    const n = T * m.cols;
    const xs = this.allocF32(n);
    try {
      let maxFinite = 0;
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        const r = !roundInput || p.type === 'F32' ? v : p.type === 'F16' ? roundF16(v) : bf16ToF32(f32ToBf16(v));
        xs[i] = r;
        if (Number.isFinite(r)) maxFinite = Math.max(maxFinite, Math.abs(r));
      }
      let kind = p.type === 'F32' ? 3 : p.type === 'BF16' ? 2 : 1;
      // F16 with x·2^112 in place of each weight·2^112 (asm/dense.ts: exact while no finite x·2^112 overflows)
      if (kind === 1 && !p.special && Number.isFinite(Math.fround(maxFinite * TWO_112))) {
        kind = 0;
        for (let i = 0; i < n; i++) xs[i] = xs[i]! * TWO_112;
      }
      this.d.pool.run(OP_DENSE, Math.ceil(m.rows / DENSE_GROUP), DENSE_CHUNK_GROUPS, this.par(m.rows * m.cols * T), [kind, m.values, m.cols, this.ptr(xs), T, this.ptr(y), m.rows]);
    } finally {
      this.free(xs);
    }
  }

  rmsNorm(x: Float32Array, T: number, n: number, eps: number, weight: Float32Array, out: Float32Array): void {
    this.d.pool.run(OP_RMS_NORM, T, 1, this.parRows(T * n), [this.ptr(x), n, { f32: eps }, this.ptr(weight), this.ptr(out)]);
  }

  rope(x: Float32Array, p: RopeParams): void {
    const table = this.allocF32(p.table.length);
    try {
      table.set(p.table);
      this.k.rope(this.ptr(x), p.T, p.nHead, p.headDim, p.nRot, p.style === 'neox' ? 1 : 0, this.ptr(table));
    } finally {
      this.free(table);
    }
  }

  kvStore(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, pos0: number): void {
    if (this.kvq.owns(layer)) return this.kvq.store(layer, k, v, T, pos0);
    const l = layer as WasmKvLayer;
    const s = this.kvShape.get(layer);
    if (!s) return refBackend.kvStore(layer, k, v, T, pos0);
    this.k.kv_store(l.k, l.v, this.ptr(k), this.ptr(v), T, pos0, s.nHeadKv, s.headDim, s.nCtx, s.f16 ? 1 : 0);
  }

  private readonly kvShape = new WeakMap<object, { nHeadKv: number; headDim: number; nCtx: number; f16: boolean }>();

  attention(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void {
    if (this.kvq.owns(layer)) return this.kvq.attention(q, layer, out, p);
    const l = layer as WasmKvLayer;
    const s = this.kvShape.get(layer);
    if (!s) return refBackend.attention(q, layer, out, p);
    // three passes over shared scores: (block of queries, kv head, 256-position chunk), rows of 4 (query,
    // head), and (block of queries, kv head, 32 dims), so both threads stay busy whatever the head counts;
    // queries go in blocks whose score rows fit in attentionBlockBytes
    const f16 = s.f16 ? 1 : 0;
    const roundP = s.f16 && p.T === 1 ? 1 : 0; // ggml rounds P to f16 only in single-token decode
    const group = p.nHead / p.nHeadKv;
    const stride = Math.ceil((p.pos0 + p.T) / 8) * 32;
    const qBlock = Math.max(1, Math.min(p.T, Math.floor(this.attentionBlockBytes / (p.nHead * stride))));
    const scoreBlock = Math.min(qBlock, SCORE_QUERY_BLOCK);
    const scratchBytes = 4 * scoreBlock * group * p.headDim + 64;
    const probs = this.alloc(qBlock * p.nHead * stride + scratchBytes * this.threads);
    const scratch = probs + qBlock * p.nHead * stride;
    const rowBytes = p.nHead * p.headDim * 4;
    // scores and P·V: two float multiply-adds per (query, head, position, dim), each (f16 widening, exact
    // float order) costing ~4 of the int8 kernels' multiply-adds
    const threads = this.par(8 * p.T * p.nHead * p.headDim * (p.pos0 + p.T));
    // an f16 cache holding only finite values: P·V takes P times 2^112 (asm/attention.ts, mode 1)
    const pscale = s.f16 && this.heap.u8(l.k + s.nHeadKv * Math.ceil(s.nCtx / 8) * 8 * s.headDim * 2, 1)[0] === 0 ? 2 ** 112 : 1;
    try {
      for (let t0 = 0; t0 < p.T; t0 += qBlock) {
        const T = Math.min(qBlock, p.T - t0);
        const pos0 = p.pos0 + t0;
        const qp = this.ptr(q) + t0 * rowBytes;
        const op = this.ptr(out) + t0 * rowBytes;
        const nChunks = Math.ceil((pos0 + T) / SCORE_CHUNK);
        this.d.pool.run(OP_ATT_SCORES, Math.ceil(T / scoreBlock) * p.nHeadKv * nChunks, 1, threads, [
          qp, l.k, p.nHead, p.nHeadKv, p.headDim, pos0, T, s.nCtx, { f32: p.scale }, f16, probs, stride, SCORE_CHUNK, scoreBlock, scratch, scratchBytes,
        ]);
        this.d.pool.run(OP_ATT_SOFTMAX, T * p.nHead, 4, threads, [probs, stride, p.nHead, pos0, roundP, { f32: pscale }]);
        // P·V query blocks: queries of a block share each chunk of V lines while they sit in L1
        const pvBlock = Math.min(T, PV_QUERY_BLOCK);
        this.d.pool.run(OP_ATT_PV, Math.ceil(T / pvBlock) * p.nHeadKv * (p.headDim / 32), 1, threads, [
          probs, stride, l.k, l.v, op, p.nHead, p.nHeadKv, p.headDim, pos0, s.nCtx, f16, T, pvBlock,
        ]);
      }
    } finally {
      this.release(probs);
    }
  }


  gatedAct(gate: Float32Array, up: Float32Array, n: number, act: 'relu2' | 'silu'): void {
    this.d.pool.run(OP_GATED_ACT, n, ELEMENT_CHUNK, this.parRows(n), [this.ptr(gate), this.ptr(up), act === 'silu' ? 1 : 0]);
  }
  add(x: Float32Array, y: Float32Array, n: number): void {
    this.d.pool.run(OP_ADD, n, ELEMENT_CHUNK, this.parRows(n), [this.ptr(x), this.ptr(y)]);
  }
  scale(x: Float32Array, n: number, s: number): void {
    this.k.scale_f32(this.ptr(x), n, Math.fround(s));
  }

  memoryBytes(): number {
    return this.heap.memory.buffer.byteLength;
  }

  dispose(): void {
    for (const p of this.owned) this.heap.release(p);
    this.owned.clear();
  }
}
