// Shared steps of CLI commands: resolve a model reference (path, URL or Hugging Face repo, downloaded into
// the cache when needed) and load it with progress and warnings on stderr.
import { loadModel } from '../engine/load.js';
import type { BitnetModel } from '../engine/model.js';
import { resolveModel } from '../hub/index.js';
import { loadOptions, requireModel, type Values } from './args.js';
import { downloadProgress, loadProgress, warn } from './progress.js';

/** A model reference as a local path: local paths as given, hub references and URLs from the cache or downloaded. */
export async function resolveRef(ref: string, v: Values, signal?: AbortSignal): Promise<string> {
  const r = await resolveModel(ref, { onProgress: downloadProgress(v['no-progress'] !== true), onLog: warn, ...(signal ? { signal } : {}) });
  return r.path;
}

/** -m (or BITNET_MODEL, or the bundled model) resolved to a local path. */
export async function modelPath(v: Values, signal?: AbortSignal): Promise<string> {
  return resolveRef(requireModel(v), v, signal);
}

export async function openModel(v: Values, signal?: AbortSignal): Promise<BitnetModel> {
  const path = await modelPath(v, signal);
  const progress = loadProgress(v['no-progress'] !== true);
  const model = await loadModel(path, { ...loadOptions(v), onProgress: progress.onProgress, onWarning: warn, ...(signal ? { signal } : {}) });
  progress.done(
    model.loadMs,
    `${model.hparams.arch} model (${(model.parameterCount / 1e6).toFixed(1)}M parameters, context ${model.contextSize}, ${model.backend.name} x${model.backend.threads})`,
  );
  return model;
}

/** Reads all of stdin (for prompts piped in). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
