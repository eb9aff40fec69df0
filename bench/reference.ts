// Benchmark of the reference backend on a model with BitNet b1.58 2B4T's exact shapes (random ternary
// weights, written once to .bench-cache/): load time, prompt (ppN) and generation (tgN) tokens/s, peak
// RSS, as a markdown table. Run: `npm run bench [-- --prompt 16 --gen 4 --shape 2b4t|tiny]`.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/index.js';
import { SHAPE_2B4T, writeSyntheticGguf, type SyntheticShape } from '../src/model/synthetic.js';

const { values } = parseArgs({ options: { prompt: { type: 'string', default: '16' }, gen: { type: 'string', default: '4' }, shape: { type: 'string', default: '2b4t' } } });
const TINY: SyntheticShape = { ...SHAPE_2B4T, nEmbd: 256, nFf: 512, nLayer: 2, nHead: 4, nHeadKv: 2, nVocab: 1024 };
const shape = values.shape === 'tiny' ? TINY : SHAPE_2B4T;
const dir = '.bench-cache';
mkdirSync(dir, { recursive: true });
const path = join(dir, `synthetic-${values.shape}-i2_s-f16.gguf`);
if (!existsSync(path)) {
  process.stderr.write(`writing ${path} ...\n`);
  await writeSyntheticGguf(path, shape, { weights: 'I2_S', embedding: 'F16', seed: 1 });
}
const nPrompt = Number(values.prompt);
const nGen = Number(values.gen);
const t0 = performance.now();
const model = await loadModel(path, { contextSize: nPrompt + nGen + 8 });
const loadS = (performance.now() - t0) / 1000;
const prompt = { tokens: Array.from({ length: nPrompt }, (_, i) => 10 + ((i * 37) % 250)) };
const { stats } = await model.complete(prompt, { maxTokens: nGen, temperature: 0, ignoreEos: true });
// ru_maxrss is in kilobytes on Linux
const rss = process.resourceUsage().maxRSS * 1024;
const size = `${(statSync(path).size / 1e9).toFixed(2)} GB`;
const params = `${(model.parameterCount / 1e9).toFixed(2)} B`;
const row = (test: string, tps: number) => `| ${values.shape} I2_S+F16 | ${size} | ${params} | ${model.backend.name} | 1 | ${test} | ${tps.toFixed(3)} |`;
console.log('| model | size | params | backend | threads | test | t/s |');
console.log('|---|---|---|---|---|---|---|');
console.log(row(`pp${nPrompt}`, stats.promptTokensPerSecond));
console.log(row(`tg${nGen}`, stats.tokensPerSecond));
console.log(`\nload ${loadS.toFixed(2)} s, peak RSS ${(rss / 1e9).toFixed(2)} GB, node ${process.version}`);
