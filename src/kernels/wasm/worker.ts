// A kernel worker thread (Node worker_threads): instantiates the shared kernels on the shared memory and
// runs chunks of each job the main thread posts in the control block, then reports done.
import { ACTIVE, DONE, GEN, runChunks, STOP, CTRL_INTS } from './jobs.js';
import type { KernelExports } from './module.js';

interface Init {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrlPtr: number;
  tid: number;
  spin: number;
}

const { parentPort, workerData } = await import('node:worker_threads');
const { module, memory, ctrlPtr, tid, spin } = workerData as Init;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
const ctrl = new Int32Array(memory.buffer, ctrlPtr, CTRL_INTS);
const ctrlF = new Float32Array(memory.buffer, ctrlPtr, CTRL_INTS);
let seen = Atomics.load(ctrl, GEN);
parentPort!.postMessage('ready');
for (;;) {
  // spin a little (jobs come back to back during a token), then sleep on the generation counter
  let gen = Atomics.load(ctrl, GEN);
  for (let i = 0; gen === seen && i < spin; i++) gen = Atomics.load(ctrl, GEN);
  while (gen === seen) {
    Atomics.wait(ctrl, GEN, seen);
    gen = Atomics.load(ctrl, GEN);
  }
  seen = gen;
  if (Atomics.load(ctrl, STOP)) break;
  // only threads the job counts on take part and report (a worker that joined after it was posted does not)
  if (tid < Atomics.load(ctrl, ACTIVE)) {
    runChunks(k, ctrl, ctrlF, tid);
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
}
