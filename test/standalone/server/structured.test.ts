// Structured output and tool calls with the random fixture model, where only the grammar makes the output
// well formed: response_format json_object / json_schema, llama-server's grammar and json_schema, tools with
// every tool_choice (JSON and streamed deltas agree), the openai SDK's chat.completions.parse and runTools;
// hostile schemas and grammars get a 400 naming the bad part and leave the server healthy.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { join } from 'node:path';
import type { RunningServer } from '../../../src/server/serve.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { HERMES_TEMPLATE, LLAMA3_TEMPLATE } from '../../fixtures/templates.js';
import { tempDir } from '../../fixtures/temp.js';
import { postJson, readSse, serve } from './helpers.js';

let server: RunningServer;
let client: OpenAI;
let chat: string;

before(async () => {
  // the generic tool format's system message is longer than the fixture's trained context; RoPE does not mind
  server = await serve({ parallel: 4, contextSize: 2048 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  chat = `${server.url}/v1/chat/completions`;
});

after(async () => {
  await server.close();
});

const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const Person = z.object({ name: z.enum(['Lily', 'Tom', 'Sue']), age: z.number().int().min(0).max(120), happy: z.boolean(), pets: z.array(z.enum(['cat', 'dog'])).max(3) }).strict();
const personSchema = z.toJSONSchema(Person);
const Weather = z.object({ city: z.enum(['Paris', 'Tokyo', 'Lima']), days: z.number().int().min(1).max(7) }).strict();
const weatherTool = { type: 'function', function: { name: 'get_weather', description: 'Weather forecast for a city', parameters: z.toJSONSchema(Weather) } };
const Add = z.object({ a: z.number().int().min(-1000).max(1000), b: z.number().int().min(-1000).max(1000) }).strict();
const addTool = { type: 'function', function: { name: 'add', description: 'Adds two integers', parameters: z.toJSONSchema(Add) } };
const ARGS: Record<string, z.ZodType> = { get_weather: Weather, add: Add };

test('response_format json_schema: every output validates (n = 4, streamed or not)', async () => {
  const body = { messages, max_tokens: 400, seed: 3, temperature: 1, n: 4, response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: personSchema } } };
  const r = await postJson(chat, body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.choices.length, 4);
  for (const ch of r.json.choices) {
    assert.equal(ch.finish_reason, 'stop', JSON.stringify(ch));
    Person.parse(JSON.parse(ch.message.content));
  }
  const res = await fetch(chat, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const texts = ['', '', '', ''];
  for (const e of await readSse(res)) if (e.data?.choices?.[0]?.delta?.content) texts[e.data.choices[0].index] += e.data.choices[0].delta.content;
  assert.deepEqual(texts, r.json.choices.map((c: any) => c.message.content));
});

test('response_format json_object, and llama-server grammar / json_schema, on chat and completions', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await postJson(chat, { messages, max_tokens: 120, seed, temperature: 0.8, response_format: { type: 'json_object' } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const text: string = r.json.choices[0].message.content;
    if (r.json.choices[0].finish_reason === 'stop') assert.equal(typeof JSON.parse(text), 'object');
    else assert.match(text, /^\s*\{/);
  }
  const g = await postJson(chat, { messages, max_tokens: 10, seed: 1, grammar: 'root ::= ("yes" | "no") "!"' });
  assert.match(g.json.choices[0].message.content, /^(yes|no)!$/);
  const t = await postJson(`${server.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 400, seed: 9, json_schema: personSchema });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  Person.parse(JSON.parse(t.json.choices[0].text));
  const rf = await postJson(`${server.url}/v1/completions`, { prompt: 'Once', max_tokens: 20, seed: 9, response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'integer', minimum: 10, maximum: 99 } } } });
  const n = JSON.parse(rf.json.choices[0].text);
  assert.ok(Number.isInteger(n) && n >= 10 && n <= 99, rf.json.choices[0].text);
});

function checkCall(call: any, names: readonly string[]): void {
  assert.match(call.id, /^call_[0-9a-f]{24}$/);
  assert.equal(call.type, 'function');
  assert.ok(names.includes(call.function.name), call.function.name);
  assert.equal(typeof call.function.arguments, 'string');
  ARGS[call.function.name]!.parse(JSON.parse(call.function.arguments));
}

test('tool_choice required: calls with ids, finish_reason tool_calls, content null; streamed deltas agree', async () => {
  const body = { messages, tools: [weatherTool, addTool], tool_choice: 'required', max_tokens: 400, seed: 5, temperature: 1 };
  const r = await postJson(chat, body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const ch = r.json.choices[0];
  assert.equal(ch.finish_reason, 'tool_calls');
  assert.equal(ch.message.content, null);
  assert.ok(ch.message.tool_calls.length >= 1);
  for (const call of ch.message.tool_calls) checkCall(call, ['get_weather', 'add']);

  // streamed: index, id, type and name first, then argument fragments that join to the same arguments
  const res = await fetch(chat, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const calls: Array<{ id: string; name: string; args: string }> = [];
  let finish: string | undefined;
  for (const e of await readSse(res)) {
    const c = e.data?.choices?.[0];
    if (!c) continue;
    finish = c.finish_reason ?? finish;
    for (const d of c.delta?.tool_calls ?? []) {
      if (d.id) {
        assert.equal(d.index, calls.length);
        assert.equal(d.type, 'function');
        calls.push({ id: d.id, name: d.function.name, args: '' });
      } else assert.equal(d.function.name, undefined);
      calls[d.index]!.args += d.function.arguments;
    }
  }
  assert.equal(finish, 'tool_calls');
  assert.deepEqual(
    calls.map((c) => [c.name, JSON.parse(c.args)]),
    ch.message.tool_calls.map((c: any) => [c.function.name, JSON.parse(c.function.arguments)]),
  );
});

test('parallel_tool_calls false, a named tool_choice, none and auto', async () => {
  for (const seed of [1, 2, 3, 4]) {
    const one = await postJson(chat, { messages, tools: [weatherTool, addTool], tool_choice: 'required', parallel_tool_calls: false, max_tokens: 400, seed, temperature: 1 });
    assert.equal(one.json.choices[0].message.tool_calls.length, 1);
    const named = await postJson(chat, { messages, tools: [weatherTool, addTool], tool_choice: { type: 'function', function: { name: 'add' } }, max_tokens: 400, seed });
    for (const call of named.json.choices[0].message.tool_calls) {
      assert.equal(call.function.name, 'add');
      checkCall(call, ['add']);
    }
    const none = await postJson(chat, { messages, tools: [weatherTool], tool_choice: 'none', max_tokens: 8, seed });
    assert.equal(none.json.choices[0].message.tool_calls, undefined);
    assert.equal(typeof none.json.choices[0].message.content, 'string');
    const auto = await postJson(chat, { messages, tools: [weatherTool], max_tokens: 120, seed, temperature: 1 });
    const m = auto.json.choices[0];
    if (m.message.tool_calls) {
      assert.equal(m.finish_reason, 'tool_calls');
      for (const call of m.message.tool_calls) checkCall(call, ['get_weather']);
    } else assert.equal(typeof m.message.content, 'string');
  }
  assert.equal((await postJson(chat, { messages, tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } })).json.error.param, 'tool_choice');
});

test('tools with tool_choice auto and a response_format: either calls or a reply that validates', async () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = await postJson(chat, { messages, tools: [weatherTool], max_tokens: 400, seed, temperature: 1, response_format: { type: 'json_schema', json_schema: { name: 'person', schema: personSchema } } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const ch = r.json.choices[0];
    if (ch.message.tool_calls) for (const call of ch.message.tool_calls) checkCall(call, ['get_weather']);
    else if (ch.finish_reason === 'stop') Person.parse(JSON.parse(ch.message.content));
    else assert.equal(ch.finish_reason, 'length');
  }
});

for (const [name, template] of [['Hermes', HERMES_TEMPLATE], ['Llama 3', LLAMA3_TEMPLATE]] as const) {
  test(`a template that renders tools itself (${name}): its calls read back, streamed alike`, async () => {
    const path = join(tempDir('server-tools-template'), `${name.replace(' ', '')}.gguf`);
    await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16', chatTemplate: template });
    const templated = await serve({ model: path, parallel: 2, contextSize: 2048 });
    try {
      const url = `${templated.url}/v1/chat/completions`;
      const body = { messages, tools: [weatherTool, addTool], tool_choice: 'required', max_tokens: 400, seed: 7, temperature: 1 };
      const r = await postJson(url, body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const ch = r.json.choices[0];
      assert.equal(ch.finish_reason, 'tool_calls');
      assert.equal(ch.message.content, null);
      for (const call of ch.message.tool_calls) checkCall(call, ['get_weather', 'add']);
      // the template saw the tools: the prompt is longer than without them
      const plain = await postJson(url, { messages, max_tokens: 1 });
      assert.ok(r.json.usage.prompt_tokens > plain.json.usage.prompt_tokens + 50);
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
      const calls: Array<{ name: string; args: string }> = [];
      for (const e of await readSse(res)) {
        for (const d of e.data?.choices?.[0]?.delta?.tool_calls ?? []) {
          if (d.id) calls.push({ name: d.function.name, args: '' });
          calls[d.index]!.args += d.function.arguments;
        }
      }
      assert.deepEqual(
        calls.map((c) => [c.name, JSON.parse(c.args)]),
        ch.message.tool_calls.map((c: any) => [c.function.name, JSON.parse(c.function.arguments)]),
      );
      // history with calls and results goes through the template; auto lets the model answer in text or call
      const next = await postJson(url, { messages: [...messages, ch.message, ...ch.message.tool_calls.map((c: any) => ({ role: 'tool', tool_call_id: c.id, content: 'sunny' }))], tools: [weatherTool, addTool], max_tokens: 60, seed: 7 });
      assert.equal(next.status, 200, JSON.stringify(next.json));
      for (const call of next.json.choices[0].message.tool_calls ?? []) if (next.json.choices[0].finish_reason === 'tool_calls') checkCall(call, ['get_weather', 'add']);
    } finally {
      await templated.close();
    }
  });
}

test('a tool loop: assistant tool_calls and tool results in the history are accepted and rendered', async () => {
  const first = await postJson(chat, { messages, tools: [weatherTool], tool_choice: 'required', max_tokens: 400, seed: 2 });
  const msg = first.json.choices[0].message;
  const second = await postJson(chat, {
    messages: [...messages, msg, ...msg.tool_calls.map((c: any) => ({ role: 'tool', tool_call_id: c.id, content: '{"temp": 21}' }))],
    tools: [weatherTool],
    tool_choice: 'none',
    max_tokens: 6,
    seed: 2,
  });
  assert.equal(second.status, 200, JSON.stringify(second.json));
  assert.equal(second.json.choices[0].message.role, 'assistant');
  // the call and its result are in the prompt (as text the model can read)
  const without = await postJson(chat, { messages, tools: [weatherTool], tool_choice: 'none', max_tokens: 1 });
  assert.ok(second.json.usage.prompt_tokens > without.json.usage.prompt_tokens + 10);
});

test('openai SDK: chat.completions.parse with zodResponseFormat, and runTools with a forced tool', async () => {
  const parsed = await client.chat.completions.parse({ model: 'tiny', messages: [{ role: 'user', content: 'Describe someone.' }], max_tokens: 400, seed: 4, response_format: zodResponseFormat(Person, 'person') });
  const p = parsed.choices[0]!.message.parsed;
  assert.ok(p);
  Person.parse(p);

  const seen: unknown[] = [];
  const runner = client.chat.completions.runTools({
    model: 'tiny',
    messages: [{ role: 'user', content: 'Weather in Tokyo for 3 days?' }],
    max_tokens: 400,
    seed: 8,
    tools: [zodFunction({ name: 'get_weather', parameters: Weather, function: (args: z.infer<typeof Weather>) => (seen.push(args), { temp: 20 }) })],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  await runner.done();
  assert.equal(seen.length, 1);
  Weather.parse(seen[0]);
  const msgs = runner.messages;
  assert.equal(msgs.at(-1)!.role, 'tool');
  assert.ok((msgs.at(-2) as any).tool_calls[0].id.startsWith('call_'));
});

test('hostile schemas and grammars: 400 naming the bad part, bounded time, the server stays healthy', async () => {
  let deep: Record<string, unknown> = { type: 'integer' };
  for (let i = 0; i < 200; i++) deep = { type: 'object', properties: { a: deep }, required: ['a'] };
  const wide = { type: 'object', properties: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`p${i}`, { type: 'string', enum: Array.from({ length: 20 }, (_, j) => `v${i}_${j}`) }])) };
  const rf = (schema: unknown) => ({ type: 'json_schema', json_schema: { name: 'x', schema } });
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a GBNF syntax error', { grammar: 'root ::= ("a" | ' }, 'grammar'],
    ['an undefined rule', { grammar: 'root ::= thing' }, 'grammar'],
    ['left recursion', { grammar: 'root ::= root "a" | "b"' }, 'grammar'],
    ['an explosive repetition', { grammar: 'root ::= ("a"{0,10000}){0,10000}' }, 'grammar'],
    ['a 200-deep schema', { response_format: rf(deep) }, 'response_format'],
    ['a huge schema', { json_schema: wide }, 'json_schema'],
    ['an unsupported keyword', { response_format: rf({ type: 'object', not: { required: ['a'] } }) }, 'response_format'],
    ['a bad $ref', { response_format: rf({ $ref: '#/$defs/missing' }) }, 'response_format'],
    ['a catastrophic pattern', { response_format: rf({ type: 'string', pattern: '^(a+)+$'.repeat(300) }) }, 'response_format'],
    ['a bad tool schema', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } } }], tool_choice: 'required' }, 'tools'],
  ];
  for (const [name, extra, param] of cases) {
    const t0 = performance.now();
    const r = await postJson(chat, { messages, max_tokens: 5, ...extra });
    const ms = performance.now() - t0;
    assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.json).slice(0, 300)}`);
    assert.equal(r.json.error.param, param, name);
    assert.equal(r.json.error.code, 'invalid_grammar', name);
    assert.ok(r.json.error.message.startsWith(`${param}: `), r.json.error.message);
    assert.ok(ms < 5000, `${name} answered in ${ms.toFixed(0)} ms`);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    const ok = await postJson(chat, { messages, max_tokens: 3, seed: 1, response_format: { type: 'json_object' } });
    assert.equal(ok.status, 200, name);
  }
});

test('a tool reply cut off by max_tokens before any call could be read keeps the raw output as content (JSON, SSE and Responses alike)', async () => {
  const body = { messages, tools: [weatherTool], tool_choice: 'required', max_tokens: 3, seed: 5 };
  const r = await postJson(chat, body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const ch = r.json.choices[0];
  assert.equal(ch.finish_reason, 'length');
  assert.equal(ch.message.tool_calls, undefined);
  assert.ok(ch.message.content.startsWith('{'), `the generic format's opening, got ${JSON.stringify(ch.message.content)}`);
  const res = await fetch(chat, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const events = await readSse(res);
  const text = events.flatMap((e) => (e.data && typeof e.data === 'object' ? (e.data.choices ?? []) : [])).map((c: any) => c.delta?.content ?? '').join('');
  assert.equal(text, ch.message.content);
  const resp = await postJson(`${server.url}/v1/responses`, { input: 'What is the weather in Paris?', tools: [{ type: 'function', ...weatherTool.function }], tool_choice: 'required', max_output_tokens: 3, temperature: 0 });
  assert.equal(resp.status, 200, JSON.stringify(resp.json));
  assert.equal(resp.json.status, 'incomplete');
  assert.ok(resp.json.output[0].content[0].text.startsWith('{'));
});
