// GBNF (llama.cpp's grammar dialect) -> syntax tree: rules `name ::= ...`, alternatives, groups, literals with
// escapes, character classes (ranges, negation), `.`, repetition `* + ? {m} {m,} {m,n} {,n}` and `#` comments.
// Errors name the line and column. The tree is what compile.ts lowers to the matcher's flat rules and what
// the tests' recursive-descent reference acceptor walks.
import { BitnetError } from '../errors.js';

export type GNode =
  | { k: 'seq'; items: GNode[] }
  | { k: 'alt'; alts: GNode[] }
  /** a literal: its code points */
  | { k: 'lit'; cps: number[] }
  /** a character class: inclusive [lo, hi] pairs; `neg` matches every code point outside them (`.` is neg with none) */
  | { k: 'cls'; ranges: number[]; neg: boolean }
  | { k: 'ref'; name: string; line: number; col: number }
  /** repetition: max is Infinity when unbounded */
  | { k: 'rep'; node: GNode; min: number; max: number };

export interface GRule {
  name: string;
  body: GNode;
  line: number;
  col: number;
}

export interface GrammarAst {
  rules: Map<string, GRule>;
  root: string;
}

/** Limits the parser enforces itself (the rest are checked while lowering). */
export interface ParseLimits {
  /** most characters of grammar text */
  maxGrammarChars: number;
  /** deepest nesting of groups */
  maxNesting: number;
  /** largest repetition count in {m,n} */
  maxRepeat: number;
}

const isWordChar = (c: string): boolean => /[A-Za-z0-9_-]/.test(c);

/** Parses GBNF text; `root` names the start rule (default "root"). Throws BitnetError('GRAMMAR'). */
export function parseGbnf(text: string, root: string, limits: ParseLimits, subject = 'grammar'): GrammarAst {
  if (text.length > limits.maxGrammarChars) fail(subject, `is ${text.length} characters, more than the limit of ${limits.maxGrammarChars}`);
  const p = new Parser(text, limits, subject);
  const rules = p.parseRules();
  if (!rules.has(root)) fail(subject, rules.size === 0 ? 'defines no rules' : `has no rule named "${root}" (the start rule)`);
  // every referenced rule exists
  const check = (n: GNode): void => {
    switch (n.k) {
      case 'seq':
        n.items.forEach(check);
        break;
      case 'alt':
        n.alts.forEach(check);
        break;
      case 'rep':
        check(n.node);
        break;
      case 'ref':
        if (!rules.has(n.name)) fail(subject, `line ${n.line}, column ${n.col}: undefined rule "${n.name}"`);
        break;
      default:
    }
  };
  for (const r of rules.values()) check(r.body);
  return { rules, root };
}

function fail(subject: string, message: string): never {
  throw new BitnetError('GRAMMAR', message, { name: subject });
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly limits: ParseLimits,
    private readonly subject: string,
  ) {}

  /** offsets where lines start, for line/column numbers */
  private lineStarts: number[] | undefined;

  private lineCol(at: number): [number, number] {
    if (this.lineStarts === undefined) {
      this.lineStarts = [0];
      for (let i = 0; i < this.src.length; i++) if (this.src[i] === '\n') this.lineStarts.push(i + 1);
    }
    const ls = this.lineStarts;
    let lo = 0;
    let hi = ls.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ls[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return [lo + 1, at - ls[lo]! + 1];
  }

  private where(at = this.pos): string {
    const [line, col] = this.lineCol(at);
    return `line ${line}, column ${col}`;
  }

  private error(message: string, at = this.pos): never {
    fail(this.subject, `${this.where(at)}: ${message}`);
  }

  /** Skips blanks and comments; newlines only when `newlines`. */
  private space(newlines: boolean): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else if (c === ' ' || c === '\t' || (newlines && (c === '\n' || c === '\r'))) {
        this.pos++;
      } else break;
    }
  }

  private name(): string {
    const start = this.pos;
    while (this.pos < this.src.length && isWordChar(this.src[this.pos]!)) this.pos++;
    if (this.pos === start) this.error(`expected a rule name, found ${this.show()}`);
    return this.src.slice(start, this.pos);
  }

  private show(): string {
    return this.pos >= this.src.length ? 'the end of the grammar' : JSON.stringify(this.src[this.pos]);
  }

  parseRules(): Map<string, GRule> {
    const rules = new Map<string, GRule>();
    this.space(true);
    while (this.pos < this.src.length) {
      const at = this.pos;
      const name = this.name();
      this.space(false);
      if (!this.src.startsWith('::=', this.pos)) this.error(`expected "::=" after rule name "${name}", found ${this.show()}`);
      this.pos += 3;
      this.space(true);
      const body = this.alternatives(false);
      if (rules.has(name)) this.error(`rule "${name}" is defined twice`, at);
      const [line, col] = this.lineCol(at);
      rules.set(name, { name, body, line, col });
      // a rule ends at a newline; the next one starts on a later line
      if (this.pos < this.src.length && this.src[this.pos] !== '\n' && this.src[this.pos] !== '\r') this.error(`unexpected ${this.show()}`);
      this.space(true);
    }
    return rules;
  }

  /** alternatives separated by `|`; at top level an alternative may start on the next line with `|` */
  private alternatives(nested: boolean): GNode {
    const alts = [this.sequence(nested)];
    for (;;) {
      if (this.src[this.pos] === '|') {
        this.pos++;
        this.space(true);
        alts.push(this.sequence(nested));
        continue;
      }
      if (!nested) {
        // `\n  | more` continues the rule
        const save = this.pos;
        this.space(true);
        if (this.src[this.pos] === '|') continue;
        this.pos = save;
      }
      break;
    }
    return alts.length === 1 ? alts[0]! : { k: 'alt', alts };
  }

  private sequence(nested: boolean): GNode {
    const items: GNode[] = [];
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || c === '|' || c === ')' || c === '\n' || c === '\r') break;
      const start = this.pos;
      let item: GNode;
      if (c === '"') item = this.literal();
      else if (c === '[') item = this.charClass();
      else if (c === '.') {
        this.pos++;
        item = { k: 'cls', ranges: [], neg: true };
      } else if (c === '(') {
        if (++this.depth > this.limits.maxNesting) this.error(`groups nested more than ${this.limits.maxNesting} deep`);
        this.pos++;
        this.space(true);
        item = this.alternatives(true);
        if (item.k === 'rep') item = { k: 'seq', items: [item] }; // (x?)* repeats the group
        if (this.src[this.pos] !== ')') this.error(`unbalanced "(": expected ")", found ${this.show()}`, start);
        this.pos++;
        this.depth--;
      } else if (isWordChar(c)) {
        const [line, col] = this.lineCol(this.pos);
        const name = this.name();
        // `name ::=` here means the previous rule ended without a newline
        const save = this.pos;
        this.space(false);
        if (this.src.startsWith('::=', this.pos)) this.error(`expected a newline before the definition of "${name}"`, start);
        this.pos = save;
        item = { k: 'ref', name, line, col };
      } else if (c === '<') {
        this.error('token references (<...>) are not supported');
      } else if (c === ']' || c === '}') {
        this.error(`unbalanced "${c}"`);
      } else {
        this.error(`unexpected ${this.show()}`);
      }
      this.space(nested);
      item = this.repetitions(item, start, nested);
      items.push(item);
    }
    return items.length === 1 ? items[0]! : { k: 'seq', items };
  }

  private repetitions(item: GNode, start: number, nested: boolean): GNode {
    for (;;) {
      const c = this.src[this.pos];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{\s*(\d*)\s*(,\s*(\d*)\s*)?\}/.exec(this.src.slice(this.pos, this.pos + 64));
        if (!m || (m[1] === '' && m[2] === undefined)) this.error('malformed repetition: expected {m}, {m,}, {m,n} or {,n}');
        min = m[1] === '' ? 0 : Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (max < min) this.error(`repetition {${m[1]},${m[3]}} has its maximum below its minimum`);
        if (min > this.limits.maxRepeat || (max !== Infinity && max > this.limits.maxRepeat)) this.error(`repetition count over the limit of ${this.limits.maxRepeat}`);
        this.pos += m[0].length - 1;
      } else return item;
      if (item.k === 'rep' && c !== '{') this.error(`"${c}" after a repetition: put the repeated part in parentheses`, start);
      this.pos++;
      this.space(nested);
      item = { k: 'rep', node: item, min, max };
    }
  }

  private literal(): GNode {
    const start = this.pos;
    this.pos++;
    const cps: number[] = [];
    for (;;) {
      if (this.pos >= this.src.length || this.src[this.pos] === '\n') this.error('unterminated string literal', start);
      if (this.src[this.pos] === '"') break;
      cps.push(this.char());
    }
    this.pos++;
    return { k: 'lit', cps };
  }

  private charClass(): GNode {
    const start = this.pos;
    this.pos++;
    let neg = false;
    if (this.src[this.pos] === '^') {
      neg = true;
      this.pos++;
    }
    const ranges: number[] = [];
    for (;;) {
      if (this.pos >= this.src.length || this.src[this.pos] === '\n') this.error('unbalanced "[": the character class has no closing "]"', start);
      if (this.src[this.pos] === ']') break;
      const lo = this.char();
      let hi = lo;
      if (this.src[this.pos] === '-' && this.src[this.pos + 1] !== ']' && this.pos + 1 < this.src.length) {
        this.pos++;
        hi = this.char();
        if (hi < lo) this.error(`character range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)} is out of order`);
      }
      ranges.push(lo, hi);
    }
    this.pos++;
    return { k: 'cls', ranges, neg };
  }

  /** One character of a literal or class, escapes decoded. */
  private char(): number {
    const s = this.src;
    const c = s.codePointAt(this.pos)!;
    if (c !== 0x5c) {
      this.pos += c > 0xffff ? 2 : 1;
      return c;
    }
    const e = s[this.pos + 1];
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 0x5c, '"': 0x22, '[': 0x5b, ']': 0x5d, '-': 0x2d, '^': 0x5e, '/': 0x2f, '0': 0 };
    if (e !== undefined && simple[e] !== undefined) {
      this.pos += 2;
      return simple[e];
    }
    const width = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (width > 0) {
      const hex = s.slice(this.pos + 2, this.pos + 2 + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) this.error(`escape \\${e} needs ${width} hex digits`);
      const v = parseInt(hex, 16);
      if (v > 0x10ffff) this.error(`escape \\${e}${hex} is past U+10FFFF`);
      this.pos += 2 + width;
      return v;
    }
    this.error(`unknown escape "\\${e ?? ''}"`);
  }
}
