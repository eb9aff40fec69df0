// `bitnet run -m MODEL -p TEXT`: one generation, text streamed to stdout, the timing line to stderr.
// Ctrl-C stops the generation: the text so far stays printed, and the exit status is 130.
import { readFile } from 'node:fs/promises';
import { CONTEXT_OPTIONS, CONTEXT_SHIFT_OPTIONS, contextShiftOptions, generateOptions, loadOptions, GRAMMAR_OPTIONS, grammarOption, helpText, MODEL_OPTIONS, parseCommand, SAMPLING_OPTIONS, str, UsageError, type OptionSpec } from '../args.js';
import { openModel, readStdin } from '../common.js';
import { timingLine } from '../progress.js';
import { BitnetError } from '../../errors.js';

const OPTIONS: OptionSpec[] = [
  { name: 'prompt', short: 'p', type: 'string', arg: 'TEXT', help: 'prompt text (or the positional argument, or stdin)' },
  { name: 'file', short: 'f', type: 'string', arg: 'FILE', help: 'read the prompt from a file' },
  { name: 'chat', type: 'boolean', help: 'wrap the prompt as a user message in the chat template' },
  { name: 'system', type: 'string', arg: 'TEXT', help: 'system message (with --chat)' },
  { name: 'echo', type: 'boolean', help: 'print the prompt before the generated text' },
];

export const runCommand = {
  name: 'run',
  summary: 'generate text from a prompt',
  help: () =>
    helpText('bitnet run -m MODEL [-p] PROMPT [options]', 'Generates a continuation of PROMPT; text goes to stdout, timings to stderr.', [
      ['prompt', OPTIONS],
      ['model', MODEL_OPTIONS],
      ['context', [...CONTEXT_OPTIONS, ...CONTEXT_SHIFT_OPTIONS]],
      ['sampling', SAMPLING_OPTIONS],
      ['grammar', GRAMMAR_OPTIONS],
    ]),
  async run(argv: string[]): Promise<void> {
    const { values: v, positionals } = parseCommand(argv, [...OPTIONS, ...MODEL_OPTIONS, ...CONTEXT_OPTIONS, ...CONTEXT_SHIFT_OPTIONS, ...SAMPLING_OPTIONS, ...GRAMMAR_OPTIONS], 1);
    let prompt = str(v, 'prompt') ?? positionals[0];
    const file = str(v, 'file');
    if (file !== undefined) prompt = await readFile(file, 'utf8');
    if (prompt === undefined && !process.stdin.isTTY) prompt = await readStdin();
    if (prompt === undefined) throw new UsageError('no prompt: pass -p TEXT, -f FILE, or pipe it on stdin');
    const gen = generateOptions(v);
    contextShiftOptions(v, loadOptions(v).contextSize ?? Infinity); // a bad --keep before the model loads
    const grammar = await grammarOption(v, (f) => readFile(f, 'utf8'));
    if (grammar) gen.grammar = grammar;
    const controller = new AbortController();
    const model = await openModel(v, controller.signal);
    Object.assign(gen, contextShiftOptions(v, model.contextSize));
    const system = str(v, 'system');
    const input = v.chat === true ? [...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content: prompt }] : prompt;
    if (v.echo === true) process.stdout.write(prompt);
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    try {
      for await (const chunk of model.generate(input, { ...gen, signal: controller.signal })) {
        if (chunk.text) process.stdout.write(chunk.text);
        if (chunk.stats) {
          process.stdout.write('\n');
          process.stderr.write(`${timingLine(chunk.stats)}\n`);
        }
      }
    } catch (e) {
      if (e instanceof BitnetError && e.code === 'ABORTED') {
        process.stdout.write('\n');
        process.stderr.write('interrupted\n');
        process.exitCode = 130;
        return;
      }
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
