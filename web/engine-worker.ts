// The engine worker: loads a model from a Blob/File (read in slices, never copied whole), generates in
// completion or chat mode with streamed text, stops on request, and reports stats and memory to the page.
import { BitnetError, loadModel, type BackendKind, type BitnetModel, type ChatSession, type GenerateOptions } from '../src/index.js';
import type { BackendChoice, FromWorker, MemoryReport, Sampling, ToWorker } from './protocol.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<ToWorker>) => void) | null; postMessage(m: FromWorker): void };
const post = (m: FromWorker): void => scope.postMessage(m);

let model: BitnetModel | undefined;
let chat: ChatSession | undefined;
let running: AbortController | undefined;

function memory(m: BitnetModel): MemoryReport {
  const u = m.memoryUsage();
  return { device: u.device, weights: u.weights, kvCache: u.kvCache + (chat?.sequence.kv.bytes() ?? 0), fileSize: m.fileSize };
}

function fail(e: unknown): void {
  if (e instanceof BitnetError) post({ type: 'error', code: e.code, message: e.message });
  else post({ type: 'error', code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) });
}

async function load(source: Blob, name: string, backend: BackendChoice, threads: number): Promise<void> {
  chat = undefined;
  await model?.dispose();
  model = undefined;
  // 'webgpu' is passed through as is: the engine names what it does not support in a typed error
  const kind = backend as BackendKind;
  const m = await loadModel(source, { backend: kind, threads, onProgress: (event) => post({ type: 'progress', event }) });
  model = m;
  post({
    type: 'loaded',
    info: {
      name,
      backend: m.backend.name,
      threads: m.backend.threads,
      parameters: m.parameterCount,
      contextSize: m.contextSize,
      vocabSize: m.tokenizer.vocabSize,
      loadMs: m.loadMs,
      hasChatTemplate: m.chatFormat.kind === 'jinja',
      memory: memory(m),
    },
  });
}

function options(s: Sampling, signal: AbortSignal): GenerateOptions {
  return {
    temperature: s.temperature,
    topK: s.topK,
    topP: s.topP,
    ...(s.seed >= 0 ? { seed: s.seed } : {}),
    ...(s.maxTokens >= 0 ? { maxTokens: s.maxTokens } : {}),
    signal,
  };
}

async function generate(prompt: string, mode: 'completion' | 'chat', sampling: Sampling): Promise<void> {
  if (!model) throw new BitnetError('INVALID_ARGUMENT', 'no model is loaded', { name: 'model' });
  const m = model;
  running = new AbortController();
  const opts = options(sampling, running.signal);
  chat ??= mode === 'chat' ? m.createChat() : undefined;
  const stream = mode === 'chat' ? chat!.send(prompt, opts) : m.generate(prompt, opts);
  for await (const chunk of stream) {
    if (chunk.text) post({ type: 'text', text: chunk.text });
    if (chunk.stats) post({ type: 'done', stats: chunk.stats, memory: memory(m) });
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === 'stop') return void running?.abort();
  if (msg.type === 'reset-chat') {
    chat?.sequence.dispose();
    chat = undefined;
    return;
  }
  const job = msg.type === 'load' ? load(msg.source, msg.name, msg.backend, msg.threads) : generate(msg.prompt, msg.mode, msg.sampling);
  job.catch(fail).finally(() => (running = undefined));
};
