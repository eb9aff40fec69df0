// The tensor type table: every ggml type id we know, its block size, byte size rule and codec. This is the
// only place that knows sizes (including I2_S's n/4 + 32) and the only place that resolves the id 36-39
// collision between bitnet.cpp's fork (I2_S, I8_S, TL1, TL2) and mainline ggml (retired ids, MXFP4 = 39).
import { BitnetError } from '../errors.js';
import type { BlockCodec, TernaryCodec } from './quants/codec.js';
import {
  bf16Codec,
  f16Codec,
  f32Codec,
  i2_sCodec,
  q6_KCodec,
  q8_0Codec,
  tq1_0Codec,
  tq2_0Codec,
} from './quants/index.js';
import { isBitnetArch } from './names.js';

export interface TensorType {
  readonly id: number;
  readonly name: string;
  /** elements per block along ne0 (rows must be a whole number of blocks) */
  readonly blockSize: number;
  /** bytes per block */
  readonly typeSize: number;
  /** bytes of a whole tensor of n elements */
  byteSize(n: number): number;
  readonly codec: BlockCodec;
  /** present for ternary types: exact decode to {-1,0,1} + scales */
  readonly ternary?: TernaryCodec;
  /** true when a row can be dequantized on its own (false for I2_S: its scale sits after all rows) */
  readonly rowAddressable: boolean;
}

function blockType(id: number, name: string, codec: BlockCodec, ternary?: TernaryCodec): TensorType {
  const t: TensorType = {
    id,
    name,
    blockSize: codec.blockSize,
    typeSize: codec.typeSize,
    byteSize: (n) => (n / codec.blockSize) * codec.typeSize,
    codec,
    rowAddressable: true,
    ...(ternary ? { ternary } : {}),
  };
  return t;
}

export const F32 = blockType(0, 'F32', f32Codec);
export const F16 = blockType(1, 'F16', f16Codec);
export const Q8_0 = blockType(8, 'Q8_0', q8_0Codec);
export const Q6_K = blockType(14, 'Q6_K', q6_KCodec);
export const BF16 = blockType(30, 'BF16', bf16Codec);
export const TQ1_0 = blockType(34, 'TQ1_0', tq1_0Codec, tq1_0Codec);
export const TQ2_0 = blockType(35, 'TQ2_0', tq2_0Codec, tq2_0Codec);
/** bitnet.cpp's I2_S (fork id 36): 2-bit codes in 128-element / 32-byte blocks, then one f32 scale, padded: n/4 + 32 bytes. */
export const I2_S: TensorType = {
  id: 36,
  name: 'I2_S',
  blockSize: 128,
  typeSize: 32,
  byteSize: (n) => n / 4 + 32,
  codec: i2_sCodec,
  ternary: i2_sCodec,
  rowAddressable: false,
};

const SUPPORTED = [F32, F16, Q8_0, Q6_K, BF16, TQ1_0, TQ2_0, I2_S];
export const TENSOR_TYPES: ReadonlyMap<string, TensorType> = new Map(SUPPORTED.map((t) => [t.name, t]));

/** Names of mainline ggml ids we do not support, for error messages. */
const MAINLINE_NAMES: Record<number, string> = {
  2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K',
  15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S',
  23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 39: 'MXFP4', 40: 'NVFP4',
};

/** LLAMA_FTYPE_MOSTLY_I2_S in bitnet.cpp's fork (general.file_type of its I2_S files, any architecture). */
export const FTYPE_I2_S = 40;

export interface TypeContext {
  /** general.architecture */
  arch: string;
  /** general.file_type, if present */
  fileType: number | undefined;
  file: string;
  tensor: string;
}

/** True when ids 36-39 mean bitnet.cpp's types: a bitnet architecture, or a file its quantizer marked I2_S (e.g. llama-arch Falcon3-1.58bit). */
export function usesBitnetTypeIds(arch: string, fileType: number | undefined): boolean {
  return isBitnetArch(arch) || fileType === FTYPE_I2_S;
}

/** ggml type id -> TensorType, or a BitnetError that says what the id is and what to do. */
export function resolveTensorType(id: number, ctx: TypeContext): TensorType {
  const where = { file: ctx.file, name: ctx.tensor };
  for (const t of SUPPORTED) if (t.id === id && id !== I2_S.id) return t;
  if (id >= 36 && id <= 39 && usesBitnetTypeIds(ctx.arch, ctx.fileType)) {
    if (id === 36) return I2_S;
    if (id === 37) throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', 'tensor type I8_S (37) is a runtime activation type and never valid in a file', where);
    const tl = id === 38 ? 'TL1' : 'TL2';
    throw new BitnetError(
      'UNSUPPORTED_TENSOR_TYPE',
      `tensor type ${tl} (${id}) is bitnet.cpp's build-specific lookup-table layout (its tiling depends on the kernel ` +
        `config it was generated with), so it cannot be read portably. Use the I2_S file instead ` +
        `(ggml-model-i2_s.gguf), or re-convert from the Hugging Face weights with bitnet.cpp's ` +
        `\`setup_env.py -q i2_s\` / \`utils/convert-hf-to-gguf-bitnet.py --outtype i2_s\`.`,
      where,
    );
  }
  if (id >= 36 && id <= 38) {
    throw new BitnetError(
      'UNSUPPORTED_TENSOR_TYPE',
      `tensor type id ${id} is retired in mainline ggml and means a bitnet.cpp type only in bitnet architectures ` +
        `(this file's general.architecture is "${ctx.arch}")`,
      where,
    );
  }
  const known = MAINLINE_NAMES[id];
  const supported = SUPPORTED.map((t) => t.name).join(', ');
  throw new BitnetError(
    'UNSUPPORTED_TENSOR_TYPE',
    known
      ? `tensor type ${known} (${id}) is not supported; supported types: ${supported}`
      : `unknown tensor type id ${id}; supported types: ${supported}`,
    where,
  );
}
