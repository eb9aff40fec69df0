// Logprobs, echo, logit_bias, n and prompt lists over HTTP against the engine: chat logprobs are the
// log-softmax of the logits each token was drawn from (teacher-forced), completions' echo with max_tokens 0
// returns the prompt's teacher-forced logprobs from model.evaluate in OpenAI's legacy shape (the request
// lm-evaluation-harness's local-completions sends), logit_bias -100 never emits a token, n = 3 gives the
// choices seeded seed, seed + 1, seed + 2, and a list of prompts gives one choice per prompt in order.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BitnetModel } from '../../../src/index.js';
import type { RunningServer } from '../../../src/server/serve.js';
import { postJson, readSse, serve } from './helpers.js';

let server: RunningServer;
let model: BitnetModel;

before(async () => {
  // one slot: the first request's prompt is evaluated from an empty cache, as the teacher-forced reference
  server = await serve({ parallel: 1 });
  model = await server.ready;
});

after(async () => {
  await server.close();
});

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return Float64Array.from(row, (v) => v - max - Math.log(sum));
}

const vocabRow = (row: Float32Array): Float32Array => row.subarray(0, model.tokenizer.vocabSize);
const bytesOf = (id: number): number[] => Array.from(model.tokenizer.tokenBytes(id));

test('chat logprobs and top_logprobs are the log-softmax of the logits each token was drawn from', async () => {
  const messages = [{ role: 'user', content: 'Tell me a story about a red ball.' }];
  const r = await postJson(`${server.url}/v1/chat/completions`, { messages, max_tokens: 8, temperature: 0, ignore_eos: true, logprobs: true, top_logprobs: 5 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const content = r.json.choices[0].logprobs.content as Array<{ token: string; logprob: number; bytes: number[]; top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }> }>;
  assert.equal(content.length, 8);
  assert.equal(content.map((e) => e.token).join(''), r.json.choices[0].message.content);
  // teacher-forced on a fresh sequence, one token at a time, as generation evaluates them
  const prompt = model.tokenizePrompt(messages);
  assert.equal(r.json.usage.prompt_tokens, prompt.length);
  const seq = model.createSequence();
  let row = (await seq.prefill(prompt)).logits;
  try {
    for (const [i, e] of content.entries()) {
      const lp = logSoftmax(vocabRow(row));
      const order = Array.from(lp.keys()).sort((a, b) => lp[b]! - lp[a]! || a - b);
      // greedy: the token is the most likely one, its bytes are the entry's
      const id = order[0]!;
      assert.deepEqual(e.bytes, bytesOf(id), `token ${i}`);
      assert.equal(e.token, model.detokenize([id]));
      assert.ok(Math.abs(e.logprob - lp[id]!) < 1e-9, `token ${i}: ${e.logprob} vs ${lp[id]}`);
      assert.equal(e.top_logprobs.length, 5);
      e.top_logprobs.forEach((t, k) => {
        assert.deepEqual(t.bytes, bytesOf(order[k]!), `token ${i} top ${k}`);
        assert.ok(Math.abs(t.logprob - lp[order[k]!]!) < 1e-9);
      });
      row = await seq.step(id);
    }
  } finally {
    seq.dispose();
  }
  // streamed: the same entries, spread over the chunks
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages, max_tokens: 8, temperature: 0, ignore_eos: true, logprobs: true, top_logprobs: 5, stream: true }),
  });
  const streamed = (await readSse(res)).flatMap((e) => e.data?.choices?.[0]?.logprobs?.content ?? []);
  assert.deepEqual(streamed, content);
});

test('echo + max_tokens 0 + logprobs (lm-evaluation-harness): the prompts\' teacher-forced logprobs, one choice per prompt', async () => {
  const texts = ['Once upon a time there was a cat.', 'The dog ran to the park and', 'Lily'];
  const prompts = texts.map((t) => model.tokenizePrompt(t));
  for (const maxTokens of [0, 1]) {
    const r = await postJson(`${server.url}/v1/completions`, { prompt: prompts, echo: true, max_tokens: maxTokens, logprobs: 2, temperature: 0, seed: 1234 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.choices.map((c: any) => c.index), [0, 1, 2]);
    for (const [p, choice] of r.json.choices.entries()) {
      const ids = prompts[p]!;
      const lp = choice.logprobs;
      assert.equal(lp.tokens.length, ids.length + maxTokens);
      assert.equal(lp.token_logprobs[0], null);
      assert.equal(lp.top_logprobs[0], null);
      assert.ok(choice.text.startsWith(model.detokenize(ids, { skipSpecial: true })));
      const ev = await model.evaluate(ids);
      for (let i = 1; i < ids.length; i++) {
        const row = logSoftmax(vocabRow(ev[i - 1]!));
        assert.ok(Math.abs(lp.token_logprobs[i] - row[ids[i]!]!) < 1e-9, `prompt ${p} token ${i}`);
        const top = lp.top_logprobs[i] as Record<string, number>;
        // the two most likely, and always the prompt's own token
        assert.ok(Object.keys(top).length >= 2 && Object.keys(top).length <= 3);
        assert.ok(Math.abs(top[model.detokenize([ids[i]!])]! - row[ids[i]!]!) < 1e-9);
        assert.ok(Math.max(...Object.values(top)) <= 1e-12 + Math.max(...row));
      }
      // offsets: each token starts where the text before it ends
      for (let i = 1; i < lp.tokens.length; i++) assert.equal(lp.text_offset[i], lp.text_offset[i - 1] + lp.tokens[i - 1].replace(/<\|begin_of_text\|>/, '').length);
    }
    assert.equal(r.json.usage.prompt_tokens, prompts.reduce((a, p) => a + p.length, 0));
    assert.equal(r.json.usage.completion_tokens, 3 * maxTokens);
  }
});

test('echo with logprobs and n = 2: every choice carries the prompt\'s logprobs, streamed alike', async () => {
  const body = { prompt: 'Tom had a big red ball', echo: true, max_tokens: 3, logprobs: 1, temperature: 1, seed: 5, n: 2 };
  const r = await postJson(`${server.url}/v1/completions`, body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const n = model.tokenizePrompt(body.prompt).length;
  const [a, b] = r.json.choices;
  assert.deepEqual(a.logprobs.token_logprobs.slice(0, n), b.logprobs.token_logprobs.slice(0, n));
  assert.ok(a.logprobs.token_logprobs.slice(1).every((x: unknown) => typeof x === 'number'));
  assert.ok(a.text.startsWith(body.prompt) && b.text.startsWith(body.prompt));
  const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const texts = ['', ''];
  const lps: number[][] = [[], []];
  for (const e of await readSse(res)) {
    const c = e.data?.choices?.[0];
    if (!c) continue;
    texts[c.index] += c.text;
    lps[c.index]!.push(...(c.logprobs?.token_logprobs ?? []));
  }
  assert.deepEqual(texts, [a.text, b.text]);
  assert.deepEqual(lps, [a.logprobs.token_logprobs, b.logprobs.token_logprobs]);
});

test('logit_bias -100 never emits the banned tokens; +100 forces one', async () => {
  const prompt = 'Once upon a time';
  const greedy = await postJson(`${server.url}/v1/completions`, { prompt, max_tokens: 12, temperature: 0, ignore_eos: true, logprobs: 0 });
  const tokens: string[] = greedy.json.choices[0].logprobs.tokens;
  const banned = [...new Set(model.tokenize(greedy.json.choices[0].text, { addBos: false }))];
  assert.ok(banned.length > 0);
  const bias = Object.fromEntries(banned.map((t) => [String(t), -100]));
  for (const temperature of [0, 1.5]) {
    const r = await postJson(`${server.url}/v1/chat/completions`, { messages: [{ role: 'user', content: prompt }], max_tokens: 24, temperature, seed: 3, ignore_eos: true, logit_bias: bias, logprobs: true });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const bannedBytes = new Set(banned.map((t) => bytesOf(t).join(',')));
    for (const e of r.json.choices[0].logprobs.content) assert.ok(!bannedBytes.has(e.bytes.join(',')), `banned token ${JSON.stringify(e.token)} emitted`);
  }
  const forced = model.tokenize(' ball', { addBos: false })[0]!;
  const f = await postJson(`${server.url}/v1/completions`, { prompt, max_tokens: 4, temperature: 0, ignore_eos: true, logit_bias: { [forced]: 100 } });
  assert.equal(f.json.choices[0].text, model.detokenize([forced, forced, forced, forced]));
  assert.ok(tokens.length === 12);
});

test('n = 3: three choices, choice i as the request alone seeded seed + i; usage counts the prompt once', async () => {
  const body = { messages: [{ role: 'user', content: 'A story about a frog.' }], max_tokens: 10, temperature: 1, seed: 40 };
  const r = await postJson(`${server.url}/v1/chat/completions`, { ...body, n: 3 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.choices.map((c: any) => c.index), [0, 1, 2]);
  const alone = [];
  for (let i = 0; i < 3; i++) alone.push((await postJson(`${server.url}/v1/chat/completions`, { ...body, seed: 40 + i })).json);
  assert.deepEqual(r.json.choices.map((c: any) => c.message.content), alone.map((a) => a.choices[0].message.content));
  assert.equal(r.json.usage.prompt_tokens, alone[0].usage.prompt_tokens);
  assert.equal(r.json.usage.completion_tokens, alone.reduce((a, x) => a + x.usage.completion_tokens, 0));
  // streamed: each choice's deltas under its own index
  const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, n: 3, stream: true }) });
  const texts = ['', '', ''];
  const finishes: Array<string | undefined> = [];
  for (const e of await readSse(res)) {
    const c = e.data?.choices?.[0];
    if (!c) continue;
    texts[c.index] += c.delta.content ?? '';
    if (c.finish_reason) finishes[c.index] = c.finish_reason;
  }
  assert.deepEqual(texts, alone.map((a) => a.choices[0].message.content));
  assert.deepEqual(finishes, alone.map((a) => a.choices[0].finish_reason));
});

test('a list of string prompts: one choice per prompt, in order, each as the prompt alone', async () => {
  const prompts = ['The sun', 'A little bird', 'Tom and'];
  const r = await postJson(`${server.url}/v1/completions`, { prompt: prompts, max_tokens: 6, temperature: 0, n: 2 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.choices.map((c: any) => c.index), [0, 1, 2, 3, 4, 5]);
  for (const [i, p] of prompts.entries()) {
    const alone = await postJson(`${server.url}/v1/completions`, { prompt: p, max_tokens: 6, temperature: 0 });
    assert.equal(r.json.choices[2 * i].text, alone.json.choices[0].text, p);
    assert.equal(r.json.choices[2 * i + 1].text, alone.json.choices[0].text, p);
  }
});
