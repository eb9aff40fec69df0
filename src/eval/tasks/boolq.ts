// BoolQ (lm_eval/tasks/super_glue/boolq/default.yaml, version 2.0): yes/no questions about a passage (acc).
// Data: aps/super_glue, config boolq (question, passage, idx, label), evaluated on validation.
import type { TaskSpec } from '../task.js';
import { ACC, DEFAULTS, int, str } from './common.js';

export const boolq: TaskSpec = {
  ...DEFAULTS,
  task: 'boolq',
  version: 2.0,
  dataset: { path: 'aps/super_glue', name: 'boolq' },
  trainingSplit: 'train',
  validationSplit: 'validation',
  outputType: 'multiple_choice',
  docToText: (doc) => `${str(doc, 'passage', 'boolq')}\nQuestion: ${str(doc, 'question', 'boolq')}?\nAnswer:`,
  docToTarget: (doc) => int(doc, 'label', 'boolq'),
  docToChoice: () => ['no', 'yes'],
  metrics: [ACC],
  doc: 'lm-eval main super_glue/boolq/default.yaml (v2.0), on aps/super_glue (moved from super_glue in 2026-01); acc only (aggregation mean, higher is better by default)',
};
