// `bitnet tokenize -m MODEL -p TEXT`: token ids as JSON on stdout (reads only the tokenizer, not weights).
import { loadTokenizer } from '../../engine/load.js';
import { helpText, parseCommand, str, UsageError, type OptionSpec } from '../args.js';
import { modelPath, readStdin } from '../common.js';

const OPTIONS: OptionSpec[] = [
  { name: 'model', short: 'm', type: 'string', env: 'BITNET_MODEL', arg: 'REF', help: 'model whose tokenizer to use (path, hub repo or URL)' },
  { name: 'prompt', short: 'p', type: 'string', arg: 'TEXT', help: 'text to tokenize (or the positional argument, or stdin)' },
  { name: 'no-bos', type: 'boolean', help: 'do not add the BOS token' },
  { name: 'no-parse-special', type: 'boolean', help: 'tokenize special-token text as plain text' },
  { name: 'pieces', type: 'boolean', help: 'print [id, text] pairs instead of ids' },
];

export const tokenizeCommand = {
  name: 'tokenize',
  summary: 'print the token ids of a text as JSON',
  help: () => helpText('bitnet tokenize -m MODEL [-p] TEXT [--pieces]', 'Tokenizes TEXT with the model\'s tokenizer.', [['options', OPTIONS]]),
  async run(argv: string[]): Promise<void> {
    const { values: v, positionals } = parseCommand(argv, OPTIONS, 1);
    let text = str(v, 'prompt') ?? positionals[0];
    if (text === undefined && !process.stdin.isTTY) text = await readStdin();
    if (text === undefined) throw new UsageError('no text: pass -p TEXT or pipe it on stdin');
    const tok = await loadTokenizer(await modelPath(v));
    const ids = tok.encode(text, { ...(v['no-bos'] === true ? { addBos: false } : {}), parseSpecial: v['no-parse-special'] !== true });
    const out = v.pieces === true ? ids.map((id) => [id, tok.decode([id])]) : ids;
    process.stdout.write(`${JSON.stringify(out)}\n`);
  },
};
