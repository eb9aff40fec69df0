// Lowers a GBNF syntax tree to the matcher's flat form, as llama.cpp does: every rule a list of alternatives,
// each a run of elements (a character set or a rule reference) ending in END; groups and alternations become
// generated rules, repetitions become right-recursive or nested-optional rules. Checks the size limits and
// refuses left recursion (through nullable prefixes too), naming the rules on the cycle.
import { BitnetError } from '../errors.js';
import type { GNode, GrammarAst } from './gbnf.js';

export const OP_END = 0;
export const OP_REF = 1;
export const OP_CHAR = 2;

/** A set of code points: sorted inclusive [lo, hi] pairs, or their complement; ascii[c >> 5] bit c & 31 for c < 128. */
export interface CharSet {
  ranges: Int32Array;
  neg: boolean;
  ascii: Uint32Array;
}

export interface FlatGrammar {
  /** elements: [OP_REF, rule] | [OP_CHAR, set] | [OP_END] */
  code: Int32Array;
  /** start positions of each rule's alternatives */
  ruleAlts: Int32Array[];
  ruleNames: string[];
  sets: CharSet[];
  root: number;
}

export interface CompileLimits {
  /** most rules after lowering (generated ones included) */
  maxRules: number;
  /** most elements after lowering */
  maxElements: number;
  /** wall-clock budget for the whole compilation, ms */
  maxCompileMs: number;
}

export function charSetHas(s: CharSet, cp: number): boolean {
  let hit: boolean;
  if (cp < 128) hit = (s.ascii[cp >> 5]! & (1 << (cp & 31))) !== 0;
  else {
    hit = false;
    const r = s.ranges;
    for (let i = 0; i < r.length; i += 2) {
      if (cp >= r[i]! && cp <= r[i + 1]!) {
        hit = true;
        break;
      }
    }
    if (s.neg) hit = !hit;
  }
  return hit;
}

/** Whether any code point of [lo, hi] is in the set. */
export function charSetHits(s: CharSet, lo: number, hi: number): boolean {
  const r = s.ranges;
  if (!s.neg) {
    for (let i = 0; i < r.length; i += 2) if (r[i]! <= hi && r[i + 1]! >= lo) return true;
    return false;
  }
  // complement: some point of [lo, hi] is outside every range (ranges are sorted and merged)
  let c = lo;
  for (let i = 0; i < r.length && c <= hi; i += 2) {
    if (r[i + 1]! < c) continue;
    if (r[i]! > c) return true;
    c = r[i + 1]! + 1;
  }
  return c <= hi;
}

function makeSet(ranges: number[], neg: boolean): CharSet {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [lo, hi] of pairs) {
    const n = merged.length;
    if (n > 0 && lo <= merged[n - 1]! + 1) merged[n - 1] = Math.max(merged[n - 1]!, hi);
    else merged.push(lo, hi);
  }
  const set: CharSet = { ranges: Int32Array.from(merged), neg, ascii: new Uint32Array(4) };
  for (let c = 0; c < 128; c++) {
    let hit = false;
    for (let i = 0; i < merged.length; i += 2) if (c >= merged[i]! && c <= merged[i + 1]!) hit = true;
    if (hit !== neg) set.ascii[c >> 5]! |= 1 << (c & 31);
  }
  return set;
}

export function lowerGrammar(ast: GrammarAst, limits: CompileLimits, subject: string, deadline: number): FlatGrammar {
  const fail = (message: string): never => {
    throw new BitnetError('GRAMMAR', message, { name: subject });
  };
  const ruleIndex = new Map<string, number>();
  const ruleNames: string[] = [];
  const ruleBodies: number[][][] = []; // rule -> alternatives -> flat elements
  const sets: CharSet[] = [];
  const setIndex = new Map<string, number>();
  let elements = 0;
  let steps = 0;

  const newRule = (name: string): number => {
    if (ruleNames.length >= limits.maxRules) fail(`needs more than ${limits.maxRules} rules once groups and repetitions are expanded`);
    ruleNames.push(name);
    ruleBodies.push([]);
    return ruleNames.length - 1;
  };
  for (const name of ast.rules.keys()) ruleIndex.set(name, newRule(name));

  const charElem = (ranges: number[], neg: boolean): number[] => {
    const key = `${neg ? '^' : ''}${ranges.join(',')}`;
    let i = setIndex.get(key);
    if (i === undefined) {
      i = sets.length;
      sets.push(makeSet(ranges, neg));
      setIndex.set(key, i);
    }
    return [OP_CHAR, i];
  };
  const count = (n: number): void => {
    elements += n;
    if (elements > limits.maxElements) fail(`expands to more than ${limits.maxElements} elements (repetitions are expanded: lower the counts)`);
    if ((++steps & 1023) === 0 && now() > deadline) fail(`took longer than ${limits.maxCompileMs} ms to compile`);
  };
  let generated = 0;
  const subRule = (parent: string, alts: number[][]): number[] => {
    const r = newRule(`${parent}-${++generated}`);
    ruleBodies[r] = alts;
    for (const a of alts) count(a.length / 2 + 1);
    return [OP_REF, r];
  };

  /** lowers a node to a run of elements (pairs); groups and alternations become sub-rules */
  const lower = (n: GNode, parent: string): number[] => {
    switch (n.k) {
      case 'seq':
        return n.items.flatMap((x) => lower(x, parent));
      case 'alt':
        return subRule(parent, n.alts.map((a) => lower(a, parent)));
      case 'lit':
        count(n.cps.length);
        return n.cps.flatMap((c) => charElem([c, c], false));
      case 'cls':
        count(1);
        return charElem(n.ranges, n.neg);
      case 'ref':
        count(1);
        return [OP_REF, ruleIndex.get(n.name)!];
      case 'rep': {
        let x = lower(n.node, parent);
        if (x.length !== 2) x = subRule(parent, [x]); // one element to repeat
        const out: number[] = [];
        for (let i = 0; i < n.min; i++) out.push(...x);
        count(n.min);
        if (n.max === Infinity) {
          // star ::= x star |
          const r = newRule(`${parent}-${++generated}`);
          ruleBodies[r] = [[...x, OP_REF, r], []];
          count(4);
          out.push(OP_REF, r);
        } else if (n.max > n.min) {
          // opt_k ::= x opt_{k-1} | ;  opt_1 ::= x |
          let inner: number[] = [];
          for (let k = 0; k < n.max - n.min; k++) {
            const r = newRule(`${parent}-${++generated}`);
            ruleBodies[r] = [[...x, ...inner], []];
            count(4);
            inner = [OP_REF, r];
          }
          out.push(...inner);
        }
        return out;
      }
    }
  };

  for (const [name, rule] of ast.rules) {
    const alts = rule.body.k === 'alt' ? rule.body.alts : [rule.body];
    const r = ruleIndex.get(name)!;
    ruleBodies[r] = alts.map((a) => lower(a, name));
    for (const a of ruleBodies[r]!) count(a.length / 2 + 1);
  }

  checkLeftRecursion(ruleBodies, ruleNames, fail);

  // flatten: each alternative's elements, then OP_END
  const code: number[] = [];
  const ruleAlts: Int32Array[] = [];
  for (const alts of ruleBodies) {
    const starts: number[] = [];
    for (const a of alts) {
      starts.push(code.length);
      code.push(...a, OP_END);
    }
    ruleAlts.push(Int32Array.from(starts));
  }
  return { code: Int32Array.from(code), ruleAlts, ruleNames, sets, root: ruleIndex.get(ast.root)! };
}

/** Rules that can match the empty string, then a cycle search over "can start with" edges through nullable prefixes. */
function checkLeftRecursion(bodies: number[][][], names: string[], fail: (m: string) => never): void {
  const nullable = new Uint8Array(bodies.length);
  for (let changed = true; changed; ) {
    changed = false;
    for (let r = 0; r < bodies.length; r++) {
      if (nullable[r]) continue;
      const ok = bodies[r]!.some((a) => {
        for (let i = 0; i < a.length; i += 2) if (a[i] === OP_CHAR || !nullable[a[i + 1]!]) return false;
        return true;
      });
      if (ok) {
        nullable[r] = 1;
        changed = true;
      }
    }
  }
  const edges = bodies.map((alts) => {
    const out: number[] = [];
    for (const a of alts) {
      for (let i = 0; i < a.length; i += 2) {
        if (a[i] === OP_CHAR) break;
        out.push(a[i + 1]!);
        if (!nullable[a[i + 1]!]) break;
      }
    }
    return out;
  });
  const state = new Uint8Array(bodies.length); // 0 new, 1 on the path, 2 done
  const path: number[] = [];
  // iterative DFS (deep grammars must not overflow the JS stack)
  for (let start = 0; start < bodies.length; start++) {
    if (state[start]) continue;
    const work: Array<[number, number]> = [[start, 0]];
    state[start] = 1;
    path.push(start);
    while (work.length) {
      const top = work[work.length - 1]!;
      const [r, i] = top;
      const e = edges[r]!;
      if (i >= e.length) {
        state[r] = 2;
        path.pop();
        work.pop();
        continue;
      }
      top[1]++;
      const q = e[i]!;
      if (state[q] === 1) {
        const cycle = [...path.slice(path.indexOf(q)), q].map((x) => names[x]!);
        const source = (n: string): string => n.replace(/(-\d+)+$/, '');
        const named = cycle.map(source).filter((n, k, a) => k === 0 || n !== a[k - 1]);
        const what = named.length === 1 ? `rule "${named[0]}" can start with itself` : `left recursion through ${named.map((n) => `"${n}"`).join(' -> ')}`;
        fail(`${what} (left recursion, or a repetition of something that can match the empty string): rewrite it right-recursively`);
      }
      if (state[q] === 0) {
        state[q] = 1;
        path.push(q);
        work.push([q, 0]);
      }
    }
  }
}

export const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
