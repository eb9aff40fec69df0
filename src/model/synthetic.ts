// Synthetic models: random ternary weights with a real architecture's exact shapes (BitNet b1.58 2B4T, or
// any hyperparameters), written to GGUF one tensor at a time so a 1.2 GB file never sits in memory. Used
// by benchmarks (the real weights are not downloadable everywhere) and loading tests at full scale.
import { BitnetError } from '../errors.js';
import type { GgufTypedValue } from '../formats/gguf.js';
import { gv, writeGgufFile, type GgufWriteTensor } from '../formats/gguf-writer.js';
import { ARCH_KEY, archKey, KEY, PROJECTIONS, TENSOR } from '../formats/names.js';
import { F16, F32, I2_S, Q6_K, Q8_0, TQ1_0, TQ2_0, type TensorType } from '../formats/types.js';
import { vocabToGgufMetadata } from '../tokenizer/export.js';
import { trainBpe } from '../tokenizer/train.js';
import { Rng } from '../util/rng.js';

export interface SyntheticShape {
  arch: 'bitnet-b1.58' | 'bitnet' | 'llama';
  nVocab: number;
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nCtx: number;
  ropeTheta: number;
}

/** BitNet b1.58 2B4T's exact shapes (spec 1). */
export const SHAPE_2B4T: SyntheticShape = { arch: 'bitnet-b1.58', nVocab: 128256, nEmbd: 2560, nFf: 6912, nLayer: 30, nHead: 20, nHeadKv: 5, nCtx: 4096, ropeTheta: 500000 };

export interface SyntheticOptions {
  weights: 'I2_S' | 'TQ2_0' | 'TQ1_0';
  embedding: 'F16' | 'Q8_0' | 'Q6_K';
  seed?: number;
  /** one token per embedding row, padded with reserved specials as Llama-3 does (default true; llama.cpp needs it) */
  padVocab?: boolean;
  onProgress?: (done: number, total: number) => void;
}

const TYPES: Record<string, TensorType> = { I2_S, TQ2_0, TQ1_0, F16, Q8_0, Q6_K };

const SAMPLE_TEXT = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. The capital of France is Paris.';

/** The architecture and hyperparameter keys of a decoder of this shape (synthetic models, trainer exports). */
export function shapeMetadata(
  arch: SyntheticShape['arch'],
  shape: Omit<SyntheticShape, 'arch'> & { eps?: number },
): Array<[string, GgufTypedValue]> {
  const k = (key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY]) => archKey(arch, key);
  return [
    [KEY.architecture, gv.str(arch)],
    [k(ARCH_KEY.vocabSize), gv.u32(shape.nVocab)],
    [k(ARCH_KEY.contextLength), gv.u32(shape.nCtx)],
    [k(ARCH_KEY.embeddingLength), gv.u32(shape.nEmbd)],
    [k(ARCH_KEY.blockCount), gv.u32(shape.nLayer)],
    [k(ARCH_KEY.feedForwardLength), gv.u32(shape.nFf)],
    [k(ARCH_KEY.ropeDimensionCount), gv.u32(shape.nEmbd / shape.nHead)],
    [k(ARCH_KEY.headCount), gv.u32(shape.nHead)],
    [k(ARCH_KEY.headCountKv), gv.u32(shape.nHeadKv)],
    [k(ARCH_KEY.rmsEps), gv.f32(shape.eps ?? 1e-5)],
    [k(ARCH_KEY.ropeFreqBase), gv.f32(shape.ropeTheta)],
  ];
}

/** Writes a random model with the given shape; weights have unit-gain scales so activations stay O(1). */
export async function writeSyntheticGguf(path: string, shape: SyntheticShape, opts: SyntheticOptions): Promise<void> {
  const wType = TYPES[opts.weights]!;
  const eType = TYPES[opts.embedding]!;
  const headDim = shape.nEmbd / shape.nHead;
  if (!Number.isInteger(headDim)) throw new BitnetError('INVALID_ARGUMENT', `embedding ${shape.nEmbd} is not a multiple of ${shape.nHead} heads`);
  const rng = new Rng(opts.seed ?? 1);
  const trained = trainBpe(SAMPLE_TEXT, { vocabSize: 300, specials: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>'] });
  // llama.cpp wants one token per embedding row: pad with reserved special tokens as Llama-3 does
  const pad = opts.padVocab === false ? 0 : Math.max(0, shape.nVocab - trained.tokens.length);
  const vocab = {
    ...trained,
    tokens: [...trained.tokens, ...Array.from({ length: pad }, (_, i) => `<|reserved_special_token_${i}|>`)],
    tokenTypes: Int32Array.from([...trained.tokenTypes, ...new Array<number>(pad).fill(3)]),
  };
  const a = shape.arch;
  const meta: Array<[string, GgufTypedValue]> = [
    ...shapeMetadata(a, shape),
    [KEY.name, gv.str(`synthetic-${a}-${shape.nLayer}x${shape.nEmbd}`)],
    [KEY.fileType, gv.u32(opts.weights === 'I2_S' ? 40 : opts.weights === 'TQ2_0' ? 37 : 36)],
    ...(a === 'bitnet' ? [[archKey(a, ARCH_KEY.hiddenAct), gv.str('relu2')] as [string, GgufTypedValue]] : []),
    ...vocabToGgufMetadata(vocab),
  ];
  const vec = (name: string, n: number): GgufWriteTensor => ({
    name,
    shape: [n],
    type: F32,
    data: () => new Uint8Array(new Float32Array(n).map(() => 0.5 + rng.next()).buffer),
  });
  const ternary = (name: string, rows: number, cols: number): GgufWriteTensor => ({
    name,
    shape: [cols, rows],
    type: wType,
    data: () => {
      const values = new Int8Array(rows * cols);
      for (let i = 0; i < values.length; i += 16) {
        let bits = rng.nextU32();
        for (let j = 0; j < 16 && i + j < values.length; j++, bits >>>= 2) values[i + j] = (bits & 3) === 3 ? 0 : (bits & 3) - 1;
      }
      const alpha = 2 ** Math.round(Math.log2(1 / Math.sqrt(0.5 * cols))); // P(nonzero) = 1/2
      return wType.ternary!.encodeTernary(values, alpha);
    },
  });
  const embedding: GgufWriteTensor = {
    name: TENSOR.tokEmbd,
    shape: [shape.nEmbd, shape.nVocab],
    type: eType,
    data: () => {
      const n = shape.nEmbd * shape.nVocab;
      if (eType === F16) {
        // random halves of magnitude 2^-8 .. 2^-2, written as bits directly (fast for 328M values)
        const h = new Uint16Array(n);
        for (let i = 0; i < n; i++) {
          const r = rng.nextU32();
          h[i] = ((r & 1) << 15) | ((7 + ((r >>> 1) % 7)) << 10) | ((r >>> 4) & 0x3ff);
        }
        return new Uint8Array(h.buffer);
      }
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = (rng.next() - 0.5) * 0.2;
      return eType.codec.quantize(f);
    },
  };
  const qDim = shape.nHead * headDim;
  const kvDim = shape.nHeadKv * headDim;
  const dims: Record<(typeof PROJECTIONS)[number][0], [number, number]> = {
    attnQ: [qDim, shape.nEmbd], attnK: [kvDim, shape.nEmbd], attnV: [kvDim, shape.nEmbd], attnOutput: [shape.nEmbd, qDim],
    ffnGate: [shape.nFf, shape.nEmbd], ffnUp: [shape.nFf, shape.nEmbd], ffnDown: [shape.nEmbd, shape.nFf],
  };
  const tensors: GgufWriteTensor[] = [embedding, vec(TENSOR.outputNorm, shape.nEmbd)];
  for (let l = 0; l < shape.nLayer; l++) {
    tensors.push(vec(TENSOR.attnNorm(l), shape.nEmbd), vec(TENSOR.ffnNorm(l), shape.nEmbd));
    if (a !== 'llama') tensors.push(vec(TENSOR.attnSubNorm(l), qDim), vec(TENSOR.ffnSubNorm(l), shape.nFf));
    for (const [fn] of PROJECTIONS) tensors.push(ternary(TENSOR[fn](l), ...dims[fn]));
  }
  await writeGgufFile(path, meta, tensors, opts.onProgress ? { onProgress: opts.onProgress } : {});
}
