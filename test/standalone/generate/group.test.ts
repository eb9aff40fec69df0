// Scheduler.submitGroup (OpenAI's n): n generations on one prompt evaluated once, its K/V copied between
// slots. Each member gives, token for token, what a lone generation gives with seed + i (greedy and seeded),
// on the reference and WASM backends; with more members than slots (members wait in the queue and copy from
// a member's slot), when the leader is cancelled before its prompt is evaluated, with prompt logprobs; and
// the queue counts every member.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import type { GenerateOptions } from '../../../src/generate/generate.js';
import type { GenerationHandle } from '../../../src/generate/scheduler.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('group');
let models: Record<'wasm' | 'ref', BitnetModel>;
// several batches of 8 tokens, and not one more than a multiple of 8 (see lone())
const PROMPT = 'Once upon a time, there was a little girl named Lily. She loved to play outside';

before(async () => {
  const path = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  models = { wasm: await loadModel(path, { batchSize: 8, threads: 2 }), ref: await loadModel(path, { batchSize: 8, backend: 'ref' }) };
});

after(async () => {
  await models.wasm.dispose();
  await models.ref.dispose();
});

interface Run {
  tokens: number[];
  cached: number;
  promptLogprobs: unknown;
}

async function drain(h: AsyncIterable<import('../../../src/generate/generate.js').GenerationChunk>): Promise<Run> {
  const tokens: number[] = [];
  let promptLogprobs: unknown;
  for await (const c of h) {
    tokens.push(...c.tokens);
    promptLogprobs ??= c.promptLogprobs;
    if (c.done) return { tokens, cached: c.stats!.cachedTokens, promptLogprobs };
  }
  throw new Error('no final chunk');
}

/** A lone generation on a fresh cache (a reused prefix could end the prompt in other batches: other numerics). */
async function lone(model: BitnetModel, opts: GenerateOptions): Promise<number[]> {
  const seq = model.createSequence();
  try {
    return (await drain(model.generateOn(seq, PROMPT, opts))).tokens;
  } finally {
    seq.dispose();
  }
}

const CASES: Array<[string, GenerateOptions]> = [
  ['greedy', { temperature: 0, maxTokens: 12, ignoreEos: true }],
  ['seeded', { seed: 40, temperature: 1.3, topK: 0, topP: 1, minP: 0, maxTokens: 12, ignoreEos: true }],
  ['seeded with penalties', { seed: 7, temperature: 0.9, repeatPenalty: 1.2, maxTokens: 9 }],
];

for (const kind of ['ref', 'wasm'] as const) {
  for (const [name, opts] of CASES) {
    test(`${kind}: a group of 3 on 4 slots (${name}) matches 3 lone generations with seeds seed + i`, async () => {
      const model = models[kind];
      const prompt = model.tokenizePrompt(PROMPT);
      assert.notEqual(prompt.length % 8, 1);
      const want = await Promise.all([0, 1, 2].map((i) => lone(model, opts.seed === undefined ? opts : { ...opts, seed: opts.seed + i })));
      const sched = model.createScheduler({ parallel: 4 });
      try {
        const runs = await Promise.all(sched.submitGroup(prompt, opts, 3).map(drain));
        runs.forEach((r, i) => assert.deepEqual(r.tokens, want[i], `member ${i}`));
        if (opts.seed !== undefined) assert.notDeepEqual(runs[0]!.tokens, runs[1]!.tokens, 'members draw independently');
        // the prompt was evaluated once: the other members took all of it from the leader's cache
        assert.deepEqual(runs.map((r) => r.cached), [0, prompt.length, prompt.length]);
        const s = sched.stats();
        assert.equal(s.cachedPromptTokens, 2 * prompt.length);
        assert.equal(s.requestsFinished, 3);
      } finally {
        await sched.dispose();
      }
    });
  }
}

test('more members than slots: the rest wait in the queue and copy the prompt from a member', async () => {
  const model = models.wasm;
  const prompt = model.tokenizePrompt(PROMPT);
  const opts: GenerateOptions = { seed: 3, temperature: 1, maxTokens: 6, ignoreEos: true };
  const want = await Promise.all([0, 1, 2, 3, 4].map((i) => lone(model, { ...opts, seed: 3 + i })));
  const sched = model.createScheduler({ parallel: 2, maxQueue: 3 });
  try {
    const runs = await Promise.all(sched.submitGroup(prompt, opts, 5).map(drain));
    runs.forEach((r, i) => assert.deepEqual(r.tokens, want[i], `member ${i}`));
    assert.deepEqual(runs.map((r) => r.cached), [0, ...Array(4).fill(prompt.length)]);
    // with every member's slot taken by another prompt, a late member evaluates the prompt again
    const other = sched.submitGroup(model.tokenizePrompt('The cat sat on the mat.'), { temperature: 0, maxTokens: 2 }, 2);
    await Promise.all(other.map(drain));
  } finally {
    await sched.dispose();
  }
});

test('queued members copy the prompt from a decoding member, or take the slot a finished member left', async () => {
  const model = models.ref;
  const prompt = model.tokenizePrompt(PROMPT);
  const opts: GenerateOptions = { seed: 9, temperature: 1, maxTokens: 20, ignoreEos: true };
  const want = await Promise.all([0, 1, 2].map((i) => lone(model, { ...opts, seed: 9 + i })));
  const sched = model.createScheduler({ parallel: 2, maxQueue: 4 });
  try {
    // a short request holds one slot, the group's first member the other; members 1 and 2 queue. When the
    // short one ends, member 1 copies the prompt from member 0's slot (still decoding); member 2 then takes
    // the slot member 0 or 1 leaves, whose cache holds the prompt
    const hog = sched.submit(model.tokenizePrompt('The cat'), { temperature: 0, maxTokens: 8, ignoreEos: true });
    const members = sched.submitGroup(prompt, opts, 3);
    const first = await drain(members[0]!);
    assert.deepEqual(first.tokens, want[0]);
    const rest = await Promise.all([drain(members[1]!), drain(members[2]!), drain(hog)]);
    assert.deepEqual(rest[0].tokens, want[1]);
    assert.deepEqual(rest[1].tokens, want[2]);
  } finally {
    await sched.dispose();
  }
});

test('cancelling the leader while it evaluates the prompt hands the prompt to a waiting member', async () => {
  const model = models.wasm;
  const prompt = model.tokenizePrompt(PROMPT);
  const opts: GenerateOptions = { seed: 21, temperature: 1, maxTokens: 5, ignoreEos: true };
  const want = await Promise.all([1, 2].map((i) => lone(model, { ...opts, seed: 21 + i })));
  const sched = model.createScheduler({ parallel: 3 });
  try {
    const [leader, ...others] = sched.submitGroup(prompt, opts, 3);
    leader!.cancel();
    await assert.rejects(drain(leader!), (e: unknown) => e instanceof BitnetError && e.code === 'ABORTED');
    const runs = await Promise.all(others.map(drain));
    runs.forEach((r, i) => assert.deepEqual(r.tokens, want[i], `member ${i + 1}`));
    assert.equal(sched.stats().requestsCancelled, 1);
  } finally {
    await sched.dispose();
  }
});

test('every member carries the prompt logprobs; maxTokens 0 scores once for all', async () => {
  const model = models.ref;
  const prompt = model.tokenizePrompt(PROMPT);
  const sched = model.createScheduler({ parallel: 2 });
  try {
    const alone = await drain(sched.submit(prompt, { maxTokens: 0, promptLogprobs: 2 }));
    const runs = await Promise.all(sched.submitGroup(prompt, { seed: 1, maxTokens: 3, promptLogprobs: 2 }, 3).map(drain));
    for (const r of runs) assert.deepEqual(r.promptLogprobs, alone.promptLogprobs);
    assert.equal((alone.promptLogprobs as unknown[]).length, prompt.length);
  } finally {
    await sched.dispose();
  }
});

test('a group counts every member against the queue', async () => {
  const model = models.wasm;
  const prompt = model.tokenizePrompt('Once upon a time');
  const sched = model.createScheduler({ parallel: 2, maxQueue: 2 });
  try {
    const isErr = (code: string, name?: string) => (e: unknown) => e instanceof BitnetError && e.code === code && (name === undefined || e.subject === name);
    assert.throws(() => sched.submitGroup(prompt, {}, 5), isErr('INVALID_ARGUMENT', 'n'), 'more than slots + queue: never admissible');
    assert.throws(() => sched.submitGroup(prompt, {}, 0), isErr('INVALID_ARGUMENT', 'n'));
    const busy: GenerationHandle[] = [sched.submit(prompt, { maxTokens: 3, seed: 1 }), sched.submit(prompt, { maxTokens: 3, seed: 2 })];
    // both slots busy: 2 may wait, 3 may not
    assert.throws(() => sched.submitGroup(prompt, { maxTokens: 2 }, 3), isErr('QUEUE_FULL'));
    const group = sched.submitGroup(prompt, { maxTokens: 2, seed: 5 }, 2);
    assert.throws(() => sched.submit(prompt, {}), isErr('QUEUE_FULL'));
    const runs = await Promise.all([...busy, ...group].map(drain));
    assert.ok(runs.every((r) => r.tokens.length > 0));
    assert.equal(sched.stats().requestsFinished, 4);
  } finally {
    await sched.dispose();
  }
});
