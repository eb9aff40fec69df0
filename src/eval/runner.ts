// The evaluation loop of `bitnet eval`, as lm-eval's evaluator runs it: per task, the evaluated split (cut
// by --limit), few-shot contexts built document by document in order, every request answered by the model
// (log-likelihoods through the scorer, greedy text through the scheduler), per-document metrics, their
// means and standard errors, and groups aggregated from their tasks. Optionally every sample, for logging.
import { createHash } from 'node:crypto';
import { BitnetError } from '../errors.js';
import type { BitnetModel } from '../engine/model.js';
import { buildRequests, ContextBuilder, DEFAULT_FEWSHOT_SEED, evalSplitOf, fewshotSplitOf } from './context.js';
import { loadSplit, type DataOptions } from './data.js';
import { generateUntil } from './generate-until.js';
import { applyFilter, NO_FILTER } from './filters.js';
import { aggregate, aggregateGroup, metricKey, processResults, type Aggregate } from './results.js';
import { encodeRequest, LoglikelihoodScorer, type EncodedRequest } from './scorer.js';
import type { Doc, GenerateRequest, GroupSpec, LoglikelihoodRequest, LoglikelihoodResult, TaskSpec } from './task.js';
import { groupLeaves } from './tasks/index.js';

export interface EvalOptions {
  tasks: TaskSpec[];
  groups?: GroupSpec[];
  /** overrides every task's default number of shots */
  numFewshot?: number;
  /** documents per task: an integer count (the first N), or a fraction < 1 of the split (rounded up) */
  limit?: number;
  /** the few-shot seed (lm-eval's fewshot_random_seed), default 1234 */
  seed?: number;
  data?: DataOptions;
  logSamples?: boolean;
  /** share prefixes between requests (default true; false scores every request from scratch) */
  reuse?: boolean;
  /** rows per forward pass for log-likelihoods */
  batchSize?: number;
  /** sequences decoded together for generate_until */
  parallel?: number;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
  onLog?: (line: string) => void;
}

export interface EvalProgress {
  task: string;
  /** 1-based index of the task and the number of tasks */
  index: number;
  tasks: number;
  phase: 'data' | 'score' | 'generate';
  done: number;
  total: number;
  /** tokens evaluated (scoring) or generated (generation) so far in this task */
  tokens: number;
  seconds: number;
}

/** One logged sample, in lm-eval's --log_samples shape (per document and filter). */
export interface SampleLog {
  doc_id: number;
  doc: Doc;
  target: unknown;
  arguments: Record<string, Record<string, unknown>>;
  resps: unknown[];
  filtered_resps: unknown[];
  filter: string;
  metrics: string[];
  [metric: string]: unknown;
}

export interface TaskOutcome {
  task: TaskSpec;
  nShot: number;
  nSamples: { original: number; effective: number };
  /** filter -> metric key -> mean and stderr */
  metrics: Record<string, Record<string, Aggregate>>;
  samples?: SampleLog[];
  seconds: number;
  /** tokens through the model: rows of forward passes (scoring) or prompt + generated tokens */
  tokens: number;
  /** requests whose context was cut on the left to fit the context size */
  truncated: number;
  /** log-likelihood tasks: seconds inside forward passes */
  forwardSeconds?: number;
}

export interface GroupOutcome {
  group: GroupSpec;
  metrics: Record<string, Record<string, Aggregate>>;
  nShot: number | undefined;
  size: number;
}

export interface EvalOutcome {
  tasks: TaskOutcome[];
  groups: GroupOutcome[];
  seconds: number;
}

/** lm-eval's --limit: a count, or a fraction of the split (ceil). */
export function applyLimit(n: number, limit: number | undefined): number {
  if (limit === undefined) return n;
  if (!(limit > 0)) throw new BitnetError('INVALID_ARGUMENT', `must be > 0, got ${limit}`, { name: 'limit' });
  return limit < 1 ? Math.ceil(n * limit) : Math.min(n, Math.floor(limit));
}

const splitName = (task: TaskSpec, split: string): string => `${task.dataset.path}${task.dataset.name ? `/${task.dataset.name}` : ''} split "${split}"`;

/** Rethrows a document's failure as BAD_DATA naming the task, split, document and the field when known. */
function docError(task: TaskSpec, split: string, i: number, e: unknown): BitnetError {
  const msg = e instanceof Error ? e.message : String(e);
  const name = e instanceof BitnetError ? e.subject : undefined;
  return new BitnetError('BAD_DATA', `${task.task}: document ${i} of ${splitName(task, split)}: ${msg}`, { file: splitName(task, split), ...(name ? { name } : {}), cause: e });
}

/** A multiple-choice target must index a choice (lm-eval would score such a document as wrong, silently). */
function checkTarget(task: TaskSpec, doc: Doc): void {
  if (task.outputType !== 'multiple_choice' || !task.docToChoice || typeof task.docToText(doc) === 'number') return;
  const n = task.docToChoice(doc).length;
  const target = task.docToTarget(doc);
  for (const t of Array.isArray(target) ? target : [target]) {
    if (typeof t === 'number' && !(Number.isInteger(t) && t >= 0 && t < n)) throw new BitnetError('INVALID_ARGUMENT', `the answer index ${t} is not one of the ${n} choices`, { name: 'doc_to_target' });
  }
}

async function docsOf(task: TaskSpec, split: string, opts: EvalOptions): Promise<Doc[]> {
  let docs = await loadSplit(task.dataset, split, opts.data ?? {});
  if (task.processDocs) docs = task.processDocs(docs);
  if (docs.length === 0) throw new BitnetError('BAD_DATA', `${task.task}: ${splitName(task, split)} has no documents`, { file: splitName(task, split) });
  return docs;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Runs one task. */
async function runTask(model: BitnetModel, task: TaskSpec, index: number, opts: EvalOptions): Promise<TaskOutcome> {
  const t0 = performance.now();
  const progress = (phase: EvalProgress['phase'], done: number, total: number, tokens: number): void =>
    opts.onProgress?.({ task: task.task, index, tasks: opts.tasks.length, phase, done, total, tokens, seconds: (performance.now() - t0) / 1000 });
  progress('data', 0, 0, 0);
  const split = evalSplitOf(task);
  const all = await docsOf(task, split, opts);
  const docs = all.slice(0, applyLimit(all.length, opts.limit));
  const nShot = opts.numFewshot ?? task.numFewshot;
  let fewshotDocs: Doc[] = [];
  if (nShot > 0) {
    const fsSplit = fewshotSplitOf(task);
    if (fsSplit === undefined) throw new BitnetError('INVALID_ARGUMENT', `${task.task} has no split to draw few-shot examples from`, { name: 'num_fewshot' });
    fewshotDocs = fsSplit === split ? all : await docsOf(task, fsSplit, opts);
  }
  const builder = new ContextBuilder(task, fewshotDocs, { seed: opts.seed ?? DEFAULT_FEWSHOT_SEED, numFewshot: nShot });
  const requests = docs.map((doc, i) => {
    try {
      checkTarget(task, doc);
      return buildRequests(task, doc, builder.context(doc));
    } catch (e) {
      throw docError(task, split, i, e);
    }
  });

  let tokens = 0;
  let truncated = 0;
  let forwardSeconds: number | undefined;
  const perDoc: Array<Record<string, Record<string, number>>> = [];
  const responses: unknown[] = [];
  const filtered: Array<Record<string, unknown>> = [];
  if (task.outputType === 'generate_until') {
    const reqs = requests as GenerateRequest[];
    progress('generate', 0, reqs.length, 0);
    const out = await generateUntil(model, reqs, {
      ...(opts.parallel !== undefined ? { parallel: opts.parallel } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (p) => progress('generate', p.done, reqs.length, p.tokens),
    });
    out.forEach((r, i) => {
      tokens += r.promptTokens + r.generatedTokens;
      if (r.truncated > 0) truncated++;
      try {
        perDoc.push(processResults(task, docs[i]!, null, r.text));
      } catch (e) {
        throw docError(task, split, i, e);
      }
      responses.push([r.text]);
      filtered.push(Object.fromEntries((task.filters?.length ? task.filters : [NO_FILTER]).map((f) => [f.name, applyFilter(f, r.text)])));
    });
  } else {
    const reqs = requests as LoglikelihoodRequest[][];
    const encoded: EncodedRequest[][] = reqs.map((d) => d.map((r) => encodeRequest(model, r)));
    truncated = encoded.flat().filter((e) => e.truncated > 0).length;
    const scorer = new LoglikelihoodScorer(model, {
      reuse: opts.reuse ?? true,
      ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (p) => progress('score', p.docs, docs.length, p.rows),
    });
    let results: LoglikelihoodResult[][];
    try {
      results = await scorer.score(encoded);
    } finally {
      scorer.dispose();
    }
    tokens = scorer.rowsEvaluated;
    forwardSeconds = scorer.forwardSeconds;
    results.forEach((lls, i) => {
      try {
        perDoc.push(processResults(task, docs[i]!, lls, null));
      } catch (e) {
        throw docError(task, split, i, e);
      }
      responses.push(lls.map((r) => [r.ll, r.isGreedy]));
    });
  }
  if (opts.onLog && truncated > 0) opts.onLog(`${task.task}: ${truncated} request(s) cut on the left to fit the context size ${model.contextSize}`);

  const metrics: TaskOutcome['metrics'] = {};
  for (const filter of Object.keys(perDoc[0] ?? {})) {
    metrics[filter] = {};
    for (const key of Object.keys(perDoc[0]![filter]!)) metrics[filter]![key] = aggregate(perDoc.map((d) => d[filter]![key]!));
  }
  const outcome: TaskOutcome = { task, nShot, nSamples: { original: all.length, effective: docs.length }, metrics, seconds: (performance.now() - t0) / 1000, tokens, truncated };
  if (forwardSeconds !== undefined) outcome.forwardSeconds = forwardSeconds;
  if (opts.logSamples) outcome.samples = samplesOf(task, docs, requests, responses, filtered, perDoc);
  return outcome;
}

function samplesOf(task: TaskSpec, docs: Doc[], requests: Array<LoglikelihoodRequest[] | GenerateRequest>, responses: unknown[], filtered: Array<Record<string, unknown>>, perDoc: Array<Record<string, Record<string, number>>>): SampleLog[] {
  const out: SampleLog[] = [];
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i]!;
    const r = requests[i]!;
    const args: SampleLog['arguments'] = {};
    if (Array.isArray(r)) r.forEach((q, j) => (args[`gen_args_${j}`] = { arg_0: q.context, arg_1: q.continuation }));
    else args.gen_args_0 = { arg_0: r.context, arg_1: { until: r.until, max_gen_toks: r.maxGenToks, do_sample: false, temperature: 0 } };
    let target: unknown;
    try {
      target = task.docToTarget(doc);
    } catch {
      target = null;
    }
    const first = Array.isArray(r) ? r[0]?.context ?? '' : r.context;
    // once per document, shared by its records (one per filter)
    const hashes = { doc_hash: sha256(JSON.stringify(doc)), prompt_hash: sha256(first), target_hash: sha256(String(target)) };
    for (const [filter, values] of Object.entries(perDoc[i]!)) {
      const s: SampleLog = {
        doc_id: i,
        doc,
        target,
        arguments: args,
        resps: responses[i] as unknown[],
        filtered_resps: task.outputType === 'generate_until' ? [filtered[i]?.[filter]] : (responses[i] as unknown[]),
        filter,
        metrics: Object.keys(values),
        ...hashes,
      };
      for (const [k, v] of Object.entries(values)) s[k] = v;
      out.push(s);
    }
  }
  return out;
}

/** A group's metrics from its leaf tasks' results (lm-eval aggregates over all leaves beneath a group). */
function groupOutcome(group: GroupSpec, groups: readonly GroupSpec[], done: readonly TaskOutcome[]): GroupOutcome | undefined {
  const leaves = groupLeaves(group.group, groups).map((n) => done.find((t) => t.task.task === n)).filter((t): t is TaskOutcome => t !== undefined);
  if (leaves.length === 0) return undefined;
  const metrics: GroupOutcome['metrics'] = {};
  for (const [filter, byMetric] of Object.entries(leaves[0]!.metrics)) {
    for (const key of Object.keys(byMetric)) {
      const subs = leaves.filter((l) => l.metrics[filter]?.[key]).map((l) => ({ ...l.metrics[filter]![key]!, size: l.nSamples.effective }));
      if (subs.length !== leaves.length) continue;
      (metrics[filter] ??= {})[key] = aggregateGroup(subs, group.weightBySize);
    }
  }
  const shots = new Set(leaves.map((l) => l.nShot));
  return { group, metrics, nShot: shots.size === 1 ? [...shots][0] : undefined, size: leaves.reduce((a, l) => a + l.nSamples.effective, 0) };
}

/** Runs the tasks in order and aggregates the groups. */
export async function runEval(model: BitnetModel, opts: EvalOptions): Promise<EvalOutcome> {
  const t0 = performance.now();
  const tasks: TaskOutcome[] = [];
  for (let i = 0; i < opts.tasks.length; i++) tasks.push(await runTask(model, opts.tasks[i]!, i + 1, opts));
  const groups: GroupOutcome[] = [];
  for (const g of opts.groups ?? []) {
    const o = groupOutcome(g, opts.groups ?? [], tasks);
    if (o) groups.push(o);
  }
  return { tasks, groups, seconds: (performance.now() - t0) / 1000 };
}

export { metricKey };
