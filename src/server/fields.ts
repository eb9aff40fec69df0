// The one table of request fields: for each endpoint, what the server honours, what it accepts and ignores
// (identifiers and hints that change no output), and what it refuses by name because it cannot honour it.
// checkFields() applies the refusals before validation; the README's server section is this table
// (fieldTableMarkdown(), checked by a test). Fields in no row are ignored, as OpenAI-compatible servers do.
import { ApiError } from './errors.js';

export type Endpoint = 'chat' | 'completions' | 'responses' | 'embeddings';
export type FieldStatus = 'honoured' | 'ignored' | 'refused';

export interface FieldRule {
  name: string;
  endpoints: readonly Endpoint[];
  status: FieldStatus;
  /** what it means here, or why it is refused */
  note: string;
  /** for fields accepted with some values: the reason a value is refused (undefined: accepted) */
  refuse?: (v: unknown) => string | undefined;
}

const C: Endpoint = 'chat';
const P: Endpoint = 'completions';
const R: Endpoint = 'responses';
const E: Endpoint = 'embeddings';

const absent = (v: unknown): boolean => v === null || v === undefined;

export const FIELDS: readonly FieldRule[] = [
  { name: 'model', endpoints: [C, P, R, E], status: 'honoured', note: 'must be the served model id or an alias (else 404); may be omitted' },
  { name: 'messages', endpoints: [C], status: 'honoured', note: 'roles system, developer, user, assistant (with tool_calls), tool; text content only (other content parts are refused by name)' },
  { name: 'prompt', endpoints: [P], status: 'honoured', note: 'a string, a list of strings (one choice per prompt, in order), token ids, or a list of token-id lists' },
  { name: 'input', endpoints: [R, E], status: 'honoured', note: 'responses: a string or message / function_call / function_call_output items, or item_reference to an output item of one of the last 4096 responses (kept in memory only); embeddings: a string, strings, token ids or lists of token ids' },
  { name: 'instructions', endpoints: [R], status: 'honoured', note: 'a system message before the input' },
  { name: 'max_tokens', endpoints: [C, P], status: 'honoured', note: 'chat: >= 1; completions: default 16, 0 only with echo (scores the prompt)' },
  { name: 'max_completion_tokens', endpoints: [C], status: 'honoured', note: '>= 1; wins over max_tokens' },
  { name: 'max_output_tokens', endpoints: [R], status: 'honoured', note: '>= 1; reaching it ends with status "incomplete"' },
  { name: 'temperature', endpoints: [C, P, R], status: 'honoured', note: '0 to 2 (0: greedy)' },
  { name: 'top_p', endpoints: [C, P, R], status: 'honoured', note: '0 to 1' },
  { name: 'seed', endpoints: [C, P], status: 'honoured', note: 'reproducible sampling; with n > 1, choice i uses seed + i' },
  { name: 'stop', endpoints: [C, P], status: 'honoured', note: 'a string or up to 16 strings; never part of the output' },
  { name: 'stream', endpoints: [C, P, R], status: 'honoured', note: 'server-sent events' },
  { name: 'stream_options', endpoints: [C, P], status: 'honoured', note: 'include_usage honoured; include_obfuscation ignored' },
  { name: 'n', endpoints: [C, P], status: 'honoured', note: '1 to 16 choices, decoded as sequences sharing the prompt' },
  { name: 'presence_penalty', endpoints: [C, P], status: 'honoured', note: '-2 to 2' },
  { name: 'frequency_penalty', endpoints: [C, P], status: 'honoured', note: '-2 to 2' },
  { name: 'logit_bias', endpoints: [C, P], status: 'honoured', note: 'token id -> -100 to 100 added to its logit; -100 bans the token' },
  { name: 'logprobs', endpoints: [C, P], status: 'honoured', note: 'chat: true for choices[].logprobs.content; completions: 0 to 20 top alternatives (legacy shape); log-softmax of the raw logits' },
  { name: 'top_logprobs', endpoints: [C], status: 'honoured', note: '0 to 20, needs logprobs: true' },
  { name: 'echo', endpoints: [P], status: 'honoured', note: 'the prompt comes back before the text; with logprobs, its tokens\' logprobs too (first token null)' },
  { name: 'response_format', endpoints: [C, P], status: 'honoured', note: 'text, json_object, json_schema (strict or not: the grammar always enforces the schema)' },
  { name: 'text', endpoints: [R], status: 'honoured', note: 'text.format: text, json_object, json_schema; text.verbosity refused' },
  { name: 'grammar', endpoints: [C, P], status: 'honoured', note: 'a GBNF grammar the output follows (llama-server)' },
  { name: 'json_schema', endpoints: [C, P], status: 'honoured', note: 'a JSON Schema the output follows (llama-server)' },
  { name: 'tools', endpoints: [C, R], status: 'honoured', note: 'function tools; calls are grammar-constrained to the tool\'s parameters schema' },
  { name: 'tool_choice', endpoints: [C, R], status: 'honoured', note: 'auto, none, required, or one named function' },
  { name: 'parallel_tool_calls', endpoints: [C, R], status: 'honoured', note: 'false: at most one call per reply (default true)' },
  { name: 'encoding_format', endpoints: [E], status: 'honoured', note: 'float or base64 (little-endian float32)' },
  { name: 'dimensions', endpoints: [E], status: 'honoured', note: 'must equal the model\'s embedding size (no truncation)' },
  { name: 'top_k', endpoints: [C, P], status: 'honoured', note: 'llama.cpp sampling extra' },
  { name: 'min_p', endpoints: [C, P], status: 'honoured', note: 'llama.cpp sampling extra' },
  { name: 'repeat_penalty', endpoints: [C, P], status: 'honoured', note: 'llama.cpp sampling extra' },
  { name: 'repeat_last_n', endpoints: [C, P], status: 'honoured', note: 'llama.cpp sampling extra' },
  { name: 'ignore_eos', endpoints: [C, P], status: 'honoured', note: 'llama.cpp extra: keep going past end-of-generation tokens' },
  { name: 'n_keep', endpoints: [C, P], status: 'honoured', note: 'llama-server extra: prompt tokens a context shift keeps, BOS not counted (-1: the whole prompt); an integer from -1 to below the context size; default --keep' },
  {
    name: 'store',
    endpoints: [C, R],
    status: 'honoured',
    note: 'false or absent only: the server is stateless and keeps no responses',
    refuse: (v) => (v === true ? 'the server is stateless and stores nothing; send store: false or leave it out' : undefined),
  },
  {
    name: 'service_tier',
    endpoints: [C, R],
    status: 'ignored',
    note: '"auto" and "default" accepted (there is one tier); others refused',
    refuse: (v) => (absent(v) || v === 'auto' || v === 'default' ? undefined : `"${String(v)}" is not available: this server has one tier (use "auto" or "default")`),
  },
  { name: 'user', endpoints: [C, P, R, E], status: 'ignored', note: 'an end-user id for abuse monitoring; nothing here uses it' },
  { name: 'safety_identifier', endpoints: [C, R], status: 'ignored', note: 'as user' },
  { name: 'metadata', endpoints: [C, R], status: 'ignored', note: 'tags for stored completions; nothing is stored' },
  { name: 'prompt_cache_key', endpoints: [C, R], status: 'ignored', note: 'a caching hint; prompt prefixes are reused per slot anyway' },
  { name: 'prompt_cache_retention', endpoints: [C, R], status: 'ignored', note: 'as prompt_cache_key' },
  {
    name: 'modalities',
    endpoints: [C],
    status: 'honoured',
    note: '["text"] only',
    refuse: (v) => (absent(v) || (Array.isArray(v) && v.every((m) => m === 'text')) ? undefined : 'this model writes text only: send ["text"] or leave it out'),
  },
  {
    name: 'best_of',
    endpoints: [P],
    status: 'refused',
    note: 'values above 1 refused (no server-side ranking of candidates); 1 accepted',
    refuse: (v) => (absent(v) || v === 1 ? undefined : 'choosing the best of several completions is not supported; use n and rank them yourself'),
  },
  {
    name: 'suffix',
    endpoints: [P],
    status: 'refused',
    note: 'fill-in-the-middle is not supported; an empty suffix is accepted',
    refuse: (v) => (absent(v) || v === '' ? undefined : 'fill-in-the-middle (text after the completion) is not supported by this model'),
  },
  {
    name: 'truncation',
    endpoints: [R],
    status: 'honoured',
    note: '"disabled" only: an input longer than the context is an error',
    refuse: (v) => (absent(v) || v === 'disabled' ? undefined : 'only "disabled" is supported: an input longer than the context is refused, never cut'),
  },
  {
    name: 'include',
    endpoints: [R],
    status: 'refused',
    note: 'no extra output data (logprobs, encrypted reasoning, tool outputs) is available; an empty list is accepted',
    refuse: (v) => (absent(v) || (Array.isArray(v) && v.length === 0) ? undefined : `${JSON.stringify(v)} cannot be included: this server has none of these`),
  },
  {
    name: 'background',
    endpoints: [R],
    status: 'refused',
    note: 'background responses need stored state; false accepted',
    refuse: (v) => (absent(v) || v === false ? undefined : 'background responses need stored state, and this server is stateless'),
  },
  { name: 'previous_response_id', endpoints: [R], status: 'refused', note: 'the server is stateless: send the whole conversation in input' },
  { name: 'conversation', endpoints: [R], status: 'refused', note: 'the server is stateless: send the whole conversation in input' },
  { name: 'prompt', endpoints: [R], status: 'refused', note: 'stored prompt templates are not available' },
  { name: 'reasoning', endpoints: [R], status: 'refused', note: 'this model does not reason before answering' },
  { name: 'reasoning_effort', endpoints: [C], status: 'refused', note: 'this model does not reason before answering' },
  { name: 'verbosity', endpoints: [C], status: 'refused', note: 'no verbosity control: set max_tokens' },
  { name: 'max_tool_calls', endpoints: [R], status: 'refused', note: 'use parallel_tool_calls: false for at most one call' },
  { name: 'top_logprobs', endpoints: [R], status: 'refused', note: 'logprobs are available on /v1/chat/completions and /v1/completions' },
  { name: 'audio', endpoints: [C], status: 'refused', note: 'this model writes text only' },
  { name: 'prediction', endpoints: [C], status: 'refused', note: 'predicted outputs (speculative decoding from a given text) are not supported' },
  { name: 'web_search_options', endpoints: [C], status: 'refused', note: 'no web search' },
  { name: 'functions', endpoints: [C], status: 'refused', note: 'deprecated by OpenAI: use tools' },
  { name: 'function_call', endpoints: [C], status: 'refused', note: 'deprecated by OpenAI: use tool_choice' },
];

const refused = (param: string, reason: string): ApiError => new ApiError(400, `${param}: ${reason}`, 'invalid_request_error', param, 'unsupported_field');

const TEXT_PARTS = new Set(['text', 'refusal', 'input_text', 'output_text']);
const RESPONSE_ITEMS = new Set(['message', 'function_call', 'function_call_output', 'item_reference']);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Content parts other than text (images, audio, files, ...) refused by their position and type. */
function checkParts(content: unknown, at: string): void {
  if (!Array.isArray(content)) return;
  content.forEach((part, j) => {
    const type = isObject(part) ? part.type : undefined;
    if (typeof type === 'string' && !TEXT_PARTS.has(type)) throw refused(`${at}.${j}.type`, `"${type}" content is not supported: this model reads text only`);
  });
}

function checkTools(tools: unknown): void {
  if (!Array.isArray(tools)) return;
  tools.forEach((t, i) => {
    const type = isObject(t) ? t.type : undefined;
    if (typeof type === 'string' && type !== 'function') throw refused(`tools.${i}.type`, `"${type}" tools are not supported: only "function" tools (the client runs them)`);
  });
}

/** Refuses, by name, the fields of `body` that this endpoint cannot honour, nested ones included. */
export function checkFields(body: Record<string, unknown>, endpoint: Endpoint): void {
  for (const rule of FIELDS) {
    if (!rule.endpoints.includes(endpoint) || !(rule.name in body)) continue;
    const v = body[rule.name];
    const reason = rule.refuse ? rule.refuse(v) : rule.status === 'refused' && !absent(v) ? rule.note : undefined;
    if (reason !== undefined) throw refused(rule.name, reason);
  }
  if (endpoint === 'chat' && Array.isArray(body.messages)) {
    body.messages.forEach((m, i) => {
      if (!isObject(m)) return;
      if (m.role === 'function') throw refused(`messages.${i}.role`, '"function" messages are deprecated by OpenAI and not supported: use "tool" messages');
      if ('audio' in m && !absent(m.audio)) throw refused(`messages.${i}.audio`, 'this model reads text only');
      if ('function_call' in m && !absent(m.function_call)) throw refused(`messages.${i}.function_call`, 'deprecated by OpenAI: use tool_calls');
      checkParts(m.content, `messages.${i}.content`);
    });
  }
  if (endpoint === 'chat' || endpoint === 'responses') checkTools(body.tools);
  if (endpoint === 'responses' && Array.isArray(body.input)) {
    body.input.forEach((item, i) => {
      if (!isObject(item)) return;
      const type = item.type ?? 'message';
      if (typeof type === 'string' && !RESPONSE_ITEMS.has(type)) {
        throw refused(`input.${i}.type`, `"${type}" items are not supported: only message, function_call, function_call_output and item_reference`);
      }
      checkParts(item.content, `input.${i}.content`);
      checkParts(item.output, `input.${i}.output`);
    });
  }
}

const ENDPOINT_PATHS: Record<Endpoint, string> = { chat: 'chat', completions: 'completions', responses: 'responses', embeddings: 'embeddings' };

/** The table as markdown, as the README's server section has it. */
export function fieldTableMarkdown(): string {
  const rows = FIELDS.map((f) => `| \`${f.name}\` | ${f.endpoints.map((e) => ENDPOINT_PATHS[e]).join(', ')} | ${f.status} | ${f.note.replace(/\|/g, '\\|')} |`);
  return ['| field | endpoints | status | meaning here |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
