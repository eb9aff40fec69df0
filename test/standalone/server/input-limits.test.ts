// InputLimits (src/server/input.ts) on the bundled model: the byte bound, tokenization that stops past the
// context, and admission: more tokenizations at once than allowed are 429, and each refusal is counted.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { ApiError } from '../../../src/server/errors.js';
import { InputLimits } from '../../../src/server/input.js';

let model: BitnetModel;
before(async () => {
  model = await loadModel(fileURLToPath(new URL('../../../models/bitnet-b1.58-tinystories-1m.gguf', import.meta.url)), { threads: 1 });
});
after(async () => {
  await model.dispose();
});

const status = (e: unknown): number => (e instanceof ApiError ? e.status : -1);

test('bytes above n_ctx x the longest token are refused before tokenizing; tokenization stops past the context', async () => {
  const refused: string[] = [];
  const limits = new InputLimits(model, 256, 4, (r) => refused.push(r));
  assert.equal(limits.maxBytes, 256 * model.tokenizer.maxTokenBytes);
  assert.throws(() => limits.checkBytes(limits.maxBytes + 1, 'messages'), (e) => status(e) === 400 && (e as ApiError).param === 'messages');
  limits.checkBytes(limits.maxBytes, 'messages');
  const text = 'Once upon a time '.repeat(40);
  const ids = await limits.encode([{ text, special: true }], { addBos: false, param: 'prompt' });
  assert.deepEqual(ids, model.tokenize(text, { addBos: false }));
  await assert.rejects(limits.encode([{ text: text.repeat(3), special: true }], { addBos: false, param: 'prompt' }), (e) => status(e) === 400 && /longer than the context of 256/.test((e as Error).message));
  assert.deepEqual(refused, ['context_length_exceeded', 'context_length_exceeded']);
});

test('more tokenizations at once than allowed are 429 (Retry-After), counted as busy', async () => {
  const refused: string[] = [];
  // a large context so that the first tokenization takes several slices
  const limits = new InputLimits(model, 1_000_000, 1, (r) => refused.push(r));
  const long = [{ text: 'Lily went to the park and played with a ball. '.repeat(20_000), special: true }];
  const first = limits.encode(long, { addBos: false, param: 'prompt' });
  await assert.rejects(limits.encode([{ text: 'hi', special: true }], { addBos: false, param: 'prompt' }), (e) => status(e) === 429 && (e as ApiError).headers['Retry-After'] === '1');
  assert.ok((await first).length > 1000);
  // freed once the first is done
  assert.deepEqual(await limits.encode([{ text: 'hi', special: true }], { addBos: false, param: 'prompt' }), model.tokenize('hi', { addBos: false }));
  assert.deepEqual(refused, ['busy']);
});
