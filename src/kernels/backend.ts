// The Backend interface: every numeric op the forward pass needs. kernels/ref/ implements it in plain,
// exact TypeScript (bitnet.cpp's integer path and ggml's float32 op order); faster backends (WASM,
// WebGPU) implement the same interface and are tested against ref/.
import type { TernaryPlain } from '../formats/quants/codec.js';
import type { DenseData } from '../formats/model-file.js';

/** Per-token int8 activations, as bitnet.cpp's quantize_row_i8_s produces them. */
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
  /** one scale for the whole tensor (bitnet.cpp's I2_S scale), or undefined when blocks carry their own */
  readonly alpha: number | undefined;
}

/** A dense matrix [rows, cols] (embedding, lm_head) kept in its storage type. */
export interface DenseMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly typeName: string;
}

/** KV cache storage of one layer: [nCtx, nKvHead * headDim] rows of K (after RoPE) and V. */
export interface KvLayer {
  k: Float32Array | Uint16Array;
  v: Float32Array | Uint16Array;
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
  /** K/V storage is f16 (bitnet.cpp's default): Q is rounded to f16 for Q·K, and P to f16 for P·V when T == 1 */
  f16: boolean;
}

export interface RopeParams {
  T: number;
  nHead: number;
  headDim: number;
  /** rotated dimensions (rope.dimension_count) */
  nRot: number;
  pos0: number;
  freqBase: number;
  /** 'neox': pairs (i, i + nRot/2); 'norm': adjacent pairs (2i, 2i+1) */
  style: 'neox' | 'norm';
  /** optional per-pair frequency divisors (rope_freqs.weight) */
  freqFactors: Float32Array | undefined;
}

export interface Backend {
  readonly name: string;
  createTernary(plain: TernaryPlain, rows: number, cols: number): TernaryMatrix;
  createDense(data: DenseData, rows: number, cols: number): DenseMatrix;
  /** Bytes the backend holds for a matrix (for memory reports). */
  matrixBytes(m: TernaryMatrix | DenseMatrix): number;

  /** x [T, K] -> int8 activations (bitnet.cpp's per-token absmax quantization). */
  quantizeActs(x: Float32Array, T: number, K: number): QuantizedActs;
  /** y [T, rows] = bitnet.cpp's epilogue over the integer ternary dot: ((float)(D) / s) * alpha. */
  matmulTernary(w: TernaryMatrix, xq: QuantizedActs, y: Float32Array): void;
  /** y [T, rows] = x [T, cols] · W^T with ggml's vec_dot semantics for the storage type; roundInput mimics ggml's single-row F16 path. */
  matmulDense(w: DenseMatrix, x: Float32Array, T: number, y: Float32Array, roundInput: boolean): void;
  /** out [ids.length, cols] = rows of W (embedding lookup). */
  getRows(w: DenseMatrix, ids: ArrayLike<number>, out: Float32Array): void;

  /** out [T, n] = ggml rms_norm(x) * weight (two ops, in that order). */
  rmsNorm(x: Float32Array, T: number, n: number, eps: number, weight: Float32Array, out: Float32Array): void;
  /** In-place rotary embedding of x [T, nHead * headDim]. */
  rope(x: Float32Array, p: RopeParams): void;
  /** Stores rows of K and V [T, width] into the layer cache at positions pos0.. (rounded to f16 when the cache is f16). */
  kvStore(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, width: number, pos0: number): void;
  /** out [T, nHead * headDim] = softmax(scale · Q Kᵀ + causal mask) V over the cache. */
  attention(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void;
  /** x[i] = act(gate[i]) * up[i] in place on gate: relu(g)^2 * u or silu(g) * u. */
  gatedAct(gate: Float32Array, up: Float32Array, n: number, act: 'relu2' | 'silu'): void;
  /** x += y (residual). */
  add(x: Float32Array, y: Float32Array, n: number): void;
  /** x[t, i] *= s (ggml_mul by a one-element tensor: the optional `.scale` of the 2024 bitnet arch). */
  scale(x: Float32Array, n: number, s: number): void;
}
