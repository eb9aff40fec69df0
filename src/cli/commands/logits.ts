// `bitnet logits -m MODEL (-p TEXT | --tokens 128000,791,...)`: token ids and per-position logits as JSON,
// top-k or full, so other implementations can be diffed against ours. By default all positions are
// evaluated in batches (llama-perplexity's numerics); --prompt-tokens N evaluates the first N tokens as one
// prompt batch and the rest one token at a time, as a generation does (llama-cli's numerics).
import { helpText, num, parseCommand, str, UsageError, CONTEXT_OPTIONS, MODEL_OPTIONS, type OptionSpec } from '../args.js';
import { openModel } from '../common.js';
import { BitnetError } from '../../errors.js';

const OPTIONS: OptionSpec[] = [
  { name: 'prompt', short: 'p', type: 'string', arg: 'TEXT', help: 'text to evaluate (special tokens parsed, BOS per model)' },
  { name: 'tokens', type: 'string', arg: 'IDS', help: 'token ids to evaluate instead of text: comma-separated, or a JSON array as `bitnet tokenize` prints' },
  { name: 'top-k', type: 'string', arg: 'K', help: 'logits per position to print, highest first', default: '10' },
  { name: 'full', type: 'boolean', help: 'print every logit of every position' },
  { name: 'prompt-tokens', type: 'string', arg: 'N', help: 'evaluate tokens[0..N) as one batch, then one token at a time; print positions N-1..' },
];

export const logitsCommand = {
  name: 'logits',
  summary: 'print per-position logits as JSON',
  help: () =>
    helpText('bitnet logits -m MODEL (-p TEXT | --tokens IDS) [--top-k K | --full] [--prompt-tokens N]', 'Evaluates tokens and prints their logits.', [
      ['logits', OPTIONS],
      ['model', MODEL_OPTIONS],
      ['context', CONTEXT_OPTIONS],
    ]),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, [...OPTIONS, ...MODEL_OPTIONS, ...CONTEXT_OPTIONS], 0);
    const text = str(v, 'prompt');
    const list = str(v, 'tokens');
    if ((text === undefined) === (list === undefined)) throw new UsageError('pass exactly one of -p TEXT or --tokens IDS');
    let ids: number[] | undefined;
    if (list !== undefined) {
      // comma-separated, or the JSON array `bitnet tokenize` prints
      const bare = list.trim().replace(/^\[(.*)\]$/s, '$1');
      ids = bare.split(',').map((s) => {
        const n = Number(s.trim());
        if (s.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`--tokens: "${s}" is not a token id`);
        return n;
      });
    }
    const topK = num(v, 'top-k', { int: true, min: 1 }) ?? 10;
    const promptTokens = num(v, 'prompt-tokens', { int: true, min: 1 });
    const model = await openModel(v);
    const tokens = ids ? model.tokenizePrompt({ tokens: ids }) : model.tokenizePrompt(text!);
    if (tokens.length === 0) throw new UsageError('nothing to evaluate: the text has no tokens');
    let first = 0;
    let rows: Float32Array[];
    if (promptTokens !== undefined) {
      if (promptTokens > tokens.length) throw new UsageError(`--prompt-tokens ${promptTokens} is more than the ${tokens.length} tokens given`);
      const seq = model.createSequence({ contextSize: Math.max(model.contextSize, tokens.length) });
      rows = [(await seq.prefill(tokens.slice(0, promptTokens))).logits];
      for (let i = promptTokens; i < tokens.length; i++) rows.push(await seq.step(tokens[i]!));
      first = promptTokens - 1;
    } else {
      if (tokens.length > model.contextSize) throw new BitnetError('CONTEXT_OVERFLOW', `${tokens.length} tokens do not fit in the context size ${model.contextSize} (pass -c)`);
      rows = await model.evaluate(tokens);
    }
    const positions = rows.map((row, i) => {
      const pos = first + i;
      const entry: Record<string, unknown> = { position: pos, token: tokens[pos] };
      if (v.full === true) entry.logits = Array.from(row);
      else {
        const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, topK);
        entry.top = order.map((id) => ({ id, logit: row[id], piece: model.detokenize([id]) }));
      }
      return entry;
    });
    process.stdout.write(`${JSON.stringify({ model: model.path, tokens, mode: promptTokens !== undefined ? 'generation' : 'batch', positions })}\n`);
  },
};
