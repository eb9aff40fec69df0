// `bitnet eval -m MODEL --tasks piqa,arc_easy,... [--num-fewshot N] [--limit N] [--output results.json]
// [--log-samples]`: lm-evaluation-harness's tasks scored on any model this engine loads. The results table
// on stdout, progress with ETA on stderr, lm-eval's results JSON and per-sample JSONL on request. Without
// -m and --tasks it scores the bundled model on its bundled offline task.
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resolveSyntheticModel } from '../../engine/bench.js';
import { BUILTIN_GROUPS, BUILTIN_TASKS, bundledTask, resolveTasks } from '../../eval/tasks/index.js';
import { resultsJson, resultsTable, samplesJsonl } from '../../eval/report.js';
import { runEval, type EvalProgress } from '../../eval/runner.js';
import type { GroupSpec, TaskSpec } from '../../eval/task.js';
import { loadYamlTask } from '../../eval/yaml-task.js';
import { CONTEXT_OPTIONS, helpText, MODEL_OPTIONS, num, parseCommand, str, UsageError, type OptionSpec, type Values } from '../args.js';
import { openModel } from '../common.js';
import { downloadProgress, duration, warn } from '../progress.js';
import { version } from '../version.js';

const OPTIONS: OptionSpec[] = [
  { name: 'tasks', type: 'string', arg: 'LIST', help: 'comma-separated task or group names (piqa, arc_easy, mmlu, ...), lm-eval task .yaml files, or "list"', default: 'the bundled tinystories task' },
  { name: 'num-fewshot', type: 'string', arg: 'N', help: "few-shot examples per document (default: each task's own)" },
  { name: 'limit', type: 'string', arg: 'N', help: 'evaluate only the first N documents of each task (N < 1: that fraction)' },
  { name: 'seed', type: 'string', arg: 'S', help: 'few-shot sampling seed (lm-eval\'s fewshot seed; also takes lm-eval\'s "0,1234,1234,1234" form)', default: '1234' },
  { name: 'output', short: 'o', type: 'string', arg: 'PATH', help: "write lm-eval's results JSON to PATH (a .json file, or a folder for results_<time>.json)" },
  { name: 'log-samples', type: 'boolean', help: 'also write every sample (requests, log-likelihoods, greedy flags, extractions) as JSONL beside the results' },
  { name: 'data-dir', type: 'string', arg: 'DIR', help: 'read datasets from DIR (ORG/NAME[/CONFIG]/SPLIT.parquet|jsonl) instead of the hub' },
  { name: 'parallel', type: 'string', arg: 'N', help: 'sequences decoded together for generation tasks (gsm8k)', default: '4' },
  { name: 'no-prefix-reuse', type: 'boolean', help: 'score every request from scratch (same results, slower; for checking)' },
];

/** The lm_head for scoring unless -lm-head says otherwise: the stored type, bitnet.cpp's exact logits. */
const DEFAULT_LM_HEAD = 'exact';

function fewshotSeed(v: Values): number {
  const s = str(v, 'seed');
  if (s === undefined) return 1234;
  const parts = s.split(',');
  const pick = parts.length === 4 ? parts[3]! : parts.length === 1 ? parts[0]! : undefined;
  const n = pick === undefined || pick.trim() === '' ? NaN : Number(pick);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--seed must be a non-negative integer or lm-eval's four comma-separated seeds, got "${s}"`);
  return n;
}

function listTasks(): string {
  const lines = ['Built-in tasks (lm-eval definitions; bitnet pull --dataset fetches their data):'];
  for (const [name, t] of BUILTIN_TASKS) {
    if (name.startsWith('mmlu_')) continue;
    const data = t.dataset.dataFiles ? 'bundled with the package' : `${t.dataset.path}${t.dataset.name ? `:${t.dataset.name}` : ''}`;
    lines.push(`  ${name.padEnd(26)} ${data} (${t.testSplit ?? t.validationSplit}, ${t.numFewshot}-shot)`);
  }
  for (const g of BUILTIN_GROUPS) if (!BUILTIN_GROUPS.some((o) => o.members.includes(g.group))) lines.push(`  ${g.group.padEnd(26)} group of ${g.members.length}: ${g.members.join(', ')}`);
  lines.push('  mmlu_<subject>             one MMLU subject (mmlu_anatomy, ...)');
  return `${lines.join('\n')}\n`;
}

/** --tasks: names and groups of the catalog, and .yaml files read as lm-eval tasks. */
async function pickTasks(list: string): Promise<{ tasks: TaskSpec[]; groups: GroupSpec[] }> {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError('--tasks is empty');
  const tasks: TaskSpec[] = [];
  const groups: GroupSpec[] = [];
  for (const n of names) {
    if (/\.ya?ml$/i.test(n) || existsSync(n)) {
      tasks.push(await loadYamlTask(n));
      continue;
    }
    const r = resolveTasks([n]);
    for (const t of r.tasks) if (!tasks.includes(t)) tasks.push(t);
    for (const g of r.groups) if (!groups.includes(g)) groups.push(g);
  }
  return { tasks, groups };
}


/** Progress lines on stderr: one updating line on a terminal, a line every few seconds otherwise. */
function progressPrinter(enabled: boolean): { update(p: EvalProgress): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let open = false;
  return {
    update(p) {
      if (!enabled) return;
      const now = performance.now();
      const final = p.total > 0 && p.done === p.total;
      if (!final && now - last < (tty ? 250 : 5000)) return;
      last = now;
      const rate = p.seconds > 0 ? p.tokens / p.seconds : 0;
      const eta = p.done > 0 && p.total > p.done ? ` ETA ${duration((p.seconds / p.done) * (p.total - p.done))}` : '';
      const what = p.phase === 'data' ? 'loading data' : `${p.done}/${p.total} docs, ${rate.toFixed(0)} tokens/s ${p.phase === 'generate' ? 'generated' : 'scored'}, ${duration(p.seconds)}${eta}`;
      const line = `[${p.index}/${p.tasks}] ${p.task}: ${what}`;
      if (tty) {
        process.stderr.write(`\r\x1b[K${line}`);
        open = true;
        if (final) {
          process.stderr.write('\n');
          open = false;
        }
      } else process.stderr.write(`${line}\n`);
    },
    end() {
      if (open) process.stderr.write('\n');
      open = false;
    },
  };
}

/** Where the results JSON goes: the .json path given, or results_<time>.json in the folder given. */
function outputFile(path: string, stamp: string): string {
  if (/\.json$/i.test(path)) return path;
  if (existsSync(path) && !statSync(path).isDirectory()) return path;
  return join(path, `results_${stamp}.json`);
}

export const evalCommand = {
  name: 'eval',
  summary: "score a model on lm-eval's benchmark tasks (piqa, arc, hellaswag, mmlu, gsm8k, ...)",
  help: () =>
    helpText(
      'bitnet eval [-m MODEL] [--tasks piqa,arc_easy,...|task.yaml] [--num-fewshot N] [--limit N] [--output results.json] [--log-samples]',
      "Prints lm-eval's results table to stdout, progress to stderr. Datasets come from the Hugging Face hub (cached; HF_HUB_OFFLINE=1 after one pull) or --data-dir. The lm_head runs in its stored type (exact logits) unless --lm-head int8.",
      [
        ['eval', OPTIONS],
        ['model', MODEL_OPTIONS],
        ['context', CONTEXT_OPTIONS],
      ],
    ),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, [...OPTIONS, ...MODEL_OPTIONS, ...CONTEXT_OPTIONS], 0);
    const taskList = str(v, 'tasks');
    if (taskList === 'list') {
      process.stdout.write(listTasks());
      return;
    }
    const numFewshot = num(v, 'num-fewshot', { int: true, min: 0 });
    const limit = num(v, 'limit', { min: 0 });
    if (limit !== undefined && !(limit > 0)) throw new UsageError('--limit must be > 0');
    const seed = fewshotSeed(v);
    const output = str(v, 'output');
    const logSamples = v['log-samples'] === true;
    if (logSamples && !output) throw new UsageError('--log-samples needs --output (the samples are written beside the results)');
    const parallel = num(v, 'parallel', { int: true, min: 1 });
    const { tasks, groups } = taskList === undefined ? { tasks: [bundledTask()], groups: [] } : await pickTasks(taskList);
    if (v['lm-head'] === undefined) v['lm-head'] = DEFAULT_LM_HEAD;
    const controller = new AbortController();
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    const ref = str(v, 'model');
    if (ref?.startsWith('synthetic:')) v.model = await resolveSyntheticModel(ref); // 2B4T's shapes with random weights, for timing
    const model = await openModel(v, controller.signal);
    const progress = progressPrinter(v['no-progress'] !== true);
    const startedAt = Date.now();
    try {
      const dataDir = str(v, 'data-dir');
      const outcome = await runEval(model, {
        tasks,
        groups,
        ...(numFewshot !== undefined ? { numFewshot } : {}),
        ...(limit !== undefined ? { limit } : {}),
        seed,
        data: { ...(dataDir ? { dataDir } : {}), onLog: warn, onProgress: downloadProgress(v['no-progress'] !== true), signal: controller.signal },
        logSamples,
        reuse: v['no-prefix-reuse'] !== true,
        ...(num(v, 'batch-size', { int: true, min: 1 }) !== undefined ? { batchSize: num(v, 'batch-size', { int: true, min: 1 })! } : {}),
        ...(parallel !== undefined ? { parallel } : {}),
        signal: controller.signal,
        onProgress: (p) => progress.update(p),
        onLog: warn,
      });
      progress.end();
      process.stdout.write(resultsTable(outcome));
      for (const t of outcome.tasks) {
        process.stderr.write(`${t.task.task}: ${t.nSamples.effective} docs, ${t.tokens} tokens in ${t.seconds.toFixed(1)} s (${(t.tokens / Math.max(t.seconds, 1e-9)).toFixed(1)} tokens/s)\n`);
      }
      if (output) {
        const stamp = new Date(startedAt).toISOString().replace(/[:.]/g, '-');
        const file = outputFile(output, stamp);
        await mkdir(dirname(file), { recursive: true });
        const info = {
          model: str(v, 'model') ?? model.path,
          modelArgs: `path=${model.path},backend=${model.backend.name},threads=${model.backend.threads},lm_head=${String(v['lm-head'])}`,
          batchSize: num(v, 'batch-size', { int: true, min: 1 }) ?? 512,
          device: model.backend.name,
          limit,
          fewshotSeed: seed,
          numFewshot,
          version: version(),
        };
        await writeFile(file, `${JSON.stringify(resultsJson(outcome, info, startedAt), null, 2)}\n`);
        process.stderr.write(`results written to ${file}\n`);
        if (logSamples) {
          for (const t of outcome.tasks) {
            const f = join(dirname(file), `samples_${t.task.task}_${stamp}.jsonl`);
            await writeFile(f, samplesJsonl(t));
            process.stderr.write(`samples of ${t.task.task} written to ${f}\n`);
          }
        }
      }
    } finally {
      progress.end();
      process.off('SIGINT', onSigint);
      await model.dispose();
    }
  },
};
