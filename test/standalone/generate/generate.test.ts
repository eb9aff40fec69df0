// The generation loop on a tiny random-weight fixture model (gibberish text, exact behaviour): seeding, stats,
// stop strings and tokens, limits, context overflow, cancellation, streaming text integrity, prefix reuse and
// serialized concurrent calls. A scripted sequence forces exact token streams for the multi-byte cases.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { generateFromTokens, type GenerateOptions, type GenerationChunk, type GenerationStats } from '../../../src/generate/generate.js';
import type { Sequence } from '../../../src/generate/sequence.js';
import { loadModel, refBackend, type BitnetModel, type Prompt } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';

const PROMPT = 'Once upon a time';
let dir: string;
let path: string;
let model: BitnetModel;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-generate-'));
  path = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  model = await loadModel(path);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  chunks: GenerationChunk[];
  text: string;
  tokens: number[];
  stats: GenerationStats;
}

async function collect(gen: AsyncIterable<GenerationChunk>, onChunk?: (c: GenerationChunk, i: number) => void): Promise<Run> {
  const chunks: GenerationChunk[] = [];
  for await (const c of gen) {
    onChunk?.(c, chunks.length);
    chunks.push(c);
  }
  const last = chunks.at(-1);
  assert.ok(last?.done && last.stats, 'the last chunk carries done and stats');
  chunks.slice(0, -1).forEach((c) => assert.equal(c.done, false, 'only the last chunk is done'));
  assert.equal(last.finishReason, last.stats.finishReason);
  return { chunks, text: chunks.map((c) => c.text).join(''), tokens: chunks.flatMap((c) => c.tokens), stats: last.stats };
}

const run = (prompt: Prompt, opts: GenerateOptions): Promise<Run> => collect(model.generate(prompt, opts));
/** On a new sequence: what a freshly loaded model gives. */
const fresh = (prompt: Prompt, opts: GenerateOptions): Promise<Run> => collect(model.generateOn(model.createSequence(), prompt, opts));

function assertBitnetError(code: string, ...mustContain: string[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof BitnetError, `expected a BitnetError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const s of mustContain) assert.ok(e.message.includes(s), `"${e.message}" should mention ${s}`);
    return true;
  };
}

/** A greedy reference run (computed once): 40 tokens, without end-of-generation stops. */
let greedy: Promise<Run> | undefined;
const greedyRun = (): Promise<Run> => (greedy ??= fresh(PROMPT, { temperature: 0, maxTokens: 40, ignoreEos: true }));

test('seeded runs reproduce exactly, and the stats are sane', async () => {
  const opts = { seed: 7, maxTokens: 24, ignoreEos: true };
  const a = await run(PROMPT, opts);
  const b = await run(PROMPT, opts); // the shared sequence now reuses the prompt prefix
  const c = await fresh(PROMPT, opts);
  assert.deepEqual(b.tokens, a.tokens);
  assert.equal(b.text, a.text);
  assert.deepEqual(c.tokens, a.tokens);
  assert.equal(c.text, a.text);
  assert.ok(b.stats.cachedTokens > 0, 'second run reuses the cached prompt');

  const s = a.stats;
  const promptIds = model.tokenizer.encode(PROMPT, { parseSpecial: true });
  assert.equal(promptIds[0], model.tokenizer.bos);
  assert.equal(s.promptTokens, promptIds.length);
  assert.equal(s.generatedTokens, 24);
  assert.equal(a.tokens.length, s.generatedTokens);
  assert.equal(s.finishReason, 'length');
  assert.equal(s.seed, 7);
  assert.ok(s.tokensPerSecond > 0 && Number.isFinite(s.tokensPerSecond), `tokensPerSecond ${s.tokensPerSecond}`);
  assert.ok(s.promptTokensPerSecond > 0 && Number.isFinite(s.promptTokensPerSecond));
  assert.ok(s.promptMs >= 0 && s.generateMs > 0);
  assert.ok(Math.abs(s.totalMs - s.promptMs - s.generateMs) < 1e-6);
  assert.ok(s.cachedTokens >= 0 && s.cachedTokens < s.promptTokens);
  for (const ch of a.chunks.slice(0, -1)) assert.equal(ch.tokens.length, 1, 'one token per streamed chunk');

  // a different seed gives a different continuation
  const d = await run(PROMPT, { ...opts, seed: 8 });
  assert.notDeepEqual(d.tokens, a.tokens);
  assert.equal(d.stats.seed, 8);
});

test('temperature 0 and topK 1 give identical output', async () => {
  const g = await run(PROMPT, { temperature: 0, maxTokens: 20 });
  const k = await run(PROMPT, { topK: 1, temperature: 1.5, seed: 99, maxTokens: 20 });
  const k2 = await run(PROMPT, { topK: 1, seed: 5, maxTokens: 20, topP: 0.3 });
  assert.deepEqual(k.tokens, g.tokens);
  assert.equal(k.text, g.text);
  assert.deepEqual(k2.tokens, g.tokens);
});

test('a stop string ends generation right before it and never appears in the output', async () => {
  const g = await greedyRun();
  // a 2-character stop string taken from the middle of the greedy output (no replacement characters)
  let stop: string | undefined;
  for (let i = 4; i + 2 <= g.text.length && !stop; i++) {
    const s = g.text.slice(i, i + 2);
    if (!/[\uFFFD\uD800-\uDFFF]/.test(s) && g.text.indexOf(s) > 0) stop = s;
  }
  assert.ok(stop, `no usable stop string in ${JSON.stringify(g.text)}`);
  const want = g.text.slice(0, g.text.indexOf(stop));
  for (const stops of [stop, [stop], ['\u0001never', stop]]) {
    const r = await run(PROMPT, { temperature: 0, maxTokens: 40, ignoreEos: true, stop: stops });
    assert.equal(r.text, want, `stop ${JSON.stringify(stops)}`);
    assert.ok(!r.text.includes(stop));
    for (const ch of r.chunks) assert.ok(!ch.text.includes(stop));
    assert.equal(r.stats.finishReason, 'stop');
    // the chunks account for every generated token, the one completing the stop string included
    assert.equal(r.tokens.length, r.stats.generatedTokens);
    assert.deepEqual(r.tokens, g.tokens.slice(0, r.tokens.length));
    assert.ok(r.tokens.length < g.tokens.length);
  }
});

test('a stop token ends generation with "stop" and its text is not emitted', async () => {
  const g = await greedyRun();
  // a token first produced at position k >= 3
  const k = g.tokens.findIndex((id, i) => i >= 3 && g.tokens.indexOf(id) === i);
  assert.ok(k >= 3, `no new token after position 3 in ${g.tokens.join(',')}`);
  const id = g.tokens[k]!;
  const s = await run(PROMPT, { temperature: 0, maxTokens: 40, stopTokens: [id] });
  assert.equal(s.stats.finishReason, 'stop');
  assert.deepEqual(s.tokens, g.tokens.slice(0, k));
  assert.equal(s.stats.generatedTokens, k);
  assert.equal(s.text, model.tokenizer.decode(g.tokens.slice(0, k), { skipSpecial: true }));
  // the model's own stop tokens are among the stops
  assert.ok(model.stopTokens.includes(model.tokenizer.eot!));
  // ignoreEos turns off the model's end-of-generation tokens, not the caller's own stop tokens
  const e = await run(PROMPT, { temperature: 0, maxTokens: 40, stopTokens: [id], ignoreEos: true });
  assert.equal(e.stats.finishReason, 'stop');
  assert.deepEqual(e.tokens, g.tokens.slice(0, k));
});

test('maxTokens 0 evaluates the prompt and generates nothing', async () => {
  const r = await run(PROMPT, { maxTokens: 0, seed: 1 });
  assert.equal(r.chunks.length, 1);
  assert.equal(r.text, '');
  assert.deepEqual(r.tokens, []);
  assert.equal(r.stats.generatedTokens, 0);
  assert.equal(r.stats.finishReason, 'length');
  assert.equal(r.stats.promptTokens, model.tokenizePrompt(PROMPT).length);
  for (const bad of [-1, NaN]) {
    await assert.rejects(run(PROMPT, { maxTokens: bad }), assertBitnetError('INVALID_ARGUMENT', 'maxTokens'));
  }
});

test('a prompt longer than the context is CONTEXT_OVERFLOW naming both lengths', async () => {
  const long = { tokens: Array.from({ length: model.contextSize + 44 }, (_, i) => 10 + (i % 300)) };
  await assert.rejects(run(long, { maxTokens: 4 }), assertBitnetError('CONTEXT_OVERFLOW', String(model.contextSize + 44), String(model.contextSize)));
  const seq = model.createSequence({ contextSize: 8 });
  const ids = model.tokenizePrompt('The cat sat on the mat. The dog ran after the cat.');
  assert.ok(ids.length > 8);
  await assert.rejects(collect(model.generateOn(seq, PROMPT + ' The cat sat on the mat. The dog ran.', {})), assertBitnetError('CONTEXT_OVERFLOW', '8'));
  await assert.rejects(collect(model.generateOn(seq, { tokens: ids }, {})), assertBitnetError('CONTEXT_OVERFLOW', String(ids.length), '8'));
  // the model is still usable (the generation lock was released)
  const r = await run(PROMPT, { maxTokens: 3, seed: 1 });
  assert.equal(r.stats.generatedTokens, 3);
});

test('generation reaching the end of the context stops with "length"', async () => {
  const ctx = 12;
  const seq = model.createSequence({ contextSize: ctx });
  const r = await collect(model.generateOn(seq, PROMPT, { temperature: 0, ignoreEos: true }));
  const p = r.stats.promptTokens;
  assert.equal(r.stats.finishReason, 'length');
  // prompt + generated fill the context exactly (issue 18: 14 + 243 with -c 256); the last token drawn is
  // never evaluated, so its position is the one slot left unused
  assert.equal(p + r.stats.generatedTokens, ctx);
  assert.equal(seq.tokens.length, ctx - 1);
  const g = await greedyRun();
  assert.deepEqual(r.tokens, g.tokens.slice(0, ctx - p));
  // a prompt that fills the context leaves no room for any token
  const full = model.createSequence({ contextSize: p });
  const none = await collect(model.generateOn(full, PROMPT, { temperature: 0, ignoreEos: true }));
  assert.equal(none.stats.finishReason, 'length');
  assert.deepEqual(none.tokens, []);
  full.dispose();
  seq.dispose();
});

test('an AbortSignal aborts mid-generation with ABORTED; an aborted signal before any token', async () => {
  const controller = new AbortController();
  let seen = 0;
  await assert.rejects(
    collect(model.generate(PROMPT, { seed: 3, maxTokens: 50, ignoreEos: true, signal: controller.signal }), (_, i) => {
      seen = i + 1;
      if (i === 2) controller.abort();
    }),
    assertBitnetError('ABORTED'),
  );
  assert.equal(seen, 3);

  const aborted = AbortSignal.abort();
  let chunks = 0;
  await assert.rejects(collect(model.generate(PROMPT, { seed: 3, signal: aborted }), () => chunks++), assertBitnetError('ABORTED'));
  assert.equal(chunks, 0);

  // aborting during prompt evaluation, between batches
  const small = await loadModel(path, { batchSize: 4 });
  const c2 = new AbortController();
  let batches = 0;
  await assert.rejects(
    collect(small.generate('The cat sat on the mat. The dog ran after the cat.', { signal: c2.signal, onPromptProgress: () => (++batches === 1 ? c2.abort() : undefined) })),
    assertBitnetError('ABORTED'),
  );
  assert.equal(batches, 1);

  // the model works afterwards and gives what a fresh one gives
  const after = await run(PROMPT, { seed: 3, maxTokens: 8, ignoreEos: true });
  assert.deepEqual(after.tokens, (await fresh(PROMPT, { seed: 3, maxTokens: 8, ignoreEos: true })).tokens);
});

test('chunk texts concatenate to the decoded tokens (no stop strings)', async () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = await run(seed % 2 ? PROMPT : 'The cat', { seed, maxTokens: 30, temperature: 1.2, topK: 0, topP: 1, minP: 0 });
    assert.equal(r.tokens.length, r.stats.generatedTokens);
    const whole = model.tokenizer.decode(r.tokens, { skipSpecial: true });
    assert.equal(r.text, whole, `seed ${seed}`);
    if (!whole.includes('\uFFFD')) for (const c of r.chunks) assert.ok(!c.text.includes('\uFFFD'), `seed ${seed}`);
  }
});

/** A stand-in sequence whose logits force the given tokens, one per step. */
function scripted(nVocab: number, script: number[]): Sequence {
  let i = 0;
  const forced = (): Float32Array => {
    const l = new Float32Array(nVocab).fill(-10);
    l[script[i++] ?? 0] = 10;
    return l;
  };
  const seq = {
    tokens: [] as number[],
    contextSize: 10_000,
    model: { backend: refBackend, hp: { nVocab } },
    prefill: async (prompt: ArrayLike<number>) => {
      seq.tokens = Array.from(prompt);
      return { logits: forced(), reused: 0 };
    },
    step: (token: number) => {
      seq.tokens.push(token);
      return forced();
    },
  };
  return seq as unknown as Sequence;
}

/** The single-byte token of each UTF-8 byte of `text` (every byte has one in the byte-level vocabulary). */
function byteTokens(bytes: Uint8Array): number[] {
  const tok = model.tokenizer;
  const byId = new Map<number, number>();
  for (let id = 0; id < tok.vocabSize; id++) {
    const b = tok.tokenBytes(id);
    if (b.length === 1 && !tok.isSpecial(id) && !byId.has(b[0]!)) byId.set(b[0]!, id);
  }
  return Array.from(bytes, (b) => {
    const id = byId.get(b);
    assert.ok(id !== undefined, `no token for byte ${b}`);
    return id;
  });
}

test('multi-byte characters split across tokens never come out as U+FFFD pieces', async () => {
  const text = 'café 世界 🦙! naïve';
  const script = byteTokens(new TextEncoder().encode(text));
  const r = await collect(generateFromTokens(scripted(model.hparams.nVocab, script), model.tokenizer, [1, 2], { temperature: 0, maxTokens: script.length }));
  assert.equal(r.text, text);
  assert.deepEqual(r.tokens, script);
  for (const c of r.chunks) assert.ok(!c.text.includes('\uFFFD'), JSON.stringify(c.text));
  // a token whose character is still incomplete yields an empty text
  assert.ok(r.chunks.some((c) => c.text === '' && c.tokens.length === 1));

  // truly invalid bytes do come out as U+FFFD, exactly where decoding the whole gives them
  const bad = byteTokens(new Uint8Array([0x61, 0x80, 0x62, 0xe4, 0xb8, 0x63]));
  const rb = await collect(generateFromTokens(scripted(model.hparams.nVocab, bad), model.tokenizer, [1], { temperature: 0, maxTokens: bad.length }));
  assert.equal(rb.text, model.tokenizer.decode(bad));
  assert.equal(rb.text, 'a\uFFFDb\uFFFDc');
  // cut short inside a character: the held bytes come out at the end
  const cut = byteTokens(new TextEncoder().encode('ab🦙')).slice(0, 4);
  const rc = await collect(generateFromTokens(scripted(model.hparams.nVocab, cut), model.tokenizer, [1], { temperature: 0, maxTokens: cut.length }));
  assert.equal(rc.text, 'ab\uFFFD');
  assert.equal(rc.chunks.at(-1)!.text, '\uFFFD');
});

test('scripted streams: stop strings across multi-byte tokens and end-of-generation tokens', async () => {
  const text = 'café 世界 🦙! naïve';
  const script = byteTokens(new TextEncoder().encode(text));
  const n = model.hparams.nVocab;
  // the stop string completes on the last byte of 🦙, whose chunk has no text: its token is still accounted for
  const r = await collect(generateFromTokens(scripted(n, script), model.tokenizer, [1], { temperature: 0, stop: '界 🦙' }));
  assert.equal(r.text, 'café 世');
  assert.equal(r.stats.finishReason, 'stop');
  assert.equal(r.tokens.length, r.stats.generatedTokens);
  assert.deepEqual(r.tokens, script.slice(0, new TextEncoder().encode('café 世界 🦙').length));

  // the end-of-turn token ends generation: not emitted, not counted
  const eot = model.tokenizer.eot!;
  const withEot = [...script.slice(0, 6), eot, ...script.slice(6)];
  const e = await collect(generateFromTokens(scripted(n, withEot), model.tokenizer, [1], { temperature: 0 }));
  assert.equal(e.stats.finishReason, 'stop');
  assert.deepEqual(e.tokens, script.slice(0, 6));
  assert.equal(e.text, 'café ');
  assert.equal(e.stats.generatedTokens, 6);
  // ignoreEos: special tokens pass through, decoded as nothing
  const i = await collect(generateFromTokens(scripted(n, withEot), model.tokenizer, [1], { temperature: 0, ignoreEos: true, maxTokens: withEot.length }));
  assert.equal(i.text, text);
  assert.deepEqual(i.tokens, withEot);
});

test('prefix reuse: the cached prefix is reported and gives what a fresh sequence gives', async () => {
  const seq = model.createSequence();
  const opts = { seed: 11, maxTokens: 12, ignoreEos: true };
  const first = await collect(model.generateOn(seq, PROMPT, opts));
  assert.equal(first.stats.cachedTokens, 0);
  for (const next of [PROMPT + ' there was a little girl', PROMPT, PROMPT + ' there', 'Once upon']) {
    const common = (() => {
      const a = model.tokenizePrompt(next);
      let k = 0;
      while (k < a.length && a[k] === seq.tokens[k]) k++;
      return k;
    })();
    const r = await collect(model.generateOn(seq, next, opts));
    assert.ok(r.stats.cachedTokens > 0, `${next}: cachedTokens ${r.stats.cachedTokens}`);
    assert.ok(r.stats.cachedTokens <= common && r.stats.cachedTokens >= Math.min(common, r.stats.promptTokens) - 2, `${next}: ${r.stats.cachedTokens} of ${common}`);
    const f = await fresh(next, opts);
    assert.deepEqual(r.tokens, f.tokens, next);
    assert.equal(r.text, f.text);
  }
});

test('concurrent model.generate calls run one after another, each as if alone', async () => {
  const jobs: Array<[Prompt, GenerateOptions]> = [
    [PROMPT, { seed: 21, maxTokens: 10, ignoreEos: true }],
    ['The cat sat on the mat', { seed: 22, maxTokens: 10, ignoreEos: true }],
    [PROMPT, { seed: 23, maxTokens: 10, ignoreEos: true }],
    [PROMPT, { temperature: 0, maxTokens: 10, ignoreEos: true }],
  ];
  const order: number[] = [];
  const results = await Promise.all(jobs.map(([p, o], j) => collect(model.generate(p, o), () => order.push(j))));
  // serialized: the chunks of one call are never interleaved with another's
  const runs = order.filter((j, i) => i === 0 || order[i - 1] !== j);
  assert.deepEqual([...runs].sort(), [0, 1, 2, 3], `interleaved: ${order.join(',')}`);
  for (let j = 0; j < jobs.length; j++) {
    const solo = await fresh(...jobs[j]!);
    assert.deepEqual(results[j]!.tokens, solo.tokens, `job ${j}`);
    assert.equal(results[j]!.text, solo.text);
  }
  // complete() collects the same thing
  const c = await model.complete(...jobs[1]!);
  assert.deepEqual(c.tokens, results[1]!.tokens);
  assert.equal(c.text, results[1]!.text);
});
