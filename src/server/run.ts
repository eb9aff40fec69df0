// Running a request's choices on the scheduler: one sequence per prompt, or n sequences sharing a prompt
// (Scheduler.submitGroup), all cancelled together when the client leaves; their chunks merged into one
// stream tagged with the choice's index (prompt p, member j -> index p * n + j, as OpenAI numbers them).
import type { GenerateOptions, GenerationChunk } from '../generate/generate.js';
import type { GenerationHandle, Scheduler } from '../generate/scheduler.js';
import { toApiError } from './errors.js';

export interface Choice {
  index: number;
  /** which prompt of the request */
  prompt: number;
  handle: GenerationHandle;
}

/** Submits every prompt n times; a full queue cancels what was submitted and is a 429 with Retry-After. */
export function launch(scheduler: Scheduler, prompts: readonly number[][], opts: GenerateOptions, n: number): Choice[] {
  const choices: Choice[] = [];
  try {
    prompts.forEach((p, pi) => {
      const handles = n > 1 ? scheduler.submitGroup(p, opts, n) : [scheduler.submit(p, opts)];
      handles.forEach((handle, j) => choices.push({ index: pi * n + j, prompt: pi, handle }));
    });
  } catch (e) {
    for (const c of choices) c.handle.cancel();
    const err = toApiError(e);
    if (err.status === 429) {
      const s = scheduler.stats();
      err.headers['Retry-After'] = String(Math.max(1, Math.ceil((s.queued + 1) / s.slots)));
    }
    throw err;
  }
  return choices;
}

/** The choices' chunks as they come, each with its choice; ends when all have ended. */
export async function* merged(choices: readonly Choice[]): AsyncGenerator<{ choice: Choice; chunk: GenerationChunk }, void, undefined> {
  const iters = choices.map((c) => c.handle[Symbol.asyncIterator]());
  type Next = { i: number; r?: IteratorResult<GenerationChunk, unknown>; error?: unknown };
  const pending = new Map<number, Promise<Next>>();
  // a failure is carried as a value, so that the other choices' pending reads never reject unhandled
  const pull = (i: number): void => {
    pending.set(
      i,
      iters[i]!.next().then(
        (r) => ({ i, r }),
        (error: unknown) => ({ i, error: error ?? new Error('generation failed') }),
      ),
    );
  };
  choices.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const { i, r, error } = await Promise.race(pending.values());
      if (error !== undefined || !r) throw error;
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pull(i);
      yield { choice: choices[i]!, chunk: r.value };
    }
  } finally {
    for (const c of choices) c.handle.cancel();
  }
}
