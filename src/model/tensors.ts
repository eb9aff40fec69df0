// Tensor specs of the ternary decoder: which GGUF tensors a model of given hyperparameters must (or may)
// have, with their ggml shapes. Architectures differ only in the flags of HParams (sub-norms, scales,
// Q/K norms, per-projection input norms).
import { TENSOR, PROJECTIONS } from '../formats/names.js';
import type { HParams } from './hparams.js';

export type TensorKind = 'ternary' | 'norm' | 'dense' | 'scale' | 'vector';

export interface TensorSpec {
  name: string;
  /** ggml shape, ne[0] innermost */
  shape: number[];
  kind: TensorKind;
  required: boolean;
  /** which hyperparameters the shape comes from, for error messages */
  from: string;
}

export function decoderTensorSpecs(hp: HParams): TensorSpec[] {
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  const specs: TensorSpec[] = [
    { name: TENSOR.tokEmbd, shape: [hp.nEmbd, hp.nVocab], kind: 'dense', required: true, from: 'embedding_length, vocab_size' },
    { name: TENSOR.outputNorm, shape: [hp.nEmbd], kind: 'norm', required: true, from: 'embedding_length' },
    { name: TENSOR.output, shape: [hp.nEmbd, hp.nVocab], kind: 'dense', required: false, from: 'embedding_length, vocab_size' },
    { name: TENSOR.ropeFreqs, shape: [hp.nRot / 2], kind: 'vector', required: false, from: 'rope.dimension_count / 2' },
  ];
  const projShape: Record<(typeof PROJECTIONS)[number][0], [number[], string]> = {
    attnQ: [[hp.nEmbd, qDim], 'embedding_length, head_count * key_length'],
    attnK: [[hp.nEmbd, kvDim], 'embedding_length, head_count_kv * key_length'],
    attnV: [[hp.nEmbd, kvDim], 'embedding_length, head_count_kv * key_length'],
    attnOutput: [[qDim, hp.nEmbd], 'head_count * key_length, embedding_length'],
    ffnGate: [[hp.nEmbd, hp.nFf], 'embedding_length, feed_forward_length'],
    ffnUp: [[hp.nEmbd, hp.nFf], 'embedding_length, feed_forward_length'],
    ffnDown: [[hp.nFf, hp.nEmbd], 'feed_forward_length, embedding_length'],
  };
  for (let l = 0; l < hp.nLayer; l++) {
    specs.push({ name: TENSOR.attnNorm(l), shape: [hp.nEmbd], kind: 'norm', required: true, from: 'embedding_length' });
    specs.push({ name: TENSOR.ffnNorm(l), shape: [hp.nEmbd], kind: 'norm', required: true, from: 'embedding_length' });
    if (hp.subNorms) {
      specs.push({ name: TENSOR.attnSubNorm(l), shape: [qDim], kind: 'norm', required: true, from: 'head_count * key_length' });
      specs.push({ name: TENSOR.ffnSubNorm(l), shape: [hp.nFf], kind: 'norm', required: true, from: 'feed_forward_length' });
    }
    if (hp.qkNorm) {
      specs.push({ name: TENSOR.attnQNorm(l), shape: [hp.headDim], kind: 'norm', required: true, from: 'key_length' });
      specs.push({ name: TENSOR.attnKNorm(l), shape: [hp.headDim], kind: 'norm', required: true, from: 'key_length' });
    }
    if (hp.inputNorms) {
      for (const p of ['attn_q', 'attn_k', 'attn_v', 'ffn_gate', 'ffn_up'] as const) {
        specs.push({ name: TENSOR.normIn(l, p), shape: [hp.nEmbd], kind: 'norm', required: true, from: 'embedding_length' });
      }
      specs.push({ name: TENSOR.normIn(l, 'attn_output'), shape: [qDim], kind: 'norm', required: true, from: 'head_count * key_length' });
      specs.push({ name: TENSOR.normIn(l, 'ffn_down'), shape: [hp.nFf], kind: 'norm', required: true, from: 'feed_forward_length' });
    }
    for (const [fn] of PROJECTIONS) {
      const [shape, from] = projShape[fn];
      const name = TENSOR[fn](l);
      specs.push({ name, shape, kind: 'ternary', required: true, from });
      if (hp.projScales) specs.push({ name: TENSOR.scaleOf(name), shape: [1], kind: 'scale', required: false, from: 'one element' });
    }
  }
  return specs;
}
