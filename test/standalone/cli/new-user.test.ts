// What a new user trips over, each fixed and pinned here: negative option values (-n -1), the unknown-flag
// message, model-taking commands without -m, the params column of a small model, -t / -c beyond the machine
// or the model, a folder without a model, a missing perplexity text, tokenize's JSON array fed to logits,
// --backend webgpu without a GPU, and `prepare` on a built checkout (what the first `npx bitnet` runs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONTEXT_OPTIONS, MODEL_OPTIONS, parseCommand, SAMPLING_OPTIONS, UsageError } from '../../../src/cli/args.js';
import { ROOT, runCli } from '../../fixtures/cli.js';
import { mayHaveGpu } from '../../../src/engine/gpu.js';

const SPECS = [...MODEL_OPTIONS, ...CONTEXT_OPTIONS, ...SAMPLING_OPTIONS];

test('negative numbers after an option are its value, as in llama.cpp', () => {
  const { values, positionals } = parseCommand(['-n', '-1', '--seed', '-7', '-t', '2', 'hello', '--', '-n', '-3'], SPECS, 3);
  assert.equal(values['n-predict'], '-1');
  assert.equal(values.seed, '-7');
  assert.equal(values.threads, '2');
  assert.deepEqual(positionals, ['hello', '-n', '-3'], 'after -- everything is positional');
  assert.equal(parseCommand(['--repeat-last-n', '-1'], SPECS, 0).values['repeat-last-n'], '-1');
  assert.equal(parseCommand(['--temp', '-.5'], SPECS, 0).values.temp, '-.5');
});

test('an unknown flag is named in a message with balanced quotes', () => {
  assert.throws(
    () => parseCommand(['--bogus'], SPECS, 0),
    (e) => e instanceof UsageError && e.message.includes('unknown option --bogus') && (e.message.match(/"/g) ?? []).length % 2 === 0 && (e.message.match(/'/g) ?? []).length % 2 === 0,
  );
});

test('bitnet run -n -1 generates until a stop, past the context (or, with --no-context-shift, to its end)', async () => {
  const r = await runCli(['run', '-p', 'Once upon a time', '-n', '-1', '--temp', '0', '-c', '24', '--no-context-shift']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /finish: (stop|length)/);
  // greedy, the bundled model names Tim some 70 tokens in: the context shifts on the way there
  const past = await runCli(['run', '-p', 'Once upon a time', '-n', '-1', '--temp', '0', '-c', '24', '--stop', 'Tim']);
  assert.equal(past.code, 0, past.stderr);
  assert.match(past.stderr, /finish: stop/);
  assert.ok(Number(/generation: (\d+) tokens/.exec(past.stderr)?.[1]) > 24, past.stderr);
});

test('info and bench without -m use the bundled model; bench prints a small model in M parameters', async () => {
  const info = await runCli(['info']);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /bitnet-b1\.58-tinystories-1m\.gguf/);
  const bench = await runCli(['bench', '-p', '8', '-n', '4', '-r', '1']);
  assert.equal(bench.code, 0, bench.stderr);
  assert.match(bench.stdout, /\| 1\.05 M \|/);
  assert.doesNotMatch(bench.stdout, /0\.00 B/);
});

test('-t beyond the CPUs and -c beyond the training context warn once each', async () => {
  const r = await runCli(['run', '-p', 'Once', '-n', '2', '-t', '999', '-c', '100000', '--temp', '0']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.match(/-t 999 is more than the \d+ CPUs here: using \d+ threads/g)?.length, 1, r.stderr);
  assert.equal(r.stderr.match(/context size 100000 is more than the model's training context 256/g)?.length, 1, r.stderr);
});

test('a folder without a model, and a missing perplexity text, are typed errors that say what is wrong', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-new-user-'));
  writeFileSync(join(dir, 'notes.txt'), 'not a model');
  const r = await runCli(['run', '-m', dir, '-p', 'x']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /FILE_NOT_FOUND.*a folder without a model.*config\.json.*safetensors.*\.gguf/);
  const p = await runCli(['perplexity', '-f', join(dir, 'missing.txt')]);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /error \[FILE_NOT_FOUND\]: .*missing\.txt: no such file/);
  assert.doesNotMatch(p.stderr, /ENOENT/);
});

test('logits --tokens takes the JSON array tokenize prints', async () => {
  const tok = await runCli(['tokenize', '-p', 'Once upon']);
  assert.equal(tok.code, 0, tok.stderr);
  const ids = JSON.parse(tok.stdout) as number[];
  const a = await runCli(['logits', '--tokens', tok.stdout.trim(), '--top-k', '2']);
  const b = await runCli(['logits', '--tokens', ids.join(','), '--top-k', '2']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
});

const hasGpuNode = await mayHaveGpu();
test('--backend webgpu on a machine without a GPU is one clear error, without native driver noise', { skip: hasGpuNode ? 'this machine has a GPU device' : false }, async () => {
  const env: Record<string, string> = {};
  const r = await runCli(['run', '--backend', 'webgpu', '-p', 'x', '-n', '1'], { env, dropEnv: ['VK_ICD_FILENAMES'] });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /no GPU/);
});

test('prepare on a built checkout leaves dist/ alone (the first npx bitnet runs it)', (t) => {
  const stamp = join(ROOT, 'dist', '.build-stamp');
  if (!existsSync(stamp)) return t.skip('dist/ was not built by npm run build');
  const main = join(ROOT, 'dist', 'cli', 'main.js');
  const before = [statSync(stamp).mtimeMs, statSync(main).mtimeMs];
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const after = [statSync(stamp).mtimeMs, statSync(main).mtimeMs];
  // sources edited after the last build (a developer's tree) make it rebuild: nothing to check then
  if (after[0] !== before[0]) return t.skip('sources changed since the last build: it rebuilt');
  assert.deepEqual(after, before);
});
