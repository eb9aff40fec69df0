// The eval scorer on a tiny fixture model: each request's log-likelihood and is-greedy flag equal a direct
// computation from model.evaluate() logits on the same tokens, with and without prefix reuse, across
// thread counts and pass sizes; lm-eval's pair encoding (trailing spaces move to the continuation).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeRequest, LoglikelihoodScorer, type EncodedRequest } from '../../../src/eval/scorer.js';
import type { LoglikelihoodRequest, LoglikelihoodResult } from '../../../src/eval/task.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, VOCAB_TEXT, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('eval-scorer');
const path = join(dir, 'tiny.gguf');
let model: BitnetModel;
let model2: BitnetModel;

before(async () => {
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  model = await loadModel(path, { threads: 1 });
  model2 = await loadModel(path, { threads: 2 });
});
after(async () => {
  await model.dispose();
  await model2.dispose();
});

const lines = VOCAB_TEXT.split('\n');
/** documents of 1-5 choices on shared or partial contexts, the first few sharing a few-shot prefix */
function docs(): LoglikelihoodRequest[][] {
  const shots = `${lines[0]}\n\n${lines[1]}\n\n`;
  return [
    [{ context: `${shots}Question: ${lines[2]!.slice(0, 30)}\nAnswer:`, continuation: ' the ball' }, { context: `${shots}Question: ${lines[2]!.slice(0, 30)}\nAnswer:`, continuation: ' a cat sat on the mat.' }],
    [{ context: `${shots}Question: ${lines[3]!.slice(0, 20)}\nAnswer:`, continuation: ' 12' }, { context: `${shots}Question: ${lines[3]!.slice(0, 20)}\nAnswer:`, continuation: ' apples' }, { context: `${shots}Question: ${lines[3]!.slice(0, 20)}\nAnswer:`, continuation: ' Lily' }],
    // winogrande's form: contexts differ, the continuation is shared
    [{ context: 'The dog ran after Tom', continuation: ' because it was fast.' }, { context: 'The dog ran after Lily', continuation: ' because it was fast.' }],
    // a trailing space on the context, and an empty context
    [{ context: 'Once upon a time, ', continuation: 'there was' }, { context: '', continuation: 'Once upon a time' }],
    [{ context: lines[1]!, continuation: ` ${lines[2]}` }],
  ];
}

async function direct(m: BitnetModel, e: EncodedRequest): Promise<LoglikelihoodResult> {
  const logits = await m.evaluate(e.tokens);
  let ll = 0;
  let greedy = true;
  for (let p = e.contextLength - 1; p < e.tokens.length - 1; p++) {
    const row = logits[p]!;
    let max = -Infinity;
    let arg = 0;
    for (let i = 0; i < row.length; i++) if (row[i]! > max) [max, arg] = [row[i]!, i];
    let sum = 0;
    for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
    ll += row[e.tokens[p + 1]!]! - (max + Math.log(sum));
    if (arg !== e.tokens[p + 1]) greedy = false;
  }
  return { ll, isGreedy: greedy };
}

test("lm-eval's pair encoding: trailing whitespace joins the continuation; an empty context is BOS", () => {
  const e = encodeRequest(model, { context: 'Once upon a time, ', continuation: 'there was' });
  const whole = model.tokenize('Once upon a time, there was');
  const ctx = model.tokenize('Once upon a time,');
  assert.deepEqual(e.tokens, whole);
  assert.equal(e.contextLength, ctx.length);
  const empty = encodeRequest(model, { context: '', continuation: 'Once' });
  assert.deepEqual(empty.tokens, [model.tokenizer.bos!, ...model.tokenize('Once', { addBos: false })]);
  assert.equal(empty.contextLength, 1);
});

test('scores equal a direct computation from evaluate(), with and without reuse, at any pass size and thread count', async () => {
  const encoded = docs().map((d) => d.map((r) => encodeRequest(model, r)));
  const want: LoglikelihoodResult[][] = [];
  for (const d of encoded) {
    const row: LoglikelihoodResult[] = [];
    for (const e of d) row.push(await direct(model, e));
    want.push(row);
  }
  // the direct computation is not trivially greedy everywhere: the test would see a flag flip
  assert.ok(want.flat().some((r) => !r.isGreedy));
  for (const [m, opts] of [
    [model, {}],
    [model, { reuse: false }],
    [model, { batchSize: 5, logitRows: 4 }],
    [model, { batchSize: 7, maxInFlight: 1 }],
    [model2, {}],
    [model2, { batchSize: 9, reuse: false }],
  ] as const) {
    const scorer = new LoglikelihoodScorer(m, opts);
    // twice: the second run shares prefixes with what the first left idle
    for (let round = 0; round < 2; round++) {
      const got = await scorer.score(encoded);
      assert.deepEqual(got, want, `options ${JSON.stringify(opts)} round ${round}`);
    }
    scorer.dispose();
  }
});

test('a shared prefix is evaluated once: fewer rows than scoring every request alone', async () => {
  const encoded = docs().map((d) => d.map((r) => encodeRequest(model, r)));
  const shared = new LoglikelihoodScorer(model);
  await shared.score(encoded);
  const alone = new LoglikelihoodScorer(model, { reuse: false });
  await alone.score(encoded);
  assert.ok(shared.rowsEvaluated < alone.rowsEvaluated * 0.8, `${shared.rowsEvaluated} vs ${alone.rowsEvaluated}`);
  // alone, a request evaluates all its tokens but the last (which predicts nothing scored), at least two
  assert.equal(alone.rowsEvaluated, encoded.flat().reduce((a, e) => a + Math.max(2, e.tokens.length - 1), 0));
  shared.dispose();
  alone.dispose();
});
