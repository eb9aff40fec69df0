// End to end, the WASM backend gives the reference backend's logits bit for bit: every fixture format of
// every architecture, int8 and exact lm_head, batch and generation numerics, 1 and 3 threads; and the
// same seed generates the same text on both.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../../src/index.js';
import { makeFixture, ODD, TINY, writeAllFixtures, type FixtureArch } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { generationMode } from './helpers.js';

const dir = tempDir('e2e');
const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150, 250, 77];

function sameRows(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((row, t) => {
    for (let i = 0; i < row.length; i++) if (!Object.is(row[i], b[t]![i])) assert.fail(`${what}: position ${t} logit ${i}: ${row[i]} vs ${b[t]![i]}`);
  });
}


for (const [arch, config] of [['bitnet-b1.58', TINY], ['bitnet', TINY], ['llama', TINY], ['bitnet-b1.58 odd', ODD]] as Array<[string, typeof TINY]>) {
  test(`${arch}: WASM logits equal the reference in every format`, async () => {
    const fx = makeFixture({ ...config, arch: arch.split(' ')[0] as FixtureArch, seed: 8 });
    const set = await writeAllFixtures(fx, join(dir, arch.replace(' ', '-')));
    const tokens = [fx.vocab.bos!, ...TOKENS.map((t) => t % fx.ref.nVocab)];
    for (const [name, path] of Object.entries(set.paths)) {
      for (const lmHead of ['int8', 'exact'] as const) {
        const ref = await loadModel(path, { backend: 'ref', lmHead });
        const wasm = await loadModel(path, { backend: 'wasm', threads: 2, lmHead });
        sameRows(await wasm.evaluate(tokens), await ref.evaluate(tokens), `${name} ${lmHead} batch`);
        sameRows(await generationMode(wasm, tokens), await generationMode(ref, tokens), `${name} ${lmHead} generation`);
        await wasm.dispose();
        await ref.dispose();
      }
    }
  });
}

test('thread count does not change a bit, and a seeded generation is the same text on every backend', async () => {
  const fx = makeFixture({ ...TINY, seed: 2 });
  const set = await writeAllFixtures(fx, join(dir, 'threads'));
  const path = set.paths['gguf-i2_s-f16']!;
  const tokens = [fx.vocab.bos!, ...TOKENS];
  const models = [await loadModel(path, { backend: 'ref' }), ...(await Promise.all([1, 2, 3].map((threads) => loadModel(path, { backend: 'wasm', threads }))))];
  const base = await models[0]!.evaluate(tokens);
  for (const m of models.slice(1)) sameRows(await m.evaluate(tokens), base, `${m.backend.name} x${m.backend.threads}`);
  const texts = [];
  for (const m of models) texts.push((await m.complete('Once upon a time', { seed: 42, maxTokens: 24, ignoreEos: true })).tokens.join(','));
  assert.equal(new Set(texts).size, 1, texts.join('\n'));
  for (const m of models) await m.dispose();
});

test('dispose frees the WASM memory a model held', async () => {
  const fx = makeFixture({ ...TINY, seed: 4 });
  const set = await writeAllFixtures(fx, join(dir, 'dispose'));
  const { WasmBackend } = await import('../../../src/kernels/wasm/backend.js');
  const m = await loadModel(set.paths['gguf-i2_s-f16']!, { backend: 'wasm', threads: 1 });
  assert.ok(m.backend instanceof WasmBackend);
  await m.complete('hi', { maxTokens: 3, seed: 1 });
  const held = (m.backend as InstanceType<typeof WasmBackend>).heldBytes;
  assert.ok(held > 400_000, `held ${held}`);
  await m.dispose();
  assert.equal((m.backend as InstanceType<typeof WasmBackend>).heldBytes, 0);
});
