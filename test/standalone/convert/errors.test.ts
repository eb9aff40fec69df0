// `bitnet convert` on bad input and on conversions that cannot be exact: typed errors naming the file and
// tensor, --allow-lossy reporting each changed tensor, and no OUT or temporary file left behind by a failure.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { copyFile, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { convertModel } from '../../../src/engine/convert.js';
import { writeGgufFile } from '../../../src/formats/gguf-writer.js';
import { readGguf } from '../../../src/formats/gguf.js';
import { TENSOR } from '../../../src/formats/names.js';
import { FileSource } from '../../../src/formats/source.js';
import { TQ2_0 } from '../../../src/formats/types.js';
import { ggufMetadata, ggufTensors, makeFixture, ODD, TINY, writeHfFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { rejectsBitnet, re } from '../formats/helpers.js';
import { assertIdenticalLogits, effectiveWeights, fixtureSet, logitsOf, TOKENS, writeOddScaleFixture } from './helpers.js';

const dir = tempDir('convert-errors');
let n = 0;
const outPath = (what: string): string => join(dir, `${++n}-${what}.gguf`);

/** Nothing named like `out` (neither the file nor a temporary) exists. */
async function assertNoOutput(out: string): Promise<void> {
  const base = out.split('/').at(-1)!;
  const left = (await readdir(dir)).filter((f) => f.startsWith(base));
  assert.deepEqual(left, [], `left behind: ${left.join(', ')}`);
}

test('OUT exists: FILE_EXISTS unless force, which replaces it; OUT = IN (also through a link) is refused', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const input = set.paths['gguf-i2_s-f16']!;
  const out = outPath('exists');
  await writeFile(out, 'precious');
  await rejectsBitnet(convertModel(input, out, { type: 'tq2_0' }), 'FILE_EXISTS', re(out), /--force/);
  assert.equal(await readFile(out, 'utf8'), 'precious');
  await convertModel(input, out, { type: 'tq2_0', force: true });
  assert.equal((await readFile(out)).subarray(0, 4).toString(), 'GGUF');
  await rejectsBitnet(convertModel(input, input, { type: 'i2_s', force: true }), 'INVALID_ARGUMENT', /output is the input/);
  const link = join(dir, 'link.gguf');
  await symlink(input, link);
  await rejectsBitnet(convertModel(input, link, { type: 'i2_s', force: true }), 'INVALID_ARGUMENT', /output is the input/);
  await rejectsBitnet(convertModel(input, dir, { type: 'i2_s', force: true }), 'INVALID_ARGUMENT', /folder/);
});

test('unknown target or embedding types, and a missing input, are typed errors', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const input = set.paths['gguf-i2_s-f16']!;
  await rejectsBitnet(convertModel(input, outPath('t'), { type: 'tl2' as never }), 'INVALID_ARGUMENT', /unknown target type "tl2"/);
  await rejectsBitnet(convertModel(input, outPath('e'), { type: 'i2_s', embedding: 'q4_0' as never }), 'INVALID_ARGUMENT', /unknown embedding type "q4_0"/);
  await rejectsBitnet(convertModel(join(dir, 'nope.gguf'), outPath('m'), { type: 'i2_s' }), 'FILE_NOT_FOUND', /nope\.gguf/);
  await rejectsBitnet(convertModel(input, join(dir, 'no-such-folder', 'x.gguf'), { type: 'i2_s' }), 'FILE_NOT_FOUND', /folder of the output does not exist/);
});

test('a truncated file and a missing tensor are typed errors, and leave no output', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const bytes = await readFile(set.paths['gguf-tq2_0-f16']!);
  const truncated = join(dir, 'truncated.gguf');
  await writeFile(truncated, bytes.subarray(0, bytes.length - 1000));
  let out = outPath('truncated');
  await rejectsBitnet(convertModel(truncated, out, { type: 'i2_s' }), 'TRUNCATED', re(truncated));
  await assertNoOutput(out);

  const fx = makeFixture({ ...TINY, seed: 3 });
  const opts = { weights: 'I2_S', embedding: 'F16' } as const;
  const missing = join(dir, 'missing.gguf');
  await writeGgufFile(missing, ggufMetadata(fx, opts), ggufTensors(fx, opts).tensors.filter((t) => t.name !== TENSOR.ffnUp(1)));
  out = outPath('missing');
  await rejectsBitnet(convertModel(missing, out, { type: 'tq1_0' }), 'MISSING_TENSOR', re(TENSOR.ffnUp(1)));
  await assertNoOutput(out);
});

test('TQ blocks with differing scales: exact between TQ types, LOSSY_CONVERSION to I2_S unless --allow-lossy', async () => {
  const fx = makeFixture({ ...TINY, seed: 3 });
  const opts = { weights: 'TQ2_0', embedding: 'F16' } as const;
  const { tensors } = ggufTensors(fx, opts);
  const victim = TENSOR.attnK(0);
  const t = tensors.find((x) => x.name === victim)!;
  const plain = TQ2_0.ternary!.decodeTernary((t.data as () => Uint8Array)(), t.shape[0]! * t.shape[1]!);
  const scales = plain.scales.map((s, i) => (i % 2 ? s * 2 : s));
  t.data = TQ2_0.ternary!.encodeTernaryBlocks!(plain.values, scales);
  const input = join(dir, 'blocks.gguf');
  await writeGgufFile(input, ggufMetadata(fx, opts), tensors);

  const tq1 = outPath('blocks-tq1');
  const r = await convertModel(input, tq1, { type: 'tq1_0' });
  assert.deepEqual(r.lossy, []);
  const tokens = [fx.vocab.bos!, ...TOKENS];
  assertIdenticalLogits((await logitsOf(tq1, tokens)).logits, (await logitsOf(input, tokens)).logits, 'TQ2_0 -> TQ1_0 with per-block scales');

  let out = outPath('blocks-i2s');
  await rejectsBitnet(convertModel(input, out, { type: 'i2_s' }), 'LOSSY_CONVERSION', re(victim), /different scales/, /--allow-lossy/);
  await assertNoOutput(out);
  out = outPath('blocks-i2s-lossy');
  const lossy = await convertModel(input, out, { type: 'i2_s', allowLossy: true });
  assert.deepEqual(lossy.lossy.map((l) => l.tensor), [victim]);
  const [a, b] = [await effectiveWeights(input), await effectiveWeights(out)];
  for (const [name, w] of a) {
    if (name === victim) assert.deepEqual(Array.from(b.get(name)!, Math.sign), Array.from(w, Math.sign), name);
    else assert.deepEqual(b.get(name), w, name);
  }
});

test('llama architecture: a scale not exact in f16 cannot go into TQ blocks (no .scale tensors) without --allow-lossy', async () => {
  const input = join(dir, 'llama-odd-scales.gguf');
  await writeOddScaleFixture(input, 'llama');
  let out = outPath('llama-tq2');
  await rejectsBitnet(convertModel(input, out, { type: 'tq2_0' }), 'LOSSY_CONVERSION', re(TENSOR.attnQ(0)), /not exact in the f16/);
  await assertNoOutput(out);
  out = outPath('llama-tq2-lossy');
  const r = await convertModel(input, out, { type: 'tq2_0', allowLossy: true });
  assert.equal(r.lossy.length, 14);
  assert.match(r.lossy[0]!.reason, /rounded to f16/);
  // I2_S keeps them exactly
  const i2s = outPath('llama-i2s');
  assert.deepEqual((await convertModel(input, i2s, { type: 'i2_s', force: true })).lossy, []);
});

test('GGUF float projections that are not ternary are refused by name; --allow-lossy ternarizes them as the engine does', async () => {
  const fx = makeFixture({ ...TINY, seed: 3 });
  const opts = { weights: 'F32', embedding: 'F16' } as const;
  const { tensors } = ggufTensors(fx, opts);
  const victim = TENSOR.ffnDown(1);
  const t = tensors.find((x) => x.name === victim)!;
  const f = new Float32Array(((t.data as () => Uint8Array)()).slice().buffer);
  f[5] = f[5]! === 0 ? 0.001 : f[5]! * 1.5;
  t.data = new Uint8Array(f.buffer);
  const input = join(dir, 'float.gguf');
  await writeGgufFile(input, ggufMetadata(fx, opts), tensors);
  const out = outPath('float');
  await rejectsBitnet(convertModel(input, out, { type: 'i2_s' }), 'LOSSY_CONVERSION', re(victim), /not ternary/);
  await assertNoOutput(out);
  const r = await convertModel(input, out, { type: 'i2_s', allowLossy: true });
  assert.deepEqual(r.lossy.map((l) => l.tensor), [victim]);
  const tokens = [fx.vocab.bos!, ...TOKENS];
  assertIdenticalLogits((await logitsOf(out, tokens)).logits, (await logitsOf(input, tokens)).logits, 'absmean as the engine loads it');
});

test('code 3 in I2_S or packed Hugging Face weights is CORRUPT, naming the tensor', async () => {
  const fx = makeFixture({ ...TINY, seed: 3 });
  const opts = { weights: 'I2_S', embedding: 'F16' } as const;
  const { tensors } = ggufTensors(fx, opts);
  const victim = TENSOR.attnV(1);
  const t = tensors.find((x) => x.name === victim)!;
  const bytes = (t.data as () => Uint8Array)().slice();
  bytes[7] = 0xff;
  t.data = bytes;
  const input = join(dir, 'code3.gguf');
  await writeGgufFile(input, ggufMetadata(fx, opts), tensors);
  let out = outPath('code3');
  await rejectsBitnet(convertModel(input, out, { type: 'tq2_0' }), 'CORRUPT', re(victim), /code 3/);
  await assertNoOutput(out);

  const hf = join(dir, 'hf-code3');
  await writeHfFixture(fx, hf, { kind: 'packed' });
  const st = await readFile(join(hf, 'model.safetensors'));
  const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString()) as Record<string, { data_offsets: [number, number] }>;
  const name = 'model.layers.0.mlp.up_proj.weight';
  st[8 + Number(st.readBigUInt64LE(0)) + header[name]!.data_offsets[0] + 3] = 0xff;
  await writeFile(join(hf, 'model.safetensors'), st);
  out = outPath('hf-code3');
  await rejectsBitnet(convertModel(hf, out, { type: 'i2_s' }), 'CORRUPT', re(name), /code 3/);
  await assertNoOutput(out);
});

test('rows that are not a whole number of TQ blocks are refused up front', async () => {
  const fx = makeFixture(ODD);
  const opts = { weights: 'I2_S', embedding: 'F16' } as const;
  const input = join(dir, 'odd.gguf');
  await writeGgufFile(input, ggufMetadata(fx, opts), ggufTensors(fx, opts).tensors);
  const out = outPath('odd');
  await rejectsBitnet(convertModel(input, out, { type: 'tq2_0' }), 'INVALID_ARGUMENT', /blk\.0\.attn_q\.weight/, /TQ2_0 blocks of 256/);
  await assertNoOutput(out);
  // and a Q6_K embedding needs rows of 256 too
  await rejectsBitnet(convertModel(input, out, { type: 'i2_s', embedding: 'q6_k' }), 'INVALID_ARGUMENT', re(TENSOR.tokEmbd), /Q6_K blocks/);
});

test('an aborted conversion leaves nothing behind', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const out = outPath('aborted');
  const ac = new AbortController();
  const p = convertModel(set.paths['hf-bf16']!, out, {
    type: 'tq2_0',
    signal: ac.signal,
    onProgress: (e) => {
      if (e.done === 3) ac.abort();
    },
  });
  await rejectsBitnet(p, 'ABORTED');
  await assertNoOutput(out);
  // a copy of a good file is still converted afterwards (nothing stale blocks the name)
  await copyFile(set.paths['gguf-i2_s-f16']!, join(dir, 'copy.gguf'));
  await convertModel(join(dir, 'copy.gguf'), out, { type: 'tq2_0' });
});

test('a source that changes while it is converted fails verification (VERIFY_FAILED) and leaves no output', async () => {
  const set = await fixtureSet(dir, 'bitnet-b1.58');
  const input = join(dir, 'changing.gguf');
  await copyFile(set.paths['gguf-i2_s-f16']!, input);
  const bytes = await readFile(input);
  const src = await FileSource.open(input);
  const norm = (await readGguf(src)).tensors.find((t) => t.name === TENSOR.outputNorm)!;
  await src.close();
  const changed = Buffer.from(bytes);
  changed[norm.offset + 2]! ^= 0x40;
  const out = outPath('changing');
  await rejectsBitnet(
    convertModel(input, out, {
      type: 'tq2_0',
      // once every tensor is written, the source changes under the converter: verification re-reads it
      onProgress: (p) => {
        if (p.phase === 'write' && p.done === p.total) writeFileSync(input, changed);
      },
    }),
    'VERIFY_FAILED',
    re(TENSOR.outputNorm),
    /does not match the source/,
  );
  await assertNoOutput(out);
});
