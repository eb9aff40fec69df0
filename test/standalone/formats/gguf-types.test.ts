// The ggml type-id table through the GGUF reader: the 36-39 collision between bitnet.cpp's fork (I2_S, I8_S,
// TL1, TL2) and mainline ggml (retired ids, 39 = MXFP4) resolved by architecture and general.file_type, and
// every unsupported id reported with its name, the file and the tensor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gv, serializeGguf } from '../../../src/formats/gguf-writer.js';
import { readGguf, type GgufTypedValue } from '../../../src/formats/gguf.js';
import { MemorySource } from '../../../src/formats/source.js';
import {
  BF16, F16, F32, FTYPE_I2_S, I2_S, Q6_K, Q8_0, resolveTensorType, TENSOR_TYPES, TQ1_0, TQ2_0, usesBitnetTypeIds, type TensorType,
} from '../../../src/formats/types.js';
import { re, rejectsBitnet, throwsBitnet } from './helpers.js';

const FILE = '/models/some-model.gguf';
const TENSOR = 'blk.0.attn_q.weight';

/** A file with one [128, 4] tensor stored under type id `id` (payload sized generously for any rule). */
async function fileWithType(id: number, arch: string | undefined, fileType?: number): Promise<MemorySource> {
  const meta: Array<[string, GgufTypedValue]> = [];
  if (arch !== undefined) meta.push(['general.architecture', gv.str(arch)]);
  if (fileType !== undefined) meta.push(['general.file_type', gv.u32(fileType)]);
  // a stand-in type with the wanted id and F32's layout (128 * 4 * 4 bytes, more than any real rule needs)
  const asId: TensorType = { ...F32, id };
  const bytes = await serializeGguf(meta, [{ name: TENSOR, shape: [128, 4], type: asId, data: new Uint8Array(128 * 4 * 4) }]);
  return new MemorySource(bytes, FILE);
}

async function rejectsType(src: MemorySource, ...patterns: RegExp[]): Promise<void> {
  const e = await rejectsBitnet(readGguf(src), 'UNSUPPORTED_TENSOR_TYPE', re(FILE), re(TENSOR), ...patterns);
  assert.equal(e.file, FILE);
  assert.equal(e.subject, TENSOR);
}

for (const arch of ['bitnet-b1.58', 'bitnet-25', 'bitnet']) {
  test(`id 36 is I2_S in a ${arch} file (n/4 + 32 bytes)`, async () => {
    const g = await readGguf(await fileWithType(36, arch));
    const t = g.tensors[0]!;
    assert.equal(t.type, I2_S);
    assert.equal(t.byteSize, (128 * 4) / 4 + 32);
  });
}

test('id 36 is I2_S in a llama file whose general.file_type is 40 (MOSTLY_I2_S)', async () => {
  assert.equal(FTYPE_I2_S, 40);
  const g = await readGguf(await fileWithType(36, 'llama', 40));
  assert.equal(g.tensors[0]!.type, I2_S);
});

test('id 36 in a llama file without file type 40 is rejected as a retired mainline id', async () => {
  await rejectsType(await fileWithType(36, 'llama'), /36/, /retired/, /"llama"/);
  await rejectsType(await fileWithType(36, 'llama', 1), /36/, /retired/);
  await rejectsType(await fileWithType(36, undefined), /36/, /retired/);
});

for (const arch of ['bitnet-b1.58', 'bitnet-25', 'bitnet']) {
  test(`id 39 in a ${arch} file is TL2, with how to convert to I2_S`, async () => {
    await rejectsType(await fileWithType(39, arch), /TL2 \(39\)/, /I2_S/, /convert/);
  });
}

test('id 39 in a non-bitnet file is mainline MXFP4', async () => {
  await rejectsType(await fileWithType(39, 'llama'), /MXFP4 \(39\)/, /not supported/);
  await rejectsType(await fileWithType(39, undefined), /MXFP4/);
  // file type 40 switches 36-39 to the fork's meaning even for llama
  await rejectsType(await fileWithType(39, 'llama', 40), /TL2/);
});

test('id 38 is TL1 and id 37 is I8_S in bitnet files; in other files they are retired ids', async () => {
  await rejectsType(await fileWithType(38, 'bitnet-b1.58'), /TL1 \(38\)/, /I2_S/);
  await rejectsType(await fileWithType(37, 'bitnet-b1.58'), /I8_S \(37\)/, /activation/);
  await rejectsType(await fileWithType(38, 'llama'), /38/, /retired/);
  await rejectsType(await fileWithType(37, 'llama'), /37/, /retired/);
});

test('a known but unsupported mainline type is named, with the supported list', async () => {
  await rejectsType(await fileWithType(12, 'bitnet-b1.58'), /Q4_K \(12\)/, /not supported/, /I2_S/, /TQ2_0/);
  await rejectsType(await fileWithType(2, 'llama'), /Q4_0 \(2\)/);
  await rejectsType(await fileWithType(40, 'bitnet-b1.58'), /NVFP4 \(40\)/);
  await rejectsType(await fileWithType(28, 'llama'), /F64 \(28\)/);
});

test('an unknown type id is reported as unknown', async () => {
  await rejectsType(await fileWithType(99, 'bitnet-b1.58'), /unknown tensor type id 99/);
  await rejectsType(await fileWithType(0xffffffff, 'llama'), /unknown tensor type id 4294967295/);
});

test('the mainline ids 0-35 resolve the same in every architecture', async () => {
  const expected: Array<[number, TensorType]> = [[0, F32], [1, F16], [8, Q8_0], [14, Q6_K], [30, BF16], [34, TQ1_0], [35, TQ2_0]];
  for (const arch of ['bitnet-b1.58', 'bitnet', 'llama', 'qwen2', '']) {
    for (const [id, type] of expected) {
      assert.equal(resolveTensorType(id, { arch, fileType: undefined, file: FILE, tensor: TENSOR }), type, `${arch} ${id}`);
    }
  }
  assert.deepEqual([...TENSOR_TYPES.keys()].sort(), ['BF16', 'F16', 'F32', 'I2_S', 'Q6_K', 'Q8_0', 'TQ1_0', 'TQ2_0']);
});

test('usesBitnetTypeIds / resolveTensorType directly', () => {
  assert.equal(usesBitnetTypeIds('bitnet-b1.58', undefined), true);
  assert.equal(usesBitnetTypeIds('bitnet-25', undefined), true);
  assert.equal(usesBitnetTypeIds('bitnet', 0), true);
  assert.equal(usesBitnetTypeIds('llama', 40), true);
  assert.equal(usesBitnetTypeIds('llama', 1), false);
  assert.equal(usesBitnetTypeIds('BitNet', undefined), false, 'architecture names are exact');
  const e = throwsBitnet(() => resolveTensorType(39, { arch: 'bitnet-25', fileType: undefined, file: 'f.gguf', tensor: 'w' }), 'UNSUPPORTED_TENSOR_TYPE', /^f\.gguf: w: /);
  assert.equal(e.file, 'f.gguf');
  assert.equal(e.subject, 'w');
});

test('byte-size rules of the type table (spec 4.5)', () => {
  const n = 256 * 6;
  assert.equal(F32.byteSize(n), 4 * n);
  assert.equal(F16.byteSize(n), 2 * n);
  assert.equal(BF16.byteSize(n), 2 * n);
  assert.equal(Q8_0.byteSize(n), (n / 32) * 34);
  assert.equal(Q6_K.byteSize(n), (n / 256) * 210);
  assert.equal(TQ1_0.byteSize(n), (n / 256) * 54);
  assert.equal(TQ2_0.byteSize(n), (n / 256) * 66);
  assert.equal(I2_S.byteSize(n), n / 4 + 32);
  // the official 2B4T sizes (spec 4.3/4.4): q_proj 2560x2560 and ffn_down 6912x2560 in I2_S
  assert.equal(I2_S.byteSize(2560 * 2560), 1638432);
  assert.equal(I2_S.byteSize(6912 * 2560), 4423712);
  // and the 210 I2_S projections of the official file add up to the spec's 521,017,920 bytes
  const perLayer = [2560 * 2560, 2560 * 640, 2560 * 640, 2560 * 2560, 2560 * 6912, 2560 * 6912, 6912 * 2560].reduce((a, m) => a + I2_S.byteSize(m), 0);
  assert.equal(30 * perLayer, 521017920);
  assert.equal(I2_S.rowAddressable, false);
});
