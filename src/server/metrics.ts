// /metrics in the Prometheus text format (version 0.0.4): HTTP requests by route and status, tokens,
// slots and queue depth from the scheduler, recent tokens/s, KV cache bytes, time to first token, process memory.
import type { SchedulerStats } from '../generate/scheduler.js';

export interface ServerCounters {
  /** "route\tstatus" -> responses */
  http: Map<string, number>;
  /** reason -> requests refused for their size or for load before any work (input.ts) */
  refused: Map<string, number>;
  ttftSeconds: { sum: number; count: number };
  startedAt: number;
  /** connections cut off by the transport (write timeout, unsent-bytes cap) */
  cutOff: number;
}

/** The transport's gauges. */
export interface TransportGauges {
  connections: number;
  /** generation handlers that have not returned */
  liveHandlers: number;
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderMetrics(c: ServerCounters, s: SchedulerStats | undefined, loaded: boolean, t?: TransportGauges): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: Array<[string, number]>): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${Number.isFinite(v) ? v : 0}`);
  };
  metric(
    'bitnet_http_requests_total',
    'counter',
    'HTTP responses by route and status.',
    [...c.http].map(([k, v]) => {
      const [route, status] = k.split('\t');
      return [`{route="${esc(route!)}",status="${esc(status!)}"}`, v];
    }),
  );
  metric('bitnet_requests_refused_total', 'counter', 'Requests refused before any work: too large for the context, too many messages, body too large, busy.', [...c.refused].map(([reason, v]) => [`{reason="${esc(reason)}"}`, v]));
  if (t) {
    metric('bitnet_http_connections', 'gauge', 'Open HTTP connections.', [['', t.connections]]);
    metric('bitnet_http_live_handlers', 'gauge', 'Generation handlers (JSON and streams) still running.', [['', t.liveHandlers]]);
  }
  metric('bitnet_http_cut_off_total', 'counter', 'Connections cut off for not reading (write timeout, unsent-bytes cap).', [['', c.cutOff]]);
  metric('bitnet_model_loaded', 'gauge', '1 once the model is loaded.', [['', loaded ? 1 : 0]]);
  metric('bitnet_uptime_seconds', 'gauge', 'Seconds since the server started.', [['', (Date.now() - c.startedAt) / 1000]]);
  if (s) {
    metric('bitnet_requests_total', 'counter', 'Generation requests by outcome.', [
      ['{outcome="finished"}', s.requestsFinished],
      ['{outcome="cancelled"}', s.requestsCancelled],
      ['{outcome="failed"}', s.requestsFailed],
      ['{outcome="rejected_queue_full"}', s.rejectedQueueFull],
    ]);
    metric('bitnet_prompt_tokens_total', 'counter', 'Prompt tokens of admitted requests.', [['', s.promptTokens]]);
    metric('bitnet_prompt_tokens_cached_total', 'counter', 'Prompt tokens reused from a slot cache.', [['', s.cachedPromptTokens]]);
    metric('bitnet_generated_tokens_total', 'counter', 'Generated tokens.', [['', s.generatedTokens]]);
    metric('bitnet_forward_steps_total', 'counter', 'Batched forward steps.', [['', s.steps]]);
    metric('bitnet_forward_seconds_total', 'counter', 'Seconds spent in forward steps.', [['', s.busySeconds]]);
    metric('bitnet_tokens_per_second', 'gauge', 'Generated tokens per second over the last seconds.', [['', s.recentTokensPerSecond]]);
    metric('bitnet_slots', 'gauge', 'Slots (--parallel).', [['', s.slots]]);
    metric('bitnet_slots_busy', 'gauge', 'Slots running a request.', [['', s.busySlots]]);
    metric('bitnet_queue_depth', 'gauge', 'Requests waiting for a slot.', [['', s.queued]]);
    metric('bitnet_kv_cache_bytes', 'gauge', 'Bytes the slots\' KV caches hold now (allocated on demand).', [['', s.kvCacheBytes]]);
    metric('bitnet_kv_cache_capacity_bytes', 'gauge', 'Bytes the slots\' KV caches would hold with every context full.', [['', s.kvCacheCapacityBytes]]);
  }
  metric('bitnet_time_to_first_token_seconds', 'summary', 'Time from request to first generated token.', [
    ['_sum', c.ttftSeconds.sum],
    ['_count', c.ttftSeconds.count],
  ]);
  const mem = typeof process !== 'undefined' ? process.memoryUsage() : undefined;
  if (mem) metric('bitnet_resident_memory_bytes', 'gauge', 'Resident set size of the process.', [['', mem.rss]]);
  return `${out.join('\n')}\n`;
}
