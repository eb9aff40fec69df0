// The work a thread does for one parallel kernel call, shared by the main thread and the workers: the job
// is described in a small control block in shared memory, and threads claim chunks of rows (or heads)
// with an atomic counter until none are left, so a preempted thread never holds up the others for long.
import { LUT_SCRATCH } from './lut.js';
import type { KernelExports } from './module.js';

export const CTRL_INTS = 64;
/** control block slots */
export const GEN = 0; // job generation: workers wait for it to change
export const OP = 1;
export const NCHUNKS = 2;
export const NEXT = 3; // next unclaimed chunk
export const DONE = 4; // workers that finished the current job
export const STOP = 5;
export const CHUNK = 6; // rows (or heads) per chunk
export const LIMIT = 7; // total rows (or heads)
export const ACTIVE = 8; // threads taking part (tid < ACTIVE); the others sit the job out
export const GEMV = 9; // which single-token ternary dot the relaxed build uses (set once by the autotune)
export const SLEEPING = 10; // workers asleep on GEN: the caller notifies only when there are some
export const MAIN_WAITING = 11; // 1 while the caller sleeps on DONE: workers notify only then
export const ARGS = 16; // argument slots (ints, or floats through the Float32Array view)

export const OP_TERNARY = 1;
export const OP_INT8 = 2;
export const OP_REQUANT = 4;
export const OP_ATT_SCORES = 5;
export const OP_ATT_SOFTMAX = 6;
export const OP_ATT_PV = 7;
export const OP_STREAM = 8;
export const OP_GEMM_NT = 9;
export const OP_GEMM_NN = 10;
export const OP_GEMM_TN = 11;
export const OP_TRAIN_ATT_FWD = 12;
export const OP_TRAIN_ATT_BWD = 13;
/** LUT ternary kernels (asm/lut.ts): repack I2_S rows into 16-row tiles, build per-token tables, the matmul */
export const OP_LUT_REPACK = 14;
export const OP_LUT_TABLES = 15;
export const OP_TERNARY_LUT = 16;
export const OP_DENSE = 20;
export const OP_DENSE_PACK = 21;
// row and element ops of prompt batches (14-19: the ternary dot kernels, 20-29: dense)
export const OP_RMS_NORM = 30;
export const OP_QUANT_ACTS = 31;
export const OP_GATED_ACT = 32;
export const OP_ADD = 33;
/** quantized KV cache attention (asm/attention-q.ts): scores on the integer block dots, P·V */
export const OP_KVQ_SCORES = 40;
export const OP_KVQ_PV = 41;

/** Argument slot i of the current job (a plain function: a closure per job would allocate in threads that never idle). */
const arg = (ctrl: Int32Array, i: number): number => ctrl[ARGS + i]!;

/** Claims and runs chunks of the current job until none are left. */
export function runChunks(k: KernelExports, ctrl: Int32Array, ctrlF: Float32Array, tid: number): void {
  if (tid >= ctrl[ACTIVE]!) return;
  const op = ctrl[OP]!;
  const nChunks = ctrl[NCHUNKS]!;
  const chunk = ctrl[CHUNK]!;
  const limit = ctrl[LIMIT]!;
  for (;;) {
    const c = Atomics.add(ctrl, NEXT, 1);
    if (c >= nChunks) return;
    const r0 = c * chunk;
    runRange(k, ctrl, ctrlF, tid, op, r0, Math.min(limit, r0 + chunk));
  }
}

/** Runs rows (or items) [r0, r1) of the job in the control block on thread `tid`. */
export function runRange(k: KernelExports, ctrl: Int32Array, ctrlF: Float32Array, tid: number, op: number, r0: number, r1: number): void {
  switch (op) {
    case OP_TERNARY:
      k.set_gemv_variant(ctrl[GEMV]!);
      k.ternary_matmul(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), ctrlF[ARGS + 7]!, arg(ctrl, 8), arg(ctrl, 9), r0, r1);
      break;
    case OP_INT8:
      k.int8_matmul(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), arg(ctrl, 7), arg(ctrl, 8), arg(ctrl, 9), r0, r1);
      break;
    case OP_ATT_SCORES:
      // scratch per thread: arg 14 + tid * arg 15
      k.attn_scores(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), arg(ctrl, 7), ctrlF[ARGS + 8]!, arg(ctrl, 9), arg(ctrl, 10), arg(ctrl, 11), arg(ctrl, 12), arg(ctrl, 13), r0, r1, arg(ctrl, 14) + tid * arg(ctrl, 15));
      break;
    case OP_ATT_SOFTMAX:
      k.attn_softmax(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), ctrlF[ARGS + 5]!, r0, r1);
      break;
    case OP_ATT_PV:
      k.attn_pv(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), arg(ctrl, 7), arg(ctrl, 8), arg(ctrl, 9), arg(ctrl, 10), arg(ctrl, 11), arg(ctrl, 12), r0, r1);
      break;
    case OP_KVQ_SCORES:
      // scratch per thread: arg 12 + tid * arg 13
      k.kvq_scores(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), arg(ctrl, 7), ctrlF[ARGS + 8]!, arg(ctrl, 9), arg(ctrl, 10), arg(ctrl, 11), r0, r1, arg(ctrl, 12) + tid * arg(ctrl, 13));
      break;
    case OP_KVQ_PV:
      k.kvq_pv(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), arg(ctrl, 7), arg(ctrl, 8), r0, r1);
      break;
    case OP_STREAM:
      k.stream_read(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), r0, r1);
      break;
    case OP_GEMM_NT:
      k.gemm_nt(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), r0, r1);
      break;
    case OP_GEMM_NN:
      k.gemm_nn(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), r0, r1);
      break;
    case OP_GEMM_TN:
      k.gemm_tn(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), r0, r1);
      break;
    case OP_TRAIN_ATT_FWD:
      k.train_attn_fwd(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), arg(ctrl, 7), arg(ctrl, 8), r0, r1);
      break;
    case OP_TRAIN_ATT_BWD:
      // scratch per thread: arg 12 + tid * arg 13
      k.train_attn_bwd(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), arg(ctrl, 7), arg(ctrl, 8), arg(ctrl, 9), arg(ctrl, 10), arg(ctrl, 11), r0, r1, arg(ctrl, 12) + tid * arg(ctrl, 13));
      break;
    case OP_LUT_REPACK:
      // scratch per thread: LUT_SCRATCH bytes each from the last argument (wasm/lut.ts)
      k.lut_repack(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4) + tid * LUT_SCRATCH, r0, r1);
      break;
    case OP_LUT_TABLES:
      k.lut_tables(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3) + tid * LUT_SCRATCH, r0, r1);
      break;
    case OP_TERNARY_LUT:
      k.ternary_lut(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), ctrlF[ARGS + 5]!, arg(ctrl, 6), arg(ctrl, 7), r0, r1, arg(ctrl, 8) + tid * LUT_SCRATCH);
      break;
    case OP_DENSE:
      k.dense_matmul(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), arg(ctrl, 6), r0, r1);
      break;
    case OP_DENSE_PACK:
      k.dense_pack(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), arg(ctrl, 5), r0, r1);
      break;
    case OP_REQUANT:
      k.requant_f16_rows(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), r0, r1);
      break;
    case OP_RMS_NORM:
      k.rms_norm(arg(ctrl, 0), arg(ctrl, 1), ctrlF[ARGS + 2]!, arg(ctrl, 3), arg(ctrl, 4), r0, r1);
      break;
    case OP_QUANT_ACTS:
      k.quantize_acts(arg(ctrl, 0), arg(ctrl, 1), arg(ctrl, 2), arg(ctrl, 3), arg(ctrl, 4), r0, r1);
      break;
    case OP_GATED_ACT:
      // elements [r0, r1): byte offsets into gate and up
      k.gated_act(arg(ctrl, 0) + r0 * 4, arg(ctrl, 1) + r0 * 4, r1 - r0, arg(ctrl, 2));
      break;
    case OP_ADD:
      k.add_f32(arg(ctrl, 0) + r0 * 4, arg(ctrl, 1) + r0 * 4, r1 - r0);
      break;
    default:
      throw new Error(`unknown job op ${op}`);
  }
}
