// Backend selection: 'auto' is the WASM backend (relaxed SIMD where the runtime computes it correctly,
// portable SIMD128 otherwise) on the machine's physical cores; 'ref' is the plain TypeScript reference.
import { BitnetError } from '../errors.js';
import type { Backend } from './backend.js';
import { refBackend } from './ref/index.js';

export type BackendKind = 'auto' | 'cpu' | 'wasm' | 'wasm-simd' | 'wasm-relaxed' | 'ref';
export const BACKEND_KINDS: readonly BackendKind[] = ['auto', 'cpu', 'wasm', 'wasm-simd', 'wasm-relaxed', 'ref'];

export interface BackendOptions {
  /** CPU threads; default: physical cores */
  threads?: number;
}

/** Physical cores (Linux: distinct core ids in /proc/cpuinfo), else the logical CPU count. */
export async function physicalCores(): Promise<number> {
  try {
    const os = await import('node:os');
    const logical = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
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
      // not Linux
    }
    return logical;
  } catch {
    return typeof navigator !== 'undefined' ? (navigator.hardwareConcurrency ?? 1) : 1;
  }
}

export async function createBackend(kind: BackendKind | Backend = 'auto', opts: BackendOptions = {}): Promise<Backend> {
  if (typeof kind === 'object') return kind;
  if (!BACKEND_KINDS.includes(kind)) throw new BitnetError('INVALID_ARGUMENT', `unknown backend "${String(kind)}" (choose ${BACKEND_KINDS.join(', ')})`, { name: 'backend' });
  if (kind === 'ref') return refBackend;
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new BitnetError('INVALID_ARGUMENT', `threads must be a positive integer, got ${opts.threads}`, { name: 'threads' });
  }
  const { createWasmBackend } = await import('./wasm/backend.js');
  const threads = opts.threads ?? (await physicalCores());
  const kernels = kind === 'wasm-simd' ? 'simd' : kind === 'wasm-relaxed' ? 'relaxed' : undefined;
  return createWasmBackend({ threads, ...(kernels ? { kernels } : {}) });
}
