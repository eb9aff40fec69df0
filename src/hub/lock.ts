// A cross-process lock file (created exclusively, holding the owner's pid) so two bitnet processes never
// write the same download at once; a lock whose owner is gone is taken over. (huggingface_hub's own
// .locks files are fcntl locks that stay on disk, so bitnet's have their own name next to them.)
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function stale(path: string): Promise<boolean> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    if (Number.isInteger(pid) && pid > 0) return !alive(pid);
    // being written this instant, or garbage: stale only once old
    return Date.now() - (await stat(path)).mtimeMs > 60_000;
  } catch {
    return false; // gone already: the next try takes it
  }
}

/** Runs fn holding the lock at `path`; onWait is called once if another process holds it. */
export async function withLock<T>(path: string, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await stale(path)) {
        await rm(path, { force: true });
        continue;
      }
      if (!waited) onWait?.();
      waited = true;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
