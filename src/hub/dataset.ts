// Dataset repos on the Hugging Face hub, for `bitnet eval` and `bitnet pull --dataset`: which files hold a
// config's split (the README's YAML `configs:` with `data_files`, else the hub's file-name conventions, else
// the parquet conversion at revision refs/convert/parquet, which is all a script-only dataset has), fetched
// into the standard cache as datasets--org--name. Cache first; HF_HUB_OFFLINE=1 answers from the cache only.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BitnetError } from '../errors.js';
import { cachedCommit, repoDir, snapshotDir, snapshotFiles } from './cache.js';
import { fetchFiles, listRepo, type HubOptions, type RepoAt, type ResolvedFile } from './hf.js';

/** The hub's parquet conversion of every dataset (the dataset viewer's data; the only data of script datasets). */
export const PARQUET_REVISION = 'refs/convert/parquet';
/** Data files read by the eval loaders. */
export const DATA_FILE = /\.(parquet|jsonl|ndjson|json)(\.gz)?$/i;

export interface DatasetRef {
  /** org/name */
  repo: string;
  /** the config (subset); undefined: the default one for a split, every one for a pull */
  config: string | undefined;
  /** default main */
  revision: string;
}

const NAME = '[A-Za-z0-9][A-Za-z0-9._-]*';
const REF_RE = new RegExp(`^(${NAME}/${NAME})(?:@([^:@]+))?(?::([^:@]+))?(?:@([^:@]+))?$`);

/** `org/name[:config][@revision]` (also `org/name@revision:config`). */
export function parseDatasetRef(text: string): DatasetRef {
  const m = REF_RE.exec(text.replace(/^hf:/i, '').replace(/^datasets\//, ''));
  if (!m || (m[2] !== undefined && m[4] !== undefined) || m[1]!.includes('..')) {
    throw new BitnetError('INVALID_ARGUMENT', `bad dataset reference "${text}": expected org/name[:config][@revision]`, { name: 'dataset' });
  }
  return { repo: m[1]!, config: m[3], revision: m[2] ?? m[4] ?? 'main' };
}

export const formatDatasetRef = (r: { repo: string; config?: string | undefined; revision?: string | undefined }): string =>
  `${r.repo}${r.config ? `:${r.config}` : ''}${r.revision && r.revision !== 'main' ? `@${r.revision}` : ''}`;

/** The command that fetches a dataset (what error messages tell to run). */
export const pullCommandFor = (r: { repo: string; config?: string | undefined; revision?: string | undefined }): string => `bitnet pull --dataset ${formatDatasetRef(r)}`;

// ---------------------------------------------------------------------------------------------------------
// choosing files

interface ReadmeConfig {
  name: string;
  isDefault: boolean;
  dataDir: string | undefined;
  /** split -> glob patterns; undefined: the file-name conventions (inside dataDir) */
  splits: Map<string, string[]> | undefined;
}

/** The `configs:` section of a dataset card's YAML header ([] without one, or when it does not parse). */
export function readmeConfigs(readme: string | undefined): ReadmeConfig[] {
  const m = readme === undefined ? null : /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---\s*(\r?\n|$)/.exec(readme);
  if (!m) return [];
  let meta: unknown;
  try {
    meta = parseYaml(m[1]!);
  } catch {
    return [];
  }
  const configs = (meta as { configs?: unknown } | null)?.configs;
  if (!Array.isArray(configs)) return [];
  const out: ReadmeConfig[] = [];
  const list = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  for (const c of configs as Array<Record<string, unknown>>) {
    if (c === null || typeof c !== 'object') continue;
    const name = typeof c.config_name === 'string' ? c.config_name : 'default';
    const df = c.data_files;
    let splits: Map<string, string[]> | undefined;
    if (typeof df === 'string' || (Array.isArray(df) && df.every((x) => typeof x === 'string'))) splits = new Map([['train', list(df)]]);
    else if (Array.isArray(df)) splits = new Map(df.filter((x) => x && typeof x === 'object' && typeof x.split === 'string').map((x: { split: string; path?: unknown }) => [x.split, list(x.path)]));
    else if (df && typeof df === 'object') splits = new Map(Object.entries(df as Record<string, unknown>).map(([k, v]) => [k, list(v)]));
    out.push({ name, isDefault: c.default === true, dataDir: typeof c.data_dir === 'string' ? c.data_dir.replace(/\/+$/, '') : undefined, splits });
  }
  return out;
}

/** A data_files glob (`*`, `**`, `?`, `[...]`) as a RegExp over repo paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const SPLIT_WORDS: Record<string, string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'val', 'dev'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};
const words = (split: string): string[] => SPLIT_WORDS[split] ?? [split];
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1).replace(DATA_FILE, '');

/** Whether a path names a split by the hub's conventions: a folder `split/`, or `split` between separators in the name. */
function namesSplit(path: string, split: string): boolean {
  const ws = words(split).map(esc).join('|');
  const dirs = path.split('/').slice(0, -1).map((d) => d.toLowerCase());
  if (words(split).some((w) => dirs.includes(w))) return true;
  return new RegExp(`(^|[-._ 0-9])(${ws})([-._ 0-9]|$)`, 'i').test(baseName(path));
}

/** Of several formats matching, one: parquet, then JSON Lines, then JSON. */
function oneFormat(files: string[]): string[] {
  for (const ext of [/\.parquet$/i, /\.(jsonl|ndjson)(\.gz)?$/i, /\.json(\.gz)?$/i]) {
    const f = files.filter((x) => ext.test(x));
    if (f.length) return f.sort();
  }
  return [];
}

/** The hub's default layout: files of `under/` whose folder or name says the split; with no split named anywhere, all are train. */
function byConvention(files: string[], under: string, split: string): string[] {
  const prefix = under ? `${under}/` : '';
  const data = files.filter((f) => f.startsWith(prefix) && DATA_FILE.test(f)).map((f) => f.slice(prefix.length));
  let hit = data.filter((f) => namesSplit(f, split));
  if (hit.length === 0 && split === 'train' && !data.some((f) => Object.keys(SPLIT_WORDS).some((s) => namesSplit(f, s)))) hit = data;
  return oneFormat(hit).map((f) => prefix + f);
}

/** The parquet conversion's layout: C/S/NNNN.parquet, C/partial-S/NNNN.parquet, older C/NAME-S[-NNNNN-of-NNNNN].parquet. */
function inParquetBranch(files: string[], config: string, split: string): string[] {
  const s = esc(split);
  const re = new RegExp(`^${esc(config)}/(?:(?:partial-)?${s}/[^/]+|${s}-[^/]*|[^/]*-${s}(?:-\\d+-of-\\d+)?)\\.parquet$`);
  return files.filter((f) => re.test(f)).sort();
}

/** config/split pairs of the parquet conversion (for messages). */
export function parquetSplits(files: string[]): string[] {
  const out = new Set<string>();
  for (const f of files) {
    const m = /^([^/]+)\/(?:partial-)?([^/]+)\/[^/]+\.parquet$/.exec(f);
    if (m) out.add(`${m[1]}/${m[2]}`);
  }
  return [...out].sort();
}

const topDirs = (files: string[]): string[] => [...new Set(files.filter((f) => f.includes('/')).map((f) => f.slice(0, f.indexOf('/'))))].sort();

/** The config used when none is named: README's `default: true`, else "default", else the first. */
function defaultConfig(names: string[], flagged?: string): string | undefined {
  return flagged ?? (names.includes('default') ? 'default' : names[0]);
}

export interface SelectOptions {
  config: string | undefined;
  split: string;
  /** the file list is the refs/convert/parquet revision's */
  parquetBranch: boolean;
  /** the dataset card (README.md) text, for its `configs:` */
  readme?: string | undefined;
}

/** The repo files that hold one split of one config ([] if the files do not say). */
export function selectSplitFiles(files: string[], o: SelectOptions): string[] {
  if (o.parquetBranch) {
    const config = o.config ?? defaultConfig(topDirs(files));
    return config === undefined ? [] : inParquetBranch(files, config, o.split);
  }
  const configs = readmeConfigs(o.readme);
  if (configs.length) {
    const name = o.config ?? defaultConfig(configs.map((c) => c.name), configs.find((c) => c.isDefault)?.name);
    const c = configs.find((x) => x.name === name);
    if (!c) return [];
    if (!c.splits) return byConvention(files, c.dataDir ?? '', o.split);
    const patterns = (c.splits.get(o.split) ?? []).map((p) => globToRegExp(c.dataDir ? `${c.dataDir}/${p}` : p));
    return files.filter((f) => patterns.some((re) => re.test(f))).sort();
  }
  if (o.config !== undefined && o.config !== 'default') return byConvention(files, o.config, o.split);
  return byConvention(files, '', o.split);
}

/** A repo whose data comes from a loading script: a top-level .py and no `configs:` in its card. */
const scriptOnly = (files: string[], readme: string | undefined): boolean => files.some((f) => /^[^/]+\.py$/.test(f)) && readmeConfigs(readme).length === 0;

// ---------------------------------------------------------------------------------------------------------
// resolving and fetching

export interface DatasetSplitFiles {
  repo: string;
  config: string | undefined;
  split: string;
  /** the revision the files came from: the one asked for, or refs/convert/parquet */
  revision: string;
  commit: string;
  /** absolute paths in the snapshot, in order */
  paths: string[];
  /** the same, as repo paths */
  files: string[];
  fromCache: boolean;
  /** bytes downloaded this time */
  fetched: number;
}

export interface DatasetSplitRef {
  repo: string;
  config?: string | undefined;
  revision?: string | undefined;
}

async function readSnapshotText(dir: string, commit: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(join(snapshotDir(dir, commit), ...file.split('/')), 'utf8');
  } catch {
    return undefined;
  }
}

const missing = (ref: DatasetSplitRef, split: string): string => `dataset ${ref.repo}${ref.config ? ` config ${ref.config}` : ''} split "${split}"`;

async function fromCache(ref: DatasetSplitRef, split: string, dir: string, revisions: string[]): Promise<DatasetSplitFiles | undefined> {
  for (const revision of revisions) {
    const commit = await cachedCommit(dir, revision);
    if (!commit) continue;
    const files = await snapshotFiles(dir, commit);
    const readme = files.includes('README.md') ? await readSnapshotText(dir, commit, 'README.md') : undefined;
    const sel = selectSplitFiles(files, { config: ref.config, split, parquetBranch: revision === PARQUET_REVISION, readme });
    if (sel.length === 0) continue;
    return { repo: ref.repo, config: ref.config, split, revision, commit, files: sel, paths: sel.map((f) => join(snapshotDir(dir, commit), ...f.split('/'))), fromCache: true, fetched: 0 };
  }
  return undefined;
}

/** The parquet conversion's listing, or undefined when the repo has none. */
async function listParquetBranch(repo: string, o: HubOptions): Promise<{ commit: string | undefined; files: string[] } | undefined> {
  try {
    return await listRepo({ type: 'dataset', repo, revision: PARQUET_REVISION }, o);
  } catch (e) {
    if (e instanceof BitnetError && e.code === 'REMOTE_NOT_FOUND') return undefined;
    throw e;
  }
}

/** The main revision's listing and card (README.md is fetched into the cache: it says the configs). */
async function mainWithCard(at: RepoAt, o: HubOptions): Promise<{ commit: string | undefined; files: string[]; readme: string | undefined; fetched: number }> {
  const main = await listRepo(at, o);
  if (!main.files.includes('README.md')) return { ...main, readme: undefined, fetched: 0 };
  const got = await fetchFiles(at, main.commit, ['README.md'], o);
  return { commit: got.commit, files: main.files, readme: await readSnapshotText(repoDir(o.cfg.cacheDir, at.repo, 'dataset'), got.commit, 'README.md'), fetched: got.files[0]!.fetched };
}

/**
 * The local files of one split of a hub dataset, downloading what the cache lacks (only that split's files).
 * Throws OFFLINE (offline and not cached) or REMOTE_NOT_FOUND (the repo has no such config / split), both
 * naming the dataset, config and split and the `bitnet pull --dataset` command.
 */
export async function resolveDatasetSplit(ref: DatasetSplitRef, split: string, o: HubOptions): Promise<DatasetSplitFiles> {
  const { cfg } = o;
  const revision = ref.revision ?? 'main';
  const dir = repoDir(cfg.cacheDir, ref.repo, 'dataset');
  const revisions = revision === PARQUET_REVISION ? [revision] : [revision, PARQUET_REVISION];
  const hit = await fromCache(ref, split, dir, revisions);
  if (hit && (!o.update || cfg.offline)) return hit;
  if (cfg.offline) {
    throw new BitnetError(
      'OFFLINE',
      `offline mode is on (HF_HUB_OFFLINE) and ${missing(ref, split)} is not in the cache (${cfg.cacheDir}); run \`${pullCommandFor({ ...ref, revision })}\` without HF_HUB_OFFLINE first`,
      { name: 'dataset' },
    );
  }
  try {
    return await splitFromHub(ref, split, revision, o);
  } catch (e) {
    if (hit && e instanceof BitnetError && e.code === 'NETWORK') {
      o.onLog?.(`${e.message}; using the cached ${ref.repo}@${hit.commit.slice(0, 12)}`);
      return hit;
    }
    throw e;
  }
}

async function splitFromHub(ref: DatasetSplitRef, split: string, revision: string, o: HubOptions): Promise<DatasetSplitFiles> {
  const dir = repoDir(o.cfg.cacheDir, ref.repo, 'dataset');
  const fetch = async (rev: string, commit: string | undefined, files: string[], before: number): Promise<DatasetSplitFiles> => {
    const got = await fetchFiles({ type: 'dataset', repo: ref.repo, revision: rev }, commit, files, o);
    const paths = files.map((f) => join(snapshotDir(dir, got.commit), ...f.split('/')));
    return { repo: ref.repo, config: ref.config, split, revision: rev, commit: got.commit, files, paths, fromCache: false, fetched: before + got.files.reduce((a, f) => a + f.fetched, 0) };
  };
  const fromBranch = async (before: number): Promise<DatasetSplitFiles | string> => {
    const pq = await listParquetBranch(ref.repo, o);
    if (!pq) return `it has no ${PARQUET_REVISION} revision`;
    const sel = selectSplitFiles(pq.files, { config: ref.config, split, parquetBranch: true });
    if (sel.length) return fetch(PARQUET_REVISION, pq.commit, sel, before);
    return `its ${PARQUET_REVISION} revision has ${parquetSplits(pq.files).join(', ') || 'no parquet files'}`;
  };
  if (revision === PARQUET_REVISION) {
    const r = await fromBranch(0);
    if (typeof r !== 'string') return r;
    throw new BitnetError('REMOTE_NOT_FOUND', `${missing(ref, split)}: no such files on the hub (${r})`, { name: 'dataset' });
  }
  const at: RepoAt = { type: 'dataset', repo: ref.repo, revision };
  const main = await mainWithCard(at, o);
  const sel = selectSplitFiles(main.files, { config: ref.config, split, parquetBranch: false, readme: main.readme });
  if (sel.length && !scriptOnly(main.files, main.readme)) return fetch(revision, main.commit, sel, main.fetched);
  const r = await fromBranch(main.fetched);
  if (typeof r !== 'string') return r;
  if (sel.length) return fetch(revision, main.commit, sel, main.fetched);
  const configs = readmeConfigs(main.readme).map((c) => c.name);
  const why = `${revision} has no data files for it${configs.length ? ` (its configs: ${configs.join(', ')})` : ''}, and ${r}`;
  throw new BitnetError('REMOTE_NOT_FOUND', `${missing(ref, split)}: no such files on the hub: ${why}`, { name: 'dataset' });
}

export interface PulledDataset {
  repo: string;
  config: string | undefined;
  /** the revision the files came from */
  revision: string;
  commit: string;
  /** the snapshot folder */
  path: string;
  files: ResolvedFile[];
  fetched: number;
}

/**
 * `bitnet pull --dataset`: fetches a dataset's data files (with its card), checking the hub for the current
 * revision. Without a config, every config's files; with one, that config's. Repos whose data comes from a
 * loading script (or that have no data files) are fetched from the parquet conversion.
 */
export async function pullDataset(ref: DatasetRef, o: HubOptions): Promise<PulledDataset> {
  const dir = repoDir(o.cfg.cacheDir, ref.repo, 'dataset');
  if (o.cfg.offline) throw new BitnetError('OFFLINE', `offline mode is on (HF_HUB_OFFLINE): unset it to pull ${formatDatasetRef(ref)}`, { name: 'dataset' });
  const done = async (revision: string, commit: string | undefined, files: string[], before: number): Promise<PulledDataset> => {
    const got = await fetchFiles({ type: 'dataset', repo: ref.repo, revision }, commit, files, o);
    return { repo: ref.repo, config: ref.config, revision, commit: got.commit, path: snapshotDir(dir, got.commit), files: got.files, fetched: before + got.files.reduce((a, f) => a + f.fetched, 0) };
  };
  const branchFiles = (files: string[]): string[] => files.filter((f) => f.endsWith('.parquet') && (ref.config === undefined || f.startsWith(`${ref.config}/`)));
  if (ref.revision === PARQUET_REVISION) {
    const pq = await listParquetBranch(ref.repo, o);
    const files = branchFiles(pq?.files ?? []);
    if (!pq || files.length === 0) throw new BitnetError('REMOTE_NOT_FOUND', `${formatDatasetRef(ref)}: no parquet files at ${PARQUET_REVISION}`, { name: 'dataset' });
    return done(PARQUET_REVISION, pq.commit, files, 0);
  }
  const at: RepoAt = { type: 'dataset', repo: ref.repo, revision: ref.revision };
  const main = await mainWithCard(at, o);
  const configs = readmeConfigs(main.readme);
  let files: string[];
  if (ref.config === undefined) files = main.files.filter((f) => DATA_FILE.test(f));
  else if (configs.length) {
    const c = configs.find((x) => x.name === ref.config);
    const patterns = c?.splits ? [...c.splits.values()].flat().map((p) => globToRegExp(c.dataDir ? `${c.dataDir}/${p}` : p)) : c ? [globToRegExp(`${c.dataDir ? `${c.dataDir}/` : ''}**`)] : [];
    files = main.files.filter((f) => DATA_FILE.test(f) && patterns.some((re) => re.test(f)));
  } else files = main.files.filter((f) => DATA_FILE.test(f) && (ref.config === 'default' || f.startsWith(`${ref.config}/`)));
  if (files.length && !scriptOnly(main.files, main.readme)) return done(ref.revision, main.commit, [...(main.readme !== undefined ? ['README.md'] : []), ...files.sort()], main.fetched);
  const pq = await listParquetBranch(ref.repo, o);
  const pqFiles = branchFiles(pq?.files ?? []);
  if (pq && pqFiles.length) return done(PARQUET_REVISION, pq.commit, pqFiles, main.fetched);
  if (files.length) return done(ref.revision, main.commit, files.sort(), main.fetched);
  const known = configs.length ? `its configs: ${configs.map((c) => c.name).join(', ')}` : pq ? `${PARQUET_REVISION} has ${topDirs(pq.files).join(', ') || 'no configs'}` : `no data files and no ${PARQUET_REVISION} revision`;
  throw new BitnetError('REMOTE_NOT_FOUND', `${formatDatasetRef(ref)}: nothing to download (${known})`, { name: 'dataset' });
}
