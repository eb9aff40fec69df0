// The reference backend: plain TypeScript, exact where bitnet.cpp/ggml are sequential, the twin every
// faster backend is tested against. Slow by design (no SIMD, no threads).
import type { Backend, DenseMatrix, TernaryMatrix } from '../backend.js';
import { createDenseRef, getRowsRef, matmulDenseRef, type RefDenseMatrix } from './dense.js';
import { addRef, attentionRef, gatedActRef, kvStoreRef, ropeRef, rmsNormRef, scaleRef } from './ops.js';
import { createTernaryRef, matmulTernaryRef, quantizeActsRef, type RefTernaryMatrix } from './ternary.js';

export const refBackend: Backend = {
  name: 'ref',
  createTernary: createTernaryRef,
  createDense: createDenseRef,
  matrixBytes(m: TernaryMatrix | DenseMatrix): number {
    if ('codes' in m) return (m as RefTernaryMatrix).codes.byteLength + ((m as RefTernaryMatrix).blockScales?.byteLength ?? 0);
    return (m as RefDenseMatrix).data.bytes.byteLength;
  },
  quantizeActs: quantizeActsRef,
  matmulTernary: (w, xq, y) => matmulTernaryRef(w as RefTernaryMatrix, xq, y),
  matmulDense: (w, x, T, y, roundInput) => matmulDenseRef(w as RefDenseMatrix, x, T, y, roundInput),
  getRows: (w, ids, out) => getRowsRef(w as RefDenseMatrix, ids, out),
  rmsNorm: rmsNormRef,
  rope: ropeRef,
  kvStore: kvStoreRef,
  attention: attentionRef,
  gatedAct: gatedActRef,
  add: addRef,
  scale: scaleRef,
};
