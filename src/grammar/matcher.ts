// The pushdown matcher over a flat grammar, llama.cpp style: a state is a set of parse stacks whose tops are
// character elements (the empty stack = the grammar is complete). Stacks are interned as linked frames and
// state sets as ids, so advancing a set by a code point is a memo lookup after the first time; bytes are
// decoded as UTF-8 with a partial sequence carried across tokens. Limits bound the frames, sets and stacks.
import { BitnetError } from '../errors.js';
import { charSetHas, charSetHits, OP_CHAR, OP_END, type FlatGrammar } from './compile.js';

export interface MatcherLimits {
  /** most parse stacks alive in one state (an ambiguous grammar can multiply them) */
  maxStacks: number;
  /** most interned stack frames and state sets per grammar and vocabulary before the tables are rebuilt */
  maxFrames: number;
}

/** Advance result for a state that no input can continue. */
export const DEAD = -1;

/**
 * Interned frames and state sets of one grammar. Frame 0 is the empty stack; frame f > 0 is (pos, parent):
 * continue at code position pos, then with frame parent. A stack is a frame whose pos is a character element.
 */
export class StateSpace {
  readonly g: FlatGrammar;
  private framePos: Int32Array<ArrayBuffer> = new Int32Array(1024);
  private frameParent: Int32Array<ArrayBuffer> = new Int32Array(1024);
  private nFrames = 1;
  private readonly frameIndex = new Map<number, number>();
  private readonly expanded = new Map<number, Int32Array>();
  /** set id -> its sorted stacks */
  readonly sets: Int32Array[] = [];
  private readonly setIndex = new Map<string, number>();
  /** set id -> next set for each ASCII code point (-2: not computed yet) */
  private readonly asciiNext: Array<Int32Array | undefined> = [];
  private readonly nextMemo = new Map<number, number>();
  private readonly subsetMemo = new Map<number, number>();
  private readonly partialMemo = new Map<number, boolean>();
  readonly initial: number;

  constructor(
    g: FlatGrammar,
    readonly limits: MatcherLimits,
    private readonly subject: string,
  ) {
    this.g = g;
    const out: number[] = [];
    for (const a of g.ruleAlts[g.root]!) this.expandRaw(a, 0, out);
    this.initial = this.internSet(out);
    // every position after a character, expanded on its own: refuses grammars whose stacks explode there
    // (as `"x" ("a"?){2000}`) now rather than mid-generation
    const { code } = g;
    for (const alts of g.ruleAlts) {
      for (let pos of alts) {
        for (; code[pos] !== OP_END; pos += 2) {
          if (code[pos] !== OP_CHAR) continue;
          const probe: number[] = [];
          this.expandRaw(pos + 2, 0, probe);
          if (probe.length > limits.maxStacks) this.tooMany(probe.length);
        }
      }
    }
  }

  /** interned objects so far: callers rebuild the space when this nears limits.maxFrames */
  get size(): number {
    return this.nFrames + this.sets.length;
  }

  private fail(message: string): never {
    throw new BitnetError('GRAMMAR', message, { name: this.subject });
  }

  private intern(pos: number, parent: number): number {
    const key = pos * 0x4000000 + parent;
    let id = this.frameIndex.get(key);
    if (id === undefined) {
      id = this.nFrames++;
      if (id >= this.limits.maxFrames) this.fail(`the grammar needs more than ${this.limits.maxFrames} parse frames (too deep or too ambiguous)`);
      if (id >= this.framePos.length) {
        const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
          const b = new Int32Array(a.length * 2);
          b.set(a);
          return b;
        };
        this.framePos = grow(this.framePos);
        this.frameParent = grow(this.frameParent);
      }
      this.framePos[id] = pos;
      this.frameParent[id] = parent;
      this.frameIndex.set(key, id);
    }
    return id;
  }

  /** The stacks that "continue at pos, then parent" reaches, with character elements on top. */
  private expandRaw(pos: number, parent: number, out: number[]): void {
    if (this.g.code[pos] === OP_END) {
      if (parent === 0) out.push(0);
      else for (const s of this.expandFrame(parent)) out.push(s);
    } else {
      for (const s of this.expandFrame(this.intern(pos, parent))) out.push(s);
    }
  }

  private expandFrame(f: number): Int32Array {
    let hit = this.expanded.get(f);
    if (hit !== undefined) return hit;
    const { code, ruleAlts } = this.g;
    const pos = this.framePos[f]!;
    if (code[pos] === OP_CHAR) hit = Int32Array.of(f);
    else {
      // a rule reference: its alternatives, continuing after the reference (no frame when that is the end: tail call)
      const next = pos + 2;
      const parent = this.frameParent[f]!;
      const cont = code[next] === OP_END ? parent : this.intern(next, parent);
      const out: number[] = [];
      for (const a of ruleAlts[code[pos + 1]!]!) this.expandRaw(a, cont, out);
      hit = sortedUnique(out);
      if (hit.length > this.limits.maxStacks) this.tooMany(hit.length);
    }
    this.expanded.set(f, hit);
    return hit;
  }

  private tooMany(n: number): never {
    this.fail(`the grammar is too ambiguous: ${n} parse stacks at once, more than the limit of ${this.limits.maxStacks}`);
  }

  private internSet(stacks: number[]): number {
    const sorted = sortedUnique(stacks);
    if (sorted.length > this.limits.maxStacks) this.tooMany(sorted.length);
    const key = sorted.join(',');
    let id = this.setIndex.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(sorted);
      this.asciiNext.push(undefined);
      this.setIndex.set(key, id);
      if (this.size > this.limits.maxFrames) this.fail(`the grammar needs more than ${this.limits.maxFrames} parse states (too deep or too ambiguous)`);
    }
    return id;
  }

  /** The set after the code point cp, or DEAD. */
  next(set: number, cp: number): number {
    if (cp < 128) return (this.asciiNext[set] ?? this.fillAscii(set))[cp]!;
    const key = set * 0x110000 + cp;
    let v = this.nextMemo.get(key);
    if (v === undefined) {
      v = this.advance(set, cp);
      this.nextMemo.set(key, v);
    }
    return v;
  }

  /**
   * Every ASCII transition of a set at once. The set after a character depends only on which stacks match it,
   * so characters are grouped by that subset (a bitmask when the set has at most 31 stacks) and each distinct
   * subset is advanced once: inside a JSON string, ~90 characters share one.
   */
  private fillAscii(set: number): Int32Array {
    const row = new Int32Array(128);
    const stacks = this.sets[set]!;
    if (stacks.length > 31) {
      for (let b = 0; b < 128; b++) row[b] = this.advance(set, b);
    } else {
      const { code, sets } = this.g;
      const masks = new Int32Array(128);
      for (let i = 0; i < stacks.length; i++) {
        const s = stacks[i]!;
        if (s === 0) continue;
        const ascii = sets[code[this.framePos[s]! + 1]!]!.ascii;
        for (let w = 0; w < 4; w++) {
          for (let bits = ascii[w]!; bits !== 0; bits &= bits - 1) masks[w * 32 + 31 - Math.clz32(bits & -bits)]! |= 1 << i;
        }
      }
      for (let b = 0; b < 128; b++) row[b] = masks[b] === 0 ? DEAD : this.advanceSubset(set, masks[b]!);
    }
    this.asciiNext[set] = row;
    return row;
  }

  /** The set after the stacks of `set` picked by the bitmask m each consume a character. */
  private advanceSubset(set: number, m: number): number {
    const key = set * 0x80000000 + m;
    let r = this.subsetMemo.get(key);
    if (r === undefined) {
      const stacks = this.sets[set]!;
      const out: number[] = [];
      for (let i = 0; i < stacks.length; i++) {
        if ((m & (1 << i)) === 0) continue;
        const s = stacks[i]!;
        this.expandRaw(this.framePos[s]! + 2, this.frameParent[s]!, out);
      }
      r = this.internSet(out);
      this.subsetMemo.set(key, r);
    }
    return r;
  }

  private advance(set: number, cp: number): number {
    const { code, sets } = this.g;
    const stacks = this.sets[set]!;
    if (stacks.length <= 31) {
      let m = 0;
      for (let i = 0; i < stacks.length; i++) {
        const s = stacks[i]!;
        if (s !== 0 && charSetHas(sets[code[this.framePos[s]! + 1]!]!, cp)) m |= 1 << i;
      }
      return m === 0 ? DEAD : this.advanceSubset(set, m);
    }
    const out: number[] = [];
    for (const s of stacks) {
      if (s === 0) continue;
      const pos = this.framePos[s]!;
      if (charSetHas(sets[code[pos + 1]!]!, cp)) this.expandRaw(pos + 2, this.frameParent[s]!, out);
    }
    return out.length === 0 ? DEAD : this.internSet(out);
  }

  /**
   * Whether some code point can follow that starts with the partial UTF-8 sequence pv (its bits so far under a
   * sentinel bit that marks the sequence's length, see utf8Lead) with pr continuation bytes to come.
   */
  partialOk(set: number, pv: number, pr: number): boolean {
    const key = set * 0x1000000 + pv * 4 + pr;
    const hit = this.partialMemo.get(key);
    if (hit !== undefined) return hit;
    const top = 31 - Math.clz32(pv);
    const base = (pv ^ (1 << top)) << (6 * pr);
    const lo = Math.max(base, minCodePoint(top + 6 * pr));
    const hi = Math.min(base + (1 << (6 * pr)) - 1, 0x10ffff);
    const { code, sets } = this.g;
    let ok = false;
    if (lo <= hi) {
      for (const s of this.sets[set]!) {
        if (s !== 0 && charSetHits(sets[code[this.framePos[s]! + 1]!]!, lo, hi)) {
          ok = true;
          break;
        }
      }
    }
    this.partialMemo.set(key, ok);
    return ok;
  }

  /** The set contains the empty stack: the grammar may end here. */
  accepting(set: number): boolean {
    return this.sets[set]![0] === 0;
  }

  /** Only the empty stack: nothing more can follow. */
  finished(set: number): boolean {
    const s = this.sets[set]!;
    return s.length === 1 && s[0] === 0;
  }
}

function sortedUnique(a: number[]): Int32Array {
  const s = Int32Array.from(a).sort();
  let n = 0;
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[i - 1]) s[n++] = s[i]!;
  return n === s.length ? s : s.slice(0, n);
}

/** Smallest code point a UTF-8 sequence may encode, by the bit position of its completed sentinel (11, 16, 21). */
function minCodePoint(sentinelBit: number): number {
  return sentinelBit === 11 ? 0x80 : sentinelBit === 16 ? 0x800 : 0x10000;
}

/** A lead byte's payload under a sentinel bit (its position says the sequence length), or -1 if b leads nothing. */
export function utf8Lead(b: number): number {
  if (b >= 0xc2 && b <= 0xdf) return (b & 0x1f) | 0x20;
  if (b >= 0xe0 && b <= 0xef) return (b & 0x0f) | 0x10;
  if (b >= 0xf0 && b <= 0xf4) return (b & 0x07) | 0x08;
  return -1;
}

/** The code point of a completed sequence (sentinel included), or -1 if overlong or past U+10FFFF. */
export function utf8Complete(pv: number): number {
  const top = 31 - Math.clz32(pv);
  const cp = pv ^ (1 << top);
  return cp < minCodePoint(top) || cp > 0x10ffff ? -1 : cp;
}

/** Continuation bytes after a lead byte. */
export const utf8Rest = (b: number): number => (b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : 1);

/**
 * A matcher position: a state set and a partial UTF-8 sequence (pv: its bits so far under a sentinel bit; pr:
 * continuation bytes still to come). stepByte() writes the result into the same object and returns false on
 * a dead end.
 */
export interface BytePos {
  set: number;
  pv: number;
  pr: number;
}

export function stepByte(space: StateSpace, p: BytePos, b: number): boolean {
  if (p.pr === 0) {
    if (b < 0x80) {
      const n = space.next(p.set, b);
      if (n === DEAD) return false;
      p.set = n;
      return true;
    }
    const v = utf8Lead(b);
    if (v < 0) return false;
    p.pv = v;
    p.pr = utf8Rest(b);
    return space.partialOk(p.set, p.pv, p.pr);
  }
  if ((b & 0xc0) !== 0x80) return false;
  p.pv = (p.pv << 6) | (b & 0x3f);
  p.pr--;
  if (p.pr > 0) return space.partialOk(p.set, p.pv, p.pr);
  const cp = utf8Complete(p.pv);
  p.pv = 0;
  if (cp < 0) return false;
  const n = space.next(p.set, cp);
  if (n === DEAD) return false;
  p.set = n;
  return true;
}
