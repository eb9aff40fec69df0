// Per-document scoring and aggregation as lm-eval computes them: process_results for multiple_choice (acc,
// acc_norm over characters of the choice text, exact_match from is_greedy), truthfulqa's mc2, generate_until
// through the filter pipelines then exact_match; the mean with its stderr (sample stddev / sqrt(n)), and group
// aggregation over leaf tasks (size-weighted or plain mean, pooled sample stderr) as lm_eval/api/group.py.
import { BitnetError } from '../errors.js';
import { applyFilter, exactMatch, NO_FILTER } from './filters.js';
import type { Doc, LoglikelihoodResult, MetricSpec, TaskSpec } from './task.js';

/** The key a metric's value is reported under: its `as` name if set (truthfulqa_mc2's mc2 is lm-eval's "acc"). */
export function metricKey(m: MetricSpec): string {
  return m.as ?? m.metric;
}

/** Per-filter metric values of one document: filter name ('none' for log-likelihood tasks) -> metric key -> value. */
export type DocScores = Record<string, Record<string, number>>;

/** numpy's argmax: the first maximum, a NaN counting as the maximum. */
export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isNaN(xs[i]!)) return i;
    if (xs[i]! > xs[best]!) best = i;
  }
  return best;
}

/** Length in characters as Python's len(str): code points, not UTF-16 units. */
const pyLen = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** truthfulqa's process_results_mc2: the share of probability (exp of the log-likelihoods) on the true answers. */
export function mc2Score(lls: readonly number[], labels: readonly number[]): number {
  if (labels.length !== lls.length) throw new BitnetError('INVALID_ARGUMENT', `mc2: ${lls.length} log-likelihoods for ${labels.length} labels`);
  const probs = lls.map((ll) => Math.exp(ll));
  const total = npSum(probs);
  return npSum(probs.map((p) => p / total).filter((_, i) => labels[i] === 1));
}

/** numpy's float64 sum: pairwise, 8 accumulators per block of up to 128 (np.add.reduce on a contiguous array). */
export function npSum(a: readonly number[], start = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    const r = a.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return npSum(a, start, n2) + npSum(a, start + n2, n - n2);
}

function mc2Labels(doc: Doc): number[] {
  const t = doc['mc2_targets'] as { labels?: unknown } | undefined;
  const labels = t?.labels;
  if (!Array.isArray(labels)) throw new BitnetError('INVALID_ARGUMENT', 'mc2 needs doc.mc2_targets.labels');
  return labels.map((x) => Number(x));
}

/** multiple_choice's process_results: acc, acc_norm, exact_match (and mc2) of one document. */
function scoreMultipleChoice(task: TaskSpec, doc: Doc, results: readonly LoglikelihoodResult[]): Record<string, number> {
  const lls = results.map((r) => r.ll);
  const out: Record<string, number> = {};
  if (task.metrics.some((m) => m.metric === 'mc2')) {
    // a custom process_results: only its metric is reported
    const v = mc2Score(lls, mc2Labels(doc));
    for (const m of task.metrics) if (m.metric === 'mc2') out[metricKey(m)] = v;
    return out;
  }
  const choices = task.docToChoice?.(doc);
  if (!choices) throw new BitnetError('INVALID_ARGUMENT', 'a multiple_choice task needs doc_to_choice', { name: task.task });
  if (lls.length !== choices.length) throw new BitnetError('INVALID_ARGUMENT', `${lls.length} log-likelihoods for ${choices.length} choices`, { name: task.task });
  const pred = argmax(lls);
  const predNorm = argmax(lls.map((ll, i) => ll / pyLen(choices[i]!)));
  const text = task.docToText(doc);
  const rawGold = typeof text === 'number' ? text : task.docToTarget(doc);
  const index = (g: number | string): number => (typeof g === 'number' ? (g < choices.length ? g : -100) : choices.includes(g) ? choices.indexOf(g) : -100);
  let acc: number;
  let accNorm: number;
  let em: number;
  if (Array.isArray(rawGold)) {
    const gold = rawGold.map(index);
    acc = gold.includes(pred) ? 1 : 0;
    accNorm = gold.includes(predNorm) ? 1 : 0;
    em = gold.some((i) => i !== -100 && results[i]!.isGreedy) ? 1 : 0;
  } else {
    const gold = index(rawGold);
    acc = pred === gold ? 1 : 0;
    accNorm = predNorm === gold ? 1 : 0;
    em = gold !== -100 && results[gold]?.isGreedy ? 1 : 0;
  }
  for (const m of task.metrics) {
    if (m.metric === 'acc') out[metricKey(m)] = acc;
    else if (m.metric === 'acc_norm') out[metricKey(m)] = accNorm;
    else if (m.metric === 'exact_match') out[metricKey(m)] = em;
  }
  return out;
}

/** generate_until's process_results on one filtered answer. */
function scoreGenerated(task: TaskSpec, doc: Doc, answer: string): Record<string, number> {
  let gold = task.docToTarget(doc);
  const choices = task.docToChoice?.(doc);
  if (choices) {
    const g = choices[typeof gold === 'number' ? gold : Number(gold)];
    if (g === undefined) throw new BitnetError('INVALID_ARGUMENT', `target ${String(gold)} is not among the choices`, { name: task.task });
    gold = g;
  }
  const refs = Array.isArray(gold) ? gold.map(String) : [String(gold)];
  const out: Record<string, number> = {};
  for (const m of task.metrics) {
    if (m.metric !== 'exact_match') throw new BitnetError('INVALID_ARGUMENT', `metric ${m.metric} does not apply to generate_until`, { name: task.task });
    // several references: right if any matches (lm-eval's multiple_target)
    out[metricKey(m)] = refs.some((r) => exactMatch(answer, r, m) === 1) ? 1 : 0;
  }
  return out;
}

/**
 * lm-eval's process_results for one document. Log-likelihood tasks pass `lls` (one per request, in
 * buildRequests' order) and get { none: {...} }; generate_until passes the generated text (already cut at the
 * stop strings) and gets one entry per filter pipeline (gsm8k: 'strict-match' and 'flexible-extract').
 */
export function processResults(task: TaskSpec, doc: Doc, lls: readonly LoglikelihoodResult[] | null, generated: string | null): DocScores {
  switch (task.outputType) {
    case 'multiple_choice':
      if (!lls) throw new BitnetError('INVALID_ARGUMENT', 'multiple_choice results need log-likelihoods', { name: task.task });
      return { none: scoreMultipleChoice(task, doc, lls) };
    case 'loglikelihood': {
      const r = lls?.[0];
      if (!r) throw new BitnetError('INVALID_ARGUMENT', 'loglikelihood results need one log-likelihood', { name: task.task });
      const out: Record<string, number> = {};
      for (const m of task.metrics) if (m.metric === 'acc') out[metricKey(m)] = r.isGreedy ? 1 : 0;
      return { none: out };
    }
    case 'generate_until': {
      if (generated === null) throw new BitnetError('INVALID_ARGUMENT', 'generate_until results need the generated text', { name: task.task });
      const out: DocScores = {};
      for (const f of task.filters?.length ? task.filters : [NO_FILTER]) out[f.name] = scoreGenerated(task, doc, applyFilter(f, generated));
      return out;
    }
  }
}

/** A metric over documents: lm-eval's mean and mean_stderr (null where lm-eval prints N/A: one document or none). */
export interface Aggregate {
  value: number;
  stderr: number | null;
}

/** lm-eval's mean: sum / n, summed left to right. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'the mean of no values');
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** lm-eval's mean_stderr: the sample standard deviation (n - 1) over sqrt(n). */
export function meanStderr(values: readonly number[]): number {
  const mu = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - mu) ** 2;
  return Math.sqrt(ss / (values.length - 1)) / Math.sqrt(values.length);
}

/** The mean of per-document values and its standard error. */
export function aggregate(values: readonly number[]): Aggregate {
  return { value: mean(values), stderr: values.length > 1 ? meanStderr(values) : null };
}

/** One leaf task's aggregate as a group sees it: its value, stderr and number of documents. */
export interface SubtaskAggregate {
  value: number;
  stderr: number | null;
  size: number;
}

/** lm-eval's pooled_sample_stderr over subtasks' stderrs and sizes. */
export function pooledSampleStderr(stderrs: readonly number[], sizes: readonly number[]): number {
  let num = 0;
  let total = 0;
  for (let i = 0; i < sizes.length; i++) {
    num += (sizes[i]! - 1) * stderrs[i]! ** 2 * sizes[i]!;
    total += sizes[i]!;
  }
  const pooledVar = num / (total - sizes.length);
  return Math.sqrt(pooledVar / total);
}

/**
 * A group's metric from its LEAF tasks (lm-eval's Group.aggregate walks get_all_tasks(): mmlu averages its 57
 * subjects, not its 4 categories): the size-weighted mean (or the plain mean of task values) and the pooled
 * sample stderr, which uses the real sizes either way; null when a task lacks a stderr.
 */
export function aggregateGroup(subtasks: readonly SubtaskAggregate[], weightBySize: boolean): Aggregate {
  if (subtasks.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'a group with no task results');
  let num = 0;
  let den = 0;
  for (const t of subtasks) {
    const w = weightBySize ? t.size : 1;
    num += t.value * w;
    den += w;
  }
  const stderrs = subtasks.map((t) => t.stderr);
  const stderr = stderrs.every((s): s is number => s !== null)
    ? pooledSampleStderr(
        stderrs,
        subtasks.map((t) => t.size),
      )
    : null;
  return { value: num / den, stderr };
}
