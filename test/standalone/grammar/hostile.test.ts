// Hostile schemas and grammars: deep nesting, huge inputs, catastrophic-backtracking patterns, left recursion
// and explosive state counts are refused with GRAMMAR errors (or, for the backtracking patterns, matched in
// linear time) within bounded time; a typical tool schema compiles well under the 50 ms budget.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { compileGrammar, type GrammarSpec } from '../../../src/grammar/index.js';
import { StateSpace, stepByte, type BytePos } from '../../../src/grammar/matcher.js';

const isGrammar = (re: RegExp) => (e: unknown): boolean => e instanceof BitnetError && e.code === 'GRAMMAR' && re.test(e.message);

/** Refused with a GRAMMAR error matching re, within ms milliseconds. */
function refused(spec: GrammarSpec, re: RegExp, ms = 3000): void {
  const t0 = performance.now();
  assert.throws(() => compileGrammar(spec), isGrammar(re));
  const took = performance.now() - t0;
  assert.ok(took < ms, `refused after ${took.toFixed(0)} ms`);
}

test('deeply nested schemas and grammars are refused by depth', () => {
  let schema: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < 5000; i++) schema = { type: 'object', properties: { a: schema }, required: ['a'] };
  refused({ jsonSchema: schema }, /nested more than 64 deep/);
  let arr: unknown = {};
  for (let i = 0; i < 5000; i++) arr = { type: 'array', items: arr };
  refused({ jsonSchema: arr }, /nested more than 64 deep/);
  refused({ gbnf: `root ::= ${'('.repeat(5000)}"a"${')'.repeat(5000)}` }, /groups nested more than 64 deep/);
  refused({ jsonSchema: { type: 'string', pattern: `^${'('.repeat(500)}a${')'.repeat(500)}$` } }, /groups nested more than 64 deep/);
});

test('huge schemas and grammars are refused by size', () => {
  const properties = Object.fromEntries(Array.from({ length: 30000 }, (_, i) => [`p${i}`, { type: 'integer' }]));
  refused({ jsonSchema: { type: 'object', properties, additionalProperties: false } }, /more than \d+ (rules|characters|elements)/);
  refused({ gbnf: `root ::= "${'a'.repeat(2 << 20)}"` }, /more than the limit of 1048576/);
  refused({ gbnf: `root ::= ${Array.from({ length: 21 }, (_, i) => `"${String.fromCharCode(97 + i)}"{10000}`).join(' ')}` }, /expands to more than 200000 elements/);
  refused({ jsonSchema: { type: 'string', pattern: `^${'a'.repeat(5000)}$` } }, /more than the limit of 4096/);
  refused({ jsonSchema: { type: 'array', maxItems: 1e9 } }, /repetition count over the limit/);
  refused({ gbnf: 'root ::= "a"{100000}' }, /repetition count over the limit/);
});

test('a compile-time budget bounds the rest', () => {
  const properties = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`p${i}`, { type: 'string', maxLength: 5 }]));
  assert.throws(() => compileGrammar({ jsonSchema: { type: 'object', properties } }, { maxCompileMs: 5 }), isGrammar(/took longer than 5 ms to compile/));
});

test('catastrophic-backtracking patterns are matched in linear time (a set of stacks, no backtracking)', () => {
  for (const pattern of ['^(a+)+$', '^(a|a)*$', '^(a|aa)+b$', '^(\\w+\\s?)*$', '^(x+x+)+y$']) {
    const t0 = performance.now();
    const g = compileGrammar({ jsonSchema: { type: 'string', pattern } });
    const space = new StateSpace(g.flat, g.limits, 'test');
    const p: BytePos = { set: space.initial, pv: 0, pr: 0 };
    let alive = stepByte(space, p, 0x22);
    const ch = pattern.includes('x') ? 0x78 : 0x61;
    for (let i = 0; i < 20000 && alive; i++) alive = stepByte(space, p, ch);
    assert.ok(alive, `${pattern}: a run of 20000 characters is a viable prefix`);
    assert.equal(stepByte(space, p, 0x21), false, `${pattern}: "!" ends it`);
    const took = performance.now() - t0;
    assert.ok(took < 2000, `${pattern}: ${took.toFixed(0)} ms`);
  }
});

test('left recursion is refused at compile time', () => {
  refused({ gbnf: 'root ::= expr\nexpr ::= expr "+" term | term\nterm ::= [0-9]' }, /rule "expr" can start with itself/);
  refused({ gbnf: 'root ::= a\na ::= b "x"\nb ::= c? a\nc ::= "c"' }, /left recursion through "a" -> "b" -> "a"/);
  refused({ gbnf: 'root ::= ("" | "a")*' }, /can match the empty string/);
  // a schema whose $ref points back at itself before consuming anything
  refused({ jsonSchema: { $defs: { x: { anyOf: [{ $ref: '#/$defs/x' }, { type: 'null' }] } }, $ref: '#/$defs/x' } }, /left recursion|can start with itself/);
});

test('explosive state counts are refused: at compile time where a position expands too far, else on the token that explodes', () => {
  refused({ gbnf: 'root ::= ("a"?){2000}' }, /too ambiguous: \d+ parse stacks/);
  refused({ gbnf: 'root ::= "x" ("a"?){2000} "b"' }, /too ambiguous/);
  // 2^n distinct stacks after n "(" : refused on the 11th, in bounded time
  const g = compileGrammar({ gbnf: 'root ::= x\nx ::= "(" x ")" | "(" x "]" | "z"' });
  const space = new StateSpace(g.flat, g.limits, 'test');
  const p: BytePos = { set: space.initial, pv: 0, pr: 0 };
  const t0 = performance.now();
  assert.throws(() => {
    for (let i = 0; i < 20; i++) stepByte(space, p, 0x28);
  }, isGrammar(/too ambiguous: \d+ parse stacks at once, more than the limit of 1024/));
  assert.ok(performance.now() - t0 < 2000);
  // nested counted repetitions share their rules (small grammars) but their splits multiply: refused on the
  // character where the stacks pass the limit
  for (const spec of [{ gbnf: 'root ::= ((("a"{1,100}){1,100}){1,100})' }, { jsonSchema: { type: 'string', pattern: '^((a{1,90}){1,90}){1,90}$' } }]) {
    const g2 = compileGrammar(spec);
    const s2 = new StateSpace(g2.flat, g2.limits, 'test');
    const p2: BytePos = { set: s2.initial, pv: 0, pr: 0 };
    const t1 = performance.now();
    assert.throws(() => {
      if ('jsonSchema' in spec) stepByte(s2, p2, 0x22);
      for (let i = 0; i < 1000; i++) stepByte(s2, p2, 0x61);
    }, isGrammar(/too ambiguous/));
    assert.ok(performance.now() - t1 < 2000);
  }
});

test('the same input compiles once: a repeated schema gets the same grammar (its masks already cached)', () => {
  const schema = { type: 'object', properties: { a: { type: 'integer' } } };
  assert.equal(compileGrammar({ jsonSchema: schema }), compileGrammar({ jsonSchema: structuredClone(schema) }));
  assert.notEqual(compileGrammar({ jsonSchema: schema }), compileGrammar({ jsonSchema: schema }, { maxStacks: 100 }));
});

test('a typical tool schema compiles in well under 50 ms', () => {
  const tool = {
    type: 'object',
    properties: {
      name: { const: 'search' },
      arguments: { type: 'object', properties: { query: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 50 }, lang: { enum: ['en', 'fr', 'de'] }, since: { type: 'string', format: 'date' } }, required: ['query'], additionalProperties: false },
    },
    required: ['name', 'arguments'],
    additionalProperties: false,
  };
  compileGrammar({ jsonSchema: tool });
  // distinct limits each time: the same input again would come from compileGrammar's LRU of recent inputs
  const times = Array.from({ length: 7 }, (_, i) => {
    const t0 = performance.now();
    compileGrammar({ jsonSchema: tool }, { maxCompileMs: 2000 + i });
    return performance.now() - t0;
  }).sort((a, b) => a - b);
  assert.ok(times[3]! < 50, `median ${times[3]!.toFixed(1)} ms`);
});
