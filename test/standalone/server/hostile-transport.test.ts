// Hostile and broken clients at the transport (issue 19), on loopback with raw sockets, against a server in
// a child process (hostile-server.ts) so that its memory is its own. Each attack is bounded in count and
// time; after each, /health and a normal chat answer within 2 s, no generation handler is left running,
// and the server's RSS (after a full GC) is within 10% of what it was before the attack. Last, `bitnet
// serve` hit by the pipelined-reset attack exits promptly on SIGTERM.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServe } from '../../fixtures/cli.js';
import { fixtureModel } from './helpers.js';

interface Sample {
  rss: number;
  live: number;
  connections: number;
  cutOff: number;
  busy: number;
  queued: number;
}

const MAX_CONNECTIONS = 16;
const serverOptions = {
  parallel: 4,
  maxQueue: 64,
  metrics: true,
  pooling: 'none',
  pingIntervalMs: 200,
  maxConnections: MAX_CONNECTIONS,
  writeTimeoutMs: 1000,
  maxUnsentBytes: 1 << 20,
  headersTimeoutMs: 1000,
  requestTimeoutMs: 2000,
};

let child: ChildProcess;
let base: string;
let port: number;
const replies: Array<(m: any) => void> = [];
const next = (): Promise<any> => new Promise((resolve) => replies.push(resolve));
const sample = (): Promise<Sample> => {
  const p = next();
  child.send('mem');
  return p;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  await fixtureModel();
  // a fixed-size young generation, as in soak.test.ts: RSS should measure what the server retains
  const execArgv = ['--import', 'tsx', '--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];
  // glibc keeps freed native memory in per-thread arenas without returning it (on Node 24, +20-50 MB of RSS
  // after an attack with the JS heap, external and array buffers all back where they were): two arenas and a
  // low trim threshold make RSS show what the server retains rather than what the allocator caches
  child = fork(fileURLToPath(new URL('./hostile-server.ts', import.meta.url)), [JSON.stringify(serverOptions)], { execArgv, stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' } });
  child.on('message', (m) => replies.shift()?.(m));
  base = ((await next()) as { url: string }).url;
  port = Number(new URL(base).port);
  for (let i = 0; i < 3; i++) await normalChat(); // warm-up
});

after(async () => {
  const exited = new Promise((r) => child.on('exit', r));
  child.send('close');
  await exited;
});

const chatBody = (extra: object = {}) => JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, seed: 1, ...extra });
const post = (path: string, body: string, headers = '') =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`;

async function normalChat(): Promise<void> {
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody(), signal: AbortSignal.timeout(2000) });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as any).usage.completion_tokens, 3);
}

async function open(): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  return s;
}

/** Sends `data` on a new connection and reads until the server closes it (or `ms` pass). */
async function exchange(data: string | Buffer, ms = 3000): Promise<string> {
  const s = await open();
  let got = '';
  s.on('data', (d) => (got += d.toString('latin1')));
  s.write(data);
  await Promise.race([new Promise((r) => s.once('close', r)), sleep(ms)]);
  s.destroy();
  return got;
}

/** /health and a chat within 2 s, no live handler within 2 s, RSS within 10% of `before`. */
async function assertRecovered(before: Sample): Promise<Sample> {
  const h = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) });
  assert.equal(h.status, 200);
  await normalChat();
  let s = await sample();
  for (let i = 0; i < 40 && (s.live > 0 || s.busy > 0 || s.queued > 0); i++) s = ((await sleep(50)), await sample());
  assert.equal(s.live, 0, 'no generation handler left running');
  assert.equal(s.busy + s.queued, 0, 'no slot or queue entry left');
  assert.ok(s.rss <= before.rss * 1.1, `RSS ${(s.rss / 1e6).toFixed(1)} MB after vs ${(before.rss / 1e6).toFixed(1)} MB before`);
  return s;
}

test('pipelined streaming requests, never read, then a reset (3 times): every stream ends with the connection', async () => {
  const before = await sample();
  // chat completion streams and Responses event streams, alternating
  const chat = post('/v1/chat/completions', chatBody({ max_tokens: 60, stream: true }));
  const responses = post('/v1/responses', JSON.stringify({ input: 'Hello', max_output_tokens: 60, stream: true }));
  for (let rep = 0; rep < 3; rep++) {
    const s = await open();
    s.pause();
    s.write((chat + responses).repeat(50));
    // until the server has taken requests in (some streaming, some queued behind them)
    for (let i = 0; i < 100 && (await sample()).live < 8; i++) await sleep(20);
    assert.ok((await sample()).live >= 8);
    s.resetAndDestroy();
    await sleep(100);
  }
  await assertRecovered(before);
});

test('a client that never reads a 30 MB JSON answer is cut off within seconds', async () => {
  const before = await sample();
  const s = await open();
  s.pause();
  // /embeddings with pooling none: one 256-float vector per token, ~5 KB of JSON each
  const input = Array.from({ length: 32 }, (_, i) => Array.from({ length: 200 }, (_, j) => 10 + ((i * 7 + j) % 300)));
  s.write(post('/embeddings', JSON.stringify({ input })));
  let cut = before.cutOff;
  for (let i = 0; i < 150 && cut === before.cutOff; i++) cut = ((await sleep(50)), (await sample()).cutOff);
  assert.equal(cut, before.cutOff + 1, 'cut off');
  // the connection is closed, with only part of the answer sent
  let got = 0;
  s.on('data', (d: Buffer) => (got += d.length));
  s.resume();
  const closed = await Promise.race([new Promise((r) => s.once('close', () => r(true))), sleep(3000).then(() => false)]);
  s.destroy();
  assert.ok(closed, 'closed by the server');
  assert.ok(got < 20e6, `${got} bytes reached the client`);
  await assertRecovered(before);
});

test('a client that stops reading its stream is cut off, and its handler ends', async () => {
  // two pipelined streams of ~6 MB each (16 choices with 20 logprobs per token), more than loopback buffers
  // take (~4 MB with Linux's default tcp_wmem); read once first, so that the memory 16 choices take the
  // first time counts as the level before
  const body = chatBody({ max_tokens: 250, n: 16, logprobs: true, top_logprobs: 20, ignore_eos: true, stream: true });
  await (await fetch(`${base}/v1/chat/completions`, { method: 'POST', body })).text();
  const before = await sample();
  const s = await open();
  s.pause();
  s.write(post('/v1/chat/completions', body).repeat(2));
  let cut = before.cutOff;
  for (let i = 0; i < 300 && cut === before.cutOff; i++) cut = ((await sleep(50)), (await sample()).cutOff);
  assert.equal(cut, before.cutOff + 1, 'cut off');
  // what reaches the client is the part the kernel had taken: the stream never ends properly
  let got = '';
  s.on('data', (d) => (got += d.toString()));
  s.resume();
  await Promise.race([new Promise((r) => s.once('close', r)), sleep(3000)]);
  s.destroy();
  assert.ok(got.length > 0);
  assert.doesNotMatch(got, /data: \[DONE\]/);
  await assertRecovered(before);
});

test(`connections beyond --max-connections ${MAX_CONNECTIONS}: idle ones are evicted, busy ones leave room for /health only`, async () => {
  const before = await sample();
  // 40 idle connections: each new one past the cap evicts the oldest idle one; a normal chat still gets in
  const idle = await Promise.all(Array.from({ length: 40 }, open));
  await sleep(100);
  assert.ok((await sample()).connections <= MAX_CONNECTIONS);
  await normalChat();
  for (const s of idle) s.destroy();
  await sleep(100);
  // 16 busy connections (a body trickled: headers sent, 10 of 100 body bytes)
  const busy = await Promise.all(
    Array.from({ length: MAX_CONNECTIONS }, async () => {
      const s = await open();
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"messages"`);
      return s;
    }),
  );
  await sleep(150);
  assert.equal((await sample()).connections, MAX_CONNECTIONS);
  // in the reserve: /health is answered, anything else is a 503
  const health = await exchange('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  assert.match(health, /^HTTP\/1\.1 200 /);
  const refused = await exchange(post('/v1/chat/completions', chatBody()));
  assert.match(refused, /^HTTP\/1\.1 503 /);
  assert.match(refused, /too_many_connections/);
  // the trickled bodies time out (--timeout-request 2 s): the server closes them with a 408
  const closed = await Promise.all(busy.map((s) => new Promise<string>((resolve) => {
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.once('close', () => resolve(got));
  })));
  assert.ok(closed.every((g) => /^HTTP\/1\.1 408 /.test(g)), closed[0]);
  await assertRecovered(before);
});

test('an upload aborted mid-body is a 499 and a malformed chunked body a 400, never a 500', async () => {
  const before = await sample();
  // responses by status, over all routes (a body the body limit fails to read is counted before routing)
  const counts = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const sum = (status: number) => text.split('\n').filter((l) => l.startsWith('bitnet_http_requests_total{') && l.includes(`status="${status}"`)).reduce((a, l) => a + Number(l.split(' ')[1]), 0);
    return { 400: sum(400), 499: sum(499), 500: sum(500) };
  };
  const was = await counts();
  const s = await open();
  s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"messages": [`);
  await sleep(100);
  s.destroy();
  const chunked = await exchange(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mes\r\nzz\r\nxx\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 400 /);
  await sleep(200);
  assert.deepEqual(await counts(), { 400: was[400] + 1, 499: was[499] + 1, 500: 0 });
  await assertRecovered(before);
});

test('a duplicate Host header and an HTTP/2.0 request line are refused with 400', async () => {
  const before = await sample();
  const dup = await exchange('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n');
  assert.match(dup, /^HTTP\/1\.1 400 /);
  assert.match(dup, /more than one Host header/);
  const h2 = await exchange('GET /health HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n');
  assert.match(h2, /^HTTP\/1\.1 400 /);
  await assertRecovered(before);
});

test('bitnet serve after the pipelined-reset attack: SIGTERM exits within the grace period', async () => {
  const model = await fixtureModel();
  const { child: cli, url, exited, stderr } = await startServe(['-m', model, '--port', '0', '--parallel', '2', '-t', '1', '--shutdown-grace', '2', '--max-connections', '32', '--timeout-write', '5']);
  const p = Number(new URL(url).port);
  const req = post('/v1/chat/completions', chatBody({ max_tokens: 200, stream: true, ignore_eos: true }));
  for (let rep = 0; rep < 2; rep++) {
    const s = connect(p, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.pause();
    s.write(req.repeat(100));
    await sleep(500);
    s.resetAndDestroy();
  }
  const t0 = performance.now();
  cli.kill('SIGTERM');
  const timeout = sleep(5000).then(() => 'still running');
  const code = await Promise.race([exited, timeout]);
  if (code === 'still running') cli.kill('SIGKILL');
  assert.equal(code, 0, stderr());
  assert.ok(performance.now() - t0 < 3000, `exited ${(performance.now() - t0).toFixed(0)} ms after SIGTERM (grace 2 s)`);
});
