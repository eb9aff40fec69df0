// Malformed GGUF files: wrong magic, unsupported versions, truncation at every byte, absurd counts that must
// fail fast without allocating, and structural errors (duplicates, misaligned or overlapping tensors, bad
// alignment, unknown types). Every case must be a BitnetError with the right code naming the file.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { gv, serializeGguf } from '../../../src/formats/gguf-writer.js';
import { GGUF_TYPE, readGguf, type GgufTypedValue } from '../../../src/formats/gguf.js';
import { openGgufModel } from '../../../src/formats/model-file.js';
import { serializeSafetensors } from '../../../src/formats/safetensors.js';
import { FileSource, MemorySource } from '../../../src/formats/source.js';
import { F32, I2_S, Q8_0 } from '../../../src/formats/types.js';
import { Bytes, ggufHead, handGguf, pseudoRandomBytes, re, rejectsBitnet, tempFolder, tensorInfo, VT, type RawTensor } from './helpers.js';

const FILE = '/data/bad.gguf';
const dir = await tempFolder('bad-input');
const mem = (b: Uint8Array): MemorySource => new MemorySource(b, FILE);

/** writes general.architecture = bitnet-b1.58 */
function archKv(b: Bytes): number {
  b.str('general.architecture').u32(VT.STR).str('bitnet-b1.58');
  return 1;
}

const f32Tensor = (name: string, n: number, offset: number): RawTensor => ({ name, dims: [n], type: 0, offset });

/** A valid small file: strings, arrays (nested too) and three tensors with padding between them. */
async function smallValidFile(): Promise<Uint8Array> {
  const meta: Array<[string, GgufTypedValue]> = [
    ['general.architecture', gv.str('bitnet-b1.58')],
    ['general.name', gv.str('tiny ✓')],
    ['bitnet-b1.58.block_count', gv.u32(1)],
    ['tokenizer.ggml.tokens', gv.strs(['a', 'bc', '', 'Ġd'])],
    ['tokenizer.ggml.scores', gv.f32s(new Float32Array([0, -1000, 0.5, 1]))],
    ['flags', { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.BOOL, value: [true, false, true] }],
    ['big', gv.u64(1n << 40n)],
    ['nested', { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.ARRAY, value: [gv.i32s(new Int32Array([1, 2])), gv.strs(['x'])] }],
    ['general.alignment', gv.u32(32)],
  ];
  return serializeGguf(meta, [
    { name: 'norm', shape: [5], type: F32, data: pseudoRandomBytes(20, 1) },
    { name: 'blk.0.attn_q.weight', shape: [128, 2], type: I2_S, data: pseudoRandomBytes(96, 2) },
    { name: 'emb', shape: [32, 1], type: Q8_0, data: pseudoRandomBytes(34, 3) },
  ]);
}

test('wrong magic -> BAD_MAGIC showing what the magic was', async () => {
  const st = serializeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]);
  const text = Array.from(st.subarray(0, 4), (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
  const hex = new DataView(st.buffer, st.byteOffset).getUint32(0, true).toString(16);
  let e = await rejectsBitnet(readGguf(mem(st)), 'BAD_MAGIC', re(FILE), /not a GGUF file/, re(`"${text}"`), re(`0x${hex}`), /expected "GGUF"/);
  assert.equal(e.file, FILE);
  const random = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, ...pseudoRandomBytes(60, 9)]);
  await rejectsBitnet(readGguf(mem(random)), 'BAD_MAGIC', /magic is "\.\.\.\." \(0xefbeadde\)/);
  // old ggml containers and a lowercase look-alike
  e = await rejectsBitnet(readGguf(mem(new Bytes().raw([0x74, 0x6a, 0x67, 0x67]).u32(3).zeros(40).bytes())), 'BAD_MAGIC', /"tjgg"/);
  await rejectsBitnet(readGguf(mem(new Bytes().raw([0x67, 0x67, 0x75, 0x66]).u32(3).zeros(40).bytes())), 'BAD_MAGIC', /"gguf"/);
});

test('empty and 3-byte files -> TRUNCATED', async () => {
  await rejectsBitnet(readGguf(mem(new Uint8Array(0))), 'TRUNCATED', re(FILE), /0 bytes/);
  await rejectsBitnet(readGguf(mem(Uint8Array.from([0x47, 0x47, 0x55]))), 'TRUNCATED', re(FILE), /3 bytes/);
});

test('versions 1 and 4 and big-endian files -> UNSUPPORTED_VERSION', async () => {
  for (const v of [0, 1, 4, 0xffffffff]) {
    const e = await rejectsBitnet(readGguf(mem(handGguf({ kvs: archKv, version: v }))), 'UNSUPPORTED_VERSION', re(FILE), re(`version ${v} `));
    assert.equal(e.file, FILE);
  }
  await rejectsBitnet(readGguf(mem(handGguf({ kvs: archKv, version: 0x03000000 }))), 'UNSUPPORTED_VERSION', /big-endian/);
  await rejectsBitnet(readGguf(mem(handGguf({ kvs: archKv, version: 0x02000000 }))), 'UNSUPPORTED_VERSION', /big-endian/);
});

test('version 2 (same layout as 3) is read', async () => {
  const bytes = await smallValidFile();
  const v2 = bytes.slice();
  new DataView(v2.buffer).setUint32(4, 2, true);
  const g = await readGguf(mem(v2));
  assert.equal(g.version, 2);
  assert.equal(g.tensors.length, 3);
});

test('a valid file cut at every byte offset -> TRUNCATED (never another error), naming the cut tensor', async () => {
  const bytes = await smallValidFile();
  const full = await readGguf(mem(bytes));
  const last = full.tensors[full.tensors.length - 1]!;
  const dataEnd = last.offset + last.byteSize;
  assert.ok(full.dataOffset > 200, 'header large enough to be interesting');
  for (let len = 0; len < bytes.length; len++) {
    const cut = new MemorySource(bytes.subarray(0, len), FILE);
    let err: unknown;
    try {
      await readGguf(cut);
    } catch (e) {
      err = e;
    }
    if (len >= dataEnd) {
      assert.equal(err, undefined, `cut at ${len} lies in the final padding: the file is still complete`);
      continue;
    }
    assert.ok(err instanceof BitnetError, `cut at ${len}: ${String(err)}`);
    assert.equal(err.code, 'TRUNCATED', `cut at ${len}: ${err.code} ${err.message}`);
    assert.equal(err.file, FILE);
    if (len >= full.dataOffset) {
      const cutTensor = full.tensors.find((t) => t.offset + t.byteSize > len)!;
      assert.equal(err.subject, cutTensor.name, `cut at ${len}`);
      assert.match(err.message, re(cutTensor.name));
    }
  }
});

test('a file cut inside tensor data, read through FileSource -> TRUNCATED naming the file and tensor', async () => {
  const bytes = await smallValidFile();
  const full = await readGguf(mem(bytes));
  const q = full.tensorByName.get('blk.0.attn_q.weight')!;
  const path = join(dir, 'cut.gguf');
  await writeFile(path, bytes.subarray(0, q.offset + 50));
  const src = await FileSource.open(path);
  try {
    const e = await rejectsBitnet(readGguf(src), 'TRUNCATED', re(path), /blk\.0\.attn_q\.weight/, /I2_S, 96 bytes/);
    assert.equal(e.file, path);
    assert.equal(e.subject, 'blk.0.attn_q.weight');
  } finally {
    await src.close();
  }
  await rejectsBitnet(openGgufModel(path), 'TRUNCATED', /blk\.0\.attn_q\.weight/);
});

const ABSURD: Array<[string, () => Uint8Array]> = [
  ['n_tensors = 2^60', () => ggufHead(2n ** 60n, 0).zeros(64).bytes()],
  ['n_kv = 2^60', () => ggufHead(0, 2n ** 60n).zeros(64).bytes()],
  ['n_tensors = 2^64 - 1', () => ggufHead(2n ** 64n - 1n, 0).zeros(64).bytes()],
  ['n_kv = 2^40 (a safe integer, still far too many)', () => ggufHead(0, 2n ** 40n).zeros(64).bytes()],
  ['key length 2^62', () => ggufHead(0, 1).u64(2n ** 62n).zeros(64).bytes()],
  ['string value length 2^62', () => ggufHead(0, 1).str('k').u32(VT.STR).u64(2n ** 62n).zeros(64).bytes()],
  ['tensor name length 2^62', () => ggufHead(1, 0).u64(2n ** 62n).zeros(64).bytes()],
  ['array count 2^59', () => ggufHead(0, 1).str('k').u32(VT.ARR).u32(VT.U8).u64(2n ** 59n).zeros(64).bytes()],
  ['f64 array count 2^50', () => ggufHead(0, 1).str('k').u32(VT.ARR).u32(VT.F64).u64(2n ** 50n).zeros(64).bytes()],
  ['string array count 2^59', () => ggufHead(0, 1).str('k').u32(VT.ARR).u32(VT.STR).u64(2n ** 59n).zeros(64).bytes()],
  ['string array count 2^30', () => ggufHead(0, 1).str('k').u32(VT.ARR).u32(VT.STR).u64(2n ** 30n).zeros(64).bytes()],
  ['nested array count 2^59', () => ggufHead(0, 1).str('k').u32(VT.ARR).u32(VT.ARR).u64(1).u32(VT.U32).u64(2n ** 59n).zeros(64).bytes()],
  ['nested arrays 100000 deep', () => {
    const b = ggufHead(0, 1).str('k').u32(VT.ARR);
    for (let i = 0; i < 100000; i++) b.u32(VT.ARR).u64(1);
    return b.u32(VT.U8).u64(0).bytes();
  }],
  ['n_dims = 5', () => tensorInfo(ggufHead(1, 0), { name: 'w', dims: [1, 1, 1, 1, 1], type: 0, offset: 0 }).zeros(64).bytes()],
  ['n_dims = 2^32 - 1', () => ggufHead(1, 0).str('w').u32(0xffffffff).zeros(64).bytes()],
  ['a dimension of 2^62', () => tensorInfo(ggufHead(1, 0), { name: 'w', dims: [2n ** 62n, 1], type: 0, offset: 0 }).zeros(64).bytes()],
  ['dimensions 2^26 x 2^26 x 2^26', () => tensorInfo(ggufHead(1, 0), { name: 'w', dims: [2 ** 26, 2 ** 26, 2 ** 26], type: 0, offset: 0 }).zeros(64).bytes()],
  ['tensor offset 2^62', () => tensorInfo(ggufHead(1, 0), { name: 'w', dims: [4], type: 0, offset: 2n ** 62n }).zeros(64).bytes()],
  ['tensor offset 2^40', () => tensorInfo(ggufHead(1, 0), { name: 'w', dims: [4], type: 0, offset: 2n ** 40n }).zeros(64).bytes()],
];

for (const [what, build] of ABSURD) {
  test(`absurd header value (${what}) fails fast without allocating`, async () => {
    const bytes = build();
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    let err: unknown;
    try {
      await readGguf(mem(bytes));
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    const grown = process.memoryUsage().rss - rss0;
    assert.ok(err instanceof BitnetError, `${what}: ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
    assert.ok(err.code === 'CORRUPT' || err.code === 'TRUNCATED', `${what}: ${err.code} ${err.message}`);
    assert.equal(err.file, FILE);
    assert.ok(ms < 100, `${what}: took ${ms.toFixed(1)} ms`);
    assert.ok(grown < 100 * 2 ** 20, `${what}: rss grew by ${(grown / 2 ** 20).toFixed(0)} MB`);
  });
}

test('absurd values are reported as CORRUPT with the field named', async () => {
  await rejectsBitnet(readGguf(mem(ggufHead(2n ** 60n, 0).bytes())), 'CORRUPT', /tensor count/, /1152921504606846976/);
  await rejectsBitnet(readGguf(mem(ggufHead(0, 2n ** 60n).bytes())), 'CORRUPT', /metadata count/);
  await rejectsBitnet(readGguf(mem(ggufHead(0, 1).str('k').u32(VT.ARR).u32(VT.U8).u64(2n ** 59n).bytes())), 'CORRUPT', /k array/);
  let e = await rejectsBitnet(readGguf(mem(tensorInfo(ggufHead(1, 0), { name: 'w', dims: [1, 1, 1, 1, 1], type: 0, offset: 0 }).bytes())), 'CORRUPT', /5 dimensions/);
  assert.equal(e.subject, 'w');
  await rejectsBitnet(readGguf(mem(tensorInfo(ggufHead(1, 0), { name: 'w', dims: [2n ** 62n], type: 0, offset: 0 }).bytes())), 'CORRUPT', /w ne\[0\]/);
  e = await rejectsBitnet(readGguf(mem(handGguf({ tensors: [{ name: 'w', dims: [2 ** 26, 2 ** 26], type: 0, offset: 0 }] }))), 'CORRUPT', /too large/);
  assert.equal(e.subject, 'w');
});

test('unknown metadata value type -> CORRUPT naming the key', async () => {
  const b = handGguf({ kvs: (k) => (k.str('general.architecture').u32(VT.STR).str('bitnet').str('weird.key').u32(13).u32(0), 2) });
  await rejectsBitnet(readGguf(mem(b)), 'CORRUPT', re(FILE), /weird\.key/, /unknown value type 13/);
  const arr = handGguf({ kvs: (k) => (k.str('weird.arr').u32(VT.ARR).u32(13).u64(1).u32(0), 1) });
  await rejectsBitnet(readGguf(mem(arr)), 'CORRUPT', /weird\.arr/, /unknown array element type 13/);
  const big = handGguf({ kvs: (k) => (k.str('weird.big').u32(0xffffffff).u32(0), 1) });
  await rejectsBitnet(readGguf(mem(big)), 'CORRUPT', /weird\.big/, /4294967295/);
});

test('duplicate metadata key -> CORRUPT naming the key', async () => {
  const b = handGguf({ kvs: (k) => (archKv(k), k.str('general.name').u32(VT.STR).str('a').str('general.name').u32(VT.U32).u32(1), 3) });
  await rejectsBitnet(readGguf(mem(b)), 'CORRUPT', re(FILE), /duplicate metadata key "general\.name"/);
});

test('duplicate tensor name -> CORRUPT naming the tensor', async () => {
  const b = handGguf({ kvs: archKv, tensors: [f32Tensor('w', 8, 0), f32Tensor('w', 8, 32)], dataBytes: 64 });
  const e = await rejectsBitnet(readGguf(mem(b)), 'CORRUPT', re(FILE), /w: duplicate tensor name/);
  assert.equal(e.subject, 'w');
});

test('tensor offset not a multiple of the alignment -> CORRUPT naming the tensor', async () => {
  const b = handGguf({ kvs: archKv, tensors: [f32Tensor('a', 4, 0), f32Tensor('b', 4, 16)], dataBytes: 64 });
  const e = await rejectsBitnet(readGguf(mem(b)), 'CORRUPT', /data offset 16 is not a multiple of the alignment 32/);
  assert.equal(e.subject, 'b');
  // with general.alignment = 16 the same layout is valid
  const ok = handGguf({
    kvs: (k) => (archKv(k), k.str('general.alignment').u32(VT.U32).u32(16), 2),
    tensors: [f32Tensor('a', 4, 0), f32Tensor('b', 4, 16)],
    dataBytes: 32,
    alignment: 16,
  });
  const g = await readGguf(mem(ok));
  assert.equal(g.alignment, 16);
  assert.equal(g.tensorByName.get('b')!.offset - g.tensorByName.get('a')!.offset, 16);
});

test('overlapping tensors -> CORRUPT', async () => {
  const b = handGguf({ kvs: archKv, tensors: [f32Tensor('a', 16, 0), f32Tensor('b', 16, 32)], dataBytes: 128 });
  const e = await rejectsBitnet(readGguf(mem(b)), 'CORRUPT', /overlaps "b"/);
  assert.equal(e.subject, 'a');
  // listed in the other order the overlap is found too
  const b2 = handGguf({ kvs: archKv, tensors: [f32Tensor('b', 16, 32), f32Tensor('a', 16, 0)], dataBytes: 128 });
  await rejectsBitnet(readGguf(mem(b2)), 'CORRUPT', /overlaps/);
  // the same offset twice
  const b3 = handGguf({ kvs: archKv, tensors: [f32Tensor('a', 8, 0), f32Tensor('b', 8, 0)], dataBytes: 64 });
  await rejectsBitnet(readGguf(mem(b3)), 'CORRUPT', /overlaps/);
});

test('general.alignment that is not a power-of-two u32 -> BAD_METADATA', async () => {
  const cases: Array<[string, (k: Bytes) => void]> = [
    ['48', (k) => k.u32(VT.U32).u32(48)],
    ['0', (k) => k.u32(VT.U32).u32(0)],
    ['3', (k) => k.u32(VT.U32).u32(3)],
    ['0xc0000000', (k) => k.u32(VT.U32).u32(0xc0000000)],
    ['"32" (a string)', (k) => k.u32(VT.STR).str('32')],
    ['32 as u64 (a bigint)', (k) => k.u32(VT.U64).u64(32)],
    ['32.5 as f32', (k) => k.u32(VT.F32).f32(32.5)],
    ['-32 as i32', (k) => k.u32(VT.I32).u32(-32)],
  ];
  for (const [what, write] of cases) {
    const b = handGguf({ kvs: (k) => (archKv(k), k.str('general.alignment'), write(k), 2), tensors: [f32Tensor('a', 4, 0)], dataBytes: 64 });
    const e = await rejectsBitnet(readGguf(mem(b)), 'BAD_METADATA', re(FILE), /general\.alignment/, /power of two/);
    assert.equal(e.subject, 'general.alignment', what);
  }
});

test('unknown tensor type id -> UNSUPPORTED_TENSOR_TYPE naming the tensor', async () => {
  const b = handGguf({ kvs: archKv, tensors: [f32Tensor('ok', 8, 0), { name: 'blk.3.ffn_up.weight', dims: [256, 2], type: 1000, offset: 32 }], dataBytes: 4096 });
  const e = await rejectsBitnet(readGguf(mem(b)), 'UNSUPPORTED_TENSOR_TYPE', re(FILE), /blk\.3\.ffn_up\.weight/, /unknown tensor type id 1000/);
  assert.equal(e.subject, 'blk.3.ffn_up.weight');
});

test('zero or missing dimensions, and rows that are not whole blocks -> CORRUPT naming the tensor', async () => {
  let e = await rejectsBitnet(readGguf(mem(handGguf({ kvs: archKv, tensors: [{ name: 'z', dims: [4, 0], type: 0, offset: 0 }], dataBytes: 32 }))), 'CORRUPT', /zero dimension/);
  assert.equal(e.subject, 'z');
  e = await rejectsBitnet(readGguf(mem(handGguf({ kvs: archKv, tensors: [{ name: 'n', dims: [], type: 0, offset: 0 }], dataBytes: 32 }))), 'CORRUPT', /0 dimensions/);
  assert.equal(e.subject, 'n');
  e = await rejectsBitnet(readGguf(mem(handGguf({ kvs: archKv, tensors: [{ name: 'q', dims: [33], type: 8, offset: 0 }], dataBytes: 64 }))), 'CORRUPT', /row length 33/, /Q8_0 block size 32/);
  assert.equal(e.subject, 'q');
  e = await rejectsBitnet(readGguf(mem(handGguf({ kvs: archKv, tensors: [{ name: 'i', dims: [64, 2], type: 36, offset: 0 }], dataBytes: 256 }))), 'CORRUPT', /I2_S block size 128/);
  assert.equal(e.subject, 'i');
});

test('tensor data past the end of the file -> TRUNCATED naming the tensor', async () => {
  const b = handGguf({ kvs: archKv, tensors: [f32Tensor('a', 8, 0), f32Tensor('b', 8, 32)], dataBytes: 60 });
  const e = await rejectsBitnet(readGguf(mem(b)), 'TRUNCATED', re(FILE), /b: tensor data \(F32, 32 bytes/);
  assert.equal(e.subject, 'b');
  // I2_S uses n/4 + 32 bytes: one byte short of that is truncated, exactly that is fine
  const need = (128 * 2) / 4 + 32;
  const i2 = (n: number): Uint8Array => handGguf({ kvs: archKv, tensors: [{ name: 'q', dims: [128, 2], type: 36, offset: 0 }], dataBytes: n });
  await rejectsBitnet(readGguf(mem(i2(need - 1))), 'TRUNCATED', /q: tensor data \(I2_S, 96 bytes/);
  assert.equal((await readGguf(mem(i2(need)))).tensors[0]!.byteSize, need);
});

test('FileSource: missing file, a directory, and a malformed file on disk', async () => {
  const missing = join(dir, 'nope.gguf');
  let e = await rejectsBitnet(FileSource.open(missing), 'FILE_NOT_FOUND', re(missing), /no such file/);
  assert.equal(e.file, missing);
  await rejectsBitnet(openGgufModel(missing), 'FILE_NOT_FOUND', re(missing));
  const sub = join(dir, 'a-folder.gguf');
  await mkdir(sub);
  await rejectsBitnet(FileSource.open(sub), 'FILE_NOT_FOUND', /is a directory/);
  const bad = join(dir, 'dup.gguf');
  await writeFile(bad, handGguf({ kvs: archKv, tensors: [f32Tensor('w', 8, 0), f32Tensor('w', 8, 32)], dataBytes: 64 }));
  e = await rejectsBitnet(openGgufModel(bad), 'CORRUPT', re(bad), /duplicate tensor name/);
  assert.equal(e.file, bad);
  const src = await FileSource.open(bad);
  try {
    await rejectsBitnet(src.read(0, src.size + 1), 'TRUNCATED', re(bad));
    await rejectsBitnet(src.read(-1, 4), 'CORRUPT');
    assert.equal((await src.read(src.size, 0)).length, 0);
  } finally {
    await src.close();
  }
});
