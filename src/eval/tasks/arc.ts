// ARC Easy and Challenge (lm_eval/tasks/arc/arc_easy.yaml, version 1.0): grade-school science questions with
// their answer texts as choices (acc, acc_norm). Data: allenai/ai2_arc, configs ARC-Easy / ARC-Challenge.
import type { Doc, TaskSpec } from '../task.js';
import { ACC, ACC_NORM, DEFAULTS, indexOf, obj, str, strList } from './common.js';

function arc(task: string, config: string): TaskSpec {
  const choices = (doc: Doc): { text: string[]; label: string[] } => {
    const c = obj(doc, 'choices', task);
    return { text: strList(c['text'], 'choices.text', task), label: strList(c['label'], 'choices.label', task) };
  };
  return {
    ...DEFAULTS,
    task,
    version: 1.0,
    dataset: { path: 'allenai/ai2_arc', name: config },
    trainingSplit: 'train',
    validationSplit: 'validation',
    testSplit: 'test',
    outputType: 'multiple_choice',
    docToText: (doc) => `Question: ${str(doc, 'question', task)}\nAnswer:`,
    docToTarget: (doc) => indexOf(choices(doc).label, str(doc, 'answerKey', task), task),
    docToChoice: (doc) => choices(doc).text,
    metrics: [ACC, ACC_NORM],
    doc: `lm-eval main arc_easy.yaml (v1.0), dataset config ${config}: evaluated on test, few-shot from train drawn without excluding the doc (fewshot_split unset != test)`,
  };
}

export const arcEasy = arc('arc_easy', 'ARC-Easy');
export const arcChallenge = arc('arc_challenge', 'ARC-Challenge');
