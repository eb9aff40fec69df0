// loadModel(): opens a GGUF file or a Hugging Face folder, reads the architecture and tokenizer, loads the
// weights into a backend tensor by tensor (with progress and cancellation), and returns a BitnetModel.
// inspectModel() reads only headers, for `bitnet info`.
import { BitnetError, throwIfAborted } from '../errors.js';
import { openHfModel, type OpenHfOptions } from '../formats/hf.js';
import { openGgufModel, type ModelFile } from '../formats/model-file.js';
import { KEY } from '../formats/names.js';
import { BlobSource, FileSource, type ByteSource } from '../formats/source.js';
import type { Backend, TernaryKernelChoice } from '../kernels/backend.js';
import { createBackend, type BackendKind } from '../kernels/index.js';
import { readHparams } from '../model/arch.js';
import type { HParams } from '../model/hparams.js';
import { kvTypesOf, type KvType, type KvTypes } from '../model/kv-cache.js';
import { ropeCoveredContext, ropeIsScaled, type RopeOptions } from '../model/rope-scaling.js';
import { loadWeights } from '../model/weights.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { vocabFromGguf, vocabFromTokenizerJson } from '../tokenizer/vocab.js';
import { chatFormatFor } from './chat-template.js';
import { webGpu } from './gpu.js';
import { BitnetModel, type TensorDescription } from './model.js';

export interface LoadProgressEvent {
  phase: 'open' | 'tokenizer' | 'weights' | 'done';
  /** bytes of tensor data loaded so far */
  loaded: number;
  total: number;
  text: string;
}

export interface LoadOptions {
  onProgress?: (p: LoadProgressEvent) => void;
  signal?: AbortSignal;
  /**
   * 'auto' (default): WebGPU on a real GPU (browsers: navigator.gpu; Node: the optional `webgpu` package),
   * else the WASM SIMD backend on the physical cores; 'cpu': always WASM; 'webgpu': WebGPU on any adapter
   * (a software one too); 'ref': the plain TypeScript reference
   */
  backend?: BackendKind | Backend;
  /** CPU threads for the WASM backend (default: physical cores; one for a model too small to gain from more) */
  threads?: number;
  /** the WASM backend's ternary matmul: table lookups, multiply-add, or 'auto' (default: timed once per runtime) */
  ternaryKernel?: TernaryKernelChoice;
  /** KV cache size in tokens; default min(training context, 4096); more than the training context warns */
  contextSize?: number;
  /** RoPE base and scaling instead of the file's (linear / YaRN, as llama.cpp's --rope-* and --yarn-* flags) */
  rope?: RopeOptions;
  /**
   * KV cache storage: one type for K and V, or a pair (llama.cpp's -ctk / -ctv: f32, f16, q8_0, q4_0); default
   * f16 (bitnet.cpp's). A type the backend cannot store (or q8_0/q4_0 with a head size not a multiple of 32) is
   * an INVALID_ARGUMENT naming cache-type-k / cache-type-v, at load.
   */
  kvType?: KvType | KvTypes;
  /** tokens per forward pass during prompt evaluation; default 512 */
  batchSize?: number;
  /** force the gate activation when the file does not say (e.g. 2B4T converted by mainline llama.cpp) */
  activation?: 'relu2' | 'silu';
  /**
   * int8 (default): the lm_head runs as int8 rows requantized at load (faster, ~half the memory of f16);
   * exact: in its stored type, for bitnet.cpp's exact logits. 'f16' is accepted as an alias of exact.
   */
  lmHead?: 'int8' | 'exact' | 'f16';
  /** load-time warnings (also kept in model.warnings) */
  onWarning?: (message: string) => void;
}

export type ModelSource = string | ByteSource | Blob;

/** Opens a model path (GGUF file or Hugging Face folder), Blob or ByteSource as a ModelFile. */
export async function openModelFile(source: ModelSource, opts: OpenHfOptions = {}): Promise<ModelFile> {
  if (typeof source !== 'string') {
    const src = 'read' in source && typeof source.read === 'function' ? (source as ByteSource) : new BlobSource(source as Blob);
    return openGgufModel(src);
  }
  const fs = await import('node:fs/promises');
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (e) {
    throw new BitnetError('FILE_NOT_FOUND', 'no such file or folder', { file: source, cause: e });
  }
  if (stat.isDirectory()) return openHfModel(source, opts);
  if (source.endsWith('.safetensors') || source.endsWith('.safetensors.index.json')) {
    throw new BitnetError('INVALID_ARGUMENT', 'a safetensors file needs its config.json and tokenizer files: pass the model folder instead', { file: source });
  }
  return openGgufModel(await FileSource.open(source));
}

function tensorList(file: ModelFile): TensorDescription[] {
  return [...file.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, type: t.typeName, bytes: t.byteSize }));
}

function buildTokenizer(file: ModelFile): Tokenizer {
  try {
    const vocab = file.hf ? vocabFromTokenizerJson(file.hf.tokenizerJson, file.hf.tokenizerConfig) : vocabFromGguf(file.metadata);
    return new Tokenizer(vocab);
  } catch (e) {
    if (e instanceof BitnetError) throw new BitnetError(e.code, e.message, { file: file.path, cause: e });
    throw e;
  }
}

/** Multiply-adds of one decoded token in the model's matrices (attention projections, FFN, lm_head). */
function perTokenWork(hp: HParams): number {
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  return hp.nLayer * hp.nEmbd * (2 * qDim + 2 * kvDim + 3 * hp.nFf) + hp.nVocab * hp.nEmbd;
}

/** eos_token_id of generation_config.json (number or list), as extra stop tokens. */
function generationStops(file: ModelFile): number[] {
  const eos = (file.hf?.generationConfig as { eos_token_id?: unknown } | undefined)?.eos_token_id;
  const list = Array.isArray(eos) ? eos : eos === undefined ? [] : [eos];
  return list.filter((x): x is number => Number.isInteger(x));
}

const warnedOnce = new Set<string>();

/** A warning kept in the model's warnings every time but passed to onWarning once per process per kind. */
function warnOnce(kind: string, warnings: string[], onWarning: ((m: string) => void) | undefined, m: string): void {
  warnings.push(m);
  if (warnedOnce.has(kind)) return;
  warnedOnce.add(kind);
  onWarning?.(m);
}

export async function loadModel(source: ModelSource, opts: LoadOptions = {}): Promise<BitnetModel> {
  const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    opts.onWarning?.(m);
  };
  throwIfAborted(opts.signal);
  opts.onProgress?.({ phase: 'open', loaded: 0, total: 0, text: 'reading header' });
  const file = await openModelFile(source);
  let keepOpen = false;
  let backendCreated: Backend | undefined;
  try {
    for (const note of file.hf?.notes ?? []) warn(note);
    const hp: HParams = readHparams(file, { warn, ...(opts.activation ? { activation: opts.activation } : {}), ...(opts.rope ? { rope: opts.rope } : {}) });
    opts.onProgress?.({ phase: 'tokenizer', loaded: 0, total: 0, text: 'building tokenizer' });
    const tokenizer = buildTokenizer(file);
    if (tokenizer.vocabSize > hp.nVocab) {
      throw new BitnetError('TOKENIZER', `the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${hp.nVocab} embedding rows`, { file: file.path });
    }
    const kind = opts.backend ?? 'auto';
    const gpu = kind === 'auto' || kind === 'webgpu' ? await webGpu(kind) : undefined;
    const backend = await createBackend(kind, { ...(opts.threads !== undefined ? { threads: opts.threads } : {}), perTokenWork: perTokenWork(hp), ...(opts.ternaryKernel ? { ternaryKernel: opts.ternaryKernel } : {}), ...(gpu ? { gpu } : {}), onWarning: warn });
    // a Backend object passed in belongs to the caller; one created here belongs to the model
    if (typeof opts.backend !== 'object') backendCreated = backend;
    const w = await loadWeights(file, hp, backend, {
      warn,
      lmHead: opts.lmHead === 'f16' ? 'exact' : (opts.lmHead ?? 'int8'),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (p) => opts.onProgress?.({ phase: 'weights', loaded: p.loaded, total: p.total, text: p.tensor }),
    });
    const kvTypes = kvTypesOf(opts.kvType ?? 'f16');
    backend.createKv(1, hp.nHeadKv, hp.headDim, 1, kvTypes).free(); // the backend takes these types (or says which flag it refuses)
    const contextSize = opts.contextSize ?? Math.min(hp.nCtxTrain || 4096, 4096);
    if (!Number.isInteger(contextSize) || contextSize < 1) throw new BitnetError('INVALID_ARGUMENT', `invalid context size ${contextSize}`, { name: 'contextSize' });
    const covered = ropeCoveredContext(hp.nCtxTrain, hp.ropeScaling);
    if (hp.nCtxTrain > 0 && contextSize > Math.max(hp.nCtxTrain, covered)) {
      // allowed (benchmarks time long prompts on small models), but positions past the training context were
      // never seen by the model: its text degrades there unless RoPE is scaled over them (llama.cpp warns too)
      const factor = Math.ceil(contextSize / (hp.ropeScaling.origCtx || hp.nCtxTrain));
      const scaled = ropeIsScaled(hp.ropeScaling) ? ` (RoPE is scaled to ${covered})` : '';
      warnOnce('context', warnings, opts.onWarning, `context size ${contextSize} is more than the model's training context ${hp.nCtxTrain}${scaled}: text past position ${Math.max(hp.nCtxTrain, covered)} degrades; --rope-scaling yarn --rope-scale ${factor} stretches RoPE over it`);
    }
    const text = (id: number | null, fallback: string): string => (id === null ? fallback : tokenizer.tokenText(id));
    const template = file.metadata.get(KEY.chatTemplate);
    const chatFormat = chatFormatFor(typeof template === 'string' ? template : undefined, {
      bos: text(tokenizer.bos, ''),
      eos: text(tokenizer.eos, ''),
      eot: text(tokenizer.eot ?? tokenizer.eos, '<|eot_id|>'),
    });
    const loadMs = (typeof performance !== 'undefined' ? performance.now() : Date.now()) - t0;
    opts.onProgress?.({ phase: 'done', loaded: 1, total: 1, text: 'loaded' });
    // embedding rows are read from the file during inference: it stays open until dispose()
    keepOpen = w.embedFromFile;
    return new BitnetModel({
      path: file.path,
      format: file.format,
      fileSize: file.fileSize,
      metadata: file.metadata,
      tensors: tensorList(file),
      weights: { hp, w, backend },
      tokenizer,
      chatFormat,
      extraStopTokens: generationStops(file),
      contextSize,
      kvTypes,
      batchSize: opts.batchSize ?? 512,
      warnings,
      loadMs,
      release: async () => {
        backendCreated?.dispose();
        if (keepOpen) await file.close();
      },
    });
  } catch (e) {
    backendCreated?.dispose();
    throw e;
  } finally {
    if (!keepOpen) await file.close();
  }
}

/** Only the tokenizer of a model (reads headers, not weights). */
export async function loadTokenizer(source: ModelSource): Promise<Tokenizer> {
  const file = await openModelFile(source);
  try {
    return buildTokenizer(file);
  } finally {
    await file.close();
  }
}

export interface ModelInspection {
  path: string;
  format: 'gguf' | 'safetensors';
  fileSize: number;
  metadata: ModelFile['metadataTyped'];
  tensors: TensorDescription[];
  hparams: HParams | undefined;
  /** why hparams could not be read, if so */
  hparamsError: string | undefined;
  warnings: string[];
}

/** Reads headers only (no weights): metadata, tensor table, hyperparameters. */
export async function inspectModel(source: ModelSource, opts: { activation?: 'relu2' | 'silu' } = {}): Promise<ModelInspection> {
  const file = await openModelFile(source);
  try {
    const warnings: string[] = [];
    let hparams: HParams | undefined;
    let hparamsError: string | undefined;
    try {
      hparams = readHparams(file, { warn: (m) => warnings.push(m), ...(opts.activation ? { activation: opts.activation } : {}) });
    } catch (e) {
      if (!(e instanceof BitnetError)) throw e;
      hparamsError = e.message;
    }
    return { path: file.path, format: file.format, fileSize: file.fileSize, metadata: file.metadataTyped, tensors: tensorList(file), hparams, hparamsError, warnings };
  } finally {
    await file.close();
  }
}
