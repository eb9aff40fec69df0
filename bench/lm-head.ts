// The int8 lm_head against the exact (stored f16) one: perplexity of both on TinyStories text, KL
// divergence, top-1 agreement and the largest logit difference, on a 2B4T-shaped synthetic model (random
// weights: the numbers measure the requantization error, not language quality) or any model given.
// Run: `npm run bench:lm-head [-- --model PATH|synthetic:2b4t --tokens 128 --threads 2]`
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolveSyntheticModel } from '../src/engine/bench.js';
import { compareDistributions, perplexity } from '../src/engine/quality.js';
import { loadModel } from '../src/index.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'synthetic:2b4t' }, tokens: { type: 'string', default: '128' }, threads: { type: 'string' } } });
const file = values.model!.startsWith('synthetic:') ? await resolveSyntheticModel(values.model!) : values.model!;
const text = readFileSync(new URL('../../shared/data/tinystories/tinystories_sample_3000.txt', import.meta.url), 'utf8');
const n = Number(values.tokens);
const threads = values.threads ? { threads: Number(values.threads) } : {};

async function logits(lmHead: 'int8' | 'exact'): Promise<{ rows: Float32Array[]; tokens: number[]; ms: number }> {
  const model = await loadModel(file, { lmHead, contextSize: n, ...threads });
  const tokens = model.tokenize(text, { addBos: true }).slice(0, n);
  const t0 = performance.now();
  const rows = await model.evaluate(tokens);
  const ms = performance.now() - t0;
  await model.dispose();
  process.stderr.write(`${lmHead}: ${tokens.length} tokens evaluated in ${(ms / 1000).toFixed(1)} s\n`);
  return { rows: rows.slice(0, -1), tokens, ms };
}

const num = (x: number): string => (x < 1e6 ? x.toFixed(4) : x.toExponential(4));
const exact = await logits('exact');
const int8 = await logits('int8');
const targets = exact.tokens.slice(1);
const pe = perplexity(exact.rows, targets);
const pi = perplexity(int8.rows, targets);
const c = compareDistributions(exact.rows, int8.rows);
process.stdout.write(
  [
    `| lm_head | PPL | KL vs exact (mean / max) | top-1 agreement | logit diff (rms / max) |`,
    `| --- | ---: | ---: | ---: | ---: |`,
    `| exact (f16) | ${num(pe.ppl)} ± ${num(pe.pplStderr)} | 0 | 100% | 0 |`,
    `| int8 rows | ${num(pi.ppl)} ± ${num(pi.pplStderr)} | ${c.klMean.toExponential(2)} / ${c.klMax.toExponential(2)} | ${(100 * c.top1Agreement).toFixed(1)}% | ${c.rmsLogitDiff.toFixed(4)} / ${c.maxAbsLogitDiff.toFixed(4)} |`,
    '',
    `${values.model}, ${targets.length} scored tokens of TinyStories; logits' sd within a row ${c.baseLogitSd.toFixed(2)}; PPL ratio int8/exact ${(pi.ppl / pe.ppl).toFixed(5)}; node ${process.version}`,
    '',
  ].join('\n'),
);
