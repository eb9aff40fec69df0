// Scoring and aggregation against lm-eval: acc vs acc_norm (characters of the choice text, no delimiter),
// gold as index / list / string / multiple input, truthfulqa's mc2, gsm8k's strict and flexible filters and
// exact_match (expected values from lm-eval's RegexFilter and exact_match_hf_evaluate run on these inputs),
// mean_stderr, and group aggregation (size-weighted mean, pooled stderr).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyFilter, exactMatch, pyFindall, pyRegex, pyStrip, regexExtract } from '../../../src/eval/filters.js';
import { aggregate, aggregateGroup, argmax, mc2Score, meanStderr, npSum, processResults } from '../../../src/eval/results.js';
import type { Doc, LoglikelihoodResult, TaskSpec } from '../../../src/eval/task.js';
import { BUILTIN_TASKS } from '../../../src/eval/tasks/index.js';

const task = (name: string): TaskSpec => BUILTIN_TASKS.get(name)!;
const lls = (...xs: number[]): LoglikelihoodResult[] => xs.map((ll, i) => ({ ll, isGreedy: i === 0 }));

test('acc and acc_norm disagree: the short choice wins raw, the long one per character', () => {
  const doc: Doc = { goal: 'g', sol1: 'ab', sol2: 'abcdefghij', label: 1 };
  // raw: -2 > -5 picks choice 0; per character: -2/2 = -1 < -5/10 = -0.5 picks choice 1 (the gold)
  assert.deepEqual(processResults(task('piqa'), doc, lls(-2, -5), null), { none: { acc: 0, acc_norm: 1 } });
  assert.deepEqual(processResults(task('piqa'), { ...doc, label: 0 }, lls(-2, -5), null), { none: { acc: 1, acc_norm: 0 } });
});

test('acc_norm divides by Python len (code points), and argmax takes the first maximum', () => {
  const doc: Doc = { goal: 'g', sol1: '😀😀', sol2: 'abc', label: 0 };
  // per code point -2.1/2 = -1.05 < -3/3 = -1 picks choice 1; UTF-16 units (4) would give -0.525 and pick 0
  assert.deepEqual(processResults(task('piqa'), doc, lls(-2.1, -3), null).none, { acc: 1, acc_norm: 0 });
  assert.deepEqual(processResults(task('piqa'), { ...doc, sol1: '😀😀😀' }, lls(-2.1, -3), null).none, { acc: 1, acc_norm: 1 });
  assert.equal(argmax([1, 3, 3]), 1);
  assert.equal(argmax([1, Number.NaN, 3]), 1);
});

test('gold as an answer letter (commonsense_qa) and as the multiple-input index (winogrande)', () => {
  const cqa: Doc = { question: 'q', choices: { label: ['A', 'B', 'C', 'D', 'E'], text: ['a', 'b', 'c', 'd', 'e'] }, answerKey: 'C' };
  assert.deepEqual(processResults(task('commonsense_qa'), cqa, lls(-3, -2, -1, -4, -5), null), { none: { acc: 1 } });
  const wino: Doc = { sentence: 'A _ b.', option1: 'x', option2: 'y', answer: '2' };
  assert.deepEqual(processResults(task('winogrande'), wino, lls(-1, -2), null), { none: { acc: 0 } });
  assert.deepEqual(processResults(task('winogrande'), wino, lls(-2, -1), null), { none: { acc: 1 } });
});

test('gold as a list of indices (multiple targets) and exact_match from is_greedy', () => {
  const t: TaskSpec = { ...task('piqa'), docToTarget: () => [0, 2], metrics: [...task('piqa').metrics, { metric: 'exact_match', aggregation: 'mean', higherIsBetter: true }] };
  const doc: Doc = { goal: 'g', sol1: 'a', sol2: 'b' };
  const r = processResults({ ...t, docToChoice: () => ['a', 'b', 'c'] }, doc, lls(-3, -1, -2), null).none!;
  assert.deepEqual(r, { acc: 0, acc_norm: 0, exact_match: 1 });
});

test('truthfulqa mc2: probability mass of the true answers, reported as acc', () => {
  const doc: Doc = { question: 'q', mc2_targets: { choices: ['t1', 't2', 'f1', 'f2', 'f3'], labels: [1, 1, 0, 0, 0] } };
  const r = [-1.0, -2.0, -0.5, -3.0, -4.0].map((ll, i) => ({ ll, isGreedy: i === 2 }));
  // lm-eval's process_results_mc2 on the same input
  assert.deepEqual(processResults(task('truthfulqa_mc2'), doc, r, null), { none: { acc: 0.4272322790111532 } });
  // by hand: (e^-1 + e^-2) / (e^-1 + e^-2 + e^-0.5 + e^-3 + e^-4)
  const e = Math.exp;
  assert.ok(Math.abs(mc2Score([-1, -2, -0.5, -3, -4], [1, 1, 0, 0, 0]) - (e(-1) + e(-2)) / (e(-1) + e(-2) + e(-0.5) + e(-3) + e(-4))) < 1e-15);
  // numpy's pairwise order (np.sum gives 5.0 here; a running sum gives 6)
  assert.equal(npSum([1e16, 1, -1e16, 1, 1, 1, 1, 1, 1]), 5);
});

const GENS = [
  'Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72',
  'The answer is $1,234.',
  'So she has -5 left, i.e. 3 apples.',
  'I do not know.',
  '#### 1,000.50 is it',
  'x = 12. Then #### 13\n#### 14',
];
const REFS = ['#### 72', 'He paid $1,234.\n#### 1,234', '#### 3', '#### 0', '#### 1000.50', '#### 14'];

test('gsm8k filters: strict-match and flexible-extract as lm-eval\'s RegexFilter', () => {
  const [strict, flexible] = task('gsm8k').filters!;
  assert.deepEqual(GENS.map((g) => applyFilter(strict!, g)), ['72', '[invalid]', '[invalid]', '[invalid]', '1,000.50', '13']);
  assert.deepEqual(GENS.map((g) => applyFilter(flexible!, g)), ['72', '$1,234.', '3', '[invalid]', '1,000.50', '14']);
});

test('gsm8k exact_match: regexes_to_ignore, ignore_case, per filter', () => {
  const g = task('gsm8k');
  const scores = GENS.map((gen, i) => processResults(g, { question: 'q', answer: REFS[i]! }, null, gen));
  assert.deepEqual(scores.map((s) => s['strict-match']!['exact_match']), [1, 0, 0, 0, 1, 0]);
  assert.deepEqual(scores.map((s) => s['flexible-extract']!['exact_match']), [1, 1, 1, 0, 1, 1]);
  // "(?s).*#### " reaches across lines; "\.$" also strips a period before a final newline, as Python's $ does
  assert.equal(exactMatch('72.\n', 'x\ny #### 72\n', { regexesToIgnore: ['(?s).*#### ', '\\.$'] }), 1);
  assert.equal(exactMatch('ABC', 'abc', { ignoreCase: true }), 1);
  assert.equal(exactMatch('a,b!', 'ab', { ignorePunctuation: true }), 1);
  assert.equal(exactMatch('a1b2', 'ab', { ignoreNumbers: true }), 1);
  assert.equal(exactMatch('ABC', 'abc'), 0);
});

test('Python regex semantics carried to JavaScript', () => {
  assert.deepEqual(pyFindall(pyRegex('(a)|(b)'), 'ab'), [['a', ''], ['', 'b']]);
  assert.deepEqual(pyFindall(pyRegex('a(b)'), 'abab'), ['b', 'b']);
  assert.deepEqual(pyFindall(pyRegex('[0-9]+'), 'x1y22'), ['1', '22']);
  assert.equal(pyRegex('a.b').test('a\rb'), true); // Python's . excludes only \n
  assert.equal(pyRegex('a.b').test('a\nb'), false);
  assert.equal(pyRegex('(?s)a.b').test('a\nb'), true);
  assert.equal(pyRegex('x$').test('x\n'), true);
  assert.equal(pyRegex('x\\Z').test('x\n'), false);
  assert.equal(pyRegex('[$]').test('$'), true);
  assert.equal(pyRegex('(?P<n>a)(?P=n)').test('aa'), true);
  assert.equal(regexExtract('no digits', '[0-9]+', 0, 'none'), 'none');
  assert.equal(regexExtract(' 12 ', '( 1)(2 )?', 0), '1');
  assert.equal(pyStrip('\x1c a \x85'), 'a');
});

test('mean and mean_stderr (sample standard deviation over sqrt(n))', () => {
  // [1, 0, 1, 1]: mean 0.75; squared deviations 3 * 0.0625 + 0.5625 = 0.75; / 3 = 0.25; sqrt 0.5; / sqrt 4 = 0.25
  assert.deepEqual(aggregate([1, 0, 1, 1]), { value: 0.75, stderr: 0.25 });
  assert.equal(meanStderr([0, 1]), 0.5);
  assert.deepEqual(aggregate([1]), { value: 1, stderr: null });
});

test('group aggregation: size-weighted mean of subtask means and the pooled sample stderr', () => {
  const subtasks = [
    { value: 0.5, stderr: 0.1, size: 10 },
    { value: 0.25, stderr: 0.05, size: 40 },
    { value: 0.8, stderr: 0.2, size: 5 },
  ];
  // (5 + 10 + 4) / 55; pooled: (9*0.01*10 + 39*0.0025*40 + 4*0.04*5) / (55 - 3) = 5.6 / 52, / 55, sqrt
  const w = aggregateGroup(subtasks, true);
  assert.equal(w.value, 0.34545454545454546);
  assert.ok(Math.abs(w.stderr! - Math.sqrt(5.6 / 52 / 55)) < 1e-15);
  assert.equal(w.stderr, 0.044249767886870975);
  const u = aggregateGroup(subtasks, false);
  assert.equal(u.value, 0.5166666666666667);
  assert.equal(u.stderr, 0.044249767886870975);
  assert.equal(aggregateGroup([{ value: 1, stderr: null, size: 1 }, { value: 0, stderr: 0.1, size: 3 }], true).stderr, null);
});
