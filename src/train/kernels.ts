// The trainer's linear-map kernels behind one interface: the plain TypeScript reference (ops.ts) and the
// WASM SIMD GEMMs of the inference backend (threaded, buffers copied through its memory). Shapes the WASM
// kernels do not take (K not a multiple of 16) fall back to the reference.
import { createBackend } from '../kernels/index.js';
import type { WasmBackend } from '../kernels/wasm/backend.js';
import * as op from './ops.js';

export interface TrainKernels {
  readonly name: string;
  /** y [T, N] = x [T, K] · wᵀ */
  linear(x: Float32Array, w: Float32Array, T: number, K: number, N: number, y: Float32Array): void;
  /** dx [T, K] (+)= dy [T, N] · w */
  linearBackwardInput(dy: Float32Array, w: Float32Array, T: number, K: number, N: number, dx: Float32Array, accumulate: boolean): void;
  /** dw [N, K] += dyᵀ · x */
  linearBackwardWeight(dy: Float32Array, x: Float32Array, T: number, K: number, N: number, dw: Float32Array): void;
  /** causal attention forward: out and probs (ops.attention) */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, s: op.AttentionShape, out: Float32Array, probs: Float32Array): void;
  /** its backward: dq, dk, dv overwritten (ops.attentionBackward) */
  attentionBackward(dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, s: op.AttentionShape, dq: Float32Array, dk: Float32Array, dv: Float32Array): void;
  dispose(): void;
}

export const refTrainKernels: TrainKernels = {
  name: 'ref',
  linear: op.linear,
  linearBackwardInput: op.linearBackwardInput,
  linearBackwardWeight: op.linearBackwardWeight,
  attention: op.attention,
  attentionBackward: op.attentionBackward,
  dispose() {},
};

class WasmTrainKernels implements TrainKernels {
  readonly name: string;
  constructor(private readonly be: WasmBackend) {
    this.name = `${be.name} x${be.threads}`;
  }

  /** Runs fn on backend copies of the inputs; copies `out` back. */
  private run(inputs: Array<[Float32Array, number]>, out: [Float32Array, number, boolean], fn: (bufs: Float32Array[], o: Float32Array) => void): void {
    const bufs: Float32Array[] = [];
    const o = out[2] ? this.copyIn(out[0], out[1]) : this.be.allocF32(out[1]);
    try {
      for (const [a, n] of inputs) bufs.push(this.copyIn(a, n));
      fn(bufs, o);
      out[0].set(o);
    } finally {
      for (const b of bufs) this.be.free(b);
      this.be.free(o);
    }
  }

  linear(x: Float32Array, w: Float32Array, T: number, K: number, N: number, y: Float32Array): void {
    if (K % 4 !== 0) return op.linear(x, w, T, K, N, y);
    this.run([[x, T * K], [w, N * K]], [y, T * N, false], ([bx, bw], by) => this.be.gemmF32('nt', bx!, bw!, by, T, K, N));
  }

  linearBackwardInput(dy: Float32Array, w: Float32Array, T: number, K: number, N: number, dx: Float32Array, accumulate: boolean): void {
    if (K % 16 !== 0) return op.linearBackwardInput(dy, w, T, K, N, dx, accumulate);
    this.run([[dy, T * N], [w, N * K]], [dx, T * K, accumulate], ([bdy, bw], bdx) => this.be.gemmF32('nn', bdy!, bw!, bdx, T, K, N, accumulate));
  }

  linearBackwardWeight(dy: Float32Array, x: Float32Array, T: number, K: number, N: number, dw: Float32Array): void {
    if (K % 16 !== 0) return op.linearBackwardWeight(dy, x, T, K, N, dw);
    this.run([[dy, T * N], [x, T * K]], [dw, N * K, true], ([bdy, bx], bdw) => this.be.gemmF32('tn', bdy!, bx!, bdw, T, K, N));
  }

  attention(q: Float32Array, k: Float32Array, v: Float32Array, s: op.AttentionShape, out: Float32Array, probs: Float32Array): void {
    if (s.headDim % 4 !== 0) return op.attention(q, k, v, s, out, probs);
    const be = this.be;
    const R = s.B * s.T;
    const bufs = { q: this.copyIn(q, R * s.nHead * s.headDim), k: this.copyIn(k, R * s.nHeadKv * s.headDim), v: this.copyIn(v, R * s.nHeadKv * s.headDim), out: be.allocF32(R * s.nHead * s.headDim), probs: be.allocF32(s.B * s.nHead * s.T * s.T) };
    try {
      be.trainAttention('fwd', bufs, s);
      out.set(bufs.out);
      probs.set(bufs.probs);
    } finally {
      for (const b of Object.values(bufs)) be.free(b);
    }
  }

  attentionBackward(dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, s: op.AttentionShape, dq: Float32Array, dk: Float32Array, dv: Float32Array): void {
    if (s.headDim % 4 !== 0) return op.attentionBackward(dout, q, k, v, probs, s, dq, dk, dv);
    const be = this.be;
    const R = s.B * s.T;
    const nq = R * s.nHead * s.headDim;
    const nkv = R * s.nHeadKv * s.headDim;
    const zero = (n: number): Float32Array => be.allocF32(n).fill(0);
    const bufs = { dout: this.copyIn(dout, nq), q: this.copyIn(q, nq), k: this.copyIn(k, nkv), v: this.copyIn(v, nkv), probs: this.copyIn(probs, s.B * s.nHead * s.T * s.T), dq: zero(nq), dk: zero(nkv), dv: zero(nkv) };
    try {
      be.trainAttention('bwd', bufs, s);
      dq.set(bufs.dq);
      dk.set(bufs.dk);
      dv.set(bufs.dv);
    } finally {
      for (const b of Object.values(bufs)) be.free(b);
    }
  }

  private copyIn(a: Float32Array, n: number): Float32Array {
    const b = this.be.allocF32(n);
    b.set(a.subarray(0, n));
    return b;
  }

  dispose(): void {
    this.be.dispose();
  }
}

/** 'auto': the WASM SIMD kernels on `threads` threads (default: physical cores); 'ref': plain TypeScript. */
export async function createTrainKernels(kind: 'auto' | 'ref' = 'auto', threads?: number): Promise<TrainKernels> {
  if (kind === 'ref') return refTrainKernels;
  const be = await createBackend('auto', threads !== undefined ? { threads } : {});
  if (!('gemmF32' in be)) {
    be.dispose();
    return refTrainKernels;
  }
  return new WasmTrainKernels(be as WasmBackend);
}
