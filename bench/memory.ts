// Where a long context's memory goes: loads a model (default the 2B4T shape) with a context of -c tokens,
// fills it in prompt batches, decodes -n tokens, and prints the process RSS (now and peak), the WASM heap's
// size and live bytes, and the KV cache's bytes at each phase. Takes the CLI's model and context flags
// (-c, -b, -t, --cache-type, --backend, --lm-head; the KV type flags as the CLI has them).
// Run: `npm run bench:memory [-- -m synthetic:2b4t -c 4096 -n 8 -t 2 --cache-type f16 --fill 4088]`
import { CONTEXT_OPTIONS, helpText, loadOptions, MODEL_OPTIONS, num, parseCommand, str, type OptionSpec } from '../src/cli/args.js';
import { mb } from '../src/cli/progress.js';
import { resolveSyntheticModel } from '../src/engine/bench.js';
import { loadModel } from '../src/index.js';
import { kvTypesName } from '../src/model/kv-cache.js';

const options: OptionSpec[] = [
  ...MODEL_OPTIONS,
  ...CONTEXT_OPTIONS,
  { name: 'n-gen', short: 'n', type: 'string', arg: 'N', help: 'decode steps after the fill', default: '8' },
  { name: 'fill', type: 'string', arg: 'N', help: 'prompt tokens evaluated first', default: 'the context size minus -n' },
  { name: 'output', short: 'o', type: 'string', arg: 'md|json', help: 'output format', default: 'md' },
];
const { values: v } = parseCommand(process.argv.slice(2), options, 0);
if (v.help === true) {
  process.stdout.write(helpText('npm run bench:memory -- [-m synthetic:2b4t] [-c 4096] [-n 8] [--cache-type f16]', 'Process RSS, WASM heap and KV cache bytes through a long context fill (-m defaults to synthetic:2b4t, -c to 4096).', [['options', options]]));
  process.exit(0);
}
const ref = str(v, 'model') ?? 'synthetic:2b4t';
const file = ref.startsWith('synthetic:') ? await resolveSyntheticModel(ref) : ref;
const opts = loadOptions(v);
const contextSize = opts.contextSize ?? 4096;
const nGen = num(v, 'n-gen', { int: true, min: 0 }) ?? 8;
const fill = num(v, 'fill', { int: true, min: 1, max: contextSize }) ?? Math.max(1, contextSize - nGen);
if (fill + nGen > contextSize) throw new Error(`--fill ${fill} + -n ${nGen} is more than the context size ${contextSize}`);

interface Phase {
  phase: string;
  rss: number;
  peakRss: number;
  heapBytes: number | undefined;
  heapLive: number | undefined;
  kvBytes: number;
}
const phases: Phase[] = [];
const peak = (): number => process.resourceUsage().maxRSS * 1024;

const model = await loadModel(file, { ...opts, contextSize });
// the WASM backend's heap (a private field, read here for the live-bytes column only)
const be = model.backend as { memoryBytes?: () => number; heap?: { usedBytes: number } };
const seq = model.createSequence({ contextSize });
const mark = (phase: string): void => {
  phases.push({ phase, rss: process.memoryUsage().rss, peakRss: peak(), heapBytes: be.memoryBytes?.(), heapLive: be.heap?.usedBytes, kvBytes: seq.kv.bytes() });
  process.stderr.write(`${phase}: RSS ${mb(process.memoryUsage().rss)}, peak ${mb(peak())}\n`);
};
mark('loaded');
// ordinary tokens (not the specials at the top of the vocabulary), as `bitnet bench` makes them
const span = Math.max(1, Math.min(model.tokenizer.vocabSize, 32000) - 20);
const tokens = Array.from({ length: fill }, (_, i) => 10 + ((i * 7919 + 1) % span));
let marked = 0;
const t0 = performance.now();
await seq.prefill(tokens, {
  onProgress: (p) => {
    // a row at each quarter of the fill
    if (p.done >= ((marked + 1) * p.total) / 4) mark(`filled ${p.done}`), marked++;
  },
});
const fillMs = performance.now() - t0;
const t1 = performance.now();
for (let i = 0; i < nGen; i++) await seq.step(10 + ((i * 104729) % span));
const genMs = performance.now() - t1;
if (nGen > 0) mark(`decoded ${nGen} (at ${fill + nGen})`);
const usage = model.memoryUsage();
const kvType = kvTypesName(seq.kv.types);
const kvBytesPerPosition = seq.kv.bytesPerPosition;
await model.dispose();

const row = {
  model: ref,
  backend: model.backend.name,
  threads: model.backend.threads,
  kvType,
  contextSize,
  fill,
  nGen,
  weightsBytes: usage.weights,
  lmHeadBytes: usage.lmHead,
  kvBytesPerPosition,
  fillTokensPerSecond: (fill * 1000) / fillMs,
  genTokensPerSecond: nGen ? (nGen * 1000) / genMs : undefined,
  peakRssBytes: peak(),
  phases,
  node: process.version,
};
if (str(v, 'output') === 'json') {
  process.stdout.write(`${JSON.stringify(row, null, 2)}\n`);
} else {
  const lines = ['| phase | RSS | peak RSS | WASM heap (size / live) | KV cache |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const p of phases) lines.push(`| ${p.phase} | ${mb(p.rss)} | ${mb(p.peakRss)} | ${p.heapBytes !== undefined ? `${mb(p.heapBytes)} / ${mb(p.heapLive ?? 0)}` : '-'} | ${mb(p.kvBytes)} |`);
  process.stdout.write(
    `${lines.join('\n')}\n\n${ref} (${model.backend.name} x${row.threads}), context ${contextSize}, ${kvType} KV cache (${(row.kvBytesPerPosition / 1024).toFixed(1)} KB per position), ` +
      `weights ${mb(row.weightsBytes)} (lm_head ${mb(row.lmHeadBytes)}); fill ${row.fillTokensPerSecond.toFixed(1)} t/s${row.genTokensPerSecond ? `, decode ${row.genTokensPerSecond.toFixed(2)} t/s` : ''}; ` +
      `peak RSS ${mb(row.peakRssBytes)}, node ${process.version}\n`,
  );
}
process.exit(0);
