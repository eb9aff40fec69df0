// POST /v1/embeddings (and llama-server's /embeddings): the model's final hidden states pooled per input
// (--pooling, else the GGUF's pooling_type, else mean) and L2-normalised, computed in the scheduler's batched
// steps. Input: a string, strings, token ids or lists of them; float or base64 output; usage in tokens.
// Pooling "none" (one vector per token) is only on /embeddings, as llama-server has it.
import type { Context } from 'hono';
import type { Pooling } from '../model/pooling.js';
import { ApiError } from './errors.js';
import { badRequest, clientGone, json, readBody } from './http.js';
import { embeddingsRequest } from './schemas.js';
import type { RouteContext } from './state.js';

/** float32 little-endian bytes as base64, as OpenAI's encoding_format "base64". */
function base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export async function embeddingsHandler(c: Context, ctx: RouteContext, openai: boolean): Promise<Response> {
  const { model, scheduler, limits } = ctx.ready();
  const r = await readBody(c, embeddingsRequest, 'embeddings', (m) => limits.checkBytes(m.largestPromptBytes, 'input'));
  ctx.checkModel(r.model);
  const pooling: Pooling = ctx.opts.pooling ?? model.poolingType ?? 'mean';
  if (pooling === 'none' && openai) {
    throw new ApiError(400, 'the server pools with "none" (one vector per token), which /v1/embeddings cannot return: use /embeddings, or start the server with --pooling mean, last or cls', 'invalid_request_error', null, 'unsupported_pooling');
  }
  const nEmbd = model.hparams.nEmbd;
  if (r.dimensions != null && r.dimensions !== nEmbd) throw badRequest('dimensions', `must be ${nEmbd}, this model's embedding size (vectors are not truncated)`);
  const inp = r.input;
  const list: Array<string | number[]> = typeof inp === 'string' ? [inp] : typeof inp[0] === 'number' ? [inp as number[]] : (inp as Array<string | number[]>);
  const tokens: number[][] = [];
  for (const [i, x] of list.entries()) {
    const param = typeof inp === 'string' || typeof inp[0] === 'number' ? 'input' : `input.${i}`;
    if (typeof x === 'string' && x === '') throw badRequest(param, 'must not be empty');
    const ids = typeof x === 'string' ? await limits.encode([{ text: x, special: true }], { addBos: model.tokenizer.addBos, param }) : model.tokenizePrompt({ tokens: x });
    if (ids.length > scheduler.contextSize) {
      throw new ApiError(400, `${param}: has ${ids.length} tokens but the context size is ${scheduler.contextSize}`, 'invalid_request_error', param, 'context_length_exceeded');
    }
    tokens.push(ids);
  }
  const abort = new AbortController();
  const onGone = (): void => abort.abort();
  c.req.raw.signal.addEventListener('abort', onGone, { once: true });
  // up to 2048 inputs, at most one per slot in flight: the scheduler batches them in its steps, and one
  // request never fills the queue (which would be a 429 for its own inputs) nor stacks a listener per input
  const vectors: Float32Array[] = new Array(tokens.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tokens.length && !abort.signal.aborted) {
      const i = next++;
      vectors[i] = await scheduler.embed(tokens[i]!, { pooling, normalize: true, signal: abort.signal });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(tokens.length, scheduler.parallel) }, worker));
    if (abort.signal.aborted) throw new ApiError(499, 'the client disconnected', 'invalid_request_error');
  } catch (e) {
    abort.abort();
    if (c.req.raw.signal.aborted && !ctx.state.draining) {
      return clientGone(c, ctx.log);
    }
    throw e;
  } finally {
    c.req.raw.signal.removeEventListener('abort', onGone);
  }
  const encode = (v: Float32Array): string | number[] => (r.encoding_format === 'base64' ? base64(v) : Array.from(v));
  const data = vectors.map((v, index) => {
    if (pooling !== 'none') return { object: 'embedding', index, embedding: encode(v) };
    const rows: Array<string | number[]> = [];
    for (let i = 0; i < v.length; i += nEmbd) rows.push(encode(v.subarray(i, i + nEmbd)));
    return { object: 'embedding', index, embedding: rows };
  });
  const promptTokens = tokens.reduce((a, t) => a + t.length, 0);
  return json(c, { object: 'list', data, model: ctx.opts.modelId, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}
