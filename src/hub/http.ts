// HTTP for the hub with plain fetch: redirects followed by hand so the token goes only to the hub's own
// origin (never to the CDN a large file redirects to, as requests drops it on a cross-host redirect in
// huggingface_hub), HEAD that follows only relative redirects (renamed repos), and HTTP failures as BitnetErrors.
import { BitnetError } from '../errors.js';
import type { HubConfig } from './config.js';

export const USER_AGENT = 'bitnet.ts';

export interface HubRequest {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** 'follow': every redirect (GET of a file); 'relative': only same-host relative ones (HEAD, to read the CDN location) */
  redirects: 'follow' | 'relative';
  signal?: AbortSignal | undefined;
}

/** What a failure is about, for messages. */
export interface Subject {
  repo?: string;
  file?: string;
  url: string;
}

function networkError(url: string, e: unknown): BitnetError {
  const cause = (e as { cause?: { code?: string; message?: string } } | null)?.cause;
  const detail = cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
  return new BitnetError('NETWORK', `cannot reach ${new URL(url).origin} (${detail}); check the connection, or set HF_HUB_OFFLINE=1 to use only what is cached`, { cause: e });
}

/** fetch with the hub's auth and redirect rules; network failures become NETWORK errors. */
export async function hubFetch(cfg: HubConfig, url: string, req: HubRequest): Promise<Response> {
  const hub = new URL(cfg.endpoint).origin;
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...req.headers };
    if (cfg.token && new URL(current).origin === hub) headers.authorization = `Bearer ${cfg.token}`;
    let res: Response;
    try {
      res = await fetch(current, { method: req.method ?? 'GET', headers, redirect: 'manual', ...(req.signal ? { signal: req.signal } : {}) });
    } catch (e) {
      if (req.signal?.aborted) throw new BitnetError('ABORTED', 'download aborted', { cause: e });
      throw networkError(current, e);
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || location === null) return res;
    const relativeTarget = !/^[a-z][a-z0-9+.-]*:/i.test(location);
    if (req.redirects === 'relative' && !relativeTarget) return res;
    await res.body?.cancel();
    current = new URL(location, current).href;
  }
  throw new BitnetError('NETWORK', `too many redirects from ${url}`);
}

/** A failed response as a BitnetError saying what to do: set HF_TOKEN, check the name, retry. */
export async function httpError(res: Response, what: Subject, tokenSent: boolean): Promise<BitnetError> {
  const hubCode = res.headers.get('x-error-code');
  let hubMessage = res.headers.get('x-error-message') ?? '';
  if (!hubMessage) {
    try {
      const body = (await res.text()).slice(0, 500);
      const parsed = JSON.parse(body) as { error?: unknown };
      if (typeof parsed.error === 'string') hubMessage = parsed.error;
    } catch {
      // not a JSON error body
    }
  } else {
    await res.body?.cancel();
  }
  const name = what.repo ? `${what.repo}${what.file ? `/${what.file}` : ''}` : what.url;
  const server = hubMessage ? ` (server: ${hubMessage})` : '';
  if (res.status === 401 || res.status === 403) {
    if (!tokenSent) {
      return new BitnetError(
        'UNAUTHORIZED',
        `${name}: HTTP ${res.status}: the hub wants a token (a gated or private repository, or one that does not exist): set HF_TOKEN to an access token from https://huggingface.co/settings/tokens${what.repo ? ` that can read ${what.repo} (for a gated model, accept its terms on its page first)` : ''}${server}`,
      );
    }
    return new BitnetError(
      'UNAUTHORIZED',
      `${name}: HTTP ${res.status}: the token in HF_TOKEN was refused: check that it is valid and has read access to ${what.repo ?? 'this file'}${hubCode === 'GatedRepo' ? ' (a gated model: accept its terms on its page)' : ''}${server}`,
    );
  }
  if (res.status === 404) {
    const kind = hubCode === 'RepoNotFound' ? 'repository not found' : hubCode === 'RevisionNotFound' ? 'revision not found' : hubCode === 'EntryNotFound' ? 'file not found' : 'not found';
    return new BitnetError('REMOTE_NOT_FOUND', `${name}: ${kind} (HTTP 404)${server}`);
  }
  return new BitnetError('NETWORK', `${name}: HTTP ${res.status} ${res.statusText}${server}`);
}
