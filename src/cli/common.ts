// Shared steps of CLI commands: load a model with progress and warnings on stderr.
import { loadModel } from '../engine/load.js';
import type { BitnetModel } from '../engine/model.js';
import { loadOptions, requireModel, type Values } from './args.js';
import { loadProgress, warn } from './progress.js';

export async function openModel(v: Values, signal?: AbortSignal): Promise<BitnetModel> {
  const path = requireModel(v);
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
