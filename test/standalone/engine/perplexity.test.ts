// bitnet perplexity's windows and sums on a tiny fixture model: llama.cpp-style chunks (BOS first, second
// half scored) equal a direct computation from model.evaluate logits; sliding windows score every token
// exactly once; the KL comparison of a model with itself is zero; the CLI prints the final estimate.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { perplexity, perplexityWindows } from '../../../src/engine/perplexity.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, VOCAB_TEXT, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('ppl');
const path = join(dir, 'tiny.gguf');
let model: BitnetModel;
const TEXT = `${VOCAB_TEXT}\n`.repeat(4);

before(async () => {
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  model = await loadModel(path);
});
after(() => model.dispose());

const lse = (row: Float32Array) => {
  const m = Math.max(...row);
  return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
};

test('llama.cpp-style chunks equal a direct computation from evaluate()', async () => {
  const tokens = model.tokenize(TEXT, { addBos: false });
  const ctx = 32;
  const bos = model.tokenizer.bos!;
  const r = await perplexity(model, perplexityWindows(tokens, ctx, bos));
  let sum = 0;
  let n = 0;
  for (let c = 0; (c + 1) * ctx <= tokens.length; c++) {
    const chunk = tokens.slice(c * ctx, (c + 1) * ctx);
    chunk[0] = bos;
    const rows = await model.evaluate(chunk);
    for (let i = ctx / 2; i < ctx - 1; i++) {
      sum += lse(rows[i]!) - rows[i]![chunk[i + 1]!]!;
      n++;
    }
  }
  assert.equal(r.count, n);
  assert.ok(Math.abs(r.ppl - Math.exp(sum / n)) < 1e-9 * r.ppl, `${r.ppl} vs ${Math.exp(sum / n)}`);
  assert.ok(r.pplStderr > 0);
});

test('sliding windows score every token exactly once', () => {
  const tokens = Array.from({ length: 103 }, (_, i) => i + 10);
  for (const [bos, stride] of [[1, 7], [null, 7], [1, 31], [null, 1]] as const) {
    const seen = new Map<number, number>();
    for (const w of perplexityWindows(tokens, 32, bos, stride)) {
      const start = w.tokens[bos === null ? 0 : 1]!; // text tokens are their index + 10
      for (let j = w.first; j < w.tokens.length - 1; j++) {
        const target = w.tokens[j + 1]! - 10;
        seen.set(target, (seen.get(target) ?? 0) + 1);
      }
      assert.ok(start >= 10);
    }
    const first = bos === null ? 1 : 0; // without BOS the first token has no prediction
    for (let i = first; i < tokens.length; i++) assert.equal(seen.get(i), 1, `bos ${bos}, stride ${stride}: token ${i} scored ${seen.get(i) ?? 0} times`);
    assert.equal(seen.size, tokens.length - first);
  }
});

test('KL divergence from the same model is zero with full top-1 agreement; too-short texts are refused', async () => {
  const tokens = model.tokenize(TEXT, { addBos: false });
  const r = await perplexity(model, perplexityWindows(tokens, 32, model.tokenizer.bos, 16).slice(0, 3), { base: model });
  assert.equal(r.base!.klMean, 0);
  assert.equal(r.base!.top1Agreement, 1);
  assert.equal(r.base!.ppl, r.ppl);
  assert.throws(() => perplexityWindows([1, 2, 3], 32, 0), /fewer than one chunk/);
});

test('bitnet perplexity prints the final estimate', () => {
  const text = join(dir, 'text.txt');
  writeFileSync(text, TEXT);
  const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, 'perplexity', '-m', path, '-f', text, '-c', '32', '--no-progress'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Final estimate: PPL = \d+\.\d{4} \+\/- \d+\.\d{5}\n$/);
  assert.match(r.stderr, /\[1\]\d/);
});
