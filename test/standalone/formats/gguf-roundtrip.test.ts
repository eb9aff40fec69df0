// GGUF writer -> reader round trips: every metadata value type (scalars, 64-bit bigints, typed arrays, string
// and bool arrays, nested arrays), tensors of every supported type read back byte-identical, alignment and
// per-tensor offsets (I2_S's n/4 + 32 rule), and serializeGguf / writeGgufFile agreeing byte for byte.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gv, serializeGguf, writeGgufFile, type GgufWriteTensor } from '../../../src/formats/gguf-writer.js';
import { GGUF_TYPE, readGguf, readTensorBytes, type GgufFile, type GgufTypedValue } from '../../../src/formats/gguf.js';
import { openGgufModel } from '../../../src/formats/model-file.js';
import { BlobSource, FileSource, MemorySource, type ByteSource } from '../../../src/formats/source.js';
import { BF16, F16, F32, I2_S, Q6_K, Q8_0, TQ1_0, TQ2_0, type TensorType } from '../../../src/formats/types.js';
import { pseudoRandomBytes, rejectsBitnet, tempFolder } from './helpers.js';

const dir = await tempFolder('roundtrip');

const arr = (itemType: GgufTypedValue['type'], value: GgufTypedValue['value']): GgufTypedValue => ({ type: GGUF_TYPE.ARRAY, itemType, value });

/** One entry of every value type, with edge values; array lengths chosen so later values sit unaligned. */
const METADATA: Array<[string, GgufTypedValue]> = [
  ['general.architecture', gv.str('bitnet-b1.58')],
  ['t.u8', gv.u8(255)],
  ['t.u8.zero', gv.u8(0)],
  ['t.i8', gv.i8(-128)],
  ['t.u16', gv.u16(65535)],
  ['t.i16', gv.i16(-32768)],
  ['t.u32', gv.u32(4294967295)],
  ['t.i32', gv.i32(-2147483648)],
  ['t.f32', gv.f32(Math.fround(0.1))],
  ['t.f32.neg', gv.f32(Math.fround(-1.5e-30))],
  ['t.f32.inf', gv.f32(-Infinity)],
  ['t.f64', gv.f64(Math.PI)],
  ['t.f64.tiny', gv.f64(5e-324)],
  ['t.bool.true', gv.bool(true)],
  ['t.bool.false', gv.bool(false)],
  ['t.str', gv.str('hello')],
  ['t.str.empty', gv.str('')],
  ['t.str.unicode', gv.str('café naïve 世界 🦙 Ġ\u0000end')],
  ['ключ.🔑', gv.str('non-ASCII key')],
  ['t.u64', gv.u64(2n ** 64n - 1n)],
  ['t.u64.small', gv.u64(5n)],
  ['t.i64', gv.i64(-(2n ** 63n))],
  ['t.i64.max', gv.i64(2n ** 63n - 1n)],
  ['a.u8', arr(GGUF_TYPE.UINT8, new Uint8Array([0, 1, 255]))],
  ['a.i8', arr(GGUF_TYPE.INT8, new Int8Array([-128, 0, 127]))],
  ['a.u16', arr(GGUF_TYPE.UINT16, new Uint16Array([0, 1, 65535]))],
  ['a.i16', arr(GGUF_TYPE.INT16, new Int16Array([-32768, 7, 32767]))],
  ['a.u32', gv.u32s(new Uint32Array([0, 4294967295, 128000]))],
  ['a.i32', gv.i32s(new Int32Array([-2147483648, 1, 3, 2147483647]))],
  ['a.f32', gv.f32s(new Float32Array([0, -1000, 0.5, Math.fround(1e-5)]))],
  ['a.f64', arr(GGUF_TYPE.FLOAT64, new Float64Array([Math.E, -0.25, 1e300]))],
  ['a.u64', arr(GGUF_TYPE.UINT64, new BigUint64Array([0n, 2n ** 64n - 1n, 12345678901234567n]))],
  ['a.i64', arr(GGUF_TYPE.INT64, new BigInt64Array([-(2n ** 63n), -1n, 2n ** 63n - 1n]))],
  ['a.f32.empty', gv.f32s(new Float32Array(0))],
  ['a.str', gv.strs(['!', '"', 'Ġ Ġ', '', '世界', '<|eot_id|>'])],
  ['a.str.empty', gv.strs([])],
  ['a.bool', arr(GGUF_TYPE.BOOL, [true, false, false, true, true])],
  [
    'a.nested',
    arr(GGUF_TYPE.ARRAY, [
      gv.i32s(new Int32Array([1, 2, 3])),
      gv.strs(['x', 'ÿ']),
      arr(GGUF_TYPE.ARRAY, [arr(GGUF_TYPE.BOOL, [true]), arr(GGUF_TYPE.UINT64, new BigUint64Array([9n]))]),
      arr(GGUF_TYPE.UINT8, new Uint8Array(0)),
    ]),
  ],
  ['t.after', gv.u32(42)],
];

/** [type, shape]; sizes are not multiples of 32 where the type allows it, so padding matters. */
const TENSOR_SPECS: Array<[TensorType, number[]]> = [
  [F32, [5, 3]], // 60 B
  [F16, [16, 2]], // 64 B
  [BF16, [33]], // 66 B
  [Q8_0, [64, 2]], // 4 blocks * 34 = 136 B
  [Q6_K, [256, 2]], // 2 * 210 = 420 B
  [TQ1_0, [256]], // 54 B
  [TQ2_0, [512]], // 132 B
  [I2_S, [128, 3]], // 96 + 32 = 128 B
  [I2_S, [128, 2]], // 64 + 32 = 96 B
  [I2_S, [256, 5]], // 320 + 32 = 352 B
];

/** The size each type's rule gives (spec 4.5), written out independently of the type table. */
function expectedSize(type: TensorType, n: number): number {
  switch (type.name) {
    case 'F32': return 4 * n;
    case 'F16': case 'BF16': return 2 * n;
    case 'Q8_0': return (n / 32) * 34;
    case 'Q6_K': return (n / 256) * 210;
    case 'TQ1_0': return (n / 256) * 54;
    case 'TQ2_0': return (n / 256) * 66;
    case 'I2_S': return n / 4 + 32;
    default: throw new Error(type.name);
  }
}

function makeTensors(): GgufWriteTensor[] {
  return TENSOR_SPECS.map(([type, shape], i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name: `t${i}.${type.name.toLowerCase()}`, shape, type, data: pseudoRandomBytes(expectedSize(type, n), i + 1) };
  });
}

const pad = (n: number, a: number): number => Math.ceil(n / a) * a;

async function checkTensors(g: GgufFile, tensors: GgufWriteTensor[], alignment: number): Promise<void> {
  assert.equal(g.alignment, alignment);
  assert.equal(g.dataOffset % alignment, 0);
  assert.equal(g.tensors.length, tensors.length);
  for (let i = 0; i < tensors.length; i++) {
    const w = tensors[i]!;
    const t = g.tensors[i]!;
    assert.equal(t.name, w.name);
    assert.deepEqual(t.shape, w.shape);
    assert.equal(t.type, w.type, `${w.name}: type`);
    const n = w.shape.reduce((a, b) => a * b, 1);
    assert.equal(t.nElements, n);
    assert.equal(t.byteSize, expectedSize(w.type, n), `${w.name}: byte size`);
    assert.equal((t.offset - g.dataOffset) % alignment, 0, `${w.name}: offset ${t.offset} not aligned`);
    if (i > 0) {
      const prev = g.tensors[i - 1]!;
      assert.equal(t.offset - prev.offset, pad(prev.byteSize, alignment), `${w.name}: offset step`);
    } else {
      assert.equal(t.offset, g.dataOffset);
    }
    assert.deepEqual(await readTensorBytes(g, t), w.data as Uint8Array, `${w.name}: data`);
    assert.equal(g.tensorByName.get(w.name), t);
  }
  const last = g.tensors[g.tensors.length - 1]!;
  assert.equal(g.source.size, last.offset + pad(last.byteSize, alignment), 'file ends at the padded end of the last tensor');
}

test('every metadata value type round-trips with its GGUF type', async () => {
  const bytes = await serializeGguf(METADATA, []);
  const g = await readGguf(new MemorySource(bytes, 'meta.gguf'));
  assert.equal(g.version, 3);
  assert.deepEqual([...g.metadata.keys()], METADATA.map(([k]) => k), 'file order kept');
  for (const [key, tv] of METADATA) {
    assert.deepEqual(g.metadataTyped.get(key), tv, key);
    assert.deepEqual(g.metadata.get(key), tv.value, key);
  }
  // spot checks on the representation callers rely on
  assert.equal(typeof g.metadata.get('t.u64'), 'bigint');
  assert.equal(typeof g.metadata.get('t.u32'), 'number');
  assert.ok(g.metadata.get('a.u32') instanceof Uint32Array);
  assert.ok(Object.is((g.metadata.get('a.f32') as Float32Array)[1], -1000));
  assert.equal(g.metadata.get('t.str.unicode'), 'café naïve 世界 🦙 Ġ\u0000end');
  assert.equal(g.tensors.length, 0);
});

test('metadata read back writes out byte-identical', async () => {
  const tensors = makeTensors();
  const bytes = await serializeGguf(METADATA, tensors);
  const g = await readGguf(new MemorySource(bytes));
  const again = await serializeGguf(g.metadataTyped, await Promise.all(g.tensors.map(async (t) => ({ name: t.name, shape: t.shape, type: t.type, data: await readTensorBytes(g, t) }))));
  assert.deepEqual(again, bytes);
});

test('numeric arrays given as a different typed array or plain numbers are written element by element', async () => {
  const bytes = await serializeGguf(
    [
      ['u32.from.u8', arr(GGUF_TYPE.UINT32, new Uint8Array([1, 2, 255]))],
      ['i16.from.f64', arr(GGUF_TYPE.INT16, new Float64Array([-3, 4]))],
      ['f32.from.list', arr(GGUF_TYPE.FLOAT32, [0.5, 2] as unknown as Float32Array)],
      ['after', gv.u32(7)],
    ],
    [],
  );
  const g = await readGguf(new MemorySource(bytes));
  assert.deepEqual(g.metadata.get('u32.from.u8'), new Uint32Array([1, 2, 255]));
  assert.deepEqual(g.metadata.get('i16.from.f64'), new Int16Array([-3, 4]));
  assert.deepEqual(g.metadata.get('f32.from.list'), new Float32Array([0.5, 2]));
  assert.equal(g.metadata.get('after'), 7);
});

test('tensors of every supported type read back byte-identical at 32-byte alignment', async () => {
  const tensors = makeTensors();
  const bytes = await serializeGguf(METADATA, tensors);
  const g = await readGguf(new MemorySource(bytes));
  assert.equal(g.metadata.has('general.alignment'), false, 'default alignment is not written');
  await checkTensors(g, tensors, 32);
  // the I2_S tensors: n/4 + 32 bytes, consecutive offsets differ by the padded size
  const i2s = g.tensors.filter((t) => t.type === I2_S);
  assert.deepEqual(i2s.map((t) => t.byteSize), [128, 96, 352]);
  assert.equal(i2s[1]!.offset - i2s[0]!.offset, 128);
  assert.equal(i2s[2]!.offset - i2s[1]!.offset, 96);
});

test('alignment 64, given as a writer option or as general.alignment in the metadata, is honoured', async () => {
  const tensors = makeTensors();
  const viaOption = await serializeGguf(METADATA, tensors, { alignment: 64 });
  const g1 = await readGguf(new MemorySource(viaOption));
  assert.equal(g1.metadata.get('general.alignment'), 64);
  await checkTensors(g1, tensors, 64);
  const i2s = g1.tensors.filter((t) => t.type === I2_S);
  assert.equal(i2s[2]!.offset - i2s[1]!.offset, 128, '96-byte I2_S tensor padded to 128');

  const viaKey = await serializeGguf([['general.alignment', gv.u32(64)], ...METADATA], tensors);
  const g2 = await readGguf(new MemorySource(viaKey));
  await checkTensors(g2, tensors, 64);

  const both = await serializeGguf([['general.alignment', gv.u32(64)], ...METADATA], tensors, { alignment: 64 });
  assert.deepEqual(both, viaKey);
  await rejectsBitnet(serializeGguf([['general.alignment', gv.u32(128)]], tensors, { alignment: 64 }), 'INVALID_ARGUMENT', /general\.alignment/);

  const a256 = await serializeGguf(METADATA, tensors, { alignment: 256 });
  await checkTensors(await readGguf(new MemorySource(a256)), tensors, 256);
});

test('serializeGguf and writeGgufFile produce identical bytes; no temp file is left behind', async () => {
  const tensors = makeTensors();
  const lazy: GgufWriteTensor[] = tensors.map((t, i) => ({ ...t, data: i % 2 ? () => t.data as Uint8Array : async () => t.data as Uint8Array }));
  for (const alignment of [32, 64]) {
    const path = join(dir, `rt-${alignment}.gguf`);
    const progress: Array<[number, number]> = [];
    await writeGgufFile(path, METADATA, lazy, { alignment, onProgress: (d, n) => progress.push([d, n]) });
    const mem = await serializeGguf(METADATA, tensors, { alignment });
    assert.deepEqual(new Uint8Array(await readFile(path)), mem);
    assert.deepEqual(progress, tensors.map((_, i) => [i + 1, tensors.length]));
    const src = await FileSource.open(path);
    try {
      await checkTensors(await readGguf(src), tensors, alignment);
    } finally {
      await src.close();
    }
  }
  assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('rt-')).sort(), ['rt-32.gguf', 'rt-64.gguf']);
});

test('writeGgufFile writes no file at all when a tensor has the wrong data size', async () => {
  const sub = join(dir, 'bad-size');
  await (await import('node:fs/promises')).mkdir(sub);
  const tensors = makeTensors();
  const wrong = tensors.map((t, i) => (i === 7 ? { ...t, data: new Uint8Array(127) } : t)); // I2_S [128, 3] needs 128
  const path = join(sub, 'model.gguf');
  const e = await rejectsBitnet(writeGgufFile(path, METADATA, wrong), 'INVALID_ARGUMENT', /127 bytes of I2_S data, expected 128/);
  assert.equal(e.subject, tensors[7]!.name);
  const lazyWrong = tensors.map((t, i) => (i === tensors.length - 1 ? { ...t, data: () => new Uint8Array(1) } : t));
  await rejectsBitnet(writeGgufFile(path, METADATA, lazyWrong), 'INVALID_ARGUMENT');
  assert.deepEqual(await readdir(sub), []);
  await rejectsBitnet(serializeGguf(METADATA, wrong), 'INVALID_ARGUMENT');
});

test('tensor data given as chunks (async iterables) writes the same bytes; wrong chunk totals and a failing beforeRename leave no file', async () => {
  const sub = join(dir, 'chunks');
  await (await import('node:fs/promises')).mkdir(sub);
  const tensors = makeTensors();
  async function* pieces(b: Uint8Array, n: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < b.length; i += n) yield b.subarray(i, Math.min(b.length, i + n));
  }
  const chunked: GgufWriteTensor[] = tensors.map((t, i) => ({ ...t, data: () => pieces(t.data as Uint8Array, 1 + (i % 5) * 7) }));
  const path = join(sub, 'model.gguf');
  const seen: string[] = [];
  await writeGgufFile(path, METADATA, chunked, { beforeRename: async (tmp) => void seen.push(tmp) });
  assert.deepEqual(new Uint8Array(await readFile(path)), await serializeGguf(METADATA, tensors));
  assert.deepEqual(new Uint8Array(await readFile(path)), await serializeGguf(METADATA, chunked));
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, /model\.gguf\.tmp-\d+$/);

  const path2 = join(sub, 'short.gguf');
  const short = tensors.map((t, i) => (i === 3 ? { ...t, data: () => pieces((t.data as Uint8Array).subarray(1), 4) } : t));
  await rejectsBitnet(writeGgufFile(path2, METADATA, short), 'INVALID_ARGUMENT', /expected/);
  const long = tensors.map((t, i) => (i === 3 ? { ...t, data: () => pieces(new Uint8Array((t.data as Uint8Array).length + 1), 4) } : t));
  await rejectsBitnet(writeGgufFile(path2, METADATA, long), 'INVALID_ARGUMENT', /expected/);
  await assert.rejects(writeGgufFile(path2, METADATA, tensors, { beforeRename: async () => { throw new Error('verification failed'); } }), /verification failed/);
  assert.deepEqual((await readdir(sub)).sort(), ['model.gguf']);
});

test('writer rejects values that do not match their declared type, and rows that are not whole blocks', async () => {
  let e = await rejectsBitnet(serializeGguf([['k.num', { type: GGUF_TYPE.UINT32, value: 'five' }]], []), 'INVALID_ARGUMENT');
  assert.equal(e.subject, 'k.num');
  e = await rejectsBitnet(serializeGguf([['k.big', { type: GGUF_TYPE.UINT64, value: 5 }]], []), 'INVALID_ARGUMENT');
  assert.equal(e.subject, 'k.big');
  await rejectsBitnet(serializeGguf([['k.arr', { type: GGUF_TYPE.ARRAY, value: ['a'] }]], []), 'INVALID_ARGUMENT', /itemType/);
  await rejectsBitnet(serializeGguf([['k.arr', arr(GGUF_TYPE.STRING, 'abc')]], []), 'INVALID_ARGUMENT', /must be an array/);
  await rejectsBitnet(serializeGguf([['k.strs', arr(GGUF_TYPE.STRING, [1, 2] as unknown as string[])]], []), 'INVALID_ARGUMENT');
  e = await rejectsBitnet(serializeGguf([], [{ name: 'q', shape: [33, 2], type: Q8_0, data: new Uint8Array(0) }]), 'INVALID_ARGUMENT', /block size/);
  assert.equal(e.subject, 'q');
  // I2_S too: the reader rejects rows that are not whole 128-element blocks, so the writer must not write them
  e = await rejectsBitnet(serializeGguf([], [{ name: 'i', shape: [64, 2], type: I2_S, data: new Uint8Array(64) }]), 'INVALID_ARGUMENT', /I2_S block size/);
  assert.equal(e.subject, 'i');
});

test('the same file reads identically through MemorySource, BlobSource and openGgufModel', async () => {
  const tensors = makeTensors();
  const bytes = await serializeGguf(METADATA, tensors);
  const g = await readGguf(new BlobSource(new Blob([bytes as Uint8Array<ArrayBuffer>]), 'blob.gguf'));
  await checkTensors(g, tensors, 32);
  const m = await openGgufModel(new MemorySource(bytes, 'mem.gguf'));
  try {
    assert.equal(m.format, 'gguf');
    assert.equal(m.fileSize, bytes.length);
    assert.equal(m.metadata.get('general.architecture'), 'bitnet-b1.58');
    for (const w of tensors) {
      const entry = m.tensors.get(w.name)!;
      assert.deepEqual(entry.shape, w.shape);
      assert.equal(entry.typeName, w.type.name);
      assert.equal(entry.byteSize, (w.data as Uint8Array).length);
    }
    assert.equal(m.tensors.get('t7.i2_s')!.storage, 'ternary');
    assert.equal(m.tensors.get('t0.f32')!.storage, 'float');
    assert.equal(m.tensors.get('t4.q6_k')!.storage, 'quantized');
  } finally {
    await m.close();
  }
});

test('a header larger than the first 1 MiB read is parsed, and the tensor data is not read', async () => {
  const tokens = Array.from({ length: 80_000 }, (_, i) => `tok-${i}-ü`);
  const bytes = await serializeGguf(
    [['general.architecture', gv.str('bitnet-b1.58')], ['tokenizer.ggml.tokens', gv.strs(tokens)], ['t.after', gv.u32(7)]],
    [{ name: 'big', shape: [1 << 21], type: F32, data: new Uint8Array(4 << 21) }],
  );
  const inner = new MemorySource(bytes, 'big.gguf');
  const reads: Array<[number, number]> = [];
  const counting: ByteSource = { name: inner.name, size: inner.size, read: (o, n) => (reads.push([o, n]), inner.read(o, n)), close: () => inner.close() };
  const g = await readGguf(counting);
  assert.ok(g.dataOffset > 1 << 20, `header is ${g.dataOffset} bytes`);
  assert.deepEqual(g.metadata.get('tokenizer.ggml.tokens'), tokens);
  assert.equal(g.metadata.get('t.after'), 7);
  assert.equal(g.tensors[0]!.offset, g.dataOffset);
  assert.ok(reads.length > 1, 'needed more than the first read');
  assert.ok(Math.max(...reads.map(([o, n]) => o + n)) < bytes.length, 'the 8 MiB of tensor data are not read');
});
