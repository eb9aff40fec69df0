// The bundled default model (models/): it loads, is small, generates the card's sample text from the card's
// seeds, its held-out perplexity computed by the engine is the one in the card (models/<name>.json, which
// `npm run model-card` writes and models/README.md quotes), and `bitnet run` without -m uses it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_FILE } from '../../../src/cli/default-model.js';
import { streamPerplexity } from '../../../src/engine/quality.js';
import { loadModel } from '../../../src/index.js';
import { defaultThreads, physicalCores } from '../../../src/kernels/index.js';
import { encodeDocuments, splitDocuments } from '../../../src/train/data.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const file = `${root}models/${DEFAULT_MODEL_FILE}`;
const card = JSON.parse(readFileSync(file.replace(/\.gguf$/, '.json'), 'utf8')) as {
  bytes: number;
  parameters: number;
  heldOut: { file: string; tokens: number; window: number };
  enginePerplexity: { ppl: number; predictions: number };
  samples: Array<{ prompt: string; seed: number; options: Record<string, number>; text: string }>;
};
const heldOut = `${root}../shared/data/${card.heldOut.file}`;

test('the bundled model is a small bitnet-b1.58 GGUF and the card describes this file', async () => {
  assert.ok(statSync(file).size <= 20 * 2 ** 20);
  assert.equal(statSync(file).size, card.bytes);
  const model = await loadModel(file);
  try {
    assert.equal(model.hparams.arch, 'bitnet-b1.58');
    assert.equal(model.parameterCount, card.parameters);
    // so small that worker threads only slow it down: the default is one thread (a 2B4T-sized model gets the cores)
    if (model.backend.name.startsWith('wasm')) assert.equal(model.backend.threads, 1);
    assert.equal(await defaultThreads(2.4e9), await physicalCores());
    for (const s of card.samples) {
      const r = await model.complete(s.prompt, { ...s.options, seed: s.seed });
      assert.equal(r.text, s.text, `sample for seed ${s.seed}`);
    }
  } finally {
    await model.dispose();
  }
  const readme = readFileSync(`${root}models/README.md`, 'utf8');
  assert.ok(readme.includes(card.enginePerplexity.ppl.toFixed(2)), 'models/README.md quotes the measured perplexity');
});

test('held-out perplexity computed by the engine equals the card', { skip: existsSync(heldOut) ? false : `${heldOut} is absent` }, async () => {
  const model = await loadModel(file);
  try {
    const stream = encodeDocuments(model.tokenizer, splitDocuments(readFileSync(heldOut, 'utf8')));
    assert.equal(stream.length, card.heldOut.tokens);
    const r = await streamPerplexity(model, stream, card.heldOut.window);
    assert.equal(r.count, card.enginePerplexity.predictions);
    assert.equal(Number(r.ppl.toFixed(4)), card.enginePerplexity.ppl);
  } finally {
    await model.dispose();
  }
});

test('bitnet run without -m generates with the bundled model', () => {
  const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
  const env = { ...process.env };
  delete env.BITNET_MODEL;
  const res = spawnSync(process.execPath, ['--import', 'tsx', main, 'run', 'Once upon a time', '-n', '12', '-s', '1', '--no-progress'], { encoding: 'utf8', env });
  assert.equal(res.status, 0, res.stderr);
  assert.ok(res.stdout.trim().length > 0);
  assert.match(res.stderr, /tokens\/s/);
});
