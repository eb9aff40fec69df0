// Context shift in the server: concurrent streams on a tiny context all shift (per slot) and finish
// normally with every token asked for; without it (the library default, `bitnet serve --no-context-shift`)
// a generation ends with finish_reason length at the end of the context; a request without a token limit
// stops there too (llama-server's guard against endless generation); n_keep out of range is a 400.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/serve.js';
import { postJson, readSse, serve } from './helpers.js';

const CTX = 32;
let shifting: RunningServer;
let plain: RunningServer;

before(async () => {
  shifting = await serve({ contextSize: CTX, parallel: 3, contextShift: true, nKeep: 2 });
  plain = await serve({ contextSize: CTX, parallel: 1 });
});

after(async () => {
  await shifting.close({ graceMs: 0 });
  await plain.close({ graceMs: 0 });
});

const completions = (s: RunningServer) => `${s.url}/v1/completions`;
const chat = (s: RunningServer) => `${s.url}/v1/chat/completions`;

async function stream(url: string, body: Record<string, unknown>): Promise<{ text: string; finish: string | undefined; usage: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(res.status, 200);
  let text = '';
  let finish: string | undefined;
  let usage: any;
  for (const e of await readSse(res)) {
    if (!e.data || e.data === '[DONE]') continue;
    const ch = e.data.choices?.[0];
    if (ch) {
      text += ch.text ?? ch.delta?.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
    if (e.data.usage) usage = e.data.usage;
  }
  return { text, finish, usage };
}

test('six concurrent streams on 3 slots of 32 tokens all shift and finish with every token', async () => {
  const prompts = ['Once upon a time', 'Lily loved to play outside', 'The cat sat', 'A little boy', 'One day', 'The sun was shining'];
  const runs = await Promise.all(
    prompts.map((prompt, i) =>
      i % 2 === 0
        ? stream(completions(shifting), { prompt, max_tokens: 90, seed: i, ignore_eos: true, ...(i === 2 ? { n_keep: -1 } : {}) })
        : stream(chat(shifting), { messages: [{ role: 'user', content: prompt }], max_tokens: 90, seed: i, ignore_eos: true, n_keep: 0 }),
    ),
  );
  for (const [i, r] of runs.entries()) {
    assert.equal(r.finish, 'length', `stream ${i}`);
    assert.equal(r.usage.completion_tokens, 90, `stream ${i}: every token asked for, ~3x the context`);
    assert.ok(r.usage.prompt_tokens + r.usage.completion_tokens > 2 * CTX);
    assert.ok(r.text.length > 0, `stream ${i}: text`);
  }
  const health = await fetch(`${shifting.url}/health`);
  assert.equal(health.status, 200);
});

test('a slot a shift left behind gives what a fresh server gives', async () => {
  const body = { prompt: 'Once upon a time there was', max_tokens: 70, seed: 9, ignore_eos: true, n_keep: -1 };
  const first = await postJson(completions(shifting), body);
  // the same prompt again: the slot holding its (shifted) cache is reused, up to the kept tokens (the prompt)
  const again = await postJson(completions(shifting), body);
  // (all but the last one or two: a single-token last batch is avoided, Sequence.beginPrefill)
  assert.ok(again.json.usage.prompt_tokens_details.cached_tokens >= again.json.usage.prompt_tokens - 2, 'the kept prompt reused');
  const other = await serve({ contextSize: CTX, parallel: 1, contextShift: true });
  try {
    const fresh = await postJson(completions(other), body);
    assert.equal(fresh.json.usage.completion_tokens, 70);
    assert.equal(first.json.choices[0].text, fresh.json.choices[0].text);
    assert.equal(again.json.choices[0].text, fresh.json.choices[0].text);
  } finally {
    await other.close({ graceMs: 0 });
  }
});

test('without a token limit a chat stops at the end of the context even with context shift', async () => {
  const r = await postJson(chat(shifting), { messages: [{ role: 'user', content: 'Tell me a story.' }], seed: 1, ignore_eos: true });
  assert.equal(r.status, 200);
  assert.equal(r.json.choices[0].finish_reason, 'length');
  assert.equal(r.json.usage.prompt_tokens + r.json.usage.completion_tokens, CTX);
});

test('without context shift, max_tokens beyond the context ends with length at the end of the context', async () => {
  const r = await stream(completions(plain), { prompt: 'Once', max_tokens: 90, seed: 1, ignore_eos: true });
  assert.equal(r.finish, 'length');
  assert.equal(r.usage.prompt_tokens + r.usage.completion_tokens, CTX);
});

test('n_keep out of range is a 400 naming n_keep', async () => {
  for (const [url, base] of [
    [completions(shifting), { prompt: 'Once', max_tokens: 3 }],
    [chat(shifting), { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 }],
  ] as const) {
    for (const n_keep of [CTX, 1000, -2, 1.5, 'all']) {
      const r = await postJson(url, { ...base, n_keep });
      assert.equal(r.status, 400, `n_keep ${n_keep}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.param, 'n_keep');
    }
    const ok = await postJson(url, { ...base, n_keep: CTX - 1 });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  }
});
