// The Backend interface: every numeric op the forward pass needs, and the memory its buffers live in.
// kernels/ref/ implements it in plain, exact TypeScript (bitnet.cpp's integer path, float32 ops in a fixed
// order); faster backends (WASM, WebGPU) implement the same interface and must give the same bits.
import { BitnetError } from '../errors.js';
import type { DenseData, DenseSource, TernaryData } from '../formats/model-file.js';

/** Per-token int8 activations, as bitnet.cpp's quantize_row_i8_s produces them (in backend memory). */
export interface QuantizedActs {
  /** [T, K] int8 values */
  q: Int8Array;
  /** [T] s = (float)(127 / max(|x|, 1e-5)) */
  scale: Float32Array;
  /** [T] sum of q over the row (bitnet.cpp's act_sum) */
  sum: Int32Array;
  T: number;
  K: number;
}

/** A ternary weight matrix [rows = out, cols = in] in the backend's own layout. */
export interface TernaryMatrix {
  readonly rows: number;
  readonly cols: number;
  /** one scale for the whole tensor (bitnet.cpp's I2_S scale), or undefined when 256-blocks carry their own */
  readonly alpha: number | undefined;
}

/** A dense matrix [rows, cols] (embedding, lm_head): in its stored type, or requantized to int8 rows. */
export interface DenseMatrix {
  readonly rows: number;
  readonly cols: number;
  /** stored type name, or 'I8_ROWS' for the requantized lm_head */
  readonly typeName: string;
}

/**
 * KV cache storage types, llama.cpp's -ctk / -ctv values. q8_0 and q4_0 store each K and V row (width
 * nHeadKv * headDim) as 32-element blocks byte-identical to ggml's block_q8_0 / block_q4_0 (formats/quants).
 */
export const KV_TYPES = ['f32', 'f16', 'q8_0', 'q4_0'] as const;
export type KvType = (typeof KV_TYPES)[number];
/** The K and V storage types of a cache (any pair, as llama.cpp allows). */
export interface KvTypes {
  k: KvType;
  v: KvType;
}

/** Bytes one cached value takes: 4, 2, 34/32 (q8_0) or 18/32 (q4_0). */
export function kvBytesPerValue(t: KvType): number {
  return t === 'f32' ? 4 : t === 'f16' ? 2 : t === 'q8_0' ? 34 / 32 : 18 / 32;
}

/** Whether a type is one of the 32-element block types (Q·K on the integer dot, P·V on dequantized blocks). */
export function isQuantizedKv(t: KvType): t is 'q8_0' | 'q4_0' {
  return t === 'q8_0' || t === 'q4_0';
}

/**
 * Checks a cache's types: known names, and whole 32-element blocks per head for q8_0/q4_0. The typed error
 * names the flag (cache-type-k / cache-type-v).
 */
export function checkKvTypes(types: KvTypes, headDim: number): void {
  for (const [which, t] of [['k', types.k], ['v', types.v]] as const) {
    const name = `cache-type-${which}`;
    if (!(KV_TYPES as readonly string[]).includes(t)) throw new BitnetError('INVALID_ARGUMENT', `unknown KV cache type '${String(t)}' (one of ${KV_TYPES.join(', ')})`, { name });
    if (isQuantizedKv(t) && headDim % 32 !== 0) throw new BitnetError('INVALID_ARGUMENT', `${t} needs a head size that is a multiple of 32, this model's is ${headDim}`, { name });
  }
}

/** One layer's K/V storage; its layout is the backend's business. */
export type KvLayer = object;

export interface KvStorage {
  readonly layers: readonly KvLayer[];
  /** makes room for positions [0, n) (n <= nCtx) */
  reserve(n: number): void;
  /**
   * Copies the K/V of positions [0, n) of every layer from `src`, a storage of the same backend, layer count,
   * heads, head size and type (its context may differ); positions >= n of this storage are left as they are.
   * Call reserve(n) first. Ordered with the backend's other ops (GPU: queued like them).
   */
  copyFrom(src: KvStorage, n: number): void;
  /**
   * Context shift (llama.cpp's seq_rm + seq_add): drops positions [keep, keep + discard) of the n held and
   * moves [keep + discard, n) to [keep, n - discard) in every layer. Their K (stored after RoPE) is rotated
   * by -discard positions in place, in float32 from the stored value with `rope` (as ropeRef, one row per
   * position and kv head) and stored rounded to the cache type; V only moves. Each storage type does this
   * for its own layout (a quantized type dequantizes, rotates and requantizes its blocks). Ordered with
   * the backend's other ops.
   */
  shift(keep: number, discard: number, n: number, rope: KvShiftRope): void;
  /** Bytes held now: the buffers allocated so far, or of a range reserved whole up front, the positions written. */
  bytes(): number;
  free(): void;
}

/** The rotation of a context shift: RoPE by the position delta -discard, as the forward pass applies it. */
export interface KvShiftRope {
  /** rotated dimensions of each head (rope.dimension_count) */
  nRot: number;
  style: 'neox' | 'norm';
  /** [nRot] cos/sin of the delta position, interleaved per pair: ropeTable(-discard, 1, ...) */
  table: Float32Array;
}

export interface AttentionParams {
  T: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  /** position of the first query; queries are at pos0 .. pos0+T-1 and see keys 0 .. their own position */
  pos0: number;
  /** the f32 value of 1/sqrt(headDim) */
  scale: number;
  /**
   * The cache's K and V types. f16 K (bitnet.cpp's default): Q is rounded to f16 for Q·K; f16 V: P is rounded
   * to f16 for P·V when T == 1; q8_0/q4_0 K: Q is quantized to q8_0 per head and Q·K is ggml's integer block dot;
   * q8_0/q4_0 V: P·V over the dequantized values (kernels/ref/ops.ts defines each).
   */
  kv: KvTypes;
}

export interface RopeParams {
  T: number;
  nHead: number;
  headDim: number;
  /** rotated dimensions (rope.dimension_count) */
  nRot: number;
  /** 'neox': pairs (i, i + nRot/2); 'norm': adjacent pairs (2i, 2i+1) */
  style: 'neox' | 'norm';
  /** [T, nRot] cos/sin interleaved per pair (cos0, sin0, cos1, sin1, ...), from ropeTable() */
  table: Float32Array;
}

/**
 * Multiply-adds below which a CPU backend runs a parallel op on the calling thread alone: handing a job to
 * worker threads and waiting for every one of them to check in costs ~1-7 us when they spin (Node 24 / Node 20)
 * and tens of microseconds when one has to be woken, as much as ~2^20 multiply-adds of int8 kernel work, so
 * small ops (a tiny model's matrices, attention over a short context) only get slower with more threads.
 */
export const PARALLEL_MIN_WORK = 1 << 20;

/** The CPU backend's ternary matmul kernels: table lookups, multiply-add, or whichever a one-time timing picks. */
export const TERNARY_KERNELS = ['auto', 'lut', 'mad'] as const;
export type TernaryKernelChoice = (typeof TERNARY_KERNELS)[number];

/** The largest k a backend's topK takes. */
export const BACKEND_TOP_K_MAX = 16;

export interface Backend {
  readonly name: string;
  /** threads the backend computes on */
  readonly threads: number;

  createTernary(t: TernaryData, rows: number, cols: number): TernaryMatrix;
  /** int8: requantize to 7-bit rows with one f32 scale per row (requant.ts), for the lm_head */
  createDense(data: DenseData, rows: number, cols: number, opts?: { int8?: boolean }): DenseMatrix;
  /** The same from a source read in row ranges (int8: converted chunk by chunk, never held whole). */
  createDenseFrom(src: DenseSource, opts?: { int8?: boolean }): Promise<DenseMatrix>;
  /** Bytes the backend holds for a matrix (for memory reports). */
  matrixBytes(m: TernaryMatrix | DenseMatrix): number;

  /** A vector (norm weights) in backend memory. */
  createVector(v: Float32Array): Float32Array;
  /** Activation buffers in backend memory; free them when done. */
  allocF32(n: number): Float32Array;
  allocActs(T: number, K: number): QuantizedActs;
  free(buf: Float32Array | QuantizedActs): void;
  /**
   * Makes data the CPU wrote into `buf` (a buffer from allocF32, e.g. embedding rows) visible to the
   * backend's kernels. CPU backends: nothing to do.
   */
  upload(buf: Float32Array): void;
  /**
   * `buf`'s contents on the CPU once every queued op has run. CPU backends return `buf` itself (ops run when
   * called); GPU backends submit the queued work and read it back: the one sync point of a forward pass.
   */
  read(buf: Float32Array): Promise<Float32Array>;
  /**
   * Optional (GPU backends): the k largest of each of `rows` rows of `logits` [rows, nVocab] (value
   * descending, ties to the lower id), after every queued op, reading back only those (k <= BACKEND_TOP_K_MAX).
   */
  topK?(logits: Float32Array, rows: number, nVocab: number, k: number): Promise<{ ids: Int32Array; values: Float32Array }>;
  /** K/V storage; throws INVALID_ARGUMENT naming the flag for a type (or head size) the backend cannot store. */
  createKv(nLayer: number, nHeadKv: number, headDim: number, nCtx: number, types: KvTypes): KvStorage;

  /** x [T, K] -> int8 activations (bitnet.cpp's per-token absmax quantization) into out. */
  quantizeActs(x: Float32Array, out: QuantizedActs): void;
  /** y [T, rows] = bitnet.cpp's epilogue over the integer ternary dot: ((float)(D) / s) * alpha. */
  matmulTernary(w: TernaryMatrix, xq: QuantizedActs, y: Float32Array): void;
  /** y [T, rows] = x [T, cols] · W^T; roundInput mimics ggml's single-row F16 path. */
  matmulDense(w: DenseMatrix, x: Float32Array, T: number, y: Float32Array, roundInput: boolean): void;

  /** out [T, n] = ggml rms_norm(x) * weight (two ops, in that order). */
  rmsNorm(x: Float32Array, T: number, n: number, eps: number, weight: Float32Array, out: Float32Array): void;
  /** In-place rotary embedding of x [T, nHead * headDim]. */
  rope(x: Float32Array, p: RopeParams): void;
  /** Stores rows of K and V [T, nHeadKv * headDim] at positions pos0.. (rounded to f16 / quantized per the cache's types). */
  kvStore(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, pos0: number): void;
  /** out [T, nHead * headDim] = softmax(scale · Q Kᵀ + causal mask) V over the cache. */
  attention(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void;
  /** gate[i] = act(gate[i]) * up[i]: relu(g)^2 * u or silu(g) * u. */
  gatedAct(gate: Float32Array, up: Float32Array, n: number, act: 'relu2' | 'silu'): void;
  /** x += y (residual). */
  add(x: Float32Array, y: Float32Array, n: number): void;
  /** x[i] *= s (ggml_mul by a one-element tensor: the optional `.scale` of the 2024 bitnet arch). */
  scale(x: Float32Array, n: number, s: number): void;
  /** Bytes of device memory the backend holds in all (the WASM heap), where it can tell. */
  memoryBytes?(): number;
  /** Releases the backend's memory and threads. */
  dispose(): void;
}
