// Optional: llama.cpp (through node-llama-cpp, which bench/peer.ts installs into .peer/) loads the TQ2_0 and
// TQ1_0 files `bitnet convert` writes and generates the same greedy tokens as bitnet.ts, which shows it reads
// the names, block layout and `.scale` tensors as we mean them. Skipped when node-llama-cpp is not installed
// (it is never installed in CI). The diagnostic says which gate activation llama.cpp applied.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { convertModel } from '../../../src/engine/convert.js';
import { loadModel } from '../../../src/index.js';
import { makeFixture, TINY, writeHfFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** node-llama-cpp from .peer/ or from the project's own node_modules, if either has it. */
function findPeer(): string | undefined {
  for (const base of [join(ROOT, '.peer', 'package.json'), join(ROOT, 'package.json')]) {
    if (!existsSync(join(base, '..', 'node_modules', 'node-llama-cpp'))) continue;
    try {
      return createRequire(base).resolve('node-llama-cpp');
    } catch {
      // not resolvable from there
    }
  }
  return undefined;
}

/** The slice of node-llama-cpp's API used here. */
interface PeerApi {
  LlamaLogLevel: { error: unknown };
  getLlama(o: object): Promise<{
    loadModel(o: object): Promise<{
      createContext(o: object): Promise<{ getSequence(): { evaluate(t: number[], o: object): AsyncIterable<number> }; dispose(): Promise<void> }>;
      dispose(): Promise<void>;
    }>;
  }>;
}

const peer = findPeer();
const N = 12;

async function greedyBitnet(path: string, prompt: number[], activation: 'relu2' | 'silu'): Promise<number[]> {
  const m = await loadModel(path, { backend: 'ref', activation });
  try {
    const toks = [...prompt];
    for (let i = 0; i < N; i++) {
      const l = (await m.evaluate(toks)).at(-1)!;
      let best = 0;
      for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
      toks.push(best);
    }
    return toks.slice(prompt.length);
  } finally {
    await m.dispose();
  }
}

test('llama.cpp (node-llama-cpp) loads our TQ2_0 / TQ1_0 files and generates bitnet.ts\'s greedy tokens', { skip: peer ? false : 'node-llama-cpp is not installed (npm run bench:peer installs it into .peer/)' }, async (t) => {
  const dir = tempDir('convert-llama');
  const fx = makeFixture({ ...TINY, seed: 4 });
  const hf = join(dir, 'hf');
  await writeHfFixture(fx, hf, { kind: 'bf16' });
  const nlc = (await import(pathToFileURL(peer!).href)) as PeerApi;
  const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
  const prompt = [fx.vocab.bos!, 10, 200, 300, 45];
  for (const type of ['tq2_0', 'tq1_0'] as const) {
    const path = join(dir, `model-${type}.gguf`);
    await convertModel(hf, path, { type });
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const ctx = await model.createContext({ contextSize: 64, threads: 1, sequences: 1 });
    const got: number[] = [];
    for await (const tok of ctx.getSequence().evaluate(prompt, { temperature: 0 })) if (got.push(tok) >= N) break;
    await ctx.dispose();
    await model.dispose();
    const relu2 = await greedyBitnet(path, prompt, 'relu2');
    const silu = await greedyBitnet(path, prompt, 'silu');
    const same = (a: number[]) => a.every((x, i) => x === got[i]);
    assert.equal(got.length, N);
    assert.ok(same(relu2) || same(silu), `${type}: llama.cpp ${got.join(',')}; bitnet.ts relu2 ${relu2.join(',')}, silu ${silu.join(',')}`);
    t.diagnostic(
      `${type}: llama.cpp's ${N} greedy tokens equal bitnet.ts's with ${same(relu2) ? 'squared ReLU' : 'SiLU'}` +
        (same(relu2) ? '' : ' (this llama.cpp ignores bitnet.hidden_activation = relu2 and falls back to SiLU)'),
    );
  }
});
