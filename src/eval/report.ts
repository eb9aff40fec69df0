// What `bitnet eval` writes, in lm-eval's shapes: the results table (Tasks | Version | Filter | n-shot |
// Metric | | Value | | Stderr, and a Groups table), the results JSON (results, groups, group_subtasks,
// configs, versions, n-shot, higher_is_better, n-samples, config), and one JSON line per logged sample.
import type { EvalOutcome, GroupOutcome, TaskOutcome } from './runner.js';
import type { Aggregate } from './results.js';

type Row = Record<string, string | number>;

/** The metric keys of a task or group as lm-eval writes them: `acc,none`, `acc_stderr,none`. */
function metricEntries(metrics: Record<string, Record<string, Aggregate>>): Row {
  const out: Row = {};
  for (const [filter, byMetric] of Object.entries(metrics)) {
    for (const [m, a] of Object.entries(byMetric)) {
      out[`${m},${filter}`] = a.value;
      out[`${m}_stderr,${filter}`] = a.stderr === null ? 'N/A' : a.stderr;
    }
  }
  return out;
}

interface Entry {
  name: string;
  alias: string;
  version: number | string;
  nShot: number | string;
  metrics: Record<string, Record<string, Aggregate>>;
  higher: Record<string, boolean>;
}

function higherOf(t: TaskOutcome): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const m of t.task.metrics) out[m.as ?? m.metric] = m.higherIsBetter;
  return out;
}

/** A group's metrics (every one we aggregate is higher-is-better). */
function groupHigherOf(g: GroupOutcome): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const byMetric of Object.values(g.metrics)) for (const m of Object.keys(byMetric)) out[m] = true;
  return out;
}

/** Tasks and groups in display order: each top-level group, its members beneath it, then lone tasks. */
function entries(o: EvalOutcome): { results: Entry[]; groups: Entry[] } {
  const taskBy = new Map(o.tasks.map((t) => [t.task.task, t]));
  const groupBy = new Map(o.groups.map((g) => [g.group.group, g]));
  const member = new Set(o.groups.flatMap((g) => g.group.members));
  const results: Entry[] = [];
  const seen = new Set<string>();
  const groupEntry = (g: GroupOutcome, alias: string): Entry => ({ name: g.group.group, alias, version: g.group.version, nShot: g.nShot ?? '', metrics: g.metrics, higher: groupHigherOf(g) });
  const visit = (name: string, depth: number): void => {
    if (seen.has(name)) return;
    const shown = (alias: string): string => (depth === 0 ? alias : `${' '.repeat(depth)}- ${alias}`);
    const g = groupBy.get(name);
    if (g) {
      seen.add(name);
      results.push(groupEntry(g, shown(g.group.alias ?? name)));
      for (const m of g.group.members) visit(m, depth + 1);
      return;
    }
    const t = taskBy.get(name);
    if (t) {
      seen.add(name);
      const alias = depth > 0 && name.startsWith('mmlu_') ? name.slice(5) : name;
      results.push({ name, alias: shown(alias), version: t.task.version, nShot: t.nShot, metrics: t.metrics, higher: higherOf(t) });
    }
  };
  for (const g of o.groups) if (!member.has(g.group.group)) visit(g.group.group, 0);
  for (const t of o.tasks) visit(t.task.task, 0);
  const groups = o.groups.map((g) => groupEntry(g, g.group.alias ?? g.group.group));
  return { results, groups };
}

const fmt = (v: number): string => v.toFixed(4);

/** One markdown table as lm-eval's make_table prints it (one row per metric and filter). */
function table(first: string, list: Entry[]): string {
  const head = [first, 'Version', 'Filter', 'n-shot', 'Metric', '', 'Value', '', 'Stderr'];
  const right = [false, true, false, true, false, false, true, false, true];
  const rows: string[][] = [];
  for (const e of list) {
    let name = e.alias;
    let version = String(e.version);
    for (const [filter, byMetric] of Object.entries(e.metrics).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const [m, a] of Object.entries(byMetric).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
        const hib = e.higher[m] === undefined ? '' : e.higher[m] ? '↑' : '↓';
        rows.push([name, version, filter, String(e.nShot), m, hib, fmt(a.value), '±', a.stderr === null ? '   N/A' : fmt(a.stderr)]);
        name = '';
        version = '';
      }
    }
  }
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((r) => [...r[c]!].length), 3));
  const pad = (s: string, c: number): string => (right[c] ? s.padStart(width[c]!) : s.padEnd(width[c]! + (s.length - [...s].length)));
  const line = (cells: string[]): string => `|${cells.map((s, c) => pad(s, c)).join('|')}|`;
  const rule = `|${width.map((w, c) => (right[c] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

/** The results table(s) for stdout: tasks (with groups and their members), then groups alone if any. */
export function resultsTable(o: EvalOutcome): string {
  const { results, groups } = entries(o);
  const out = [table('Tasks', results)];
  if (groups.length > 0) out.push('', table('Groups', groups));
  return `${out.join('\n')}\n`;
}

export interface RunInfo {
  model: string;
  modelArgs: string;
  batchSize: number;
  device: string;
  limit: number | undefined;
  fewshotSeed: number;
  numFewshot: number | undefined;
  version: string;
}

/** The results JSON in lm-eval's shape. */
export function resultsJson(o: EvalOutcome, info: RunInfo, startedAt: number): Record<string, unknown> {
  const { results, groups } = entries(o);
  const res: Record<string, Row> = {};
  for (const e of results) res[e.name] = { alias: e.alias, ...metricEntries(e.metrics) };
  const grp: Record<string, Row> = {};
  for (const e of groups) grp[e.name] = { alias: e.alias, ...metricEntries(e.metrics) };
  const groupSubtasks: Record<string, string[]> = {};
  for (const g of o.groups) groupSubtasks[g.group.group] = [...g.group.members];
  const member = new Set(o.groups.flatMap((g) => g.group.members));
  for (const t of o.tasks) if (!member.has(t.task.task)) groupSubtasks[t.task.task] = [];
  const configs: Record<string, unknown> = {};
  const versions: Record<string, number | string> = {};
  const nShot: Record<string, number> = {};
  const higher: Record<string, Record<string, boolean>> = {};
  const nSamples: Record<string, { original: number; effective: number }> = {};
  for (const t of o.tasks) {
    const s = t.task;
    configs[s.task] = {
      task: s.task,
      dataset_path: s.dataset.path,
      ...(s.dataset.name ? { dataset_name: s.dataset.name } : {}),
      ...(s.dataset.dataFiles ? { dataset_kwargs: { data_files: s.dataset.dataFiles } } : {}),
      ...(s.trainingSplit ? { training_split: s.trainingSplit } : {}),
      ...(s.validationSplit ? { validation_split: s.validationSplit } : {}),
      ...(s.testSplit ? { test_split: s.testSplit } : {}),
      ...(s.fewshotSplit ? { fewshot_split: s.fewshotSplit } : {}),
      output_type: s.outputType,
      target_delimiter: s.targetDelimiter,
      fewshot_delimiter: s.fewshotDelimiter,
      num_fewshot: t.nShot,
      fewshot_config: { sampler: s.fewshotSampler },
      metric_list: s.metrics.map((m) => ({ metric: m.as ?? m.metric, aggregation: m.aggregation, higher_is_better: m.higherIsBetter, ...(m.ignoreCase !== undefined ? { ignore_case: m.ignoreCase } : {}), ...(m.ignorePunctuation !== undefined ? { ignore_punctuation: m.ignorePunctuation } : {}), ...(m.regexesToIgnore ? { regexes_to_ignore: m.regexesToIgnore } : {}) })),
      ...(s.generation ? { generation_kwargs: { until: s.generation.until, max_gen_toks: s.generation.maxGenToks, do_sample: false, temperature: 0 } } : {}),
      ...(s.filters ? { filter_list: s.filters.map((f) => ({ name: f.name, filter: f.steps })) } : {}),
      metadata: { version: s.version, ...(s.doc ? { note: s.doc } : {}) },
    };
    versions[s.task] = s.version;
    nShot[s.task] = t.nShot;
    higher[s.task] = higherOf(t);
    nSamples[s.task] = t.nSamples;
  }
  for (const g of o.groups) {
    versions[g.group.group] = g.group.version;
    higher[g.group.group] = groupHigherOf(g);
  }
  return {
    results: res,
    ...(o.groups.length > 0 ? { groups: grp } : {}),
    group_subtasks: groupSubtasks,
    configs,
    versions,
    'n-shot': nShot,
    higher_is_better: higher,
    'n-samples': nSamples,
    config: {
      model: 'bitnet',
      model_args: info.modelArgs,
      model_name: info.model,
      batch_size: info.batchSize,
      device: info.device,
      limit: info.limit ?? null,
      num_fewshot: info.numFewshot ?? null,
      bootstrap_iters: 100000,
      fewshot_seed: info.fewshotSeed,
      gen_kwargs: { do_sample: false, temperature: 0 },
    },
    bitnet_version: info.version,
    date: startedAt / 1000,
    total_evaluation_time_seconds: String(o.seconds),
    tokens_per_second: Object.fromEntries(o.tasks.map((t) => [t.task.task, t.seconds > 0 ? t.tokens / t.seconds : 0])),
  };
}

/** One JSON line per logged sample of a task. */
export function samplesJsonl(t: TaskOutcome): string {
  return (t.samples ?? []).map((s) => JSON.stringify(s)).join('\n') + ((t.samples?.length ?? 0) > 0 ? '\n' : '');
}
