// Tool calling (engine/, above grammar/): the formats a model writes tool calls in. For a request's tools and
// tool_choice, setupTools() gives the messages to render (tool history as text where the template cannot
// show it), the tools to hand a template that knows them, and the grammar that makes the reply well formed;
// parseToolOutput() reads the reply (whole, or as far as it is generated) back into text and calls.
// Formats: 'generic' (llama.cpp's fallback: one JSON object, {"tool_calls": [...]} or {"response": ...}, tools
// described in the system message), 'hermes' (<tool_call>{"name", "arguments"}</tool_call>), 'llama3'
// ({"name", "parameters"}), the last two for Jinja templates that render tools themselves.
import { BitnetError } from '../errors.js';
import { jsonSchemaToGbnf, type GrammarSpec } from '../grammar/index.js';
import type { ChatFormatter, ChatMessage, ChatTool } from './chat-template.js';
import { member, parsePartialJson, type JsonNode } from './partial-json.js';

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };
export type ToolFormatKind = 'generic' | 'hermes' | 'llama3';

/** The reply's own format when it is not a tool call (response_format): a JSON Schema, or any JSON object. */
export type ReplyFormat = { jsonSchema: unknown } | { json: true } | undefined;

export interface ToolRequest {
  tools: readonly ChatTool[];
  choice: ToolChoice;
  /** more than one call per reply */
  parallel: boolean;
  reply?: ReplyFormat;
}

export interface ToolSetup {
  format: ToolFormatKind;
  /** the messages to render */
  messages: ChatMessage[];
  /** tools for the template to render (formats the template knows) */
  templateTools: readonly ChatTool[] | undefined;
  /** the constraint on the reply; undefined when it is free text */
  grammar: GrammarSpec | undefined;
  /** the reply is read for tool calls (tools offered and tool_choice not none) */
  parse: boolean;
}

export interface ParsedToolCall {
  name: string;
  /** the arguments' JSON text as written (a prefix of it while incomplete) */
  arguments: string;
  complete: boolean;
}

export interface ParsedOutput {
  /** the reply's text (for the generic format, the `response` string, or the raw JSON of a structured one) */
  content: string;
  calls: ParsedToolCall[];
}

/** The tool format a chat formatter calls for: the template's own where it is recognised, else generic. */
export function toolFormatOf(f: ChatFormatter): ToolFormatKind {
  if (f.kind !== 'jinja' || !f.usesTools || !f.source) return 'generic';
  if (f.source.includes('<tool_call>')) return 'hermes';
  if (f.source.includes('parameters') && (f.source.includes('<|python_tag|>') || f.source.includes('ipython'))) return 'llama3';
  return 'generic';
}

const argsSchema = (t: ChatTool): Record<string, unknown> => (Object.keys(t.parameters).length ? t.parameters : { type: 'object' });

/**
 * A tool's parameters schema moved into a combined schema: its $defs/definitions under `prefix`, and its
 * "#/..." references (recursive ones included) rewritten to match.
 */
function relocate(schema: Record<string, unknown>, prefix: string, defs: Record<string, unknown>): Record<string, unknown> {
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === '$ref' && typeof x === 'string' && x.startsWith('#')) {
        const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(x);
        out[k] = m ? `#/$defs/${prefix}${m[1]}` : x === '#' ? `#/$defs/${prefix}root` : x;
      } else if (k !== '$defs' && k !== 'definitions' && k !== '$schema') out[k] = rewrite(x);
    }
    return out;
  };
  for (const key of ['$defs', 'definitions'] as const) {
    const d = schema[key];
    if (d && typeof d === 'object') for (const [name, s] of Object.entries(d as Record<string, unknown>)) defs[`${prefix}${name}`] = rewrite(s);
  }
  const body = rewrite(schema) as Record<string, unknown>;
  if (JSON.stringify(schema).includes('"$ref":"#"')) defs[`${prefix}root`] = body;
  return body;
}

/** JSON Schema of one call {"name": <const>, <argsKey>: <parameters>}. */
function callSchema(t: ChatTool, i: number, argsKey: string, defs: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'object',
    properties: { name: { const: t.name }, [argsKey]: relocate(argsSchema(t), `t${i}-`, defs) },
    required: ['name', argsKey],
    additionalProperties: false,
  };
}

function offered(req: ToolRequest): readonly ChatTool[] {
  if (typeof req.choice === 'object') {
    const name = req.choice.name;
    const t = req.tools.find((x) => x.name === name);
    if (!t) throw new BitnetError('INVALID_ARGUMENT', `names "${name}", which is not one of the tools (${req.tools.map((x) => x.name).join(', ') || 'none given'})`, { name: 'tool_choice' });
    return [t];
  }
  return req.tools;
}

function replySchema(reply: ReplyFormat): unknown {
  if (!reply) return { type: 'string' };
  return 'json' in reply ? { type: 'object' } : reply.jsonSchema;
}

/** The system message text that describes the tools and the reply format (generic format), compactly. */
function genericInstructions(tools: readonly ChatTool[], mustCall: boolean, parallel: boolean): string {
  const list = tools.map((t) => `- ${t.name}${t.description ? `: ${t.description}` : ''}\n  arguments: ${JSON.stringify(argsSchema(t))}`).join('\n');
  const call = `{"tool_calls": [{"name": <tool name>, "arguments": <its arguments>}${parallel ? ', ...' : ''}]}`;
  return (
    `You can call these tools:\n${list}\n` +
    (mustCall ? `Reply with one JSON object that calls ${parallel ? 'one or more tools' : 'one tool'}: ${call}` : `Reply with one JSON object: ${call} to call ${parallel ? 'tools' : 'a tool'}, or {"response": <your reply>} to answer.`)
  );
}

/** Tool calls and results written as text messages, for templates that cannot render them. */
function toolHistoryAsText(messages: readonly ChatMessage[]): ChatMessage[] {
  const names = new Map<string, string>();
  return messages.map((m) => {
    if (m.role === 'assistant' && m.tool_calls?.length) {
      const calls = m.tool_calls.map((c) => {
        names.set(c.id, c.function.name);
        let args: unknown = c.function.arguments;
        try {
          args = JSON.parse(c.function.arguments);
        } catch {
          // the model sees the text as the client sent it
        }
        return { name: c.function.name, arguments: args };
      });
      return { role: 'assistant', content: JSON.stringify({ tool_calls: calls }) };
    }
    if (m.role === 'tool') {
      const name = m.name ?? (m.tool_call_id !== undefined ? names.get(m.tool_call_id) : undefined);
      return { role: 'user', content: JSON.stringify({ tool_response: { ...(name ? { name } : {}), ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}), content: m.content } }) };
    }
    return { role: m.role, content: m.content };
  });
}

/** Prepares a chat with tools: the messages, the template's tools and the reply's grammar. */
export function setupTools(formatter: ChatFormatter, messages: readonly ChatMessage[], req: ToolRequest): ToolSetup {
  const format = toolFormatOf(formatter);
  const active = req.tools.length > 0 && req.choice !== 'none';
  if (!active) {
    // no calls possible; the history may still hold some
    return { format, messages: format === 'generic' ? toolHistoryAsText(messages) : [...messages], templateTools: format === 'generic' ? undefined : req.tools, grammar: undefined, parse: false };
  }
  const tools = offered(req);
  const mustCall = req.choice !== 'auto';
  if (format === 'generic') {
    const defs: Record<string, unknown> = {};
    const items = tools.map((t, i) => callSchema(t, i, 'arguments', defs));
    const calls = {
      type: 'object',
      properties: { tool_calls: { type: 'array', items: items.length === 1 ? items[0] : { anyOf: items }, minItems: 1, ...(req.parallel ? {} : { maxItems: 1 }) } },
      required: ['tool_calls'],
      additionalProperties: false,
    };
    const text = { type: 'object', properties: { response: replySchema(req.reply) }, required: ['response'], additionalProperties: false };
    const schema = { ...(mustCall ? calls : { anyOf: [calls, text] }), ...(Object.keys(defs).length ? { $defs: defs } : {}) };
    const out = toolHistoryAsText(messages);
    const note = genericInstructions(tools, mustCall, req.parallel);
    if (out[0]?.role === 'system') out[0] = { role: 'system', content: `${out[0].content}\n\n${note}` };
    else out.unshift({ role: 'system', content: note });
    return { format, messages: out, templateTools: undefined, grammar: { jsonSchema: schema }, parse: true };
  }
  if (req.reply && !mustCall) {
    throw new BitnetError('INVALID_ARGUMENT', `a structured reply together with tool_choice "auto" needs the generic tool format; this model's chat template writes ${format} tool calls`, { name: 'response_format' });
  }
  return { format, messages: [...messages], templateTools: req.tools, grammar: { gbnf: nativeGrammar(format, tools, mustCall, req.parallel) }, parse: true };
}

/**
 * GBNF rule names of `gbnf` prefixed, so that several generated grammars live in one. Strings, character
 * classes, repetition counts and comments are left as they are.
 */
export function prefixGbnfRules(gbnf: string, prefix: string): string {
  let out = '';
  let i = 0;
  while (i < gbnf.length) {
    const ch = gbnf[i]!;
    if (ch === '"' || ch === '[') {
      const close = ch === '"' ? '"' : ']';
      let j = i + 1;
      while (j < gbnf.length && gbnf[j] !== close) j += gbnf[j] === '\\' ? 2 : 1;
      out += gbnf.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '#') {
      const j = gbnf.indexOf('\n', i);
      i = j < 0 ? gbnf.length : j;
    } else if (ch === '{') {
      const j = gbnf.indexOf('}', i);
      out += gbnf.slice(i, j + 1);
      i = j < 0 ? gbnf.length : j + 1;
    } else if (/[a-zA-Z0-9_-]/.test(ch)) {
      let j = i;
      while (j < gbnf.length && /[a-zA-Z0-9_-]/.test(gbnf[j]!)) j++;
      out += prefix + gbnf.slice(i, j);
      i = j;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** The reply grammar of a native format: calls only, or (auto) calls or free text that does not start one. */
function nativeGrammar(format: 'hermes' | 'llama3', tools: readonly ChatTool[], mustCall: boolean, parallel: boolean): string {
  const defs: Record<string, unknown> = {};
  const argsKey = format === 'hermes' ? 'arguments' : 'parameters';
  const items = tools.map((t, i) => callSchema(t, i, argsKey, defs));
  const schema = { ...(items.length === 1 ? items[0] : { anyOf: items }), ...(Object.keys(defs).length ? { $defs: defs } : {}) };
  const call = prefixGbnfRules(jsonSchemaToGbnf(schema), 'call-');
  const block = format === 'hermes' ? '"<tool_call>\\n" call-root "\\n</tool_call>"' : 'call-root';
  // Llama 3.x writes one call per reply (its JSON tool format has no list)
  const calls = parallel && format === 'hermes' ? `${block} ("\\n" ${block})*` : block;
  const first = format === 'hermes' ? '<' : '{';
  return [`root ::= ${mustCall ? 'calls' : `calls | free`}`, `calls ::= ${calls}`, `free ::= ([^${first}] any*)?`, `any ::= [^${first}] | "${first}"`, call].join('\n');
}

const HERMES_OPEN = '<tool_call>';
const HERMES_CLOSE = '</tool_call>';

function rawSlice(text: string, n: JsonNode): string {
  return text.slice(n.start, n.end);
}

function readCall(text: string, obj: JsonNode | undefined, argsKeys: readonly string[]): ParsedToolCall | undefined {
  const name = member(obj, 'name');
  if (name?.kind !== 'string' || !name.complete) return undefined;
  let args: JsonNode | undefined;
  for (const k of argsKeys) args ??= member(obj, k);
  return { name: name.text ?? '', arguments: args ? rawSlice(text, args).trimEnd() : '', complete: obj!.complete && args?.complete === true };
}

/** The text and calls of a reply in `format`, as far as it is written. Text not in the format is all content. */
export function parseToolOutput(format: ToolFormatKind, text: string): ParsedOutput {
  if (format === 'generic') {
    const p = parsePartialJson(text);
    if (!p.ok || !p.node || p.node.kind !== 'object') return { content: p.ok && !p.node ? '' : text, calls: [] };
    const calls = member(p.node, 'tool_calls');
    if (calls?.kind === 'array') {
      return { content: '', calls: (calls.items ?? []).map((it) => readCall(text, it, ['arguments'])).filter((c): c is ParsedToolCall => c !== undefined) };
    }
    const response = member(p.node, 'response');
    if (!response) return { content: '', calls: [] };
    return { content: response.kind === 'string' ? (response.text ?? '') : rawSlice(text, response).trimEnd(), calls: [] };
  }
  if (format === 'llama3') {
    const lead = text.length - text.trimStart().length;
    if (text[lead] !== '{') return { content: text, calls: [] };
    const p = parsePartialJson(text, lead);
    const call = p.ok ? readCall(text, p.node, ['parameters', 'arguments']) : undefined;
    return call ? { content: '', calls: [call] } : { content: p.ok ? '' : text, calls: [] };
  }
  // hermes: text around <tool_call> blocks is content; a cut-off opening tag at the end is held back
  let content = '';
  const calls: ParsedToolCall[] = [];
  let i = 0;
  for (;;) {
    const open = text.indexOf(HERMES_OPEN, i);
    if (open < 0) {
      let rest = text.slice(i);
      for (let k = Math.min(HERMES_OPEN.length - 1, rest.length); k > 0; k--) {
        if (HERMES_OPEN.startsWith(rest.slice(rest.length - k))) {
          rest = rest.slice(0, rest.length - k);
          break;
        }
      }
      content += rest;
      break;
    }
    content += text.slice(i, open);
    const close = text.indexOf(HERMES_CLOSE, open);
    const body = text.slice(open + HERMES_OPEN.length, close < 0 ? text.length : close);
    const p = parsePartialJson(body);
    const call = p.ok ? readCall(body, p.node, ['arguments', 'parameters']) : undefined;
    if (call) calls.push({ ...call, complete: call.complete && close >= 0 });
    if (close < 0) break;
    i = close + HERMES_CLOSE.length;
  }
  return { content, calls };
}
