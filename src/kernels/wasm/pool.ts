// The thread pool of the WASM device: worker threads plus the calling thread run each parallel job. A
// job is posted by writing the control block and bumping its generation; the caller takes chunks too, then
// waits until every thread the job counts on has reported. Only workers whose 'ready' arrived are counted, so a
// worker that is still starting never holds up a job. Node: worker_threads; browsers: module Web Workers (same
// protocol; the `new Worker(new URL('./worker.js', import.meta.url))` form is literal so bundlers such as Vite
// find and bundle the worker entry).
import { ACTIVE, ARGS, CHUNK, CTRL_INTS, DONE, GEN, GEMV, LIMIT, MAIN_WAITING, NCHUNKS, NEXT, OP, runChunks, runRange, SLEEPING, STOP } from './jobs.js';
import type { Heap } from './heap.js';
import type { KernelExports } from './module.js';

/** A worker thread of either runtime: Node's worker_threads or a browser's module Web Worker. */
interface AnyWorker {
  terminate(): unknown;
}

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

/** Starts a worker and resolves when it has instantiated the kernels and read the job generation. */
async function startWorker(init: object): Promise<AnyWorker> {
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    // from sources (tests, tsx) the worker starts through a bootstrap that registers tsx in the thread
    const url = new URL(import.meta.url.endsWith('.ts') ? './worker-dev.mjs' : './worker.js', import.meta.url);
    // kernel workers only run WASM over shared memory: a small young generation keeps their footprint flat
    const w = new Worker(url, { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    w.unref(); // idle workers must not keep the process alive
    return w;
  }
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  await new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(new Error(`kernel worker failed to start: ${e.message}`));
    w.postMessage(init);
  });
  return w;
}

export class Pool {
  private readonly ctrl: Int32Array;
  private readonly ctrlF: Float32Array;
  private readonly workers: AnyWorker[] = [];
  /** tids whose 'ready' message arrived: they read the generation before any job they can be counted in */
  private readonly ready = new Set<number>();
  private growing: Promise<void> = Promise.resolve();
  /** jobs handed to worker threads so far (ops small enough to run on the calling thread alone are not) */
  posted = 0;

  constructor(
    private readonly k: KernelExports,
    private readonly module: WebAssembly.Module,
    private readonly heap: Heap,
  ) {
    const ctrlPtr = heap.alloc(CTRL_INTS * 4);
    this.ctrl = new Int32Array(heap.buffer, ctrlPtr, CTRL_INTS);
    this.ctrlF = new Float32Array(heap.buffer, ctrlPtr, CTRL_INTS);
    this.ctrl.fill(0);
  }

  /** The single-token ternary dot every thread uses (see asm/dot-relaxed.ts). */
  set gemvVariant(v: number) {
    this.ctrl[GEMV] = v;
  }
  get gemvVariant(): number {
    return this.ctrl[GEMV]!;
  }

  /** Threads available: the calling thread and the ready workers 1..k (consecutive tids). */
  get threads(): number {
    let k = 0;
    while (this.ready.has(k + 1)) k++;
    return k + 1;
  }

  /** Starts workers until `threads` threads are available (worker slots fill in tid order). */
  ensure(threads: number): Promise<void> {
    this.growing = this.growing.then(async () => {
      if (this.workers.length + 1 >= threads) return;
      const starting: Promise<void>[] = [];
      for (let tid = this.workers.length + 1; tid < threads; tid++) {
        const init = { module: this.module, memory: this.heap.memory, ctrlPtr: this.ctrl.byteOffset, tid, spin: 20000 };
        starting.push(
          startWorker(init).then((w) => {
            this.workers[tid - 1] = w;
            this.ready.add(tid);
          }),
        );
      }
      await Promise.all(starting);
    });
    return this.growing;
  }

  /**
   * Runs `op` over `limit` rows in chunks of `chunk` on `active` threads (the caller and workers 1..active-1);
   * ints and {f32} floats fill the argument slots.
   */
  run(op: number, limit: number, chunk: number, active: number, args: Array<number | { f32: number }>): void {
    const ctrl = this.ctrl;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (typeof a === 'number') ctrl[ARGS + i] = a;
      else this.ctrlF[ARGS + i] = a.f32;
    }
    const threads = Math.min(active, this.threads);
    if (threads === 1) {
      // the calling thread alone: one kernel call over the whole range, no chunk counter, no atomics
      runRange(this.k, ctrl, this.ctrlF, 0, op, 0, limit);
      return;
    }
    ctrl[OP] = op;
    ctrl[CHUNK] = chunk;
    ctrl[LIMIT] = limit;
    ctrl[NCHUNKS] = Math.ceil(limit / chunk);
    ctrl[ACTIVE] = threads;
    Atomics.store(ctrl, NEXT, 0);
    Atomics.store(ctrl, DONE, 0);
    this.posted++;
    Atomics.add(ctrl, GEN, 1);
    // a notify costs a lock even with nobody waiting: only when a worker went to sleep (it counts itself in
    // SLEEPING before it checks GEN, so either it sees the new generation or this sees it asleep)
    if (Atomics.load(ctrl, SLEEPING) > 0) Atomics.notify(ctrl, GEN);
    runChunks(this.k, ctrl, this.ctrlF, 0);
    const n = threads - 1;
    let done = Atomics.load(ctrl, DONE);
    for (let i = 0; done < n && i < 200000; i++) done = Atomics.load(ctrl, DONE);
    if (done < n) {
      Atomics.store(ctrl, MAIN_WAITING, 1);
      done = Atomics.load(ctrl, DONE);
      while (done < n) {
        Atomics.wait(ctrl, DONE, done, 50);
        done = Atomics.load(ctrl, DONE);
      }
      Atomics.store(ctrl, MAIN_WAITING, 0);
    }
  }

  dispose(): void {
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }
}
