// The shape of an evaluation task, as lm-evaluation-harness's ConfigurableTask sees it: where its documents
// come from, how a document becomes a prompt (doc_to_text / doc_to_target / doc_to_choice, delimiters,
// few-shot), what is asked of the model (log-likelihoods of choices, or greedy text until stop strings),
// and how answers become metrics. Built-in tasks (tasks/) and lm-eval YAML files (yaml-task.ts) both yield it.

/** One row of a dataset split (JSON-like values from parquet or JSONL). */
export type Doc = Record<string, unknown>;

export type MetricName = 'acc' | 'acc_norm' | 'mc2' | 'exact_match';

export interface MetricSpec {
  metric: MetricName;
  /** the key lm-eval reports the value under when it is not `metric` (truthfulqa_mc2 reports mc2 as "acc") */
  as?: string;
  /** every metric here aggregates as the mean over documents */
  aggregation: 'mean';
  higherIsBetter: boolean;
  /** exact_match options, as lm-eval's metric_list kwargs */
  ignoreCase?: boolean;
  ignorePunctuation?: boolean;
  ignoreNumbers?: boolean;
  regexesToIgnore?: string[];
}

/** A filter step of lm-eval's filter_list: `regex` (regex_pattern, group_select, fallback) then `take_first`. */
export type FilterStep =
  | { function: 'regex'; regexPattern: string; groupSelect?: number; fallback?: string }
  | { function: 'take_first' }
  | { function: 'lowercase' }
  | { function: 'uppercase' }
  | { function: 'remove_whitespace' };

export interface FilterSpec {
  name: string;
  steps: FilterStep[];
}

/** Where a task's data lives: a hub dataset repo (`path`, optional config `name`) or local files. */
export interface DatasetSpec {
  /** `org/name` on the hub, or lm-eval's local loaders 'json' | 'parquet' with `dataFiles` */
  path: string;
  /** the dataset config (subset), e.g. ARC-Easy */
  name?: string;
  /** split -> file(s), for path 'json' | 'parquet' (relative to the task file's folder) */
  dataFiles?: Record<string, string | string[]>;
}

export interface TaskSpec {
  /** the task name (`piqa`, `mmlu_anatomy`, ...) */
  task: string;
  /** lm-eval's metadata.version of the task definition we follow */
  version: number | string;
  dataset: DatasetSpec;
  trainingSplit?: string;
  validationSplit?: string;
  testSplit?: string;
  /**
   * lm-eval's fewshot_split exactly as the task configures it; leave it unset when the task does not set one.
   * Unset, few-shot examples come from the training split, else validation, else test (fewshotSplitOf() in
   * context.ts). lm-eval drops the evaluated document from the draw (sampling n + 1) when
   * fewshot_split == test_split, both unset included (piqa, hellaswag, winogrande ... do so).
   */
  fewshotSplit?: string;
  outputType: 'multiple_choice' | 'generate_until' | 'loglikelihood';
  /** preprocessing of a whole split (lm-eval's process_docs), applied to every split used */
  processDocs?: (docs: Doc[]) => Doc[];
  /** a string prompt, or (winogrande's "multiple input" form) the index of the choice that is right */
  docToText: (doc: Doc) => string | number;
  /** a string continuation (generate_until, multiple-input), or the index of the right choice */
  docToTarget: (doc: Doc) => string | number | number[];
  docToChoice?: (doc: Doc) => string[];
  /** prepended to every prompt (may depend on the document, as lm-eval renders it per document) */
  description?: (doc: Doc) => string;
  /** default ' ' */
  targetDelimiter: string;
  /** default '\n\n' */
  fewshotDelimiter: string;
  /** the task's default number of shots (overridden by --num-fewshot) */
  numFewshot: number;
  /** 'default': seeded random.sample per document; 'first_n': the split's first n docs */
  fewshotSampler: 'default' | 'first_n';
  metrics: MetricSpec[];
  /** generate_until: stop strings and token limit (lm-eval's generation_kwargs; default max_gen_toks 256) */
  generation?: { until: string[]; maxGenToks: number };
  /** generate_until: named filter pipelines applied to the generated text before the metrics */
  filters?: FilterSpec[];
  /** a group (mmlu and its categories) this task's results are aggregated into */
  groups?: string[];
  /** one line on what the definition follows (lm-eval version, conventions chosen) */
  doc?: string;
}

/** A log-likelihood request: score `continuation` after `context` (lm-eval's (context, continuation) pair). */
export interface LoglikelihoodRequest {
  context: string;
  continuation: string;
}

/** A generation request: greedy text after `context`, cut at the first of `until` (not included). */
export interface GenerateRequest {
  context: string;
  until: string[];
  maxGenToks: number;
}

/** What the model answered for one log-likelihood request: sum of log-probs and whether greedy decoding gives it. */
export interface LoglikelihoodResult {
  ll: number;
  isGreedy: boolean;
}

/** A group of tasks aggregated together (lm-eval's group config): the mean over its tasks weighted by size or not. */
export interface GroupSpec {
  group: string;
  /** lm-eval's group_alias (mmlu_stem shows as "stem") */
  alias?: string;
  /** tasks or subgroups; the group's metric is computed over all LEAF tasks beneath it (lm-eval's Group.aggregate) */
  members: string[];
  weightBySize: boolean;
  version: number | string;
}
