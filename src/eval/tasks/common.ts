// Shared pieces of the built-in task definitions: typed access to a document's fields (a missing or
// mistyped field is an INVALID_ARGUMENT naming the task), lm-eval's TaskConfig defaults, the usual metrics,
// and Python string semantics the templates rely on (str.strip, str.isdigit then literal_eval).
import { BitnetError } from '../../errors.js';
import { isDigits } from '../py-literal.js';
import type { Doc, MetricSpec, TaskSpec } from '../task.js';

export function field(doc: Doc, key: string, task: string): unknown {
  if (!(key in doc)) throw new BitnetError('INVALID_ARGUMENT', `document has no field "${key}"`, { name: task });
  return doc[key];
}

export function str(doc: Doc, key: string, task: string): string {
  const v = field(doc, key, task);
  if (typeof v !== 'string') throw new BitnetError('INVALID_ARGUMENT', `field "${key}" is not a string`, { name: task });
  return v;
}

export function strList(v: unknown, what: string, task: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new BitnetError('INVALID_ARGUMENT', `${what} is not a list of strings`, { name: task });
  }
  return v as string[];
}

export function obj(doc: Doc, key: string, task: string): Record<string, unknown> {
  const v = field(doc, key, task);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BitnetError('INVALID_ARGUMENT', `field "${key}" is not a mapping`, { name: task });
  return v as Record<string, unknown>;
}

export function int(doc: Doc, key: string, task: string): number {
  const v = field(doc, key, task);
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new BitnetError('INVALID_ARGUMENT', `field "${key}" is not an integer`, { name: task });
  return n;
}

/**
 * A Jinja-rendered target such as "{{label}}": lm-eval turns an all-digit rendering into an int when the task
 * has choices (str.isdigit then ast.literal_eval), and keeps any other string (hellaswag's test labels are "").
 */
export function digitTarget(v: unknown): number | string {
  const s = String(v);
  return isDigits(s) ? Number(s) : s;
}

/** list.index(x): the position, or a ValueError as an INVALID_ARGUMENT. */
export function indexOf(list: string[], x: string, task: string): number {
  const i = list.indexOf(x);
  if (i < 0) throw new BitnetError('INVALID_ARGUMENT', `"${x}" is not in the list [${list.join(', ')}]`, { name: task });
  return i;
}

export const ACC: MetricSpec = { metric: 'acc', aggregation: 'mean', higherIsBetter: true };
export const ACC_NORM: MetricSpec = { metric: 'acc_norm', aggregation: 'mean', higherIsBetter: true };

/** lm-eval's TaskConfig defaults for the fields every TaskSpec spells out. */
export const DEFAULTS = {
  targetDelimiter: ' ',
  fewshotDelimiter: '\n\n',
  numFewshot: 0,
  fewshotSampler: 'default',
} as const satisfies Partial<TaskSpec>;
