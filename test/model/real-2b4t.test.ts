// Real-model checks, run only when BITNET_2B4T_GGUF points to the official ggml-model-i2_s.gguf of
// microsoft/bitnet-b1.58-2B-4T-gguf: file identity (size, sha256), structure (332 tensors: 210 I2_S, 121 F32,
// 1 F16), and a teacher-forced comparison with bitnet.cpp's greedy run in ../shared/data/reference: same
// prompt tokens, and at each step the top-5 logits within tolerance of bitnet.cpp's (the first
// BITNET_2B4T_STEPS steps, default 8); and the int8 lm_head against the exact f16 one on TinyStories text
// (perplexity, KL divergence, top-1 agreement over BITNET_2B4T_PPL_TOKENS tokens, default 128).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compareDistributions, perplexity } from '../../src/engine/quality.js';
import { inspectModel, loadModel } from '../../src/index.js';

const PATH = process.env.BITNET_2B4T_GGUF;
const REF = new URL('../../../shared/data/reference/bitnet-b1.58-2B-4T/', import.meta.url);
const SHA256 = '4221b252fdd5fd25e15847adfeb5ee88886506ba50b8a34548374492884c2162';
const SIZE = 1_187_801_280;
/** |ours - bitnet.cpp| per logit: float summation order, exp/sin/cos and rare int8 near-tie flips differ (spec 7) */
const TOLERANCE = 0.1;
const skip = !PATH ? 'BITNET_2B4T_GGUF is not set (path to the official ggml-model-i2_s.gguf): real-model checks skipped' : !existsSync(REF) ? '../shared/data/reference is absent: real-model checks skipped' : false;

interface StepRef {
  step: number;
  entries: Array<{ token_id: number; logit: number }>;
}

test('the official 2B4T GGUF: identity and structure', { skip }, async () => {
  const info = await inspectModel(PATH!);
  assert.equal(info.fileSize, SIZE);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(PATH!)) hash.update(chunk as Buffer);
  assert.equal(hash.digest('hex'), SHA256);
  assert.equal(info.hparams?.arch, 'bitnet-b1.58');
  const count = (type: string) => info.tensors.filter((t) => t.type === type).length;
  assert.deepEqual([info.tensors.length, count('I2_S'), count('F32'), count('F16')], [332, 210, 121, 1]);
  for (const t of info.tensors.filter((x) => x.type === 'I2_S')) assert.equal(t.bytes, (t.shape[0]! * t.shape[1]!) / 4 + 32, t.name);
});

test('the official 2B4T GGUF: teacher-forced logits equal bitnet.cpp\'s greedy run', { skip }, async () => {
  const prompt = readFileSync(new URL('prompt.txt', REF), 'utf8').replace(/\n$/, '');
  const promptTokens = JSON.parse(readFileSync(new URL('greedy.prompt_tokens.json', REF), 'utf8')) as number[];
  const tokens = JSON.parse(readFileSync(new URL('greedy.tokens.json', REF), 'utf8')) as number[];
  const steps = JSON.parse(readFileSync(new URL('greedy.topk_logits.json', REF), 'utf8')) as StepRef[];
  const model = await loadModel(PATH!, { contextSize: 64, lmHead: 'exact' }); // bitnet.cpp's f16 lm_head
  assert.deepEqual(model.warnings, []);
  assert.deepEqual(model.tokenize(prompt, { parseSpecial: true }), promptTokens);
  const n = Math.min(Number(process.env.BITNET_2B4T_STEPS ?? 8), steps.length);
  const seq = model.createSequence({ contextSize: 64 });
  let logits = (await seq.prefill(promptTokens)).logits;
  for (let s = 0; s < n; s++) {
    const ref = steps[s]!.entries;
    for (const { token_id, logit } of ref) {
      assert.ok(Math.abs(logits[token_id]! - logit) <= TOLERANCE, `step ${s} token ${token_id}: ${logits[token_id]} vs bitnet.cpp ${logit}`);
    }
    // our argmax is bitnet.cpp's whenever its top-2 gap exceeds twice the tolerance
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    if (ref[0]!.logit - ref[1]!.logit > 2 * TOLERANCE) assert.equal(best, ref[0]!.token_id, `step ${s}`);
    logits = await seq.step(tokens[s]!); // teacher forcing: continue with bitnet.cpp's token
  }
});

test('the official 2B4T GGUF: the int8 lm_head stays close to the exact f16 one on TinyStories', { skip }, async (t) => {
  const text = readFileSync(new URL('../../../shared/data/tinystories/tinystories_sample_3000.txt', import.meta.url), 'utf8');
  const n = Number(process.env.BITNET_2B4T_PPL_TOKENS ?? 128);
  const exact = await loadModel(PATH!, { contextSize: n, lmHead: 'exact' });
  const tokens = exact.tokenize(text, { addBos: true }).slice(0, n);
  const a = await exact.evaluate(tokens);
  await exact.dispose();
  const int8 = await loadModel(PATH!, { contextSize: n, lmHead: 'int8' });
  const b = await int8.evaluate(tokens);
  await int8.dispose();
  const targets = tokens.slice(1);
  const pe = perplexity(a, targets);
  const pi = perplexity(b, targets);
  const cmp = compareDistributions(a.slice(0, -1), b.slice(0, -1));
  t.diagnostic(`${targets.length} tokens: PPL f16 ${pe.ppl.toFixed(3)} ± ${pe.pplStderr.toFixed(3)}, int8 ${pi.ppl.toFixed(3)}; KL mean ${cmp.klMean.toExponential(2)} max ${cmp.klMax.toExponential(2)}; top-1 agreement ${(100 * cmp.top1Agreement).toFixed(1)}%`);
  assert.ok(Math.abs(pi.ppl / pe.ppl - 1) < 0.01, `PPL ${pe.ppl} vs ${pi.ppl}`);
  assert.ok(cmp.klMean < 0.01, `mean KL ${cmp.klMean}`);
  assert.ok(cmp.top1Agreement >= 0.95, `top-1 agreement ${cmp.top1Agreement}`);
});
