// The efficiency row of the BitNet reports: per decoded token, the bytes read and the integer and float
// operations, counted from the model's shapes and the kernels that run (ternary LUT / multiply-add / reference,
// int8 or exact lm_head, f16 or f32 KV), an arithmetic energy estimate with 7 nm per-operation costs, the same
// for an FP16 model of identical shape, and `benchEfficiency`, which times tg and reads memory around it.
import { BitnetError } from '../errors.js';
import { TENSOR } from '../formats/names.js';
import { kvBytesPerPosition, kvBytesPerValue, kvTypesName } from '../model/kv-cache.js';
import type { HParams } from '../model/hparams.js';
import { loadModel, type LoadOptions } from './load.js';
import { runBenchTest, type BenchResult } from './bench.js';

/** What one decoded token costs (or one component of it). */
export interface OpCounts {
  /** weight bytes streamed (ternary codes as the kernels hold them, the lm_head, one embedding row, norm vectors) */
  weightBytes: number;
  /** K/V cache bytes read */
  kvBytes: number;
  /** integer additions and subtractions (int8 lanes, and the i16/i32 accumulations) */
  intAdd: number;
  /** integer multiplications */
  intMul: number;
  /** float additions, subtractions and comparisons (max, relu) */
  floatAdd: number;
  /** float multiplications and divisions */
  floatMul: number;
  /** exp, sqrt, sin/cos: counted, not priced */
  floatSpecial: number;
  /** byte-table lookups of the LUT kernel (a shuffle lane each): counted, not priced */
  lookups: number;
}

export interface ComponentCount extends OpCounts {
  name: string;
}

/** Picojoules per operation: the 7 nm figures the BitNet b1.58 reports use. */
export interface EnergyConstants {
  int8Add: number;
  int8Mul: number;
  fp16Add: number;
  fp16Mul: number;
}

export const ENERGY_7NM: EnergyConstants = { int8Add: 0.007, int8Mul: 0.07, fp16Add: 0.16, fp16Mul: 0.34 };

export const ENERGY_FORMULA = 'E = intAdd x 0.007 pJ + intMul x 0.07 pJ + floatAdd x 0.16 pJ + floatMul x 0.34 pJ';

export const ENERGY_ASSUMPTIONS = [
  'arithmetic only: no memory-access energy (the bytes are counted beside it, not priced)',
  'every integer op is priced as INT8, though the accumulations run in i16/i32 lanes (an underestimate)',
  'every float op is priced as FP16, though norms, RoPE, softmax and epilogues run in f32 (an underestimate)',
  'divisions count as multiplications; exp/sqrt/sin/cos, table lookups, shifts, masks, conversions and f16 rounding are not priced',
];

/** The architecture facts the count needs. */
export type EfficiencyShape = Pick<HParams, 'nEmbd' | 'nLayer' | 'nFf' | 'nHead' | 'nHeadKv' | 'headDim' | 'nRot' | 'nVocab' | 'act' | 'subNorms' | 'qkNorm' | 'inputNorms' | 'projScales'>;

/** Ternary matmul kernels: the WASM backend's table lookups or multiply-adds, or the reference loop. */
export type CountedKernel = 'lut' | 'mad' | 'ref';

export interface CountOptions {
  /** keys each query attends (positions in the cache including its own) */
  keys: number;
  kernel: CountedKernel;
  lmHead: 'int8' | 'exact';
  /** bytes per lm_head weight in exact mode (its stored type; 2 for F16) */
  lmHeadBytesPerWeight?: number;
  /** bytes per cached K/V value, the mean of K's and V's (2: f16, 4: f32, 34/32: q8_0, 18/32: q4_0) */
  kvBytesPerValue?: number;
  /** bytes of one embedding row as stored (default: nEmbd x 2, F16) */
  embdRowBytes?: number;
}

const zero = (): OpCounts => ({ weightBytes: 0, kvBytes: 0, intAdd: 0, intMul: 0, floatAdd: 0, floatMul: 0, floatSpecial: 0, lookups: 0 });

const KEYS = Object.keys(zero()) as Array<keyof OpCounts>;

function addInto(a: OpCounts, b: Partial<OpCounts>, times = 1): OpCounts {
  for (const k of KEYS) a[k] += (b[k] ?? 0) * times;
  return a;
}

export function sumCounts(parts: readonly OpCounts[]): OpCounts {
  const t = zero();
  for (const p of parts) addInto(t, p);
  return t;
}

/** Average keys per step of a tg test of n tokens after a context of `depth` (at least 1 token, as runBenchTest fills it). */
export function tgAverageKeys(n: number, depth = 0): number {
  return Math.max(1, depth) + (n + 1) / 2;
}

/**
 * One ternary matrix [rows, cols] times one token's int8 activations, as the kernel executes it:
 * - 'mad' (asm/dot-*.ts): sum(code x q) with codes in {0,1,2} (a multiply and an add per weight), minus the
 *   activation sum once per row;
 * - 'lut' (asm/lut.ts): per 16-row tile and 4 columns, four lookups of pair sums and four int8 adds per row; every
 *   3 weight vectors the int8 sums are combined into i16 (16h + l: one add, one add into the sum), every 63 into i32;
 * - 'ref' (kernels/ref): (code - 1) x q summed: a subtraction, a multiply and an add per weight.
 * Each then has the float epilogue (D / s) x alpha per row (and the 2024 arch's `.scale`).
 */
export function ternaryMatmulCount(rows: number, cols: number, kernel: CountedKernel, projScale = false): OpCounts {
  const n = rows * cols;
  const c = zero();
  c.floatMul = 2 * rows + (projScale ? rows : 0);
  if (kernel === 'lut') {
    c.weightBytes = (Math.ceil(rows / 16) * 16 * cols) / 4;
    const nv = cols / 4; // weight vectors (4 columns) per row
    let groups = 0;
    for (let v = 0; v < nv; v += 63) groups += Math.ceil(Math.min(63, nv - v) / 3);
    c.intAdd = n + rows * (2 * groups + Math.ceil(nv / 63));
    c.lookups = n;
  } else {
    c.weightBytes = n / 4;
    c.intMul = n;
    c.intAdd = kernel === 'ref' ? 2 * n : n + rows;
  }
  return c;
}

/** Per-token absmax int8 quantization of K floats: |x| max, 127 / max, x x s rounded, and the int sum of q. */
export function quantizeCount(K: number): OpCounts {
  return { ...zero(), floatAdd: K, floatMul: K + 1, intAdd: K };
}

/** The LUT kernel's tables of one quantized activation row: nibble split (2 ops) and pair sums (6 ops) per value. */
export function lutTablesCount(K: number): OpCounts {
  return { ...zero(), intAdd: 8 * K };
}

/** RMSNorm of `rows` rows of n: squares summed, mean + eps, 1 / sqrt, then x x scale x weight. */
export function rmsNormCount(n: number, rows = 1): OpCounts {
  return { ...zero(), weightBytes: 4 * n, floatMul: rows * (3 * n + 2), floatAdd: rows * n + rows, floatSpecial: rows };
}

/**
 * Counts for one decoded token (T = 1) of this model, by component, summed over the layers. Excluded: the
 * f16 conversions of K/V and Q, the KV store, the cos/sin table's trig (counted as specials), thread handoffs.
 */
export function countDecode(hp: EfficiencyShape, o: CountOptions): ComponentCount[] {
  const L = hp.nLayer;
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  const P = o.keys;
  const es = o.kvBytesPerValue ?? 2;
  const parts: ComponentCount[] = [];
  const part = (name: string, c: Partial<OpCounts>, times = 1): void => {
    parts.push({ name, ...addInto(zero(), c, times) });
  };
  const proj = (name: string, rows: number, cols: number): void => part(`${name} (x${L})`, ternaryMatmulCount(rows, cols, o.kernel, hp.projScales), L);
  proj('attn_q', qDim, hp.nEmbd);
  proj('attn_k', kvDim, hp.nEmbd);
  proj('attn_v', kvDim, hp.nEmbd);
  proj('attn_output', hp.nEmbd, qDim);
  proj('ffn_gate', hp.nFf, hp.nEmbd);
  proj('ffn_up', hp.nFf, hp.nEmbd);
  proj('ffn_down', hp.nEmbd, hp.nFf);

  // activations quantized per layer: q/k/v share one and gate/up one, unless each projection has its own input norm
  const widths = hp.inputNorms ? [hp.nEmbd, hp.nEmbd, hp.nEmbd, qDim, hp.nEmbd, hp.nEmbd, hp.nFf] : [hp.nEmbd, qDim, hp.nEmbd, hp.nFf];
  part('activation quantization', sumCounts(widths.map(quantizeCount)), L);
  if (o.kernel === 'lut') part('LUT tables', sumCounts(widths.map(lutTablesCount)), L);

  // attention per layer: scores (f32 dot, then x scale), softmax (max, subtract, exp, f64 sum, 1/sum, x inv), P·V
  part('attention QK', { kvBytes: kvDim * P * es, floatMul: hp.nHead * P * (hp.headDim + 1), floatAdd: hp.nHead * P * hp.headDim }, L);
  part('attention softmax', { floatAdd: hp.nHead * 3 * P, floatMul: hp.nHead * (P + 1), floatSpecial: hp.nHead * P }, L);
  part('attention PV', { kvBytes: kvDim * P * es, floatMul: hp.nHead * P * hp.headDim, floatAdd: hp.nHead * P * hp.headDim }, L);

  const norms = [rmsNormCount(hp.nEmbd), rmsNormCount(hp.nEmbd)];
  if (hp.subNorms) norms.push(rmsNormCount(qDim), rmsNormCount(hp.nFf));
  if (hp.qkNorm) norms.push(rmsNormCount(hp.headDim, hp.nHead), rmsNormCount(hp.headDim, hp.nHeadKv));
  if (hp.inputNorms) for (let i = 0; i < 5; i++) norms.push(rmsNormCount(hp.nEmbd));
  part(`norms (x${L}, + output)`, addInto(addInto(zero(), sumCounts(norms), L), rmsNormCount(hp.nEmbd)));
  // RoPE: 4 multiplies and 2 adds per rotated pair of q and k heads; the cos/sin table per token
  part('rope', { floatMul: (hp.nHead + hp.nHeadKv) * (hp.nRot / 2) * 4, floatAdd: (hp.nHead + hp.nHeadKv) * (hp.nRot / 2) * 2 }, L);
  parts[parts.length - 1]!.floatSpecial += hp.nRot;
  // relu(g)^2 x u: a compare and two multiplies; silu(g) x u: exp, 1 + e, a division, a multiply
  part(`ffn activation (${hp.act})`, hp.act === 'relu2' ? { floatAdd: hp.nFf, floatMul: 2 * hp.nFf } : { floatAdd: hp.nFf, floatMul: 2 * hp.nFf, floatSpecial: hp.nFf }, L);
  part('residual adds', { floatAdd: 2 * hp.nEmbd }, L);

  const head = hp.nVocab * hp.nEmbd;
  if (o.lmHead === 'int8') {
    // int8 rows x int8 activations: a multiply and an add per weight, the sum correction and (D / s) x rowScale per row
    part('lm_head (int8)', addInto({ ...zero(), weightBytes: head + 4 * hp.nVocab, intMul: head, intAdd: head + hp.nVocab, floatMul: 2 * hp.nVocab }, quantizeCount(hp.nEmbd)));
  } else {
    part('lm_head (exact)', { weightBytes: head * (o.lmHeadBytesPerWeight ?? 2), floatMul: head, floatAdd: head });
  }
  part('token embedding row', { weightBytes: o.embdRowBytes ?? 2 * hp.nEmbd });
  return parts;
}

/**
 * The same token for an FP16 model of identical shape (the reports' baseline): every matrix weight, the lm_head
 * included, costs one FP16 multiply and one FP16 add and 2 bytes; attention, norms, RoPE, activation and
 * residuals as above; no activation quantization and no per-row epilogue.
 */
export function countDecodeFp16(hp: EfficiencyShape, keys: number): ComponentCount[] {
  const q = countDecode(hp, { keys, kernel: 'mad', lmHead: 'exact', lmHeadBytesPerWeight: 2 });
  const L = hp.nLayer;
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  const shapes: Record<string, number> = {
    attn_q: qDim * hp.nEmbd, attn_k: kvDim * hp.nEmbd, attn_v: kvDim * hp.nEmbd, attn_output: hp.nEmbd * qDim,
    ffn_gate: hp.nFf * hp.nEmbd, ffn_up: hp.nFf * hp.nEmbd, ffn_down: hp.nEmbd * hp.nFf,
  };
  return q
    .filter((c) => c.name !== 'activation quantization')
    .map((c) => {
      const key = c.name.split(' ')[0]!;
      const n = shapes[key];
      if (n === undefined) return c;
      return { ...zero(), name: c.name, weightBytes: 2 * n * L, floatMul: n * L, floatAdd: n * L };
    });
}

/** The non-embedding matrix weights (the seven projections of every layer): the reports' accounting unit. */
export function nonEmbeddingWeights(hp: EfficiencyShape): number {
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  return hp.nLayer * (2 * qDim * hp.nEmbd + 2 * kvDim * hp.nEmbd + 3 * hp.nFf * hp.nEmbd);
}

/** Picojoules: ops x per-op cost (integers as INT8, floats as FP16). */
export function energyPj(c: OpCounts, k: EnergyConstants = ENERGY_7NM): number {
  return c.intAdd * k.int8Add + c.intMul * k.int8Mul + c.floatAdd * k.fp16Add + c.floatMul * k.fp16Mul;
}

/** The reports' convention: ternary weights as one INT8 add each; FP16 weights as one FP16 multiply and one add. */
export function paperEnergyPj(hp: EfficiencyShape, k: EnergyConstants = ENERGY_7NM): { ternary: number; fp16: number; weights: number } {
  const weights = nonEmbeddingWeights(hp);
  return { weights, ternary: weights * k.int8Add, fp16: weights * (k.fp16Add + k.fp16Mul) };
}

export interface EfficiencyRun {
  model: string;
  backend: string;
  threads: number;
  kernel: CountedKernel;
  lmHead: 'int8' | 'exact';
  /** the cache's types: 'f16', or 'K/V' when they differ */
  kvType: string;
  tg: BenchResult;
  /** decode latency: 1000 / mean tg tokens/s, and of the fastest run */
  msPerToken: number;
  bestMsPerToken: number;
  /** the bench sequence's KV cache: positions it holds and bytes */
  kvPositions: number;
  kvCacheBytes: number;
  /** the ternary matrices' weights (the reports' non-embedding parameters) */
  ternaryWeights: number;
  /** keys attended per step, averaged over the tg test */
  keys: number;
  /** bytes of the file's tensors other than token_embd */
  nonEmbeddingFileBytes: number;
  /** as loaded: the layers' ternary matrices and norm vectors, and the output norm */
  nonEmbeddingLoadedBytes: number;
  /** the lm_head as loaded (an int8 copy, or the packed exact matrix), and whether it is the tied embedding */
  lmHeadLoadedBytes: number;
  tiedLmHead: boolean;
  /** model.memoryUsage() after the run */
  memory: { weights: number; kvCache: number; device: number | undefined; lmHead: number };
  rssBytes: number;
  peakRssBytes: number;
  /** joules per decoded token over the timed runs, or why not */
  measuredJoulesPerToken: number | undefined;
  energyNote: string;
  hparams: EfficiencyShape;
  counts: ComponentCount[];
  fp16Counts: ComponentCount[];
}

/** An energy meter read around the timed runs (RAPL in the CLI): joules between start and stop, or why not. */
export interface EnergyMeter {
  start(): void;
  /** joules since start, or a reason it has none */
  stop(): number | string;
}

/** Loads the model, runs tg `n` `reps` times (timed runs metered), and counts a token at the test's average depth. */
export async function benchEfficiency(path: string, opts: LoadOptions & { n: number; depth?: number; reps: number; meter?: EnergyMeter }): Promise<EfficiencyRun> {
  if (opts.n < 1) throw new BitnetError('INVALID_ARGUMENT', '--efficiency needs a tg test (-n of at least 1)', { name: 'n-gen' });
  const depth = opts.depth ?? 0;
  const model = await loadModel(path, { ...opts, contextSize: Math.max(1, depth) + opts.n + 8 });
  try {
    let joules: number | string = 'not measured';
    const tg = await runBenchTest(model, { kind: 'tg', n: opts.n, depth }, opts.reps, false, opts.meter ? { start: () => opts.meter!.start(), stop: () => void (joules = opts.meter!.stop()) } : undefined);
    const hp = model.hparams;
    const wasmKernel = (model.backend as { ternaryKernel?: string }).ternaryKernel;
    const kernel: CountedKernel = wasmKernel === 'lut' || wasmKernel === 'mad' ? wasmKernel : model.backend.name === 'ref' ? 'ref' : 'mad';
    const lmHead = opts.lmHead === 'exact' || opts.lmHead === 'f16' ? 'exact' : 'int8';
    const embd = model.tensors.find((t) => t.name === TENSOR.tokEmbd);
    const out = model.tensors.find((t) => t.name === TENSOR.output) ?? embd;
    const headElems = out ? out.shape.reduce((a, b) => a * b, 1) : hp.nVocab * hp.nEmbd;
    const keys = tgAverageKeys(opts.n, depth);
    const kvPositions = depth + opts.n + 8; // runBenchTest's sequence
    const counts = countDecode(hp, {
      keys, kernel, lmHead, lmHeadBytesPerWeight: out ? out.bytes / headElems : 2, kvBytesPerValue: (kvBytesPerValue(model.kvTypes.k) + kvBytesPerValue(model.kvTypes.v)) / 2,
      embdRowBytes: embd ? embd.bytes / embd.shape[1]! : 2 * hp.nEmbd,
    });
    const memory = model.memoryUsage();
    const lmHeadLoadedBytes = memory.lmHead;
    const tiedLmHead = !model.tensors.some((t) => t.name === TENSOR.output);
    const perToken = (reps: number): number | undefined => (typeof joules === 'number' ? joules / (reps * opts.n) : undefined);
    return {
      model: path, backend: model.backend.name, threads: model.backend.threads, kernel, lmHead, kvType: kvTypesName(model.kvTypes), tg,
      msPerToken: 1000 / tg.mean, bestMsPerToken: 1000 / Math.max(...tg.samples), keys,
      kvPositions, kvCacheBytes: kvPositions * kvBytesPerPosition(model.kvTypes, hp.nLayer, hp.nHeadKv, hp.headDim),
      ternaryWeights: nonEmbeddingWeights(hp),
      nonEmbeddingFileBytes: model.tensors.filter((t) => t.name !== TENSOR.tokEmbd).reduce((a, t) => a + t.bytes, 0),
      nonEmbeddingLoadedBytes: memory.weights - lmHeadLoadedBytes,
      lmHeadLoadedBytes, tiedLmHead, memory,
      rssBytes: process.memoryUsage().rss,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      measuredJoulesPerToken: perToken(opts.reps),
      energyNote: typeof joules === 'number' ? 'RAPL package energy over the timed runs (whole package: other processes included)' : joules,
      hparams: hp, counts, fp16Counts: countDecodeFp16(hp, keys),
    };
  } finally {
    await model.dispose();
  }
}
