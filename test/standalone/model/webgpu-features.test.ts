// Issue 18's engine features on the WebGPU backend (SwiftShader when the machine has no GPU), through the
// server's scheduler: a submitGroup whose members copy the prompt's K/V on the GPU gives each lone run's
// tokens; embeddings (the 'hidden' output read back from the GPU), prompt logprobs and a logit bias ban
// give the CPU backend's results: bit for bit on a software adapter, within 5e-2 on a hardware GPU (which
// may fuse multiply-adds; see webgpu-e2e.test.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { GenerateOptions, GenerationChunk } from '../../../src/generate/generate.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { testGpu } from '../kernels/webgpu-gpu.js';

const probe = await testGpu();
const skip = 'skip' in probe ? probe.skip : false;
const REL = 'skip' in probe || probe.hardware ? 5e-2 : 0;
const dir = tempDir('webgpu-features');
const PROMPT = 'Once upon a time, there was a little girl named Lily.';
let gpu: BitnetModel;
let cpu: BitnetModel;

before(async () => {
  if (skip) return;
  const path = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  gpu = await loadModel(path, { backend: 'webgpu', batchSize: 8 });
  cpu = await loadModel(path, { backend: 'cpu', threads: 1, batchSize: 8 });
});

after(async () => {
  await gpu?.dispose();
  await cpu?.dispose();
});

function close(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    const ok = REL === 0 ? Object.is(a[i], b[i]) : Math.abs(a[i]! - b[i]!) <= REL * Math.max(1, Math.abs(b[i]!));
    if (!ok) assert.fail(`${what}: [${i}] ${a[i]} vs ${b[i]}`);
  }
}

async function drain(h: AsyncIterable<GenerationChunk>): Promise<{ tokens: number[]; chunks: GenerationChunk[] }> {
  const chunks: GenerationChunk[] = [];
  for await (const c of h) chunks.push(c);
  return { tokens: chunks.flatMap((c) => c.tokens), chunks };
}

test('webgpu: a group of 3 (K/V copied on the GPU) gives each lone run\'s tokens', { skip }, async () => {
  const opts: GenerateOptions = { seed: 12, temperature: 1, maxTokens: 8, ignoreEos: true };
  const want: number[][] = [];
  for (const i of [0, 1, 2]) {
    const seq = gpu.createSequence();
    want.push((await drain(gpu.generateOn(seq, PROMPT, { ...opts, seed: 12 + i }))).tokens);
    seq.dispose();
  }
  const sched = gpu.createScheduler({ parallel: 3 });
  try {
    const runs = await Promise.all(sched.submitGroup(gpu.tokenizePrompt(PROMPT), opts, 3).map(drain));
    runs.forEach((r, i) => assert.deepEqual(r.tokens, want[i], `member ${i}`));
    assert.equal(sched.stats().cachedPromptTokens, 2 * gpu.tokenizePrompt(PROMPT).length);
  } finally {
    await sched.dispose();
  }
});

test('webgpu: embeddings, prompt logprobs and a logit bias ban as on the CPU', { skip }, async () => {
  const sg = gpu.createScheduler({ parallel: 2 });
  const sc = cpu.createScheduler({ parallel: 2 });
  try {
    const ids = gpu.tokenizePrompt(PROMPT);
    for (const pooling of ['mean', 'last', 'cls', 'none'] as const) {
      close(await sg.embed(ids, { pooling }), await sc.embed(ids, { pooling }), `embed ${pooling}`);
      close(await gpu.embed(PROMPT, { pooling }), await cpu.embed(PROMPT, { pooling }), `model.embed ${pooling}`);
    }
    const opts: GenerateOptions = { maxTokens: 0, promptLogprobs: 2 };
    const [g, c] = await Promise.all([drain(sg.submit(ids, opts)), drain(sc.submit(ids, opts))]);
    const flat = (r: { chunks: GenerationChunk[] }): number[] => r.chunks[0]!.promptLogprobs!.flatMap((e) => (e ? [e.logprob, ...e.top.map((t) => t.logprob)] : []));
    close(flat(g), flat(c), 'prompt logprobs');
    const greedy = await drain(sg.submit(ids, { temperature: 0, maxTokens: 6, ignoreEos: true }));
    const banned = await drain(sg.submit(ids, { temperature: 0, maxTokens: 6, ignoreEos: true, logitBias: Object.fromEntries(greedy.tokens.map((t) => [t, -100])) }));
    for (const t of banned.tokens) assert.ok(!greedy.tokens.includes(t), `banned token ${t}`);
  } finally {
    await sg.dispose();
    await sc.dispose();
  }
});
