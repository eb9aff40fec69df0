// The HTTP layer of `bitnet serve`: a Hono app (a fetch handler, testable without a socket) over the
// engine's Scheduler. Middleware (CORS, metrics counting, API key, body limit) and the routes; each
// capability lives in its own file: completions.ts (chat and text), responses.ts, embeddings.ts. Plus
// /v1/models, /health, /metrics, /tokenize and /detokenize as llama-server has them.
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { completionHandler } from './completions.js';
import { embeddingsHandler } from './embeddings.js';
import { ApiError, errorBody } from './errors.js';
import { bodyReadError, errorResponse, json, readBody } from './http.js';
import { hostPolicy, originPolicy } from './origin.js';
import { renderMetrics } from './metrics.js';
import { responsesHandler } from './responses.js';
import { detokenizeRequest, tokenizeRequest } from './schemas.js';
import { countRefused, routeContext, type AppOptions, type ServerState } from './state.js';

export { ServerState, type AppOptions } from './state.js';

function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i % (a.length || 1)) | 0) ^ (b.charCodeAt(i % (b.length || 1)) | 0);
  return diff === 0;
}

export function createApp(state: ServerState, opts: AppOptions): Hono {
  const app = new Hono();
  const ctx = routeContext(state, opts);

  // Host and Origin checks first (origin.ts): a page the user happens to visit must not drive the server
  const hostOk = hostPolicy(opts.boundHost, opts.allowedHosts);
  const originOk = originPolicy(opts.corsOrigins);
  const anyOrigin = opts.corsOrigins?.includes('*') ?? false;
  app.use('*', async (c, next) => {
    // no Host header (the app used as a fetch handler, not over HTTP/1.1): the URL's host stands for it
    const host = c.req.header('host') ?? new URL(c.req.url).host;
    if (hostOk && !hostOk(host)) {
      return errorResponse(c, new ApiError(403, `the Host "${host}" is not allowed here (DNS rebinding defence): add it with --allowed-hosts (or BITNET_ALLOWED_HOSTS), or --allowed-hosts '*' to accept any`, 'permission_error', null, 'host_not_allowed'));
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && !originOk(origin)) {
      return errorResponse(c, new ApiError(403, `the browser origin "${origin}" is not allowed (loopback pages are): add it with --cors-origins (or BITNET_CORS_ORIGINS), or --cors-origins '*' for any`, 'permission_error', null, 'origin_not_allowed'));
    }
    return next();
  });
  // no allowHeaders: preflights get back the headers they ask for (the openai SDK sends X-Stainless-* ones)
  app.use('*', cors({ origin: anyOrigin ? '*' : (origin) => (originOk(origin) ? origin : null), allowMethods: ['GET', 'POST', 'OPTIONS'], maxAge: 600 }));
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
  const limit = bodyLimit({ maxSize: maxBody, onError: (c) => (countRefused(state, 'request_too_large'), errorResponse(c, new ApiError(413, `the request body is larger than ${maxBody} bytes`, 'invalid_request_error', null, 'request_too_large'))) });
  // the limit reads chunked bodies itself: a client that aborts or breaks the framing fails here
  // (the routes' own errors never reach this catch: they become responses in onError below)
  app.use('*', async (c, next) => {
    try {
      return await limit(c, next);
    } catch (e) {
      throw bodyReadError(c, e);
    }
  });
  app.onError((e, c) => {
    if (e instanceof ApiError && (e.code === 'client_closed_request' || e.code === 'bad_body' || e.code === 'request_timeout')) ctx.log(`bitnet serve: ${c.req.method} ${c.req.path}: ${e.message} (${e.status})`);
    return errorResponse(c, e);
  });
  app.notFound((c) => errorResponse(c, new ApiError(404, `no route ${c.req.method} ${c.req.path}`, 'not_found_error', null, 'not_found')));

  const health = (c: Context): Response => {
    if (state.draining) return errorResponse(c, new ApiError(503, 'the server is shutting down', 'unavailable_error', null, 'shutting_down'));
    if (!state.model) return json(c, { ...errorBody(new ApiError(503, 'Loading model', 'unavailable_error', null, 'model_loading')), progress: state.loadProgress }, 503);
    const s = state.scheduler!.stats();
    return json(c, { status: 'ok', slots_idle: s.slots - s.busySlots, slots_processing: s.busySlots, queued: s.queued });
  };
  app.get('/health', health);
  app.get('/v1/health', health);

  const modelEntry = (): object => ({
    id: opts.modelId,
    object: 'model',
    created: Math.floor(state.counters.startedAt / 1000),
    owned_by: 'bitnet.ts',
    ...(state.model ? { meta: { n_ctx: state.scheduler?.contextSize, n_vocab: state.model.hparams.nVocab, n_embd: state.model.hparams.nEmbd, n_params: state.model.parameterCount, size: state.model.fileSize } } : {}),
  });
  app.get('/v1/models', (c) => json(c, { object: 'list', data: [modelEntry()] }));
  app.get('/v1/models/:model{.+}', (c) => {
    ctx.checkModel(c.req.param('model'));
    return json(c, modelEntry());
  });

  app.get('/metrics', (c) => {
    if (!opts.metrics) throw new ApiError(404, 'metrics are off: start the server with --metrics', 'not_found_error', null, 'metrics_disabled');
    c.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return c.body(renderMetrics(state.counters, state.scheduler?.stats(), state.model !== undefined, { connections: state.connections, liveHandlers: state.handlers.live }));
  });

  // under the prompts' limits (input.ts): at most a context's worth of tokens, so the answer is bounded too
  app.post('/tokenize', async (c) => {
    const { model, limits } = ctx.ready();
    const r = await readBody(c, tokenizeRequest, undefined, (m) => limits.checkBytes(m.largestPromptBytes, 'content'));
    const tokens = await limits.encode([{ text: r.content, special: r.parse_special ?? true }], { addBos: r.add_special ?? false, param: 'content' });
    if (!r.with_pieces) return json(c, { tokens });
    return json(c, { tokens: tokens.map((id) => ({ id, piece: model.detokenize([id]) })) });
  });
  app.post('/detokenize', async (c) => {
    const { model, limits } = ctx.ready();
    const r = await readBody(c, detokenizeRequest);
    if (r.tokens.length > limits.contextSize) {
      countRefused(state, 'context_length_exceeded');
      throw new ApiError(400, `tokens: ${r.tokens.length} tokens, more than the context of ${limits.contextSize}`, 'invalid_request_error', 'tokens', 'context_length_exceeded');
    }
    for (const id of r.tokens) {
      if (id >= model.tokenizer.vocabSize) throw new ApiError(400, `token id ${id} is out of range [0, ${model.tokenizer.vocabSize})`, 'invalid_request_error', 'tokens', 'invalid_tokens');
    }
    return json(c, { content: model.detokenize(r.tokens) });
  });

  for (const prefix of ['/v1', '']) {
    app.post(`${prefix}/chat/completions`, (c) => completionHandler(c, ctx, 'chat'));
    app.post(`${prefix}/completions`, (c) => completionHandler(c, ctx, 'text'));
    app.post(`${prefix}/responses`, (c) => responsesHandler(c, ctx));
  }
  app.post('/v1/embeddings', (c) => embeddingsHandler(c, ctx, true));
  app.post('/embeddings', (c) => embeddingsHandler(c, ctx, false));

  return app;
}
