// One measurement for bench/peer.ts, in its own process so its peak RSS is its own: loads a GGUF with
// llama.cpp (node-llama-cpp, from .peer/) or with bitnet.ts and prints {tps, rss, loadMs, ...} as JSON.
// tg at a depth d (llama-bench's -d): d prompt tokens are evaluated first; then n tokens are generated once
// as a warm-up, taken back, and generated again, timed (bitnet.ts: `bitnet bench`'s own runBenchTest).
// Usage: tsx bench/peer-run.ts <llama|bitnet> <file> <pp|tg> <n> <threads> [int8|exact (bitnet.ts's lm_head)] [depth]
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runBenchTest } from '../src/engine/bench.js';
import { loadModel } from '../src/index.js';
import { kvTypesName } from '../src/model/kv-cache.js';

const [engine, file, kind, nStr, threadsStr, lmHead = 'int8', depthStr = '0'] = process.argv.slice(2) as [string, string, 'pp' | 'tg', string, string, 'int8' | 'exact', string?];
const n = Number(nStr);
const threads = Number(threadsStr);
const depth = Number(depthStr);
const tokens = (count: number, offset: number): number[] => Array.from({ length: count }, (_, i) => 10 + ((i * 7919 + offset) % 31980));

/** The slice of node-llama-cpp's API used here. */
interface PeerApi {
  LlamaLogLevel: { error: unknown; info: unknown };
  GgmlType: Record<number, string>;
  getLlama(o: object): Promise<{
    loadModel(o: object): Promise<{
      tokens: { bos: number | null };
      defaultContextKvCacheKeyType: number;
      defaultContextKvCacheValueType: number;
      createContext(o: object): Promise<{
        flashAttention: boolean | 'auto';
        getSequence(): {
          evaluateWithoutGeneratingNewTokens(t: number[]): Promise<void>;
          clearHistory(): Promise<void>;
          eraseContextTokenRanges(r: Array<{ start: number; end: number }>): Promise<void>;
          readonly nextTokenIndex: number;
          evaluate(t: number[], o: object): AsyncIterable<number>;
        };
      }>;
    }>;
  }>;
}

/** What a run measured, and (llama.cpp) the context's settings as node-llama-cpp and llama.cpp's log report them. */
interface RunResult {
  tps: number;
  loadMs: number;
  kv?: string;
  flashAttention?: string;
  /** bitnet.ts: the KV cache's bytes at the end of a tg run */
  kvBytes?: number;
}

async function llamaCpp(): Promise<RunResult> {
  const require = createRequire(join(process.cwd(), '.peer', 'package.json'));
  // node-llama-cpp lives in .peer/ (not a dependency of the package): typed loosely here on purpose
  const nlc = (await import(pathToFileURL(require.resolve('node-llama-cpp')).href)) as PeerApi;
  const { getLlama, LlamaLogLevel, GgmlType } = nlc;
  const t0 = performance.now();
  // info-level lines are kept (not printed) for the flash attention llama.cpp resolved "auto" to
  const log: string[] = [];
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.info, logger: (level: unknown, message: string) => (level === LlamaLogLevel.error ? process.stderr.write(message) : log.push(message)) });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const ctx = await model.createContext({ contextSize: depth + n + 64, threads, batchSize: 512, sequences: 1 });
  const kv = `${GgmlType[model.defaultContextKvCacheKeyType]}/${GgmlType[model.defaultContextKvCacheValueType]}`.toLowerCase();
  const text = log.join('\n');
  const fa = /Flash Attention (enabled|disabled)/.exec(text)?.[1] ?? /flash_attn\s*=\s*(\S+)/.exec(text)?.[1];
  const settings = { kv, flashAttention: `${ctx.flashAttention}${fa ? ` (llama.cpp: ${fa})` : ''}` };
  const seq = ctx.getSequence();
  if (kind === 'pp') {
    await seq.evaluateWithoutGeneratingNewTokens(tokens(64, 1)); // warm-up
    await seq.clearHistory();
    const t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tokens(n, 2));
    return { tps: (n * 1000) / (performance.now() - t), loadMs, ...settings };
  }
  if (depth > 0) await seq.evaluateWithoutGeneratingNewTokens(tokens(depth, 1));
  // greedy generation after one more token; the clock starts at the first generated token (n forward steps)
  const generate = async (): Promise<number> => {
    let count = 0;
    let start = 0;
    for await (const _ of seq.evaluate([depth > 0 ? tokens(1, 3)[0]! : (model.tokens.bos ?? 10)], { temperature: 0 })) {
      if (count === 0) start = performance.now();
      if (++count > n) break;
    }
    return (n * 1000) / (performance.now() - start);
  };
  await generate(); // warm-up, then back to the depth
  await seq.eraseContextTokenRanges([{ start: depth, end: seq.nextTokenIndex }]);
  return { tps: await generate(), loadMs, ...settings };
}

async function bitnet(): Promise<RunResult> {
  const model = await loadModel(file, { threads, contextSize: depth + n + 64, lmHead });
  if (kind === 'tg') {
    // `bitnet bench -d`: the depth filled once, a warm-up run, then one timed run of n steps from there
    const r = await runBenchTest(model, { kind: 'tg', n, depth }, 1);
    return { tps: r.samples[0]!, loadMs: model.loadMs, kv: kvTypesName(model.kvTypes), kvBytes: r.kvBytes };
  }
  const seq = model.createSequence();
  await seq.prefill(tokens(64, 1)); // warm-up
  seq.truncate(0);
  const t = performance.now();
  await seq.prefill(tokens(n, 2));
  return { tps: (n * 1000) / (performance.now() - t), loadMs: model.loadMs, kv: kvTypesName(model.kvTypes) };
}

const r = engine === 'llama' ? await llamaCpp() : await bitnet();
process.stdout.write(`${JSON.stringify({ ...r, rss: process.resourceUsage().maxRSS * 1024 })}\n`);
process.exit(0);
