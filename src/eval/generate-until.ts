// generate_until requests for `bitnet eval` (gsm8k and YAML tasks): greedy text after each context, cut at
// the first stop string, as lm-eval's Hugging Face model does (context encoded with the model's BOS and
// left-truncated to leave room for max_gen_toks; end-of-generation tokens stop too, as lm-eval's `until` gets
// the EOS text). Requests run through
// the scheduler, several slots decoding together.
import type { BitnetModel } from '../engine/model.js';
import type { GenerationHandle } from '../generate/scheduler.js';
import type { GenerateRequest } from './task.js';

export interface GenerateUntilOptions {
  /** sequences decoded together (default 4) */
  parallel?: number;
  signal?: AbortSignal;
  /** after each finished request: requests done, tokens generated so far */
  onProgress?: (p: { done: number; tokens: number }) => void;
}

export interface GenerateUntilResult {
  text: string;
  /** prompt tokens after truncation, and how many leading ones were dropped */
  promptTokens: number;
  truncated: number;
  generatedTokens: number;
}

/** Greedy generations for the requests, in order. */
export async function generateUntil(model: BitnetModel, reqs: readonly GenerateRequest[], opts: GenerateUntilOptions = {}): Promise<GenerateUntilResult[]> {
  const parallel = Math.max(1, Math.min(opts.parallel ?? 4, reqs.length));
  const scheduler = model.createScheduler({ parallel, contextSize: model.contextSize, maxQueue: parallel });
  const results: GenerateUntilResult[] = new Array(reqs.length);
  let next = 0;
  let done = 0;
  let tokens = 0;
  const one = async (i: number): Promise<void> => {
    const r = reqs[i]!;
    let prompt = model.tokenizer.encode(r.context, { parseSpecial: true, addEos: false });
    // lm-eval keeps max_length - max_gen_toks of the context; a context too small for that (the bundled
    // model's 256) keeps its later half and generates into what is left
    const room = Math.max(model.contextSize - r.maxGenToks, Math.ceil(model.contextSize / 2));
    const truncated = Math.max(0, prompt.length - room);
    if (truncated > 0) prompt = prompt.slice(truncated);
    const handle: GenerationHandle = scheduler.submit(prompt, { temperature: 0, maxTokens: r.maxGenToks, stop: r.until.filter((u) => u !== ''), ...(opts.signal ? { signal: opts.signal } : {}) });
    let text = '';
    let generated = 0;
    for await (const chunk of handle) {
      text += chunk.text;
      generated += chunk.tokens.length;
    }
    // lm-eval cuts at each stop string in turn; ours stopped before the first that appeared
    for (const u of r.until) if (u !== '') text = text.split(u)[0]!;
    results[i] = { text, promptTokens: prompt.length, truncated, generatedTokens: generated };
    tokens += generated;
    opts.onProgress?.({ done: ++done, tokens });
  };
  const worker = async (): Promise<void> => {
    while (next < reqs.length) await one(next++);
  };
  try {
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    await scheduler.close();
  }
  return results;
}
