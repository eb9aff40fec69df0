// Load benchmark of `bitnet serve` (not a test): the CLI server in its own process, 1, 4 and 16 concurrent
// streaming clients on loopback; prints requests/s, time to first token (p50/p99) and generated tokens/s.
// Run: `npm run bench:server [-- --model PATH|synthetic:2b4t --parallel 4 --clients 1,4,16 --max-tokens 32
//   --prompt-words 24 --requests 2 --threads N]` (--requests: per client; prompts are TinyStories lines;
//   --parallel 1,4 runs one server per value, side by side)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveSyntheticModel } from '../src/engine/bench.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'synthetic:2b4t' },
    parallel: { type: 'string', default: '4' },
    clients: { type: 'string', default: '1,4,16' },
    'max-tokens': { type: 'string', default: '32' },
    'prompt-words': { type: 'string', default: '24' },
    requests: { type: 'string', default: '2' },
    threads: { type: 'string' },
  },
});
const model = values.model!.startsWith('synthetic:') ? await resolveSyntheticModel(values.model!, (d, t) => process.stderr.write(`\rwriting synthetic model ${((100 * d) / t).toFixed(0)}%`)) : values.model!;
const maxTokens = Number(values['max-tokens']);
const perClient = Number(values.requests);
const lines = readFileSync(new URL('../../shared/data/tinystories/tinystories_sample_3000.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.split(' ').length > Number(values['prompt-words']));
const promptFor = (i: number): string => lines[(i * 37) % lines.length]!.split(' ').slice(0, Number(values['prompt-words'])).join(' ');

interface Result {
  ttftMs: number;
  totalMs: number;
  tokens: number;
  promptTokens: number;
}

async function request(i: number): Promise<Result> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    body: JSON.stringify({ prompt: promptFor(i), max_tokens: maxTokens, seed: i, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let ttft = -1;
  let buf = '';
  let tokens = 0;
  let promptTokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6)) as { choices: Array<{ text: string }>; usage?: { completion_tokens: number; prompt_tokens: number } };
      if (ttft < 0 && j.choices.length) ttft = performance.now() - t0; // the server sends one event per token
      if (j.usage) {
        tokens = j.usage.completion_tokens;
        promptTokens = j.usage.prompt_tokens;
      }
    }
  }
  return { ttftMs: ttft, totalMs: performance.now() - t0, tokens, promptTokens };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

// ---- the server, as users run it ----
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
let base = '';

async function startServer(parallel: number): Promise<ChildProcess> {
  const args = ['--import', 'tsx', main, 'serve', '-m', model, '--port', '0', '--parallel', String(parallel), '--max-queue', '1024', '--ctx-size', '4096', '--no-progress'];
  if (process.env.BENCH_VERBOSE) args.push('--log-requests');
  if (values.threads) args.push('-t', values.threads);
  const server = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  base = await new Promise<string>((resolve, reject) => {
    server.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      const m = /ready at (http:\/\/\S+)\/v1/.exec(log);
      if (m) resolve(m[1]!);
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[server] ${d.toString()}`);
    });
    server.on('exit', (code) => reject(new Error(`server exited (${code}): ${log}`)));
  });
  return server;
}

const rows: string[] = [];
let next = 1;
let totalPromptTokens = 0;
let requests = 0;
for (const parallel of values.parallel!.split(',').map(Number)) {
  const server = await startServer(parallel);
  process.stderr.write(`server ready (${model}, --parallel ${parallel}); warming up\n`);
  await request(0);
  for (const clients of values.clients!.split(',').map(Number)) {
    const results: Result[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let r = 0; r < perClient; r++) results.push(await request(next++));
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    totalPromptTokens += results.reduce((a, r) => a + r.promptTokens, 0);
    requests += results.length;
    const tokens = results.reduce((a, r) => a + r.tokens, 0);
    const ttft = results.map((r) => r.ttftMs / 1000);
    const row = `| ${clients} | ${parallel} | ${results.length} | ${(results.length / wall).toFixed(2)} | ${pct(ttft, 50).toFixed(2)} | ${pct(ttft, 99).toFixed(2)} | ${(tokens / wall).toFixed(1)} | ${(tokens / wall / clients).toFixed(1)} |`;
    rows.push(row);
    process.stderr.write(`${row}\n`);
  }
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
}
process.stdout.write(
  [
    `model ${values.model}, ${values['prompt-words']}-word prompts (${(totalPromptTokens / requests).toFixed(0)} tokens on average), ${maxTokens} generated tokens each, ${perClient} requests per client, ${values.threads ? `${values.threads} threads` : `${cpus().length} CPUs`}`,
    '',
    '| clients | slots | requests | requests/s | TTFT p50 (s) | TTFT p99 (s) | generated tokens/s | tokens/s per client |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n'),
);
