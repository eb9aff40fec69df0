// The HTTP layer of `bitnet serve`: a Hono app (a fetch handler, testable without a socket) over the
// engine's Scheduler. OpenAI's /v1/chat/completions, /v1/completions (JSON or SSE), /v1/models, plus
// /health, /metrics, /tokenize and /detokenize as llama-server has them. Bodies are decoded strictly
// (size limit, UTF-8, JSON, zod), and every failure is an OpenAI-shaped error from errors.ts.
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { z } from 'zod';
import type { ChatMessage } from '../engine/chat-template.js';
import type { BitnetModel } from '../engine/model.js';
import type { GenerationChunk, GenerationStats } from '../generate/generate.js';
import type { Scheduler } from '../generate/scheduler.js';
import { ApiError, errorBody, toApiError } from './errors.js';
import { renderMetrics, type ServerCounters } from './metrics.js';
import { chatRequest, completionRequest, detokenizeRequest, generateOptionsFrom, messageText, tokenizeRequest } from './schemas.js';

export interface AppOptions {
  /** the model's id in /v1/models; requests naming another model get 404 */
  modelId: string;
  /** other names accepted in the `model` field */
  aliases?: readonly string[];
  /** required as `Authorization: Bearer KEY` on everything but /health */
  apiKey?: string;
  /** request bodies above this get 413; default 4 MiB */
  maxBodyBytes?: number;
  /** serve /metrics */
  metrics?: boolean;
  /** SSE comment pings while nothing else is sent (prompt processing, queueing); default 5000 ms */
  pingIntervalMs?: number;
  /** reported in system_fingerprint */
  version?: string;
}

/** What the app serves from: set `model` and `scheduler` once loaded; `draining` refuses new work. */
export class ServerState {
  model: BitnetModel | undefined;
  scheduler: Scheduler | undefined;
  loadProgress = 0;
  draining = false;
  readonly counters: ServerCounters = { http: new Map(), ttftSeconds: { sum: 0, count: 0 }, startedAt: Date.now() };
}

const created = (): number => Math.floor(Date.now() / 1000);
const randomId = (): string => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');

function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i % (a.length || 1)) | 0) ^ (b.charCodeAt(i % (b.length || 1)) | 0);
  return diff === 0;
}

function json(c: Context, body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return c.json(body, status as ContentfulStatusCode);
}

function errorResponse(c: Context, e: unknown): Response {
  const err = toApiError(e);
  if (err.status === 500 && !(e instanceof ApiError)) console.error('bitnet serve: internal error:', e instanceof Error ? e.message : e);
  return json(c, errorBody(err), err.status, err.headers);
}

/** Reads the body as strict UTF-8 JSON and validates it; errors name the offending field. */
async function readBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, 'the request body is not valid UTF-8', 'invalid_request_error', null, 'invalid_encoding');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const param = issue.path.map(String).join('.') || null;
    throw new ApiError(400, param ? `${param}: ${issue.message}` : issue.message, 'invalid_request_error', param, 'invalid_value');
  }
  return r.data;
}

export function createApp(state: ServerState, opts: AppOptions): Hono {
  const app = new Hono();
  const pingMs = opts.pingIntervalMs ?? 5000;
  const fingerprint = `bitnet.ts-${opts.version ?? 'dev'}`;
  const names = new Set([opts.modelId, ...(opts.aliases ?? [])]);

  app.use('*', cors({ origin: '*', allowHeaders: ['Authorization', 'Content-Type'], allowMethods: ['GET', 'POST', 'OPTIONS'], maxAge: 600 }));
  // count every response by route and status, for /metrics
  app.use('*', async (c, next) => {
    await next();
    const key = `${c.req.routePath === '/*' ? 'other' : c.req.routePath}\t${c.res.status}`;
    state.counters.http.set(key, (state.counters.http.get(key) ?? 0) + 1);
  });
  app.use('*', async (c, next) => {
    if (!opts.apiKey || c.req.method === 'OPTIONS' || c.req.path === '/health' || c.req.path === '/v1/health') return next();
    const auth = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(auth);
    if (!m) return errorResponse(c, new ApiError(401, 'missing API key: send "Authorization: Bearer KEY"', 'authentication_error', null, 'missing_api_key'));
    if (!timingSafeEqual(m[1]!.trim(), opts.apiKey)) return errorResponse(c, new ApiError(401, 'invalid API key', 'authentication_error', null, 'invalid_api_key'));
    return next();
  });
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  app.use(
    '*',
    bodyLimit({ maxSize: maxBody, onError: (c) => errorResponse(c, new ApiError(413, `the request body is larger than ${maxBody} bytes`, 'invalid_request_error', null, 'request_too_large')) }),
  );
  app.onError((e, c) => errorResponse(c, e));
  app.notFound((c) => errorResponse(c, new ApiError(404, `no route ${c.req.method} ${c.req.path}`, 'not_found_error', null, 'not_found')));

  /** The loaded model and scheduler, or 503 while loading / shutting down. */
  const ready = (): { model: BitnetModel; scheduler: Scheduler } => {
    if (state.draining) throw new ApiError(503, 'the server is shutting down', 'unavailable_error', null, 'shutting_down');
    if (!state.model || !state.scheduler) throw new ApiError(503, 'Loading model', 'unavailable_error', null, 'model_loading');
    return { model: state.model, scheduler: state.scheduler };
  };
  const checkModel = (name: string | null | undefined): void => {
    if (name != null && name !== '' && !names.has(name)) {
      throw new ApiError(404, `The model "${name}" does not exist; this server serves "${opts.modelId}"`, 'not_found_error', 'model', 'model_not_found');
    }
  };

  const health = (c: Context): Response => {
    if (state.draining) return errorResponse(c, new ApiError(503, 'the server is shutting down', 'unavailable_error', null, 'shutting_down'));
    if (!state.model) return json(c, { ...errorBody(new ApiError(503, 'Loading model', 'unavailable_error', null, 'model_loading')), progress: state.loadProgress }, 503);
    const s = state.scheduler!.stats();
    return json(c, { status: 'ok', slots_idle: s.slots - s.busySlots, slots_processing: s.busySlots, queued: s.queued });
  };
  app.get('/health', health);
  app.get('/v1/health', health);

  const modelEntry = (): object => ({ id: opts.modelId, object: 'model', created: Math.floor(state.counters.startedAt / 1000), owned_by: 'bitnet.ts', ...(state.model ? { meta: { n_ctx: state.scheduler?.contextSize, n_vocab: state.model.hparams.nVocab, n_params: state.model.parameterCount, size: state.model.fileSize } } : {}) });
  app.get('/v1/models', (c) => json(c, { object: 'list', data: [modelEntry()] }));
  app.get('/v1/models/:model{.+}', (c) => {
    checkModel(c.req.param('model'));
    return json(c, modelEntry());
  });

  app.get('/metrics', (c) => {
    if (!opts.metrics) throw new ApiError(404, 'metrics are off: start the server with --metrics', 'not_found_error', null, 'metrics_disabled');
    c.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return c.body(renderMetrics(state.counters, state.scheduler?.stats(), state.model !== undefined));
  });

  app.post('/tokenize', async (c) => {
    const { model } = ready();
    const r = await readBody(c, tokenizeRequest);
    const tokens = model.tokenize(r.content, { addBos: r.add_special ?? false, parseSpecial: r.parse_special ?? true });
    if (!r.with_pieces) return json(c, { tokens });
    return json(c, { tokens: tokens.map((id) => ({ id, piece: model.detokenize([id]) })) });
  });
  app.post('/detokenize', async (c) => {
    const { model } = ready();
    const r = await readBody(c, detokenizeRequest);
    for (const id of r.tokens) {
      if (id >= model.tokenizer.vocabSize) throw new ApiError(400, `token id ${id} is out of range [0, ${model.tokenizer.vocabSize})`, 'invalid_request_error', 'tokens', 'invalid_tokens');
    }
    return json(c, { content: model.detokenize(r.tokens) });
  });

  app.post('/v1/chat/completions', (c) => completion(c, 'chat'));
  app.post('/v1/completions', (c) => completion(c, 'text'));
  app.post('/chat/completions', (c) => completion(c, 'chat'));
  app.post('/completions', (c) => completion(c, 'text'));

  async function completion(c: Context, kind: 'chat' | 'text'): Promise<Response> {
    const t0 = performance.now();
    const { model, scheduler } = ready();
    const r = kind === 'chat' ? await readBody(c, chatRequest) : await readBody(c, completionRequest);
    checkModel(r.model);
    let prompt: number[];
    if ('messages' in r) {
      const messages: ChatMessage[] = r.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: messageText(m.content) }));
      prompt = model.tokenizePrompt(messages);
    } else {
      const p = r.prompt;
      prompt = typeof p === 'string' ? model.tokenizePrompt(p) : typeof p[0] === 'string' ? model.tokenizePrompt(p[0]) : model.tokenizePrompt({ tokens: p as number[] });
    }
    // the client going away cancels the generation (its slot is free by the next step)
    const abort = new AbortController();
    const onGone = (): void => abort.abort();
    c.req.raw.signal.addEventListener('abort', onGone, { once: true });
    let handle;
    try {
      handle = scheduler.submit(prompt, { ...generateOptionsFrom(r, kind === 'text' ? 16 : undefined), signal: abort.signal });
    } catch (e) {
      const err = toApiError(e);
      if (err.status === 429) {
        const s = scheduler.stats();
        err.headers['Retry-After'] = String(Math.max(1, Math.ceil((s.queued + 1) / s.slots)));
      }
      throw err;
    }
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomId()}`;
    const base = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: created(), model: opts.modelId, system_fingerprint: fingerprint };
    const usage = (s: GenerationStats) => ({ prompt_tokens: s.promptTokens, completion_tokens: s.generatedTokens, total_tokens: s.promptTokens + s.generatedTokens, prompt_tokens_details: { cached_tokens: s.cachedTokens } });
    const timings = (s: GenerationStats) => ({ prompt_n: s.promptTokens - s.cachedTokens, prompt_ms: s.promptMs, predicted_n: s.generatedTokens, predicted_ms: s.generateMs, predicted_per_second: s.tokensPerSecond });
    const firstToken = (): void => {
      state.counters.ttftSeconds.sum += (performance.now() - t0) / 1000;
      state.counters.ttftSeconds.count++;
    };

    if (!r.stream) {
      let text = '';
      let last: GenerationChunk | undefined;
      try {
        for await (const chunk of handle) {
          if (!last && chunk.tokens.length) firstToken();
          text += chunk.text;
          last = chunk;
        }
      } finally {
        c.req.raw.signal.removeEventListener('abort', onGone);
      }
      const s = last!.stats!;
      const choice = kind === 'chat' ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: s.finishReason } : { index: 0, text, logprobs: null, finish_reason: s.finishReason };
      return json(c, { ...base, object: kind === 'chat' ? 'chat.completion' : 'text_completion', choices: [choice], usage: usage(s), timings: timings(s) });
    }

    const includeUsage = r.stream_options?.include_usage === true;
    const piece = (text: string, finish: string | null) =>
      kind === 'chat' ? { index: 0, delta: finish ? {} : { content: text }, logprobs: null, finish_reason: finish } : { index: 0, text, logprobs: null, finish_reason: finish };
    return streamSSE(c, async (stream: SSEStreamingApi) => {
      let lastWrite = performance.now();
      const send = async (data: unknown): Promise<void> => {
        lastWrite = performance.now();
        await stream.writeSSE({ data: typeof data === 'string' ? data : JSON.stringify(data) });
      };
      stream.onAbort(() => abort.abort());
      const ping = setInterval(() => {
        if (performance.now() - lastWrite >= pingMs && !stream.closed) {
          lastWrite = performance.now();
          stream.write(': ping\n\n').catch(() => abort.abort());
        }
      }, Math.max(1, Math.min(pingMs, 1000)));
      let first = true;
      try {
        if (kind === 'chat') await send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
        for await (const chunk of handle) {
          if (first && chunk.tokens.length) {
            first = false;
            firstToken();
          }
          // one event per generated token, as llama-server streams: its text may be empty (a special token,
          // half a UTF-8 character, a possible stop string held back), the event still marks progress
          if (chunk.text || chunk.tokens.length) await send({ ...base, choices: [piece(chunk.text, null)] });
          if (chunk.stats) {
            const s = chunk.stats;
            await send({ ...base, choices: [piece('', s.finishReason)] });
            if (includeUsage) await send({ ...base, choices: [], usage: usage(s), timings: timings(s) });
            await send('[DONE]');
          }
        }
      } catch (e) {
        // a client that left is not told anything; anyone still listening gets the error as an event
        if (!abort.signal.aborted || state.draining) {
          const err = toApiError(e);
          if (!stream.closed) await send(errorBody(err)).catch(() => {});
        }
      } finally {
        clearInterval(ping);
        c.req.raw.signal.removeEventListener('abort', onGone);
        handle.cancel();
      }
    });
  }

  return app;
}
