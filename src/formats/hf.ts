// Hugging Face model folders (config.json + *.safetensors, sharded or not, + tokenizer files) presented as
// a ModelFile in GGUF terms: config.json becomes GGUF-style metadata, tensors get GGUF names and ggml
// shapes, packed U8 weights (four output rows per byte along dim 0) are unpacked with their weight_scale,
// bf16 master weights are ternarized with absmean, and llama-architecture Q/K rows are permuted the way
// llama.cpp's converter does, so the model layer sees exactly what a GGUF conversion would contain.
import { BitnetError } from '../errors.js';
import { bf16ToF32, f16ToF32, f32ToF16 } from '../util/f16.js';
import { countCode3, type TernaryPlain } from './quants/codec.js';
import type { GgufTypedValue, GgufValue } from './gguf.js';
import { gv } from './gguf-writer.js';
import { ARCH_KEY, archKey, hfToGgufName, KEY, TENSOR, type ArchName } from './names.js';
import { readSafetensors, parseSafetensorsIndex, type SafetensorsTensor } from './safetensors.js';
import { FileSource } from './source.js';
import { ternaryFromFloat } from './ternarize.js';
import { BF16, F16, F32, type TensorType } from './types.js';
import { elementCount, TypedTensorEntry, type DenseData, type HfExtras, type ModelFile, type TensorEntry, type TernaryData } from './model-file.js';

const FLOAT_DTYPES: Record<string, TensorType> = { F32, F16, BF16 };

interface HfConfig {
  model_type?: string;
  architectures?: string[];
  hidden_size?: number;
  intermediate_size?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  head_dim?: number;
  vocab_size?: number;
  max_position_embeddings?: number;
  rope_theta?: number;
  rope_scaling?: { type?: string; rope_type?: string; factor?: number; original_max_position_embeddings?: number; beta_fast?: number; beta_slow?: number; [key: string]: unknown } | null;
  rms_norm_eps?: number;
  hidden_act?: string;
  tie_word_embeddings?: boolean;
  quantization_config?: { quant_method?: string; linear_class?: string; quantization_mode?: string };
}

async function readJson(fs: typeof import('node:fs/promises'), path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BitnetError('FILE_NOT_FOUND', (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(e), { file: path, cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BitnetError('CORRUPT', `invalid JSON: ${(e as Error).message}`, { file: path, cause: e });
  }
}

/** Which of our architectures a config.json (plus its tensor names) describes. */
function detectArch(cfg: HfConfig, names: Set<string>, file: string): ArchName {
  const mt = cfg.model_type;
  const hasSubNorm = [...names].some((n) => /self_attn\.(attn_sub_norm|inner_attn_ln)\.weight$/.test(n));
  if (mt === 'bitnet') return 'bitnet-b1.58';
  if (mt === 'llama' && hasSubNorm) return 'bitnet'; // 1bitLLM bitnet_b1_58-* (BitnetForCausalLM)
  if (mt === 'llama' && cfg.quantization_config?.quant_method === 'bitnet') return 'llama'; // Falcon3-1.58bit, Llama3-8B-1.58
  if (mt === 'llama') {
    throw new BitnetError(
      'UNSUPPORTED_ARCHITECTURE',
      'this is a full-precision Llama checkpoint (no quantization_config with quant_method "bitnet" and no BitNet sub-norms); only ternary models are supported',
      { file },
    );
  }
  throw new BitnetError('UNSUPPORTED_ARCHITECTURE', `model_type "${String(mt)}" is not supported (supported: bitnet, ternary llama)`, { file });
}

function need(cfg: HfConfig, key: keyof HfConfig, file: string): number {
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BitnetError('MISSING_KEY', 'missing or not a number', { file, name: key });
  return v;
}

function chatTemplateOf(tokenizerConfig: unknown): string | undefined {
  const t = (tokenizerConfig as { chat_template?: unknown } | undefined)?.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x: { name?: string }) => x?.name === 'default') ?? t[0];
    if (typeof named?.template === 'string') return named.template;
  }
  return undefined;
}

/**
 * config.json's rope_scaling as GGUF rope.scaling.* keys: linear and yarn (factor, original_max_position_embeddings,
 * beta_fast / beta_slow), as llama.cpp's converter writes them. Other types, and YaRN's attention_factor / mscale
 * (which replace llama.cpp's 1 + 0.1 ln(factor) magnitude), are refused.
 */
function ropeScalingMetadata(cfg: HfConfig, file: string, set: (key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY], v: GgufTypedValue) => void): void {
  const sc = cfg.rope_scaling;
  const type = sc ? (sc.rope_type ?? sc.type ?? 'default') : 'default';
  if (!sc || type === 'default') return;
  const refuse = (why: string): never => {
    throw new BitnetError('UNSUPPORTED_ARCHITECTURE', why, { file, name: 'rope_scaling' });
  };
  if (type !== 'linear' && type !== 'yarn') refuse(`rope_scaling type "${type}" is not supported (linear, yarn)`);
  const num = (key: string, v: unknown, min: number): number => (typeof v === 'number' && Number.isFinite(v) && v > min ? v : refuse(`${key} must be a number > ${min}, got ${JSON.stringify(v)}`));
  for (const key of ['attention_factor', 'mscale', 'mscale_all_dim']) if (type === 'yarn' && sc[key] !== undefined) refuse(`yarn's ${key} is not supported`);
  set(ARCH_KEY.ropeScalingType, gv.str(type));
  set(ARCH_KEY.ropeScalingFactor, gv.f32(num('factor', sc.factor, 0)));
  if (type !== 'yarn') return;
  const orig = sc.original_max_position_embeddings;
  if (orig !== undefined) set(ARCH_KEY.ropeScalingOrigCtx, gv.u32(Number.isInteger(orig) ? num('original_max_position_embeddings', orig, 0) : refuse(`original_max_position_embeddings must be an integer, got ${JSON.stringify(orig)}`)));
  if (sc.beta_fast !== undefined) set(ARCH_KEY.ropeScalingYarnBetaFast, gv.f32(num('beta_fast', sc.beta_fast, 0)));
  if (sc.beta_slow !== undefined) set(ARCH_KEY.ropeScalingYarnBetaSlow, gv.f32(num('beta_slow', sc.beta_slow, 0)));
}

function hfMetadata(arch: ArchName, cfg: HfConfig, name: string, tokenizerConfig: unknown, file: string): Map<string, GgufTypedValue> {
  const nHead = need(cfg, 'num_attention_heads', file);
  const nEmbd = need(cfg, 'hidden_size', file);
  const headDim = cfg.head_dim ?? nEmbd / nHead;
  const m = new Map<string, GgufTypedValue>();
  const k = (key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY]) => archKey(arch, key);
  ropeScalingMetadata(cfg, file, (key, v) => m.set(k(key), v));
  m.set(KEY.architecture, gv.str(arch));
  m.set(KEY.name, gv.str(name));
  m.set(k(ARCH_KEY.vocabSize), gv.u32(need(cfg, 'vocab_size', file)));
  m.set(k(ARCH_KEY.contextLength), gv.u32(cfg.max_position_embeddings ?? 2048));
  m.set(k(ARCH_KEY.embeddingLength), gv.u32(nEmbd));
  m.set(k(ARCH_KEY.blockCount), gv.u32(need(cfg, 'num_hidden_layers', file)));
  m.set(k(ARCH_KEY.feedForwardLength), gv.u32(need(cfg, 'intermediate_size', file)));
  m.set(k(ARCH_KEY.headCount), gv.u32(nHead));
  m.set(k(ARCH_KEY.headCountKv), gv.u32(cfg.num_key_value_heads ?? nHead));
  m.set(k(ARCH_KEY.keyLength), gv.u32(headDim));
  m.set(k(ARCH_KEY.valueLength), gv.u32(headDim));
  m.set(k(ARCH_KEY.ropeDimensionCount), gv.u32(headDim));
  m.set(k(ARCH_KEY.ropeFreqBase), gv.f32(cfg.rope_theta ?? 10000));
  m.set(k(ARCH_KEY.rmsEps), gv.f32(cfg.rms_norm_eps ?? 1e-5));
  if (cfg.hidden_act) m.set(k(ARCH_KEY.hiddenAct), gv.str(cfg.hidden_act));
  const template = chatTemplateOf(tokenizerConfig);
  if (template) m.set(KEY.chatTemplate, gv.str(template));
  return m;
}

/** Unpacks HF's packed ternary layout: byte (p, c) holds output rows p, p+R, p+2R, p+3R of column c, from the low bits up. */
export function unpackHfTernary(packed: Uint8Array, packedRows: number, cols: number): Int8Array {
  const rows = packedRows * 4;
  const out = new Int8Array(rows * cols);
  for (let i = 0; i < 4; i++) {
    const shift = 2 * i;
    for (let p = 0; p < packedRows; p++) {
      const src = p * cols;
      const dst = (i * packedRows + p) * cols;
      for (let c = 0; c < cols; c++) {
        const code = (packed[src + c]! >> shift) & 3;
        out[dst + c] = code === 3 ? 0 : code - 1;
      }
    }
  }
  return out;
}

/** Packs ternary values [rows, cols] into HF's layout (inverse of unpackHfTernary); rows must be a multiple of 4. */
export function packHfTernary(values: Int8Array, rows: number, cols: number): Uint8Array {
  const packedRows = rows / 4;
  const out = new Uint8Array(packedRows * cols);
  for (let i = 0; i < 4; i++) {
    for (let p = 0; p < packedRows; p++) {
      const src = (i * packedRows + p) * cols;
      for (let c = 0; c < cols; c++) out[p * cols + c]! |= (values[src + c]! + 1) << (2 * i);
    }
  }
  return out;
}

/** llama.cpp's convert permute for Q/K rows: HF half-split head layout -> interleaved pairs (for NORM rope). */
export function permuteQkRows(values: Int8Array, rows: number, cols: number, nHead: number): Int8Array {
  const headDim = rows / nHead;
  const half = headDim / 2;
  const out = new Int8Array(values.length);
  for (let h = 0; h < nHead; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const src = (h * headDim + j * half + i) * cols;
        const dst = (h * headDim + i * 2 + j) * cols;
        out.set(values.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

function toF32(t: SafetensorsTensor, bytes: Uint8Array, file: string): Float32Array {
  const n = t.nElements;
  const out = new Float32Array(n);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (t.dtype) {
    case 'F32': for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true); break;
    case 'F16': for (let i = 0; i < n; i++) out[i] = f16ToF32(v.getUint16(2 * i, true)); break;
    case 'BF16': for (let i = 0; i < n; i++) out[i] = bf16ToF32(v.getUint16(2 * i, true)); break;
    case 'U8': for (let i = 0; i < n; i++) out[i] = bytes[i]!; break;
    case 'I8': for (let i = 0; i < n; i++) out[i] = v.getInt8(i); break;
    default:
      throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `dtype ${t.dtype} is not supported here`, { file, name: t.name });
  }
  return out;
}

/** A ternary projection from safetensors: packed U8 (+ weight_scale), int8 values (+ weight_scale), or float master weights. */
class HfProjectionEntry implements TensorEntry {
  readonly storage: 'ternary' | 'float';
  readonly typeName: string;
  readonly byteSize: number;
  readonly nElements: number;
  constructor(
    readonly name: string,
    readonly shape: number[],
    private readonly t: SafetensorsTensor,
    private readonly scale: SafetensorsTensor | undefined,
    /** true: alpha = weight_scale ("autobitlinear"); false: alpha = 1 / weight_scale ("bitlinear") */
    private readonly scaleIsAlpha: boolean,
    /** number of heads when Q/K rows must be permuted to GGUF order, else 0 */
    private readonly permuteHeads: number,
    /** refuse packed bytes holding code 3 instead of reading it as 0 (conversion checks) */
    private readonly strict: boolean,
  ) {
    this.nElements = elementCount(shape);
    this.byteSize = t.byteSize;
    this.storage = t.dtype === 'U8' || t.dtype === 'I8' ? 'ternary' : 'float';
    this.typeName = t.dtype === 'U8' ? 'U8 packed' : t.dtype;
  }

  async readTernary(): Promise<TernaryPlain> {
    const file = this.t.source.name;
    const [cols, rows] = [this.shape[0]!, this.shape[1]!];
    const bytes = await this.t.source.read(this.t.offset, this.t.byteSize);
    let plain: TernaryPlain;
    if (this.storage === 'ternary') {
      if (!this.scale) {
        throw new BitnetError('MISSING_TENSOR', `${this.t.dtype} ternary weights need their weight_scale tensor`, { file, name: this.t.name.replace(/\.weight$/, '.weight_scale') });
      }
      const sBytes = await this.scale.source.read(this.scale.offset, this.scale.byteSize);
      const ws = toF32(this.scale, sBytes, file)[0]!;
      const alpha = Math.fround(this.scaleIsAlpha ? ws : 1 / ws);
      if (this.strict && this.t.dtype === 'U8') {
        const bad = countCode3(bytes);
        if (bad) throw new BitnetError('CORRUPT', `${bad} packed byte(s) hold code 3, which is not a ternary value`, { file, name: this.t.name });
      }
      const values =
        this.t.dtype === 'U8' ? unpackHfTernary(bytes, this.t.shape[0]!, cols) : new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength).slice();
      for (const v of values) {
        if (v < -1 || v > 1) throw new BitnetError('CORRUPT', `int8 weights must be -1, 0 or 1 (found ${v})`, { file, name: this.t.name });
      }
      plain = { values, scales: new Float32Array([alpha]), scaleBlock: values.length };
    } else {
      plain = ternaryFromFloat(toF32(this.t, bytes, file)).plain;
    }
    if (this.permuteHeads > 0) plain = { ...plain, values: permuteQkRows(plain.values, rows, cols, this.permuteHeads) };
    return plain;
  }

  async readTernaryData(): Promise<TernaryData> {
    return { kind: 'plain', plain: await this.readTernary() };
  }

  rowReader(): undefined {
    return undefined;
  }

  denseSource(): never {
    throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', 'a ternary projection cannot be used as a dense matrix', { file: this.t.source.name, name: this.name });
  }

  async readDense(): Promise<DenseData> {
    throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', 'a ternary projection cannot be used as a dense matrix', { file: this.t.source.name, name: this.name });
  }

  async readF32(): Promise<Float32Array> {
    const plain = await this.readTernary();
    const out = new Float32Array(plain.values.length);
    for (let i = 0; i < out.length; i++) out[i] = plain.values[i]! * plain.scales[Math.floor(i / plain.scaleBlock)]!;
    return out;
  }
}

/** BF16 embedding -> F16, as bitnet.cpp's converter stores token_embd (exact for values in f16's normal range). */
function bf16ToF16Dense(bytes: Uint8Array): DenseData {
  const n = bytes.byteLength / 2;
  const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = f32ToF16(bf16ToF32(src.getUint16(2 * i, true)));
  return { type: F16, bytes: new Uint8Array(out.buffer) };
}

export interface OpenHfOptions {
  /** packed weights holding code 3 are an error (CORRUPT) instead of reading as 0, as loaders do */
  strictTernary?: boolean;
}

/** Opens a Hugging Face model folder. */
export async function openHfModel(dir: string, opts: OpenHfOptions = {}): Promise<ModelFile> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const configPath = path.join(dir, 'config.json');
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  if (!entries.includes('config.json')) {
    const ggufs = entries.filter((n) => n.endsWith('.gguf'));
    const hint = ggufs.length ? `; it holds ${ggufs.join(', ')}: pass that file as the model` : '';
    throw new BitnetError('FILE_NOT_FOUND', `a folder without a model: a model folder is a Hugging Face checkpoint (config.json, tokenizer.json and *.safetensors), or pass a .gguf file${hint}`, { file: dir });
  }
  const cfg = (await readJson(fs, configPath, true)) as HfConfig;
  if (typeof cfg !== 'object' || cfg === null) throw new BitnetError('CORRUPT', 'config.json must be an object', { file: configPath });
  const tokenizerJson = await readJson(fs, path.join(dir, 'tokenizer.json'), true);
  const tokenizerConfig = await readJson(fs, path.join(dir, 'tokenizer_config.json'), false);
  const generationConfig = await readJson(fs, path.join(dir, 'generation_config.json'), false);

  // shard files: from the index, or model.safetensors, or every *.safetensors
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  let shardNames: string[];
  let weightMap: Map<string, string> | undefined;
  try {
    weightMap = parseSafetensorsIndex(await fs.readFile(indexPath, 'utf8'), indexPath);
    shardNames = [...new Set(weightMap.values())].sort();
  } catch (e) {
    if (e instanceof BitnetError) throw e;
    shardNames = (await fs.readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  }
  if (shardNames.length === 0) throw new BitnetError('FILE_NOT_FOUND', 'no *.safetensors files in the model folder', { file: dir });

  const sources: FileSource[] = [];
  const all = new Map<string, SafetensorsTensor>();
  try {
    for (const shard of shardNames) {
      const src = await FileSource.open(path.join(dir, shard));
      sources.push(src);
      for (const [name, t] of (await readSafetensors(src)).tensors) {
        if (weightMap && weightMap.get(name) !== shard) continue;
        all.set(name, t);
      }
    }
    if (weightMap) {
      for (const [name, shard] of weightMap) {
        if (!all.has(name)) throw new BitnetError('MISSING_TENSOR', `listed in the index for shard ${shard} but not found there`, { file: indexPath, name });
      }
    }
    const arch = detectArch(cfg, new Set(all.keys()), configPath);
    const typed = hfMetadata(arch, cfg, path.basename(path.resolve(dir)), tokenizerConfig, configPath);
    const notes: string[] = [];
    const linearClass = cfg.quantization_config?.linear_class ?? 'bitlinear';
    const scaleIsAlpha = linearClass === 'autobitlinear';
    const hasScales = [...all.keys()].some((n) => n.endsWith('.weight_scale'));
    if (hasScales && cfg.quantization_config?.linear_class === undefined) {
      // spec 4.7: the meaning of weight_scale depends on linear_class, which this config does not give
      notes.push(
        `${configPath}: quantization_config.linear_class is missing; assuming "bitlinear" (weight_scale = 1/alpha, ` +
          `the Hugging Face default). If the output is garbage, the file may use "autobitlinear" (weight_scale = alpha).`,
      );
    }
    const nHead = need(cfg, 'num_attention_heads', configPath);
    const nHeadKv = cfg.num_key_value_heads ?? nHead;
    const tensors = new Map<string, TensorEntry>();
    for (const [hfName, t] of all) {
      const name = hfToGgufName(hfName);
      if (!name || name.endsWith('.weight_scale')) continue;
      if (name === TENSOR.output && cfg.tie_word_embeddings) continue;
      const file = t.source.name;
      const isProjection = /\.(attn_[qkv]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(name);
      if (isProjection) {
        if (t.shape.length !== 2) throw new BitnetError('SHAPE_MISMATCH', `expected a 2-D weight, got [${t.shape.join(', ')}]`, { file, name: hfName });
        const rows = t.dtype === 'U8' ? t.shape[0]! * 4 : t.shape[0]!;
        const scale = all.get(hfName.replace(/\.weight$/, '.weight_scale'));
        const permute = arch === 'llama' ? (name.endsWith('attn_q.weight') ? nHead : name.endsWith('attn_k.weight') ? nHeadKv : 0) : 0;
        tensors.set(name, new HfProjectionEntry(name, [t.shape[1]!, rows], t, scale, scaleIsAlpha, permute, opts.strictTernary === true));
        continue;
      }
      const type = FLOAT_DTYPES[t.dtype];
      if (!type) throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `dtype ${t.dtype} is not supported for this tensor`, { file, name: hfName });
      const shape = [...t.shape].reverse();
      const isMatrix = name === TENSOR.tokEmbd || name === TENSOR.output;
      tensors.set(name, new TypedTensorEntry(name, shape, type, t.source, t.offset, t.dtype, isMatrix && type === BF16 ? bf16ToF16Dense : undefined));
    }
    const metadata = new Map<string, GgufValue>();
    for (const [k, v] of typed) metadata.set(k, v.value);
    const hf: HfExtras = { tokenizerJson, tokenizerConfig, generationConfig, config: cfg as Record<string, unknown>, notes };
    return {
      path: dir,
      format: 'safetensors',
      fileSize: sources.reduce((a, s) => a + s.size, 0),
      metadata,
      metadataTyped: typed,
      tensors,
      hf,
      close: async () => {
        await Promise.all(sources.map((s) => s.close()));
      },
    };
  } catch (e) {
    await Promise.all(sources.map((s) => s.close()));
    throw e;
  }
}
