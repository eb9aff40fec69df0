// A task's documents: one split of its dataset as plain JS rows, from lm-eval's local loaders (path 'json' |
// 'parquet' with data_files), from a --data-dir folder, or from the Hugging Face hub through hub/dataset.ts.
// Parquet is read with hyparquet (nested structs and lists become objects and arrays, safe BigInts numbers);
// JSON means JSON Lines or one JSON array, optionally gzipped. Unreadable or empty data is BAD_DATA naming the file.
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import * as zlib from 'node:zlib';
import { asyncBufferFromFile, parquetReadObjects, type Compressors } from 'hyparquet';
import { BitnetError } from '../errors.js';
import { DATA_FILE, PARQUET_REVISION, hubConfig, pullCommandFor, resolveDatasetSplit, type DownloadProgress, type HubConfig } from '../hub/index.js';
import type { DatasetSpec, Doc } from './task.js';

export interface DataOptions {
  cfg?: HubConfig | undefined;
  /** a local folder of datasets (see findInDataDir) instead of the hub */
  dataDir?: string | undefined;
  /** the folder relative dataFiles paths of a task file are read from (default: the working directory) */
  baseDir?: string | undefined;
  onLog?: ((line: string) => void) | undefined;
  onProgress?: ((p: DownloadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

const bad = (file: string, message: string, cause?: unknown): BitnetError => new BitnetError('BAD_DATA', message, { file, ...(cause === undefined ? {} : { cause }) });

/** BigInt -> number where exact (else its decimal string); nested objects and arrays converted throughout. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

/** hyparquet reads snappy itself; gzip and brotli (and zstd where this Node has it) come from node:zlib. */
const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
const COMPRESSORS: Compressors = {
  GZIP: (input) => zlib.gunzipSync(input),
  BROTLI: (input) => zlib.brotliDecompressSync(input),
  ...(zstd ? { ZSTD: (input: Uint8Array) => zstd(input) } : {}),
};

async function readParquet(file: string): Promise<Doc[]> {
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await parquetReadObjects({ file: await asyncBufferFromFile(file), compressors: COMPRESSORS });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BitnetError('FILE_NOT_FOUND', 'no such data file', { file, cause: e });
    const codec = /unsupported compression codec/.test((e as Error).message) ? '; convert it to snappy or uncompressed parquet, or JSON Lines' : '';
    throw bad(file, `not a readable parquet file (${(e as Error).message})${codec}`, e);
  }
  return rows.map((r) => plain(r) as Doc);
}

async function readJson(file: string): Promise<Doc[]> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (e) {
    throw new BitnetError('FILE_NOT_FOUND', 'no such data file', { file, cause: e });
  }
  let text: string;
  try {
    text = (/\.gz$/i.test(file) ? zlib.gunzipSync(raw) : raw).toString('utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw bad(file, `not a readable gzip file (${(e as Error).message})`, e);
  }
  const isRow = (x: unknown): x is Doc => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (/^\s*\[/.test(text)) {
    let all: unknown;
    try {
      all = JSON.parse(text);
    } catch (e) {
      throw bad(file, `not valid JSON (${(e as Error).message})`, e);
    }
    const rows = all as unknown[];
    const at = rows.findIndex((r) => !isRow(r));
    if (at >= 0) throw bad(file, `element ${at} of the JSON array is not an object`);
    return rows as Doc[];
  }
  const out: Doc[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw bad(file, `line ${i + 1} is not valid JSON (${(e as Error).message}); expected JSON Lines or a JSON array`, e);
    }
    if (!isRow(row)) throw bad(file, `line ${i + 1} is not a JSON object`);
    out.push(row);
  }
  return out;
}

/** The rows of one data file (.parquet, .jsonl / .ndjson / .json, each optionally .gz). */
export async function readDataFile(file: string): Promise<Doc[]> {
  if (/\.parquet$/i.test(file)) return readParquet(file);
  if (/\.(jsonl|ndjson|json)(\.gz)?$/i.test(file)) return readJson(file);
  throw bad(file, 'unknown data file type (expected .parquet, .jsonl, .ndjson or .json, optionally .gz)');
}

/** The rows of several files of one split, in order; an empty result is BAD_DATA naming the files. */
async function readSplit(files: string[], where: string): Promise<Doc[]> {
  const docs: Doc[] = [];
  for (const f of files) docs.push(...(await readDataFile(f)));
  if (docs.length === 0) throw new BitnetError('BAD_DATA', `${where} is empty (no rows)`, { file: files.join(', ') });
  return docs;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (DATA_FILE.test(e.name)) out.push(join(d, e.name));
    }
  };
  if (await isDir(dir)) await walk(dir);
  return out;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A split's files in a --data-dir folder. DIR/ORG/NAME[/CONFIG] holds, for split S: S.parquet / S.jsonl /
 * S.json (.gz too), sharded S-*.* (as the hub's data/S-00000-of-00001.parquet), or a folder S/ or partial-S/
 * of files (a copy of the refs/convert/parquet tree: DIR/ORG/NAME/CONFIG/S/0000.parquet); a data/ folder in
 * between is accepted. The config folder is used when the dataset has a config, else the dataset's own
 * folder (or its default/ folder). Returns [] when nothing is there.
 */
export async function findInDataDir(dataDir: string, ds: DatasetSpec, split: string): Promise<string[]> {
  const root = join(dataDir, ...ds.path.split('/'));
  const bases = ds.name ? [join(root, ds.name)] : [root, join(root, 'default')];
  const s = esc(split);
  const named = new RegExp(`^${s}(?:[-.][^/]*)?\\.(?:parquet|jsonl|ndjson|json)(?:\\.gz)?$`, 'i');
  for (const base of bases) {
    for (const dir of [base, join(base, 'data')]) {
      for (const sub of [split, `partial-${split}`]) {
        const inside = await filesUnder(join(dir, sub));
        if (inside.length) return pickFormat(inside);
      }
      let names: string[] = [];
      try {
        names = (await readdir(dir)).sort();
      } catch {
        continue;
      }
      const hit = names.filter((n) => named.test(n)).map((n) => join(dir, n));
      if (hit.length) return pickFormat(hit);
    }
  }
  return [];
}

function pickFormat(files: string[]): string[] {
  for (const re of [/\.parquet$/i, /\.(jsonl|ndjson)(\.gz)?$/i, /\.json(\.gz)?$/i]) {
    const f = files.filter((x) => re.test(x));
    if (f.length) return f;
  }
  return [];
}

const describe = (ds: DatasetSpec, split: string): string => `${ds.path}${ds.name ? ` config ${ds.name}` : ''} split "${split}"`;

/**
 * The documents of one split: (a) ds.path 'json' | 'parquet' reads ds.dataFiles[split] (paths relative to
 * opts.baseDir); (b) with opts.dataDir, the layout findInDataDir reads; (c) the hub dataset ds.path (config
 * ds.name) through the cache. Throws FILE_NOT_FOUND / OFFLINE / REMOTE_NOT_FOUND naming the dataset, split
 * and `bitnet pull --dataset` command when the data is missing, BAD_DATA when it is unreadable or empty.
 */
export async function loadSplit(ds: DatasetSpec, split: string, opts: DataOptions = {}): Promise<Doc[]> {
  if (ds.path === 'json' || ds.path === 'parquet') {
    const entry = ds.dataFiles?.[split];
    if (entry === undefined || (Array.isArray(entry) && entry.length === 0)) {
      throw new BitnetError('INVALID_ARGUMENT', `the dataset (path: ${ds.path}) lists no data_files for split "${split}"${ds.dataFiles ? ` (it has: ${Object.keys(ds.dataFiles).join(', ') || 'none'})` : ''}`, { name: 'dataset' });
    }
    const base = opts.baseDir ?? process.cwd();
    const files = (Array.isArray(entry) ? entry : [entry]).map((f) => (isAbsolute(f) ? f : resolve(base, f)));
    for (const f of files) {
      if (ds.path === 'parquet' && !/\.parquet$/i.test(f)) throw bad(f, 'the parquet loader was given a file that is not .parquet');
    }
    return readSplit(files, `split "${split}"`);
  }
  if (opts.dataDir !== undefined) {
    const files = await findInDataDir(opts.dataDir, ds, split);
    if (files.length === 0) {
      const where = join(opts.dataDir, ...ds.path.split('/'), ...(ds.name ? [ds.name] : []));
      throw new BitnetError(
        'FILE_NOT_FOUND',
        `no data for ${describe(ds, split)} in --data-dir: expected ${split}.parquet, ${split}.jsonl, ${split}-*.parquet or ${split}/*.parquet in ${where}; or drop --data-dir and run \`${pullCommandFor({ repo: ds.path, config: ds.name })}\``,
        { name: 'dataset' },
      );
    }
    return readSplit(files, `${describe(ds, split)} (${relative(opts.dataDir, files[0]!)})`);
  }
  const got = await resolveDatasetSplit({ repo: ds.path, config: ds.name }, split, {
    cfg: opts.cfg ?? hubConfig(),
    onLog: opts.onLog,
    onProgress: opts.onProgress,
    signal: opts.signal,
  });
  if (got.revision === PARQUET_REVISION && !got.fromCache) opts.onLog?.(`${ds.path}: read from the hub's parquet conversion (${PARQUET_REVISION})`);
  return readSplit(got.paths, describe(ds, split));
}

/**
 * Throws BAD_DATA unless every document has every column (a missing field, or null where the task needs a
 * value), naming `where` (the file or dataset and split), the field and the first document lacking it.
 */
export function requireColumns(docs: Doc[], columns: string[], where: string): void {
  if (docs.length === 0) throw new BitnetError('BAD_DATA', 'the split is empty (no rows)', { file: where });
  for (const c of columns) {
    const i = docs.findIndex((d) => d[c] === undefined || d[c] === null);
    if (i < 0) continue;
    const have = Object.keys(docs[i]!).join(', ');
    throw new BitnetError('BAD_DATA', `document ${i} has no field "${c}" (its fields: ${have || 'none'})`, { file: where, name: c });
  }
}
