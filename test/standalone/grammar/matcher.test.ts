// The token-level matcher against its reference twin (the recursive-descent acceptor) over the genuine 128k
// Llama-3 vocabulary: random JSON documents (and mutated ones) fed as their real tokenization, and random
// token sequences (allowed and arbitrary tokens, multi-byte characters split across tokens). allows(), the
// mask, the allowed-token list and accept() must all agree with the acceptor and with each other.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { compileGrammar, createConstraint, type CompiledGrammar, type TokenConstraint } from '../../../src/grammar/index.js';
import { Tokenizer } from '../../../src/tokenizer/index.js';
import { Rng } from '../../../src/util/rng.js';
import { hfVocab, LENML } from '../tokenizer/data.js';
import { astOf, JSON_GBNF } from './grammars.js';
import { Acceptor } from './reference.js';

const HAVE = existsSync(`${LENML}tokenizer.json`);
const skip = HAVE ? false : `the Llama-3 vocabulary is absent (${LENML})`;
let tokenizer: Tokenizer | undefined;
const tok = (): Tokenizer => (tokenizer ??= new Tokenizer(hfVocab()));

const decoder = new TextDecoder('utf-8', { fatal: true });
/** The text of the bytes, or undefined when they end inside a character (or are not UTF-8). */
function textOf(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** allows() equals the mask's verdict and the allowed list's for token t. */
function consistent(c: TokenConstraint, t: number, row: Float32Array, list: Int32Array): void {
  const a = c.allows(t);
  assert.equal(a, row[t] === 0, `token ${t}: allows() ${a} but the mask says ${row[t]}`);
  let lo = 0;
  let hi = list.length - 1;
  let found = false;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid] === t) {
      found = true;
      break;
    }
    if (list[mid]! < t) lo = mid + 1;
    else hi = mid - 1;
  }
  assert.equal(a, found, `token ${t}: allows() ${a} but the allowed list says ${found}`);
}

function maskRow(c: TokenConstraint, n: number): Float32Array {
  const row = new Float32Array(n + 8);
  c.mask(row);
  for (let i = n; i < row.length; i++) assert.equal(row[i], -Infinity, 'ids past the vocabulary are masked');
  return row;
}

/** A random JSON value; objects and arrays up to `depth` deep; strings with escapes and non-ASCII. */
function randomJson(rng: Rng, depth: number): unknown {
  const r = rng.next();
  const str = (): string => {
    const parts = ['a', 'Z', ' ', 'é', '日本', '😀', '"', '\\', '\n', '\u0001', 'x y', '€', '/'];
    return Array.from({ length: Math.floor(rng.next() * 6) }, () => parts[Math.floor(rng.next() * parts.length)]).join('');
  };
  if (depth > 0 && r < 0.25) return Object.fromEntries(Array.from({ length: Math.floor(rng.next() * 4) }, () => [str(), randomJson(rng, depth - 1)]));
  if (depth > 0 && r < 0.45) return Array.from({ length: Math.floor(rng.next() * 4) }, () => randomJson(rng, depth - 1));
  if (r < 0.65) return str();
  if (r < 0.8) return Math.round((rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 6)) / (rng.next() < 0.5 ? 1 : 8);
  return [true, false, null][Math.floor(rng.next() * 3)];
}

/** JSON text with random whitespace of the kinds the test JSON grammar allows. */
function serialize(rng: Rng, v: unknown): string {
  const ws = (): string => {
    const r = rng.next();
    return r < 0.5 ? '' : r < 0.8 ? ' ' : `\n${' '.repeat(Math.floor(rng.next() * 5))}`;
  };
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => `${serialize(rng, x)}${ws()}`).join(`,${ws()}`)}]`;
  if (v !== null && typeof v === 'object') return `{${ws()}${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${serialize(rng, x)}${ws()}`).join(`,${ws()}`)}}`;
  return JSON.stringify(v);
}

function feedDocument(g: CompiledGrammar, twin: Acceptor, doc: string, check: boolean): void {
  const t = tok();
  const c = createConstraint(g, t, t.stopTokens);
  let bytes: Uint8Array = new Uint8Array(0);
  for (const id of t.encode(doc, { addBos: false })) {
    const next = concat(bytes, t.tokenBytes(id));
    const text = textOf(next);
    const allowed = c.allows(id);
    if (text !== undefined) assert.equal(allowed, twin.viable(text), `${JSON.stringify(text)}: matcher ${allowed}`);
    if (check) consistent(c, id, maskRow(c, t.vocabSize), c.allowedTokens()!);
    if (!allowed) return;
    c.accept(id);
    bytes = next;
  }
  assert.equal(c.canEnd, twin.accepts(doc), `${JSON.stringify(doc)}: canEnd ${c.canEnd}`);
  for (const end of t.stopTokens) assert.equal(c.allows(end), c.canEnd);
}

test('random JSON documents and mutations: the matcher agrees with the acceptor token by token', { skip }, () => {
  const rng = new Rng(11);
  const grammars: Array<[CompiledGrammar, Acceptor]> = [JSON_GBNF, compileGrammar({ json: true }).gbnf].map((text) => [compileGrammar({ gbnf: text }), new Acceptor(astOf(text))]);
  let docs = 0;
  for (let i = 0; i < 60; i++) {
    const v = { k: randomJson(rng, 3), [`n${i}`]: randomJson(rng, 2) };
    const doc = serialize(rng, v);
    const chars = Array.from(doc);
    // a mutation: a character deleted, duplicated or replaced
    const at = Math.floor(rng.next() * chars.length);
    const m = rng.next();
    const bad = [...chars.slice(0, at), ...(m < 0.33 ? [] : m < 0.66 ? [chars[at]!, chars[at]!] : ['}']), ...chars.slice(at + 1)].join('');
    for (const [g, twin] of grammars) {
      feedDocument(g, twin, doc, i % 10 === 0);
      feedDocument(g, twin, bad, false);
      docs += 2;
    }
  }
  assert.equal(docs, 240);
});

test('random token sequences over the Llama-3 vocabulary: allows, mask, list and accept agree with the acceptor', { skip }, () => {
  const t = tok();
  const grammars = [
    JSON_GBNF,
    'root ::= ([α-ω]+ | "😀" | [^a-zα-ω"]{1,3} | "ok" [0-9]?) ("," root)?',
    'root ::= "{" ws ("\\"k\\"" ws ":" ws [0-9]{1,3} ws)? "}"\nws ::= [ \\n]*',
  ];
  const rng = new Rng(5);
  let compared = 0;
  for (const text of grammars) {
    const g = compileGrammar({ gbnf: text });
    const twin = new Acceptor(astOf(text));
    for (let run = 0; run < 4; run++) {
      const c = createConstraint(g, t, t.stopTokens);
      let bytes: Uint8Array = new Uint8Array(0);
      for (let step = 0; step < 40 && !c.mustEnd; step++) {
        const list = c.allowedTokens()!;
        const row = maskRow(c, t.vocabSize);
        // probes: arbitrary tokens (mostly refused) and allowed ones, compared with the acceptor
        for (let k = 0; k < 30; k++) {
          const id = k % 2 ? Math.floor(rng.next() * t.vocabSize) : list[Math.floor(rng.next() * list.length)]!;
          consistent(c, id, row, list);
          if (t.isSpecial(id)) continue;
          const s = textOf(concat(bytes, t.tokenBytes(id)));
          if (s === undefined) continue;
          assert.equal(c.allows(id), twin.viable(s), `${JSON.stringify(s)}: allows ${c.allows(id)}`);
          compared++;
        }
        const choices = Array.from(list).filter((id) => !t.stopTokens.includes(id));
        if (choices.length === 0) break;
        const id = choices[Math.floor(rng.next() * choices.length)]!;
        c.accept(id);
        bytes = concat(bytes, t.tokenBytes(id));
      }
      const s = textOf(bytes);
      if (s !== undefined) assert.equal(c.canEnd, twin.accepts(s), `${JSON.stringify(s)}: canEnd ${c.canEnd}`);
    }
  }
  assert.ok(compared > 1000, `only ${compared} comparisons`);
});

test('a character split across tokens: its lead byte is allowed only where the character can follow', { skip }, () => {
  const t = tok();
  // the byte tokens of é (C3 A9) and 😀 (F0 9F 98 80), found by their bytes
  const ids = new Map<number, number>();
  for (let id = 0; id < t.vocabSize && ids.size < 256; id++) {
    if (t.isSpecial(id)) continue;
    const b = t.tokenBytes(id);
    if (b.length === 1 && !ids.has(b[0]!)) ids.set(b[0]!, id);
  }
  const g = compileGrammar({ gbnf: 'root ::= "é" | "😀" [a]' });
  const c = createConstraint(g, t, t.stopTokens);
  assert.ok(c.allows(ids.get(0xc3)!));
  assert.ok(c.allows(ids.get(0xf0)!));
  assert.ok(!c.allows(ids.get(0xe2)!), 'no allowed character starts with E2');
  assert.ok(!c.allows(ids.get(0xa9)!), 'a continuation byte cannot start');
  c.accept(ids.get(0xf0)!);
  assert.ok(!c.allows(ids.get(0xa9)!), 'F0 A9 .. is not 😀');
  assert.ok(c.allows(ids.get(0x9f)!));
  for (const b of [0x9f, 0x98, 0x80]) c.accept(ids.get(b)!);
  assert.ok(!c.canEnd);
  assert.ok(c.allows(t.tokenId('a')!));
  c.accept(t.tokenId('a')!);
  assert.ok(c.canEnd && c.mustEnd);
});
