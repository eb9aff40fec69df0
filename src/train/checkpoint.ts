// Training checkpoints as GGUF files: the f32 latent parameters under their GGUF names, AdamW's moments
// (`adam.m.NAME`, `adam.v.NAME`), the trained tokenizer, and the run's state (config, options, step,
// tokens seen, elapsed time, loss history) as JSON in `bitnet.train.state`. Written atomically.
import { BitnetError } from '../errors.js';
import { gv, writeGgufFile, type GgufWriteTensor } from '../formats/gguf-writer.js';
import { readGguf, readTensorBytes } from '../formats/gguf.js';
import { FileSource } from '../formats/source.js';
import { F32 } from '../formats/types.js';
import { vocabToGgufMetadata } from '../tokenizer/export.js';
import { vocabFromGguf, type BpeVocab } from '../tokenizer/vocab.js';
import type { ModelConfig, TrainModel } from './model.js';
import type { AdamW } from './optim.js';

export const STATE_KEY = 'bitnet.train.state';

export interface RunState<Options> {
  config: ModelConfig;
  options: Options;
  /** optimizer steps done */
  step: number;
  tokensSeen: number;
  elapsedMs: number;
  history: Array<{ step: number; loss: number; valLoss?: number }>;
}

export async function saveCheckpoint<O>(path: string, model: TrainModel, opt: AdamW, vocab: BpeVocab, state: RunState<O>): Promise<void> {
  const tensors: GgufWriteTensor[] = [];
  for (const p of model.params) {
    const shape = [...p.shape].reverse();
    tensors.push({ name: p.name, shape, type: F32, data: F32.codec.quantize(p.data) });
    tensors.push({ name: `adam.m.${p.name}`, shape, type: F32, data: F32.codec.quantize(opt.m.get(p.name)!) });
    tensors.push({ name: `adam.v.${p.name}`, shape, type: F32, data: F32.codec.quantize(opt.v.get(p.name)!) });
  }
  const meta = [
    ['general.architecture', gv.str('bitnet-train-checkpoint')] as const,
    [STATE_KEY, gv.str(JSON.stringify({ ...state, adamT: opt.t }))] as const,
    ...vocabToGgufMetadata(vocab),
  ];
  await writeGgufFile(path, meta, tensors);
}

export interface LoadedCheckpoint<O> {
  state: RunState<O> & { adamT: number };
  vocab: BpeVocab;
  /** tensor name -> f32 values (parameters and moments) */
  tensors: Map<string, Float32Array>;
}

export async function loadCheckpoint<O>(path: string): Promise<LoadedCheckpoint<O>> {
  const src = await FileSource.open(path);
  try {
    const file = await readGguf(src);
    const raw = file.metadata.get(STATE_KEY);
    if (typeof raw !== 'string') throw new BitnetError('MISSING_KEY', 'not a bitnet training checkpoint', { file: path, name: STATE_KEY });
    let state: LoadedCheckpoint<O>['state'];
    try {
      state = JSON.parse(raw) as LoadedCheckpoint<O>['state'];
    } catch (e) {
      throw new BitnetError('CORRUPT', 'the training state is not valid JSON', { file: path, name: STATE_KEY, cause: e });
    }
    const tensors = new Map<string, Float32Array>();
    for (const t of file.tensors) {
      if (t.type !== F32) throw new BitnetError('CORRUPT', `checkpoint tensors are F32, this one is ${t.type.name}`, { file: path, name: t.name });
      const bytes = await readTensorBytes(file, t);
      const values = new Float32Array(t.nElements);
      F32.codec.dequantize(bytes, t.nElements, values);
      tensors.set(t.name, values);
    }
    return { state, vocab: vocabFromGguf(file.metadata), tensors };
  } finally {
    await src.close();
  }
}

/** Copies a checkpoint's parameters and moments into a model and optimizer of the same configuration. */
export function restore<O>(ck: LoadedCheckpoint<O>, model: TrainModel, opt: AdamW, path: string): void {
  for (const p of model.params) {
    for (const [name, dst] of [[p.name, p.data], [`adam.m.${p.name}`, opt.m.get(p.name)!], [`adam.v.${p.name}`, opt.v.get(p.name)!]] as const) {
      const src = ck.tensors.get(name);
      if (!src) throw new BitnetError('MISSING_TENSOR', 'missing in the checkpoint', { file: path, name });
      if (src.length !== dst.length) throw new BitnetError('SHAPE_MISMATCH', `has ${src.length} values, the model needs ${dst.length}`, { file: path, name });
      dst.set(src);
    }
  }
  opt.t = ck.state.adamT;
}
