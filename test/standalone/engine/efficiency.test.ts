// The efficiency row: op and byte counts of a tiny fixture model against numbers worked out by hand from its
// shapes (each kernel), the FP16 comparison and the energy formula, the RAPL reader on a fake sysfs folder
// (wraparound, a missing folder, permission denied), and `bitnet bench --efficiency` on the bundled model.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeBytes } from '../../../src/engine/bench.js';
import {
  benchEfficiency, countDecode, countDecodeFp16, energyPj, ENERGY_7NM, nonEmbeddingWeights, paperEnergyPj, sumCounts, ternaryMatmulCount, tgAverageKeys,
  type ComponentCount, type EfficiencyShape,
} from '../../../src/engine/efficiency.js';
import { raplDelta, raplDomains, raplMeter } from '../../../src/cli/rapl.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { runCli } from '../../fixtures/cli.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('efficiency');
const path = join(dir, 'tiny.gguf');
let model: BitnetModel;
let hp: EfficiencyShape;

before(async () => {
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  model = await loadModel(path, { backend: 'ref' });
  hp = model.hparams;
});
after(() => model.dispose());

const byName = (parts: ComponentCount[], prefix: string): ComponentCount => parts.find((p) => p.name.startsWith(prefix))!;

test('TINY shapes: nEmbd 256, nFf 512, 4 heads of 64, 2 KV heads, 2 layers, 400 tokens, tied lm_head', () => {
  assert.deepEqual([hp.nEmbd, hp.nFf, hp.nHead, hp.nHeadKv, hp.headDim, hp.nLayer, hp.nVocab], [256, 512, 4, 2, 64, 2, 400]);
  // q, o: 256x256; k, v: 128x256; gate, up: 512x256; down: 256x512 -> 2 x (2x65536 + 2x32768 + 3x131072)
  assert.equal(nonEmbeddingWeights(hp), 1_179_648);
});

test('ternary projections as each kernel executes them, by hand', () => {
  // mad: a multiply and an add per weight, one sum correction per row; epilogue (D / s) x alpha per row
  const mad = countDecode(hp, { keys: 10, kernel: 'mad', lmHead: 'int8' });
  const q = byName(mad, 'attn_q');
  assert.equal(q.intMul, 2 * 65536);
  assert.equal(q.intAdd, 2 * (65536 + 256));
  assert.equal(q.weightBytes, 2 * 16384);
  assert.equal(q.floatMul, 2 * 2 * 256);
  // lut, attn_k [128, 256]: 64 vectors per row -> groups of 3 within blocks of 63: 21 + 1; 2 spills
  const lut = countDecode(hp, { keys: 10, kernel: 'lut', lmHead: 'int8' });
  const k = byName(lut, 'attn_k');
  assert.equal(k.intMul, 0);
  assert.equal(k.lookups, 2 * 128 * 256);
  assert.equal(k.intAdd, 2 * (128 * 256 + 128 * (2 * 22 + 2)));
  // ffn_down [256, 512]: 128 vectors -> blocks 63, 63, 2 -> 21 + 21 + 1 groups, 3 spills
  assert.equal(byName(lut, 'ffn_down').intAdd, 2 * (256 * 512 + 256 * (2 * 43 + 3)));
  assert.deepEqual(ternaryMatmulCount(16, 128, 'ref'), { weightBytes: 512, kvBytes: 0, intAdd: 2 * 2048, intMul: 2048, floatAdd: 0, floatMul: 32, floatSpecial: 0, lookups: 0 });
  // LUT tables: 8 int ops per activation of the 4 quantized rows per layer (q/k/v, o, gate/up, down)
  assert.equal(byName(lut, 'LUT tables').intAdd, 2 * 8 * (256 + 256 + 256 + 512));
  assert.equal(byName(mad, 'LUT tables'), undefined);
});

test('attention, norms and the lm_head by hand', () => {
  const c = countDecode(hp, { keys: 10, kernel: 'mad', lmHead: 'int8' });
  // K and V of 2 heads x 64 f16 values at 10 positions, per layer; 4 query heads x 10 x (64 mul + scale)
  assert.equal(byName(c, 'attention QK').kvBytes, 2 * 128 * 10 * 2);
  assert.equal(byName(c, 'attention QK').floatMul, 2 * 4 * 10 * 65);
  assert.equal(byName(c, 'attention PV').floatAdd, 2 * 4 * 10 * 64);
  // int8 lm_head: 400 x 256 int8 weights + 400 f32 row scales
  const head = byName(c, 'lm_head');
  assert.equal(head.weightBytes, 400 * 256 + 1600);
  assert.equal(head.intMul, 400 * 256);
  const exact = byName(countDecode(hp, { keys: 10, kernel: 'mad', lmHead: 'exact', lmHeadBytesPerWeight: 2 }), 'lm_head');
  assert.deepEqual([exact.weightBytes, exact.floatMul, exact.floatAdd, exact.intMul], [2 * 102400, 102400, 102400, 0]);
  // the bytes the bench's bandwidth line says a decode step streams (I2_S codes, int8 head, norms), and the
  // embedding row it leaves out when the lm_head is the tied embedding (read from the F16 rows, not the int8 copy)
  assert.equal(sumCounts(c).weightBytes, decodeBytes(model, 'int8').weights + 256 * 2);
  assert.equal(sumCounts(c).kvBytes, 10 * decodeBytes(model, 'int8').kvPerPosition);
});

test('tg averages: keys attended per step after the 1-token (or depth) context', () => {
  assert.equal(tgAverageKeys(128), 65.5);
  assert.equal(tgAverageKeys(4, 6), 8.5);
  assert.deepEqual(Object.keys(sumCounts(countDecode(hp, { keys: 1, kernel: 'lut', lmHead: 'int8' }))).sort(), ['floatAdd', 'floatMul', 'floatSpecial', 'intAdd', 'intMul', 'kvBytes', 'lookups', 'weightBytes']);
});

test('the energy formula, the reports convention and the FP16 comparison', () => {
  assert.equal(energyPj({ weightBytes: 9, kvBytes: 9, intAdd: 1000, intMul: 100, floatAdd: 10, floatMul: 1, floatSpecial: 9, lookups: 9 }), 1000 * 0.007 + 100 * 0.07 + 10 * 0.16 + 0.34);
  assert.deepEqual(ENERGY_7NM, { int8Add: 0.007, int8Mul: 0.07, fp16Add: 0.16, fp16Mul: 0.34 });
  const p = paperEnergyPj(hp);
  assert.equal(p.ternary, 1_179_648 * 0.007);
  assert.ok(Math.abs(p.fp16 / p.ternary - 0.5 / 0.007) < 1e-9);
  const fp16 = countDecodeFp16(hp, 10);
  assert.equal(byName(fp16, 'activation'), undefined);
  assert.deepEqual([byName(fp16, 'ffn_up').floatMul, byName(fp16, 'ffn_up').weightBytes, byName(fp16, 'ffn_up').intAdd], [2 * 131072, 2 * 2 * 131072, 0]);
  // the same attention either way
  assert.deepEqual(byName(fp16, 'attention PV'), byName(countDecode(hp, { keys: 10, kernel: 'lut', lmHead: 'int8' }), 'attention PV'));
  for (const kernel of ['lut', 'mad', 'ref'] as const) {
    const ratio = energyPj(sumCounts(fp16)) / energyPj(sumCounts(countDecode(hp, { keys: 10, kernel, lmHead: 'int8' })));
    assert.ok(ratio > 3 && ratio < 71.5, `${kernel}: ${ratio}`);
  }
});

test('benchEfficiency: latency, memory and counts of a short tg run; the meter wraps the timed runs', async () => {
  const calls: string[] = [];
  const r = await benchEfficiency(path, { n: 4, reps: 2, backend: 'wasm-simd', threads: 1, meter: { start: () => void calls.push('start'), stop: () => (calls.push('stop'), 0.5) } });
  assert.deepEqual(calls, ['start', 'stop']);
  assert.equal(r.measuredJoulesPerToken, 0.5 / 8);
  assert.equal(r.keys, 3.5);
  assert.equal(r.ternaryWeights, 1_179_648);
  assert.equal(r.kvCacheBytes, (4 + 8) * 2 * 2 * 128 * 2); // 12 positions x K and V x 2 layers x 128 f16 values
  assert.ok(r.bestMsPerToken <= r.msPerToken + 1e-9);
  assert.ok(r.msPerToken > 0 && r.tg.samples.length === 2);
  assert.equal(r.tiedLmHead, true);
  assert.equal(r.lmHeadLoadedBytes, 400 * 256 + 1600);
  assert.equal(r.memory.weights, r.nonEmbeddingLoadedBytes + r.lmHeadLoadedBytes);
  assert.ok(['lut', 'mad'].includes(r.kernel));
  assert.ok(r.peakRssBytes >= r.rssBytes * 0.5 && r.rssBytes > 0);
});

/** A fake /sys/class/powercap: two packages (one about to wrap) and a core subdomain that must be ignored. */
function fakeRapl(): string {
  const root = join(dir, 'powercap');
  const domain = (name: string, label: string, uj: number, max: number): void => {
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(join(root, name, 'name'), `${label}\n`);
    writeFileSync(join(root, name, 'energy_uj'), `${uj}\n`);
    writeFileSync(join(root, name, 'max_energy_range_uj'), `${max}\n`);
  };
  domain('intel-rapl:0', 'package-0', 999_000, 1_000_000);
  domain('intel-rapl:0:0', 'core', 5, 1_000_000);
  domain('intel-rapl:1', 'package-1', 100, 1_000_000);
  return root;
}

test('RAPL: package domains only, joules across a wraparound, and the reasons it is not available', () => {
  const root = fakeRapl();
  const domains = raplDomains(root);
  assert.ok(Array.isArray(domains));
  assert.deepEqual(domains.map((d) => d.name), ['package-0', 'package-1']);
  assert.equal(raplDelta(999_000, 500, 1_000_000), 1500);
  const meter = raplMeter(root);
  meter.start();
  writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), '500\n'); // wrapped: 1000 + 500 uJ
  writeFileSync(join(root, 'intel-rapl:1', 'energy_uj'), '300\n');
  writeFileSync(join(root, 'intel-rapl:0:0', 'energy_uj'), '900000\n');
  assert.ok(Math.abs((meter.stop() as number) - 0.0017) < 1e-12);

  const missing = raplMeter(join(dir, 'nowhere'));
  missing.start();
  assert.match(String(missing.stop()), /^not available: no .*nowhere/);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assert.match(String(raplDomains(empty)), /no RAPL package domain/);

  // permission denied (root reads anything, so only checked as another user)
  if (process.getuid?.() !== 0) {
    chmodSync(join(root, 'intel-rapl:1', 'energy_uj'), 0o000);
    const denied = raplMeter(root);
    denied.start();
    assert.match(String(denied.stop()), /^not available: permission denied reading .*energy_uj/);
  }
});

test('bitnet bench --efficiency on the bundled model: the block, JSON, and RAPL from BITNET_RAPL_ROOT', async () => {
  const md = await runCli(['bench', '--efficiency', '-n', '4', '-r', '1', '-t', '1'], { timeoutMs: 60_000, env: { BITNET_RAPL_ROOT: join(dir, 'no-rapl') } });
  assert.equal(md.code, 0, md.stderr);
  for (const s of ['non-embedding weights:', 'resident memory:', 'decode latency:', '| attn_q (x', '| lm_head (int8) |', 'FP16 model of identical shape', 'FP16 / ternary: 71.4x', 'measured energy (RAPL): not available: no ']) assert.ok(md.stdout.includes(s), s);
  const root = fakeRapl();
  const js = await runCli(['bench', '--efficiency', '-n', '4', '-r', '1', '-t', '1', '-o', 'json'], { timeoutMs: 60_000, env: { BITNET_RAPL_ROOT: root } });
  assert.equal(js.code, 0, js.stderr);
  const e = JSON.parse(js.stdout).efficiency;
  assert.equal(e.measuredJoulesPerToken, 0); // the fake counters do not move
  assert.ok(e.total.intAdd > 0 && e.energy.executedPj > 0 && e.energy.fp16Pj > e.energy.executedPj);
  const none = await runCli(['bench', '--efficiency', '-n', '0']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no tests|needs a tg test/);
});
