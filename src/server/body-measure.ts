// Measuring a large request body off the event loop. JSON.parse of a few megabytes takes tens of ms in one
// piece, and a client looping such bodies would hold /health up for that long each time. A body above
// OFF_THREAD_BYTES is first decoded, parsed and measured in a worker thread: how many messages or input
// items it has and how many bytes of prompt text (message contents, input, prompt, content). The route
// refuses from those numbers (input.ts) without parsing; only bodies that can fit are parsed here again.
import { Worker } from 'node:worker_threads';
import { ApiError } from './errors.js';

/** Bodies above this are measured in the worker first. */
export const OFF_THREAD_BYTES = 256 * 1024;

export interface BodyMeasure {
  /** not valid UTF-8 or not JSON: left to the normal parse, which says why */
  malformed: boolean;
  /** length of `messages`, or of `input` when it is a list */
  items: number;
  /** UTF-8 bytes of all message / input-item text together */
  chatTextBytes: number;
  /** the largest single prompt string (`prompt`, `input`, `content` and their lists) */
  largestPromptBytes: number;
}

// plain JS: it runs in the worker as given (eval), whatever compiled this file
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { isUtf8, Buffer } = require('node:buffer');
const bytes = (s) => (typeof s === 'string' ? Buffer.byteLength(s) : 0);
const partsBytes = (c) => (typeof c === 'string' ? bytes(c) : Array.isArray(c) ? c.reduce((a, p) => a + (p && typeof p === 'object' ? bytes(p.text) : 0), 0) : 0);
const largest = (x) => (typeof x === 'string' ? bytes(x) : Array.isArray(x) ? x.reduce((a, s) => Math.max(a, bytes(s)), 0) : 0);
parentPort.on('message', ({ id, buf }) => {
  const out = { id, malformed: false, items: 0, chatTextBytes: 0, largestPromptBytes: 0 };
  try {
    const b = Buffer.from(buf);
    if (!isUtf8(b)) throw new Error('utf8');
    const v = JSON.parse(b.toString('utf8').replace(/^\\uFEFF/, ''));
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const list = Array.isArray(v.messages) ? v.messages : Array.isArray(v.input) ? v.input : [];
      out.items = list.length;
      for (const m of list) if (m && typeof m === 'object') out.chatTextBytes += partsBytes(m.content) + partsBytes(m.output);
      out.largestPromptBytes = Math.max(largest(v.prompt), largest(v.input), largest(v.content));
    }
  } catch {
    out.malformed = true;
  }
  // the bytes go back as they came (transferred, not copied)
  out.buf = buf;
  parentPort.postMessage(out, [buf]);
});
`;

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, (m: BodyMeasure & { buf?: ArrayBuffer }) => void>();

function measurer(): Worker {
  if (!worker) {
    // a small young generation: the parsed bodies are garbage at once, its footprint stays flat
    const w = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    w.on('message', (m: BodyMeasure & { id: number; buf: ArrayBuffer }) => {
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
    });
    w.on('error', () => {
      // a failed measurer answers "malformed": the route then parses as it would without one
      for (const done of waiting.values()) done({ malformed: true, items: 0, chatTextBytes: 0, largestPromptBytes: 0 });
      waiting.clear();
      worker = undefined;
    });
    w.unref(); // it must not keep the process alive
    worker = w;
  }
  return worker;
}

/**
 * Measures a JSON body in the worker thread. The bytes travel there and back without a copy (their
 * ArrayBuffer is transferred: a copy of megabytes per request is garbage the event loop pays for in GC);
 * use the `bytes` returned, `body` is detached.
 */
export async function measureBody(body: ArrayBuffer): Promise<{ measure: BodyMeasure; bytes: ArrayBuffer }> {
  const id = nextId++;
  const m = await new Promise<BodyMeasure & { buf?: ArrayBuffer }>((resolve) => {
    waiting.set(id, resolve);
    measurer().postMessage({ id, buf: body }, [body]);
  });
  // a measurer that failed (its thread died) gives no bytes back: the body is gone with it
  if (m.buf === undefined) throw new ApiError(503, 'the request body was lost in measuring it; send it again', 'unavailable_error', null, 'body_lost', { 'Retry-After': '1' });
  return { measure: { malformed: m.malformed, items: m.items, chatTextBytes: m.chatTextBytes, largestPromptBytes: m.largestPromptBytes }, bytes: m.buf };
}

/** Ends the measuring thread (a later large body starts a new one); its heap goes with it. */
export async function stopBodyMeasurer(): Promise<void> {
  const w = worker;
  worker = undefined;
  await w?.terminate();
}
