// /metrics' KV cache gauges: bitnet_kv_cache_bytes (what the slots' caches hold, grown on demand) and
// bitnet_kv_cache_capacity_bytes (every slot's whole context), rendered from the scheduler's stats and
// followed on a live server from idle through a request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SchedulerStats } from '../../../src/generate/scheduler.js';
import { renderMetrics, type ServerCounters } from '../../../src/server/metrics.js';
import { postJson, serve } from './helpers.js';

const gauge = (text: string, name: string): number => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} in\n${text}`);
  return Number(m[1]);
};

test('renderMetrics: the KV gauges carry the scheduler stats, typed as gauges', () => {
  const counters: ServerCounters = { http: new Map(), refused: new Map(), ttftSeconds: { sum: 0, count: 0 }, startedAt: Date.now(), cutOff: 0 };
  const stats = { slots: 2, busySlots: 1, queued: 0, requestsStarted: 1, requestsFinished: 0, requestsCancelled: 0, requestsFailed: 0, rejectedQueueFull: 0, promptTokens: 9, cachedPromptTokens: 0, generatedTokens: 3, steps: 4, busySeconds: 0.5, recentTokensPerSecond: 6, kvCacheBytes: 123456, kvCacheCapacityBytes: 9876543 } satisfies SchedulerStats;
  const text = renderMetrics(counters, stats, true);
  assert.match(text, /^# TYPE bitnet_kv_cache_bytes gauge$/m);
  assert.match(text, /^# TYPE bitnet_kv_cache_capacity_bytes gauge$/m);
  assert.equal(gauge(text, 'bitnet_kv_cache_bytes'), 123456);
  assert.equal(gauge(text, 'bitnet_kv_cache_capacity_bytes'), 9876543);
  // no scheduler (model not loaded): no KV gauges
  assert.doesNotMatch(renderMetrics(counters, undefined, false), /bitnet_kv_cache/);
});

test('a live server: no KV bytes while idle, then what the request used, far below the capacity', async () => {
  const server = await serve({ parallel: 2, metrics: true, contextSize: 256 });
  try {
    const hp = server.state.model!.hparams;
    const perPosition = 2 * hp.nLayer * hp.nHeadKv * hp.headDim * 2; // f16
    const idle = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(gauge(idle, 'bitnet_kv_cache_bytes'), 0);
    assert.equal(gauge(idle, 'bitnet_kv_cache_capacity_bytes'), 2 * 256 * perPosition);
    const r = await postJson(`${server.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 6, temperature: 0, ignore_eos: true });
    assert.equal(r.status, 200);
    const positions = r.json.usage.prompt_tokens + r.json.usage.completion_tokens - 1; // the last token is not evaluated
    const after = await (await fetch(`${server.url}/metrics`)).text();
    const bytes = gauge(after, 'bitnet_kv_cache_bytes');
    assert.equal(bytes, server.state.scheduler!.stats().kvCacheBytes);
    // one slot's cache: at least its positions, at most the reference's 64-position first step (WASM: 8-position K blocks)
    assert.ok(bytes >= positions * perPosition && bytes <= 64 * perPosition, `${bytes} bytes for ${positions} positions of ${perPosition}`);
    assert.equal(gauge(after, 'bitnet_kv_cache_capacity_bytes'), 2 * 256 * perPosition);
  } finally {
    await server.close();
  }
});
