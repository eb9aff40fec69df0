// Logprobs, prompt (echo) logprobs and logit bias on a tiny fixture model, on the reference and WASM backends,
// through both the single-sequence loop and the scheduler: generated tokens' logprobs are the log-softmax of
// the very logits they were drawn from (teacher-forced one token at a time: single-token steps take ggml's
// single-row numerics, which on these random weights differ from model.evaluate's multi-row rows by up to
// ~0.1 in logprob), prompt logprobs equal the teacher-forced log-softmax of model.evaluate's rows, and a
// bias of -100 bans.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import type { GenerateOptions, GenerationChunk, TokenLogprob } from '../../../src/generate/generate.js';
import type { GenerationHandle } from '../../../src/generate/scheduler.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('logprobs');
let models: Record<'wasm' | 'ref', BitnetModel>;
// longer than two batches of 8, so prompts are evaluated in several chunks
const LONG = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.';

before(async () => {
  const path = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  models = { wasm: await loadModel(path, { batchSize: 8, threads: 2 }), ref: await loadModel(path, { batchSize: 8, backend: 'ref' }) };
});

after(async () => {
  await models.wasm.dispose();
  await models.ref.dispose();
});

/** log-softmax of a row, plainly: log(p_i) = x_i - max - log(sum exp(x_j - max)). */
function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i]! - max - Math.log(sum);
  return out;
}

/** Checks an entry against a logits row (restricted to the vocabulary) within `tol`. */
function checkEntry(e: TokenLogprob, row: Float32Array, token: number, n: number, tol: number, what: string): void {
  const lp = logSoftmax(row);
  assert.equal(e.token, token, what);
  assert.ok(Math.abs(e.logprob - lp[token]!) <= tol, `${what}: logprob ${e.logprob} vs ${lp[token]}`);
  const order = Array.from(lp.keys()).sort((a, b) => lp[b]! - lp[a]! || a - b);
  assert.equal(e.top.length, n, what);
  e.top.forEach((t, i) => {
    assert.ok(Math.abs(t.logprob - lp[t.token]!) <= tol, `${what}: top ${i}`);
    if (i > 0) assert.ok(t.logprob <= e.top[i - 1]!.logprob, `${what}: top sorted`);
    // the same set as the row's largest (ties may order differently within tol only when tol > 0)
    if (tol === 0) assert.equal(t.token, order[i], `${what}: top ${i} token`);
  });
}

async function drain(chunks: AsyncIterable<GenerationChunk>): Promise<{ chunks: GenerationChunk[]; tokens: number[] }> {
  const all: GenerationChunk[] = [];
  const tokens: number[] = [];
  for await (const c of chunks) {
    all.push(c);
    tokens.push(...c.tokens);
  }
  return { chunks: all, tokens };
}

function generated(model: BitnetModel, via: 'loop' | 'scheduler', prompt: string, opts: GenerateOptions): Promise<{ chunks: GenerationChunk[]; tokens: number[] }> {
  // fresh caches both ways: a reused prefix may end the prompt's evaluation in other batches (other numerics)
  if (via === 'loop') {
    const seq = model.createSequence();
    return drain(model.generateOn(seq, prompt, opts)).finally(() => seq.dispose());
  }
  const sched = model.createScheduler({ parallel: 2 });
  const h: GenerationHandle = sched.submit(model.tokenizePrompt(prompt), opts);
  return drain(h).finally(() => sched.dispose());
}

const vocabRow = (model: BitnetModel, row: Float32Array): Float32Array => row.subarray(0, model.tokenizer.vocabSize);

for (const kind of ['ref', 'wasm'] as const) {
  for (const via of ['loop', 'scheduler'] as const) {
    test(`${kind}/${via}: generated tokens' logprobs are the log-softmax of the logits they were drawn from`, async () => {
      const model = models[kind];
      const opts: GenerateOptions = { seed: 5, maxTokens: 10, ignoreEos: true, temperature: 1.1, topK: 0, topP: 1, minP: 0, logprobs: 4 };
      const r = await generated(model, via, LONG, opts);
      // the same tokens as without logprobs: they only observe
      const { logprobs: _, ...noLogprobs } = opts;
      const plain = await generated(model, via, LONG, noLogprobs);
      assert.deepEqual(r.tokens, plain.tokens);
      const entries = r.chunks.flatMap((c) => {
        assert.equal((c.logprobs ?? []).length, c.tokens.length, 'one entry per token');
        return c.logprobs ?? [];
      });
      assert.equal(entries.length, 10);
      // teacher-forced, one token at a time as generation evaluates them: the very rows sampled from
      const prompt = model.tokenizePrompt(LONG);
      const seq = model.createSequence();
      const rows = [(await seq.prefill(prompt)).logits];
      for (const t of r.tokens.slice(0, -1)) rows.push(await seq.step(t));
      seq.dispose();
      entries.forEach((e, i) => checkEntry(e, vocabRow(model, rows[i]!), r.tokens[i]!, 4, 1e-9, `token ${i}`));
    });

    test(`${kind}/${via}: prompt logprobs equal the teacher-forced log-softmax of model.evaluate`, async () => {
      const model = models[kind];
      const prompt = model.tokenizePrompt(LONG);
      assert.ok(prompt.length > 16);
      const ev = await model.evaluate(prompt);
      // maxTokens 0: score only (lm-evaluation-harness: echo + max_tokens 0 + logprobs)
      const scored = await generated(model, via, LONG, { maxTokens: 0, promptLogprobs: 3 });
      assert.equal(scored.chunks.length, 1);
      assert.deepEqual(scored.tokens, []);
      const entries = scored.chunks[0]!.promptLogprobs!;
      assert.equal(entries.length, prompt.length);
      assert.equal(entries[0], null);
      for (let i = 1; i < prompt.length; i++) checkEntry(entries[i]!, vocabRow(model, ev[i - 1]!), prompt[i]!, 3, 1e-9, `prompt token ${i}`);
      // with generation: the first chunk carries them, the rest do not; reusing a cached prompt changes nothing
      const r = await generated(model, via, LONG, { seed: 2, maxTokens: 3, promptLogprobs: 3, logprobs: 1 });
      assert.deepEqual(r.chunks[0]!.promptLogprobs, entries);
      assert.ok(r.chunks.slice(1).every((c) => c.promptLogprobs === undefined));
      assert.equal(r.tokens.length, 3);
      // the first generated token is drawn from the prompt's last row, evaluated with the others
      checkEntry(r.chunks[0]!.logprobs![0]!, vocabRow(model, (await model.evaluate(prompt)).at(-1)!), r.tokens[0]!, 1, 1e-9, 'first token');
    });
  }
}

test('the loop and the scheduler score prompts alike and generate alike with promptLogprobs', async () => {
  const model = models.wasm;
  const opts: GenerateOptions = { seed: 11, maxTokens: 6, promptLogprobs: 2, logprobs: 2, ignoreEos: true };
  const a = await generated(model, 'loop', LONG, opts);
  const b = await generated(model, 'scheduler', LONG, opts);
  assert.deepEqual(b.tokens, a.tokens);
  assert.deepEqual(b.chunks[0]!.promptLogprobs, a.chunks[0]!.promptLogprobs);
  assert.deepEqual(b.chunks.flatMap((c) => c.logprobs ?? []), a.chunks.flatMap((c) => c.logprobs ?? []));
});

for (const kind of ['ref', 'wasm'] as const) {
  for (const via of ['loop', 'scheduler'] as const) {
    test(`${kind}/${via}: logitBias -100 never emits the token; +100 forces it; logprobs stay the raw model's`, async () => {
      const model = models[kind];
      const greedy = await generated(model, via, 'Once upon a time', { temperature: 0, maxTokens: 12, ignoreEos: true });
      const banned = [...new Set(greedy.tokens)];
      const rb = await generated(model, via, 'Once upon a time', { temperature: 0, maxTokens: 12, ignoreEos: true, logitBias: Object.fromEntries(banned.map((t) => [t, -100])) });
      assert.equal(rb.tokens.length, 12);
      for (const t of rb.tokens) assert.ok(!banned.includes(t), `banned token ${t} emitted`);
      // sampling over the whole vocabulary at a high temperature: still never a banned token
      const ban = new Map(Array.from({ length: 200 }, (_, i) => [i * 2, -100] as [number, number]));
      for (const seed of [1, 2, 3]) {
        const rs = await generated(model, via, 'The cat', { seed, temperature: 3, topK: 0, topP: 1, minP: 0, maxTokens: 25, ignoreEos: true, logitBias: ban });
        for (const t of rs.tokens) assert.ok(!ban.has(t), `seed ${seed}: banned token ${t} emitted`);
      }
      const forced = greedy.tokens[0] === 42 ? 43 : 42;
      const rf = await generated(model, via, 'Once upon a time', { temperature: 0, maxTokens: 5, ignoreEos: true, logitBias: { [forced]: 100 }, logprobs: 0 });
      assert.deepEqual(rf.tokens, [forced, forced, forced, forced, forced]);
      const first = rf.chunks[0]!.logprobs![0]!;
      const seq = model.createSequence();
      const row = (await seq.prefill(model.tokenizePrompt('Once upon a time'))).logits;
      seq.dispose();
      // the raw logprob (the biased one would be about 0)
      checkEntry(first, vocabRow(model, row), forced, 0, 1e-9, 'forced token');
      assert.ok(first.logprob < -0.5);
    });
  }
}

test('invalid logitBias, logprobs and promptLogprobs are refused by name', async () => {
  const model = models.ref;
  const vocab = model.tokenizer.vocabSize;
  const bad: Array<[GenerateOptions, string]> = [
    [{ logitBias: { [vocab]: 1 } }, 'logitBias'],
    [{ logitBias: new Map([[-1, 1]]) }, 'logitBias'],
    [{ logitBias: { 5: Number.NaN } }, 'logitBias'],
    [{ logprobs: -1 }, 'logprobs'],
    [{ logprobs: 1.5 }, 'logprobs'],
    [{ promptLogprobs: -2 }, 'promptLogprobs'],
  ];
  const sched = model.createScheduler();
  try {
    for (const [opts, name] of bad) {
      await assert.rejects(drain(model.generate('Once', opts)), (e: unknown) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && e.subject === name);
      assert.throws(() => sched.submit(model.tokenizePrompt('Once'), opts), (e: unknown) => e instanceof BitnetError && e.subject === name);
    }
  } finally {
    await sched.dispose();
  }
});
