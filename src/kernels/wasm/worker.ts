// A kernel worker thread: instantiates the shared kernels on the shared memory and runs chunks of each job
// the main thread posts in the control block, then reports done. Runs as a Node worker_threads worker
// (init in workerData) or as a module Web Worker (init in the first message).
import { ACTIVE, DONE, GEN, MAIN_WAITING, runChunks, SLEEPING, STOP, CTRL_INTS } from './jobs.js';
import type { KernelExports } from './module.js';

interface Init {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrlPtr: number;
  tid: number;
  spin: number;
}

function serve(init: Init, post: (m: string) => void): void {
  const { module, memory, ctrlPtr, tid, spin } = init;
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const ctrl = new Int32Array(memory.buffer, ctrlPtr, CTRL_INTS);
  const ctrlF = new Float32Array(memory.buffer, ctrlPtr, CTRL_INTS);
  let seen = Atomics.load(ctrl, GEN);
  post('ready');
  for (;;) {
    // spin a little (jobs come back to back during a token), then sleep on the generation counter
    let gen = Atomics.load(ctrl, GEN);
    for (let i = 0; gen === seen && i < spin; i++) gen = Atomics.load(ctrl, GEN);
    if (gen === seen) {
      Atomics.add(ctrl, SLEEPING, 1);
      gen = Atomics.load(ctrl, GEN);
      while (gen === seen) {
        Atomics.wait(ctrl, GEN, seen);
        gen = Atomics.load(ctrl, GEN);
      }
      Atomics.sub(ctrl, SLEEPING, 1);
    }
    seen = gen;
    if (Atomics.load(ctrl, STOP)) break;
    // only threads the job counts on take part and report (a worker that joined after it was posted does not)
    if (tid < Atomics.load(ctrl, ACTIVE)) {
      runChunks(k, ctrl, ctrlF, tid);
      Atomics.add(ctrl, DONE, 1);
      if (Atomics.load(ctrl, MAIN_WAITING)) Atomics.notify(ctrl, DONE);
    }
  }
}

if (typeof process !== 'undefined' && process.versions?.node) {
  const { parentPort, workerData } = await import('node:worker_threads');
  serve(workerData as Init, (m) => parentPort!.postMessage(m));
} else {
  const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<Init>) => void) | null; postMessage(m: string): void };
  scope.onmessage = (e) => {
    scope.onmessage = null;
    serve(e.data, (m) => scope.postMessage(m));
  };
}
