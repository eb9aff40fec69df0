// lm-eval task YAML files as TaskSpecs: the same keys (dataset_path/name/kwargs.data_files, splits,
// output_type, doc_to_text/target/choice as column names, constants or Jinja templates, delimiters,
// num_fewshot, fewshot_config.sampler, description, metric_list, generation_kwargs, filter_list, include),
// templates rendered with @huggingface/jinja and read back as lm-eval does (digits -> an index, a rendered
// list -> Python literal). Python hooks (`!function`) cannot run here and are refused by name.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Template } from '@huggingface/jinja';
import { parse, type ScalarTag } from 'yaml';
import { BitnetError } from '../errors.js';
import { isDigits, pyLiteral, type PyValue } from './py-literal.js';
import type { Doc, FilterSpec, FilterStep, MetricName, MetricSpec, TaskSpec } from './task.js';

const FUNCTION_TAG: ScalarTag = { tag: '!function', resolve: (s: string) => ({ __function: s }) as unknown as string };
const METRICS: MetricName[] = ['acc', 'acc_norm', 'exact_match'];
const OUTPUT_TYPES = ['multiple_choice', 'generate_until', 'loglikelihood'] as const;
/** keys lm-eval accepts that change nothing we compute (bookkeeping, decontamination, tags) */
const IGNORED = new Set(['tag', 'group', 'group_alias', 'task_alias', 'dataset_kwargs', 'should_decontaminate', 'doc_to_decontamination_query', 'metadata', 'output_type', 'unsafe_code', 'doc_to_image', 'doc_to_audio']);
const KNOWN = new Set([
  'task', 'include', 'dataset_path', 'dataset_name', 'training_split', 'validation_split', 'test_split', 'fewshot_split', 'doc_to_text', 'doc_to_target', 'doc_to_choice',
  'target_delimiter', 'fewshot_delimiter', 'num_fewshot', 'fewshot_config', 'description', 'metric_list', 'generation_kwargs', 'filter_list', 'repeats', 'process_docs', 'process_results', 'gen_prefix',
  ...IGNORED,
]);

type Raw = Record<string, unknown>;

function bad(file: string, field: string, why: string): BitnetError {
  return new BitnetError('INVALID_ARGUMENT', `${file}: ${field}: ${why}`, { file, name: field });
}

const isFunction = (v: unknown): v is { __function: string } => typeof v === 'object' && v !== null && '__function' in v;

/** The YAML with its `include` chain merged (the including file's keys win), refusing cycles. */
async function readMerged(file: string, seen: string[] = []): Promise<Raw> {
  const abs = resolve(file);
  if (seen.includes(abs)) throw bad(file, 'include', `include cycle: ${[...seen, abs].join(' -> ')}`);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    throw new BitnetError('FILE_NOT_FOUND', `${abs}: cannot read the task file (${(e as Error).message})`, { file: abs });
  }
  let raw: unknown;
  try {
    raw = parse(text, { customTags: [FUNCTION_TAG] });
  } catch (e) {
    throw new BitnetError('INVALID_ARGUMENT', `${abs}: not valid YAML (${(e as Error).message.split('\n')[0]})`, { file: abs });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(abs, 'task', 'the file is not a mapping of task keys');
  const own = raw as Raw;
  if (own.include === undefined) return own;
  if (typeof own.include !== 'string') throw bad(abs, 'include', 'must be a file name');
  const base = resolve(dirname(abs), own.include);
  if (!existsSync(base)) throw bad(abs, 'include', `${own.include} not found beside the file (${base})`);
  const merged = { ...(await readMerged(base, [...seen, abs])), ...own };
  delete merged.include;
  return merged;
}

/** Renders a template with the document (lm-eval's apply_template); `.index(x)` calls become a helper. */
function compile(file: string, field: string, source: string): (doc: Doc) => string {
  // our Jinja has no list/str .index(): rewrite `a.b[0].index(x)` into `__index(a.b[0], x)`
  const rewritten = source.replace(/([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*|\[[^\]]*\])*)\.index\(/g, '__index($1, ');
  let t: Template;
  try {
    t = new Template(rewritten);
  } catch (e) {
    throw bad(file, field, `template does not parse: ${(e as Error).message}`);
  }
  const unwrap = (v: unknown): unknown => (typeof v === 'object' && v !== null && 'value' in v ? (v as { value: unknown }).value : v);
  const __index = (a: unknown, b: unknown): number => {
    const hay = unwrap(a);
    const needle = unwrap(b);
    const i = Array.isArray(hay) ? hay.map(unwrap).indexOf(needle) : String(hay).indexOf(String(needle));
    if (i < 0) throw bad(file, field, `${JSON.stringify(needle)} is not in ${JSON.stringify(Array.isArray(hay) ? hay.map(unwrap) : hay)} (.index)`);
    return i;
  };
  return (doc) => {
    try {
      return t.render({ ...doc, __index });
    } catch (e) {
      if (e instanceof BitnetError) throw e;
      throw bad(file, field, `template failed on a document: ${(e as Error).message}`);
    }
  };
}

/** A doc_to_* value as a function of the document, read back as lm-eval reads each. */
function docFn(file: string, field: 'doc_to_text' | 'doc_to_target', v: unknown, hasChoices: boolean): (doc: Doc) => string | number | number[] {
  if (isFunction(v)) throw bad(file, field, `!function ${v.__function} is a Python hook; write the field as a Jinja template or a column name`);
  if (typeof v === 'number' && Number.isInteger(v)) return () => v;
  if (typeof v !== 'string') throw bad(file, field, 'must be a column name, an integer or a Jinja template');
  const render = compile(file, field, v);
  return (doc) => {
    if (v in doc) {
      const x = doc[v];
      if (typeof x === 'string' || typeof x === 'number') return x;
      if (Array.isArray(x) && x.every((n) => typeof n === 'number')) return x as number[];
      throw bad(file, field, `column "${v}" holds ${JSON.stringify(x)?.slice(0, 60)}, not a string or number`);
    }
    const s = render(doc);
    if (isDigits(s) && hasChoices) return Number(s);
    if (field === 'doc_to_target' && s.length >= 2 && s.startsWith('[') && s.endsWith(']')) {
      try {
        const lit = pyLiteral(s, field);
        if (Array.isArray(lit) && lit.every((n) => typeof n === 'number')) return lit as number[];
      } catch {
        return s;
      }
    }
    return s;
  };
}

function choiceFn(file: string, v: unknown): ((doc: Doc) => string[]) | undefined {
  if (v === undefined || v === null) return undefined;
  if (isFunction(v)) throw bad(file, 'doc_to_choice', `!function ${v.__function} is a Python hook; write the field as a Jinja template, a list or a column name`);
  const strings = (x: PyValue | unknown, where: string): string[] => {
    const list = Array.isArray(x) ? x : typeof x === 'object' && x !== null ? Object.values(x) : undefined;
    if (!list) throw bad(file, 'doc_to_choice', `${where} is not a list`);
    return list.map((c) => (typeof c === 'string' ? c : String(c)));
  };
  if (Array.isArray(v) || (typeof v === 'object' && v !== null)) {
    const fixed = strings(v, 'the value');
    return () => fixed;
  }
  if (typeof v !== 'string') throw bad(file, 'doc_to_choice', 'must be a column name, a list or a Jinja template');
  // a single expression is evaluated to JSON, so strings with quotes survive; anything else is rendered and read
  const single = /^\s*\{\{(.*)\}\}\s*$/s.exec(v);
  const render = compile(file, 'doc_to_choice', single && !single[1]!.includes('}}') ? `{{ (${single[1]}) | tojson }}` : v);
  return (doc) => {
    if (v in doc) return strings(doc[v], `column "${v}"`);
    const s = render(doc);
    let lit: unknown;
    try {
      lit = single ? JSON.parse(s) : pyLiteral(s, 'doc_to_choice');
    } catch {
      lit = pyLiteral(s, 'doc_to_choice');
    }
    return strings(lit, `the rendered value ${JSON.stringify(s.slice(0, 60))}`);
  };
}

function metrics(file: string, v: unknown, outputType: TaskSpec['outputType']): MetricSpec[] {
  if (v === undefined) return outputType === 'multiple_choice' ? [{ metric: 'acc', aggregation: 'mean', higherIsBetter: true }] : outputType === 'generate_until' ? [{ metric: 'exact_match', aggregation: 'mean', higherIsBetter: true }] : [];
  if (!Array.isArray(v)) throw bad(file, 'metric_list', 'must be a list');
  return v.map((m: Raw, i) => {
    const name = m?.metric;
    if (isFunction(name)) throw bad(file, `metric_list[${i}].metric`, `!function ${name.__function} is a Python hook`);
    if (typeof name !== 'string' || !METRICS.includes(name as MetricName)) throw bad(file, `metric_list[${i}].metric`, `"${String(name)}" is not one we compute (${METRICS.join(', ')})`);
    if (m.aggregation !== undefined && m.aggregation !== 'mean') throw bad(file, `metric_list[${i}].aggregation`, `"${String(m.aggregation)}": only mean is supported`);
    const spec: MetricSpec = { metric: name as MetricName, aggregation: 'mean', higherIsBetter: m.higher_is_better !== false };
    if (m.ignore_case !== undefined) spec.ignoreCase = Boolean(m.ignore_case);
    if (m.ignore_punctuation !== undefined) spec.ignorePunctuation = Boolean(m.ignore_punctuation);
    if (m.ignore_numbers !== undefined) spec.ignoreNumbers = Boolean(m.ignore_numbers);
    if (m.regexes_to_ignore !== undefined) spec.regexesToIgnore = (m.regexes_to_ignore as unknown[]).map(String);
    return spec;
  });
}

function filters(file: string, v: unknown): FilterSpec[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw bad(file, 'filter_list', 'must be a list');
  return v.map((f: Raw, i): FilterSpec => {
    if (typeof f?.name !== 'string' || !Array.isArray(f.filter)) throw bad(file, `filter_list[${i}]`, 'needs a name and a filter list');
    const steps = (f.filter as Raw[]).map((s, j): FilterStep => {
      const fn = s?.function;
      const where = `filter_list[${i}].filter[${j}]`;
      if (fn === 'regex') {
        const step: FilterStep = { function: 'regex', regexPattern: String(s.regex_pattern ?? '#### (\\-?[0-9\\.\\,]+)') };
        if (s.group_select !== undefined) step.groupSelect = Number(s.group_select);
        if (s.fallback !== undefined) step.fallback = String(s.fallback);
        return step;
      }
      if (fn === 'take_first' || fn === 'lowercase' || fn === 'uppercase' || fn === 'remove_whitespace') return { function: fn };
      throw bad(file, where, `filter function "${String(fn)}" is not supported (regex, take_first, lowercase, uppercase, remove_whitespace)`);
    });
    return { name: f.name, steps };
  });
}

/** Reads an lm-eval task YAML (with its includes) as a TaskSpec; `data_files` become absolute paths. */
export async function loadYamlTask(file: string): Promise<TaskSpec> {
  const raw = await readMerged(file);
  const abs = resolve(file);
  for (const k of Object.keys(raw)) if (!KNOWN.has(k)) throw bad(abs, k, 'unknown task key');
  for (const k of ['process_docs', 'process_results'] as const) {
    if (raw[k] !== undefined) throw bad(abs, k, isFunction(raw[k]) ? `!function ${raw[k].__function} is a Python hook; bitnet eval cannot run Python (built-in tasks implement theirs in TypeScript)` : 'only Python hooks go here, and they cannot run');
  }
  if (typeof raw.task !== 'string' || raw.task === '') throw bad(abs, 'task', 'the task needs a name');
  if (Array.isArray(raw.task)) throw bad(abs, 'task', 'group files (a list of tasks) are not supported; pass the task files');
  const outputType = (raw.output_type ?? 'generate_until') as TaskSpec['outputType'];
  if (!OUTPUT_TYPES.includes(outputType)) throw bad(abs, 'output_type', `"${String(raw.output_type)}" is not supported (${OUTPUT_TYPES.join(', ')})`);
  if (raw.repeats !== undefined && raw.repeats !== 1) throw bad(abs, 'repeats', 'only 1 is supported');
  if (typeof raw.dataset_path !== 'string') throw bad(abs, 'dataset_path', 'missing (a hub dataset such as allenai/ai2_arc, or json / parquet with dataset_kwargs.data_files)');
  const kwargs = (raw.dataset_kwargs ?? {}) as Raw;
  const dataset: TaskSpec['dataset'] = { path: raw.dataset_path };
  if (raw.dataset_name !== undefined && raw.dataset_name !== null) dataset.name = String(raw.dataset_name);
  if (kwargs.data_files !== undefined) {
    const df = kwargs.data_files;
    const where = (p: unknown): string => {
      const s = String(p);
      if (isAbsolute(s)) return s;
      const beside = resolve(dirname(abs), s);
      return existsSync(beside) ? beside : resolve(s);
    };
    const files: Record<string, string | string[]> = {};
    if (typeof df === 'string' || Array.isArray(df)) files.train = Array.isArray(df) ? df.map(where) : where(df);
    else if (typeof df === 'object' && df !== null) for (const [split, p] of Object.entries(df)) files[split] = Array.isArray(p) ? p.map(where) : where(p);
    else throw bad(abs, 'dataset_kwargs.data_files', 'must be a path, a list or a mapping of split to paths');
    dataset.dataFiles = files;
  } else if (dataset.path === 'json' || dataset.path === 'parquet') {
    throw bad(abs, 'dataset_kwargs.data_files', `dataset_path ${dataset.path} needs data_files`);
  }
  const docToChoice = choiceFn(abs, raw.doc_to_choice);
  if (outputType === 'multiple_choice' && !docToChoice) throw bad(abs, 'doc_to_choice', 'a multiple_choice task needs its choices');
  const fewshotConfig = (raw.fewshot_config ?? {}) as Raw;
  const sampler = fewshotConfig.sampler ?? 'default';
  if (sampler !== 'default' && sampler !== 'first_n') throw bad(abs, 'fewshot_config.sampler', `"${String(sampler)}" is not supported (default, first_n)`);
  if (fewshotConfig.samples !== undefined) throw bad(abs, 'fewshot_config.samples', 'fixed few-shot samples are not supported; use a fewshot_split');
  const gen = (raw.generation_kwargs ?? {}) as Raw;
  if (gen.do_sample === true) throw bad(abs, 'generation_kwargs.do_sample', 'sampling is not supported (bitnet eval decodes greedily)');
  const untilRaw = gen.until ?? (outputType === 'generate_until' ? ['\n\n'] : undefined);
  const until = untilRaw === undefined ? undefined : (Array.isArray(untilRaw) ? untilRaw : [untilRaw]).map(String);
  const spec: TaskSpec = {
    task: raw.task,
    version: ((raw.metadata as Raw | undefined)?.version as number | string | undefined) ?? 'N/A',
    dataset,
    outputType,
    docToText: docFn(abs, 'doc_to_text', raw.doc_to_text ?? '', docToChoice !== undefined) as (doc: Doc) => string | number,
    docToTarget: docFn(abs, 'doc_to_target', raw.doc_to_target ?? '', docToChoice !== undefined),
    targetDelimiter: raw.target_delimiter === undefined ? ' ' : String(raw.target_delimiter),
    fewshotDelimiter: raw.fewshot_delimiter === undefined ? '\n\n' : String(raw.fewshot_delimiter),
    numFewshot: raw.num_fewshot === undefined || raw.num_fewshot === null ? 0 : Number(raw.num_fewshot),
    fewshotSampler: sampler,
    metrics: metrics(abs, raw.metric_list, outputType),
    doc: `lm-eval task file ${abs}`,
  };
  if (docToChoice) spec.docToChoice = docToChoice;
  for (const [key, field] of [['training_split', 'trainingSplit'], ['validation_split', 'validationSplit'], ['test_split', 'testSplit'], ['fewshot_split', 'fewshotSplit']] as const) {
    if (raw[key] !== undefined && raw[key] !== null) spec[field] = String(raw[key]);
  }
  if (!spec.testSplit && !spec.validationSplit) throw bad(abs, 'test_split', 'the task names neither a test_split nor a validation_split to evaluate');
  if (typeof raw.description === 'string' && raw.description !== '') spec.description = compile(abs, 'description', raw.description);
  if (until) spec.generation = { until, maxGenToks: gen.max_gen_toks === undefined ? 256 : Number(gen.max_gen_toks) };
  const f = filters(abs, raw.filter_list);
  if (f) spec.filters = f;
  return spec;
}
