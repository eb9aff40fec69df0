// Request bodies of the OpenAI-compatible endpoints, validated with zod (fields.ts has already refused what
// cannot be honoured), and their translation to engine options. Nulls count as absent; unknown fields are
// ignored. Messages that zod would call "Invalid input" are written here, naming what is allowed.
import { z } from 'zod';
import type { GenerateOptions } from '../generate/generate.js';

export const MAX_STOP_STRINGS = 16;
export const MAX_STOP_LENGTH = 512;
export const MAX_N = 16;
export const MAX_TOP_LOGPROBS = 20;
export const MAX_PROMPTS = 256;

const int = (min: number, max = 2 ** 31 - 1) => z.number().int().min(min).max(max);

const stop = z.union([z.string().max(MAX_STOP_LENGTH), z.array(z.string().max(MAX_STOP_LENGTH)).max(MAX_STOP_STRINGS)], {
  error: `must be a string or a list of at most ${MAX_STOP_STRINGS} strings of at most ${MAX_STOP_LENGTH} characters`,
});

/** A JSON Schema: an object or a boolean. */
const jsonSchema = z.union([z.record(z.string(), z.unknown()), z.boolean()], { error: 'must be a JSON Schema (an object or a boolean)' });

const responseFormat = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({
      type: z.literal('json_schema'),
      json_schema: z.object({
        name: z.string().max(256).nullish(),
        description: z.string().nullish(),
        schema: jsonSchema.nullish(),
        strict: z.boolean().nullish(),
      }),
    }),
  ],
  { error: 'must be "text", "json_object" or "json_schema"' },
);

/** Sampling, length and output-shape fields shared by both completion endpoints. */
const sampling = {
  model: z.string().max(1024).nullish(),
  max_tokens: int(0).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  n: int(1, MAX_N).nullish(),
  seed: z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  stop: stop.nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish(), include_obfuscation: z.boolean().nullish() }).nullish(),
  logit_bias: z.record(z.string().regex(/^\d{1,9}$/, 'keys must be token ids (decimal integers)'), z.number().min(-100).max(100)).nullish(),
  response_format: responseFormat.nullish(),
  // llama-server's constraint fields
  grammar: z.string().max(1 << 20).nullish(),
  json_schema: jsonSchema.nullish(),
  // llama.cpp sampling extras
  top_k: int(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repeat_penalty: z.number().gt(0).max(10).nullish(),
  repeat_last_n: int(-1).nullish(),
  ignore_eos: z.boolean().nullish(),
  // llama-server's context shift extra: tokens kept (BOS not counted; -1: the whole prompt), checked against
  // the context size by the handler
  n_keep: int(-1).nullish(),
};

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const refusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() });
const content = z.union([z.string(), z.array(z.union([textPart, refusalPart]))], { error: 'must be a string or a list of text parts' });

const toolCall = z.object({
  id: z.string().max(256),
  type: z.literal('function', { error: 'only "function" tool calls are supported' }).nullish(),
  function: z.object({ name: z.string().max(256), arguments: z.string() }),
});

export const chatMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], { error: 'role must be system, developer, user, assistant or tool' }),
  content: content.nullish(),
  name: z.string().max(256).nullish(),
  tool_calls: z.array(toolCall).max(128).nullish(),
  tool_call_id: z.string().max(256).nullish(),
});

export const functionTool = z.object({
  name: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'a function name is 1 to 64 letters, digits, _ . or -'),
  description: z.string().max(64 * 1024).nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

const chatTool = z.object({ type: z.literal('function', { error: 'only "function" tools are supported' }), function: functionTool });

const toolChoice = z.union(
  [z.enum(['auto', 'none', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })],
  { error: 'must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}' },
);

export const chatRequest = z.object({
  ...sampling,
  messages: z.array(chatMessage).min(1, 'must not be empty'),
  max_tokens: int(1).nullish(),
  max_completion_tokens: int(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int(0, MAX_TOP_LOGPROBS).nullish(),
  tools: z.array(chatTool).max(128).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
});

const tokenIds = z.array(int(0)).min(1, 'must not be empty');

export const completionRequest = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(MAX_PROMPTS), tokenIds, z.array(tokenIds).min(1).max(MAX_PROMPTS)], {
    error: 'must be a string, a list of strings, a list of token ids or a list of token-id lists',
  }),
  logprobs: int(0, MAX_TOP_LOGPROBS).nullish(),
  echo: z.boolean().nullish(),
});

export const embeddingsRequest = z.object({
  model: z.string().max(1024).nullish(),
  input: z.union([z.string(), z.array(z.string()).min(1).max(2048), tokenIds, z.array(tokenIds).min(1).max(2048)], {
    error: 'must be a string, a list of strings, a list of token ids or a list of token-id lists',
  }),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: int(1).nullish(),
});

export const tokenizeRequest = z.object({
  content: z.string(),
  add_special: z.boolean().nullish(),
  parse_special: z.boolean().nullish(),
  with_pieces: z.boolean().nullish(),
});

export const detokenizeRequest = z.object({ tokens: z.array(int(0)) });

export type ChatRequest = z.infer<typeof chatRequest>;
export type CompletionRequest = z.infer<typeof completionRequest>;
export type EmbeddingsRequest = z.infer<typeof embeddingsRequest>;
export type ChatMessageBody = z.infer<typeof chatMessage>;
export type ResponseFormat = z.infer<typeof responseFormat>;

/** Text of a message's content (parts joined). */
export function messageText(c: z.infer<typeof content> | null | undefined): string {
  if (c === null || c === undefined) return '';
  return typeof c === 'string' ? c : c.map((p) => ('text' in p ? p.text : p.refusal)).join('');
}

/** Sampling fields -> engine generation options (absent fields keep the engine's defaults). */
export function samplingOptions(r: {
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  top_k?: number | null | undefined;
  min_p?: number | null | undefined;
  repeat_penalty?: number | null | undefined;
  repeat_last_n?: number | null | undefined;
  presence_penalty?: number | null | undefined;
  frequency_penalty?: number | null | undefined;
  seed?: number | null | undefined;
  stop?: string | string[] | null | undefined;
  ignore_eos?: boolean | null | undefined;
  n_keep?: number | null | undefined;
}): GenerateOptions {
  const o: GenerateOptions = {};
  if (r.temperature != null) o.temperature = r.temperature;
  if (r.top_p != null) o.topP = r.top_p;
  if (r.top_k != null) o.topK = r.top_k;
  if (r.min_p != null) o.minP = r.min_p;
  if (r.repeat_penalty != null) o.repeatPenalty = r.repeat_penalty;
  if (r.repeat_last_n != null) o.repeatLastN = r.repeat_last_n;
  if (r.presence_penalty != null) o.presencePenalty = r.presence_penalty;
  if (r.frequency_penalty != null) o.frequencyPenalty = r.frequency_penalty;
  if (r.seed != null && r.seed >= 0) o.seed = r.seed;
  if (r.stop != null) o.stop = typeof r.stop === 'string' ? [r.stop] : r.stop;
  if (r.ignore_eos != null) o.ignoreEos = r.ignore_eos;
  if (r.n_keep != null) o.nKeep = r.n_keep;
  return o;
}
