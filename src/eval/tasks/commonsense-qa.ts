// CommonsenseQA (lm_eval/tasks/commonsense_qa/default.yaml, no metadata version: lm-eval reports "Yaml"): five
// lettered options in the prompt, the letters as choices (acc). Data: tau/commonsense_qa, evaluated on validation.
import { BitnetError } from '../../errors.js';
import { pyStrip } from '../filters.js';
import type { TaskSpec } from '../task.js';
import { ACC, DEFAULTS, obj, str, strList } from './common.js';

const T = 'commonsense_qa';
const LETTERS = ['A', 'B', 'C', 'D', 'E'];

export const commonsenseQa: TaskSpec = {
  ...DEFAULTS,
  task: T,
  version: 'Yaml',
  dataset: { path: 'tau/commonsense_qa' },
  trainingSplit: 'train',
  validationSplit: 'validation',
  outputType: 'multiple_choice',
  docToText: (doc) => {
    const text = strList(obj(doc, 'choices', T)['text'], 'choices.text', T);
    if (text.length < 5) throw new BitnetError('INVALID_ARGUMENT', 'a CommonsenseQA question has five choices', { name: T });
    const lines = LETTERS.map((l, i) => `\n${l}. ${String(text[i])}`).join('');
    return `Question: ${pyStrip(str(doc, 'question', T))}${lines}\nAnswer:`;
  },
  // the answer letter itself (a string target: scored by its position among the choices)
  docToTarget: (doc) => str(doc, 'answerKey', T),
  docToChoice: () => [...LETTERS],
  metrics: [ACC],
  doc: 'lm-eval main commonsense_qa/default.yaml (no version: "Yaml"); few-shot from train, n + 1 drawn and the doc dropped (no test split)',
};
