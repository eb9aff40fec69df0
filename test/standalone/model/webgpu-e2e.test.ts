// End to end on the WebGPU backend (SwiftShader when the machine has no GPU): the logits of every fixture
// format of every architecture against the CPU (WASM) backend, batch and generation modes, int8 and exact
// lm_head; and greedy generation of the bundled TinyStories model giving the CPU backend's text. The GPU
// sums RMSNorm squares and softmax exponentials in float32 (the CPU: double), which can move an int8
// activation by one step now and then: logits must agree within 1e-3 of the row's largest magnitude.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { BitnetError, loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, ODD, TINY, writeAllFixtures, type FixtureArch } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { testGpu } from '../kernels/webgpu-gpu.js';

const probe = await testGpu();
const skip = 'skip' in probe ? probe.skip : false;
const dir = tempDir('webgpu-e2e');
const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150, 250, 77];
const REL = 1e-3;

function closeRows(a: Float32Array[], b: Float32Array[], what: string): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  a.forEach((row, t) => {
    const amax = b[t]!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < row.length; i++) {
      const d = Math.abs(row[i]! - b[t]![i]!);
      worst = Math.max(worst, d / amax);
      if (!(d <= REL * amax)) assert.fail(`${what}: position ${t} logit ${i}: ${row[i]} vs ${b[t]![i]}`);
    }
  });
  return worst;
}

async function generationMode(m: BitnetModel, tokens: number[]): Promise<Float32Array[]> {
  const seq = m.createSequence();
  const rows = [(await seq.prefill(tokens.slice(0, 4))).logits];
  for (const t of tokens.slice(4)) rows.push(await seq.step(t));
  seq.dispose();
  return rows;
}

for (const [arch, config] of [['bitnet-b1.58', TINY], ['bitnet', TINY], ['llama', TINY], ['bitnet-b1.58 odd', ODD]] as Array<[string, typeof TINY]>) {
  test(`${arch}: WebGPU logits match the CPU backend in every format`, { skip }, async () => {
    const fx = makeFixture({ ...config, arch: arch.split(' ')[0] as FixtureArch, seed: 8 });
    const set = await writeAllFixtures(fx, join(dir, arch.replace(' ', '-')));
    const tokens = [fx.vocab.bos!, ...TOKENS.map((t) => t % fx.ref.nVocab)];
    for (const [name, path] of Object.entries(set.paths)) {
      for (const lmHead of ['int8', 'exact'] as const) {
        const cpu = await loadModel(path, { backend: 'cpu', threads: 1, lmHead });
        let gpu: BitnetModel;
        try {
          gpu = await loadModel(path, { backend: 'webgpu', lmHead });
        } catch (e) {
          // the exact lm_head of a block-quantized embedding (Q8_0, Q6_K) has no WebGPU kernel: a typed error
          assert.ok(lmHead === 'exact' && e instanceof BitnetError && e.code === 'UNSUPPORTED_TENSOR_TYPE', `${name}: ${String(e)}`);
          await cpu.dispose();
          continue;
        }
        assert.match(gpu.backend.name, /^webgpu/);
        closeRows(await gpu.evaluate(tokens), await cpu.evaluate(tokens), `${name} ${lmHead} batch`);
        closeRows(await generationMode(gpu, tokens), await generationMode(cpu, tokens), `${name} ${lmHead} generation`);
        await gpu.dispose();
        await cpu.dispose();
      }
    }
  });
}

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
