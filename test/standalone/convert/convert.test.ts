// `bitnet convert` on the fixture models: every source format (GGUF I2_S / TQ2_0 / TQ1_0 / F32, HF packed,
// HF bf16 master weights) to every target (i2_s, tq2_0, tq1_0) for each architecture gives a file that
// loads with the same logits, bit for bit, and the same effective weights; the target architecture and
// its keys are llama.cpp's / bitnet.cpp's; chains come back byte-identical; --embedding changes only the
// embedding; the tokenizer and chat template survive.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { convertModel, CONVERT_TYPES, type ConvertType } from '../../../src/engine/convert.js';
import { loadModel } from '../../../src/index.js';
import { TENSOR } from '../../../src/formats/names.js';
import { f16ToF32, f32ToF16 } from '../../../src/util/f16.js';
import { BITNET_CHAT_TEMPLATE, makeFixture, TINY, writeHfFixture, type FixtureArch } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { assertIdenticalLogits, effectiveWeights, fixtureSet, logitsOf, PROJECTION, rawTensors, sameMetadata, TOKENS, typedMetadata, withFile, writeOddScaleFixture } from './helpers.js';

const dir = tempDir('convert');
let n = 0;
const outPath = (what: string): string => join(dir, `${++n}-${what}.gguf`);

const EXPECTED_ARCH: Record<Exclude<FixtureArch, 'qwen3'>, Record<ConvertType, string>> = {
  'bitnet-b1.58': { i2_s: 'bitnet-b1.58', tq2_0: 'bitnet', tq1_0: 'bitnet' },
  // the fixture's 2024 bitnet model uses SiLU, which bitnet.cpp's bitnet-b1.58 graph cannot express
  bitnet: { i2_s: 'bitnet', tq2_0: 'bitnet', tq1_0: 'bitnet' },
  llama: { i2_s: 'llama', tq2_0: 'llama', tq1_0: 'llama' },
};

for (const arch of ['bitnet-b1.58', 'bitnet', 'llama'] as const) {
  test(`${arch}: every source format to every target keeps logits and effective weights exactly`, async () => {
    const set = await fixtureSet(dir, arch);
    const tokens = [set.fixture.vocab.bos!, ...TOKENS];
    const sources = Object.keys(set.paths).filter((s) => !/q8_0|q6_k|bitlinear/.test(s));
    assert.ok(sources.length >= 6, sources.join(', '));
    for (const source of sources) {
      const input = set.paths[source]!;
      const base = await logitsOf(input, tokens);
      const baseWeights = await effectiveWeights(input);
      for (const type of CONVERT_TYPES) {
        const what = `${source} -> ${type}`;
        const out = outPath(`${arch}-${source}-${type}`);
        const r = await convertModel(input, out, { type });
        assert.equal(r.arch, EXPECTED_ARCH[arch][type], what);
        assert.equal(r.ternary, 14, what);
        assert.deepEqual(r.lossy, [], what);
        const got = await logitsOf(out, tokens);
        assert.deepEqual(got.warnings, [], `${what}: ${got.warnings.join('; ')}`);
        assertIdenticalLogits(got.logits, base.logits, what);
        const weights = await effectiveWeights(out);
        assert.equal(weights.size, 14, what);
        for (const [name, w] of weights) assert.deepEqual(w, baseWeights.get(name), `${what}: ${name}`);
        await withFile(out, async (f) => {
          const types = new Set([...f.tensors.values()].filter((t) => PROJECTION.test(t.name)).map((t) => t.typeName));
          assert.deepEqual([...types], [type.toUpperCase()], what);
          assert.equal(f.metadata.get('general.file_type'), { i2_s: 40, tq2_0: 37, tq1_0: 36 }[type], what);
          if (r.arch === 'bitnet') assert.equal(f.metadata.get('bitnet.hidden_activation'), set.fixture.hp.act, what);
          if (r.arch === 'bitnet-b1.58') assert.equal(f.metadata.get('bitnet-b1.58.hidden_activation'), undefined, what);
          const prefix = `${r.arch}.`;
          for (const k of f.metadata.keys()) assert.ok(!k.includes('.') || /^(general|tokenizer)\./.test(k) || k.startsWith(prefix), `${what}: key ${k}`);
          // llama.cpp's bitnet arch: .scale tensors for per-tensor sources (block scale 1), none in bitnet.cpp's
          const scales = [...f.tensors.keys()].filter((k) => k.endsWith('.scale'));
          const perBlock = /tq/.test(source) && !/scales/.test(source);
          assert.equal(scales.length, r.arch === 'bitnet' && type !== 'i2_s' && !perBlock ? 14 : 0, `${what}: ${scales.length} .scale tensors`);
        });
      }
    }
  });
}

test('chain I2_S -> TQ1_0 -> TQ2_0 -> I2_S gives back the original tensors byte for byte and the same metadata', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const original = set.paths['gguf-i2_s-f16']!;
  let cur = original;
  for (const type of ['tq1_0', 'tq2_0', 'i2_s'] as const) {
    const next = outPath(`chain-${type}`);
    await convertModel(cur, next, { type });
    cur = next;
  }
  const [a, b] = [await rawTensors(original), await rawTensors(cur)];
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [name, bytes] of a) assert.ok(Buffer.from(bytes).equals(Buffer.from(b.get(name)!)), name);
  sameMetadata(await typedMetadata(original), await typedMetadata(cur));
});

test('chain with scales that are not exact in f16: TQ carries them in .scale tensors, and I2_S gets them back exactly', async () => {
  const i2s = outPath('odd-scales-i2_s');
  const fx = await writeOddScaleFixture(i2s, 'bitnet-b1.58');
  const tq1 = outPath('odd-scales-tq1_0');
  const tq2 = outPath('odd-scales-tq2_0');
  const back = outPath('odd-scales-back');
  await convertModel(i2s, tq1, { type: 'tq1_0' });
  await convertModel(tq1, tq2, { type: 'tq2_0' });
  await convertModel(tq2, back, { type: 'i2_s' });
  const scales = await withFile(tq1, async (f) => Promise.all([...f.tensors.values()].filter((t) => t.name.endsWith('.scale')).map(async (t) => (await t.readF32())[0]!)));
  assert.equal(scales.length, 14);
  assert.ok(scales.every((s) => f16ToF32(f32ToF16(s)) !== s), 'the scales are not exact in f16');
  const [a, b] = [await rawTensors(i2s), await rawTensors(back)];
  for (const [name, bytes] of a) assert.ok(Buffer.from(bytes).equals(Buffer.from(b.get(name)!)), name);
  const tokens = [fx.vocab.bos!, ...TOKENS];
  assertIdenticalLogits((await logitsOf(tq2, tokens)).logits, (await logitsOf(i2s, tokens)).logits, 'TQ2_0 with .scale vs I2_S');
});

test('--embedding q8_0 / q6_k / f32 changes the embedding only', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const input = set.paths['gguf-i2_s-f16']!;
  const keep = await rawTensors(input);
  for (const embedding of ['q8_0', 'q6_k', 'f32'] as const) {
    const out = outPath(`embd-${embedding}`);
    const r = await convertModel(input, out, { type: 'i2_s', embedding });
    assert.equal(r.embeddingType, embedding.toUpperCase());
    const got = await rawTensors(out);
    for (const [name, bytes] of keep) {
      if (name === TENSOR.tokEmbd) continue;
      assert.ok(Buffer.from(bytes).equals(Buffer.from(got.get(name)!)), `${embedding}: ${name} changed`);
    }
    await withFile(out, async (f) => assert.equal(f.tensors.get(TENSOR.tokEmbd)!.typeName, embedding.toUpperCase()));
    const tokens = [set.fixture.vocab.bos!, ...TOKENS];
    const [a, b] = [(await logitsOf(input, tokens)).logits, (await logitsOf(out, tokens)).logits];
    let num = 0;
    let den = 0;
    for (let t = 0; t < a.length; t++) for (let i = 0; i < a[t]!.length; i++) {
      num += (a[t]![i]! - b[t]![i]!) ** 2;
      den += a[t]![i]! ** 2;
    }
    // f32 holds the f16 embedding exactly; q8_0 / q6_k round it
    if (embedding === 'f32') assert.equal(num, 0);
    else assert.ok(num > 0 && Math.sqrt(num / den) < 0.15, `${embedding}: relative logit error ${Math.sqrt(num / den)}`);
  }
});

test('the untied output matrix follows --embedding, and keep copies it', async () => {
  const fx = makeFixture({ ...TINY, seed: 5, tied: false });
  const hf = join(dir, 'untied-hf');
  await writeHfFixture(fx, hf, { kind: 'packed' });
  const out = outPath('untied-q8');
  await convertModel(hf, out, { type: 'tq2_0', embedding: 'q8_0' });
  await withFile(out, async (f) => {
    assert.equal(f.tensors.get(TENSOR.output)!.typeName, 'Q8_0');
    assert.equal(f.tensors.get(TENSOR.tokEmbd)!.typeName, 'Q8_0');
  });
  const kept = outPath('untied-keep');
  await convertModel(hf, kept, { type: 'i2_s' });
  const tokens = [fx.vocab.bos!, ...TOKENS];
  assertIdenticalLogits((await logitsOf(kept, tokens)).logits, (await logitsOf(hf, tokens)).logits, 'untied keep');
});

test('the tokenizer (merges, token types, special ids) and the chat template survive, from GGUF and from Hugging Face', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const text = 'Once upon a time, Lily saw a big red ball. <|eot_id|> café 🦙';
  const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hello!' }];
  for (const source of ['gguf-tq2_0-f16', 'hf-packed']) {
    const out = outPath(`tok-${source}`);
    await convertModel(set.paths[source]!, out, { type: 'i2_s' });
    const [a, b] = [await loadModel(set.paths[source]!, { backend: 'ref' }), await loadModel(out, { backend: 'ref' })];
    try {
      assert.deepEqual(b.tokenize(text), a.tokenize(text), source);
      assert.equal(b.tokenizer.bos, a.tokenizer.bos);
      assert.equal(b.tokenizer.eos, a.tokenizer.eos);
      assert.equal(b.tokenizer.eot, a.tokenizer.eot);
      assert.equal(b.metadata.get('tokenizer.chat_template'), BITNET_CHAT_TEMPLATE);
      assert.deepEqual(b.applyChatTemplate(messages), a.applyChatTemplate(messages), source);
    } finally {
      await a.dispose();
      await b.dispose();
    }
    if (source.startsWith('gguf')) {
      const [ma, mb] = [await typedMetadata(set.paths[source]!), await typedMetadata(out)];
      for (const [k, v] of ma) if (k.startsWith('tokenizer.')) assert.deepEqual(mb.get(k), v, k);
    } else {
      await withFile(out, async (f) => {
        assert.equal((f.metadata.get('tokenizer.ggml.merges') as string[]).length, set.fixture.vocab.merges!.length);
        assert.deepEqual(Array.from(f.metadata.get('tokenizer.ggml.token_type') as Int32Array), Array.from(set.fixture.vocab.tokenTypes));
      });
    }
  }
});
