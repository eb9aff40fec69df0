// Load behaviour of the server: a full queue answers 429 with Retry-After; a client that disconnects
// mid-stream frees its slot within a token, one waiting for a JSON reply is logged and counted as 499; SSE
// pings keep a waiting stream alive; /metrics counts what happened; SIGTERM on `bitnet serve` finishes the
// in-flight stream and exits 0.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureModel, postJson, readSse, serve } from './helpers.js';
import { startServe } from '../../fixtures/cli.js';

const long = (i: number) => ({ prompt: `Once upon a time ${i}`, max_tokens: 400, seed: i, ignore_eos: true, stream: true });

test('--max-queue 2 on one slot: the overflow gets 429 with Retry-After, the rest are served', async () => {
  const server = await serve({ parallel: 1, maxQueue: 2 });
  try {
    const url = `${server.url}/v1/completions`;
    const results = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const res = await fetch(url, { method: 'POST', body: JSON.stringify({ ...long(i), max_tokens: 20 }) });
        if (res.status !== 200) return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
        const events = await readSse(res);
        return { status: 200, done: events.at(-1)?.data === '[DONE]' };
      }),
    );
    const refused = results.filter((r) => r.status === 429);
    assert.equal(refused.length, 3, JSON.stringify(results));
    for (const r of refused) {
      assert.ok(Number(r.retryAfter) >= 1, 'Retry-After in seconds');
      assert.equal(r.body.error.type, 'rate_limit_error');
    }
    assert.ok(results.filter((r) => r.status === 200).every((r) => r.done));
    const h = (await (await fetch(`${server.url}/health`)).json()) as any;
    assert.equal(h.slots_processing, 0);
  } finally {
    await server.close();
  }
});

test('a client that disconnects mid-stream frees its slot; the next request is served', async () => {
  const server = await serve({ parallel: 1, metrics: true });
  try {
    const ctrl = new AbortController();
    const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', body: JSON.stringify(long(1)), signal: ctrl.signal });
    const reader = res.body!.getReader();
    let chunks = 0;
    while (chunks < 3) {
      const { value } = await reader.read();
      chunks += (new TextDecoder().decode(value).match(/^data: /gm) ?? []).length;
    }
    ctrl.abort();
    await reader.cancel().catch(() => {});
    const sched = server.state.scheduler!;
    await sched.idle();
    const s = sched.stats();
    assert.equal(s.requestsCancelled, 1);
    assert.equal(s.busySlots, 0);
    assert.ok(s.generatedTokens < 40, `stopped soon after the disconnect (${s.generatedTokens} tokens of 400)`);
    const next = await postJson(`${server.url}/v1/completions`, { prompt: 'Hello', max_tokens: 4, seed: 2 });
    assert.equal(next.status, 200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^bitnet_requests_total\{outcome="cancelled"\} 1$/m);
    assert.match(metrics, /^bitnet_requests_total\{outcome="finished"\} 1$/m);
    assert.match(metrics, /^bitnet_queue_depth 0$/m);
    assert.match(metrics, /^bitnet_http_requests_total\{route="\/v1\/completions",status="200"\} 2$/m);
    assert.match(metrics, /^# TYPE bitnet_tokens_per_second gauge$/m);
  } finally {
    await server.close();
  }
});

test('a non-streamed request whose client disconnects is logged and counted as 499, not 503', async () => {
  const lines: string[] = [];
  const server = await serve({ parallel: 1, metrics: true, log: (l) => lines.push(l) });
  try {
    const ctrl = new AbortController();
    const sched = server.state.scheduler!;
    const gone = fetch(`${server.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 400, ignore_eos: true }), signal: ctrl.signal });
    gone.catch(() => {});
    while (sched.stats().generatedTokens < 3) await new Promise((r) => setTimeout(r, 5));
    ctrl.abort();
    await sched.idle();
    // the handler answers (to nobody) once the generation has stopped
    for (let i = 0; i < 100 && !lines.some((l) => / 499 /.test(l)); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(lines.some((l) => /the client disconnected before the reply \(499\)/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^POST \/v1\/chat\/completions 499 /.test(l)), lines.join('\n'));
    assert.ok(sched.stats().generatedTokens < 40);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^bitnet_http_requests_total\{route="\/v1\/chat\/completions",status="499"\} 1$/m);
    assert.doesNotMatch(metrics, /status="503"/);
  } finally {
    await server.close();
  }
});

test('a stream waiting for its first token gets SSE pings', async () => {
  const server = await serve({ parallel: 1, pingIntervalMs: 10 });
  try {
    const url = `${server.url}/v1/completions`;
    const first = fetch(url, { method: 'POST', body: JSON.stringify({ ...long(1), max_tokens: 150 }) }).then(readSse);
    const second = await fetch(url, { method: 'POST', body: JSON.stringify({ ...long(2), max_tokens: 3 }) });
    const events = await readSse(second);
    const firstData = events.findIndex((e) => e.data !== undefined);
    assert.ok(events.slice(0, firstData).some((e) => e.comment === 'ping'), 'a ping before the first token');
    assert.equal(events.at(-1)?.data, '[DONE]');
    await first;
  } finally {
    await server.close();
  }
});

test('bitnet serve: SIGTERM lets the in-flight stream finish and exits 0', async () => {
  const model = await fixtureModel();
  const { child, url, exited, stderr } = await startServe(['-m', model, '--port', '0', '--parallel', '2', '-t', '1']);
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ ...long(1), max_tokens: 300 }) });
  const reader = res.body!.getReader();
  await reader.read(); // streaming has begun
  child.kill('SIGTERM');
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.match(text, /"finish_reason":"length"/, 'the stream finished normally');
  assert.match(text, /data: \[DONE\]/);
  assert.equal(await exited, 0, stderr());
  assert.match(stderr(), /SIGTERM: finishing in-flight requests/);
  // after shutdown nothing listens
  await assert.rejects(fetch(`${url}/health`));
});
