// Shared helpers for the `bitnet convert` tests: fixture sets per architecture (written once per test file),
// logits of a model file, and independent readers of what a GGUF stores (raw tensor bytes, effective
// projection weights = dequantized weights x the `.scale` tensor), which do not go through convert's code.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openModelFile } from '../../../src/engine/load.js';
import type { GgufTypedValue } from '../../../src/formats/gguf.js';
import { TypedTensorEntry, type ModelFile } from '../../../src/formats/model-file.js';
import { TENSOR } from '../../../src/formats/names.js';
import { loadModel } from '../../../src/index.js';
import { makeFixture, TINY, writeAllFixtures, writeGgufFixture, type Fixture, type FixtureArch, type FixtureSet, type GgufFixtureOptions } from '../../fixtures/generate.js';

export const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150];

const sets = new Map<string, Promise<FixtureSet>>();

/** Every format of the TINY fixture for an architecture, written once into `dir`. */
export function fixtureSet(dir: string, arch: FixtureArch, seed = 3): Promise<FixtureSet> {
  const key = `${arch}-${seed}`;
  if (!sets.has(key)) sets.set(key, writeAllFixtures(makeFixture({ ...TINY, arch, seed }), join(dir, key)));
  return sets.get(key)!;
}

/** Logits of every position for `tokens`, on the reference backend (exact arithmetic). */
export async function logitsOf(path: string, tokens: number[]): Promise<{ logits: Float32Array[]; warnings: readonly string[] }> {
  const m = await loadModel(path, { backend: 'ref' });
  try {
    return { logits: await m.evaluate(tokens), warnings: m.warnings };
  } finally {
    await m.dispose();
  }
}

export function assertIdenticalLogits(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length, what);
  for (let t = 0; t < a.length; t++) {
    for (let i = 0; i < a[t]!.length; i++) {
      if (!Object.is(a[t]![i], b[t]![i])) assert.fail(`${what}: logit [${t}][${i}] ${a[t]![i]} != ${b[t]![i]}`);
    }
  }
}

export async function withFile<T>(path: string, fn: (f: ModelFile) => Promise<T>): Promise<T> {
  const f = await openModelFile(path);
  try {
    return await fn(f);
  } finally {
    await f.close();
  }
}

export const PROJECTION = /^blk\.\d+\.(attn_[qkv]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

/** Effective weights of every projection: the engine's dequantization times the `.scale` tensor, if any. */
export async function effectiveWeights(path: string): Promise<Map<string, Float32Array>> {
  return withFile(path, async (f) => {
    const out = new Map<string, Float32Array>();
    for (const [name, t] of f.tensors) {
      if (!PROJECTION.test(name)) continue;
      const w = await t.readF32();
      const s = f.tensors.get(TENSOR.scaleOf(name));
      const scale = s ? (await s.readF32())[0]! : 1;
      out.set(name, w.map((x) => Math.fround(x * scale)));
    }
    return out;
  });
}

/** Raw bytes of every tensor of a GGUF file, by name. */
export async function rawTensors(path: string): Promise<Map<string, Uint8Array>> {
  return withFile(path, async (f) => {
    const out = new Map<string, Uint8Array>();
    for (const [name, t] of f.tensors) out.set(name, (await (t as TypedTensorEntry).bytes()).slice());
    return out;
  });
}

export async function typedMetadata(path: string): Promise<Map<string, GgufTypedValue>> {
  return withFile(path, async (f) => new Map(f.metadataTyped));
}

/** Deep equality of GGUF metadata values (typed arrays compared element by element). */
export function sameMetadata(a: Map<string, GgufTypedValue>, b: Map<string, GgufTypedValue>): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, v] of a) {
    const w = b.get(k)!;
    assert.equal(w.type, v.type, k);
    const norm = (x: unknown): unknown => (ArrayBuffer.isView(x) ? Array.from(x as unknown as ArrayLike<number>) : x);
    assert.deepEqual(norm(w.value), norm(v.value), k);
  }
}

/** An I2_S (or other) GGUF of the TINY fixture whose projection scales are not exact in f16 (alpha x 1.2345679). */
export async function writeOddScaleFixture(path: string, arch: FixtureArch, opts: Partial<GgufFixtureOptions> = {}): Promise<Fixture> {
  const fx = makeFixture({ ...TINY, arch, seed: 11 });
  for (const L of fx.ref.layers) for (const t of [L.wq, L.wk, L.wv, L.wo, L.wgate, L.wup, L.wdown]) t.alpha = Math.fround(t.alpha * 1.2345679);
  await writeGgufFixture(fx, path, { weights: 'I2_S', embedding: 'F16', ...opts });
  return fx;
}
