// The WebGPU backend: every op of the Backend interface as a WGSL compute kernel (wgsl-kernels.ts), encoded
// into one pending command encoder and submitted when the forward pass reads its result (`read`). Buffers
// from allocF32 are CPU-side Float32Array shadows whose ArrayBuffer maps to a GPU buffer; ops take them or
// their subarrays and pass element offsets to the kernels. Integer results (int8 activations, ternary and
// int8 dots) match the reference backend bit for bit; float ops follow its order of operations.
import { BitnetError } from '../../errors.js';
import type { DenseData, DenseSource, TernaryData } from '../../formats/model-file.js';
import { i2sReadScale, i2_sCodec } from '../../formats/quants/i2_s.js';
import { tq2_0Codec } from '../../formats/quants/tq2_0.js';
import { uniformScale } from '../../formats/ternarize.js';
import type { AttentionParams, Backend, DenseMatrix, KvLayer, KvStorage, KvTypes, QuantizedActs, RopeParams, TernaryMatrix } from '../backend.js';
import { REQUANT_CHUNK_ROWS, requantizeRows } from '../requant.js';
import { adapterName, openGpu, Recorder, USAGE, type GpuContext } from './device.js';
import { attentionGpu, createGpuKv, kvStoreGpu, type KvHost } from './kv.js';
import * as K from './wgsl-kernels.js';

const STORAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

interface GpuTernary extends TernaryMatrix {
  w: GPUBuffer;
  /** u32 words per weight row (rows padded to 128 columns) */
  Ww: number;
  /** per-block scales when alpha is undefined */
  d: GPUBuffer | undefined;
  scaleBlock: number;
  bytes: number;
}

/** One part of a dense matrix: rows [r0, r0 + rows) in their own buffer (bindings have a size limit). */
interface DensePart {
  r0: number;
  rows: number;
  buf: GPUBuffer;
}

interface GpuDense extends DenseMatrix {
  parts: DensePart[];
  /** int8: row scales [rows] */
  scales: GPUBuffer | undefined;
  bytes: number;
}

interface GpuActs {
  q: GPUBuffer;
  scale: GPUBuffer;
  sum: GPUBuffer;
  /** u32 words per row: roundup(K, 128) / 4 */
  Kw: number;
}

const ceilTo = (n: number, m: number): number => Math.ceil(n / m) * m;

export interface WebGpuBackendOptions {
  /** navigator.gpu in browsers; the npm webgpu package's create([...]) in Node */
  gpu: GPU;
  /** use dot4I8Packed (default: where the runtime supports it); false forces the unpacking fallback */
  packedDot?: boolean;
  /** an adapter/device already opened (openGpu) */
  context?: GpuContext;
  /** most bytes per buffer binding (default: the device's limit; tests set small values to split matrices) */
  maxBindingBytes?: number;
}

/** Opens the GPU and returns the backend; throws when no adapter can be obtained. */
export async function createWebGpuBackend(opts: WebGpuBackendOptions): Promise<WebGpuBackend> {
  const ctx = opts.context ?? (await openGpu(opts.gpu));
  if (!ctx) throw new BitnetError('INVALID_ARGUMENT', 'WebGPU: no adapter is available (no GPU, or no WebGPU driver)', { name: 'backend' });
  return new WebGpuBackend(ctx, opts.packedDot ?? ctx.packedDot, opts.maxBindingBytes);
}

export class WebGpuBackend implements Backend {
  readonly name: string;
  readonly threads = 1;
  readonly rec: Recorder;
  private readonly device: GPUDevice;
  /** shadow ArrayBuffer -> GPU buffer */
  private readonly shadows = new WeakMap<ArrayBufferLike, GPUBuffer>();
  private readonly acts = new WeakMap<ArrayBufferLike, GpuActs>();
  /** free activation buffers by size, for reuse; bounded by the most bytes ever in use at once */
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private inUseBytes = 0;
  private peakInUseBytes = 0;
  private readonly owned = new Set<GPUBuffer>();
  private readonly dummy: GPUBuffer;
  private table: { data: Float32Array; buf: GPUBuffer } | undefined;

  private readonly maxBinding: number;
  private readonly kvHost: KvHost;

  constructor(
    readonly context: GpuContext,
    readonly packedDot: boolean,
    maxBindingBytes?: number,
  ) {
    this.device = context.device;
    this.rec = new Recorder(context.device, packedDot);
    this.maxBinding = Math.min(this.rec.maxBinding, maxBindingBytes ?? Infinity);
    this.name = `webgpu (${adapterName(context.adapter)})`;
    this.dummy = this.raw(16);
    this.kvHost = {
      rec: this.rec, alloc: (n) => this.raw(n), release: (b) => this.release(b), dummy: this.dummy, maxBinding: this.maxBinding,
      allocF32: (n) => this.allocF32(n), free: (x) => this.free(x), at: (x) => this.at(x), rope: (x, p) => this.rope(x, p),
    };
  }

  // ---- memory ----

  /**
   * An activation buffer of at least `bytes`: sizes are rounded up to eighth-of-an-octave steps (at most
   * 12.5% more) so batches of different lengths reuse each other's freed buffers.
   */
  private raw(bytes: number): GPUBuffer {
    const exact = Math.max(16, ceilTo(bytes, 16));
    const step = Math.max(16, 2 ** (Math.floor(Math.log2(exact)) - 3));
    const rounded = ceilTo(exact, step);
    const size = rounded <= this.maxBinding ? rounded : exact;
    const reused = this.pool.get(size)?.pop();
    if (reused) this.pooledBytes -= size;
    const b = reused ?? this.rec.createBuffer(size, STORAGE);
    this.owned.add(b);
    this.inUseBytes += b.size;
    this.peakInUseBytes = Math.max(this.peakInUseBytes, this.inUseBytes);
    return b;
  }
  private release(b: GPUBuffer): void {
    if (!this.owned.has(b) || b === this.dummy) return;
    this.inUseBytes -= b.size;
    // keep it for reuse (safe: later commands run after the ones encoded so far) unless the pool would hold
    // more than the most ever in use at once; then it goes once the work encoded so far is submitted
    if (this.pooledBytes + b.size > this.peakInUseBytes) {
      this.owned.delete(b);
      this.rec.destroyLater(b);
      return;
    }
    const list = this.pool.get(b.size) ?? [];
    this.pool.set(b.size, list);
    list.push(b);
    this.pooledBytes += b.size;
  }

  /** The GPU buffer and element offset of a shadow array (or a subarray of one). */
  private at(v: Float32Array): [GPUBuffer, number] {
    const b = this.shadows.get(v.buffer);
    if (!b) throw new BitnetError('INVALID_ARGUMENT', 'buffer was not allocated by the WebGPU backend (use allocF32)', { name: 'buffer' });
    return [b, v.byteOffset / 4];
  }
  private actsOf(x: QuantizedActs): GpuActs {
    const a = this.acts.get(x.q.buffer);
    if (!a) throw new BitnetError('INVALID_ARGUMENT', 'activations were not allocated by the WebGPU backend (use allocActs)', { name: 'buffer' });
    return a;
  }

  allocF32(n: number): Float32Array {
    const shadow = new Float32Array(n);
    this.shadows.set(shadow.buffer, this.raw(n * 4));
    return shadow;
  }
  allocActs(T: number, K: number): QuantizedActs {
    const Kw = ceilTo(K, 128) / 4;
    const xq: QuantizedActs = { q: new Int8Array(T * K), scale: new Float32Array(T), sum: new Int32Array(T), T, K };
    this.acts.set(xq.q.buffer, { q: this.raw(T * Kw * 4), scale: this.raw(T * 4), sum: this.raw(T * 4), Kw });
    return xq;
  }
  free(buf: Float32Array | QuantizedActs): void {
    if (buf instanceof Float32Array) {
      const b = this.shadows.get(buf.buffer);
      this.shadows.delete(buf.buffer);
      if (b) this.release(b);
      return;
    }
    const a = this.acts.get(buf.q.buffer);
    this.acts.delete(buf.q.buffer);
    if (a) for (const b of [a.q, a.scale, a.sum]) this.release(b);
  }
  createVector(v: Float32Array): Float32Array {
    const out = this.allocF32(v.length);
    out.set(v);
    this.upload(out);
    return out;
  }

  /** Makes what the CPU wrote into `buf` visible to the kernels (after the work encoded so far). */
  upload(buf: Float32Array): void {
    const [b, off] = this.at(buf);
    this.rec.flush(); // writeBuffer runs before unsubmitted commands: submit them first
    if (buf.byteLength > 0) this.device.queue.writeBuffer(b, off * 4, buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
  }

  /** Runs every queued op and returns `buf` with the GPU's contents. */
  async read(buf: Float32Array): Promise<Float32Array> {
    const [b, off] = this.at(buf);
    const bytes = await this.rec.readBack(b, off * 4, buf.byteLength);
    buf.set(new Float32Array(bytes));
    return buf;
  }

  /** The int8 activations, scales and sums of `xq` as the GPU holds them (tests, debugging). */
  async readActs(xq: QuantizedActs): Promise<QuantizedActs> {
    const a = this.actsOf(xq);
    const q = new Int8Array(await this.rec.readBack(a.q, 0, xq.T * a.Kw * 4));
    for (let t = 0; t < xq.T; t++) xq.q.set(q.subarray(t * a.Kw * 4, t * a.Kw * 4 + xq.K), t * xq.K);
    xq.scale.set(new Float32Array(await this.rec.readBack(a.scale, 0, xq.T * 4)));
    xq.sum.set(new Int32Array(await this.rec.readBack(a.sum, 0, xq.T * 4)));
    return xq;
  }

  // ---- weights ----

  createTernary(t: TernaryData, rows: number, cols: number): TernaryMatrix {
    const n = rows * cols;
    if (t.kind === 'i2s' && cols % 128 === 0) {
      // bitnet.cpp's layout is the kernel's: the codes go to the GPU as they are
      const w = this.rec.createFilled(t.bytes.subarray(0, n / 4), USAGE.STORAGE);
      this.owned.add(w);
      const m: GpuTernary = { rows, cols, alpha: i2sReadScale(t.bytes, n), w, Ww: cols / 16, d: undefined, scaleBlock: cols, bytes: n / 4 };
      return m;
    }
    const plain = t.kind === 'plain' ? t.plain : (t.kind === 'i2s' ? i2_sCodec : tq2_0Codec).decodeTernary(t.bytes, n);
    // bitnet.cpp's I2_S codes of rows padded with zeros to a multiple of 128
    const K128 = ceilTo(cols, 128);
    let padded = plain.values;
    if (K128 !== cols) {
      padded = new Int8Array(rows * K128);
      for (let r = 0; r < rows; r++) padded.set(plain.values.subarray(r * cols, (r + 1) * cols), r * K128);
    }
    const codes = i2_sCodec.encodeTernary(padded, 1).subarray(0, (rows * K128) / 4);
    const w = this.rec.createFilled(codes, USAGE.STORAGE);
    this.owned.add(w);
    const alpha = uniformScale(plain);
    if (alpha !== undefined) return { rows, cols, alpha, w, Ww: K128 / 16, d: undefined, scaleBlock: cols, bytes: codes.byteLength } as GpuTernary;
    if (cols % plain.scaleBlock !== 0) throw new BitnetError('SHAPE_MISMATCH', `scale blocks of ${plain.scaleBlock} straddle rows of ${cols}`);
    const d = this.rec.createFilled(plain.scales, USAGE.STORAGE);
    this.owned.add(d);
    const m: GpuTernary = { rows, cols, alpha: undefined, w, Ww: K128 / 16, d, scaleBlock: plain.scaleBlock, bytes: codes.byteLength + plain.scales.byteLength };
    return m;
  }

  private denseLayout(typeName: string, rows: number, cols: number, int8: boolean): GpuDense {
    const rowBytes = int8 ? ceilTo(cols, 4) : typeName === 'F32' ? cols * 4 : cols * 2;
    const per = Math.min(rows, Math.floor(this.maxBinding / rowBytes));
    if (per === 0) throw new BitnetError('INVALID_ARGUMENT', `dense rows of ${rowBytes} bytes do not fit this GPU's buffer binding limit`, { name: 'webgpu' });
    const parts: DensePart[] = [];
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      const buf = this.rec.createBuffer(n * rowBytes, USAGE.STORAGE | USAGE.COPY_DST);
      this.owned.add(buf);
      parts.push({ r0, rows: n, buf });
    }
    const scales = int8 ? this.raw(rows * 4) : undefined;
    return { rows, cols, typeName: int8 ? 'I8_ROWS' : typeName, parts, scales, bytes: rows * rowBytes + (int8 ? rows * 4 : 0) };
  }

  /** Row chunks [r0, r1) of at most REQUANT_CHUNK_ROWS that never straddle two parts. */
  private static chunks(m: GpuDense): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const p of m.parts) for (let r0 = p.r0; r0 < p.r0 + p.rows; r0 += REQUANT_CHUNK_ROWS) out.push([r0, Math.min(p.r0 + p.rows, r0 + REQUANT_CHUNK_ROWS)]);
    return out;
  }

  /** Writes rows [r0, r0 + n) (int8: requantized from `bytes`; else the raw bytes) into the matrix. */
  private writeRows(m: GpuDense, data: DenseData, r0: number, n: number, int8: boolean): void {
    const part = m.parts.find((p) => r0 >= p.r0 && r0 < p.r0 + p.rows)!;
    const cols = m.cols;
    if (int8) {
      const out = { values: new Int8Array(n * cols), scales: new Float32Array(n) };
      requantizeRows(data, cols, 0, n, out);
      const stride = ceilTo(cols, 4);
      const packed = new Int8Array(n * stride);
      for (let r = 0; r < n; r++) packed.set(out.values.subarray(r * cols, (r + 1) * cols), r * stride);
      this.device.queue.writeBuffer(part.buf, (r0 - part.r0) * stride, packed);
      this.device.queue.writeBuffer(m.scales!, r0 * 4, out.scales);
      return;
    }
    const rowBytes = data.type.name === 'F32' ? cols * 4 : cols * 2;
    const bytes = data.bytes.subarray(0, n * rowBytes);
    const padded = bytes.byteLength % 4 === 0 && bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(ceilTo(bytes.byteLength, 4));
    if (padded !== bytes) padded.set(bytes);
    this.device.queue.writeBuffer(part.buf, (r0 - part.r0) * rowBytes, padded as Uint8Array<ArrayBuffer>);
  }

  private checkDense(typeName: string, int8: boolean): void {
    if (!int8 && typeName !== 'F32' && typeName !== 'F16' && typeName !== 'BF16') {
      throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `the WebGPU backend has no exact ${typeName} lm_head: use the int8 lm_head (lmHead: 'int8', the default)`);
    }
  }

  createDense(data: DenseData, rows: number, cols: number, opts: { int8?: boolean } = {}): DenseMatrix {
    const int8 = opts.int8 ?? false;
    this.checkDense(data.type.name, int8);
    const rowBytes = (cols / data.type.blockSize) * data.type.typeSize;
    if (data.bytes.byteLength !== rowBytes * rows) throw new BitnetError('SHAPE_MISMATCH', `${data.type.name} matrix [${rows}, ${cols}] needs ${rowBytes * rows} bytes, got ${data.bytes.byteLength}`);
    this.rec.flush();
    const m = this.denseLayout(data.type.name, rows, cols, int8);
    for (const [r0, r1] of WebGpuBackend.chunks(m)) this.writeRows(m, { type: data.type, bytes: data.bytes.subarray(r0 * rowBytes, r1 * rowBytes) }, r0, r1 - r0, int8);
    return m;
  }

  async createDenseFrom(src: DenseSource, opts: { int8?: boolean } = {}): Promise<DenseMatrix> {
    const int8 = opts.int8 ?? false;
    const { type, rows, cols } = src;
    this.checkDense(type.name, int8);
    this.rec.flush();
    const m = this.denseLayout(type.name, rows, cols, int8);
    // row chunks straight to the GPU: the matrix never sits in CPU memory whole
    for (const [r0, r1] of WebGpuBackend.chunks(m)) this.writeRows(m, { type, bytes: await src.read(r0, r1) }, r0, r1 - r0, int8);
    return m;
  }

  matrixBytes(m: TernaryMatrix | DenseMatrix): number {
    return (m as GpuTernary | GpuDense).bytes;
  }

  // ---- KV cache ----

  createKv(nLayer: number, nHeadKv: number, headDim: number, nCtx: number, types: KvTypes): KvStorage {
    return createGpuKv(this.kvHost, nLayer, nHeadKv, headDim, nCtx, types);
  }

  // ---- ops ----

  quantizeActs(x: Float32Array, out: QuantizedActs): void {
    const [xb, xOff] = this.at(x);
    const a = this.actsOf(out);
    this.rec.dispatch('quantize', () => K.QUANTIZE, 'uuuu', [xOff, out.K, a.Kw, 0], [xb, a.q, a.scale, a.sum], 1, out.T);
  }

  matmulTernary(w: TernaryMatrix, xq: QuantizedActs, y: Float32Array): void {
    const m = w as GpuTernary;
    if (xq.K !== m.cols) throw new BitnetError('SHAPE_MISMATCH', `activation width ${xq.K} != matrix cols ${m.cols}`);
    const a = this.actsOf(xq);
    const [yb, yOff] = this.at(y);
    if (m.d) {
      const params = [m.rows, m.Ww, a.Kw, xq.T, yOff, m.cols, m.scaleBlock];
      this.rec.dispatch('ternary-blocks', () => K.TERNARY_BLOCKS, 'uuuuuuu', params, [m.w, a.q, a.scale, m.d, yb], Math.ceil(m.rows / 64), xq.T);
      return;
    }
    const params = [m.rows, m.Ww, a.Kw, xq.T, yOff, m.alpha!];
    this.rec.dispatch('ternary', () => K.TERNARY, 'uuuuuf', params, [m.w, a.q, a.scale, a.sum, yb], Math.ceil(m.rows / K.MATMUL_ROWS), Math.ceil(xq.T / K.MATMUL_TOKENS));
  }

  matmulDense(w: DenseMatrix, x: Float32Array, T: number, y: Float32Array, roundInput: boolean): void {
    const m = w as GpuDense;
    const [yb, yOff] = this.at(y);
    if (m.scales) {
      const xq = this.allocActs(T, m.cols);
      try {
        this.quantizeActs(x, xq);
        const a = this.actsOf(xq);
        for (const p of m.parts) {
          const params = [p.rows, Math.ceil(m.cols / 4), a.Kw, T, yOff, p.r0, m.rows];
          this.rec.dispatch('int8-rows', () => K.INT8_ROWS, 'uuuuuuu', params, [p.buf, a.q, a.scale, m.scales, yb], Math.ceil(p.rows / K.MATMUL_ROWS), Math.ceil(T / K.MATMUL_TOKENS));
        }
      } finally {
        this.free(xq);
      }
      return;
    }
    const [xb, xOff] = this.at(x);
    const kind = m.typeName as 'F32' | 'F16' | 'BF16';
    const round = !roundInput || kind === 'F32' ? 0 : kind === 'F16' ? 1 : 2;
    for (const p of m.parts) {
      const params = [p.rows, m.cols, T, xOff, yOff, p.r0, m.rows, round];
      this.rec.dispatch(`dense-${kind}`, () => K.denseFloat(kind), 'uuuuuuuu', params, [p.buf, xb, yb], Math.ceil(p.rows / 64), T);
    }
  }

  rmsNorm(x: Float32Array, T: number, n: number, eps: number, weight: Float32Array, out: Float32Array): void {
    const [xb, xOff] = this.at(x);
    const [ob, oOff] = this.at(out);
    const [wb] = this.at(weight);
    const inplace = xb === ob;
    if (inplace && xOff !== oOff && Math.abs(xOff - oOff) < T * n) throw new BitnetError('INVALID_ARGUMENT', 'rmsNorm: input and output overlap without being the same rows', { name: 'out' });
    const bufs = inplace ? [wb, ob] : [wb, ob, xb];
    this.rec.dispatch(`rms-norm-${inplace}`, () => K.rmsNorm(inplace), 'uuuf', [xOff, oOff, n, Math.fround(eps)], bufs, 1, T);
  }

  private tableBuffer(table: Float32Array): GPUBuffer {
    const t = this.table;
    if (t && t.data.length === table.length && t.data.every((v, i) => Object.is(v, table[i]))) return t.buf;
    if (t) this.rec.destroyLater(t.buf);
    const buf = this.rec.createFilled(table, USAGE.STORAGE);
    this.table = { data: table.slice(), buf };
    return buf;
  }

  rope(x: Float32Array, p: RopeParams): void {
    const [xb, xOff] = this.at(x);
    const half = p.nRot / 2;
    const tab = this.tableBuffer(p.table);
    const params = [xOff, p.T, p.nHead, p.headDim, half, p.style === 'neox' ? 1 : 0, p.nRot];
    this.rec.dispatch('rope', () => K.ROPE, 'uuuuuuu', params, [xb, tab], Math.ceil(half / 64), p.nHead, p.T);
  }

  kvStore(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, pos0: number): void {
    kvStoreGpu(this.rec, layer, this.at(k), this.at(v), T, pos0);
  }

  attention(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void {
    attentionGpu(this.kvHost, this.at(q), layer, this.at(out), p);
  }

  private elementwise(a: Float32Array, b: Float32Array | undefined, n: number, op: number, s: number): void {
    const [ab, aOff] = this.at(a);
    const [bb, bOff] = b ? this.at(b) : [this.dummy, 0];
    if (ab === bb) throw new BitnetError('INVALID_ARGUMENT', 'elementwise op on two views of one buffer', { name: 'buffer' });
    this.rec.dispatch('elementwise', () => K.ELEMENTWISE, 'uuuuf', [aOff, bOff, n, op, s], [ab, bb], Math.min(Math.ceil(n / 64), 65535));
  }
  gatedAct(gate: Float32Array, up: Float32Array, n: number, act: 'relu2' | 'silu'): void {
    this.elementwise(gate, up, n, act === 'relu2' ? 0 : 1, 0);
  }
  add(x: Float32Array, y: Float32Array, n: number): void {
    this.elementwise(x, y, n, 2, 0);
  }
  scale(x: Float32Array, n: number, s: number): void {
    this.elementwise(x, undefined, n, 3, Math.fround(s));
  }

  /**
   * The k largest logits of each of `rows` rows (value descending, ties to the lower id) computed on the GPU,
   * so greedy or top-k sampling reads back 2k numbers per row instead of the vocabulary. k <= 16.
   */
  async topK(logits: Float32Array, rows: number, nVocab: number, k: number): Promise<{ ids: Int32Array; values: Float32Array }> {
    if (!(Number.isInteger(k) && k >= 1 && k <= K.TOPK_MAX && k <= nVocab)) {
      throw new BitnetError('INVALID_ARGUMENT', `topK: k must be an integer in [1, ${Math.min(K.TOPK_MAX, nVocab)}], got ${k}`, { name: 'k' });
    }
    if (logits.length < rows * nVocab) throw new BitnetError('SHAPE_MISMATCH', `topK: ${rows} rows of ${nVocab} need ${rows * nVocab} logits, got ${logits.length}`);
    const [b, off] = this.at(logits);
    const out = this.raw(rows * 2 * k * 4);
    this.rec.dispatch('topk', () => K.TOPK, 'uuu', [off, nVocab, k], [b, out], 1, rows);
    const bytes = await this.rec.readBack(out, 0, rows * 2 * k * 4);
    this.release(out);
    const all = new Uint32Array(bytes);
    const ids = new Int32Array(rows * k);
    const values = new Float32Array(rows * k);
    for (let r = 0; r < rows; r++) {
      ids.set(new Int32Array(all.buffer, r * 8 * k, k), r * k);
      values.set(new Float32Array(all.buffer, r * 8 * k + 4 * k, k), r * k);
    }
    return { ids, values };
  }

  /** Bytes of every GPU buffer the backend holds: weights, KV caches, activations in use and pooled. */
  memoryBytes(): number {
    let n = 0;
    for (const b of this.owned) n += b.size;
    return n;
  }

  dispose(): void {
    this.rec.dispose();
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    this.pool.clear();
    this.pooledBytes = 0;
    this.table?.buf.destroy();
    this.table = undefined;
    this.device.destroy();
  }
}
