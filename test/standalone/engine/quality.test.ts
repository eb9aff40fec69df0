// Perplexity, KL divergence and top-1 agreement against hand-computed values; and the int8 lm_head
// measured against the exact f16 one on a fixture model (close, but not identical).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareDistributions, perplexity } from '../../../src/engine/quality.js';
import { loadModel } from '../../../src/index.js';
import { makeFixture, TINY, writeAllFixtures } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} vs ${b}`);

test('perplexity: uniform logits give the vocabulary size; a 3:1 row gives ln(4/3)', () => {
  const uniform = Array.from({ length: 5 }, () => new Float32Array(37).fill(1.5));
  const u = perplexity(uniform, [0, 3, 36, 7, 9]);
  close(u.ppl, 37, 1e-9);
  close(u.pplStderr, 0);
  const r = perplexity([Float32Array.of(0, Math.log(3))], [1]);
  close(r.nll, Math.log(4 / 3), 1e-7);
  // two positions with nll a and b: stderr = ppl * sd / sqrt(n), sd with the n-1 denominator
  const two = perplexity([Float32Array.of(0, Math.log(3)), Float32Array.of(0, Math.log(3))], [1, 0]);
  const a = Math.log(4 / 3);
  const b = Math.log(4);
  const mean = (a + b) / 2;
  close(two.ppl, Math.exp(mean), 1e-6);
  close(two.pplStderr, Math.exp(mean) * Math.sqrt(((a - mean) ** 2 + (b - mean) ** 2) / 1 / 2), 1e-6);
  assert.equal(perplexity([], []).count, 0);
});

test('compareDistributions: zero for identical rows, the closed form for two-class rows', () => {
  const p = [Float32Array.of(0, Math.log(3)), Float32Array.of(2, 1)];
  const same = compareDistributions(p, p.map((r) => r.slice()));
  assert.equal(same.klMean, 0);
  assert.equal(same.top1Agreement, 1);
  // p = (1/4, 3/4), q = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2); argmax differs (tie picks 0)
  const c = compareDistributions([p[0]!], [Float32Array.of(5, 5)]);
  close(c.klMean, 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 1e-7);
  assert.equal(c.top1Agreement, 0);
  close(c.maxAbsLogitDiff, 5, 1e-6);
  assert.throws(() => compareDistributions([Float32Array.of(1, 2)], [Float32Array.of(1)]), /vocabularies differ/);
});

test('int8 lm_head vs exact f16 lm_head on a fixture: small KL, same argmax almost everywhere', async () => {
  const fx = makeFixture({ ...TINY, arch: 'bitnet-b1.58', seed: 21 });
  const set = await writeAllFixtures(fx, join(tempDir('quality'), 'fx'));
  const path = set.paths['gguf-i2_s-f16']!;
  const tokens = [fx.vocab.bos!, ...Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % fx.ref.nVocab)];
  const exact = await loadModel(path, { lmHead: 'exact' });
  const int8 = await loadModel(path, { lmHead: 'int8' });
  const a = await exact.evaluate(tokens);
  const b = await int8.evaluate(tokens);
  const cmp = compareDistributions(a, b);
  assert.ok(cmp.maxAbsLogitDiff > 0, 'the int8 lm_head must differ from the exact one somewhere');
  assert.ok(cmp.klMean < 1e-2, `mean KL ${cmp.klMean}`);
  assert.ok(cmp.top1Agreement >= 0.9, `top-1 agreement ${cmp.top1Agreement}`);
  const targets = tokens.slice(1);
  const pe = perplexity(a, targets).ppl;
  const pi = perplexity(b, targets).ppl;
  assert.ok(Math.abs(pi / pe - 1) < 0.05, `ppl ${pe} vs ${pi}`);
  await exact.dispose();
  await int8.dispose();
});
