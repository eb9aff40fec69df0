// HellaSwag (lm_eval/tasks/hellaswag/hellaswag.yaml + utils.py, version 1.0): sentence completion with the
// WikiHow bracket artifacts cleaned (preprocess), scored by acc and acc_norm. Data: Rowan/hellaswag.
import { BitnetError } from '../../errors.js';
import { pyStrip } from '../filters.js';
import type { Doc, TaskSpec } from '../task.js';
import { ACC, ACC_NORM, DEFAULTS, digitTarget, field, str, strList } from './common.js';

/** hellaswag's utils.preprocess: strip, " [title]" -> ". ", drop [...] (non-greedy, one line), "  " -> " ". */
export function hellaswagPreprocess(text: string): string {
  let t = pyStrip(text);
  t = t.replaceAll(' [title]', '. ');
  t = t.replace(/\[[^\n]*?\]/g, '');
  return t.replaceAll('  ', ' ');
}

/** Python's str.capitalize(): the first character upper-cased, the rest lower-cased. */
export function pyCapitalize(s: string): string {
  const [first, ...rest] = s;
  return first === undefined ? '' : first.toUpperCase() + rest.join('').toLowerCase();
}

/** hellaswag's process_docs: adds query, choices and gold to each document (datasets.map keeps the columns). */
export function hellaswagProcessDocs(docs: Doc[]): Doc[] {
  return docs.map((doc) => {
    const ctx = `${str(doc, 'ctx_a', 'hellaswag')} ${pyCapitalize(str(doc, 'ctx_b', 'hellaswag'))}`;
    const label = field(doc, 'label', 'hellaswag');
    const gold = Number.parseInt(String(label), 10);
    return {
      ...doc,
      query: hellaswagPreprocess(`${str(doc, 'activity_label', 'hellaswag')}: ${ctx}`),
      choices: strList(field(doc, 'endings', 'hellaswag'), 'endings', 'hellaswag').map(hellaswagPreprocess),
      // int(doc["label"]) fails in Python on the unlabeled test split; NaN would poison nothing we evaluate
      gold: Number.isNaN(gold) ? null : gold,
    };
  });
}

export const hellaswag: TaskSpec = {
  ...DEFAULTS,
  task: 'hellaswag',
  version: 1.0,
  dataset: { path: 'Rowan/hellaswag' },
  trainingSplit: 'train',
  validationSplit: 'validation',
  outputType: 'multiple_choice',
  processDocs: hellaswagProcessDocs,
  docToText: (doc) => str(doc, 'query', 'hellaswag'),
  docToTarget: (doc) => digitTarget(field(doc, 'label', 'hellaswag')),
  docToChoice: (doc) => {
    const c = doc['choices'];
    if (c === undefined) throw new BitnetError('INVALID_ARGUMENT', 'hellaswag documents need process_docs (no "choices")', { name: 'hellaswag' });
    return strList(c, 'choices', 'hellaswag');
  },
  metrics: [ACC, ACC_NORM],
  doc: 'lm-eval main hellaswag.yaml (v1.0) with utils.process_docs; target "{{label}}" rendered then read as an int; few-shot from train, n + 1 drawn and the doc dropped (no test split)',
};
