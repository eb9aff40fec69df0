// `bitnet bench` in the style of llama-bench: pp/tg tests (and tg at a context depth) for each thread count
// and backend, mean ± sd over repetitions, as a markdown table with model size, parameters and peak RSS.
// `-m synthetic:2b4t[:i2_s|tq2_0|tq1_0[:f16|q8_0|q6_k]]` benchmarks 2B4T's exact shapes with random weights;
// `-ctk f16,q8_0 -ctv f16,q8_0` runs every combination of KV cache types (one row each, types shown).
import type { KvType, KvTypes } from '../../kernels/index.js';
import { bench, resolveSyntheticModel, type BenchRun, type BenchTest } from '../../engine/bench.js';
import { kvTypesName } from '../../model/kv-cache.js';
import { BACKEND_KINDS, KV_TYPES, TERNARY_KERNELS, type BackendKind, type TernaryKernelChoice } from '../../kernels/index.js';
import { helpText, parseCommand, requireModel, ROPE_OPTIONS, ropeOptions, str, UsageError, type OptionSpec } from '../args.js';
import { resolveRef } from '../common.js';
import { runEfficiency } from '../efficiency.js';
import { mb, warn } from '../progress.js';

const OPTIONS: OptionSpec[] = [
  { name: 'model', short: 'm', type: 'string', env: 'BITNET_MODEL', arg: 'REF', help: 'model (path, hub repo or URL), or synthetic:2b4t[:i2_s|tq2_0|tq1_0[:f16|q8_0|q6_k]]', default: 'the bundled TinyStories model' },
  { name: 'n-prompt', short: 'p', type: 'string', arg: 'N,..', help: 'prompt lengths (pp tests; 0 for none)', default: '512' },
  { name: 'n-gen', short: 'n', type: 'string', arg: 'N,..', help: 'generation lengths (tg tests; 0 for none)', default: '128' },
  { name: 'n-depth', short: 'd', type: 'string', arg: 'N,..', help: 'context already filled before each test', default: '0' },
  { name: 'repetitions', short: 'r', type: 'string', arg: 'N', help: 'repetitions of each test (after one warm-up)', default: '5' },
  { name: 'threads', short: 't', type: 'string', arg: 'N,..', help: 'thread counts', default: 'physical cores' },
  { name: 'backend', type: 'string', arg: 'KIND,..', help: 'backends (auto, wasm-simd, wasm-relaxed, ref)', default: 'auto' },
  { name: 'lm-head', type: 'string', arg: 'int8|exact', help: 'lm_head mode', default: 'int8' },
  { name: 'cache-type-k', aliases: ['-ctk'], type: 'string', arg: 'TYPE,..', help: 'KV cache types of K (f32, f16, q8_0, q4_0)', default: 'f16' },
  { name: 'cache-type-v', aliases: ['-ctv'], type: 'string', arg: 'TYPE,..', help: 'KV cache types of V', default: 'f16' },
  { name: 'cache-type', type: 'string', arg: 'TYPE,..', help: 'KV cache types of K and V together (each listed type for both)' },
  { name: 'ternary-kernel', type: 'string', arg: 'auto|lut|mad', help: 'WASM ternary matmul kernel', default: 'auto' },
  { name: 'output', short: 'o', type: 'string', arg: 'md|json', help: 'output format', default: 'md' },
  { name: 'profile', type: 'boolean', help: 'time every backend op and print ms per token by op (adds a little overhead)' },
  { name: 'efficiency', type: 'boolean', help: 'the efficiency row of the first tg test: weight bytes, memory, ms/token, ops and bytes per token, 7 nm energy estimate beside FP16, RAPL joules where readable' },
  ...ROPE_OPTIONS,
];

function list(v: string | undefined, fallback: string, name: string): number[] {
  return (v ?? fallback).split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name}: "${s}" is not a non-negative integer`);
    return n;
  });
}

function typeList(v: string | undefined, name: string): KvType[] {
  return (v ?? 'f16').split(',').map((s) => {
    const t = s.trim();
    if (!(KV_TYPES as readonly string[]).includes(t)) throw new UsageError(`--${name}: "${t}" is not one of ${KV_TYPES.join(', ')}`);
    return t as KvType;
  });
}

/** Parameter count as llama-bench writes it: billions, or millions for a model under 0.1 B. */
export function params(n: number): string {
  return n >= 1e8 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(2)} M`;
}

function table(runs: BenchRun[]): string {
  // type_k / type_v columns as llama-bench shows them: when a run's cache is not the default f16
  const kv = runs.some((r) => r.kvTypes.k !== 'f16' || r.kvTypes.v !== 'f16');
  const rows = [
    `| model | size | params | backend | threads |${kv ? ' type_k | type_v |' : ''} test | t/s | KV cache |`,
    `| --- | ---: | ---: | --- | ---: |${kv ? ' --- | --- |' : ''} --- | ---: | ---: |`,
  ];
  for (const r of runs) {
    for (const res of r.results) {
      rows.push(`| ${r.model} ${r.types} | ${mb(r.sizeBytes)} | ${params(r.params)} | ${r.backend}${r.ternaryKernel ? ` ${r.ternaryKernel}` : ''} | ${r.threads} |${kv ? ` ${r.kvTypes.k} | ${r.kvTypes.v} |` : ''} ${res.test} | ${res.mean.toFixed(2)} ± ${res.sd.toFixed(2)} | ${kb(res.kvBytes)} ${kvTypesName(r.kvTypes)} |`);
    }
  }
  return rows.join('\n');
}

/** Bytes as MB/GB, or KB under a megabyte (a small model's cache). */
const kb = (bytes: number): string => (bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} KB` : mb(bytes));

/** The KV cache's bytes per position, and what each test's cache held at its end (depth + n positions). */
function kvLine(r: BenchRun): string {
  const held = r.results.map((res) => `${res.test} ${kb(res.kvBytes)} for ${res.kvPositions}`).join(', ');
  return `${r.backend} x${r.threads}: ${kvTypesName(r.kvTypes)} KV cache ${(r.kvBytesPerPosition / 1024).toFixed(1)} KB per position; held at the end of each test: ${held}`;
}

/** Per test, the ops that took time, in ms per token. */
function profileLines(r: BenchRun): string[] {
  return r.results
    .filter((res) => res.profile)
    .map((res) => `${r.backend} x${r.threads} ${res.test}, ms/token: ${res.profile!.filter(([, ms]) => ms >= 0.005).map(([op, ms]) => `${op} ${ms.toFixed(2)}`).join(', ')}`);
}

/** How close each tg row comes to memory bandwidth: bytes a decode step streams x tokens/s, against a plain read. */
function bandwidthLine(r: BenchRun): string {
  const tg = r.results.map((res, i) => ({ res, test: r.tests[i]! })).filter((x) => x.test.kind === 'tg');
  if (!tg.length) return '';
  const rows = tg.map(({ res, test }) => {
    const gbs = ((r.weightBytesPerToken + r.kvBytesPerPosition * (test.depth + test.n / 2)) * res.mean) / 1e9;
    return `${res.test} ${gbs.toFixed(1)} GB/s${r.readGBs ? ` (${((100 * gbs) / r.readGBs).toFixed(0)}%)` : ''}`;
  });
  const read = r.readGBs ? `; plain streaming read ${r.readGBs.toFixed(1)} GB/s with ${r.threads} thread(s)` : '';
  return `${r.backend} x${r.threads}: decode streams ${mb(r.weightBytesPerToken)} of weights per token + ${(r.kvBytesPerPosition / 1024).toFixed(0)} KB per context position: ${rows.join(', ')}${read}`;
}

export const benchCommand = {
  name: 'bench',
  summary: 'benchmark prompt (pp) and generation (tg) speed, llama-bench style',
  help: () => helpText('bitnet bench -m MODEL [-p 512] [-n 128] [-d 0,1024] [-t 1,2] [-ctk f16,q8_0] [-ctv f16,q8_0] [-r 5] [--efficiency]', 'Measures tokens/s; results to stdout, progress to stderr.', [['options', OPTIONS]]),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, OPTIONS, 0);
    let model = requireModel(v);
    const tests: BenchTest[] = [];
    for (const depth of list(str(v, 'n-depth'), '0', 'n-depth')) {
      for (const n of list(str(v, 'n-prompt'), '512', 'n-prompt')) if (n > 0) tests.push({ kind: 'pp', n, depth });
      for (const n of list(str(v, 'n-gen'), '128', 'n-gen')) if (n > 0) tests.push({ kind: 'tg', n, depth });
    }
    if (tests.length === 0) throw new UsageError('no tests: give a positive -p or -n');
    const reps = list(str(v, 'repetitions'), '5', 'repetitions')[0]!;
    if (reps < 1) throw new UsageError('--repetitions must be at least 1');
    const threadList = str(v, 'threads') ? list(str(v, 'threads'), '', 'threads') : [undefined];
    const backends = (str(v, 'backend') ?? 'auto').split(',') as BackendKind[];
    for (const b of backends) if (!BACKEND_KINDS.includes(b)) throw new UsageError(`--backend: unknown "${b}"`);
    const lmHead = str(v, 'lm-head') ?? 'int8';
    if (!['int8', 'exact', 'f16'].includes(lmHead)) throw new UsageError('--lm-head must be int8 or exact');
    const ternaryKernel = str(v, 'ternary-kernel') ?? 'auto';
    if (!(TERNARY_KERNELS as readonly string[]).includes(ternaryKernel)) throw new UsageError(`--ternary-kernel must be one of ${TERNARY_KERNELS.join(', ')}`);
    const kvList: KvTypes[] = [];
    const both = str(v, 'cache-type');
    if (both !== undefined) for (const t of typeList(both, 'cache-type')) kvList.push({ k: t, v: t });
    else for (const k of typeList(str(v, 'cache-type-k'), 'cache-type-k')) for (const t of typeList(str(v, 'cache-type-v'), 'cache-type-v')) kvList.push({ k, v: t });
    const rope = ropeOptions(v);
    const format = str(v, 'output') ?? 'md';
    if (format !== 'md' && format !== 'json') throw new UsageError('--output must be md or json');
    if (model.startsWith('synthetic:')) {
      process.stderr.write(`preparing ${model} ...\n`);
      model = await resolveSyntheticModel(model);
    } else {
      model = await resolveRef(model, v);
    }
    if (v.efficiency === true) {
      // one backend and thread count, the first tg test (tg128 by default); -p is not used
      const tg = tests.find((t) => t.kind === 'tg');
      if (!tg) throw new UsageError('--efficiency needs a tg test: give a positive -n');
      const threads = threadList[0];
      if (threadList.length > 1 || backends.length > 1) warn('--efficiency runs the first backend and thread count only');
      process.stderr.write(`running ${backends[0]}${threads ? ` x${threads}` : ''}: tg${tg.n} x ${reps} for --efficiency ...\n`);
      if (kvList.length > 1) warn('--efficiency runs the first KV cache types only');
      await runEfficiency(model, { n: tg.n, depth: tg.depth, reps, format, backend: backends[0]!, lmHead: lmHead as 'int8' | 'exact', ternaryKernel: ternaryKernel as TernaryKernelChoice, kvType: kvList[0]!, ...(threads ? { threads } : {}) });
      return;
    }
    const runs: BenchRun[] = [];
    for (const backend of backends) {
      for (const threads of threadList) {
        if (backend === 'ref' && threads !== undefined && threads > 1) warn('the ref backend runs on one thread');
        for (const kvType of kvList) {
          const kvName = kvList.length > 1 || kvType.k !== 'f16' || kvType.v !== 'f16' ? `, KV ${kvType.k}/${kvType.v}` : '';
          process.stderr.write(`running ${backend}${threads ? ` x${threads}` : ''}${kvName}: ${tests.length} test(s) x ${reps} ...\n`);
          runs.push(await bench(model, tests, { reps, backend, lmHead: lmHead as 'int8' | 'exact', kvType, bandwidth: tests.some((t) => t.kind === 'tg'), profile: v.profile === true, ternaryKernel: ternaryKernel as TernaryKernelChoice, ...(threads ? { threads } : {}), ...(rope ? { rope } : {}) }));
        }
      }
    }
    const rss = Math.max(...runs.map((r) => r.peakRssBytes));
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify({ model, runs, peakRssBytes: rss, node: process.version }, null, 2)}\n`);
      return;
    }
    const notes = [...runs.flatMap(profileLines), ...runs.map(bandwidthLine).filter(Boolean), ...runs.map(kvLine)];
    process.stdout.write(`${table(runs)}\n\n${notes.map((l) => `${l}\n`).join('')}peak RSS ${mb(rss)}, load ${runs.map((r) => `${(r.loadMs / 1000).toFixed(2)} s`).join(' / ')}, node ${process.version}\n`);
  },
};
