// Getting models: `resolveModel(REF)` turns a local path, an http(s) URL or a Hugging Face reference into a
// local path (downloading into the shared HF cache or bitnet's URL cache when needed), plus the cache
// listing and removal behind `bitnet ls` / `bitnet rm`; dataset repos for `bitnet eval` (dataset.ts). Node-only.
import { BitnetError } from '../errors.js';
import { cachedRepoIds, inspectRepo, removeFiles, removeRepo, type CachedRepo } from './cache.js';
import { hubConfig, type HubConfig } from './config.js';
import { resolveHf, type HubOptions, type Resolved } from './hf.js';
import { parseDatasetRef } from './dataset.js';
import { formatRef, parseModelRef, selectFiles, type ModelRef } from './ref.js';
import { listUrlDownloads, removeUrl, resolveUrl, type UrlDownload } from './url.js';

export { hubConfig, parseModelRef, formatRef, selectFiles };
export type { HubConfig, ModelRef, Resolved, CachedRepo, UrlDownload };
export type { DownloadProgress } from './download.js';
export {
  DATA_FILE,
  PARQUET_REVISION,
  formatDatasetRef,
  parseDatasetRef,
  pullCommandFor,
  pullDataset,
  readmeConfigs,
  resolveDatasetSplit,
  selectSplitFiles,
  type DatasetRef,
  type DatasetSplitFiles,
  type DatasetSplitRef,
  type PulledDataset,
} from './dataset.js';

export type ResolveOptions = Omit<HubOptions, 'cfg'> & { cfg?: HubConfig };

export interface ResolvedModel {
  path: string;
  ref: ModelRef;
  /** for hub references: the repo, commit and files */
  hub?: Resolved;
  /** bytes downloaded this time */
  fetched: number;
}

/** REF -> a local path the engine loads. Local paths are returned as given (the loader reports if missing). */
export async function resolveModel(refText: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  const cfg = opts.cfg ?? hubConfig();
  const ref = parseModelRef(refText, { endpoint: cfg.endpoint });
  const o: HubOptions = { ...opts, cfg };
  if (ref.kind === 'local') return { path: ref.path, ref, fetched: 0 };
  if (ref.kind === 'url') {
    const r = await resolveUrl(ref.url, o);
    return { path: r.path, ref, fetched: r.fetched };
  }
  const hub = await resolveHf(ref, o);
  return { path: hub.path, ref, hub, fetched: hub.files.reduce((a, f) => a + f.fetched, 0) };
}

/** The model path inside a snapshot's file list: '' for the folder itself, a file, or undefined. */
export function loadableIn(repo: string, files: string[]): string | undefined {
  try {
    const sel = selectFiles(repo, files);
    return sel.kind === 'folder' ? '' : sel.file;
  } catch {
    return undefined;
  }
}

export async function listCache(cfg: HubConfig = hubConfig()): Promise<{ repos: CachedRepo[]; datasets: CachedRepo[]; urls: UrlDownload[] }> {
  const repos: CachedRepo[] = [];
  for (const id of await cachedRepoIds(cfg.cacheDir)) {
    const r = await inspectRepo(cfg.cacheDir, id, (files) => loadableIn(id, files));
    if (r) repos.push(r);
  }
  const datasets: CachedRepo[] = [];
  for (const id of await cachedRepoIds(cfg.cacheDir, 'dataset')) {
    const r = await inspectRepo(cfg.cacheDir, id, () => undefined, 'dataset');
    if (r) datasets.push(r);
  }
  return { repos, datasets, urls: await listUrlDownloads(cfg) };
}

/** Removes a cached dataset repo (`org/name`, every snapshot); returns what was removed and the bytes freed. */
export async function removeCachedDataset(repo: string, cfg: HubConfig = hubConfig()): Promise<{ what: string; freed: number }> {
  const ref = parseDatasetRef(repo);
  const info = await inspectRepo(cfg.cacheDir, ref.repo, () => undefined, 'dataset');
  if (!info) throw new BitnetError('FILE_NOT_FOUND', `dataset ${ref.repo} is not in the Hugging Face cache (${cfg.cacheDir}); bitnet ls lists what is`);
  return { what: `dataset ${ref.repo} (${info.snapshots.length} snapshot(s))`, freed: await removeRepo(cfg.cacheDir, ref.repo, 'dataset') };
}

/**
 * Removes a cached model: `org/repo` the whole repo entry, `org/repo:FILE-or-QUANT` that file from its
 * snapshots (and blobs nothing else links to), a URL its download. Returns what was removed and the bytes freed.
 */
export async function removeCached(refText: string, cfg: HubConfig = hubConfig()): Promise<{ what: string; freed: number }> {
  const ref = parseModelRef(refText, { endpoint: cfg.endpoint, exists: () => false });
  if (ref.kind === 'local') throw new BitnetError('INVALID_ARGUMENT', `"${refText}" is not a Hugging Face reference or URL; bitnet rm removes cached downloads, not local files`, { name: 'model' });
  if (ref.kind === 'url') {
    const freed = await removeUrl(cfg, ref.url);
    if (freed === undefined) throw new BitnetError('FILE_NOT_FOUND', `${ref.url} is not in the download cache (${cfg.bitnetCacheDir}/url)`);
    return { what: ref.url, freed };
  }
  const info = await inspectRepo(cfg.cacheDir, ref.repo, () => undefined);
  if (!info) throw new BitnetError('FILE_NOT_FOUND', `${ref.repo} is not in the Hugging Face cache (${cfg.cacheDir}); bitnet ls lists what is`);
  if (ref.select === undefined) return { what: `${ref.repo} (${info.snapshots.length} snapshot(s))`, freed: await removeRepo(cfg.cacheDir, ref.repo) };
  const all = [...new Set(info.snapshots.flatMap((s) => s.files.map((f) => f.path)))];
  const sel = (() => {
    try {
      return selectFiles(ref.repo, all, ref.select);
    } catch {
      throw new BitnetError('FILE_NOT_FOUND', `no cached file of ${ref.repo} matches "${ref.select}" (cached: ${all.join(', ') || 'none'})`);
    }
  })();
  return { what: `${ref.repo}: ${sel.files.join(', ')}`, freed: await removeFiles(cfg.cacheDir, ref.repo, sel.files) };
}
