// Model references: a local path, an http(s) URL, or a Hugging Face repo (`hf:org/repo[@rev][:file-or-quant]`,
// `org/repo`, `hf.co/org/repo`, `https://huggingface.co/org/repo[/resolve/REV/FILE]`), and the choice of files
// to fetch from a repo: one GGUF (by exact name, by quant, or by preference i2_s > tq2_0 > tq1_0), else
// the safetensors model with its config and tokenizer files.
import { existsSync } from 'node:fs';
import { BitnetError } from '../errors.js';

export interface HfRef {
  kind: 'hf';
  /** org/repo */
  repo: string;
  /** branch, tag or commit (default main) */
  revision: string;
  /** a file name, or a quant such as i2_s, picking one GGUF */
  select: string | undefined;
}
export type ModelRef = { kind: 'local'; path: string } | { kind: 'url'; url: string } | HfRef;

const NAME = '[A-Za-z0-9][A-Za-z0-9._-]*';
const REPO_RE = new RegExp(`^(${NAME}/${NAME})(?:@([^:]+))?(?::(.+))?$`);
const HUB_HOSTS = new Set(['huggingface.co', 'hf.co', 'www.huggingface.co']);
const FILE_EXT = /\.(gguf|safetensors|json|bin)$/i;

function bad(ref: string, why: string): BitnetError {
  return new BitnetError('INVALID_ARGUMENT', `bad model reference "${ref}": ${why}`, { name: 'model' });
}

/** `org/repo[@rev][:select]` after any hf: / hf.co/ prefix. */
function parseRepo(ref: string, body: string): HfRef {
  const m = REPO_RE.exec(body);
  if (!m) throw bad(ref, 'expected org/repo[@revision][:file-or-quant]');
  const repo = m[1]!;
  if (repo.includes('..') || /\.git$/.test(repo)) throw bad(ref, `"${repo}" is not a repository name`);
  return { kind: 'hf', repo, revision: m[2] ?? 'main', select: m[3] };
}

/** An https://huggingface.co/... URL (or one under the configured endpoint) as a repo reference. */
function parseHubUrl(ref: string, url: URL): HfRef {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'api' || parts[0] === 'datasets' || parts[0] === 'spaces') throw bad(ref, 'only model repositories are supported');
  if (parts.length < 2) throw bad(ref, 'expected https://huggingface.co/org/repo');
  const repo = `${parts[0]}/${parts[1]}`;
  const [kind, revision, ...file] = parts.slice(2);
  if (kind === undefined) return parseRepo(ref, repo);
  if ((kind === 'resolve' || kind === 'blob') && revision && file.length) return { ...parseRepo(ref, repo), revision, select: file.join('/') };
  if (kind === 'tree' && revision) return { ...parseRepo(ref, repo), revision };
  throw bad(ref, 'expected https://huggingface.co/org/repo[/resolve/REVISION/FILE]');
}

/**
 * Reads a reference. An existing path always wins; then hf: / hf.co/ / URLs; then anything that looks
 * like a path (starts with ./ ../ / ~, or dir/file.gguf); then `org/repo`; anything else is a path.
 */
export function parseModelRef(ref: string, opts: { endpoint?: string; exists?: (p: string) => boolean } = {}): ModelRef {
  const exists = opts.exists ?? existsSync;
  if (ref === '') throw bad(ref, 'empty');
  if (exists(ref)) return { kind: 'local', path: ref };
  if (/^hf:/i.test(ref)) return parseRepo(ref, ref.slice(3).replace(/^\/+/, ''));
  const hostPrefix = /^(?:hf\.co|huggingface\.co)\/(.*)$/i.exec(ref);
  if (hostPrefix) return parseRepo(ref, hostPrefix[1]!);
  if (/^https?:\/\//i.test(ref)) {
    let url: URL;
    try {
      url = new URL(ref);
    } catch {
      throw bad(ref, 'not a valid URL');
    }
    const endpoint = opts.endpoint ? new URL(opts.endpoint) : undefined;
    const underEndpoint = endpoint !== undefined && url.origin === endpoint.origin && url.pathname.startsWith(endpoint.pathname.replace(/\/?$/, '/'));
    if (HUB_HOSTS.has(url.hostname.toLowerCase()) || underEndpoint) {
      const base = underEndpoint && endpoint ? endpoint.pathname.replace(/\/+$/, '') : '';
      const u = new URL(url.href);
      u.pathname = url.pathname.slice(base.length);
      return parseHubUrl(ref, u);
    }
    return { kind: 'url', url: url.href };
  }
  if (/^(\.{1,2}[/\\]|[/\\~]|[A-Za-z]:[/\\])/.test(ref)) return { kind: 'local', path: ref };
  const m = REPO_RE.exec(ref);
  // org/repo[:file.gguf] is a repo; dir/file.gguf is a path
  if (m && !FILE_EXT.test(m[1]!)) return parseRepo(ref, ref);
  return { kind: 'local', path: ref };
}

/** How a reference is written back (for messages and `bitnet ls`). */
export function formatRef(r: HfRef): string {
  return `${r.repo}${r.revision !== 'main' ? `@${r.revision}` : ''}${r.select ? `:${r.select}` : ''}`;
}

/** The GGUF quant preference when a repo has several and none is asked for. */
export const QUANT_PREFERENCE = ['i2_s', 'tq2_0', 'tq1_0'];

/** Files a safetensors model needs (when present), besides the weights. */
export const HF_FOLDER_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors.index.json'];

export interface Selection {
  /** files to fetch */
  files: string[];
  /** a single GGUF (its path is the model), or a folder (the snapshot folder is the model) */
  kind: 'gguf' | 'folder' | 'file';
  /** the one file when kind is gguf or file */
  file?: string;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** GGUFs whose name carries the quant as a whole word (ggml-model-i2_s.gguf matches i2_s, not q2_s). */
export function matchQuant(files: string[], quant: string): string[] {
  const re = new RegExp(`(^|[^a-z0-9])${escapeRe(quant.toLowerCase())}([^a-z0-9]|$)`);
  return files.filter((f) => /\.gguf$/i.test(f) && re.test((f.split('/').pop() ?? f).toLowerCase().replace(/\.gguf$/, '')));
}

/**
 * Picks what to download from a repo's file list. `select` is an exact file name (or a file's base name),
 * else a quant matched case-insensitively on GGUF names. Without it: the preferred quant, the only GGUF,
 * or the safetensors model.
 */
export function selectFiles(repo: string, files: string[], select?: string): Selection {
  const where = `${repo} (files: ${files.length ? files.join(', ') : 'none'})`;
  const ggufs = files.filter((f) => /\.gguf$/i.test(f));
  if (select !== undefined) {
    const exact = files.find((f) => f === select) ?? files.filter((f) => f.split('/').pop() === select).at(0);
    if (exact) return /\.gguf$/i.test(exact) ? { files: [exact], kind: 'gguf', file: exact } : { files: [exact], kind: 'file', file: exact };
    const byQuant = matchQuant(ggufs, select);
    if (byQuant.length === 1) return { files: byQuant, kind: 'gguf', file: byQuant[0]! };
    if (byQuant.length > 1) throw new BitnetError('INVALID_ARGUMENT', `"${select}" matches several GGUF files in ${repo}: ${byQuant.join(', ')}; name one with :FILE`, { name: 'model' });
    throw new BitnetError('REMOTE_NOT_FOUND', `no file or GGUF quant "${select}" in ${where}`, { name: 'model' });
  }
  // split GGUFs (-00001-of-00003.gguf) and multimodal projectors are not models on their own
  const single = ggufs.filter((f) => !/-\d{5}-of-\d{5}\.gguf$/i.test(f) && !/mmproj/i.test(f));
  for (const q of QUANT_PREFERENCE) {
    const hit = matchQuant(single, q);
    if (hit.length >= 1) return { files: [hit[0]!], kind: 'gguf', file: hit[0]! };
  }
  if (single.length === 1) return { files: single, kind: 'gguf', file: single[0]! };
  if (single.length > 1) throw new BitnetError('INVALID_ARGUMENT', `${repo} has several GGUF files and none is I2_S/TQ2_0/TQ1_0: pick one with ${repo}:FILE or :QUANT (${single.join(', ')})`, { name: 'model' });
  const weights = files.filter((f) => /\.safetensors$/i.test(f) && !f.includes('/'));
  if (weights.length === 0) throw new BitnetError('REMOTE_NOT_FOUND', `no GGUF or safetensors model in ${where}`, { name: 'model' });
  if (!files.includes('config.json')) throw new BitnetError('REMOTE_NOT_FOUND', `${repo} has safetensors but no config.json, so it is not a loadable model folder`, { name: 'model' });
  return { files: [...HF_FOLDER_FILES.filter((f) => files.includes(f)), ...weights.sort()], kind: 'folder' };
}

/** Is a ref's revision a full commit hash? */
export const isCommit = (rev: string): boolean => /^[0-9a-f]{40}$/.test(rev);

/** Does a selection name a file outright (so no file list is needed to resolve it)? */
export function looksLikeFile(select: string | undefined): boolean {
  return select !== undefined && FILE_EXT.test(select);
}
