// End to end on the WebGPU backend (SwiftShader when the machine has no GPU): the logits of every fixture
// format of every architecture against the CPU (WASM) backend, batch and generation modes, int8 and exact
// lm_head; and greedy generation of the bundled TinyStories model giving the CPU backend's text. On a
// software adapter (SwiftShader, which computes a * b + c without fusing) the logits are the CPU backend's
// bit for bit; a hardware GPU may fuse multiply-adds in the float32 dot sums (RoPE, Q.K, P.V, the exact
// lm_head), which can move an int8 activation by one step now and then: there logits must agree within
// 5e-2 of the row's largest magnitude (random fixture weights amplify such a step).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { BitnetError, loadModel } from '../../../src/index.js';
import { makeFixture, ODD, QWEN3_EMBED, TINY, writeAllFixtures, writeGgufFixture, type FixtureArch } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { testGpu } from '../kernels/webgpu-gpu.js';
import { generationMode } from './helpers.js';

const probe = await testGpu();
const skip = 'skip' in probe ? probe.skip : false;
const dir = tempDir('webgpu-e2e');
const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150, 250, 77];
const REL = 'skip' in probe || probe.hardware ? 5e-2 : 0;

function closeRows(a: Float32Array[], b: Float32Array[], what: string): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  a.forEach((row, t) => {
    const amax = b[t]!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < row.length; i++) {
      const d = Math.abs(row[i]! - b[t]![i]!);
      worst = Math.max(worst, d / amax);
      if (REL === 0 ? !Object.is(row[i], b[t]![i]) : !(d <= REL * amax)) assert.fail(`${what}: position ${t} logit ${i}: ${row[i]} vs ${b[t]![i]}`);
    }
  });
  return worst;
}


/** Formats per architecture (every format for 2B4T's architecture; one for the others, to keep SwiftShader's time down). */
const CASES: Array<[string, typeof TINY, string[] | 'all']> = [
  ['bitnet-b1.58', TINY, 'all'],
  ['bitnet', TINY, ['gguf-tq2_0-scales', 'gguf-i2_s-f16']],
  ['llama', TINY, ['gguf-i2_s-f16']],
  ['bitnet-b1.58 odd', ODD, ['gguf-i2_s-f16', 'gguf-f32-bf16']],
];

for (const [arch, config, formats] of CASES) {
  test(`${arch}: WebGPU logits match the CPU backend (${formats === 'all' ? 'every format' : formats.join(', ')})`, { skip }, async () => {
    const fx = makeFixture({ ...config, arch: arch.split(' ')[0] as FixtureArch, seed: 8 });
    const set = await writeAllFixtures(fx, join(dir, arch.replace(' ', '-')));
    const tokens = [fx.vocab.bos!, ...TOKENS.map((t) => t % fx.ref.nVocab)];
    const names = formats === 'all' ? Object.keys(set.paths) : formats;
    for (const name of names) {
      const path = set.paths[name];
      assert.ok(path, `fixture ${name}`);
      // the exact lm_head on F16/BF16 embeddings; generation mode on the first format
      const heads = name === 'gguf-i2_s-f16' || name === 'gguf-f32-bf16' ? (['int8', 'exact'] as const) : (['int8'] as const);
      for (const lmHead of heads) {
        const cpu = await loadModel(path, { backend: 'cpu', threads: 1, lmHead });
        const gpu = await loadModel(path, { backend: 'webgpu', lmHead });
        assert.match(gpu.backend.name, /^webgpu/);
        closeRows(await gpu.evaluate(tokens), await cpu.evaluate(tokens), `${name} ${lmHead} batch`);
        if (name === names[0]) closeRows(await generationMode(gpu, tokens), await generationMode(cpu, tokens), `${name} ${lmHead} generation`);
        await gpu.dispose();
        await cpu.dispose();
      }
    }
  });
}

test('qwen3 (BitNet embedding model layout: input norms, Q/K norms, head size 128): WebGPU logits match the CPU backend', { skip }, async () => {
  const fx = makeFixture(QWEN3_EMBED);
  const path = join(dir, 'qwen3.gguf');
  await writeGgufFixture(fx, path, { weights: 'I2_S', embedding: 'F16' });
  const tokens = TOKENS.map((t) => t % fx.ref.nVocab);
  const cpu = await loadModel(path, { backend: 'cpu', threads: 1, lmHead: 'exact' });
  const gpu = await loadModel(path, { backend: 'webgpu', lmHead: 'exact' });
  try {
    closeRows(await gpu.evaluate(tokens), await cpu.evaluate(tokens), 'qwen3 batch');
    closeRows(await generationMode(gpu, tokens), await generationMode(cpu, tokens), 'qwen3 generation');
  } finally {
    await gpu.dispose();
    await cpu.dispose();
  }
});

test('the exact lm_head of a Q8_0 embedding is refused with a typed error', { skip }, async () => {
  const fx = makeFixture({ ...TINY, seed: 8 });
  const set = await writeAllFixtures(fx, join(dir, 'q8'));
  await assert.rejects(loadModel(set.paths['gguf-i2_s-q8_0']!, { backend: 'webgpu', lmHead: 'exact' }), (e) => e instanceof BitnetError && e.code === 'UNSUPPORTED_TENSOR_TYPE');
});

test('the bundled model generates the same greedy text on WebGPU as on the CPU', { skip }, async () => {
  const path = join(import.meta.dirname, '../../../models/bitnet-b1.58-tinystories-1m.gguf');
  const texts: string[] = [];
  for (const backend of ['cpu', 'webgpu'] as const) {
    const m = await loadModel(path, { backend, threads: 1 });
    const r = await m.complete('Once upon a time, a little girl', { temperature: 0, maxTokens: 40, ignoreEos: true });
    texts.push(r.text);
    await m.dispose();
  }
  assert.ok(texts[0]!.length > 20, texts[0]);
  assert.equal(texts[1], texts[0]);
});

test('the server\'s scheduler on WebGPU: 3 sequences decoded together give each one\'s CPU text', { skip }, async () => {
  const path = join(import.meta.dirname, '../../../models/bitnet-b1.58-tinystories-1m.gguf');
  const prompts = ['Once upon a time', 'The little dog', 'Tom and Sue went to the park. They'];
  const opts = (i: number) => ({ seed: 10 + i, maxTokens: 16, ignoreEos: true });
  const cpu = await loadModel(path, { backend: 'cpu', threads: 1 });
  const expected: number[][] = [];
  for (const [i, p] of prompts.entries()) expected.push((await cpu.complete(p, opts(i))).tokens);
  await cpu.dispose();
  const gpu = await loadModel(path, { backend: 'webgpu' });
  const sched = gpu.createScheduler({ parallel: 3 });
  try {
    const got = await Promise.all(
      prompts.map(async (p, i) => {
        const tokens: number[] = [];
        for await (const c of sched.submit(gpu.tokenizePrompt(p), opts(i))) tokens.push(...c.tokens);
        return tokens;
      }),
    );
    if (REL === 0) assert.deepEqual(got, expected);
    else got.forEach((t, i) => assert.equal(t.length, expected[i]!.length));
    assert.ok(sched.stats().steps < 3 * 16, `batched: ${sched.stats().steps} steps for 3 x 16 tokens`);
  } finally {
    await sched.dispose();
    await gpu.dispose();
  }
});

test('GPU memory stays bounded over batches of many different lengths (freed buffers are pooled, not hoarded)', { skip }, async () => {
  const path = join(import.meta.dirname, '../../../models/bitnet-b1.58-tinystories-1m.gguf');
  const m = await loadModel(path, { backend: 'webgpu' });
  try {
    const ids = Array.from({ length: 64 }, (_, i) => 20 + i);
    await m.evaluate(ids);
    const after = m.backend.memoryBytes!();
    for (let n = 1; n < 64; n += 2) await m.evaluate(ids.slice(0, n));
    // the pool keeps at most what was ever in use at once: the 64-token pass's activations and cache
    assert.ok(m.backend.memoryBytes!() <= after * 1.25, `${m.backend.memoryBytes!()} bytes after 32 more lengths, ${after} after the largest`);
  } finally {
    await m.dispose();
  }
});

test('bitnet run --backend webgpu prints the text of --backend cpu', { skip }, async () => {
  const root = join(import.meta.dirname, '../../..');
  const run = (backend: string) =>
    new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const args = ['--import', 'tsx', 'src/cli/main.ts', 'run', '--backend', backend, '-n', '12', '--temp', '0', '-p', 'Once upon a time'];
      execFile(process.execPath, args, { cwd: root, env: { ...process.env, BITNET_BACKEND: '' } }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr })));
    });
  const gpu = await run('webgpu');
  const cpu = await run('cpu');
  assert.ok(cpu.stdout.length > 10, cpu.stdout);
  assert.equal(gpu.stdout, cpu.stdout);
  assert.match(gpu.stderr, /webgpu/);
});
