// zod issues -> one message for the client that names the field and says what is allowed there (instead of
// zod's "Invalid input"). For a union, the member that got furthest explains the failure.
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

const TYPE_NAMES: Record<string, string> = { int: 'an integer', number: 'a number', string: 'a string', boolean: 'a boolean (true or false)', array: 'an array', object: 'an object', record: 'an object', null: 'null' };

const typeName = (t: string): string => TYPE_NAMES[t] ?? t;

function received(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  if (typeof input === 'string') return input.length > 40 ? 'a string' : JSON.stringify(input);
  if (typeof input === 'number' || typeof input === 'boolean') return String(input);
  return `a value of type ${typeof input}`;
}

function bound(origin: string, n: number | bigint, inclusive: boolean | undefined, big: boolean): string {
  const rel = big ? (inclusive === false ? '<' : '<=') : inclusive === false ? '>' : '>=';
  if (origin === 'array') return `must have ${big ? 'at most' : 'at least'} ${n} item${n === 1 ? '' : 's'}`;
  if (origin === 'string') return `must be ${big ? 'at most' : 'at least'} ${n} character${n === 1 ? '' : 's'} long`;
  if (origin === 'set' || origin === 'file') return `must have ${big ? 'at most' : 'at least'} ${n}`;
  return `must be ${rel} ${n}`;
}

/** The deepest issue of a union's best member (the one whose first issue has the longest path). */
function bestOfUnion(errors: readonly (readonly Issue[])[]): Issue | undefined {
  let best: Issue | undefined;
  for (const branch of errors) {
    const first = branch[0];
    // a member rejected for its type at the union's own position says nothing about the value's shape
    if (!first || (first.path.length === 0 && first.code === 'invalid_type')) continue;
    if (!best || first.path.length > best.path.length) best = first;
  }
  return best;
}

/** The value at `path` in the request body (zod's issues do not carry it). */
function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v = body;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** Issue -> (param path like `messages.0.content`, message without the path); `body` is what was validated. */
export function describeIssue(issue: Issue, body: unknown, prefix: readonly PropertyKey[] = []): { param: string | null; message: string } {
  const path = [...prefix, ...issue.path];
  const input = issue.input !== undefined ? issue.input : valueAt(body, path);
  const param = path.length ? path.map(String).join('.') : null;
  const say = (message: string) => ({ param, message });
  // messages given in the schemas themselves are kept
  const custom = !/^(Invalid|Too (big|small)|Unrecognized)/.test(issue.message);
  switch (issue.code) {
    case 'invalid_type':
      if (custom) return say(issue.message);
      return say(input === undefined ? `is required (${typeName(issue.expected)})` : `must be ${typeName(issue.expected)}, got ${received(input)}`);
    case 'too_big':
      return say(custom ? issue.message : bound(issue.origin, issue.maximum, issue.inclusive, true));
    case 'too_small':
      return say(custom ? issue.message : bound(issue.origin, issue.minimum, issue.inclusive, false));
    case 'invalid_value':
      return say(custom ? issue.message : `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${received(input)}`);
    case 'invalid_union': {
      if (custom) return say(issue.message);
      const best = bestOfUnion(issue.errors);
      if (best) return describeIssue(best, body, path);
      const kinds = [...new Set(issue.errors.map((b) => b[0]).filter((i): i is Issue => i?.code === 'invalid_type').map((i) => typeName((i as z.core.$ZodIssueInvalidType).expected)))];
      return say(kinds.length ? `must be ${kinds.join(' or ')}, got ${received(input)}` : 'has a form that is not allowed here');
    }
    case 'unrecognized_keys':
      return say(`unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`);
    case 'invalid_format':
      return say(custom ? issue.message : `must match the format ${issue.format}`);
    case 'invalid_key':
    case 'invalid_element': {
      const inner = issue.issues[0];
      return inner ? describeIssue(inner, body, path) : say(issue.message);
    }
    default:
      return say(issue.message);
  }
}
