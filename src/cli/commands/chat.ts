// `bitnet chat -m MODEL [-p SYSTEM]`: an interactive multi-turn chat that keeps the KV cache between
// turns (only the new turn is evaluated). Lines from stdin are user turns; replies go to stdout, the
// prompt marker and timings to stderr. Ctrl-C stops a reply; Ctrl-C at the prompt, Ctrl-D or /exit quit.
import { createInterface } from 'node:readline';
import { CONTEXT_OPTIONS, CONTEXT_SHIFT_OPTIONS, contextShiftOptions, generateOptions, loadOptions, helpText, MODEL_OPTIONS, parseCommand, SAMPLING_OPTIONS, str, type OptionSpec } from '../args.js';
import { openModel } from '../common.js';
import { timingLine } from '../progress.js';
import { BitnetError } from '../../errors.js';

const OPTIONS: OptionSpec[] = [
  { name: 'prompt', short: 'p', type: 'string', arg: 'SYSTEM', help: 'system prompt (as bitnet.cpp\'s run_inference.py -cnv)' },
  { name: 'timings', type: 'boolean', help: 'print the timing line after each reply' },
];

export const chatCommand = {
  name: 'chat',
  summary: 'interactive multi-turn chat',
  help: () =>
    helpText('bitnet chat -m MODEL [-p SYSTEM] [options]', 'Chats with the model through its chat template. Commands: /reset, /exit.', [
      ['chat', OPTIONS],
      ['model', MODEL_OPTIONS],
      ['context', [...CONTEXT_OPTIONS, ...CONTEXT_SHIFT_OPTIONS]],
      ['sampling', SAMPLING_OPTIONS],
    ]),
  async run(argv: string[]): Promise<void> {
    const { values: v } = parseCommand(argv, [...OPTIONS, ...MODEL_OPTIONS, ...CONTEXT_OPTIONS, ...CONTEXT_SHIFT_OPTIONS, ...SAMPLING_OPTIONS], 0);
    const gen = generateOptions(v);
    contextShiftOptions(v, loadOptions(v).contextSize ?? Infinity); // a bad --keep before the model loads
    const model = await openModel(v);
    // on by default: past the context, the system prompt (or --keep) stays and half of the rest goes
    Object.assign(gen, contextShiftOptions(v, model.contextSize));
    const system = str(v, 'prompt');
    let session = model.createChat(system ? { system } : {});
    const interactive = process.stdin.isTTY === true;
    const rl = createInterface({ input: process.stdin, terminal: false });
    let current: AbortController | undefined;
    let closing = false;
    process.on('SIGINT', () => {
      if (current) current.abort();
      else {
        closing = true;
        rl.close();
      }
    });
    const prompt = (): void => {
      if (interactive) process.stderr.write('> ');
    };
    prompt();
    // closing the interface releases stdin, so /exit and errors end the process even if stdin stays open
    try {
      for await (const line of rl) {
        const text = line.trim();
        if (text === '/exit' || text === '/quit') break;
        if (text === '/reset') {
          session = model.createChat(system ? { system } : {});
          process.stderr.write('(conversation cleared)\n');
          prompt();
          continue;
        }
        if (!text) {
          prompt();
          continue;
        }
        current = new AbortController();
        try {
          for await (const chunk of session.send(text, { ...gen, signal: current.signal })) {
            if (chunk.text) process.stdout.write(chunk.text);
            if (chunk.stats) {
              process.stdout.write('\n');
              if (v.timings === true || interactive) process.stderr.write(`${timingLine(chunk.stats)}\n`);
            }
          }
        } catch (e) {
          if (!(e instanceof BitnetError) || e.code !== 'ABORTED') throw e;
          process.stdout.write('\n');
          process.stderr.write('(interrupted)\n');
        } finally {
          current = undefined;
        }
        if (closing) break;
        prompt();
      }
    } finally {
      rl.close();
    }
  },
};
