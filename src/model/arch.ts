// The architecture registry: general.architecture -> how to read its hyperparameters. The forward pass
// (forward.ts) is shared; each architecture file states its quirks (activation, sub-norms, RoPE style).
import { BitnetError } from '../errors.js';
import type { ModelFile } from '../formats/model-file.js';
import { KEY, TENSOR } from '../formats/names.js';
import { MetadataReader, type ArchOptions, type FileFacts, type HParams } from './hparams.js';
import { readRope } from './rope-scaling.js';

export type { ArchOptions } from './hparams.js';
import { bitnetB158Hparams } from './bitnet-b158.js';
import { bitnetHparams } from './bitnet.js';
import { llamaHparams } from './llama.js';
import { qwen3Hparams } from './qwen3.js';


type HparamsReader = (r: MetadataReader, vocabFromTensor: number, opts: ArchOptions, file: FileFacts) => HParams;

const ARCHS: Record<string, HparamsReader> = {
  'bitnet-b1.58': bitnetB158Hparams,
  'bitnet-25': bitnetB158Hparams,
  bitnet: bitnetHparams,
  llama: llamaHparams,
  qwen3: qwen3Hparams,
};

export function readHparams(file: ModelFile, opts: ArchOptions): HParams {
  const arch = file.metadata.get(KEY.architecture);
  if (typeof arch !== 'string') throw new BitnetError('MISSING_KEY', 'the file does not name its architecture', { file: file.path, name: KEY.architecture });
  const reader = ARCHS[arch];
  if (!reader) {
    throw new BitnetError('UNSUPPORTED_ARCHITECTURE', `architecture "${arch}" is not supported (supported: ${Object.keys(ARCHS).join(', ')})`, {
      file: file.path,
      name: KEY.architecture,
    });
  }
  const embd = file.tensors.get(TENSOR.tokEmbd);
  const r = new MetadataReader(file.metadata, file.path, arch);
  const hp = reader(r, embd?.shape[1] ?? 0, opts, { hasTensor: (name) => file.tensors.has(name) });
  if (!opts.rope) return hp;
  const rope = readRope(r, hp.nCtxTrain, opts.rope);
  return { ...hp, ropeFreqBase: rope.freqBase, ropeScaling: rope.scaling };
}
