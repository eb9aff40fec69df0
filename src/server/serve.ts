// Runs the app on a Node HTTP server: listens first (so /health answers 503 while the model loads), then
// loads the model and starts the scheduler. close() drains: stop accepting, let in-flight generations
// finish within a grace period, cancel the rest, close connections, free the model.
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { loadModel, type LoadOptions } from '../engine/load.js';
import type { BitnetModel } from '../engine/model.js';
import { prepareGrammarVocabulary } from '../grammar/index.js';
import type { KvType, KvTypes } from '../model/kv-cache.js';
import { createApp, ServerState, type AppOptions } from './app.js';
import { createTransport, type TransportOptions } from './transport.js';

export interface ServeOptions extends Omit<AppOptions, 'modelId'>, TransportOptions {
  /** model path (or a BitnetModel already loaded, which close() does not dispose) */
  model: string | BitnetModel;
  /** id in /v1/models; default the model file's name */
  modelId?: string;
  host?: string;
  /** 0: any free port */
  port?: number;
  load?: LoadOptions;
  parallel?: number;
  /** context size of each slot; default the model's */
  contextSize?: number;
  /** every slot's K/V storage (-ctk / -ctv): one type for both, or a pair; default the model's */
  kvType?: KvType | KvTypes;
  maxQueue?: number;
  /** a slot whose context is full drops half of what follows the kept tokens and goes on (requests with max_tokens); default false (`bitnet serve`: on) */
  contextShift?: boolean;
  /** tokens a context shift keeps for requests without n_keep (BOS not counted; -1: the whole prompt); default 0 */
  nKeep?: number;
  /** one line per request on stderr */
  log?: (line: string) => void;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly state: ServerState;
  /** resolves when the model is loaded and requests are served; rejects if loading fails */
  readonly ready: Promise<BitnetModel>;
  /** graceful stop; in-flight generations get `graceMs` (default 10 s) to finish, then are cancelled */
  close(opts?: { graceMs?: number }): Promise<void>;
}

const baseName = (p: string): string => p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? p;

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const state = new ServerState();
  const modelId = opts.modelId ?? (typeof opts.model === 'string' ? baseName(opts.model) : baseName(opts.model.path));
  const app = createApp(state, { boundHost: opts.host ?? '127.0.0.1', ...opts, modelId });
  const log = opts.log;
  const fetch = log
    ? async (req: Request, env: unknown): Promise<Response> => {
        const t0 = performance.now();
        // env carries Node's request (the transport's framing errors are looked up by it)
        const res = await app.fetch(req, env);
        log(`${req.method} ${new URL(req.url).pathname} ${res.status} ${(performance.now() - t0).toFixed(0)} ms`);
        return res;
      }
    : app.fetch;
  // a forward step blocks the event loop for up to seconds; with Node's 5 s keep-alive, a client reusing a
  // connection near that limit has it reset (the timer runs before the waiting request is read). So idle
  // connections are kept 65 s by default, well past the longest step, as servers behind load balancers do.
  const transport = createTransport(getRequestListener(fetch, { hostname: opts.host ?? '127.0.0.1' }), state, opts, opts.log ?? ((line) => console.warn(line)));
  const server = transport.server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const ownModel = typeof opts.model === 'string';

  const ready = (async () => {
    const model =
      typeof opts.model === 'string'
        ? await loadModel(opts.model, { ...opts.load, onProgress: (p) => ((state.loadProgress = p.total ? p.loaded / p.total : 0), opts.load?.onProgress?.(p)) })
        : opts.model;
    state.scheduler = model.createScheduler({
      parallel: opts.parallel ?? 1,
      ...(opts.contextSize !== undefined ? { contextSize: opts.contextSize } : {}),
      ...(opts.kvType !== undefined ? { kvType: opts.kvType } : {}),
      ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}),
      ...(opts.contextShift !== undefined ? { contextShift: opts.contextShift } : {}),
      ...(opts.nKeep !== undefined ? { nKeep: opts.nKeep } : {}),
    });
    // the grammar's vocabulary tables, built here rather than on the event loop of the first constrained request
    prepareGrammarVocabulary(model.tokenizer);
    state.model = model;
    state.loadProgress = 1;
    return model;
  })();
  ready.catch(() => {}); // the caller decides what a failed load means

  let closing: Promise<void> | undefined;
  const close = (o: { graceMs?: number } = {}): Promise<void> =>
    (closing ??= (async () => {
      state.draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // idle keep-alive connections close now, busy ones as their last response ends
      transport.drain();
      const sched = state.scheduler;
      if (sched) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, o.graceMs ?? 10_000)));
        await Promise.race([sched.close(), grace]);
        clearTimeout(timer);
        await sched.close({ cancel: true });
        // let the streams write their last events before the sockets go
        await new Promise((r) => setTimeout(r, 50));
      }
      server.closeAllConnections();
      transport.stop();
      await stopped;
      await sched?.dispose();
      if (ownModel) {
        const model = await ready.catch(() => undefined);
        await model?.dispose();
      }
    })());

  return { url: `http://${host}:${addr.port}`, port: addr.port, state, ready, close };
}
