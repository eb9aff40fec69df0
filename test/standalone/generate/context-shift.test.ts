// Context shift (llama.cpp's): the next logits of a shifted sequence equal a fresh evaluation of the kept
// tokens at their shifted positions, within the KV type's rounding; generation goes past the context with
// it and stops with 'length' without it; the n_keep rules; prefix reuse after a shift (exact part only);
// and a chat driven past 3x the context on the bundled model.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultModelPath } from '../../../src/cli/default-model.js';
import { BitnetError } from '../../../src/errors.js';
import { discardCount, keepCount } from '../../../src/generate/context-shift.js';
import type { GenerateOptions, GenerationChunk } from '../../../src/generate/generate.js';
import type { Sequence } from '../../../src/generate/sequence.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';

let dir: string;
/** one layer: every cached K/V depends on its token and position alone, so a shifted cache can be compared */
const oneLayer: Record<'wasm' | 'ref', BitnetModel> = {} as never;
let twoLayers: BitnetModel;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-ctxshift-'));
  const one = join(dir, 'one.gguf');
  await writeGgufFixture(makeFixture({ ...TINY, nLayer: 1 }), one, { weights: 'I2_S', embedding: 'F16' });
  oneLayer.wasm = await loadModel(one, { batchSize: 8, threads: 2 });
  oneLayer.ref = await loadModel(one, { batchSize: 8, backend: 'ref' });
  const two = join(dir, 'two.gguf');
  await writeGgufFixture(makeFixture(TINY), two, { weights: 'I2_S', embedding: 'F16' });
  twoLayers = await loadModel(two, { batchSize: 8, threads: 2 });
});

after(async () => {
  for (const m of [oneLayer.wasm, oneLayer.ref, twoLayers]) await m.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function collect(gen: AsyncGenerator<GenerationChunk>): Promise<{ tokens: number[]; text: string; last: GenerationChunk }> {
  const tokens: number[] = [];
  let text = '';
  for await (const c of gen) {
    tokens.push(...c.tokens);
    text += c.text;
    if (c.done) return { tokens, text, last: c };
  }
  throw new Error('no final chunk');
}

const PROMPT = 'Once upon a time there was a little girl named Lily.';

test('keepCount and discardCount follow llama.cpp', () => {
  const p = [1, 5, 6, 7, 8];
  assert.equal(keepCount(p, 0, 1), 1, 'BOS counted in addition');
  assert.equal(keepCount(p, 2, 1), 3);
  assert.equal(keepCount(p, 2, null), 2);
  assert.equal(keepCount(p, 2, 9), 2, 'a prompt without BOS');
  assert.equal(keepCount(p, -1, 1), 5, '-1: the whole prompt');
  assert.equal(keepCount(p, 9, 1), 5, 'beyond the prompt: the whole prompt');
  assert.equal(keepCount(p, 5, 1), 5, 'n_keep + BOS clamped to the prompt');
  assert.equal(discardCount(32, 4), 14);
  assert.equal(discardCount(32, 31), 0);
});

for (const kind of ['ref', 'wasm'] as const) {
  for (const kvType of ['f32', 'f16'] as const) {
    test(`${kind} ${kvType}: after shifts, the next logits equal a fresh evaluation of the kept tokens`, async () => {
      // The comparison: a sequence of context 32 generates 45 tokens greedily past its context (two
      // shifts, keeping BOS + 3); then the logits of one more token from the shifted cache against a fresh
      // sequence that evaluates the kept token list from position 0 and then that token. With one layer
      // the only difference is the rotation of the moved keys (f32: its own rounding; f16: rounding the
      // rotated value again), so the logits agree within the KV type's tolerance.
      const model = oneLayer[kind];
      const seq = model.createSequence({ contextSize: 32, kvType });
      const prompt = model.tokenizePrompt(PROMPT);
      const opts: GenerateOptions = { temperature: 0, maxTokens: 45, ignoreEos: true, contextShift: true, nKeep: 3 };
      const out = await collect(model.generateOn(seq, { tokens: prompt }, opts));
      assert.equal(out.tokens.length, 45, 'every token generated, past the context');
      assert.equal(out.last.finishReason, 'length');
      assert.ok(seq.shifted);
      assert.deepEqual(seq.tokens.slice(0, 4), prompt.slice(0, 4), 'BOS + n_keep tokens kept');
      const all = [...prompt, ...out.tokens];
      assert.deepEqual(seq.tokens.slice(-10), all.slice(-11, -1), 'the newest tokens are cached in order (the last drawn is not evaluated yet)');
      assert.ok(seq.tokens.length < 32);
      const kept = seq.tokens.slice();
      const next = out.tokens[out.tokens.length - 1]!;
      // the next token's logits, and its attention output (before the int8 activations make it discrete)
      const run = async (s: Sequence): Promise<{ logits: Float32Array; att: Float32Array }> => {
        let att = new Float32Array(0);
        const logits = await s.step(next, (name, _layer, data) => {
          if (name === 'kqv_out') att = data.slice();
        });
        return { logits, att };
      };
      const shifted = await run(seq);
      const fresh = model.createSequence({ contextSize: 32, kvType });
      await fresh.prefill(kept);
      const want = await run(fresh);
      // and the comparison can fail: the same tokens one position further differ far more
      const off = model.createSequence({ contextSize: 33, kvType });
      await off.prefill([kept[0]!, ...kept]);
      const moved = await run(off);
      const diff = (a: Float32Array, b: Float32Array): { max: number; scale: number } => {
        let max = 0;
        let scale = 0;
        for (let i = 0; i < b.length; i++) {
          max = Math.max(max, Math.abs(a[i]! - b[i]!));
          scale = Math.max(scale, Math.abs(b[i]!));
        }
        return { max, scale };
      };
      // f32: the rotations' own rounding; f16: rounding the rotated keys to f16 again (~2^-11 relative)
      const att = diff(shifted.att, want.att);
      const attTol = (kvType === 'f16' ? 2e-3 : 1e-5) * att.scale;
      assert.ok(att.max <= attTol, `attention outputs differ by up to ${att.max} (largest ${att.scale}, tolerance ${attTol})`);
      const attOff = diff(moved.att, want.att).max;
      assert.ok(attOff > 10 * attTol, `a position further changes the attention output by ${attOff}, beyond the tolerance ${attTol}`);
      // the logits: the int8 activation quantization after attention turns tiny differences into steps
      const lg = diff(shifted.logits, want.logits);
      const lgTol = (kvType === 'f16' ? 4e-2 : 1e-5) * lg.scale;
      assert.ok(lg.max <= lgTol, `logits differ by up to ${lg.max} (largest ${lg.scale}, tolerance ${lgTol})`);
      assert.ok(diff(moved.logits, want.logits).max > 2 * lgTol, 'a position further changes the logits beyond the tolerance');
      seq.dispose();
      fresh.dispose();
      off.dispose();
    });
  }
}

test('without contextShift the context ends the generation with length; with it, it goes on', async () => {
  const model = twoLayers;
  const base: GenerateOptions = { seed: 3, maxTokens: 100, ignoreEos: true };
  const seq = model.createSequence({ contextSize: 24 });
  const prompt = model.tokenizePrompt(PROMPT);
  const stopped = await collect(model.generateOn(seq, { tokens: prompt }, base));
  assert.equal(stopped.last.finishReason, 'length');
  assert.equal(prompt.length + stopped.tokens.length, 24, 'prompt + generated fill the context exactly');
  const going = await collect(model.generateOn(seq, { tokens: prompt }, { ...base, contextShift: true }));
  assert.equal(going.tokens.length, 100);
  assert.deepEqual(going.tokens.slice(0, stopped.tokens.length), stopped.tokens, 'the same tokens until the first shift');
  // n_keep -1 keeps the whole prompt: with less than two positions after it nothing can be dropped
  const long = model.createSequence({ contextSize: prompt.length + 1 });
  const kept = await collect(model.generateOn(long, { tokens: prompt }, { ...base, contextShift: true, nKeep: -1 }));
  assert.equal(kept.last.finishReason, 'length');
  assert.equal(kept.tokens.length, 1);
  await assert.rejects(collect(model.generateOn(seq, { tokens: prompt }, { ...base, contextShift: true, nKeep: -2 })), (e: unknown) => e instanceof BitnetError && e.subject === 'nKeep');
  seq.dispose();
  long.dispose();
});

test('after a shift, prefix reuse takes only the positions before the dropped span; a reused slot gives what a fresh one gives', async () => {
  const model = twoLayers;
  const seq: Sequence = model.createSequence({ contextSize: 24 });
  const prompt = model.tokenizePrompt(PROMPT);
  await collect(model.generateOn(seq, { tokens: prompt }, { seed: 1, maxTokens: 30, ignoreEos: true, contextShift: true, nKeep: 4 }));
  assert.ok(seq.shifted);
  const keep = 5;
  assert.equal(seq.commonPrefix(seq.tokens), keep, 'the cache matches its own tokens only up to the kept ones');
  // the cached (shifted) token list as a prompt: evaluated again past the kept tokens, as a fresh sequence does
  const again = seq.tokens.slice();
  const reusedRun = await collect(model.generateOn(seq, { tokens: again }, { seed: 2, maxTokens: 5 }));
  assert.equal(reusedRun.last.stats!.cachedTokens, keep);
  assert.ok(!seq.shifted, 're-evaluated: exact again');
  const fresh = model.createSequence({ contextSize: 24 });
  const freshRun = await collect(model.generateOn(fresh, { tokens: again }, { seed: 2, maxTokens: 5 }));
  assert.deepEqual(reusedRun.tokens, freshRun.tokens);
  seq.dispose();
  fresh.dispose();
});

test('a chat sequence: a long prompt continues its history; after a shift, another one is cut as a shift cuts', async () => {
  const model = twoLayers;
  const seq = model.createSequence({ contextSize: 40, keepHistory: true });
  const prompt = model.tokenizePrompt(PROMPT);
  const first = await collect(model.generateOn(seq, { tokens: prompt }, { seed: 1, maxTokens: 6, ignoreEos: true, contextShift: true, nKeep: 2 }));
  assert.ok(!seq.shifted);
  // the conversation goes on past the context: the cache is shifted to make room, only the new part evaluated
  const more = model.tokenize(' She had a big red ball and a small dog.');
  const longer = [...prompt, ...first.tokens, ...more];
  assert.ok(longer.length > 40);
  const cont = await collect(model.generateOn(seq, { tokens: longer }, { seed: 1, maxTokens: 2, ignoreEos: true, contextShift: true, nKeep: 2 }));
  assert.ok(seq.shifted);
  // (and the last token drawn before, which is never evaluated by the turn that draws it)
  assert.equal(cont.last.stats!.promptTokens - cont.last.stats!.cachedTokens, more.length + 1, 'only the new tokens evaluated');
  assert.deepEqual(seq.tokens.slice(0, 3), prompt.slice(0, 3));
  assert.deepEqual(seq.tokens.slice(-more.length - 1, -1), more);
  // a prompt that leaves the history inside the dropped span: its first 3 tokens and its last 18
  const other = [...prompt.slice(0, 5), ...model.tokenize(' Tom and Ben went to the park to play with a kite and a ball all day long.'.repeat(2))];
  assert.ok(other.length > 40);
  await collect(model.generateOn(seq, { tokens: other }, { seed: 1, maxTokens: 1, contextShift: true, nKeep: 2 }));
  assert.deepEqual(seq.tokens, [...other.slice(0, 3), ...other.slice(-18)]);
  // without a context shift, a prompt longer than the context is refused
  await assert.rejects(collect(model.generateOn(seq, { tokens: [...other, ...other] }, { maxTokens: 1 })), (e: unknown) => e instanceof BitnetError && e.code === 'CONTEXT_OVERFLOW');
  seq.dispose();
});

test('scheduler: slots shift under concurrent load and finish; without contextShift they stop with length', async () => {
  const model = twoLayers;
  const prompts = ['Once upon a time', 'Lily loved to play outside', 'The cat', 'A little boy named Tim'].map((p) => model.tokenizePrompt(p));
  for (const contextShift of [true, false]) {
    const sched = model.createScheduler({ parallel: 3, contextSize: 20, contextShift, nKeep: 2 });
    try {
      const handles = prompts.map((p, i) => sched.submit(p, { seed: i, maxTokens: 50, ignoreEos: true }));
      const results = await Promise.all(handles.map(async (h) => {
        const tokens: number[] = [];
        for await (const c of h) {
          tokens.push(...c.tokens);
          if (c.done) return { tokens, finish: c.finishReason };
        }
        throw new Error('no final chunk');
      }));
      results.forEach((r, i) => {
        assert.equal(r.finish, 'length');
        assert.equal(r.tokens.length, contextShift ? 50 : 20 - prompts[i]!.length, `request ${i}`);
      });
      if (contextShift) {
        // each gives what it gives alone on a sequence (same seed, same shifts)
        for (const [i, p] of prompts.entries()) {
          const seq = model.createSequence({ contextSize: 20 });
          const alone = await collect(model.generateOn(seq, { tokens: p }, { seed: i, maxTokens: 50, ignoreEos: true, contextShift: true, nKeep: 2 }));
          assert.deepEqual(results[i]!.tokens, alone.tokens, `request ${i} as alone`);
          seq.dispose();
        }
      }
    } finally {
      await sched.dispose();
    }
  }
});

test('bundled model: a chat driven past 3x the context answers in text, no crash', { skip: defaultModelPath() ? false : 'the bundled model is missing' }, async () => {
  const model = await loadModel(defaultModelPath()!, { threads: 1 });
  try {
    const ctx = 96;
    const chat = model.createChat({ system: 'You tell short stories.', contextSize: ctx });
    let evaluated = 0;
    const turns = ['Tell me about a cat.', 'What did the cat do next?', 'And then?', 'Who was her friend?', 'Where did they go?', 'How did it end?', 'Tell me another one.', 'Thank you!'];
    for (const [i, text] of turns.entries()) {
      const out = await collect(chat.send(text, { seed: i, maxTokens: 48, contextShift: true, temperature: 0.7 }));
      const stats = out.last.stats!;
      evaluated += stats.promptTokens - stats.cachedTokens + stats.generatedTokens;
      assert.ok(out.text.length > 0, `turn ${i} answered`);
      assert.ok(!out.text.includes('\uFFFD'), `turn ${i}: no broken UTF-8`);
      assert.match(out.text, /^[\x20-\x7e\n\u2018-\u201d]*$/, `turn ${i}: printable text`);
      assert.match(out.text, /[a-zA-Z]{2,}/, `turn ${i}: words`);
      // each later turn continues the (shifted) cache: only the new turn's ~20 tokens are evaluated
      if (i > 0) assert.ok(stats.promptTokens - stats.cachedTokens < 30, `turn ${i}: ${stats.promptTokens - stats.cachedTokens} prompt tokens evaluated`);
    }
    assert.ok(evaluated > 3 * ctx, `${evaluated} tokens evaluated in a context of ${ctx}`);
    assert.ok(chat.sequence.shifted);
  } finally {
    await model.dispose();
  }
});
