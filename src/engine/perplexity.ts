// Perplexity over a text in the style of llama-perplexity: the tokens cut into chunks of the context size
// (first token replaced by BOS when the model uses one), each chunk evaluated from an empty cache and only
// its second half scored; or, with a stride, sliding windows scoring only the tokens no earlier window
// scored. Optionally against a base model on the same windows: KL divergence and top-1 agreement.
import { BitnetError } from '../errors.js';
import type { KvType, KvTypes } from '../model/kv-cache.js';
import type { BitnetModel } from './model.js';
import { yieldToEventLoop } from '../generate/sequence.js';
import { compareDistributions, NllAccumulator, type PerplexityResult } from './quality.js';

export interface PerplexityWindow {
  tokens: number[];
  /** rows first .. tokens.length - 2 are scored (each predicts the next token) */
  first: number;
}

export function perplexityWindows(tokens: readonly number[], ctx: number, bos: number | null, stride?: number): PerplexityWindow[] {
  if (!Number.isInteger(ctx) || ctx < 4) throw new BitnetError('INVALID_ARGUMENT', `must be an integer >= 4, got ${ctx}`, { name: 'ctx' });
  const out: PerplexityWindow[] = [];
  if (stride === undefined) {
    for (let c = 0; (c + 1) * ctx <= tokens.length; c++) {
      const chunk = tokens.slice(c * ctx, (c + 1) * ctx);
      if (bos !== null) chunk[0] = bos;
      out.push({ tokens: chunk, first: ctx / 2 });
    }
  } else {
    if (!Number.isInteger(stride) || stride < 1 || stride > ctx - 1) throw new BitnetError('INVALID_ARGUMENT', `must be an integer in [1, ${ctx - 1}], got ${stride}`, { name: 'stride' });
    const room = bos !== null ? ctx - 1 : ctx;
    for (let start = 0; ; start += stride) {
      const body = tokens.slice(start, start + room);
      if (body.length < 2) break;
      const w = bos !== null ? [bos, ...body] : body;
      // the first window scores every prediction; a later one only targets past the previous window's end
      // (row j predicts text token start + j + 1 - b, which must be >= start - stride + room)
      const b = bos !== null ? 1 : 0;
      out.push({ tokens: w, first: start === 0 ? 0 : room - stride - 1 + b });
      if (start + room >= tokens.length) break;
    }
  }
  if (out.length === 0) throw new BitnetError('INVALID_ARGUMENT', `the text has ${tokens.length} tokens, fewer than one chunk of ${ctx}`, { name: 'text' });
  return out;
}

export interface PerplexityProgress {
  window: number;
  windows: number;
  /** running estimate */
  ppl: number;
}

export interface PerplexityReport extends PerplexityResult {
  windows: number;
  base?: PerplexityResult & { klMean: number; klMax: number; top1Agreement: number };
}

/**
 * Evaluates the windows (and on `base`, the same windows) and returns the perplexity and comparison. The base
 * may be the model itself with other cache types (`baseKvType`, e.g. f16 against a q8_0 cache).
 */
export async function perplexity(model: BitnetModel, windows: readonly PerplexityWindow[], opts: { base?: BitnetModel; baseKvType?: KvType | KvTypes; onProgress?: (p: PerplexityProgress) => void; signal?: AbortSignal } = {}): Promise<PerplexityReport> {
  const mine = new NllAccumulator();
  const theirs = new NllAccumulator();
  let klSum = 0;
  let klMax = 0;
  let agree = 0;
  for (let w = 0; w < windows.length; w++) {
    if (opts.signal?.aborted) throw new BitnetError('ABORTED', 'perplexity aborted', { cause: opts.signal.reason });
    const { tokens, first } = windows[w]!;
    const rows = (await model.evaluate(tokens)).slice(first, tokens.length - 1);
    rows.forEach((row, i) => mine.add(row, tokens[first + i + 1]!));
    if (opts.base) {
      const baseRows = (await opts.base.evaluate(tokens, opts.baseKvType ? { kvType: opts.baseKvType } : {})).slice(first, tokens.length - 1);
      baseRows.forEach((row, i) => theirs.add(row, tokens[first + i + 1]!));
      const c = compareDistributions(baseRows, rows);
      klSum += c.klMean * c.count;
      klMax = Math.max(klMax, c.klMax);
      agree += c.top1Agreement * c.count;
    }
    opts.onProgress?.({ window: w + 1, windows: windows.length, ppl: mine.result().ppl });
    await yieldToEventLoop();
  }
  const report: PerplexityReport = { ...mine.result(), windows: windows.length };
  if (opts.base) report.base = { ...theirs.result(), klMean: klSum / mine.count, klMax, top1Agreement: agree / mine.count };
  return report;
}
