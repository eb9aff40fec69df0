// WinoGrande (lm_eval/tasks/winogrande/default.yaml + preprocess_winogrande.py, version 1.0) with partial
// scoring: each option fills the blank to make a context, and the shared rest of the sentence is scored after
// each ("multiple input": doc_to_text gives the right option's index). Data: allenai/winogrande, winogrande_xl.
import { BitnetError } from '../../errors.js';
import { pyStrip } from '../filters.js';
import type { Doc, TaskSpec } from '../task.js';
import { ACC, DEFAULTS, str } from './common.js';

const T = 'winogrande';

function blank(doc: Doc): { sentence: string; at: number } {
  const sentence = str(doc, 'sentence', T);
  const at = sentence.indexOf('_');
  if (at < 0) throw new BitnetError('INVALID_ARGUMENT', 'the sentence has no "_" blank', { name: T });
  return { sentence, at };
}

export const winogrande: TaskSpec = {
  ...DEFAULTS,
  task: T,
  version: 1.0,
  dataset: { path: 'allenai/winogrande', name: 'winogrande_xl' },
  trainingSplit: 'train',
  validationSplit: 'validation',
  outputType: 'multiple_choice',
  docToText: (doc) => {
    const answer = str(doc, 'answer', T);
    if (answer !== '1' && answer !== '2') throw new BitnetError('INVALID_ARGUMENT', `answer "${answer}" is neither "1" nor "2"`, { name: T });
    return answer === '1' ? 0 : 1;
  },
  docToTarget: (doc) => {
    const { sentence, at } = blank(doc);
    return pyStrip(sentence.slice(at + 1));
  },
  docToChoice: (doc) => {
    const { sentence, at } = blank(doc);
    return [str(doc, 'option1', T), str(doc, 'option2', T)].map((opt) => sentence.slice(0, at) + opt);
  },
  metrics: [ACC],
  doc: 'lm-eval main winogrande default.yaml (v1.0), partial scoring; few-shot examples are the filled-in right option + " " + the rest; n + 1 drawn from train and the doc dropped (no test split)',
};
