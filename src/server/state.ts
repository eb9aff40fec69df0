// What the server's routes share: its options, the loaded model and scheduler (set once loaded), counters
// for /metrics, and the per-route context (readiness check, model-name check, logging).
import type { BitnetModel } from '../engine/model.js';
import type { Pooling } from '../model/pooling.js';
import type { Scheduler } from '../generate/scheduler.js';
import { ApiError } from './errors.js';
import { InputLimits } from './input.js';
import { RequestLife } from './lifetime.js';
import type { ServerCounters } from './metrics.js';

export interface AppOptions {
  /** the model's id in /v1/models; requests naming another model get 404 */
  modelId: string;
  /** other names accepted in the `model` field */
  aliases?: readonly string[];
  /** required as `Authorization: Bearer KEY` on everything but /health */
  apiKey?: string;
  /** browser origins accepted besides loopback pages (`*`: any); others get 403 (origin.ts) */
  corsOrigins?: readonly string[];
  /** Host names accepted besides localhost, IP literals and the bound host (`*`: any); others get 403 */
  allowedHosts?: readonly string[];
  /** the address the server listens on: bound to a non-loopback one, any Host is accepted */
  boundHost?: string;
  /** request bodies above this get 413; default 4 MiB */
  maxBodyBytes?: number;
  /** serve /metrics */
  metrics?: boolean;
  /** SSE comment pings while nothing else is sent (prompt processing, queueing); default 5000 ms */
  pingIntervalMs?: number;
  /** reported in system_fingerprint */
  version?: string;
  /** embeddings pooling; default the model's GGUF pooling_type, else mean */
  pooling?: Pooling;
  /** where events worth a line go (a client that left before its reply); default console.warn */
  log?: (line: string) => void;
}

/** What the app serves from: set `model` and `scheduler` once loaded; `draining` refuses new work. */
export class ServerState {
  model: BitnetModel | undefined;
  scheduler: Scheduler | undefined;
  loadProgress = 0;
  draining = false;
  readonly counters: ServerCounters = { http: new Map(), refused: new Map(), ttftSeconds: { sum: 0, count: 0 }, startedAt: Date.now(), cutOff: 0 };
  /** generation handlers (JSON and streams) that have not returned yet */
  readonly handlers = { live: 0 };
  /** open HTTP connections (set by the transport, serve.ts) */
  connections = 0;
  /** /v1/responses output items by id, the most recent few thousand, for item_reference inputs */
  readonly responseItems = new Map<string, unknown>();
}

export interface RouteContext {
  state: ServerState;
  opts: AppOptions;
  fingerprint: string;
  pingMs: number;
  /** the loaded model and scheduler, or 503 while loading / shutting down */
  ready(): { model: BitnetModel; scheduler: Scheduler; limits: InputLimits };
  /** 404 unless `name` is absent or names the served model */
  checkModel(name: string | null | undefined): void;
  log(line: string): void;
  /** records a request's time to first token */
  firstToken(t0: number): void;
  /** a generation request's lifetime, ended by the client leaving (`request` aborted) or by the handler */
  life(request: AbortSignal): RequestLife;
}

export function routeContext(state: ServerState, opts: AppOptions): RouteContext {
  const names = new Set([opts.modelId, ...(opts.aliases ?? [])]);
  let limits: InputLimits | undefined;
  return {
    state,
    opts,
    fingerprint: `bitnet.ts-${opts.version ?? 'dev'}`,
    pingMs: opts.pingIntervalMs ?? 5000,
    ready() {
      if (state.draining) throw new ApiError(503, 'the server is shutting down', 'unavailable_error', null, 'shutting_down');
      if (!state.model || !state.scheduler) throw new ApiError(503, 'Loading model', 'unavailable_error', null, 'model_loading');
      const s = state.scheduler;
      limits ??= new InputLimits(state.model, s.contextSize, s.stats().slots + s.maxQueue, (reason) => countRefused(state, reason));
      return { model: state.model, scheduler: s, limits };
    },
    checkModel(name) {
      if (name != null && name !== '' && !names.has(name)) {
        throw new ApiError(404, `The model "${name}" does not exist; this server serves "${opts.modelId}"`, 'not_found_error', 'model', 'model_not_found');
      }
    },
    log: opts.log ?? ((line) => console.warn(line)),
    life: (request) => new RequestLife(request, state.handlers),
    firstToken(t0) {
      state.counters.ttftSeconds.sum += (performance.now() - t0) / 1000;
      state.counters.ttftSeconds.count++;
    },
  };
}

/** Counts a request refused for its size or for load, by reason (bitnet_requests_refused_total). */
export function countRefused(state: ServerState, reason: string): void {
  state.counters.refused.set(reason, (state.counters.refused.get(reason) ?? 0) + 1);
}
