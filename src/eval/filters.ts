// lm-eval's answer filters and exact_match on strings: Python `re` patterns carried over to JavaScript (inline
// flags, `$` before a final newline, `.` excluding only \n, named groups), the regex filter's findall /
// group_select / fallback rules, take_first, case and whitespace filters, and exact_match's options
// (regexes_to_ignore, ignore_case, ignore_punctuation, ignore_numbers) as lm_eval/api/metrics.py applies them.
import { BitnetError } from '../errors.js';
import type { FilterSpec, FilterStep, MetricSpec } from './task.js';

/** Python's str.isspace() characters. */
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');

/** Python's str.strip() with no argument. */
export function pyStrip(s: string): string {
  return s.replace(STRIP, '');
}

/**
 * A JavaScript RegExp that matches as Python's re.compile(pattern) does on the patterns tasks use. Handled:
 * leading inline flags (?i) (?s) (?m) (?a) (?u), `.` (Python excludes only \n), `^`/`$` (Python's `$` also
 * matches before a final \n), \A \Z, (?P<name>...) and (?P=name). Not handled: verbose mode (?x), which is
 * refused, and Unicode \d \w \s (JavaScript's are ASCII here). `extraFlags` adds JS flags such as 'g'.
 */
export function pyRegex(pattern: string, extraFlags = ''): RegExp {
  let src = pattern;
  let dotAll = false;
  let multiline = false;
  let ignoreCase = false;
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 's') dotAll = true;
      else if (f === 'm') multiline = true;
      else if (f === 'i') ignoreCase = true;
      else if (f === 'x') throw new BitnetError('INVALID_ARGUMENT', `verbose regexes (?x) are not supported: ${pattern}`);
    }
    src = src.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '\\') {
      const next = src[i + 1];
      i++;
      if (next === undefined) throw new BitnetError('INVALID_ARGUMENT', `regex ends with a backslash: ${pattern}`);
      if (!inClass && next === 'A') out += '(?<![\\s\\S])';
      else if (!inClass && next === 'Z') out += '(?![\\s\\S])';
      else out += '\\' + next;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
      continue;
    }
    if (ch === '[') {
      inClass = true;
      out += ch;
      // a ']' right after '[' or '[^' is a literal in Python
      if (src[i + 1] === '^') out += src[++i];
      if (src[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (ch === '(' && src.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
      continue;
    }
    if (ch === '(' && src.startsWith('(?P=', i)) {
      const end = src.indexOf(')', i);
      out += `\\k<${src.slice(i + 4, end)}>`;
      i = end;
      continue;
    }
    if (ch === '.') out += dotAll ? '[\\s\\S]' : '[^\\n]';
    else if (ch === '$') out += multiline ? '(?=\\n|(?![\\s\\S]))' : '(?=\\n?(?![\\s\\S]))';
    else if (ch === '^') out += multiline ? '(?:(?<![\\s\\S])|(?<=\\n))' : '^';
    else out += ch;
  }
  try {
    return new RegExp(out, (ignoreCase ? 'i' : '') + extraFlags);
  } catch (e) {
    throw new BitnetError('INVALID_ARGUMENT', `bad regex ${JSON.stringify(pattern)}: ${(e as Error).message}`, { cause: e });
  }
}

/** Python's re.findall: whole matches without groups, group 1 with one group, tuples of groups with more. */
export function pyFindall(re: RegExp, text: string): (string | string[])[] {
  const g = re.flags.includes('g') ? re : new RegExp(re.source, re.flags + 'g');
  const out: (string | string[])[] = [];
  for (const m of text.matchAll(g)) {
    const groups = m.length - 1;
    if (groups === 0) out.push(m[0]);
    else if (groups === 1) out.push(m[1] ?? '');
    else out.push(m.slice(1).map((s) => s ?? ''));
  }
  return out;
}

/** Python's re.sub(pattern, '', text). */
export function pySubEmpty(pattern: string, text: string): string {
  return text.replace(pyRegex(pattern, 'g'), () => '');
}

const regexCache = new Map<string, RegExp>();

/** lm-eval's RegexFilter on one response (defaults: the GSM8K pattern, group 0, fallback "[invalid]"). */
export function regexExtract(text: string, pattern = '#### (\\-?[0-9\\.\\,]+)', groupSelect = 0, fallback = '[invalid]'): string {
  let re = regexCache.get(pattern);
  if (!re) {
    re = pyRegex(pattern, 'g');
    regexCache.set(pattern, re);
  }
  const matches = pyFindall(re, text);
  if (matches.length === 0) return fallback;
  const at = groupSelect < 0 ? matches.length + groupSelect : groupSelect;
  // Python raises IndexError here; an out-of-range group_select yields the fallback instead
  let match = matches[at];
  if (match === undefined) return fallback;
  if (Array.isArray(match)) match = match.find((m) => m !== '') ?? fallback;
  return pyStrip(match);
}

/** One filter step on one response (take_first is the identity: one response per document). */
export function applyFilterStep(step: FilterStep, text: string): string {
  switch (step.function) {
    case 'regex':
      return regexExtract(text, step.regexPattern, step.groupSelect ?? 0, step.fallback ?? '[invalid]');
    case 'take_first':
      return text;
    case 'lowercase':
      return text.toLowerCase();
    case 'uppercase':
      return text.toUpperCase();
    case 'remove_whitespace':
      return pyStrip(text);
  }
}

/** A filter pipeline (lm-eval's FilterEnsemble) on one generated text. */
export function applyFilter(filter: FilterSpec, text: string): string {
  let out = text;
  for (const step of filter.steps) out = applyFilterStep(step, out);
  return out;
}

/** lm-eval's pipeline when a generate_until task lists no filters. */
export const NO_FILTER: FilterSpec = { name: 'none', steps: [{ function: 'take_first' }] };

const PUNCT = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

/** Normalizes one string as exact_match does before comparing (regexes in order, then case, punctuation, digits). */
export function exactMatchNormalize(s: string, opts: Pick<MetricSpec, 'ignoreCase' | 'ignorePunctuation' | 'ignoreNumbers' | 'regexesToIgnore'>): string {
  let out = s;
  for (const r of opts.regexesToIgnore ?? []) out = pySubEmpty(r, out);
  if (opts.ignoreCase) out = out.toLowerCase();
  if (opts.ignorePunctuation) out = out.replace(PUNCT, '');
  if (opts.ignoreNumbers) out = out.replace(/[0-9]/g, '');
  return out;
}

/** exact_match of one prediction against one reference: 1 or 0. */
export function exactMatch(prediction: string, reference: string, opts: Pick<MetricSpec, 'ignoreCase' | 'ignorePunctuation' | 'ignoreNumbers' | 'regexesToIgnore'> = {}): number {
  return exactMatchNormalize(prediction, opts) === exactMatchNormalize(reference, opts) ? 1 : 0;
}
