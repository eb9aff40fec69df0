// TokenConstraint: one generation's position in a grammar, over a tokenizer's vocabulary. allows() checks one
// token by walking its bytes (the greedy fast path); mask() builds the allowed-token bitset by walking the
// vocabulary trie from the current state, pruning dead branches, and keeps it in an LRU keyed by the state,
// so a state seen before (inside a string, between properties) costs one lookup.
import { BitnetError } from '../errors.js';
import { DEAD, stepByte, utf8Complete, utf8Lead, utf8Rest, type BytePos, type StateSpace } from './matcher.js';
import type { TokenTrie } from './vocab.js';

export interface TokenConstraint {
  allows(token: number): boolean;
  /** sets every disallowed id of the row (ids past the vocabulary included) to -Infinity */
  mask(logits: Float32Array): void;
  /** advances past an allowed token; throws BitnetError('GRAMMAR') otherwise */
  accept(token: number): void;
  /**
   * The allowed token ids in ascending order (end tokens included when canEnd); with onlyIfCheap, undefined
   * unless the list is at hand (this state's mask cached and at most 4096 tokens allowed).
   */
  allowedTokens(onlyIfCheap?: boolean): Int32Array | undefined;
  /** the grammar is complete here: end-of-generation tokens are allowed */
  readonly canEnd: boolean;
  /** nothing more can follow: generation ends with finish reason 'stop' */
  readonly mustEnd: boolean;
}

/** Allowed-token bitsets of one state space over one vocabulary, most recently used last. */
export class MaskCache {
  private readonly map = new Map<number, Uint32Array>();
  /** allowed ids per cached mask, listed on first use */
  private readonly lists = new WeakMap<Uint32Array, Int32Array>();
  hits = 0;
  misses = 0;
  constructor(
    readonly space: StateSpace,
    readonly trie: TokenTrie,
    private readonly capacity: number,
  ) {}

  get(set: number, pv: number, pr: number): Uint32Array {
    const key = set * 0x1000000 + pv * 4 + pr;
    let bits = this.map.get(key);
    if (bits !== undefined) {
      this.hits++;
      this.map.delete(key);
      this.map.set(key, bits);
      return bits;
    }
    this.misses++;
    bits = new Uint32Array((this.trie.vocabSize + 31) >>> 5);
    const t = this.trie;
    const sp = this.space;
    // depth-first over the trie; a token is allowed when the walk reaches its node alive
    const walk = (node: number, set: number, pv: number, pr: number): void => {
      for (let i = t.tokStart[node]!, e = t.tokStart[node + 1]!; i < e; i++) {
        const id = t.tokIds[i]!;
        bits![id >>> 5]! |= 1 << (id & 31);
      }
      for (let e = t.edgeStart[node]!, end = t.edgeStart[node + 1]!; e < end; e++) {
        const b = t.edgeByte[e]!;
        const child = t.edgeChild[e]!;
        if (pr === 0) {
          if (b < 0x80) {
            const n = sp.next(set, b);
            if (n !== DEAD) walk(child, n, 0, 0);
            continue;
          }
          const v = utf8Lead(b);
          if (v >= 0 && sp.partialOk(set, v, utf8Rest(b))) walk(child, set, v, utf8Rest(b));
        } else {
          if ((b & 0xc0) !== 0x80) continue;
          const v = (pv << 6) | (b & 0x3f);
          if (pr > 1) {
            if (sp.partialOk(set, v, pr - 1)) walk(child, set, v, pr - 1);
          } else {
            const cp = utf8Complete(v);
            const n = cp < 0 ? DEAD : sp.next(set, cp);
            if (n !== DEAD) walk(child, n, 0, 0);
          }
        }
      }
    };
    walk(0, set, pv, pr);
    if (this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, bits);
    this.list(bits); // kept when short
    return bits;
  }

  peek(set: number, pv: number, pr: number): Uint32Array | undefined {
    return this.map.get(set * 0x1000000 + pv * 4 + pr);
  }

  /** The ids a cached mask allows, when short enough to be kept with it. */
  shortList(bits: Uint32Array): Int32Array | undefined {
    return this.lists.get(bits);
  }

  /** The ids a mask allows, ascending (kept with the mask when short). */
  list(bits: Uint32Array): Int32Array {
    let ids = this.lists.get(bits);
    if (ids === undefined) {
      let n = 0;
      for (let w = 0; w < bits.length; w++) {
        let m = bits[w]!;
        while (m !== 0) {
          m &= m - 1;
          n++;
        }
      }
      ids = new Int32Array(n);
      let k = 0;
      for (let w = 0; w < bits.length; w++) {
        const m = bits[w]!;
        if (m === 0) continue;
        for (let j = 0; j < 32; j++) if ((m & (1 << j)) !== 0) ids[k++] = w * 32 + j;
      }
      // long lists (permissive states) are rebuilt when asked: the constrained sampler rarely needs them
      if (n <= 4096) this.lists.set(bits, ids);
    }
    return ids;
  }
}

export class GrammarConstraint implements TokenConstraint {
  private readonly pos: BytePos;
  private readonly scratch: BytePos = { set: 0, pv: 0, pr: 0 };
  private readonly ends: Set<number>;
  private ended = false;
  /** allowed lists with the end tokens added, per list */
  private readonly withEnds = new WeakMap<Int32Array, Int32Array>();

  constructor(
    private readonly cache: MaskCache,
    endTokens: readonly number[],
    private readonly subject: string,
  ) {
    this.pos = { set: cache.space.initial, pv: 0, pr: 0 };
    this.ends = new Set(endTokens);
  }

  get canEnd(): boolean {
    return !this.ended && this.pos.pr === 0 && this.cache.space.accepting(this.pos.set);
  }

  get mustEnd(): boolean {
    return this.ended || (this.pos.pr === 0 && this.cache.space.finished(this.pos.set));
  }

  allows(token: number): boolean {
    if (this.ended) return false;
    if (this.ends.has(token)) return this.canEnd;
    const { pos, cache } = this;
    const bits = cache.peek(pos.set, pos.pv, pos.pr);
    if (bits !== undefined) return token >= 0 && token < cache.trie.vocabSize && (bits[token >>> 5]! & (1 << (token & 31))) !== 0;
    return this.walkToken(token);
  }

  /** runs the token's bytes from the current position into scratch; false when it leaves the grammar */
  private walkToken(token: number): boolean {
    const bytes = token >= 0 && token < this.cache.trie.vocabSize ? this.cache.trie.bytes[token] : null;
    if (!bytes) return false;
    const p = this.scratch;
    p.set = this.pos.set;
    p.pv = this.pos.pv;
    p.pr = this.pos.pr;
    for (let i = 0; i < bytes.length; i++) if (!stepByte(this.cache.space, p, bytes[i]!)) return false;
    return true;
  }

  mask(logits: Float32Array): void {
    const vocab = this.cache.trie.vocabSize;
    const saved: Array<[number, number]> = [];
    for (const t of this.ends) if (t < logits.length) saved.push([t, logits[t]!]);
    if (this.ended) logits.fill(-Infinity);
    else {
      const bits = this.cache.get(this.pos.set, this.pos.pv, this.pos.pr);
      const n = Math.min(vocab, logits.length);
      for (let w = 0, base = 0; base < n; w++, base += 32) {
        const m = bits[w]!;
        if (m === 0xffffffff) continue;
        const top = Math.min(32, n - base);
        if (m === 0) logits.fill(-Infinity, base, base + top);
        else for (let j = 0; j < top; j++) if ((m & (1 << j)) === 0) logits[base + j] = -Infinity;
      }
      if (logits.length > vocab) logits.fill(-Infinity, vocab);
    }
    const can = this.canEnd;
    for (const [t, v] of saved) logits[t] = can ? v : -Infinity;
  }

  allowedTokens(onlyIfCheap = false): Int32Array | undefined {
    if (this.ended) return new Int32Array(0);
    const { pos, cache } = this;
    let ids: Int32Array | undefined;
    if (onlyIfCheap) {
      const bits = cache.peek(pos.set, pos.pv, pos.pr);
      ids = bits && cache.shortList(bits);
      if (ids === undefined) return undefined;
    } else ids = cache.list(cache.get(pos.set, pos.pv, pos.pr));
    if (!this.canEnd || this.ends.size === 0) return ids;
    let out = this.withEnds.get(ids);
    if (out === undefined) {
      out = new Int32Array(ids.length + this.ends.size);
      out.set(ids);
      let k = ids.length;
      for (const t of this.ends) out[k++] = t;
      out.sort();
      this.withEnds.set(ids, out);
    }
    return out;
  }

  accept(token: number): void {
    if (this.ends.has(token)) {
      if (!this.canEnd) this.refuse(token, 'the grammar is not complete');
      this.ended = true;
      return;
    }
    if (this.ended || !this.walkToken(token)) this.refuse(token, this.ended ? 'the grammar has ended' : 'the grammar does not allow it here');
    this.pos.set = this.scratch.set;
    this.pos.pv = this.scratch.pv;
    this.pos.pr = this.scratch.pr;
  }

  private refuse(token: number, why: string): never {
    throw new BitnetError('GRAMMAR', `token ${token} cannot be accepted: ${why}`, { name: this.subject });
  }
}
