// The field table over HTTP: every refused field (and refused value) gets a 400 naming it; accepted-and-
// ignored ones do not change the output; non-text content, hosted tools and stored items are refused by
// position; validation messages name the field and what is allowed; max_tokens 0 without echo is refused;
// CORS preflights get back the headers they ask for; the README's table is the one in code.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { FIELDS, fieldTableMarkdown } from '../../../src/server/fields.js';
import type { RunningServer } from '../../../src/server/serve.js';
import { postJson, serve } from './helpers.js';

let server: RunningServer;

before(async () => {
  server = await serve({ parallel: 2 });
});

after(async () => {
  await server.close();
});

const chatOk = { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, seed: 1, temperature: 0 };
const textOk = { prompt: 'Once', max_tokens: 3, seed: 1, temperature: 0 };
const respOk = { input: 'Hello', max_output_tokens: 3, temperature: 0 };
const BODIES: Record<string, Record<string, unknown>> = { chat: chatOk, completions: textOk, responses: respOk, embeddings: { input: 'Hello' } };
const PATHS: Record<string, string> = { chat: '/v1/chat/completions', completions: '/v1/completions', responses: '/v1/responses', embeddings: '/v1/embeddings' };

function assertRefused(r: { status: number; json: any }, param: string, message?: RegExp): void {
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.equal(r.json.error.type, 'invalid_request_error');
  assert.equal(r.json.error.param, param, JSON.stringify(r.json));
  assert.ok(r.json.error.message.startsWith(`${param}: `), r.json.error.message);
  assert.doesNotMatch(r.json.error.message, /Invalid input/);
  if (message) assert.match(r.json.error.message, message);
}

/** A value each refused field cannot have. */
const REFUSED_VALUES: Record<string, unknown> = {
  store: true,
  service_tier: 'flex',
  modalities: ['text', 'audio'],
  best_of: 3,
  suffix: 'the end',
  truncation: 'auto',
  include: ['message.output_text.logprobs'],
  background: true,
  previous_response_id: 'resp_123',
  conversation: 'conv_1',
  prompt: { id: 'pmpt_1' },
  reasoning: { effort: 'low' },
  reasoning_effort: 'low',
  verbosity: 'low',
  max_tool_calls: 2,
  top_logprobs: 3,
  audio: { voice: 'alloy', format: 'mp3' },
  prediction: { type: 'content', content: 'x' },
  web_search_options: {},
  functions: [{ name: 'f', parameters: {} }],
  function_call: 'auto',
};

test('every refused field (and refused value) is refused by name, per endpoint', async () => {
  let checked = 0;
  for (const rule of FIELDS) {
    if (rule.status !== 'refused' && !rule.refuse) continue;
    assert.ok(rule.name in REFUSED_VALUES, `a refused value for ${rule.name}`);
    for (const ep of rule.endpoints) {
      const r = await postJson(`${server.url}${PATHS[ep]}`, { ...BODIES[ep], [rule.name]: REFUSED_VALUES[rule.name] });
      assertRefused(r, rule.name);
      assert.equal(r.json.error.code, 'unsupported_field');
      checked++;
    }
  }
  assert.ok(checked >= 20, `${checked} refusals checked`);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});

test('accepted values of partly refused fields, and ignored fields, leave the output as it was', async () => {
  const plain = await postJson(`${server.url}/v1/chat/completions`, chatOk);
  const extras = { store: false, service_tier: 'auto', modalities: ['text'], user: 'u1', safety_identifier: 's', metadata: { a: 'b' }, prompt_cache_key: 'k', stream_options: null };
  const withExtras = await postJson(`${server.url}/v1/chat/completions`, { ...chatOk, ...extras });
  assert.equal(withExtras.status, 200, JSON.stringify(withExtras.json));
  assert.equal(withExtras.json.choices[0].message.content, plain.json.choices[0].message.content);
  const text = await postJson(`${server.url}/v1/completions`, { ...textOk, best_of: 1, suffix: '', user: 'u' });
  assert.equal(text.status, 200, JSON.stringify(text.json));
  const resp = await postJson(`${server.url}/v1/responses`, { ...respOk, store: false, truncation: 'disabled', include: [], background: false });
  assert.equal(resp.status, 200, JSON.stringify(resp.json));
});

test('non-text content, hosted tools, stored items and deprecated roles are refused by position', async () => {
  const chat = `${server.url}/v1/chat/completions`;
  for (const [type, part] of [
    ['image_url', { type: 'image_url', image_url: { url: 'https://x/y.png' } }],
    ['input_audio', { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }],
    ['file', { type: 'file', file: { file_id: 'f' } }],
  ] as const) {
    const r = await postJson(chat, { messages: [{ role: 'system', content: 'x' }, { role: 'user', content: [{ type: 'text', text: 'look' }, part] }] });
    assertRefused(r, 'messages.1.content.1.type', new RegExp(`"${type}" content is not supported`));
  }
  assertRefused(await postJson(chat, { messages: [{ role: 'function', name: 'f', content: 'x' }] }), 'messages.0.role', /use "tool"/);
  assertRefused(await postJson(chat, { ...chatOk, tools: [{ type: 'custom', custom: { name: 'x' } }] }), 'tools.0.type', /"custom" tools/);
  const resp = `${server.url}/v1/responses`;
  assertRefused(await postJson(resp, { ...respOk, tools: [{ type: 'web_search' }] }), 'tools.0.type', /"web_search" tools/);
  assertRefused(await postJson(resp, { ...respOk, input: [{ role: 'user', content: 'hi' }, { type: 'reasoning', id: 'rs_1', summary: [] }] }), 'input.1.type', /"reasoning" items/);
  assertRefused(await postJson(resp, { ...respOk, input: [{ type: 'item_reference', id: 'msg_unknown' }] }), 'input.0.id', /only the output items/);
  assertRefused(await postJson(resp, { ...respOk, input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }), 'input.0.content.0.type', /"input_image"/);
});

test('validation errors name the field and what is allowed there', async () => {
  const chat = `${server.url}/v1/chat/completions`;
  const cases: Array<[unknown, string, RegExp]> = [
    [{ ...chatOk, temperature: 'hot' }, 'temperature', /must be a number, got "hot"/],
    [{ ...chatOk, top_logprobs: 21, logprobs: true }, 'top_logprobs', /<= 20/],
    [{ ...chatOk, top_logprobs: 2 }, 'top_logprobs', /needs logprobs: true/],
    [{ ...chatOk, tool_choice: 'sometimes', tools: [{ type: 'function', function: { name: 'f' } }] }, 'tool_choice', /"auto", "none", "required"/],
    [{ ...chatOk, tool_choice: 'required' }, 'tool_choice', /needs tools/],
    [{ ...chatOk, tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools.0.function.name', /letters, digits/],
    [{ ...chatOk, response_format: { type: 'yaml' } }, 'response_format.type', /"text", "json_object" or "json_schema"/],
    [{ ...chatOk, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: 'nope' } } }, 'response_format.json_schema.schema', /JSON Schema/],
    [{ ...chatOk, logit_bias: { abc: 1 } }, 'logit_bias.abc', /token ids/],
    [{ ...chatOk, logit_bias: { 5: 300 } }, 'logit_bias.5', /<= 100/],
    [{ ...chatOk, logit_bias: { 999999: 1 } }, 'logit_bias', /out of range/],
    [{ ...chatOk, max_tokens: 0 }, 'max_tokens', />= 1/],
    [{ messages: [{ role: 'user', content: 5 }] }, 'messages.0.content', /a string or a list of text parts/],
    [{ messages: [{ role: 'tool', content: 'r' }] }, 'messages.0.tool_call_id', /required on tool messages/],
    [{ ...chatOk, stop: 7 }, 'stop', /a string or a list/],
    [{ ...chatOk, grammar: 'root ::= "a"', json_schema: { type: 'object' } }, 'json_schema', /cannot be combined with grammar/],
  ];
  for (const [body, param, message] of cases) assertRefused(await postJson(chat, body), param, message);
  assertRefused(await postJson(`${server.url}/v1/completions`, { prompt: 'x', max_tokens: 0 }), 'max_tokens', /only with echo/);
  assertRefused(await postJson(`${server.url}/v1/completions`, { prompt: { text: 'x' } }), 'prompt', /a string, a list of strings/);
  assertRefused(await postJson(`${server.url}/v1/responses`, { input: 42 }), 'input', /a string or a list of items/);
  assertRefused(await postJson(`${server.url}/v1/embeddings`, { input: 'x', dimensions: 3 }), 'dimensions', /embedding size/);
  assertRefused(await postJson(`${server.url}/v1/embeddings`, { input: '' }), 'input', /must not be empty/);
});

test('CORS preflight allows the headers the request asks for (X-Stainless-* from the openai SDK)', async () => {
  const asked = 'authorization,content-type,x-stainless-os,x-stainless-lang,x-stainless-package-version,x-stainless-retry-count,x-stainless-timeout';
  for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/embeddings']) {
    const pre = await fetch(`${server.url}${path}`, { method: 'OPTIONS', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': asked } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:3000'); // a loopback page (origin.ts)
    const allowed = new Set((pre.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase()));
    for (const h of asked.split(',')) assert.ok(allowed.has(h), `${h} allowed (${[...allowed].join(',')})`);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  }
});

test("the README's server section has the field table as the code has it", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(fieldTableMarkdown()), 'README.md holds fieldTableMarkdown() verbatim (regenerate it from src/server/fields.ts)');
});
