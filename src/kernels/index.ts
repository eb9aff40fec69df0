// Backend selection: 'auto' is the WebGPU backend when a GPU object is given and its adapter is a real GPU,
// else the WASM backend (relaxed SIMD where the runtime computes it correctly, portable SIMD128 otherwise)
// on the machine's physical cores; 'cpu' is always WASM; 'ref' is the plain TypeScript reference.
import { BitnetError } from '../errors.js';
import { PARALLEL_MIN_WORK, type Backend, type TernaryKernelChoice } from './backend.js';
import { refBackend } from './ref/index.js';

export { TERNARY_KERNELS, type TernaryKernelChoice, KV_TYPES, type KvType, type KvTypes, kvBytesPerValue, checkKvTypes } from './backend.js';

export type BackendKind = 'auto' | 'cpu' | 'webgpu' | 'wasm' | 'wasm-simd' | 'wasm-relaxed' | 'ref';
export const BACKEND_KINDS: readonly BackendKind[] = ['auto', 'cpu', 'webgpu', 'wasm', 'wasm-simd', 'wasm-relaxed', 'ref'];

export interface BackendOptions {
  /** CPU threads; default: physical cores */
  threads?: number;
  /** the WASM backend's ternary matmul (default 'auto': timed once per runtime) */
  ternaryKernel?: TernaryKernelChoice;
  /**
   * The WebGPU entry point for 'webgpu' and 'auto': navigator.gpu in browsers (the default there), the npm
   * webgpu package's create([]) in Node (engine/load.ts passes it).
   */
  gpu?: GPU;
  /**
   * Multiply-adds one decoded token costs (the model's matrices): a model whose every op is below the
   * threads' hand-off cost (PARALLEL_MIN_WORK) defaults to one thread, since more only slow it down
   */
  perTokenWork?: number;
  /** told when 'auto' passes over a GPU that failed the kernels' self-check */
  onWarning?: (message: string) => void;
}

/** navigator.gpu where the runtime has one (browsers). */
function browserGpu(): GPU | undefined {
  return typeof navigator !== 'undefined' ? ((navigator as Navigator & { gpu?: GPU }).gpu ?? undefined) : undefined;
}

/** The WebGPU backend on a real GPU, or undefined (no GPU object, no adapter, or a software adapter). */
async function hardwareWebGpu(gpu: GPU | undefined, warn: ((message: string) => void) | undefined): Promise<Backend | undefined> {
  if (!gpu) return undefined;
  const { requestAdapter, isHardwareAdapter, openDevice } = await import('./webgpu/device.js');
  const adapter = await requestAdapter(gpu).catch(() => undefined);
  if (!adapter || !isHardwareAdapter(adapter)) return undefined;
  const { createWebGpuBackend } = await import('./webgpu/backend.js');
  const be = await createWebGpuBackend({ gpu, context: await openDevice(gpu, adapter) });
  // a driver the tests never ran on must compute what the reference does before `auto` trusts it
  const { selfCheck } = await import('./webgpu/selfcheck.js');
  const problem = await selfCheck(be).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
  if (problem === undefined) return be;
  be.dispose();
  warn?.(`${be.name} failed its self-check (${problem}): using the CPU backend (--backend webgpu forces the GPU)`);
  return undefined;
}

/** Logical CPUs (Node: os.availableParallelism; browsers: navigator.hardwareConcurrency). */
export async function logicalCpus(): Promise<number> {
  try {
    const os = await import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  } catch {
    return typeof navigator !== 'undefined' ? (navigator.hardwareConcurrency ?? 1) : 1;
  }
}

/** Physical cores (Linux: distinct core ids in /proc/cpuinfo), else the logical CPU count. */
export async function physicalCores(): Promise<number> {
  const logical = await logicalCpus();
  try {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const cores = new Set<string>();
    let phys = '0';
    for (const line of text.split('\n')) {
      const [k, v] = line.split(':').map((s) => s.trim());
      if (k === 'physical id') phys = v ?? '0';
      if (k === 'core id') cores.add(`${phys}/${v}`);
    }
    if (cores.size > 0) return Math.min(cores.size, logical);
  } catch {
    // not Linux, or not Node
  }
  return logical;
}

/**
 * The default CPU thread count: the physical cores, or 1 for a model so small (under 4 x PARALLEL_MIN_WORK
 * multiply-adds per token, e.g. the bundled 1M-parameter model) that the per-op rule runs every op of a token
 * on one thread anyway.
 */
export async function defaultThreads(perTokenWork?: number): Promise<number> {
  if (perTokenWork !== undefined && perTokenWork < 4 * PARALLEL_MIN_WORK) return 1;
  return physicalCores();
}

export async function createBackend(kind: BackendKind | Backend = 'auto', opts: BackendOptions = {}): Promise<Backend> {
  if (typeof kind === 'object') return kind;
  if (!BACKEND_KINDS.includes(kind)) throw new BitnetError('INVALID_ARGUMENT', `unknown backend "${String(kind)}" (choose ${BACKEND_KINDS.join(', ')})`, { name: 'backend' });
  if (kind === 'ref') return refBackend;
  const gpu = opts.gpu ?? browserGpu();
  if (kind === 'webgpu') {
    if (!gpu) throw new BitnetError('INVALID_ARGUMENT', 'the webgpu backend needs WebGPU: a browser with navigator.gpu, or in Node the optional package `webgpu` (npm install webgpu)', { name: 'backend' });
    const { createWebGpuBackend } = await import('./webgpu/backend.js');
    return createWebGpuBackend({ gpu });
  }
  if (kind === 'auto') {
    const be = await hardwareWebGpu(gpu, opts.onWarning);
    if (be) return be;
  }
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new BitnetError('INVALID_ARGUMENT', `threads must be a positive integer, got ${opts.threads}`, { name: 'threads' });
  }
  const { createWasmBackend } = await import('./wasm/backend.js');
  let threads = opts.threads ?? (await defaultThreads(opts.perTokenWork));
  const cpus = await logicalCpus();
  if (threads > cpus) {
    // spinning workers on shared cores stall each other at every op: more threads than CPUs only slow down
    opts.onWarning?.(`-t ${threads} is more than the ${cpus} CPUs here: using ${cpus} threads`);
    threads = cpus;
  }
  const kernels = kind === 'wasm-simd' ? 'simd' : kind === 'wasm-relaxed' ? 'relaxed' : undefined;
  return createWasmBackend({ threads, ...(kernels ? { kernels } : {}), ...(opts.ternaryKernel ? { ternaryKernel: opts.ternaryKernel } : {}) });
}
