// MMLU as lm-eval's default variant (lm_eval/tasks/mmlu/default/, tasks v1.0, groups v2): 57 subjects, each
// a task on cais/mmlu with its subject config, a description naming the subject, the dev split's first n as
// few-shot; four category groups and the mmlu group, all size-weighted over their leaf subjects.
import { BitnetError } from '../../errors.js';
import { pyStrip } from '../filters.js';
import type { GroupSpec, TaskSpec } from '../task.js';
import { ACC, DEFAULTS, int, str, strList } from './common.js';

export type MmluCategory = 'stem' | 'other' | 'social_sciences' | 'humanities';

/** Every subject with its category (the `tag` of its YAML file: mmlu_<category>_tasks). */
export const MMLU_SUBJECTS: Readonly<Record<string, MmluCategory>> = {
  abstract_algebra: 'stem',
  anatomy: 'stem',
  astronomy: 'stem',
  business_ethics: 'other',
  clinical_knowledge: 'other',
  college_biology: 'stem',
  college_chemistry: 'stem',
  college_computer_science: 'stem',
  college_mathematics: 'stem',
  college_medicine: 'other',
  college_physics: 'stem',
  computer_security: 'stem',
  conceptual_physics: 'stem',
  econometrics: 'social_sciences',
  electrical_engineering: 'stem',
  elementary_mathematics: 'stem',
  formal_logic: 'humanities',
  global_facts: 'other',
  high_school_biology: 'stem',
  high_school_chemistry: 'stem',
  high_school_computer_science: 'stem',
  high_school_european_history: 'humanities',
  high_school_geography: 'social_sciences',
  high_school_government_and_politics: 'social_sciences',
  high_school_macroeconomics: 'social_sciences',
  high_school_mathematics: 'stem',
  high_school_microeconomics: 'social_sciences',
  high_school_physics: 'stem',
  high_school_psychology: 'social_sciences',
  high_school_statistics: 'stem',
  high_school_us_history: 'humanities',
  high_school_world_history: 'humanities',
  human_aging: 'other',
  human_sexuality: 'social_sciences',
  international_law: 'humanities',
  jurisprudence: 'humanities',
  logical_fallacies: 'humanities',
  machine_learning: 'stem',
  management: 'other',
  marketing: 'other',
  medical_genetics: 'other',
  miscellaneous: 'other',
  moral_disputes: 'humanities',
  moral_scenarios: 'humanities',
  nutrition: 'other',
  philosophy: 'humanities',
  prehistory: 'humanities',
  professional_accounting: 'other',
  professional_law: 'humanities',
  professional_medicine: 'other',
  professional_psychology: 'social_sciences',
  public_relations: 'social_sciences',
  security_studies: 'social_sciences',
  sociology: 'social_sciences',
  us_foreign_policy: 'social_sciences',
  virology: 'other',
  world_religions: 'humanities',
};

/** The order of the mmlu group's members in _mmlu.yaml, with their group_alias. */
const CATEGORIES: [MmluCategory, string][] = [
  ['stem', 'stem'],
  ['other', 'other'],
  ['social_sciences', 'social sciences'],
  ['humanities', 'humanities'],
];

/** One subject's task (`mmlu_<subject>`), following _default_template_yaml. */
export function mmluTask(subject: string): TaskSpec {
  const category = MMLU_SUBJECTS[subject];
  if (category === undefined) throw new BitnetError('INVALID_ARGUMENT', `unknown MMLU subject "${subject}"`);
  const task = `mmlu_${subject}`;
  const description = `The following are multiple choice questions (with answers) about ${subject.split('_').join(' ')}.\n\n`;
  return {
    ...DEFAULTS,
    task,
    version: 1.0,
    dataset: { path: 'cais/mmlu', name: subject },
    testSplit: 'test',
    fewshotSplit: 'dev',
    fewshotSampler: 'first_n',
    outputType: 'multiple_choice',
    description: () => description,
    docToText: (doc) => {
      const c = strList(doc['choices'], 'choices', task);
      if (c.length < 4) throw new BitnetError('INVALID_ARGUMENT', 'an MMLU question has four choices', { name: task });
      return `${pyStrip(str(doc, 'question', task))}\nA. ${c[0]}\nB. ${c[1]}\nC. ${c[2]}\nD. ${c[3]}\nAnswer:`;
    },
    docToTarget: (doc) => int(doc, 'answer', task),
    docToChoice: () => ['A', 'B', 'C', 'D'],
    metrics: [ACC],
    groups: [`mmlu_${category}`],
    doc: 'lm-eval main mmlu/default (task v1.0; cais/mmlu since 2025-04, formerly hails/mmlu_no_train; the description keeps its trailing blank line since 2024-08): 0-shot by default; few-shot is the dev split\'s first n in order (first_n), never excluding the doc (dev != test)',
  };
}

export const MMLU_TASKS: TaskSpec[] = Object.keys(MMLU_SUBJECTS).map(mmluTask);

export const MMLU_GROUPS: GroupSpec[] = [
  { group: 'mmlu', members: CATEGORIES.map(([c]) => `mmlu_${c}`), weightBySize: true, version: 2 },
  ...CATEGORIES.map(([c, alias]) => ({
    group: `mmlu_${c}`,
    alias,
    members: Object.keys(MMLU_SUBJECTS)
      .filter((s) => MMLU_SUBJECTS[s] === c)
      .map((s) => `mmlu_${s}`),
    weightBySize: true,
    version: 2,
  })),
];
