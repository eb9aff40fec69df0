// GSM8K (lm_eval/tasks/gsm8k/gsm8k.yaml, version 3.0): grade-school math, 5-shot by default with seeded random
// examples from train, greedy generation until "Question:", then exact_match after the strict-match
// ("#### N") and flexible-extract (last number) filters. Data: openai/gsm8k, config main, evaluated on test.
import type { MetricSpec, TaskSpec } from '../task.js';
import { DEFAULTS, str } from './common.js';

export const GSM8K_EXACT_MATCH: MetricSpec = {
  metric: 'exact_match',
  aggregation: 'mean',
  higherIsBetter: true,
  ignoreCase: true,
  ignorePunctuation: false,
  regexesToIgnore: [',', '\\$', '(?s).*#### ', '\\.$'],
};

export const gsm8k: TaskSpec = {
  ...DEFAULTS,
  task: 'gsm8k',
  version: 3.0,
  dataset: { path: 'openai/gsm8k', name: 'main' },
  trainingSplit: 'train',
  fewshotSplit: 'train',
  testSplit: 'test',
  outputType: 'generate_until',
  docToText: (doc) => `Question: ${str(doc, 'question', 'gsm8k')}\nAnswer:`,
  docToTarget: (doc) => str(doc, 'answer', 'gsm8k'),
  numFewshot: 5,
  fewshotSampler: 'default',
  metrics: [GSM8K_EXACT_MATCH],
  generation: { until: ['Question:', '</s>', '<|im_end|>'], maxGenToks: 256 },
  filters: [
    { name: 'strict-match', steps: [{ function: 'regex', regexPattern: '#### (\\-?[0-9\\.\\,]+)' }, { function: 'take_first' }] },
    { name: 'flexible-extract', steps: [{ function: 'regex', groupSelect: -1, regexPattern: '(-?[$0-9.,]{2,})|(-?[0-9]+)' }, { function: 'take_first' }] },
  ],
  doc: 'lm-eval main gsm8k.yaml (v3.0, on openai/gsm8k since 2026-01; v3 added flexible-extract and the "Question:" stop): the full answer (with its reasoning and "#### N") as few-shot target; examples drawn by the default seeded sampler (no first_n), the doc not excluded (fewshot_split train != test); max_gen_toks is lm-eval\'s default 256',
};
