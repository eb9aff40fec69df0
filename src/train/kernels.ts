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
  dispose(): void;
}

export const refTrainKernels: TrainKernels = {
  name: 'ref',
  linear: op.linear,
  linearBackwardInput: op.linearBackwardInput,
  linearBackwardWeight: op.linearBackwardWeight,
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
    const o = this.be.allocF32(out[1]);
    try {
      for (const [a, n] of inputs) {
        const b = this.be.allocF32(n);
        b.set(a.subarray(0, n));
        bufs.push(b);
      }
      if (out[2]) o.set(out[0].subarray(0, out[1]));
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
