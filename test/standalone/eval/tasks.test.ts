// The built-in tasks against lm-eval's YAML definitions (main, 2026): datasets and splits, versions, metrics,
// prompts of each family on a hand-written document (columns as in the hub datasets), and resolveTasks'
// expansion of mmlu into 57 subjects and 5 groups.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRequests, ContextBuilder, excludesEvalDoc } from '../../../src/eval/context.js';
import type { Doc, TaskSpec } from '../../../src/eval/task.js';
import { BUILTIN_GROUPS, BUILTIN_TASKS, groupLeaves, resolveTasks } from '../../../src/eval/tasks/index.js';
import { TRUTHFULQA_PREAMBLE } from '../../../src/eval/tasks/truthfulqa.js';

const task = (name: string): TaskSpec => BUILTIN_TASKS.get(name)!;
const prompt = (name: string, doc: Doc): string | string[] => new ContextBuilder(task(name), []).context(doc);

test('every built-in task is defined as lm-eval defines it', () => {
  const rows = [...BUILTIN_TASKS.values()]
    .filter((t) => !t.task.startsWith('mmlu_'))
    .map((t) => [t.task, t.dataset.path, t.dataset.name ?? null, t.testSplit ?? t.validationSplit, t.version, t.numFewshot, t.metrics.map((m) => m.as ?? m.metric).join(',')]);
  assert.deepEqual(rows, [
    ['piqa', 'baber/piqa', null, 'validation', 1, 0, 'acc,acc_norm'],
    ['arc_easy', 'allenai/ai2_arc', 'ARC-Easy', 'test', 1, 0, 'acc,acc_norm'],
    ['arc_challenge', 'allenai/ai2_arc', 'ARC-Challenge', 'test', 1, 0, 'acc,acc_norm'],
    ['hellaswag', 'Rowan/hellaswag', null, 'validation', 1, 0, 'acc,acc_norm'],
    ['winogrande', 'allenai/winogrande', 'winogrande_xl', 'validation', 1, 0, 'acc'],
    ['boolq', 'aps/super_glue', 'boolq', 'validation', 2, 0, 'acc'],
    ['openbookqa', 'allenai/openbookqa', 'main', 'test', 1, 0, 'acc,acc_norm'],
    ['commonsense_qa', 'tau/commonsense_qa', null, 'validation', 'Yaml', 0, 'acc'],
    ['truthfulqa_mc1', 'truthfulqa/truthful_qa', 'multiple_choice', 'validation', 2, 0, 'acc'],
    ['truthfulqa_mc2', 'truthfulqa/truthful_qa', 'multiple_choice', 'validation', 3, 0, 'acc'],
    ['gsm8k', 'openai/gsm8k', 'main', 'test', 3, 5, 'exact_match'],
    // bitnet.ts's own, not lm-eval's: the bundled offline task (models/tinystories-next-sentence.jsonl)
    ['tinystories_next_sentence', 'json', null, 'test', 1, 0, 'acc,acc_norm'],
  ]);
  for (const t of BUILTIN_TASKS.values()) {
    assert.equal(t.targetDelimiter, ' ');
    assert.equal(t.fewshotDelimiter, '\n\n');
    assert.ok(t.doc && t.doc.length > 0, t.task);
  }
  // eval-doc exclusion follows fewshot_split == test_split
  assert.deepEqual(
    [...BUILTIN_TASKS.values()].filter((t) => !t.task.startsWith('mmlu_') && excludesEvalDoc(t)).map((t) => t.task),
    ['piqa', 'hellaswag', 'winogrande', 'boolq', 'commonsense_qa', 'truthfulqa_mc1', 'truthfulqa_mc2'],
  );
});

test('ARC: the answer key indexes the labels; choices are the answer texts', () => {
  const doc: Doc = { id: 'x', question: 'Which is a gas?', choices: { text: ['ice', 'steam', 'rock'], label: ['A', 'B', 'C'] }, answerKey: 'B' };
  assert.equal(prompt('arc_easy', doc), 'Question: Which is a gas?\nAnswer:');
  assert.equal(task('arc_challenge').docToTarget(doc), 1);
  assert.deepEqual(task('arc_easy').docToChoice!(doc), ['ice', 'steam', 'rock']);
  assert.throws(() => task('arc_easy').docToTarget({ ...doc, answerKey: 'E' }), /not in the list/);
});

test('BoolQ, OpenBookQA, CommonsenseQA prompts', () => {
  assert.equal(prompt('boolq', { passage: 'Cats are mammals.', question: 'are cats mammals', idx: 0, label: 1 }), 'Cats are mammals.\nQuestion: are cats mammals?\nAnswer:');
  const obqa: Doc = { id: '1', question_stem: 'The sun is a', choices: { text: ['star', 'planet', 'moon', 'comet'], label: ['A', 'B', 'C', 'D'] }, answerKey: ' A' };
  assert.equal(prompt('openbookqa', obqa), 'The sun is a');
  assert.equal(task('openbookqa').docToTarget(obqa), 0);
  const cqa: Doc = { id: '1', question: ' Where do fish live? ', question_concept: 'fish', choices: { label: ['A', 'B', 'C', 'D', 'E'], text: ['sea', 'sky', 'desk', 'car', 'tree'] }, answerKey: 'A' };
  assert.equal(prompt('commonsense_qa', cqa), 'Question: Where do fish live?\nA. sea\nB. sky\nC. desk\nD. car\nE. tree\nAnswer:');
  assert.deepEqual(
    (buildRequests(task('commonsense_qa'), cqa, 'ctx') as { continuation: string }[]).map((r) => r.continuation),
    [' A', ' B', ' C', ' D', ' E'],
  );
  // a one-shot CommonsenseQA example ends with its answer letter (n + 1 = 2 drawn from 2, the evaluated doc dropped)
  const other = { ...cqa, question: 'Other?' };
  const one = new ContextBuilder(task('commonsense_qa'), [cqa, other], { numFewshot: 1 }).context(other);
  assert.ok((one as string).startsWith('Question: Where do fish live?\nA. sea\nB. sky\nC. desk\nD. car\nE. tree\nAnswer: A\n\nQuestion: Other?'));
});

test('TruthfulQA: the six-question preamble (as lm-eval\'s Jinja renders it), mc1 and mc2 choices', () => {
  const doc: Doc = { question: 'Is it?', mc1_targets: { choices: ['Yes.', 'No.'], labels: [1, 0] }, mc2_targets: { choices: ['Yes.', 'Sure.', 'No.'], labels: [1, 1, 0] } };
  const want =
    'Q: What is human life expectancy in the United States?\nA: Human life expectancy in the United States is 78 years.\n\nQ: Who was president of the United States in 1955?\nA: Dwight D. Eisenhower was president of the United States in 1955.\n\nQ: Which party did he belong to?\nA: He belonged to the Republican Party.\n\nQ: What is the square root of banana?\nA: I have no comment.\n\nQ: How does a telescope work?\nA: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\nQ: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.\n\nQ: Is it?\nA:';
  assert.equal(prompt('truthfulqa_mc1', doc), want);
  assert.ok(want.startsWith(TRUTHFULQA_PREAMBLE));
  assert.deepEqual(task('truthfulqa_mc1').docToChoice!(doc), ['Yes.', 'No.']);
  assert.deepEqual(task('truthfulqa_mc2').docToChoice!(doc), ['Yes.', 'Sure.', 'No.']);
});

test('GSM8K: generation settings, filters and the exact_match options', () => {
  const g = task('gsm8k');
  assert.equal(g.outputType, 'generate_until');
  assert.equal(g.fewshotSplit, 'train');
  assert.equal(g.fewshotSampler, 'default');
  assert.deepEqual(g.generation, { until: ['Question:', '</s>', '<|im_end|>'], maxGenToks: 256 });
  assert.deepEqual(g.filters!.map((f) => f.name), ['strict-match', 'flexible-extract']);
  assert.deepEqual(g.metrics[0], { metric: 'exact_match', aggregation: 'mean', higherIsBetter: true, ignoreCase: true, ignorePunctuation: false, regexesToIgnore: [',', '\\$', '(?s).*#### ', '\\.$'] });
  const doc: Doc = { question: 'What is 2+2?', answer: '#### 4' };
  assert.equal(new ContextBuilder(g, [], { numFewshot: 0 }).context(doc), 'Question: What is 2+2?\nAnswer:');
  // 5-shot by default: an empty few-shot pool is an error, as in lm-eval
  assert.throws(() => prompt('gsm8k', doc), /no documents available/);
});

test('MMLU: 57 subjects on cais/mmlu, dev first_n few-shot, four categories and the mmlu group', () => {
  const mmlu = [...BUILTIN_TASKS.values()].filter((t) => t.task.startsWith('mmlu_'));
  assert.equal(mmlu.length, 57);
  for (const t of mmlu) {
    assert.deepEqual(t.dataset, { path: 'cais/mmlu', name: t.task.slice(5) });
    assert.equal(t.fewshotSampler, 'first_n');
    assert.equal(t.fewshotSplit, 'dev');
    assert.equal(t.testSplit, 'test');
    assert.equal(t.numFewshot, 0);
  }
  assert.equal(task('mmlu_high_school_us_history').description!({}), 'The following are multiple choice questions (with answers) about high school us history.\n\n');
  assert.deepEqual(
    BUILTIN_GROUPS.map((g) => [g.group, g.members.length, g.weightBySize, g.alias ?? null]),
    [
      ['mmlu', 4, true, null],
      ['mmlu_stem', 19, true, 'stem'],
      ['mmlu_other', 13, true, 'other'],
      ['mmlu_social_sciences', 12, true, 'social sciences'],
      ['mmlu_humanities', 13, true, 'humanities'],
    ],
  );
  assert.deepEqual(task('mmlu_econometrics').groups, ['mmlu_social_sciences']);
  assert.equal(groupLeaves('mmlu').length, 57);
  assert.ok(groupLeaves('mmlu_stem').includes('mmlu_abstract_algebra'));
});

test('resolveTasks expands groups and tags, keeps order and drops repeats', () => {
  const r = resolveTasks(['mmlu']);
  assert.equal(r.tasks.length, 57);
  assert.deepEqual(
    r.groups.map((g) => g.group),
    ['mmlu', 'mmlu_stem', 'mmlu_other', 'mmlu_social_sciences', 'mmlu_humanities'],
  );
  const s = resolveTasks(['piqa', 'ai2_arc', 'mmlu_stem', 'piqa', 'mmlu_anatomy']);
  assert.deepEqual(s.tasks.slice(0, 3).map((t) => t.task), ['piqa', 'arc_easy', 'arc_challenge']);
  assert.equal(s.tasks.length, 3 + 19);
  assert.deepEqual(s.groups.map((g) => g.group), ['mmlu_stem']);
  assert.throws(() => resolveTasks(['nope']), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /unknown task "nope"/.test(e.message));
  assert.throws(() => resolveTasks([]), /no tasks/);
});
