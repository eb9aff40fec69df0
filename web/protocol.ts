// Messages between the page (main.ts) and the engine worker (engine-worker.ts). The engine runs in a
// dedicated worker because its WASM thread pool blocks with Atomics.wait, which a page's main thread may not.
import type { GenerationStats, LoadProgressEvent } from '../src/index.js';

export type BackendChoice = 'auto' | 'cpu' | 'webgpu';
export type Mode = 'completion' | 'chat';

export interface Sampling {
  temperature: number;
  topK: number;
  topP: number;
  /** -1: random */
  seed: number;
  /** -1: until the end of the context */
  maxTokens: number;
}

export interface MemoryReport {
  /** the backend's device memory (the WASM heap), where it reports one */
  device: number | undefined;
  weights: number;
  kvCache: number;
  fileSize: number;
}

export interface ModelInfo {
  name: string;
  backend: string;
  threads: number;
  parameters: number;
  contextSize: number;
  vocabSize: number;
  loadMs: number;
  hasChatTemplate: boolean;
  memory: MemoryReport;
}

export type ToWorker =
  | { type: 'load'; source: Blob; name: string; backend: BackendChoice; threads: number }
  | { type: 'generate'; prompt: string; mode: Mode; sampling: Sampling }
  | { type: 'stop' }
  | { type: 'reset-chat' };

export type FromWorker =
  | { type: 'progress'; event: LoadProgressEvent }
  | { type: 'loaded'; info: ModelInfo }
  | { type: 'text'; text: string }
  | { type: 'done'; stats: GenerationStats; memory: MemoryReport }
  | { type: 'error'; code: string; message: string };
