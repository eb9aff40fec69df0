// Random-access byte sources for model files: a Node file (read by position, never loaded whole, so files
// over 2 GB work), an in-memory buffer, and a Blob (browser). Lowest layer of formats/.
import { BitnetError } from '../errors.js';

export interface ByteSource {
  /** Name used in error messages (the file path). */
  readonly name: string;
  readonly size: number;
  /** Reads exactly `length` bytes at `offset` (TRUNCATED if the source is shorter). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Synchronous read into `dest` (embedding rows during a forward pass), where the source can do it. */
  readSync?(offset: number, dest: Uint8Array): void;
  close(): Promise<void>;
}

function checkRange(src: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BitnetError('CORRUPT', `invalid read range ${offset}+${length}`, { file: src.name });
  }
  if (offset + length > src.size) {
    throw new BitnetError('TRUNCATED', `file is ${src.size} bytes but data is needed up to byte ${offset + length}`, {
      file: src.name,
    });
  }
}

export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly name = '<memory>',
  ) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  readSync(offset: number, dest: Uint8Array): void {
    checkRange(this, offset, dest.length);
    dest.set(this.bytes.subarray(offset, offset + dest.length));
  }
  async close(): Promise<void> {}
}

/** FileReaderSync: Web Workers only. */
type SyncReader = new () => { readAsArrayBuffer(blob: Blob): ArrayBuffer };

/**
 * Browser File/Blob source: slices are read on demand, so a 1.2 GB file is never copied whole. In a Web Worker
 * it also reads synchronously (FileReaderSync), so embedding rows come from the file instead of a copy.
 */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly readSync?: (offset: number, dest: Uint8Array) => void;
  constructor(
    readonly blob: Blob,
    readonly name = '<blob>',
  ) {
    this.size = blob.size;
    const Reader = (globalThis as { FileReaderSync?: SyncReader }).FileReaderSync;
    if (Reader) {
      const reader = new Reader();
      this.readSync = (offset, dest) => {
        checkRange(this, offset, dest.length);
        dest.set(new Uint8Array(reader.readAsArrayBuffer(blob.slice(offset, offset + dest.length))));
      };
    }
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
  async close(): Promise<void> {}
}

/** Node file source reading with positioned reads; the file is never mapped or read whole. */
export class FileSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly handle: import('node:fs/promises').FileHandle,
    private readonly readSyncFn: typeof import('node:fs').readSync,
  ) {}

  static async open(path: string): Promise<FileSource> {
    const fs = await import('node:fs/promises');
    const { readSync } = await import('node:fs');
    let handle;
    try {
      handle = await fs.open(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(e);
      throw new BitnetError('FILE_NOT_FOUND', why, { file: path, cause: e });
    }
    const st = await handle.stat();
    if (st.isDirectory()) {
      await handle.close();
      throw new BitnetError('FILE_NOT_FOUND', 'is a directory, expected a file', { file: path });
    }
    return new FileSource(path, st.size, handle, readSync);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      // positioned reads of at most 1 GiB at a time (the OS may return less)
      const want = Math.min(length - done, 1 << 30);
      const { bytesRead } = await this.handle.read(out, done, want, offset + done);
      if (bytesRead === 0) {
        throw new BitnetError('TRUNCATED', `unexpected end of file at byte ${offset + done}`, { file: this.name });
      }
      done += bytesRead;
    }
    return out;
  }

  readSync(offset: number, dest: Uint8Array): void {
    checkRange(this, offset, dest.length);
    let done = 0;
    while (done < dest.length) {
      const n = this.readSyncFn(this.handle.fd, dest, done, dest.length - done, offset + done);
      if (n === 0) throw new BitnetError('TRUNCATED', `unexpected end of file at byte ${offset + done}`, { file: this.name });
      done += n;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
