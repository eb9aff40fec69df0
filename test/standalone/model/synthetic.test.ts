// The synthetic model writer (random weights, exact architecture shapes) at toy scale, in each weight and
// embedding type; and generation on a model whose embedding has more rows than the tokenizer has tokens
// (padded vocabularies): sampled ids must stay inside the tokenizer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../../src/index.js';
import { writeSyntheticGguf, type SyntheticShape } from '../../../src/model/synthetic.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('synth');
const SHAPE: SyntheticShape = { arch: 'bitnet-b1.58', nVocab: 1024, nEmbd: 256, nFf: 512, nLayer: 2, nHead: 4, nHeadKv: 2, nCtx: 128, ropeTheta: 500000 };

test('synthetic models load in every weight/embedding type with the requested shapes', async () => {
  for (const [weights, embedding] of [['I2_S', 'F16'], ['TQ2_0', 'Q8_0'], ['TQ1_0', 'Q6_K']] as const) {
    const path = join(dir, `${weights}-${embedding}.gguf`);
    await writeSyntheticGguf(path, SHAPE, { weights, embedding, seed: 5 });
    const m = await loadModel(path);
    assert.deepEqual(m.warnings, []);
    assert.equal(m.hparams.nVocab, 1024);
    assert.equal(m.tensors.find((t) => t.name === 'blk.1.ffn_down.weight')!.type, weights);
    assert.equal(m.tensors.find((t) => t.name === 'token_embd.weight')!.type, embedding);
  }
});

test('generation never samples embedding rows beyond the tokenizer vocabulary', async () => {
  const path = join(dir, 'padded.gguf');
  await writeSyntheticGguf(path, SHAPE, { weights: 'I2_S', embedding: 'F16', seed: 9, padVocab: false });
  const m = await loadModel(path);
  assert.ok(m.tokenizer.vocabSize < m.hparams.nVocab);
  const r = await m.complete('Once upon a time', { maxTokens: 40, temperature: 5, topK: 0, topP: 1, minP: 0, seed: 3, ignoreEos: true });
  assert.equal(r.tokens.length, 40);
  for (const id of r.tokens) assert.ok(id < m.tokenizer.vocabSize, `sampled id ${id}`);
});
