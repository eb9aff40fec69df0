// Loads a model's tensors into a backend, checking every tensor against the specs of its architecture
// (missing tensors, shapes that contradict the hyperparameters) and running the spec's load-time health
// checks (4.7): all-zero or near-zero ternary projections and NaN/Inf norms produce warnings naming the tensor.
// The embedding is read row by row from the file when the source allows it, so it is never held twice
// (the lm_head is its own matrix: int8 rows by default, or the stored type for exact logits).
import { BitnetError, throwIfAborted } from '../errors.js';
import { memoryRowReader, type ModelFile, type RowReader, type TensorEntry, type TernaryData } from '../formats/model-file.js';
import { i2sReadScale } from '../formats/quants/i2_s.js';
import { tq2_0Codec } from '../formats/quants/tq2_0.js';
import { TENSOR } from '../formats/names.js';
import type { Backend, DenseMatrix, TernaryMatrix } from '../kernels/backend.js';
import type { HParams } from './hparams.js';
import { decoderTensorSpecs, type TensorSpec } from './tensors.js';

export interface LayerWeights {
  attnNorm: Float32Array; // (nEmbd)
  attnSubNorm: Float32Array | undefined; // (nHead*headDim)  (the BitNet embedding models' attn_output_norm_in too)
  ffnNorm: Float32Array; // (nEmbd)
  ffnSubNorm: Float32Array | undefined; // (nFf)  (the BitNet embedding models' ffn_down_norm_in too)
  /** Qwen3: per-head RMSNorm weights of Q and K */
  attnQNorm?: Float32Array; // (headDim)
  attnKNorm?: Float32Array; // (headDim)
  /** BitNet embedding models: each projection's own input RMSNorm (o and down ones are the sub-norms above) */
  inNorms?: Record<'wq' | 'wk' | 'wv' | 'wgate' | 'wup', Float32Array>; // (nEmbd) each
  wq: TernaryMatrix; // (nHead*headDim, nEmbd)
  wk: TernaryMatrix; // (nHeadKv*headDim, nEmbd)
  wv: TernaryMatrix; // (nHeadKv*headDim, nEmbd)
  wo: TernaryMatrix; // (nEmbd, nHead*headDim)
  wgate: TernaryMatrix; // (nFf, nEmbd)
  wup: TernaryMatrix; // (nFf, nEmbd)
  wdown: TernaryMatrix; // (nEmbd, nFf)
  /** optional output scales of the 2024 bitnet arch, by projection */
  scales: Partial<Record<'wq' | 'wk' | 'wv' | 'wo' | 'wgate' | 'wup' | 'wdown', number>>;
}

export type LmHeadMode = 'int8' | 'exact';

export interface ModelWeights {
  /** embedding rows, dequantized on demand (from the file when possible) */
  embed: RowReader; // (nVocab, nEmbd)
  /** lm_head: the embedding (tied) or output.weight, as int8 rows or in its stored type */
  output: DenseMatrix; // (nVocab, nEmbd)
  tied: boolean;
  /** the embedding rows come from the open model file (which must stay open) */
  embedFromFile: boolean;
  outputNorm: Float32Array; // (nEmbd)
  ropeFreqs: Float32Array | undefined; // (nRot/2)
  layers: LayerWeights[];
}

export interface LoadProgress {
  phase: 'weights';
  loaded: number;
  total: number;
  tensor: string;
}

export interface LoadWeightsOptions {
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  warn: (message: string) => void;
  /** int8 (default): requantize the lm_head to int8 rows; exact: keep its stored type */
  lmHead?: LmHeadMode;
}

/** Checks every spec against the file; returns the entries to load, in spec order. */
export function checkTensors(file: ModelFile, specs: TensorSpec[], warn: (m: string) => void): Map<string, TensorEntry> {
  const found = new Map<string, TensorEntry>();
  for (const spec of specs) {
    const t = file.tensors.get(spec.name);
    if (!t) {
      if (spec.required) throw new BitnetError('MISSING_TENSOR', 'required tensor is missing', { file: file.path, name: spec.name });
      continue;
    }
    const same = t.shape.length === spec.shape.length && t.shape.every((d, i) => d === spec.shape[i]);
    // a 1-element scale may be stored with any number of unit dims
    const scaleOk = spec.kind === 'scale' && t.nElements === 1;
    if (!same && !scaleOk) {
      throw new BitnetError('SHAPE_MISMATCH', `has shape [${t.shape.join(', ')}], but the hyperparameters (${spec.from}) say [${spec.shape.join(', ')}]`, {
        file: file.path,
        name: spec.name,
      });
    }
    if (spec.kind === 'ternary' && t.storage === 'quantized') {
      throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `projection stored as ${t.typeName}; ternary projections must be I2_S, TQ1_0, TQ2_0 or float`, {
        file: file.path,
        name: spec.name,
      });
    }
    found.set(spec.name, t);
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = [...file.tensors.keys()].filter((n) => !known.has(n));
  if (extra.length) warn(`${file.path}: ignoring ${extra.length} tensor(s) this architecture does not use: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
  return found;
}

/** Fraction of nonzero weights: a strided sample (exact enough for the 1% threshold), a full scan only to confirm zero. */
function nonzeroFraction(values: Int8Array): number {
  const stride = values.length > 1 << 20 ? 61 : 1;
  let nonzero = 0;
  let seen = 0;
  for (let i = 0; i < values.length; i += stride, seen++) if (values[i] !== 0) nonzero++;
  if (nonzero === 0 && stride > 1) return values.some((v) => v !== 0) ? 1 / values.length : 0;
  return nonzero / seen;
}

/** Nonzero fraction of an I2_S blob's codes (code 1 is zero), sampled like nonzeroFraction. */
function i2sNonzeroFraction(bytes: Uint8Array, n: number): number {
  const nb = n / 4;
  const stride = nb > 1 << 18 ? 61 : 1;
  let nonzero = 0;
  let seen = 0;
  for (let i = 0; i < nb; i += stride) {
    const b = bytes[i]!;
    for (let k = 0; k < 8; k += 2) if (((b >> k) & 3) !== 1) nonzero++;
    seen += 4;
  }
  if (nonzero === 0 && stride > 1) {
    for (let i = 0; i < nb; i++) if (bytes[i] !== 0x55) return 1 / n;
    return 0;
  }
  return nonzero / seen;
}

function checkTernary(name: string, t: TernaryData, n: number, warn: (m: string) => void): void {
  let frac: number;
  let maxScale = 0;
  if (t.kind === 'i2s') {
    frac = i2sNonzeroFraction(t.bytes, n);
    maxScale = Math.abs(i2sReadScale(t.bytes, n));
  } else {
    const plain = t.kind === 'plain' ? t.plain : tq2_0Codec.decodeTernary(t.bytes, n);
    frac = nonzeroFraction(plain.values);
    for (const s of plain.scales) maxScale = Math.max(maxScale, Math.abs(s));
  }
  if (frac === 0 || maxScale === 0) {
    warn(`${name}: all weights are zero; the model will produce garbage (corrupted re-uploads of 2B4T have this, see microsoft/BitNet#608)`);
  } else if (maxScale < 1e-3) {
    warn(`${name}: scale ${maxScale.toExponential(3)} is near zero (expected around mean|W| of the master weights); the file may be corrupted or use the inverse scale convention`);
  } else if (maxScale > 1e3) {
    warn(`${name}: scale ${maxScale.toExponential(3)} is implausibly large; the file may store the inverse scale (1/alpha)`);
  } else if (frac < 0.01) {
    warn(`${name}: only ${(frac * 100).toFixed(3)}% of weights are nonzero; healthy ternary weights have a substantial fraction of +-1`);
  }
}

function checkVector(name: string, v: Float32Array, warn: (m: string) => void): void {
  let bad = 0;
  for (const x of v) if (!Number.isFinite(x)) bad++;
  if (bad) warn(`${name}: ${bad} of ${v.length} values are NaN or infinite`);
}

export async function loadWeights(file: ModelFile, hp: HParams, backend: Backend, opts: LoadWeightsOptions): Promise<ModelWeights> {
  const entries = checkTensors(file, decoderTensorSpecs(hp), opts.warn);
  const total = [...entries.values()].reduce((a, t) => a + t.byteSize, 0);
  let loaded = 0;
  const step = async <T>(name: string, fn: (t: TensorEntry) => Promise<T>): Promise<T> => {
    throwIfAborted(opts.signal);
    const t = entries.get(name)!;
    const r = await fn(t);
    loaded += t.byteSize;
    opts.onProgress?.({ phase: 'weights', loaded, total, tensor: name });
    return r;
  };
  const vector = (name: string) =>
    step(name, async (t) => {
      const v = await t.readF32();
      checkVector(name, v, opts.warn);
      return backend.createVector(v);
    });
  const ternary = (name: string) =>
    step(name, async (t) => {
      const data = await t.readTernaryData();
      checkTernary(name, data, t.nElements, opts.warn);
      return backend.createTernary(data, t.shape[1]!, t.shape[0]!);
    });

  // lm_head: output.weight, or the embedding when tied; the embedding itself is read row by row
  const embEntry = entries.get(TENSOR.tokEmbd)!;
  const tied = !entries.has(TENSOR.output);
  const output = await step(tied ? TENSOR.tokEmbd : TENSOR.output, (t) => backend.createDenseFrom(t.denseSource(), { int8: (opts.lmHead ?? 'int8') === 'int8' }));
  // embedding rows from the file when it can be read synchronously, else a copy in memory
  const fileRows = embEntry.rowReader();
  const embed: RowReader = fileRows ?? memoryRowReader(await embEntry.readDense(), embEntry.shape[1]!, embEntry.shape[0]!);
  if (!tied) {
    loaded += embEntry.byteSize;
    opts.onProgress?.({ phase: 'weights', loaded, total, tensor: TENSOR.tokEmbd });
  }
  const outputNorm = await vector(TENSOR.outputNorm);
  const ropeFreqs = entries.has(TENSOR.ropeFreqs) ? await vector(TENSOR.ropeFreqs) : undefined;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < hp.nLayer; l++) {
    const scales: LayerWeights['scales'] = {};
    const proj = async (key: keyof LayerWeights['scales'], name: string): Promise<TernaryMatrix> => {
      const m = await ternary(name);
      const sName = TENSOR.scaleOf(name);
      if (entries.has(sName)) scales[key] = (await vector(sName))[0]!;
      return m;
    };
    // the embedding models' o/down input norms sit exactly where BitNet's sub-norms do (input of wo / wdown)
    const subNorm = async (sub: string, normIn: string): Promise<Float32Array | undefined> =>
      hp.subNorms ? await vector(sub) : hp.inputNorms ? await vector(normIn) : undefined;
    const layer: LayerWeights = {
      attnNorm: await vector(TENSOR.attnNorm(l)),
      attnSubNorm: await subNorm(TENSOR.attnSubNorm(l), TENSOR.normIn(l, 'attn_output')),
      ffnNorm: await vector(TENSOR.ffnNorm(l)),
      ffnSubNorm: await subNorm(TENSOR.ffnSubNorm(l), TENSOR.normIn(l, 'ffn_down')),
      wq: await proj('wq', TENSOR.attnQ(l)),
      wk: await proj('wk', TENSOR.attnK(l)),
      wv: await proj('wv', TENSOR.attnV(l)),
      wo: await proj('wo', TENSOR.attnOutput(l)),
      wgate: await proj('wgate', TENSOR.ffnGate(l)),
      wup: await proj('wup', TENSOR.ffnUp(l)),
      wdown: await proj('wdown', TENSOR.ffnDown(l)),
      scales,
    };
    if (hp.qkNorm) {
      layer.attnQNorm = await vector(TENSOR.attnQNorm(l));
      layer.attnKNorm = await vector(TENSOR.attnKNorm(l));
    }
    if (hp.inputNorms) {
      layer.inNorms = {
        wq: await vector(TENSOR.normIn(l, 'attn_q')),
        wk: await vector(TENSOR.normIn(l, 'attn_k')),
        wv: await vector(TENSOR.normIn(l, 'attn_v')),
        wgate: await vector(TENSOR.normIn(l, 'ffn_gate')),
        wup: await vector(TENSOR.normIn(l, 'ffn_up')),
      };
    }
    layers.push(layer);
  }
  return { embed, output, tied, embedFromFile: fileRows !== undefined, outputNorm, ropeFreqs, layers };
}
