// The `bitnet` CLI run as a child process (through tsx, no build) on a tiny fixture model: help and usage
// errors, text on stdout and logs/timings on stderr, exit codes, env twins, prompt sources, and the output of
// run / info / tokenize / logits / chat checked against the library API.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type CliOptions, type CliResult } from '../../fixtures/cli.js';
import { inspectModel, loadModel, loadTokenizer, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';

const PROMPT = 'Once upon a time';
let dir: string;
let modelPath: string;
let model: BitnetModel;

/** Runs `bitnet ARGS` (20 s limit). */
const cli = (args: string[], opts: CliOptions = {}): Promise<CliResult> => runCli(args, { timeoutMs: 20_000, ...opts });

const noStackTrace = (stderr: string): void => assert.ok(!/^\s+at /m.test(stderr), `stack trace on stderr:\n${stderr}`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-cli-'));
  modelPath = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), modelPath, { weights: 'I2_S', embedding: 'F16' });
  model = await loadModel(modelPath);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bitnet CLI', { concurrency: 2 }, () => {
  test('--help and COMMAND --help print usage on stdout and exit 0', async () => {
    const top = await cli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^usage: bitnet COMMAND/);
    for (const c of ['run', 'chat', 'info', 'tokenize', 'logits', 'bench']) assert.match(top.stdout, new RegExp(`^  ${c} `, 'm'));
    assert.equal(top.stderr, '');

    const run = await cli(['run', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^usage: bitnet run/);
    for (const flag of ['--n-predict', '--seed', '--temp', '--top-k', '--model', 'BITNET_MODEL', 'BITNET_TEMP']) assert.ok(run.stdout.includes(flag), flag);
    assert.equal(run.stderr, '');

  });

  test('an unknown command or flag exits 2 with the reason on stderr', async () => {
    const r = await cli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes('unknown command "frobnicate"'), r.stderr);
    assert.equal(r.stdout, '');

    const flag = await cli(['run', '-m', modelPath, '--bogus', '-p', 'x']);
    assert.equal(flag.code, 2);
    assert.ok(flag.stderr.includes('--bogus'), flag.stderr);
    assert.equal(flag.stdout, '');
    noStackTrace(flag.stderr);
  });

  test('run prints the text on stdout only, the timing line on stderr', async () => {
    const r = await cli(['run', '-m', modelPath, '-n', '8', '-s', '1', '--temp', '0', '-p', PROMPT]);
    assert.equal(r.code, 0, r.stderr);
    const want = await model.complete(PROMPT, { temperature: 0, seed: 1, maxTokens: 8 });
    assert.equal(r.stdout, `${want.text}\n`);
    assert.ok(!r.stdout.includes('tokens/s') && !r.stdout.includes('loaded'));
    assert.match(r.stderr, /tokens\/s/);
    assert.match(r.stderr, /generation: 8 tokens/);
    assert.match(r.stderr, new RegExp(`prompt: ${want.stats.promptTokens} tokens`));
    assert.match(r.stderr, /seed: 1\b/);
  });

  test('the same seed twice gives identical stdout, equal to the library with the same options', async () => {
    const args = ['run', '-m', modelPath, '-n', '16', '-s', '5', '--temp', '1.5', '--top-k', '0', '--top-p', '1', '--min-p', '0', '--repeat-penalty', '1.3', '-p', PROMPT];
    const [a, b] = await Promise.all([cli(args), cli(args)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.stdout, a.stdout);
    const want = await model.complete(PROMPT, { seed: 5, maxTokens: 16, temperature: 1.5, topK: 0, topP: 1, minP: 0, repeatPenalty: 1.3 });
    assert.equal(a.stdout, `${want.text}\n`);
  });

  test('Ctrl-C stops a long generation: the text so far, then "interrupted" on stderr, exit status 130', async () => {
    // -c 4096 with --ignore-eos would run for a long while
    const r = await cli(['run', '-m', modelPath, '-c', '4096', '--ignore-eos', '-s', '1', '-p', PROMPT], { interrupt: true });
    assert.equal(r.code, 130, r.stderr);
    assert.ok(r.stdout.length > 1 && r.stdout.endsWith('\n'));
    assert.match(r.stderr, /^interrupted$/m);
    noStackTrace(r.stderr);
  });

  test('a missing model file exits 1 naming the file and the error code, without a stack trace', async () => {
    const missing = join(dir, 'no-such-model.gguf');
    const r = await cli(['run', '-m', missing, '-p', 'hi']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(missing), r.stderr);
    assert.ok(r.stderr.includes('FILE_NOT_FOUND'), r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    noStackTrace(r.stderr);

    // other failures (here: -f FILE that does not exist) get one line too
    const f = await cli(['run', '-m', modelPath, '-f', join(dir, 'no-such-prompt.txt')]);
    assert.equal(f.code, 1);
    assert.ok(f.stderr.includes('no-such-prompt.txt'), f.stderr);
    assert.equal(f.stderr.trim().split('\n').length, 1, f.stderr);
    noStackTrace(f.stderr);
  });

  test('a bad flag value exits 2 naming the flag', async () => {
    const cases: Array<[string[], string]> = [
      [['-n', 'abc'], '--n-predict'],
    ];
    for (const [flag, name] of cases) {
      const r = await cli(['run', '-m', modelPath, ...flag, '-p', 'hi']);
      assert.equal(r.code, 2, `${flag.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(name) && r.stderr.includes(flag[1]!), r.stderr);
      assert.equal(r.stdout, '');
      noStackTrace(r.stderr);
    }
    // without -m the bundled model runs (test/standalone/model/default-model.test.ts); a missing file is named
    const missing = await cli(['run', '-m', `${modelPath}.nope`, '-p', 'hi']);
    assert.equal(missing.code, 1);
    assert.ok(missing.stderr.includes('FILE_NOT_FOUND') && missing.stderr.includes('.nope'), missing.stderr);
  });

  test('environment twins: BITNET_MODEL instead of -m, flags beat the environment', async () => {
    const env = { BITNET_MODEL: modelPath, BITNET_N_PREDICT: '3', BITNET_TEMP: '0' };
    const [n3, n5] = await Promise.all([cli(['run', '-p', PROMPT], { env }), cli(['run', '-n', '5', '-p', PROMPT], { env })]);
    assert.equal(n3.code, 0, n3.stderr);
    assert.equal(n3.stdout, `${(await model.complete(PROMPT, { temperature: 0, maxTokens: 3 })).text}\n`);
    assert.match(n3.stderr, /generation: 3 tokens/);
    assert.equal(n5.code, 0, n5.stderr);
    assert.equal(n5.stdout, `${(await model.complete(PROMPT, { temperature: 0, maxTokens: 5 })).text}\n`);
    assert.match(n5.stderr, /generation: 5 tokens/);
  });

  test('the prompt from -p, the positional argument, stdin or -f is the same', async () => {
    const flags = ['-m', modelPath, '-n', '6', '-s', '2', '--temp', '0'];
    const file = join(dir, 'prompt.txt');
    await writeFile(file, 'The cat');
    const [p, stdin, f] = await Promise.all([cli(['run', ...flags, '-p', 'The cat']), cli(['run', ...flags], { input: 'The cat' }), cli(['run', ...flags, '-f', file])]);
    // the positional form, with --echo (the prompt printed first)
    const pos = await cli(['run', ...flags, '--echo', 'The cat']);
    const want = `${(await model.complete('The cat', { temperature: 0, maxTokens: 6 })).text}\n`;
    for (const r of [p, stdin, f]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, want);
    }
    assert.equal(pos.code, 0, pos.stderr);
    assert.equal(pos.stdout, `The cat${want}`);
  });

  test('info shows architecture, parameter count, tensor types and memory', async () => {
    const r = await cli(['info', modelPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bitnet-b1\.58/);
    assert.ok(r.stdout.includes(model.parameterCount.toLocaleString('en-US')), r.stdout);
    assert.match(r.stdout, /I2_S: \d+/);
    assert.match(r.stdout, /F16: 1/);
    assert.match(r.stdout, /memory: +~[\d.]+ MB/);
    assert.match(r.stdout, /blk\.0\.attn_q\.weight +I2_S/);
  });

  test('info --json is JSON with the tensor table', async () => {
    const r = await cli(['info', modelPath, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as {
      format: string;
      parameters: number;
      hparams: { arch: string; nLayer: number; nVocab: number };
      memory: { total: number } | null;
      metadata: Record<string, unknown>;
      tensors: Array<{ name: string; shape: number[]; type: string; bytes: number }>;
    };
    const want = await inspectModel(modelPath);
    assert.equal(info.format, 'gguf');
    assert.equal(info.parameters, model.parameterCount);
    assert.equal(info.hparams.arch, 'bitnet-b1.58');
    assert.equal(info.hparams.nLayer, TINY.nLayer);
    assert.ok(info.memory && info.memory.total > 0);
    assert.equal(info.metadata['general.architecture'], 'bitnet-b1.58');
    assert.deepEqual(info.tensors, want.tensors);
    assert.ok(info.tensors.some((t) => t.type === 'I2_S') && info.tensors.some((t) => t.name === 'token_embd.weight' && t.type === 'F16'));
  });

  test('tokenize prints the ids the Tokenizer API gives', async () => {
    const tok = await loadTokenizer(modelPath);
    const r = await cli(['tokenize', '-m', modelPath, '-p', 'Hello world']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), tok.encode('Hello world', { parseSpecial: true }));
    assert.deepEqual(JSON.parse(r.stdout), model.tokenize('Hello world'));
    // stdin, --no-bos, --pieces
    const pieces = await cli(['tokenize', '-m', modelPath, '--no-bos', '--pieces'], { input: 'The cat<|eot_id|>' });
    const ids = tok.encode('The cat<|eot_id|>', { addBos: false, parseSpecial: true });
    assert.equal(ids.at(-1), tok.eot);
    assert.deepEqual(JSON.parse(pieces.stdout), ids.map((id) => [id, tok.decode([id])]));
  });

  test('logits --tokens --top-k 3: one entry per position, equal to model.evaluate', async () => {
    const tokens = [model.tokenizer.bos!, 10, 200, 300, 45];
    const r = await cli(['logits', '-m', modelPath, '--tokens', tokens.join(','), '--top-k', '3']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; mode: string; positions: Array<{ position: number; token: number; top: Array<{ id: number; logit: number }> }> };
    assert.deepEqual(out.tokens, tokens);
    assert.equal(out.mode, 'batch');
    const rows = await model.evaluate(tokens);
    assert.equal(out.positions.length, tokens.length);
    out.positions.forEach((p, t) => {
      assert.equal(p.position, t);
      assert.equal(p.token, tokens[t]);
      assert.equal(p.top.length, 3);
      const row = rows[t]!;
      const best = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, 3);
      assert.deepEqual(p.top.map((c) => c.id), best);
      for (const c of p.top) assert.equal(c.logit, row[c.id]);
    });
  });

  test('logits --prompt-tokens N gives positions N-1..T-1, as a generation evaluates them', async () => {
    const tokens = [model.tokenizer.bos!, 10, 200, 300, 45, 67];
    const r = await cli(['logits', '-m', modelPath, '--tokens', tokens.join(','), '--full', '--prompt-tokens', '3']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { mode: string; positions: Array<{ position: number; token: number; logits: number[] }> };
    assert.equal(out.mode, 'generation');
    assert.deepEqual(out.positions.map((p) => p.position), [2, 3, 4, 5]);
    // one prompt batch, then one token at a time; --full prints every logit
    const seq = model.createSequence();
    const rows = [(await seq.prefill(tokens.slice(0, 3))).logits];
    for (const t of tokens.slice(3)) rows.push(await seq.step(t));
    out.positions.forEach((p, i) => {
      assert.equal(p.token, tokens[p.position]);
      assert.deepEqual(p.logits, Array.from(rows[i]!));
    });
  });

  test('run --backend ref --lm-head exact -t 1: the text the library gives with the same options', async () => {
    const r = await cli(['run', '-m', modelPath, '-n', '8', '--temp', '0', '--backend', 'ref', '--lm-head', 'exact', '-t', '1', '-p', PROMPT]);
    assert.equal(r.code, 0, r.stderr);
    const m = await loadModel(modelPath, { backend: 'ref', lmHead: 'exact' });
    const want = await m.complete(PROMPT, { temperature: 0, maxTokens: 8 });
    await m.dispose();
    assert.equal(r.stdout, `${want.text}\n`);
    const bad = await cli(['run', '-m', modelPath, '--backend', 'cuda', '-p', PROMPT]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--backend/);
    const badHead = await cli(['run', '-m', modelPath, '--lm-head', 'q4', '-p', PROMPT]);
    assert.equal(badHead.code, 2);
    assert.match(badHead.stderr, /--lm-head/);
  });

  test('bench: pp/tg rows at each depth for each backend, mean ± sd over the repetitions', async () => {
    const args = ['bench', '-m', modelPath, '-p', '8', '-n', '4', '-d', '0,6', '-r', '2', '-t', '1', '--backend', 'ref,wasm-simd'];
    const j = await cli([...args, '-o', 'json', '--profile']);
    assert.equal(j.code, 0, j.stderr);
    const out = JSON.parse(j.stdout) as {
      peakRssBytes: number;
      runs: Array<{ backend: string; threads: number; params: number; readGBs?: number; weightBytesPerToken: number; kvTypes: { k: string; v: string }; kvBytesPerPosition: number; results: Array<{ test: string; mean: number; sd: number; samples: number[]; kvBytes: number; kvPositions: number; profile: Array<[string, number]> }> }>;
    };
    assert.deepEqual(out.runs.map((r) => r.backend), ['ref', 'wasm-simd']);
    // the bandwidth probe runs on WASM backends only; a decode step streams at least the int8 lm_head
    assert.equal(out.runs[0]!.readGBs, undefined);
    assert.ok(out.runs[1]!.readGBs! > 0);
    assert.ok(out.runs[1]!.weightBytesPerToken > model.hparams.nVocab * model.hparams.nEmbd);
    assert.ok(out.peakRssBytes > 0);
    for (const run of out.runs) {
      assert.equal(run.threads, 1);
      assert.equal(run.params, model.parameterCount);
      assert.deepEqual(run.results.map((x) => x.test), ['pp8', 'tg4', 'pp8 @ d6', 'tg4 @ d6']);
      // KV bytes in use at the end of each test: its positions (tg after one context token), grown on demand
      // (the reference geometrically from 64 positions, WASM in 8-position K blocks), not the whole context
      const h = model.hparams;
      assert.deepEqual(run.kvTypes, { k: 'f16', v: 'f16' });
      assert.equal(run.kvBytesPerPosition, 2 * h.nLayer * h.nHeadKv * h.headDim * 2);
      assert.deepEqual(run.results.map((x) => x.kvPositions), [8, 5, 14, 10]);
      for (const x of run.results) {
        assert.ok(x.kvBytes >= x.kvPositions * run.kvBytesPerPosition && x.kvBytes <= Math.max(2 * x.kvPositions, 64) * run.kvBytesPerPosition, `${run.backend} ${x.test}: ${x.kvBytes} bytes`);
      }
      for (const x of run.results) {
        assert.equal(x.samples.length, 2);
        assert.ok(x.samples.every((v) => v > 0 && Number.isFinite(v)));
        assert.ok(Math.abs(x.mean - (x.samples[0]! + x.samples[1]!) / 2) < 1e-9 * x.mean);
        assert.ok(Math.abs(x.sd - Math.abs(x.samples[0]! - x.samples[1]!) / Math.SQRT2) < 1e-9 * x.mean);
        // --profile: time per op, matmuls by shape; together no more than the measured time per token
        const ops = new Map(x.profile);
        assert.ok(ops.get(`matmulTernary ${model.hparams.nFf}x${model.hparams.nEmbd}`)! > 0, JSON.stringify(x.profile));
        assert.ok(ops.get('attention')! > 0 && ops.get('rmsNorm')! > 0);
        const wallMsPerToken = x.samples.reduce((a, v) => a + 1000 / v, 0) / x.samples.length;
        assert.ok([...ops.values()].reduce((a, v) => a + v, 0) <= wallMsPerToken, `${JSON.stringify(x.profile)} vs ${wallMsPerToken} ms/token`);
      }
    }
    const md = await cli(['bench', '-m', modelPath, '-p', '8', '-n', '4', '-r', '1', '-t', '1']);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /^\| model \| size \| params \| backend \| threads \| test \| t\/s \| KV cache \|$/m);
    assert.match(md.stdout, /\| pp8 \| [\d.]+ ± [\d.]+ \| [\d.]+ KB f16 \|/);
    assert.match(md.stdout, /\| tg4 \| [\d.]+ ± 0\.00 \| [\d.]+ KB f16 \|/);
    assert.match(md.stdout, /f16 KV cache [\d.]+ KB per position; held at the end of each test: pp8 [\d.]+ KB for 8, tg4 [\d.]+ KB for 5/);
    assert.match(md.stdout, /peak RSS/);
    assert.doesNotMatch(md.stdout, /ms\/token/); // no profile unless asked
    assert.match(md.stdout, /decode streams [\d.]+ MB of weights per token .* tg4 [\d.]+ GB\/s \(\d+%\); plain streaming read [\d.]+ GB\/s with 1 thread/);
    assert.match(md.stderr, /running/);
    // --cache-type: an f32 cache holds twice the bytes per position
    const f32 = await cli(['bench', '-m', modelPath, '-p', '0', '-n', '2', '-d', '3', '-r', '1', '-t', '1', '--cache-type', 'f32', '-o', 'json']);
    assert.equal(f32.code, 0, f32.stderr);
    const f32Run = (JSON.parse(f32.stdout) as typeof out).runs[0]!;
    assert.deepEqual(f32Run.kvTypes, { k: 'f32', v: 'f32' });
    assert.equal(f32Run.kvBytesPerPosition, 2 * out.runs[0]!.kvBytesPerPosition);
    assert.ok(f32Run.results[0]!.kvBytes >= 5 * f32Run.kvBytesPerPosition);
    const badKv = await cli(['bench', '-m', modelPath, '-n', '2', '--cache-type', 'q9']);
    assert.equal(badKv.code, 2);
    assert.match(badKv.stderr, /--cache-type/);
    const none = await cli(['bench', '-m', modelPath, '-p', '0', '-n', '0']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no tests/);
  });

  test('chat: one reply per stdin line, exit 0 at EOF; /exit ends early', async () => {
    const flags = ['chat', '-m', modelPath, '-n', '6', '--temp', '0', '--timings'];
    const r = await cli(flags, { input: 'Hello!\nThe cat?\n' });
    assert.equal(r.code, 0, r.stderr);
    const session = model.createChat();
    const replies: string[] = [];
    for (const line of ['Hello!', 'The cat?']) {
      let text = '';
      for await (const c of session.send(line, { temperature: 0, maxTokens: 6 })) text += c.text;
      replies.push(text);
    }
    assert.equal(r.stdout, replies.map((t) => `${t}\n`).join(''));
    assert.equal(r.stderr.match(/tokens\/s/g)?.length, 4, r.stderr); // prompt and generation rates, two turns
    assert.match(r.stderr, /cached/);

    // /exit ends the chat even though stdin stays open
    const e = await cli(flags, { input: 'Hello!\n/exit\nThe cat?\n', keepStdinOpen: true });
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, `${replies[0]}\n`);

    // a failing turn exits 1 with one line, also with stdin open
    const long = `${'The cat sat on the mat. '.repeat(10)}\n`;
    const o = await cli([...flags, '-c', '16'], { input: long, keepStdinOpen: true });
    assert.equal(o.code, 1);
    assert.match(o.stderr, /CONTEXT_OVERFLOW/);
    noStackTrace(o.stderr);
  });
});
