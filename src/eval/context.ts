// lm-eval's prompt construction as pure string work: the few-shot samplers (seeded random.sample per task,
// or the split's first n), labeled examples, the description, the multiple-input form (one context per
// choice, as winogrande), and the requests construct_requests makes from a context. Follows
// ConfigurableTask.fewshot_context / build_qa_turn / construct_requests of lm-eval's main branch (2026).
import { BitnetError } from '../errors.js';
import { PyRandom } from './pyrandom.js';
import type { Doc, GenerateRequest, LoglikelihoodRequest, TaskSpec } from './task.js';

/** lm-eval's default few-shot seed (evaluator.simple_evaluate's fewshot_random_seed, DEFAULT_OTHER_SEED). */
export const DEFAULT_FEWSHOT_SEED = 1234;

/** lm-eval's default generation budget (max_gen_toks) when a task sets none. */
export const DEFAULT_MAX_GEN_TOKS = 256;

/** The split the task's documents are evaluated on: test if the task has one, else validation (eval_docs). */
export function evalSplitOf(task: TaskSpec): string {
  const split = task.testSplit ?? task.validationSplit;
  if (split === undefined) throw new BitnetError('INVALID_ARGUMENT', 'the task has neither a test nor a validation split', { name: task.task });
  return split;
}

/** The split few-shot examples come from: fewshot_split, else training, else validation, else test (fewshot_docs). */
export function fewshotSplitOf(task: TaskSpec): string | undefined {
  return task.fewshotSplit ?? task.trainingSplit ?? task.validationSplit ?? task.testSplit;
}

/** Whether lm-eval removes the evaluated document from its few-shot draw: fewshot_split == test_split (unset == unset). */
export function excludesEvalDoc(task: TaskSpec): boolean {
  return task.fewshotSplit === task.testSplit;
}

/** Python's == on JSON-like values (dict equality ignores key order; 1 == 1.0 == true as in Python). */
export function pyEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if ((typeof a === 'number' || typeof a === 'boolean') && (typeof b === 'number' || typeof b === 'boolean')) return Number(a) === Number(b);
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    try {
      return BigInt(a as bigint) === BigInt(b as bigint);
    } catch {
      return false;
    }
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => pyEqual(x, b[i]));
  }
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    const x = a as ArrayLike<unknown>;
    const y = b as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!pyEqual(x[i], y[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ob = b as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && pyEqual((a as Record<string, unknown>)[k], ob[k]));
}

/** Python's str.isspace() set, for the boundary checks of maybe_delimit. */
const PY_SPACE = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const isSpace = (ch: string | undefined): boolean => ch !== undefined && PY_SPACE.test(ch);

/** lm-eval's maybe_delimit: join with `delimiter` unless either side already has whitespace at the seam. */
export function maybeDelimit(prefix: string | undefined, suffix: string | undefined, delimiter = ' '): string {
  if (!prefix) return suffix ?? '';
  if (!suffix) return prefix;
  return isSpace(prefix[prefix.length - 1]) || isSpace(suffix[0]) ? prefix + suffix : prefix + delimiter + suffix;
}

/** The few-shot samplers of lm-eval's samplers.py over one task's few-shot documents. */
export class FewshotSampler {
  private rnd: PyRandom;

  constructor(
    readonly docs: readonly Doc[],
    readonly kind: 'default' | 'first_n',
    seed: number | bigint = DEFAULT_FEWSHOT_SEED,
  ) {
    this.rnd = new PyRandom(seed);
  }

  /** `n` examples for one evaluated document; `evalDoc` (when given) is left out of the draw. */
  sample(n: number, evalDoc?: Doc): Doc[] {
    if (!Number.isInteger(n) || n < 0) throw new BitnetError('INVALID_ARGUMENT', `number of few-shot examples must be >= 0, got ${n}`, { name: 'num_fewshot' });
    if (this.kind === 'first_n') {
      const pool = evalDoc === undefined ? this.docs : this.docs.filter((d) => !pyEqual(d, evalDoc));
      if (n > pool.length) throw new BitnetError('INVALID_ARGUMENT', `${n} few-shot examples requested, ${pool.length} available`, { name: 'num_fewshot' });
      return pool.slice(0, n);
    }
    if (n === 0) return [];
    if (this.docs.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'no documents available for few-shot sampling', { name: 'num_fewshot' });
    // lm-eval tests `not eval_doc`: an empty dict counts as absent
    const exclude = evalDoc !== undefined && Object.keys(evalDoc).length > 0;
    const k = exclude ? n + 1 : n;
    if (k > this.docs.length) throw new BitnetError('INVALID_ARGUMENT', `sample of ${k} few-shot examples from ${this.docs.length} documents`, { name: 'num_fewshot' });
    const drawn = this.rnd.sample(this.docs, k);
    const res = exclude ? drawn.filter((d) => !pyEqual(d, evalDoc)).slice(0, n) : drawn;
    if (res.length !== n) throw new BitnetError('INVALID_ARGUMENT', `few-shot sampling returned ${res.length} examples, not ${n}`, { name: 'num_fewshot' });
    return res;
  }
}

export interface ContextOptions {
  /** the few-shot seed (lm-eval's fewshot_random_seed, default 1234) */
  seed?: number | bigint;
  /** overrides the task's default number of shots */
  numFewshot?: number;
  /** lm-eval's --system_instruction, joined to the description with the few-shot delimiter */
  systemInstruction?: string;
}

/** Text of a target: the choice it indexes, the first of a list, or the string itself (build_qa_turn). */
function answerText(a: string | number | number[], choices: string[] | undefined): string {
  const pick = (i: number): string => {
    const c = choices?.[i];
    if (c === undefined) throw new BitnetError('INVALID_ARGUMENT', `target index ${i} is not among ${choices?.length ?? 0} choices`);
    return c;
  };
  if (typeof a === 'number') return choices ? pick(a) : String(a);
  if (Array.isArray(a)) return choices ? pick(a[0]!) : String(a[0]);
  return a;
}

/**
 * Builds the prompts of one task's evaluated documents, in order, as lm-eval does: one PyRandom per task seeded
 * once, so calling context() for the documents in evaluation order reproduces lm-eval's few-shot draws.
 */
export class ContextBuilder {
  readonly numFewshot: number;
  private readonly sampler: FewshotSampler;
  private readonly systemInstruction: string | undefined;

  constructor(
    readonly task: TaskSpec,
    fewshotDocs: readonly Doc[],
    opts: ContextOptions = {},
  ) {
    this.numFewshot = opts.numFewshot ?? task.numFewshot;
    if (!Number.isInteger(this.numFewshot) || this.numFewshot < 0) {
      throw new BitnetError('INVALID_ARGUMENT', `num_fewshot must be a non-negative integer, got ${this.numFewshot}`, { name: 'num_fewshot' });
    }
    this.sampler = new FewshotSampler(fewshotDocs, task.fewshotSampler, opts.seed ?? DEFAULT_FEWSHOT_SEED);
    this.systemInstruction = opts.systemInstruction;
  }

  /** The few-shot examples drawn for `doc` (advances the random stream, as the real draw does). */
  private examples(doc: Doc): Doc[] {
    if (this.numFewshot === 0) return [];
    return this.sampler.sample(this.numFewshot, excludesEvalDoc(this.task) ? doc : undefined);
  }

  /** The description, few-shot examples and the document: a string, or one string per choice (multiple input). */
  context(doc: Doc): string | string[] {
    const t = this.task;
    let prefix = maybeDelimit(this.systemInstruction, t.description?.(doc) ?? '', t.fewshotDelimiter);
    for (const fs of this.examples(doc)) {
      let q = t.docToText(fs);
      let c = t.docToChoice?.(fs);
      if (typeof q === 'number') {
        const filled = c?.[q];
        if (filled === undefined) throw new BitnetError('INVALID_ARGUMENT', `doc_to_text index ${q} is not among the choices`, { name: t.task });
        q = filled;
        c = undefined;
      }
      const a = t.docToTarget(fs);
      const hasAnswer = a !== '';
      prefix += q + (hasAnswer ? t.targetDelimiter : '');
      if (hasAnswer) prefix += answerText(a, c) + t.fewshotDelimiter;
    }
    const q = t.docToText(doc);
    if (typeof q === 'number') {
      const choices = t.docToChoice?.(doc);
      if (!choices) throw new BitnetError('INVALID_ARGUMENT', 'multiple-input documents (doc_to_text gives an index) need doc_to_choice', { name: t.task });
      return choices.map((c) => prefix + c);
    }
    return prefix + q;
  }
}

/** lm-eval's construct_requests: the log-likelihood pairs of a multiple-choice document, or its generation request. */
export function buildRequests(task: TaskSpec, doc: Doc, context: string | string[]): LoglikelihoodRequest[] | GenerateRequest {
  const delim = task.targetDelimiter;
  switch (task.outputType) {
    case 'multiple_choice': {
      if (Array.isArray(context)) {
        // multiple input: the choices are in the contexts, every context shares the target continuation
        const cont = task.docToTarget(doc);
        return context.map((ctx) => ({ context: ctx, continuation: `${delim}${String(cont)}` }));
      }
      const choices = task.docToChoice?.(doc);
      if (!choices) throw new BitnetError('INVALID_ARGUMENT', 'a multiple_choice task needs doc_to_choice', { name: task.task });
      return choices.map((c) => ({ context, continuation: `${delim}${c}` }));
    }
    case 'loglikelihood': {
      if (Array.isArray(context)) throw new BitnetError('INVALID_ARGUMENT', 'loglikelihood tasks take one context', { name: task.task });
      return [{ context, continuation: String(task.docToTarget(doc)) }];
    }
    case 'generate_until': {
      if (Array.isArray(context)) throw new BitnetError('INVALID_ARGUMENT', 'generate_until tasks take one context', { name: task.task });
      const gen = task.generation ?? { until: [task.fewshotDelimiter], maxGenToks: DEFAULT_MAX_GEN_TOKS };
      return { context, until: [...gen.until], maxGenToks: gen.maxGenToks };
    }
  }
}
