// Hostile and malformed requests over a real socket: each gets the right status and an OpenAI-shaped error
// naming what is wrong, and the server stays healthy and keeps answering correctly afterwards. Also: API
// keys, CORS, 503 while loading and 500 without internals (through the fetch handler, no socket).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp, ServerState } from '../../../src/server/app.js';
import type { RunningServer } from '../../../src/server/serve.js';
import { postJson, serve } from './helpers.js';

let server: RunningServer;
let chat: string;

before(async () => {
  server = await serve({ parallel: 2, contextSize: 128 });
  chat = `${server.url}/v1/chat/completions`;
});

after(async () => {
  await server.close();
});

const ok = { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, seed: 1 };

function assertError(r: { status: number; json: any }, status: number, param?: string | null, message?: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  const e = r.json.error;
  assert.ok(e && typeof e.message === 'string' && 'type' in e && 'param' in e && 'code' in e, `OpenAI error shape: ${JSON.stringify(r.json)}`);
  if (param !== undefined) assert.equal(e.param, param);
  if (message) assert.match(e.message, message);
  assert.doesNotMatch(e.message, /\n\s+at |\.ts:\d+/, 'no stack trace');
}

const cases: Array<[string, () => Promise<{ status: number; json: any }>, number, string | null | undefined, RegExp?]> = [
  ['invalid JSON', () => postJson(chat, '{"messages": [}'), 400, null, /not valid JSON/],
  ['a body that is not an object', () => postJson(chat, '42'), 400, undefined],
  ['messages of the wrong type', () => postJson(chat, { messages: 'hi' }), 400, 'messages'],
  ['max_tokens of the wrong type', () => postJson(chat, { ...ok, max_tokens: 'ten' }), 400, 'max_tokens'],
  ['negative max_tokens', () => postJson(chat, { ...ok, max_tokens: -5 }), 400, 'max_tokens'],
  ['huge max_tokens', () => postJson(chat, { ...ok, max_tokens: 1e15 }), 400, 'max_tokens'],
  ['fractional max_tokens', () => postJson(chat, { ...ok, max_tokens: 2.5 }), 400, 'max_tokens'],
  ['n above 16', () => postJson(chat, { ...ok, n: 17 }), 400, 'n', /<= 16/],
  ['empty messages', () => postJson(chat, { messages: [] }), 400, 'messages', /empty/],
  ['unknown role', () => postJson(chat, { messages: [{ role: 'wizard', content: 'hi' }] }), 400, 'messages.0.role'],
  ['image content', () => postJson(chat, { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 400, 'messages.0.content.0.type', /"image_url" content is not supported/],
  ['temperature out of range', () => postJson(chat, { ...ok, temperature: 9 }), 400, 'temperature'],
  ['thousands of stop strings', () => postJson(chat, { ...ok, stop: Array.from({ length: 5000 }, (_, i) => `s${i}`) }), 400, 'stop'],
  ['unknown model', () => postJson(chat, { ...ok, model: 'gpt-7' }), 404, 'model', /gpt-7/],
  ['10 MB body', () => postJson(chat, JSON.stringify({ ...ok, pad: 'x'.repeat(10 * 1024 * 1024) })), 413, null],
  // refused on its size, before it is tokenized (input.ts)
  ['1 MB prompt', () => postJson(chat, { messages: [{ role: 'user', content: 'Lily '.repeat(200_000) }] }), 400, 'messages', /more than the context of 128 tokens can hold/],
  ['invalid UTF-8', () => postJson(chat, new Uint8Array([...new TextEncoder().encode('{"messages":[{"role":"user","content":"'), 0xff, 0xfe, ...new TextEncoder().encode('"}]}')])), 400, null, /UTF-8/],
  ['an out-of-range token id prompt', () => postJson(`${server.url}/v1/completions`, { prompt: [1, 2, 999999], max_tokens: 2 }), 400, 'tokens'],
  ['an unknown route', () => postJson(`${server.url}/v1/nothing`, { input: 'x' }), 404, null],
];

for (const [name, send, status, param, message] of cases) {
  test(`${name} -> ${status}, and the server is still healthy`, async () => {
    assertError(await send(), status, param, message);
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    const r = await postJson(chat, ok);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.usage.completion_tokens, 3);
  });
}

test('max_tokens beyond the context ends with finish_reason length at the end of the context', async () => {
  const r = await postJson(`${server.url}/v1/completions`, { prompt: 'Once', max_tokens: 100000, seed: 1, ignore_eos: true });
  assert.equal(r.status, 200);
  assert.equal(r.json.choices[0].finish_reason, 'length');
  // prompt + generated fill the context exactly, never more (issue 18: 14 + 243 with -c 256)
  assert.equal(r.json.usage.prompt_tokens + r.json.usage.completion_tokens, 128);
});

test('tokenize and detokenize round-trip; bad ids are refused', async () => {
  const t = await postJson(`${server.url}/tokenize`, { content: 'Once upon a time' });
  assert.equal(t.status, 200);
  assert.ok(t.json.tokens.length > 0);
  const d = await postJson(`${server.url}/detokenize`, { tokens: t.json.tokens });
  assert.equal(d.json.content, 'Once upon a time');
  const p = await postJson(`${server.url}/tokenize`, { content: 'Once', with_pieces: true, add_special: true });
  assert.equal(p.json.tokens[0].piece, '<|begin_of_text|>');
  assertError(await postJson(`${server.url}/detokenize`, { tokens: [1e9] }), 400, 'tokens');
});

test('an API key guards everything but /health', async () => {
  const guarded = await serve({ parallel: 1, apiKey: 'sekrit', corsOrigins: ['http://example.com'] });
  try {
    assert.equal((await fetch(`${guarded.url}/health`)).status, 200);
    assertError(await postJson(`${guarded.url}/v1/chat/completions`, ok), 401, null, /missing API key/);
    assertError(await postJson(`${guarded.url}/v1/chat/completions`, ok, { authorization: 'Bearer wrong' }), 401, null, /invalid API key/);
    assert.equal((await fetch(`${guarded.url}/v1/models`)).status, 401);
    const r = await postJson(`${guarded.url}/v1/chat/completions`, ok, { authorization: 'Bearer sekrit' });
    assert.equal(r.status, 200);
    // CORS preflight from a browser needs no key (example.com is allowed by corsOrigins here)
    const pre = await fetch(`${guarded.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.ok(pre.status === 204 || pre.status === 200);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://example.com');
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/i);
  } finally {
    await guarded.close();
  }
});

test('while loading: /health and completions answer 503 in OpenAI shape', async () => {
  const state = new ServerState();
  const app = createApp(state, { modelId: 'm' });
  const h = await app.request('/health');
  assert.equal(h.status, 503);
  assert.match(((await h.json()) as any).error.message, /Loading model/);
  const c = await app.request('/v1/chat/completions', { method: 'POST', body: JSON.stringify(ok) });
  assert.equal(c.status, 503);
  assert.equal(((await c.json()) as any).error.code, 'model_loading');
});

test('an internal failure is a 500 without its message or stack', async () => {
  const model = await server.ready;
  const state = new ServerState();
  state.model = model;
  state.scheduler = {
    submit() {
      throw new Error('secret detail at /home/user/src/x.ts:12');
    },
    stats: () => server.state.scheduler!.stats(),
  } as unknown as NonNullable<ServerState['scheduler']>;
  const app = createApp(state, { modelId: 'm' });
  const origError = console.error;
  console.error = () => {};
  try {
    const r = await app.request('/v1/chat/completions', { method: 'POST', body: JSON.stringify(ok) });
    assert.equal(r.status, 500);
    const body = (await r.json()) as any;
    assert.equal(body.error.type, 'server_error');
    assert.doesNotMatch(JSON.stringify(body), /secret|x\.ts/);
  } finally {
    console.error = origError;
  }
});
