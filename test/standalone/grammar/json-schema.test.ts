// JSON Schema -> grammar, as llama.cpp's json-schema-to-grammar: its whitespace and primitive rules, property
// order, required/optional properties, additionalProperties, arrays, enum/const, anyOf/oneOf/allOf, $ref,
// string lengths, patterns and formats, integer bounds (checked exhaustively over a range), and the refusals
// (unsupported keywords and regex features named). The server maps GRAMMAR to 400 invalid_grammar.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { compileGrammar, jsonSchemaToGbnf } from '../../../src/grammar/index.js';
import { StateSpace, stepByte, type BytePos } from '../../../src/grammar/matcher.js';
import { toApiError } from '../../../src/server/errors.js';

/** A matcher for a schema: true when the whole text is accepted. */
function acceptor(schema: unknown): (text: string) => boolean {
  const g = compileGrammar({ jsonSchema: schema });
  const space = new StateSpace(g.flat, g.limits, 'test');
  return (text) => {
    const p: BytePos = { set: space.initial, pv: 0, pr: 0 };
    for (const b of new TextEncoder().encode(text)) if (!stepByte(space, p, b)) return false;
    return p.pr === 0 && space.accepting(p.set);
  };
}

function check(schema: unknown, yes: string[], no: string[]): void {
  const ok = acceptor(schema);
  for (const y of yes) assert.ok(ok(y), `${JSON.stringify(schema)} should accept ${y}`);
  for (const n of no) assert.ok(!ok(n), `${JSON.stringify(schema)} should refuse ${n}`);
}

test("llama.cpp's conventions: the space rule, primitives, properties in order, required first", () => {
  const text = jsonSchemaToGbnf({ type: 'object', properties: { b: { type: 'string' }, a: { type: 'integer' }, c: { type: 'boolean' } }, required: ['a'] });
  assert.match(text, /^space ::= \| " " \| "\\n"\{1,2\} \[ \\t\]\{0,20\}$/m);
  assert.match(text, /^root ::= "\{" space a-kv \( "," space \( b-kv b-rest \| c-kv \) \)\? "\}" space$/m);
  assert.match(text, /^a-kv ::= "\\"a\\"" space ":" space integer$/m);
  assert.match(text, /^integral-part ::= \[0\] \| \[1-9\] \[0-9\]\{0,15\}$/m);
  check({ type: 'object', properties: { b: { type: 'string' }, a: { type: 'integer' }, c: { type: 'boolean' } }, required: ['a'] },
    ['{"a": 1}', '{"a":1,"b":"x"}', '{"a": 1, "b": "x", "c": true}', '{"a": 1, "c": false}', '{ "a" : -0 }', '{"a": 1}\n  '],
    ['{}', '{"b":"x","a":1}', '{"a": 1, "c": true, "b": "x"}', '{"a": 01}', '{"a": 1, "d": 2}', '{"a":1,}']);
});

test('additionalProperties: absent and false allow none, true and a schema allow other keys only', () => {
  check({ type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: false }, ['{}', '{"a": 2}'], ['{"b": 2}']);
  check({ type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: { type: 'boolean' } },
    ['{"a": 2, "b": true}', '{"x": false, "ab": true}', '{"": true}', '{"a\\u0062": true}'],
    ['{"a": true}', '{"b": 2}', '{"a": 1, "a": 2}']);
  check({ type: 'object', additionalProperties: true }, ['{}', '{"k": [1, {"z": null}]}'], ['[]']);
  check({ type: 'object' }, ['{"k": "v"}'], ['"x"']);
});

test('arrays: items, minItems/maxItems, prefixItems', () => {
  check({ type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 3 }, ['[1]', '[1, 2, 3]', '[ 1 ,2 ]'], ['[]', '[1,2,3,4]', '[1,]', '["a"]']);
  check({ type: 'array', items: { type: 'null' }, maxItems: 0 }, ['[]'], ['[null]']);
  check({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] }, ['["a", 1.5e3]'], ['["a"]', '[1, "a"]']);
  check({ type: 'array' }, ['[]', '[1, "x", {}]'], ['{}']);
});

test('enum, const, anyOf/oneOf, type lists, allOf of objects, booleans as schemas', () => {
  check({ enum: ['a', 1, null, { x: [true] }] }, ['"a"', '1', 'null', '{"x":[true]}'], ['"b"', '2', '{"x": [true]}']);
  check({ const: 'fixed' }, ['"fixed"'], ['"other"']);
  check({ anyOf: [{ type: 'string', maxLength: 2 }, { type: 'null' }] }, ['"ab"', 'null'], ['"abc"', '1']);
  check({ oneOf: [{ type: 'integer' }, { type: 'boolean' }] }, ['3', 'true'], ['"x"']);
  check({ type: ['integer', 'null'] }, ['7', 'null'], ['1.5']);
  check({ allOf: [{ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] }, { properties: { b: { type: 'string' } } }], additionalProperties: false },
    ['{"a": 1}', '{"a": 1, "b": "x"}'], ['{"b": "x"}', '{"a": 1, "c": 2}']);
  check(true, ['1', '"x"', '[{}]'], ['']);
  check({}, ['null'], ['nul']);
});

test('local $ref and $defs, recursive schemas', () => {
  const tree = { $defs: { node: { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['v'], additionalProperties: false } }, $ref: '#/$defs/node' };
  check(tree, ['{"v": 1}', '{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}, {"v": 4}]}'], ['{"v": 1, "kids": [{}]}']);
  check({ definitions: { s: { type: 'string', maxLength: 1 } }, type: 'object', properties: { a: { $ref: '#/definitions/s' } }, required: ['a'] }, ['{"a": "x"}'], ['{"a": "xy"}']);
});

test('strings: lengths, patterns (translated, JSON-escaped), formats', () => {
  check({ type: 'string', minLength: 2, maxLength: 3 }, ['"ab"', '"a\\nb"', '"日本語"'], ['"a"', '"abcd"']);
  check({ type: 'string', pattern: '^\\d{3}-[A-Z]{2}$' }, ['"123-AB"'], ['"12-AB"', '"123-ab"', '"123-ABC"']);
  check({ type: 'string', pattern: '^(cat|dog)s?\\.?$' }, ['"cat"', '"dogs."'], ['"cats.."', '"bird"']);
  check({ type: 'string', pattern: '^a"b\\\\c\\n$' }, ['"a\\"b\\\\c\\n"'], ['"a"b\\c\n"']);
  check({ type: 'string', pattern: '^[^a-c]+$' }, ['"xyz"', '"é"'], ['"xaz"', '"x\\"y"']);
  check({ type: 'string', pattern: '^\\w+\\s\\S$' }, ['"ab_1 x"', '"a\\tb"'], ['"a  b"']);
  check({ type: 'string', pattern: '^.{2}$' }, ['"ab"', '"é😀"'], ['"a"', '"a\\nb"']);
  check({ type: 'string', format: 'date' }, ['"2024-02-29"'], ['"2024-13-01"', '"24-01-01"']);
  check({ type: 'string', format: 'time' }, ['"23:59:60Z"'.replace('60', '59'), '"12:00:00.123+02:00"'], ['"24:00:00Z"', '"12:00:00"']);
  check({ type: 'string', format: 'date-time' }, ['"2024-01-31T08:30:00Z"'], ['"2024-01-31 08:30:00Z"']);
  check({ type: 'string', format: 'uuid' }, ['"123e4567-e89b-12d3-a456-426614174000"'], ['"123e4567e89b12d3a456426614174000"']);
});

test('integer minimum/maximum (and exclusive ones): exactly the integers in range, checked exhaustively', () => {
  const ranges: Array<[Record<string, number>, number, number]> = [
    [{ minimum: 0, maximum: 150 }, 0, 150],
    [{ minimum: -37, maximum: 1234 }, -37, 1234],
    [{ minimum: -1000, maximum: -7 }, -1000, -7],
    [{ minimum: 95 }, 95, Infinity],
    [{ maximum: -3 }, -Infinity, -3],
    [{ maximum: 19 }, -Infinity, 19],
    [{ exclusiveMinimum: 9, exclusiveMaximum: 101 }, 10, 100],
    [{ minimum: 5, maximum: 5 }, 5, 5],
  ];
  for (const [bounds, lo, hi] of ranges) {
    const ok = acceptor({ type: 'integer', ...bounds });
    for (let v = -1300; v <= 1300; v++) assert.equal(ok(String(v)), v >= lo && v <= hi, `${JSON.stringify(bounds)}: ${v}`);
    assert.equal(ok('007'), false);
    if (hi === Infinity) assert.ok(ok('123456789012'));
  }
});

test('refusals name the keyword, the regex feature or the bad part', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ type: 'string', pattern: '^(a)\\1$' }, /backreferences/],
    [{ type: 'string', pattern: '^(?=a)a$' }, /lookahead and lookbehind/],
    [{ type: 'string', pattern: '^\\bword$' }, /word boundaries/],
    [{ type: 'string', pattern: '^\\p{L}$' }, /Unicode property escapes/],
    [{ type: 'string', pattern: '^a$b' }, /anchor "\$"|unexpected/],
    [{ type: 'string', pattern: '^(a$' }, /unbalanced "\("/],
    [{ type: 'array', uniqueItems: true }, /keyword "uniqueItems" is not supported/],
    [{ not: { type: 'string' } }, /keyword "not" is not supported/],
    [{ type: 'number', multipleOf: 2 }, /keyword "multipleOf"/],
    [{ $ref: 'https://example.com/s.json' }, /only local \$ref/],
    [{ $ref: '#/$defs/missing' }, /points to nothing/],
    [{ enum: [] }, /enum is empty/],
    [{ type: 'array', minItems: 3, maxItems: 1 }, /maxItems 1 is below minItems 3/],
    [{ type: 'date' }, /unknown type "date"/],
    [{ type: 'object', properties: { a: {} }, required: ['b'] }, /required property "b"/],
    [false, /matches nothing/],
    [{ properties: { a: { properties: { b: { type: 'strin' } } } } }, /at \/properties\/a\/properties\/b: unknown type "strin"/],
    [{ allOf: [{ type: 'string' }] }, /allOf is supported over object schemas only/],
    ['string', /must be an object or a boolean/],
  ];
  for (const [schema, re] of bad) {
    assert.throws(
      () => compileGrammar({ jsonSchema: schema }),
      (e: unknown) => e instanceof BitnetError && e.code === 'GRAMMAR' && e.subject === 'json_schema' && re.test(e.message),
      `${JSON.stringify(schema)} should fail with ${re}`,
    );
  }
});

test('the server maps GRAMMAR to 400 invalid_request_error / invalid_grammar with the input as param', () => {
  let err: unknown;
  try {
    compileGrammar({ jsonSchema: { type: 'nope' } });
  } catch (e) {
    err = e;
  }
  const api = toApiError(err);
  assert.equal(api.status, 400);
  assert.equal(api.type, 'invalid_request_error');
  assert.equal(api.code, 'invalid_grammar');
  assert.equal(api.param, 'json_schema');
  assert.match(api.message, /unknown type "nope"/);
});
