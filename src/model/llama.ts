// Ternary models in the `llama` architecture, as bitnet.cpp converts Falcon3-1.58bit and
// Llama3-8B-1.58 to I2_S: a plain Llama block (SiLU gate, no sub-norms) whose projections run the
// ternary integer path. The converter permutes Q/K rows, so RoPE is the normal (adjacent-pair) style.
import { parseActivation, readCommonHparams, type HParams, type MetadataReader, type ArchOptions } from './hparams.js';
import { ARCH_KEY } from '../formats/names.js';

export function llamaHparams(r: MetadataReader, vocabFromTensor: number, opts: ArchOptions): HParams {
  return {
    ...readCommonHparams(r, vocabFromTensor),
    arch: 'llama',
    ropeStyle: 'norm',
    act: opts.activation ?? parseActivation(r.archString(ARCH_KEY.hiddenAct)) ?? 'silu',
    subNorms: false,
    projScales: false,
    qkNorm: false,
    inputNorms: false,
  };
}
