// `bitnet convert`: any supported model (GGUF I2_S / TQ2_0 / TQ1_0 / float, Hugging Face packed or master
// weights) -> a GGUF with I2_S projections for bitnet.cpp (arch bitnet-b1.58) or TQ2_0 / TQ1_0 for llama.cpp
// (arch bitnet, with `.scale` tensors and hidden_activation). Metadata and tokenizer are carried over under
// the target architecture's key prefix, tensors are streamed one at a time into OUT's temporary file, and
// that file is re-read and compared with the source before it is renamed to OUT.
import { BitnetError, throwIfAborted } from '../errors.js';
import { gv, writeGgufFile, type GgufTensorBytes, type GgufWriteTensor } from '../formats/gguf-writer.js';
import { GGUF_TYPE, type GgufTypedValue } from '../formats/gguf.js';
import { openGgufModel, type ModelFile, type TensorEntry } from '../formats/model-file.js';
import { ARCH_KEY, archKey, KEY, TENSOR } from '../formats/names.js';
import { BF16, F16, F32, FTYPE_I2_S, I2_S, Q6_K, Q8_0, TQ1_0, TQ2_0, type TensorType } from '../formats/types.js';
import { readHparams } from '../model/arch.js';
import type { HParams } from '../model/hparams.js';
import { decoderTensorSpecs } from '../model/tensors.js';
import { checkTensors } from '../model/weights.js';
import { vocabToGgufMetadata } from '../tokenizer/export.js';
import { vocabFromTokenizerJson } from '../tokenizer/vocab.js';
import { compareTernary, encodeTernary, isPerBlock, readTernarySource, type LossyNote } from './convert-ternary.js';
import { openModelFile } from './load.js';

export const CONVERT_TYPES = ['i2_s', 'tq2_0', 'tq1_0'] as const;
export type ConvertType = (typeof CONVERT_TYPES)[number];
export const EMBEDDING_TYPES = ['keep', 'f32', 'f16', 'bf16', 'q8_0', 'q6_k'] as const;
export type EmbeddingType = (typeof EMBEDDING_TYPES)[number];

const WEIGHT_TYPE: Record<ConvertType, TensorType> = { i2_s: I2_S, tq2_0: TQ2_0, tq1_0: TQ1_0 };
/** general.file_type: LLAMA_FTYPE_MOSTLY_TQ1_0 = 36, _TQ2_0 = 37 (mainline), _I2_S = 40 (bitnet.cpp's fork) */
const FILE_TYPE: Record<ConvertType, number> = { i2_s: FTYPE_I2_S, tq2_0: 37, tq1_0: 36 };
const DENSE_TYPE: Record<Exclude<EmbeddingType, 'keep'>, TensorType> = { f32: F32, f16: F16, bf16: BF16, q8_0: Q8_0, q6_k: Q6_K };

export interface ConvertProgress {
  phase: 'write' | 'verify';
  done: number;
  total: number;
  tensor: string;
}

export interface ConvertOptions {
  type: ConvertType;
  /** token embedding (and untied output) type; keep (default): as stored, F16 from Hugging Face bf16/f32 */
  embedding?: EmbeddingType;
  /** convert even where the effective weights cannot be kept exactly (each such tensor is reported) */
  allowLossy?: boolean;
  /** replace an existing OUT (it is replaced only once the new file is complete and verified) */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ConvertProgress) => void;
  onWarning?: (message: string) => void;
}

export interface ConvertReport {
  input: string;
  output: string;
  sourceArch: string;
  arch: string;
  type: ConvertType;
  /** the token embedding's type in OUT */
  embeddingType: string;
  tensors: number;
  /** projections written (and verified: identical values, and scales unless listed in lossy) */
  ternary: number;
  /** other tensors verified byte for byte (norms, and the embedding when its type was kept) */
  verifiedOther: number;
  bytes: number;
  lossy: LossyNote[];
  warnings: string[];
}

/** Where a model's tensors go: the target architecture and whether it carries llama.cpp `.scale` tensors. */
function targetArch(hp: HParams, type: ConvertType, warn: (m: string) => void): { arch: string; scaleTensors: boolean } {
  if (hp.arch === 'qwen3') {
    // its Q/K norms and per-projection input norms have no place in the bitnet / llama layouts
    throw new BitnetError('UNSUPPORTED_ARCHITECTURE', 'converting qwen3 models (the BitNet embedding models) is not supported; load their GGUF file directly', { name: 'general.architecture' });
  }
  if (hp.arch === 'llama') return { arch: 'llama', scaleTensors: false };
  if (type !== 'i2_s') return { arch: 'bitnet', scaleTensors: true };
  if (hp.act === 'relu2') return { arch: 'bitnet-b1.58', scaleTensors: false };
  // bitnet.cpp's bitnet-b1.58 graph hard-codes squared ReLU: a SiLU model keeps the 2024 `bitnet` arch
  warn(`the model uses a SiLU gate, so it keeps the "bitnet" architecture (bitnet.cpp's bitnet-b1.58 always uses squared ReLU)`);
  return { arch: 'bitnet', scaleTensors: false };
}

/** The source metadata under the target architecture's prefix, plus the tokenizer of a Hugging Face folder. */
function targetMetadata(file: ModelFile, hp: HParams, arch: string, type: ConvertType): Map<string, GgufTypedValue> {
  const src = file.metadata.get(KEY.architecture) as string;
  const m = new Map<string, GgufTypedValue>();
  for (const [k, v] of file.metadataTyped) {
    if (k === KEY.architecture) m.set(k, gv.str(arch));
    else if (k.startsWith(`${src}.`)) m.set(`${arch}${k.slice(src.length)}`, v);
    else m.set(k, v);
  }
  if (file.hf) {
    const vocab = vocabFromTokenizerJson(file.hf.tokenizerJson, file.hf.tokenizerConfig);
    for (const [k, v] of vocabToGgufMetadata(vocab)) if (!m.has(k)) m.set(k, v);
  }
  const act = archKey(arch, ARCH_KEY.hiddenAct);
  // llama.cpp's bitnet graph defaults to SiLU without the key; bitnet-b1.58 always means squared ReLU
  if (arch === 'bitnet') m.set(act, gv.str(hp.act));
  if (arch === 'bitnet-b1.58') m.delete(act);
  // the file stores float32: keep exactly what will be read back (config.json numbers are doubles)
  for (const [k, v] of m) if (v.type === GGUF_TYPE.FLOAT32 && typeof v.value === 'number') m.set(k, gv.f32(Math.fround(v.value)));
  m.set(KEY.fileType, gv.u32(FILE_TYPE[type]));
  if (!m.has(KEY.quantizationVersion)) m.set(KEY.quantizationVersion, gv.u32(2));
  return m;
}

/** The stored type of a dense matrix when its type is kept (GGUF: as stored; Hugging Face: F16, as bitnet.cpp's converter writes). */
function denseTarget(file: ModelFile, t: TensorEntry, choice: EmbeddingType): TensorType {
  if (choice !== 'keep') return DENSE_TYPE[choice];
  return file.format === 'gguf' ? t.denseSource().type : F16;
}

/** Rows per chunk when streaming a dense matrix (about 16 MB of float32). */
function chunkRows(cols: number): number {
  return Math.max(1, Math.floor((4 << 20) / cols));
}

/** A dense matrix in `type`, row chunk by row chunk: raw bytes when the type is unchanged, else dequantized and requantized. */
async function* denseChunks(t: TensorEntry, type: TensorType, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const ds = t.denseSource();
  const step = chunkRows(ds.cols);
  for (let r0 = 0; r0 < ds.rows; r0 += step) {
    throwIfAborted(signal);
    const r1 = Math.min(ds.rows, r0 + step);
    const bytes = await ds.read(r0, r1);
    if (ds.type === type) {
      yield bytes;
      continue;
    }
    const f = new Float32Array((r1 - r0) * ds.cols);
    ds.type.codec.dequantize(bytes, f.length, f);
    yield type.codec.quantize(f);
  }
}

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && 'value' in a && 'value' in b) {
    return sameValue((a as GgufTypedValue).value, (b as GgufTypedValue).value) && (a as GgufTypedValue).type === (b as GgufTypedValue).type;
  }
  return false;
}

/** Refuses OUT == IN (also through links), an existing OUT without force, and an OUT that is a folder. */
async function checkPaths(input: string, output: string, force: boolean): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const same = (): never => {
    throw new BitnetError('INVALID_ARGUMENT', 'the output is the input; write the converted model to a new file', { file: output });
  };
  if (path.resolve(input) === path.resolve(output)) same();
  const [si, so] = await Promise.all([fs.stat(input).catch(() => undefined), fs.stat(output).catch(() => undefined)]);
  if (!si) throw new BitnetError('FILE_NOT_FOUND', 'no such file or folder', { file: input });
  if (!so) {
    const parent = await fs.stat(path.dirname(path.resolve(output))).catch(() => undefined);
    if (!parent?.isDirectory()) throw new BitnetError('FILE_NOT_FOUND', 'the folder of the output does not exist', { file: output });
    return;
  }
  if (si.dev === so.dev && si.ino === so.ino) same();
  if (so.isDirectory()) throw new BitnetError('INVALID_ARGUMENT', 'the output is a folder; give a .gguf file name', { file: output });
  if (!force) throw new BitnetError('FILE_EXISTS', 'the output file exists (--force replaces it once the new file is written and verified)', { file: output });
}

/** Converts the model at `input` (GGUF file or Hugging Face folder) to a GGUF at `output`, then verifies it. */
export async function convertModel(input: string, output: string, opts: ConvertOptions): Promise<ConvertReport> {
  if (!(CONVERT_TYPES as readonly string[]).includes(opts.type)) {
    throw new BitnetError('INVALID_ARGUMENT', `unknown target type "${String(opts.type)}" (supported: ${CONVERT_TYPES.join(', ')})`, { name: 'type' });
  }
  const choice = opts.embedding ?? 'keep';
  if (!(EMBEDDING_TYPES as readonly string[]).includes(choice)) {
    throw new BitnetError('INVALID_ARGUMENT', `unknown embedding type "${String(choice)}" (supported: ${EMBEDDING_TYPES.join(', ')})`, { name: 'embedding' });
  }
  await checkPaths(input, output, opts.force === true);
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    opts.onWarning?.(m);
  };
  const allowLossy = opts.allowLossy === true;
  const file = await openModelFile(input, { strictTernary: true });
  try {
    for (const note of file.hf?.notes ?? []) warn(note);
    const hp = readHparams(file, { warn });
    const specs = decoderTensorSpecs(hp);
    const entries = checkTensors(file, specs, (m) => warn(m.replace('ignoring', 'not converting')));
    const { arch, scaleTensors } = targetArch(hp, opts.type, warn);
    const metadata = targetMetadata(file, hp, arch, opts.type);
    const wType = WEIGHT_TYPE[opts.type];
    const kinds = new Map(specs.map((s) => [s.name, s.kind]));

    const tensors: GgufWriteTensor[] = [];
    const ternaryNames: string[] = [];
    const rawDense = new Set<string>();
    const lossy: LossyNote[] = [];
    let embeddingType = '';
    const total = [...entries.keys()].filter((n) => kinds.get(n) !== 'scale').length;
    let done = 0;
    const progress = (tensor: string): void => opts.onProgress?.({ phase: 'write', done: ++done, total, tensor });
    for (const [name, t] of entries) {
      const kind = kinds.get(name);
      if (kind === 'scale') continue; // written after its projection
      if (kind === 'dense') {
        const type = denseTarget(file, t, choice);
        const cols = t.shape[0]!;
        if (cols % type.blockSize !== 0) {
          throw new BitnetError('INVALID_ARGUMENT', `rows of ${cols} are not a whole number of ${type.name} blocks of ${type.blockSize}`, { file: file.path, name });
        }
        if (name === TENSOR.tokEmbd) embeddingType = type.name;
        if (t.denseSource().type === type) rawDense.add(name);
        tensors.push({ name, shape: t.shape, type, data: () => { progress(name); return denseChunks(t, type, opts.signal); } });
      } else if (kind === 'ternary') {
        if (t.shape[0]! % wType.blockSize !== 0) {
          throw new BitnetError('INVALID_ARGUMENT', `rows of ${t.shape[0]} are not a whole number of ${wType.name} blocks of ${wType.blockSize}`, { file: file.path, name });
        }
        ternaryNames.push(name);
        const hasScale = entries.has(TENSOR.scaleOf(name));
        // which projections get a `.scale`: every per-tensor source, and per-block sources that had one
        const writesScale = scaleTensors && (hasScale || !isPerBlock(t.typeName));
        let scale: number | undefined;
        tensors.push({
          name,
          shape: t.shape,
          type: wType,
          data: async (): Promise<GgufTensorBytes> => {
            throwIfAborted(opts.signal);
            const { src, lossy: readNote } = await readTernarySource(file, name, allowLossy);
            const enc = encodeTernary(name, src, isPerBlock(t.typeName), wType, scaleTensors, allowLossy);
            for (const reason of [readNote, enc.lossy]) if (reason) lossy.push({ tensor: name, reason });
            scale = enc.tensorScale;
            progress(name);
            return enc.bytes;
          },
        });
        if (writesScale) {
          tensors.push({
            name: TENSOR.scaleOf(name),
            shape: [1],
            type: F32,
            data: () => f32Bytes(new Float32Array([scale ?? 1])),
          });
        }
      } else {
        tensors.push({ name, shape: t.shape, type: F32, data: async () => { progress(name); return f32Bytes(await t.readF32()); } });
      }
    }

    let verifiedOther = 0;
    const verify = async (tmp: string): Promise<void> => {
      const out = await openGgufModel(tmp);
      try {
        verifiedOther = await verifyOutput(file, out, metadata, tensors, ternaryNames, rawDense, new Set(lossy.map((l) => l.tensor)), opts);
      } finally {
        await out.close();
      }
    };
    await writeGgufFile(output, metadata, tensors, { beforeRename: verify });
    const fs = await import('node:fs/promises');
    const bytes = (await fs.stat(output)).size;
    return {
      input,
      output,
      sourceArch: String(file.metadata.get(KEY.architecture)),
      arch,
      type: opts.type,
      embeddingType,
      tensors: tensors.length,
      ternary: ternaryNames.length,
      verifiedOther,
      bytes,
      lossy,
      warnings,
    };
  } finally {
    await file.close();
  }
}

/** Re-reads the written file: metadata, tensor list, every projection against the source, norms and kept embeddings byte for byte. */
async function verifyOutput(
  file: ModelFile,
  out: ModelFile,
  metadata: Map<string, GgufTypedValue>,
  tensors: GgufWriteTensor[],
  ternaryNames: string[],
  rawDense: Set<string>,
  lossy: Set<string>,
  opts: ConvertOptions,
): Promise<number> {
  const fail = (name: string, why: string): never => {
    throw new BitnetError('VERIFY_FAILED', `the written file does not match the source: ${why}`, { file: out.path, name });
  };
  if (out.metadataTyped.size !== metadata.size) fail(KEY.architecture, `${out.metadataTyped.size} metadata keys written, ${metadata.size} meant`);
  for (const [k, v] of metadata) if (!sameValue(out.metadataTyped.get(k), v)) fail(k, 'metadata value differs');
  for (const t of tensors) {
    const o = out.tensors.get(t.name);
    if (!o || o.typeName !== t.type.name || o.shape.join() !== t.shape.join()) fail(t.name, `missing, or not ${t.type.name} [${t.shape.join(', ')}]`);
  }
  const projections = new Set(ternaryNames);
  const vectors = tensors.filter((t) => t.type === F32 && !projections.has(t.name.replace(/\.scale$/, '.weight')));
  let done = 0;
  const total = ternaryNames.length + vectors.length + rawDense.size;
  const step = (tensor: string): void => opts.onProgress?.({ phase: 'verify', done: ++done, total, tensor });
  for (const name of ternaryNames) {
    throwIfAborted(opts.signal);
    const [a, b] = await Promise.all([readTernarySource(file, name, true), readTernarySource(out, name, true)]);
    const why = compareTernary(a.src, b.src, lossy.has(name));
    if (why) fail(name, why);
    step(name);
  }
  let other = 0;
  for (const t of vectors) {
    const [a, b] = await Promise.all([file.tensors.get(t.name)!.readF32(), out.tensors.get(t.name)!.readF32()]);
    if (!sameValue(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length))) fail(t.name, 'values differ');
    other++;
    step(t.name);
  }
  for (const name of rawDense) {
    const [a, b] = [file.tensors.get(name)!.denseSource(), out.tensors.get(name)!.denseSource()];
    const rows = chunkRows(a.cols);
    for (let r0 = 0; r0 < a.rows; r0 += rows) {
      const r1 = Math.min(a.rows, r0 + rows);
      if (!sameValue(await a.read(r0, r1), await b.read(r0, r1))) fail(name, `rows ${r0}..${r1 - 1} differ`);
    }
    other++;
    step(name);
  }
  return other;
}
