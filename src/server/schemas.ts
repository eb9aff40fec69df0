// Request bodies of the OpenAI-compatible endpoints, validated with zod, and their translation to engine
// options. Fields are OpenAI's plus llama.cpp's sampling extras (top_k, min_p, repeat_penalty); unknown
// fields are ignored as OpenAI-compatible servers do, nulls count as absent, and what we cannot honour
// (n > 1, non-text content) is refused by name rather than silently dropped.
import { z } from 'zod';
import type { GenerateOptions } from '../generate/generate.js';

export const MAX_STOP_STRINGS = 16;
export const MAX_STOP_LENGTH = 512;

const int = (min: number, max = 2 ** 31 - 1) => z.number().int().min(min).max(max);

const stop = z.union([z.string().max(MAX_STOP_LENGTH), z.array(z.string().max(MAX_STOP_LENGTH)).max(MAX_STOP_STRINGS)]);

/** Sampling and length fields shared by both completion endpoints. */
const sampling = {
  model: z.string().max(1024).nullish(),
  max_tokens: int(0).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  n: z.literal(1, { error: 'only n = 1 is supported' }).nullish(),
  seed: z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  stop: stop.nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  // llama.cpp extras
  top_k: int(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repeat_penalty: z.number().gt(0).max(10).nullish(),
  repeat_last_n: int(-1).nullish(),
  ignore_eos: z.boolean().nullish(),
};

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const content = z.union([z.string(), z.array(textPart, { error: 'only text content parts are supported' })]);

export const chatMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant'], { error: 'role must be system, developer, user or assistant' }),
  content: content.nullish(),
  name: z.string().nullish(),
});

export const chatRequest = z.object({
  ...sampling,
  messages: z.array(chatMessage).min(1, 'messages must not be empty'),
  max_completion_tokens: int(0).nullish(),
});

export const completionRequest = z.object({
  ...sampling,
  prompt: z.union([
    z.string(),
    z.array(z.string()).length(1, 'only one prompt per request is supported'),
    z.array(int(0)).min(1, 'the prompt has no tokens'),
  ]),
  echo: z.literal(false, { error: 'echo is not supported' }).nullish(),
  suffix: z.null({ error: 'suffix is not supported' }).optional(),
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

/** Text of a message's content (parts joined). */
export function messageText(c: z.infer<typeof content> | null | undefined): string {
  if (c === null || c === undefined) return '';
  return typeof c === 'string' ? c : c.map((p) => p.text).join('');
}

/** Request fields -> engine generation options (absent fields keep the engine's defaults). */
export function generateOptionsFrom(r: ChatRequest | CompletionRequest, defaultMaxTokens: number | undefined): GenerateOptions {
  const o: GenerateOptions = {};
  const maxTokens = ('max_completion_tokens' in r ? r.max_completion_tokens : undefined) ?? r.max_tokens ?? defaultMaxTokens;
  if (maxTokens !== undefined) o.maxTokens = maxTokens;
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
  return o;
}
