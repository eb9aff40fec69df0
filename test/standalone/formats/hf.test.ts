// Hugging Face folders -> ModelFile: the packed U8 ternary layout (pack/unpack, the HF docstring example),
// llama.cpp's Q/K row permutation, fixture folders (packed autobitlinear / bitlinear, bf16, sharded, llama)
// giving GGUF names, ggml shapes and the fixture's exact ternary values and scales, and broken folders.
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openHfModel, packHfTernary, permuteQkRows, unpackHfTernary } from '../../../src/formats/hf.js';
import type { ModelFile } from '../../../src/formats/model-file.js';
import { ARCH_KEY, archKey, KEY, PROJECTIONS, TENSOR } from '../../../src/formats/names.js';
import { readSafetensors, serializeSafetensors, type SafetensorsWriteTensor } from '../../../src/formats/safetensors.js';
import { FileSource } from '../../../src/formats/source.js';
import { F16 } from '../../../src/formats/types.js';
import { f16ToF32 } from '../../../src/util/f16.js';
import { Rng } from '../../../src/util/rng.js';
import { makeFixture, TINY, writeHfFixture, type Fixture, type HfFixtureOptions } from '../../fixtures/generate.js';
import type { RefLayer } from '../../reference/forward64.js';
import { re, rejectsBitnet, tempFolder } from './helpers.js';

const dir = await tempFolder('hf');

function randomTernary(rng: Rng, n: number): Int8Array {
  const v = new Int8Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.int(3) - 1;
  return v;
}

test('packHfTernary / unpackHfTernary round trip on random ternary matrices', () => {
  const rng = new Rng(42);
  for (const [rows, cols] of [[4, 1], [8, 3], [12, 7], [64, 33], [256, 16]] as const) {
    const values = randomTernary(rng, rows * cols);
    const packed = packHfTernary(values, rows, cols);
    assert.equal(packed.length, (rows / 4) * cols);
    assert.deepEqual(unpackHfTernary(packed, rows / 4, cols), values, `${rows}x${cols}`);
  }
});

test('packed byte (p, c) holds rows p, p+R, p+2R, p+3R of column c from the low bits up', () => {
  const rows = 12;
  const cols = 5;
  const R = rows / 4;
  const values = randomTernary(new Rng(7), rows * cols);
  const packed = packHfTernary(values, rows, cols);
  for (let p = 0; p < R; p++) {
    for (let c = 0; c < cols; c++) {
      const byte = packed[p * cols + c]!;
      for (let i = 0; i < 4; i++) assert.equal(((byte >> (2 * i)) & 3) - 1, values[(p + i * R) * cols + c], `p=${p} c=${c} i=${i}`);
    }
  }
});

test('the HF docstring example: 0b10100001 in column 0 of a 2-row packed tensor -> rows 0,2,4,6 = 0,-1,+1,+1', () => {
  // column 0 of packed rows 0 and 1 (R = 2, so 8 output rows); row 1 also has code 3, which reads as 0
  const packed = Uint8Array.from([0b10100001, 0b00011011]);
  const w = unpackHfTernary(packed, 2, 1);
  assert.equal(w.length, 8);
  assert.deepEqual([w[0], w[2], w[4], w[6]], [0, -1, 1, 1]);
  assert.deepEqual([w[1], w[3], w[5], w[7]], [0, 1, 0, -1]);
  assert.deepEqual(packHfTernary(Int8Array.from([0, 0, -1, 1, 1, 0, 1, -1]), 8, 1), Uint8Array.from([0b10100001, 0b00011001]));
});

/** llama.cpp convert's permute: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).reshape(w.shape), written as an index map. */
function numpyPermute(w: Int8Array, rows: number, cols: number, nHead: number): Int8Array {
  const half = rows / nHead / 2;
  const out = new Int8Array(w.length);
  // out[h][a][b][c] = w[h][b][a][c] with out shaped (n_head, hd/2, 2, cols) and w shaped (n_head, 2, hd/2, cols)
  for (let h = 0; h < nHead; h++)
    for (let a = 0; a < half; a++)
      for (let b = 0; b < 2; b++)
        for (let c = 0; c < cols; c++) out[((h * half + a) * 2 + b) * cols + c] = w[((h * 2 + b) * half + a) * cols + c]!;
  return out;
}

test('permuteQkRows matches llama.cpp permute: a hand-checked example and random matrices', () => {
  // 2 heads of dim 4, 1 column: each head's rows [r0 r1 | r2 r3] (two halves) become [r0 r2 r1 r3]
  assert.deepEqual(permuteQkRows(Int8Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 8, 1, 2), Int8Array.from([0, 2, 1, 3, 4, 6, 5, 7]));
  // 1 head of dim 8: [0 1 2 3 | 4 5 6 7] -> [0 4 1 5 2 6 3 7]; rows of 2 columns move as a whole
  const rows8 = Int8Array.from([0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15, 6, 16, 7, 17]);
  assert.deepEqual(permuteQkRows(rows8, 8, 2, 1), Int8Array.from([0, 10, 4, 14, 1, 11, 5, 15, 2, 12, 6, 16, 3, 13, 7, 17]));
  const rng = new Rng(3);
  for (const [nHead, headDim, cols] of [[3, 8, 5], [4, 16, 2], [1, 2, 3]] as const) {
    const rows = nHead * headDim;
    const w = new Int8Array(rows * cols);
    for (let i = 0; i < w.length; i++) w[i] = (rng.int(256) - 128) | 0;
    assert.deepEqual(permuteQkRows(w, rows, cols, nHead), numpyPermute(w, rows, cols, nHead), `${nHead}x${headDim}x${cols}`);
  }
});

const LAYER_KEY = { attnQ: 'wq', attnK: 'wk', attnV: 'wv', attnOutput: 'wo', ffnGate: 'wgate', ffnUp: 'wup', ffnDown: 'wdown' } as const;

/** Checks a ModelFile opened from a fixture folder against the fixture, tensor by tensor. */
async function checkAgainstFixture(m: ModelFile, fx: Fixture, kind: HfFixtureOptions['kind']): Promise<void> {
  const r = fx.ref;
  const c = fx.config;
  const arch = c.arch;
  assert.equal(m.format, 'safetensors');
  assert.equal(m.metadata.get(KEY.architecture), arch);
  const k = (key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY]): unknown => m.metadata.get(archKey(arch, key));
  assert.equal(k(ARCH_KEY.embeddingLength), c.nEmbd);
  assert.equal(k(ARCH_KEY.feedForwardLength), c.nFf);
  assert.equal(k(ARCH_KEY.blockCount), c.nLayer);
  assert.equal(k(ARCH_KEY.headCount), c.nHead);
  assert.equal(k(ARCH_KEY.headCountKv), c.nHeadKv);
  assert.equal(k(ARCH_KEY.vocabSize), r.nVocab);
  assert.equal(k(ARCH_KEY.ropeFreqBase), fx.hp.ropeTheta);
  assert.ok(m.hf && typeof m.hf.tokenizerJson === 'object');

  const expectedNames: string[] = [TENSOR.tokEmbd, TENSOR.outputNorm];
  if (r.output) expectedNames.push(TENSOR.output);
  r.layers.forEach((L, l) => {
    expectedNames.push(TENSOR.attnNorm(l), TENSOR.ffnNorm(l));
    if (L.attnSubNorm) expectedNames.push(TENSOR.attnSubNorm(l));
    if (L.ffnSubNorm) expectedNames.push(TENSOR.ffnSubNorm(l));
    for (const [fn] of PROJECTIONS) expectedNames.push(TENSOR[fn](l));
  });
  assert.deepEqual([...m.tensors.keys()].sort(), expectedNames.sort());

  const emb = m.tensors.get(TENSOR.tokEmbd)!;
  assert.deepEqual(emb.shape, [c.nEmbd, r.nVocab]);
  assert.equal(emb.storage, 'float');
  assert.deepEqual(await emb.readF32(), r.embedding);
  const dense = await emb.readDense();
  assert.equal(dense.type, F16, 'a BF16 embedding is served as F16');
  const u16 = new Uint16Array(dense.bytes.buffer, dense.bytes.byteOffset, dense.bytes.byteLength / 2);
  assert.deepEqual(Float32Array.from(u16, f16ToF32), r.embedding);
  if (r.output) {
    const out = m.tensors.get(TENSOR.output)!;
    assert.deepEqual(out.shape, [c.nEmbd, r.nVocab]);
    assert.deepEqual(await out.readF32(), r.output);
    assert.equal((await out.readDense()).type, F16);
  }
  const norm = m.tensors.get(TENSOR.outputNorm)!;
  assert.deepEqual(norm.shape, [c.nEmbd]);
  assert.deepEqual(await norm.readF32(), r.outputNorm);

  for (const [l, L] of r.layers.entries()) {
    assert.deepEqual(await m.tensors.get(TENSOR.attnNorm(l))!.readF32(), L.attnNorm);
    assert.deepEqual(await m.tensors.get(TENSOR.ffnNorm(l))!.readF32(), L.ffnNorm);
    if (L.attnSubNorm) assert.deepEqual(await m.tensors.get(TENSOR.attnSubNorm(l))!.readF32(), L.attnSubNorm);
    if (L.ffnSubNorm) assert.deepEqual(await m.tensors.get(TENSOR.ffnSubNorm(l))!.readF32(), L.ffnSubNorm);
    for (const [fn] of PROJECTIONS) {
      const w = (L as RefLayer)[LAYER_KEY[fn]];
      const name = TENSOR[fn](l);
      const entry = m.tensors.get(name)!;
      assert.deepEqual(entry.shape, [w.cols, w.rows], `${name}: ggml shape [in, out]`);
      assert.equal(entry.nElements, w.rows * w.cols);
      assert.equal(entry.storage, kind === 'packed' ? 'ternary' : 'float');
      assert.equal(entry.typeName, kind === 'packed' ? 'U8 packed' : 'BF16');
      const plain = await entry.readTernary();
      let expected = w.values;
      if (arch === 'llama' && fn === 'attnQ') expected = permuteQkRows(w.values, w.rows, w.cols, c.nHead);
      if (arch === 'llama' && fn === 'attnK') expected = permuteQkRows(w.values, w.rows, w.cols, c.nHeadKv);
      assert.deepEqual(plain.values, expected, `${name}: ternary values`);
      assert.deepEqual(plain.scales, Float32Array.of(w.alpha), `${name}: scale`);
      assert.equal(plain.scaleBlock, w.rows * w.cols);
    }
  }
  // dequantized projection = values * alpha
  const q0 = m.tensors.get(TENSOR.attnV(0))!;
  const wv = r.layers[0]!.wv;
  assert.deepEqual(await q0.readF32(), Float32Array.from(wv.values, (v) => v * wv.alpha));
  await rejectsBitnet(q0.readDense(), 'UNSUPPORTED_TENSOR_TYPE');
}

const fx = makeFixture(TINY);
const fxLlama = makeFixture({ ...TINY, arch: 'llama', seed: 5, tied: false });

async function fixtureFolder(name: string, f: Fixture, opts: HfFixtureOptions): Promise<string> {
  const path = join(dir, name);
  await writeHfFixture(f, path, opts);
  return path;
}

async function withModel(path: string, fn: (m: ModelFile) => Promise<void>): Promise<void> {
  const m = await openHfModel(path);
  try {
    await fn(m);
  } finally {
    await m.close();
  }
}

for (const [name, opts] of [
  ['packed autobitlinear', { kind: 'packed', linearClass: 'autobitlinear' }],
  ['packed bitlinear (weight_scale = 1/alpha)', { kind: 'packed', linearClass: 'bitlinear' }],
  ['bf16 master weights', { kind: 'bf16' }],
  ['bf16, 3 shards with an index', { kind: 'bf16', shards: 3 }],
  ['packed, 2 shards with an index', { kind: 'packed', shards: 2 }],
] as Array<[string, HfFixtureOptions]>) {
  test(`openHfModel, bitnet-b1.58 ${name}: GGUF names, ggml shapes, the fixture's values and scales`, async () => {
    const path = await fixtureFolder(name.replace(/\W+/g, '-'), fx, opts);
    await withModel(path, (m) => checkAgainstFixture(m, fx, opts.kind));
  });
}

test('openHfModel, llama architecture (packed bitlinear): Q and K rows are permuted as llama.cpp does', async () => {
  const path = await fixtureFolder('llama-packed', fxLlama, { kind: 'packed', linearClass: 'bitlinear' });
  await withModel(path, async (m) => {
    await checkAgainstFixture(m, fxLlama, 'packed');
    // spelled out for one element: GGUF row h*hd + 2i + j is HF row h*hd + j*hd/2 + i
    const wk = fxLlama.ref.layers[1]!.wk;
    const hd = fxLlama.ref.headDim;
    const got = (await m.tensors.get(TENSOR.attnK(1))!.readTernary()).values;
    const [h, i, j] = [1, 3, 1];
    for (let col = 0; col < wk.cols; col++) {
      assert.equal(got[(h * hd + 2 * i + j) * wk.cols + col], wk.values[(h * hd + j * (hd / 2) + i) * wk.cols + col]);
    }
  });
});

test('openHfModel, llama architecture with bf16 master weights and an untied lm_head', async () => {
  const path = await fixtureFolder('llama-bf16', fxLlama, { kind: 'bf16', shards: 2 });
  await withModel(path, (m) => checkAgainstFixture(m, fxLlama, 'bf16'));
});

test('openHfModel, 1bitLLM bitnet architecture (inner_attn_ln / ffn_layernorm sub-norm names)', async () => {
  const fxBitnet = makeFixture({ ...TINY, arch: 'bitnet', seed: 9, nLayer: 1 });
  const path = await fixtureFolder('bitnet-bf16', fxBitnet, { kind: 'bf16' });
  await withModel(path, (m) => checkAgainstFixture(m, fxBitnet, 'bf16'));
});

/** A copy of a fixture folder to break. */
async function copyOf(src: string, name: string): Promise<string> {
  const dst = join(dir, name);
  await cp(src, dst, { recursive: true });
  return dst;
}

async function rewriteSafetensors(path: string, edit: (t: SafetensorsWriteTensor[]) => SafetensorsWriteTensor[]): Promise<void> {
  const src = await FileSource.open(path);
  const tensors: SafetensorsWriteTensor[] = [];
  try {
    for (const t of (await readSafetensors(src)).tensors.values()) tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, data: await src.read(t.offset, t.byteSize) });
  } finally {
    await src.close();
  }
  await writeFile(path, serializeSafetensors(edit(tensors)));
}

test('broken folders: no config.json -> FILE_NOT_FOUND, bad JSON -> CORRUPT, unsupported model types', async () => {
  const base = await fixtureFolder('base', fx, { kind: 'packed' });
  const noConfig = await copyOf(base, 'no-config');
  await rm(join(noConfig, 'config.json'));
  // the folder is named, with what a model folder needs
  let e = await rejectsBitnet(openHfModel(noConfig), 'FILE_NOT_FOUND', /a folder without a model/, /config\.json/);
  assert.equal(e.file, noConfig);

  const badJson = await copyOf(base, 'bad-json');
  await writeFile(join(badJson, 'config.json'), '{"model_type": "bitnet",');
  e = await rejectsBitnet(openHfModel(badJson), 'CORRUPT', /config\.json/, /invalid JSON/);
  assert.equal(e.file, join(badJson, 'config.json'));
  await writeFile(join(badJson, 'config.json'), 'null');
  await rejectsBitnet(openHfModel(badJson), 'CORRUPT', /config\.json/);

  const other = await copyOf(base, 'mistral');
  const cfg = JSON.parse(await readFile(join(other, 'config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(other, 'config.json'), JSON.stringify({ ...cfg, model_type: 'mistral' }));
  await rejectsBitnet(openHfModel(other), 'UNSUPPORTED_ARCHITECTURE', /mistral/);

  const noWeights = await copyOf(base, 'no-weights');
  await rm(join(noWeights, 'model.safetensors'));
  await rejectsBitnet(openHfModel(noWeights), 'FILE_NOT_FOUND', /no \*\.safetensors/);
});

test('config.json rope_scaling linear / yarn become rope.scaling.* keys; other types and yarn attention_factor are refused', async () => {
  const base = await fixtureFolder('rope-base', fx, { kind: 'packed' });
  const withScaling = async (name: string, ropeScaling: unknown): Promise<string> => {
    const path = await copyOf(base, name);
    const cfg = JSON.parse(await readFile(join(path, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(path, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: ropeScaling }));
    return path;
  };
  const keys = async (path: string): Promise<unknown[]> => {
    const m = await openHfModel(path);
    await m.close();
    const k = (key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY]): unknown => m.metadata.get(archKey('bitnet-b1.58', key));
    return [k(ARCH_KEY.ropeScalingType), k(ARCH_KEY.ropeScalingFactor), k(ARCH_KEY.ropeScalingOrigCtx), k(ARCH_KEY.ropeScalingYarnBetaFast), k(ARCH_KEY.ropeScalingYarnBetaSlow)];
  };
  assert.deepEqual(await keys(await withScaling('rope-yarn', { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64, beta_fast: 16 })), ['yarn', 4, 64, 16, undefined]);
  assert.deepEqual(await keys(await withScaling('rope-linear', { type: 'linear', factor: 2 })), ['linear', 2, undefined, undefined, undefined]);
  assert.deepEqual(await keys(await withScaling('rope-default', { rope_type: 'default' })), [undefined, undefined, undefined, undefined, undefined]);
  await rejectsBitnet(openHfModel(await withScaling('rope-dynamic', { rope_type: 'dynamic', factor: 2 })), 'UNSUPPORTED_ARCHITECTURE', /rope_scaling type "dynamic" is not supported/);
  await rejectsBitnet(openHfModel(await withScaling('rope-attn', { rope_type: 'yarn', factor: 4, attention_factor: 0.8 })), 'UNSUPPORTED_ARCHITECTURE', /attention_factor/);
  await rejectsBitnet(openHfModel(await withScaling('rope-nofactor', { rope_type: 'linear' })), 'UNSUPPORTED_ARCHITECTURE', /factor must be a number > 0/);
});

test('a full-precision llama config (no quantization_config) -> UNSUPPORTED_ARCHITECTURE', async () => {
  const path = await fixtureFolder('llama-fp', fxLlama, { kind: 'bf16' });
  const cfgPath = join(path, 'config.json');
  const cfg = JSON.parse(await readFile(cfgPath, 'utf8')) as Record<string, unknown>;
  delete cfg.quantization_config;
  await writeFile(cfgPath, JSON.stringify(cfg));
  const e = await rejectsBitnet(openHfModel(path), 'UNSUPPORTED_ARCHITECTURE', /full-precision Llama/);
  assert.equal(e.file, cfgPath);
});

test('an index listing a tensor its shard lacks -> MISSING_TENSOR; a bad shard name -> CORRUPT', async () => {
  const sharded = await fixtureFolder('sharded', fx, { kind: 'packed', shards: 2 });
  const indexPath = join(sharded, 'model.safetensors.index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map: Record<string, string> };
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  assert.equal(shards.length, 2);

  const extra = await copyOf(sharded, 'index-extra');
  const extraMap = { ...index.weight_map, 'model.layers.0.mlp.gate_proj.bias': shards[0]! };
  await writeFile(join(extra, 'model.safetensors.index.json'), JSON.stringify({ weight_map: extraMap }));
  let e = await rejectsBitnet(openHfModel(extra), 'MISSING_TENSOR', /model\.layers\.0\.mlp\.gate_proj\.bias/, re(shards[0]!));
  assert.equal(e.subject, 'model.layers.0.mlp.gate_proj.bias');
  assert.equal(e.file, join(extra, 'model.safetensors.index.json'));

  // a real tensor attributed to the wrong shard
  const moved = await copyOf(sharded, 'index-moved');
  const wrong = Object.entries(index.weight_map).find(([, s]) => s === shards[0])![0];
  await writeFile(join(moved, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...index.weight_map, [wrong]: shards[1]! } }));
  e = await rejectsBitnet(openHfModel(moved), 'MISSING_TENSOR', re(wrong));
  assert.equal(e.subject, wrong);

  const evil = await copyOf(sharded, 'index-evil');
  await writeFile(join(evil, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...index.weight_map, [wrong]: '../base/model.safetensors' } }));
  await rejectsBitnet(openHfModel(evil), 'CORRUPT', /plain shard file name/);
});

test('a packed weight without its weight_scale opens, and -> MISSING_TENSOR when read', async () => {
  const path = await fixtureFolder('no-scale', fx, { kind: 'packed' });
  const scaleName = 'model.layers.1.self_attn.k_proj.weight_scale';
  await rewriteSafetensors(join(path, 'model.safetensors'), (ts) => {
    assert.ok(ts.some((t) => t.name === scaleName));
    return ts.filter((t) => t.name !== scaleName);
  });
  await withModel(path, async (m) => {
    const entry = m.tensors.get(TENSOR.attnK(1))!;
    let e = await rejectsBitnet(entry.readTernary(), 'MISSING_TENSOR', re(scaleName), /weight_scale/);
    assert.equal(e.subject, scaleName);
    assert.equal(e.file, join(path, 'model.safetensors'));
    e = await rejectsBitnet(entry.readF32(), 'MISSING_TENSOR');
    // the other projections are unaffected
    assert.deepEqual((await m.tensors.get(TENSOR.attnQ(1))!.readTernary()).values, fx.ref.layers[1]!.wq.values);
  });
});
