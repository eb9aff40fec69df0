#!/usr/bin/env node
// The `bitnet` command: dispatches to one file per command under commands/. Errors print one line to
// stderr (exit 1; usage errors exit 2), never a stack trace unless BITNET_DEBUG is set.
import { BitnetError } from '../errors.js';
import { UsageError } from './args.js';
import { benchCommand } from './commands/bench.js';
import { chatCommand } from './commands/chat.js';
import { convertCommand } from './commands/convert.js';
import { evalCommand } from './commands/eval.js';
import { infoCommand } from './commands/info.js';
import { logitsCommand } from './commands/logits.js';
import { lsCommand } from './commands/ls.js';
import { perplexityCommand } from './commands/perplexity.js';
import { pullCommand } from './commands/pull.js';
import { rmCommand } from './commands/rm.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { tokenizeCommand } from './commands/tokenize.js';
import { trainCommand } from './commands/train.js';
import { version } from './version.js';

interface Command {
  name: string;
  summary: string;
  help(): string;
  run(argv: string[]): Promise<void>;
}

const COMMANDS: Command[] = [runCommand, chatCommand, serveCommand, infoCommand, tokenizeCommand, logitsCommand, benchCommand, perplexityCommand, evalCommand, trainCommand, convertCommand, pullCommand, lsCommand, rmCommand];

function usage(): string {
  return [
    'usage: bitnet COMMAND [options]',
    '',
    'Runs ternary BitNet b1.58 models (GGUF I2_S/TQ1_0/TQ2_0, Hugging Face safetensors).',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    'bitnet COMMAND --help shows the options of a command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === undefined) {
      process.stderr.write(`${usage()}\n`);
      return 2;
    }
    const target = COMMANDS.find((c) => c.name === rest[0]);
    process.stdout.write(`${target ? target.help() : usage()}\n`);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`bitnet ${version()}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`bitnet: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.help()}\n`);
    return 0;
  }
  try {
    await cmd.run(rest);
    return 0;
  } catch (e) {
    if (process.env.BITNET_DEBUG) console.error(e);
    if (e instanceof UsageError) {
      process.stderr.write(`bitnet ${cmd.name}: ${e.message}\n(see bitnet ${cmd.name} --help)\n`);
      return 2;
    }
    if (e instanceof BitnetError) {
      process.stderr.write(`bitnet ${cmd.name}: error [${e.code}]: ${e.message}\n`);
      return 1;
    }
    // anything else (e.g. ENOENT from -f FILE) also gets one line, with its system code when it has one
    const code = (e as { code?: unknown } | null)?.code;
    process.stderr.write(`bitnet ${cmd.name}: error${typeof code === 'string' ? ` [${code}]` : ''}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // a command may have set its own status (e.g. 130 after Ctrl-C)
    if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
