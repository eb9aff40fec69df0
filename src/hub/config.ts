// Where downloads go and how the hub is reached, read from the environment the way huggingface_hub reads it:
// HF_HUB_CACHE / HF_HOME / XDG_CACHE_HOME for the cache, HF_ENDPOINT, HF_TOKEN (or HUGGING_FACE_HUB_TOKEN, or
// the token file that `huggingface-cli login` writes), HF_HUB_OFFLINE. URL downloads live in bitnet's cache.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface HubConfig {
  /** the hub's base URL, no trailing slash (HF_ENDPOINT; default https://huggingface.co) */
  endpoint: string;
  /** bearer token for the hub, if any */
  token: string | undefined;
  /** the Hugging Face hub cache (models--org--repo folders) */
  cacheDir: string;
  /** no network: resolve from the cache only (HF_HUB_OFFLINE=1) */
  offline: boolean;
  /** bitnet's own cache (URL downloads under url/) */
  bitnetCacheDir: string;
}

type Env = Record<string, string | undefined>;

const truthy = (s: string | undefined): boolean => s !== undefined && ['1', 'on', 'yes', 'true'].includes(s.trim().toLowerCase());
const set = (s: string | undefined): string | undefined => (s === undefined || s.trim() === '' ? undefined : s.trim());

export function hubConfig(env: Env = process.env): HubConfig {
  const xdg = set(env.XDG_CACHE_HOME) ?? join(homedir(), '.cache');
  const hfHome = set(env.HF_HOME) ?? join(xdg, 'huggingface');
  const cacheDir = set(env.HF_HUB_CACHE) ?? set(env.HUGGINGFACE_HUB_CACHE) ?? join(hfHome, 'hub');
  let token = set(env.HF_TOKEN) ?? set(env.HUGGING_FACE_HUB_TOKEN);
  if (token === undefined) {
    try {
      token = set(readFileSync(set(env.HF_TOKEN_PATH) ?? join(hfHome, 'token'), 'utf8'));
    } catch {
      // no token file: anonymous
    }
  }
  return {
    endpoint: (set(env.HF_ENDPOINT) ?? 'https://huggingface.co').replace(/\/+$/, ''),
    token,
    cacheDir,
    offline: truthy(env.HF_HUB_OFFLINE),
    bitnetCacheDir: join(xdg, 'bitnet'),
  };
}
