// A load-time check of the WebGPU kernels on the adapter at hand, against the reference backend on small
// seeded inputs: int8 activation quantization and the ternary matmul bit for bit, RMSNorm and attention
// over an f16 cache within float tolerances. `auto` uses it before choosing a hardware GPU (whose driver the
// tests never ran on), so a driver that computes something else falls back to the CPU instead of wrong text.
import type { Backend } from '../backend.js';
import { i2_sCodec } from '../../formats/quants/i2_s.js';
import { refBackend as ref } from '../ref/index.js';
import { Rng } from '../../util/rng.js';

/** Largest |a - b| relative to max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let amax = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    amax = Math.max(amax, Math.abs(b[i]!));
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
  }
  return Number.isFinite(d) ? d / Math.max(amax, 1e-30) : Infinity;
}

/** Runs the check; returns undefined when the kernels agree with the reference, else what differed. */
export async function selfCheck(be: Backend): Promise<string | undefined> {
  const rng = new Rng(20261130);
  const bufs: Float32Array[] = [];
  const alloc = (n: number): Float32Array => {
    const b = be.allocF32(n);
    bufs.push(b);
    return b;
  };
  const gpuVec = (v: Float32Array): Float32Array => {
    const b = alloc(v.length);
    b.set(v);
    be.upload(b);
    return b;
  };
  try {
    return await run(be, rng, alloc, gpuVec);
  } finally {
    for (const b of bufs) be.free(b);
  }
}

async function run(be: Backend, rng: Rng, alloc: (n: number) => Float32Array, gpuVec: (v: Float32Array) => Float32Array): Promise<string | undefined> {
  const rows = 96;
  const cols = 512;
  const T = 3;
  const x = Float32Array.from({ length: T * cols }, () => rng.normal());

  // ternary matmul of int8 activations (I2_S codes): integers and the epilogue, bit for bit
  const values = Int8Array.from({ length: rows * cols }, () => rng.int(3) - 1);
  const input = { kind: 'i2s' as const, bytes: i2_sCodec.encodeTernary(values, 0.75) };
  const want = new Float32Array(T * rows);
  const wq = ref.allocActs(T, cols);
  ref.quantizeActs(x, wq);
  ref.matmulTernary(ref.createTernary(input, rows, cols), wq, want);
  const xq = be.allocActs(T, cols);
  be.quantizeActs(gpuVec(x), xq);
  const y = alloc(T * rows);
  be.matmulTernary(be.createTernary(input, rows, cols), xq, y);
  const got = await be.read(y);
  be.free(xq);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) return `ternary matmul: output ${i} is ${got[i]}, the reference ${want[i]}`;

  // RMSNorm
  const w = Float32Array.from({ length: cols }, () => 1 + 0.1 * rng.normal());
  const normWant = new Float32Array(T * cols);
  ref.rmsNorm(x, T, cols, 1e-5, w, normWant);
  const normOut = alloc(T * cols);
  be.rmsNorm(gpuVec(x), T, cols, 1e-5, gpuVec(w), normOut);
  const normErr = relErr(await be.read(normOut), normWant);
  if (!(normErr <= 1e-5)) return `RMSNorm: relative error ${normErr}`;

  // KV store + causal GQA attention over an f16 cache (a prompt of 5, then one decode step)
  const nHead = 4;
  const nHeadKv = 2;
  const headDim = 32;
  const kvW = nHeadKv * headDim;
  const qW = nHead * headDim;
  const refKv = ref.createKv(1, nHeadKv, headDim, 8, { k: 'f16', v: 'f16' });
  const gpuKv = be.createKv(1, nHeadKv, headDim, 8, { k: 'f16', v: 'f16' });
  refKv.reserve(6);
  gpuKv.reserve(6);
  const scale = Math.fround(1 / Math.sqrt(headDim));
  for (const [n, pos0] of [[5, 0], [1, 5]] as const) {
    const q = Float32Array.from({ length: n * qW }, () => rng.normal());
    const k = Float32Array.from({ length: n * kvW }, () => rng.normal());
    const v = Float32Array.from({ length: n * kvW }, () => rng.normal());
    const p = { T: n, nHead, nHeadKv, headDim, pos0, scale, kv: { k: 'f16' as const, v: 'f16' as const } };
    const attWant = new Float32Array(n * qW);
    ref.kvStore(refKv.layers[0]!, k, v, n, pos0);
    ref.attention(q, refKv.layers[0]!, attWant, p);
    const out = alloc(n * qW);
    be.kvStore(gpuKv.layers[0]!, gpuVec(k), gpuVec(v), n, pos0);
    be.attention(gpuVec(q), gpuKv.layers[0]!, out, p);
    const err = relErr(await be.read(out), attWant);
    if (!(err <= 1e-3)) return `attention (${n === 1 ? 'decode' : 'prompt'}): relative error ${err}`;
  }
  gpuKv.free();
  refKv.free();
  return undefined;
}
