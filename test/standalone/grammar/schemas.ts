// Random JSON schemas (the subset json-schema-to-grammar supports) and a small validator for them, for the
// constrained-generation tests. Not a test file itself.
import { Rng } from '../../../src/util/rng.js';

export type Schema = Record<string, unknown>;

const PATTERNS = ['^[a-z]{1,4}$', '^\\d{3}-\\d{2}$', '^(yes|no|maybe)$', '^[A-Z][a-z]*$', '^#[0-9a-f]{6}$', '^a+b?$', '^\\w{2,3}\\.\\s?x$'];
const WORDS = ['id', 'name', 'age', 'tags', 'kind', 'x', 'y', 'meta', 'when', 'ok', 'items', 'count'];

/** A random schema; `depth` bounds nesting. */
export function randomSchema(rng: Rng, depth = 3): Schema {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));
  const leaf = (): Schema => {
    switch (int(0, 11)) {
      case 0: {
        const min = rng.next() < 0.5 ? int(0, 2) : 0;
        return { type: 'string', maxLength: min + int(0, 6), ...(min ? { minLength: min } : {}) };
      }
      case 1: return { type: 'string', pattern: pick(PATTERNS) };
      case 2: return { type: 'string', format: pick(['date', 'time', 'date-time', 'uuid']) };
      case 3: return { type: 'integer', ...(rng.next() < 0.7 ? { minimum: int(-50, 20), maximum: int(20, 300) } : {}) };
      case 4: return { type: 'number' };
      case 5: return { type: 'boolean' };
      case 6: return { type: 'null' };
      case 7: return { enum: ['red', 'green', 42, null, 'a"b'].slice(0, int(1, 5)) };
      case 8: return { const: pick(['fixed', 7, true, { k: [1, 'two'] }]) };
      case 9: return { anyOf: [{ type: 'string', maxLength: 4 }, { type: 'null' }] };
      case 10: return { type: ['integer', 'boolean'] };
      default: return { type: 'string', enum: ['ä', 'ß€', '日本', '😀'] };
    }
  };
  const node = (d: number): Schema => {
    const r = rng.next();
    if (d <= 0 || r < 0.45) return leaf();
    if (r < 0.75) {
      const keys = [...new Set(Array.from({ length: int(1, 4) }, () => pick(WORDS)))];
      const properties = Object.fromEntries(keys.map((k) => [k, node(d - 1)]));
      const required = keys.filter(() => rng.next() < 0.6);
      const ap = rng.next();
      return { type: 'object', properties, required, ...(ap < 0.6 ? { additionalProperties: false } : ap < 0.8 ? { additionalProperties: { type: 'integer', minimum: 0, maximum: 9 } } : {}) };
    }
    if (r < 0.9) {
      const min = int(0, 2);
      return { type: 'array', items: node(d - 1), minItems: min, maxItems: min + int(0, 2) };
    }
    if (r < 0.95) return { type: 'array', prefixItems: [node(d - 1), leaf()] };
    return { allOf: [{ type: 'object', properties: { a: leaf() }, required: ['a'] }, { properties: { b: leaf() } }], additionalProperties: false };
  };
  const root = node(depth);
  // sometimes through $defs / $ref
  return rng.next() < 0.2 ? { $defs: { thing: root }, $ref: '#/$defs/thing' } : root;
}

/** Null when `v` satisfies the schema (for the subset above), else where and why it does not. */
export function validate(v: unknown, s: Schema | boolean, root: Schema, path = '$'): string | null {
  if (s === true) return null;
  if (s === false) return `${path}: schema false`;
  if (typeof s.$ref === 'string') {
    let t: unknown = root;
    for (const part of s.$ref.slice(2).split('/')) t = (t as Record<string, unknown>)[part];
    return validate(v, t as Schema, root, path);
  }
  const eq = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  if ('const' in s) return eq(v, s.const) ? null : `${path}: not the const`;
  if (Array.isArray(s.enum)) return s.enum.some((e) => eq(e, v)) ? null : `${path}: not in the enum`;
  if (Array.isArray(s.anyOf)) return s.anyOf.some((x) => validate(v, x as Schema, root, path) === null) ? null : `${path}: no anyOf branch`;
  if (Array.isArray(s.allOf)) {
    for (const x of s.allOf) {
      const e = validate(v, x as Schema, root, path);
      if (e) return e;
    }
    if (s.additionalProperties === false) {
      const known = new Set(s.allOf.flatMap((x) => Object.keys(((x as Schema).properties ?? {}) as object)));
      for (const k of Object.keys(v as object)) if (!known.has(k)) return `${path}: extra property ${k}`;
    }
    return null;
  }
  if (Array.isArray(s.type)) return s.type.some((t) => validate(v, { ...s, type: t }, root, path) === null) ? null : `${path}: none of the types`;
  const type = s.type ?? (s.properties ? 'object' : undefined);
  switch (type) {
    case 'string': {
      if (typeof v !== 'string') return `${path}: not a string`;
      const len = Array.from(v).length;
      if (typeof s.maxLength === 'number' && len > s.maxLength) return `${path}: longer than ${s.maxLength}`;
      if (typeof s.minLength === 'number' && len < s.minLength) return `${path}: shorter than ${s.minLength}`;
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) return `${path}: does not match ${s.pattern}`;
      const formats: Record<string, RegExp> = {
        date: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/,
        time: /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/,
        'date-time': /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/,
        uuid: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
      };
      if (typeof s.format === 'string' && formats[s.format] && !formats[s.format]!.test(v)) return `${path}: not a ${s.format}`;
      return null;
    }
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) return `${path}: not an integer`;
      if (typeof s.minimum === 'number' && v < s.minimum) return `${path}: below ${s.minimum}`;
      if (typeof s.maximum === 'number' && v > s.maximum) return `${path}: above ${s.maximum}`;
      return null;
    case 'number':
      return typeof v === 'number' ? null : `${path}: not a number`;
    case 'boolean':
      return typeof v === 'boolean' ? null : `${path}: not a boolean`;
    case 'null':
      return v === null ? null : `${path}: not null`;
    case 'array': {
      if (!Array.isArray(v)) return `${path}: not an array`;
      if (Array.isArray(s.prefixItems)) {
        if (v.length !== s.prefixItems.length) return `${path}: tuple of ${v.length}`;
        for (let i = 0; i < v.length; i++) {
          const e = validate(v[i], s.prefixItems[i] as Schema, root, `${path}[${i}]`);
          if (e) return e;
        }
        return null;
      }
      if (typeof s.minItems === 'number' && v.length < s.minItems) return `${path}: fewer than ${s.minItems} items`;
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) return `${path}: more than ${s.maxItems} items`;
      for (let i = 0; i < v.length; i++) {
        const e = validate(v[i], (s.items ?? true) as Schema, root, `${path}[${i}]`);
        if (e) return e;
      }
      return null;
    }
    case 'object': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return `${path}: not an object`;
      const o = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const r of (s.required as string[] | undefined) ?? []) if (!(r in o)) return `${path}: missing ${r}`;
      for (const [k, x] of Object.entries(o)) {
        if (k in props) {
          const e = validate(x, props[k]!, root, `${path}.${k}`);
          if (e) return e;
        } else if (s.additionalProperties === false) {
          return `${path}: extra property ${k}`;
        } else if (typeof s.additionalProperties === 'object') {
          const e = validate(x, s.additionalProperties as Schema, root, `${path}.${k}`);
          if (e) return e;
        }
      }
      return null;
    }
    default:
      return null;
  }
}
