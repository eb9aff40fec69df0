// `bitnet perplexity -m MODEL -f TEXT [-c CTX] [--stride S] [--kl-divergence-base MODEL]`, in the style of
// llama-perplexity: running estimates per chunk on stderr, the final estimate with its standard error on
// stdout; with a base model, the KL divergence from it and the top-1 agreement on the same positions. The base
// runs an f16 KV cache unless --base-cache-type-k/-v say otherwise, so `-ctk q8_0 --kl-divergence-base` of the
// same model measures what a quantized cache costs (the model is loaded once then).
import type { KvType } from '../../kernels/index.js';
import { KV_TYPES } from '../../kernels/index.js';
import { kvTypesName } from '../../model/kv-cache.js';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BitnetError } from '../../errors.js';
import { loadModel } from '../../engine/load.js';
import { perplexity, perplexityWindows } from '../../engine/perplexity.js';
import { CONTEXT_OPTIONS, helpText, loadOptions, MODEL_OPTIONS, num, parseCommand, str, UsageError, type OptionSpec } from '../args.js';
import { openModel, resolveRef } from '../common.js';
import { warn } from '../progress.js';

const OPTIONS: OptionSpec[] = [
  { name: 'file', short: 'f', type: 'string', arg: 'FILE', help: 'the text to score' },
  { name: 'stride', type: 'string', arg: 'S', help: 'sliding windows advancing S tokens, scoring the new ones (default: llama.cpp chunks, second half scored)' },
  { name: 'kl-divergence-base', type: 'string', arg: 'MODEL', help: 'compare with this model (path, hub repo or URL) on the same windows: KL divergence, top-1 agreement' },
  { name: 'base-lm-head', type: 'string', arg: 'int8|exact', help: 'lm_head of the base model (e.g. exact, to measure the int8 lm_head of the same file)' },
  { name: 'base-cache-type-k', type: 'string', arg: 'TYPE', help: 'KV cache type of K for the base (f32, f16, q8_0, q4_0): with the same MODEL and -ctk/-ctv, the cost of a quantized cache', default: 'f16' },
  { name: 'base-cache-type-v', type: 'string', arg: 'TYPE', help: 'KV cache type of V for the base', default: 'f16' },
  { name: 'chunks', type: 'string', arg: 'N', help: 'score at most N windows' },
];

function cacheType(s: string | undefined, flag: string): KvType {
  if (s === undefined) return 'f16';
  if (!(KV_TYPES as readonly string[]).includes(s)) throw new UsageError(`--${flag} must be one of ${KV_TYPES.join(', ')}, got "${s}"`);
  return s as KvType;
}

export const perplexityCommand = {
  name: 'perplexity',
  summary: 'perplexity of a model on a text (llama-perplexity style), or its KL divergence from another',
  help: () =>
    helpText('bitnet perplexity -m MODEL -f TEXT [-c CTX] [--stride S] [--kl-divergence-base MODEL]', 'Prints the final estimate, PPL = X +/- stderr, to stdout; running estimates to stderr.', [
      ['perplexity', OPTIONS],
      ['model', MODEL_OPTIONS],
      ['context', CONTEXT_OPTIONS],
    ]),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, [...OPTIONS, ...MODEL_OPTIONS, ...CONTEXT_OPTIONS], 0);
    const file = str(v, 'file');
    if (!file) throw new UsageError('no text: pass -f FILE');
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new BitnetError('FILE_NOT_FOUND', e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'a folder, not a text file' : e.message, { file, cause: e });
    });
    const model = await openModel(v);
    const basePath = str(v, 'kl-divergence-base');
    const baseLmHead = str(v, 'base-lm-head');
    if (baseLmHead !== undefined && !['int8', 'exact'].includes(baseLmHead)) throw new UsageError(`--base-lm-head must be int8 or exact, got "${baseLmHead}"`);
    const baseKv = { k: cacheType(str(v, 'base-cache-type-k'), 'base-cache-type-k'), v: cacheType(str(v, 'base-cache-type-v'), 'base-cache-type-v') };
    const baseRef = basePath ? await resolveRef(basePath, v) : undefined;
    // the same file with the same lm_head: the model itself, evaluated on a cache of the base's types
    const same = baseRef !== undefined && resolve(baseRef) === resolve(model.path) && (baseLmHead === undefined || baseLmHead === (str(v, 'lm-head') ?? 'int8'));
    if (same) process.stderr.write(`base: the same model with KV cache ${kvTypesName(baseKv)} (this run: ${kvTypesName(model.kvTypes)})\n`);
    const base = baseRef === undefined ? undefined : same ? model : await loadModel(baseRef, { ...loadOptions(v), kvType: baseKv, ...(baseLmHead ? { lmHead: baseLmHead as 'int8' | 'exact' } : {}), onWarning: warn });
    const controller = new AbortController();
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    try {
      const ctx = num(v, 'ctx-size', { int: true, min: 0 }) || Math.min(512, model.contextSize);
      if (ctx > model.contextSize) throw new UsageError(`--ctx-size ${ctx} exceeds the model's context ${model.contextSize}`);
      const stride = num(v, 'stride', { int: true, min: 1 });
      const tokens = model.tokenize(text, { addBos: false });
      let windows = perplexityWindows(tokens, ctx, model.tokenizer.addBos ? model.tokenizer.bos : null, stride);
      const limit = num(v, 'chunks', { int: true, min: 1 });
      if (limit !== undefined) windows = windows.slice(0, limit);
      process.stderr.write(`${tokens.length} tokens, ${windows.length} ${stride ? `windows of ${ctx} with stride ${stride}` : `chunks of ${ctx}`}\n`);
      const t0 = performance.now();
      const r = await perplexity(model, windows, {
        ...(base ? { base, baseKvType: baseKv } : {}),
        signal: controller.signal,
        onProgress: (p) => process.stderr.write(`[${p.window}]${p.ppl.toFixed(4)}${p.window === p.windows ? '\n' : ','}`),
      });
      const s = (performance.now() - t0) / 1000;
      process.stdout.write(`Final estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.pplStderr.toFixed(5)}\n`);
      if (r.base) {
        process.stdout.write(`Base model:     PPL = ${r.base.ppl.toFixed(4)} +/- ${r.base.pplStderr.toFixed(5)}\n`);
        process.stdout.write(`KL divergence from the base: mean ${r.base.klMean.toExponential(4)}, max ${r.base.klMax.toExponential(4)}; top-1 agreement ${(100 * r.base.top1Agreement).toFixed(2)}%\n`);
      }
      process.stderr.write(`${r.count} predictions scored in ${s.toFixed(1)} s (${(r.windows * windows[0]!.tokens.length / s).toFixed(0)} tokens/s evaluated)\n`);
    } finally {
      process.off('SIGINT', onSigint);
      if (base !== model) await base?.dispose();
      await model.dispose();
    }
  },
};
