// Hyperparameters shared by the ternary decoder architectures, and typed accessors for GGUF-style
// metadata that fail with a BitnetError naming the file and key.
import { BitnetError } from '../errors.js';
import type { GgufValue } from '../formats/gguf.js';
import { ARCH_KEY, archKey, type ArchName } from '../formats/names.js';
import { readRope, type RopeConfig, type RopeOptions } from './rope-scaling.js';

/** Options of the architectures' hyperparameter readers (arch.ts and the architecture files). */
export interface ArchOptions {
  /** force the gate activation (for files whose metadata does not say) */
  activation?: 'relu2' | 'silu';
  /** RoPE base and scaling overrides (the --rope-* and --yarn-* flags) */
  rope?: RopeOptions;
  warn: (message: string) => void;
}

/** What an architecture reader may ask of the file besides its metadata. */
export interface FileFacts {
  hasTensor(name: string): boolean;
}

export interface HParams {
  arch: ArchName;
  nVocab: number;
  /** training context length (context_length) */
  nCtxTrain: number;
  nEmbd: number;
  nLayer: number;
  nFf: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nRot: number;
  eps: number;
  ropeFreqBase: number;
  /** RoPE scaling beyond the trained context (linear / YaRN; rope-scaling.ts) */
  ropeScaling: RopeConfig;
  /** 'neox': pairs (i, i + n/2) (bitnet archs, HF layout); 'norm': adjacent pairs (llama GGUF, Q/K permuted) */
  ropeStyle: 'neox' | 'norm';
  /** gate activation: relu(g)^2 (BitNet b1.58 2B4T) or silu(g) */
  act: 'relu2' | 'silu';
  /** RMSNorm before o_proj and before down_proj (BitNet's "subln") */
  subNorms: boolean;
  /** optional one-element `.scale` tensors multiply projection outputs (the 2024 `bitnet` arch) */
  projScales: boolean;
  /** per-head RMSNorm of Q and K before RoPE (Qwen3) */
  qkNorm: boolean;
  /**
   * an RMSNorm with its own weight before every projection (BitNet embedding models on Qwen3): q, k, v, gate
   * and up get their own normed copy of the block input; the o and down ones sit where sub-norms do
   */
  inputNorms: boolean;
}

export class MetadataReader {
  constructor(
    readonly meta: ReadonlyMap<string, GgufValue>,
    readonly file: string,
    readonly arch: string,
  ) {}

  private get(key: string, required: boolean): GgufValue | undefined {
    const v = this.meta.get(key);
    if (v === undefined && required) throw new BitnetError('MISSING_KEY', 'required metadata key is missing', { file: this.file, name: key });
    return v;
  }

  /** A non-negative integer (any integer GGUF type). */
  uint(key: string, fallback?: number): number {
    const v = this.get(key, fallback === undefined);
    if (v === undefined) return fallback!;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new BitnetError('BAD_METADATA', `expected a non-negative integer, got ${describe(v)}`, { file: this.file, name: key });
    }
    return n;
  }

  float(key: string, fallback?: number): number {
    const v = this.get(key, fallback === undefined);
    if (v === undefined) return fallback!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new BitnetError('BAD_METADATA', `expected a number, got ${describe(v)}`, { file: this.file, name: key });
    }
    return v;
  }

  string(key: string): string | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new BitnetError('BAD_METADATA', `expected a string, got ${describe(v)}`, { file: this.file, name: key });
    return v;
  }

  archUint(key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY], fallback?: number): number {
    return this.uint(archKey(this.arch, key), fallback);
  }
  archFloat(key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY], fallback?: number): number {
    return this.float(archKey(this.arch, key), fallback);
  }
  archString(key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY]): string | undefined {
    return this.string(archKey(this.arch, key));
  }
}

function describe(v: GgufValue): string {
  if (typeof v === 'string') return `string "${v.slice(0, 40)}"`;
  if (typeof v === 'object') return `an array of ${(v as ArrayLike<unknown>).length}`;
  return `${typeof v} ${String(v)}`;
}

/** The hyperparameters every supported architecture reads the same way. */
export function readCommonHparams(r: MetadataReader, vocabFromTensor: number): Omit<HParams, 'arch' | 'ropeStyle' | 'act' | 'subNorms' | 'projScales' | 'qkNorm' | 'inputNorms'> {
  const nEmbd = r.archUint(ARCH_KEY.embeddingLength);
  const nHead = r.archUint(ARCH_KEY.headCount);
  if (nHead === 0) throw new BitnetError('BAD_METADATA', 'must be at least 1', { file: r.file, name: archKey(r.arch, ARCH_KEY.headCount) });
  const nHeadKv = r.archUint(ARCH_KEY.headCountKv, nHead);
  const headDim = r.archUint(ARCH_KEY.keyLength, Math.floor(nEmbd / nHead));
  const valueLength = r.archUint(ARCH_KEY.valueLength, headDim);
  const nRot = r.archUint(ARCH_KEY.ropeDimensionCount, headDim);
  const bad = (key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY], why: string): never => {
    throw new BitnetError('BAD_METADATA', why, { file: r.file, name: archKey(r.arch, key) });
  };
  if (nHeadKv === 0 || nHead % nHeadKv !== 0) bad(ARCH_KEY.headCountKv, `head_count_kv ${nHeadKv} must divide head_count ${nHead}`);
  if (valueLength !== headDim) bad(ARCH_KEY.valueLength, `value_length ${valueLength} != key_length ${headDim} is not supported`);
  if (nRot > headDim || nRot % 2 !== 0) bad(ARCH_KEY.ropeDimensionCount, `rope dimension count ${nRot} must be even and at most the head size ${headDim}`);
  const nCtxTrain = r.archUint(ARCH_KEY.contextLength, 2048);
  const rope = readRope(r, nCtxTrain);
  return {
    nVocab: r.archUint(ARCH_KEY.vocabSize, vocabFromTensor),
    nCtxTrain,
    nEmbd,
    nLayer: r.archUint(ARCH_KEY.blockCount),
    nFf: r.archUint(ARCH_KEY.feedForwardLength),
    nHead,
    nHeadKv,
    headDim,
    nRot,
    eps: r.archFloat(ARCH_KEY.rmsEps, 1e-5),
    ropeFreqBase: rope.freqBase,
    ropeScaling: rope.scaling,
  };
}

/** Activation names found in the wild -> our two gate activations. */
export function parseActivation(name: string | undefined): 'relu2' | 'silu' | undefined {
  if (name === undefined) return undefined;
  const n = name.toLowerCase();
  if (['relu2', 'relu_sqr', 'relu_squared', 'squared_relu', 'reglu2'].includes(n)) return 'relu2';
  if (['silu', 'swish', 'swiglu'].includes(n)) return 'silu';
  return undefined;
}
