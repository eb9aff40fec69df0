// The server through the official `openai` npm client on 127.0.0.1: chat and completions, streaming and
// not; usage equals the tokenizer's counts; stop strings end the text and never appear; seeded requests
// reproduce and equal the engine's own output; 8 concurrent streams on 4 slots equal the same requests
// run one at a time.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import type { BitnetModel } from '../../../src/index.js';
import type { RunningServer } from '../../../src/server/serve.js';
import { serve } from './helpers.js';

let server: RunningServer;
let model: BitnetModel;
let client: OpenAI;

before(async () => {
  server = await serve({ parallel: 4, maxQueue: 16 });
  model = await server.ready;
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await server.close();
});

const messages = [
  { role: 'system' as const, content: 'You are a storyteller.' },
  { role: 'user' as const, content: 'Tell me about Lily.' },
];

test('models lists the served model', async () => {
  const list = await client.models.list();
  assert.deepEqual(
    list.data.map((m) => m.id),
    ['tiny'],
  );
});

test('chat completion: text, finish reason and usage equal the engine and tokenizer', async () => {
  const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, seed: 42 });
  const alone = await model.complete(messages, { maxTokens: 12, seed: 42 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0]!.message.role, 'assistant');
  assert.equal(r.choices[0]!.message.content, alone.text);
  assert.equal(r.choices[0]!.finish_reason, alone.stats.finishReason);
  assert.equal(r.usage!.prompt_tokens, model.tokenizePrompt(messages).length);
  assert.equal(r.usage!.completion_tokens, alone.tokens.length);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
});

test('max_completion_tokens and seeded reproduction', async () => {
  const a = await client.chat.completions.create({ model: 'tiny', messages, max_completion_tokens: 9, seed: 7, temperature: 1.1, top_p: 0.9 });
  const b = await client.chat.completions.create({ model: 'tiny', messages, max_completion_tokens: 9, seed: 7, temperature: 1.1, top_p: 0.9 });
  assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
  assert.equal(a.usage!.completion_tokens, 9);
});

test('streamed chat equals the non-streamed one; include_usage adds a usage chunk', async () => {
  const full = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 15, seed: 3 });
  const stream = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 15, seed: 3, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let role: string | undefined;
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      role ??= c.delta.role;
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, full.choices[0]!.message.content);
  assert.equal(finish, full.choices[0]!.finish_reason);
  assert.deepEqual(usage && { p: usage.prompt_tokens, c: usage.completion_tokens }, { p: full.usage!.prompt_tokens, c: full.usage!.completion_tokens });
});

test('completions: text, streaming, token-id prompts, default of 16 tokens', async () => {
  const prompt = 'Once upon a time';
  const r = await client.completions.create({ model: 'tiny', prompt, max_tokens: 10, seed: 5 });
  const alone = await model.complete(prompt, { maxTokens: 10, seed: 5 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0]!.text, alone.text);
  assert.equal(r.usage!.prompt_tokens, model.tokenizePrompt(prompt).length);
  assert.equal(r.usage!.completion_tokens, alone.tokens.length);

  const stream = await client.completions.create({ model: 'tiny', prompt, max_tokens: 10, seed: 5, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, alone.text);

  const byIds = await client.completions.create({ model: 'tiny', prompt: model.tokenizePrompt(prompt), max_tokens: 10, seed: 5 });
  assert.equal(byIds.choices[0]!.text, alone.text);

  const dflt = await client.completions.create({ model: 'tiny', prompt, seed: 5, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
  assert.equal(dflt.usage!.completion_tokens, 16);
});

test('stop strings end the text before them, as a string or a list, streaming or not', async () => {
  const prompt = 'Once upon a time';
  const free = await client.completions.create({ model: 'tiny', prompt, max_tokens: 30, seed: 11, temperature: 0 });
  const text = free.choices[0]!.text;
  assert.ok(text.length > 6, `need some text to cut (${JSON.stringify(text)})`);
  const stopAt = text.slice(4, 6);
  const expected = text.slice(0, text.indexOf(stopAt));
  const one = await client.completions.create({ model: 'tiny', prompt, max_tokens: 30, seed: 11, temperature: 0, stop: stopAt });
  assert.equal(one.choices[0]!.text, expected);
  assert.equal(one.choices[0]!.finish_reason, 'stop');
  const list = await client.completions.create({ model: 'tiny', prompt, max_tokens: 30, seed: 11, temperature: 0, stop: ['never appears', stopAt] });
  assert.equal(list.choices[0]!.text, expected);
  const stream = await client.completions.create({ model: 'tiny', prompt, max_tokens: 30, seed: 11, temperature: 0, stop: [stopAt], stream: true });
  let streamed = '';
  let finish: string | null = null;
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(streamed, expected);
  assert.equal(finish, 'stop');
});

test('8 concurrent streams on 4 slots each equal the same request run alone', async () => {
  const reqs = Array.from({ length: 8 }, (_, i) => ({
    messages: [{ role: 'user' as const, content: `Story number ${i}: ${'once upon a time '.repeat(i % 3)}` }],
    max_tokens: 6 + 3 * i,
    seed: 100 + i,
    ...(i % 2 ? { temperature: 0.7, top_p: 0.8 } : {}),
  }));
  const alone: string[] = [];
  for (const r of reqs) alone.push((await client.chat.completions.create({ model: 'tiny', ...r })).choices[0]!.message.content ?? '');
  const before = server.state.scheduler!.stats();
  const together = await Promise.all(
    reqs.map(async (r) => {
      let text = '';
      for await (const c of await client.chat.completions.create({ model: 'tiny', ...r, stream: true })) text += c.choices[0]?.delta.content ?? '';
      return text;
    }),
  );
  assert.deepEqual(together, alone);
  const s = server.state.scheduler!.stats();
  const tokens = s.generatedTokens - before.generatedTokens;
  assert.ok(s.steps - before.steps < tokens, `steps ${s.steps - before.steps} < tokens ${tokens}: decoded in batches`);
});
