// Constrained generation end to end on the bundled TinyStories model: 1,000 random JSON schemas decoded through
// the batch scheduler (greedy and sampled, penalties on some) all give output that parses and validates unless
// it stops on length; model.generate with a grammar equals the scheduler's output; GBNF grammars constrain;
// `bitnet run --json-schema` prints parseable JSON; a grammar error is a GRAMMAR BitnetError.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import type { GenerateOptions } from '../../../src/generate/generate.js';
import type { GenerationHandle } from '../../../src/generate/scheduler.js';
import { compileGrammar, loadModel, type BitnetModel } from '../../../src/index.js';
import { Rng } from '../../../src/util/rng.js';
import { runCli } from '../../fixtures/cli.js';
import { Acceptor } from './reference.js';
import { randomSchema, validate } from './schemas.js';
import { astOf, GRAMMARS } from './grammars.js';

const MODEL = join(import.meta.dirname, '../../../models/bitnet-b1.58-tinystories-1m.gguf');
let model: BitnetModel;

before(async () => {
  model = await loadModel(MODEL, { threads: 1 });
});

after(async () => {
  await model.dispose();
});

async function drain(h: GenerationHandle): Promise<{ text: string; tokens: number[]; finish: string | undefined }> {
  let text = '';
  const tokens: number[] = [];
  for await (const c of h) {
    text += c.text;
    tokens.push(...c.tokens);
    if (c.done) return { text, tokens, finish: c.finishReason };
  }
  throw new Error('no final chunk');
}

const PROMPTS = ['Once upon a time', 'The little dog', 'She said', '{"name":', 'Tom and Lily'];

test('1,000 random schemas: every output parses and validates unless it stops on length', { timeout: 600_000 }, async () => {
  const rng = new Rng(2024);
  const sched = model.createScheduler({ parallel: 16, maxQueue: 2000 });
  let stopped = 0;
  const failures: string[] = [];
  try {
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < 1000; i++) {
      const schema = randomSchema(rng);
      const grammar = compileGrammar({ jsonSchema: schema });
      const r = rng.next();
      const opts: GenerateOptions = { grammar, seed: i, maxTokens: 160, ...(r < 0.3 ? { temperature: 0 } : r < 0.6 ? { temperature: 1, topK: 0, topP: 1, minP: 0 } : r < 0.8 ? { repeatPenalty: 1.3 } : {}) };
      const prompt = model.tokenizePrompt(PROMPTS[i % PROMPTS.length]!);
      jobs.push(
        drain(sched.submit(prompt, opts)).then(({ text, finish }) => {
          if (finish === 'length') return;
          stopped++;
          let v: unknown;
          try {
            v = JSON.parse(text);
          } catch {
            failures.push(`schema ${JSON.stringify(schema)}: unparseable ${JSON.stringify(text)}`);
            return;
          }
          const why = validate(v, schema, schema);
          if (why) failures.push(`schema ${JSON.stringify(schema)}: ${why} in ${JSON.stringify(text)}`);
        }),
      );
    }
    await Promise.all(jobs);
  } finally {
    await sched.dispose();
  }
  assert.deepEqual(failures.slice(0, 5), []);
  // most must finish (a test where everything stops on length would check nothing)
  assert.ok(stopped >= 800, `only ${stopped} of 1000 finished before the token limit`);
});

test('model.generate with a grammar gives what the scheduler gives (same seed)', async () => {
  const grammar = compileGrammar({ jsonSchema: { type: 'object', properties: { name: { type: 'string', maxLength: 10 }, n: { type: 'integer' } }, required: ['name', 'n'] } });
  for (const opts of [{ temperature: 0 }, { seed: 5 }, { seed: 6, repeatPenalty: 1.5 }] as GenerateOptions[]) {
    const alone = await model.complete('Once upon a time', { ...opts, grammar, maxTokens: 60 });
    const sched = model.createScheduler({ parallel: 2 });
    try {
      const viaSched = await drain(sched.submit(model.tokenizePrompt('Once upon a time'), { ...opts, grammar, maxTokens: 60 }));
      assert.deepEqual(viaSched.tokens, alone.tokens);
      assert.equal(viaSched.text, alone.text);
    } finally {
      await sched.dispose();
    }
    assert.equal(alone.stats.finishReason, 'stop');
    const v = JSON.parse(alone.text) as { name: string; n: number };
    assert.equal(typeof v.name, 'string');
    assert.ok(Number.isInteger(v.n));
  }
});

test('GBNF grammars written for the tests constrain the model: every finished output is a sentence', async () => {
  for (const [name, text] of Object.entries(GRAMMARS)) {
    const grammar = compileGrammar({ gbnf: text });
    const twin = new Acceptor(astOf(text));
    let finished = 0;
    for (let seed = 0; seed < 6; seed++) {
      const r = await model.complete('Once upon a time', { grammar, seed, maxTokens: 120, ...(seed % 2 ? { temperature: 0.7 } : { temperature: 1.2, topK: 0 }) });
      assert.ok(twin.viable(r.text), `${name}: ${JSON.stringify(r.text)} is not even a prefix`);
      if (r.stats.finishReason === 'stop') {
        finished++;
        assert.ok(twin.accepts(r.text), `${name}: ${JSON.stringify(r.text)} finished but is not a sentence`);
      }
    }
    assert.ok(finished > 0, `${name}: no generation finished`);
  }
});

test('the end-of-generation token is allowed only where the grammar is complete; mustEnd stops without sampling', async () => {
  // exactly "ab": after it nothing can follow, so generation stops with 'stop' after 2 tokens or fewer
  const r = await model.complete('Once upon a time', { grammar: compileGrammar({ gbnf: 'root ::= "ab"' }), seed: 1, maxTokens: 50 });
  assert.equal(r.text, 'ab');
  assert.equal(r.stats.finishReason, 'stop');
  // ignoreEos: the grammar still ends it
  const r2 = await model.complete('Once upon a time', { grammar: compileGrammar({ gbnf: 'root ::= [a-c]{3}' }), seed: 1, maxTokens: 50, ignoreEos: true });
  assert.match(r2.text, /^[a-c]{3}$/);
  assert.equal(r2.stats.finishReason, 'stop');
});

test('a grammar the model cannot follow is a GRAMMAR error, and the scheduler stays usable', async () => {
  assert.throws(() => compileGrammar({ gbnf: 'root ::= x' }), (e: unknown) => e instanceof BitnetError && e.code === 'GRAMMAR' && /undefined rule "x"/.test(e.message));
  // U+E000 is a private-use character: its bytes exist as byte tokens, so it is spelled byte by byte
  const r = await model.complete('Once', { grammar: compileGrammar({ gbnf: 'root ::= "\\uE000\\uE000"' }), seed: 1, maxTokens: 20 });
  assert.equal(r.text, '\uE000\uE000');
});

test('bitnet run --json-schema prints JSON that parses and validates; --grammar errors name the flag', { timeout: 120_000 }, async () => {
  const schema = { type: 'object', properties: { title: { type: 'string', maxLength: 12 }, pages: { type: 'integer', minimum: 1, maximum: 999 }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 } }, required: ['title', 'pages', 'tags'], additionalProperties: false };
  const r = await runCli(['run', '-m', MODEL, '--no-progress', '-s', '3', '-n', '120', '--json-schema', JSON.stringify(schema), '-p', 'Once upon a time'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as unknown;
  assert.equal(validate(v, schema, schema), null);
  const bad = await runCli(['run', '-m', MODEL, '--no-progress', '--grammar', 'root ::= ("a"', '-p', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--grammar: line 1, column 10: unbalanced "\("/);
  const both = await runCli(['run', '-m', MODEL, '--grammar', 'root ::= "a"', '--json-schema', '{}', '-p', 'x']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--grammar and --json-schema cannot be used together/);
  const json = await runCli(['run', '-m', MODEL, '--json-schema', '{"type":', '-p', 'x']);
  assert.match(json.stderr, /--json-schema: not valid JSON/);
});

test('logit bias applies before the grammar; logprobs stay those of the raw logits', async () => {
  const t = model.tokenizer;
  const bans: Record<number, number> = {};
  for (let id = 0; id < t.vocabSize; id++) if (!t.isSpecial(id) && new TextDecoder().decode(t.tokenBytes(id)).includes('a')) bans[id] = -100;
  const grammar = compileGrammar({ gbnf: 'root ::= [ab]{6}' });
  for (const opts of [{ temperature: 0 }, { seed: 3, temperature: 1.5, topK: 0 }] as GenerateOptions[]) {
    const r = await model.complete('Once upon a time', { ...opts, grammar, logitBias: bans, maxTokens: 20 });
    assert.equal(r.text, 'bbbbbb');
    assert.equal(r.stats.finishReason, 'stop');
  }
  // logprobs: the raw distribution, whose favourite the grammar may well refuse
  const chunks = [];
  for await (const c of model.generate('Once upon a time', { grammar, temperature: 0, logprobs: 3, maxTokens: 6 })) chunks.push(c);
  const lps = chunks.flatMap((c) => c.logprobs ?? []);
  assert.equal(lps.length, chunks.reduce((n, c) => n + c.tokens.length, 0));
  assert.ok(lps.length > 0);
  const refusedTop = lps.some((lp) => !/^[ab]+$/.test(t.decode([lp.top[0]!.token])));
  assert.ok(refusedTop, 'some step has a top alternative outside the grammar');
  for (const lp of lps) assert.ok(lp.logprob <= lp.top[0]!.logprob + 1e-6);
});
