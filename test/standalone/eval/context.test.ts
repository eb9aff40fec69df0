// Prompt construction against golden strings produced by lm-eval's own fewshot_context / build_qa_turn /
// construct_requests (extracted from lm_eval/api/task.py, main 2026) and samplers.py over these hand-written
// documents, with hellaswag's and winogrande's real utils: 0- and 2-shot PIQA (the evaluated doc excluded),
// HellaSwag after cleaning, both WinoGrande partial contexts, a seeded 5-shot GSM8K, a first_n MMLU prompt.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRequests, ContextBuilder, evalSplitOf, excludesEvalDoc, FewshotSampler, fewshotSplitOf, maybeDelimit, pyEqual } from '../../../src/eval/context.js';
import type { Doc } from '../../../src/eval/task.js';
import { BUILTIN_TASKS } from '../../../src/eval/tasks/index.js';

const task = (name: string) => BUILTIN_TASKS.get(name)!;

const piqaTrain: Doc[] = Array.from({ length: 6 }, (_, i) => ({ goal: `Goal ${i}`, sol1: `first ${i}`, sol2: `second ${i}`, label: i % 2 }));
const piqaDoc: Doc = { goal: 'How do I open a jar?', sol1: 'Twist the lid.', sol2: 'Hit it with a hammer.', label: 0 };

test('PIQA zero-shot: context and one request per solution', () => {
  const b = new ContextBuilder(task('piqa'), piqaTrain);
  const ctx = b.context(piqaDoc);
  assert.equal(ctx, 'Question: How do I open a jar?\nAnswer:');
  assert.deepEqual(buildRequests(task('piqa'), piqaDoc, ctx), [
    { context: 'Question: How do I open a jar?\nAnswer:', continuation: ' Twist the lid.' },
    { context: 'Question: How do I open a jar?\nAnswer:', continuation: ' Hit it with a hammer.' },
  ]);
});

test('PIQA 2-shot: seeded draws of n + 1, the evaluated doc dropped (fewshot_split == test_split, both unset)', () => {
  assert.equal(excludesEvalDoc(task('piqa')), true);
  const b = new ContextBuilder(task('piqa'), piqaTrain, { numFewshot: 2 });
  assert.equal(b.context(piqaDoc), 'Question: Goal 3\nAnswer: second 3\n\nQuestion: Goal 0\nAnswer: first 0\n\nQuestion: How do I open a jar?\nAnswer:');
  // the second document is itself in the few-shot pool: it is removed from its own draw
  assert.equal(b.context({ ...piqaTrain[3]! }), 'Question: Goal 0\nAnswer: first 0\n\nQuestion: Goal 4\nAnswer: first 4\n\nQuestion: Goal 3\nAnswer:');
});

test('HellaSwag: process_docs cleaning, then the query and the cleaned endings', () => {
  const hs = task('hellaswag');
  const raw: Doc = {
    ind: 4,
    activity_label: 'Removing ice from car',
    ctx_a: 'Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles.',
    ctx_b: 'then',
    ctx: '',
    endings: [', the man adds wax to the windshield and cuts it.', ' [header] How to clean a car [title] Wash it.  Then dry it. [step] Done', ', the man puts on a christmas coat, knitted with netting.', ', the man continues removing the snow on his car.'],
    source_id: 'x',
    split: 'val',
    split_type: 'indomain',
    label: '3',
  };
  const [doc] = hs.processDocs!([raw]);
  assert.equal(doc!['gold'], 3);
  const ctx = new ContextBuilder(hs, []).context(doc!);
  const q = 'Removing ice from car: Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles. Then';
  assert.equal(ctx, q);
  assert.deepEqual(buildRequests(hs, doc!, ctx), [
    { context: q, continuation: ' , the man adds wax to the windshield and cuts it.' },
    { context: q, continuation: '  How to clean a car. Wash it. Then dry it. Done' },
    { context: q, continuation: ' , the man puts on a christmas coat, knitted with netting.' },
    { context: q, continuation: ' , the man continues removing the snow on his car.' },
  ]);
});

const winoTrain: Doc[] = [
  { sentence: 'Sarah was a much better surgeon than Maria so _ always got the easier cases.', option1: 'Sarah', option2: 'Maria', answer: '2' },
  { sentence: 'The trophy does not fit into the suitcase because _ is too large.', option1: 'trophy', option2: 'suitcase', answer: '1' },
  { sentence: 'John moved the couch from the garage to the backyard to create space. The _ is small.', option1: 'garage', option2: 'backyard', answer: '1' },
];
const winoDoc: Doc = { sentence: "Ian volunteered to eat Dennis's menudo after already having a bowl because _ despised eating intestine.", option1: 'Ian', option2: 'Dennis', answer: '2' };

test('WinoGrande partial scoring: one context per option, the shared continuation after each', () => {
  const wg = task('winogrande');
  const ctx = new ContextBuilder(wg, winoTrain).context(winoDoc);
  const a = "Ian volunteered to eat Dennis's menudo after already having a bowl because Ian";
  const b = "Ian volunteered to eat Dennis's menudo after already having a bowl because Dennis";
  assert.deepEqual(ctx, [a, b]);
  assert.deepEqual(buildRequests(wg, winoDoc, ctx), [
    { context: a, continuation: ' despised eating intestine.' },
    { context: b, continuation: ' despised eating intestine.' },
  ]);
  const shot = 'The trophy does not fit into the suitcase because trophy is too large.\n\n';
  assert.deepEqual(new ContextBuilder(wg, winoTrain, { numFewshot: 1 }).context(winoDoc), [shot + a, shot + b]);
});

test('GSM8K 5-shot: seeded random examples from train (not first_n), the stream running on across documents', () => {
  const g = task('gsm8k');
  assert.equal(excludesEvalDoc(g), false);
  const train: Doc[] = Array.from({ length: 8 }, (_, i) => ({ question: `Q${i}: what is ${i} + ${i}?`, answer: `${i} + ${i} = <<${i}+${i}=${2 * i}>>${2 * i}\n#### ${2 * i}` }));
  const docs: Doc[] = [
    { question: 'Tom has 3 apples and buys 4 more. How many?', answer: '3 + 4 = 7\n#### 7' },
    { question: 'What is 10 - 1?', answer: '#### 9' },
  ];
  const b = new ContextBuilder(g, train);
  const first = b.context(docs[0]!);
  assert.equal(
    first,
    'Question: Q7: what is 7 + 7?\nAnswer: 7 + 7 = <<7+7=14>>14\n#### 14\n\nQuestion: Q0: what is 0 + 0?\nAnswer: 0 + 0 = <<0+0=0>>0\n#### 0\n\nQuestion: Q6: what is 6 + 6?\nAnswer: 6 + 6 = <<6+6=12>>12\n#### 12\n\nQuestion: Q5: what is 5 + 5?\nAnswer: 5 + 5 = <<5+5=10>>10\n#### 10\n\nQuestion: Q4: what is 4 + 4?\nAnswer: 4 + 4 = <<4+4=8>>8\n#### 8\n\nQuestion: Tom has 3 apples and buys 4 more. How many?\nAnswer:',
  );
  assert.equal(
    b.context(docs[1]!),
    'Question: Q1: what is 1 + 1?\nAnswer: 1 + 1 = <<1+1=2>>2\n#### 2\n\nQuestion: Q0: what is 0 + 0?\nAnswer: 0 + 0 = <<0+0=0>>0\n#### 0\n\nQuestion: Q2: what is 2 + 2?\nAnswer: 2 + 2 = <<2+2=4>>4\n#### 4\n\nQuestion: Q7: what is 7 + 7?\nAnswer: 7 + 7 = <<7+7=14>>14\n#### 14\n\nQuestion: Q6: what is 6 + 6?\nAnswer: 6 + 6 = <<6+6=12>>12\n#### 12\n\nQuestion: What is 10 - 1?\nAnswer:',
  );
  assert.deepEqual(buildRequests(g, docs[0]!, first), { context: first, until: ['Question:', '</s>', '<|im_end|>'], maxGenToks: 256 });
  // another seed, another draw
  assert.notEqual(new ContextBuilder(g, train, { seed: 42 }).context(docs[0]!), first);
});

test('MMLU: the subject description, the dev split\'s first n in order, letters as choices', () => {
  const m = task('mmlu_anatomy');
  assert.equal(fewshotSplitOf(m), 'dev');
  assert.equal(evalSplitOf(m), 'test');
  const dev: Doc[] = Array.from({ length: 3 }, (_, i) => ({ question: ` Dev question ${i}? `, subject: 'anatomy', choices: [`a${i}`, `b${i}`, `c${i}`, `d${i}`], answer: i % 4 }));
  const doc: Doc = { question: 'Which bone is the longest?', subject: 'anatomy', choices: ['Femur', 'Tibia', 'Ulna', 'Radius'], answer: 0 };
  const ctx = new ContextBuilder(m, dev, { numFewshot: 2 }).context(doc);
  const want =
    'The following are multiple choice questions (with answers) about anatomy.\n\nDev question 0?\nA. a0\nB. b0\nC. c0\nD. d0\nAnswer: A\n\nDev question 1?\nA. a1\nB. b1\nC. c1\nD. d1\nAnswer: B\n\nWhich bone is the longest?\nA. Femur\nB. Tibia\nC. Ulna\nD. Radius\nAnswer:';
  assert.equal(ctx, want);
  assert.deepEqual(
    buildRequests(m, doc, ctx),
    ['A', 'B', 'C', 'D'].map((l) => ({ context: want, continuation: ` ${l}` })),
  );
  assert.throws(() => new ContextBuilder(m, dev, { numFewshot: 4 }).context(doc), /4 few-shot examples requested, 3 available/);
  assert.match(new ContextBuilder(m, dev).context(doc) as string, /^The following are .* about anatomy\.\n\nWhich bone/);
});

test('a system instruction joins the description with the few-shot delimiter, and nothing separates it from the rest', () => {
  assert.equal(maybeDelimit('sys', 'desc', '\n\n'), 'sys\n\ndesc');
  assert.equal(maybeDelimit('sys\n', 'desc', '\n\n'), 'sys\ndesc');
  assert.equal(maybeDelimit(undefined, 'desc'), 'desc');
  // lm-eval's plain-text system message carries no delimiter (checked against its fewshot_context)
  assert.equal(new ContextBuilder(task('piqa'), [], { systemInstruction: 'Be brief.' }).context(piqaDoc), 'Be brief.Question: How do I open a jar?\nAnswer:');
  const m = new ContextBuilder(task('mmlu_anatomy'), [], { systemInstruction: 'Be brief.' });
  const doc: Doc = { question: 'Q?', choices: ['1', '2', '3', '4'], answer: 0 };
  assert.equal(m.context(doc), 'Be brief.\n\nThe following are multiple choice questions (with answers) about anatomy.\n\nQ?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:');
});

test('pyEqual is Python dict equality; the default sampler refuses impossible draws', () => {
  assert.equal(pyEqual({ a: 1, b: [1, { c: 'x' }] }, { b: [1.0, { c: 'x' }], a: 1 }), true);
  assert.equal(pyEqual({ a: 1 }, { a: 1, b: 2 }), false);
  assert.equal(pyEqual(true, 1), true);
  const s = new FewshotSampler([{ a: 1 }, { a: 2 }], 'default');
  assert.throws(() => s.sample(2, { a: 3 }), /sample of 3/);
  assert.deepEqual(new FewshotSampler([{ a: 1 }, { a: 2 }], 'first_n').sample(1, { a: 1 }), [{ a: 2 }]);
});
