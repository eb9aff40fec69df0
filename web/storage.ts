// Model downloads kept on disk in the origin private file system (OPFS): a URL is streamed straight into a
// file with createWritable (never held whole in memory), indexed once complete, and later opened as a
// disk-backed File, so a reload does not download it again.
const DIR = 'models';
const INDEX_KEY = 'bitnet-web:cache-index';

export interface DownloadProgress {
  loaded: number;
  /** 0 when the server sends no Content-Length */
  total: number;
  bytesPerSecond: number;
}

export interface StoredModel {
  file: Blob;
  name: string;
  fromCache: boolean;
}

type Index = Record<string, { file: string; size: number }>;

const readIndex = (): Index => JSON.parse(localStorage.getItem(INDEX_KEY) ?? '{}') as Index;
const writeIndex = (index: Index): void => localStorage.setItem(INDEX_KEY, JSON.stringify(index));

export const opfsAvailable = (): boolean => typeof navigator.storage?.getDirectory === 'function';

async function modelsDir(): Promise<FileSystemDirectoryHandle> {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(DIR, { create: true });
}

/** A file name for a URL: its last path segment plus a hash of the whole URL. */
function fileNameFor(url: string): string {
  let h = 2166136261;
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 16777619) >>> 0;
  const base = (new URL(url).pathname.split('/').pop() || 'model').replace(/[^\w.-]/g, '_').slice(-80);
  return `${h.toString(16).padStart(8, '0')}-${base}`;
}

/** The stored copy of `url`, when a complete one is on disk. */
async function cached(url: string): Promise<File | undefined> {
  const entry = readIndex()[url];
  if (!entry || !opfsAvailable()) return undefined;
  try {
    const file = await (await (await modelsDir()).getFileHandle(entry.file)).getFile();
    return file.size === entry.size ? file : undefined;
  } catch {
    return undefined;
  }
}

/** Opens `url` from the cache, or downloads it (streamed to disk) with progress. */
export async function fetchModel(url: string, onProgress: (p: DownloadProgress) => void, signal?: AbortSignal): Promise<StoredModel> {
  const absolute = new URL(url, document.baseURI).href;
  const name = decodeURIComponent(new URL(absolute).pathname.split('/').pop() || absolute);
  const hit = await cached(absolute);
  if (hit) return { file: hit, name, fromCache: true };
  const res = await fetch(absolute, signal ? { signal } : {});
  if (!res.ok || !res.body) throw new Error(`download failed: HTTP ${res.status} ${res.statusText} for ${absolute}`);
  const total = Number(res.headers.get('Content-Length') ?? 0);
  const t0 = performance.now();
  let loaded = 0;
  let lastReport = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      loaded += chunk.byteLength;
      const t = performance.now();
      if (t - lastReport > 100 || loaded === total) {
        lastReport = t;
        onProgress({ loaded, total, bytesPerSecond: loaded / Math.max((t - t0) / 1000, 1e-3) });
      }
      ctl.enqueue(chunk);
    },
  });
  const body = res.body.pipeThrough(counter);
  if (!opfsAvailable()) return { file: await new Response(body).blob(), name, fromCache: false };
  const dir = await modelsDir();
  const fileName = fileNameFor(absolute);
  const handle = await dir.getFileHandle(fileName, { create: true });
  const writable = await handle.createWritable();
  await body.pipeTo(writable, signal ? { signal } : {}); // closes the writable: the data is committed
  onProgress({ loaded, total: total || loaded, bytesPerSecond: loaded / Math.max((performance.now() - t0) / 1000, 1e-3) });
  const file = await handle.getFile();
  if (total && file.size !== total) throw new Error(`download incomplete: ${file.size} of ${total} bytes`);
  writeIndex({ ...readIndex(), [absolute]: { file: fileName, size: file.size } });
  return { file, name, fromCache: false };
}

/** Cached downloads: URL and size. */
export function cachedModels(): Array<{ url: string; size: number }> {
  return Object.entries(readIndex()).map(([url, e]) => ({ url, size: e.size }));
}

/** Deletes every stored download. */
export async function clearCache(): Promise<void> {
  writeIndex({});
  if (opfsAvailable()) await (await navigator.storage.getDirectory()).removeEntry(DIR, { recursive: true }).catch(() => undefined);
}
