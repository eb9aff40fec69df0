// Memory estimate for a model before loading it: weights as the backend holds them (ternary 2 bits per
// weight, dense matrices in their stored type, vectors as f32), the KV cache at a context size, and the
// forward pass's working buffers for one prompt batch.
import type { HParams } from '../model/hparams.js';
import { kvBytesPerPosition, kvTypesOf, type KvType, type KvTypes } from '../model/kv-cache.js';
import type { TensorDescription } from './model.js';

export interface MemoryEstimate {
  weights: number;
  kvCache: number;
  buffers: number;
  total: number;
}

const TERNARY = /\.(attn_[qkv]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

export function estimateMemory(hp: HParams, tensors: readonly TensorDescription[], opts: { contextSize: number; kvType: KvType | KvTypes; batchSize: number }): MemoryEstimate {
  let weights = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (TERNARY.test(t.name)) weights += (t.shape[1] ?? 1) * Math.ceil(t.shape[0]! / 4);
    else if (t.shape.length === 1) weights += 4 * n;
    else weights += t.bytes;
  }
  const kvDim = hp.nHeadKv * hp.headDim;
  const kvCache = opts.contextSize * kvBytesPerPosition(kvTypesOf(opts.kvType), hp.nLayer, hp.nHeadKv, hp.headDim);
  const T = opts.batchSize;
  const qDim = hp.nHead * hp.headDim;
  const buffers = 4 * T * (3 * hp.nEmbd + 2 * qDim + 2 * kvDim + 2 * hp.nFf) + T * Math.max(hp.nEmbd, hp.nFf) * 3 + 4 * hp.nVocab;
  return { weights, kvCache, buffers, total: weights + kvCache + buffers };
}
