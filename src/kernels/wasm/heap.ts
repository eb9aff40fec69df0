// The WASM backend's memory: one WebAssembly.Memory (shared when threads can use it) holding weights,
// activations and KV caches, with a first-fit allocator over it. A shared memory keeps every typed-array
// view valid when it grows, so views are handed out freely.
import { BitnetError } from '../../errors.js';

const PAGE = 65536;
const ALIGN = 64;
/** the kernels' own globals live below this (they use no data segments or stack today) */
const RESERVED = PAGE;
const MAX_PAGES = 65536; // 4 GiB: wasm32's limit

/** Whether `b` is a SharedArrayBuffer (by its tag: the global is absent in browsers without cross-origin isolation). */
export const isSharedBuffer = (b: ArrayBufferLike): boolean => Object.prototype.toString.call(b) === '[object SharedArrayBuffer]';

interface Block {
  start: number;
  size: number;
}

export class Heap {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  /** free blocks sorted by start */
  private free: Block[] = [];
  private top = RESERVED;
  private readonly used = new Map<number, number>();

  constructor(initialBytes: number) {
    const initial = Math.min(MAX_PAGES, Math.max(2, Math.ceil((initialBytes + RESERVED) / PAGE)));
    // shared whenever WebAssembly allows it: also in a browser page that is not cross-origin isolated (no
    // SharedArrayBuffer global, no threads), since the kernels are built to import a shared memory
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true } as WebAssembly.MemoryDescriptor);
    } catch {
      memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES });
    }
    this.memory = memory;
    this.shared = isSharedBuffer(memory.buffer);
  }

  get buffer(): ArrayBufferLike {
    return this.memory.buffer;
  }

  /** Bytes allocated (live blocks). */
  get usedBytes(): number {
    let n = 0;
    for (const size of this.used.values()) n += size;
    return n;
  }

  /** Returns a 64-byte aligned offset of `bytes` bytes (zeroed if fresh from the top; reused blocks are not). */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.size < size) continue;
      const start = b.start;
      if (b.size === size) this.free.splice(i, 1);
      else {
        b.start += size;
        b.size -= size;
      }
      this.used.set(start, size);
      return start;
    }
    const start = this.top;
    const end = start + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        throw new BitnetError('INVALID_ARGUMENT', `out of WASM memory: ${(end / 2 ** 30).toFixed(2)} GiB needed, the limit is 4 GiB`);
      }
      // grow with headroom so that a growing KV cache does not grow memory at every step
      this.memory.grow(Math.min(MAX_PAGES - have / PAGE, Math.max(pages, Math.ceil(have / PAGE / 8))));
    }
    this.top = end;
    this.used.set(start, size);
    return start;
  }

  sizeOf(start: number): number {
    return this.used.get(start) ?? 0;
  }

  release(start: number): void {
    const size = this.used.get(start);
    if (size === undefined) return;
    this.used.delete(start);
    if (start + size === this.top) {
      this.top = start;
      // the top may now touch a free block: give that back too
      const last = this.free.at(-1);
      if (last && last.start + last.size === this.top) {
        this.top = last.start;
        this.free.pop();
      }
      return;
    }
    let i = 0;
    while (i < this.free.length && this.free[i]!.start < start) i++;
    this.free.splice(i, 0, { start, size });
    // merge with neighbours
    const cur = this.free[i]!;
    const next = this.free[i + 1];
    if (next && cur.start + cur.size === next.start) {
      cur.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.start + prev.size === cur.start) {
      prev.size += cur.size;
      this.free.splice(i, 1);
    }
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }
  i8(ptr: number, n: number): Int8Array {
    return new Int8Array(this.memory.buffer, ptr, n);
  }
  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, n);
  }
  u16(ptr: number, n: number): Uint16Array {
    return new Uint16Array(this.memory.buffer, ptr, n);
  }
}
