// Qwen3 (`qwen3`), as Microsoft's BitNet embedding models use it (bitnet-embeddings-0.6b; microsoft/BitNet
// docs/bitnet-embeddings-qwen3-gguf-conversion.md): a Llama-like block with SiLU gate, NeoX RoPE, a head size
// of its own (key_length), per-head RMSNorm of Q and K before RoPE, and, in the BitNet variant, an RMSNorm
// with its own weight before every ternary projection (`*_norm_in`; all of them or none). Tied embeddings.
import { BitnetError } from '../errors.js';
import { TENSOR } from '../formats/names.js';
import { readCommonHparams, type ArchOptions, type FileFacts, type HParams, type MetadataReader } from './hparams.js';

export function qwen3Hparams(r: MetadataReader, vocabFromTensor: number, opts: ArchOptions, file: FileFacts): HParams {
  const common = readCommonHparams(r, vocabFromTensor);
  const projs = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;
  const present = projs.filter((p) => file.hasTensor(TENSOR.normIn(0, p)));
  if (present.length !== 0 && present.length !== projs.length) {
    const missing = projs.find((p) => !present.includes(p))!;
    throw new BitnetError('MISSING_TENSOR', `the file has per-projection input norms for ${present.join(', ')} but not for ${missing}`, { file: r.file, name: TENSOR.normIn(0, missing) });
  }
  if (opts.activation === 'relu2') opts.warn('qwen3 uses a SiLU gate; --activation relu2 overrides it');
  return {
    ...common,
    arch: 'qwen3',
    ropeStyle: 'neox',
    act: opts.activation ?? 'silu',
    subNorms: false,
    projScales: false,
    qkNorm: true,
    inputNorms: present.length === projs.length,
  };
}
