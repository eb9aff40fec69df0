// One generation request's lifetime: it ends once, on completion, error, the client leaving (close, reset,
// a transport cut-off) or shutdown, whichever comes first, and everything tied to it ends with it: the SSE
// ping timer, the listener on the request's abort signal, the scheduler handles (slot or queue entry), the
// SSE writer. Before this, a stream whose client reset the connection while its response was still queued
// behind a pipelined one never saw the close: its handler waited forever on a write, its ping timer kept
// ticking and kept the process alive after SIGTERM (issue 19).
//
// `counter.live` counts handlers that have not returned yet (end() is called in their `finally`): zero when
// no stream is left behind, which the hostile-transport tests check after each attack.
import { setMaxListeners } from 'node:events';

export class RequestLife {
  private readonly ctrl = new AbortController();
  private readonly cleanups: Array<() => void> = [];
  private done = false;
  private counted = true;
  /** set when the life ended because the client went away (not by completion or error) */
  clientGone = false;

  constructor(
    request: AbortSignal,
    private readonly counter: { live: number },
  ) {
    counter.live++;
    // one listener per choice (n <= 16) and scheduler request on this signal
    setMaxListeners(64, this.ctrl.signal);
    const onGone = (): void => this.leave();
    request.addEventListener('abort', onGone, { once: true });
    this.defer(() => request.removeEventListener('abort', onGone));
    if (request.aborted) this.leave();
  }

  /** aborted when the life ends (for the scheduler: a cancelled request frees its slot by the next step) */
  get signal(): AbortSignal {
    return this.ctrl.signal;
  }

  get ended(): boolean {
    return this.done;
  }

  /** Runs `fn` when the life ends (at once if it has). */
  defer(fn: () => void): void {
    if (this.done) fn();
    else this.cleanups.push(fn);
  }

  /** A repeating timer that stops with the life; unref'd, so it never keeps the process alive. */
  every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.defer(() => clearInterval(t));
  }

  /** The client went away: ends the life (the handler, unblocked by the cleanups, calls end() as it returns). */
  leave(): void {
    if (this.done) return;
    this.clientGone = true;
    this.finish();
  }

  /** The handler is done (idempotent; in its `finally`): ends the life if the client has not already. */
  end(): void {
    if (this.counted) {
      this.counted = false;
      this.counter.live--;
    }
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.ctrl.abort();
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // a cleanup that fails must not keep the others from running
      }
    }
  }
}
