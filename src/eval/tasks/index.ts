// The built-in tasks, following lm-evaluation-harness's definitions (main branch, 2026):
//   piqa, arc_easy, arc_challenge, hellaswag, winogrande, boolq, openbookqa, commonsense_qa,
//   truthfulqa_mc1, truthfulqa_mc2, gsm8k, mmlu_<subject> x 57; tinystories_next_sentence (our own, bundled);
//   groups mmlu, mmlu_stem, mmlu_other, mmlu_social_sciences, mmlu_humanities; tag ai2_arc.
// resolveTasks expands group and tag names into their leaf tasks, as lm-eval's task manager does.
import { BitnetError } from '../../errors.js';
import type { GroupSpec, TaskSpec } from '../task.js';
import { arcChallenge, arcEasy } from './arc.js';
import { boolq } from './boolq.js';
import { commonsenseQa } from './commonsense-qa.js';
import { gsm8k } from './gsm8k.js';
import { hellaswag } from './hellaswag.js';
import { MMLU_GROUPS, MMLU_TASKS } from './mmlu.js';
import { openbookqa } from './openbookqa.js';
import { piqa } from './piqa.js';
import { truthfulqaMc1, truthfulqaMc2 } from './truthfulqa.js';
import { tinystoriesNextSentence } from './tinystories.js';
import { winogrande } from './winogrande.js';

export { bundledTask } from './tinystories.js';

export const BUILTIN_TASKS: ReadonlyMap<string, TaskSpec> = new Map(
  [piqa, arcEasy, arcChallenge, hellaswag, winogrande, boolq, openbookqa, commonsenseQa, truthfulqaMc1, truthfulqaMc2, gsm8k, ...MMLU_TASKS, tinystoriesNextSentence].map((t) => [t.task, t]),
);

export const BUILTIN_GROUPS: readonly GroupSpec[] = MMLU_GROUPS;

/** lm-eval tags whose every task is built in: a tag names tasks without aggregating them. */
export const BUILTIN_TAGS: ReadonlyMap<string, readonly string[]> = new Map([['ai2_arc', ['arc_easy', 'arc_challenge']]]);

/** The leaf task names beneath a group (what lm-eval aggregates a group's metric over), in member order. */
export function groupLeaves(group: string, groups: readonly GroupSpec[] = BUILTIN_GROUPS): string[] {
  const byName = new Map(groups.map((g) => [g.group, g]));
  const out: string[] = [];
  const walk = (name: string, seen: Set<string>): void => {
    const g = byName.get(name);
    if (!g) {
      if (!out.includes(name)) out.push(name);
      return;
    }
    if (seen.has(name)) throw new BitnetError('INVALID_ARGUMENT', `group "${name}" contains itself`);
    for (const m of g.members) walk(m, new Set([...seen, name]));
  };
  walk(group, new Set());
  return out;
}

/**
 * Task and group names (as `--tasks` takes them) -> the leaf tasks to run, in order and without repeats, and
 * every group to report (a group before its subgroups: `mmlu` gives 57 tasks and 5 groups).
 */
export function resolveTasks(
  names: readonly string[],
  catalog: { tasks?: ReadonlyMap<string, TaskSpec>; groups?: readonly GroupSpec[] } = {},
): { tasks: TaskSpec[]; groups: GroupSpec[] } {
  const tasks = catalog.tasks ?? BUILTIN_TASKS;
  const groupList = catalog.groups ?? BUILTIN_GROUPS;
  const groupByName = new Map(groupList.map((g) => [g.group, g]));
  const outTasks: TaskSpec[] = [];
  const outGroups: GroupSpec[] = [];
  const visit = (name: string, stack: string[]): void => {
    const task = tasks.get(name);
    if (task) {
      if (!outTasks.includes(task)) outTasks.push(task);
      return;
    }
    const group = groupByName.get(name);
    if (group) {
      if (stack.includes(name)) throw new BitnetError('INVALID_ARGUMENT', `group "${name}" contains itself`);
      if (!outGroups.includes(group)) outGroups.push(group);
      for (const m of group.members) visit(m, [...stack, name]);
      return;
    }
    const tag = BUILTIN_TAGS.get(name);
    if (tag && !catalog.tasks) {
      for (const t of tag) visit(t, stack);
      return;
    }
    const known = [...tasks.keys()].filter((k) => !k.startsWith('mmlu_')).concat(['mmlu', 'mmlu_<subject>', ...BUILTIN_TAGS.keys()]);
    throw new BitnetError('INVALID_ARGUMENT', `unknown task "${name}" (built in: ${known.join(', ')})`, { name: 'tasks' });
  };
  if (names.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'no tasks named', { name: 'tasks' });
  for (const n of names) visit(n.trim(), []);
  return { tasks: outTasks, groups: outGroups };
}
