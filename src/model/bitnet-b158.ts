// BitNet b1.58 2B4T (`bitnet-b1.58`, and `bitnet-25` for the first April 2025 upload): Llama-3-like
// decoder with squared-ReLU gated FFN, RMSNorm sub-norms before o_proj and down_proj ("subln"), NeoX RoPE
// on unpermuted Q/K, GQA, tied embeddings. bitnet.cpp hard-codes relu^2 for these archs (build_bitnet_158).
import { BitnetError } from '../errors.js';
import { ARCH_KEY, archKey } from '../formats/names.js';
import { parseActivation, readCommonHparams, type HParams, type MetadataReader, type ArchOptions } from './hparams.js';

export function bitnetB158Hparams(r: MetadataReader, vocabFromTensor: number, opts: ArchOptions): HParams {
  const name = r.archString(ARCH_KEY.hiddenAct);
  const fromFile = parseActivation(name);
  if (name !== undefined && fromFile === undefined) {
    throw new BitnetError('BAD_METADATA', `unknown activation "${name}"`, { file: r.file, name: archKey(r.arch, ARCH_KEY.hiddenAct) });
  }
  return {
    ...readCommonHparams(r, vocabFromTensor),
    arch: r.arch === 'bitnet-25' ? 'bitnet-25' : 'bitnet-b1.58',
    ropeStyle: 'neox',
    act: opts.activation ?? fromFile ?? 'relu2',
    subNorms: true,
    projScales: false,
    qkNorm: false,
    inputNorms: false,
  };
}
