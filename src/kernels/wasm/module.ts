// Picks and compiles the WASM kernels: the relaxed-SIMD build where the runtime computes it correctly,
// else the portable SIMD128 build. Node 20's baseline compiler (Liftoff) returns wrong relaxed dot
// products before tier-up, so relaxed SIMD needs Node >= 22 (or a browser) AND a probe run on freshly
// compiled code that matches the exact result.
import { BitnetError } from '../../errors.js';
import { WASM_BASE64 as RELAXED } from './generated/relaxed.js';
import { WASM_BASE64 as SIMD } from './generated/simd.js';

export type KernelVariant = 'relaxed' | 'simd';

/** The exported kernels (pointer-based; see asm/common.ts and asm/dot-*.ts). */
export interface KernelExports {
  quantize_acts(x: number, K: number, q: number, scale: number, sum: number, t0: number, t1: number): void;
  widen_i8(q: number, q16: number, n: number): void;
  rms_norm(x: number, n: number, eps: number, w: number, out: number, t0: number, t1: number): void;
  add_f32(x: number, y: number, n: number): void;
  scale_f32(x: number, n: number, s: number): void;
  gated_act(gate: number, up: number, n: number, silu: number): void;
  rope(x: number, T: number, nHead: number, headDim: number, nRot: number, neox: number, table: number): void;
  kv_store(kl: number, vl: number, k: number, v: number, T: number, pos0: number, nHeadKv: number, headDim: number, nCtx: number, f16: number): void;
  attn_scores(q: number, kl: number, nHead: number, nHeadKv: number, headDim: number, pos0: number, T: number, nCtx: number, scale: number, f16: number, probs: number, stride: number, chunk: number, qBlock: number, i0: number, i1: number, scratch: number): void;
  attn_softmax(probs: number, stride: number, nHead: number, pos0: number, roundP: number, pscale: number, r0: number, r1: number): void;
  attn_pv(probs: number, stride: number, kl: number, vl: number, out: number, nHead: number, nHeadKv: number, headDim: number, pos0: number, nCtx: number, f16: number, T: number, qBlock: number, i0: number, i1: number): void;
  kvq_store(dst: number, x: number, T: number, pos0: number, width: number, type: number): number;
  kvq_scores(q: number, kl: number, kType: number, nHead: number, nHeadKv: number, headDim: number, pos0: number, T: number, scale: number, probs: number, stride: number, chunk: number, i0: number, i1: number, scratch: number): void;
  kvq_pv(probs: number, stride: number, vl: number, vType: number, out: number, nHead: number, nHeadKv: number, headDim: number, pos0: number, i0: number, i1: number): void;
  kvq_scratch_bytes(group: number, headDim: number): number;
  requant_f16_rows(src: number, cols: number, values: number, scales: number, r0: number, r1: number): void;
  tq2_to_i2s(src: number, dst: number, nBlocks: number): void;
  stream_read(base: number, itemBytes: number, out: number, i0: number, i1: number): void;
  ternary_matmul(w: number, K: number, x: number, x16: number, T: number, sums: number, scales: number, alpha: number, out: number, rows: number, r0: number, r1: number): void;
  int8_matmul(w: number, cols: number, x: number, x16: number, T: number, scales: number, sums: number, rowScales: number, out: number, rows: number, r0: number, r1: number): void;
  gemm_nt(x: number, w: number, y: number, K: number, N: number, r0: number, r1: number): void;
  gemm_nn(dy: number, w: number, dx: number, K: number, N: number, accumulate: number, r0: number, r1: number): void;
  gemm_tn(dy: number, x: number, dw: number, T: number, K: number, N: number, r0: number, r1: number): void;
  train_attn_fwd(q: number, k: number, v: number, out: number, probs: number, T: number, nHead: number, nHeadKv: number, hd: number, i0: number, i1: number): void;
  train_attn_bwd(dout: number, q: number, k: number, v: number, probs: number, dq: number, dk: number, dv: number, T: number, nHead: number, nHeadKv: number, hd: number, i0: number, i1: number, scratch: number): void;
  dense_matmul(kind: number, w: number, cols: number, x: number, T: number, y: number, rows: number, g0: number, g1: number): void;
  dense_pack(elemBytes: number, src: number, cols: number, nRows: number, dst: number, flag: number, g0: number, g1: number): void;
  lut_tables(q: number, K: number, tables: number, scratch: number, t0: number, t1: number): void;
  lut_repack(src: number, dst: number, rows: number, K: number, scratch: number, tile0: number, tile1: number): void;
  ternary_lut(w: number, K: number, tables: number, T: number, scales: number, alpha: number, out: number, rows: number, r0: number, r1: number, scratch: number): void;
  relaxed_probe(a: number, b: number): number;
  set_gemv_variant(v: number): void;
  expf(x: number): number;
  NEEDS_X16: WebAssembly.Global;
}

function decode(b64: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') {
    const b = Buffer.from(b64, 'base64');
    return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  }
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Whether a runtime may use relaxed SIMD: not Node < 22 (its Liftoff bug), and the build must validate. */
export function relaxedAllowed(env: { nodeVersion: string | undefined; validates: boolean }): boolean {
  if (!env.validates) return false;
  if (env.nodeVersion !== undefined && Number(env.nodeVersion.split('.')[0]) < 22) return false;
  return true;
}

/** Runs the relaxed dot on freshly compiled code (before any tier-up) against the exact result. */
export function relaxedProbePasses(module: WebAssembly.Module): boolean {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true } as WebAssembly.MemoryDescriptor);
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const a = new Int8Array(memory.buffer, 65536, 16);
  const b = new Int8Array(memory.buffer, 65536 + 16, 16);
  let want = 0;
  for (let i = 0; i < 16; i++) {
    a[i] = ((i * 37) % 255) - 127; // i8 operand
    b[i] = (i * 11) % 128; // i7 operand: 7-bit, non-negative
    want += a[i]! * b[i]!;
  }
  return k.relaxed_probe(65536, 65536 + 16) === want;
}

let cached: Map<string, { module: WebAssembly.Module; variant: KernelVariant }> | undefined;

export function compileKernels(force?: KernelVariant): { module: WebAssembly.Module; variant: KernelVariant } {
  const key = force ?? 'auto';
  cached ??= new Map();
  const hit = cached.get(key);
  if (hit) return hit;
  const relaxedBytes = decode(RELAXED);
  const nodeVersion = typeof process !== 'undefined' ? process.versions?.node : undefined;
  let result: { module: WebAssembly.Module; variant: KernelVariant } | undefined;
  if (force !== 'simd' && relaxedAllowed({ nodeVersion, validates: WebAssembly.validate(relaxedBytes) })) {
    const module = new WebAssembly.Module(relaxedBytes);
    if (relaxedProbePasses(module)) result = { module, variant: 'relaxed' };
  }
  if (!result && force === 'relaxed') {
    throw new BitnetError('INVALID_ARGUMENT', `relaxed SIMD is not usable here (Node ${nodeVersion ?? '-'}; needs Node >= 22 or a current browser)`, { name: 'kernels' });
  }
  result ??= { module: new WebAssembly.Module(decode(SIMD)), variant: 'simd' };
  cached.set(key, result);
  return result;
}
