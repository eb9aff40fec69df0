// Continuous batching on a tiny fixture model: requests decoded together give exactly the tokens each gives
// alone (same seed), prompts longer than a batch are chunked the same way, slots reuse cached prefixes,
// the queue bound, cancellation frees a slot, and the counters add up.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getEventListeners } from 'node:events';
import { after, before, test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import type { GenerateOptions } from '../../../src/generate/generate.js';
import type { GenerationHandle } from '../../../src/generate/scheduler.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';

let dir: string;
let models: Record<'wasm' | 'ref', BitnetModel>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-scheduler-'));
  const path = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  // a small batch size so prompts span several chunks
  models = { wasm: await loadModel(path, { batchSize: 8, threads: 2 }), ref: await loadModel(path, { batchSize: 8, backend: 'ref' }) };
});

after(async () => {
  await models.wasm.dispose();
  await models.ref.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function drain(h: GenerationHandle): Promise<{ text: string; tokens: number[]; cached: number; finish: string | undefined }> {
  let text = '';
  const tokens: number[] = [];
  for await (const c of h) {
    text += c.text;
    tokens.push(...c.tokens);
    if (c.done) return { text, tokens, cached: c.stats!.cachedTokens, finish: c.finishReason };
  }
  throw new Error('no final chunk');
}

const REQUESTS: Array<{ prompt: string; opts: GenerateOptions }> = [
  { prompt: 'Once upon a time', opts: { seed: 1, maxTokens: 12 } },
  { prompt: 'The capital of France is', opts: { seed: 2, maxTokens: 5, temperature: 0 } },
  { prompt: 'Lily loved to play outside in the park with her friends, and one day', opts: { seed: 3, maxTokens: 20, topK: 5 } },
  { prompt: 'A', opts: { seed: 4, maxTokens: 7, temperature: 1.2, repeatPenalty: 1.3 } },
  { prompt: 'She', opts: { seed: 5, maxTokens: 1 } },
  { prompt: 'Once upon a time there was', opts: { seed: 6, maxTokens: 16, stop: ['e'] } },
  { prompt: 'little girl named', opts: { seed: 7, maxTokens: 9, presencePenalty: 0.5, frequencyPenalty: 0.5 } },
  { prompt: 'in the sunshine. in the sunshine. in the sunshine.', opts: { seed: 8, maxTokens: 14, minP: 0.1 } },
];

for (const kind of ['wasm', 'ref'] as const) {
  test(`${kind}: 8 requests on 4 slots give what each gives alone`, async () => {
    const model = models[kind];
    const alone: Array<{ text: string; tokens: number[] }> = [];
    for (const r of REQUESTS) {
      const res = await model.complete(r.prompt, r.opts);
      alone.push({ text: res.text, tokens: res.tokens });
    }
    const sched = model.createScheduler({ parallel: 4, maxQueue: 8 });
    try {
      const handles = REQUESTS.map((r) => sched.submit(model.tokenizePrompt(r.prompt), r.opts));
      const together = await Promise.all(handles.map(drain));
      together.forEach((t, i) => assert.deepEqual({ text: t.text, tokens: t.tokens }, alone[i], `request ${i}`));
      const s = sched.stats();
      assert.equal(s.requestsStarted, 8);
      assert.equal(s.requestsFinished, 8);
      assert.equal(s.generatedTokens, together.reduce((a, t) => a + t.tokens.length, 0));
      assert.ok(s.steps < together.reduce((a, t) => a + t.tokens.length, 0), 'steps were shared');
      assert.equal(s.busySlots, 0);
      assert.equal(s.queued, 0);
    } finally {
      await sched.dispose();
    }
  });
}

test('a slot reuses the longest cached prefix and still matches a lone run', async () => {
  const model = models.wasm;
  const sched = model.createScheduler({ parallel: 2 });
  try {
    const base = 'Once upon a time, there was a little girl named Lily. She loved';
    await drain(sched.submit(model.tokenizePrompt(base), { seed: 1, maxTokens: 3 }));
    await drain(sched.submit(model.tokenizePrompt('The sunshine'), { seed: 1, maxTokens: 3 }));
    for (const prompt of [`${base} to play`, `${base} to play outside`]) {
      const r = await drain(sched.submit(model.tokenizePrompt(prompt), { seed: 9, maxTokens: 6 }));
      assert.ok(r.cached >= model.tokenizePrompt(base).length - 1, `cached ${r.cached}`);
      const alone = await model.complete(prompt, { seed: 9, maxTokens: 6 });
      assert.deepEqual(r.tokens, alone.tokens);
    }
  } finally {
    await sched.dispose();
  }
});

test('a full queue throws QUEUE_FULL; an over-long prompt CONTEXT_OVERFLOW naming both lengths', async () => {
  const model = models.wasm;
  const sched = model.createScheduler({ parallel: 1, maxQueue: 1, contextSize: 32 });
  try {
    const a = sched.submit(model.tokenizePrompt('Once'), { seed: 1, maxTokens: 4 });
    const b = sched.submit(model.tokenizePrompt('Once'), { seed: 1, maxTokens: 4 });
    assert.throws(() => sched.submit(model.tokenizePrompt('Once'), { maxTokens: 4 }), (e: unknown) => e instanceof BitnetError && e.code === 'QUEUE_FULL');
    assert.equal(sched.stats().rejectedQueueFull, 1);
    const long = Array.from({ length: 40 }, () => 5);
    assert.throws(() => sched.submit(long), (e: unknown) => e instanceof BitnetError && e.code === 'CONTEXT_OVERFLOW' && /40/.test(e.message) && /32/.test(e.message));
    await Promise.all([drain(a), drain(b)]);
    // the context fills: generation ends with 'length'
    const full = await drain(sched.submit(Array.from({ length: 30 }, (_, i) => 10 + i), { seed: 1, ignoreEos: true }));
    assert.equal(full.finish, 'length');
    // prompt + generated never exceed the context (30 + 2 = 32)
    assert.equal(full.tokens.length, 2);
    const exact = await drain(sched.submit(Array.from({ length: 32 }, (_, i) => 10 + i), { seed: 1, ignoreEos: true }));
    assert.equal(exact.finish, 'length');
    assert.deepEqual(exact.tokens, []);
  } finally {
    await sched.dispose();
  }
});

test('cancelling a stream frees its slot for the next request', async () => {
  const model = models.wasm;
  const sched = model.createScheduler({ parallel: 1, maxQueue: 4 });
  try {
    const ctrl = new AbortController();
    const h = sched.submit(model.tokenizePrompt('Once upon a time'), { seed: 1, maxTokens: 200, ignoreEos: true, signal: ctrl.signal });
    const waiting = sched.submit(model.tokenizePrompt('She'), { seed: 2, maxTokens: 3 });
    let n = 0;
    await assert.rejects(
      (async () => {
        for await (const c of h) {
          n += c.tokens.length;
          if (n === 3) ctrl.abort();
        }
      })(),
      (e: unknown) => e instanceof BitnetError && e.code === 'ABORTED',
    );
    assert.ok(n <= 4, `stopped within a token of the abort (got ${n})`);
    const next = await drain(waiting);
    assert.deepEqual(next.tokens, (await model.complete('She', { seed: 2, maxTokens: 3 })).tokens);
    // leaving a for-await loop early cancels too
    for await (const c of sched.submit(model.tokenizePrompt('Once'), { seed: 3, maxTokens: 100, ignoreEos: true })) if (c.tokens.length) break;
    await sched.idle();
    const s = sched.stats();
    assert.equal(s.requestsCancelled, 2);
    assert.equal(s.busySlots, 0);
  } finally {
    await sched.dispose();
  }
});

test('a pre-aborted signal ends at once; a long-lived signal keeps no listeners from finished requests', async () => {
  const model = models.wasm;
  const sched = model.createScheduler({ parallel: 2 });
  try {
    const dead = AbortSignal.abort();
    await assert.rejects(drain(sched.submit(model.tokenizePrompt('Once'), { maxTokens: 3, signal: dead })), (e: unknown) => e instanceof BitnetError && e.code === 'ABORTED');
    const live = new AbortController();
    for (let i = 0; i < 5; i++) await drain(sched.submit(model.tokenizePrompt('Once'), { seed: i, maxTokens: 2, signal: live.signal }));
    assert.equal(getEventListeners(live.signal, 'abort').length, 0);
  } finally {
    await sched.dispose();
  }
});

test('a closed scheduler refuses new requests with UNAVAILABLE', async () => {
  const model = models.wasm;
  const sched = model.createScheduler({ parallel: 1 });
  await sched.close();
  assert.throws(() => sched.submit([1, 2]), (e: unknown) => e instanceof BitnetError && e.code === 'UNAVAILABLE');
  await sched.dispose();
});
