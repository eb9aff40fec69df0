// PIQA (lm_eval/tasks/piqa/piqa.yaml, version 1.0): physical commonsense, two solutions per goal, scored by
// log-likelihood (acc, acc_norm). Data: baber/piqa (goal, sol1, sol2, label), evaluated on validation.
import type { TaskSpec } from '../task.js';
import { ACC, ACC_NORM, DEFAULTS, int, str } from './common.js';

export const piqa: TaskSpec = {
  ...DEFAULTS,
  task: 'piqa',
  version: 1.0,
  dataset: { path: 'baber/piqa' },
  trainingSplit: 'train',
  validationSplit: 'validation',
  outputType: 'multiple_choice',
  docToText: (doc) => `Question: ${str(doc, 'goal', 'piqa')}\nAnswer:`,
  docToTarget: (doc) => int(doc, 'label', 'piqa'),
  docToChoice: (doc) => [str(doc, 'sol1', 'piqa'), str(doc, 'sol2', 'piqa')],
  metrics: [ACC, ACC_NORM],
  doc: 'lm-eval main piqa.yaml (v1.0): the baber/piqa parquet mirror (lm-eval moved off the `piqa` loading script in 2025-03); no fewshot_split and no test split, so few-shot draws (from train) sample n + 1 and drop the evaluated doc',
};
