// JSON Schema `pattern` (ECMAScript regex syntax) -> a GBNF expression for the inside of a JSON string, as
// llama.cpp's json-schema-to-grammar: the pattern must match the whole string (a leading ^ and trailing $ are
// optional), characters JSON must escape are written escaped. Features a grammar cannot express are refused
// by name (backreferences, lookaround, word boundaries, Unicode property escapes, anchors inside).
import { BitnetError } from '../errors.js';

type RNode =
  | { k: 'seq'; items: RNode[] }
  | { k: 'alt'; alts: RNode[] }
  /** code point ranges (inclusive pairs), possibly complemented */
  | { k: 'set'; ranges: number[]; neg: boolean }
  | { k: 'rep'; node: RNode; min: number; max: number };

const MAX_CP = 0x10ffff;
const DIGIT = [0x30, 0x39];
const WORD = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const SPACE = [9, 13, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff];

export interface RegexLimits {
  maxPatternChars: number;
  maxRepeat: number;
  maxNesting: number;
}

/** GBNF for the JSON-escaped text of strings the pattern matches in full. */
export function patternToGbnf(pattern: string, limits: RegexLimits, subject: string): string {
  if (pattern.length > limits.maxPatternChars) refuse(subject, `is ${pattern.length} characters, more than the limit of ${limits.maxPatternChars}`);
  const p = new RegexParser(pattern, limits, subject);
  return emit(p.parse());
}

function refuse(subject: string, message: string): never {
  throw new BitnetError('GRAMMAR', message, { name: subject });
}

class RegexParser {
  private pos = 0;
  private depth = 0;
  constructor(
    private readonly s: string,
    private readonly limits: RegexLimits,
    private readonly subject: string,
  ) {}

  private fail(message: string): never {
    refuse(this.subject, `${message} (at offset ${this.pos} of the pattern ${JSON.stringify(this.s.length > 80 ? `${this.s.slice(0, 80)}...` : this.s)})`);
  }

  parse(): RNode {
    if (this.s[0] === '^') this.pos++;
    const n = this.alternation();
    if (this.s[this.pos] === '$' && this.pos === this.s.length - 1) this.pos++;
    if (this.pos < this.s.length) this.fail(this.s[this.pos] === ')' ? 'unbalanced ")"' : `unexpected "${this.s[this.pos]}"`);
    return n;
  }

  private alternation(): RNode {
    const alts = [this.sequence()];
    while (this.s[this.pos] === '|') {
      this.pos++;
      alts.push(this.sequence());
    }
    return alts.length === 1 ? alts[0]! : { k: 'alt', alts };
  }

  private sequence(): RNode {
    const items: RNode[] = [];
    for (;;) {
      const c = this.s[this.pos];
      if (c === undefined || c === '|' || c === ')') break;
      if (c === '$' && this.pos === this.s.length - 1) break;
      items.push(this.quantified(this.atom()));
    }
    return items.length === 1 ? items[0]! : { k: 'seq', items };
  }

  private atom(): RNode {
    const c = this.s[this.pos]!;
    if (c === '(') {
      if (++this.depth > this.limits.maxNesting) this.fail(`groups nested more than ${this.limits.maxNesting} deep`);
      this.pos++;
      if (this.s.startsWith('?:', this.pos)) this.pos += 2;
      else if (/^\?<[A-Za-z_]/.test(this.s.slice(this.pos, this.pos + 3))) this.pos = this.s.indexOf('>', this.pos) + 1;
      else if (this.s[this.pos] === '?') this.fail('lookahead and lookbehind assertions are not supported');
      const inner = this.alternation();
      if (this.s[this.pos] !== ')') this.fail('unbalanced "(": missing ")"');
      this.pos++;
      this.depth--;
      return inner.k === 'rep' ? { k: 'seq', items: [inner] } : inner; // (a+)+ repeats the group
    }
    if (c === '[') return this.charClass();
    if (c === '.') {
      this.pos++;
      return { k: 'set', ranges: [10, 10, 13, 13, 0x2028, 0x2029], neg: true };
    }
    if (c === '^' || c === '$') this.fail(`the anchor "${c}" is supported only at the start ("^") or end ("$") of the pattern`);
    if (c === '*' || c === '+' || c === '?' || c === '{') this.fail(`quantifier "${c}" has nothing to repeat`);
    if (c === '\\') return this.escape(false);
    const cp = this.s.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return { k: 'set', ranges: [cp, cp], neg: false };
  }

  private quantified(n: RNode): RNode {
    for (;;) {
      const c = this.s[this.pos];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.s.slice(this.pos, this.pos + 32));
        if (!m) return n; // a literal "{" as in JS's annex-B syntax is refused below as nothing to repeat
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (max < min) this.fail(`repetition ${m[0]} has its maximum below its minimum`);
        if (min > this.limits.maxRepeat || (max !== Infinity && max > this.limits.maxRepeat)) this.fail(`repetition count over the limit of ${this.limits.maxRepeat}`);
        this.pos += m[0].length - 1;
      } else return n;
      this.pos++;
      if (this.s[this.pos] === '?') this.pos++; // lazy: the same strings match the whole pattern
      if (n.k === 'rep') this.fail('a quantifier directly after another one');
      n = { k: 'rep', node: n, min, max };
    }
  }

  /** \x escapes: a class of characters or one character. */
  private escape(inClass: boolean): RNode {
    const e = this.s[this.pos + 1];
    if (e === undefined) this.fail('the pattern ends with "\\"');
    this.pos += 2;
    const set = (ranges: number[], neg = false): RNode => ({ k: 'set', ranges, neg });
    const one = (cp: number): RNode => set([cp, cp]);
    switch (e) {
      case 'd': return set(DIGIT);
      case 'D': return set(DIGIT, true);
      case 'w': return set(WORD);
      case 'W': return set(WORD, true);
      case 's': return set(SPACE);
      case 'S': return set(SPACE, true);
      case 'n': return one(10);
      case 'r': return one(13);
      case 't': return one(9);
      case 'f': return one(12);
      case 'v': return one(11);
      case '0': return one(0);
      case 'b':
        if (inClass) return one(8);
        return this.fail('word boundaries (\\b) are not supported');
      case 'B': return this.fail('word boundaries (\\B) are not supported');
      case 'p':
      case 'P': return this.fail(`Unicode property escapes (\\${e}) are not supported`);
      case 'k': return this.fail('backreferences (\\k<name>) are not supported');
      case 'c': return this.fail('control escapes (\\c) are not supported');
      case 'x':
      case 'u': {
        let m = e === 'x' ? /^[0-9a-fA-F]{2}/.exec(this.s.slice(this.pos)) : /^[0-9a-fA-F]{4}/.exec(this.s.slice(this.pos));
        if (e === 'u' && !m) {
          m = /^\{([0-9a-fA-F]{1,6})\}/.exec(this.s.slice(this.pos));
          if (m) {
            this.pos += m[0].length;
            return one(Math.min(parseInt(m[1]!, 16), MAX_CP));
          }
        }
        if (!m) this.fail(`malformed \\${e} escape`);
        this.pos += m[0].length;
        return one(parseInt(m[0], 16));
      }
      default:
        if (/[1-9]/.test(e)) this.fail('backreferences (\\1 ...) are not supported');
        return one(e.codePointAt(0)!);
    }
  }

  private charClass(): RNode {
    const start = this.pos;
    this.pos++;
    let neg = false;
    if (this.s[this.pos] === '^') {
      neg = true;
      this.pos++;
    }
    const ranges: number[] = [];
    const item = (): number[] | number => {
      if (this.s[this.pos] === '\\') {
        const n = this.escape(true) as { k: 'set'; ranges: number[]; neg: boolean };
        if (n.neg) return complement(n.ranges);
        return n.ranges.length === 2 && n.ranges[0] === n.ranges[1] ? n.ranges[0]! : n.ranges;
      }
      const cp = this.s.codePointAt(this.pos)!;
      this.pos += cp > 0xffff ? 2 : 1;
      return cp;
    };
    while (this.s[this.pos] !== ']') {
      if (this.pos >= this.s.length) {
        this.pos = start;
        this.fail('unbalanced "[": missing "]"');
      }
      const lo = item();
      if (typeof lo === 'number' && this.s[this.pos] === '-' && this.s[this.pos + 1] !== ']' && this.pos + 1 < this.s.length) {
        this.pos++;
        const hi = item();
        if (typeof hi !== 'number') this.fail('a character class escape cannot end a range');
        if (hi < lo) this.fail('character class range out of order');
        ranges.push(lo, hi);
      } else if (typeof lo === 'number') ranges.push(lo, lo);
      else ranges.push(...lo);
    }
    this.pos++;
    return { k: 'set', ranges, neg };
  }
}

/** The inclusive ranges not covered by `ranges`, over [0, U+10FFFF]. */
function complement(ranges: number[]): number[] {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  let c = 0;
  for (const [lo, hi] of pairs) {
    if (lo > c) out.push(c, lo - 1);
    c = Math.max(c, hi + 1);
  }
  if (c <= MAX_CP) out.push(c, MAX_CP);
  return out;
}

/** Characters JSON writes escaped: control characters, `"` and `\`. */
const JSON_ESCAPED = [0, 0x1f, 0x22, 0x22, 0x5c, 0x5c];

function intersect(a: number[], b: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      const lo = Math.max(a[i]!, b[j]!);
      const hi = Math.min(a[i + 1]!, b[j + 1]!);
      if (lo <= hi) out.push(lo, hi);
    }
  }
  return out;
}

/** A code point as JSON writes it inside a string, as GBNF literal content. */
function jsonCharLiteral(cp: number): string {
  const short: Record<number, string> = { 0x22: '\\\\\\"', 0x5c: '\\\\\\\\', 10: '\\\\n', 13: '\\\\r', 9: '\\\\t', 8: '\\\\b', 12: '\\\\f' };
  if (short[cp] !== undefined) return short[cp];
  if (cp < 0x20) return `\\\\u00${cp.toString(16).padStart(2, '0')}`;
  return gbnfLiteralChar(cp);
}

/** One code point as GBNF literal content (escaped where GBNF needs it). */
export function gbnfLiteralChar(cp: number): string {
  if (cp === 0x22) return '\\"';
  if (cp === 0x5c) return '\\\\';
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return String.fromCodePoint(cp);
}

function classChar(cp: number): string {
  if (cp === 0x5c || cp === 0x5d || cp === 0x5b || cp === 0x2d || cp === 0x5e) return `\\${String.fromCharCode(cp)}`;
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp >= 0xd800 && cp <= 0xdfff) return `\\u${cp.toString(16).padStart(4, '0')}`;
  if (cp > 0xffff) return `\\U${cp.toString(16).padStart(8, '0')}`;
  return String.fromCodePoint(cp);
}

function classText(ranges: number[], neg: boolean): string {
  let s = neg ? '[^' : '[';
  for (let i = 0; i < ranges.length; i += 2) s += ranges[i] === ranges[i + 1] ? classChar(ranges[i]!) : `${classChar(ranges[i]!)}-${classChar(ranges[i + 1]!)}`;
  return `${s}]`;
}

/** A set of code points as GBNF over JSON string text: plain characters as a class, escaped ones as literals. */
function emitSet(ranges: number[], neg: boolean): string {
  if (neg) return classText([...ranges, ...JSON_ESCAPED], true); // never an escaped character
  const plain = intersect(ranges, complement(JSON_ESCAPED));
  const escaped = intersect(ranges, JSON_ESCAPED);
  const alts: string[] = [];
  if (plain.length) alts.push(classText(plain, false));
  for (let i = 0; i < escaped.length; i += 2) for (let c = escaped[i]!; c <= escaped[i + 1]!; c++) alts.push(`"${jsonCharLiteral(c)}"`);
  if (alts.length === 0) return '[^\\x00-\\U0010ffff]'; // matches nothing
  return alts.length === 1 ? alts[0]! : `(${alts.join(' | ')})`;
}

function emit(n: RNode): string {
  switch (n.k) {
    case 'set':
      if (!n.neg && n.ranges.length === 2 && n.ranges[0] === n.ranges[1]) return `"${jsonCharLiteral(n.ranges[0]!)}"`;
      return emitSet(n.ranges, n.neg);
    case 'seq': {
      // runs of single characters become one literal
      const parts: string[] = [];
      let lit = '';
      for (const it of n.items) {
        if (it.k === 'set' && !it.neg && it.ranges.length === 2 && it.ranges[0] === it.ranges[1]) lit += jsonCharLiteral(it.ranges[0]!);
        else {
          if (lit) parts.push(`"${lit}"`);
          lit = '';
          parts.push(emit(it));
        }
      }
      if (lit) parts.push(`"${lit}"`);
      return parts.length === 0 ? '""' : `(${parts.join(' ')})`;
    }
    case 'alt':
      return `(${n.alts.map(emit).join(' | ')})`;
    case 'rep': {
      const x = emit(n.node);
      const inner = /^\(.*\)$|^\[.*\]$|^"[^"]*"$/.test(x) ? x : `(${x})`;
      if (n.min === 0 && n.max === Infinity) return `${inner}*`;
      if (n.min === 1 && n.max === Infinity) return `${inner}+`;
      if (n.min === 0 && n.max === 1) return `${inner}?`;
      return n.max === Infinity ? `${inner}{${n.min},}` : n.min === n.max ? `${inner}{${n.min}}` : `${inner}{${n.min},${n.max}}`;
    }
  }
}
