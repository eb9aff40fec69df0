// Benchmarks in the style of llama-bench: pp (evaluate an N-token prompt from an empty cache) and tg
// (generate N tokens one at a time, after an optional prefilled context of depth D), each repeated and
// reported as mean and standard deviation of tokens/s. Synthetic models (`synthetic:2b4t:i2_s:f16`) with
// 2B4T's exact shapes and random weights are written once to a cache folder.
import { BitnetError } from '../errors.js';
import { TENSOR } from '../formats/names.js';
import { TENSOR_TYPES } from '../formats/types.js';
import { kvBytesPerPosition, type KvTypes } from '../model/kv-cache.js';
import { SHAPE_2B4T, writeSyntheticGguf, type SyntheticOptions, type SyntheticShape } from '../model/synthetic.js';
import { loadModel, type LoadOptions } from './load.js';
import type { Backend } from '../kernels/backend.js';
import type { BitnetModel } from './model.js';

export interface BenchTest {
  kind: 'pp' | 'tg';
  n: number;
  /** tokens already in the context before the test (tg at depth) */
  depth: number;
}

export interface BenchResult {
  test: string;
  mean: number;
  sd: number;
  samples: number[];
  /** bytes the test's KV cache held at its end (KvCache.bytes(): what the backend allocated or touched) */
  kvBytes: number;
  /** positions in the cache at its end (depth + n) */
  kvPositions: number;
  /** with `profile`: milliseconds per token spent in each backend op (matmuls by shape), largest first */
  profile?: Array<[string, number]>;
}

const PROFILED_OPS = ['quantizeActs', 'matmulTernary', 'matmulDense', 'rmsNorm', 'rope', 'kvStore', 'attention', 'gatedAct', 'add', 'scale'] as const;

/**
 * Times every compute call on `be` (its methods wrapped in place; the WASM and reference kernels are
 * synchronous, so a call's time is its work) until `stop()` restores them. Matmuls are keyed by shape.
 */
export function profileBackend(be: Backend): { times: Map<string, number>; stop(): void } {
  const times = new Map<string, number>();
  const target = be as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved: Array<[string, boolean, unknown]> = [];
  for (const op of PROFILED_OPS) {
    const f = target[op]!;
    saved.push([op, Object.prototype.hasOwnProperty.call(target, op), f]);
    target[op] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return f.apply(be, args);
      } finally {
        const m = args[0] as { rows?: number; cols?: number };
        const key = op.startsWith('matmul') ? `${op} ${m.rows}x${m.cols}` : op;
        times.set(key, (times.get(key) ?? 0) + performance.now() - t0);
      }
    };
  }
  return {
    times,
    stop() {
      for (const [op, own, f] of saved) {
        if (own) target[op] = f as (...args: unknown[]) => unknown;
        else delete target[op];
      }
    },
  };
}

const SHAPES: Record<string, SyntheticShape> = { '2b4t': SHAPE_2B4T };

/** `synthetic:2b4t[:i2_s|tq2_0|tq1_0[:f16|q8_0|q6_k[:bitnet]]]` -> a cached GGUF path (written on first use). */
export async function resolveSyntheticModel(ref: string, onProgress?: (done: number, total: number) => void): Promise<string> {
  const [, shapeName = '2b4t', weights = 'i2_s', embedding = 'f16', arch] = ref.split(':');
  const shape = SHAPES[shapeName];
  const w = weights.toUpperCase() as SyntheticOptions['weights'];
  const e = embedding.toUpperCase() as SyntheticOptions['embedding'];
  if (!shape || !['I2_S', 'TQ2_0', 'TQ1_0'].includes(w) || !['F16', 'Q8_0', 'Q6_K'].includes(e) || (arch !== undefined && arch !== 'bitnet')) {
    throw new BitnetError('INVALID_ARGUMENT', `unknown synthetic model "${ref}" (synthetic:2b4t[:i2_s|tq2_0|tq1_0[:f16|q8_0|q6_k[:bitnet]]])`, { name: 'model' });
  }
  const os = await import('node:os');
  const path = await import('node:path');
  const fs = await import('node:fs/promises');
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'bitnet', 'synthetic');
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${shapeName}-${weights}-${embedding}${arch ? `-${arch}` : ''}.gguf`);
  try {
    await fs.access(file);
  } catch {
    await writeSyntheticGguf(file, arch === 'bitnet' ? { ...shape, arch: 'bitnet' } : shape, { weights: w, embedding: e, seed: 1, ...(onProgress ? { onProgress } : {}) });
  }
  return file;
}

function stats(samples: number[]): { mean: number; sd: number } {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const sd = samples.length > 1 ? Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (samples.length - 1)) : 0;
  return { mean, sd };
}

function promptTokens(n: number, vocab: number, offset: number): number[] {
  // deterministic ordinary tokens (not the specials at the top of the vocabulary)
  return Array.from({ length: n }, (_, i) => 10 + ((i * 7919 + offset) % Math.max(1, Math.min(vocab, 32000) - 20)));
}

/**
 * Runs one test `reps` times (after one warm-up run) and returns tokens/s per run. The depth is filled once.
 * `around.start` runs just before the first timed run and `around.stop` just after the last (energy meters).
 */
export async function runBenchTest(model: BitnetModel, t: BenchTest, reps: number, profile = false, around?: { start(): void; stop(): void }): Promise<BenchResult> {
  const vocab = model.tokenizer.vocabSize;
  const name = t.kind === 'pp' ? `pp${t.n}` : `tg${t.n}`;
  const label = t.depth ? `${name} @ d${t.depth}` : name;
  const samples: number[] = [];
  const seq = model.createSequence({ contextSize: t.depth + t.n + 8 });
  let profiler: ReturnType<typeof profileBackend> | undefined;
  let kvBytes = 0;
  let kvPositions = 0;
  try {
    const context = promptTokens(Math.max(t.kind === 'tg' ? 1 : 0, t.depth), vocab, 1);
    if (context.length) await seq.prefill(context);
    for (let r = -1; r < reps; r++) {
      if (r === 0 && profile) profiler = profileBackend(model.backend);
      if (r === 0) around?.start();
      seq.truncate(context.length);
      if (t.kind === 'pp') {
        const tokens = [...context, ...promptTokens(t.n, vocab, 2 + r)];
        const t0 = performance.now();
        await seq.prefill(tokens);
        if (r >= 0) samples.push(t.n / ((performance.now() - t0) / 1000));
      } else {
        // as llama-bench: one token per step, logits computed, no sampling
        const next = promptTokens(t.n, vocab, 5 + r);
        const t0 = performance.now();
        for (let i = 0; i < t.n; i++) await seq.step(next[i]!);
        if (r >= 0) samples.push(t.n / ((performance.now() - t0) / 1000));
      }
    }
    around?.stop();
    kvBytes = seq.kv.bytes();
    kvPositions = seq.kv.length;
  } finally {
    profiler?.stop();
    seq.dispose();
  }
  const result: BenchResult = { test: label, ...stats(samples), samples, kvBytes, kvPositions };
  if (profiler) result.profile = [...profiler.times].map(([k, ms]): [string, number] => [k, ms / (reps * t.n)]).sort((a, b) => b[1] - a[1]);
  return result;
}

export interface BenchRun {
  model: string;
  sizeBytes: number;
  params: number;
  types: string;
  backend: string;
  /** the WASM backend's ternary matmul kernel ('lut' or 'mad'; absent elsewhere) */
  ternaryKernel?: string;
  threads: number;
  /** the KV cache's K and V types */
  kvTypes: KvTypes;
  tests: BenchTest[];
  results: BenchResult[];
  loadMs: number;
  /** weight bytes one decode step reads (ternary codes as the kernels stream them, the lm_head, norms) */
  weightBytesPerToken: number;
  /** KV cache bytes one decode step reads per position of context */
  kvBytesPerPosition: number;
  /** the process's peak RSS after this run, before the bandwidth probe (which may grow memory) */
  peakRssBytes: number;
  /** GB/s of a plain streaming read of device memory with the same threads (WASM backends only) */
  readGBs: number | undefined;
}

/** Bytes a decode step streams: every matrix once (ternary as 2-bit codes, an int8 lm_head as int8 rows + scales). */
export function decodeBytes(model: BitnetModel, lmHead: 'int8' | 'exact'): { weights: number; kvPerPosition: number } {
  const head = model.tensors.find((t) => t.name === TENSOR.output) ?? model.tensors.find((t) => t.name === TENSOR.tokEmbd);
  let weights = 0;
  for (const t of model.tensors) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (t === head) weights += lmHead === 'int8' ? elements + 4 * t.shape[1]! : t.bytes;
    else if (t.name === TENSOR.tokEmbd) weights += t.bytes / t.shape[1]!; // one embedding row
    else weights += TENSOR_TYPES.get(t.type)?.ternary ? elements / 4 : t.bytes;
  }
  const h = model.hparams;
  const kvPerPosition = kvBytesPerPosition(model.kvTypes, h.nLayer, h.nHeadKv, h.headDim);
  return { weights, kvPerPosition };
}

export async function bench(path: string, tests: BenchTest[], opts: LoadOptions & { reps: number; bandwidth?: boolean; profile?: boolean }): Promise<BenchRun> {
  const model = await loadModel(path, { ...opts, contextSize: Math.max(...tests.map((t) => t.depth + t.n + 8)) });
  let run: Omit<BenchRun, 'readGBs' | 'peakRssBytes'>;
  try {
    const results: BenchResult[] = [];
    for (const t of tests) results.push(await runBenchTest(model, t, opts.reps, opts.profile));
    const counts = new Map<string, number>();
    for (const t of model.tensors) if (t.shape.length === 2) counts.set(t.type, (counts.get(t.type) ?? 0) + t.shape[0]! * t.shape[1]!);
    const types = [...counts].sort((a, b) => b[1] - a[1]).map(([k]) => k).join('+');
    const bytes = decodeBytes(model, opts.lmHead === 'exact' || opts.lmHead === 'f16' ? 'exact' : 'int8');
    const kernel = (model.backend as { ternaryKernel?: string }).ternaryKernel;
    run = {
      ...(kernel ? { ternaryKernel: kernel } : {}),
      model: model.hparams.arch, sizeBytes: model.fileSize, params: model.parameterCount, types, backend: model.backend.name, threads: model.backend.threads, kvTypes: model.kvTypes,
      tests, results, loadMs: model.loadMs, weightBytesPerToken: bytes.weights, kvBytesPerPosition: bytes.kvPerPosition,
    };
  } finally {
    await model.dispose();
  }
  // measured after the model is freed, so the probe reuses its memory instead of raising the peak RSS
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const backend = model.backend as { measureReadBandwidth?: () => number };
  const readGBs = opts.bandwidth && backend.measureReadBandwidth ? backend.measureReadBandwidth() : undefined;
  return { ...run, peakRssBytes, readGBs };
}
