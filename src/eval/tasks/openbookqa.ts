// OpenBookQA (lm_eval/tasks/openbookqa/openbookqa.yaml, version 1.0): elementary science questions, the
// answer texts as choices (acc, acc_norm). Data: allenai/openbookqa, config main, evaluated on test.
import type { Doc, TaskSpec } from '../task.js';
import { ACC, ACC_NORM, DEFAULTS, indexOf, obj, str, strList } from './common.js';

const T = 'openbookqa';
const choices = (doc: Doc): { text: string[]; label: string[] } => {
  const c = obj(doc, 'choices', T);
  return { text: strList(c['text'], 'choices.text', T), label: strList(c['label'], 'choices.label', T) };
};

export const openbookqa: TaskSpec = {
  ...DEFAULTS,
  task: T,
  version: 1.0,
  dataset: { path: 'allenai/openbookqa', name: 'main' },
  trainingSplit: 'train',
  validationSplit: 'validation',
  testSplit: 'test',
  outputType: 'multiple_choice',
  docToText: (doc) => str(doc, 'question_stem', T),
  // answerKey.lstrip()
  docToTarget: (doc) => indexOf(choices(doc).label, str(doc, 'answerKey', T).replace(/^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/, ''), T),
  docToChoice: (doc) => choices(doc).text,
  metrics: [ACC, ACC_NORM],
  doc: 'lm-eval main openbookqa.yaml (v1.0): the bare question_stem as prompt; evaluated on test, few-shot from train without excluding the doc',
};
