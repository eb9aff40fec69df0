// The GBNF dialect: every feature parses and matches what the reference acceptor says (character by character
// over random strings, valid prefixes and probes), the test grammars (JSON, arithmetic, list, C-like) accept
// and refuse what they should, and malformed grammars are GRAMMAR errors naming the line, column and problem.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { compileGrammar, type CompiledGrammar } from '../../../src/grammar/index.js';
import { StateSpace, stepByte, type BytePos } from '../../../src/grammar/matcher.js';
import { Rng } from '../../../src/util/rng.js';
import { astOf, GRAMMARS } from './grammars.js';
import { Acceptor } from './reference.js';

/** The matcher run over text's UTF-8 bytes: 'dead', 'viable' (a prefix) or 'complete'. */
function run(space: StateSpace, text: string): 'dead' | 'viable' | 'complete' {
  const p: BytePos = { set: space.initial, pv: 0, pr: 0 };
  for (const b of new TextEncoder().encode(text)) if (!stepByte(space, p, b)) return 'dead';
  return p.pr === 0 && space.accepting(p.set) ? 'complete' : 'viable';
}

function spaceOf(g: CompiledGrammar): StateSpace {
  return new StateSpace(g.flat, g.limits, 'test');
}

/** Random walks over an alphabet: every prefix tried is judged the same by the matcher and the acceptor. */
function agree(text: string, alphabet: string[], walks: number, seed: number, maxLen = 40): number {
  const g = compileGrammar({ gbnf: text });
  const space = spaceOf(g);
  const twin = new Acceptor(astOf(text));
  const rng = new Rng(seed);
  let complete = 0;
  for (let w = 0; w < walks; w++) {
    let s = '';
    for (let k = 0; k < maxLen; k++) {
      const next = s + alphabet[Math.floor(rng.next() * alphabet.length)]!;
      const m = run(space, next);
      const viable = twin.viable(next);
      assert.equal(m !== 'dead', viable, `${JSON.stringify(next)}: matcher ${m}, acceptor viable=${viable}`);
      assert.equal(m === 'complete', twin.accepts(next), `${JSON.stringify(next)}: matcher ${m}, acceptor accepts=${twin.accepts(next)}`);
      if (m === 'complete') complete++;
      if (m !== 'dead') s = next; // extend valid prefixes, probe from them
    }
  }
  return complete;
}

test('every dialect feature matches what the reference acceptor says', () => {
  const cases: Array<[string, string, string[]]> = [
    ['alternatives and groups', 'root ::= ("ab" | "c") ("d" | "ef")', ['a', 'b', 'c', 'd', 'e', 'f']],
    ['repetition * + ?', 'root ::= "a"* "b"+ "c"?', ['a', 'b', 'c']],
    ['bounded repetition {m} {m,} {m,n} {,n}', 'root ::= "a"{2} "b"{1,} "c"{1,3} "d"{,2}', ['a', 'b', 'c', 'd']],
    ['character classes, ranges, negation', 'root ::= [a-c] [^a-c\\n]+ [x-zA-C0-9]', ['a', 'b', 'd', 'x', 'Y', 'A', '5', '\n', '-']],
    ['any character', 'root ::= "<" . . ">"', ['<', '>', 'a', 'é', '😀', '\n']],
    ['escapes \\x \\u \\U \\n \\t \\\\ \\" \\[ \\]', 'root ::= "\\x41\\u00e9\\U0001F600" [\\n\\t\\\\\\"\\[\\]]', ['A', 'é', '😀', '\n', '\t', '\\', '"', '[', ']', 'x']],
    ['comments and multi-line rules', 'root ::= a # first\n  | b # second\na ::= "x" (\n  "y" |\n  "z"\n)\nb ::= "w"\n# done\n', ['x', 'y', 'z', 'w']],
    ['rule references and right recursion', 'root ::= item ("," item)*\nitem ::= [0-9] | "[" root "]"', ['1', ',', '[', ']']],
    ['nullable rules', 'root ::= a b "!"\na ::= "x"?\nb ::= | "y" b', ['x', 'y', '!']],
    ['multi-byte ranges', 'root ::= [α-ω]+ [^α-ω]', ['α', 'β', 'ω', 'a', 'Ω', '😀']],
  ];
  for (const [name, text, alphabet] of cases) {
    const complete = agree(text, alphabet, 40, name.length);
    assert.ok(complete > 0, `${name}: the walks never completed a sentence`);
  }
});

test('the start rule can be named', () => {
  const g = compileGrammar({ gbnf: 'a ::= "x" b\nb ::= "y"', root: 'a' });
  assert.equal(run(spaceOf(g), 'xy'), 'complete');
  assert.throws(() => compileGrammar({ gbnf: 'a ::= "x"' }), /has no rule named "root"/);
});

test('the test grammars accept their sentences, refuse others, and agree with the acceptor', () => {
  const samples: Record<string, { yes: string[]; no: string[]; alphabet: string[] }> = {
    json: {
      yes: ['{}', '{"a": [1, -2.5e3, true, null, "x\\n\\u00e9"], "b": {"c": {}}}', '{\n  "k": "v" }'],
      no: ['[]', '{"a" 1}', '{"a": 01}', '{"a": "\n"}', '{"a": tru}'],
      alphabet: ['{', '}', '[', ']', '"', ':', ',', ' ', '1', '0', '-', '.', 'e', 't', 'r', 'u', 'n', 'l', 'a', '\\', 'x'],
    },
    arithmetic: { yes: ['1', '(1 + 2.5) * -3', '4/2-1'], no: ['1 +', '()', '1..2'], alphabet: ['1', '2', '.', '+', '-', '*', '/', '(', ')', ' '] },
    list: { yes: ['- milk\n', '- a\n- b c\n'], no: ['- \n', 'milk\n', '- a'], alphabet: ['-', ' ', 'a', '\n'] },
    c: {
      yes: ['int x = 1 + y;\n', 'if (a < 3) {\nb = 2;\n}\nelse {\n}\n', '{\nchar c;\n}\n'],
      no: ['int 1x;\n', 'x = ;\n', 'if a {\n}\n'],
      alphabet: ['int', ' ', 'x', '=', '1', ';', '\n', 'if (', ')', '{', '}', '<', '+', 'else '],
    },
  };
  for (const [name, text] of Object.entries(GRAMMARS)) {
    const s = samples[name]!;
    const space = spaceOf(compileGrammar({ gbnf: text }));
    const twin = new Acceptor(astOf(text));
    for (const y of s.yes) {
      assert.equal(run(space, y), 'complete', `${name} should accept ${JSON.stringify(y)}`);
      assert.ok(twin.accepts(y), `${name}: the acceptor should accept ${JSON.stringify(y)}`);
    }
    for (const n of s.no) {
      assert.notEqual(run(space, n), 'complete', `${name} should refuse ${JSON.stringify(n)}`);
      assert.ok(!twin.accepts(n), `${name}: the acceptor should refuse ${JSON.stringify(n)}`);
    }
    agree(text, s.alphabet, 30, name.length + 100, 30);
  }
});

test('malformed grammars are GRAMMAR errors naming the line, column and problem', () => {
  const bad: Array<[string, RegExp]> = [
    ['root ::= "a" b', /line 1, column 14: undefined rule "b"/],
    ['root ::= ("a" | "b"', /line 1, column 10: unbalanced "\("/],
    ['root ::= [a-z', /line 1, column 10: unbalanced "\["/],
    ['root ::= "abc', /line 1, column 10: unterminated string literal/],
    ['root ::= "a")', /unexpected "\)"/],
    ['root "a"', /expected "::=" after rule name "root"/],
    ['root ::= "a"\nroot ::= "b"', /line 2, column 1: rule "root" is defined twice/],
    ['root ::= "\\q"', /unknown escape "\\q"/],
    ['root ::= "\\x4"', /escape \\x needs 2 hex digits/],
    ['root ::= "a"{3,1}', /maximum below its minimum/],
    ['root ::= "a"{x}', /malformed repetition/],
    ['root ::= "a"**', /put the repeated part in parentheses/],
    ['root ::= [z-a]', /out of order/],
    ['root ::= <[123]>', /token references/],
    ['root ::= root "a"', /rule "root" can start with itself/],
    ['root ::= a\na ::= b "x" | "y"\nb ::= "z"? a', /left recursion through "a" -> "b" -> "a"/],
    ['root ::= ("a"?)*', /can match the empty string/],
    ['', /defines no rules/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => compileGrammar({ gbnf: text }),
      (e: unknown) => e instanceof BitnetError && e.code === 'GRAMMAR' && e.subject === 'grammar' && re.test(e.message),
      `${JSON.stringify(text)} should fail with ${re}`,
    );
  }
});
