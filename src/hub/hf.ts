// Resolving a Hugging Face reference to a local path, as huggingface_hub does: the file list from
// GET /api/models/{repo}[/revision/{rev}], then per file HEAD /{repo}/resolve/{commit}/{file} (not following
// the CDN redirect) for X-Repo-Commit, X-Linked-Etag / ETag and X-Linked-Size, then the verified download
// into blobs/<etag>, the snapshot link and refs/<revision>. Cache first for -m; `bitnet pull` checks the hub.
// listRepo / fetchFiles serve dataset repos too (dataset.ts).
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BitnetError } from '../errors.js';
import { blobPath, cachedCommit, linkSnapshot, repoDir, repoFolderName, snapshotDir, snapshotFiles, writeRef, type RepoType } from './cache.js';
import type { HubConfig } from './config.js';
import { download, type DownloadProgress } from './download.js';
import { hubFetch, httpError } from './http.js';
import { withLock } from './lock.js';
import { formatRef, isCommit, looksLikeFile, selectFiles, type HfRef, type Selection } from './ref.js';

export interface HubOptions {
  cfg: HubConfig;
  /** ask the hub for the current revision even when the cache can answer (bitnet pull) */
  update?: boolean | undefined;
  onProgress?: ((p: DownloadProgress) => void) | undefined;
  /** one-line notes (using the cache because the hub is unreachable, ...) */
  onLog?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  retries?: number | undefined;
  retryDelayMs?: number | undefined;
}

export interface ResolvedFile {
  path: string;
  size: number;
  /** bytes that came over the network for it this time (0: it was cached) */
  fetched: number;
}

export interface Resolved {
  /** what to load: the GGUF (or other chosen file), or the snapshot folder of a safetensors model */
  path: string;
  repo: string;
  revision: string;
  commit: string;
  files: ResolvedFile[];
  /** answered from the cache without asking the hub */
  fromCache: boolean;
}

const strip = (etag: string): string => etag.replace(/^W\//, '').replace(/^"|"$/g, '');
const encodePath = (p: string): string => p.split('/').map(encodeURIComponent).join('/');

async function fileSize(p: string): Promise<number | undefined> {
  try {
    return (await stat(p)).size;
  } catch {
    return undefined;
  }
}

/** The selection a snapshot in the cache can satisfy completely, if any. */
async function fromSnapshot(ref: HfRef, dir: string, commit: string): Promise<{ sel: Selection; files: string[] } | undefined> {
  const files = await snapshotFiles(dir, commit);
  let sel: Selection;
  try {
    sel = selectFiles(ref.repo, files, ref.select);
  } catch {
    return undefined;
  }
  if (sel.kind === 'folder' && files.includes('model.safetensors.index.json')) {
    try {
      const index = JSON.parse(await readFile(join(snapshotDir(dir, commit), 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> };
      const shards = new Set(Object.values(index.weight_map ?? {}));
      if ([...shards].some((s) => !files.includes(s))) return undefined;
    } catch {
      return undefined;
    }
  }
  return { sel, files };
}

async function cachedResult(ref: HfRef, dir: string, commit: string, hit: { sel: Selection }): Promise<Resolved> {
  const files: ResolvedFile[] = [];
  for (const f of hit.sel.files) files.push({ path: f, size: (await fileSize(join(snapshotDir(dir, commit), ...f.split('/')))) ?? 0, fetched: 0 });
  const path = hit.sel.kind === 'folder' ? snapshotDir(dir, commit) : join(snapshotDir(dir, commit), ...hit.sel.file!.split('/'));
  return { path, repo: ref.repo, revision: ref.revision, commit, files, fromCache: true };
}

/** Resolves a repo reference to a local path, downloading what the cache lacks (unless offline). */
export async function resolveHf(ref: HfRef, o: HubOptions): Promise<Resolved> {
  const { cfg } = o;
  const dir = repoDir(cfg.cacheDir, ref.repo);
  const commit = await cachedCommit(dir, ref.revision);
  const hit = commit ? await fromSnapshot(ref, dir, commit) : undefined;
  if (commit && hit && (!o.update || cfg.offline)) return cachedResult(ref, dir, commit, hit);
  if (cfg.offline) {
    const what = commit ? `the cached snapshot ${commit.slice(0, 12)} has no complete ${ref.select ? `"${ref.select}"` : 'model'}` : `${ref.repo}@${ref.revision} is not in the cache`;
    throw new BitnetError('OFFLINE', `offline mode is on (HF_HUB_OFFLINE) and ${formatRef(ref)} cannot be resolved from the cache (${cfg.cacheDir}): ${what}; unset HF_HUB_OFFLINE to download it`, { name: 'model' });
  }
  try {
    return await fetchFromHub(ref, dir, o);
  } catch (e) {
    if (commit && hit && e instanceof BitnetError && e.code === 'NETWORK') {
      o.onLog?.(`${e.message}; using the cached snapshot ${commit.slice(0, 12)}`);
      return cachedResult(ref, dir, commit, hit);
    }
    throw e;
  }
}

async function fetchFromHub(ref: HfRef, dir: string, o: HubOptions): Promise<Resolved> {
  let commit: string | undefined;
  let sel: Selection;
  if (looksLikeFile(ref.select) && !ref.select!.includes('*')) {
    // a named file needs no listing (and works against mirrors without the /api routes)
    sel = selectFiles(ref.repo, [ref.select!], ref.select);
  } else {
    const listing = await listRepo({ type: 'model', repo: ref.repo, revision: ref.revision }, o);
    commit = listing.commit;
    sel = selectFiles(ref.repo, listing.files, ref.select);
  }
  const got = await fetchFiles({ type: 'model', repo: ref.repo, revision: ref.revision }, commit, sel.files, o);
  const path = sel.kind === 'folder' ? snapshotDir(dir, got.commit) : join(snapshotDir(dir, got.commit), ...sel.file!.split('/'));
  return { path, repo: ref.repo, revision: ref.revision, commit: got.commit, files: got.files, fromCache: false };
}

/** A repository at a revision, of either kind. */
export interface RepoAt {
  type: RepoType;
  /** org/name */
  repo: string;
  /** branch, tag, commit, or a ref such as refs/convert/parquet */
  revision: string;
}

const apiUrl = (cfg: HubConfig, r: RepoAt): string =>
  `${cfg.endpoint}/api/${r.type}s/${r.repo}${r.revision !== 'main' ? `/revision/${encodeURIComponent(r.revision)}` : ''}`;
const resolveUrlOf = (cfg: HubConfig, r: RepoAt, rev: string, file: string): string =>
  `${cfg.endpoint}${r.type === 'dataset' ? '/datasets' : ''}/${r.repo}/resolve/${encodeURIComponent(rev)}/${encodePath(file)}`;

/** GET /api/{models|datasets}/{repo}[/revision/{rev}]: the commit and the file list. */
export async function listRepo(r: RepoAt, o: HubOptions): Promise<{ commit: string | undefined; files: string[] }> {
  const { cfg } = o;
  const url = apiUrl(cfg, r);
  const res = await hubFetch(cfg, url, { redirects: 'follow', signal: o.signal, headers: { accept: 'application/json' } });
  if (!res.ok) throw await httpError(res, { repo: r.repo, url }, cfg.token !== undefined);
  const info = (await res.json()) as { sha?: unknown; siblings?: Array<{ rfilename?: unknown }> };
  if (!Array.isArray(info.siblings)) throw new BitnetError('NETWORK', `${url}: the answer has no "siblings" file list`);
  return {
    commit: typeof info.sha === 'string' && isCommit(info.sha) ? info.sha : undefined,
    files: info.siblings.map((s) => s.rfilename).filter((f): f is string => typeof f === 'string'),
  };
}

/**
 * Downloads files of a repo at a revision into the cache (blobs that are there already are kept), then links
 * them all into snapshots/<commit> and writes refs/<revision>: a snapshot never shows half of a set of files.
 */
export async function fetchFiles(r: RepoAt, knownCommit: string | undefined, names: string[], o: HubOptions): Promise<{ commit: string; files: ResolvedFile[] }> {
  const { cfg } = o;
  const tokenSent = cfg.token !== undefined;
  const dir = repoDir(cfg.cacheDir, r.repo, r.type);
  let commit = knownCommit;
  const files: ResolvedFile[] = [];
  const links: Array<{ file: string; etag: string }> = [];
  for (const file of names) {
    if (file.startsWith('/') || file.split(/[/\\]/).some((p) => p === '..' || p === '')) {
      throw new BitnetError('INVALID_ARGUMENT', `${r.repo}: refusing the file name "${file}" (it would leave the snapshot folder)`, { name: r.type });
    }
    const resolveUrl = resolveUrlOf(cfg, r, commit ?? r.revision, file);
    const head = await hubFetch(cfg, resolveUrl, { method: 'HEAD', redirects: 'relative', signal: o.signal, headers: { 'accept-encoding': 'identity' } });
    const redirected = head.status >= 300 && head.status < 400;
    if (!head.ok && !redirected) throw await httpError(head, { repo: r.repo, file, url: resolveUrl }, tokenSent);
    const h = head.headers;
    const etagRaw = h.get('x-linked-etag') ?? h.get('etag');
    const sizeRaw = h.get('x-linked-size') ?? h.get('content-length');
    const fileCommit = h.get('x-repo-commit');
    if (!etagRaw || !fileCommit) {
      throw new BitnetError('NETWORK', `${resolveUrl}: the server sent no ${!etagRaw ? 'ETag' : 'X-Repo-Commit'} header (is HF_ENDPOINT a Hugging Face hub?)`);
    }
    if (commit !== undefined && fileCommit !== commit) throw new BitnetError('NETWORK', `${r.repo}/${file}: the hub answered for commit ${fileCommit}, not ${commit}; retry`);
    commit = fileCommit;
    const etag = strip(etagRaw);
    if (!/^[A-Za-z0-9._-]+$/.test(etag)) throw new BitnetError('NETWORK', `${resolveUrl}: unusable ETag "${etagRaw}"`);
    const size = sizeRaw !== null && /^\d+$/.test(sizeRaw) ? Number(sizeRaw) : undefined;
    const blob = blobPath(dir, etag);
    let fetched = 0;
    const complete = async (): Promise<boolean> => {
      const have = await fileSize(blob);
      return have !== undefined && (size === undefined || have === size);
    };
    await head.body?.cancel();
    if (!(await complete())) {
      await mkdir(join(dir, 'blobs'), { recursive: true });
      const location = redirected ? new URL(h.get('location')!, resolveUrl).href : resolveUrl;
      const lock = join(cfg.cacheDir, '.locks', repoFolderName(r.repo, r.type), `${etag}.bitnet.lock`);
      await withLock(
        lock,
        async () => {
          if (await complete()) return; // the other process finished it
          const d = await download({
            url: location,
            dest: blob,
            incomplete: `${blob}.incomplete`,
            size,
            sha256: /^[0-9a-f]{64}$/.test(etag) ? etag : undefined,
            request: (u, headers) => hubFetch(cfg, u, { redirects: 'follow', headers, signal: o.signal }),
            subject: { repo: r.repo, file, url: location },
            tokenSent,
            label: file,
            onProgress: o.onProgress,
            retries: o.retries,
            retryDelayMs: o.retryDelayMs,
            signal: o.signal,
          });
          fetched = d.fetched;
        },
        () => o.onLog?.(`${file}: another process is downloading it; waiting`),
      );
    }
    links.push({ file, etag });
    files.push({ path: file, size: (await fileSize(blob)) ?? 0, fetched });
  }
  if (commit === undefined) throw new BitnetError('NETWORK', `${r.repo}: no commit resolved`);
  for (const l of links) await linkSnapshot(dir, commit, l.file, l.etag);
  await writeRef(dir, r.revision, commit);
  return { commit, files };
}
