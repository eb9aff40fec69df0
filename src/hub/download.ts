// One resumable, verified download: bytes go to PATH.incomplete (appended after a `Range: bytes=N-` request
// when a partial file exists, its prefix rehashed), the size and (when known) sha256 are checked, and only
// then is it renamed into place. A failed check deletes the partial file; a cut connection keeps it and
// retries, resuming, a few times before giving up with NETWORK (the next run resumes too).
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat, truncate } from 'node:fs/promises';
import { BitnetError } from '../errors.js';
import { httpError, type Subject } from './http.js';

export interface DownloadProgress {
  /** what is being downloaded (a file name) */
  label: string;
  /** bytes in the partial file so far */
  loaded: number;
  /** expected size, if known */
  total: number | undefined;
  /** bytes that were already there when this download started (resumed) */
  resumedFrom: number;
  done: boolean;
}

export interface DownloadOptions {
  url: string;
  /** final path; written only after verification */
  dest: string;
  /** partial data (dest.incomplete in bitnet's cache; blobs/<etag>.incomplete in the HF cache) */
  incomplete: string;
  size?: number | undefined;
  /** expected sha256 (hex) of the whole file */
  sha256?: string | undefined;
  /** validator sent as If-Range with a Range request (a changed file then comes back whole) */
  ifRange?: string | undefined;
  /** performs the GET (following redirects, with whatever auth applies) */
  request: (url: string, headers: Record<string, string>) => Promise<Response>;
  subject: Subject;
  tokenSent: boolean;
  label: string;
  onProgress?: ((p: DownloadProgress) => void) | undefined;
  /** reconnections after a cut connection (default 4) */
  retries?: number | undefined;
  retryDelayMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function hashPrefix(path: string, bytes: number): Promise<Hash> {
  const h = createHash('sha256');
  if (bytes > 0) for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 })) h.update(chunk as Buffer);
  return h;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Downloads opts.url to opts.dest through opts.incomplete; returns the bytes that came over the network. */
export async function download(opts: DownloadOptions): Promise<{ fetched: number; resumedFrom: number }> {
  const retries = opts.retries ?? 4;
  let attempt = 0;
  let hash: Hash | undefined;
  let hashed = -1;
  let fetched = 0;
  const firstHave = await sizeOf(opts.incomplete);
  for (;;) {
    let have = await sizeOf(opts.incomplete);
    if (opts.size !== undefined && have > opts.size) {
      await truncate(opts.incomplete, 0);
      have = 0;
    }
    if (opts.sha256 && hashed !== have) {
      hash = await hashPrefix(opts.incomplete, have);
      hashed = have;
    }
    if (opts.size !== undefined && have === opts.size) break; // everything is there already: verify
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      if (opts.ifRange) headers['if-range'] = opts.ifRange;
    }
    let res: Response;
    try {
      res = await opts.request(opts.url, headers);
    } catch (e) {
      if (!(e instanceof BitnetError) || e.code !== 'NETWORK' || ++attempt > retries) throw e;
      await sleep((opts.retryDelayMs ?? 1000) * attempt);
      continue;
    }
    if (res.status === 416 && have > 0) {
      // the server has no bytes past ours: the partial file is stale or already whole; start over once
      await res.body?.cancel();
      await truncate(opts.incomplete, 0);
      hashed = -1;
      if (++attempt > retries) throw new BitnetError('NETWORK', `${opts.label}: the server refused to resume (HTTP 416)`);
      continue;
    }
    if (!res.ok) throw await httpError(res, opts.subject, opts.tokenSent);
    if (res.status === 206) {
      const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!start || Number(start[1]) !== have) {
        await res.body?.cancel();
        await truncate(opts.incomplete, 0);
        hashed = -1;
        if (++attempt > retries) throw new BitnetError('NETWORK', `${opts.label}: the server answered a range request with the wrong range`);
        continue;
      }
    } else if (have > 0) {
      // 200: the whole file again (no range support, or If-Range says it changed)
      have = 0;
      if (opts.sha256) {
        hash = createHash('sha256');
        hashed = 0;
      }
    }
    const length = Number(res.headers.get('content-length') ?? NaN);
    const total = opts.size ?? (Number.isFinite(length) ? have + length : undefined);
    const resumedFrom = have;
    const fh = await open(opts.incomplete, have === 0 ? 'w' : 'a');
    opts.onProgress?.({ label: opts.label, loaded: have, total, resumedFrom, done: false });
    try {
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await fh.write(value);
        hash?.update(value);
        have += value.length;
        hashed = have;
        fetched += value.length;
        opts.onProgress?.({ label: opts.label, loaded: have, total, resumedFrom, done: false });
      }
    } catch (e) {
      await fh.close();
      if (opts.signal?.aborted) throw new BitnetError('ABORTED', `${opts.label}: download aborted; run again to resume`, { cause: e });
      if (++attempt > retries) {
        throw new BitnetError(
          'NETWORK',
          `${opts.label}: the connection was cut at ${have}${total !== undefined ? ` of ${total}` : ''} bytes (${(e as Error).message}); the partial download is kept: run the same command again to resume`,
          { cause: e },
        );
      }
      await sleep((opts.retryDelayMs ?? 1000) * attempt);
      continue;
    }
    await fh.close();
    if (opts.size === undefined && total !== undefined && have < total) {
      if (++attempt > retries) throw new BitnetError('NETWORK', `${opts.label}: the body ended at ${have} of ${total} bytes; run again to resume`);
      continue;
    }
    break;
  }
  const got = await sizeOf(opts.incomplete);
  const fail = async (why: string): Promise<never> => {
    await rm(opts.incomplete, { force: true });
    throw new BitnetError('VERIFY_FAILED', `${opts.label}: ${why}; the download was deleted: run the command again`);
  };
  if (opts.size !== undefined && got !== opts.size) await fail(`${got} bytes where the server announced ${opts.size}`);
  if (opts.sha256) {
    const digest = hashed === got && hash ? hash.digest('hex') : (await hashPrefix(opts.incomplete, got)).digest('hex');
    if (digest !== opts.sha256.toLowerCase()) await fail(`sha256 ${digest} does not match the expected ${opts.sha256}`);
  }
  await rename(opts.incomplete, opts.dest);
  opts.onProgress?.({ label: opts.label, loaded: got, total: got, resumedFrom: firstHave, done: true });
  return { fetched, resumedFrom: firstHave };
}
