// `bitnet serve -m MODEL`: the OpenAI-compatible HTTP server (src/server). Listens at once (/health is 503
// until the model is loaded), logs one line per request to stderr, and on SIGINT/SIGTERM stops accepting,
// lets in-flight generations finish (up to --shutdown-grace seconds), cancels the rest and exits 0.
import { parseModelRef } from '../../hub/index.js';
import { CONTEXT_OPTIONS, CONTEXT_SHIFT_OPTIONS, contextShiftOptions, helpText, UsageError, loadOptions, MODEL_OPTIONS, num, parseCommand, requireModel, str, type OptionSpec } from '../args.js';
import { resolveRef } from '../common.js';
import { loadProgress, warn } from '../progress.js';
import type { Pooling } from '../../model/pooling.js';
import { startServer } from '../../server/serve.js';
import { RESERVE } from '../../server/transport.js';
import { version } from '../version.js';

const OPTIONS: OptionSpec[] = [
  { name: 'host', type: 'string', env: 'BITNET_HOST', arg: 'ADDR', help: 'address to listen on', default: '127.0.0.1' },
  { name: 'port', type: 'string', env: 'BITNET_PORT', arg: 'N', help: 'port to listen on (0: any free port)', default: '8080' },
  { name: 'parallel', type: 'string', env: 'BITNET_PARALLEL', arg: 'N', help: 'slots decoded together in one batched step', default: '4' },
  { name: 'max-queue', type: 'string', env: 'BITNET_MAX_QUEUE', arg: 'N', help: 'requests that may wait for a slot; beyond it 429', default: '64' },
  { name: 'api-key', type: 'string', env: 'BITNET_API_KEY', arg: 'KEY', help: 'require "Authorization: Bearer KEY" (not on /health)' },
  { name: 'alias', short: 'a', type: 'string', env: 'BITNET_ALIAS', arg: 'NAME', help: 'model id in /v1/models', default: 'the file name, or the repo / URL given to -m' },
  { name: 'cors-origins', type: 'string', env: 'BITNET_CORS_ORIGINS', arg: 'LIST', help: "browser origins allowed besides loopback pages, comma-separated ('*': any); others get 403", default: 'http(s)://localhost, 127.0.0.1, [::1], any port' },
  { name: 'allowed-hosts', type: 'string', env: 'BITNET_ALLOWED_HOSTS', arg: 'LIST', help: "Host names accepted besides localhost, IP addresses and --host, comma-separated ('*': any); others get 403. Bound to a non-loopback address, any Host is accepted", default: 'localhost, IP addresses, the --host' },
  { name: 'metrics', type: 'boolean', env: 'BITNET_METRICS', help: 'serve Prometheus metrics at /metrics' },
  { name: 'max-body', type: 'string', env: 'BITNET_MAX_BODY', arg: 'BYTES', help: 'largest request body', default: '4194304' },
  { name: 'max-connections', type: 'string', env: 'BITNET_MAX_CONNECTIONS', arg: 'N', help: `open connections; one more evicts the oldest idle one, else gets 503 (${RESERVE} more may still ask /health)`, default: '256' },
  { name: 'timeout-idle', type: 'string', env: 'BITNET_TIMEOUT_IDLE', arg: 'S', help: 'seconds an idle keep-alive connection is kept', default: '65' },
  { name: 'timeout-headers', type: 'string', env: 'BITNET_TIMEOUT_HEADERS', arg: 'S', help: 'seconds a client has to send the request headers (408 after)', default: '10' },
  { name: 'timeout-request', type: 'string', env: 'BITNET_TIMEOUT_REQUEST', arg: 'S', help: 'seconds a client has to send the whole request, body included (408 after)', default: '60' },
  { name: 'timeout-write', type: 'string', env: 'BITNET_TIMEOUT_WRITE', arg: 'S', help: 'a client that reads nothing for this long while output waits is cut off (its generations cancelled)', default: '60' },
  { name: 'max-unsent', type: 'string', env: 'BITNET_MAX_UNSENT', arg: 'BYTES', help: 'unsent output a connection may hold; above it, a client that reads nothing for 1 s is cut off', default: '8388608' },
  { name: 'shutdown-grace', type: 'string', env: 'BITNET_SHUTDOWN_GRACE', arg: 'S', help: 'seconds in-flight requests get to finish on SIGINT/SIGTERM', default: '10' },
  { name: 'pooling', type: 'string', env: 'BITNET_POOLING', arg: 'TYPE', help: 'embeddings pooling: mean, last, cls or none (one vector per token, /embeddings only)', default: "the model's pooling_type, else mean" },
  { name: 'log-requests', type: 'boolean', env: 'BITNET_LOG_REQUESTS', help: 'one line per request on stderr (method, path, status, time)' },
];

const POOLINGS: readonly Pooling[] = ['mean', 'last', 'cls', 'none'];

export const serveCommand = {
  name: 'serve',
  summary: 'OpenAI-compatible HTTP server with continuous batching',
  help: () =>
    helpText('bitnet serve -m MODEL [options]', 'Serves /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings, /v1/models, /health, /metrics, /tokenize, /detokenize. --ctx-size is per slot.', [
      ['server', OPTIONS],
      ['model', MODEL_OPTIONS],
      ['context', [...CONTEXT_OPTIONS, ...CONTEXT_SHIFT_OPTIONS]],
    ]),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, [...OPTIONS, ...MODEL_OPTIONS, ...CONTEXT_OPTIONS, ...CONTEXT_SHIFT_OPTIONS], 0);
    const ref = requireModel(v);
    const model = await resolveRef(ref, v);
    // a hub repo or URL is served under the name it was asked by (ollama-style), not its snapshot file name
    const refName = parseModelRef(ref).kind === 'local' ? undefined : ref;
    const load = loadOptions(v);
    // --keep is checked against the slots' context once it is known (below); -c gives it now
    const shift = contextShiftOptions(v, load.contextSize ?? Infinity);
    const progress = loadProgress(v['no-progress'] !== true);
    const parallel = num(v, 'parallel', { int: true, min: 1, max: 256 }) ?? 4;
    const apiKey = str(v, 'api-key');
    const alias = str(v, 'alias') ?? refName;
    const grace = num(v, 'shutdown-grace', { min: 0 }) ?? 10;
    const pooling = str(v, 'pooling');
    const list = (name: string): string[] | undefined => str(v, name)?.split(',').map((x) => x.trim()).filter((x) => x !== '');
    const corsOrigins = list('cors-origins');
    const allowedHosts = list('allowed-hosts');
    if (pooling !== undefined && !POOLINGS.includes(pooling as Pooling)) throw new UsageError(`--pooling must be one of ${POOLINGS.join(', ')}, got "${pooling}"`);
    const server = await startServer({
      model,
      host: str(v, 'host') ?? '127.0.0.1',
      port: num(v, 'port', { int: true, min: 0, max: 65535 }) ?? 8080,
      parallel,
      maxQueue: num(v, 'max-queue', { int: true, min: 0 }) ?? 64,
      maxBodyBytes: num(v, 'max-body', { int: true, min: 1024 }) ?? 4 * 1024 * 1024,
      maxConnections: num(v, 'max-connections', { int: true, min: 1 }) ?? 256,
      idleTimeoutMs: (num(v, 'timeout-idle', { min: 0.001 }) ?? 65) * 1000,
      headersTimeoutMs: (num(v, 'timeout-headers', { min: 0.001 }) ?? 10) * 1000,
      requestTimeoutMs: (num(v, 'timeout-request', { min: 0.001 }) ?? 60) * 1000,
      writeTimeoutMs: (num(v, 'timeout-write', { min: 0.001 }) ?? 60) * 1000,
      maxUnsentBytes: num(v, 'max-unsent', { int: true, min: 1024 }) ?? 8 * 1024 * 1024,
      metrics: v.metrics === true,
      version: version(),
      load: { ...load, onProgress: progress.onProgress, onWarning: warn },
      ...(load.contextSize !== undefined ? { contextSize: load.contextSize } : {}),
      ...(load.kvType !== undefined ? { kvType: load.kvType } : {}),
      contextShift: shift.contextShift !== false,
      ...(shift.nKeep !== undefined ? { nKeep: shift.nKeep } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(corsOrigins ? { corsOrigins } : {}),
      ...(allowedHosts ? { allowedHosts } : {}),
      ...(pooling !== undefined ? { pooling: pooling as Pooling } : {}),
      ...(alias ? { modelId: alias } : {}),
      ...(v['log-requests'] === true ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
    });
    process.stderr.write(`bitnet serve: listening on ${server.url} (loading the model)\n`);

    let stopping = false;
    const stopped = new Promise<void>((resolve) => {
      const onSignal = (sig: string): void => {
        if (stopping) {
          process.stderr.write(`bitnet serve: ${sig} again, exiting now\n`);
          process.exit(1);
        }
        stopping = true;
        process.stderr.write(`bitnet serve: ${sig}: finishing in-flight requests (up to ${grace} s), then exiting\n`);
        void server.close({ graceMs: grace * 1000 }).then(resolve);
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
    });
    try {
      const model = await server.ready;
      progress.done(model.loadMs, `${model.hparams.arch} model (${(model.parameterCount / 1e6).toFixed(1)}M parameters, ${model.backend.name} x${model.backend.threads})`);
      const ctx = server.state.scheduler!.contextSize;
      contextShiftOptions(v, ctx);
      process.stderr.write(`bitnet serve: ready at ${server.url}/v1 — ${parallel} slots of ${ctx} tokens${apiKey ? ', API key required' : ''}\n`);
    } catch (e) {
      await server.close({ graceMs: 0 });
      throw e;
    }
    await stopped;
    process.stderr.write('bitnet serve: stopped\n');
  },
};
