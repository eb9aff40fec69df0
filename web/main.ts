// The browser app's page logic: model loading (default model, file picker, URL download cached in OPFS),
// the backend choice, completion/chat generation with streamed text and a stop button, stats and memory.
// The engine itself runs in engine-worker.ts.
import type { BackendChoice, FromWorker, MemoryReport, Mode, Sampling, ToWorker } from './protocol.js';
import { cachedModels, clearCache, fetchModel, opfsAvailable } from './storage.js';

const DEFAULT_MODEL_URL = 'models/bitnet-b1.58-tinystories-1m.gguf';
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const ui = {
  isolation: $('isolation'),
  loadDefault: $<HTMLButtonElement>('load-default'),
  file: $<HTMLInputElement>('file'),
  url: $<HTMLInputElement>('url'),
  download: $<HTMLButtonElement>('download'),
  progress: $<HTMLProgressElement>('progress'),
  progressText: $('progress-text'),
  backend: $<HTMLSelectElement>('backend'),
  backendNote: $('backend-note'),
  clearCache: $<HTMLButtonElement>('clear-cache'),
  cacheInfo: $('cache-info'),
  modelInfo: $('model-info'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  generate: $<HTMLButtonElement>('generate'),
  stop: $<HTMLButtonElement>('stop'),
  resetChat: $<HTMLButtonElement>('reset-chat'),
  output: $('output'),
  stats: $('stats'),
};

const mb = (n: number): string => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;
const esc = (s: string): string => s.replace(/[&<>]/g, (c) => `&${c === '&' ? 'amp' : c === '<' ? 'lt' : 'gt'};`);

// cross-origin isolation decides whether the WASM kernels get SharedArrayBuffer threads
const isolated = globalThis.crossOriginIsolated === true;
const threads = isolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
ui.isolation.textContent = isolated
  ? `Cross-origin isolated: the CPU backend runs ${threads} threads (WASM SIMD + Web Workers).`
  : 'Not cross-origin isolated (the server sends no COOP/COEP headers): the CPU backend runs 1 thread.';
ui.isolation.classList.toggle('warn', !isolated);
ui.isolation.dataset.isolated = String(isolated);

const gpu = (navigator as Navigator & { gpu?: unknown }).gpu;
const webgpuOption = ui.backend.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
if (!gpu) {
  webgpuOption.disabled = true;
  webgpuOption.textContent = 'webgpu (unavailable)';
  ui.backendNote.textContent = 'WebGPU: this browser has no navigator.gpu (needs a WebGPU-enabled browser and a secure context).';
}

const worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker): void => worker.postMessage(m);

let busy = false;
let loaded = false;
let genText: HTMLElement | undefined;
/** where the loaded bytes came from, for the progress line */
let sourceNote = '';
const mode = (): Mode => (document.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value as Mode) ?? 'completion';

function setBusy(b: boolean): void {
  busy = b;
  for (const el of [ui.loadDefault, ui.download, ui.file, ui.backend, ui.clearCache, ui.resetChat]) el.disabled = b;
  ui.generate.disabled = b || !loaded;
}

function showCache(): void {
  const list = cachedModels();
  ui.cacheInfo.textContent = !opfsAvailable()
    ? 'no OPFS here: downloads are not kept'
    : list.length
      ? `cached: ${list.map((c) => `${c.url.split('/').pop()} (${mb(c.size)})`).join(', ')}`
      : 'cache empty';
}

function memoryText(m: MemoryReport): string {
  const parts = [`weights <b>${mb(m.weights)}</b>`, `KV cache <b>${mb(m.kvCache)}</b>`, `file ${mb(m.fileSize)}`];
  if (m.device !== undefined) parts.unshift(`WASM memory <b>${mb(m.device)}</b>`);
  const pm = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  if (pm) parts.push(`page JS heap ${mb(pm.usedJSHeapSize)}`);
  return `Memory: ${parts.join(' · ')}`;
}

function startLoad(source: Blob, name: string): void {
  loaded = false;
  setBusy(true);
  ui.modelInfo.textContent = `Loading ${name}…`;
  ui.modelInfo.dataset.state = 'loading';
  send({ type: 'load', source, name, backend: ui.backend.value as BackendChoice, threads });
}

async function loadUrl(url: string): Promise<void> {
  setBusy(true);
  loaded = false;
  ui.progress.value = 0;
  ui.modelInfo.textContent = `Opening ${url}…`;
  ui.modelInfo.dataset.state = 'downloading';
  delete ui.progressText.dataset.source;
  try {
    const stored = await fetchModel(url, (p) => {
      ui.progress.value = p.total ? p.loaded / p.total : 0;
      const pct = p.total ? ` (${((100 * p.loaded) / p.total).toFixed(0)}%)` : '';
      ui.progressText.textContent = `downloading: ${mb(p.loaded)}${p.total ? ` of ${mb(p.total)}` : ''}${pct}, ${mb(p.bytesPerSecond)}/s`;
    });
    ui.progress.value = 1;
    sourceNote = stored.fromCache ? `from cache (${mb(stored.file.size)}, no download) · ` : `downloaded ${mb(stored.file.size)} · `;
    ui.progressText.dataset.source = stored.fromCache ? 'cache' : 'network';
    showCache();
    startLoad(stored.file, stored.name);
  } catch (e) {
    ui.progressText.textContent = `${e instanceof Error ? e.message : String(e)}`;
    ui.progressText.dataset.source = 'error';
    setBusy(false);
  }
}

function sampling(): Sampling {
  const n = (id: string): number => Number(($(id) as HTMLInputElement).value);
  return { temperature: n('temperature'), topK: n('top-k'), topP: n('top-p'), seed: n('seed'), maxTokens: n('max-tokens') };
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === 'progress') {
    const { phase, loaded: l, total, text } = m.event;
    if (phase === 'weights' && total) {
      ui.progress.value = l / total;
      ui.progressText.textContent = `loading weights: ${((100 * l) / total).toFixed(0)}% (${text})`;
    } else ui.progressText.textContent = `loading: ${text}`;
  } else if (m.type === 'loaded') {
    const i = m.info;
    loaded = true;
    setBusy(false);
    ui.progress.value = 1;
    ui.modelInfo.dataset.state = 'ready';
    ui.modelInfo.dataset.backend = i.backend;
    ui.modelInfo.dataset.threads = String(i.threads);
    ui.modelInfo.innerHTML =
      `<b>${esc(i.name)}</b> loaded in ${(i.loadMs / 1000).toFixed(2)} s: ${(i.parameters / 1e6).toFixed(2)}M parameters, ` +
      `vocabulary ${i.vocabSize}, context ${i.contextSize}. Backend <b>${esc(i.backend)}</b> on <b>${i.threads}</b> thread${i.threads > 1 ? 's' : ''}.<br>` +
      memoryText(i.memory);
    ui.progressText.textContent = `${sourceNote}model ready`;
  } else if (m.type === 'text') {
    genText?.append(m.text);
  } else if (m.type === 'done') {
    const s = m.stats;
    ui.stats.dataset.state = 'done';
    ui.stats.innerHTML =
      `Prompt: <b>${s.promptTokens}</b> tokens (${s.cachedTokens} cached) at <b>${s.promptTokensPerSecond.toFixed(1)}</b> tokens/s · ` +
      `generated <b>${s.generatedTokens}</b> tokens at <b>${s.tokensPerSecond.toFixed(1)}</b> tokens/s · finish: ${s.finishReason} · seed ${s.seed}<br>` +
      memoryText(m.memory);
    finishGeneration();
  } else {
    const text = m.code === 'ABORTED' ? 'stopped' : `${m.code}: ${m.message}`;
    const target = genText && busy && loaded ? ui.stats : ui.modelInfo;
    target.innerHTML = `<span class="error">${esc(text)}</span>`;
    target.dataset.state = m.code === 'ABORTED' ? 'stopped' : 'error';
    if (!loaded) ui.progressText.textContent = '';
    if (genText && loaded) finishGeneration();
    else setBusy(false);
  }
};

function finishGeneration(): void {
  ui.stop.disabled = true;
  setBusy(false);
}

ui.generate.onclick = () => {
  const prompt = ui.prompt.value;
  const md = mode();
  ui.stats.textContent = 'generating…';
  ui.stats.dataset.state = 'running';
  if (md === 'completion') {
    ui.output.innerHTML = `<span class="prompt">${esc(prompt)}</span>`;
  } else {
    ui.output.insertAdjacentHTML('beforeend', `<span class="user">&gt; ${esc(prompt)}</span>`);
  }
  genText = document.createElement('span');
  genText.className = 'gen';
  ui.output.append(genText);
  setBusy(true);
  ui.stop.disabled = false;
  send({ type: 'generate', prompt, mode: md, sampling: sampling() });
};
ui.stop.onclick = () => send({ type: 'stop' });
ui.resetChat.onclick = () => {
  send({ type: 'reset-chat' });
  ui.output.textContent = '';
};
document.querySelectorAll<HTMLInputElement>('input[name="mode"]').forEach((r) => {
  r.onchange = () => {
    send({ type: 'reset-chat' });
    ui.output.textContent = '';
    ui.prompt.value = mode() === 'chat' ? 'Tell me a story about a cat.' : 'Once upon a time';
  };
});
ui.loadDefault.onclick = () => void loadUrl(DEFAULT_MODEL_URL);
ui.download.onclick = () => {
  const url = ui.url.value.trim();
  if (!url) return void (ui.progressText.textContent = 'enter a model URL first');
  localStorage.setItem('bitnet-web:last-url', url);
  void loadUrl(url);
};
ui.file.onchange = () => {
  const f = ui.file.files?.[0];
  if (!f) return;
  sourceNote = `local file (${mb(f.size)}) · `;
  startLoad(f, f.name); // a File is read in slices by the engine: never copied whole
};
ui.clearCache.onclick = async () => {
  await clearCache();
  showCache();
};
ui.url.value = localStorage.getItem('bitnet-web:last-url') ?? '';
showCache();
