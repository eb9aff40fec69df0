// The reference backend: plain TypeScript, exact where bitnet.cpp/ggml are sequential and in a fixed float
// order elsewhere: the twin every faster backend must match bit for bit. Slow by design (no SIMD, no threads).
import type { Backend, DenseMatrix, QuantizedActs, TernaryMatrix } from '../backend.js';
import { createDenseFromRef, createDenseRef, matmulDenseRef, type RefDenseMatrix } from './dense.js';
import { addRef, attentionRef, createKvRef, gatedActRef, kvStoreRef, ropeRef, rmsNormRef, scaleRef } from './ops.js';
import { createTernaryRef, matmulTernaryRef, quantizeActsRef, type RefTernaryMatrix } from './ternary.js';

export const refBackend: Backend = {
  name: 'ref',
  threads: 1,
  createTernary: createTernaryRef,
  createDense: createDenseRef,
  createDenseFrom: createDenseFromRef,
  matrixBytes(m: TernaryMatrix | DenseMatrix): number {
    if ('codes' in m) return (m as RefTernaryMatrix).codes.byteLength + ((m as RefTernaryMatrix).blockScales?.byteLength ?? 0);
    const d = m as RefDenseMatrix;
    return d.int8 ? d.int8.values.byteLength + d.int8.scales.byteLength : d.data.bytes.byteLength;
  },
  createVector: (v) => v,
  allocF32: (n) => new Float32Array(n),
  allocActs: (T, K): QuantizedActs => ({ q: new Int8Array(T * K), scale: new Float32Array(T), sum: new Int32Array(T), T, K }),
  free: () => {},
  upload: () => {},
  read: async (buf) => buf,
  createKv: createKvRef,
  quantizeActs: quantizeActsRef,
  matmulTernary: (w, xq, y) => matmulTernaryRef(w as RefTernaryMatrix, xq, y),
  matmulDense: (w, x, T, y, roundInput) => matmulDenseRef(w as RefDenseMatrix, x, T, y, roundInput),
  rmsNorm: rmsNormRef,
  rope: ropeRef,
  kvStore: kvStoreRef,
  attention: attentionRef,
  gatedAct: gatedActRef,
  add: addRef,
  scale: scaleRef,
  dispose: () => {},
};
