// safetensors: serializeSafetensors -> readSafetensors round trip (dtypes, offsets, metadata, 8-byte aligned
// data start), malformed headers and offsets with their error codes, and the shard index parser.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSafetensorsIndex, readSafetensors, SAFETENSORS_DTYPE_SIZE, serializeSafetensors, type SafetensorsWriteTensor } from '../../../src/formats/safetensors.js';
import { FileSource, MemorySource } from '../../../src/formats/source.js';
import { pseudoRandomBytes, rawSafetensors, re, rejectsBitnet, tempFolder, throwsBitnet } from './helpers.js';

const FILE = '/hf/model.safetensors';
const mem = (b: Uint8Array): MemorySource => new MemorySource(b, FILE);
const dir = await tempFolder('safetensors');

const TENSORS: SafetensorsWriteTensor[] = [
  { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [3, 4], data: pseudoRandomBytes(24, 1) },
  { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'U8', shape: [3, 5], data: pseudoRandomBytes(15, 2) }, // odd size: later offsets unaligned
  { name: 'model.layers.0.self_attn.q_proj.weight_scale', dtype: 'F32', shape: [1], data: new Uint8Array(new Float32Array([0.25]).buffer) },
  { name: 'f16.3d', dtype: 'F16', shape: [2, 1, 3], data: pseudoRandomBytes(12, 3) },
  { name: 'i64', dtype: 'I64', shape: [2], data: pseudoRandomBytes(16, 4) },
  { name: 'scalar', dtype: 'F64', shape: [], data: pseudoRandomBytes(8, 5) },
  { name: 'empty', dtype: 'I8', shape: [0, 7], data: new Uint8Array(0) },
  { name: 'flags', dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
  { name: 'ünïcode.名前', dtype: 'I32', shape: [2], data: pseudoRandomBytes(8, 6) },
];

test('serializeSafetensors -> readSafetensors round trip: dtypes, shapes, offsets, metadata', async () => {
  const meta = { format: 'pt', note: 'café ✓' };
  const bytes = serializeSafetensors(TENSORS, meta);
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0, 'data starts 8-byte aligned');
  const f = await readSafetensors(mem(bytes));
  assert.deepEqual(f.metadata, meta);
  assert.deepEqual([...f.tensors.keys()], TENSORS.map((t) => t.name));
  let expectedOffset = 8 + headerLen;
  for (const w of TENSORS) {
    const t = f.tensors.get(w.name)!;
    assert.equal(t.dtype, w.dtype);
    assert.deepEqual(t.shape, w.shape);
    assert.equal(t.nElements, w.shape.reduce((a, b) => a * b, 1));
    assert.equal(t.byteSize, t.nElements * SAFETENSORS_DTYPE_SIZE[w.dtype]!);
    assert.equal(t.offset, expectedOffset, `${w.name}: offset`);
    assert.equal(t.source, f.source);
    assert.deepEqual(await t.source.read(t.offset, t.byteSize), w.data, `${w.name}: data`);
    expectedOffset += w.data.byteLength;
  }
  assert.equal(expectedOffset, bytes.length);
  // no __metadata__ entry when there is none
  const bare = serializeSafetensors(TENSORS.slice(0, 1));
  assert.deepEqual((await readSafetensors(mem(bare))).metadata, {});
  assert.doesNotMatch(new TextDecoder().decode(bare), /__metadata__/);
});

test('a file written to disk reads the same through FileSource', async () => {
  const path = join(dir, 'rt.safetensors');
  await writeFile(path, serializeSafetensors(TENSORS, { format: 'pt' }));
  const src = await FileSource.open(path);
  try {
    const f = await readSafetensors(src);
    for (const w of TENSORS) {
      const t = f.tensors.get(w.name)!;
      assert.deepEqual(await src.read(t.offset, t.byteSize), w.data);
    }
  } finally {
    await src.close();
  }
});

test('serializeSafetensors rejects unknown dtypes and data of the wrong size', () => {
  let e = throwsBitnet(() => serializeSafetensors([{ name: 'x', dtype: 'Q4', shape: [1], data: new Uint8Array(1) }]), 'INVALID_ARGUMENT', /unknown dtype Q4/);
  assert.equal(e.subject, 'x');
  e = throwsBitnet(() => serializeSafetensors([{ name: 'y', dtype: 'F32', shape: [2, 2], data: new Uint8Array(15) }]), 'INVALID_ARGUMENT', /15 bytes, F32\[2, 2\] needs 16/);
  assert.equal(e.subject, 'y');
});

const goodEntry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

test('too short, or a header length larger than the file -> TRUNCATED', async () => {
  await rejectsBitnet(readSafetensors(mem(new Uint8Array(7))), 'TRUNCATED', re(FILE), /7 bytes/);
  await rejectsBitnet(readSafetensors(mem(new Uint8Array(0))), 'TRUNCATED');
  const b = rawSafetensors({ w: goodEntry }, new Uint8Array(8), 10_000);
  await rejectsBitnet(readSafetensors(mem(b)), 'TRUNCATED', re(FILE), /header of 10000 bytes/);
});

test('a header length over 100 MB -> BAD_MAGIC (not a safetensors file), without allocating it', async () => {
  for (const n of [100 * 1024 * 1024 + 1, 2 ** 40, 2n ** 64n - 1n]) {
    const t0 = performance.now();
    await rejectsBitnet(readSafetensors(mem(rawSafetensors({ w: goodEntry }, new Uint8Array(8), n))), 'BAD_MAGIC', re(FILE), /not a safetensors file/, /header length/);
    assert.ok(performance.now() - t0 < 100);
  }
  // a GGUF file handed to the safetensors reader: "GGUF" + version read as a length is huge
  await rejectsBitnet(readSafetensors(mem(Uint8Array.from([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 0, 0, 0, 0]))), 'BAD_MAGIC');
});

test('a header that is not JSON, or not UTF-8 -> BAD_MAGIC; JSON that is not an object -> CORRUPT', async () => {
  await rejectsBitnet(readSafetensors(mem(rawSafetensors('{"w": {"dtype": "F32",'))), 'BAD_MAGIC', re(FILE), /not valid JSON/);
  await rejectsBitnet(readSafetensors(mem(rawSafetensors('\u0000\u0001binary'))), 'BAD_MAGIC');
  const notUtf8 = Uint8Array.from([4, 0, 0, 0, 0, 0, 0, 0, 0x22, 0xff, 0xfe, 0x22]);
  await rejectsBitnet(readSafetensors(mem(notUtf8)), 'BAD_MAGIC', /not valid JSON/);
  for (const h of ['[1, 2]', 'null', '42', '"text"']) {
    await rejectsBitnet(readSafetensors(mem(rawSafetensors(h))), 'CORRUPT', re(FILE), /must be a JSON object/);
  }
});

test('data_offsets inconsistent with shape x dtype -> CORRUPT naming the tensor', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ dtype: 'F32', shape: [3], data_offsets: [0, 8] }, /hold 8 bytes but F32\[3\] needs 12/],
    [{ dtype: 'BF16', shape: [2, 2], data_offsets: [8, 0] }, /data_offsets \[8, 0\]/],
    [{ dtype: 'F32', shape: [2], data_offsets: [0] }, /data_offsets must be \[begin, end\]/],
    [{ dtype: 'F32', shape: [2], data_offsets: [-8, 0] }, /data_offsets must be/],
    [{ dtype: 'F32', shape: [2], data_offsets: [0, 8.5] }, /data_offsets must be/],
    [{ dtype: 'F32', shape: [2] }, /data_offsets must be/],
    [{ dtype: 'F32', shape: [-2], data_offsets: [0, 8] }, /shape must be/],
    [{ dtype: 'F32', shape: '2', data_offsets: [0, 8] }, /shape must be/],
    [{ shape: [2], data_offsets: [0, 8] }, /missing dtype/],
    [null, /not an object/],
    [{ dtype: 'F32', shape: [2 ** 30, 2 ** 30], data_offsets: [0, 8] }, /needs/],
  ];
  for (const [entry, pattern] of cases) {
    const e = await rejectsBitnet(readSafetensors(mem(rawSafetensors({ 'layer.w': entry }, new Uint8Array(16)))), 'CORRUPT', re(FILE), /layer\.w/, pattern);
    assert.equal(e.subject, 'layer.w');
  }
});

test('tensor data past the end of the file -> TRUNCATED naming the tensor', async () => {
  const b = rawSafetensors({ a: goodEntry, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(12));
  const e = await rejectsBitnet(readSafetensors(mem(b)), 'TRUNCATED', re(FILE), /b: tensor data ends/);
  assert.equal(e.subject, 'b');
  // exactly the right size is fine
  const ok = rawSafetensors({ a: goodEntry, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(16));
  assert.equal((await readSafetensors(mem(ok))).tensors.size, 2);
});

test('unknown dtype -> UNSUPPORTED_TENSOR_TYPE naming the tensor', async () => {
  for (const dtype of ['Q4_K', 'f32', 'F4']) {
    const b = rawSafetensors({ w: { dtype, shape: [2], data_offsets: [0, 2] } }, new Uint8Array(8));
    const e = await rejectsBitnet(readSafetensors(mem(b)), 'UNSUPPORTED_TENSOR_TYPE', re(FILE), re(`unknown safetensors dtype "${dtype}"`));
    assert.equal(e.subject, 'w');
  }
});

test('parseSafetensorsIndex: a valid weight_map', () => {
  const text = JSON.stringify({
    metadata: { total_size: 123 },
    weight_map: { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors', 'model.norm.weight': 'model-00002-of-00002.safetensors' },
  });
  const m = parseSafetensorsIndex(text, 'idx.json');
  assert.deepEqual([...m], [
    ['model.embed_tokens.weight', 'model-00001-of-00002.safetensors'],
    ['model.norm.weight', 'model-00002-of-00002.safetensors'],
  ]);
  assert.equal(parseSafetensorsIndex('{"weight_map": {}}', 'idx.json').size, 0);
});

test('parseSafetensorsIndex rejects path separators, leading dots, non-strings, bad JSON and a missing weight_map (CORRUPT)', () => {
  const index = (shard: unknown): string => JSON.stringify({ weight_map: { 'model.norm.weight': shard } });
  for (const shard of ['../model.safetensors', 'sub/model.safetensors', '/etc/passwd', 'sub\\model.safetensors', '.hidden.safetensors', '..', 7, null]) {
    const e = throwsBitnet(() => parseSafetensorsIndex(index(shard), '/hf/idx.json'), 'CORRUPT', /\/hf\/idx\.json/, /model\.norm\.weight/, /plain shard file name/);
    assert.equal(e.file, '/hf/idx.json');
  }
  throwsBitnet(() => parseSafetensorsIndex('{not json', 'idx.json'), 'CORRUPT', /invalid JSON/);
  throwsBitnet(() => parseSafetensorsIndex('{"metadata": {}}', 'idx.json'), 'CORRUPT', /missing "weight_map"/);
  throwsBitnet(() => parseSafetensorsIndex('null', 'idx.json'), 'CORRUPT', /missing "weight_map"/);
  throwsBitnet(() => parseSafetensorsIndex('{"weight_map": "x"}', 'idx.json'), 'CORRUPT', /missing "weight_map"/);
});
