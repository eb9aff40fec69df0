// The process-wide WASM device of each kernel build: the compiled module, the shared memory (Heap), the thread
// pool and the load-time autotune of the relaxed build's dot variants. Backends (backend.ts, one per model)
// allocate on it.
import type { TernaryKernel } from './lut.js';
import { Heap } from './heap.js';
import { compileKernels, type KernelExports, type KernelVariant } from './module.js';
import { Pool } from './pool.js';

export interface Device {
  variant: KernelVariant;
  k: KernelExports;
  heap: Heap;
  pool: Pool;
  needsX16: boolean;
  /** the ternary kernel the autotune picked for this runtime (at the first matrix that could use either) */
  ternaryKernel?: TernaryKernel;
}

const devices = new Map<KernelVariant, Device>();

export function device(force: KernelVariant | undefined): Device {
  const { module, variant } = compileKernels(force);
  let d = devices.get(variant);
  if (!d) {
    const heap = new Heap(64 << 20);
    const k = new WebAssembly.Instance(module, { env: { memory: heap.memory } }).exports as unknown as KernelExports;
    d = { variant, k, heap, pool: new Pool(k, module, heap), needsX16: k.NEEDS_X16.value !== 0 };
    if (variant === 'relaxed') d.pool.gemvVariant = fastestGemv(k, heap);
    devices.set(variant, d);
  }
  return d;
}

/**
 * Times the relaxed build's dot variants on a 4 MB matrix and returns the faster of each (asm/dot-relaxed.ts
 * set_gemv_variant): single tokens with i16 partial sums or i32 dot-adds (bit 0), prompt batches in 2x4 tiles of
 * i16 partial sums or 4x4 tiles of i32 dot-adds (bit 1). The dot-adds are one vpdpbusd each where the CPU has
 * VNNI and three ops where it has not; every variant gives the same integers.
 */
function fastestGemv(k: KernelExports, heap: Heap): number {
  const rows = 1600;
  const K = 2560;
  const T = 8;
  const w = heap.alloc((rows * K) / 4);
  const x = heap.alloc(K * T);
  const small = heap.alloc(256);
  const out = heap.alloc(rows * 4 * T);
  heap.u8(w, (rows * K) / 4).fill(0x96);
  heap.i8(x, K * T).fill(3);
  heap.f32(small, T).fill(1);
  const time = (v: number, tokens: number): number => {
    k.set_gemv_variant(v);
    let best = Infinity;
    for (let rep = 0; rep < 4; rep++) {
      const t = performance.now();
      k.ternary_matmul(w, K, x, 0, tokens, small + 128, small, 1, out, rows, 0, rows);
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };
  for (const v of [0, 1, 2]) time(v, v === 2 ? T : 1); // warm up
  const gemv = time(1, 1) < time(0, 1) * 0.95 ? 1 : 0;
  const gemm = time(2, T) < time(0, T) * 0.95 ? 2 : 0;
  for (const p of [w, x, small, out]) heap.release(p);
  return gemv | gemm;
}

