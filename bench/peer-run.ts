// One measurement for bench/peer.ts, in its own process so its peak RSS is its own: loads a GGUF with
// llama.cpp (node-llama-cpp, from .peer/) or with bitnet.ts and prints {tps, rss, loadMs} as JSON.
// Usage: tsx bench/peer-run.ts <llama|bitnet> <file> <pp|tg> <n> <threads> [int8|exact (bitnet.ts's lm_head)]
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadModel } from '../src/index.js';

const [engine, file, kind, nStr, threadsStr, lmHead = 'int8'] = process.argv.slice(2) as [string, string, 'pp' | 'tg', string, string, 'int8' | 'exact'];
const n = Number(nStr);
const threads = Number(threadsStr);
const tokens = (count: number, offset: number): number[] => Array.from({ length: count }, (_, i) => 10 + ((i * 7919 + offset) % 31980));

/** The slice of node-llama-cpp's API used here. */
interface PeerApi {
  LlamaLogLevel: { error: unknown };
  getLlama(o: object): Promise<{
    loadModel(o: object): Promise<{
      tokens: { bos: number | null };
      createContext(o: object): Promise<{
        getSequence(): {
          evaluateWithoutGeneratingNewTokens(t: number[]): Promise<void>;
          clearHistory(): Promise<void>;
          evaluate(t: number[], o: object): AsyncIterable<number>;
        };
      }>;
    }>;
  }>;
}

async function llamaCpp(): Promise<{ tps: number; loadMs: number }> {
  const require = createRequire(join(process.cwd(), '.peer', 'package.json'));
  // node-llama-cpp lives in .peer/ (not a dependency of the package): typed loosely here on purpose
  const nlc = (await import(pathToFileURL(require.resolve('node-llama-cpp')).href)) as PeerApi;
  const { getLlama, LlamaLogLevel } = nlc;
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const ctx = await model.createContext({ contextSize: n + 64, threads, batchSize: 512, sequences: 1 });
  const seq = ctx.getSequence();
  if (kind === 'pp') {
    await seq.evaluateWithoutGeneratingNewTokens(tokens(64, 1)); // warm-up
    await seq.clearHistory();
    const t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tokens(n, 2));
    return { tps: (n * 1000) / (performance.now() - t), loadMs };
  }
  let count = 0;
  let start = 0;
  // greedy generation after a one-token prompt; the clock starts at the first generated token
  for await (const _ of seq.evaluate([model.tokens.bos ?? 10], { temperature: 0 })) {
    if (count === 0) start = performance.now();
    if (++count > n) break;
  }
  return { tps: (n * 1000) / (performance.now() - start), loadMs };
}

async function bitnet(): Promise<{ tps: number; loadMs: number }> {
  const model = await loadModel(file, { threads, contextSize: n + 64, lmHead });
  if (kind === 'pp') {
    const seq = model.createSequence();
    await seq.prefill(tokens(64, 1)); // warm-up
    seq.truncate(0);
    const t = performance.now();
    await seq.prefill(tokens(n, 2));
    return { tps: (n * 1000) / (performance.now() - t), loadMs: model.loadMs };
  }
  const { stats } = await model.complete({ tokens: [model.tokenizer.bos ?? 10] }, { maxTokens: n + 1, temperature: 0, ignoreEos: true });
  // stats time generation from the first sampled token: n + 1 tokens, n forward steps
  return { tps: (n * 1000) / stats.generateMs, loadMs: model.loadMs };
}

const r = engine === 'llama' ? await llamaCpp() : await bitnet();
process.stdout.write(`${JSON.stringify({ ...r, rss: process.resourceUsage().maxRSS * 1024 })}\n`);
process.exit(0);
