// Tool-call formats without a model: the partial JSON reader on every prefix of documents, the three formats'
// parsers on every prefix of a reply (names once complete, arguments and text only ever growing), GBNF rule
// prefixing, the generic format's prompt and grammar, and a Hermes-style Jinja template rendered with tools,
// tool calls and tool results (its reply grammar compiles).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bitnetChatFormat, jinjaChatFormat, type ChatMessage } from '../../../src/engine/chat-template.js';
import { parsePartialJson } from '../../../src/engine/partial-json.js';
import { parseToolOutput, prefixGbnfRules, setupTools, toolFormatOf, type ParsedOutput } from '../../../src/engine/tools.js';
import { compileGrammar, type GrammarSpec } from '../../../src/grammar/index.js';
import { HERMES_TEMPLATE as HERMES, LLAMA3_TEMPLATE } from '../../fixtures/templates.js';

const DOCS = ['{"a": [1, 2.5e3, true, null, "x\\"y\\u00e9"], "b": {"c": {}}, "d": []}', '[{"k": "v"}, -0.5, "\\n", false]', '"plain"', '  {"s": "a\\\\b"}  '];

test('partial JSON: every prefix of a document reads as ok, the whole as complete, strings decoded', () => {
  for (const doc of DOCS) {
    for (let i = 0; i <= doc.length; i++) {
      const p = parsePartialJson(doc.slice(0, i));
      assert.ok(p.ok, `prefix ${JSON.stringify(doc.slice(0, i))}`);
    }
    const whole = parsePartialJson(doc);
    assert.ok(whole.node?.complete, doc);
    assert.equal(doc.slice(whole.node.start, whole.node.end), doc.trim());
  }
  const s = parsePartialJson('{"k": "tab\\tand \\u00e9');
  assert.equal(s.node?.entries?.[0]?.value?.text, 'tab\tand é');
  for (const bad of ['{"a" 1}', '[1 2]', '{a: 1}', 'nope', '{"a": tru e}']) assert.equal(parsePartialJson(bad).ok, false, bad);
});

/** Reads every prefix of `text` in `format`: names never change, arguments and content only grow. */
function everyPrefix(format: 'generic' | 'hermes' | 'llama3', text: string): ParsedOutput {
  let prev: ParsedOutput = { content: '', calls: [] };
  for (let i = 0; i <= text.length; i++) {
    const cur = parseToolOutput(format, text.slice(0, i));
    assert.ok(cur.content.startsWith(prev.content), `content shrank at ${i}: ${JSON.stringify(prev.content)} -> ${JSON.stringify(cur.content)}`);
    assert.ok(cur.calls.length >= prev.calls.length);
    prev.calls.forEach((c, k) => {
      assert.equal(cur.calls[k]!.name, c.name);
      assert.ok(cur.calls[k]!.arguments.startsWith(c.arguments), `arguments shrank at ${i}`);
    });
    prev = cur;
  }
  return prev;
}

test('generic format: calls stream as name then growing arguments; a text reply streams decoded', () => {
  const calls = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}, {"name": "add", "arguments": {"a": 1}}]}';
  const out = everyPrefix('generic', calls);
  assert.deepEqual(
    out.calls.map((c) => [c.name, JSON.parse(c.arguments), c.complete]),
    [
      ['get_weather', { city: 'Paris', days: [1, 2] }, true],
      ['add', { a: 1 }, true],
    ],
  );
  assert.equal(out.content, '');
  // a name appears only once it is complete
  assert.deepEqual(parseToolOutput('generic', '{"tool_calls": [{"name": "get_wea').calls, []);
  const text = everyPrefix('generic', '{"response": "Hi \\"you\\"\\nbye \\u00e9"}');
  assert.equal(text.content, 'Hi "you"\nbye é');
  assert.deepEqual(text.calls, []);
  // a structured reply is its raw JSON
  assert.equal(parseToolOutput('generic', '{"response": {"x": [1]}}').content, '{"x": [1]}');
});

test('hermes format: text around <tool_call> blocks, a cut-off tag held back', () => {
  const reply = 'Let me check.<tool_call>\n{"name": "lookup", "arguments": {"q": "a<b"}}\n</tool_call>\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>';
  const out = everyPrefix('hermes', reply);
  assert.equal(out.content.trim(), 'Let me check.');
  assert.deepEqual(
    out.calls.map((c) => [c.name, JSON.parse(c.arguments), c.complete]),
    [
      ['lookup', { q: 'a<b' }, true],
      ['f', {}, true],
    ],
  );
  assert.equal(parseToolOutput('hermes', 'Hello <tool_').content, 'Hello ');
  assert.equal(parseToolOutput('hermes', 'a < b').content, 'a < b');
});

test('llama3 format: a reply that is a {"name", "parameters"} object is a call, anything else text', () => {
  const out = everyPrefix('llama3', '{"name": "search", "parameters": {"query": "x"}}');
  assert.deepEqual(out.calls.map((c) => [c.name, JSON.parse(c.arguments)]), [['search', { query: 'x' }]]);
  assert.deepEqual(parseToolOutput('llama3', 'Just text.'), { content: 'Just text.', calls: [] });
});

test('GBNF rule prefixing renames rules only', () => {
  const g = 'root ::= item ("," item){0,3} # a list\nitem ::= "root" [a-z-]+ | space\nspace ::= " "?';
  assert.equal(prefixGbnfRules(g, 'x-'), 'x-root ::= x-item ("," x-item){0,3} \nx-item ::= "root" [a-z-]+ | x-space\nx-space ::= " "?');
});

const weather = { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'Tokyo'] } }, required: ['city'], additionalProperties: false } };
const add = { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { $ref: '#/$defs/num' } }, required: ['a', 'b'], $defs: { num: { type: 'integer' } } } };

const history: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
  { role: 'tool', content: '21 C, sunny', tool_call_id: 'call_1' },
];

test('generic format: tools in the system message, tool history as text, a grammar per tool_choice', () => {
  const fmt = bitnetChatFormat('<s>', '</s>');
  assert.equal(toolFormatOf(fmt), 'generic');
  const s = setupTools(fmt, history, { tools: [weather, add], choice: 'auto', parallel: true });
  assert.equal(s.format, 'generic');
  assert.equal(s.parse, true);
  assert.equal(s.messages[0]!.role, 'system');
  assert.match(s.messages[0]!.content, /^Be brief\.\n\nYou can call these tools:\n- get_weather: Weather for a city\n  arguments: \{"type":"object"/);
  assert.deepEqual(JSON.parse(s.messages[2]!.content), { tool_calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
  assert.equal(s.messages[3]!.role, 'user');
  assert.deepEqual(JSON.parse(s.messages[3]!.content), { tool_response: { name: 'get_weather', tool_call_id: 'call_1', content: '21 C, sunny' } });
  // the built-in format renders it (no tool roles reach it)
  assert.match(fmt.render(s.messages, true), /User: \{"tool_response"/);
  const schema = (s.grammar as { jsonSchema: any }).jsonSchema;
  assert.equal(schema.anyOf.length, 2);
  assert.deepEqual(Object.keys(schema.$defs), ['t1-num']);
  assert.equal(schema.anyOf[0].properties.tool_calls.items.anyOf[1].properties.arguments.properties.b.$ref, '#/$defs/t1-num');

  const required = setupTools(fmt, history, { tools: [weather, add], choice: 'required', parallel: false });
  const rs = (required.grammar as { jsonSchema: any }).jsonSchema;
  assert.equal(rs.anyOf, undefined);
  assert.equal(rs.properties.tool_calls.maxItems, 1);
  const named = setupTools(fmt, history, { tools: [weather, add], choice: { name: 'add' }, parallel: true });
  assert.equal((named.grammar as { jsonSchema: any }).jsonSchema.properties.tool_calls.items.properties.name.const, 'add');
  assert.throws(() => setupTools(fmt, history, { tools: [weather], choice: { name: 'nope' }, parallel: true }), /tool_choice.*"nope"/);
  const none = setupTools(fmt, history, { tools: [weather], choice: 'none', parallel: true });
  assert.equal(none.grammar, undefined);
  assert.equal(none.parse, false);
  assert.equal(none.messages[0]!.content, 'Be brief.');
  for (const g of [s.grammar, required.grammar, named.grammar]) compileGrammar(g as GrammarSpec);
});


test('a Jinja template that knows tools renders them, the calls and the results; its grammar compiles', () => {
  const fmt = jinjaChatFormat(HERMES, { bos_token: '', eos_token: '' });
  assert.equal(fmt.usesTools, true);
  assert.equal(toolFormatOf(fmt), 'hermes');
  const s = setupTools(fmt, history, { tools: [weather, add], choice: 'auto', parallel: true });
  assert.equal(s.format, 'hermes');
  const text = fmt.render(s.messages, true, { tools: s.templateTools! });
  assert.match(text, /<tools>\{"type": "function", "function": \{"name": "get_weather"/);
  assert.match(text, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Paris"\}\}\n<\/tool_call>/);
  assert.match(text, /<tool_response>\n21 C, sunny\n<\/tool_response>/);
  assert.ok(text.endsWith('<|im_start|>assistant\n'));
  const gbnf = (s.grammar as { gbnf: string }).gbnf;
  assert.match(gbnf, /^root ::= calls \| free/);
  compileGrammar(s.grammar as GrammarSpec);
  compileGrammar(setupTools(fmt, history, { tools: [weather], choice: 'required', parallel: false }).grammar as GrammarSpec);
  assert.throws(() => setupTools(fmt, history, { tools: [weather], choice: 'auto', parallel: true, reply: { json: true } }), /response_format/);
});

test('a Llama-3-style template: tools rendered by it, one {"name", "parameters"} call, the grammar compiles', () => {
  const fmt = jinjaChatFormat(LLAMA3_TEMPLATE, { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' });
  assert.equal(toolFormatOf(fmt), 'llama3');
  const s = setupTools(fmt, history, { tools: [weather, add], choice: 'auto', parallel: true });
  const text = fmt.render(s.messages, true, { tools: s.templateTools! });
  assert.match(text, /\{"type": "function", "function": \{"name": "add"/);
  assert.match(text, /assistant<\|end_header_id\|>\n\n\{"name": "get_weather", "parameters": \{"city": "Paris"\}\}<\|eot_id\|>/);
  assert.match(text, /ipython<\|end_header_id\|>\n\n21 C, sunny<\|eot_id\|>/);
  const gbnf = (s.grammar as { gbnf: string }).gbnf;
  assert.match(gbnf, /^root ::= calls \| free\ncalls ::= call-root\n/);
  compileGrammar(s.grammar as GrammarSpec);
  compileGrammar(setupTools(fmt, history, { tools: [weather], choice: { name: 'get_weather' }, parallel: true }).grammar as GrammarSpec);
});
