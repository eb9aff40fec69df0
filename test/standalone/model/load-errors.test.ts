// Loading bad models: each failure is a BitnetError with a code and a message naming the file and the
// tensor or key; the spec's load-time health checks (4.7) warn about all-zero / near-zero projections and
// NaN norms by tensor name; progress and cancellation work during loading.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gv, writeGgufFile, type GgufWriteTensor } from '../../../src/formats/gguf-writer.js';
import type { GgufTypedValue } from '../../../src/formats/gguf.js';
import { I2_S } from '../../../src/formats/types.js';
import { BitnetError, loadModel, type LoadProgressEvent } from '../../../src/index.js';
import { ggufMetadata, ggufTensors, makeFixture, TINY, type GgufFixtureOptions } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('loaderr');
const fx = makeFixture({ ...TINY, seed: 3 });
const OPTS: GgufFixtureOptions = { weights: 'I2_S', embedding: 'F16' };
let counter = 0;

/** Writes the fixture with edits to its metadata / tensors and returns the path. */
async function variant(
  edit: (meta: Array<[string, GgufTypedValue]>, tensors: GgufWriteTensor[]) => void,
  f = fx,
): Promise<string> {
  const meta = ggufMetadata(f, OPTS);
  const { tensors } = ggufTensors(f, OPTS);
  edit(meta, tensors);
  const path = join(dir, `v${counter++}.gguf`);
  await writeGgufFile(path, meta, tensors);
  return path;
}

async function rejects(path: string, code: string, ...mentions: string[]): Promise<void> {
  await assert.rejects(loadModel(path), (e: unknown) => {
    assert.ok(e instanceof BitnetError, String(e));
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" should mention "${m}"`);
    return true;
  });
}

const setKey = (meta: Array<[string, GgufTypedValue]>, key: string, value: GgufTypedValue | undefined): void => {
  const i = meta.findIndex(([k]) => k === key);
  if (value === undefined) meta.splice(i, 1);
  else meta[i] = [key, value];
};

test('a tensor shape that contradicts the hyperparameters names the tensor and the file', async () => {
  const path = await variant((meta) => setKey(meta, 'bitnet-b1.58.feed_forward_length', gv.u32(768)));
  await rejects(path, 'SHAPE_MISMATCH', path, 'blk.0.ffn_sub_norm.weight', '[512]', '[768]', 'feed_forward_length');
});

test('a missing tensor is named', async () => {
  const path = await variant((_, tensors) => tensors.splice(tensors.findIndex((t) => t.name === 'blk.1.ffn_down.weight'), 1));
  await rejects(path, 'MISSING_TENSOR', path, 'blk.1.ffn_down.weight');
});

test('missing and mistyped hyperparameter keys are named', async () => {
  await rejects(await variant((meta) => setKey(meta, 'bitnet-b1.58.block_count', undefined)), 'MISSING_KEY', 'bitnet-b1.58.block_count');
  await rejects(await variant((meta) => setKey(meta, 'bitnet-b1.58.block_count', gv.str('two'))), 'BAD_METADATA', 'bitnet-b1.58.block_count', 'two');
  await rejects(await variant((meta) => setKey(meta, 'bitnet-b1.58.attention.head_count_kv', gv.u32(3))), 'BAD_METADATA', 'head_count_kv');
  await rejects(await variant((meta) => setKey(meta, 'general.architecture', undefined)), 'MISSING_KEY', 'general.architecture');
});

test('an unsupported architecture says which ones are supported', async () => {
  const path = await variant((meta) => setKey(meta, 'general.architecture', gv.str('gpt2')));
  await rejects(path, 'UNSUPPORTED_ARCHITECTURE', '"gpt2"', 'bitnet-b1.58');
});

test('a tokenizer with more tokens than embedding rows is refused', async () => {
  const path = await variant((meta) => {
    const tokens = meta.find(([k]) => k === 'tokenizer.ggml.tokens')![1].value as string[];
    setKey(meta, 'bitnet-b1.58.vocab_size', gv.u32(tokens.length - 10));
  });
  await rejects(path, 'TOKENIZER', path, '400 tokens', '390 embedding rows');
});

test('load-time health checks (spec 4.7) warn by tensor name and still load', async () => {
  const path = await variant((_, tensors) => {
    const zero = tensors.find((t) => t.name === 'blk.0.ffn_up.weight')!;
    zero.data = I2_S.ternary!.encodeTernary(new Int8Array(256 * 512), 0.0625);
    const tiny = tensors.find((t) => t.name === 'blk.1.attn_q.weight')!;
    const values = new Int8Array(256 * 256).map((_, i) => (i % 3) - 1);
    tiny.data = I2_S.ternary!.encodeTernary(values, 2 ** -14);
    const norm = tensors.find((t) => t.name === 'blk.0.ffn_sub_norm.weight')!;
    const f = new Float32Array(512).fill(1);
    f[7] = NaN;
    norm.data = new Uint8Array(f.buffer);
  });
  const warnings: string[] = [];
  const m = await loadModel(path, { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(warnings, m.warnings);
  assert.ok(warnings.some((w) => w.startsWith('blk.0.ffn_up.weight') && w.includes('all weights are zero')), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith('blk.1.attn_q.weight') && w.includes('near zero')), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith('blk.0.ffn_sub_norm.weight') && w.includes('NaN')), warnings.join('\n'));
});

test('unknown extra tensors are reported, not fatal', async () => {
  const path = await variant((_, tensors) => tensors.push({ ...tensors.find((t) => t.name === 'output_norm.weight')!, name: 'mystery.weight' }));
  const m = await loadModel(path);
  assert.ok(m.warnings.some((w) => w.includes('mystery.weight')));
});

test('the bitnet arch uses SiLU unless its metadata or the caller says relu2', async () => {
  const f = makeFixture({ ...TINY, arch: 'bitnet', seed: 8 });
  const noKey = join(dir, 'bitnet-nokey.gguf');
  await writeGgufFile(noKey, ggufMetadata(f, { ...OPTS, omitActivation: true }), ggufTensors(f, OPTS).tensors);
  assert.equal((await loadModel(noKey)).hparams.act, 'silu');
  assert.equal((await loadModel(noKey, { activation: 'relu2' })).hparams.act, 'relu2');
});

test('paths: missing file, a folder without config.json, a lone safetensors file', async () => {
  await assert.rejects(loadModel(join(dir, 'nope.gguf')), (e: unknown) => e instanceof BitnetError && e.code === 'FILE_NOT_FOUND' && e.message.includes('nope.gguf'));
  await assert.rejects(loadModel(dir), (e: unknown) => e instanceof BitnetError && e.code === 'FILE_NOT_FOUND' && e.message.includes('config.json'));
  const st = join(dir, 'model.safetensors');
  await writeFile(st, new Uint8Array(16));
  await assert.rejects(loadModel(st), (e: unknown) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && e.message.includes('folder'));
  const junk = join(dir, 'junk.bin');
  await writeFile(junk, 'not a model at all');
  await assert.rejects(loadModel(junk), (e: unknown) => e instanceof BitnetError && e.code === 'BAD_MAGIC' && e.message.includes('junk.bin'));
});

test('progress is reported up to the total, and an AbortSignal cancels loading', async () => {
  const path = await variant(() => {});
  const events: LoadProgressEvent[] = [];
  await loadModel(path, { onProgress: (p) => events.push(p) });
  const weights = events.filter((e) => e.phase === 'weights');
  assert.ok(weights.length > 10);
  for (let i = 1; i < weights.length; i++) assert.ok(weights[i]!.loaded >= weights[i - 1]!.loaded);
  assert.equal(weights.at(-1)!.loaded, weights.at(-1)!.total);
  assert.equal(events.at(-1)!.phase, 'done');

  const ac = new AbortController();
  const p = loadModel(path, { signal: ac.signal, onProgress: (e) => e.phase === 'weights' && e.loaded > 100000 && ac.abort() });
  await assert.rejects(p, (e: unknown) => e instanceof BitnetError && e.code === 'ABORTED');
});

test('packed HF weights without quantization_config.linear_class load with a warning about the scale convention', async () => {
  const { readFile } = await import('node:fs/promises');
  const { writeHfFixture } = await import('../../fixtures/generate.js');
  const folder = join(dir, 'hf-no-linear-class');
  await writeHfFixture(fx, folder, { kind: 'packed', linearClass: 'bitlinear' });
  const cfgPath = join(folder, 'config.json');
  const cfg = JSON.parse(await readFile(cfgPath, 'utf8')) as { quantization_config: Record<string, unknown> };
  delete cfg.quantization_config.linear_class;
  await writeFile(cfgPath, JSON.stringify(cfg));
  const m = await loadModel(folder);
  assert.ok(m.warnings.some((w) => w.includes('linear_class is missing') && w.includes('config.json')), m.warnings.join('\n'));
  // the assumed default (bitlinear: weight_scale = 1/alpha) is what this fixture wrote, so it loads exactly
  const packed = join(dir, 'hf-with-linear-class');
  await writeHfFixture(fx, packed, { kind: 'packed', linearClass: 'bitlinear' });
  const tokens = [fx.vocab.bos!, 5, 6, 7];
  assert.deepEqual(await m.evaluate(tokens), await (await loadModel(packed)).evaluate(tokens));
});
