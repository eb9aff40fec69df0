// JSON Schema -> GBNF, following llama.cpp's json-schema-to-grammar: its whitespace rule `space`, its
// primitive rules, properties in declared order (required first, then optional ones in any subset, in order),
// additionalProperties (absent or false: none), arrays with items/prefixItems/minItems/maxItems, enum, const,
// anyOf/oneOf, allOf over objects, local $ref/$defs, string lengths, patterns and formats, integer bounds.
// Number bounds are not enforced (documented); keywords that would need them silently ignored are refused.
import { BitnetError } from '../errors.js';
import { gbnfLiteralChar, patternToGbnf, type RegexLimits } from './regex.js';

export interface SchemaLimits extends RegexLimits {
  /** deepest nesting of schemas */
  maxSchemaDepth: number;
  /** most generated rules */
  maxRules: number;
}

const SPACE_RULE = '| " " | "\\n"{1,2} [ \\t]{0,20}';

const PRIMITIVES: Record<string, [string, string[]]> = {
  boolean: ['("true" | "false") space', []],
  'decimal-part': ['[0-9]{1,16}', []],
  'integral-part': ['[0] | [1-9] [0-9]{0,15}', []],
  number: ['("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space', ['integral-part', 'decimal-part']],
  integer: ['("-"? integral-part) space', ['integral-part']],
  value: ['object | array | string | number | boolean | null', ['object', 'array', 'string', 'number', 'boolean', 'null']],
  object: ['"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space', ['string', 'value']],
  array: ['"[" space ( value ("," space value)* )? "]" space', ['value']],
  uuid: ['"\\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\\"" space', []],
  char: ['[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})', []],
  string: ['"\\"" char* "\\"" space', ['char']],
  null: ['"null" space', []],
  date: ['[0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] )', []],
  time: ['([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )', []],
  'date-time': ['date "T" time', ['date', 'time']],
  'date-string': ['"\\"" date "\\"" space', ['date']],
  'time-string': ['"\\"" time "\\"" space', ['time']],
  'date-time-string': ['"\\"" date-time "\\"" space', ['date-time']],
};
const FORMATS: Record<string, string> = { date: 'date-string', time: 'time-string', 'date-time': 'date-time-string', uuid: 'uuid' };

/** Keywords we cannot honour and refuse rather than ignore (the output could break them). */
const REFUSED = ['not', 'if', 'then', 'else', 'uniqueItems', 'multipleOf', 'patternProperties', 'dependentRequired', 'dependentSchemas', 'dependencies', 'minProperties', 'maxProperties', 'contains', 'minContains', 'maxContains', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems'];

type Schema = Record<string, unknown>;

export function schemaToGbnf(root: unknown, limits: SchemaLimits, subject: string, checkTime: () => void): string {
  const c = new Converter(root, limits, subject, checkTime);
  const top = c.visit(root, '', 0, '');
  if (top !== 'root') c.rules.set('root', top);
  return [...c.rules].map(([name, body]) => `${name} ::= ${body}`).join('\n') + '\n';
}

/** A GBNF literal for the given text. */
export function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) out += gbnfLiteralChar(ch.codePointAt(0)!);
  return `${out}"`;
}

class Converter {
  readonly rules = new Map<string, string>();
  private readonly refs = new Map<string, string>();

  constructor(
    private readonly root: unknown,
    private readonly limits: SchemaLimits,
    private readonly subject: string,
    private readonly checkTime: () => void,
  ) {
    this.rules.set('space', SPACE_RULE);
  }

  private fail(path: string, message: string): never {
    throw new BitnetError('GRAMMAR', `${path ? `at ${path}: ` : ''}${message}`, { name: this.subject });
  }

  private addRule(name: string, body: string): string {
    const key = name.replace(/[^A-Za-z0-9-]+/g, '-') || 'root';
    let k = key;
    for (let i = 1; this.rules.has(k) && this.rules.get(k) !== body; i++) k = `${key}${i}`;
    if (!this.rules.has(k) && this.rules.size >= this.limits.maxRules) this.fail('', `needs more than ${this.limits.maxRules} rules`);
    this.rules.set(k, body);
    this.checkTime();
    return k;
  }

  private primitive(name: string): string {
    if (this.rules.get(name) === PRIMITIVES[name]![0]) return name;
    const [body, deps] = PRIMITIVES[name]!;
    this.rules.set(name, body);
    for (const d of deps) this.primitive(d);
    return name;
  }

  private resolveRef(ref: string, path: string): [Schema | boolean, string] {
    if (!ref.startsWith('#')) this.fail(path, `only local $ref ("#/...") is supported, got ${JSON.stringify(ref)}`);
    let target: unknown = this.root;
    for (const raw of ref.slice(1).split('/').slice(1)) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (target === null || typeof target !== 'object' || !(part in target)) this.fail(path, `$ref ${JSON.stringify(ref)} points to nothing`);
      target = (target as Record<string, unknown>)[part];
    }
    if (typeof target !== 'boolean' && (target === null || typeof target !== 'object' || Array.isArray(target))) this.fail(path, `$ref ${JSON.stringify(ref)} is not a schema`);
    return [target as Schema | boolean, `ref${ref.slice(1).replace(/\//g, '-')}`];
  }

  /** Returns a rule name (or a short GBNF expression) for the schema; name suggests the rule's name. */
  visit(schema: unknown, name: string, depth: number, path: string): string {
    if (depth > this.limits.maxSchemaDepth) this.fail(path, `schemas nested more than ${this.limits.maxSchemaDepth} deep`);
    this.checkTime();
    const ruleName = name === '' ? 'root' : PRIMITIVES[name] || name === 'space' || name === 'root' ? `${name}-` : name;
    if (schema === true) return name === '' ? this.addRule('root', this.primitive('value')) : this.primitive('value');
    if (schema === false) this.fail(path, 'the schema false matches nothing');
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) this.fail(path, `a schema must be an object or a boolean, got ${JSON.stringify(schema)}`);
    const s = schema as Schema;
    for (const k of REFUSED) if (k in s && !(k === 'uniqueItems' && s[k] === false)) this.fail(path, `the keyword "${k}" is not supported`);

    if (typeof s.$ref === 'string') {
      const [target, refName] = this.resolveRef(s.$ref, path);
      let rule = this.refs.get(s.$ref);
      if (rule === undefined) {
        // reserve the name first so recursive schemas refer to it
        rule = refName.replace(/[^A-Za-z0-9-]+/g, '-');
        this.refs.set(s.$ref, rule);
        this.rules.set(rule, '""');
        const body = this.visit(target, `${rule}-body`, depth + 1, s.$ref);
        this.rules.set(rule, body);
      }
      return name === '' ? this.addRule('root', rule) : rule;
    }
    if ('const' in s) return this.addRule(ruleName, `${gbnfLiteral(JSON.stringify(s.const))} space`);
    if (Array.isArray(s.enum)) {
      if (s.enum.length === 0) this.fail(path, 'enum is empty');
      return this.addRule(ruleName, `(${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(' | ')}) space`);
    }
    const anyOf = s.anyOf ?? s.oneOf;
    if (anyOf !== undefined) {
      if (!Array.isArray(anyOf) || anyOf.length === 0) this.fail(path, `${'anyOf' in s ? 'anyOf' : 'oneOf'} must be a non-empty array`);
      const rest = { ...s };
      delete rest.anyOf;
      delete rest.oneOf;
      // sibling keywords (as zod's nullable output) apply to every branch
      const alts = anyOf.map((x, i) => this.visit(hasKeywords(rest) && typeof x === 'object' && x !== null ? { ...rest, ...(x as Schema) } : x, `${name}${name ? '-' : ''}${i}`, depth + 1, `${path}/anyOf/${i}`));
      return this.addRule(ruleName, alts.join(' | '));
    }
    if (Array.isArray(s.allOf)) return this.visit(this.mergeAllOf(s, path), name, depth + 1, path);
    if (Array.isArray(s.type)) {
      if (s.type.length === 0) this.fail(path, 'type is an empty array');
      const alts = s.type.map((t) => this.visit({ ...s, type: t }, `${name}${name ? '-' : ''}${String(t)}`, depth + 1, path));
      return this.addRule(ruleName, alts.join(' | '));
    }
    const type = s.type ?? (s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined ? 'object' : s.items !== undefined || s.prefixItems !== undefined ? 'array' : undefined);
    switch (type) {
      case undefined:
        return name === '' ? this.addRule('root', this.primitive('value')) : this.primitive('value');
      case 'object':
        return this.object(s, name, ruleName, depth, path);
      case 'array':
        return this.array(s, name, ruleName, depth, path);
      case 'string':
        return this.string(s, ruleName, path);
      case 'integer':
        return this.integer(s, ruleName, path);
      case 'number':
      case 'boolean':
      case 'null':
        return name === '' ? this.addRule('root', this.primitive(type as string)) : this.primitive(type as string);
      default:
        return this.fail(path, `unknown type ${JSON.stringify(type)}`);
    }
  }

  private mergeAllOf(s: Schema, path: string): Schema {
    const properties: Record<string, unknown> = {};
    const required = new Set<string>();
    let additional: unknown;
    const add = (x: unknown, where: string): void => {
      let t = x;
      if (t !== null && typeof t === 'object' && typeof (t as Schema).$ref === 'string') t = this.resolveRef((t as Schema).$ref as string, where)[0];
      if (t === true) return;
      const o = t as Schema;
      if (t === null || typeof t !== 'object' || (o.type !== undefined && o.type !== 'object') || o.anyOf || o.oneOf) this.fail(where, 'allOf is supported over object schemas only');
      if (Array.isArray(o.allOf)) o.allOf.forEach((y, i) => add(y, `${where}/allOf/${i}`));
      Object.assign(properties, o.properties ?? {});
      for (const r of (o.required as string[] | undefined) ?? []) required.add(r);
      if (o.additionalProperties !== undefined) additional = o.additionalProperties;
    };
    const rest = { ...s };
    delete rest.allOf;
    add(rest, path);
    (s.allOf as unknown[]).forEach((y, i) => add(y, `${path}/allOf/${i}`));
    return { type: 'object', properties, required: [...required], ...(additional !== undefined ? { additionalProperties: additional } : {}) };
  }

  private object(s: Schema, name: string, ruleName: string, depth: number, path: string): string {
    const props = s.properties ?? {};
    if (props === null || typeof props !== 'object' || Array.isArray(props)) this.fail(path, 'properties must be an object');
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) this.fail(path, 'required must be an array of strings');
    const ap = s.additionalProperties;
    const keys = Object.keys(props);
    if (keys.length === 0 && (ap === undefined || ap === true)) return name === '' ? this.addRule('root', this.primitive('object')) : this.primitive('object');
    for (const r of required as string[]) if (!keys.includes(r as string)) this.fail(path, `required property "${r}" is not among the properties`);
    const pre = `${name}${name ? '-' : ''}`;
    const kv = new Map<string, string>();
    for (const k of keys) {
      const value = this.visit((props as Record<string, unknown>)[k], `${pre}${k}`, depth + 1, `${path}/properties/${k}`);
      kv.set(k, this.addRule(`${pre}${k}-kv`, `${gbnfLiteral(JSON.stringify(k))} space ":" space ${value}`));
    }
    const req = keys.filter((k) => (required as string[]).includes(k));
    const opt = keys.filter((k) => !(required as string[]).includes(k));
    if (ap !== undefined && ap !== false) {
      const value = this.visit(ap === true ? {} : ap, `${pre}additional`, depth + 1, `${path}/additionalProperties`);
      const key = keys.length ? this.addRule(`${pre}additional-key`, this.notStrings(keys)) : this.primitive('string');
      kv.set('*', this.addRule(`${pre}additional-kv`, `${key} ":" space ${value}`));
      opt.push('*');
    }
    const optional = (i: number, first: boolean): string => {
      const k = opt[i]!;
      const r = kv.get(k)!;
      let res = k === '*' ? (first ? `${r} ( "," space ${r} )*` : `( "," space ${r} )*`) : first ? r : `( "," space ${r} )?`;
      if (i + 1 < opt.length) res += ` ${this.addRule(`${pre}${k === '*' ? 'additional' : k}-rest`, optional(i + 1, false))}`;
      return res;
    };
    let body = '"{" space';
    body += req.map((k, i) => `${i ? ' "," space' : ''} ${kv.get(k)!}`).join('');
    if (opt.length) {
      const alts = opt.map((_, i) => optional(i, true)).join(' | ');
      body += req.length ? ` ( "," space ( ${alts} ) )?` : ` ( ${alts} )?`;
    }
    body += ' "}" space';
    return this.addRule(ruleName, body);
  }

  /** A JSON string (with its quotes and trailing space) that is none of the given keys. */
  private notStrings(keys: string[]): string {
    this.primitive('char');
    interface Trie {
      end: boolean;
      kids: Map<string, Trie>;
    }
    const root: Trie = { end: false, kids: new Map() };
    for (const k of keys) {
      let t = root;
      for (const ch of k) {
        let n = t.kids.get(ch);
        if (n === undefined) t.kids.set(ch, (n = { end: false, kids: new Map() }));
        t = n;
      }
      t.end = true;
    }
    // rest(t): the remainder of a string (closing quote included) whose prefix so far led to t
    const rest = (t: Trie): string => {
      const alts: string[] = [];
      if (!t.end) alts.push('"\\""');
      for (const [ch, n] of t.kids) alts.push(`${gbnfLiteral(JSON.stringify(ch).slice(1, -1))} ${rest(n)}`);
      const excluded = [...t.kids.keys()].filter((ch) => ch !== '"' && ch !== '\\' && ch.codePointAt(0)! >= 0x20 && ch.codePointAt(0) !== 0x7f);
      const cls = `[^"\\\\\\x7F\\x00-\\x1F${excluded.map((ch) => (/[\]\[\\^-]/.test(ch) ? `\\${ch}` : ch)).join('')}]`;
      alts.push(`(${cls} | [\\\\] (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})) char* "\\""`);
      return `(${alts.join(' | ')})`;
    };
    return `"\\"" ${rest(root)} space`;
  }

  private array(s: Schema, name: string, ruleName: string, depth: number, path: string): string {
    const pre = `${name}${name ? '-' : ''}`;
    const prefix = s.prefixItems ?? (Array.isArray(s.items) ? s.items : undefined);
    if (prefix !== undefined) {
      if (!Array.isArray(prefix)) this.fail(path, 'prefixItems must be an array');
      const items = prefix.map((x, i) => this.visit(x, `${pre}tuple-${i}`, depth + 1, `${path}/prefixItems/${i}`));
      return this.addRule(ruleName, `"[" space ${items.join(' "," space ')}${items.length ? ' ' : ''}"]" space`);
    }
    const item = this.visit(s.items ?? {}, `${pre}item`, depth + 1, `${path}/items`);
    const min = count(s.minItems, 0, 'minItems', (m) => this.fail(path, m));
    const max = count(s.maxItems, Infinity, 'maxItems', (m) => this.fail(path, m));
    if (max < min) this.fail(path, `maxItems ${max} is below minItems ${min}`);
    if (max === 0) return this.addRule(ruleName, '"[" space "]" space');
    const more = repeat(`( "," space ${item} )`, Math.max(0, min - 1), max - 1);
    const list = `${item} ${more}`;
    return this.addRule(ruleName, `"[" space ${min === 0 ? `( ${list} )?` : list} "]" space`);
  }

  private string(s: Schema, ruleName: string, path: string): string {
    if (typeof s.pattern === 'string') {
      const body = patternToGbnf(s.pattern, this.limits, this.subject);
      return this.addRule(ruleName, `"\\"" ${body} "\\"" space`);
    }
    if (typeof s.format === 'string' && FORMATS[s.format]) return this.primitive(FORMATS[s.format]!);
    const min = count(s.minLength, 0, 'minLength', (m) => this.fail(path, m));
    const max = count(s.maxLength, Infinity, 'maxLength', (m) => this.fail(path, m));
    if (max < min) this.fail(path, `maxLength ${max} is below minLength ${min}`);
    if (min === 0 && max === Infinity) return ruleName === 'root' ? this.addRule('root', this.primitive('string')) : this.primitive('string');
    this.primitive('char');
    return this.addRule(ruleName, `"\\"" ${repeat('char', min, max)} "\\"" space`);
  }

  private integer(s: Schema, ruleName: string, path: string): string {
    const bound = (k: string): number | undefined => {
      const v = s[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, `${k} must be a number`);
      return v;
    };
    let lo = bound('minimum');
    let hi = bound('maximum');
    const xlo = bound('exclusiveMinimum');
    const xhi = bound('exclusiveMaximum');
    if (lo !== undefined) lo = Math.ceil(lo);
    if (hi !== undefined) hi = Math.floor(hi);
    if (xlo !== undefined) lo = Math.max(lo ?? -Infinity, Math.floor(xlo) + 1);
    if (xhi !== undefined) hi = Math.min(hi ?? Infinity, Math.ceil(xhi) - 1);
    if (lo === undefined && hi === undefined) return ruleName === 'root' ? this.addRule('root', this.primitive('integer')) : this.primitive('integer');
    // zod's .int() writes the safe-integer bounds (±(2^53 - 1)) on every integer: they must compile
    const LIM = Number.MAX_SAFE_INTEGER;
    if ((lo !== undefined && Math.abs(lo) > LIM) || (hi !== undefined && Math.abs(hi) > LIM)) this.fail(path, `integer bounds beyond ±${LIM} are not supported`);
    if (lo !== undefined && hi !== undefined && hi < lo) this.fail(path, `no integer lies in [${lo}, ${hi}]`);
    return this.addRule(ruleName, `(${intRange(lo ?? -Infinity, hi ?? Infinity)}) space`);
  }
}

function hasKeywords(s: Schema): boolean {
  return Object.keys(s).some((k) => !['title', 'description', 'default', 'examples', '$schema', '$id', '$comment', '$defs', 'definitions'].includes(k));
}

function count(v: unknown, dflt: number, what: string, fail: (m: string) => never): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(`${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

/** x{min,max} in GBNF. */
function repeat(x: string, min: number, max: number): string {
  if (max === Infinity) return min === 0 ? `${x}*` : min === 1 ? `${x}+` : `${x}{${min},}`;
  if (min === max) return min === 0 ? '' : min === 1 ? x : `${x}{${min}}`;
  return min === 0 && max === 1 ? `${x}?` : `${x}{${min},${max}}`;
}

/** Digits (no leading zeros) of the non-negative integers in [lo, hi], lo and hi with the same digit count. */
function sameLength(lo: string, hi: string): string {
  if (lo === hi) return `"${lo}"`;
  const n = lo.length;
  const a = Number(lo[0]);
  const b = Number(hi[0]);
  const restLo = lo.slice(1);
  const restHi = hi.slice(1);
  if (a === b) return `"${lo[0]}" (${sameLength(restLo, restHi)})`;
  const any = (k: number): string => (k === 0 ? '' : ` [0-9]{${k}}`);
  if (/^0*$/.test(restLo) && /^9*$/.test(restHi)) return `[${a}-${b}]${any(n - 1)}`;
  const alts = [n === 1 ? `"${a}"` : `"${a}" (${sameLength(restLo, '9'.repeat(n - 1))})`];
  if (b - a > 1) alts.push(`[${a + 1}-${b - 1}]${any(n - 1)}`);
  alts.push(n === 1 ? `"${b}"` : `"${b}" (${sameLength('0'.repeat(n - 1), restHi)})`);
  return alts.join(' | ');
}

/** Non-negative integers in [lo, hi] (hi may be Infinity). */
function natRange(lo: number, hi: number): string {
  const alts: string[] = [];
  const maxLen = 16;
  for (let len = String(lo).length; len <= maxLen; len++) {
    const first = len === 1 ? 0 : 10 ** (len - 1);
    const last = 10 ** len - 1;
    const a = Math.max(lo, first);
    const b = Math.min(hi, last);
    if (a > b) break;
    if (a === first && b === last && len > 1) alts.push(`[1-9] [0-9]{${len - 1}}`);
    else alts.push(sameLength(String(a), String(b)));
    if (hi <= last) break;
  }
  return alts.map((x) => `(${x})`).join(' | ');
}

/** Integers in [lo, hi] (either may be infinite) as JSON writes them. */
export function intRange(lo: number, hi: number): string {
  const alts: string[] = [];
  if (lo < 0) alts.push(`"-" (${natRange(Math.max(1, hi < 0 ? -hi : 1), -lo)})`);
  if (hi >= 0) alts.push(natRange(Math.max(0, lo), hi));
  return alts.join(' | ');
}
