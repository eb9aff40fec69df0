// The matcher's reference twin: a plain recursive-descent acceptor over the GBNF syntax tree (sets of end
// positions, memoized per rule and position), written independently of the flat rules, stacks and tries. It
// answers "is this text in the language" and "can this text be continued into it" (a viable prefix).
// Not a test file itself.
import type { GNode, GrammarAst } from '../../../src/grammar/index.js';

export class Acceptor {
  constructor(private readonly ast: GrammarAst) {}

  /** The whole text is a sentence of the grammar. */
  accepts(text: string): boolean {
    return this.run(text, false).has(Array.from(text).length);
  }

  /** The text is the start of some sentence. */
  viable(text: string): boolean {
    const n = Array.from(text).length;
    const ends = this.run(text, true);
    return ends.has(n) || ends.has(n + 1);
  }

  private run(text: string, prefix: boolean): Set<number> {
    const cps = Array.from(text, (c) => c.codePointAt(0)!);
    const n = cps.length;
    const END = n + 1; // ran out of input while still matching: viable
    const memo = new Map<string, number[]>();
    const ends = (node: GNode, i: number): number[] => {
      if (i === END) return [END];
      switch (node.k) {
        case 'lit': {
          let j = i;
          for (const c of node.cps) {
            if (j === n) return prefix ? [END] : [];
            if (cps[j] !== c) return [];
            j++;
          }
          return [j];
        }
        case 'cls': {
          if (i === n) return prefix ? [END] : [];
          const c = cps[i]!;
          let hit = false;
          for (let k = 0; k < node.ranges.length; k += 2) if (c >= node.ranges[k]! && c <= node.ranges[k + 1]!) hit = true;
          return hit !== node.neg ? [i + 1] : [];
        }
        case 'seq': {
          let cur = [i];
          for (const item of node.items) {
            const next = new Set<number>();
            for (const s of cur) for (const e of ends(item, s)) next.add(e);
            if (next.size === 0) return [];
            cur = [...next];
          }
          return cur;
        }
        case 'alt': {
          const out = new Set<number>();
          for (const a of node.alts) for (const e of ends(a, i)) out.add(e);
          return [...out];
        }
        case 'ref': {
          const key = `${node.name}:${i}`;
          let hit = memo.get(key);
          if (hit === undefined) {
            memo.set(key, []); // (no left recursion: never read before it is set)
            hit = ends(this.ast.rules.get(node.name)!.body, i);
            memo.set(key, hit);
          }
          return hit;
        }
        case 'rep': {
          const out = new Set<number>();
          let cur = new Set([i]);
          const seen = new Set<number>();
          if (node.min === 0) out.add(i);
          for (let k = 1; k <= node.max && cur.size > 0; k++) {
            const next = new Set<number>();
            for (const s of cur) for (const e of ends(node.node, s)) next.add(e);
            if (k >= node.min) {
              // past the minimum, positions seen before add nothing new
              for (const e of [...next]) {
                if (seen.has(e)) next.delete(e);
                else {
                  seen.add(e);
                  out.add(e);
                }
              }
            }
            cur = next;
          }
          return [...out];
        }
      }
    };
    return new Set(ends(this.ast.rules.get(this.ast.root)!.body, 0));
  }
}
