// Plain http(s) model URLs: downloaded once into bitnet's cache (url/<hash of the URL>/<file name>, with
// meta.json holding the URL, ETag, Last-Modified and size), resumable and size-checked like hub files, and
// reused while a HEAD shows the same ETag / Last-Modified (without asking at all in offline mode).
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BitnetError } from '../errors.js';
import { exists } from './cache.js';
import type { HubConfig } from './config.js';
import { download } from './download.js';
import type { HubOptions } from './hf.js';
import { hubFetch } from './http.js';
import { withLock } from './lock.js';

interface UrlMeta {
  url: string;
  etag: string | null;
  lastModified: string | null;
  size: number;
  downloaded: string;
}

export interface UrlDownload {
  url: string;
  path: string;
  dir: string;
  size: number;
  downloaded: string;
}

export const urlDir = (cfg: HubConfig, url: string): string => join(cfg.bitnetCacheDir, 'url', createHash('sha256').update(url).digest('hex').slice(0, 16));

function fileName(url: string): string {
  const last = decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).pop() ?? '');
  const safe = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return safe || 'download';
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}


/** The local copy of a URL, downloading or refreshing it as needed. */
export async function resolveUrl(url: string, o: HubOptions): Promise<{ path: string; fetched: number; fromCache: boolean }> {
  const cfg = { ...o.cfg, token: undefined }; // a token is for the hub, never for other hosts
  const dir = urlDir(cfg, url);
  const path = join(dir, fileName(url));
  const meta = await readJson<UrlMeta>(join(dir, 'meta.json'));
  const cached = meta !== undefined && (await exists(path));
  if (cfg.offline) {
    if (cached) return { path, fetched: 0, fromCache: true };
    throw new BitnetError('OFFLINE', `offline mode is on (HF_HUB_OFFLINE) and ${url} has not been downloaded (${dir}); unset HF_HUB_OFFLINE to download it`, { name: 'model' });
  }
  let head: Response;
  try {
    head = await hubFetch(cfg, url, { method: 'HEAD', redirects: 'follow', signal: o.signal, headers: { 'accept-encoding': 'identity' } });
  } catch (e) {
    if (cached && e instanceof BitnetError && e.code === 'NETWORK') {
      o.onLog?.(`${e.message}; using the copy downloaded ${meta.downloaded}`);
      return { path, fetched: 0, fromCache: true };
    }
    throw e;
  }
  const headOk = head.ok;
  if (!headOk && cached) {
    // some servers refuse HEAD (signed GET-only URLs); the copy we have is the best answer
    o.onLog?.(`${url}: HEAD gave HTTP ${head.status}; using the copy downloaded ${meta.downloaded}`);
    await head.body?.cancel();
    return { path, fetched: 0, fromCache: true };
  }
  const etag = headOk ? head.headers.get('etag') : null;
  const lastModified = headOk ? head.headers.get('last-modified') : null;
  const lengthRaw = headOk ? head.headers.get('content-length') : null;
  const size = lengthRaw !== null && /^\d+$/.test(lengthRaw) ? Number(lengthRaw) : undefined;
  await head.body?.cancel();
  if (cached) {
    const same = etag !== null ? etag === meta.etag : lastModified !== null ? lastModified === meta.lastModified : size === meta.size;
    if (same) return { path, fetched: 0, fromCache: true };
    o.onLog?.(`${url} changed on the server; downloading it again`);
  }
  await mkdir(dir, { recursive: true });
  return withLock(join(dir, 'download.lock'), async () => {
    // a partial file is resumed only if it belongs to the same version of the file
    const validator = etag !== null && !etag.startsWith('W/') ? etag : lastModified;
    const partial = await readJson<{ validator: string | null }>(join(dir, 'partial.json'));
    if (!validator || partial?.validator !== validator) await rm(`${path}.incomplete`, { force: true });
    await writeFile(join(dir, 'partial.json'), JSON.stringify({ validator }));
    const r = await download({
      url,
      dest: path,
      incomplete: `${path}.incomplete`,
      size,
      ifRange: validator ?? undefined,
      request: (u, headers) => hubFetch(cfg, u, { redirects: 'follow', headers, signal: o.signal }),
      subject: { url },
      tokenSent: false,
      label: fileName(url),
      onProgress: o.onProgress,
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      signal: o.signal,
    });
    const got = (await stat(path)).size;
    const m: UrlMeta = { url, etag, lastModified, size: got, downloaded: new Date().toISOString() };
    await writeFile(join(dir, 'meta.json'), `${JSON.stringify(m, null, 2)}\n`);
    await rm(join(dir, 'partial.json'), { force: true });
    return { path, fetched: r.fetched, fromCache: false };
  });
}
/** URL downloads in bitnet's cache. */
export async function listUrlDownloads(cfg: HubConfig): Promise<UrlDownload[]> {
  const root = join(cfg.bitnetCacheDir, 'url');
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: UrlDownload[] = [];
  for (const n of names.sort()) {
    const dir = join(root, n);
    const meta = await readJson<UrlMeta>(join(dir, 'meta.json'));
    if (!meta) continue;
    const path = join(dir, fileName(meta.url));
    if (await exists(path)) out.push({ url: meta.url, path, dir, size: (await stat(path)).size, downloaded: meta.downloaded });
  }
  return out;
}

/** Removes a URL download; the bytes freed, or undefined if it was not there. */
export async function removeUrl(cfg: HubConfig, url: string): Promise<number | undefined> {
  const dir = urlDir(cfg, url);
  if (!(await exists(dir))) return undefined;
  let bytes = 0;
  for (const n of await readdir(dir)) bytes += (await stat(join(dir, n))).size;
  await rm(dir, { recursive: true, force: true });
  return bytes;
}
