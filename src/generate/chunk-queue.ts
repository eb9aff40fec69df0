// A one-consumer queue of generation chunks between the scheduler's steps and a request's reader: push
// and end on one side, an async iterator on the other that ends normally or with the request's error.
import type { GenerationChunk } from './generate.js';

/** A one-consumer queue of chunks that ends normally or with an error. */
export class ChunkQueue {
  private readonly items: GenerationChunk[] = [];
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  push(c: GenerationChunk): void {
    this.items.push(c);
    this.notify();
  }
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.notify();
  }
  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  async *drain(): AsyncGenerator<GenerationChunk, void, undefined> {
    for (;;) {
      if (this.items.length > 0) yield this.items.shift()!;
      else if (this.ended) {
        if (this.error !== undefined) throw this.error;
        return;
      } else await new Promise<void>((r) => (this.wake = r));
    }
  }
}
