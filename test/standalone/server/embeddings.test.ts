// Embeddings over HTTP against the engine: /v1/embeddings equals BitnetModel.embed for strings and token
// ids (float and base64), in input order, with usage; `--pooling` chooses the pooling (last, and none: one
// row per token, only on llama-server's /embeddings, refused by name on /v1/embeddings).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { postJson, serve } from './helpers.js';

function fromBase64(s: string): Float32Array {
  const bytes = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

test('/v1/embeddings equals model.embed for strings and token ids, float and base64, in order', async () => {
  const server = await serve({ parallel: 2, pooling: 'last' });
  try {
    const model = await server.ready;
    const texts = ['A cat sat on the mat.', 'Once upon a time', 'Lily and Tom went to the park to play.'];
    const r = await postJson(`${server.url}/v1/embeddings`, { input: texts, model: 'tiny' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.object, 'list');
    assert.deepEqual(r.json.data.map((d: any) => d.index), [0, 1, 2]);
    for (const [i, t] of texts.entries()) {
      const want = await model.embed(t, { pooling: 'last' });
      const got = r.json.data[i].embedding as number[];
      assert.equal(got.length, model.hparams.nEmbd);
      got.forEach((x, k) => assert.ok(Math.abs(x - want[k]!) < 1e-6, `input ${i} component ${k}`));
    }
    assert.equal(r.json.usage.prompt_tokens, texts.reduce((a, t) => a + model.tokenizePrompt(t).length, 0));
    const ids = model.tokenizePrompt(texts[1]!);
    const b = await postJson(`${server.url}/v1/embeddings`, { input: [ids], encoding_format: 'base64', dimensions: model.hparams.nEmbd });
    assert.deepEqual(Array.from(fromBase64(b.json.data[0].embedding)), r.json.data[1].embedding);
    const one = await postJson(`${server.url}/embeddings`, { input: ids });
    assert.deepEqual(one.json.data[0].embedding, r.json.data[1].embedding);
  } finally {
    await server.close();
  }
});

test('--pooling none: one row per token on /embeddings, refused by name on /v1/embeddings', async () => {
  const server = await serve({ parallel: 1, pooling: 'none' });
  try {
    const model = await server.ready;
    const text = 'The dog ran.';
    const r = await postJson(`${server.url}/embeddings`, { input: text });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const rows = r.json.data[0].embedding as number[][];
    const want = await model.embed(text, { pooling: 'none' });
    assert.equal(rows.length, model.tokenizePrompt(text).length);
    rows.flat().forEach((x, k) => assert.ok(Math.abs(x - want[k]!) < 1e-6, `component ${k}`));
    const v1 = await postJson(`${server.url}/v1/embeddings`, { input: text });
    assert.equal(v1.status, 400);
    assert.equal(v1.json.error.code, 'unsupported_pooling');
    assert.match(v1.json.error.message, /--pooling mean, last or cls/);
  } finally {
    await server.close();
  }
});

test('many inputs in one request (more than slots + queue) all come back, in order, without a warning', async () => {
  const server = await serve({ parallel: 2, maxQueue: 4, pooling: 'mean' });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const model = await server.ready;
    const texts = Array.from({ length: 40 }, (_, i) => `The cat number ${i} sat on the mat.`);
    const r = await postJson(`${server.url}/v1/embeddings`, { input: texts });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.data.length, 40);
    for (const i of [0, 17, 39]) {
      const want = await model.embed(texts[i]!, { pooling: 'mean' });
      assert.equal(r.json.data[i].index, i);
      r.json.data[i].embedding.forEach((x: number, k: number) => assert.ok(Math.abs(x - want[k]!) < 1e-6, `input ${i} component ${k}`));
    }
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await server.close();
  }
});
