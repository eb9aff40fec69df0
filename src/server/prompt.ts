// From a request to what the engine runs: the chat prompt's tokens (tools and tool history rendered by the
// request's tool format) and the grammar the reply must follow (response_format, llama-server's grammar /
// json_schema, or the tool-call format). Shared by chat completions, completions and responses.
import { ChatContentGuard } from '../engine/chat-guard.js';
import type { ChatMessage, ChatTool } from '../engine/chat-template.js';
import type { BitnetModel } from '../engine/model.js';
import { setupTools, type ReplyFormat, type ToolChoice, type ToolFormatKind } from '../engine/tools.js';
import { BitnetError } from '../errors.js';
import { compileGrammar, type CompiledGrammar, type GrammarSpec } from '../grammar/index.js';
import { ApiError } from './errors.js';
import type { InputLimits } from './input.js';
import { badRequest } from './http.js';

/** What the reply must be, and the request field that asked for it (named in errors). */
export interface OutputSpec {
  spec: GrammarSpec | undefined;
  /** the same, as a reply format for a chat that also offers tools */
  reply: ReplyFormat;
  param: string | null;
}

export const FREE_TEXT: OutputSpec = { spec: undefined, reply: undefined, param: null };

interface FormatFields {
  response_format?: { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; json_schema: { schema?: unknown } } | null | undefined;
  grammar?: string | null | undefined;
  json_schema?: unknown;
}

/** response_format / grammar / json_schema -> one output spec; more than one of them is refused. */
export function outputSpec(r: FormatFields, formatParam = 'response_format'): OutputSpec {
  const given: OutputSpec[] = [];
  const rf = r.response_format;
  if (rf && rf.type === 'json_object') given.push({ spec: { json: true }, reply: { json: true }, param: formatParam });
  if (rf && rf.type === 'json_schema') {
    // a json_schema format without a schema allows any JSON object, as OpenAI's non-strict mode
    const schema = rf.json_schema.schema;
    given.push(schema === undefined || schema === null ? { spec: { json: true }, reply: { json: true }, param: formatParam } : { spec: { jsonSchema: schema }, reply: { jsonSchema: schema }, param: formatParam });
  }
  if (r.grammar != null) given.push({ spec: { gbnf: r.grammar }, reply: undefined, param: 'grammar' });
  if (r.json_schema != null) given.push({ spec: { jsonSchema: r.json_schema }, reply: { jsonSchema: r.json_schema }, param: 'json_schema' });
  if (given.length > 1) throw badRequest(given[1]!.param, `cannot be combined with ${given[0]!.param}: give one constraint on the output`);
  return given[0] ?? FREE_TEXT;
}

/** Compiles a grammar; a bad one is a 400 naming the request field and the bad part. */
export function compileFor(spec: GrammarSpec, param: string | null): CompiledGrammar {
  try {
    return compileGrammar(spec);
  } catch (e) {
    if (e instanceof BitnetError && e.code === 'GRAMMAR') {
      // the grammar module names its own input kind (json_schema, grammar); the request field is named here
      const detail = e.subject && e.message.startsWith(`${e.subject}: `) ? e.message.slice(e.subject.length + 2) : e.message;
      throw new ApiError(400, param ? `${param}: ${detail}` : detail, 'invalid_request_error', param, 'invalid_grammar');
    }
    throw e;
  }
}

export interface ToolOptions {
  tools: readonly ChatTool[];
  choice: ToolChoice;
  parallel: boolean;
}

export interface PreparedChat {
  tokens: number[];
  grammar: CompiledGrammar | undefined;
  /** the tool format to read calls in, when tools are offered; undefined: the reply is text */
  toolFormat: ToolFormatKind | undefined;
}

/**
 * Renders the chat (with tools) and tokenizes it as model.tokenizePrompt does, within the input limits
 * (input.ts: bytes checked before rendering and tokenizing, tokenization in slices stopping past the
 * context); compiles the reply grammar.
 */
export async function prepareChat(
  model: BitnetModel,
  limits: InputLimits,
  messages: readonly ChatMessage[],
  tools: ToolOptions,
  output: OutputSpec,
  params: { messages: string; tools: string } = { messages: 'messages', tools: 'tools' },
): Promise<PreparedChat> {
  const toolsParam = params.tools;
  let bytes = 0;
  for (const m of messages) bytes += Buffer.byteLength(m.content);
  limits.checkBytes(bytes, params.messages);
  const active = tools.tools.length > 0 && tools.choice !== 'none';
  if (active && output.spec && !output.reply) throw badRequest(output.param, `cannot be combined with ${toolsParam}: the tool-call grammar constrains the reply; use response_format for a structured text reply`);
  // message content is text: only the template's (and the tool format's) markup makes special tokens
  const tk = model.tokenizer;
  const guard = new ChatContentGuard(tk);
  let setup;
  try {
    setup = setupTools(model.chatFormat, guard.messages(messages), { ...tools, tools: guard.tools(tools.tools), ...(active && output.reply ? { reply: output.reply } : {}) });
  } catch (e) {
    if (e instanceof BitnetError && e.code === 'INVALID_ARGUMENT') throw badRequest(e.subject ?? null, e.message.replace(/^[^:]+: /, ''));
    throw e;
  }
  const text = model.chatFormat.render(setup.messages, true, setup.templateTools ? { tools: setup.templateTools } : {});
  const startsWithBos = tk.bos !== null && text.startsWith(tk.tokenText(tk.bos));
  const tokens = await limits.encode(guard.segments(text), { addBos: tk.addBos && !startsWithBos, param: params.messages });
  const spec = setup.grammar ?? output.spec;
  const grammar = spec ? compileFor(spec, setup.grammar ? toolsParam : output.param) : undefined;
  return { tokens, grammar, toolFormat: setup.parse ? setup.format : undefined };
}
