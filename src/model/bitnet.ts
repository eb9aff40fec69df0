// The `bitnet` architecture of llama.cpp (1bitLLM's bitnet_b1_58 models, and 2B4T files converted by
// mainline llama.cpp): sub-norms like 2B4T, NeoX RoPE, optional one-element `*.scale` tensors that
// multiply each projection's output, and the activation from `bitnet.hidden_activation` (llama.cpp
// defaults to SiLU when the key is absent).
import { BitnetError } from '../errors.js';
import { ARCH_KEY, archKey } from '../formats/names.js';
import { parseActivation, readCommonHparams, type HParams, type MetadataReader, type ArchOptions } from './hparams.js';

export function bitnetHparams(r: MetadataReader, vocabFromTensor: number, opts: ArchOptions): HParams {
  const common = readCommonHparams(r, vocabFromTensor);
  const name = r.archString(ARCH_KEY.hiddenAct);
  let act = parseActivation(name);
  if (name !== undefined && act === undefined) {
    throw new BitnetError('BAD_METADATA', `unknown activation "${name}"`, { file: r.file, name: archKey(r.arch, ARCH_KEY.hiddenAct) });
  }
  if (opts.activation) act = opts.activation;
  if (act === undefined) {
    // 2B4T converted by mainline llama.cpp without the key: its graph would wrongly use SiLU (BitNet #588)
    const is2b4t = common.nEmbd === 2560 && common.nLayer === 30 && common.nFf === 6912;
    act = is2b4t ? 'relu2' : 'silu';
    if (is2b4t) {
      opts.warn(
        `${archKey(r.arch, ARCH_KEY.hiddenAct)} is missing and the shapes are BitNet b1.58 2B4T's: using squared ReLU ` +
          `(pass activation 'silu' to override)`,
      );
    }
  }
  return { ...common, arch: 'bitnet', ropeStyle: 'neox', act, subNorms: true, projScales: true, qkNorm: false, inputNorms: false };
}
