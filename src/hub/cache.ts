// The Hugging Face hub cache, in huggingface_hub's exact layout so files are shared with other HF tools
// both ways: models--org--repo/{blobs/<etag>, refs/<revision> (a commit hash), snapshots/<commit>/<path> ->
// relative symlink to ../../blobs/<etag>}, downloads in progress in blobs/<etag>.incomplete; dataset repos
// the same under datasets--org--name.
import { copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { isCommit } from './ref.js';

/** What kind of hub repository: models (the default everywhere) or datasets. */
export type RepoType = 'model' | 'dataset';

export const repoFolderName = (repo: string, type: RepoType = 'model'): string => `${type}s--${repo.split('/').join('--')}`;
export const repoDir = (cacheDir: string, repo: string, type: RepoType = 'model'): string => join(cacheDir, repoFolderName(repo, type));
export const blobPath = (dir: string, etag: string): string => join(dir, 'blobs', etag);
export const snapshotDir = (dir: string, commit: string): string => join(dir, 'snapshots', commit);

/** Whether a path exists (any kind of file; a broken symlink does not). */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The commit a revision points at in the cache (refs/<revision>, or the revision itself if it is a commit with a snapshot). */
export async function cachedCommit(dir: string, revision: string): Promise<string | undefined> {
  if (isCommit(revision)) return (await exists(snapshotDir(dir, revision))) ? revision : undefined;
  try {
    const commit = (await readFile(join(dir, 'refs', ...revision.split('/')), 'utf8')).trim();
    return commit || undefined;
  } catch {
    return undefined;
  }
}

export async function writeRef(dir: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return; // huggingface_hub writes refs only for branch / tag names
  const path = join(dir, 'refs', ...revision.split('/'));
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, commit);
  await rename(tmp, path);
}

/** Files of a snapshot (relative paths with /) whose link resolves to an existing file. */
export async function snapshotFiles(dir: string, commit: string): Promise<string[]> {
  const root = snapshotDir(dir, commit);
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const p = join(d, name);
      let st;
      try {
        st = await stat(p);
      } catch {
        continue; // dangling link
      }
      if (st.isDirectory()) await walk(p);
      else if (st.isFile()) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  await walk(root);
  return out;
}

/** Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (a copy where links are not allowed). */
export async function linkSnapshot(dir: string, commit: string, file: string, etag: string): Promise<string> {
  const link = join(snapshotDir(dir, commit), ...file.split('/'));
  await mkdir(dirname(link), { recursive: true });
  await rm(link, { force: true });
  const blob = blobPath(dir, etag);
  try {
    await symlink(relative(dirname(link), blob), link);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOSYS' && code !== 'EACCES') throw e;
    await copyFile(blob, link);
  }
  return link;
}

export interface CachedFile {
  /** path inside the snapshot */
  path: string;
  /** absolute path of the snapshot entry */
  fullPath: string;
  size: number;
  /** blob name (etag) the entry links to, if it is a link into blobs/ */
  blob: string | undefined;
}

export interface CachedSnapshot {
  commit: string;
  /** refs (branch / tag names) pointing at this commit */
  refs: string[];
  files: CachedFile[];
  /** the path to load: the preferred GGUF, or the folder if it holds a safetensors model; undefined if neither */
  model: string | undefined;
}

export interface CachedRepo {
  repo: string;
  dir: string;
  snapshots: CachedSnapshot[];
  /** bytes of blobs (complete and in progress) */
  sizeOnDisk: number;
  /** downloads in progress (blobs/*.incomplete) */
  incomplete: number;
}

async function readRefs(dir: string): Promise<Map<string, string>> {
  const refs = new Map<string, string>();
  const walk = async (d: string, prefix: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if ((await stat(p)).isDirectory()) await walk(p, `${prefix}${name}/`);
      else refs.set(`${prefix}${name}`, (await readFile(p, 'utf8')).trim());
    }
  };
  await walk(join(dir, 'refs'), '');
  return refs;
}

/** What `bitnet ls` shows for one cached repo folder. */
export async function inspectRepo(cacheDir: string, repo: string, pickModel: (files: string[]) => string | undefined, type: RepoType = 'model'): Promise<CachedRepo | undefined> {
  const dir = repoDir(cacheDir, repo, type);
  if (!(await exists(dir))) return undefined;
  const refs = await readRefs(dir);
  const snapshots: CachedSnapshot[] = [];
  let commits: string[] = [];
  try {
    commits = (await readdir(join(dir, 'snapshots'))).sort();
  } catch {
    // no snapshots yet
  }
  for (const commit of commits) {
    const files: CachedFile[] = [];
    for (const path of await snapshotFiles(dir, commit)) {
      const fullPath = join(snapshotDir(dir, commit), ...path.split('/'));
      const st = await stat(fullPath);
      let blob: string | undefined;
      try {
        const target = resolve(dirname(fullPath), await readlink(fullPath));
        if (dirname(target) === join(dir, 'blobs')) blob = target.slice(join(dir, 'blobs').length + 1);
      } catch {
        // a copy, not a link
      }
      files.push({ path, fullPath, size: st.size, blob });
    }
    const picked = pickModel(files.map((f) => f.path));
    snapshots.push({
      commit,
      refs: [...refs].filter(([, c]) => c === commit).map(([r]) => r),
      files,
      model: picked === undefined ? undefined : picked === '' ? snapshotDir(dir, commit) : join(snapshotDir(dir, commit), ...picked.split('/')),
    });
  }
  let sizeOnDisk = 0;
  let incomplete = 0;
  try {
    for (const name of await readdir(join(dir, 'blobs'))) {
      sizeOnDisk += (await lstat(join(dir, 'blobs', name))).size;
      if (name.endsWith('.incomplete')) incomplete++;
    }
  } catch {
    // no blobs
  }
  return { repo, dir, snapshots, sizeOnDisk, incomplete };
}

/** Repo ids (org/repo) of the model (or dataset) folders in the cache. */
export async function cachedRepoIds(cacheDir: string, type: RepoType = 'model'): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(cacheDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(`${type}s--`))
    .map((n) => n.slice(`${type}s--`.length).split('--').join('/'))
    .sort();
}

/** Removes a whole repo folder; returns the bytes freed. */
export async function removeRepo(cacheDir: string, repo: string, type: RepoType = 'model'): Promise<number> {
  const info = await inspectRepo(cacheDir, repo, () => undefined, type);
  if (!info) return 0;
  await rm(info.dir, { recursive: true, force: true });
  await rm(join(cacheDir, '.locks', repoFolderName(repo, type)), { recursive: true, force: true });
  return info.sizeOnDisk;
}

/**
 * Removes files from every snapshot of a repo, then the blobs no snapshot links to any more; snapshots left
 * empty go too, and refs pointing at a removed snapshot. Returns the bytes freed.
 */
export async function removeFiles(cacheDir: string, repo: string, files: string[]): Promise<number> {
  const dir = repoDir(cacheDir, repo);
  const before = await inspectRepo(cacheDir, repo, () => undefined);
  if (!before) return 0;
  for (const s of before.snapshots) {
    for (const f of s.files) if (files.includes(f.path)) await unlink(f.fullPath);
  }
  const after = (await inspectRepo(cacheDir, repo, () => undefined))!;
  const live = new Set(after.snapshots.flatMap((s) => s.files.map((f) => f.blob)));
  let freed = 0;
  for (const s of before.snapshots) {
    for (const f of s.files) {
      if (!files.includes(f.path) || f.blob === undefined || live.has(f.blob)) {
        if (files.includes(f.path) && f.blob === undefined) freed += f.size; // a copied file
        continue;
      }
      const p = blobPath(dir, f.blob);
      if (await exists(p)) {
        freed += (await stat(p)).size;
        await unlink(p);
      }
    }
  }
  const refs = await readRefs(dir);
  for (const s of after.snapshots) {
    if (s.files.length > 0) continue;
    await rm(snapshotDir(dir, s.commit), { recursive: true, force: true });
    for (const [name, commit] of refs) if (commit === s.commit) await rm(join(dir, 'refs', ...name.split('/')), { force: true });
  }
  if ((await inspectRepo(cacheDir, repo, () => undefined))!.snapshots.length === 0) await rm(dir, { recursive: true, force: true });
  return freed;
}
